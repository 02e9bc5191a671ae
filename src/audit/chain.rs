//! The hash chain: the canonical form of a ledger entry, its SHA-256, and the check that walks
//! the chain.
//!
//! An entry's canonical form is JSON with object keys sorted by their UTF-8 bytes, no
//! whitespace, and strings escaped the way `serde_json` escapes them. It carries the entry's
//! sequence number, kind, transfer id, time and writing instance, so that every column a
//! reader relies on is covered by the hash. The hash is
//! `SHA-256(prev_hash_hex || canonical_json)` over ASCII/UTF-8 bytes, written as lowercase hex;
//! the first entry's `prev_hash` is 64 zeros. Any edit changes a hash; a deletion or a swap
//! breaks a `prev_hash` link or the contiguous sequence. The text that was hashed is what the
//! store keeps (`body`), so a verifier never has to re-serialise anything.
//!
//! Pruning removes a prefix of the chain and appends a checkpoint entry that names the last
//! pruned entry and its hash: the first remaining entry then links to a hash that the chain
//! itself vouches for.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::EntryKind;

/// `prev_hash` of the very first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One row of the ledger, as stored. `kind` stays text: a tampered row may hold anything,
/// and `verify` must name it rather than fail to read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    pub seq: u64,
    pub kind: String,
    pub transfer_id: Option<String>,
    /// When it happened (decision: received, outcome: answered, checkpoint: written),
    /// see [`format_time`].
    pub at: String,
    pub instance: String,
    /// The canonical JSON that was hashed.
    pub body: String,
    pub prev_hash: String,
    pub hash: String,
}

/// The last entry of the chain as the store's head row records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub seq: u64,
    pub hash: String,
}

impl Head {
    pub fn genesis() -> Head {
        Head {
            seq: 0,
            hash: GENESIS.to_string(),
        }
    }
}

/// What a writer asks the ledger to append; the ledger adds sequence and hashes under its lock.
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub kind: EntryKind,
    pub transfer_id: Option<String>,
    pub at: String,
    pub payload: Value,
}

/// The fixed-width UTC time form used in entries and in range queries (sorts as text).
pub fn format_time(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Seals `new` as entry `head.seq + 1` after `head`.
pub fn seal(head: &Head, instance: &str, new: &NewEntry) -> LedgerEntry {
    let seq = head.seq + 1;
    let body = canonical(&json!({
        "seq": seq,
        "kind": new.kind.as_str(),
        "transfer_id": new.transfer_id,
        "at": new.at,
        "instance": instance,
        "data": new.payload,
    }));
    let hash = entry_hash(&head.hash, &body);
    LedgerEntry {
        seq,
        kind: new.kind.as_str().to_string(),
        transfer_id: new.transfer_id.clone(),
        at: new.at.clone(),
        instance: instance.to_string(),
        body,
        prev_hash: head.hash.clone(),
        hash,
    }
}

pub fn entry_hash(prev_hash: &str, body: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(body.as_bytes());
    hex::encode(hasher.finalize())
}

/// The payload of a checkpoint written by pruning.
pub fn checkpoint_payload(pruned: &Head, count: u64, cutoff: &str) -> Value {
    json!({
        "pruned_through_seq": pruned.seq,
        "pruned_last_hash": pruned.hash,
        "pruned_count": count,
        "cutoff": cutoff,
    })
}

/// Serialises `value` canonically: sorted keys, no whitespace.
pub fn canonical(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// The first entry that does not hold, in sequence order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BrokenEntry {
    pub seq: u64,
    pub kind: String,
    pub transfer_id: Option<String>,
    pub problem: String,
}

impl std::fmt::Display for BrokenEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "entry {} ({}", self.seq, self.kind)?;
        if let Some(id) = &self.transfer_id {
            write!(f, " of transfer {id}")?;
        }
        write!(f, "): {}", self.problem)
    }
}

/// The result of walking the whole chain.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ChainReport {
    pub entries: u64,
    pub first_seq: Option<u64>,
    pub head_seq: u64,
    pub head_hash: String,
    pub broken: Option<BrokenEntry>,
}

impl ChainReport {
    pub fn verifies(&self) -> bool {
        self.broken.is_none()
    }
}

/// Walks entries in sequence order; fed in batches, so a long chain never sits in memory.
pub struct ChainWalker {
    head: Head,
    entries: u64,
    first: Option<LedgerEntry>,
    last: Option<Head>,
    /// The checkpoint that covers the most pruned entries: (pruned_through_seq, hash).
    latest_checkpoint: Option<Head>,
    broken: Option<BrokenEntry>,
}

impl ChainWalker {
    /// `head` is the head row read before the entries: entries after it are not walked.
    pub fn new(head: Head) -> ChainWalker {
        ChainWalker {
            head,
            entries: 0,
            first: None,
            last: None,
            latest_checkpoint: None,
            broken: None,
        }
    }

    pub fn head_seq(&self) -> u64 {
        self.head.seq
    }

    pub fn feed(&mut self, entry: &LedgerEntry) {
        self.entries += 1;
        if self.broken.is_some() {
            return;
        }
        let problem = self.check(entry);
        if let Some(problem) = problem {
            self.broken = Some(broken(entry, problem));
        }
        self.last = Some(Head {
            seq: entry.seq,
            hash: entry.hash.clone(),
        });
        if self.first.is_none() {
            self.first = Some(entry.clone());
        }
    }

    fn check(&mut self, entry: &LedgerEntry) -> Option<String> {
        if let Some(last) = &self.last {
            if entry.seq != last.seq + 1 {
                return Some(format!(
                    "follows entry {} (entries {}..{} are missing)",
                    last.seq,
                    last.seq + 1,
                    entry.seq.saturating_sub(1)
                ));
            }
            if entry.prev_hash != last.hash {
                return Some(format!(
                    "its prev_hash does not match the hash of entry {} (edited or reordered)",
                    last.seq
                ));
            }
        }
        if let Some(problem) = check_body(entry) {
            return Some(problem);
        }
        if entry_hash(&entry.prev_hash, &entry.body) != entry.hash {
            return Some("its hash does not match its contents (edited)".into());
        }
        if entry.kind == EntryKind::Checkpoint.as_str() {
            self.note_checkpoint(entry);
        }
        None
    }

    fn note_checkpoint(&mut self, entry: &LedgerEntry) {
        let data = serde_json::from_str::<Value>(&entry.body)
            .ok()
            .and_then(|v| v.get("data").cloned());
        let seq = data
            .as_ref()
            .and_then(|d| d.get("pruned_through_seq"))
            .and_then(Value::as_u64);
        let hash = data
            .as_ref()
            .and_then(|d| d.get("pruned_last_hash"))
            .and_then(Value::as_str);
        if let (Some(seq), Some(hash)) = (seq, hash) {
            if self.latest_checkpoint.as_ref().is_none_or(|c| seq > c.seq) {
                self.latest_checkpoint = Some(Head {
                    seq,
                    hash: hash.to_string(),
                });
            }
        }
    }

    /// Checks how the chain starts and ends, and returns the verdict.
    pub fn finish(self) -> ChainReport {
        let first_seq = self.first.as_ref().map(|e| e.seq);
        let mut broken = self.broken;
        if let Some(first) = &self.first {
            if let Some(problem) = start_problem(first, self.latest_checkpoint.as_ref()) {
                broken = Some(self::broken(first, problem));
            }
        }
        if broken.is_none() {
            broken = end_problem(&self.head, self.last.as_ref());
        }
        ChainReport {
            entries: self.entries,
            first_seq,
            head_seq: self.head.seq,
            head_hash: self.head.hash,
            broken,
        }
    }
}

fn broken(entry: &LedgerEntry, problem: String) -> BrokenEntry {
    BrokenEntry {
        seq: entry.seq,
        kind: entry.kind.clone(),
        transfer_id: entry.transfer_id.clone(),
        problem,
    }
}

/// The columns a reader uses must say what the hashed body says.
fn check_body(entry: &LedgerEntry) -> Option<String> {
    let Ok(body) = serde_json::from_str::<Value>(&entry.body) else {
        return Some("its body is not JSON (edited)".into());
    };
    let matches = body.get("seq").and_then(Value::as_u64) == Some(entry.seq)
        && body.get("kind").and_then(Value::as_str) == Some(entry.kind.as_str())
        && body.get("transfer_id").and_then(Value::as_str) == entry.transfer_id.as_deref()
        && body.get("at").and_then(Value::as_str) == Some(entry.at.as_str())
        && body.get("instance").and_then(Value::as_str) == Some(entry.instance.as_str());
    if matches {
        None
    } else {
        Some("its columns (seq, kind, transfer id, time or instance) differ from its hashed body (edited or reordered)".into())
    }
}

fn start_problem(first: &LedgerEntry, checkpoint: Option<&Head>) -> Option<String> {
    if first.seq == 1 {
        return (first.prev_hash != GENESIS)
            .then(|| "it is the first entry but does not start from the genesis hash".into());
    }
    match checkpoint {
        Some(c) if c.seq + 1 == first.seq && c.hash == first.prev_hash => None,
        Some(c) if c.seq + 1 == first.seq => Some(format!(
            "its prev_hash differs from the hash the pruning checkpoint recorded for entry {}",
            c.seq
        )),
        _ => Some(format!(
            "entries 1..{} are missing and no pruning checkpoint accounts for them",
            first.seq - 1
        )),
    }
}

fn end_problem(head: &Head, last: Option<&Head>) -> Option<BrokenEntry> {
    let missing = |after: u64| {
        BrokenEntry {
        seq: after + 1,
        kind: "unknown".into(),
        transfer_id: None,
        problem: format!(
            "missing: the chain head records entry {} but the chain ends at entry {after} (deleted)",
            head.seq
        ),
    }
    };
    match last {
        None if head.seq == 0 => None,
        None => Some(missing(0)),
        Some(last) if last.seq < head.seq => Some(missing(last.seq)),
        Some(last) if last.hash != head.hash => Some(BrokenEntry {
            seq: last.seq,
            kind: "unknown".into(),
            transfer_id: None,
            problem: "its hash differs from the one the chain head records (edited)".into(),
        }),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: u64) -> Vec<LedgerEntry> {
        let mut head = Head::genesis();
        (0..n)
            .map(|i| {
                let e = seal(
                    &head,
                    "gw1",
                    &NewEntry {
                        kind: EntryKind::Decision,
                        transfer_id: Some(format!("t{i}")),
                        at: "2026-11-01T00:00:00.000000Z".into(),
                        payload: json!({"b": 1, "a": [true, null, "x\"y"]}),
                    },
                );
                head = Head {
                    seq: e.seq,
                    hash: e.hash.clone(),
                };
                e
            })
            .collect()
    }

    fn walk(entries: &[LedgerEntry], head: Head) -> ChainReport {
        let mut w = ChainWalker::new(head);
        entries.iter().for_each(|e| w.feed(e));
        w.finish()
    }

    fn head_of(entries: &[LedgerEntry]) -> Head {
        let last = entries.last().unwrap();
        Head {
            seq: last.seq,
            hash: last.hash.clone(),
        }
    }

    #[test]
    fn canonical_sorts_keys_without_whitespace() {
        let v = json!({"z": 1, "a": {"y": "é", "b": [1, 2]}});
        assert_eq!(canonical(&v), r#"{"a":{"b":[1,2],"y":"é"},"z":1}"#);
    }

    #[test]
    fn whole_chain_verifies_and_swaps_do_not() {
        let entries = chain(4);
        let head = head_of(&entries);
        assert!(walk(&entries, head.clone()).verifies());
        let mut swapped = entries.clone();
        swapped.swap(1, 2);
        let report = walk(&swapped, head.clone());
        assert_eq!(report.broken.unwrap().seq, 3);
        let mut edited = entries.clone();
        edited[2].body = edited[2].body.replace("x", "X");
        assert_eq!(walk(&edited, head).broken.unwrap().seq, 3);
    }

    #[test]
    fn missing_tail_is_found_through_the_head() {
        let entries = chain(3);
        let head = head_of(&entries);
        let report = walk(&entries[..2], head);
        assert_eq!(report.broken.unwrap().seq, 3);
    }
}
