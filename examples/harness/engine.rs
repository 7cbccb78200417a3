//! The three ways a workload runs: through the ring reaped inline (in
//! `inline.rs`), through the ring reaped by a second thread woken by a
//! registered eventfd, and one syscall per operation.

use std::os::fd::AsFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use iofd::ring::ops::{Nop, ReadBuf, ReadCounter, Timeout, WriteBuf, WriteCounter};
use iofd::ring::{Notify, Op, Ring, Token};
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
    mem: Arc<MemFd>,
    timerfd: TimerFd,
}

impl Objects {
    pub fn new() -> iofd::Result<Objects> {
        let mem = MemFd::new("iofd-harness")?;
        mem.set_len(MEM_BYTES)?;
        Ok(Objects {
            sem: Arc::new(EventFd::new_semaphore(u32::MAX)?),
            mem: Arc::new(mem),
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

/// A buffer a memfd operation owns while it is in flight.
type Buf = Box<[u8]>;

/// The buffers of `n` memfd operations in flight.
fn buffers(n: usize) -> Vec<Buf> {
    (0..n)
        .map(|_| vec![0x5au8; IO_BYTES].into_boxed_slice())
        .collect()
}

/// A driver-owned operation in flight: it owns what it needs (a shared
/// handle, a memfd buffer), so it stays in flight across any number of
/// reaps, on either thread.
enum Owned {
    Nop(Token<Nop>),
    Signal(Token<WriteCounter<Arc<EventFd>>>),
    Read(Token<ReadCounter<Arc<EventFd>>>),
    Timer(Token<Timeout>),
    MemWrite(Token<WriteBuf<Arc<MemFd>, Buf>>),
    MemRead(Token<ReadBuf<Arc<MemFd>, Buf>>),
}

/// Pushes `op`, tagged when `tag` is given.
fn put<O: Op + 'static>(ring: &mut Ring, op: O, tag: Option<u64>) -> iofd::Result<Token<O>>
where
    O::Storage: Sized,
{
    match tag {
        Some(tag) => ring.push_tagged(op, tag),
        None => ring.push(op),
    }
}

impl Owned {
    /// Pushes operation `seq` of the workload (a memfd one takes a buffer
    /// from `bufs`), tagged with `tag` when given.
    pub fn push(
        ring: &mut Ring,
        cfg: &Config,
        obj: &Objects,
        seq: u64,
        tag: Option<u64>,
        bufs: &mut Vec<Buf>,
    ) -> iofd::Result<Owned> {
        let kinds = kinds(cfg.workload);
        Ok(match kinds[(seq % kinds.len() as u64) as usize] {
            Kind::Nop => Owned::Nop(put(ring, Nop::new(), tag)?),
            Kind::Signal => Owned::Signal(put(ring, obj.sem.signal_op_shared(1), tag)?),
            Kind::Read => Owned::Read(put(ring, obj.sem.read_op_shared(), tag)?),
            Kind::Timer => Owned::Timer(put(ring, Timeout::after(cfg.timer), tag)?),
            kind @ (Kind::MemWrite | Kind::MemRead) => {
                let buf = bufs.pop().ok_or(Error::InvalidParam("out of buffers"))?;
                let at = offset(seq);
                if kind == Kind::MemWrite {
                    Owned::MemWrite(put(
                        ring,
                        obj.mem.write_at_op_shared(at).with_buf(buf),
                        tag,
                    )?)
                } else {
                    Owned::MemRead(put(ring, obj.mem.read_at_op_shared(at).with_buf(buf), tag)?)
                }
            }
        })
    }

    /// Its result, once it has come: `Some(ok)`. A memfd operation's
    /// buffer goes back to `bufs`.
    pub fn take(&mut self, ring: &mut Ring, bufs: &mut Vec<Buf>) -> Option<bool> {
        let mut moved = |r: iofd::Result<(iofd::Result<usize>, Buf)>| match r {
            Ok((n, buf)) => {
                bufs.push(buf);
                n.is_ok_and(|n| n == IO_BYTES)
            }
            Err(_) => false,
        };
        Some(match self {
            Owned::Nop(t) => ring.take(t)?.is_ok(),
            Owned::Signal(t) => ring.take(t)?.is_ok(),
            Owned::Read(t) => ring.take(t)?.is_ok(),
            Owned::Timer(t) => ring.take(t)?.is_ok(),
            Owned::MemWrite(t) => moved(ring.take(t)?),
            Owned::MemRead(t) => moved(ring.take(t)?),
        })
    }
}

/// The operations in flight, one per lane, each pushed tagged with its
/// lane's index so that its completion comes back to it
/// ([`Ring::next_completion`]), and the memfd buffers not in flight. What
/// both reapers keep their queue in.
pub struct Lanes {
    /// A busy lane's operation, and when its batch started (and, paced,
    /// was due).
    busy: Vec<Option<(Owned, Start)>>,
    free: Vec<usize>,
    bufs: Vec<Buf>,
}

impl Lanes {
    /// `depth` free lanes, with a buffer each.
    pub fn new(depth: usize) -> Lanes {
        Lanes {
            busy: (0..depth).map(|_| None).collect(),
            free: (0..depth).rev().collect(),
            bufs: buffers(depth),
        }
    }

    /// Lanes with nothing in flight.
    pub fn free(&self) -> usize {
        self.free.len()
    }

    /// Whether no lane has an operation in flight.
    pub fn idle(&self) -> bool {
        self.free.len() == self.busy.len()
    }

    /// Pushes operation `seq` of the workload into a free lane; `t0` is
    /// when its batch started.
    ///
    /// # Panics
    ///
    /// With no free lane: the caller pushes only into lanes it counted.
    pub fn push(
        &mut self,
        ring: &mut Ring,
        cfg: &Config,
        obj: &Objects,
        seq: u64,
        t0: Start,
    ) -> iofd::Result<()> {
        let lane = self.free.pop().expect("a free lane");
        match Owned::push(ring, cfg, obj, seq, Some(lane as u64), &mut self.bufs) {
            Ok(op) => {
                self.busy[lane] = Some((op, t0));
                Ok(())
            }
            Err(e) => {
                self.free.push(lane);
                Err(e)
            }
        }
    }

    /// The result of the operation in lane `tag`, once it has come (the
    /// lane is then free again): when its batch started, and whether it
    /// succeeded.
    pub fn take(&mut self, ring: &mut Ring, tag: u64) -> Option<(Start, bool)> {
        let lane = usize::try_from(tag).ok()?;
        let (op, t0) = self.busy.get_mut(lane)?.as_mut()?;
        let ok = op.take(ring, &mut self.bufs)?;
        let t0 = *t0;
        self.busy[lane] = None;
        self.free.push(lane);
        Some((t0, ok))
    }
}

/// The tag of a paced run's release timer (lanes are tagged from 0).
pub const RELEASE: u64 = u64::MAX;

/// What the submitting and the reaping thread share.
struct Inner {
    ring: Ring,
    lanes: Lanes,
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
            lanes: Lanes::new(cfg.depth),
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
    let (lock, cv) = &*shared;
    let mut seq = 0u64;
    let start = Instant::now();
    lock.lock().expect("lock").rec = Recorder::for_run(cfg, start);
    let mut limit = Limit::new(cfg, start);
    let mut pacer = Pacer::new(cfg)?;
    let fed = (|| -> iofd::Result<()> {
        while !limit.over(seq) {
            let n = (cfg.batch as u64).min(limit.remaining(seq)) as usize;
            // A batch already due (the feeder behind its schedule) goes at
            // once, with no timer.
            if let Some(at) = pacer.release(n as u64)
                && !pacer.is_due()
            {
                let mut g = lock.lock().expect("lock");
                let timer = Timeout::at(Clock::Monotonic, at);
                g.release = Some(g.ring.push_tagged(timer, RELEASE)?);
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
                    g.lanes.free() < n && g.failed.is_none()
                })
                .expect("lock");
            if let Some(e) = g.failed.take() {
                return Err(e);
            }
            let g = &mut *g;
            let t0 = Start::now(pacer.due());
            for _ in 0..n {
                g.lanes.push(&mut g.ring, cfg, obj, seq, t0)?;
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
        while let Some(c) = g.ring.next_completion() {
            if c.tag == RELEASE {
                if let Some(t) = &mut g.release
                    && g.ring.take(t).is_some()
                {
                    g.release = None;
                }
                continue;
            }
            if let Some((t0, ok)) = g.lanes.take(&mut g.ring, c.tag) {
                g.rec.complete(t0, ok);
            }
        }
        done.store(g.rec.ops(), Ordering::Relaxed);
        cv.notify_all();
        if g.stop && g.lanes.idle() {
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
