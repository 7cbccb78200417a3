//! The three ways a workload runs: through the ring reaped inline, through
//! the ring reaped by a second thread woken by a registered eventfd, and
//! one syscall per operation.

use std::os::fd::AsFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use iofd::ring::ops::{Nop, ReadCounter, Timeout, WriteCounter};
use iofd::ring::{Notify, Ring, Scope, ScopedToken, Token};
use iofd::sys::poll::{Events, PollFd, ppoll};
use iofd::{Clock, Error, EventFd, MemFd, TimerFd};

use crate::cli::{Config, Workload};
use crate::measure::{Limit, Pacer, Start, stall};
use crate::pin::{Pinned, Role};
use crate::recorder::{Outcome, Recorder};

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

/// Takes every scoped result that has come, timing each from its start.
fn collect<'s, 'e>(
    s: &mut Scope<'s, 'e>,
    pending: &mut Vec<(Scoped<'s, 'e>, Start)>,
    rec: &mut Recorder,
    done: &AtomicU64,
) {
    pending.retain_mut(|(op, t0)| match op.take(s) {
        Some(ok) => {
            rec.complete(*t0, ok);
            false
        }
        None => true,
    });
    done.store(rec.ops(), Ordering::Relaxed);
}

/// The ring, reaped by the submitting thread: waves of `depth` operations
/// in a scope (memfd buffers are lent to the kernel for the wave).
pub fn ring_inline(cfg: &Config, obj: &Objects, done: &AtomicU64) -> iofd::Result<Outcome> {
    let _pin = Pinned::this_thread(&cfg.cpus, Role::Submitter)?;
    let mut ring = build_ring(cfg)?;
    let kinds = kinds(cfg.workload);
    let mut bufs = vec![[0x5au8; IO_BYTES]; cfg.depth];
    let mut seq = 0u64;
    let start = Instant::now();
    let mut rec = Recorder::for_run(cfg, start);
    let mut limit = Limit::new(cfg, start);
    let mut pacer = Pacer::new(cfg)?;
    while !limit.over(seq) {
        let wave = limit.remaining(seq).min(cfg.depth as u64) as usize;
        ring.scope(|s| -> iofd::Result<()> {
            let mut free = bufs.iter_mut();
            let mut pending: Vec<(Scoped<'_, '_>, Start)> = Vec::with_capacity(wave);
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
                stall(cfg, seq, n as u64);
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
                    pending.push((op, Start::now(pacer.due())));
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
    pending: Vec<(Owned, Start)>,
    release: Option<Token<Timeout>>,
    rec: Recorder,
    stop: bool,
    failed: Option<Error>,
}

/// The ring, fed by this thread and reaped by a second one that sleeps on
/// an eventfd registered with the ring (`Notify::All`): the shape of a ring
/// joined to an epoll or tokio loop.
pub fn ring_thread(cfg: &Config, obj: &Objects, done: &Arc<AtomicU64>) -> iofd::Result<Outcome> {
    let _pin = Pinned::this_thread(&cfg.cpus, Role::Submitter)?;
    let mut ring = build_ring(cfg)?;
    let notify = Arc::new(EventFd::new(0)?);
    ring.register_eventfd(&notify, Notify::All)?;
    let shared = Arc::new((
        Mutex::new(Inner {
            ring,
            pending: Vec::with_capacity(cfg.depth),
            release: None,
            // Replaced by a recorder for the run when it starts.
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
        let cpus = cfg.cpus.clone();
        std::thread::spawn(move || {
            let pin = Pinned::this_thread(&cpus, Role::Reaper);
            match pin {
                Ok(_pin) => reap_loop(&shared, &notify, &done, &wakeups),
                Err(e) => {
                    let (lock, cv) = &*shared;
                    lock.lock().expect("lock").failed = Some(e);
                    cv.notify_all();
                }
            }
        })
    };
    let kinds = kinds(cfg.workload);
    let (lock, cv) = &*shared;
    let mut seq = 0u64;
    let start = Instant::now();
    lock.lock().expect("lock").rec = Recorder::for_run(cfg, start);
    let mut limit = Limit::new(cfg, start);
    let mut pacer = Pacer::new(cfg)?;
    let fed = (|| -> iofd::Result<()> {
        while !limit.over(seq) {
            let n = (cfg.batch as u64).min(limit.remaining(seq)) as usize;
            if let Some(at) = pacer.release(n as u64) {
                let mut g = lock.lock().expect("lock");
                g.release = Some(g.ring.push(Timeout::at(Clock::Monotonic, at))?);
                g.ring.submit()?;
                let g = cv
                    .wait_while(g, |g| g.release.is_some() && g.failed.is_none())
                    .expect("lock");
                drop(g);
            }
            // Outside the lock: the reaper goes on reaping.
            stall(cfg, seq, n as u64);
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
                g.pending.push((op, Start::now(pacer.due())));
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
                rec.complete(*t0, ok);
                false
            }
            None => true,
        });
        if let Some(t) = release
            && ring.take(t).is_some()
        {
            *release = None;
        }
        done.store(rec.ops(), Ordering::Relaxed);
        cv.notify_all();
        if g.stop && g.pending.is_empty() {
            return;
        }
    }
}

/// One syscall (or three, for a timer) per operation, through the handle
/// methods.
pub fn baseline(cfg: &Config, obj: &Objects, done: &AtomicU64) -> iofd::Result<Outcome> {
    let _pin = Pinned::this_thread(&cfg.cpus, Role::Submitter)?;
    let kinds = kinds(cfg.workload);
    let mut buf = [0x5au8; IO_BYTES];
    let mut syscalls = 0u64;
    let mut seq = 0u64;
    let start = Instant::now();
    let mut rec = Recorder::for_run(cfg, start);
    let mut limit = Limit::new(cfg, start);
    let mut pacer = Pacer::new(cfg)?;
    while !limit.over(seq) {
        let n = (cfg.batch as u64).min(limit.remaining(seq));
        if let Some(at) = pacer.release(n) {
            let now = Clock::Monotonic.now()?;
            std::thread::sleep(at.saturating_sub(now));
        }
        stall(cfg, seq, n);
        for _ in 0..n {
            let kind = kinds[(seq % kinds.len() as u64) as usize];
            let t0 = Start::now(pacer.due());
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
            rec.complete(t0, ok);
            seq += 1;
        }
        done.store(rec.ops(), Ordering::Relaxed);
    }
    let elapsed = start.elapsed();
    Ok(rec.outcome(elapsed, syscalls))
}
