//! A thread-per-core TCP echo server: one ring per thread. An acceptor
//! thread accepts connections into its ring's table of direct descriptors
//! and hands each to a worker, round robin, with `IORING_OP_MSG_RING`
//! (`Ring::send_file`): the connection moves to the worker's own table,
//! and arrives through the worker's dispatch as a message in its
//! `Mailbox`. Workers echo what they receive. SIGINT or SIGTERM, read from
//! a signalfd on the acceptor's ring, stops the server: the acceptor tells
//! each worker through the same mailbox (a value, not a file), waits for
//! them, and exits 0.
//!
//! Run: `cargo run --example thread_per_core -- [--addr ADDR]
//! [--threads N]`, then `nc 127.0.0.1 7879`.
//!
//! Exit status: 0 after a signal, 2 for bad arguments or an address that
//! cannot be bound, 1 when a worker fails.

use std::collections::VecDeque;
use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;

use iofd::ring::ops::{AcceptDirectMulti, ReadSignal, RecvBuf, SendBuf, SendFile, Timeout};
use iofd::ring::{Direct, Fixed, Mailbox, Message, Ring, Sender, Token, UserData};
use iofd::sys::resource::{Resource, prlimit};
use iofd::{Error, ListenOptions, SigSet, Signal, SignalFd, TcpListener, TcpStream};
use slab::Slab;

#[path = "support/server.rs"]
#[expect(dead_code, reason = "the other servers' start-up is not this one's")]
mod server;

use server::{ACCEPT_BACKOFF, Fatal, TAG_ACCEPT, TAG_CONN, TAG_SIGNAL};

const USAGE: &str = "usage: thread_per_core [--addr ADDR] [--threads N]
  --addr ADDR    IP:PORT to listen on (default 127.0.0.1:7879; port 0 picks one)
  --threads N    worker threads, each with its own ring (default 2)";

/// A worker's mailbox, on its ring.
const TAG_MAIL: u64 = 3;
/// The acceptor's file sends.
const TAG_SEND: u64 = 4;
/// The value that tells a worker to stop.
const STOP: u32 = u32::MAX;
/// The most direct-descriptor slots (connections) a worker's ring takes.
const MAX_SLOTS: u64 = 1 << 16;
/// Slots of the acceptor's table: a connection sits there only until it
/// is sent.
const ACCEPT_SLOTS: u32 = 256;
/// Bytes a recv reads at most.
const RECV_LEN: usize = 4096;

type Config = server::Options;

fn parse_args(args: impl Iterator<Item = String>) -> Result<Option<Config>, String> {
    let defaults = server::Options {
        addr: SocketAddr::from(([127, 0, 0, 1], 7879)),
        threads: 2,
    };
    server::parse_options(args, defaults, &[], |_, _| Ok(()))
}

fn main() -> ExitCode {
    let args = parse_args(std::env::args().skip(1));
    server::run("thread_per_core", USAGE, args, serve)
}

fn runtime(what: &'static str) -> impl Fn(Error) -> Fatal {
    move |e| Fatal(format!("{what}: {e}"), 1)
}

/// Starts the workers, then accepts on this thread until a signal.
fn serve(cfg: Config) -> Result<(), Fatal> {
    // Blocked before any thread exists: every thread inherits the mask,
    // and the signals wait for the signalfd.
    let signals = SigSet::from(Signal::INT).with(Signal::TERM);
    signals
        .block_thread()
        .map_err(runtime("blocking signals"))?;
    let sfd = Arc::new(SignalFd::new(&signals).map_err(runtime("signalfd"))?);
    let listener = TcpListener::bind_with(cfg.addr, ListenOptions::new().nodelay(true))
        .map_err(|e| Fatal(format!("cannot listen on {}: {e}", cfg.addr), 2))?;
    let addr = listener.local_addr().map_err(runtime("local address"))?;

    let mut workers = Vec::new();
    let mut senders = Vec::new();
    for i in 0..cfg.threads {
        let (tx, rx) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name(format!("worker-{i}"))
            .spawn(move || worker(i, &tx));
        let started = spawned
            .map_err(|e| Fatal(format!("spawning worker {i}: {e}"), 1))
            .and_then(|h| {
                workers.push(h);
                rx.recv()
                    .map_err(|_| Fatal(format!("worker {i} did not start"), 1))?
                    .map_err(runtime("starting a worker"))
            });
        match started {
            Ok(sender) => senders.push(sender),
            Err(fatal) => {
                stop_workers(&senders, workers);
                return Err(fatal);
            }
        }
    }

    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "listening on {addr}").and_then(|()| out.flush());
    drop(out);

    let accepted = accept(Arc::new(listener), &sfd, &senders);
    let failed = stop_workers(&senders, workers);
    accepted.map_err(runtime("acceptor"))?;
    if failed {
        return Err(Fatal("a worker failed".into(), 1));
    }
    Ok(())
}

/// Tells every worker to stop and waits for them; whether one failed.
fn stop_workers(
    senders: &[Sender<TcpStream>],
    workers: Vec<JoinHandle<Result<(), Error>>>,
) -> bool {
    for s in senders {
        // A worker that has stopped already has closed its mailbox.
        let _ = s.post(STOP).or_else(|_| {
            let mut ring = Ring::new(2)?;
            let t = ring.push(s.message_op(STOP))?;
            ring.wait(t)
        });
    }
    let mut failed = false;
    for w in workers {
        failed |= !matches!(w.join(), Ok(Ok(())));
    }
    failed
}

enum Accepting {
    On(Token<AcceptDirectMulti<Arc<TcpListener>, TcpStream>>),
    /// The accept failed; armed again when this timeout fires.
    Backoff(Token<Timeout>),
}

/// The acceptor's loop: connections to the workers in turn, until a
/// signal comes.
fn accept(
    listener: Arc<TcpListener>,
    sfd: &Arc<SignalFd>,
    workers: &[Sender<TcpStream>],
) -> Result<(), Error> {
    let mut ring = Ring::new(64)?;
    let files = ring.register_files_sparse(ACCEPT_SLOTS)?;
    let multi = || listener.accept_direct_multi_op_shared(files);
    let mut accepting = Accepting::On(ring.push_tagged(multi(), TAG_ACCEPT)?);
    let mut signal: Token<ReadSignal<Arc<SignalFd>>> =
        ring.push_tagged(sfd.read_op_shared(), TAG_SIGNAL)?;
    let mut sends: VecDeque<Token<SendFile>> = VecDeque::new();
    let mut next = 0;
    loop {
        match ring.submit_and_wait(1) {
            Ok(_) | Err(Error::Interrupted) => {}
            Err(e) => return Err(e),
        }
        let mut stop = false;
        while let Some(c) = ring.next_completion() {
            match c.tag {
                TAG_ACCEPT => match &mut accepting {
                    Accepting::On(token) => {
                        let mut failed = false;
                        while let Some(r) = ring.take(token) {
                            match r {
                                Ok(conn) => {
                                    let to = &workers[next % workers.len()];
                                    next += 1;
                                    sends.push_back(ring.send_file_tagged(to, conn, TAG_SEND)?);
                                }
                                Err(e) => {
                                    eprintln!("thread_per_core: accept: {e}");
                                    failed = true;
                                }
                            }
                        }
                        if token.is_done() {
                            accepting = if failed {
                                let t = Timeout::after(ACCEPT_BACKOFF);
                                Accepting::Backoff(ring.push_tagged(t, TAG_ACCEPT)?)
                            } else {
                                Accepting::On(ring.push_tagged(multi(), TAG_ACCEPT)?)
                            };
                        }
                    }
                    Accepting::Backoff(token) => {
                        if ring.take(token).is_some() {
                            accepting = Accepting::On(ring.push_tagged(multi(), TAG_ACCEPT)?);
                        }
                    }
                },
                TAG_SIGNAL => {
                    if let Some(info) = ring.take(&mut signal) {
                        info?;
                        stop = true;
                    }
                }
                _ => {} // a send's result, taken below
            }
        }
        // Sends end in order: a failed one lost its connection (closed).
        while let Some(front) = sends.front_mut() {
            match ring.take(front) {
                Some(r) => {
                    if let Err(e) = r {
                        eprintln!("thread_per_core: handing a connection over: {e}");
                    }
                    sends.pop_front();
                }
                None => break,
            }
        }
        if stop {
            break;
        }
    }
    match accepting {
        Accepting::On(t) => ring.cancel(t)?,
        Accepting::Backoff(t) => ring.cancel(t)?,
    }
    for t in sends {
        ring.detach(t)?;
    }
    loop {
        match ring.wait_idle() {
            Ok(()) => return Ok(()),
            Err(Error::Interrupted) => {}
            Err(e) => return Err(e),
        }
    }
}

/// A connection of a worker: one recv or one send in flight at a time.
struct Conn {
    stream: Direct<TcpStream>,
    recv: Option<Token<RecvBuf<Fixed<TcpStream>, Vec<u8>>>>,
    send: Option<Token<SendBuf<Fixed<TcpStream>, Vec<u8>>>>,
}

/// Worker `i`: its ring and mailbox, whose sender goes back through `tx`;
/// then echoes on every connection it is handed until told to stop.
fn worker(i: usize, tx: &mpsc::Sender<Result<Sender<TcpStream>, Error>>) -> Result<(), Error> {
    let start = || -> Result<(Ring, Mailbox<TcpStream>), Error> {
        // This thread's alone: completion work deferred to its own waits.
        // (No provided buffers: each recv owns its buffer.)
        let mut ring = Ring::builder(256)
            .cq_entries(4096)
            .defer_taskrun(true)
            .build()?;
        let slots = prlimit(Resource::Nofile, None).map_or(1024, |l| l.cur.clamp(64, MAX_SLOTS));
        ring.register_files_sparse(slots as u32)?;
        let mailbox = ring.mailbox(TAG_MAIL)?;
        Ok((ring, mailbox))
    };
    let (mut ring, mut mailbox) = match start() {
        Ok(started) => started,
        Err(e) => {
            let _ = tx.send(Err(e));
            return Err(e);
        }
    };
    let _ = tx.send(Ok(mailbox.sender()));
    let mut conns: Slab<Conn> = Slab::new();
    let r = serve_conns(&mut ring, &mut mailbox, &mut conns);
    if let Err(e) = &r {
        eprintln!("thread_per_core: worker {i}: {e}");
    }
    // Every connection is closed on the ring before it goes.
    for (_, conn) in conns {
        if let Some(t) = conn.recv {
            ring.cancel(t)?;
        }
        if let Some(t) = conn.send {
            ring.cancel(t)?;
        }
        let close = ring.push(conn.stream.close_op())?;
        ring.detach(close)?;
    }
    ring.close_mailbox(mailbox);
    loop {
        match ring.wait_idle() {
            Ok(()) => return r,
            Err(Error::Interrupted) => {}
            Err(e) => return Err(e),
        }
    }
}

/// A worker's loop, until a stop message comes.
fn serve_conns(
    ring: &mut Ring,
    mailbox: &mut Mailbox<TcpStream>,
    conns: &mut Slab<Conn>,
) -> Result<(), Error> {
    loop {
        match ring.submit_and_wait(1) {
            Ok(_) | Err(Error::Interrupted) => {}
            Err(e) => return Err(e),
        }
        while let Some(c) = ring.next_completion() {
            if mailbox.is_for(&c) {
                match ring.receive(mailbox) {
                    Some(Ok(Message::File(stream))) => {
                        let idx = conns.insert(Conn {
                            stream,
                            recv: None,
                            send: None,
                        });
                        recv(ring, conns, idx)?;
                    }
                    Some(Ok(Message::Data(STOP))) => return Ok(()),
                    Some(Ok(Message::Data(v))) => eprintln!("thread_per_core: stray value {v}"),
                    Some(Err(e)) => eprintln!("thread_per_core: a connection was lost: {e}"),
                    None => {}
                }
            } else {
                on_conn(ring, conns, (c.tag - TAG_CONN) as usize, c.user_data)?;
            }
        }
    }
}

/// Arms connection `idx`'s recv, into `buf` (cleared) or a new buffer.
fn recv(ring: &mut Ring, conns: &mut Slab<Conn>, idx: usize) -> Result<(), Error> {
    recv_into(ring, conns, idx, Vec::with_capacity(RECV_LEN))
}

fn recv_into(
    ring: &mut Ring,
    conns: &mut Slab<Conn>,
    idx: usize,
    mut buf: Vec<u8>,
) -> Result<(), Error> {
    buf.clear();
    let conn = &mut conns[idx];
    let op = conn.stream.fixed().recv_op(buf);
    conn.recv = Some(ring.push_tagged(op, TAG_CONN + idx as u64)?);
    Ok(())
}

/// A result of connection `idx`'s recv or send (told apart by `ud`): what
/// came is sent back, and once all of it is out, the next recv armed. A
/// connection that ends or fails is closed.
fn on_conn(ring: &mut Ring, conns: &mut Slab<Conn>, idx: usize, ud: UserData) -> Result<(), Error> {
    let Some(conn) = conns.get_mut(idx) else {
        return Ok(());
    };
    let tag = TAG_CONN + idx as u64;
    if let Some(mut t) = conn.recv.take_if(|t| t.user_data() == ud) {
        match ring.take(&mut t) {
            None => conn.recv = Some(t),
            Some(Ok((Ok(n), buf))) if n > 0 => {
                let op = conn.stream.fixed().send_op(buf);
                conn.send = Some(ring.push_tagged(op, tag)?);
            }
            // The end of the stream, or an error: closed.
            Some(_) => close(ring, conns, idx)?,
        }
    } else if let Some(mut t) = conn.send.take_if(|t| t.user_data() == ud) {
        match ring.take(&mut t) {
            None => conn.send = Some(t),
            Some(Ok((Ok(n), mut buf))) => {
                buf.drain(..n);
                if buf.is_empty() {
                    recv_into(ring, conns, idx, buf)?;
                } else {
                    // A short send: the rest goes next.
                    let op = conn.stream.fixed().send_op(buf);
                    conn.send = Some(ring.push_tagged(op, tag)?);
                }
            }
            Some(_) => close(ring, conns, idx)?,
        }
    }
    Ok(())
}

/// Closes connection `idx`, with nothing of it in flight, on the ring.
fn close(ring: &mut Ring, conns: &mut Slab<Conn>, idx: usize) -> Result<(), Error> {
    let conn = conns.remove(idx);
    let close = ring.push(conn.stream.close_op())?;
    ring.detach(close)
}
