//! A wake between two threads, five ways in one run: each thread sleeps
//! until the other wakes it, and wakes it back (ping-pong), so every wake
//! finds its target asleep or on its way to sleep.
//!
//! - `msg_ring_op`: each thread waits in `submit_and_wait(1)` on its own
//!   ring; a wake is a `Sender::message_op` pushed on the waker's ring and
//!   submitted by its next `submit_and_wait` (IORING_OP_MSG_RING: the
//!   wake and the wait for the answer in one enter).
//! - `msg_ring_post`: the same rings; a wake is `Sender::post`
//!   (IORING_REGISTER_SEND_MSG_RING, no ring of the waker's needed).
//! - `eventfd_ring`: the same rings, each with a read of its own eventfd
//!   armed; a wake is `EventFd::signal` on the other's eventfd, seen when
//!   the read completes (then pushed again).
//! - `condvar`: a `Mutex<bool>` and a `Condvar` per thread (futex).
//! - `park`: `thread::park` / `Thread::unpark` with an atomic flag
//!   (futex).
//!
//! The latency of a wake is from just before the waker's call to the
//! moment the woken thread's loop sees it (`Instant`, one clock for both
//! threads); wakes per second are the hops divided by the run's time.
//! The variants run interleaved, in rounds, so drift on a shared machine
//! spreads over all of them.
//!
//! Run: `flock /tmp/iofd-bench.lock cargo bench --bench msg`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use iofd::EventFd;
use iofd::ring::ops::{ReadCounter, SendMessage};
use iofd::ring::{Mailbox, Message, Ring, Sender, Token};

/// Hops (one-way wakes) per variant per round.
const HOPS: u64 = 20_000;
const ROUNDS: usize = 5;
/// Wakes per variant per round after an idle gap, and the gap.
const IDLE_HOPS: u64 = 1_000;
const IDLE_GAP: Duration = Duration::from_micros(200);

/// The clock both threads read: nanoseconds since a shared start.
struct Clock(Instant);

impl Clock {
    fn now(&self) -> u64 {
        self.0.elapsed().as_nanos() as u64
    }
}

/// What one side of a ping-pong does: wait to be woken, then wake the
/// other side.
trait Side: Send {
    /// Blocks until the other side's wake arrives.
    fn wait(&mut self);
    /// Wakes the other side.
    fn wake(&mut self);
}

/// Runs `hops` wakes between two sides; returns the latencies (ns) and
/// the wall time. With a `gap`, side A idles that long before each of its
/// wakes, so that B's CPU has gone idle, and only A's wakes of B are
/// recorded.
fn ping_pong<A: Side + 'static, B: Side + 'static>(
    mut a: A,
    mut b: B,
    hops: u64,
    gap: Option<Duration>,
) -> (Histogram<u64>, Duration) {
    let clock = Arc::new(Clock(Instant::now()));
    let stamp = Arc::new(AtomicU64::new(0));
    let start = Arc::new(Barrier::new(2));
    let (c2, s2, st2) = (Arc::clone(&clock), Arc::clone(&stamp), Arc::clone(&start));
    // B answers each wake: it records the latency and wakes A back.
    let responder = thread::spawn(move || {
        let mut h = Histogram::<u64>::new(3).unwrap();
        st2.wait();
        for _ in 0..hops / 2 {
            b.wait();
            let _ = h.record(c2.now().saturating_sub(s2.load(Ordering::Acquire)));
            s2.store(c2.now(), Ordering::Release);
            b.wake();
        }
        h
    });
    let mut h = Histogram::<u64>::new(3).unwrap();
    start.wait();
    let t0 = Instant::now();
    for _ in 0..hops / 2 {
        if let Some(gap) = gap {
            thread::sleep(gap);
        }
        stamp.store(clock.now(), Ordering::Release);
        a.wake();
        a.wait();
        if gap.is_none() {
            let _ = h.record(clock.now().saturating_sub(stamp.load(Ordering::Acquire)));
        }
    }
    let elapsed = t0.elapsed();
    h.add(responder.join().unwrap()).unwrap();
    (h, elapsed)
}

/// A ring waiting on its mailbox; wakes go to the other side's mailbox,
/// as an operation of this ring or posted without one.
struct MsgSide {
    ring: Ring,
    mailbox: Mailbox,
    peer: Option<Sender>,
    post: bool,
    /// Wakes sent as operations, until their results are taken.
    sends: Vec<Token<SendMessage>>,
}

impl MsgSide {
    fn new(post: bool) -> MsgSide {
        let mut ring = Ring::new(16).unwrap();
        let mailbox = ring.mailbox(0).unwrap();
        MsgSide {
            ring,
            mailbox,
            peer: None,
            post,
            sends: Vec::new(),
        }
    }
}

impl Side for MsgSide {
    fn wait(&mut self) {
        loop {
            self.ring.submit_and_wait(1).unwrap();
            let mut woken = false;
            while let Some(c) = self.ring.next_completion() {
                if self.mailbox.is_for(&c) {
                    match self.ring.receive(&mut self.mailbox) {
                        Some(Ok(Message::Data(_))) => woken = true,
                        other => panic!("{other:?}"),
                    }
                }
            }
            let ring = &mut self.ring;
            self.sends.retain_mut(|t| match ring.take(t) {
                Some(r) => {
                    r.unwrap();
                    false
                }
                None => true,
            });
            if woken {
                return;
            }
        }
    }

    fn wake(&mut self) {
        let peer = self.peer.as_ref().unwrap();
        if self.post {
            peer.post(1).unwrap();
        } else {
            // Submitted by the next wait, in the same enter.
            let t = self.ring.push_tagged(peer.message_op(1), 1).unwrap();
            self.sends.push(t);
        }
    }
}

fn msg_pair(post: bool) -> (MsgSide, MsgSide) {
    let (mut a, mut b) = (MsgSide::new(post), MsgSide::new(post));
    a.peer = Some(b.mailbox.sender());
    b.peer = Some(a.mailbox.sender());
    (a, b)
}

/// A ring with a read of its eventfd armed; wakes signal the other's.
struct EfdSide {
    ring: Ring,
    mine: Arc<EventFd>,
    peer: Arc<EventFd>,
    read: Option<Token<ReadCounter<Arc<EventFd>>>>,
}

impl EfdSide {
    fn new(mine: Arc<EventFd>, peer: Arc<EventFd>) -> EfdSide {
        let mut ring = Ring::new(16).unwrap();
        let read = Some(ring.push_tagged(mine.read_op_shared(), 0).unwrap());
        EfdSide {
            ring,
            mine,
            peer,
            read,
        }
    }
}

impl Side for EfdSide {
    fn wait(&mut self) {
        loop {
            self.ring.submit_and_wait(1).unwrap();
            let mut woken = false;
            while self.ring.next_completion().is_some() {
                let token = self.read.as_mut().unwrap();
                if let Some(r) = self.ring.take(token) {
                    r.unwrap();
                    woken = true;
                    self.read = Some(
                        self.ring
                            .push_tagged(self.mine.read_op_shared(), 0)
                            .unwrap(),
                    );
                }
            }
            if woken {
                return;
            }
        }
    }

    fn wake(&mut self) {
        self.peer.signal(1).unwrap();
    }
}

impl Drop for EfdSide {
    fn drop(&mut self) {
        if let Some(t) = self.read.take() {
            let _ = self.ring.cancel(t);
        }
    }
}

/// A flag under a mutex, and its condition variable.
#[derive(Default)]
struct Flag {
    set: Mutex<bool>,
    cv: Condvar,
}

struct CondvarSide {
    mine: Arc<Flag>,
    peer: Arc<Flag>,
}

impl Side for CondvarSide {
    fn wait(&mut self) {
        let mut set = self.mine.set.lock().unwrap();
        while !*set {
            set = self.mine.cv.wait(set).unwrap();
        }
        *set = false;
    }

    fn wake(&mut self) {
        *self.peer.set.lock().unwrap() = true;
        self.peer.cv.notify_one();
    }
}

struct ParkSide {
    mine: Arc<AtomicBool>,
    peer: Arc<AtomicBool>,
    peer_thread: Arc<Mutex<Option<thread::Thread>>>,
    my_thread: Arc<Mutex<Option<thread::Thread>>>,
    peer_cached: Option<thread::Thread>,
}

impl Side for ParkSide {
    fn wait(&mut self) {
        if self.my_thread.lock().unwrap().is_none() {
            *self.my_thread.lock().unwrap() = Some(thread::current());
        }
        while !self.mine.swap(false, Ordering::Acquire) {
            thread::park();
        }
    }

    fn wake(&mut self) {
        self.peer.store(true, Ordering::Release);
        if self.peer_cached.is_none() {
            // The peer registers itself before its first wait; until then
            // its flag alone carries the wake.
            self.peer_cached = self.peer_thread.lock().unwrap().clone();
        }
        if let Some(t) = &self.peer_cached {
            t.unpark();
        }
    }
}

fn park_pair() -> (ParkSide, ParkSide) {
    let (fa, fb) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let (ta, tb) = (Arc::new(Mutex::new(None)), Arc::new(Mutex::new(None)));
    (
        ParkSide {
            mine: Arc::clone(&fa),
            peer: Arc::clone(&fb),
            peer_thread: Arc::clone(&tb),
            my_thread: Arc::clone(&ta),
            peer_cached: None,
        },
        ParkSide {
            mine: fb,
            peer: fa,
            peer_thread: ta,
            my_thread: tb,
            peer_cached: None,
        },
    )
}

#[derive(Default)]
struct Totals {
    hist: Option<Histogram<u64>>,
    hops: u64,
    time: Duration,
}

impl Totals {
    fn add(&mut self, (h, t): (Histogram<u64>, Duration), hops: u64) {
        match &mut self.hist {
            Some(all) => all.add(h).unwrap(),
            None => self.hist = Some(h),
        }
        self.hops += hops;
        self.time += t;
    }
}

const NAMES: [&str; 5] = [
    "msg_ring_op",
    "msg_ring_post",
    "eventfd_ring",
    "condvar",
    "park",
];

/// One run of every variant, in [`NAMES`] order (`None` where the
/// kernel lacks what it needs).
fn round(hops: u64, gap: Option<Duration>, post: bool) -> Vec<Option<(Histogram<u64>, Duration)>> {
    let mut results = Vec::new();
    let (a, b) = msg_pair(false);
    results.push(Some(ping_pong(a, b, hops, gap)));
    results.push(post.then(|| {
        let (a, b) = msg_pair(true);
        ping_pong(a, b, hops, gap)
    }));
    let (ea, eb) = (
        Arc::new(EventFd::new(0).unwrap()),
        Arc::new(EventFd::new(0).unwrap()),
    );
    let a = EfdSide::new(Arc::clone(&ea), Arc::clone(&eb));
    let b = EfdSide::new(eb, ea);
    results.push(Some(ping_pong(a, b, hops, gap)));
    let (fa, fb) = (Arc::new(Flag::default()), Arc::new(Flag::default()));
    let a = CondvarSide {
        mine: Arc::clone(&fa),
        peer: Arc::clone(&fb),
    };
    let b = CondvarSide { mine: fb, peer: fa };
    results.push(Some(ping_pong(a, b, hops, gap)));
    let (a, b) = park_pair();
    results.push(Some(ping_pong(a, b, hops, gap)));
    results
}

fn report(title: &str, totals: &[Totals], rate: bool) {
    println!("{title}");
    println!(
        "{:<14} {:>9} {:>9} {:>9} {:>12}",
        "wake", "p50 µs", "p99 µs", "mean µs", "wakes/s"
    );
    let us = |ns: u64| ns as f64 / 1000.0;
    for (name, t) in NAMES.iter().zip(totals) {
        let Some(h) = &t.hist else {
            println!("{name:<14} skipped: no IORING_REGISTER_SEND_MSG_RING");
            continue;
        };
        let rate = if rate {
            format!("{:.0}", t.hops as f64 / t.time.as_secs_f64())
        } else {
            "-".to_string()
        };
        println!(
            "{:<14} {:>9.1} {:>9.1} {:>9.1} {:>12}",
            name,
            us(h.value_at_quantile(0.5)),
            us(h.value_at_quantile(0.99)),
            h.mean() / 1000.0,
            rate
        );
    }
}

fn main() {
    // `cargo bench` passes `--bench`; no filter is supported.
    let post = {
        let mut r = Ring::new(4).unwrap();
        let m = r.mailbox::<()>(0).unwrap();
        !matches!(m.sender().post(0), Err(iofd::Error::Unsupported(_)))
    };
    let mut hot: Vec<Totals> = NAMES.iter().map(|_| Totals::default()).collect();
    let mut idle: Vec<Totals> = NAMES.iter().map(|_| Totals::default()).collect();
    // One untimed round first: threads, rings and page faults warm up.
    for r in 0..=ROUNDS {
        let busy = round(HOPS, None, post);
        let calm = round(IDLE_HOPS, Some(IDLE_GAP), post);
        if r == 0 {
            continue;
        }
        for (t, x) in hot.iter_mut().zip(busy).filter_map(|(t, x)| Some((t, x?))) {
            t.add(x, HOPS);
        }
        for (t, x) in idle.iter_mut().zip(calm).filter_map(|(t, x)| Some((t, x?))) {
            t.add(x, IDLE_HOPS / 2);
        }
    }
    report(
        &format!("back to back ({HOPS} wakes a round, {ROUNDS} rounds)"),
        &hot,
        true,
    );
    println!();
    report(
        &format!(
            "after {} µs idle ({} wakes a round, {ROUNDS} rounds)",
            IDLE_GAP.as_micros(),
            IDLE_HOPS / 2
        ),
        &idle,
        false,
    );
}
