//! A private Postfix instance on loopback: the agency's mail server, using the gateway as its
//! relayhost. Own config, queue and data directories in a temp dir; stopped when dropped.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use tempfile::TempDir;

use super::{free_port, require_tool, wait_until};

pub struct PrivatePostfix {
    dir: TempDir,
    port: u16,
}

/// postfix, postconf and postqueue must be installed (see [`require_tool`]).
pub fn require_postfix() {
    for tool in ["postfix", "postconf", "postqueue"] {
        require_tool(tool, "the Debian package postfix");
    }
}

fn run(command: &mut Command) -> Output {
    let output = command.output().expect("run a postfix command");
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

impl PrivatePostfix {
    /// Starts Postfix listening on a free loopback port, relaying everything to
    /// `[127.0.0.1]:relay_port`. A 5xx from the relay keeps the mail queued (soft_bounce).
    pub fn start(relay_port: u16) -> PrivatePostfix {
        PrivatePostfix::start_with(relay_port, free_port(), |_| Vec::new())
    }

    /// [`PrivatePostfix::start`] on `port`, with more `main.cf` settings: `extra` gets the
    /// instance's temp dir (for mailboxes, maps) and returns `name=value` settings that are
    /// applied after the defaults, so they override them.
    pub fn start_with(
        relay_port: u16,
        port: u16,
        extra: impl FnOnce(&Path) -> Vec<String>,
    ) -> PrivatePostfix {
        let dir = TempDir::new().expect("temp dir");
        // The postfix user must reach the queue below the temp dir.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let postfix = PrivatePostfix { dir, port };
        let config = postfix.config_dir();
        let data = postfix.dir.path().join("data");
        for d in [&config, &data, &postfix.queue_dir()] {
            fs::create_dir_all(d).unwrap();
        }
        run(Command::new("chown").arg("postfix").arg(&data));
        fs::copy("/etc/postfix/master.cf.proto", config.join("master.cf")).unwrap();
        fs::write(config.join("main.cf"), "").unwrap();
        let root = postfix.dir.path().display().to_string();
        let mut settings = vec![
            "compatibility_level=3.6".to_string(),
            "myhostname=agency-mx.test".into(),
            "mydomain=agency.test".into(),
            "mydestination=".into(),
            "inet_interfaces=127.0.0.1".into(),
            "inet_protocols=ipv4".into(),
            "mynetworks=127.0.0.0/8".into(),
            format!("relayhost=[127.0.0.1]:{relay_port}"),
            format!("queue_directory={}", postfix.queue_dir().display()),
            format!("data_directory={}", data.display()),
            format!("maillog_file={}", postfix.maillog().display()),
            format!("maillog_file_prefixes={root}"),
            "soft_bounce=yes".into(),
            "smtp_tls_security_level=none".into(),
            "smtpd_relay_restrictions=permit_mynetworks,reject_unauth_destination".into(),
            "alias_maps=".into(),
            "alias_database=".into(),
            "biff=no".into(),
            // Retry soon after a deferral; flushes below force it anyway.
            "minimal_backoff_time=1s".into(),
            "maximal_backoff_time=2s".into(),
            "queue_run_delay=1s".into(),
        ];
        settings.extend(extra(postfix.dir.path()));
        let mut postconf = Command::new("postconf");
        postconf.arg("-c").arg(&config).arg("-e").args(&settings);
        run(&mut postconf);
        run(Command::new("postconf")
            .arg("-c")
            .arg(&config)
            .args(["-F", "*/*/chroot = n"]));
        run(Command::new("postconf")
            .arg("-c")
            .arg(&config)
            .args(["-MX", "smtp/inet"]));
        run(Command::new("postconf")
            .arg("-c")
            .arg(&config)
            .arg("-M")
            .arg(format!(
                "127.0.0.1:{port}/inet = 127.0.0.1:{port} inet n - n - - smtpd"
            )));
        run(Command::new("postfix").arg("-c").arg(&config).arg("start"));
        let up = wait_until(super::STARTUP, || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        });
        assert!(
            up.is_some(),
            "private postfix did not listen on {port}:\n{}",
            postfix.maillog_text()
        );
        postfix
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn server(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The instance's temp dir (config, queue, data and whatever `start_with` put there).
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn config_dir(&self) -> PathBuf {
        self.dir.path().join("config")
    }

    fn queue_dir(&self) -> PathBuf {
        self.dir.path().join("queue")
    }

    fn maillog(&self) -> PathBuf {
        self.dir.path().join("maillog")
    }

    pub fn maillog_text(&self) -> String {
        fs::read_to_string(self.maillog()).unwrap_or_default()
    }

    /// Waits until the mail log contains `needle`; panics with the log after `limit`.
    pub fn wait_for_log(&self, needle: &str, limit: Duration) -> String {
        wait_until(limit, || {
            let log = self.maillog_text();
            log.contains(needle).then_some(log)
        })
        .unwrap_or_else(|| panic!("postfix maillog lacks {needle:?}:\n{}", self.maillog_text()))
    }

    /// The queue as `postqueue -j` reports it: one JSON object per message.
    pub fn queue(&self) -> Vec<serde_json::Value> {
        let output = run(Command::new("postqueue")
            .arg("-c")
            .arg(self.config_dir())
            .arg("-j"));
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).expect("postqueue -j gives JSON lines"))
            .collect()
    }

    /// Asks Postfix to retry every queued message now (`postqueue -f`).
    pub fn flush(&self) {
        run(Command::new("postqueue")
            .arg("-c")
            .arg(self.config_dir())
            .arg("-f"));
    }
}

impl Drop for PrivatePostfix {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- postfix maillog ---\n{}", self.maillog_text());
        }
        let _ = Command::new("postfix")
            .arg("-c")
            .arg(self.config_dir())
            .arg("stop")
            .output();
        // master exits shortly after; give it a moment before the directory goes.
        let pid_file = self.queue_dir().join("pid/master.pid");
        let _ = wait_until(Duration::from_secs(5), || {
            (!pid_file.exists()).then_some(())
        });
    }
}
