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
use sealgate::metrics::{Metrics, ProtocolGauge, ReloadResult};
use sealgate::policy::lifecycle;
use sealgate::relay::SmtpDialer;
use sealgate::transfer::Core;
use tokio::signal::unix::{signal, SignalKind};
use tracing::{error, info, warn};

use super::allocator::{Tuning, MMAP_THRESHOLD};

const HOUSEKEEPING_INTERVAL: Duration = Duration::from_secs(5);
const PRUNE_INTERVAL: Duration = Duration::from_secs(24 * 60 * 60);

pub fn run(path: &Path, allocator: Tuning) -> anyhow::Result<ExitCode> {
    let config = Config::load(path)?;
    init_logging(&config);
    match allocator {
        Tuning::Fixed => info!(bytes = MMAP_THRESHOLD, "glibc mmap threshold fixed"),
        Tuning::FromEnvironment => info!("glibc mmap threshold from MALLOC_MMAP_THRESHOLD_"),
        Tuning::Unchanged => {}
    }
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
    // The error names the store with its password masked.
    let audit = AuditStore::open(&config.audit.store, config.instance_name()).await?;
    let grace = Duration::from_secs(config.timeouts.shutdown_grace_seconds);
    let listen = config.smtp.listen.clone();
    let metrics_listen = config.metrics.listen;
    sealgate::policy::lifecycle::warn_monitor_mode(&config.protocols);
    let settings = Settings::build(config)?;
    let metrics = Arc::new(Metrics::new()?);
    let gateway = Gateway::new(settings, metrics);
    let audit = Arc::new(audit);
    let core = Core::new(gateway.clone(), audit.clone(), Arc::new(SmtpDialer::new()));
    gateway.health.set_config_loaded(true);
    if let Some(address) = metrics_listen {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("metrics.listen {address}"))?;
        info!(%address, "serving /metrics, /healthz, /readyz");
        let mut down = gateway.shutdown_signal();
        tokio::spawn(sealgate::http::serve(
            listener,
            gateway.metrics.clone(),
            gateway.health.clone(),
            async move { sealgate::gateway::shutting_down(&mut down).await },
        ));
    }
    let listeners = sealgate::smtp::listener::bind(&listen).await?;
    gateway.health.set_listeners_up(true);
    tokio::spawn(watch_signals(gateway.clone(), path));
    tokio::spawn(housekeeping(core.clone(), audit));
    info!(version = env!("CARGO_PKG_VERSION"), "sealgate ready");
    sealgate::smtp::listener::serve(core, listeners, grace).await;
    info!("sealgate stopped");
    Ok(())
}

/// Periodic checks behind `/readyz` and the gauges: can the audit store be written, is the
/// memory gauge current, and is a next hop that failed back (an instance taken out of a load
/// balancer's pool gets no mail that would tell it).
async fn housekeeping(core: Arc<Core>, audit: Arc<AuditStore>) {
    let gateway = &core.gateway;
    let mut tick = tokio::time::interval(HOUSEKEEPING_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_prune: Option<tokio::time::Instant> = None;
    loop {
        tick.tick().await;
        gateway.publish_memory();
        gateway.publish_auth_throttle();
        publish_protocols(gateway);
        core.purge_idle_next_hops();
        if last_prune.is_none_or(|at| at.elapsed() >= PRUNE_INTERVAL) {
            last_prune = Some(tokio::time::Instant::now());
            prune_audit(gateway, &audit).await;
        }
        let writable = audit.check_writable().await;
        if let Err(e) = &writable {
            error!(error = %e, "audit store not writable; protected mail is deferred");
        }
        gateway.health.set_audit_store_writable(writable.is_ok());
        if gateway.health.next_hop_last_attempt_failed() && core.probe_next_hop().await.is_ok() {
            info!(next_hop = %gateway.settings().relay.next_hop, "next hop reachable again");
        }
    }
}

/// `sealgate_protocol_*`: the protocols of the running configuration, as of today.
fn publish_protocols(gateway: &Gateway) {
    let settings = gateway.settings();
    let today = chrono::Local::now().date_naive();
    let gauges: Vec<ProtocolGauge<'_>> = settings
        .config
        .protocols
        .iter()
        .map(|p| ProtocolGauge {
            id: &p.id,
            in_force: lifecycle::Status::of(p, today).is_in_force(),
            end_timestamp: lifecycle::end_timestamp(p),
        })
        .collect();
    gateway.metrics.set_protocols(&gauges);
}

/// Daily pruning under `audit.retention_days`; the chain stays verifiable (a checkpoint
/// entry records where it was cut).
async fn prune_audit(gateway: &Gateway, audit: &AuditStore) {
    let days = gateway.settings().config.audit.retention_days;
    match audit.prune(days).await {
        Ok(summary) if summary.pruned > 0 => {
            info!(
                pruned = summary.pruned,
                retention_days = days,
                "audit records pruned"
            )
        }
        Ok(_) => {}
        Err(e) => error!(error = %e, "audit pruning failed"),
    }
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
    gateway.health.set_listeners_up(false);
    gateway.begin_shutdown();
}

fn reload(gateway: &Gateway, path: &Path) {
    let built = Config::load(path)
        .map_err(anyhow::Error::from)
        .and_then(|config| Ok(Settings::build(config)?));
    match built {
        Ok(settings) => {
            let waiting = gateway
                .settings()
                .config
                .restart_only_changes(&settings.config);
            sealgate::policy::lifecycle::warn_monitor_mode(&settings.config.protocols);
            gateway.replace_settings(settings);
            gateway.metrics.config_reload(ReloadResult::Success);
            info!(config = %path.display(), "configuration reloaded");
            if !waiting.is_empty() {
                warn!(
                    keys = %waiting.join(", "),
                    "these changed keys take effect only after a restart; the running values stay"
                );
            }
        }
        Err(e) => {
            gateway.metrics.config_reload(ReloadResult::Failure);
            error!(config = %path.display(), error = %format!("{e:#}"), "reload failed; keeping the running configuration")
        }
    }
}
