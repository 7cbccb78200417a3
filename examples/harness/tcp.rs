//! The tcp-echo workload: a load generator for echo servers, one ring on
//! one thread.
//!
//! Every connection has one request in flight: it sends a message of
//! `--size` bytes and waits for the whole echo before sending the next.
//! The connections sit in the ring's fixed-file table, so that their
//! operations hold no reference; each has a multishot recv armed for the
//! whole run, drawing from one provided buffer ring, and sends from its
//! own message buffer, which each send hands back. Completions are
//! dispatched by tag: connection `i`'s recv is tagged `2i`, its send
//! `2i + 1`. Whatever a pass over the completions pushes goes to the
//! kernel in the next `io_uring_enter`, which also waits.
//!
//! A message starts with 8 bytes naming its connection and sequence
//! number, then a fixed pattern: every echoed byte is compared with what
//! was sent, and a request whose echo differs counts as an error.
//!
//! - **Closed loop** (the default): a connection sends its next message
//!   as soon as the echo of the last is in; latency runs from the send.
//! - **Open loop** (`--rate R`): request `k` (from 0) is due `(k + 1) / R`
//!   after the start, on connection `k mod N`, and an absolute ring
//!   timeout wakes the loop when the next one is due. A request whose
//!   connection still waits for an echo goes as soon as that echo is in,
//!   and its latency still runs from its due time: the correction for
//!   coordinated omission that wrk2 makes, so that a server that stalls is
//!   charged for the requests its stall held back, not only for those in
//!   flight. With `--duration D` the run holds the requests due in `D`;
//!   those still unsent at `2 × D` (a server far behind) are reported, not
//!   sent.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use iofd::ring::ops::{RecvMulti, SendBuf, Timeout};
use iofd::ring::{BufRing, Fixed, Ring, Token};
use iofd::sys::Errno;
use iofd::{Clock, Error, TcpStream};

use crate::Failure;
use crate::cli::{Config, Stop, Tcp};
use crate::engine::build_ring;
use crate::pin::{Pinned, Role};
use crate::recorder::{Outcome, Recorder};
use crate::report::TcpReport;

#[path = "tcp_setup.rs"]
mod setup;

use setup::{InProcess, allow_descriptors};

/// Bytes at the start of each message that name its connection and
/// sequence number.
const STAMP: usize = 8;
/// How often the loop checks that echoes still come.
const TICK: Duration = Duration::from_secs(1);
/// Ticks without an echo, with requests in flight, that make a stall.
const STALL_TICKS: u32 = 10;

/// The periodic stall check.
const TAG_TICK: u64 = u64::MAX;
/// The open loop's release timeout.
const TAG_PACE: u64 = u64::MAX - 1;

/// Drives the tcp-echo workload: against `tcp.target`, or the example echo
/// server started in this process for the run.
pub fn run(cfg: &Config, tcp: &Tcp, done: &AtomicU64) -> Result<(Outcome, TcpReport), Failure> {
    allow_descriptors(tcp.connections, tcp.target.is_none())?;
    let (server, addr) = match tcp.target {
        Some(addr) => (None, addr),
        None => {
            let server = InProcess::start()?;
            let addr = server.addr;
            (Some(server), addr)
        }
    };
    // The client's ring and sockets are gone once it returns: the server
    // has seen every connection close when it is stopped.
    // Pinned after the server has started: its thread is not.
    let outcome = Pinned::this_thread(&cfg.cpus, Role::Submitter)
        .map_err(Failure::from)
        .and_then(|_pin| Client::connect(cfg, tcp, addr).and_then(|c| c.run(done)));
    // A server that failed is why the client failed, if it did.
    server.map_or(Ok(()), InProcess::stop)?;
    let (outcome, echoed_bytes, unsent, client_cqes) = outcome?;
    let report = TcpReport {
        target: addr.to_string(),
        server: if tcp.target.is_some() {
            "external"
        } else {
            "in-process echo_server"
        },
        connections: tcp.connections,
        message_bytes: tcp.size,
        latency_from: if cfg.rate.is_some() {
            "scheduled send time"
        } else {
            "actual send time"
        },
        echoed_bytes,
        unsent,
        client_cqes,
    };
    Ok((outcome, report))
}

/// The 8 bytes that open request `seq` of connection `conn`.
fn stamp(conn: usize, seq: u64) -> [u8; STAMP] {
    (seq << 16 | conn as u64).to_le_bytes()
}

/// Whether `chunk`, received `at` bytes into an echo, is what was sent
/// there: the message is `stamp`, then `pattern` from byte 8 on. The chunk
/// ends within the message.
fn echoes(pattern: &[u8], stamp: &[u8; STAMP], at: usize, chunk: &[u8]) -> bool {
    let end = at + chunk.len();
    let head = STAMP.min(pattern.len()).min(end).saturating_sub(at);
    (head == 0 || chunk[..head] == stamp[at..at + head]) && chunk[head..] == pattern[at + head..end]
}

/// One connection.
struct Conn {
    /// The multishot recv, while armed.
    recv: Option<Token<RecvMulti<Fixed<TcpStream>>>>,
    /// The send in flight, which holds the message buffer.
    send: Option<Token<SendBuf<Fixed<TcpStream>, Vec<u8>>>>,
    /// The message buffer, while no send holds it.
    buf: Option<Vec<u8>>,
    /// Requests started, the current one included.
    seq: u64,
    /// Whether the current request waits for (part of) its echo.
    busy: bool,
    /// Bytes of the current message sent, and of its echo received.
    sent: usize,
    got: usize,
    /// Whether the echo so far differs from the message.
    bad: bool,
    /// The current request's start: its scheduled or actual send time.
    t0: Instant,
}

/// The open loop's schedule.
struct Schedule {
    rate: u64,
    /// The start on `Clock::Monotonic`, which ring timeouts read.
    mono: Duration,
    /// The first request not yet due at the last look.
    next: u64,
    /// Requests in the run.
    limit: u64,
    /// The timeout that releases `next`, while pending.
    timer: Option<Token<Timeout>>,
}

impl Schedule {
    /// When request `k` is due, after the start.
    fn offset(&self, k: u64) -> Duration {
        let ns = u128::from(k + 1) * 1_000_000_000 / u128::from(self.rate);
        Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
    }
}

/// The load generator: its ring, its connections, and what it counted.
struct Client {
    ring: Ring,
    bufs: BufRing,
    /// The connections' sockets (the ring's file table holds them too).
    _streams: Vec<TcpStream>,
    conns: Vec<Conn>,
    /// Each message's bytes after its stamp (the first 8 are unused).
    pattern: Vec<u8>,
    stop: Stop,
    schedule: Option<Schedule>,
    start: Instant,
    /// No request starts from then on.
    end: Option<Instant>,
    rec: Recorder,
    started: u64,
    in_flight: usize,
    echoed: u64,
    /// Echo chunks received: the stall check's progress.
    chunks: u64,
    /// `chunks` at the last tick, and ticks since it moved.
    seen: (u64, u32),
    /// When the last echo was complete.
    last: Instant,
    /// Connections whose recv ended (out of buffers, say): re-armed
    /// after each pass, once the pass has given its buffers back.
    rearm: Vec<usize>,
    tick: Option<Token<Timeout>>,
}

impl Client {
    /// Opens `tcp.connections` connections to `addr` on a new ring.
    fn connect(cfg: &Config, tcp: &Tcp, addr: SocketAddr) -> Result<Client, Failure> {
        let n = tcp.connections;
        let mut ring = build_ring(cfg)?;
        let bufs = setup::register_bufs(&mut ring, tcp)?;
        let streams = setup::connect(&mut ring, addr, n)?;
        let pattern: Vec<u8> = (0..tcp.size).map(|i| b'a' + (i % 26) as u8).collect();
        let now = Instant::now();
        let conns = (0..n)
            .map(|_| Conn {
                recv: None,
                send: None,
                buf: Some(pattern.clone()),
                seq: 0,
                busy: false,
                sent: 0,
                got: 0,
                bad: false,
                t0: now,
            })
            .collect();
        let mut client = Client {
            ring,
            bufs,
            _streams: streams,
            conns,
            pattern,
            // The warm-up comes before --duration.
            stop: match cfg.stop {
                Stop::Time(d) => Stop::Time(cfg.warmup + d),
                ops => ops,
            },
            schedule: cfg.rate.map(|rate| Schedule {
                rate,
                mono: Duration::ZERO,
                next: 0,
                limit: 0,
                timer: None,
            }),
            start: now,
            end: None,
            rec: Recorder::new().warmup(cfg.warmup),
            started: 0,
            in_flight: 0,
            echoed: 0,
            chunks: 0,
            seen: (0, 0),
            last: now,
            rearm: Vec::new(),
            tick: None,
        };
        for i in 0..n {
            client.arm_recv(i)?;
        }
        Ok(client)
    }

    /// Runs the requests; returns what was measured, the echoed bytes
    /// checked, and the requests left unsent.
    fn run(mut self, done: &AtomicU64) -> Result<(Outcome, u64, u64, u64), Failure> {
        let n = self.conns.len() as u64;
        self.tick = Some(self.ring.push_tagged(Timeout::after(TICK), TAG_TICK)?);
        self.start = Instant::now();
        self.last = self.start;
        self.rec.begin(self.start);
        if let Some(s) = &mut self.schedule {
            s.mono = Clock::Monotonic.now()?;
            s.limit = match self.stop {
                Stop::Ops(ops) => ops,
                Stop::Time(d) => ((d.as_secs_f64() * s.rate as f64) as u64).max(1),
            };
        }
        self.end = match (self.stop, &self.schedule) {
            (Stop::Ops(_), _) => None,
            (Stop::Time(d), None) => Some(self.start + d),
            (Stop::Time(d), Some(_)) => Some(self.start + 2 * d),
        };
        if self.schedule.is_none() {
            for i in 0..self.conns.len() {
                self.advance(i, self.start)?;
            }
        }
        loop {
            let now = Instant::now();
            self.release(now)?;
            if self.finished(now) {
                break;
            }
            wait(&mut self.ring)?;
            while let Some(c) = self.ring.next_completion() {
                match c.tag {
                    tag if tag < 2 * n && tag % 2 == 0 => self.on_recv((tag / 2) as usize)?,
                    tag if tag < 2 * n => self.on_send((tag / 2) as usize)?,
                    TAG_TICK => self.on_tick()?,
                    TAG_PACE => self.on_pace()?,
                    _ => {}
                }
            }
            while let Some(i) = self.rearm.pop() {
                self.arm_recv(i)?;
            }
            done.store(self.rec.ops(), Ordering::Relaxed);
        }
        let unsent = match (&self.schedule, self.stop) {
            (Some(s), _) => s.limit - self.started,
            (None, Stop::Ops(ops)) => ops - self.started,
            (None, Stop::Time(_)) => 0,
        };
        let elapsed = self.last.saturating_duration_since(self.start);
        let echoed = self.echoed;
        let syscalls = self.ring.enters();
        let cqes = self.ring.completions();
        Ok((self.rec.outcome(elapsed, syscalls), echoed, unsent, cqes))
    }

    /// Whether the run is over: nothing in flight, and nothing more to
    /// send.
    fn finished(&self, now: Instant) -> bool {
        if self.in_flight > 0 {
            return false;
        }
        if self.end.is_some_and(|end| now >= end) {
            return true;
        }
        match (&self.schedule, self.stop) {
            (Some(s), _) => self.started >= s.limit,
            (None, Stop::Ops(ops)) => self.started >= ops,
            (None, Stop::Time(_)) => false,
        }
    }

    /// Open loop: starts every request due by `now` whose connection is
    /// free, and sets the timeout that releases the next. Requests due on
    /// a busy connection go when its echo is in, so that a backlog costs
    /// one look at each connection, not one per request.
    fn release(&mut self, now: Instant) -> Result<(), Failure> {
        let Some(s) = &mut self.schedule else {
            return Ok(());
        };
        if self.end.is_some_and(|end| now >= end) {
            return Ok(());
        }
        let n = self.conns.len() as u64;
        let elapsed = now.saturating_duration_since(self.start);
        // Requests 0..due are due: (k + 1) / rate <= elapsed.
        let by_rate = elapsed.as_nanos() * u128::from(s.rate) / 1_000_000_000;
        let mut due = u64::try_from(by_rate).unwrap_or(u64::MAX).min(s.limit);
        while due < s.limit && s.offset(due) <= elapsed {
            due += 1; // rounding
        }
        let from = s.next.max(due.saturating_sub(n));
        s.next = s.next.max(due);
        if s.next < s.limit && s.timer.is_none() {
            let at = Timeout::at(Clock::Monotonic, s.mono + s.offset(s.next));
            s.timer = Some(self.ring.push_tagged(at, TAG_PACE)?);
        }
        for k in from..due {
            self.advance((k % n) as usize, now)?;
        }
        Ok(())
    }

    /// Starts connection `i`'s next request if the connection is free,
    /// the run not over, and (open loop) the request due.
    fn advance(&mut self, i: usize, now: Instant) -> Result<(), Failure> {
        let conn = &self.conns[i];
        if conn.busy || conn.buf.is_none() || self.end.is_some_and(|end| now >= end) {
            return Ok(());
        }
        let t0 = match &self.schedule {
            None if matches!(self.stop, Stop::Ops(ops) if self.started >= ops) => return Ok(()),
            None => now,
            Some(s) => {
                let k = conn.seq * self.conns.len() as u64 + i as u64;
                let due = self.start + s.offset(k);
                if k >= s.limit || due > now {
                    return Ok(());
                }
                due
            }
        };
        let conn = &mut self.conns[i];
        let mut buf = conn.buf.take().expect("checked above");
        let head = STAMP.min(buf.len());
        buf[..head].copy_from_slice(&stamp(i, conn.seq)[..head]);
        conn.seq += 1;
        conn.busy = true;
        (conn.sent, conn.got, conn.bad, conn.t0) = (0, 0, false, t0);
        let op = Fixed::<TcpStream>::new(i as u32).send_op(buf);
        conn.send = Some(self.ring.push_tagged(op, 2 * i as u64 + 1)?);
        self.started += 1;
        self.in_flight += 1;
        Ok(())
    }

    /// Arms connection `i`'s multishot recv.
    fn arm_recv(&mut self, i: usize) -> Result<(), Failure> {
        let conn = &mut self.conns[i];
        if conn.recv.is_none() {
            let op = Fixed::<TcpStream>::new(i as u32).recv_multi_op(&self.bufs);
            conn.recv = Some(self.ring.push_tagged(op, 2 * i as u64)?);
        }
        Ok(())
    }

    /// Echoed bytes for connection `i`: checked, and the request done
    /// once they are all in.
    fn on_recv(&mut self, i: usize) -> Result<(), Failure> {
        let size = self.pattern.len();
        let conn = &mut self.conns[i];
        let Some(token) = conn.recv.as_mut() else {
            return Ok(());
        };
        let mut done = None;
        while let Some(r) = self.ring.take(token) {
            match r {
                Ok(Some(chunk)) => {
                    if !conn.busy || conn.got + chunk.len() > size {
                        return Err(Failure::run(format!(
                            "connection {i}: the server sent more bytes than it was sent"
                        )));
                    }
                    let stamp = stamp(i, conn.seq - 1);
                    conn.bad |= !echoes(&self.pattern, &stamp, conn.got, &chunk);
                    conn.got += chunk.len();
                    self.echoed += chunk.len() as u64;
                    self.chunks += 1;
                    if conn.got == size {
                        let now = Instant::now();
                        self.rec
                            .record(now.saturating_duration_since(conn.t0), !conn.bad);
                        conn.busy = false;
                        self.in_flight -= 1;
                        done = Some(now);
                    }
                }
                Ok(None) => {
                    return Err(Failure::run(format!(
                        "the server closed connection {i} after {} requests",
                        conn.seq - u64::from(conn.busy)
                    )));
                }
                // The data waits in the socket: re-armed after this pass.
                Err(Error::Os(Errno::ENOBUFS)) => {}
                Err(e) => return Err(Failure::run(format!("receiving on connection {i}: {e}"))),
            }
        }
        if token.is_done() {
            conn.recv = None;
            self.rearm.push(i);
        }
        if let Some(now) = done {
            self.last = now;
            self.advance(i, now)?;
        }
        Ok(())
    }

    /// Connection `i`'s send: the rest of a short one sent, or the buffer
    /// back.
    fn on_send(&mut self, i: usize) -> Result<(), Failure> {
        let size = self.pattern.len();
        let conn = &mut self.conns[i];
        let Some(token) = conn.send.as_mut() else {
            return Ok(());
        };
        let Some(result) = self.ring.take(token) else {
            return Ok(());
        };
        conn.send = None;
        let failed = |e: Error| Failure::run(format!("sending on connection {i}: {e}"));
        let (sent, buf) = result.map_err(failed)?;
        let sent = sent.map_err(failed)?;
        conn.sent += sent;
        if conn.sent < size {
            if sent == 0 {
                return Err(failed(Error::Os(Errno::EPIPE)));
            }
            let op = Fixed::<TcpStream>::new(i as u32)
                .send_op(buf)
                .skip(conn.sent);
            conn.send = Some(self.ring.push_tagged(op, 2 * i as u64 + 1)?);
            return Ok(());
        }
        conn.buf = Some(buf);
        if !conn.busy {
            // The echo came in before the send's completion.
            self.advance(i, Instant::now())?;
        }
        Ok(())
    }

    /// The periodic check: fails the run when echoes stopped coming.
    ///
    /// A one-shot timeout pushed again, not `Timeout::every`: a periodic
    /// timeout that fires while the ring's drop cancels it is not found,
    /// re-arms itself, and the drop waits for it forever.
    fn on_tick(&mut self) -> Result<(), Failure> {
        let Some(mut tick) = self.tick.take() else {
            return Ok(());
        };
        match self.ring.take(&mut tick) {
            None => {
                self.tick = Some(tick);
                return Ok(());
            }
            Some(fired) => {
                fired?;
                self.tick = Some(self.ring.push_tagged(Timeout::after(TICK), TAG_TICK)?);
            }
        }
        if self.in_flight == 0 || self.chunks != self.seen.0 {
            self.seen = (self.chunks, 0);
            return Ok(());
        }
        self.seen.1 += 1;
        if self.seen.1 < STALL_TICKS {
            return Ok(());
        }
        Err(Failure::run(format!(
            "no echo came for {} s with {} requests in flight: the server stalled",
            STALL_TICKS * TICK.as_secs() as u32,
            self.in_flight
        )))
    }

    /// The open loop's timeout fired: the next pass releases what is due.
    fn on_pace(&mut self) -> Result<(), Failure> {
        if let Some(s) = &mut self.schedule
            && let Some(t) = &mut s.timer
            && let Some(fired) = self.ring.take(t)
        {
            s.timer = None;
            fired?;
        }
        Ok(())
    }
}

/// Submits what is queued and waits for a completion (a signal only cuts
/// the wait short).
fn wait(ring: &mut Ring) -> Result<(), Failure> {
    match ring.submit_and_wait(1) {
        Ok(_) | Err(Error::Interrupted) => Ok(()),
        Err(e) => Err(Failure::run(format!("waiting on the ring: {e}"))),
    }
}

#[cfg(test)]
#[path = "tcp_tests.rs"]
mod tests;
