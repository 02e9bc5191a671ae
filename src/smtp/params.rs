//! MAIL parameters sealgate reads itself, because the command parser reads them too loosely.
//!
//! smtp-proto 0.2 parses `SIZE=` with a saturating counter that starts over once it has
//! saturated: `SIZE=99999999999999999999999` comes out as 999 and would get 250. The declared
//! size is a promise about memory and the limit, so it is read again here with checked
//! arithmetic: a number too large for any count is over every limit (`552 5.3.4`).
//!

/// What sealgate makes of the `SIZE=` parameter of a MAIL command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeclaredSize {
    /// No `SIZE=` parameter.
    Absent,
    Bytes(u64),
    /// Digits only, but more than any count can hold.
    Overflow,
    /// Not a decimal number.
    Malformed,
}

/// The `SIZE=` of a MAIL line (parameters after the closing `>` of the reverse path).
/// A second `SIZE=` is malformed: two readers could take different ones.
pub fn declared_size(line: &[u8]) -> DeclaredSize {
    let mut found = DeclaredSize::Absent;
    for param in parameters(line) {
        let Some(value) = strip_prefix_ignore_case(param, b"SIZE=") else {
            continue;
        };
        if found != DeclaredSize::Absent {
            return DeclaredSize::Malformed;
        }
        found = parse_decimal(value);
    }
    found
}

/// The space-separated parameters after the reverse path's closing `>`.
fn parameters(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    let rest = match memchr::memrchr(b'>', line) {
        Some(at) => &line[at + 1..],
        None => &[][..],
    };
    rest.split(|b| b.is_ascii_whitespace())
        .filter(|p| !p.is_empty())
}

fn strip_prefix_ignore_case<'a>(text: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    (text.len() >= prefix.len() && text[..prefix.len()].eq_ignore_ascii_case(prefix))
        .then(|| &text[prefix.len()..])
}

fn parse_decimal(digits: &[u8]) -> DeclaredSize {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return DeclaredSize::Malformed;
    }
    let mut value: u64 = 0;
    for &d in digits {
        match value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(d - b'0')))
        {
            Some(v) => value = v,
            None => return DeclaredSize::Overflow,
        }
    }
    DeclaredSize::Bytes(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_read_with_checked_arithmetic() {
        let size = |line: &str| declared_size(line.as_bytes());
        assert_eq!(size("MAIL FROM:<a@b.c>"), DeclaredSize::Absent);
        assert_eq!(size("MAIL FROM:<a@b.c> size=500"), DeclaredSize::Bytes(500));
        assert_eq!(
            size("MAIL FROM:<a@b.c> BODY=8BITMIME SIZE=18446744073709551615"),
            DeclaredSize::Bytes(u64::MAX)
        );
        assert_eq!(
            size("MAIL FROM:<a@b.c> SIZE=18446744073709551616"),
            DeclaredSize::Overflow
        );
        assert_eq!(
            size("MAIL FROM:<a@b.c> SIZE=99999999999999999999999"),
            DeclaredSize::Overflow
        );
        assert_eq!(size("MAIL FROM:<a@b.c> SIZE=1e9"), DeclaredSize::Malformed);
        assert_eq!(size("MAIL FROM:<a@b.c> SIZE="), DeclaredSize::Malformed);
        assert_eq!(
            size("MAIL FROM:<a@b.c> SIZE=1 SIZE=2"),
            DeclaredSize::Malformed
        );
        // A SIZE= inside the address is not a parameter.
        assert_eq!(size("MAIL FROM:<SIZE=9@b.c>"), DeclaredSize::Absent);
    }
}
