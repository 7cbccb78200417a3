//! The ring as an event loop, beside what a raw io-uring crate user
//! writes for the same loop, in one run.
//!
//! - `loop/nop/<impl>/b<N>` and `loop/read/<impl>/b<N>`: N owners, each
//!   with one operation in flight. A round submits, waits for the N
//!   completions, and dispatches each to its owner, which takes its
//!   result and pushes its next operation (`support/loops.rs`). `iofd`
//!   pushes each operation with `Ring::push_slotless` under its owner's
//!   index and gets its result with the completion (a NOP takes no slot, a
//!   read is lent one); `iofd_tokened` pushes with `Ring::push_tagged` and
//!   takes each result by token; `raw_slab` is the io-uring crate with a
//!   `slab::Slab` of owners keyed by `user_data`. The same loops run
//!   interleaved, round by round, in `loop_ab`, whose ratios hold up when
//!   the machine's speed drifts between criterion's runs.
//! - `multishot/timerfd/<impl>`: CPU time per result while a timerfd
//!   armed every 20 µs is read, either by one multishot read into
//!   provided buffers (`multishot`, woken for 32 results at a time) or by a
//!   single read pushed again after each result (`repushed`, which can only
//!   wait for one), 1,000 results an iteration.
//! - `table/100k_in_flight`: pushing 100,000 NOPs on a ring built with the
//!   default capacity (the table grows to them), and taking all of them.
//!   Before it, `table/bytes` lines print the table's bytes per operation
//!   in flight for 100,000 NOPs, timeouts and counter reads.
//!
//! Run: `cargo bench --bench ring_loop`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use iofd::ring::ops::{Nop, Timeout};
use iofd::ring::{Op, Ring, Slotless};
use iofd::{EventFd, TimerFd};

#[path = "support/loops.rs"]
mod loops;

use loops::{
    Kind, RawLoop, SlotlessLoop, SlotlessOutput, TokenedLoop, slotless_nops, slotless_reads,
    tokened_nops, tokened_reads,
};

const BATCHES: [usize; 3] = [1, 32, 128];

type Group<'a> = criterion::BenchmarkGroup<'a, criterion::measurement::WallTime>;

fn raw_loop(g: &mut Group<'_>, n: usize, kind: Kind) {
    let mut l = RawLoop::new(n, kind);
    g.bench_with_input(BenchmarkId::new("raw_slab", format!("b{n}")), &n, |b, _| {
        b.iter(|| l.round())
    });
    l.finish();
}

fn tokened_loop<O: Op + 'static, F: Fn() -> O>(
    g: &mut Group<'_>,
    n: usize,
    mut l: TokenedLoop<O, F>,
) where
    O::Storage: Sized,
{
    g.bench_with_input(
        BenchmarkId::new("iofd_tokened", format!("b{n}")),
        &n,
        |b, _| b.iter(|| l.round()),
    );
    l.finish();
}

fn slotless_loop<O: Slotless<Output: SlotlessOutput>, F: Fn() -> O>(
    g: &mut Group<'_>,
    n: usize,
    mut l: SlotlessLoop<O, F>,
) {
    g.bench_with_input(BenchmarkId::new("iofd", format!("b{n}")), &n, |b, _| {
        b.iter(|| l.round())
    });
    l.finish();
}

fn loop_nop(c: &mut Criterion) {
    let mut g = c.benchmark_group("loop/nop");
    for n in BATCHES {
        g.throughput(Throughput::Elements(n as u64));
        raw_loop(&mut g, n, Kind::Nop);
        slotless_loop(&mut g, n, slotless_nops(n));
        tokened_loop(&mut g, n, tokened_nops(n));
    }
    g.finish();
}

fn loop_read(c: &mut Criterion) {
    let mut g = c.benchmark_group("loop/read");
    for n in BATCHES {
        g.throughput(Throughput::Elements(n as u64));
        raw_loop(&mut g, n, Kind::Read);
        slotless_loop(&mut g, n, slotless_reads(n));
        tokened_loop(&mut g, n, tokened_reads(n));
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
                    // The kernel ends the stream when a result finds the
                    // completion queue full (this thread descheduled for
                    // 128 periods): pushed again, as a server would.
                    if t.is_done() {
                        t = ring
                            .push(timer.read_multishot_op_shared(&bufs))
                            .expect("push");
                    }
                    // Results queue up while the loop sleeps: wake for a
                    // batch, as a server would.
                    ring.submit_and_wait(32.min((RESULTS - got) as usize))
                        .expect("wait");
                    while let Some(r) = ring.take(&mut t) {
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

/// Prints the table's bytes per operation in flight for `N` operations
/// from `make` on a ring built with the default capacity.
fn print_table_bytes<O: Op + 'static>(what: &str, n: usize, make: impl Fn() -> O)
where
    O::Storage: Sized,
{
    let mut ring = Ring::new(256).expect("ring");
    let before = ring.table_bytes();
    let tokens: Vec<_> = (0..n).map(|_| ring.push(make()).expect("push")).collect();
    println!(
        "table/bytes: {:.1} bytes per {what} in flight ({n} of them, capacity {})",
        (ring.table_bytes() - before) as f64 / n as f64,
        ring.capacity(),
    );
    for t in tokens {
        ring.cancel(t).expect("cancel");
    }
    ring.wait_idle().expect("idle");
}

fn table(c: &mut Criterion) {
    const N: usize = 100_000;
    print_table_bytes("NOP", N, Nop::new);
    print_table_bytes("60 s timeout", N, || {
        Timeout::after(Duration::from_secs(60))
    });
    let efd = Arc::new(EventFd::new(0).expect("eventfd"));
    print_table_bytes("counter read of an Arc-held eventfd", N, || {
        efd.read_op_shared()
    });
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
