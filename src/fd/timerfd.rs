//! `TimerFd`: a kernel timer read as a count of expirations, and `Clock`.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::sys::Errno;
use crate::sys::io::read;
use crate::sys::time::{
    ClockId, ITimerSpec, TimerFdFlags, TimerSetFlags, Timespec, clock_gettime, timerfd_create,
    timerfd_gettime, timerfd_settime_discard,
};

use super::{Fd, Timer, fdinfo_field, handle_impls};

/// The clock a [`TimerFd`] runs on.
///
/// # Examples
///
/// ```
/// use iofd::Clock;
///
/// let a = Clock::Monotonic.now()?;
/// let b = Clock::Monotonic.now()?;
/// assert!(b >= a);
/// # Ok::<(), iofd::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Clock {
    /// `CLOCK_MONOTONIC`: time since boot, not counting suspend; never
    /// jumps. The default.
    #[default]
    Monotonic,
    /// `CLOCK_REALTIME`: wall-clock time since the Unix epoch; jumps when
    /// the system time is set.
    Realtime,
    /// `CLOCK_BOOTTIME`: like [`Monotonic`](Clock::Monotonic), but counting
    /// time spent suspended.
    Boottime,
}

impl Clock {
    /// `clock_gettime(clock, &ts)` — the clock's current reading, as a
    /// duration since its epoch (boot for the monotonic clocks, 1970 for
    /// realtime): the base for [`TimerFd::arm_at`].
    ///
    /// This is a real syscall, not the vDSO.
    ///
    /// # Errors
    ///
    /// [`Error::Os`] with `ERANGE` when the realtime clock reads before
    /// 1970, which a `Duration` cannot hold.
    ///
    /// See [clock_gettime(2)](https://man7.org/linux/man-pages/man2/clock_gettime.2.html).
    #[inline]
    pub fn now(self) -> Result<Duration> {
        clock_gettime(self.into())?
            .to_duration()
            .ok_or(Error::Os(Errno::ERANGE))
    }
}

impl From<Clock> for ClockId {
    /// The kernel clock: `CLOCK_MONOTONIC`, `CLOCK_REALTIME` or
    /// `CLOCK_BOOTTIME`.
    #[inline]
    fn from(c: Clock) -> ClockId {
        match c {
            Clock::Monotonic => ClockId::Monotonic,
            Clock::Realtime => ClockId::Realtime,
            Clock::Boottime => ClockId::Boottime,
        }
    }
}

/// A timerfd: a kernel timer on one [`Clock`], read as the number of times
/// it has expired.
///
/// The timer is armed with a first expiration (relative with
/// [`arm`](TimerFd::arm), or an absolute reading of its clock with
/// [`arm_at`](TimerFd::arm_at)) and an optional period. Each expiration adds
/// 1 to a counter; [`expirations`](TimerFd::expirations) reads the counter
/// (8 bytes, a `u64`) and resets it, so a periodic timer read late reports
/// every period that passed, and a read before the first expiration fails
/// with [`Error::WouldBlock`]. The descriptor is readable (for poll, epoll
/// or io_uring) while the counter is non-zero.
///
/// Arming again replaces the previous setting (and clears the counter);
/// [`disarm`](TimerFd::disarm) stops the timer. [`get_time`](TimerFd::get_time)
/// reports the time left and the period.
///
/// The handle is created non-blocking and close-on-exec. Arming, disarming,
/// [`get_time`](TimerFd::get_time) and
/// [`expirations_into`](TimerFd::expirations_into) allocate nothing.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use iofd::{Error, TimerFd};
///
/// let t = TimerFd::new()?;
/// assert_eq!(t.expirations(), Err(Error::WouldBlock)); // disarmed
///
/// t.arm(Duration::from_millis(1), Duration::ZERO)?; // one shot
/// std::thread::sleep(Duration::from_millis(20));
/// assert_eq!(t.expirations()?, 1);
///
/// let deadline = t.clock().now()? + Duration::from_secs(60);
/// t.arm_at(deadline, Duration::from_secs(1))?; // absolute, then every second
/// let (left, interval) = t.get_time()?;
/// assert!(left <= Duration::from_secs(60));
/// assert_eq!(interval, Duration::from_secs(1));
/// t.disarm()?;
/// # Ok::<(), iofd::Error>(())
/// ```
#[derive(Debug)]
pub struct TimerFd {
    fd: Fd,
    clock: Clock,
}

/// A [`Duration`] as a kernel timespec; `InvalidParam` past `i64::MAX`
/// seconds.
#[inline]
fn timespec(d: Duration) -> Result<Timespec> {
    Timespec::try_from(d).map_err(|_| Error::InvalidParam("duration seconds exceed i64::MAX"))
}

/// A read that returned other than 8 bytes: impossible from a timerfd, so
/// the descriptor is something else.
const NOT_A_COUNT: Error = Error::Os(Errno::EIO);

impl TimerFd {
    /// `timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)` —
    /// creates a disarmed timer on the monotonic clock.
    ///
    /// # Errors
    ///
    /// [`Error::Os`] with `EMFILE`/`ENFILE` when out of descriptors;
    /// [`Error::NoMemory`].
    ///
    /// See [timerfd_create(2)](https://man7.org/linux/man-pages/man2/timerfd_create.2.html).
    pub fn new() -> Result<TimerFd> {
        TimerFd::with_clock(Clock::Monotonic)
    }

    /// `timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC)` —
    /// creates a disarmed timer on the wall clock.
    ///
    /// # Errors
    ///
    /// As [`TimerFd::new`].
    ///
    /// See [timerfd_create(2)](https://man7.org/linux/man-pages/man2/timerfd_create.2.html).
    pub fn new_realtime() -> Result<TimerFd> {
        TimerFd::with_clock(Clock::Realtime)
    }

    /// `timerfd_create(CLOCK_BOOTTIME, TFD_NONBLOCK | TFD_CLOEXEC)` —
    /// creates a disarmed timer on the boot clock (counts suspend).
    ///
    /// # Errors
    ///
    /// As [`TimerFd::new`].
    ///
    /// See [timerfd_create(2)](https://man7.org/linux/man-pages/man2/timerfd_create.2.html).
    pub fn new_boottime() -> Result<TimerFd> {
        TimerFd::with_clock(Clock::Boottime)
    }

    /// `timerfd_create(clock, TFD_NONBLOCK | TFD_CLOEXEC)` — creates a
    /// disarmed timer on `clock`.
    ///
    /// # Errors
    ///
    /// As [`TimerFd::new`].
    ///
    /// See [timerfd_create(2)](https://man7.org/linux/man-pages/man2/timerfd_create.2.html).
    pub fn with_clock(clock: Clock) -> Result<TimerFd> {
        let fd = timerfd_create(clock.into(), TimerFdFlags::NONBLOCK | TimerFdFlags::CLOEXEC)?;
        Ok(TimerFd {
            fd: Fd::from(fd),
            clock,
        })
    }

    /// Rebuilds the clock from `/proc/self/fdinfo` (`clockid`); the alarm
    /// clocks read as their base clock, and anything unreadable as
    /// monotonic.
    fn from_fd(fd: Fd) -> TimerFd {
        let clock = match fd
            .borrow()
            .ok()
            .and_then(|b| fdinfo_field(b, "clockid"))
            .as_deref()
        {
            Some("0" | "8") => Clock::Realtime,
            Some("7" | "9") => Clock::Boottime,
            _ => Clock::Monotonic,
        };
        TimerFd { fd, clock }
    }

    /// The clock this timer runs on. Cached; no syscall.
    #[inline]
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// `timerfd_settime(fd, 0, {initial, interval}, NULL)` — arms the timer
    /// to expire `initial` from now, then every `interval` (zero for one
    /// shot), replacing any previous setting.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] once closed; [`Error::InvalidParam`] for a zero
    /// `initial` (use [`disarm`](TimerFd::disarm)) or a duration whose
    /// seconds exceed `i64::MAX`.
    ///
    /// See [timerfd_settime(2)](https://man7.org/linux/man-pages/man2/timerfd_settime.2.html).
    #[inline]
    pub fn arm(&self, initial: Duration, interval: Duration) -> Result<()> {
        let fd = self.fd.borrow()?;
        if initial.is_zero() {
            return Err(Error::InvalidParam("zero initial expiration"));
        }
        let spec = ITimerSpec {
            interval: timespec(interval)?,
            value: timespec(initial)?,
        };
        timerfd_settime_discard(fd, TimerSetFlags::empty(), &spec)?;
        Ok(())
    }

    /// `timerfd_settime(fd, TFD_TIMER_ABSTIME, {deadline, interval}, NULL)`
    /// — arms the timer to expire when its [`clock`](TimerFd::clock) reads
    /// `deadline` (see [`Clock::now`]), then every `interval` (zero for one
    /// shot), replacing any previous setting. A deadline already past
    /// expires at once.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] once closed; [`Error::InvalidParam`] for a zero
    /// `deadline` or a duration whose seconds exceed `i64::MAX`.
    ///
    /// See [timerfd_settime(2)](https://man7.org/linux/man-pages/man2/timerfd_settime.2.html).
    #[inline]
    pub fn arm_at(&self, deadline: Duration, interval: Duration) -> Result<()> {
        let fd = self.fd.borrow()?;
        if deadline.is_zero() {
            return Err(Error::InvalidParam("zero deadline"));
        }
        let spec = ITimerSpec {
            interval: timespec(interval)?,
            value: timespec(deadline)?,
        };
        timerfd_settime_discard(fd, TimerSetFlags::ABSTIME, &spec)?;
        Ok(())
    }

    /// `timerfd_settime(fd, 0, {0, 0}, NULL)` — stops the timer; no
    /// expiration follows until it is armed again. Expirations already
    /// counted are discarded.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] once closed.
    ///
    /// See [timerfd_settime(2)](https://man7.org/linux/man-pages/man2/timerfd_settime.2.html).
    #[inline]
    pub fn disarm(&self) -> Result<()> {
        let fd = self.fd.borrow()?;
        timerfd_settime_discard(fd, TimerSetFlags::empty(), &ITimerSpec::default())?;
        Ok(())
    }

    /// `read(fd, &count, 8)` — the number of expirations since the last
    /// read (or arming), resetting it to zero.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] once closed; [`Error::WouldBlock`] when the timer
    /// has not expired since (including a disarmed timer);
    /// [`Error::Interrupted`]; `Os(EIO)` when the read returned other than
    /// 8 bytes (end of file or a short read: the descriptor, adopted
    /// through `FromRawFd` or `From<OwnedFd>`, is not a timerfd).
    ///
    /// See [timerfd_create(2)](https://man7.org/linux/man-pages/man2/timerfd_create.2.html).
    #[inline]
    pub fn expirations(&self) -> Result<u64> {
        let mut n = 0;
        self.expirations_into(&mut n)?;
        Ok(n)
    }

    /// `read(fd, out, 8)` — as [`expirations`](TimerFd::expirations),
    /// storing the count in `out`, which is left untouched on error.
    ///
    /// # Errors
    ///
    /// As [`expirations`](TimerFd::expirations): [`Error::Closed`],
    /// [`Error::WouldBlock`], [`Error::Interrupted`], `Os(EIO)`.
    ///
    /// See [timerfd_create(2)](https://man7.org/linux/man-pages/man2/timerfd_create.2.html).
    #[inline]
    pub fn expirations_into(&self, out: &mut u64) -> Result<()> {
        let fd = self.fd.borrow()?;
        let mut buf = [0u8; 8];
        // A timerfd read of 8 bytes transfers all 8 or fails; anything else
        // comes from a descriptor that is not a timerfd.
        if read(fd, &mut buf)? != buf.len() {
            return Err(NOT_A_COUNT);
        }
        *out = u64::from_ne_bytes(buf);
        Ok(())
    }

    /// `timerfd_gettime(fd, &cur)` — the time left until the next
    /// expiration and the interval, as `(remaining, interval)`; both zero
    /// for a disarmed timer, and `remaining` zero for a one-shot timer that
    /// has expired.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] once closed.
    ///
    /// See [timerfd_gettime(2)](https://man7.org/linux/man-pages/man2/timerfd_gettime.2.html).
    #[inline]
    pub fn get_time(&self) -> Result<(Duration, Duration)> {
        let fd = self.fd.borrow()?;
        let cur = timerfd_gettime(fd)?;
        // The kernel reports normalized, non-negative times.
        Ok((
            cur.value.to_duration().unwrap_or_default(),
            cur.interval.to_duration().unwrap_or_default(),
        ))
    }
}

handle_impls!(TimerFd, TimerFd::from_fd);

impl Timer for TimerFd {
    /// As [`TimerFd::arm`].
    #[inline]
    fn arm(&self, initial: Duration, interval: Duration) -> Result<()> {
        TimerFd::arm(self, initial, interval)
    }

    /// As [`TimerFd::disarm`].
    #[inline]
    fn disarm(&self) -> Result<()> {
        TimerFd::disarm(self)
    }
}
