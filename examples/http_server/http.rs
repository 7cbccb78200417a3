//! The HTTP side of the plaintext server: the responses, the date,
//! parsing a request from the bytes received, and a connection's
//! protocol state.

use std::sync::Arc;

use iofd::TcpStream;
use iofd::ring::Token;
use iofd::ring::ops::{RecvMulti, SendBuf};

#[path = "proto.rs"]
mod proto;

pub(crate) use proto::{BAD_HEAD, NOT_FOUND_HEAD, OK_BODY, OK_HEAD, Parsed, http_date, parse};

pub(crate) struct Conn {
    pub(crate) stream: Arc<TcpStream>,
    /// The multishot recv, while armed.
    pub(crate) recv: Option<Token<RecvMulti<Arc<TcpStream>>>>,
    /// The send in flight, if any: one at a time, so responses go in order.
    pub(crate) send: Option<Token<SendBuf<Arc<TcpStream>, Vec<u8>>>>,
    /// Bytes of the send in flight's buffer that earlier sends sent.
    pub(crate) sent: usize,
    /// Responses not yet handed to a send.
    pub(crate) out: Vec<u8>,
    /// The last send's buffer, emptied, for the next.
    pub(crate) spare: Vec<u8>,
    /// The front of a request that has not all come.
    pub(crate) input: Vec<u8>,
    /// How much of `input` was searched for the end of the header block.
    pub(crate) scanned: usize,
    /// Body bytes of the last request still to skip.
    pub(crate) body_left: usize,
    /// The last response is queued: what comes after is read and dropped,
    /// and the connection closes once the response is out and the peer
    /// has shut its side (or the server stops).
    pub(crate) last: bool,
    /// The write side was shut after the last response.
    pub(crate) shut: bool,
    /// The peer shut its side, or the recv failed: nothing more to read.
    pub(crate) read_done: bool,
    /// Being closed: no new operations.
    pub(crate) closing: bool,
    /// A cancel was sent for the current recv; for the current send.
    pub(crate) recv_cancelled: bool,
    pub(crate) send_cancelled: bool,
    /// On the worker's list to advance after this batch.
    pub(crate) queued: bool,
}

impl Conn {
    pub(crate) fn new(stream: TcpStream) -> Conn {
        Conn {
            stream: Arc::new(stream),
            recv: None,
            send: None,
            sent: 0,
            out: Vec::new(),
            spare: Vec::new(),
            input: Vec::new(),
            scanned: 0,
            body_left: 0,
            last: false,
            shut: false,
            read_done: false,
            closing: false,
            recv_cancelled: false,
            send_cancelled: false,
            queued: false,
        }
    }

    /// Takes received bytes: answers every request they complete.
    pub(crate) fn on_data(&mut self, data: &[u8], date: &[u8; 29]) {
        if self.last {
            return; // dropped
        }
        if self.input.is_empty() {
            // The usual case: whole requests, straight from the buffer.
            let used = self.answer(data, date);
            self.input.extend_from_slice(&data[used..]);
        } else {
            let mut input = std::mem::take(&mut self.input);
            input.extend_from_slice(data);
            let used = self.answer(&input, date);
            input.drain(..used);
            self.input = input; // its capacity kept
        }
    }

    /// Answers the complete requests at the front of `data`; returns the
    /// bytes they took (all of them after the last request).
    pub(crate) fn answer(&mut self, data: &[u8], date: &[u8; 29]) -> usize {
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
            let out = &mut self.out;
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
