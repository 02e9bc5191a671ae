//! What exactly could not be inspected, as closed sets. The reason a refusal gives must not
//! quote the message (a Content-Type such as `multipart/Jan-Peeters-Kerkstraat-1-Wervik` would
//! end up in the reply, the log line and the audit), so an inspection error carries one of
//! these fixed kinds, never text taken from the message.

use std::fmt;

/// Why a structure could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unreadable {
    /// No header block at all.
    NoHeader,
    /// A part's transfer encoding (base64, quoted-printable) cannot be decoded.
    UndecodablePart,
    /// A multipart or message part whose inside cannot be read as one.
    ContainerWithoutStructure,
}

impl Unreadable {
    pub fn as_str(self) -> &'static str {
        match self {
            Unreadable::NoHeader => "no message header found",
            Unreadable::UndecodablePart => "a MIME part cannot be decoded",
            Unreadable::ContainerWithoutStructure => {
                "a multipart or message part has no readable structure"
            }
        }
    }
}

/// Which bound the structure exceeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    NestedMessages,
    Parts,
    MultipartDepth,
    HeaderBlock,
}

impl Bound {
    pub fn as_str(self) -> &'static str {
        match self {
            Bound::NestedMessages => "too many nested (forwarded) messages",
            Bound::Parts => "too many MIME parts",
            Bound::MultipartDepth => "multipart nested too deep",
            Bound::HeaderBlock => "a header block is too large",
        }
    }
}

impl fmt::Display for Unreadable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
