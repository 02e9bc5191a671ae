//! The Message-ID as the decision (and so the audit trail and `sealgate check`) keeps it.
//!
//! The Message-ID is written by the sender's program, and a hand-made or scripted one can carry
//! anything: a name, an address, a national register number. The audit must hold no text taken
//! from the message, so the id is kept as written only when it has the shape of an RFC 5322
//! msg-id (`id-left@id-right`, both dot-atom-text, bounded length) and no identifier in it.
//! Anything else is kept as `sha256:<hex>` of the id: still good for matching a copy of the
//! message against the audit record, useless for reading it.

use sha2::{Digest, Sha256};

use super::identifiers;

/// Longest id kept as written (without the angle brackets). Real ids run 30 to 100.
pub const MAX_KEPT_MESSAGE_ID: usize = 250;

/// The form in which `id` (as mail-parser returns it, without `<>`) is recorded.
pub fn recorded(id: &str) -> String {
    if is_plain_msg_id(id) && identifiers::find(id).is_none() {
        id.to_string()
    } else {
        format!("sha256:{}", hex::encode(Sha256::digest(id.as_bytes())))
    }
}

/// `id-left "@" id-right` with both sides dot-atom-text (RFC 5322 3.6.4; the obsolete forms
/// and the `[no-fold-literal]` right side are not kept as written).
fn is_plain_msg_id(id: &str) -> bool {
    if id.len() > MAX_KEPT_MESSAGE_ID {
        return false;
    }
    match id.split_once('@') {
        Some((left, right)) => is_dot_atom_text(left) && is_dot_atom_text(right),
        None => false,
    }
}

/// 1*atext *("." 1*atext), ASCII only.
fn is_dot_atom_text(text: &str) -> bool {
    !text.is_empty()
        && text.split('.').all(|atom| {
            !atom.is_empty()
                && atom
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hashed(id: &str) -> bool {
        recorded(id).starts_with("sha256:") && recorded(id).len() == 7 + 64
    }

    #[test]
    fn ordinary_ids_are_kept() {
        for id in [
            "CAF3x+7Yq=abc@mail.gmail.com",
            "20260101093000.12345@wervik.be",
            "a.b.c@d",
            "AM0PR01MB1234.eurprd01.prod.exchangelabs.com@AM0PR01MB1234",
        ] {
            assert_eq!(recorded(id), id);
        }
    }

    #[test]
    fn odd_or_identifying_ids_are_hashed() {
        for id in [
            "",
            "no-at-sign",
            "two@at@signs",
            "space inside@x.be",
            "Jan Peeters, Kerkstraat 1@x.be",
            "a..b@x.be",
            ".a@x.be",
            "a@[192.0.2.1]",
            "één@x.be",
            "85073003328@x.be",
            "dossier.BE68539007547034@x.be",
            "a\r\nb@x.be",
            &format!("{}@x.be", "a".repeat(300)),
        ] {
            assert!(hashed(id), "{id:?} -> {}", recorded(id));
        }
        assert_eq!(recorded("x y"), recorded("x y"), "the hash is stable");
    }
}
