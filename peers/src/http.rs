//! The HTTP side of the plaintext servers, the same for every rival and
//! the same as iofd's server, whose protocol file
//! (`examples/http_server/proto.rs`) it includes: the responses, byte
//! for byte (`Server: iofd` included, so that every server sends as many
//! bytes); the date; parsing a request from the bytes received; and a
//! connection's protocol state. Only the I/O differs between the rivals.
//!
//! `GET /plaintext` answers `Hello, World!`; other paths a `404` (the
//! connection stays open); `Connection: close` a close after the response;
//! a malformed request or a header block over 8 KiB a `400` and a close.

use std::time::{SystemTime, UNIX_EPOCH};

#[path = "../../examples/http_server/proto.rs"]
mod proto;

pub use proto::{
    BAD_HEAD, MAX_HEAD, NOT_FOUND_HEAD, OK_BODY, OK_HEAD, Parsed, http_date, is_token, parse,
};

/// The `Date` header's value, formatted at most once a second. iofd's
/// server reads the clock once per batch of completions; the async rivals
/// once per read, the raw ones once per batch.
pub struct DateCache {
    text: [u8; 29],
    secs: u64,
}

impl Default for DateCache {
    fn default() -> Self {
        DateCache::new()
    }
}

impl DateCache {
    pub fn new() -> DateCache {
        DateCache {
            text: [b' '; 29],
            secs: u64::MAX,
        }
    }

    /// Reads the clock (the vDSO: cheap) and formats on a new second.
    pub fn refresh(&mut self) -> &[u8; 29] {
        let now = SystemTime::now().duration_since(UNIX_EPOCH);
        let now = now.map_or(0, |d| d.as_secs());
        if now != self.secs {
            (self.text, self.secs) = (http_date(now), now);
        }
        &self.text
    }

    /// The value as last refreshed.
    pub fn get(&self) -> &[u8; 29] {
        &self.text
    }
}

thread_local! {
    static DATE: std::cell::RefCell<DateCache> = std::cell::RefCell::new(DateCache::new());
}

/// Runs `f` with the `Date` value of this second, from this thread's
/// cache: what the async rivals call once per read.
pub fn with_date<R>(f: impl FnOnce(&[u8; 29]) -> R) -> R {
    DATE.with_borrow_mut(|d| f(d.refresh()))
}

/// A connection's protocol state: what iofd's `Conn` holds besides its
/// I/O.
#[derive(Default)]
pub struct Session {
    /// The front of a request that has not all come.
    input: Vec<u8>,
    /// How much of `input` was searched for the end of the header block.
    scanned: usize,
    /// Body bytes of the last request still to skip.
    body_left: usize,
    /// The last response is queued: what comes after is read and dropped,
    /// and the connection closes once the response is out and the peer
    /// has shut its side.
    last: bool,
}

impl Session {
    pub fn new() -> Session {
        Session::default()
    }

    /// Whether the last response is queued: once it is sent, the server
    /// shuts its side and reads (and drops) until the peer shuts its own.
    pub fn is_last(&self) -> bool {
        self.last
    }

    /// Takes received bytes: answers, into `out`, every request they
    /// complete.
    pub fn on_data(&mut self, data: &[u8], date: &[u8; 29], out: &mut Vec<u8>) {
        if self.last {
            return; // dropped
        }
        if self.input.is_empty() {
            // The usual case: whole requests, straight from the buffer.
            let used = self.answer(data, date, out);
            self.input.extend_from_slice(&data[used..]);
        } else {
            let mut input = std::mem::take(&mut self.input);
            input.extend_from_slice(data);
            let used = self.answer(&input, date, out);
            input.drain(..used);
            self.input = input; // its capacity kept
        }
    }

    /// Answers the complete requests at the front of `data`; returns the
    /// bytes they took (all of them after the last request).
    fn answer(&mut self, data: &[u8], date: &[u8; 29], out: &mut Vec<u8>) -> usize {
        let mut at = 0;
        loop {
            let skip = self.body_left.min(data.len() - at);
            self.body_left -= skip;
            at += skip;
            let rest = &data[at..];
            if self.body_left > 0 || rest.is_empty() {
                return at;
            }
            if rest.starts_with(b"\r\n") {
                // A stray line ending between requests (RFC 7230, 3.5).
                at += 2;
                self.scanned = 0;
                continue;
            }
            let (head, status, body, connection) = match parse(rest, self.scanned) {
                Parsed::Partial => {
                    self.scanned = rest.len();
                    return at;
                }
                Parsed::Bad => (0, BAD_HEAD, &[][..], Some(false)),
                Parsed::Request(head, body, true, c) => {
                    self.body_left = body;
                    (head, OK_HEAD, OK_BODY, c)
                }
                Parsed::Request(head, body, false, c) => {
                    self.body_left = body;
                    (head, NOT_FOUND_HEAD, &[][..], c)
                }
            };
            self.scanned = 0;
            out.extend_from_slice(status);
            match connection {
                Some(true) => out.extend_from_slice(b"Connection: keep-alive\r\n"),
                Some(false) => out.extend_from_slice(b"Connection: close\r\n"),
                None => {}
            }
            out.extend_from_slice(b"Date: ");
            out.extend_from_slice(date);
            out.extend_from_slice(b"\r\n\r\n");
            out.extend_from_slice(body);
            if connection == Some(false) {
                self.last = true;
                return data.len();
            }
            at += head;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATE: &[u8; 29] = b"Sun, 06 Nov 1994 08:49:37 GMT";

    #[test]
    fn date_of_a_known_second() {
        assert_eq!(&http_date(784_111_777), DATE);
    }

    #[test]
    fn pipelined_split_and_bad_requests() {
        let mut s = Session::new();
        let mut out = Vec::new();
        let req = b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n";
        let two = [&req[..], b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\nGET /pla"].concat();
        s.on_data(&two, DATE, &mut out);
        let text = String::from_utf8(out.clone()).unwrap();
        assert_eq!(text.matches("HTTP/1.1 200 OK\r\n").count(), 1);
        assert_eq!(text.matches("HTTP/1.1 404 Not Found\r\n").count(), 1);
        assert!(text.contains("Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\nHello, World!"));
        out.clear();
        s.on_data(
            b"intext HTTP/1.1\r\nHost: x\r\n\r\nBAD\r\n\r\n",
            DATE,
            &mut out,
        );
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(text.contains(
            "HTTP/1.1 400 Bad Request\r\nServer: iofd\r\nContent-Length: 0\r\nConnection: close\r\n"
        ));
        assert!(s.is_last());
    }
}
