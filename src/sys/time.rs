//! Clocks and timer descriptors: `clock_gettime`, `timerfd_create`,
//! `timerfd_settime` (with or without the old setting), `timerfd_gettime`.
//!
//! A timerfd is a kernel timer on one clock, readable as an 8-byte count of
//! expirations since the last read (a read of an unexpired timer blocks, or
//! fails with `EAGAIN` when non-blocking; reading it goes through
//! [`sys::io::read`](super::io::read)).
//!
//! # Safety
//!
//! Every call here passes the kernel only pointers to live, correctly laid
//! out Rust values ([`Timespec`], [`ITimerSpec`]) for the duration of the
//! call.
#![expect(
    unsafe_code,
    reason = "clock and timerfd calls take pointers to live timespecs"
)]

use std::mem::MaybeUninit;
use std::num::TryFromIntError;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::time::Duration;

use bitflags::bitflags;

use super::{ArgReg, Errno, nr, owned_fd, syscall2, syscall4};

/// A clock to read or to run a timer on (`CLOCK_*`).
///
/// Not every clock suits every call: `timerfd_create` takes only
/// [`Realtime`](ClockId::Realtime), [`Monotonic`](ClockId::Monotonic),
/// [`Boottime`](ClockId::Boottime) and the two alarm clocks.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClockId {
    /// `CLOCK_REALTIME`: wall-clock time since the Unix epoch; jumps when set.
    Realtime = 0,
    /// `CLOCK_MONOTONIC`: time since boot, excluding suspend; never jumps.
    Monotonic = 1,
    /// `CLOCK_PROCESS_CPUTIME_ID`: CPU time consumed by this process.
    ProcessCputime = 2,
    /// `CLOCK_THREAD_CPUTIME_ID`: CPU time consumed by the calling thread.
    ThreadCputime = 3,
    /// `CLOCK_MONOTONIC_RAW`: monotonic time without NTP rate adjustment.
    MonotonicRaw = 4,
    /// `CLOCK_REALTIME_COARSE`: a faster, tick-resolution realtime clock.
    RealtimeCoarse = 5,
    /// `CLOCK_MONOTONIC_COARSE`: a faster, tick-resolution monotonic clock.
    MonotonicCoarse = 6,
    /// `CLOCK_BOOTTIME`: monotonic time including suspend.
    Boottime = 7,
    /// `CLOCK_REALTIME_ALARM`: realtime; timers on it wake the system from
    /// suspend (needs `CAP_WAKE_ALARM`).
    RealtimeAlarm = 8,
    /// `CLOCK_BOOTTIME_ALARM`: boottime; timers on it wake the system from
    /// suspend (needs `CAP_WAKE_ALARM`).
    BoottimeAlarm = 9,
    /// `CLOCK_TAI`: International Atomic Time.
    Tai = 11,
}

/// `struct __kernel_timespec`: seconds and nanoseconds.
///
/// A valid timespec has `sec >= 0` (for durations and timer values) and
/// `nsec` in `0..1_000_000_000`; the kernel rejects others with `EINVAL`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timespec {
    /// Whole seconds.
    pub sec: i64,
    /// Nanoseconds, `0..1_000_000_000`.
    pub nsec: i64,
}

impl Timespec {
    /// Zero seconds, zero nanoseconds: a disarmed timer value.
    pub const ZERO: Timespec = Timespec { sec: 0, nsec: 0 };

    /// The duration this timespec holds, or `None` when it is negative or
    /// its `nsec` is out of `0..1_000_000_000`.
    #[inline]
    pub fn to_duration(&self) -> Option<Duration> {
        let sec = u64::try_from(self.sec).ok()?;
        let nsec = u32::try_from(self.nsec)
            .ok()
            .filter(|&n| n < 1_000_000_000)?;
        Some(Duration::new(sec, nsec))
    }
}

/// Converts a [`Duration`]; fails only when its seconds exceed `i64::MAX`
/// (about 292 billion years).
impl TryFrom<Duration> for Timespec {
    type Error = TryFromIntError;

    #[inline]
    fn try_from(d: Duration) -> Result<Timespec, TryFromIntError> {
        Ok(Timespec {
            sec: i64::try_from(d.as_secs())?,
            nsec: i64::from(d.subsec_nanos()),
        })
    }
}

/// `struct itimerspec`: a timer's first expiration and its period.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ITimerSpec {
    /// The period after the first expiration; zero for a one-shot timer.
    pub interval: Timespec,
    /// The first expiration (relative, or absolute with
    /// [`TimerSetFlags::ABSTIME`]); zero disarms. Read back, the time left.
    pub value: Timespec,
}

bitflags! {
    /// Flags of `timerfd_create` (`TFD_*`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct TimerFdFlags: u32 {
        /// `TFD_NONBLOCK`: reads fail with `EAGAIN` instead of blocking.
        const NONBLOCK = 0o4000;
        /// `TFD_CLOEXEC`: the descriptor is close-on-exec.
        const CLOEXEC = 0o2000000;
    }
}

bitflags! {
    /// Flags of `timerfd_settime` (`TFD_TIMER_*`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct TimerSetFlags: u32 {
        /// `TFD_TIMER_ABSTIME`: `value` is an absolute time on the timer's
        /// clock.
        const ABSTIME = 1;
        /// `TFD_TIMER_CANCEL_ON_SET`: with `ABSTIME` on a realtime clock, a
        /// read fails with `ECANCELED` when the clock is set.
        const CANCEL_ON_SET = 2;
    }
}

/// `clock_gettime(clock, &ts)` — the current reading of `clock`.
///
/// This is a real syscall, not the vDSO: it costs a kernel entry.
///
/// # Errors
///
/// `EINVAL` for a clock the kernel does not support (an alarm clock without
/// an RTC).
///
/// See [clock_gettime(2)](https://man7.org/linux/man-pages/man2/clock_gettime.2.html).
#[inline]
pub fn clock_gettime(clock: ClockId) -> Result<Timespec, Errno> {
    let mut ts = MaybeUninit::<Timespec>::uninit();
    // SAFETY: `ts` is a writable `__kernel_timespec` for the call.
    unsafe {
        syscall2(
            nr::CLOCK_GETTIME,
            (clock as i32).into(),
            ts.as_mut_ptr().into(),
        )?;
        // SAFETY: the kernel filled both fields on success.
        Ok(ts.assume_init())
    }
}

/// `timerfd_create(clock, flags)` — creates a disarmed timer on `clock`.
///
/// # Errors
///
/// `EINVAL` for a clock other than realtime, monotonic, boottime or the
/// alarm clocks, or unknown `flags`; `EPERM` for an alarm clock without
/// `CAP_WAKE_ALARM`; `EMFILE`/`ENFILE`; `ENOMEM`.
///
/// See [timerfd_create(2)](https://man7.org/linux/man-pages/man2/timerfd_create.2.html).
#[inline]
pub fn timerfd_create(clock: ClockId, flags: TimerFdFlags) -> Result<OwnedFd, Errno> {
    // SAFETY: timerfd_create reads no memory and returns a new descriptor.
    unsafe {
        let r = syscall2(
            nr::TIMERFD_CREATE,
            (clock as i32).into(),
            flags.bits().into(),
        )?;
        Ok(owned_fd(r))
    }
}

/// `timerfd_settime(fd, flags, new, &old)` — arms (or, with a zero
/// `new.value`, disarms) timer `fd`, and returns its previous setting.
///
/// # Errors
///
/// `EINVAL` when `fd` is not a timerfd, for a negative time or `nsec`
/// outside `0..1_000_000_000`, or unknown `flags`; `EBADF`; `ECANCELED`
/// when a cancel-on-set timer's clock was set.
///
/// See [timerfd_settime(2)](https://man7.org/linux/man-pages/man2/timerfd_settime.2.html).
#[inline]
pub fn timerfd_settime(
    fd: BorrowedFd<'_>,
    flags: TimerSetFlags,
    new: &ITimerSpec,
) -> Result<ITimerSpec, Errno> {
    let mut old = MaybeUninit::<ITimerSpec>::uninit();
    // SAFETY: `new` is a readable `itimerspec` and `old` a writable one, for
    // the call.
    unsafe {
        syscall4(
            nr::TIMERFD_SETTIME,
            fd.into(),
            flags.bits().into(),
            new.into(),
            old.as_mut_ptr().into(),
        )?;
        // SAFETY: the kernel filled `old` on success.
        Ok(old.assume_init())
    }
}

/// `timerfd_settime(fd, flags, new, NULL)` — arms (or, with a zero
/// `new.value`, disarms) timer `fd`, as [`timerfd_settime`], without asking
/// for the previous setting: the kernel skips copying it out.
///
/// # Errors
///
/// As [`timerfd_settime`]: `EINVAL` when `fd` is not a timerfd, for a
/// negative time or `nsec` outside `0..1_000_000_000`, or unknown `flags`;
/// `EBADF`; `ECANCELED` when a cancel-on-set timer's clock was set.
///
/// See [timerfd_settime(2)](https://man7.org/linux/man-pages/man2/timerfd_settime.2.html).
#[inline]
#[doc(alias = "timerfd_settime")]
pub fn timerfd_settime_discard(
    fd: BorrowedFd<'_>,
    flags: TimerSetFlags,
    new: &ITimerSpec,
) -> Result<(), Errno> {
    // SAFETY: `new` is a readable `itimerspec` for the call; a null old
    // value tells the kernel not to write one.
    unsafe {
        syscall4(
            nr::TIMERFD_SETTIME,
            fd.into(),
            flags.bits().into(),
            new.into(),
            ArgReg::NULL,
        )
    }
    .map(drop)
}

/// `timerfd_gettime(fd, &cur)` — the time left until timer `fd` next
/// expires (zero when disarmed) and its interval.
///
/// # Errors
///
/// `EINVAL` when `fd` is not a timerfd; `EBADF`.
///
/// See [timerfd_gettime(2)](https://man7.org/linux/man-pages/man2/timerfd_gettime.2.html).
#[inline]
pub fn timerfd_gettime(fd: BorrowedFd<'_>) -> Result<ITimerSpec, Errno> {
    let mut cur = MaybeUninit::<ITimerSpec>::uninit();
    // SAFETY: `cur` is a writable `itimerspec` for the call.
    unsafe {
        syscall2(nr::TIMERFD_GETTIME, fd.into(), cur.as_mut_ptr().into())?;
        // SAFETY: the kernel filled `cur` on success.
        Ok(cur.assume_init())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::offset_of;

    #[test]
    fn structs_have_the_kernel_layout() {
        assert_eq!(size_of::<Timespec>(), 16);
        assert_eq!(offset_of!(Timespec, nsec), 8);
        assert_eq!(size_of::<ITimerSpec>(), 32);
        assert_eq!(offset_of!(ITimerSpec, interval), 0);
        assert_eq!(offset_of!(ITimerSpec, value), 16);
        assert_eq!(size_of::<ClockId>(), 4);
    }

    #[test]
    fn timespec_converts_to_and_from_duration() {
        let d = Duration::new(3, 250);
        let ts = Timespec::try_from(d).unwrap();
        assert_eq!(ts, Timespec { sec: 3, nsec: 250 });
        assert_eq!(ts.to_duration(), Some(d));
        assert!(Timespec::try_from(Duration::MAX).is_err());
        assert_eq!(Timespec { sec: -1, nsec: 0 }.to_duration(), None);
        assert_eq!(Timespec { sec: 0, nsec: -1 }.to_duration(), None);
        assert_eq!(
            Timespec {
                sec: 0,
                nsec: 1_000_000_000
            }
            .to_duration(),
            None
        );
        assert_eq!(Timespec::ZERO.to_duration(), Some(Duration::ZERO));
    }

    #[test]
    fn settime_discard_arms_disarms_and_reports_errors() {
        use std::os::fd::AsFd;

        let flags = TimerFdFlags::NONBLOCK | TimerFdFlags::CLOEXEC;
        let tfd = timerfd_create(ClockId::Monotonic, flags).unwrap();
        let set = ITimerSpec {
            interval: Timespec { sec: 1, nsec: 0 },
            value: Timespec { sec: 60, nsec: 0 },
        };
        assert_eq!(
            timerfd_settime_discard(tfd.as_fd(), TimerSetFlags::empty(), &set),
            Ok(())
        );
        let cur = timerfd_gettime(tfd.as_fd()).unwrap();
        assert_eq!(cur.interval, set.interval);
        assert!(cur.value > Timespec::ZERO && cur.value <= set.value);

        // The setting it replaced is the one just made.
        let old = timerfd_settime(tfd.as_fd(), TimerSetFlags::empty(), &set).unwrap();
        assert_eq!(old.interval, set.interval);

        // Disarm: a zero value.
        assert_eq!(
            timerfd_settime_discard(tfd.as_fd(), TimerSetFlags::empty(), &ITimerSpec::default()),
            Ok(())
        );
        assert_eq!(timerfd_gettime(tfd.as_fd()), Ok(ITimerSpec::default()));

        // Absolute, already past: expires at once.
        let past = ITimerSpec {
            interval: Timespec::ZERO,
            value: Timespec { sec: 0, nsec: 1 },
        };
        assert_eq!(
            timerfd_settime_discard(tfd.as_fd(), TimerSetFlags::ABSTIME, &past),
            Ok(())
        );
        let mut buf = [0u8; 8];
        assert_eq!(super::super::io::read(tfd.as_fd(), &mut buf), Ok(8));
        assert_eq!(u64::from_ne_bytes(buf), 1);

        let bad = ITimerSpec {
            interval: Timespec::ZERO,
            value: Timespec {
                sec: 0,
                nsec: 1_000_000_000,
            },
        };
        assert_eq!(
            timerfd_settime_discard(tfd.as_fd(), TimerSetFlags::empty(), &bad),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            timerfd_settime_discard(tfd.as_fd(), TimerSetFlags::from_bits_retain(0x100), &set),
            Err(Errno::EINVAL)
        );
        // Not a timerfd.
        let (r, _w) = std::io::pipe().unwrap();
        assert_eq!(
            timerfd_settime_discard(r.as_fd(), TimerSetFlags::empty(), &set),
            Err(Errno::EINVAL)
        );
    }
}
