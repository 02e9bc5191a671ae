//! The whole decision path on any bytes: `policy::evaluate` for a protected recipient must
//! return a decision (never panic, never hang, never allocate from a declared size), and what
//! it returns must quote nothing of the message: reply lines in printable ASCII within their
//! bound, the Message-ID either a plain msg-id or its hash.
//!
//! Built with `--cfg fuzzing`, the password check tries only archives with a cheap key
//! derivation (see `policy::MAX_TRIED_KDF_CYCLES_POWER`), so the loop runs messages, not
//! SHA-256. The recipients vary with the input's length: the strict protocol alone, strict with
//! the relaxed one and an ordinary recipient, the relaxed one alone.
#![no_main]

use std::path::Path;
use std::sync::LazyLock;

use chrono::NaiveDate;
use libfuzzer_sys::fuzz_target;
use sealgate::config::Config;
use sealgate::envelope::Address;
use sealgate::policy::{self, PolicyRecipient, Registry};

static REGISTRY: LazyLock<Registry> = LazyLock::new(|| {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/messages/sealgate-test.toml");
    let config = Config::load(&path).expect("fixture configuration");
    Registry::new(&config.protocols, &config.policy)
});

const RECIPIENT_SETS: [&[&str]; 3] = [
    &["kindengezin@wervik.be"],
    &["kindengezin@wervik.be", "team@relaxed.example", "iemand@example.org"],
    &["team@relaxed.example"],
];

static RECIPIENTS: LazyLock<Vec<Vec<PolicyRecipient>>> = LazyLock::new(|| {
    RECIPIENT_SETS
        .iter()
        .map(|set| {
            set.iter()
                .map(|a| REGISTRY.classify(&Address::parse(a).expect("fixture address").canonical()))
                .collect()
        })
        .collect()
});

fuzz_target!(|data: &[u8]| {
    let recipients = &RECIPIENTS[data.len() % RECIPIENT_SETS.len()];
    let today = NaiveDate::from_ymd_opt(2025, 6, 2).expect("date");
    let decision = policy::evaluate(&REGISTRY, recipients, data, today);
    let (_, _, lines) = policy::reject_reply(&decision);
    for line in &lines {
        assert!(line.len() <= policy::MAX_REPLY_LINE, "reply line too long");
        assert!(line.bytes().all(|b| (b' '..=b'~').contains(&b)), "reply line not printable ASCII");
    }
    if let Some(id) = &decision.message_id {
        let hashed = id.strip_prefix("sha256:").is_some_and(|h| h.len() == 64);
        let plain = id.is_ascii() && id.contains('@') && !id.contains(char::is_whitespace);
        assert!(hashed || plain, "message id kept in an unsafe form");
    }
});
