//! The syscall core beside its rivals: each group measures the same call
//! through iofd's inline-asm core, through the `libc` crate (glibc's
//! wrappers) and through `rustix` (inline asm too), in one run, so the
//! figures read as ratios.
//!
//! Run: `cargo bench --bench sys`.

use std::hint::black_box;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use criterion::{Criterion, criterion_group, criterion_main};

fn getppid(c: &mut Criterion) {
    let mut g = c.benchmark_group("getppid");
    g.bench_function("iofd", |b| {
        b.iter(|| black_box(iofd::sys::process::getppid()))
    });
    // SAFETY: getppid has no preconditions.
    g.bench_function("libc", |b| b.iter(|| black_box(unsafe { libc::getppid() })));
    g.bench_function("rustix", |b| {
        b.iter(|| black_box(rustix::process::getppid()))
    });
    g.finish();
}

/// One eventfd, shared by all three paths, so every path does the same
/// kernel work: add 1 to the counter, then read (and reset) it.
fn eventfd() -> OwnedFd {
    use iofd::sys::event::{EventFdFlags, eventfd2};
    eventfd2(0, EventFdFlags::CLOEXEC | EventFdFlags::NONBLOCK).expect("eventfd2")
}

fn eventfd_write_read(c: &mut Criterion) {
    let efd = eventfd();
    let fd = efd.as_fd();
    let raw = fd.as_raw_fd();
    let mut g = c.benchmark_group("eventfd_write_read");
    g.bench_function("iofd", |b| {
        b.iter(|| {
            iofd::sys::io::write(fd, &1u64.to_ne_bytes()).expect("write");
            let mut v = [0u8; 8];
            iofd::sys::io::read(fd, &mut v).expect("read");
            black_box(v)
        })
    });
    g.bench_function("libc", |b| {
        b.iter(|| {
            let one = 1u64;
            let mut v = 0u64;
            // SAFETY: `raw` is open for the whole benchmark; both buffers are
            // 8 live bytes.
            unsafe {
                assert_eq!(libc::write(raw, (&raw const one).cast(), 8), 8);
                assert_eq!(libc::read(raw, (&raw mut v).cast(), 8), 8);
            }
            black_box(v)
        })
    });
    g.bench_function("rustix", |b| {
        b.iter(|| {
            rustix::io::write(fd, &1u64.to_ne_bytes()).expect("write");
            let mut v = [0u8; 8];
            rustix::io::read(fd, &mut v).expect("read");
            black_box(v)
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(3));
    targets = getppid, eventfd_write_read
}
criterion_main!(benches);
