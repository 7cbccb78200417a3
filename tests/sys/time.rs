//! `sys::time`: clock_gettime and timerfds, against the real kernel clocks.

use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use iofd::sys::Errno;
use iofd::sys::event::{EventFdFlags, eventfd2};
use iofd::sys::file::{FdFlags, StatusFlags, fcntl_getfd, fcntl_getfl};
use iofd::sys::io;
use iofd::sys::time::{
    ClockId, ITimerSpec, TimerFdFlags, TimerSetFlags, Timespec, clock_gettime, timerfd_create,
    timerfd_gettime, timerfd_settime,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const NB: TimerFdFlags = TimerFdFlags::NONBLOCK.union(TimerFdFlags::CLOEXEC);

/// A descriptor number this process never opens.
fn never_open() -> BorrowedFd<'static> {
    // SAFETY: the wrappers only hand the number to the kernel, which reports
    // EBADF; nothing is ever read through or closed via it.
    unsafe { BorrowedFd::borrow_raw(900_000) }
}

fn spec(value: Duration, interval: Duration) -> Result<ITimerSpec, Box<dyn std::error::Error>> {
    Ok(ITimerSpec {
        interval: interval.try_into()?,
        value: value.try_into()?,
    })
}

/// Reads a non-blocking timerfd's expiration count, retrying `EAGAIN` with
/// short sleeps for up to two seconds (blocking poll is not available yet).
fn wait_expirations(fd: BorrowedFd<'_>) -> Result<u64, Errno> {
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut buf = [0u8; 8];
    loop {
        match io::read(fd, &mut buf) {
            Ok(n) => {
                assert_eq!(n, 8);
                return Ok(u64::from_ne_bytes(buf));
            }
            Err(Errno::EAGAIN) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => return Err(e),
        }
    }
}

#[test]
fn monotonic_clock_increases() -> TestResult {
    let a = clock_gettime(ClockId::Monotonic)?
        .to_duration()
        .ok_or("negative")?;
    std::thread::sleep(Duration::from_millis(2));
    let b = clock_gettime(ClockId::Monotonic)?
        .to_duration()
        .ok_or("negative")?;
    assert!(b > a, "{b:?} <= {a:?}");
    assert!(b - a >= Duration::from_millis(2));
    Ok(())
}

#[test]
fn realtime_clock_matches_system_time() -> TestResult {
    let ours = clock_gettime(ClockId::Realtime)?
        .to_duration()
        .ok_or("negative")?;
    let std = SystemTime::now().duration_since(UNIX_EPOCH)?;
    let diff = std.abs_diff(ours);
    assert!(diff < Duration::from_secs(1), "{ours:?} vs {std:?}");
    Ok(())
}

#[test]
fn every_ordinary_clock_is_readable() -> TestResult {
    use ClockId::*;
    for clock in [
        Realtime,
        Monotonic,
        ProcessCputime,
        ThreadCputime,
        MonotonicRaw,
        RealtimeCoarse,
        MonotonicCoarse,
        Boottime,
        Tai,
    ] {
        let ts = clock_gettime(clock)?;
        assert!(ts.to_duration().is_some(), "{clock:?}: {ts:?}");
    }
    Ok(())
}

#[test]
fn alarm_clocks_read_or_report_no_rtc() -> TestResult {
    let real = clock_gettime(ClockId::Realtime)?;
    match clock_gettime(ClockId::RealtimeAlarm) {
        Ok(ts) => assert!((ts.sec - real.sec).abs() <= 1, "{ts:?} vs {real:?}"),
        // The alarm clocks need an RTC device; without one they are EINVAL.
        Err(e) => {
            assert_eq!(e, Errno::EINVAL);
            eprintln!("CLOCK_REALTIME_ALARM unsupported here (no RTC): {e}");
        }
    }
    Ok(())
}

#[test]
fn timerfd_rejects_cpu_clocks_and_unknown_flags() {
    let err = timerfd_create(ClockId::ProcessCputime, NB).unwrap_err();
    assert_eq!(err, Errno::EINVAL);
    let err = timerfd_create(ClockId::MonotonicRaw, NB).unwrap_err();
    assert_eq!(err, Errno::EINVAL);
    let err = timerfd_create(ClockId::Monotonic, TimerFdFlags::from_bits_retain(1)).unwrap_err();
    assert_eq!(err, Errno::EINVAL);
}

#[test]
fn timerfd_flags_are_visible_through_fcntl() -> TestResult {
    let tfd = timerfd_create(ClockId::Monotonic, NB)?;
    assert!(fcntl_getfd(tfd.as_fd())?.contains(FdFlags::CLOEXEC));
    assert!(fcntl_getfl(tfd.as_fd())?.contains(StatusFlags::NONBLOCK));
    Ok(())
}

#[test]
fn relative_timer_expires() -> TestResult {
    let tfd = timerfd_create(ClockId::Monotonic, NB)?;
    let old = timerfd_settime(
        tfd.as_fd(),
        TimerSetFlags::empty(),
        &spec(Duration::from_millis(1), Duration::ZERO)?,
    )?;
    assert_eq!(old, ITimerSpec::default(), "a fresh timer was disarmed");
    assert!(wait_expirations(tfd.as_fd())? >= 1);
    // One-shot: disarmed after it fired.
    assert_eq!(timerfd_gettime(tfd.as_fd())?, ITimerSpec::default());
    Ok(())
}

#[test]
fn gettime_reports_remaining_and_interval() -> TestResult {
    let tfd = timerfd_create(ClockId::Boottime, NB)?;
    let set = spec(Duration::from_secs(10), Duration::from_secs(2))?;
    timerfd_settime(tfd.as_fd(), TimerSetFlags::empty(), &set)?;
    let cur = timerfd_gettime(tfd.as_fd())?;
    let left = cur.value.to_duration().ok_or("invalid")?;
    assert!(
        left > Duration::ZERO && left <= Duration::from_secs(10),
        "{left:?}"
    );
    assert_eq!(cur.interval, Timespec { sec: 2, nsec: 0 });

    // Disarming returns the previous setting.
    let old = timerfd_settime(tfd.as_fd(), TimerSetFlags::empty(), &ITimerSpec::default())?;
    assert!(old.value.to_duration().ok_or("invalid")? <= left);
    assert_eq!(old.interval, set.interval);
    assert_eq!(timerfd_gettime(tfd.as_fd())?, ITimerSpec::default());
    Ok(())
}

#[test]
fn absolute_deadline_in_the_past_fires_at_once() -> TestResult {
    let tfd = timerfd_create(ClockId::Monotonic, NB)?;
    let now = clock_gettime(ClockId::Monotonic)?;
    let past = ITimerSpec {
        interval: Timespec::ZERO,
        value: Timespec {
            sec: now.sec - 1,
            ..now
        },
    };
    let start = Instant::now();
    timerfd_settime(tfd.as_fd(), TimerSetFlags::ABSTIME, &past)?;
    assert!(wait_expirations(tfd.as_fd())? >= 1);
    assert!(start.elapsed() < Duration::from_secs(1));
    Ok(())
}

#[test]
fn out_of_range_nanoseconds_are_einval() -> TestResult {
    let tfd = timerfd_create(ClockId::Monotonic, NB)?;
    let bad = ITimerSpec {
        interval: Timespec::ZERO,
        value: Timespec {
            sec: 0,
            nsec: 1_000_000_000,
        },
    };
    assert_eq!(
        timerfd_settime(tfd.as_fd(), TimerSetFlags::empty(), &bad),
        Err(Errno::EINVAL)
    );
    let negative = ITimerSpec {
        interval: Timespec::ZERO,
        value: Timespec { sec: -1, nsec: 0 },
    };
    assert_eq!(
        timerfd_settime(tfd.as_fd(), TimerSetFlags::empty(), &negative),
        Err(Errno::EINVAL)
    );
    Ok(())
}

#[test]
fn settime_and_gettime_on_an_eventfd_are_einval() -> TestResult {
    let efd = eventfd2(0, EventFdFlags::CLOEXEC)?;
    let set = spec(Duration::from_secs(1), Duration::ZERO)?;
    assert_eq!(
        timerfd_settime(efd.as_fd(), TimerSetFlags::empty(), &set),
        Err(Errno::EINVAL)
    );
    assert_eq!(timerfd_gettime(efd.as_fd()), Err(Errno::EINVAL));
    Ok(())
}

#[test]
fn never_open_fd_is_ebadf() -> TestResult {
    assert_eq!(timerfd_gettime(never_open()), Err(Errno::EBADF));
    let set = spec(Duration::from_secs(1), Duration::ZERO)?;
    assert_eq!(
        timerfd_settime(never_open(), TimerSetFlags::empty(), &set),
        Err(Errno::EBADF)
    );
    Ok(())
}
