//! The `sealgate` binary: the command line is the only place that speaks `anyhow`.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
