//! Completion-based timers: io_uring timeouts as typed operations.
//!
//! # Safety
//!
//! Every timeout SQE points the kernel at a `timespec` in the operation's
//! own storage (its table slot, or caller storage borrowed for a scope),
//! which the kernel reads once, when it prepares the request during
//! submission, and never writes. The storage outlives the operation like
//! any other operation's.
#![expect(
    unsafe_code,
    reason = "the SQEs point at a timespec in the operation's storage"
)]

use std::time::Duration;

use io_uring::{opcode, squeue, types};

use crate::error::{Error, Result};
use crate::fd::Clock;
use crate::ring::Opcode;
use crate::ring::op::{Op, cqe_error, cqe_unit};
use crate::ring::{Cqe, UserData};
use crate::sys::Errno;
use crate::sys::time::Timespec;

use crate::sys::uring::{
    IORING_LINK_TIMEOUT_UPDATE as LINK_UPDATE, IORING_TIMEOUT_ABS as ABS,
    IORING_TIMEOUT_BOOTTIME as BOOTTIME, IORING_TIMEOUT_MULTISHOT as MULTISHOT,
    IORING_TIMEOUT_REALTIME as REALTIME, IORING_TIMEOUT_UPDATE as UPDATE,
};

/// `ETIME`, `ECANCELED`, `EALREADY`, `ENOENT` as CQE results carry them.
const ETIME: i32 = Errno::ETIME.raw();
const ECANCELED: i32 = Errno::ECANCELED.raw();
const EALREADY: i32 = Errno::EALREADY.raw();
const ENOENT: i32 = Errno::ENOENT.raw();

/// A `Duration` as a kernel timespec; durations past `i64::MAX` seconds
/// (about 292 billion years) saturate.
#[inline]
pub(crate) fn timespec(d: Duration) -> Timespec {
    Timespec {
        sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nsec: i64::from(d.subsec_nanos()),
    }
}

/// The clock flag of an absolute timeout on `clock`.
#[inline]
fn clock_flags(clock: Clock) -> u32 {
    match clock {
        Clock::Monotonic => 0,
        Clock::Boottime => BOOTTIME,
        Clock::Realtime => REALTIME,
    }
}

/// How a timeout ended, or one shot of a periodic timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimeoutResult {
    /// The deadline passed (the kernel's `-ETIME`). Each shot of a periodic
    /// timer is one `Fired`.
    Fired,
    /// The completion count given with [`Timeout::completions`] was reached
    /// before the deadline.
    CountReached,
    /// Removed with [`Ring::remove_timeout`](crate::ring::Ring::remove_timeout)
    /// (or [`Scope::remove_timeout`](crate::ring::Scope::remove_timeout))
    /// before it fired.
    Removed,
    /// Cancelled otherwise before it fired: [`Ring::cancel`](crate::ring::Ring::cancel),
    /// a scope's end, the ring's drop.
    Cancelled,
}

/// A timer that completes on the ring: `IORING_OP_TIMEOUT`, with no
/// descriptor of its own.
///
/// - [`after`](Timeout::after): once, a duration from submission
///   (`CLOCK_MONOTONIC`);
/// - [`at`](Timeout::at): once, at an absolute reading of a [`Clock`]
///   (`IORING_TIMEOUT_ABS`); a deadline already past fires at once;
/// - [`every`](Timeout::every): periodically (`IORING_TIMEOUT_MULTISHOT`,
///   Linux 6.4), each shot its own result, for a number of
///   [`shots`](Timeout::shots) or until removed;
/// - [`completions`](Timeout::completions): once, after that many other
///   completions or at the deadline, whichever comes first.
///
/// Its result is a [`TimeoutResult`], never a raw `-ETIME`. The `timespec`
/// the kernel reads lives in the operation's own storage (its table slot),
/// never in a temporary. A pending timeout can be moved
/// ([`Ring::update_timeout`](crate::ring::Ring::update_timeout)) or removed
/// ([`Ring::remove_timeout`](crate::ring::Ring::remove_timeout)); a deadline
/// on another operation is a link timeout
/// ([`Ring::push_with_timeout`](crate::ring::Ring::push_with_timeout)).
///
/// The kernel fires a timeout at or after its deadline, never before.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use iofd::ring::Ring;
/// use iofd::ring::ops::{Timeout, TimeoutResult};
///
/// let mut ring = Ring::new(8)?;
/// let start = Instant::now();
/// let token = ring.push(Timeout::after(Duration::from_millis(2)))?;
/// assert_eq!(ring.wait(token)?, TimeoutResult::Fired);
/// assert!(start.elapsed() >= Duration::from_millis(2));
///
/// // Three shots, 1 ms apart: take what has come, then wait for more.
/// let mut token = ring.push(Timeout::every(Duration::from_millis(1)).shots(3))?;
/// let mut shots = 0;
/// loop {
///     while let Some(r) = ring.take(&mut token) {
///         assert_eq!(r?, TimeoutResult::Fired);
///         shots += 1;
///     }
///     if token.is_done() {
///         break;
///     }
///     ring.submit_and_wait(1)?;
/// }
/// assert_eq!(shots, 3);
/// # Ok::<(), iofd::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[doc(alias = "IORING_OP_TIMEOUT")]
pub struct Timeout {
    ts: Timespec,
    flags: u32,
    /// Shots of a periodic timeout (0: unbounded).
    shots: u32,
    /// Completions a one-shot timeout waits for (0: none).
    completions: u32,
}

/// A timeout's storage: the `timespec` the kernel reads, and whether the
/// driver removed it (which tells [`TimeoutResult::Removed`] from
/// [`TimeoutResult::Cancelled`]).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct TimeoutStorage {
    ts: Timespec,
    removed: bool,
    /// Periodic (the kernel keeps its relative mode on update).
    periodic: bool,
    /// Bounded by a shot or completion count (which an update drops).
    counted: bool,
}

impl Timeout {
    /// Fires once, `after` from its submission (`CLOCK_MONOTONIC`). A zero
    /// duration fires at once.
    #[doc(alias = "IORING_OP_TIMEOUT")]
    pub fn after(after: Duration) -> Timeout {
        Timeout {
            ts: timespec(after),
            flags: 0,
            shots: 0,
            completions: 0,
        }
    }

    /// Fires once when `clock` reads `deadline` (a duration since the
    /// clock's epoch, as [`Clock::now`] returns it). A deadline already
    /// past fires at once.
    #[doc(alias = "IORING_OP_TIMEOUT")]
    pub fn at(clock: Clock, deadline: Duration) -> Timeout {
        Timeout {
            ts: timespec(deadline),
            flags: ABS | clock_flags(clock),
            shots: 0,
            completions: 0,
        }
    }

    /// Fires every `period`, the first time one period after submission,
    /// until removed or cancelled (or for [`shots`](Timeout::shots)). Each
    /// shot is one [`TimeoutResult::Fired`]; the last one ends the
    /// operation. A zero period is refused by the kernel
    /// ([`Error::InvalidParam`]).
    ///
    /// The kernel starts each period anew once it has posted the last
    /// shot, which it does in the context of the ring's thread (and, on a
    /// ring built with [`defer_taskrun`](crate::ring::RingBuilder::defer_taskrun),
    /// only when that thread enters the ring): each shot's lateness adds
    /// to the next, so a loop whose thread is busy or waits for a CPU sees
    /// fewer shots than the time elapsed divided by `period`. Where every
    /// period counts, read a [`TimerFd`](crate::TimerFd), whose counter
    /// adds up the expirations missed. And like every multishot stream, it ends
    /// (with an ordinary `Fired` as its final result) if a shot finds the
    /// completion queue full: push it again when its token
    /// [`is_done`](crate::ring::Token::is_done) (the [`ring`](crate::ring)
    /// module's "Multishot operations are streams").
    #[doc(alias = "IORING_OP_TIMEOUT")]
    pub fn every(period: Duration) -> Timeout {
        Timeout {
            ts: timespec(period),
            flags: MULTISHOT,
            shots: 0,
            completions: 0,
        }
    }

    /// For a periodic timeout: stop after `n` shots (`0`: never). No effect
    /// on a one-shot timeout.
    #[must_use]
    pub const fn shots(mut self, n: u32) -> Timeout {
        self.shots = n;
        self
    }

    /// For a one-shot timeout: complete with
    /// [`TimeoutResult::CountReached`] as soon as `n` other completions
    /// have been posted on the ring after it was submitted, if that comes
    /// before the deadline (`0`: only the deadline). The kernel counts
    /// every CQE except those of timeouts that fired (the driver's own
    /// cancel requests and removed timeouts count; other timers firing do
    /// not). No effect on a periodic timeout.
    #[must_use]
    pub const fn completions(mut self, n: u32) -> Timeout {
        self.completions = n;
        self
    }

    /// Whether it fires periodically.
    pub fn is_periodic(&self) -> bool {
        self.flags & MULTISHOT != 0
    }

    /// The deadline as a link timeout, which only a one-shot timeout
    /// without a completion count can be.
    pub(crate) fn link(&self) -> Result<LinkTimeout> {
        if self.is_periodic() {
            return Err(Error::InvalidParam("a link timeout cannot be periodic"));
        }
        if self.completions != 0 {
            return Err(Error::InvalidParam(
                "a link timeout cannot wait for a completion count",
            ));
        }
        Ok(LinkTimeout {
            ts: self.ts,
            flags: self.flags,
        })
    }
}

// SAFETY: the SQE reads the `timespec` at the start of `storage` (written
// by `prepare`) during submission and touches nothing else; it names no
// descriptor. Its intermediate CQEs (periodic) are all `-ETIME` and write
// nothing.
unsafe impl Op for Timeout {
    type Storage = TimeoutStorage;
    type Output = TimeoutResult;
    const CODE: Opcode = Opcode::TIMEOUT;
    const NAME: &'static str = "timeout (IORING_OP_TIMEOUT)";

    #[inline]
    unsafe fn prepare(&self, storage: *mut TimeoutStorage) {
        // SAFETY: the caller's promise: `storage` is valid for writes.
        unsafe {
            storage.write(TimeoutStorage {
                ts: self.ts,
                removed: false,
                periodic: self.is_periodic(),
                counted: if self.is_periodic() {
                    self.shots != 0
                } else {
                    self.completions != 0
                },
            });
        }
    }

    #[inline]
    fn entry(&self, storage: *mut TimeoutStorage) -> squeue::Entry {
        let count = if self.is_periodic() {
            self.shots
        } else {
            self.completions
        };
        let mut flags = self.flags;
        if self.is_periodic() && self.ts == Timespec::ZERO {
            // A zero period would post CQEs without end, and the kernel
            // takes it: ask for two clocks at once, which it refuses with
            // EINVAL.
            flags |= BOOTTIME | REALTIME;
        }
        opcode::Timeout::new(storage.cast::<types::Timespec>().cast_const())
            .count(count)
            .flags(types::TimeoutFlags::from_bits_retain(flags))
            .build()
    }

    #[inline]
    unsafe fn output(cqe: Cqe, storage: *const TimeoutStorage) -> Result<TimeoutResult> {
        match cqe.res {
            r if r == -ETIME => Ok(TimeoutResult::Fired),
            r if r >= 0 => Ok(TimeoutResult::CountReached),
            r if r == -ECANCELED => {
                // SAFETY: the caller's promise: `storage` holds this
                // operation's storage, which `prepare` initialised.
                let removed = unsafe { (*storage).removed };
                Ok(if removed {
                    TimeoutResult::Removed
                } else {
                    TimeoutResult::Cancelled
                })
            }
            r => Err(cqe_error(r)),
        }
    }
}

/// How a link timeout ended: the deadline side of
/// [`Ring::push_with_timeout`](crate::ring::Ring::push_with_timeout).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LinkTimeoutResult {
    /// The deadline passed first and the operation was cancelled: its own
    /// result is then `Err(Os(ECANCELED))` (or `Interrupted`, for some
    /// operations).
    Expired,
    /// The operation ended first (completed, failed or was cancelled), and
    /// the timer was disarmed (the kernel's `-ECANCELED`).
    Disarmed,
    /// The deadline passed but the operation could not be stopped: it was
    /// running (`-EALREADY`) or already completing (`-ENOENT`), and ends
    /// on its own.
    TooLate,
}

/// The deadline half of an operation with a timeout
/// (`IORING_OP_LINK_TIMEOUT`); made by
/// [`Ring::push_with_timeout`](crate::ring::Ring::push_with_timeout) from
/// a one-shot [`Timeout`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[doc(alias = "IORING_OP_LINK_TIMEOUT")]
pub struct LinkTimeout {
    ts: Timespec,
    flags: u32,
}

// SAFETY: the SQE reads the `timespec` in `storage` (written by `prepare`)
// during submission and touches nothing else; no descriptor.
unsafe impl Op for LinkTimeout {
    type Storage = Timespec;
    type Output = LinkTimeoutResult;
    const CODE: Opcode = Opcode::LINK_TIMEOUT;
    const NAME: &'static str = "link timeout (IORING_OP_LINK_TIMEOUT)";

    #[inline]
    unsafe fn prepare(&self, storage: *mut Timespec) {
        // SAFETY: the caller's promise: `storage` is valid for writes.
        unsafe { storage.write(self.ts) };
    }

    #[inline]
    fn entry(&self, storage: *mut Timespec) -> squeue::Entry {
        opcode::LinkTimeout::new(storage.cast::<types::Timespec>().cast_const())
            .flags(types::TimeoutFlags::from_bits_retain(self.flags))
            .build()
    }

    #[inline]
    unsafe fn output(cqe: Cqe, _storage: *const Timespec) -> Result<LinkTimeoutResult> {
        match cqe.res {
            // The kernel posts `-ETIME`, or what cancelling the operation
            // returned when that is a count: a waitid or futex wait
            // reports how many requests it cancelled (1).
            r if r == -ETIME || r >= 0 => Ok(LinkTimeoutResult::Expired),
            r if r == -ECANCELED => Ok(LinkTimeoutResult::Disarmed),
            // Fired, but the operation was running (EALREADY) or already
            // on its way out (ENOENT): it ends on its own.
            r if r == -EALREADY || r == -ENOENT => Ok(LinkTimeoutResult::TooLate),
            r => Err(cqe_error(r)),
        }
    }
}

/// Removes a pending timeout (`IORING_OP_TIMEOUT_REMOVE`); made by
/// [`Ring::remove_timeout`](crate::ring::Ring::remove_timeout).
///
/// Its result: `Ok(())` when the timeout was found and removed (the
/// timeout then reports [`TimeoutResult::Removed`]); `Os(ENOENT)` when no
/// such timeout is pending (it has fired, or was never submitted);
/// `Os(EALREADY)` when it is firing right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[doc(alias = "IORING_OP_TIMEOUT_REMOVE")]
pub struct TimeoutRemove {
    target: UserData,
}

impl TimeoutRemove {
    pub(crate) fn new(target: UserData) -> TimeoutRemove {
        TimeoutRemove { target }
    }
}

// SAFETY: a remove request names a `user_data`, touches no memory and no
// descriptor.
unsafe impl Op for TimeoutRemove {
    type Storage = ();
    type Output = ();
    const CODE: Opcode = Opcode::TIMEOUT_REMOVE;
    const NAME: &'static str = "timeout remove (IORING_OP_TIMEOUT_REMOVE)";

    #[inline]
    fn entry(&self, _storage: *mut ()) -> squeue::Entry {
        opcode::TimeoutRemove::new(self.target.raw()).build()
    }

    #[inline]
    unsafe fn output(cqe: Cqe, _storage: *const ()) -> Result<()> {
        cqe_unit(cqe)
    }
}

/// Moves a pending timeout's expiry (`IORING_OP_TIMEOUT_REMOVE` with
/// `IORING_TIMEOUT_UPDATE`); made by
/// [`Ring::update_timeout`](crate::ring::Ring::update_timeout).
///
/// Its result: `Ok(())` when the timeout was found and re-armed;
/// `Os(ENOENT)` when no such timeout is pending; `Os(EALREADY)` when it is
/// firing right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[doc(alias("IORING_OP_TIMEOUT_REMOVE", "IORING_TIMEOUT_UPDATE"))]
pub struct TimeoutUpdate {
    target: UserData,
    ts: Timespec,
    flags: u32,
}

impl TimeoutUpdate {
    /// Re-arms `target` to fire `after` from now, or at the absolute
    /// reading `after` of the timeout's own clock when `absolute`.
    pub(crate) fn new(target: UserData, after: Duration, absolute: bool, link: bool) -> Self {
        let mut flags = if absolute { ABS } else { 0 };
        if link {
            flags |= LINK_UPDATE;
        }
        TimeoutUpdate {
            target,
            ts: timespec(after),
            flags,
        }
    }
}

// SAFETY: the SQE reads the `timespec` in `storage` (written by `prepare`)
// during submission and names a `user_data`; no descriptor.
unsafe impl Op for TimeoutUpdate {
    type Storage = Timespec;
    type Output = ();
    const CODE: Opcode = Opcode::TIMEOUT_REMOVE;
    const NAME: &'static str = "timeout update (IORING_OP_TIMEOUT_REMOVE)";

    #[inline]
    unsafe fn prepare(&self, storage: *mut Timespec) {
        // SAFETY: the caller's promise: `storage` is valid for writes.
        unsafe { storage.write(self.ts) };
    }

    #[inline]
    fn entry(&self, storage: *mut Timespec) -> squeue::Entry {
        // `opcode::TimeoutUpdate` adds IORING_TIMEOUT_UPDATE itself.
        debug_assert_eq!(self.flags & UPDATE, 0);
        opcode::TimeoutUpdate::new(
            self.target.raw(),
            storage.cast::<types::Timespec>().cast_const(),
        )
        .flags(types::TimeoutFlags::from_bits_retain(self.flags))
        .build()
    }

    #[inline]
    unsafe fn output(cqe: Cqe, _storage: *const Timespec) -> Result<()> {
        cqe_unit(cqe)
    }
}

/// Refuses updates the kernel would get wrong: it re-arms an updated
/// timeout without its shot or completion count (a bounded timer would
/// become unbounded) and keeps a periodic timer's relative mode (an
/// absolute expiry would become its period; a zero one would fire without
/// end).
///
/// # Safety
///
/// - `storage` points at a [`Timeout`]'s storage, initialised by its
///   `prepare`, which the operation still owns.
pub(crate) unsafe fn check_update(
    storage: *const TimeoutStorage,
    expiry: Duration,
    absolute: bool,
) -> Result<()> {
    // SAFETY: the caller's promise; the kernel never writes this storage.
    let s = unsafe { *storage };
    if s.counted {
        return Err(Error::InvalidParam(
            "a timeout with a shot or completion count cannot be updated (the kernel would drop the count)",
        ));
    }
    if s.periodic && absolute {
        return Err(Error::InvalidParam(
            "a periodic timeout cannot be moved to an absolute expiry",
        ));
    }
    if s.periodic && expiry.is_zero() {
        return Err(Error::InvalidParam(
            "a periodic timeout cannot have a zero period",
        ));
    }
    Ok(())
}

/// Marks a timeout's storage as removed by the driver.
///
/// # Safety
///
/// - `storage` points at a [`Timeout`]'s storage, initialised by its
///   `prepare`, which the operation still owns.
pub(crate) unsafe fn mark_removed(storage: *mut TimeoutStorage) {
    // SAFETY: the caller's promise; the kernel never writes this storage
    // and reads only its `timespec`, during submission on this thread.
    unsafe { (*storage).removed = true };
}
