//! The registry: which protocol protects an envelope recipient, and whether it is in force.
//!
//! Matching happens on the canonical address only (see `envelope`), so every spelling that
//! reaches the same mailbox (case, `+tag`, quotes, IDN forms, trailing dot) finds its protocol.

use chrono::NaiveDate;

use crate::config::{PolicyConfig, ProtocolConfig};
use crate::envelope::{canonical_domain, Address, CanonicalAddress, MailboxPattern};

use super::{Origin, PolicyRecipient};

/// One protocol with its mailboxes and allowed senders parsed.
#[derive(Debug, Clone)]
struct Entry {
    protocol: ProtocolConfig,
    mailboxes: Vec<MailboxPattern>,
    /// None: any sender (no `senders` key).
    senders: Option<Vec<MailboxPattern>>,
}

/// The protocols of the configuration, ready to answer "who protects this recipient?".
#[derive(Debug, Clone)]
pub struct Registry {
    protocols: Vec<Entry>,
    policy: PolicyConfig,
    own_domains: Vec<String>,
}

impl Registry {
    /// Builds the registry. `Config::load` has validated the mailbox and sender patterns; a
    /// mailbox pattern that still does not parse is left out (it could match nothing anyway),
    /// and a `senders` list that does not parse allows no one (fail closed).
    pub fn new(protocols: &[ProtocolConfig], policy: &PolicyConfig) -> Registry {
        let protocols = protocols
            .iter()
            .map(|p| Entry {
                protocol: p.clone(),
                mailboxes: p
                    .mailboxes
                    .iter()
                    .filter_map(|m| MailboxPattern::parse(m).ok())
                    .collect(),
                senders: p.sender_patterns().unwrap_or_else(|_| Some(Vec::new())),
            })
            .collect();
        let own_domains = policy
            .own_domains
            .iter()
            .filter_map(|d| canonical_domain(d.trim().trim_start_matches('@')).ok())
            .collect();
        Registry {
            protocols,
            policy: policy.clone(),
            own_domains,
        }
    }

    /// The protocol whose mailboxes include `address`, in force or not. The first listed wins.
    pub fn protocol_for(&self, address: &CanonicalAddress) -> Option<&ProtocolConfig> {
        self.protocols
            .iter()
            .find(|e| e.mailboxes.iter().any(|p| p.matches(address)))
            .map(|e| &e.protocol)
    }

    /// The protocol with this id.
    pub fn protocol(&self, id: &str) -> Option<&ProtocolConfig> {
        self.protocols
            .iter()
            .map(|e| &e.protocol)
            .find(|p| p.id == id)
    }

    /// May `origin` send to the mailboxes of protocol `id` (article 5, the `senders` key)?
    /// Without a `senders` list anyone may. With one, the envelope sender must match an entry
    /// (the null sender `<>` never does), and when the client authenticated, the
    /// authenticated user name must match one too, read as an address in the same canonical
    /// form (a name that is no address matches nothing). An unknown id allows no one.
    pub fn sender_allowed(&self, id: &str, origin: &Origin) -> bool {
        let Some(entry) = self.protocols.iter().find(|e| e.protocol.id == id) else {
            return false;
        };
        let Some(allowed) = &entry.senders else {
            return true;
        };
        let listed = |address: &CanonicalAddress| allowed.iter().any(|p| p.matches(address));
        let sender_ok = origin.sender.as_ref().is_some_and(listed);
        let auth_ok = match &origin.auth_user {
            None => true,
            Some(name) => Address::parse(name.trim()).is_ok_and(|a| listed(&a.canonical())),
        };
        sender_ok && auth_ok
    }

    /// The recipient as policy sees it: its address and the id of the protocol protecting it.
    pub fn classify(&self, address: &CanonicalAddress) -> PolicyRecipient {
        PolicyRecipient {
            address: address.clone(),
            protocol: self.protocol_for(address).map(|p| p.id.clone()),
        }
    }

    /// True when the address is in one of `policy.own_domains` (exact domain match).
    pub fn is_own_domain(&self, address: &CanonicalAddress) -> bool {
        self.own_domains.contains(&address.domain)
    }

    pub fn policy(&self) -> &PolicyConfig {
        &self.policy
    }
}

/// True when `today` lies in `[in_force_from, in_force_until]` (both days included).
pub fn in_force(protocol: &ProtocolConfig, today: NaiveDate) -> bool {
    today >= protocol.in_force_from && protocol.in_force_until.is_none_or(|until| today <= until)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::Address;

    fn protocol(id: &str, mailboxes: &[&str], from: &str, until: Option<&str>) -> ProtocolConfig {
        ProtocolConfig {
            id: id.into(),
            title: id.into(),
            mailboxes: mailboxes.iter().map(|m| m.to_string()).collect(),
            in_force_from: from.parse().unwrap(),
            in_force_until: until.map(|u| u.parse().unwrap()),
            rules: Default::default(),
            mode: Default::default(),
            senders: None,
        }
    }

    fn canon(raw: &str) -> CanonicalAddress {
        Address::parse(raw).unwrap().canonical()
    }

    #[test]
    fn recipients_are_classified_by_canonical_address() {
        let policy = PolicyConfig {
            own_domains: vec!["@Opgroeien.BE".into(), "kindengezin.be.".into()],
            ..Default::default()
        };
        let registry = Registry::new(
            &[
                protocol("wervik", &["kindengezin@wervik.be"], "2023-12-01", None),
                protocol("menen", &["@menen.be"], "2023-12-01", None),
            ],
            &policy,
        );
        assert_eq!(
            registry
                .classify(&canon("KindenGezin+x@Wervik.be."))
                .protocol
                .as_deref(),
            Some("wervik")
        );
        assert_eq!(
            registry
                .classify(&canon("iemand@MENEN.be"))
                .protocol
                .as_deref(),
            Some("menen")
        );
        assert_eq!(registry.classify(&canon("info@wervik.be")).protocol, None);
        // What a receiving server may normalise lands on the protected mailbox too.
        for spelling in [
            "kindengezin @wervik.be",
            " kindengezin@wervik.be",
            "kinden\u{200B}gezin@wervik.be",
            "\u{FF4B}\u{FF49}\u{FF4E}\u{FF44}\u{FF45}\u{FF4E}gezin@wervik.be",
            "kindengezin\u{00AD}@wervik\u{3002}be",
        ] {
            assert_eq!(
                registry.classify(&canon(spelling)).protocol.as_deref(),
                Some("wervik"),
                "{spelling:?}"
            );
        }
        assert!(registry.is_own_domain(&canon("an@opgroeien.be")));
        assert!(registry.is_own_domain(&canon("an@KindEnGezin.be")));
        assert!(!registry.is_own_domain(&canon("an@sub.opgroeien.be")));
        assert_eq!(
            registry.protocol("menen").map(|p| p.id.as_str()),
            Some("menen")
        );
    }

    fn origin(sender: Option<&str>, auth: Option<&str>) -> Origin {
        Origin {
            sender: sender.map(canon),
            auth_user: auth.map(str::to_string),
        }
    }

    #[test]
    fn senders_match_exact_addresses_and_whole_domains() {
        let mut p = protocol("wervik", &["kindengezin@wervik.be"], "2023-12-01", None);
        p.senders = Some(vec![
            "An.Peeters@Opgroeien.be".into(),
            "@kindengezin.be".into(),
            "*@menen-team.be".into(),
        ]);
        let open = protocol("open", &["@open.be"], "2023-12-01", None);
        let registry = Registry::new(&[p, open], &PolicyConfig::default());
        let allowed =
            |s: Option<&str>, a: Option<&str>| registry.sender_allowed("wervik", &origin(s, a));
        // Normalised like recipients: case, +tag, trailing dot.
        assert!(allowed(Some("an.peeters+dossier@OPGROEIEN.BE."), None));
        assert!(allowed(Some("wie@kindengezin.be"), None));
        assert!(allowed(Some("wie@Menen-Team.be"), None));
        assert!(!allowed(Some("piet@opgroeien.be"), None));
        assert!(
            !allowed(Some("wie@sub.kindengezin.be"), None),
            "no subdomains"
        );
        assert!(!allowed(None, None), "the null sender");
        // With AUTH both must be listed.
        assert!(allowed(
            Some("wie@kindengezin.be"),
            Some("an.peeters@opgroeien.be")
        ));
        assert!(!allowed(
            Some("wie@kindengezin.be"),
            Some("piet@opgroeien.be")
        ));
        assert!(!allowed(
            Some("piet@opgroeien.be"),
            Some("an.peeters@opgroeien.be")
        ));
        assert!(!allowed(Some("wie@kindengezin.be"), Some("exchange-relay")));
        // No list: anyone, also the null sender; an unknown protocol: no one.
        assert!(registry.sender_allowed("open", &origin(None, Some("x"))));
        assert!(!registry.sender_allowed("gone", &origin(Some("wie@kindengezin.be"), None)));
    }

    #[test]
    fn in_force_includes_both_ends() {
        let p = protocol("p", &["a@b.be"], "2023-12-01", Some("2027-06-30"));
        let day = |s: &str| s.parse::<NaiveDate>().unwrap();
        assert!(!in_force(&p, day("2023-11-30")));
        assert!(in_force(&p, day("2023-12-01")));
        assert!(in_force(&p, day("2027-06-30")));
        assert!(!in_force(&p, day("2027-07-01")));
        let open = protocol("p", &["a@b.be"], "2023-12-01", None);
        assert!(in_force(&open, day("2099-01-01")));
    }
}
