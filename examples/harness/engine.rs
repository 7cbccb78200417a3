//! The three ways a workload runs: through the ring reaped inline, through
//! the ring reaped by a second thread woken by a registered eventfd, and
//! one syscall per operation.

use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use iofd::ring::ops::{Nop, ReadCounter, Timeout, WriteCounter};
use iofd::ring::{Notify, Ring, Scope, ScopedToken, Token};
use iofd::sys::poll::{Events, PollFd, ppoll};
use iofd::{Clock, Error, EventFd, MemFd, TimerFd};

use crate::cli::{Config, Stop, Workload};

/// Bytes per memfd read or write.
pub const IO_BYTES: usize = 4096;
/// The memfd's size: reads and writes rotate through it.
const MEM_BYTES: u64 = 1 << 20;

/// One operation of a workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Nop,
    Signal,
    Read,
    Timer,
    MemWrite,
    MemRead,
}

fn kinds(w: Workload) -> &'static [Kind] {
    match w {
        Workload::Nop => &[Kind::Nop],
        Workload::Eventfd => &[Kind::Signal, Kind::Read],
        Workload::Timer => &[Kind::Timer],
        Workload::Memfd => &[Kind::MemWrite, Kind::MemRead],
        Workload::Mix => &[
            Kind::Nop,
            Kind::Signal,
            Kind::Read,
            Kind::Timer,
            Kind::MemWrite,
            Kind::MemRead,
        ],
        Workload::TcpEcho => unreachable!("tcp-echo runs in tcp.rs"),
    }
}

/// The kernel objects the operations act on.
pub struct Objects {
    /// A semaphore eventfd loaded with 2^32 - 1 units: reads never wait.
    sem: Arc<EventFd>,
    mem: MemFd,
    timerfd: TimerFd,
}

impl Objects {
    pub fn new() -> iofd::Result<Objects> {
        let mem = MemFd::new("iofd-harness")?;
        mem.set_len(MEM_BYTES)?;
        Ok(Objects {
            sem: Arc::new(EventFd::new_semaphore(u32::MAX)?),
            mem,
            timerfd: TimerFd::new()?,
        })
    }
}

/// The offset of memfd operation `seq`.
fn offset(seq: u64) -> u64 {
    (seq * IO_BYTES as u64) % MEM_BYTES
}

/// What a run measured.
pub struct Outcome {
    pub ops: u64,
    pub errors: u64,
    pub elapsed: Duration,
    /// Latency per operation, in nanoseconds.
    pub latency: Histogram<u64>,
    pub syscalls: u64,
    /// Operations completed in each 100 ms interval since the start.
    pub intervals: Vec<u64>,
    /// With `--hlog`: the latency histogram of each 100 ms interval.
    pub interval_latency: Vec<Histogram<u64>>,
}

/// The length of a throughput interval.
pub const INTERVAL: Duration = Duration::from_millis(100);

/// Whether recorders keep a latency histogram per interval (`--hlog`),
/// set once by `main` before any run.
pub static INTERVAL_HISTOGRAMS: AtomicBool = AtomicBool::new(false);

/// Counts and times completed operations.
pub struct Recorder {
    ops: u64,
    errors: u64,
    latency: Histogram<u64>,
    start: Instant,
    /// Completions per interval, up to the last clock check.
    intervals: Vec<u64>,
    /// Completions since the last clock check.
    unsorted: u64,
    /// How many completions go between clock checks: reading the clock on
    /// every one would cost as much as a NOP, so the stride grows while
    /// checks come less than a millisecond apart and shrinks when they are
    /// more than four apart (every completion, at low rates).
    stride: u64,
    last_check: Instant,
    /// Per-interval latency (`--hlog`): the finished intervals' and the
    /// current one's.
    interval_latency: Option<(Vec<Histogram<u64>>, Histogram<u64>)>,
}

impl Recorder {
    pub fn new() -> Recorder {
        let now = Instant::now();
        Recorder {
            ops: 0,
            errors: 0,
            latency: histogram(),
            start: now,
            intervals: Vec::new(),
            unsorted: 0,
            stride: 1,
            last_check: now,
            interval_latency: INTERVAL_HISTOGRAMS
                .load(Ordering::Relaxed)
                .then(|| (Vec::new(), histogram())),
        }
    }

    pub fn record(&mut self, took: Duration, ok: bool) {
        self.ops += 1;
        if !ok {
            self.errors += 1;
        }
        let ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX).max(1);
        self.latency.saturating_record(ns);
        if let Some((_, current)) = &mut self.interval_latency {
            current.saturating_record(ns);
        }
        self.unsorted += 1;
        if self.unsorted >= self.stride {
            self.sort(Instant::now());
        }
    }

    /// Counts intervals from `at` (the run's start, when the recorder was
    /// made before its setup); call before any record.
    pub fn start_at(&mut self, at: Instant) {
        self.start = at;
        self.last_check = at;
    }

    /// Counts the completions since the last clock check in the interval
    /// `now` falls in.
    fn sort(&mut self, now: Instant) {
        let gap = now.duration_since(self.last_check);
        if gap < Duration::from_millis(1) {
            self.stride = (self.stride * 2).min(4096);
        } else if gap > Duration::from_millis(4) {
            self.stride = (self.stride / 2).max(1);
        }
        self.last_check = now;
        let at = (now.duration_since(self.start).as_nanos() / INTERVAL.as_nanos()) as usize;
        if self.intervals.len() <= at {
            self.intervals.resize(at + 1, 0);
        }
        self.intervals[at] += self.unsorted;
        self.unsorted = 0;
        if let Some((done, current)) = &mut self.interval_latency {
            // Each finished interval gets a histogram, empty or not.
            while done.len() < at {
                done.push(std::mem::replace(current, histogram()));
            }
        }
    }

    /// Operations recorded so far.
    pub fn ops(&self) -> u64 {
        self.ops
    }

    pub fn outcome(mut self, elapsed: Duration, syscalls: u64) -> Outcome {
        self.sort(Instant::now());
        let interval_latency = match self.interval_latency {
            Some((mut done, current)) => {
                done.push(current);
                done
            }
            None => Vec::new(),
        };
        Outcome {
            ops: self.ops,
            errors: self.errors,
            elapsed,
            latency: self.latency,
            syscalls,
            intervals: self.intervals,
            interval_latency,
        }
    }
}

/// An empty latency histogram: 1 ns to 1 hour, 3 significant figures.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("histogram bounds")
}

/// Whether a run is over.
fn over(stop: Stop, pushed: u64, start: Instant) -> bool {
    match stop {
        Stop::Ops(n) => pushed >= n,
        Stop::Time(d) => start.elapsed() >= d,
    }
}

/// How many operations may still be pushed.
fn remaining(stop: Stop, pushed: u64) -> u64 {
    match stop {
        Stop::Ops(n) => n.saturating_sub(pushed),
        Stop::Time(_) => u64::MAX,
    }
}

/// Release times for a paced run, counted in operations: operation `k`
/// (from 0) is due at `start + (k + 1) / rate` on the monotonic clock, and
/// a batch goes when its last operation is due.
///
/// Why `k + 1` and not `k`: a rate of `r` per second gives each operation
/// a slot of `1 / r`, and an operation is released at the end of its slot,
/// so `n` operations take at least `n / r` and the reported ops/s (ops over
/// wall time since the start) is the requested rate. Releasing operation 0
/// at the start would let `n` operations span only `(n - 1) / r` and report
/// `r * n / (n - 1)`; counting whole batches of `--batch` from 0, as this
/// once did, released a run shorter than a batch (`-r 1 -n 3` with the
/// default batch of 16) at once, reported as 25,000 ops/s (issue 14).
/// Counting operations, not batches, also keeps a short batch (the end of
/// a run or of a wave) from being charged a full batch's time.
struct Pacer {
    start: Duration,
    rate: Option<u64>,
    released: u64,
}

impl Pacer {
    /// Starts the clock: make it after the run's own start, so that the
    /// run's wall time covers every release.
    fn new(cfg: &Config) -> iofd::Result<Pacer> {
        Ok(Pacer {
            start: Clock::Monotonic.now()?,
            rate: cfg.rate,
            released: 0,
        })
    }

    /// When a batch of the next `ops` operations may go, or `None` when
    /// unpaced.
    fn release(&mut self, ops: u64) -> Option<Duration> {
        let rate = self.rate?;
        self.released += ops;
        let ns = u128::from(self.released) * 1_000_000_000 / u128::from(rate);
        Some(self.start + Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX)))
    }
}

pub fn build_ring(cfg: &Config) -> iofd::Result<Ring> {
    let b = Ring::builder(cfg.entries)
        .single_issuer(cfg.single_issuer)
        .defer_taskrun(cfg.defer_taskrun)
        .coop_taskrun(cfg.coop_taskrun)
        .register_ring_fd(cfg.register_ring_fd);
    match cfg.sqpoll {
        Some(idle) => b.sqpoll(idle).build(),
        None => b.build(),
    }
}

/// A scoped operation in flight.
enum Scoped<'s, 'e> {
    Nop(ScopedToken<'s, Nop>),
    Signal(ScopedToken<'s, WriteCounter<&'e EventFd>>),
    Read(ScopedToken<'s, ReadCounter<&'e EventFd>>),
    Timer(ScopedToken<'s, Timeout>),
    MemWrite(ScopedToken<'s, iofd::ring::ops::WriteAt<&'e MemFd>>),
    MemRead(ScopedToken<'s, iofd::ring::ops::ReadAt<&'e MemFd>>),
}

impl<'s, 'e> Scoped<'s, 'e> {
    /// Its result, once it has come: `Some(ok)`.
    fn take(&mut self, s: &mut Scope<'s, 'e>) -> Option<bool> {
        Some(match self {
            Scoped::Nop(t) => s.take(t)?.is_ok(),
            Scoped::Signal(t) => s.take(t)?.is_ok(),
            Scoped::Read(t) => s.take(t)?.is_ok(),
            Scoped::Timer(t) => s.take(t)?.is_ok(),
            Scoped::MemWrite(t) => s.take(t)?.is_ok_and(|n| n == IO_BYTES),
            Scoped::MemRead(t) => s.take(t)?.is_ok_and(|n| n == IO_BYTES),
        })
    }
}

/// Takes every scoped result that has come, timing each from its push.
fn collect<'s, 'e>(
    s: &mut Scope<'s, 'e>,
    pending: &mut Vec<(Scoped<'s, 'e>, Instant)>,
    rec: &mut Recorder,
    done: &AtomicU64,
) {
    pending.retain_mut(|(op, t0)| match op.take(s) {
        Some(ok) => {
            rec.record(t0.elapsed(), ok);
            false
        }
        None => true,
    });
    done.store(rec.ops, Ordering::Relaxed);
}

/// The ring, reaped by the submitting thread: waves of `depth` operations
/// in a scope (memfd buffers are lent to the kernel for the wave).
pub fn ring_inline(cfg: &Config, obj: &Objects, done: &AtomicU64) -> iofd::Result<Outcome> {
    let mut ring = build_ring(cfg)?;
    let kinds = kinds(cfg.workload);
    let mut bufs = vec![[0x5au8; IO_BYTES]; cfg.depth];
    let mut rec = Recorder::new();
    let mut seq = 0u64;
    let start = Instant::now();
    let mut pacer = Pacer::new(cfg)?;
    while !over(cfg.stop, seq, start) {
        let wave = remaining(cfg.stop, seq).min(cfg.depth as u64) as usize;
        ring.scope(|s| -> iofd::Result<()> {
            let mut free = bufs.iter_mut();
            let mut pending: Vec<(Scoped<'_, '_>, Instant)> = Vec::with_capacity(wave);
            let mut pushed = 0;
            while pushed < wave {
                let n = cfg.batch.min(wave - pushed);
                if let Some(at) = pacer.release(n as u64) {
                    // Wait for the release time on a ring timer, taking the
                    // results that come meanwhile.
                    let mut release = s.push(Timeout::at(Clock::Monotonic, at))?;
                    loop {
                        match s.take(&mut release) {
                            Some(r) => {
                                r?;
                                break;
                            }
                            None => {
                                s.submit_and_wait(1)?;
                                collect(s, &mut pending, &mut rec, done);
                            }
                        }
                    }
                }
                for _ in 0..n {
                    let kind = kinds[(seq % kinds.len() as u64) as usize];
                    let op = match kind {
                        Kind::Nop => Scoped::Nop(s.push(Nop::new())?),
                        Kind::Signal => Scoped::Signal(s.push(obj.sem.signal_op(1))?),
                        Kind::Read => Scoped::Read(s.push(obj.sem.read_op())?),
                        Kind::Timer => Scoped::Timer(s.push(Timeout::after(cfg.timer))?),
                        Kind::MemWrite | Kind::MemRead => {
                            let buf = free.next().ok_or(Error::InvalidParam("out of buffers"))?;
                            if kind == Kind::MemWrite {
                                Scoped::MemWrite(
                                    s.push_into(obj.mem.write_at_op(offset(seq)), buf)?,
                                )
                            } else {
                                Scoped::MemRead(s.push_into(obj.mem.read_at_op(offset(seq)), buf)?)
                            }
                        }
                    };
                    pending.push((op, Instant::now()));
                    seq += 1;
                    pushed += 1;
                }
                s.submit()?;
            }
            while !pending.is_empty() {
                s.submit_and_wait(1)?;
                collect(s, &mut pending, &mut rec, done);
            }
            Ok(())
        })?;
    }
    let elapsed = start.elapsed();
    Ok(rec.outcome(elapsed, ring.enters()))
}

/// A driver-owned operation in flight (the thread reaper's kinds).
enum Owned {
    Nop(Token<Nop>),
    Signal(Token<WriteCounter<Arc<EventFd>>>),
    Read(Token<ReadCounter<Arc<EventFd>>>),
    Timer(Token<Timeout>),
}

impl Owned {
    fn take(&mut self, ring: &mut Ring) -> Option<bool> {
        Some(match self {
            Owned::Nop(t) => ring.take(t)?.is_ok(),
            Owned::Signal(t) => ring.take(t)?.is_ok(),
            Owned::Read(t) => ring.take(t)?.is_ok(),
            Owned::Timer(t) => ring.take(t)?.is_ok(),
        })
    }
}

/// What the submitting and the reaping thread share.
struct Inner {
    ring: Ring,
    pending: Vec<(Owned, Instant)>,
    release: Option<Token<Timeout>>,
    rec: Recorder,
    stop: bool,
    failed: Option<Error>,
}

/// The ring, fed by this thread and reaped by a second one that sleeps on
/// an eventfd registered with the ring (`Notify::All`): the shape of a ring
/// joined to an epoll or tokio loop.
pub fn ring_thread(cfg: &Config, obj: &Objects, done: &Arc<AtomicU64>) -> iofd::Result<Outcome> {
    let mut ring = build_ring(cfg)?;
    let notify = Arc::new(EventFd::new(0)?);
    ring.register_eventfd(&notify, Notify::All)?;
    let shared = Arc::new((
        Mutex::new(Inner {
            ring,
            pending: Vec::with_capacity(cfg.depth),
            release: None,
            rec: Recorder::new(),
            stop: false,
            failed: None,
        }),
        Condvar::new(),
    ));
    let wakeups = Arc::new(AtomicU64::new(0));
    let reaper = {
        let (shared, notify, done, wakeups) = (
            Arc::clone(&shared),
            Arc::clone(&notify),
            Arc::clone(done),
            Arc::clone(&wakeups),
        );
        std::thread::spawn(move || reap_loop(&shared, &notify, &done, &wakeups))
    };
    let kinds = kinds(cfg.workload);
    let (lock, cv) = &*shared;
    let mut seq = 0u64;
    let start = Instant::now();
    let mut pacer = Pacer::new(cfg)?;
    let fed = (|| -> iofd::Result<()> {
        while !over(cfg.stop, seq, start) {
            let n = (cfg.batch as u64).min(remaining(cfg.stop, seq)) as usize;
            if let Some(at) = pacer.release(n as u64) {
                let mut g = lock.lock().expect("lock");
                g.release = Some(g.ring.push(Timeout::at(Clock::Monotonic, at))?);
                g.ring.submit()?;
                let g = cv
                    .wait_while(g, |g| g.release.is_some() && g.failed.is_none())
                    .expect("lock");
                drop(g);
            }
            let mut g = cv
                .wait_while(lock.lock().expect("lock"), |g| {
                    g.pending.len() + n > cfg.depth && g.failed.is_none()
                })
                .expect("lock");
            if let Some(e) = g.failed.take() {
                return Err(e);
            }
            for _ in 0..n {
                let op = match kinds[(seq % kinds.len() as u64) as usize] {
                    Kind::Nop => Owned::Nop(g.ring.push(Nop::new())?),
                    Kind::Signal => Owned::Signal(g.ring.push(obj.sem.signal_op_shared(1))?),
                    Kind::Read => Owned::Read(g.ring.push(obj.sem.read_op_shared())?),
                    Kind::Timer => Owned::Timer(g.ring.push(Timeout::after(cfg.timer))?),
                    Kind::MemWrite | Kind::MemRead => {
                        return Err(Error::InvalidParam("memfd operations need --reaper inline"));
                    }
                };
                g.pending.push((op, Instant::now()));
                seq += 1;
            }
            g.ring.submit()?;
        }
        Ok(())
    })();
    let mut g = lock.lock().expect("lock");
    g.stop = true;
    drop(g);
    notify.signal(1)?;
    reaper.join().expect("reaper thread");
    let elapsed = start.elapsed();
    let mut inner = match Arc::try_unwrap(shared) {
        Ok((m, _)) => m.into_inner().expect("lock"),
        Err(_) => unreachable!("the reaper has exited"),
    };
    fed?;
    if let Some(e) = inner.failed.take() {
        return Err(e);
    }
    inner.ring.unregister_eventfd()?;
    let syscalls = inner.ring.enters() + wakeups.load(Ordering::Relaxed);
    Ok(inner.rec.outcome(elapsed, syscalls))
}

/// The reaping thread: sleep on the registered eventfd, then reap.
fn reap_loop(
    shared: &(Mutex<Inner>, Condvar),
    notify: &EventFd,
    done: &AtomicU64,
    wakeups: &AtomicU64,
) {
    let (lock, cv) = shared;
    loop {
        // Sleep until the ring signals a completion (or 50 ms pass, to
        // notice the end of the run).
        let mut fds = [PollFd::new(notify.as_fd(), Events::IN)];
        let _ = ppoll(&mut fds, Some(Duration::from_millis(50)));
        let mut counter = 0;
        let _ = notify.wait_into(&mut counter);
        wakeups.fetch_add(2, Ordering::Relaxed); // the ppoll and the read
        let mut g = lock.lock().expect("lock");
        let g = &mut *g;
        if let Err(e) = g.ring.reap() {
            g.failed = Some(e);
            cv.notify_all();
            return;
        }
        let Inner {
            ring,
            pending,
            rec,
            release,
            ..
        } = g;
        pending.retain_mut(|(op, t0)| match op.take(ring) {
            Some(ok) => {
                rec.record(t0.elapsed(), ok);
                false
            }
            None => true,
        });
        if let Some(t) = release
            && ring.take(t).is_some()
        {
            *release = None;
        }
        done.store(rec.ops, Ordering::Relaxed);
        cv.notify_all();
        if g.stop && g.pending.is_empty() {
            return;
        }
    }
}

/// One syscall (or three, for a timer) per operation, through the handle
/// methods.
pub fn baseline(cfg: &Config, obj: &Objects, done: &AtomicU64) -> iofd::Result<Outcome> {
    let kinds = kinds(cfg.workload);
    let mut rec = Recorder::new();
    let mut buf = [0x5au8; IO_BYTES];
    let mut syscalls = 0u64;
    let mut seq = 0u64;
    let start = Instant::now();
    let mut pacer = Pacer::new(cfg)?;
    while !over(cfg.stop, seq, start) {
        let n = (cfg.batch as u64).min(remaining(cfg.stop, seq));
        if let Some(at) = pacer.release(n) {
            let now = Clock::Monotonic.now()?;
            std::thread::sleep(at.saturating_sub(now));
        }
        for _ in 0..n {
            let kind = kinds[(seq % kinds.len() as u64) as usize];
            let t0 = Instant::now();
            let ok = match kind {
                Kind::Nop => {
                    std::hint::black_box(iofd::sys::process::getppid());
                    syscalls += 1;
                    true
                }
                Kind::Signal => {
                    syscalls += 1;
                    obj.sem.signal(1).is_ok()
                }
                Kind::Read => {
                    syscalls += 1;
                    obj.sem.wait().is_ok()
                }
                Kind::Timer => {
                    // A zero timerfd value disarms: arm for 1 ns at least.
                    let delay = cfg.timer.max(Duration::from_nanos(1));
                    obj.timerfd.arm(delay, Duration::ZERO)?;
                    let mut fds = [PollFd::new(obj.timerfd.as_fd(), Events::IN)];
                    ppoll(&mut fds, None)?;
                    syscalls += 3;
                    obj.timerfd.expirations().is_ok()
                }
                Kind::MemWrite => {
                    syscalls += 1;
                    obj.mem
                        .write_at(&buf, offset(seq))
                        .is_ok_and(|n| n == IO_BYTES)
                }
                Kind::MemRead => {
                    syscalls += 1;
                    obj.mem
                        .read_at(&mut buf, offset(seq))
                        .is_ok_and(|n| n == IO_BYTES)
                }
            };
            rec.record(t0.elapsed(), ok);
            seq += 1;
        }
        done.store(rec.ops, Ordering::Relaxed);
    }
    let elapsed = start.elapsed();
    Ok(rec.outcome(elapsed, syscalls))
}
