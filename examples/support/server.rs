//! What the example servers share around their event loops: the exit
//! status of a run, and starting one worker per thread — signals blocked
//! for a signalfd, one `SO_REUSEPORT` listener each, a stop eventfd each,
//! the `listening on ADDR` line — then waiting for all of them.

use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use iofd::ring::{BufRing, Ring};
use iofd::{Error, EventFd, ListenOptions, SigSet, Signal, SignalFd, TcpListener};

/// The listener's multishot accept, or the timeout before it is re-armed.
pub const TAG_ACCEPT: u64 = 0;
/// The signalfd read (the first worker only).
pub const TAG_SIGNAL: u64 = 1;
/// The read of the worker's stop eventfd.
pub const TAG_STOP: u64 = 2;
/// Connection `n` of a worker's slab is tagged `TAG_CONN + n`.
pub const TAG_CONN: u64 = 16;

/// How long to wait before re-arming an accept that failed.
pub const ACCEPT_BACKOFF: std::time::Duration = std::time::Duration::from_millis(100);

/// Sizes of each worker's provided buffer ring.
const BUF_ENTRIES: u16 = 256;
const BUF_LEN: u32 = 4096;

/// What every example server's command line gives: `--addr IP:PORT` and
/// `--threads N` (1 to 1024).
pub struct Options {
    pub addr: SocketAddr,
    pub threads: usize,
}

/// Parses `--addr` and `--threads` (as `--name value` or `--name=value`)
/// over the defaults given, and the server's own options, named in
/// `extra` and handed to `set` with their values. `Ok(None)` for
/// `-h`/`--help`; `Err` with a one-line message for anything else.
pub fn parse_options(
    mut args: impl Iterator<Item = String>,
    mut opts: Options,
    extra: &[&str],
    mut set: impl FnMut(&str, &str) -> Result<(), String>,
) -> Result<Option<Options>, String> {
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_owned(), Some(v.to_owned())),
            _ => (arg, None),
        };
        if name == "-h" || name == "--help" {
            return Ok(None);
        }
        if !matches!(name.as_str(), "--addr" | "--threads") && !extra.contains(&name.as_str()) {
            return Err(format!("unknown option '{name}'"));
        }
        let value = inline
            .or_else(|| args.next())
            .ok_or_else(|| format!("{name} needs a value"))?;
        match name.as_str() {
            "--addr" => {
                opts.addr = value
                    .parse()
                    .map_err(|e| format!("invalid --addr '{value}' (want IP:PORT): {e}"))?;
            }
            "--threads" => match value.parse::<usize>() {
                Ok(n) if (1..=1024).contains(&n) => opts.threads = n,
                _ => return Err(format!("invalid --threads '{value}' (want 1 to 1024)")),
            },
            other => set(other, &value)?,
        }
    }
    Ok(Some(opts))
}

/// A worker's ring and its provided buffers. The ring is this thread's
/// alone: completion work is deferred to its own waits (DEFER_TASKRUN)
/// instead of interrupting it. The completion queue has room for a recv
/// and a send completion of each of a thousand connections at once: past
/// it, completions wait in the kernel's overflow list, which costs a
/// flush. Group ids are unique in the whole process: any free one.
pub fn worker_ring() -> Result<(Ring, BufRing), Error> {
    let mut ring = Ring::builder(256)
        .cq_entries(4096)
        .defer_taskrun(true)
        .build()?;
    let bufs = ring.register_buf_ring_any(BUF_ENTRIES, BUF_LEN)?;
    Ok((ring, bufs))
}

/// Why a server stops without serving: the message, and the exit status.
pub struct Fatal(pub String, pub u8);

/// What a worker gets: its index, its listener, the signalfd (the first
/// worker only), and every worker's stop eventfd.
pub type Start = (
    usize,
    TcpListener,
    Option<Arc<SignalFd>>,
    Arc<Vec<Arc<EventFd>>>,
);

/// The exit of a server named `name`: usage for `--help` (`Ok(None)`),
/// status 2 with the usage for bad arguments, then `serve`'s outcome.
pub fn run<C>(
    name: &str,
    usage: &str,
    args: Result<Option<C>, String>,
    serve: impl FnOnce(C) -> Result<(), Fatal>,
) -> ExitCode {
    let cfg = match args {
        Ok(Some(cfg)) => cfg,
        Ok(None) => {
            println!("{usage}");
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("{name}: {msg}\n{usage}");
            return ExitCode::from(2);
        }
    };
    match serve(cfg) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fatal(msg, status)) => {
            eprintln!("{name}: {msg}");
            ExitCode::from(status)
        }
    }
}

/// Binds `threads` listeners on `addr` with `opts` (plus `SO_REUSEPORT`),
/// runs `worker` on each (this thread runs the first, which reads the
/// signals), prints `listening on ADDR`, and waits for all of them. A
/// worker that fails, or ends, tells the others to stop.
pub fn serve(
    name: &str,
    addr: SocketAddr,
    threads: usize,
    opts: ListenOptions,
    worker: impl Fn(Start) -> Result<(), Error> + Clone + Send + 'static,
) -> Result<(), Fatal> {
    fn runtime(what: &'static str) -> impl Fn(Error) -> Fatal {
        move |e| Fatal(format!("{what}: {e}"), 1)
    }
    // Blocked before any thread exists, so that every thread inherits the
    // mask and the signals wait for the signalfd.
    let signals = SigSet::from(Signal::INT).with(Signal::TERM);
    signals
        .block_thread()
        .map_err(runtime("blocking signals"))?;
    let sfd = Arc::new(SignalFd::new(&signals).map_err(runtime("signalfd"))?);

    let opts = opts.reuse_port(true);
    let cannot_bind =
        |addr: SocketAddr| move |e: Error| Fatal(format!("cannot listen on {addr}: {e}"), 2);
    let first = TcpListener::bind_with(addr, opts).map_err(cannot_bind(addr))?;
    // Port 0 chose a port: the other listeners join that one.
    let addr = first.local_addr().map_err(runtime("local address"))?;
    let mut listeners = vec![first];
    for _ in 1..threads {
        listeners.push(TcpListener::bind_with(addr, opts).map_err(cannot_bind(addr))?);
    }
    let stops = (0..threads)
        .map(|_| EventFd::new(0).map(Arc::new))
        .collect::<Result<Vec<_>, _>>()
        .map_err(runtime("eventfd"))?;
    let stops = Arc::new(stops);

    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "listening on {addr}").and_then(|()| out.flush());
    drop(out);

    let mut listeners = listeners.into_iter().enumerate();
    let (_, first) = listeners.next().expect("at least one thread");
    let mut handles = Vec::new();
    for (i, listener) in listeners {
        let all = Arc::clone(&stops);
        let worker = worker.clone();
        let tname = name.to_owned();
        let spawned = std::thread::Builder::new()
            .name(format!("{name}-{i}"))
            .spawn(move || run_worker(&tname, &worker, (i, listener, None, all)));
        match spawned {
            Ok(h) => handles.push(h),
            Err(e) => {
                ring_all(&stops);
                for h in handles {
                    let _ = h.join();
                }
                return Err(Fatal(format!("spawning thread {i}: {e}"), 1));
            }
        }
    }
    let mut failed = run_worker(name, &worker, (0, first, Some(sfd), Arc::clone(&stops))).is_err();
    for h in handles {
        failed |= !matches!(h.join(), Ok(Ok(())));
    }
    if failed {
        return Err(Fatal("a worker failed".into(), 1));
    }
    Ok(())
}

/// Runs `worker` on `start`, reporting its error; then tells the other
/// workers to stop (one that failed takes the others down with it).
fn run_worker(
    name: &str,
    worker: &impl Fn(Start) -> Result<(), Error>,
    start: Start,
) -> Result<(), Error> {
    let (i, stops) = (start.0, Arc::clone(&start.3));
    let r = worker(start);
    if let Err(e) = &r {
        eprintln!("{name}: thread {i}: {e}");
    }
    ring_all(&stops);
    r
}

/// Tells every worker to stop (a worker that has stopped ignores it).
pub fn ring_all(stops: &[Arc<EventFd>]) {
    for s in stops {
        let _ = s.signal(1);
    }
}
