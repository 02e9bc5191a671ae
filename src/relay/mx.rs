//! Which hosts to try for a recipient domain, in which order (RFC 5321 section 5.1).
//!
//! The DNS lookup itself lives with the resolver; this is the rule applied to its answer, kept
//! apart so it is tested without a network: MX records by preference, equal preferences in a
//! random order (so load spreads as the receiving domain intends), the domain itself as an
//! implicit MX when it has no MX record at all, and a null MX (RFC 7505: one record, preference
//! 0, exchange ".") meaning the domain accepts no mail.

/// One MX record as the resolver returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MxRecord {
    pub preference: u16,
    /// The exchange's name, with or without the trailing dot.
    pub exchange: String,
}

/// What the MX answer says about delivery to a domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MxPlan {
    /// Try these host names in this order.
    Hosts(Vec<String>),
    /// RFC 7505: the domain accepts no mail (`556 5.1.10`).
    NullMx,
}

/// Hosts to try for `domain` given its MX records (empty: the domain had none). `shuffle`
/// orders one group of equal preference; pass a random shuffle in production.
pub fn plan(domain: &str, records: &[MxRecord], mut shuffle: impl FnMut(&mut [String])) -> MxPlan {
    if records.is_empty() {
        return MxPlan::Hosts(vec![trim_dot(domain).to_string()]);
    }
    if records.iter().any(is_null) {
        // RFC 7505 3: a null MX among other records is a misconfiguration; the domain has
        // declared it takes no mail, and that is the safer reading.
        return MxPlan::NullMx;
    }
    let mut sorted: Vec<&MxRecord> = records.iter().collect();
    sorted.sort_by_key(|r| r.preference);
    let mut hosts = Vec::with_capacity(sorted.len());
    for group in sorted.chunk_by(|a, b| a.preference == b.preference) {
        let mut names: Vec<String> = group
            .iter()
            .map(|r| trim_dot(&r.exchange).to_ascii_lowercase())
            .collect();
        shuffle(&mut names);
        for name in names {
            if !hosts.contains(&name) {
                hosts.push(name);
            }
        }
    }
    MxPlan::Hosts(hosts)
}

fn is_null(record: &MxRecord) -> bool {
    trim_dot(&record.exchange).is_empty()
}

fn trim_dot(name: &str) -> &str {
    name.strip_suffix('.').unwrap_or(name)
}

/// A Fisher-Yates shuffle from a cheap random source: the order only spreads load.
pub fn random_shuffle(names: &mut [String]) {
    for i in (1..names.len()).rev() {
        let j = random_below(i + 1);
        names.swap(i, j);
    }
}

/// A number below `n` from the standard library's per-process random hash keys: enough to
/// spread load over equal MX hosts, and no extra dependency.
pub(super) fn random_below(n: usize) -> usize {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_usize(n);
    (hasher.finish() % n as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mx(preference: u16, exchange: &str) -> MxRecord {
        MxRecord {
            preference,
            exchange: exchange.into(),
        }
    }

    fn keep(_: &mut [String]) {}

    #[test]
    fn records_are_tried_by_preference() {
        let plan = plan(
            "wervik.be",
            &[
                mx(20, "mx2.wervik.be."),
                mx(10, "MX1.wervik.be."),
                mx(30, "mx3.wervik.be"),
            ],
            keep,
        );
        assert_eq!(
            plan,
            MxPlan::Hosts(vec![
                "mx1.wervik.be".into(),
                "mx2.wervik.be".into(),
                "mx3.wervik.be".into()
            ])
        );
    }

    #[test]
    fn equal_preferences_are_shuffled_within_their_group_only() {
        let records = [mx(10, "a."), mx(10, "b."), mx(10, "c."), mx(20, "z.")];
        let reversed = plan("d", &records, |names: &mut [String]| names.reverse());
        assert_eq!(
            reversed,
            MxPlan::Hosts(vec!["c".into(), "b".into(), "a".into(), "z".into()])
        );
        let mut firsts = std::collections::BTreeSet::new();
        for _ in 0..200 {
            if let MxPlan::Hosts(hosts) = plan("d", &records, random_shuffle) {
                assert_eq!(hosts[3], "z");
                firsts.insert(hosts[0].clone());
            }
        }
        assert_eq!(
            firsts.len(),
            3,
            "every host of the group comes first sometimes"
        );
    }

    #[test]
    fn no_mx_means_the_domain_itself() {
        assert_eq!(
            plan("wervik.be.", &[], keep),
            MxPlan::Hosts(vec!["wervik.be".into()])
        );
    }

    #[test]
    fn a_null_mx_means_no_mail() {
        assert_eq!(plan("example.org", &[mx(0, ".")], keep), MxPlan::NullMx);
        assert_eq!(
            plan(
                "example.org",
                &[mx(0, "."), mx(10, "mx.example.org.")],
                keep
            ),
            MxPlan::NullMx
        );
    }
}
