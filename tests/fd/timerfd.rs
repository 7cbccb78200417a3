//! `TimerFd` and `Clock`: relative and absolute arming, periods, re-arming,
//! disarming, `get_time`, limits, close, flags and std conversions.
//!
//! Timers are waited for by polling with short sleeps (no poll API yet);
//! the only timing assertions are "not before the deadline" and bounds of
//! seconds.

use crate::util;

use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use iofd::sys::time::ClockId;
use iofd::{Clock, Error, Timer, TimerFd};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const O_NONBLOCK: u32 = 0o4000;
const O_CLOEXEC: u32 = 0o2000000;
const CLOCKS: [Clock; 3] = [Clock::Monotonic, Clock::Realtime, Clock::Boottime];
const MS: Duration = Duration::from_millis(1);

/// A timer on `clock`, through its named constructor.
fn timer_on(clock: Clock) -> iofd::Result<TimerFd> {
    match clock {
        Clock::Monotonic => TimerFd::new(),
        Clock::Realtime => TimerFd::new_realtime(),
        Clock::Boottime => TimerFd::new_boottime(),
    }
}

/// Reads the expiration count, retrying `WouldBlock` with short sleeps for
/// up to five seconds.
fn wait_expirations(t: &TimerFd) -> iofd::Result<u64> {
    let give_up = Instant::now() + Duration::from_secs(5);
    loop {
        match t.expirations() {
            Err(Error::WouldBlock) if Instant::now() < give_up => std::thread::sleep(MS),
            other => return other,
        }
    }
}

#[test]
fn created_non_blocking_and_close_on_exec() -> TestResult {
    for clock in CLOCKS {
        let t = timer_on(clock)?;
        let flags = util::fdinfo_flags(&t);
        assert_eq!(flags & O_NONBLOCK, O_NONBLOCK, "{clock:?}: flags {flags:o}");
        assert_eq!(flags & O_CLOEXEC, O_CLOEXEC, "{clock:?}: flags {flags:o}");
    }
    Ok(())
}

#[test]
fn constructors_choose_their_clock() -> TestResult {
    assert_eq!(TimerFd::new()?.clock(), Clock::Monotonic);
    assert_eq!(TimerFd::new_realtime()?.clock(), Clock::Realtime);
    assert_eq!(TimerFd::new_boottime()?.clock(), Clock::Boottime);
    for clock in CLOCKS {
        assert_eq!(TimerFd::with_clock(clock)?.clock(), clock);
    }
    assert_eq!(Clock::default(), Clock::Monotonic);
    Ok(())
}

#[test]
fn a_new_timer_is_disarmed() -> TestResult {
    for clock in CLOCKS {
        let t = timer_on(clock)?;
        assert_eq!(t.expirations(), Err(Error::WouldBlock));
        let mut out = 5;
        assert_eq!(t.expirations_into(&mut out), Err(Error::WouldBlock));
        assert_eq!(out, 5, "left untouched on error");
        assert_eq!(t.get_time()?, (Duration::ZERO, Duration::ZERO));
    }
    Ok(())
}

#[test]
fn relative_one_shot_fires_once_not_before_its_deadline() -> TestResult {
    for clock in CLOCKS {
        let t = timer_on(clock)?;
        let start = Instant::now();
        t.arm(20 * MS, Duration::ZERO)?;
        assert_eq!(wait_expirations(&t)?, 1, "{clock:?}");
        assert!(start.elapsed() >= 20 * MS, "{clock:?}: fired early");
        // One shot: nothing more, and nothing left on the clock.
        std::thread::sleep(30 * MS);
        assert_eq!(t.expirations(), Err(Error::WouldBlock), "{clock:?}");
        assert_eq!(t.get_time()?, (Duration::ZERO, Duration::ZERO));
    }
    Ok(())
}

#[test]
fn absolute_deadline_on_the_timers_own_clock() -> TestResult {
    for clock in CLOCKS {
        let t = timer_on(clock)?;
        let deadline = t.clock().now()? + 20 * MS;
        t.arm_at(deadline, Duration::ZERO)?;
        let mut out = 0;
        let give_up = Instant::now() + Duration::from_secs(5);
        loop {
            match t.expirations_into(&mut out) {
                Err(Error::WouldBlock) if Instant::now() < give_up => std::thread::sleep(MS),
                other => break other?,
            }
        }
        assert_eq!(out, 1, "{clock:?}");
        assert!(clock.now()? >= deadline, "{clock:?}: fired early");
    }
    Ok(())
}

#[test]
fn a_past_absolute_deadline_fires_at_once() -> TestResult {
    for clock in CLOCKS {
        let t = timer_on(clock)?;
        let past = clock.now()? - Duration::from_millis(500);
        t.arm_at(past, Duration::ZERO)?;
        assert_eq!(wait_expirations(&t)?, 1, "{clock:?}");
        assert_eq!(t.get_time()?.0, Duration::ZERO);
    }
    // Periodic from a deadline long past: every period since counts.
    let t = TimerFd::new()?;
    let past = Clock::Monotonic.now()? - Duration::from_millis(500);
    t.arm_at(past, 10 * MS)?;
    let n = wait_expirations(&t)?;
    assert!(n >= 50, "{n} expirations for 500 ms of 10 ms periods");
    Ok(())
}

#[test]
fn periodic_timer_read_late_reports_every_period() -> TestResult {
    let t = TimerFd::new()?;
    let start = Instant::now();
    t.arm(5 * MS, 5 * MS)?;
    std::thread::sleep(60 * MS);
    let n = t.expirations()?;
    assert!(n > 1, "{n} expirations");
    // Not more than the periods that could have passed.
    let bound = start.elapsed().as_millis() / 5;
    assert!(u128::from(n) <= bound, "{n} > {bound}");
    // It keeps going.
    assert!(wait_expirations(&t)? >= 1);
    assert_eq!(t.get_time()?.1, 5 * MS);
    Ok(())
}

#[test]
fn rearming_replaces_the_previous_setting() -> TestResult {
    // A short timer replaced by a long one never fires (re-arming also
    // clears any count already pending).
    let t = TimerFd::new()?;
    t.arm(5 * MS, MS)?;
    t.arm(Duration::from_secs(3600), Duration::ZERO)?;
    std::thread::sleep(40 * MS);
    assert_eq!(t.expirations(), Err(Error::WouldBlock));
    let (left, interval) = t.get_time()?;
    assert!(left > Duration::from_secs(3500), "{left:?}");
    assert_eq!(interval, Duration::ZERO);

    // A long timer replaced by a short one fires.
    t.arm(10 * MS, Duration::ZERO)?;
    assert_eq!(wait_expirations(&t)?, 1);

    // A pending count is cleared by re-arming.
    t.arm(MS, Duration::ZERO)?;
    std::thread::sleep(20 * MS);
    t.arm_at(
        Clock::Monotonic.now()? + Duration::from_secs(3600),
        Duration::ZERO,
    )?;
    assert_eq!(t.expirations(), Err(Error::WouldBlock));
    Ok(())
}

#[test]
fn disarm_cancels() -> TestResult {
    let t = TimerFd::new()?;
    t.arm(10 * MS, 10 * MS)?;
    t.disarm()?;
    assert_eq!(t.get_time()?, (Duration::ZERO, Duration::ZERO));
    std::thread::sleep(50 * MS);
    assert_eq!(t.expirations(), Err(Error::WouldBlock));

    // Disarming discards expirations not yet read.
    t.arm(MS, Duration::ZERO)?;
    std::thread::sleep(20 * MS);
    t.disarm()?;
    assert_eq!(t.expirations(), Err(Error::WouldBlock));

    // Disarming a disarmed timer is fine.
    t.disarm()?;
    Ok(())
}

#[test]
fn get_time_reports_remaining_and_interval() -> TestResult {
    let t = TimerFd::new()?;
    t.arm(Duration::from_secs(10), Duration::from_millis(2500))?;
    let (left, interval) = t.get_time()?;
    assert!(left <= Duration::from_secs(10), "{left:?}");
    assert!(left > Duration::from_secs(5), "{left:?}");
    assert_eq!(interval, Duration::from_millis(2500));

    let rt = TimerFd::new_realtime()?;
    rt.arm_at(
        Clock::Realtime.now()? + Duration::from_secs(30),
        Duration::ZERO,
    )?;
    let (left, interval) = rt.get_time()?;
    assert!(left <= Duration::from_secs(30), "{left:?}");
    assert!(left > Duration::from_secs(25), "{left:?}");
    assert_eq!(interval, Duration::ZERO);
    Ok(())
}

#[test]
fn zero_initial_or_deadline_is_invalid_param() -> TestResult {
    let t = TimerFd::new()?;
    let zero_initial = Err(Error::InvalidParam("zero initial expiration"));
    let zero_deadline = Err(Error::InvalidParam("zero deadline"));
    assert_eq!(t.arm(Duration::ZERO, Duration::ZERO), zero_initial);
    assert_eq!(t.arm(Duration::ZERO, MS), zero_initial);
    assert_eq!(t.arm_at(Duration::ZERO, Duration::ZERO), zero_deadline);
    assert_eq!(t.arm_at(Duration::ZERO, MS), zero_deadline);
    assert_eq!(t.get_time()?, (Duration::ZERO, Duration::ZERO), "not armed");
    Ok(())
}

#[test]
fn durations_past_i64_seconds_are_invalid_param() -> TestResult {
    let t = TimerFd::new()?;
    let too_long = Duration::from_secs(i64::MAX as u64 + 1);
    for (initial, interval) in [
        (too_long, Duration::ZERO),
        (MS, too_long),
        (Duration::MAX, MS),
    ] {
        let too_long = Err(Error::InvalidParam("duration seconds exceed i64::MAX"));
        assert_eq!(t.arm(initial, interval), too_long);
        assert_eq!(t.arm_at(initial, interval), too_long);
    }
    assert_eq!(t.get_time()?, (Duration::ZERO, Duration::ZERO), "not armed");

    // The largest whole-second value is accepted (the kernel saturates it).
    let longest = Duration::from_secs(i64::MAX as u64);
    t.arm(longest, longest)?;
    let (left, interval) = t.get_time()?;
    assert!(
        left > Duration::from_secs(100 * 365 * 24 * 3600),
        "{left:?}"
    );
    assert!(interval > Duration::from_secs(100 * 365 * 24 * 3600));
    t.arm_at(longest, Duration::ZERO)?;
    assert_eq!(t.expirations(), Err(Error::WouldBlock));
    Ok(())
}

#[test]
fn timer_trait_forwards() -> TestResult {
    let t = TimerFd::new()?;
    let timer: &dyn Timer = &t;
    assert_eq!(
        timer.arm(Duration::ZERO, Duration::ZERO),
        Err(Error::InvalidParam("zero initial expiration"))
    );
    timer.arm(MS, Duration::ZERO)?;
    assert_eq!(wait_expirations(&t)?, 1);
    timer.arm(Duration::from_secs(60), Duration::ZERO)?;
    timer.disarm()?;
    assert_eq!(t.get_time()?, (Duration::ZERO, Duration::ZERO));
    assert!(timer.is_valid());
    assert_eq!(timer.raw(), t.as_raw_fd());
    timer.close()?;
    assert_eq!(timer.arm(MS, Duration::ZERO), Err(Error::Closed));
    assert_eq!(timer.disarm(), Err(Error::Closed));
    Ok(())
}

#[test]
fn every_operation_after_close_is_closed() -> TestResult {
    for clock in CLOCKS {
        let t = timer_on(clock)?;
        let raw = t.raw();
        t.arm(MS, MS)?;
        assert!(t.is_valid());
        t.close()?;
        t.close()?; // idempotent
        assert!(!t.is_valid());
        assert_eq!(t.raw(), -1);
        assert_eq!(t.as_raw_fd(), -1);
        assert_eq!(t.arm(MS, Duration::ZERO), Err(Error::Closed));
        assert_eq!(t.arm(Duration::ZERO, Duration::ZERO), Err(Error::Closed));
        assert_eq!(t.arm_at(clock.now()?, MS), Err(Error::Closed));
        assert_eq!(t.arm_at(Duration::ZERO, MS), Err(Error::Closed));
        assert_eq!(t.disarm(), Err(Error::Closed));
        assert_eq!(t.expirations(), Err(Error::Closed));
        let mut out = 3;
        assert_eq!(t.expirations_into(&mut out), Err(Error::Closed));
        assert_eq!(out, 3);
        assert_eq!(t.get_time(), Err(Error::Closed));
        assert_eq!(t.clock(), clock, "cached, no syscall");
        // The number stays reserved until the handle is dropped.
        assert!(util::is_open(raw));
    }
    Ok(())
}

#[test]
fn owned_fd_round_trip_rebuilds_the_clock() -> TestResult {
    for clock in CLOCKS {
        let t = timer_on(clock)?;
        t.arm(Duration::from_secs(60), Duration::from_secs(1))?;
        let t = TimerFd::from(OwnedFd::from(t));
        assert_eq!(t.clock(), clock);
        // The kernel object, and its setting, came along.
        assert_eq!(t.get_time()?.1, Duration::from_secs(1));
    }
    Ok(())
}

#[test]
fn raw_fd_round_trip_rebuilds_the_clock() -> TestResult {
    for clock in CLOCKS {
        let raw = timer_on(clock)?.into_raw_fd();
        assert!(util::is_open(raw));
        // SAFETY: `raw` came from `into_raw_fd` just above; we own it.
        let t = unsafe { TimerFd::from_raw_fd(raw) };
        assert_eq!(t.raw(), raw);
        assert_eq!(t.clock(), clock);
    }
    Ok(())
}

#[test]
fn non_timerfd_descriptor_defaults_to_monotonic() -> TestResult {
    let (r, _w) = std::io::pipe()?;
    let t = TimerFd::from(OwnedFd::from(r));
    assert_eq!(t.clock(), Clock::Monotonic);
    Ok(())
}

#[test]
fn reads_of_other_than_8_bytes_are_eio() -> TestResult {
    use std::io::Write;

    let (r, mut w) = std::io::pipe()?;
    w.write_all(b"abc")?;
    drop(w);
    let t = TimerFd::from(OwnedFd::from(r));
    let mut out = 7;
    // A short read (3 bytes) ...
    assert_eq!(
        t.expirations_into(&mut out),
        Err(Error::Os(iofd::sys::Errno::EIO))
    );
    assert_eq!(out, 7, "left untouched");
    // ... and end of file (0 bytes): neither is a count.
    assert_eq!(
        t.expirations_into(&mut out),
        Err(Error::Os(iofd::sys::Errno::EIO))
    );
    assert_eq!(out, 7, "left untouched");
    assert_eq!(t.expirations(), Err(Error::Os(iofd::sys::Errno::EIO)));
    // The timer calls themselves are refused by the kernel.
    let einval = Err(Error::InvalidParam(Error::KERNEL_EINVAL));
    assert_eq!(t.arm(MS, Duration::ZERO), einval);
    assert_eq!(t.arm_at(MS, Duration::ZERO), einval);
    assert_eq!(t.disarm(), einval);
    assert_eq!(t.get_time(), Err(Error::InvalidParam(Error::KERNEL_EINVAL)));
    Ok(())
}

#[test]
fn monotonic_and_boottime_clocks_never_go_back() -> TestResult {
    for clock in [Clock::Monotonic, Clock::Boottime] {
        let a = clock.now()?;
        std::thread::sleep(2 * MS);
        let b = clock.now()?;
        assert!(b >= a + 2 * MS, "{clock:?}: {a:?} then {b:?}");
    }
    // Boottime counts everything monotonic does, and suspend besides.
    let mono = Clock::Monotonic.now()?;
    let boot = Clock::Boottime.now()?;
    assert!(boot >= mono, "{boot:?} < {mono:?}");
    // Instant reads CLOCK_MONOTONIC too.
    let before = Clock::Monotonic.now()?;
    let start = Instant::now();
    std::thread::sleep(5 * MS);
    let elapsed = start.elapsed();
    let ours = Clock::Monotonic.now()? - before;
    assert!(ours >= elapsed, "{ours:?} < {elapsed:?}");
    Ok(())
}

#[test]
fn realtime_clock_is_close_to_system_time() -> TestResult {
    let ours = Clock::Realtime.now()?;
    let std = SystemTime::now().duration_since(UNIX_EPOCH)?;
    assert!(
        std.abs_diff(ours) < Duration::from_secs(5),
        "{ours:?} vs {std:?}"
    );
    Ok(())
}

#[test]
fn clock_converts_to_the_kernel_clock_id() {
    assert_eq!(ClockId::from(Clock::Monotonic), ClockId::Monotonic);
    assert_eq!(ClockId::from(Clock::Realtime), ClockId::Realtime);
    assert_eq!(ClockId::from(Clock::Boottime), ClockId::Boottime);
}

#[test]
fn is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<TimerFd>();
    check::<Clock>();
}

#[test]
fn debug_is_implemented() -> TestResult {
    let t = TimerFd::new_boottime()?;
    let text = format!("{t:?}");
    assert!(text.contains("TimerFd"), "{text}");
    assert!(text.contains("Boottime"), "{text}");
    assert_eq!(format!("{:?}", Clock::Realtime), "Realtime");
    Ok(())
}
