//! `sealgate serve`: load the configuration, open the audit store, bind, and run until
//! SIGTERM/SIGINT. SIGHUP rereads the configuration; a bad one is reported and the old kept.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sealgate::audit::AuditStore;
use sealgate::config::{Config, LogFormat};
use sealgate::gateway::{Gateway, Settings};
use tokio::signal::unix::{signal, SignalKind};
use tracing::{error, info};

pub fn run(path: &Path) -> anyhow::Result<ExitCode> {
    let config = Config::load(path)?;
    init_logging(&config);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("sealgate")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(path.to_path_buf(), config))?;
    Ok(ExitCode::SUCCESS)
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log.level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let _ = match config.log.format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

async fn serve(path: PathBuf, config: Config) -> anyhow::Result<()> {
    let audit = AuditStore::open(&config.audit.store, config.instance_name())
        .await
        .with_context(|| format!("audit.store {:?}", config.audit.store))?;
    let grace = Duration::from_secs(config.timeouts.shutdown_grace_seconds);
    let listen = config.smtp.listen.clone();
    let settings = Settings::build(config)?;
    let gateway = Gateway::new(settings, Arc::new(audit));
    let listeners = sealgate::smtp::listener::bind(&listen).await?;
    tokio::spawn(watch_signals(gateway.clone(), path));
    info!(version = env!("CARGO_PKG_VERSION"), "sealgate ready");
    sealgate::smtp::listener::serve(gateway, listeners, grace).await;
    info!("sealgate stopped");
    Ok(())
}

async fn watch_signals(gateway: Arc<Gateway>, path: PathBuf) {
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        error!("cannot install signal handlers");
        return;
    };
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => reload(&gateway, &path),
        }
    }
    info!("signal received: shutting down");
    gateway.begin_shutdown();
}

fn reload(gateway: &Gateway, path: &Path) {
    let built = Config::load(path)
        .map_err(anyhow::Error::from)
        .and_then(|config| Ok(Settings::build(config)?));
    match built {
        Ok(settings) => {
            gateway.replace_settings(settings);
            info!(config = %path.display(), "configuration reloaded");
        }
        Err(e) => {
            error!(config = %path.display(), error = %format!("{e:#}"), "reload failed; keeping the running configuration")
        }
    }
}
