//! A connection of the plaintext server: its ring operations and
//! buffers, around the protocol state of `proto.rs` (responses, dates,
//! parsing), which the rival servers of the `peers` crate share.

use std::sync::Arc;

use iofd::TcpStream;
use iofd::ring::Token;
use iofd::ring::ops::{RecvMulti, SendBuf};

#[path = "proto.rs"]
mod proto;

pub(crate) use proto::{DateCache, Session};

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
    /// The requests' parsing and answering. Once the last response is
    /// queued, the connection closes when it is out and the peer has shut
    /// its side (or the server stops).
    pub(crate) session: Session,
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
            session: Session::new(),
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
        self.session.on_data(data, date, &mut self.out);
    }
}
