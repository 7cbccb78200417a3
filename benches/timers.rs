//! Timers side by side, in one run:
//!
//! - `arm_fire/<way>/<n>`: arm `n` concurrent 1 ms timers and wait until
//!   every one has fired, for `n` = 10,000 and 100,000, through
//!   - `ring`: one kernel ring timeout (`IORING_OP_TIMEOUT`) per timer;
//!   - `wheel`: iofd's [`WheelTimers`], one ring timeout for the wheel;
//!   - `timerfd_epoll`: one `TimerFd` per timer (create, arm, register
//!     with epoll, wait, read, close);
//!   - `tokio`: one `tokio::time::sleep` per timer, each in its own task
//!     (`JoinSet`) on a current-thread runtime: tokio's idiomatic shape, and
//!     the fastest measured here (polling 100,000 sleeps together in a
//!     `FuturesUnordered` was 25 times slower).
//!
//!   Criterion's figure is per timer (throughput in elements). One timerfd
//!   per timer needs a descriptor per timer: at 100,000 it runs only where
//!   `RLIMIT_NOFILE` allows that many.
//! - Before the groups, a report printed to stderr: memory per timer for
//!   each way (heap bytes counted by a counting allocator; kernel bytes as
//!   the growth of `Slab:` in `/proc/meminfo` while 10,000 timers are
//!   armed), and the lateness of a 1 ms timer (p50, p99, max of 1,000,
//!   each armed after a random 0..1 ms pause)
//!   through a ring timeout, the wheel, a `TimerFd`, and
//!   `std::thread::sleep`.
//!
//! Run: `cargo bench --bench timers`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use iofd::TimerFd;
use iofd::ring::ops::{Timeout, TimeoutResult};
use iofd::ring::{Ring, WheelTimers};
use iofd::sys::poll::{
    EpollEvent, EpollFlags, EpollOp, Events, PollFd, epoll_create1, epoll_ctl, epoll_wait, ppoll,
};
use iofd::sys::resource::{Resource, Rlimit, prlimit};

/// Heap bytes live while counting is on.
struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        // SAFETY: forwarded.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if COUNTING.load(Ordering::Relaxed) {
            LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        }
        // SAFETY: forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const FIRE: Duration = Duration::from_millis(1);
const SIZES: [usize; 2] = [10_000, 100_000];

/// Raises the soft descriptor limit as far as the hard one allows and
/// returns how many timerfds fit under it (leaving room for the process's
/// other descriptors). Raising the hard limit needs `CAP_SYS_RESOURCE`,
/// which this machine's root lacks (hard limit 20,000).
fn timerfd_room() -> usize {
    let now = prlimit(Resource::Nofile, None).expect("getrlimit");
    if now.cur < now.max {
        let want = Rlimit {
            cur: now.max,
            max: now.max,
        };
        prlimit(Resource::Nofile, Some(&want)).expect("raise the soft RLIMIT_NOFILE");
    }
    usize::try_from(now.max)
        .unwrap_or(usize::MAX)
        .saturating_sub(256)
}

fn ring_for(n: usize) -> Ring {
    Ring::builder(4096)
        .cq_entries(8192)
        .capacity(n)
        .build()
        .expect("ring")
}

/// `n` ring timeouts armed, all waited for.
fn ring_arm_fire(ring: &mut Ring, tokens: &mut Vec<iofd::ring::Token<Timeout>>, n: usize) {
    for _ in 0..n {
        tokens.push(ring.push(Timeout::after(FIRE)).expect("push"));
    }
    while ring.in_flight() > 0 {
        ring.submit_and_wait(1).expect("wait");
    }
    for mut t in tokens.drain(..) {
        let r = ring.take(&mut t).expect("fired");
        assert_eq!(r, Ok(TimeoutResult::Fired));
    }
}

/// `n` wheel timers armed, all delivered.
fn wheel_arm_fire(ring: &mut Ring, timers: &mut WheelTimers<u32>, n: usize) {
    for i in 0..n {
        timers.arm(FIRE, i as u32);
    }
    let mut fired = 0;
    while fired < n {
        timers.schedule(ring).expect("schedule");
        ring.submit_and_wait(1).expect("wait");
        fired += timers
            .expire(ring, |_, v| {
                black_box(v);
            })
            .expect("expire");
    }
}

/// `n` timerfds created, armed, registered, waited for, read and closed.
fn timerfd_arm_fire(events: &mut [EpollEvent], n: usize) {
    let ep = epoll_create1(EpollFlags::CLOEXEC).expect("epoll");
    let mut fds = Vec::with_capacity(n);
    for i in 0..n {
        let t = TimerFd::new().expect("timerfd");
        t.arm(FIRE, Duration::ZERO).expect("arm");
        epoll_ctl(
            ep.as_fd(),
            EpollOp::Add,
            t.as_fd(),
            EpollEvent::new(Events::IN, i as u64),
        )
        .expect("epoll_ctl");
        fds.push(t);
    }
    let mut fired = 0;
    while fired < n {
        let got = epoll_wait(ep.as_fd(), events, None).expect("epoll_wait");
        for ev in &events[..got] {
            let t = &fds[ev.data() as usize];
            assert_eq!(t.expirations().expect("read"), 1);
            // One-shot: it stays silent once read.
            fired += 1;
        }
    }
    drop(fds);
}

/// `n` tokio tasks, each awaiting one sleep, all joined.
fn tokio_arm_fire(rt: &tokio::runtime::Runtime, n: usize) {
    rt.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..n {
            set.spawn(tokio::time::sleep(FIRE));
        }
        let mut fired = 0;
        while set.join_next().await.is_some() {
            fired += 1;
        }
        assert_eq!(fired, n);
    });
}

fn arm_fire(c: &mut Criterion) {
    let room = timerfd_room();
    let mut g = c.benchmark_group("arm_fire");
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(5));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    for n in SIZES {
        g.throughput(Throughput::Elements(n as u64));
        let mut ring = ring_for(n);
        let mut tokens = Vec::with_capacity(n);
        g.bench_with_input(BenchmarkId::new("ring", n), &n, |b, &n| {
            b.iter(|| ring_arm_fire(&mut ring, &mut tokens, n))
        });
        let mut wring = Ring::new(64).expect("ring");
        let mut timers = WheelTimers::with_capacity(n);
        g.bench_with_input(BenchmarkId::new("wheel", n), &n, |b, &n| {
            b.iter(|| wheel_arm_fire(&mut wring, &mut timers, n))
        });
        let mut events = vec![EpollEvent::default(); 1024];
        if n <= room {
            g.bench_with_input(BenchmarkId::new("timerfd_epoll", n), &n, |b, &n| {
                b.iter(|| timerfd_arm_fire(&mut events, n))
            });
        } else {
            eprintln!("arm_fire/timerfd_epoll/{n}: skipped, RLIMIT_NOFILE allows {room} timerfds");
        }
        g.bench_with_input(BenchmarkId::new("tokio", n), &n, |b, &n| {
            b.iter(|| tokio_arm_fire(&rt, n))
        });
    }
    g.finish();
}

/// `Slab:` of `/proc/meminfo`, in bytes.
fn kernel_slab() -> i64 {
    let info = std::fs::read_to_string("/proc/meminfo").expect("meminfo");
    info.lines()
        .find_map(|l| l.strip_prefix("Slab:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
        .expect("Slab: line")
        * 1024
}

/// Heap and kernel bytes per timer while `n` timers are armed by `arm`,
/// which returns what keeps them armed.
fn per_timer<T>(n: usize, arm: impl FnOnce() -> T) -> (f64, f64) {
    let slab0 = kernel_slab();
    LIVE.store(0, Ordering::Relaxed);
    COUNTING.store(true, Ordering::Relaxed);
    let keep = arm();
    COUNTING.store(false, Ordering::Relaxed);
    let heap = LIVE.load(Ordering::Relaxed);
    let slab1 = kernel_slab();
    drop(keep);
    (heap as f64 / n as f64, (slab1 - slab0) as f64 / n as f64)
}

fn memory_report() {
    // 10,000: one timerfd per timer must fit under RLIMIT_NOFILE.
    const N: usize = 10_000;
    assert!(
        timerfd_room() >= N,
        "RLIMIT_NOFILE too low for {N} timerfds"
    );
    let long = Duration::from_secs(3600);
    eprintln!("memory per armed timer, {N} armed (heap counted; kernel = growth of Slab:)");

    let (heap, kernel) = per_timer(N, || {
        let mut ring = ring_for(N);
        let tokens: Vec<_> = (0..N)
            .map(|_| ring.push(Timeout::after(long)).expect("push"))
            .collect();
        ring.submit().expect("submit");
        // Heap of the tokens themselves is the caller's; count the ring's.
        let token_bytes = tokens.capacity() * size_of::<iofd::ring::Token<Timeout>>();
        LIVE.fetch_sub(token_bytes as isize, Ordering::Relaxed);
        (ring, tokens)
    });
    eprintln!("  ring timeout     heap {heap:7.1} B   kernel {kernel:7.1} B");

    let (heap, kernel) = per_timer(N, || {
        let mut ring = Ring::new(64).expect("ring");
        let mut timers = WheelTimers::with_capacity(N);
        for i in 0..N {
            timers.arm(long, i as u32);
        }
        timers.schedule(&mut ring).expect("schedule");
        ring.submit().expect("submit");
        (ring, timers)
    });
    eprintln!("  wheel            heap {heap:7.1} B   kernel {kernel:7.1} B");

    let (heap, kernel) = per_timer(N, || {
        let ep = epoll_create1(EpollFlags::CLOEXEC).expect("epoll");
        let fds: Vec<_> = (0..N)
            .map(|i| {
                let t = TimerFd::new().expect("timerfd");
                t.arm(long, Duration::ZERO).expect("arm");
                epoll_ctl(
                    ep.as_fd(),
                    EpollOp::Add,
                    t.as_fd(),
                    EpollEvent::new(Events::IN, i as u64),
                )
                .expect("epoll_ctl");
                t
            })
            .collect();
        (ep, fds)
    });
    eprintln!("  timerfd + epoll  heap {heap:7.1} B   kernel {kernel:7.1} B");

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let (heap, kernel) = per_timer(N, || {
        let mut set = tokio::task::JoinSet::new();
        rt.block_on(async {
            for _ in 0..N {
                set.spawn(tokio::time::sleep(long));
            }
            // Let every task run once, registering its sleep.
            tokio::time::sleep(Duration::from_millis(20)).await;
        });
        set
    });
    eprintln!("  tokio task+sleep heap {heap:7.1} B   kernel {kernel:7.1} B");
}

/// Busy-waits a pseudo-random 0..1000 µs, so that timers are armed at
/// every phase of the wheel's millisecond tick (a loop that arms right
/// after the last timer fired would always arm just after a tick).
fn desync(state: &mut u64) {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    let wait = Duration::from_micros(*state % 1000);
    let start = Instant::now();
    while start.elapsed() < wait {
        std::hint::spin_loop();
    }
}

/// p50, p99 and max of `samples`, in microseconds.
fn percentiles(samples: &mut [Duration]) -> (f64, f64, f64) {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e6;
    (at(0.5), at(0.99), at(1.0))
}

fn lateness_report() {
    const SAMPLES: usize = 1000;
    eprintln!(
        "lateness of a 1 ms timer, {SAMPLES} samples: p50 / p99 / max (µs past the deadline)"
    );
    let mut late = Vec::with_capacity(SAMPLES);
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;

    let mut ring = Ring::new(8).expect("ring");
    for _ in 0..SAMPLES {
        desync(&mut rng);
        let start = Instant::now();
        let t = ring.push(Timeout::after(FIRE)).expect("push");
        assert_eq!(ring.wait(t), Ok(TimeoutResult::Fired));
        late.push(start.elapsed().saturating_sub(FIRE));
    }
    let (p50, p99, max) = percentiles(&mut late);
    eprintln!("  ring timeout        {p50:8.1} {p99:8.1} {max:8.1}");

    late.clear();
    let mut timers = WheelTimers::with_capacity(1);
    for _ in 0..SAMPLES {
        desync(&mut rng);
        let start = Instant::now();
        timers.arm(FIRE, ());
        let mut fired = 0;
        while fired == 0 {
            timers.schedule(&mut ring).expect("schedule");
            ring.submit_and_wait(1).expect("wait");
            fired = timers.expire(&mut ring, |_, ()| {}).expect("expire");
        }
        late.push(start.elapsed().saturating_sub(FIRE));
    }
    let (p50, p99, max) = percentiles(&mut late);
    eprintln!("  wheel (ms ticks)    {p50:8.1} {p99:8.1} {max:8.1}");

    late.clear();
    let timer = TimerFd::new().expect("timerfd");
    for _ in 0..SAMPLES {
        desync(&mut rng);
        let start = Instant::now();
        timer.arm(FIRE, Duration::ZERO).expect("arm");
        let mut fds = [PollFd::new(timer.as_fd(), Events::IN)];
        ppoll(&mut fds, None).expect("ppoll");
        assert_eq!(timer.expirations().expect("read"), 1);
        late.push(start.elapsed().saturating_sub(FIRE));
    }
    let (p50, p99, max) = percentiles(&mut late);
    eprintln!("  TimerFd + ppoll     {p50:8.1} {p99:8.1} {max:8.1}");

    late.clear();
    for _ in 0..SAMPLES {
        desync(&mut rng);
        let start = Instant::now();
        std::thread::sleep(FIRE);
        late.push(start.elapsed().saturating_sub(FIRE));
    }
    let (p50, p99, max) = percentiles(&mut late);
    eprintln!("  std::thread::sleep  {p50:8.1} {p99:8.1} {max:8.1}");
}

fn reports(_: &mut Criterion) {
    memory_report();
    lateness_report();
}

criterion_group!(benches, reports, arm_fire);
criterion_main!(benches);
