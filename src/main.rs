//! The `sealgate` binary: the command line is the only place that speaks `anyhow`.

mod cli;

fn main() -> std::process::ExitCode {
    withhold_panic_messages();
    cli::main()
}

/// A panic's message can quote what the code was handling (a header, a line of a message), and
/// the default hook prints it to stderr, which the journal keeps. Contents never go to a log, so
/// only where the panic happened is printed. The session that panicked ends; the others go on.
fn withhold_panic_messages() {
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_else(|| "an unknown place".to_string());
        eprintln!(
            "sealgate: internal error at {at} (its message is withheld: it may quote mail \
             contents); please report it with this line"
        );
    }));
}
