//! `sealgate protocols` and the protocol gauges (issue 15): one protocol in force, one ending in
//! ten days (notice given), one ended, one not yet in force.

use std::process::Command;

use sealgate::metrics::{Metrics, ProtocolGauge};

const PROTOCOLS: &str = r#"
[[protocols]]
id = "wervik"
title = "Opgroeien regie -> OCMW Wervik"
mailboxes = ["kindengezin@wervik.be"]
in_force_from = 2023-12-01

[[protocols]]
id = "menen"
title = "Opgroeien regie -> OCMW Menen"
mailboxes = ["@ocmw-menen.be"]
in_force_from = 2024-01-01
in_force_until = 2026-12-11
mode = "monitor"
senders = ["an.peeters@opgroeien.be", "*@kindengezin.be"]
[protocols.rules]
allow_other_attachments = true

[[protocols]]
id = "ieper"
title = "Opgroeien regie -> OCMW Ieper"
mailboxes = ["zorg@ieper.be"]
in_force_from = 2022-01-01
in_force_until = 2025-06-30

[[protocols]]
id = "poperinge"
title = "Opgroeien regie -> OCMW Poperinge"
mailboxes = ["zorg@poperinge.be"]
in_force_from = 2027-01-01
"#;

fn config() -> (tempfile::TempDir, std::path::PathBuf) {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/sealgate.toml"))
            .unwrap();
    let start = text
        .find("[[protocols]]")
        .expect("the default config has a protocol");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sealgate.toml");
    std::fs::write(&path, format!("{}{PROTOCOLS}", &text[..start])).unwrap();
    (dir, path)
}

fn protocols(args: &[&str]) -> String {
    let (_dir, path) = config();
    let output = Command::new(env!("CARGO_BIN_EXE_sealgate"))
        .args(["protocols", "--config"])
        .arg(&path)
        .args(["--date", "2026-12-01"])
        .args(args)
        .output()
        .expect("run sealgate");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn json_lists_each_protocol_with_its_status() {
    let listing: serde_json::Value = serde_json::from_str(&protocols(&["--json"])).unwrap();
    assert_eq!(listing["date"], "2026-12-01");
    let all = listing["protocols"].as_array().unwrap();
    let by_id = |id: &str| all.iter().find(|p| p["id"] == id).unwrap().clone();

    let wervik = by_id("wervik");
    assert_eq!(wervik["status"], "in_force");
    assert_eq!(wervik["mailboxes"][0], "kindengezin@wervik.be");
    assert!(wervik["end_timestamp"].is_null());
    assert_eq!(
        wervik["rules_differing_from_defaults"],
        serde_json::json!([])
    );

    let menen = by_id("menen");
    assert_eq!(menen["status"], "ending");
    assert_eq!(menen["days_left"], 10);
    assert_eq!(menen["in_force_until"], "2026-12-11");
    assert!(menen["end_timestamp"].as_i64().unwrap() > 0);
    assert_eq!(
        menen["rules_differing_from_defaults"][0]["rule"],
        "allow_other_attachments"
    );
    assert_eq!(menen["rules_differing_from_defaults"][0]["value"], "true");
    assert_eq!(menen["mode"], "monitor");
    assert_eq!(wervik["mode"], "enforce");
    assert_eq!(
        menen["rules_differing_from_defaults"][1],
        serde_json::json!({"rule": "mode", "value": "monitor", "default": "enforce"})
    );
    assert_eq!(
        menen["rules_differing_from_defaults"][2],
        serde_json::json!({
            "rule": "senders",
            "value": "an.peeters@opgroeien.be, *@kindengezin.be",
            "default": "any sender"
        })
    );

    assert_eq!(by_id("ieper")["status"], "ended");
    let poperinge = by_id("poperinge");
    assert_eq!(poperinge["status"], "not_yet_in_force");
    assert_eq!(poperinge["days_until_start"], 31);
}

#[test]
fn text_says_the_status_in_words() {
    let text = protocols(&[]);
    assert!(text.contains("protocols on 2026-12-01"), "{text}");
    assert!(text.contains("status:    in force\n"), "{text}");
    assert!(text.contains("in force, ending in 10 days"), "{text}");
    assert!(text.contains("status:    ended"), "{text}");
    assert!(
        text.contains("not yet in force (starts in 31 days)"),
        "{text}"
    );
    assert!(
        text.contains("allow_other_attachments = true (default false)"),
        "{text}"
    );
    assert!(text.contains("2023-12-01 .. open-ended"), "{text}");
    assert!(text.contains("mode = monitor (default enforce)"), "{text}");
    assert!(
        text.contains("senders = an.peeters@opgroeien.be, *@kindengezin.be (default any sender)"),
        "{text}"
    );
    assert!(text.contains("mode:      monitor"), "{text}");
    assert!(text.contains("mode:      enforce"), "{text}");
}

#[test]
fn gauges_show_in_force_and_end_and_forget_removed_protocols() {
    let metrics = Metrics::new().unwrap();
    metrics.set_protocols(&[
        ProtocolGauge {
            id: "wervik",
            in_force: true,
            end_timestamp: None,
        },
        ProtocolGauge {
            id: "ieper",
            in_force: false,
            end_timestamp: Some(1_751_320_800),
        },
    ]);
    let text = metrics.render();
    assert!(
        text.contains("sealgate_protocol_in_force{protocol=\"wervik\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("sealgate_protocol_in_force{protocol=\"ieper\"} 0"),
        "{text}"
    );
    assert!(
        text.contains("sealgate_protocol_end_timestamp_seconds{protocol=\"ieper\"} 1751320800"),
        "{text}"
    );
    assert!(
        !text.contains("sealgate_protocol_end_timestamp_seconds{protocol=\"wervik\"}"),
        "open-ended: no end series\n{text}"
    );

    // After a reload without ieper its series are gone.
    metrics.set_protocols(&[ProtocolGauge {
        id: "wervik",
        in_force: true,
        end_timestamp: None,
    }]);
    assert!(!metrics.render().contains("protocol=\"ieper\""));
}
