//! The ring as an event loop, beside what a raw io-uring crate user
//! writes for the same loop, in one run.
//!
//! - `loop/nop/<impl>/b<N>` and `loop/read/<impl>/b<N>`: N owners, each
//!   with one operation in flight. A round submits, waits for the N
//!   completions, and dispatches each to its owner, which takes its
//!   result and pushes its next operation. `iofd` tags each operation with
//!   its owner's index ([`Ring::push_tagged`], [`Ring::next_completion`])
//!   and takes the result from the owner's token; `raw_slab` is the
//!   io-uring crate with a `slab::Slab` of owners keyed by `user_data`,
//!   walking the completion queue and pushing into the submission queue
//!   split from it. Reads are of a semaphore eventfd loaded with 2^32 - 1
//!   units (each completes at once with 1), both sides by fixed file with
//!   a registered ring fd.
//! - `multishot/timerfd/<impl>`: CPU time per result while a timerfd
//!   armed every 20 µs is read, either by one multishot read into
//!   provided buffers (`multishot`, woken for 32 results at a time) or by a
//!   single read pushed again after each result (`repushed`, which can only
//!   wait for one), 1,000 results an iteration.
//! - `table/100k_in_flight`: pushing 100,000 NOPs on a ring built with the
//!   default capacity (the table grows to them), and taking all of them.
//!
//! Run: `cargo bench --bench ring_loop`.

use std::hint::black_box;
use std::os::fd::{AsFd, AsRawFd};
use std::sync::Arc;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use io_uring::{IoUring, opcode, types};
use iofd::ring::ops::Nop;
use iofd::ring::{Fixed, Op, Ring, Token};
use iofd::{EventFd, TimerFd};
use slab::Slab;

const BATCHES: [usize; 3] = [1, 32, 128];

/// An owner in the raw loop: what it read last.
struct RawOwner {
    value: u64,
}

/// What the raw loop's owners issue.
#[derive(Clone, Copy)]
enum Kind {
    Nop,
    Read,
}

/// The raw crate's loop: `n` owners in a slab, one operation each.
fn raw_loop(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    n: usize,
    kind: Kind,
) {
    let efd = EventFd::new_semaphore(u32::MAX).expect("eventfd");
    let mut raw = IoUring::new(256).expect("io_uring");
    raw.submitter()
        .register_files(&[efd.as_raw_fd()])
        .expect("files");
    let mut owners: Slab<RawOwner> = Slab::with_capacity(n);
    let (mut submitter, mut sq, mut cq) = raw.split();
    submitter.register_ring_fd().expect("register ring fd");
    let entry = |owners: &mut Slab<RawOwner>, key: usize| match kind {
        Kind::Nop => opcode::Nop::new().build().user_data(key as u64),
        Kind::Read => {
            let buf = (&mut owners[key].value as *mut u64).cast();
            opcode::Read::new(types::Fixed(0), buf, 8)
                .offset(u64::MAX)
                .build()
                .user_data(key as u64)
        }
    };
    for _ in 0..n {
        let key = owners.insert(RawOwner { value: 0 });
        let e = entry(&mut owners, key);
        // SAFETY: the owner's `value` lives in the slab, which is not
        // resized (capacity `n`) and outlives every read.
        unsafe { sq.push(&e) }.expect("room");
    }
    sq.sync();
    g.bench_with_input(
        BenchmarkId::new("raw_slab", format!("b{n}")),
        &n,
        |b, &n| {
            b.iter(|| {
                submitter.submit_and_wait(n).expect("submit");
                cq.sync();
                let mut done = 0;
                for cqe in &mut cq {
                    let key = cqe.user_data() as usize;
                    let owner = &mut owners[key];
                    black_box(owner.value);
                    assert!(cqe.result() >= 0);
                    let e = entry(&mut owners, key);
                    // SAFETY: as above.
                    unsafe { sq.push(&e) }.expect("room");
                    done += 1;
                }
                assert_eq!(done, n);
                sq.sync();
            })
        },
    );
    // Let the last round's operations finish before the ring goes.
    submitter.submit_and_wait(n).expect("submit");
    submitter.unregister_ring_fd().expect("unregister");
}

/// iofd's loop: `n` owners, each with one operation from `make` in
/// flight, dispatched by tag and pushed again.
fn iofd_loop<O: Op + 'static>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    n: usize,
    ring: &mut Ring,
    make: impl Fn() -> O,
) where
    O::Storage: Sized,
{
    let mut owners: Vec<Option<Token<O>>> = (0..n)
        .map(|i| Some(ring.push_tagged(make(), i as u64).expect("push")))
        .collect();
    g.bench_with_input(BenchmarkId::new("iofd", format!("b{n}")), &n, |b, &n| {
        b.iter(|| {
            ring.submit_and_wait(n).expect("submit");
            let mut done = 0;
            while let Some(c) = ring.next_completion() {
                let owner = &mut owners[c.tag as usize];
                if let Some(mut t) = owner.take() {
                    black_box(ring.poll(&mut t).expect("a result").expect("op"));
                }
                *owner = Some(ring.push_tagged(make(), c.tag).expect("push"));
                done += 1;
            }
            assert_eq!(done, n);
        })
    });
    // Let the last round's operations finish before the ring goes.
    ring.submit_and_wait(n).expect("submit");
}

fn loop_nop(c: &mut Criterion) {
    let mut g = c.benchmark_group("loop/nop");
    for n in BATCHES {
        g.throughput(Throughput::Elements(n as u64));
        raw_loop(&mut g, n, Kind::Nop);
        let mut ring = Ring::builder(256)
            .register_ring_fd(true)
            .build()
            .expect("ring");
        iofd_loop(&mut g, n, &mut ring, Nop::new);
    }
    g.finish();
}

fn loop_read(c: &mut Criterion) {
    let mut g = c.benchmark_group("loop/read");
    for n in BATCHES {
        g.throughput(Throughput::Elements(n as u64));
        raw_loop(&mut g, n, Kind::Read);
        let efd = EventFd::new_semaphore(u32::MAX).expect("eventfd");
        let mut ring = Ring::builder(256)
            .register_ring_fd(true)
            .build()
            .expect("ring");
        ring.register_files(&[efd.as_fd()]).expect("files");
        let fixed = Fixed::<EventFd>::new(0);
        iofd_loop(&mut g, n, &mut ring, || fixed.read_op());
    }
    g.finish();
}

/// This thread's CPU time.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn multishot(c: &mut Criterion) {
    const RESULTS: u64 = 1000;
    let period = Duration::from_micros(20);
    let mut g = c.benchmark_group("multishot/timerfd");
    g.throughput(Throughput::Elements(RESULTS));
    g.sample_size(10);
    g.bench_function("multishot", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for i in 0..iters {
                let mut ring = Ring::new(64).expect("ring");
                let bufs = ring
                    .register_buf_ring(7 + (i % 1000) as u16, 1024, 8)
                    .expect("bufs");
                let timer = Arc::new(TimerFd::new().expect("timerfd"));
                timer.arm(period, period).expect("arm");
                let start = thread_cpu();
                let mut t = ring
                    .push(timer.read_multishot_op_shared(&bufs))
                    .expect("push");
                let mut got = 0;
                while got < RESULTS {
                    // Results queue up while the loop sleeps: wake for a
                    // batch, as a server would.
                    ring.submit_and_wait(32.min((RESULTS - got) as usize))
                        .expect("wait");
                    while let Some(r) = ring.poll(&mut t) {
                        black_box(r.expect("shot").counter());
                        got += 1;
                    }
                }
                total += thread_cpu() - start;
                ring.cancel(t).expect("cancel");
            }
            total
        })
    });
    g.bench_function("repushed", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let mut ring = Ring::new(64).expect("ring");
                let timer = Arc::new(TimerFd::new().expect("timerfd"));
                timer.arm(period, period).expect("arm");
                let start = thread_cpu();
                for _ in 0..RESULTS {
                    let t = ring.push(timer.expirations_op_shared()).expect("push");
                    black_box(ring.wait(t).expect("read"));
                }
                total += thread_cpu() - start;
            }
            total
        })
    });
    g.finish();
}

fn table(c: &mut Criterion) {
    const N: usize = 100_000;
    let mut g = c.benchmark_group("table");
    g.sample_size(10);
    g.throughput(Throughput::Elements(N as u64));
    let mut tokens = Vec::with_capacity(N);
    g.bench_function("100k_in_flight", |b| {
        b.iter(|| {
            let mut ring = Ring::new(256).expect("ring");
            for _ in 0..N {
                tokens.push(ring.push(Nop::new()).expect("push"));
            }
            for t in tokens.drain(..) {
                ring.wait(t).expect("nop");
            }
            black_box(ring.table_bytes())
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = loop_nop, loop_read, multishot, table
}
criterion_main!(benches);
