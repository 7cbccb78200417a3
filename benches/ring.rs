//! The ring driver beside the raw io-uring crate doing the same work, and
//! beside plain syscalls, in one run.
//!
//! - `nop/<batch>`: NOP throughput at batch sizes 1, 8, 32, 128.
//! - `read_ready/<batch>`: eventfd counter reads, at the same batch sizes,
//!   that complete inline (a
//!   semaphore eventfd loaded with 2^32 - 1 units), by descriptor and with
//!   a fixed file plus a registered ring fd. iofd's driver-owned reads by
//!   descriptor (`iofd`, an `Arc`-held handle kept open per read) and by
//!   [`Fixed`] file (`iofd_fixed_regring`, nothing kept), and scoped reads
//!   of a borrowed handle into the caller's storage (`iofd_scope`); beside
//!   one `read` syscall per counter through the handle.
//! - `read_armed/<batch>`: reads submitted before their counters are
//!   signalled, then the signals (a `write` syscall each) and the wait, at
//!   batch sizes 1 and 32, by descriptor and with fixed files plus a
//!   registered ring fd.
//!
//! - `drop/<in flight>`: the end of 20,000 reads armed on one eventfd,
//!   all cancelled and reaped: dropping the ring (`ring`) and leaving a
//!   scope (`scope`), each timed from the last push's submission to the
//!   return of the drop or the scope.
//!
//! Run: `cargo bench --bench ring`. Heap allocations per operation are
//! counted by `tests/ring_alloc.rs`.

use std::hint::black_box;
use std::os::fd::{AsFd, AsRawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use io_uring::{IoUring, opcode, types};
use iofd::EventFd;
use iofd::ring::ops::{Nop, ReadCounter};
use iofd::ring::{Fixed, Ring};

const BATCHES: [usize; 4] = [1, 8, 32, 128];

fn nop(c: &mut Criterion) {
    let mut g = c.benchmark_group("nop");
    let mut raw = IoUring::new(256).expect("io_uring");
    let mut ring = Ring::new(256).expect("ring");
    let mut tokens = Vec::with_capacity(128);
    for n in BATCHES {
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("raw", n), &n, |b, &n| {
            b.iter(|| {
                {
                    let mut sq = raw.submission();
                    for i in 0..n {
                        let e = opcode::Nop::new().build().user_data(i as u64);
                        // SAFETY: a NOP touches no memory.
                        unsafe { sq.push(&e) }.expect("sq has room");
                    }
                }
                raw.submit_and_wait(n).expect("submit");
                let mut done = 0;
                for cqe in raw.completion() {
                    black_box(cqe.result());
                    done += 1;
                }
                assert_eq!(done, n);
            })
        });
        g.bench_with_input(BenchmarkId::new("iofd", n), &n, |b, &n| {
            b.iter(|| {
                for _ in 0..n {
                    tokens.push(ring.push(Nop::new()).expect("push"));
                }
                ring.submit_and_wait(n).expect("submit");
                for t in tokens.drain(..) {
                    ring.wait(t).expect("nop");
                }
            })
        });
    }
    g.finish();
}

/// A semaphore eventfd loaded with 2^32 - 1 units: every read of it
/// completes at once with 1.
fn loaded() -> EventFd {
    EventFd::new_semaphore(u32::MAX).expect("eventfd")
}

fn read_ready(c: &mut Criterion) {
    let mut g = c.benchmark_group("read_ready");
    for n in BATCHES {
        g.throughput(Throughput::Elements(n as u64));

        // The raw crate, by descriptor.
        let efd = loaded();
        let mut raw = IoUring::new(128).expect("io_uring");
        let mut bufs = vec![0u64; n];
        g.bench_with_input(BenchmarkId::new("raw", n), &n, |b, &n| {
            let fd = types::Fd(efd.as_raw_fd());
            b.iter(|| {
                {
                    let mut sq = raw.submission();
                    for (i, buf) in bufs.iter_mut().enumerate() {
                        let e = opcode::Read::new(fd, (buf as *mut u64).cast(), 8)
                            .offset(u64::MAX)
                            .build()
                            .user_data(i as u64);
                        // SAFETY: `bufs` outlives the batch, which is reaped
                        // before the next iteration touches it.
                        unsafe { sq.push(&e) }.expect("room");
                    }
                }
                raw.submit_and_wait(n).expect("submit");
                let mut done = 0;
                for cqe in raw.completion() {
                    assert_eq!(cqe.result(), 8);
                    done += 1;
                }
                assert_eq!(done, n);
                black_box(&bufs);
            })
        });

        // The raw crate, fixed file and registered ring fd.
        let efd_fixed = loaded();
        let mut raw_fixed = IoUring::new(128).expect("io_uring");
        raw_fixed
            .submitter()
            .register_files(&[efd_fixed.as_raw_fd()])
            .expect("files");
        g.bench_with_input(BenchmarkId::new("raw_fixed_regring", n), &n, |b, &n| {
            let (mut submitter, mut sq, mut cq) = raw_fixed.split();
            submitter.register_ring_fd().expect("register ring fd");
            b.iter(|| {
                // The queue view's head is as of its last sync: refresh it
                // before filling the queue.
                sq.sync();
                for (i, buf) in bufs.iter_mut().enumerate() {
                    let e = opcode::Read::new(types::Fixed(0), (buf as *mut u64).cast(), 8)
                        .offset(u64::MAX)
                        .build()
                        .user_data(i as u64);
                    // SAFETY: as above.
                    unsafe { sq.push(&e) }.expect("room");
                }
                sq.sync();
                submitter.submit_and_wait(n).expect("submit");
                cq.sync();
                let mut done = 0;
                for cqe in &mut cq {
                    assert_eq!(cqe.result(), 8);
                    done += 1;
                }
                assert_eq!(done, n);
                black_box(&bufs);
            });
            submitter.unregister_ring_fd().expect("unregister");
        });

        // iofd, driver-owned reads by descriptor.
        let shared = Arc::new(loaded());
        let mut ring = Ring::new(128).expect("ring");
        let mut tokens: Vec<iofd::ring::Token<ReadCounter<Arc<EventFd>>>> = Vec::with_capacity(n);
        g.bench_with_input(BenchmarkId::new("iofd", n), &n, |b, &n| {
            b.iter(|| {
                for _ in 0..n {
                    tokens.push(ring.push(shared.read_op_shared()).expect("push"));
                }
                ring.submit_and_wait(n).expect("submit");
                for t in tokens.drain(..) {
                    assert_eq!(ring.wait(t).expect("read"), 1);
                }
            })
        });

        // iofd, fixed file and registered ring fd.
        let shared_fixed = loaded();
        let mut fixed_tokens: Vec<iofd::ring::Token<ReadCounter<Fixed<EventFd>>>> =
            Vec::with_capacity(n);
        let mut ring_fixed = Ring::builder(128)
            .register_ring_fd(true)
            .build()
            .expect("ring");
        ring_fixed
            .register_files(&[shared_fixed.as_fd()])
            .expect("files");
        g.bench_with_input(BenchmarkId::new("iofd_fixed_regring", n), &n, |b, &n| {
            let fixed = Fixed::<EventFd>::new(0);
            b.iter(|| {
                for _ in 0..n {
                    fixed_tokens.push(ring_fixed.push(fixed.read_op()).expect("push"));
                }
                ring_fixed.submit_and_wait(n).expect("submit");
                for t in fixed_tokens.drain(..) {
                    assert_eq!(ring_fixed.wait(t).expect("read"), 1);
                }
            })
        });

        // iofd, scoped reads by descriptor into the caller's storage, the
        // handle borrowed: what the raw crate does, with the scope's
        // guarantee that nothing outlives the borrows.
        let borrowed = loaded();
        let mut ring_scope = Ring::new(128).expect("ring");
        g.bench_with_input(BenchmarkId::new("iofd_scope", n), &n, |b, _| {
            b.iter(|| {
                ring_scope
                    .scope(|s| {
                        for buf in bufs.iter_mut() {
                            let _ = s.push_into(borrowed.read_op(), buf)?;
                        }
                        s.submit_and_wait_all()
                    })
                    .expect("scope");
                assert!(bufs.iter().all(|&v| v == 1));
                black_box(&bufs);
            })
        });

        // One read syscall per counter, through the handle.
        let plain = loaded();
        g.bench_with_input(BenchmarkId::new("syscall", n), &n, |b, &n| {
            let mut v = 0u64;
            b.iter(|| {
                for _ in 0..n {
                    plain.wait_into(&mut v).expect("read");
                }
                black_box(v)
            })
        });
    }
    g.finish();
}

fn read_armed(c: &mut Criterion) {
    let mut g = c.benchmark_group("read_armed");
    for n in [1usize, 32] {
        g.throughput(Throughput::Elements(n as u64));
        let mut bufs = vec![0u64; n];

        // The raw crate on blocking eventfds: the kernel arms its own poll.
        let blocking: Vec<EventFd> = (0..n).map(|_| blocking_eventfd()).collect();
        let mut raw = IoUring::new(64).expect("io_uring");
        g.bench_with_input(BenchmarkId::new("raw_blocking_fd", n), &n, |b, &n| {
            b.iter(|| {
                {
                    let mut sq = raw.submission();
                    for (i, (efd, buf)) in blocking.iter().zip(bufs.iter_mut()).enumerate() {
                        let fd = types::Fd(efd.as_raw_fd());
                        let e = opcode::Read::new(fd, (buf as *mut u64).cast(), 8)
                            .offset(u64::MAX)
                            .build()
                            .user_data(i as u64);
                        // SAFETY: `bufs` outlives the batch, which is reaped
                        // before the next iteration touches it.
                        unsafe { sq.push(&e) }.expect("room");
                    }
                }
                raw.submit().expect("arm");
                for efd in &blocking {
                    efd.signal(1).expect("signal");
                }
                raw.submit_and_wait(n).expect("wait");
                let mut done = 0;
                while done < n {
                    for cqe in raw.completion() {
                        assert_eq!(cqe.result(), 8);
                        done += 1;
                    }
                    if done < n {
                        raw.submit_and_wait(n - done).expect("wait");
                    }
                }
                black_box(&bufs);
            })
        });

        // The raw crate on the same, as fixed files, with a registered ring.
        let mut raw_fixed = IoUring::new(64).expect("io_uring");
        let fds: Vec<i32> = blocking.iter().map(|e| e.as_raw_fd()).collect();
        raw_fixed.submitter().register_files(&fds).expect("files");
        g.bench_with_input(
            BenchmarkId::new("raw_fixed_regring_blocking_fd", n),
            &n,
            |b, &n| {
                let (mut submitter, mut sq, mut cq) = raw_fixed.split();
                submitter.register_ring_fd().expect("register ring fd");
                b.iter(|| {
                    sq.sync();
                    for (i, buf) in bufs.iter_mut().enumerate() {
                        let e =
                            opcode::Read::new(types::Fixed(i as u32), (buf as *mut u64).cast(), 8)
                                .offset(u64::MAX)
                                .build()
                                .user_data(i as u64);
                        // SAFETY: as above.
                        unsafe { sq.push(&e) }.expect("room");
                    }
                    sq.sync();
                    submitter.submit().expect("arm");
                    for efd in &blocking {
                        efd.signal(1).expect("signal");
                    }
                    let mut done = 0;
                    while done < n {
                        submitter.submit_and_wait(n - done).expect("wait");
                        cq.sync();
                        for cqe in &mut cq {
                            assert_eq!(cqe.result(), 8);
                            done += 1;
                        }
                    }
                    black_box(&bufs);
                });
                submitter.unregister_ring_fd().expect("unregister");
            },
        );

        // iofd by descriptor, on non-blocking handles (the kernel, 6.18,
        // polls internally as for blocking ones; older kernels answer
        // -EAGAIN and the driver re-arms the read behind a poll) and on
        // blocking ones, as the raw crate.
        let non_blocking: Vec<Arc<EventFd>> = (0..n)
            .map(|_| Arc::new(EventFd::new(0).expect("eventfd")))
            .collect();
        let blocking_shared: Vec<Arc<EventFd>> =
            (0..n).map(|_| Arc::new(blocking_eventfd())).collect();
        let mut ring = Ring::new(64).expect("ring");
        let mut tokens = Vec::with_capacity(n);
        for (name, efds) in [
            ("iofd_rearm", &non_blocking),
            ("iofd_blocking_fd", &blocking_shared),
        ] {
            g.bench_with_input(BenchmarkId::new(name, n), &n, |b, &n| {
                b.iter(|| {
                    for efd in efds {
                        tokens.push(ring.push(efd.read_op_shared()).expect("push"));
                    }
                    ring.submit().expect("arm");
                    for efd in efds {
                        efd.signal(1).expect("signal");
                    }
                    ring.submit_and_wait(n).expect("wait");
                    for t in tokens.drain(..) {
                        assert_eq!(ring.wait(t).expect("read"), 1);
                    }
                })
            });
        }

        // iofd on the raw crate's blocking eventfds as fixed files, with a
        // registered ring.
        let mut ring_fixed = Ring::builder(64)
            .register_ring_fd(true)
            .build()
            .expect("ring");
        let borrowed: Vec<_> = blocking.iter().map(AsFd::as_fd).collect();
        ring_fixed.register_files(&borrowed).expect("files");
        let mut fixed_tokens: Vec<iofd::ring::Token<ReadCounter<Fixed<EventFd>>>> =
            Vec::with_capacity(n);
        g.bench_with_input(
            BenchmarkId::new("iofd_fixed_regring_blocking_fd", n),
            &n,
            |b, &n| {
                b.iter(|| {
                    for i in 0..n {
                        let fixed = Fixed::<EventFd>::new(i as u32);
                        fixed_tokens.push(ring_fixed.push(fixed.read_op()).expect("push"));
                    }
                    ring_fixed.submit().expect("arm");
                    for efd in &blocking {
                        efd.signal(1).expect("signal");
                    }
                    ring_fixed.submit_and_wait(n).expect("wait");
                    for t in fixed_tokens.drain(..) {
                        assert_eq!(ring_fixed.wait(t).expect("read"), 1);
                    }
                })
            },
        );
    }
    g.finish();
}

/// An eventfd with `O_NONBLOCK` cleared.
fn blocking_eventfd() -> EventFd {
    let efd = EventFd::new(0).expect("eventfd");
    efd.fd_set_blocking();
    efd
}

/// Clears `O_NONBLOCK` on a handle's descriptor.
trait SetBlocking {
    fn fd_set_blocking(&self);
}

impl SetBlocking for EventFd {
    fn fd_set_blocking(&self) {
        use iofd::sys::file::{StatusFlags, fcntl_getfl, fcntl_setfl};
        let fl = fcntl_getfl(self.as_fd()).expect("getfl");
        fcntl_setfl(self.as_fd(), fl - StatusFlags::NONBLOCK).expect("setfl");
    }
}

/// Operations in flight for the `drop` group.
const DROP_IN_FLIGHT: usize = 20_000;

fn drop_in_flight(c: &mut Criterion) {
    let mut g = c.benchmark_group("drop");
    g.sample_size(10);
    let n = DROP_IN_FLIGHT;
    let efd = Arc::new(EventFd::new(0).expect("eventfd"));
    let build = |sq: u32| {
        Ring::builder(sq)
            .capacity(n)
            .build()
            .expect("a ring for 20,000 operations")
    };
    for (id, sq) in [("ring", 256), ("ring_sq2", 2)] {
        g.bench_function(BenchmarkId::new(id, n), |b| {
            b.iter_custom(|iters| drop_ring(iters, build(sq), &efd))
        });
    }
    let mut ring = build(256);
    let mut bufs = vec![0u64; n];
    g.bench_function(BenchmarkId::new("scope", n), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let mut start = Instant::now();
                ring.scope(|s| {
                    for buf in bufs.iter_mut() {
                        let _ = s.push_into(efd.read_op(), buf)?;
                    }
                    s.submit()?;
                    start = Instant::now();
                    Ok::<(), iofd::Error>(())
                })
                .expect("armed");
                total += start.elapsed();
            }
            total
        })
    });
    g.finish();
}

/// Times `iters` drops of rings like `first` with [`DROP_IN_FLIGHT`] reads
/// armed on `efd`, building each (but the first) untimed.
fn drop_ring(iters: u64, first: Ring, efd: &Arc<EventFd>) -> Duration {
    let (sq, capacity) = (first.sq_entries(), first.capacity());
    let mut total = Duration::ZERO;
    let mut next = Some(first);
    for _ in 0..iters {
        let mut ring = match next.take() {
            Some(ring) => ring,
            None => Ring::builder(sq).capacity(capacity).build().expect("ring"),
        };
        let tokens: Vec<_> = (0..DROP_IN_FLIGHT)
            .map(|_| ring.push(efd.read_op_shared()).expect("push"))
            .collect();
        ring.submit().expect("arm");
        let start = Instant::now();
        drop(ring);
        total += start.elapsed();
        drop(tokens);
    }
    total
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = nop, read_ready, read_armed, drop_in_flight
}
criterion_main!(benches);
