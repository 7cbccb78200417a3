//! TimerFd operations: read the expiration count.

use std::sync::Arc;

use super::Fixed;
use super::eventfd::ReadCounter;
use crate::fd::TimerFd;

/// Reads a timerfd's expiration count (and resets it): the same 8-byte
/// `IORING_OP_READ` as an eventfd counter read, so the same operation type.
/// Waits until the timer has expired.
#[doc(alias = "IORING_OP_READ")]
pub type ReadExpirations<H> = ReadCounter<H>;

impl TimerFd {
    /// An operation that reads the expiration count into a `u64`,
    /// completing once the timer has expired.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use iofd::TimerFd;
    /// use iofd::ring::Ring;
    ///
    /// let mut ring = Ring::new(4)?;
    /// let timer = TimerFd::new()?;
    /// timer.arm(Duration::from_millis(1), Duration::ZERO)?;
    /// let token = ring.push(std::sync::Arc::new(timer).expirations_op_shared())?;
    /// assert_eq!(ring.wait(token)?, 1);
    /// # Ok::<(), iofd::Error>(())
    /// ```
    #[doc(alias = "IORING_OP_READ")]
    pub fn expirations_op(&self) -> ReadExpirations<&TimerFd> {
        ReadCounter::new(self)
    }

    /// [`expirations_op`](TimerFd::expirations_op) for a shared handle,
    /// which the operation keeps open until it completes.
    #[doc(alias = "IORING_OP_READ")]
    pub fn expirations_op_shared(self: &Arc<Self>) -> ReadExpirations<Arc<TimerFd>> {
        ReadCounter::new(Arc::clone(self))
    }
}

impl Fixed<TimerFd> {
    /// [`TimerFd::expirations_op`] on the registered timerfd.
    #[doc(alias = "IORING_OP_READ")]
    pub fn expirations_op(self) -> ReadExpirations<Fixed<TimerFd>> {
        ReadCounter::new(self)
    }
}
