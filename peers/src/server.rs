//! The process around every rival's event loops: one `SO_REUSEPORT`
//! listener per thread, a thread per listener, the `listening on ADDR`
//! line once every thread is ready, and the exit on SIGINT or SIGTERM.
//!
//! Exit status, as iofd's examples: 0 after a signal, 2 for bad arguments
//! or an address that cannot be bound, 1 when a worker fails.

use std::io::{self, Write as _};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::RawFd;
use std::process::exit;
use std::sync::mpsc;
use std::time::Duration;

use nix::sys::signal::{SigSet, Signal};
use socket2::{Domain, Protocol, Socket, Type};

use crate::args::{self, Config, Kind};

/// iofd's default backlog, which its echo server keeps.
pub const ECHO_BACKLOG: i32 = 1024;
/// The backlog iofd's HTTP server asks for.
pub const HTTP_BACKLOG: i32 = 4096;

/// How long to wait before accepting again after an accept failed (as
/// iofd's examples).
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// What a worker thread gets: its index, its listener (blocking, as bound;
/// a runtime that needs it non-blocking sets that), and the call that says
/// it is ready to accept.
pub struct Start {
    pub index: usize,
    pub listener: std::net::TcpListener,
    pub ready: Ready,
}

/// Told once a worker's runtime is built: the start line waits for every
/// worker's.
pub struct Ready(mpsc::Sender<()>);

impl Ready {
    pub fn done(self) {
        let _ = self.0.send(());
    }
}

/// Binds `addr` with `SO_REUSEADDR` and `SO_REUSEPORT` (as iofd's
/// `ListenOptions::reuse_port`), and listens.
pub fn listen(addr: SocketAddr, backlog: i32) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    Ok(socket.into())
}

/// Runs binary `name` of `kind`: parses the command line, binds a
/// listener per thread, runs `worker` on each in a thread of its own,
/// prints `listening on ADDR` once all of them are ready, and exits 0 on
/// SIGINT or SIGTERM. Never returns.
pub fn main<W>(name: &'static str, kind: Kind, worker: W) -> !
where
    W: Fn(Start, &Config) -> io::Result<()> + Clone + Send + 'static,
{
    let cfg = args::from_env(name, kind);
    let backlog = match kind {
        Kind::Echo => ECHO_BACKLOG,
        Kind::Http => HTTP_BACKLOG,
    };
    let fail = |msg: String, status: i32| -> ! {
        eprintln!("{name}: {msg}");
        exit(status)
    };
    // Blocked before any thread exists: every thread inherits the mask,
    // and the signals wait for `sigwait` below.
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGINT);
    signals.add(Signal::SIGTERM);
    if let Err(e) = signals.thread_block() {
        fail(format!("blocking signals: {e}"), 1);
    }

    let cannot = |addr: SocketAddr, e: io::Error| fail(format!("cannot listen on {addr}: {e}"), 2);
    let first = listen(cfg.addr, backlog).unwrap_or_else(|e| cannot(cfg.addr, e));
    // Port 0 chose a port: the other listeners join that one.
    let addr = first
        .local_addr()
        .unwrap_or_else(|e| fail(format!("local address: {e}"), 1));
    let mut listeners = vec![first];
    for _ in 1..cfg.threads {
        listeners.push(listen(addr, backlog).unwrap_or_else(|e| cannot(addr, e)));
    }

    let (tx, rx) = mpsc::channel();
    for (index, listener) in listeners.into_iter().enumerate() {
        let (worker, cfg) = (worker.clone(), cfg.clone());
        let start = Start {
            index,
            listener,
            ready: Ready(tx.clone()),
        };
        let spawned = std::thread::Builder::new()
            .name(format!("{name}-{index}"))
            .spawn(move || {
                let why = match worker(start, &cfg) {
                    Ok(()) => "stopped".to_owned(),
                    Err(e) => e.to_string(),
                };
                eprintln!("{name}: thread {index}: {why}");
                exit(1);
            });
        if let Err(e) = spawned {
            fail(format!("spawning thread {index}: {e}"), 1);
        }
    }
    drop(tx);
    // A worker that fails before it is ready exits the process itself.
    for _ in 0..cfg.threads {
        if rx.recv().is_err() {
            fail("a worker failed".into(), 1);
        }
    }

    let mut out = io::stdout().lock();
    let _ = writeln!(out, "listening on {addr}").and_then(|()| out.flush());
    drop(out);

    match signals.wait() {
        Ok(_) => exit(0),
        Err(e) => fail(format!("waiting for a signal: {e}"), 1),
    }
}

/// Reports a failed accept, as iofd's examples do; the caller waits
/// [`ACCEPT_BACKOFF`] before the next.
pub fn accept_failed(name: &str, e: &io::Error) {
    eprintln!("{name}: accept: {e}");
}

/// `shutdown(2)` on socket `fd`, its error ignored (the connection is
/// being ended anyway). Both sides: an operation still in flight on the
/// socket in an io_uring runtime ends at once, and the peer sees the end
/// even while the runtime still holds the descriptor. The write side:
/// the peer reads what was sent, then the end.
pub fn shutdown(fd: RawFd, how: Shutdown) {
    let how = match how {
        Shutdown::Read => libc::SHUT_RD,
        Shutdown::Write => libc::SHUT_WR,
        Shutdown::Both => libc::SHUT_RDWR,
    };
    // SAFETY: `shutdown` only reads its integer arguments; on a descriptor
    // that is not a socket (it always is here) it fails with ENOTSOCK.
    unsafe {
        libc::shutdown(fd, how);
    }
}
