//! `sealgate check --config FILE --rcpt ADDR [--from ADDR] [--json] MESSAGE.eml`

use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct CheckArgs {
    #[arg(long, default_value = "config/sealgate.toml")]
    pub config: PathBuf,
    #[arg(long = "rcpt", required = true)]
    pub rcpt: Vec<String>,
    #[arg(long = "from", default_value = "")]
    pub from: String,
    #[arg(long)]
    pub json: bool,
    pub message: PathBuf,
}

pub fn run(_args: CheckArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("check: not built yet")
}
