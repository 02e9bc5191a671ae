//! The import graph reads top-down (docs/design.md, "Layers"): a module imports only modules
//! below it. This test scans src/ for `crate::X` paths and fails on any import that points up
//! or sideways, so the graph stays true as the code changes. No external program.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// Each top-level module and the modules it may import. Everything else is forbidden.
/// Order: top (the edges) to bottom (pure leaves).
const ALLOWED: &[(&str, &[&str])] = &[
    (
        "smtp",
        &[
            "transfer",
            "gateway",
            "envelope",
            "metrics",
            "config",
            "reply",
            "tls",
            "credentials",
        ],
    ),
    (
        "transfer",
        &[
            "gateway", "policy", "relay", "audit", "envelope", "metrics", "config", "reply",
            "notice", "reason",
        ],
    ),
    (
        "gateway",
        &["policy", "relay", "metrics", "config", "tls", "credentials"],
    ),
    ("notice", &["policy", "reason", "markup"]),
    ("report", &["audit", "relay", "reply", "markup"]),
    ("relay", &["config", "reply", "tls"]),
    ("audit", &["policy", "reason", "sevenz", "tls", "markup"]),
    (
        "policy",
        &["inspect", "sevenz", "envelope", "config", "reason"],
    ),
    ("inspect", &["sevenz"]),
    ("http", &["metrics"]),
    ("credentials", &["config"]),
    ("config", &["envelope"]),
    ("markup", &["envelope"]),
    ("envelope", &[]),
    ("sevenz", &[]),
    ("metrics", &["reason"]),
    ("reason", &[]),
    ("reply", &[]),
    ("tls", &[]),
];

fn rust_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        let mut entries: Vec<_> = fs::read_dir(path)
            .expect("read src/")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect();
        entries.sort();
        for entry in entries {
            rust_files(&entry, out);
        }
    } else if path.is_file() && path.extension().is_some_and(|e| e == "rs") {
        out.push(path.to_path_buf());
    }
}

/// The top-level modules `file` names with a `crate::` path.
fn imports(file: &Path) -> Vec<String> {
    let text = fs::read_to_string(file).expect("read source");
    let mut found = Vec::new();
    for (at, _) in text.match_indices("crate::") {
        // `sealgate::crate::` does not exist; skip `$crate::` in macros.
        if text[..at].ends_with('$') {
            continue;
        }
        let name: String = text[at + "crate::".len()..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            found.push(name);
        }
    }
    found
}

#[test]
fn every_module_imports_only_modules_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut violations = Vec::new();
    let mut checked = 0;
    for (module, may_import) in &allowed {
        let dir = src.join(module);
        let mut files = Vec::new();
        rust_files(&dir, &mut files);
        rust_files(&src.join(format!("{module}.rs")), &mut files);
        assert!(!files.is_empty(), "module {module} has no source file");
        for file in files {
            for target in imports(&file) {
                checked += 1;
                if target == *module {
                    continue;
                }
                if !allowed.contains_key(target.as_str()) {
                    violations.push(format!(
                        "{}: crate::{target} is not a known module",
                        file.display()
                    ));
                } else if !may_import.contains(&target.as_str()) {
                    violations.push(format!(
                        "{}: {module} must not import crate::{target}",
                        file.display()
                    ));
                }
            }
        }
    }
    assert!(
        checked > 50,
        "found only {checked} crate:: paths: is the scan broken?"
    );
    assert!(
        violations.is_empty(),
        "inverted imports:\n{}",
        violations.join("\n")
    );
}

#[test]
fn every_module_in_lib_rs_is_in_the_layer_table() {
    let lib = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs"))
        .expect("read src/lib.rs");
    let known: Vec<&str> = ALLOWED.iter().map(|(m, _)| *m).collect();
    for line in lib.lines() {
        if let Some(name) = line
            .strip_prefix("pub mod ")
            .and_then(|l| l.strip_suffix(';'))
        {
            assert!(
                known.contains(&name),
                "src/lib.rs names `{name}`, missing from ALLOWED"
            );
        }
    }
}
