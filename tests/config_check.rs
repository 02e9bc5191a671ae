//! `sealgate config check`: the default configuration is valid, and every kind of mistake is
//! reported with the key that is wrong and a non-zero exit.

use std::path::Path;
use std::process::{Command, Output};

fn check(config: &Path, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sealgate"));
    command.args(["config", "check", "--config"]).arg(config);
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("run sealgate")
}

fn default_config() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/sealgate.toml")).unwrap()
}

fn with_change(from: &str, to: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let text = default_config();
    assert!(text.contains(from), "default config lost {from:?}");
    let path = dir.path().join("sealgate.toml");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    (dir, path)
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn the_default_configuration_is_valid() {
    let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/config/sealgate.toml"));
    let output = check(path, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("1 protocol(s)"));
}

#[test]
fn every_example_configuration_is_valid() {
    // The schema only: the examples name certificate files of a production host.
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/config/examples"));
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            if let Err(e) = sealgate::config::Config::load(&path) {
                panic!("{}: {e}", path.display());
            }
            checked += 1;
        }
    }
    assert!(checked >= 2, "expected the production and HA examples");
}

#[test]
fn files_the_configuration_points_to_are_read() {
    let (_dir, path) = with_change(
        "# [smtp.tls]\n# cert = \"/etc/sealgate/tls/fullchain.pem\"\n# key = \"/etc/sealgate/tls/privkey.pem\"",
        "[smtp.tls]\ncert = \"/nonexistent/fullchain.pem\"\nkey = \"/nonexistent/privkey.pem\"",
    );
    let output = check(&path, &[]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(
        err.contains("smtp.tls") && err.contains("/nonexistent/fullchain.pem"),
        "{err}"
    );
}

#[test]
fn an_unknown_key_is_named() {
    let (_dir, path) = with_change("max_recipients = 100", "max_recipents = 100");
    let output = check(&path, &[]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(
        err.contains("unknown field `max_recipents`") && err.contains("limits"),
        "{err}"
    );
}

#[test]
fn a_bad_value_names_its_key_and_what_is_expected() {
    let (_dir, path) = with_change("max_recipients = 100", "max_recipients = \"many\"");
    let err = stderr(&check(&path, &[]));
    assert!(
        err.contains("limits.max_recipients") && err.contains("integer"),
        "{err}"
    );

    let (_dir, path) = with_change(
        "next_hop = \"smtp://127.0.0.1:10025\"",
        "next_hop = \"mx.example.org\"",
    );
    let err = stderr(&check(&path, &[]));
    assert!(
        err.contains("relay.next_hop") && err.contains("smtp://host:port"),
        "{err}"
    );

    let (_dir, path) = with_change(
        "mailboxes = [\"kindengezin@wervik.be\"]",
        "mailboxes = [\"kindengezin%wervik.be@relay\"]",
    );
    let err = stderr(&check(&path, &[]));
    assert!(err.contains("protocols[0].mailboxes"), "{err}");

    let (_dir, path) = with_change(
        "in_force_from = 2023-12-01",
        "in_force_from = \"first of December\"",
    );
    let err = stderr(&check(&path, &[]));
    assert!(err.contains("in_force_from"), "{err}");
}

#[test]
fn environment_overrides_apply_and_are_checked() {
    let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/config/sealgate.toml"));
    let output = check(
        path,
        &[("SEALGATE__RELAY__NEXT_HOP", "smtp://192.0.2.5:587")],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("smtp://192.0.2.5:587"));

    let output = check(path, &[("SEALGATE__LIMITS__MAX_RECIPIENTS", "abc")]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("limits.max_recipients"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn the_large_message_and_inspection_limits_are_checked() {
    let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/config/sealgate.toml"));
    for key in [
        "max_concurrent_large_messages",
        "large_message_size",
        "max_concurrent_inspections",
    ] {
        let variable = format!("SEALGATE__LIMITS__{}", key.to_uppercase());
        let output = check(path, &[(variable.as_str(), "0")]);
        assert_eq!(output.status.code(), Some(1), "{key} = 0");
        assert!(
            stderr(&output).contains(&format!("limits.{key}")),
            "{}",
            stderr(&output)
        );
        let output = check(path, &[(variable.as_str(), "3")]);
        assert!(output.status.success(), "{}", stderr(&output));
    }
}

#[test]
fn a_missing_file_is_an_error_not_a_panic() {
    let output = check(Path::new("/nonexistent/sealgate.toml"), &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("cannot read configuration"));
}

#[test]
fn hash_password_prints_an_argon2_hash_the_config_accepts() {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_sealgate"))
        .arg("hash-password")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"correct horse\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let hash = String::from_utf8(output.stdout).unwrap().trim().to_string();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    let users = format!(
        "[access]\nclient_networks = [\"127.0.0.0/8\", \"::1/128\"]\n[[access.users]]\nname = \"connector\"\npassword_hash = \"{hash}\"\n"
    );
    let (_dir, path) = with_change(
        "[access]\n# Clients allowed to relay without AUTH: the agency's own mail servers.\nclient_networks = [\"127.0.0.0/8\", \"::1/128\"]\n",
        &users,
    );
    // AUTH is offered over TLS only, so users without [smtp.tls] are refused with that reason.
    let err = stderr(&check(&path, &[]));
    assert!(err.contains("access.users") && err.contains("TLS"), "{err}");
}

#[test]
fn own_domains_and_reject_texts_are_checked_like_every_other_key() {
    let (_dir, path) = with_change(
        "own_domains = [\"opgroeien.be\", \"kindengezin.be\"]",
        "own_domains = [\"opgroeien.be\", \"kind..gezin.be\"]",
    );
    let output = check(&path, &[]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains("policy.own_domains[1]"), "{err}");

    let (_dir, path) = with_change(
        "own_domains = [\"opgroeien.be\", \"kindengezin.be\"]",
        "own_domains = [\"opgroeien.be\"]\n[policy.reject_texts]\nno_archiv = \"Geen archief\"",
    );
    let output = check(&path, &[]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(
        err.contains("policy.reject_texts.no_archiv") && err.contains("not a reason code"),
        "{err}"
    );

    let (_dir, path) = with_change(
        "own_domains = [\"opgroeien.be\", \"kindengezin.be\"]",
        "own_domains = [\"opgroeien.be\"]\n[policy.reject_texts]\nno_archive = \"Geen 7z-archief.\\nNo 7z archive.\"",
    );
    let output = check(&path, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn config_check_names_the_keys_a_reload_cannot_apply() {
    let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/config/sealgate.toml"));
    let output = check(path, &[]);
    let out = String::from_utf8_lossy(&output.stdout);
    for key in sealgate::config::Config::RESTART_ONLY_KEYS {
        assert!(out.contains(key), "{key} in {out}");
    }
}

#[test]
fn restart_only_changes_are_found() {
    let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/config/sealgate.toml"));
    let running = sealgate::config::Config::load(path).unwrap();
    let mut next = running.clone();
    assert!(running.restart_only_changes(&next).is_empty());
    next.limits.memory_budget *= 2;
    next.log.level = "debug".into();
    next.limits.max_recipients += 1;
    assert_eq!(
        running.restart_only_changes(&next),
        ["log.level", "limits.memory_budget"]
    );
}

#[test]
fn mode_and_senders_are_checked_like_every_other_key() {
    let (_dir, path) = with_change("mode = \"enforce\"", "mode = \"dry-run\"");
    let output = check(&path, &[]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains("mode") && err.contains("dry-run"), "{err}");

    for (senders, named) in [
        ("senders = []", "is empty"),
        ("senders = [\"an@opgroeien.be\", \"%x@y.be\"]", "%x@y.be"),
        ("senders = [\"*an@opgroeien.be\"]", "*an@opgroeien.be"),
        ("senders = [\"@localhost\"]", "@localhost"),
    ] {
        let (_dir, path) = with_change(
            "mode = \"enforce\"",
            &format!("mode = \"monitor\"\n{senders}"),
        );
        let output = check(&path, &[]);
        assert_eq!(output.status.code(), Some(1), "{senders}");
        let err = stderr(&output);
        assert!(
            err.contains("protocols[0].senders") && err.contains(named),
            "{senders}: {err}"
        );
    }

    let (_dir, path) = with_change(
        "mode = \"enforce\"",
        "mode = \"monitor\"\nsenders = [\"An@Opgroeien.be\", \"@kindengezin.be\", \"*@menen.be\"]",
    );
    let output = check(&path, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn two_account_names_of_one_mailbox_are_refused() {
    let hash = sealgate::credentials::dummy_hash(&[]);
    let users = |names: &[&str]| {
        let mut text = String::from(
            "[smtp]\nlisten = [\"127.0.0.1:2525\"]\nhostname = \"sealgate.test\"\n\
             [smtp.tls]\ncert = \"/nonexistent/cert.pem\"\nkey = \"/nonexistent/key.pem\"\n\
             [relay]\nnext_hop = \"smtp://127.0.0.1:10025\"\n\
             [audit]\nstore = \"sqlite:/nonexistent/never-opened.db\"\n",
        );
        for name in names {
            text.push_str(&format!(
                "[[access.users]]\nname = \"{name}\"\npassword_hash = \"{hash}\"\n"
            ));
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sealgate.toml");
        std::fs::write(&path, text).unwrap();
        sealgate::config::Config::load(&path).map_err(|e| e.to_string())
    };
    let distinct = ["an.peeters@opgroeien.be", "bart@opgroeien.be", "scanner"];
    assert!(users(&distinct).is_ok(), "{:?}", users(&distinct).err());
    for second in [
        "An.Peeters@Opgroeien.BE",
        "an.peeters+scanner@opgroeien.be",
        "an.peeters\u{200b}@opgroeien.be",
    ] {
        let error = users(&["an.peeters@opgroeien.be", second]).expect_err(second);
        assert!(
            error.contains("access.users[1].name") && error.contains("access.users[0]"),
            "{second}: {error}"
        );
    }
}
