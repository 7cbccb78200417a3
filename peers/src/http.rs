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

#[path = "../../examples/http_server/proto.rs"]
mod proto;

pub use proto::{
    BAD_HEAD, DateCache, MAX_HEAD, NOT_FOUND_HEAD, OK_BODY, OK_HEAD, Parsed, Session, http_date,
    is_token, parse,
};

thread_local! {
    static DATE: std::cell::RefCell<DateCache> = std::cell::RefCell::new(DateCache::new());
}

/// Runs `f` with the `Date` value of this second, from this thread's
/// cache: what the async rivals call once per read.
pub fn with_date<R>(f: impl FnOnce(&[u8; 29]) -> R) -> R {
    DATE.with_borrow_mut(|d| f(d.refresh()))
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
