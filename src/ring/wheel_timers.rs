//! `WheelTimers`: a [`TimerWheel`] driven by one ring timeout, so that
//! very many coarse timers expire through the ring's own completion loop.

use std::fmt;
use std::time::{Duration, Instant};

use super::Ring;
use super::op::Token;
use super::ops::Timeout;
use super::wheel::{TimerKey, TimerWheel};
use crate::error::{Error, Result};

/// A hierarchical timer wheel in user space, woken by a single ring
/// timeout: very many coarse (millisecond) timers for the cost of one
/// kernel timer.
///
/// Arming, resetting and cancelling a timer are constant-time list
/// operations on the wheel with no syscall and — once the wheel's slab has
/// room for the most timers armed at once ([`with_capacity`](WheelTimers::with_capacity))
/// — no allocation. The wheel keeps one [`Timeout`] armed on the ring for
/// its earliest deadline ([`schedule`](WheelTimers::schedule)); when the
/// ring wakes, [`expire`](WheelTimers::expire) takes that timeout's result
/// and delivers every timer that is due, then arms the next. Timers are
/// never delivered before their deadline; they are late by at most the
/// millisecond rounding plus the loop's own wake-up latency.
///
/// Use ring timeouts ([`Timeout`]) for precise or few timers, and for
/// deadlines on one operation; use the wheel for an idle timeout per
/// connection and other timers that are mostly pushed back or cancelled
/// before they fire (see [`TimerWheel`] for the trade-off).
///
/// Call [`expire`](WheelTimers::expire) after every wake: the fired
/// ring timeout's result waits in the ring's table until `expire` takes
/// it, and [`Ring::submit_and_wait`] does not sleep while a result waits.
///
/// A wheel dropped while scheduled needs no ring at hand: its ring timeout
/// is cancelled at the ring's next submission (or when the ring runs out
/// of slots), and its slot freed when the timeout ends.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use iofd::ring::{Ring, WheelTimers};
///
/// let mut ring = Ring::new(64)?;
/// let mut timers = WheelTimers::with_capacity(1024);
/// let start = Instant::now();
/// for conn in 0..100u32 {
///     timers.arm(Duration::from_millis(1 + u64::from(conn % 5)), conn);
/// }
/// let mut fired = 0;
/// while !timers.is_empty() {
///     timers.schedule(&mut ring)?; // one ring timeout for the whole wheel
///     ring.submit_and_wait(1)?; // the same wait as every other operation
///     fired += timers.expire(&mut ring, |_key, conn| assert!(conn < 100))?;
/// }
/// assert_eq!(fired, 100);
/// assert!(start.elapsed() >= Duration::from_millis(5));
/// # Ok::<(), iofd::Error>(())
/// ```
pub struct WheelTimers<T> {
    wheel: TimerWheel<T>,
    /// The ring timeout that wakes the loop for the wheel, the tick it was
    /// armed for, and the ring it is armed on.
    armed: Option<(Token<Timeout>, u64, u32)>,
    /// The tag its ring timeouts are pushed with, for an event loop that
    /// dispatches by tag.
    tag: Option<u64>,
}

impl<T> WheelTimers<T> {
    /// An empty wheel whose clock starts now.
    pub fn new() -> WheelTimers<T> {
        WheelTimers::with_capacity(0)
    }

    /// An empty wheel with room for `capacity` timers armed at once before
    /// it allocates.
    pub fn with_capacity(capacity: usize) -> WheelTimers<T> {
        WheelTimers {
            wheel: TimerWheel::with_capacity(Instant::now(), capacity),
            armed: None,
            tag: None,
        }
    }

    /// Pushes the wheel's ring timeouts with `tag`
    /// ([`Ring::push_tagged`]): an event loop that dispatches every
    /// completion by tag ([`Ring::next_completion`]) then sees the wheel's
    /// wake-ups under `tag`, and calls [`expire`](WheelTimers::expire) for
    /// them. (A loop that never calls `expire` after the wheel's timeout
    /// fired would find a result always waiting, and never sleep.)
    #[must_use]
    pub const fn with_tag(mut self, tag: u64) -> WheelTimers<T> {
        self.tag = Some(tag);
        self
    }

    /// Moves timer `key` to `after` from now: a connection's idle timer
    /// after it was active. `false` when the timer is not armed.
    #[inline]
    pub fn reset_after(&mut self, key: TimerKey, after: Duration) -> bool {
        match Instant::now().checked_add(after) {
            Some(deadline) => self.reset_at(key, deadline),
            None => false,
        }
    }

    /// Arms a timer carrying `value`, due `after` from now (rounded up to a
    /// whole millisecond).
    #[inline]
    pub fn arm(&mut self, after: Duration, value: T) -> TimerKey {
        let deadline = Instant::now().checked_add(after);
        match deadline {
            Some(deadline) => self.wheel.arm_at(deadline, value),
            None => self.wheel.arm(u64::MAX, value),
        }
    }

    /// Arms a timer carrying `value`, due at `deadline` (rounded up to a
    /// whole millisecond). A deadline already past is due at once.
    #[inline]
    pub fn arm_at(&mut self, deadline: Instant, value: T) -> TimerKey {
        self.wheel.arm_at(deadline, value)
    }

    /// Cancels a timer, returning its value, or `None` if it has fired or
    /// been cancelled already.
    #[inline]
    pub fn cancel(&mut self, key: TimerKey) -> Option<T> {
        self.wheel.cancel(key)
    }

    /// Moves a pending timer to `deadline`; `false` if it has fired or been
    /// cancelled.
    #[inline]
    pub fn reset_at(&mut self, key: TimerKey, deadline: Instant) -> bool {
        self.wheel.reset_at(key, deadline)
    }

    /// How many timers are armed.
    #[inline]
    pub fn len(&self) -> usize {
        self.wheel.len()
    }

    /// Whether no timer is armed.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.wheel.is_empty()
    }

    /// The wheel itself.
    pub fn wheel(&self) -> &TimerWheel<T> {
        &self.wheel
    }

    /// The wheel itself, to arm by tick or read values.
    pub fn wheel_mut(&mut self) -> &mut TimerWheel<T> {
        &mut self.wheel
    }

    /// Whether a ring timeout is armed for the wheel.
    pub fn is_scheduled(&self) -> bool {
        self.armed.is_some()
    }

    /// Makes sure the ring wakes by the wheel's next deadline: arms the
    /// wheel's ring timeout if none is armed, or moves it earlier
    /// (`IORING_TIMEOUT_UPDATE`) when a timer armed since is due sooner.
    /// Call it before the loop waits on the ring; nothing is submitted
    /// until the ring submits.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParam`] when the wheel's timeout is armed on another
    /// ring than `ring` (a wheel is driven by one ring); the ring's errors
    /// for [`Ring::push`] and [`Ring::update_timeout`].
    pub fn schedule(&mut self, ring: &mut Ring) -> Result<()> {
        self.collect(ring)?;
        let Some(next) = self.wheel.next_deadline() else {
            return Ok(());
        };
        let Some(at) = self.wheel.instant_of(next) else {
            // Past what `Instant` can represent: nothing to wake for.
            return Ok(());
        };
        let after = at.saturating_duration_since(Instant::now());
        match &mut self.armed {
            Some((_, tick, _)) if *tick <= next => Ok(()),
            Some((token, tick, _)) => {
                // If it has already fired the update finds nothing, and the
                // next `expire` sees the fired timeout: either way the ring
                // wakes by `next`.
                let update = ring.update_timeout(token, after)?;
                ring.detach(update)?;
                *tick = next;
                Ok(())
            }
            None => {
                let timeout = Timeout::after(after);
                let token = match self.tag {
                    Some(tag) => ring.push_tagged(timeout, tag)?,
                    None => ring.push(timeout)?,
                };
                self.armed = Some((token, next, ring.id()));
                Ok(())
            }
        }
    }

    /// After the ring has been reaped: takes the wheel's ring timeout if it
    /// has fired, delivers every timer due now to `f` (in deadline order),
    /// and [`schedule`](WheelTimers::schedule)s the next wake-up. Returns
    /// how many timers were delivered.
    ///
    /// # Errors
    ///
    /// As [`schedule`](WheelTimers::schedule).
    pub fn expire(&mut self, ring: &mut Ring, f: impl FnMut(TimerKey, T)) -> Result<usize> {
        self.collect(ring)?;
        let n = self.wheel.expire_at(Instant::now(), f);
        self.schedule(ring)?;
        Ok(n)
    }

    /// Takes the wheel's ring timeout's result, if it has come: the wheel
    /// then has no timeout armed. Its value does not matter (fired, or
    /// cancelled with the ring's other operations).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParam`] when the timeout is armed on another ring
    /// than `ring`; nothing is changed then.
    fn collect(&mut self, ring: &mut Ring) -> Result<()> {
        if let Some((token, _, id)) = &mut self.armed {
            if *id != ring.id() {
                return Err(Error::InvalidParam(
                    "the wheel's ring timeout is armed on another ring",
                ));
            }
            while ring.take(token).is_some() {}
            if token.is_done() {
                self.armed = None;
            }
        }
        Ok(())
    }

    /// Removes the wheel's ring timeout, if one is armed, so that dropping
    /// the wheel leaves nothing on the ring (a wheel dropped with its
    /// timeout armed leaves that timeout's slot in use until it fires and
    /// the ring is dropped). Armed timers stay in the wheel.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParam`] when the timeout is armed on another ring;
    /// the ring's errors for [`Ring::cancel`].
    pub fn unschedule(&mut self, ring: &mut Ring) -> Result<()> {
        self.collect(ring)?;
        match self.armed.take() {
            Some((token, _, _)) => ring.cancel(token),
            None => Ok(()),
        }
    }
}

impl<T> Drop for WheelTimers<T> {
    /// A wheel dropped while scheduled has its ring timeout cancelled: the
    /// ring sends the cancel at its next submission (or when it runs out
    /// of slots) and frees the slot when the timeout ends.
    fn drop(&mut self) {
        if let Some((mut token, _, ring)) = self.armed.take()
            && !token.is_done()
        {
            super::orphans::post(ring, token.user_data(), super::orphans::Posted::Cancel);
            // Spent here: its own drop would detach it instead.
            token.done = true;
        }
    }
}

impl<T> Default for WheelTimers<T> {
    fn default() -> Self {
        WheelTimers::new()
    }
}

impl<T> fmt::Debug for WheelTimers<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WheelTimers")
            .field("wheel", &self.wheel)
            .field("scheduled", &self.armed.as_ref().map(|(_, tick, _)| *tick))
            .finish()
    }
}
