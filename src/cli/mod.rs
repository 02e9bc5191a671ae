//! Command line: `serve`, `config check`, `hash-password`, `check-archive`, `check`, `audit`,
//! `protocols`.

mod allocator;
mod archive;
mod audit;
mod check;
mod protocols;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "sealgate",
    version,
    about = "Outbound SMTP gateway: protected mail leaves only as an AES-256 encrypted 7z archive"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve {
        #[arg(long, default_value = "config/sealgate.toml")]
        config: PathBuf,
    },
    /// Configuration tools.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Read a password on standard input and print its argon2 hash for `access.users`.
    HashPassword,
    /// Judge 7z archives without their password.
    CheckArchive(archive::CheckArchiveArgs),
    /// The gateway's decision on a message file, offline.
    Check(check::CheckArgs),
    /// The audit trail: verify, export, report, prune.
    Audit(audit::AuditArgs),
    /// Each protocol: mailboxes, period, status, relaxed rules.
    Protocols(protocols::ProtocolsArgs),
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate a configuration file; exits non-zero with the reason when it is wrong.
    Check {
        #[arg(long, default_value = "config/sealgate.toml")]
        config: PathBuf,
    },
}

pub fn main() -> ExitCode {
    // Before anything allocates much or a thread starts (see `allocator` for why).
    let tuning = allocator::tune();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve { config } => serve::run(&config, tuning),
        Command::Config {
            command: ConfigCommand::Check { config },
        } => config_check(&config),
        Command::HashPassword => hash_password(),
        Command::CheckArchive(args) => archive::run(args),
        Command::Check(args) => check::run(args),
        Command::Audit(args) => audit::run(args),
        Command::Protocols(args) => protocols::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sealgate: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn config_check(path: &std::path::Path) -> anyhow::Result<ExitCode> {
    let checked = sealgate::config::Config::load(path)
        .map_err(anyhow::Error::from)
        .and_then(|config| {
            // Also read what the file points to: certificates, keys, password files.
            sealgate::gateway::Settings::build(config.clone())?;
            Ok(config)
        });
    match checked {
        Ok(config) => {
            println!(
                "{}: ok ({} listener(s), next hop {}, {} protocol(s))",
                path.display(),
                config.smtp.listen.len(),
                config.relay.next_hop,
                config.protocols.len()
            );
            println!(
                "read only at start (a reload keeps the running values): {}",
                sealgate::config::Config::RESTART_ONLY_KEYS.join(", ")
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("sealgate: {e:#}");
            Ok(ExitCode::from(1))
        }
    }
}

fn hash_password() -> anyhow::Result<ExitCode> {
    use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
    let mut password = String::new();
    std::io::stdin().read_line(&mut password)?;
    let password = password.trim_end_matches(['\r', '\n']);
    anyhow::ensure!(!password.is_empty(), "no password on standard input");
    let salt = SaltString::generate(&mut OsRng);
    let hash = argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("cannot hash password: {e}"))?;
    println!("{hash}");
    Ok(ExitCode::SUCCESS)
}
