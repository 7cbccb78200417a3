//! A TCP echo server on `iofd::ring`: one ring per thread, each with its
//! own `SO_REUSEPORT` listener; a multishot accept into the ring's table
//! of direct descriptors (no descriptor per connection), a multishot recv
//! per connection into a provided buffer ring, sends from owned buffers,
//! an idle timeout per connection on a timer wheel, and a graceful
//! shutdown on SIGINT or SIGTERM read from a signalfd on the ring.
//!
//! Run: `cargo run --example echo_server -- [--addr ADDR] [--threads N]
//! [--idle-ms MS]`, then `nc 127.0.0.1 7878`.
//!
//! Every completion is dispatched by tag ([`Ring::push_tagged`],
//! [`Ring::next_completion`]): the listener, the signal read and the stop
//! read have fixed tags, and connection `n` of the thread's slab is tagged
//! `TAG_CONN + n`; the connection tells its recv from its send by the
//! completion's `user_data`.
//!
//! Exit status: 0 after a signal, 2 for bad arguments or an address that
//! cannot be bound, 1 when a worker fails.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use iofd::ring::ops::{AcceptDirectMulti, ReadCounter, ReadSignal, RecvMulti, SendBuf, Timeout};
use iofd::ring::{
    BufRing, Direct, DirectFiles, Fixed, Ring, TimerKey, Token, UserData, WheelTimers,
};
use iofd::sys::Errno;
use iofd::sys::resource::{Resource, prlimit};
use iofd::{Error, EventFd, ListenOptions, SignalFd, TcpListener, TcpStream};
use slab::Slab;

#[path = "support/server.rs"]
mod server;

use server::{ACCEPT_BACKOFF, TAG_ACCEPT, TAG_CONN, TAG_SIGNAL, TAG_STOP, ring_all};

const USAGE: &str = "usage: echo_server [--addr ADDR] [--threads N] [--idle-ms MS]
  --addr ADDR    IP:PORT to listen on (default 127.0.0.1:7878; port 0 picks one)
  --threads N    threads, each with its own ring and listener (default 1)
  --idle-ms MS   close connections idle this long (default 30000)";

/// Received bytes a connection may hold unsent before its recv is paused.
const MAX_PENDING: usize = 1 << 20;
/// The most direct-descriptor slots (connections) a thread's ring takes.
const MAX_SLOTS: u64 = 1 << 16;

struct Config {
    addr: SocketAddr,
    threads: usize,
    idle: Duration,
}

fn parse_args(args: impl Iterator<Item = String>) -> Result<Option<Config>, String> {
    let defaults = server::Options {
        addr: SocketAddr::from(([127, 0, 0, 1], 7878)),
        threads: 1,
    };
    let mut idle = Duration::from_millis(30_000);
    let opts = server::parse_options(args, defaults, &["--idle-ms"], |_, value| {
        match value.parse::<u64>() {
            Ok(ms) if ms > 0 => idle = Duration::from_millis(ms),
            _ => {
                return Err(format!(
                    "invalid --idle-ms '{value}' (want a positive integer)"
                ));
            }
        }
        Ok(())
    })?;
    Ok(opts.map(|o| Config {
        addr: o.addr,
        threads: o.threads,
        idle,
    }))
}

fn main() -> ExitCode {
    let args = parse_args(std::env::args().skip(1));
    server::run("echo_server", USAGE, args, |cfg: Config| {
        let idle = cfg.idle;
        let worker = move |(i, listener, sfd, stops): server::Start| {
            Worker::new(i, listener, sfd, stops, idle).and_then(Worker::run)
        };
        server::serve(
            "echo_server",
            cfg.addr,
            cfg.threads,
            // Accepted connections inherit TCP_NODELAY: a direct
            // descriptor has no descriptor to set it on.
            ListenOptions::new().nodelay(true),
            worker,
        )
    })
}

enum Accepting {
    On(Token<AcceptDirectMulti<Arc<TcpListener>, TcpStream>>),
    /// The accept failed; re-armed when this timeout fires.
    Backoff(Token<Timeout>),
    Off,
}

struct Conn {
    /// The connection, in a slot of the ring's file table.
    stream: Direct<TcpStream>,
    /// The multishot recv, while armed.
    recv: Option<Token<RecvMulti<Fixed<TcpStream>>>>,
    /// The send in flight, if any: at most one at a time, so bytes go out
    /// in order.
    send: Option<Token<SendBuf<Fixed<TcpStream>, Vec<u8>>>>,
    /// Bytes received and not yet handed to a send.
    pending: Vec<u8>,
    /// The idle timer, while armed.
    timer: Option<TimerKey>,
    /// The recv ran out of buffers: re-armed once this batch gave them back.
    starved: bool,
    /// A cancel was sent for the current recv.
    recv_cancelled: bool,
    /// A cancel was sent for the current send.
    send_cancelled: bool,
    /// The peer shut its side, or the recv failed: nothing more to read.
    read_done: bool,
    /// Being closed: no new operations.
    closing: bool,
}

/// One thread's server: its ring, listener and connections. The harness's
/// tcp-echo workload runs one in-process (`examples/harness/tcp.rs`).
pub(crate) struct Worker {
    ring: Ring,
    bufs: BufRing,
    /// The ring's table of direct descriptors: the connections.
    files: DirectFiles,
    listener: Arc<TcpListener>,
    accept: Accepting,
    signal: Option<Token<ReadSignal<Arc<SignalFd>>>>,
    stop: Option<Token<ReadCounter<Arc<EventFd>>>>,
    /// Every worker's stop eventfd, this one's included.
    stops: Arc<Vec<Arc<EventFd>>>,
    conns: Slab<Conn>,
    idle: WheelTimers<usize>,
    idle_after: Duration,
    /// Connections whose recv ran out of buffers in the current batch.
    starved: Vec<usize>,
    /// Connections whose idle timer fired.
    expired: Vec<usize>,
    stopping: bool,
}

impl Worker {
    /// Worker `i`, which
    /// stops when `stops[i]` is signalled and signals all of `stops` when
    /// it does; `sfd` reads the signals that stop the server.
    pub(crate) fn new(
        i: usize,
        listener: TcpListener,
        sfd: Option<Arc<SignalFd>>,
        stops: Arc<Vec<Arc<EventFd>>>,
        idle_after: Duration,
    ) -> Result<Worker, Error> {
        let (mut ring, bufs) = server::worker_ring()?;
        // Connections are accepted as direct descriptors: no descriptor
        // lookup per operation, no close syscall. The table's size counts
        // against RLIMIT_NOFILE.
        let slots = prlimit(Resource::Nofile, None).map_or(1024, |l| l.cur.clamp(64, MAX_SLOTS));
        let files = ring.register_files_sparse(slots as u32)?;
        let listener = Arc::new(listener);
        let op = listener.accept_direct_multi_op_shared(files);
        let accept = Accepting::On(ring.push_tagged(op, TAG_ACCEPT)?);
        let signal = match &sfd {
            Some(sfd) => Some(ring.push_tagged(sfd.read_op_shared(), TAG_SIGNAL)?),
            None => None,
        };
        let stop = Some(ring.push_tagged(stops[i].read_op_shared(), TAG_STOP)?);
        Ok(Worker {
            ring,
            bufs,
            files,
            listener,
            accept,
            signal,
            stop,
            stops,
            conns: Slab::new(),
            idle: WheelTimers::with_capacity(1024),
            idle_after,
            starved: Vec::new(),
            expired: Vec::new(),
            stopping: false,
        })
    }

    /// Serves until stopped.
    pub(crate) fn run(mut self) -> Result<(), Error> {
        loop {
            match self.ring.submit_and_wait(1) {
                Ok(_) | Err(Error::Interrupted) => {}
                Err(e) => return Err(e),
            }
            while let Some(c) = self.ring.next_completion() {
                match c.tag {
                    TAG_ACCEPT => self.on_accept()?,
                    TAG_SIGNAL | TAG_STOP => self.on_stop(c.tag)?,
                    tag => self.on_conn((tag - TAG_CONN) as usize, c.user_data)?,
                }
            }
            // Every buffer this batch took is back: re-arm starved recvs.
            while let Some(idx) = self.starved.pop() {
                if let Some(conn) = self.conns.get_mut(idx) {
                    conn.starved = false;
                    self.advance(idx)?;
                }
            }
            if self.stopping {
                if self.conns.is_empty() && matches!(self.accept, Accepting::Off) {
                    break;
                }
                continue;
            }
            // The wheel's ring timeout is untagged: its result is taken here,
            // after every wake, and the next wake-up scheduled.
            let expired = &mut self.expired;
            self.idle
                .expire(&mut self.ring, |_, idx| expired.push(idx))?;
            while let Some(idx) = self.expired.pop() {
                if let Some(conn) = self.conns.get_mut(idx) {
                    conn.timer = None;
                    conn.closing = true;
                    self.advance(idx)?;
                }
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
        match std::mem::replace(&mut self.accept, Accepting::Off) {
            Accepting::On(mut token) => {
                let mut failed = false;
                while let Some(r) = self.ring.take(&mut token) {
                    match r {
                        Ok(stream) => self.open(stream)?,
                        Err(Error::Os(Errno::ECANCELED)) if self.stopping => {}
                        Err(e) => {
                            eprintln!("echo_server: accept: {e}");
                            failed = true;
                        }
                    }
                }
                self.accept = if !token.is_done() {
                    Accepting::On(token)
                } else if self.stopping {
                    Accepting::Off
                } else if failed {
                    let t = Timeout::after(ACCEPT_BACKOFF);
                    Accepting::Backoff(self.ring.push_tagged(t, TAG_ACCEPT)?)
                } else {
                    // The kernel ended the stream (a full completion queue):
                    // accept again.
                    let op = self.listener.accept_direct_multi_op_shared(self.files);
                    Accepting::On(self.ring.push_tagged(op, TAG_ACCEPT)?)
                };
            }
            Accepting::Backoff(mut token) => {
                let fired = self.ring.take(&mut token).is_some();
                self.accept = if !fired || !token.is_done() {
                    Accepting::Backoff(token)
                } else if self.stopping {
                    Accepting::Off
                } else {
                    let op = self.listener.accept_direct_multi_op_shared(self.files);
                    Accepting::On(self.ring.push_tagged(op, TAG_ACCEPT)?)
                };
            }
            Accepting::Off => {}
        }
        Ok(())
    }

    /// A new connection: its recv armed, its idle timer started.
    fn open(&mut self, stream: Direct<TcpStream>) -> Result<(), Error> {
        if self.stopping {
            return Ok(()); // dropped: its slot closed at the next submission
        }
        let entry = self.conns.vacant_entry();
        let idx = entry.key();
        let timer = self.idle.arm(self.idle_after, idx);
        entry.insert(Conn {
            stream,
            recv: None,
            send: None,
            pending: Vec::new(),
            timer: Some(timer),
            starved: false,
            recv_cancelled: false,
            send_cancelled: false,
            read_done: false,
            closing: false,
        });
        self.advance(idx)
    }

    /// A signal, or another thread's stop: stop accepting, close every
    /// connection, and leave once they are closed.
    fn on_stop(&mut self, tag: u64) -> Result<(), Error> {
        if tag == TAG_SIGNAL {
            if let Some(mut t) = self.signal.take() {
                match self.ring.take(&mut t) {
                    Some(Ok(_info)) => {}
                    Some(Err(e)) => eprintln!("echo_server: reading signals: {e}"),
                    None => {
                        self.signal = Some(t);
                        return Ok(());
                    }
                }
            }
        } else if let Some(mut t) = self.stop.take()
            && self.ring.take(&mut t).is_none()
        {
            self.stop = Some(t);
            return Ok(());
        }
        if self.stopping {
            return Ok(());
        }
        self.stopping = true;
        // The signal reader tells the other threads at once.
        ring_all(&self.stops);
        if let Some(t) = self.signal.take() {
            self.ring.cancel(t)?;
        }
        if let Some(t) = self.stop.take() {
            self.ring.cancel(t)?;
        }
        match std::mem::replace(&mut self.accept, Accepting::Off) {
            Accepting::On(t) => self.ring.cancel(t)?,
            Accepting::Backoff(t) => self.ring.cancel(t)?,
            Accepting::Off => {}
        }
        let _ = self.listener.close();
        self.idle.unschedule(&mut self.ring)?;
        let idxs: Vec<usize> = self.conns.iter().map(|(idx, _)| idx).collect();
        for idx in idxs {
            self.conns[idx].closing = true;
            self.advance(idx)?;
        }
        Ok(())
    }

    /// A result of connection `idx`'s recv or send (told apart by `ud`).
    fn on_conn(&mut self, idx: usize, ud: UserData) -> Result<(), Error> {
        let Some(conn) = self.conns.get_mut(idx) else {
            return Ok(());
        };
        let mut active = false;
        if let Some(mut t) = conn.recv.take_if(|t| t.user_data() == ud) {
            while let Some(r) = self.ring.take(&mut t) {
                match r {
                    Ok(Some(buf)) => {
                        conn.pending.extend_from_slice(&buf);
                        active = true;
                        // `buf` drops here: back in the group at once.
                    }
                    Ok(None) => conn.read_done = true, // the peer shut its side
                    Err(Error::Os(Errno::ENOBUFS)) => {
                        // The data waits in the socket: re-armed after this
                        // batch has given its buffers back.
                        conn.starved = true;
                        self.starved.push(idx);
                    }
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
                Some(Ok((Ok(n), mut buf))) => {
                    // A short send leaves the rest in front of what came
                    // since; the emptied buffer is kept for what comes next.
                    buf.drain(..n);
                    buf.extend_from_slice(&conn.pending);
                    conn.pending.clear();
                    std::mem::swap(&mut conn.pending, &mut buf);
                    active = n > 0;
                }
                // EPIPE, ECONNRESET, or cancelled by a close.
                Some(Ok((Err(_), _)) | Err(_)) => conn.closing = true,
            }
            if conn.send.is_none() {
                conn.send_cancelled = false;
            }
        }
        if active && let Some(key) = conn.timer {
            self.idle.reset_at(key, Instant::now() + self.idle_after);
        }
        self.advance(idx)
    }

    /// Moves connection `idx` on: sends what is pending, (re-)arms or
    /// pauses its recv, and closes it once it is done.
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
        } else if conn.send.is_none() && !conn.pending.is_empty() {
            let buf = std::mem::take(&mut conn.pending);
            conn.send = Some(
                self.ring
                    .push_tagged(conn.stream.fixed().send_op(buf), tag)?,
            );
        }
        let wants_recv = !conn.closing && !conn.read_done && conn.pending.len() < MAX_PENDING;
        match &conn.recv {
            Some(t) if !wants_recv && !conn.recv_cancelled => {
                conn.recv_cancelled = true;
                self.ring.cancel_keep(t)?;
            }
            None if wants_recv && !conn.starved => {
                let op = conn.stream.fixed().recv_multi_op(&self.bufs);
                conn.recv = Some(self.ring.push_tagged(op, tag)?);
            }
            _ => {}
        }
        let finished = conn.read_done && conn.send.is_none() && conn.pending.is_empty();
        if (conn.closing || finished) && conn.recv.is_none() && conn.send.is_none() {
            let conn = self.conns.remove(idx);
            if let Some(key) = conn.timer {
                self.idle.cancel(key);
            }
            // Closed on the ring, with the next submission.
            let close = self.ring.push(conn.stream.close_op())?;
            self.ring.detach(close)?;
        }
        Ok(())
    }
}
