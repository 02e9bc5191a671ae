//! AUTH PLAIN and LOGIN (RFC 4616, the LOGIN draft): decoding the client's responses. The
//! password check itself is `credentials` (bounded, equal work for unknown users).

use base64::Engine;

/// `base64(authzid NUL authcid NUL password)` (RFC 4616) to (authcid, password).
pub fn decode_plain(response: &str) -> Option<(String, String)> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(response.trim())
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let mut parts = text.split('\0');
    let _authzid = parts.next()?;
    let user = parts.next()?;
    let password = parts.next()?;
    if parts.next().is_some() || user.is_empty() {
        return None;
    }
    Some((user.to_string(), password.to_string()))
}

pub fn decode_text(response: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(response.trim())
        .ok()?;
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_responses() {
        let encode = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        assert_eq!(
            decode_plain(&encode("\0alice\0secret")),
            Some(("alice".into(), "secret".into()))
        );
        assert_eq!(
            decode_plain(&encode("admin\0alice\0secret")),
            Some(("alice".into(), "secret".into()))
        );
        assert_eq!(decode_plain(&encode("alice")), None);
        assert_eq!(decode_plain("not base64!"), None);
    }
}
