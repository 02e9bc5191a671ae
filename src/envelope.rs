//! The envelope: who sends, to whom, and the one canonical form recipients are matched in.
//!
//! The registry of protected mailboxes is only as good as the matching. Every spelling that a
//! receiving system would deliver to the same mailbox must match: case, `+tag` sub-addresses,
//! quoted local parts, IDN domains in Unicode or ASCII form, a trailing dot. Spellings whose
//! routing is decided by some other system (percent hack, bang paths, source routes, address
//! literals, a second `@`) are refused outright, because sealgate cannot know where they end up.

use std::fmt;

/// Why an address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("address has no domain")]
    NoDomain,
    #[error("address has an empty local part")]
    EmptyLocalPart,
    #[error("source routes (@host,@host:user@domain) are not accepted")]
    SourceRoute,
    #[error("routing characters (% ! @) in the local part are not accepted")]
    RoutingTrick,
    #[error("address literals ([ip]) are not accepted; use the domain name")]
    AddressLiteral,
    #[error("domain {0:?} is not a valid (internationalised) domain name")]
    BadDomain(String),
    #[error("address contains control characters")]
    ControlCharacter,
}

/// A mailbox as the client gave it, split once: local part (unquoted) and domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    local: String,
    domain: String,
}

/// The form in which addresses are compared. Never shown to the next hop.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CanonicalAddress {
    pub local: String,
    pub domain: String,
}

impl fmt::Display for CanonicalAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.local, self.domain)
    }
}

impl Address {
    /// Parses an address as smtp-proto returns it (quotes removed, source route dropped).
    /// Source routes must be caught on the raw command line: see [`has_source_route`].
    pub fn parse(raw: &str) -> Result<Address, AddressError> {
        if raw.chars().any(|c| c.is_control()) {
            return Err(AddressError::ControlCharacter);
        }
        let (local, domain) = raw.rsplit_once('@').ok_or(AddressError::NoDomain)?;
        if local.is_empty() {
            return Err(AddressError::EmptyLocalPart);
        }
        if local.contains(['%', '!', '@']) {
            return Err(AddressError::RoutingTrick);
        }
        if domain.starts_with('[') {
            return Err(AddressError::AddressLiteral);
        }
        canonical_domain(domain)?;
        Ok(Address {
            local: local.to_string(),
            domain: domain.to_string(),
        })
    }

    pub fn local(&self) -> &str {
        &self.local
    }

    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// Case-folded, `+tag` stripped, domain in IDNA ASCII form without a trailing dot.
    pub fn canonical(&self) -> CanonicalAddress {
        let local = self
            .local
            .split('+')
            .next()
            .unwrap_or_default()
            .to_lowercase();
        // parse() has checked that the domain converts.
        let domain = canonical_domain(&self.domain).unwrap_or_else(|_| self.domain.to_lowercase());
        CanonicalAddress { local, domain }
    }

    /// The address as it goes on the wire to the next hop, quoted where RFC 5321 wants it.
    pub fn to_smtp(&self) -> String {
        if is_dot_atom(&self.local) {
            format!("{}@{}", self.local, self.domain)
        } else {
            let escaped = self.local.replace('\\', "\\\\").replace('"', "\\\"");
            format!("\"{escaped}\"@{}", self.domain)
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_smtp())
    }
}

/// Domain in the one form it is compared in: IDNA (UTS 46) ASCII, lower case, no trailing dot.
pub fn canonical_domain(domain: &str) -> Result<String, AddressError> {
    let trimmed = domain.strip_suffix('.').unwrap_or(domain);
    if trimmed.is_empty() {
        return Err(AddressError::BadDomain(domain.to_string()));
    }
    match idna::domain_to_ascii(trimmed) {
        Ok(ascii) if !ascii.is_empty() && !ascii.ends_with('.') && !ascii.contains("..") => {
            Ok(ascii)
        }
        _ => Err(AddressError::BadDomain(domain.to_string())),
    }
}

/// True when a `MAIL FROM:`/`RCPT TO:` command line carries a source route (`<@a,@b:u@c>`),
/// which smtp-proto silently strips.
pub fn has_source_route(command_line: &[u8]) -> bool {
    let Some(open) = command_line.iter().position(|&b| b == b'<') else {
        return false;
    };
    command_line[open + 1..]
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|&b| b == b'@')
}

fn is_dot_atom(local: &str) -> bool {
    !local.is_empty()
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local.chars().all(|c| {
            c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c) || !c.is_ascii()
        })
}

/// An entry of a protocol's `mailboxes`: one address, or a whole domain written `@domain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailboxPattern {
    Address(CanonicalAddress),
    Domain(String),
}

impl MailboxPattern {
    pub fn parse(text: &str) -> Result<MailboxPattern, AddressError> {
        let text = text.trim();
        match text.strip_prefix('@') {
            Some(domain) => Ok(MailboxPattern::Domain(canonical_domain(domain)?)),
            None => Ok(MailboxPattern::Address(Address::parse(text)?.canonical())),
        }
    }

    pub fn matches(&self, address: &CanonicalAddress) -> bool {
        match self {
            MailboxPattern::Address(a) => a == address,
            MailboxPattern::Domain(d) => *d == address.domain,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(raw: &str) -> String {
        Address::parse(raw).unwrap().canonical().to_string()
    }

    #[test]
    fn spellings_of_one_mailbox_share_a_canonical_form() {
        for raw in [
            "kindengezin@wervik.be",
            "KindEnGezin@WERVIK.BE",
            "kindengezin+dossier42@wervik.be",
            "kindengezin@wervik.be.",
            "KINDENGEZIN+x+y@Wervik.Be.",
            "kindengezin@ｗｅｒｖｉｋ.ｂｅ",
        ] {
            assert_eq!(canon(raw), "kindengezin@wervik.be", "{raw}");
        }
    }

    #[test]
    fn idn_domains_compare_in_ascii_form() {
        assert_eq!(canon("info@bücher.example"), "info@xn--bcher-kva.example");
        assert_eq!(
            canon("info@XN--BCHER-KVA.example"),
            "info@xn--bcher-kva.example"
        );
    }

    #[test]
    fn routing_tricks_are_refused() {
        assert_eq!(
            Address::parse("kindengezin%wervik.be@relay.example"),
            Err(AddressError::RoutingTrick)
        );
        assert_eq!(
            Address::parse("wervik.be!kindengezin@relay.example"),
            Err(AddressError::RoutingTrick)
        );
        assert_eq!(
            Address::parse("kindengezin@wervik.be@relay.example"),
            Err(AddressError::RoutingTrick)
        );
        assert_eq!(
            Address::parse("user@[192.0.2.1]"),
            Err(AddressError::AddressLiteral)
        );
        assert_eq!(Address::parse("user"), Err(AddressError::NoDomain));
        assert_eq!(
            Address::parse("@wervik.be"),
            Err(AddressError::EmptyLocalPart)
        );
        assert_eq!(
            Address::parse("a\u{7}b@wervik.be"),
            Err(AddressError::ControlCharacter)
        );
        assert!(matches!(
            Address::parse("a@."),
            Err(AddressError::BadDomain(_))
        ));
        assert!(matches!(
            Address::parse("a@wervik..be"),
            Err(AddressError::BadDomain(_))
        ));
    }

    #[test]
    fn source_routes_are_seen_on_the_raw_line() {
        assert!(has_source_route(
            b"RCPT TO:<@relay.example,@b.example:kindengezin@wervik.be>"
        ));
        assert!(has_source_route(
            b"RCPT TO:< @relay.example:kindengezin@wervik.be>"
        ));
        assert!(!has_source_route(b"RCPT TO:<kindengezin@wervik.be>"));
        assert!(!has_source_route(b"MAIL FROM:<>"));
    }

    #[test]
    fn quoted_local_parts_are_requoted_for_the_next_hop() {
        let a = Address::parse("john doe@example.org").unwrap();
        assert_eq!(a.to_smtp(), "\"john doe\"@example.org");
        assert_eq!(a.canonical().to_string(), "john doe@example.org");
        let b = Address::parse("a\"b@example.org").unwrap();
        assert_eq!(b.to_smtp(), "\"a\\\"b\"@example.org");
        assert_eq!(
            Address::parse("plain.name@example.org").unwrap().to_smtp(),
            "plain.name@example.org"
        );
    }

    #[test]
    fn mailbox_patterns_match_addresses_and_domains() {
        let mailbox = MailboxPattern::parse("kindengezin@wervik.be").unwrap();
        let domain = MailboxPattern::parse("@Wervik.BE").unwrap();
        let a = Address::parse("KindenGezin+x@wervik.be.")
            .unwrap()
            .canonical();
        let b = Address::parse("other@wervik.be").unwrap().canonical();
        let c = Address::parse("kindengezin@menen.be").unwrap().canonical();
        assert!(mailbox.matches(&a) && !mailbox.matches(&b) && !mailbox.matches(&c));
        assert!(domain.matches(&a) && domain.matches(&b) && !domain.matches(&c));
        assert!(MailboxPattern::parse("@").is_err());
    }
}
