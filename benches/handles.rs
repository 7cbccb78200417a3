//! The handle layer beside its rivals: each group measures the same kernel
//! work through an iofd handle, through the `libc` crate (glibc), through
//! `rustix` and, where it has the type, through `nix`, in one run.
//!
//! Run: `cargo bench --bench handles`.

use std::hint::black_box;
use std::os::fd::{AsFd, AsRawFd};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use iofd::{EventFd, MemFd, SigSet, Signal, SignalFd, SignalInfo, TimerFd};

fn eventfd_signal_wait(c: &mut Criterion) {
    let mut g = c.benchmark_group("eventfd_signal_wait");
    let efd = EventFd::new(0).expect("eventfd");
    g.bench_function("iofd", |b| {
        let mut v = 0u64;
        b.iter(|| {
            efd.signal(1).expect("signal");
            efd.wait_into(&mut v).expect("wait");
            black_box(v)
        })
    });
    let raw = efd.as_raw_fd();
    g.bench_function("libc", |b| {
        b.iter(|| {
            let one = 1u64;
            let mut v = 0u64;
            // SAFETY: `raw` stays open for the whole group; both buffers are
            // 8 live bytes.
            unsafe {
                assert_eq!(libc::write(raw, (&raw const one).cast(), 8), 8);
                assert_eq!(libc::read(raw, (&raw mut v).cast(), 8), 8);
            }
            black_box(v)
        })
    });
    let fd = efd.as_fd();
    g.bench_function("rustix", |b| {
        b.iter(|| {
            rustix::io::write(fd, &1u64.to_ne_bytes()).expect("write");
            let mut v = [0u8; 8];
            rustix::io::read(fd, &mut v).expect("read");
            black_box(v)
        })
    });
    let nfd = nix::sys::eventfd::EventFd::from_value_and_flags(
        0,
        nix::sys::eventfd::EfdFlags::EFD_NONBLOCK | nix::sys::eventfd::EfdFlags::EFD_CLOEXEC,
    )
    .expect("nix eventfd");
    g.bench_function("nix", |b| {
        b.iter(|| {
            nfd.write(1).expect("write");
            black_box(nfd.read().expect("read"))
        })
    });
    g.finish();
}

/// `struct itimerspec` for libc, one second, one shot (or zero: disarm).
fn libc_spec(secs: i64) -> libc::itimerspec {
    libc::itimerspec {
        it_interval: libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        },
        it_value: libc::timespec {
            tv_sec: secs,
            tv_nsec: 0,
        },
    }
}

fn timerfd_arm_disarm(c: &mut Criterion) {
    let mut g = c.benchmark_group("timerfd_arm_disarm");
    let t = TimerFd::new().expect("timerfd");
    g.bench_function("iofd", |b| {
        b.iter(|| {
            t.arm(Duration::from_secs(1), Duration::ZERO).expect("arm");
            t.disarm().expect("disarm")
        })
    });
    let raw = t.as_raw_fd();
    g.bench_function("libc", |b| {
        let (on, off) = (libc_spec(1), libc_spec(0));
        b.iter(|| {
            // SAFETY: `raw` stays open; the specs are live; old values are
            // not asked for.
            unsafe {
                assert_eq!(libc::timerfd_settime(raw, 0, &on, std::ptr::null_mut()), 0);
                assert_eq!(libc::timerfd_settime(raw, 0, &off, std::ptr::null_mut()), 0);
            }
        })
    });
    let fd = t.as_fd();
    g.bench_function("rustix", |b| {
        use rustix::time::{Itimerspec, TimerfdTimerFlags, Timespec, timerfd_settime};
        let zero = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let on = Itimerspec {
            it_interval: zero,
            it_value: Timespec {
                tv_sec: 1,
                tv_nsec: 0,
            },
        };
        let off = Itimerspec {
            it_interval: zero,
            it_value: zero,
        };
        b.iter(|| {
            timerfd_settime(fd, TimerfdTimerFlags::empty(), &on).expect("arm");
            timerfd_settime(fd, TimerfdTimerFlags::empty(), &off).expect("disarm")
        })
    });
    let nt = nix::sys::timerfd::TimerFd::new(
        nix::sys::timerfd::ClockId::CLOCK_MONOTONIC,
        nix::sys::timerfd::TimerFlags::TFD_NONBLOCK | nix::sys::timerfd::TimerFlags::TFD_CLOEXEC,
    )
    .expect("nix timerfd");
    g.bench_function("nix", |b| {
        use nix::sys::time::TimeSpec;
        use nix::sys::timerfd::{Expiration, TimerSetTimeFlags};
        b.iter(|| {
            let one = Expiration::OneShot(TimeSpec::from_duration(Duration::from_secs(1)));
            nt.set(one, TimerSetTimeFlags::empty()).expect("arm");
            nt.unset().expect("disarm")
        })
    });
    g.finish();
}

fn timerfd_get_time(c: &mut Criterion) {
    let mut g = c.benchmark_group("timerfd_get_time");
    let t = TimerFd::new().expect("timerfd");
    t.arm(Duration::from_secs(3600), Duration::from_secs(1))
        .expect("arm");
    g.bench_function("iofd", |b| b.iter(|| black_box(t.get_time().expect("get"))));
    let raw = t.as_raw_fd();
    g.bench_function("libc", |b| {
        b.iter(|| {
            let mut cur = libc_spec(0);
            // SAFETY: `raw` stays open; `cur` is a writable itimerspec.
            assert_eq!(unsafe { libc::timerfd_gettime(raw, &mut cur) }, 0);
            black_box(cur.it_value.tv_sec)
        })
    });
    let fd = t.as_fd();
    g.bench_function("rustix", |b| {
        b.iter(|| black_box(rustix::time::timerfd_gettime(fd).expect("get")))
    });
    let nt = nix::sys::timerfd::TimerFd::new(
        nix::sys::timerfd::ClockId::CLOCK_MONOTONIC,
        nix::sys::timerfd::TimerFlags::TFD_NONBLOCK,
    )
    .expect("nix timerfd");
    nt.set(
        nix::sys::timerfd::Expiration::Interval(nix::sys::time::TimeSpec::from_duration(
            Duration::from_secs(3600),
        )),
        nix::sys::timerfd::TimerSetTimeFlags::empty(),
    )
    .expect("arm");
    g.bench_function("nix", |b| b.iter(|| black_box(nt.get().expect("get"))));
    g.finish();
}

fn memfd_write_read_64(c: &mut Criterion) {
    let mut g = c.benchmark_group("memfd_write_read_64");
    let m = MemFd::new("bench").expect("memfd");
    m.set_len(4096).expect("set_len");
    let data = [7u8; 64];
    g.bench_function("iofd", |b| {
        let mut out = [0u8; 64];
        b.iter(|| {
            m.write_at(&data, 128).expect("write");
            m.read_at(&mut out, 128).expect("read");
            black_box(out[0])
        })
    });
    let raw = m.as_raw_fd();
    g.bench_function("libc", |b| {
        let mut out = [0u8; 64];
        b.iter(|| {
            // SAFETY: `raw` stays open; both buffers are 64 live bytes.
            unsafe {
                assert_eq!(libc::pwrite(raw, data.as_ptr().cast(), 64, 128), 64);
                assert_eq!(libc::pread(raw, out.as_mut_ptr().cast(), 64, 128), 64);
            }
            black_box(out[0])
        })
    });
    let fd = m.as_fd();
    g.bench_function("rustix", |b| {
        let mut out = [0u8; 64];
        b.iter(|| {
            rustix::io::pwrite(fd, &data, 128).expect("write");
            rustix::io::pread(fd, &mut out, 128).expect("read");
            black_box(out[0])
        })
    });
    g.bench_function("nix", |b| {
        let mut out = [0u8; 64];
        b.iter(|| {
            nix::sys::uio::pwrite(fd, &data, 128).expect("write");
            nix::sys::uio::pread(fd, &mut out, 128).expect("read");
            black_box(out[0])
        })
    });
    g.finish();
}

fn signalfd_read_empty(c: &mut Criterion) {
    let mut g = c.benchmark_group("signalfd_read_empty");
    // Watching a signal nobody sends: every read finds the queue empty.
    let mut mask = SigSet::empty();
    mask.add(Signal::new(50).expect("rt signal"));
    let sfd = SignalFd::new(&mask).expect("signalfd");
    g.bench_function("iofd", |b| {
        let mut info = SignalInfo::zeroed();
        b.iter(|| black_box(sfd.read_into(&mut info).is_err()))
    });
    let raw = sfd.as_raw_fd();
    g.bench_function("libc", |b| {
        let mut buf = [0u8; 128];
        // SAFETY: `raw` stays open; `buf` is 128 writable bytes.
        b.iter(|| black_box(unsafe { libc::read(raw, buf.as_mut_ptr().cast(), 128) }))
    });
    let fd = sfd.as_fd();
    g.bench_function("rustix", |b| {
        let mut buf = [0u8; 128];
        b.iter(|| black_box(rustix::io::read(fd, &mut buf).is_err()))
    });
    let mut nmask = nix::sys::signal::SigSet::empty();
    nmask.add(nix::sys::signal::Signal::SIGUSR2);
    let nsfd = nix::sys::signalfd::SignalFd::with_flags(
        &nmask,
        nix::sys::signalfd::SfdFlags::SFD_NONBLOCK | nix::sys::signalfd::SfdFlags::SFD_CLOEXEC,
    )
    .expect("nix signalfd");
    g.bench_function("nix", |b| {
        b.iter(|| black_box(nsfd.read_signal().expect("read")))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = eventfd_signal_wait, timerfd_arm_disarm, timerfd_get_time, memfd_write_read_64,
        signalfd_read_empty
}
criterion_main!(benches);
