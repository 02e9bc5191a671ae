//! `sealgate audit verify|export|report|prune`

use std::process::ExitCode;

#[derive(clap::Args)]
pub struct AuditArgs {}

pub fn run(_args: AuditArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("audit: not built yet")
}
