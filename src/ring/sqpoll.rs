//! Submission on a ring whose submission queue a kernel thread polls
//! (`IORING_SETUP_SQPOLL`).
//!
//! Every push already publishes the SQ tail (with `Release`), so the
//! poller may take an SQE as soon as it is pushed. What is left for a
//! submit is to hand the queue over: wake the poller if it sleeps
//! (`IORING_SQ_NEED_WAKEUP`, then `IORING_ENTER_SQ_WAKEUP`), and enter
//! only then, or to wait for completions or flush overflowed ones.
//!
//! The kernel answers an SQPOLL enter with the `to_submit` it was given,
//! whatever the poller did, and reports a signal that ends a wait as that
//! count rather than `EINTR`. So these enters always pass `to_submit` 0:
//! a wait's `EINTR` is then reported, and no count from the kernel is
//! trusted. What [`submit`](Ring::submit) returns is counted here: the
//! SQEs queued since the queue was last handed over.

use super::driver::Ring;
use crate::error::Result;
use crate::sys::Errno;
use crate::sys::uring::EnterFlags;

impl Ring {
    /// [`enter_once`](Ring::enter_once) on an SQPOLL ring: hands the queue
    /// to the poller, waking it if it sleeps, and enters only for that, or
    /// to wait for `want` completions, or to flush overflowed ones. Returns
    /// how many SQEs were queued since the last hand-over.
    #[inline(never)]
    pub(super) fn enter_sqpoll(&mut self, want: usize) -> std::result::Result<usize, Errno> {
        let handed = self.queues.hand_over();
        let mut flags = EnterFlags::empty();
        // With nothing new queued, the last hand-over checked already.
        if handed > 0 && self.queues.needs_wakeup() {
            flags |= EnterFlags::SQ_WAKEUP;
        }
        if want > 0 || self.queues.overflowed() {
            flags |= EnterFlags::GETEVENTS;
        }
        if !flags.is_empty() {
            self.enter_flags(0, want, flags)?;
        }
        Ok(handed as usize)
    }

    /// [`submit_reap_wait`](Ring::submit_reap_wait) on an SQPOLL ring:
    /// hands the queue over, reaps, and waits for the shortfall in enters
    /// that submit nothing (which report a signal as `EINTR`). While the
    /// poller is awake, the wait is the turn's only syscall.
    #[inline(never)]
    pub(super) fn sqpoll_turn(&mut self, want: usize) -> Result<usize> {
        let n = self.enter(0)?;
        let got = self.reap_turn()?;
        if got < want {
            self.wait_rest(want - got)?;
        }
        Ok(n)
    }

    /// Waits until the poller has consumed at least one SQE
    /// (`IORING_ENTER_SQ_WAIT`), waking it first if it sleeps. The kernel
    /// returns early, with the queue still full, when a signal arrives:
    /// the caller checks for room again.
    ///
    /// # Errors
    ///
    /// The enter's (`EOWNERDEAD` when the poller has exited).
    #[cold]
    pub(super) fn sqpoll_wait_room(&mut self) -> Result<()> {
        self.queues.hand_over();
        let mut flags = EnterFlags::SQ_WAIT;
        if self.queues.needs_wakeup() {
            flags |= EnterFlags::SQ_WAKEUP;
        }
        if self.queues.overflowed() {
            flags |= EnterFlags::GETEVENTS;
        }
        match self.enter_flags(0, 0, flags) {
            Ok(_) => Ok(()),
            Err(e) => Err(self.enter_error(e)),
        }
    }
}
