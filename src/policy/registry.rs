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
            // As given: a control character or trailing space makes the name no address
            // (a trim here would be a second normalisation besides the canonical form).
            Some(name) => Address::parse(name).is_ok_and(|a| listed(&a.canonical())),
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

    /// Spellings of `local@domain` a client may send, generated: case, trailing dot, `+tag`,
    /// invisible characters, full-width letters, an IDN domain in either form.
    fn spellings(local: &str, domain: &str) -> Vec<String> {
        let full_width = |s: &str| -> String {
            s.chars()
                .map(|c| match c {
                    'a'..='z' => char::from_u32(c as u32 - 0x61 + 0xFF41).unwrap_or(c),
                    c => c,
                })
                .collect()
        };
        let ascii_domain = idna::domain_to_ascii(domain).unwrap();
        let mut locals = vec![
            local.to_string(),
            local.to_uppercase(),
            format!("{local}+dossier"),
            format!("{local}\u{200B}"),
            format!("\u{202E}{local}"),
            format!(" {local}"),
            full_width(local),
        ];
        let mut chars = local.chars();
        if let Some(first) = chars.next() {
            locals.push(format!("{first}\u{00AD}{}", chars.as_str()));
        }
        let mut domains = vec![
            domain.to_string(),
            domain.to_uppercase(),
            format!("{domain}."),
            ascii_domain.clone(),
            ascii_domain.to_uppercase() + ".",
            full_width(domain),
            domain.replace('.', "\u{3002}"),
        ];
        domains.dedup();
        let mut out = Vec::new();
        for l in &locals {
            for d in &domains {
                out.push(format!("{l}@{d}"));
            }
        }
        out
    }

    /// Issue 15's `senders` list against generated hostile spellings: a sender (and an
    /// authenticated user) not on the list never gets through by spelling, a listed one is not
    /// refused for a harmless one. The verdict of each: refused at parsing (the session answers
    /// 553 at MAIL) or judged by the same canonical form the recipients use.
    #[test]
    fn hostile_sender_spellings_never_pass_and_harmless_ones_never_fail() {
        let mut p = protocol("wervik", &["kindengezin@wervik.be"], "2023-12-01", None);
        p.senders = Some(vec![
            "An.Peeters@Opgroeien.be".into(),
            "@kindengezin.be".into(),
            "*@bücher.example".into(),
        ]);
        let registry = Registry::new(&[p], &PolicyConfig::default());
        // None: refused at MAIL (parse_sender), as the session does.
        let sender = |raw: &str| Address::parse_sender(raw).ok().map(|a| a.canonical());
        let judge = |raw: &str, auth: Option<&str>| -> Option<bool> {
            let origin = Origin {
                sender: Some(sender(raw)?),
                auth_user: auth.map(str::to_string),
            };
            Some(registry.sender_allowed("wervik", &origin))
        };

        let listed = [
            ("an.peeters", "opgroeien.be"),
            ("wie", "kindengezin.be"),
            ("iemand", "bücher.example"),
        ];
        let mut allowed = 0;
        for (local, domain) in listed {
            for raw in spellings(local, domain) {
                assert_eq!(judge(&raw, None), Some(true), "{raw:?} is listed");
                assert_eq!(
                    judge("wie@kindengezin.be", Some(&raw)),
                    Some(true),
                    "AUTH {raw:?} is listed"
                );
                allowed += 1;
            }
        }

        // Not listed: another local part, a subdomain, a lookalike or longer domain, a
        // confusable letter (Cyrillic a, o, e), the IDN domain without its umlaut.
        let unlisted = [
            ("piet", "opgroeien.be"),
            ("anpeeters", "opgroeien.be"),
            ("an.peeter", "opgroeien.be"),
            ("\u{430}n.peeters", "opgroeien.be"),
            ("an.peeters", "sub.opgroeien.be"),
            ("an.peeters", "opgroeien.be.evil"),
            ("an.peeters", "evil-opgroeien.be"),
            ("an.peeters", "opgroeien.bee"),
            ("an.peeters", "\u{43E}pgroeien.be"),
            ("wie", "sub.kindengezin.be"),
            ("wie", "kindengezin.be.evil"),
            ("wie", "kindengezin.evil"),
            ("wie", "kind\u{435}ngezin.be"),
            ("iemand", "bucher.example"),
            ("iemand", "xn--bcher-kva.example.evil"),
        ];
        let (mut refused_at_mail, mut refused) = (0, 0);
        for (local, domain) in unlisted {
            for raw in spellings(local, domain) {
                match judge(&raw, None) {
                    None => refused_at_mail += 1,
                    Some(verdict) => {
                        assert!(!verdict, "{raw:?} is not listed");
                        refused += 1;
                    }
                }
                assert_ne!(
                    judge("wie@kindengezin.be", Some(&raw)),
                    Some(true),
                    "AUTH {raw:?} is not listed"
                );
            }
        }

        // Routing and quoting tricks that carry a listed address inside: refused at MAIL, and
        // as an authenticated user name they match nothing. The quoted forms are what
        // smtp-proto hands over for `"an.peeters@opgroeien.be"@evil.example` and friends.
        for raw in [
            "an.peeters@opgroeien.be@evil.example",
            "an.peeters%opgroeien.be@evil.example",
            "opgroeien.be!an.peeters@evil.example",
            "an.peeters@opgroeien.be(comment)@evil.example",
            "an.peeters\"@opgroeien.be",
            "an.peeters<x>@opgroeien.be",
            "an.peeters@[192.0.2.1]",
            "an.peeters@opgroeien.be\r\n",
            "an.peeters@opgroeien.be evil.example",
            "an.peeters\u{FF20}opgroeien.be@evil.example",
            "@opgroeien.be",
            "an.peeters",
        ] {
            assert_eq!(judge(raw, None), None, "{raw:?} passed MAIL");
            assert_eq!(
                judge("wie@kindengezin.be", Some(raw)),
                Some(false),
                "AUTH {raw:?}"
            );
            refused_at_mail += 1;
        }
        // A dotless or IP domain passes MAIL (cron's root@localhost) but is never listed.
        for raw in ["an.peeters@opgroeien", "an.peeters@192.0.2.1"] {
            assert_eq!(judge(raw, None), Some(false), "{raw:?}");
            refused += 1;
        }
        eprintln!("senders: {allowed} listed spellings allowed, {refused} unlisted refused by the list, {refused_at_mail} refused at MAIL");
        assert!(allowed > 100 && refused > 100 && refused_at_mail > 10);
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
