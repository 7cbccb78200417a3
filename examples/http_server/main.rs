//! A minimal HTTP/1.1 server on `iofd::ring`, after the TechEmpower
//! plaintext rules: `GET /plaintext` answers `Hello, World!` with
//! `Content-Length`, `Content-Type`, `Server` and a `Date` formatted at
//! most once a second; keep-alive; pipelining (the requests of a read
//! answered in order, in one send). Other paths get a `404` (the connection
//! stays open), `Connection: close` a close after the response, and a
//! malformed request or a header block over 8 KiB a `400` and a close.
//!
//! Run: `cargo run --release --example http_server -- [--addr ADDR]
//! [--threads N]`, then `curl http://127.0.0.1:8080/plaintext`.
//!
//! The skeleton is the echo server's (`examples/echo_server.rs`): a ring
//! and an `SO_REUSEPORT` listener per thread, a multishot accept, a
//! multishot recv per connection into a provided buffer ring, dispatch by
//! tag, and a graceful stop on SIGINT or SIGTERM. Requests are parsed
//! straight from the provided buffer (only one split across reads is
//! copied); responses go to an output buffer that becomes the next send,
//! whose buffer comes back with its result for the one after: no
//! allocation per request once a connection's buffers have grown.
//!
//! Exit status: 0 after a signal, 2 for bad arguments or an address that
//! cannot be bound, 1 when a worker fails.

use std::net::{Shutdown, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;

use iofd::ring::ops::{AcceptMulti, Close, ReadCounter, ReadSignal, Timeout};
use iofd::ring::{BufRing, Ring, Token, UserData};
use iofd::sys::Errno;
use iofd::{Error, EventFd, ListenOptions, SignalFd, TcpListener, TcpStream};
use slab::Slab;

#[path = "../support/server.rs"]
mod server;

use server::{ACCEPT_BACKOFF, TAG_ACCEPT, TAG_CONN, TAG_SIGNAL, TAG_STOP, ring_all};

mod http;

use http::{Conn, DateCache};

const USAGE: &str = "usage: http_server [--addr ADDR] [--threads N]
  --addr ADDR    IP:PORT to listen on (default 127.0.0.1:8080; port 0 picks one)
  --threads N    threads, each with its own ring and listener (default 1)";

/// Response bytes a connection may hold unsent before its recv is paused.
const MAX_OUT: usize = 256 << 10;

type Config = server::Options;

fn parse_args(args: impl Iterator<Item = String>) -> Result<Option<Config>, String> {
    let defaults = server::Options {
        addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
        threads: 1,
    };
    server::parse_options(args, defaults, &[], |_, _| Ok(()))
}

fn main() -> ExitCode {
    let args = parse_args(std::env::args().skip(1));
    server::run("http_server", USAGE, args, |cfg: Config| {
        let opts = ListenOptions::new().backlog(4096);
        let worker = |(i, listener, sfd, stops): server::Start| {
            Worker::new(i, listener, sfd, stops).and_then(Worker::run)
        };
        server::serve("http_server", cfg.addr, cfg.threads, opts, worker)
    })
}

enum Accepting {
    On(Token<AcceptMulti<Arc<TcpListener>, TcpStream>>),
    /// The accept failed; re-armed when this timeout fires.
    Backoff(Token<Timeout>),
    Off,
}

struct Worker {
    ring: Ring,
    bufs: BufRing,
    listener: Arc<TcpListener>,
    accept: Accepting,
    signal: Option<Token<ReadSignal<Arc<SignalFd>>>>,
    stop: Option<Token<ReadCounter<Arc<EventFd>>>>,
    /// Every worker's stop eventfd, this one's included.
    stops: Arc<Vec<Arc<EventFd>>>,
    conns: Slab<Conn>,
    /// Connections to advance once this batch's completions are taken:
    /// their sends then carry every response of the batch, and their
    /// recvs, ended for want of buffers, find the batch's buffers back.
    queue: Vec<usize>,
    /// The `Date` header's value, formatted once a second.
    date: DateCache,
    stopping: bool,
}

/// Puts connection `idx` on the list to advance after this batch.
fn enqueue(queue: &mut Vec<usize>, conn: &mut Conn, idx: usize) {
    if !conn.queued {
        conn.queued = true;
        queue.push(idx);
    }
}

impl Worker {
    fn new(
        i: usize,
        listener: TcpListener,
        sfd: Option<Arc<SignalFd>>,
        stops: Arc<Vec<Arc<EventFd>>>,
    ) -> Result<Worker, Error> {
        let (mut ring, bufs) = server::worker_ring()?;
        let listener = Arc::new(listener);
        let accept =
            Accepting::On(ring.push_tagged(listener.accept_multi_op_shared(), TAG_ACCEPT)?);
        let signal = match &sfd {
            Some(sfd) => Some(ring.push_tagged(sfd.read_op_shared(), TAG_SIGNAL)?),
            None => None,
        };
        let stop = Some(ring.push_tagged(stops[i].read_op_shared(), TAG_STOP)?);
        Ok(Worker {
            ring,
            bufs,
            listener,
            accept,
            signal,
            stop,
            stops,
            conns: Slab::new(),
            queue: Vec::new(),
            date: DateCache::new(),
            stopping: false,
        })
    }

    fn run(mut self) -> Result<(), Error> {
        loop {
            match self.ring.submit_and_wait(1) {
                Ok(_) | Err(Error::Interrupted) => {}
                Err(e) => return Err(e),
            }
            // One clock read per batch (the vDSO: cheap), one format per second.
            self.date.refresh();
            while let Some(c) = self.ring.next_completion() {
                match c.tag {
                    TAG_ACCEPT => self.on_accept()?,
                    TAG_SIGNAL | TAG_STOP => self.on_stop(c.tag)?,
                    tag => self.on_conn((tag - TAG_CONN) as usize, c.user_data)?,
                }
            }
            while let Some(idx) = self.queue.pop() {
                if let Some(conn) = self.conns.get_mut(idx) {
                    conn.queued = false;
                    self.advance(idx)?;
                }
            }
            if self.stopping && self.conns.is_empty() && matches!(self.accept, Accepting::Off) {
                break;
            }
        }
        // Closes (detached) and cancels still in flight finish before the
        // ring goes, so that every connection is closed when we exit.
        loop {
            match self.ring.wait_idle() {
                Ok(()) => return Ok(()),
                Err(Error::Interrupted) => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn on_accept(&mut self) -> Result<(), Error> {
        // `Some(failed)` once the accept, or its backoff, has ended.
        let ended = match &mut self.accept {
            Accepting::On(t) => {
                let mut failed = false;
                while let Some(r) = self.ring.take(t) {
                    match r {
                        Ok(stream) if !self.stopping => {
                            let _ = stream.set_nodelay(true);
                            let idx = self.conns.insert(Conn::new(stream));
                            enqueue(&mut self.queue, &mut self.conns[idx], idx);
                        }
                        Ok(_) | Err(Error::Os(Errno::ECANCELED)) => {} // dropped: closed
                        Err(e) => {
                            eprintln!("http_server: accept: {e}");
                            failed = true;
                        }
                    }
                }
                t.is_done().then_some(failed)
            }
            Accepting::Backoff(t) => (self.ring.take(t).is_some() && t.is_done()).then_some(false),
            Accepting::Off => None,
        };
        // The kernel ends a multishot accept on an error, or when the
        // completion queue is full: accept again, after a pause if it failed.
        self.accept = match ended {
            None => return Ok(()),
            Some(_) if self.stopping => Accepting::Off,
            Some(true) => {
                let t = Timeout::after(ACCEPT_BACKOFF);
                Accepting::Backoff(self.ring.push_tagged(t, TAG_ACCEPT)?)
            }
            Some(false) => {
                let op = self.listener.accept_multi_op_shared();
                Accepting::On(self.ring.push_tagged(op, TAG_ACCEPT)?)
            }
        };
        Ok(())
    }

    /// A signal, or another thread's stop: stop accepting, close every
    /// connection, and leave once they are closed.
    fn on_stop(&mut self, tag: u64) -> Result<(), Error> {
        let fired = match (tag, &mut self.signal, &mut self.stop) {
            (TAG_SIGNAL, Some(t), _) => self.ring.take(t).map(|r| r.map(drop)),
            (TAG_STOP, _, Some(t)) => self.ring.take(t).map(|r| r.map(drop)),
            _ => None,
        };
        match fired {
            None => return Ok(()),
            Some(Err(e)) => eprintln!("http_server: reading the stop signal: {e}"),
            Some(Ok(())) => {}
        }
        if std::mem::replace(&mut self.stopping, true) {
            return Ok(());
        }
        // The signal reader tells the other threads at once.
        ring_all(&self.stops);
        // The read that fired is done: dropping its token is free.
        if let Some(t) = self.signal.take().filter(|t| !t.is_done()) {
            self.ring.cancel(t)?;
        }
        if let Some(t) = self.stop.take().filter(|t| !t.is_done()) {
            self.ring.cancel(t)?;
        }
        match std::mem::replace(&mut self.accept, Accepting::Off) {
            Accepting::On(t) => self.ring.cancel(t)?,
            Accepting::Backoff(t) => self.ring.cancel(t)?,
            Accepting::Off => {}
        }
        let _ = self.listener.close();
        for (idx, conn) in &mut self.conns {
            conn.closing = true;
            enqueue(&mut self.queue, conn, idx);
        }
        Ok(())
    }

    /// A result of connection `idx`'s recv or send (told apart by `ud`).
    fn on_conn(&mut self, idx: usize, ud: UserData) -> Result<(), Error> {
        let Some(conn) = self.conns.get_mut(idx) else {
            return Ok(());
        };
        enqueue(&mut self.queue, conn, idx);
        if let Some(mut t) = conn.recv.take_if(|t| t.user_data() == ud) {
            while let Some(r) = self.ring.take(&mut t) {
                match r {
                    // `buf` drops here: back in the group at once.
                    Ok(Some(buf)) => conn.on_data(&buf, self.date.get()),
                    Ok(None) => conn.read_done = true, // the peer shut its side
                    // The data waits in the socket: re-armed after this
                    // batch has given its buffers back.
                    Err(Error::Os(Errno::ENOBUFS)) => {}
                    Err(Error::Os(Errno::ECANCELED)) if conn.recv_cancelled => {}
                    Err(_) => conn.read_done = true, // reset, say
                }
            }
            if t.is_done() {
                conn.recv_cancelled = false;
            } else {
                conn.recv = Some(t);
            }
        } else if let Some(mut t) = conn.send.take_if(|t| t.user_data() == ud) {
            match self.ring.take(&mut t) {
                None => conn.send = Some(t),
                Some(Ok((Ok(n), mut buf))) if n > 0 => {
                    conn.sent += n;
                    if conn.sent < buf.len() && !conn.closing {
                        // A short send: the rest, from the same buffer.
                        let op = conn.stream.send_op_shared(buf).skip(conn.sent);
                        conn.send = Some(self.ring.push_tagged(op, TAG_CONN + idx as u64)?);
                    } else {
                        buf.clear();
                        conn.spare = buf;
                    }
                }
                // EPIPE, ECONNRESET, cancelled by a close, or nothing sent.
                Some(_) => conn.closing = true,
            }
            if conn.send.is_none() {
                conn.send_cancelled = false;
            }
        }
        Ok(())
    }

    /// Moves connection `idx` on: sends its responses, (re-)arms or pauses
    /// its recv, and closes it once it is done.
    fn advance(&mut self, idx: usize) -> Result<(), Error> {
        let tag = TAG_CONN + idx as u64;
        let conn = &mut self.conns[idx];
        if conn.closing {
            if let Some(t) = &conn.send
                && !conn.send_cancelled
            {
                conn.send_cancelled = true;
                self.ring.cancel_keep(t)?;
            }
        } else if conn.send.is_none() && !conn.out.is_empty() {
            let buf = std::mem::replace(&mut conn.out, std::mem::take(&mut conn.spare));
            conn.sent = 0;
            conn.send = Some(
                self.ring
                    .push_tagged(conn.stream.send_op_shared(buf), tag)?,
            );
        }
        let all_sent = conn.send.is_none() && conn.out.is_empty();
        if conn.session.is_last() && all_sent && !conn.shut {
            // The peer reads the last response, then the end; what it sent
            // meanwhile is read and dropped, not left to reset the
            // connection under the response.
            conn.shut = true;
            if conn.stream.shutdown(Shutdown::Write).is_err() {
                conn.closing = true;
            }
        }
        let wants_recv = !conn.closing && !conn.read_done && conn.out.len() < MAX_OUT;
        match &conn.recv {
            Some(t) if !wants_recv && !conn.recv_cancelled => {
                conn.recv_cancelled = true;
                self.ring.cancel_keep(t)?;
            }
            None if wants_recv => {
                let op = conn.stream.recv_multi_op_shared(&self.bufs);
                conn.recv = Some(self.ring.push_tagged(op, tag)?);
            }
            _ => {}
        }
        if (conn.closing || conn.read_done && all_sent)
            && conn.recv.is_none()
            && conn.send.is_none()
        {
            let conn = self.conns.remove(idx);
            // The ring has let go of the stream with the final results.
            if let Ok(stream) = Arc::try_unwrap(conn.stream) {
                let close = self.ring.push(Close::new(stream))?;
                self.ring.detach(close)?;
            }
        }
        Ok(())
    }
}
