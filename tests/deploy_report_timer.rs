#![cfg(feature = "real-peers")]
//! The monthly report's systemd units (deploy/systemd/sealgate-report.{service,timer}),
//! checked with systemd-analyze as deploy_tools.rs checks sealgate.service: both units verify
//! without a warning, the timer fires at 06:00 on the first day of a month, and the service
//! reports the previous month (`--period last-month`) by mail.

mod deploy_support;
mod metrics_support;

use std::process::Command;

use deploy_support::*;
use metrics_support::require_tool;

#[test]
fn the_report_units_verify_and_the_timer_fires_on_the_first_of_the_month() {
    require_tool("systemd-analyze", "the Debian package systemd");
    let service = read("deploy/systemd/sealgate-report.service");
    let timer = read("deploy/systemd/sealgate-report.timer");
    assert_eq!(unit_value(&timer, "OnCalendar"), ["*-*-01 06:00"]);
    assert_eq!(unit_value(&timer, "Unit"), ["sealgate-report.service"]);
    assert_eq!(unit_value(&service, "Type"), ["oneshot"]);
    let exec = unit_value(&service, "ExecStart").join(" ");
    for part in ["audit report", "--period last-month", "--mail-to"] {
        assert!(exec.contains(part), "ExecStart lacks {part}: {exec}");
    }

    let dir = tempfile::tempdir().unwrap();
    let service_path = dir.path().join("sealgate-report.service");
    std::fs::write(
        &service_path,
        service.replace("/usr/local/bin/sealgate", env!("CARGO_BIN_EXE_sealgate")),
    )
    .unwrap();
    let timer_path = dir.path().join("sealgate-report.timer");
    std::fs::write(&timer_path, &timer).unwrap();
    let output = run(
        Command::new("systemd-analyze")
            .arg("verify")
            .arg(&service_path)
            .arg(&timer_path),
        "systemd-analyze verify sealgate-report.service sealgate-report.timer",
    );
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(
        said.trim().is_empty(),
        "systemd-analyze verify complains:\n{said}"
    );

    let output = run(
        Command::new("systemd-analyze").args([
            "calendar",
            "--iterations=3",
            "--base-time=2026-11-15 12:00:00 UTC",
            "*-*-01 06:00",
        ]),
        "systemd-analyze calendar",
    );
    let said = String::from_utf8_lossy(&output.stdout);
    for next in [
        "2026-12-01 06:00:00",
        "2027-01-01 06:00:00",
        "2027-02-01 06:00:00",
    ] {
        assert!(
            said.contains(next),
            "the timer does not fire at {next}:\n{said}"
        );
    }
}
