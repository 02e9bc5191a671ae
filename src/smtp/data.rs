//! The DATA phase: from the bytes on the wire to the message, byte for byte.
//!
//! Only `<CRLF>.<CRLF>` ends a message. A bare CR or LF anywhere in the data is noted and the
//! message refused afterwards: that is the SMTP smuggling defence (CVE-2023-51764/5/6), and
//! sealgate exempts no client from it, because its clients *are* its trusted network.
//! Dot-stuffing is undone here and redone by the relay.

/// Where the reader stands within the current line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    LineStart,
    /// The line began with a dot (already dropped).
    Dot,
    /// The line is `.` followed by CR: one LF ends the message.
    DotCr,
    Mid,
    Cr,
}

/// Incremental reader of one message's DATA. Feed it what arrives; it appends the unstuffed
/// message to a buffer until it sees the end, or only parses once told to discard.
#[derive(Debug)]
pub struct DataReader {
    state: State,
    limit: usize,
    size: usize,
    bare_newline: bool,
    too_big: bool,
    discarding: bool,
}

/// What was wrong with the data, known once the end is seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataFlaw {
    BareNewline,
    TooBig,
}

impl DataReader {
    /// `limit`: the largest message kept; beyond it the reader only looks for the end.
    pub fn new(limit: usize) -> DataReader {
        DataReader {
            state: State::LineStart,
            limit,
            size: 0,
            bare_newline: false,
            too_big: false,
            discarding: false,
        }
    }

    /// Stops keeping bytes (e.g. the memory budget is spent); the end is still found.
    pub fn discard(&mut self, message: &mut Vec<u8>) {
        self.discarding = true;
        message.clear();
        message.shrink_to_fit();
    }

    /// True once bytes are no longer kept (too big, or told to discard).
    pub fn is_discarding(&self) -> bool {
        self.discarding
    }

    /// Bytes of message seen so far, kept or not.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The first flaw that makes the message unacceptable, once the end was seen.
    pub fn flaw(&self) -> Option<DataFlaw> {
        if self.too_big {
            Some(DataFlaw::TooBig)
        } else if self.bare_newline {
            Some(DataFlaw::BareNewline)
        } else {
            None
        }
    }

    /// Consumes `input`. Returns `Some(n)` when the end of data is within it: the first `n`
    /// bytes belonged to the message (with its terminator), the rest are the next commands.
    pub fn feed(&mut self, input: &[u8], message: &mut Vec<u8>) -> Option<usize> {
        let mut i = 0;
        while i < input.len() {
            if self.state == State::Mid {
                let run_end = plain_run_end(input, i);
                self.keep(&input[i..run_end], message);
                i = run_end;
                if i == input.len() {
                    break;
                }
            }
            let byte = input[i];
            i += 1;
            if self.step(byte, message) {
                return Some(i);
            }
        }
        None
    }

    /// One byte outside a plain run; true at the end of data.
    fn step(&mut self, byte: u8, message: &mut Vec<u8>) -> bool {
        match (self.state, byte) {
            (State::LineStart, b'.') => self.state = State::Dot,
            (State::Dot, b'\r') => self.state = State::DotCr,
            (State::DotCr, b'\n') => return true,
            (State::DotCr, _) => {
                self.bare_newline = true;
                self.keep(b"\r", message);
                self.state = State::Mid;
                return self.step(byte, message);
            }
            (State::Cr, b'\n') => {
                self.keep(b"\n", message);
                self.state = State::LineStart;
            }
            (State::Cr, _) => {
                self.bare_newline = true;
                self.state = State::Mid;
                return self.step(byte, message);
            }
            (_, b'\r') => {
                self.keep(b"\r", message);
                self.state = State::Cr;
            }
            (_, b'\n') => {
                // A bare LF ends no line: a dot after it cannot end the message.
                self.bare_newline = true;
                self.keep(b"\n", message);
                self.state = State::Mid;
            }
            (_, _) => {
                self.keep(&[byte], message);
                self.state = State::Mid;
            }
        }
        false
    }

    fn keep(&mut self, bytes: &[u8], message: &mut Vec<u8>) {
        self.size = self.size.saturating_add(bytes.len());
        if self.size > self.limit && !self.too_big {
            self.too_big = true;
            self.discard(message);
        }
        if !self.discarding {
            message.extend_from_slice(bytes);
        }
    }
}

/// End of the run from `from` that needs no byte-by-byte look: CRLF line ends followed by a
/// byte other than a dot stay in the run.
fn plain_run_end(input: &[u8], from: usize) -> usize {
    let mut at = from;
    while let Some(p) = memchr::memchr2(b'\r', b'\n', &input[at..]) {
        let stop = at + p;
        if input[stop] == b'\r'
            && input.get(stop + 1) == Some(&b'\n')
            && input.get(stop + 2).is_some_and(|&b| b != b'.')
        {
            at = stop + 2;
        } else {
            return stop;
        }
    }
    input.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(chunks: &[&[u8]], limit: usize) -> (Vec<u8>, Option<DataFlaw>, Option<usize>) {
        let mut reader = DataReader::new(limit);
        let mut message = Vec::new();
        for chunk in chunks {
            if let Some(n) = reader.feed(chunk, &mut message) {
                return (message, reader.flaw(), Some(n));
            }
        }
        (message, reader.flaw(), None)
    }

    #[test]
    fn ends_only_at_crlf_dot_crlf_and_unstuffs() {
        let (msg, flaw, end) =
            read_all(&[b"Subject: x\r\n\r\n..leading dot\r\n.\r\nQUIT\r\n"], 1000);
        assert_eq!(msg, b"Subject: x\r\n\r\n.leading dot\r\n");
        assert_eq!(flaw, None);
        assert_eq!(end, Some(32));
    }

    #[test]
    fn empty_message() {
        let (msg, flaw, end) = read_all(&[b".\r\n"], 1000);
        assert!(msg.is_empty());
        assert_eq!((flaw, end), (None, Some(3)));
    }

    #[test]
    fn the_end_may_be_split_across_reads() {
        for split in 0..12 {
            let all = b"a\r\nb\r\n.\r\nX";
            let (msg, flaw, end) = read_all(
                &[&all[..split.min(all.len())], &all[split.min(all.len())..]],
                1000,
            );
            assert_eq!(msg, b"a\r\nb\r\n", "split at {split}");
            assert_eq!(flaw, None);
            assert!(end.is_some());
        }
    }

    #[test]
    fn smuggling_attempts_do_not_end_the_message_and_are_flagged() {
        for attack in [
            &b"a\r\n\n.\r\nMAIL FROM:<x@y>\r\n"[..],
            b"a\n.\nMAIL FROM:<x@y>\r\n",
            b"a\r\n.\nMAIL FROM:<x@y>\r\n",
            b"a\r.\r\nMAIL FROM:<x@y>\r\n",
            b"a\r\n.\r MAIL\r\n",
        ] {
            let mut input = attack.to_vec();
            input.extend_from_slice(b"\r\n.\r\n");
            let (msg, flaw, end) = read_all(&[&input], 1000);
            assert_eq!(
                flaw,
                Some(DataFlaw::BareNewline),
                "{:?}",
                String::from_utf8_lossy(attack)
            );
            assert_eq!(
                end,
                Some(input.len()),
                "ended early on {:?}",
                String::from_utf8_lossy(attack)
            );
            assert!(!msg.is_empty());
        }
    }

    #[test]
    fn oversize_is_discarded_but_the_end_is_still_found() {
        let (msg, flaw, end) = read_all(&[b"0123456789\r\n", b"0123456789\r\n.\r\n"], 16);
        assert!(msg.is_empty());
        assert_eq!(flaw, Some(DataFlaw::TooBig));
        assert!(end.is_some());
    }

    #[test]
    fn binary_bytes_pass_unchanged() {
        let body: Vec<u8> = (0u8..=255).filter(|b| *b != b'\r' && *b != b'\n').collect();
        let mut input = body.clone();
        input.extend_from_slice(b"\r\n.\r\n");
        let (msg, flaw, _) = read_all(&[&input], 1000);
        assert_eq!(flaw, None);
        assert_eq!(&msg[..body.len()], &body[..]);
    }
}
