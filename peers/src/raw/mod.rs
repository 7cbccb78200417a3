//! The event loop of the raw io-uring servers (`echo_raw`, `http_raw`),
//! written as a careful user of the `io-uring` crate would write it:
//!
//! - one ring per thread, `SINGLE_ISSUER | DEFER_TASKRUN | SUBMIT_ALL`
//!   (completion work runs only inside this thread's `io_uring_enter`),
//!   256 entries as iofd's rings;
//! - a multishot accept per listener;
//! - a multishot recv per connection into a provided buffer ring (256
//!   buffers of 4 KiB per thread, as iofd's examples), each buffer given
//!   back as soon as its bytes are taken, the ring's tail published once
//!   per turn;
//! - sends from each connection's output buffer, one in flight per
//!   connection, pushed for every connection a turn touched after all of
//!   the turn's completions are taken;
//! - one `submit_and_wait(1)` per loop turn;
//! - connections in a slab, completions told apart by `user_data`: the
//!   kind of operation in the low 8 bits, the slab index in the next 32,
//!   a generation in the top 24;
//! - for echo, the idle timeout on a coarse tick: a timeout every eighth
//!   of `--idle-ms` counts ticks, each read or send stamps its connection,
//!   and a connection stamped more than eight ticks ago is closed (so
//!   after the timeout, and at most an eighth of it later).
//!
//! What the servers do with the bytes is a [`Protocol`].

mod bufring;

use std::io;
use std::net::Shutdown;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use io_uring::types::{CancelBuilder, Fd, Timespec};
use io_uring::{IoUring, cqueue, opcode, squeue};
use slab::Slab;

use crate::READ_LEN;
use crate::server::{self, ACCEPT_BACKOFF, Start};
use bufring::BufRing;

/// What a server does with the bytes it receives.
pub trait Protocol {
    /// Per-thread state, refreshed once per loop turn (the HTTP date).
    type Shared;
    /// Bytes a connection may hold unsent before it stops reading.
    const MAX_OUT: usize;
    fn shared() -> Self::Shared;
    /// Called once per loop turn, after the ring has been entered.
    fn turn(shared: &mut Self::Shared);
    /// The state of a new connection.
    fn open() -> Self;
    /// Takes bytes received; appends what to send to `out`.
    fn on_data(&mut self, shared: &Self::Shared, data: &[u8], out: &mut Vec<u8>);
    /// Whether the last response is queued: once it is sent, the write
    /// side is shut, and the connection reads and drops until the peer
    /// closes.
    fn is_last(&self) -> bool;
}

/// The size of each thread's provided buffer ring (the ring's own sizes
/// are the crate's `RING_ENTRIES` and `CQ_ENTRIES`).
const BUF_ENTRIES: u16 = 256;
/// A connection idle for more than this many ticks is closed.
const IDLE_TICKS: u32 = 8;

/// The kinds of operation, in the low 8 bits of `user_data`.
const ACCEPT: u64 = 1;
const BACKOFF: u64 = 2;
const TICK: u64 = 3;
const RECV: u64 = 4;
const SEND: u64 = 5;
/// Cancels and closes: their results are not needed.
const IGNORED: u64 = 6;

fn user_data(kind: u64, idx: usize, generation: u32) -> u64 {
    u64::from(generation) << 40 | (idx as u64) << 8 | kind
}

/// Kind, slab index, generation.
fn parse_user_data(ud: u64) -> (u64, usize, u32) {
    (
        ud & 0xff,
        (ud >> 8 & 0xffff_ffff) as usize,
        (ud >> 40) as u32,
    )
}

/// Runs the raw server `P` on one thread until it fails: `idle`, when
/// given, closes connections idle that long.
pub fn run<P: Protocol>(
    name: &'static str,
    start: Start,
    idle: Option<Duration>,
) -> io::Result<()> {
    let Start {
        listener, ready, ..
    } = start;
    let mut w = Worker::<P>::new(name, listener, idle)?;
    ready.done();
    w.run()
}

struct Conn<P> {
    fd: RawFd,
    /// Tells this connection's completions from those of an earlier one
    /// that had the same slab index.
    generation: u32,
    proto: P,
    /// Bytes to send, not yet handed to a send.
    out: Vec<u8>,
    /// The buffer of the send in flight, `sent` bytes of it sent already.
    flight: Vec<u8>,
    sent: usize,
    /// A multishot recv is armed.
    recv: bool,
    /// A send is in flight.
    send: bool,
    /// A cancel was pushed for the recv (too much unsent).
    pausing: bool,
    /// The peer shut its side, or the recv failed.
    read_done: bool,
    /// The write side was shut after the last response.
    shut: bool,
    /// Being closed: its operations cancelled, then the descriptor closed.
    closing: bool,
    cancelled: bool,
    /// On the list of connections to advance at the end of the turn.
    queued: bool,
    /// The tick of its last read or send.
    stamp: u32,
}

struct Worker<P: Protocol> {
    name: &'static str,
    ring: IoUring,
    /// Its memory is never freed (see `BufRing`).
    bufs: BufRing,
    listener: std::net::TcpListener,
    conns: Slab<Conn<P>>,
    /// Connections to advance once the turn's completions are taken.
    queue: Vec<usize>,
    /// The turn's completions, copied out of the completion queue.
    cqes: Vec<cqueue::Entry>,
    shared: P::Shared,
    generation: u32,
    /// The idle tick's period, and the ticks counted so far.
    tick: Option<Box<Timespec>>,
    ticks: u32,
    /// The accept backoff's timeout.
    backoff: Box<Timespec>,
}

fn timespec(d: Duration) -> Box<Timespec> {
    Box::new(Timespec::new().sec(d.as_secs()).nsec(d.subsec_nanos()))
}

impl<P: Protocol> Worker<P> {
    fn new(
        name: &'static str,
        listener: std::net::TcpListener,
        idle: Option<Duration>,
    ) -> io::Result<Worker<P>> {
        let ring = IoUring::builder()
            .setup_single_issuer()
            .setup_defer_taskrun()
            .setup_submit_all()
            .setup_cqsize(crate::CQ_ENTRIES)
            .build(crate::RING_ENTRIES)?;
        // Group ids are per ring: every thread may use group 0.
        let bufs = BufRing::new(&ring, 0, BUF_ENTRIES, READ_LEN as u32)?;
        let tick = idle.map(|d| timespec((d / IDLE_TICKS).max(Duration::from_millis(1))));
        let mut w = Worker {
            name,
            ring,
            bufs,
            listener,
            conns: Slab::with_capacity(1024),
            queue: Vec::new(),
            cqes: Vec::with_capacity(crate::CQ_ENTRIES as usize),
            shared: P::shared(),
            generation: 0,
            tick,
            ticks: 0,
            backoff: timespec(ACCEPT_BACKOFF),
        };
        w.accept()?;
        w.arm_tick()?;
        Ok(w)
    }

    /// Queues `sqe`, entering the ring to make room when the queue is full.
    ///
    /// # Safety
    ///
    /// Whatever memory `sqe` points to must stay valid, and not be moved
    /// or otherwise used, until the kernel is done with it (each caller
    /// says why).
    unsafe fn push(&mut self, sqe: &squeue::Entry) -> io::Result<()> {
        loop {
            // SAFETY: the caller's contract.
            if unsafe { self.ring.submission().push(sqe) }.is_ok() {
                return Ok(());
            }
            self.ring.submit()?;
        }
    }

    /// Arms the listener's multishot accept.
    fn accept(&mut self) -> io::Result<()> {
        let flags = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
        let sqe = opcode::AcceptMulti::new(Fd(self.listener.as_raw_fd()))
            .flags(flags)
            .build()
            .user_data(user_data(ACCEPT, 0, 0));
        // SAFETY: an accept points to no memory (no address is asked for);
        // the listener's descriptor lives as long as the worker.
        unsafe { self.push(&sqe) }
    }

    /// Arms the next idle tick, if connections have a timeout.
    fn arm_tick(&mut self) -> io::Result<()> {
        let Some(ts) = &self.tick else {
            return Ok(());
        };
        let sqe = opcode::Timeout::new(&raw const **ts)
            .build()
            .user_data(user_data(TICK, 0, 0));
        // SAFETY: the timespec is boxed in the worker, which outlives the
        // ring's use of it (the kernel copies it when it takes the entry).
        unsafe { self.push(&sqe) }
    }

    fn run(&mut self) -> io::Result<()> {
        loop {
            self.bufs.publish();
            if let Err(e) = self.ring.submit_and_wait(1) {
                // Interrupted, or completions overflowed: take them first.
                if !matches!(
                    e.raw_os_error(),
                    Some(libc::EINTR | libc::EBUSY | libc::EAGAIN)
                ) {
                    return Err(e);
                }
            }
            P::turn(&mut self.shared);
            self.cqes.extend(self.ring.completion());
            let mut cqes = std::mem::take(&mut self.cqes);
            for cqe in cqes.drain(..) {
                self.complete(&cqe)?;
            }
            self.cqes = cqes;
            while let Some(idx) = self.queue.pop() {
                self.conns[idx].queued = false;
                self.advance(idx)?;
            }
        }
    }

    fn enqueue(&mut self, idx: usize) {
        let conn = &mut self.conns[idx];
        if !conn.queued {
            conn.queued = true;
            self.queue.push(idx);
        }
    }

    fn complete(&mut self, cqe: &cqueue::Entry) -> io::Result<()> {
        let (kind, idx, generation) = parse_user_data(cqe.user_data());
        let (res, flags) = (cqe.result(), cqe.flags());
        match kind {
            ACCEPT => {
                if res >= 0 {
                    self.open(res)?;
                } else {
                    let e = io::Error::from_raw_os_error(-res);
                    server::accept_failed(self.name, &e);
                }
                if !cqueue::more(flags) {
                    if res >= 0 {
                        // The kernel ended it (a full completion queue).
                        self.accept()?;
                    } else {
                        let sqe = opcode::Timeout::new(&raw const *self.backoff)
                            .build()
                            .user_data(user_data(BACKOFF, 0, 0));
                        // SAFETY: the timespec is boxed in the worker, which
                        // outlives the kernel's copy of it.
                        unsafe { self.push(&sqe)? };
                    }
                }
            }
            BACKOFF => self.accept()?,
            TICK => {
                self.ticks = self.ticks.wrapping_add(1);
                let now = self.ticks;
                let idle: Vec<usize> = (self.conns.iter())
                    .filter(|(_, c)| now.wrapping_sub(c.stamp) > IDLE_TICKS && !c.closing)
                    .map(|(idx, _)| idx)
                    .collect();
                for idx in idle {
                    self.conns[idx].closing = true;
                    self.enqueue(idx);
                }
                self.arm_tick()?;
            }
            RECV | SEND => {
                let Some(conn) = self.conns.get_mut(idx) else {
                    return Ok(());
                };
                if conn.generation != generation {
                    return Ok(());
                }
                if kind == RECV {
                    self.on_recv(idx, res, flags);
                } else {
                    self.on_send(idx, res)?;
                }
                self.enqueue(idx);
            }
            _ => {}
        }
        Ok(())
    }

    /// A new connection, from the accept: its recv is armed at the end of
    /// the turn.
    fn open(&mut self, fd: RawFd) -> io::Result<()> {
        let one: libc::c_int = 1;
        // SAFETY: `fd` is the socket just accepted; the option's value is a
        // local `c_int` that lives through the call, its size given.
        unsafe {
            libc::setsockopt(
                fd,
                libc::IPPROTO_TCP,
                libc::TCP_NODELAY,
                (&raw const one).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
        self.generation = (self.generation + 1) & 0xff_ffff;
        let idx = self.conns.insert(Conn {
            fd,
            generation: self.generation,
            proto: P::open(),
            out: Vec::new(),
            flight: Vec::new(),
            sent: 0,
            recv: false,
            send: false,
            pausing: false,
            read_done: false,
            shut: false,
            closing: false,
            cancelled: false,
            queued: false,
            stamp: self.ticks,
        });
        self.enqueue(idx);
        Ok(())
    }

    fn on_recv(&mut self, idx: usize, res: i32, flags: u32) {
        let conn = &mut self.conns[idx];
        if res > 0 {
            let bid = cqueue::buffer_select(flags).expect("a recv's data comes in a buffer");
            if !conn.closing {
                // SAFETY: `bid` and `res` come from this completion of a
                // recv on the group, and the buffer is recycled only below.
                let data = unsafe { self.bufs.get(bid, res as usize) };
                conn.proto.on_data(&self.shared, data, &mut conn.out);
                conn.stamp = self.ticks;
            }
            self.bufs.recycle(bid);
        } else if res == 0 || res != -libc::ENOBUFS && res != -libc::ECANCELED {
            // The peer shut its side, or a reset. Out of buffers, the
            // recv is re-armed once this turn has given them back; a
            // cancelled one once the output has drained.
            conn.read_done = true;
        }
        if !cqueue::more(flags) {
            conn.recv = false;
            conn.pausing = false;
        }
    }

    fn on_send(&mut self, idx: usize, res: i32) -> io::Result<()> {
        let conn = &mut self.conns[idx];
        conn.send = false;
        if res <= 0 {
            // EPIPE, ECONNRESET, cancelled by a close, or nothing sent.
            conn.closing = true;
            return Ok(());
        }
        conn.sent += res as usize;
        conn.stamp = self.ticks;
        if conn.sent < conn.flight.len() && !conn.closing {
            // A short send: the rest, from the same buffer.
            self.send(idx)
        } else {
            conn.flight.clear();
            Ok(())
        }
    }

    /// Pushes a send of the rest of connection `idx`'s `flight`.
    fn send(&mut self, idx: usize) -> io::Result<()> {
        let conn = &mut self.conns[idx];
        let rest = &conn.flight[conn.sent..];
        let sqe = opcode::Send::new(Fd(conn.fd), rest.as_ptr(), rest.len() as u32)
            .build()
            .user_data(user_data(SEND, idx, conn.generation));
        conn.send = true;
        // SAFETY: `flight`'s heap buffer is neither written, grown nor
        // dropped while `send` is set: `out` takes new bytes, the two swap
        // only when no send is in flight, and a connection is removed only
        // once its send has completed. The slab may move the `Conn`, not
        // the buffer. The descriptor is closed only after that too.
        unsafe { self.push(&sqe) }
    }

    /// Moves connection `idx` on: sends what is pending, (re-)arms or
    /// pauses its recv, and closes it once it is done.
    fn advance(&mut self, idx: usize) -> io::Result<()> {
        let conn = &mut self.conns[idx];
        let fd = conn.fd;
        if conn.closing {
            if (conn.recv || conn.send) && !conn.cancelled {
                conn.cancelled = true;
                let sqe = opcode::AsyncCancel2::new(CancelBuilder::fd(Fd(fd)).all())
                    .build()
                    .flags(squeue::Flags::SKIP_SUCCESS)
                    .user_data(user_data(IGNORED, idx, 0));
                // SAFETY: a cancel points to no memory.
                unsafe { self.push(&sqe)? };
            }
        } else {
            if !conn.send && !conn.out.is_empty() {
                std::mem::swap(&mut conn.out, &mut conn.flight);
                conn.sent = 0;
                self.send(idx)?;
            }
            let conn = &mut self.conns[idx];
            let all_sent = !conn.send && conn.out.is_empty();
            if conn.proto.is_last() && all_sent && !conn.shut {
                // As iofd's server: a plain `shutdown(2)`; the peer reads
                // the last response, then the end.
                conn.shut = true;
                server::shutdown(fd, Shutdown::Write);
            }
            let wants_recv = !conn.read_done && conn.out.len() < P::MAX_OUT;
            if wants_recv && !conn.recv {
                conn.recv = true;
                let sqe = opcode::RecvMulti::new(Fd(fd), 0)
                    .build()
                    .user_data(user_data(RECV, idx, conn.generation));
                // SAFETY: the recv writes only into buffers of the provided
                // ring, which are never freed (`BufRing`); the descriptor
                // is closed only after the recv's last completion.
                unsafe { self.push(&sqe)? };
            } else if !wants_recv && conn.recv && !conn.pausing {
                conn.pausing = true;
                let target = user_data(RECV, idx, conn.generation);
                let sqe = opcode::AsyncCancel::new(target)
                    .build()
                    .flags(squeue::Flags::SKIP_SUCCESS)
                    .user_data(user_data(IGNORED, idx, 0));
                // SAFETY: a cancel points to no memory.
                unsafe { self.push(&sqe)? };
            }
        }
        let conn = &self.conns[idx];
        let all_sent = !conn.send && conn.out.is_empty();
        if (conn.closing || conn.read_done && all_sent) && !conn.recv && !conn.send {
            self.conns.remove(idx);
            let sqe = opcode::Close::new(Fd(fd))
                .build()
                .flags(squeue::Flags::SKIP_SUCCESS)
                .user_data(user_data(IGNORED, idx, 0));
            // SAFETY: a close points to no memory; no operation on `fd` is
            // left in flight.
            unsafe { self.push(&sqe)? };
        }
        Ok(())
    }
}
