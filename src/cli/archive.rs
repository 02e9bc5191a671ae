//! `sealgate check-archive [--json] FILE...`

use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct CheckArchiveArgs {
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

pub fn run(_args: CheckArchiveArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("check-archive: not built yet")
}
