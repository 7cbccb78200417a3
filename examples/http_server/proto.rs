//! The plaintext HTTP protocol of iofd's example server, with no I/O:
//! the responses, byte for byte; the date; parsing a request from the
//! bytes received; a connection's protocol state, which answers them. Shared as it is by the rival servers of the `peers`
//! crate (`#[path]`), so that every server parses and answers with the
//! same code and only the I/O differs.

use std::io::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

/// The longest request line and header block accepted.
pub const MAX_HEAD: usize = 8192;

/// The head of a `200` with the plaintext body (its `Date` follows).
pub const OK_HEAD: &[u8] =
    b"HTTP/1.1 200 OK\r\nServer: iofd\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n";
/// The plaintext body.
pub const OK_BODY: &[u8] = b"Hello, World!";
/// The head of a `404`.
pub const NOT_FOUND_HEAD: &[u8] =
    b"HTTP/1.1 404 Not Found\r\nServer: iofd\r\nContent-Length: 0\r\n";
/// The head of a `400`.
pub const BAD_HEAD: &[u8] = b"HTTP/1.1 400 Bad Request\r\nServer: iofd\r\nContent-Length: 0\r\n";

/// `secs` since the epoch as an HTTP date (RFC 7231's IMF-fixdate):
/// `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(secs: u64) -> [u8; 29] {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs / 86_400;
    // The civil date of a day from 1970-01-01 on (Howard Hinnant's
    // `civil_from_days`, in eras of 400 years from 0000-03-01).
    let z = days + 719_468;
    let (era, doe) = (z / 146_097, z % 146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    let mut text = [b' '; 29];
    let _ = write!(
        &mut text[..],
        "{}, {day:02} {} {year:04} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        secs % 86_400 / 3600,
        secs % 3600 / 60,
        secs % 60,
    );
    text
}

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
    /// A cache that formats at its first refresh.
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

/// The request at the front of the bytes received.
pub enum Parsed {
    /// Its header block has not all come.
    Partial,
    /// Malformed, or a header block over `MAX_HEAD`: a 400, then a close.
    Bad,
    /// The lengths of its header block and of its body, whether it is `GET
    /// /plaintext`, and the `Connection` header its response says:
    /// `Some(false)` (close) ends the connection, `Some(true)` is an
    /// HTTP/1.0 keep-alive, `None` HTTP/1.1's default.
    Request(usize, usize, bool, Option<bool>),
}

/// Whether `s` is an HTTP token (a method, a header name).
pub fn is_token(s: &[u8]) -> bool {
    let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    !s.is_empty() && s.iter().all(|&b| tchar(b))
}

/// Parses the request at the front of `buf`, whose first `scanned` bytes
/// were searched for the blank line already.
pub fn parse(buf: &[u8], scanned: usize) -> Parsed {
    let from = scanned.saturating_sub(3);
    let Some(end) = buf[from..].windows(4).position(|w| w == b"\r\n\r\n") else {
        return if buf.len() > MAX_HEAD {
            Parsed::Bad
        } else {
            Parsed::Partial
        };
    };
    let head = from + end + 4;
    if head > MAX_HEAD {
        return Parsed::Bad;
    }
    // Lines end at `\n`, their `\r` dropped.
    let mut lines = buf[..head - 4]
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let mut parts = lines.next().unwrap_or_default().split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Parsed::Bad;
    };
    let http10 = match version {
        b"HTTP/1.1" => false,
        b"HTTP/1.0" => true,
        _ => return Parsed::Bad,
    };
    if !is_token(method) || target.is_empty() || target.iter().any(|&b| b <= b' ' || b == 0x7f) {
        return Parsed::Bad;
    }
    let (mut close, mut keep, mut host, mut body) = (false, false, false, None);
    for line in lines {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return Parsed::Bad;
        };
        let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
        // A folded line starts with a space: its name is no token.
        if !is_token(name) || value.iter().any(|&b| (b < b' ' && b != b'\t') || b == 0x7f) {
            return Parsed::Bad;
        }
        if name.eq_ignore_ascii_case(b"connection") {
            for opt in value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
                close |= opt.eq_ignore_ascii_case(b"close");
                keep |= opt.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name.eq_ignore_ascii_case(b"content-length") {
            let n = std::str::from_utf8(value)
                .ok()
                .filter(|v| v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<usize>().ok());
            match (n, body) {
                (Some(n), None) => body = Some(n),
                (Some(n), Some(m)) if n == m => {}
                _ => return Parsed::Bad,
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            return Parsed::Bad; // no chunked bodies here
        } else {
            host |= name.eq_ignore_ascii_case(b"host");
        }
    }
    if !http10 && !host {
        return Parsed::Bad; // RFC 7230, 5.4
    }
    let connection = if close || (http10 && !keep) {
        Some(false)
    } else {
        http10.then_some(true)
    };
    let plaintext = method == b"GET" && target == b"/plaintext";
    Parsed::Request(head, body.unwrap_or(0), plaintext, connection)
}

/// A connection's protocol state, apart from its I/O: the front of a
/// request not all come, and whether the last response is queued.
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
    /// A connection that has received nothing.
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
