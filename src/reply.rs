//! SMTP replies: a code, an RFC 3463 enhanced status code on every line, and text lines.
//!
//! Neutral ground: the inbound side (`smtp`) writes replies to the client, the outbound side
//! (`relay`) parses the next hop's replies into the same type, and the transfer core passes
//! them from one to the other unchanged (mirroring). Neither side owns this module, so neither
//! imports the other.

use std::fmt;

/// One reply, possibly multi-line. Replies carry an enhanced status code because sealgate
/// advertises ENHANCEDSTATUSCODES, except where RFC 2034 section 3 forbids it: the greeting
/// and the answers to HELO and EHLO (a client would read `2.0.0` as an extension keyword).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub status: Option<Status>,
    pub lines: Vec<String>,
}

/// An RFC 3463 status code `class.subject.detail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status(pub u8, pub u16, pub u16);

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

impl Reply {
    pub fn new(code: u16, status: Status, text: impl Into<String>) -> Reply {
        Reply::multiline(code, status, vec![text.into()])
    }

    pub fn multiline(code: u16, status: Status, lines: Vec<String>) -> Reply {
        let lines = if lines.is_empty() {
            vec![String::new()]
        } else {
            lines
        };
        Reply {
            code,
            status: Some(status),
            lines,
        }
    }

    /// A reply without an enhanced status code: greeting, HELO/EHLO.
    pub fn plain(code: u16, lines: Vec<String>) -> Reply {
        let lines = if lines.is_empty() {
            vec![String::new()]
        } else {
            lines
        };
        Reply {
            code,
            status: None,
            lines,
        }
    }

    pub fn is_positive(&self) -> bool {
        (200..400).contains(&self.code)
    }

    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }

    /// Appends the wire form to `out`. Text is made safe: every control character becomes a
    /// space, so no CR or LF can break a line. Written in place, without a string per line:
    /// every reply to every client goes through here.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let last = self.lines.len().saturating_sub(1);
        for (i, line) in self.lines.iter().enumerate() {
            push_decimal(out, self.code);
            out.push(if i == last { b' ' } else { b'-' });
            if let Some(Status(class, subject, detail)) = self.status {
                push_decimal(out, class.into());
                out.push(b'.');
                push_decimal(out, subject);
                out.push(b'.');
                push_decimal(out, detail);
                out.push(b' ');
            }
            if line.chars().any(char::is_control) {
                let clean: String = line
                    .chars()
                    .map(|c| if c.is_control() { ' ' } else { c })
                    .collect();
                out.extend_from_slice(clean.as_bytes());
            } else {
                out.extend_from_slice(line.as_bytes());
            }
            out.extend_from_slice(b"\r\n");
        }
    }

    /// The reply on one line, for logs and the audit trail.
    pub fn summary(&self) -> String {
        match self.status {
            Some(status) => format!("{} {} {}", self.code, status, self.lines.join(" ")),
            None => format!("{} {}", self.code, self.lines.join(" ")),
        }
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.summary())
    }
}

/// Appends `n` in decimal, as `{}` formats it.
fn push_decimal(out: &mut Vec<u8>, n: u16) {
    let mut digits = [0u8; 5];
    let mut at = digits.len();
    let mut rest = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// The replies sealgate itself gives, named after what they mean.
pub mod replies {
    use super::{Reply, Status};

    pub fn ok(text: &str) -> Reply {
        Reply::new(250, Status(2, 0, 0), text)
    }
    pub fn bye() -> Reply {
        Reply::new(221, Status(2, 0, 0), "Bye")
    }
    pub fn vrfy() -> Reply {
        Reply::new(
            252,
            Status(2, 5, 0),
            "Cannot VRFY user, but will accept message and attempt delivery",
        )
    }
    pub fn start_data() -> Reply {
        Reply::new(354, Status(2, 0, 0), "End data with <CR><LF>.<CR><LF>")
    }
    pub fn start_tls() -> Reply {
        Reply::new(220, Status(2, 0, 0), "Ready to start TLS")
    }
    pub fn bad_sequence(text: &str) -> Reply {
        Reply::new(503, Status(5, 5, 1), text)
    }
    pub fn unknown_command() -> Reply {
        Reply::new(500, Status(5, 5, 1), "Error: command not recognized")
    }
    pub fn syntax(text: &str) -> Reply {
        Reply::new(501, Status(5, 5, 4), text)
    }
    pub fn line_too_long() -> Reply {
        Reply::new(500, Status(5, 5, 2), "Error: command line too long")
    }
    pub fn not_implemented(text: &str) -> Reply {
        Reply::new(502, Status(5, 5, 1), text)
    }
    pub fn relay_denied() -> Reply {
        Reply::new(554, Status(5, 7, 1), "Relay access denied: this client is not in access.client_networks and did not authenticate")
    }
    pub fn bad_address(why: &str) -> Reply {
        Reply::new(553, Status(5, 1, 3), format!("Address refused: {why}"))
    }
    pub fn bad_sender(why: &str) -> Reply {
        Reply::new(
            553,
            Status(5, 1, 7),
            format!("Sender address refused: {why}"),
        )
    }
    pub fn too_many_recipients() -> Reply {
        Reply::new(
            452,
            Status(4, 5, 3),
            "Error: too many recipients, send the rest in another transaction",
        )
    }
    pub fn no_valid_recipients() -> Reply {
        Reply::new(554, Status(5, 5, 1), "Error: no valid recipients")
    }
    pub fn too_big() -> Reply {
        Reply::new(
            552,
            Status(5, 3, 4),
            "Error: message exceeds the fixed maximum message size",
        )
    }
    pub fn bare_newline() -> Reply {
        Reply::new(550, Status(5, 5, 2), "Error: bare <CR> or <LF> in message data; lines must end with <CR><LF> (RFC 5321 2.3.8)")
    }
    pub fn memory_full() -> Reply {
        Reply::new(
            452,
            Status(4, 3, 1),
            "Insufficient system storage, try again later",
        )
    }
    pub fn need_tls() -> Reply {
        Reply::new(530, Status(5, 7, 0), "Must issue a STARTTLS command first")
    }
    pub fn next_hop_unavailable() -> Reply {
        Reply::new(
            451,
            Status(4, 4, 1),
            "Next hop not reachable, try again later",
        )
    }
    pub fn next_hop_lost() -> Reply {
        Reply::new(
            451,
            Status(4, 4, 2),
            "Connection to the next hop lost, try again later",
        )
    }
    pub fn audit_unavailable() -> Reply {
        Reply::new(
            451,
            Status(4, 3, 0),
            "Audit store unavailable, try again later",
        )
    }
    pub fn local_error() -> Reply {
        Reply::new(
            451,
            Status(4, 3, 0),
            "Local error in processing, try again later",
        )
    }
    pub fn too_many_errors(host: &str) -> Reply {
        Reply::new(
            421,
            Status(4, 7, 0),
            format!("{host} Error: too many errors"),
        )
    }
    pub fn too_many_sessions(host: &str) -> Reply {
        Reply::new(
            421,
            Status(4, 7, 0),
            format!("{host} Error: too many connections, try again later"),
        )
    }
    pub fn timeout(host: &str) -> Reply {
        Reply::new(
            421,
            Status(4, 4, 2),
            format!("{host} Error: timeout exceeded"),
        )
    }
    pub fn shutting_down(host: &str) -> Reply {
        Reply::new(
            421,
            Status(4, 3, 2),
            format!("{host} Service shutting down, try again later"),
        )
    }
    pub fn auth_ok() -> Reply {
        Reply::new(235, Status(2, 7, 0), "Authentication successful")
    }
    pub fn auth_failed() -> Reply {
        Reply::new(535, Status(5, 7, 8), "Authentication credentials invalid")
    }
    pub fn auth_needs_tls() -> Reply {
        Reply::new(
            538,
            Status(5, 7, 11),
            "Encryption required for requested authentication mechanism",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiline_replies_use_dashes_and_carry_the_status_on_every_line() {
        let reply = Reply::multiline(
            550,
            Status(5, 7, 1),
            vec!["one".into(), "two\r\nthree".into()],
        );
        let mut out = Vec::new();
        reply.write_to(&mut out);
        assert_eq!(out, b"550-5.7.1 one\r\n550 5.7.1 two  three\r\n");
        let mut ehlo = Vec::new();
        Reply::plain(250, vec!["host".into(), "PIPELINING".into()]).write_to(&mut ehlo);
        assert_eq!(ehlo, b"250-host\r\n250 PIPELINING\r\n");
    }

    #[test]
    fn the_wire_form_is_the_formatted_one() {
        // What write_to wrote when it formatted each line with format!.
        fn formatted(reply: &Reply) -> Vec<u8> {
            let last = reply.lines.len().saturating_sub(1);
            let mut out = Vec::new();
            for (i, line) in reply.lines.iter().enumerate() {
                let sep = if i == last { ' ' } else { '-' };
                let clean: String = line
                    .chars()
                    .map(|c| if c.is_control() { ' ' } else { c })
                    .collect();
                let text = match reply.status {
                    Some(status) => format!("{}{}{} {}\r\n", reply.code, sep, status, clean),
                    None => format!("{}{}{}\r\n", reply.code, sep, clean),
                };
                out.extend_from_slice(text.as_bytes());
            }
            out
        }
        let texts = [
            "Ok",
            "",
            "tab\there",
            "nul\0del\u{7f}c1\u{85}\u{9f}end",
            "Ünïcødé ok\u{a0}nbsp",
            "crlf\r\nsplit",
        ];
        for code in [0, 7, 42, 221, 250, 354, 452, 550, 999, 1000, u16::MAX] {
            for status in [None, Some(Status(2, 0, 0)), Some(Status(5, 65535, 10))] {
                let lines: Vec<String> = texts.iter().map(|t| t.to_string()).collect();
                let reply = Reply {
                    code,
                    status,
                    lines,
                };
                let mut out = Vec::new();
                reply.write_to(&mut out);
                assert_eq!(out, formatted(&reply), "{code} {status:?}");
            }
        }
    }
}
