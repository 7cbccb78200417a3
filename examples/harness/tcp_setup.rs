//! What a tcp-echo run needs before its first request: the in-process
//! echo server, room for the descriptors, the provided buffers and the
//! connections.

use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use iofd::ring::ops::{Connect, Timeout};
use iofd::ring::{BufRing, Fixed, Ring};
use iofd::sys::Errno;
use iofd::sys::resource::{Resource, Rlimit, prlimit};
use iofd::{Error, EventFd, ListenOptions, TcpListener, TcpStream};

use super::wait;
use crate::Failure;
use crate::cli::Tcp;
use crate::echo_server::Worker;

/// Provided buffers are at most this long; a longer echo takes several.
const MAX_BUF: usize = 64 << 10;
/// The most memory the provided buffers take.
const MAX_POOL: usize = 64 << 20;
/// How long connecting every connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Descriptors the process needs besides its connections.
const SPARE_FDS: u64 = 64;
/// How long the in-process server keeps an idle connection: longer than
/// any run.
const SERVER_IDLE: Duration = Duration::from_secs(3 * 86_400);
/// The time limit on connecting.
const TAG_CONNECT: u64 = u64::MAX - 2;

/// The example echo server's worker, serving on its own thread of this
/// process until stopped.
pub(super) struct InProcess {
    pub(super) addr: SocketAddr,
    stop: Arc<EventFd>,
    thread: Option<JoinHandle<Result<(), Error>>>,
}

impl InProcess {
    /// Listens on 127.0.0.1, on a port the kernel picks, and starts the
    /// worker; returns once it serves.
    pub(super) fn start() -> Result<InProcess, Failure> {
        let failed = |e: Error| Failure::run(format!("starting the in-process echo server: {e}"));
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        let listener =
            TcpListener::bind_with(any, ListenOptions::new().backlog(4096).nodelay(true))
                .map_err(failed)?;
        let addr = listener.local_addr().map_err(failed)?;
        let stop = Arc::new(EventFd::new(0).map_err(failed)?);
        let stops = Arc::new(vec![Arc::clone(&stop)]);
        let (ready, serving) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("echo_server".into())
            .spawn(move || {
                let worker = Worker::new(0, listener, None, stops, SERVER_IDLE);
                let _ = ready.send(worker.as_ref().map(drop).map_err(|e| *e));
                worker?.run()
            })
            .map_err(|e| Failure::run(format!("starting the in-process echo server: {e}")))?;
        let mut server = InProcess {
            addr,
            stop,
            thread: Some(thread),
        };
        match serving.recv() {
            Ok(Ok(())) => Ok(server),
            Ok(Err(e)) => Err(failed(e)),
            Err(_) => Err(server
                .stop_now()
                .err()
                .unwrap_or_else(|| failed(Error::Closed))),
        }
    }

    /// Stops the server once it has closed its connections.
    pub(super) fn stop(mut self) -> Result<(), Failure> {
        self.stop_now()
    }

    fn stop_now(&mut self) -> Result<(), Failure> {
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        let _ = self.stop.signal(1);
        match thread.join() {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Failure::run(format!(
                "the in-process echo server failed: {e}"
            ))),
            Err(_) => Err(Failure::run("the in-process echo server panicked".into())),
        }
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        let _ = self.stop_now();
    }
}

/// Makes room for the connections' descriptors (and the in-process
/// server's, as many again): raises the soft `RLIMIT_NOFILE` to the hard
/// one if it is too low, or says why it cannot.
pub(super) fn allow_descriptors(connections: usize, in_process: bool) -> Result<(), Failure> {
    let per_connection = if in_process { 2 } else { 1 };
    let need = connections as u64 * per_connection + SPARE_FDS;
    let limit = prlimit(Resource::Nofile, None)
        .map_err(|e| Failure::run(format!("reading RLIMIT_NOFILE: {e}")))?;
    if limit.cur >= need {
        return Ok(());
    }
    let why = if in_process {
        format!(" ({connections} of them the in-process server's)")
    } else {
        String::new()
    };
    if limit.max < need {
        return Err(Failure::usage(format!(
            "--connections {connections} needs about {need} descriptors{why}, but the hard RLIMIT_NOFILE is {}: raise it or open fewer connections",
            limit.max
        )));
    }
    // The hard limit may be more than the kernel allows (fs.nr_open).
    for cur in [limit.max, need] {
        let new = Rlimit {
            cur,
            max: limit.max,
        };
        if prlimit(Resource::Nofile, Some(&new)).is_ok() {
            return Ok(());
        }
    }
    Err(Failure::usage(format!(
        "--connections {connections} needs about {need} descriptors{why}, but RLIMIT_NOFILE is {} and cannot be raised",
        limit.cur
    )))
}

/// Registers the provided buffers the echoes land in: room for two
/// buffers per connection per message, at most [`MAX_POOL`] bytes.
pub(super) fn register_bufs(ring: &mut Ring, tcp: &Tcp) -> Result<BufRing, Failure> {
    let len = tcp.size.min(MAX_BUF);
    let want = 2 * tcp.connections * tcp.size.div_ceil(len);
    let fit = 1 << (MAX_POOL / len).ilog2();
    let entries = want.next_power_of_two().clamp(8, fit.min(32_768)) as u16;
    ring.register_buf_ring_any(entries, len as u32)
        .map_err(|e| Failure::run(format!("provided buffers: {e}")))
}

/// Opens `n` connections to `addr`, with `TCP_NODELAY`, in `ring`'s
/// fixed-file table (slot `i` for connection `i`), connected on the ring.
pub(super) fn connect(
    ring: &mut Ring,
    addr: SocketAddr,
    n: usize,
) -> Result<Vec<TcpStream>, Failure> {
    let mut streams = Vec::with_capacity(n);
    for _ in 0..n {
        let socket = TcpStream::unconnected(addr)
            .map_err(|e| Failure::run(format!("opening a socket: {e}")))?;
        socket.set_nodelay(true)?;
        streams.push(socket);
    }
    let fds: Vec<_> = streams.iter().map(AsFd::as_fd).collect();
    ring.register_files(&fds)?;
    let mut connects = Vec::with_capacity(n);
    for i in 0..n {
        let op = Connect::new(Fixed::<TcpStream>::new(i as u32), addr);
        connects.push(ring.push_tagged(op, i as u64)?);
    }
    let limit = ring.push_tagged(Timeout::after(CONNECT_TIMEOUT), TAG_CONNECT)?;
    let mut connected = 0;
    while connected < n {
        wait(ring)?;
        while let Some(c) = ring.next_completion() {
            if c.tag == TAG_CONNECT {
                return Err(Failure::run(format!(
                    "cannot connect to {addr}: {connected} of {n} connections made in {} s",
                    CONNECT_TIMEOUT.as_secs()
                )));
            }
            let Some(token) = connects.get_mut(c.tag as usize) else {
                continue;
            };
            match ring.take(token) {
                None => {}
                Some(Ok(())) => connected += 1,
                Some(Err(Error::Os(Errno::ECONNREFUSED))) => {
                    return Err(Failure::usage(format!(
                        "cannot connect to {addr}: connection refused (is an echo server listening there?)"
                    )));
                }
                Some(Err(e)) => {
                    return Err(Failure::run(format!("cannot connect to {addr}: {e}")));
                }
            }
        }
    }
    ring.cancel(limit)?;
    Ok(streams)
}
