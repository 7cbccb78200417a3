//! `io_uring_enter`: submitting, and waiting for completions in enters
//! that submit nothing, so that a signal is reported.
//!
//! # Safety
//!
//! Every SQE an enter hands the kernel was pushed under
//! [`Ring::push_entry`]'s contract.
#![expect(
    unsafe_code,
    reason = "io_uring_enter hands the kernel the pushed SQEs"
)]

use super::driver::Ring;
use super::orphans::{self, Posted, thread_key};
use crate::error::{Error, Result};
use crate::sys::Errno;
use std::os::fd::AsFd;

/// How often a loop that waits tries submitting without waiting again.
const PROBE_EVERY: u32 = 64;
/// The wait score from which turns submit and wait in one enter.
const WAITING: u8 = 8;

impl Ring {
    /// `io_uring_enter` — submits every queued SQE. Operations whose
    /// tokens were dropped untaken are detached first (their slots freed
    /// at their final CQEs), and those of dropped [`WheelTimers`](super::WheelTimers)
    /// cancelled. Returns how many SQEs the kernel took: all that were
    /// queued, or fewer when one failed before it was issued (the kernel
    /// stops there unless the ring was built with
    /// [`submit_all`](super::RingBuilder::submit_all); the rest go with
    /// the next enter).
    ///
    /// On an [`sqpoll`](super::RingBuilder::sqpoll) ring the poller takes
    /// SQEs as they are pushed: this hands it the queue, entering the
    /// kernel only to wake it when it sleeps, and returns how many SQEs
    /// were pushed since the queue was last handed over (by a submit or a
    /// wait). They are the poller's from then on, taken by it or about to
    /// be; the count says nothing about how many it took yet.
    ///
    /// # Errors
    ///
    /// [`Error::Interrupted`]; [`Error::RingDisabled`] on a ring built
    /// disabled and not yet enabled; the ring's errors. `EBUSY`
    /// (completions waiting to be flushed) is handled by reaping and
    /// retrying; that reap holds a kept handle's panic for the next
    /// [`reap`](Ring::reap).
    #[inline(always)]
    pub fn submit(&mut self) -> Result<usize> {
        self.take_posted();
        self.enter(0)
    }

    /// Submits what is queued, what dropped owners posted included, if
    /// anything is: the closes and cancels that count as nothing in flight
    /// go out with no wait.
    pub(super) fn submit_queued(&mut self) -> Result<()> {
        self.take_posted();
        if !self.queues.sq_is_empty() {
            self.enter(0)?;
        }
        Ok(())
    }

    /// Ends the operations posted for this ring by owners dropped without
    /// it (see the `orphans` module): one load while none are.
    #[inline(always)]
    pub(super) fn take_posted(&mut self) {
        if orphans::any_posted() {
            self.take_posted_slow();
        }
    }

    /// The slow path of [`take_posted`](Ring::take_posted). A cancel that
    /// fails to go out leaves its slot abandoned, which a drop's drain
    /// cancels again.
    #[cold]
    #[inline(never)]
    pub(super) fn take_posted_slow(&mut self) {
        // Ending one can post more (a detached accept's result, a
        // `Direct`, closes its slot when dropped): taken in the same call.
        // The buffer is the ring's, so a loop whose tokens are dropped
        // allocates nothing once it has grown (a submission forced below
        // may come back here: it then uses a buffer of its own).
        let mut posted = std::mem::take(&mut self.posted);
        loop {
            orphans::take_posted(self.id, &mut posted);
            if posted.is_empty() {
                break;
            }
            for (ud, what) in posted.drain(..) {
                match what {
                    Posted::Cancel => {
                        let _ = self.cancel_ud(ud);
                    }
                    Posted::Detach => self.detach_posted(ud),
                    Posted::CloseSlot { index, epoch } => self.close_released_slot(index, epoch),
                }
            }
        }
        self.posted = posted;
    }

    /// `io_uring_enter` — submits every queued SQE, reaps what has
    /// completed into the table and, if that was fewer than `want`
    /// completions, waits for the rest and reaps them too. Returns how many
    /// SQEs were submitted.
    ///
    /// With nothing in flight and `want > 0` it waits for a completion
    /// only another ring can post (`IORING_OP_MSG_RING`): a loop that
    /// drains checks [`in_flight`](Ring::in_flight) first.
    ///
    /// It does not wait while a result is already in the table to be
    /// taken — one reaped earlier, by a [`wait`](Ring::wait) for another
    /// operation, say — so a loop that waits and then takes from its tokens
    /// cannot sleep on a result it has not taken. (A token dropped untaken
    /// lets its result go, so that result does not count.)
    ///
    /// The submission and the wait are separate enters when the wait is
    /// needed: the kernel reports a signal that interrupts a wait in the
    /// same enter as a submission as the count it submitted, not `EINTR`.
    /// A batch that completes while it is submitted costs one enter.
    ///
    /// # Errors
    ///
    /// [`Error::Interrupted`] when a signal interrupted the wait before
    /// any completion arrived (what arrived before it is reaped); the
    /// ring's errors, as [`submit`](Ring::submit).
    #[inline(always)]
    pub fn submit_and_wait(&mut self, want: usize) -> Result<usize> {
        // Results of dropped tokens are let go first: they are nobody's.
        self.take_posted();
        let want = if self.table.has_results() { 0 } else { want };
        self.submit_reap_wait(want)
    }

    /// Submits and waits until no operation is in flight: the end of an
    /// event loop that has cancelled (or let finish) what it started.
    /// Results that come meanwhile stay in the table, to be taken through
    /// their tokens or popped with [`next_completion`](Ring::next_completion);
    /// the wait does not spin on them.
    /// An open [`Mailbox`](super::Mailbox) counts as in flight, like a
    /// multishot operation that never ends by itself: close it first (and
    /// cancel a slotless multishot one, [`cancel_slotless`](Ring::cancel_slotless),
    /// and a slotless counter read still waiting for its count,
    /// [`cancel_fixed`](Ring::cancel_fixed)).
    ///
    /// # Errors
    ///
    /// As [`submit_and_wait`](Ring::submit_and_wait):
    /// [`Error::Interrupted`] when a signal interrupts a wait (call it
    /// again to go on waiting).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use iofd::EventFd;
    /// use iofd::ring::Ring;
    ///
    /// let mut ring = Ring::new(8)?;
    /// let efd = Arc::new(EventFd::new(0)?);
    /// let read = ring.push(efd.read_op_shared())?;
    /// ring.submit()?;
    /// ring.cancel(read)?; // shutting down: give the read up
    /// ring.wait_idle()?;
    /// assert_eq!(ring.in_flight(), 0);
    /// # Ok::<(), iofd::Error>(())
    /// ```
    pub fn wait_idle(&mut self) -> Result<()> {
        while self.in_flight() > 0 {
            self.submit_and_wait_for(1)?;
        }
        // What is queued and counts as nothing in flight (the close of a
        // dropped `Direct`'s slot, a cancel) goes out too: an idle ring has
        // nothing left to submit.
        self.submit_queued()
    }

    /// [`submit_and_wait`](Ring::submit_and_wait) without the check for
    /// results in the table: for a caller that has just looked for its own
    /// (a wait on one token, a scope waiting for its batch).
    #[inline(always)]
    pub(crate) fn submit_and_wait_for(&mut self, want: usize) -> Result<usize> {
        self.take_posted();
        self.submit_reap_wait(want)
    }

    /// The work of both: submit, reap, and wait for any shortfall.
    ///
    /// With something to submit and one completion to wait for (an event
    /// loop's turn), a loop whose turns usually wait (a server's) submits
    /// and waits in one enter: one syscall a turn. The kernel reports a
    /// signal that ends such a wait as the count it submitted, not
    /// `EINTR`; but it ends the wait only for a completion or a signal, so
    /// an enter that submitted everything and left no completion was
    /// interrupted. A loop whose submissions complete at once (NOPs, ready
    /// reads) submits without waiting, which is cheaper in the kernel, and
    /// waits only when nothing came. Which kind of loop this is, is learnt
    /// from the submissions that did not wait (a score that rises by
    /// [`WAITING`] for each that found nothing and falls by one for each
    /// that found something: one in [`WAITING`] needing a wait tips it),
    /// and tried again every [`PROBE_EVERY`] turns taken in one enter.
    ///
    /// Waiting for more than one, a signal after the first completion
    /// could not be told from the wait's end: the submission and the wait
    /// are separate enters then, and the wait-only ones report `EINTR`
    /// themselves.
    #[inline(always)]
    fn submit_reap_wait(&mut self, want: usize) -> Result<usize> {
        if self.sqpoll {
            return self.sqpoll_turn(want);
        }
        if want == 1 && self.wait_score >= WAITING && !self.queues.sq_is_empty() {
            self.turns = self.turns.wrapping_add(1);
            if !self.turns.is_multiple_of(PROBE_EVERY) {
                return self.submit_and_wait_one();
            }
        }
        let n = if want == 0 || !self.queues.sq_is_empty() {
            self.enter(0)?
        } else {
            0
        };
        let got = self.reap_turn()?;
        if want == 1 && n > 0 {
            self.wait_score = if got == 0 {
                (self.wait_score + WAITING).min(2 * WAITING)
            } else {
                self.wait_score.saturating_sub(1)
            };
        }
        if got < want {
            self.wait_rest(want - got)?;
        }
        Ok(n)
    }

    /// Submits everything and waits for one completion in one enter (see
    /// [`submit_reap_wait`](Ring::submit_reap_wait)).
    #[inline(always)]
    fn submit_and_wait_one(&mut self) -> Result<usize> {
        let queued = self.queues.sq_len() as usize;
        let n = self.enter(1)?;
        if self.reap_turn()? == 0 {
            if n == queued {
                return Err(Error::Interrupted);
            }
            // Not all went in (the kernel then skips the wait): wait now.
            self.wait_rest(1)?;
        }
        Ok(n)
    }

    /// Waits until `left` more completions are reaped, in enters that
    /// submit nothing, so that a signal is reported as `EINTR`. The kernel
    /// may also end such a wait early with a completion (a timeout's CQE
    /// wakes every waiter), which only counts toward `left`; and it swallows
    /// `EINTR` when completions are already in the queue, so the queue is
    /// drained before every wait. On an SQPOLL ring completions come from
    /// the poller at any time, also while this thread sleeps waiting for
    /// more: each wait there is for one completion, so that the queue is
    /// drained again before the next and a signal is not swallowed.
    #[inline(never)]
    pub(super) fn wait_rest(&mut self, mut left: usize) -> Result<()> {
        loop {
            // The reap may have queued re-arms: submit them first.
            while self.unsubmitted() {
                self.enter(0)?;
                left = left.saturating_sub(self.reap_turn()?);
                if left == 0 {
                    return Ok(());
                }
            }
            let ask = if self.sqpoll { 1 } else { left };
            match self.wait_once(ask) {
                Ok(()) => {}
                Err(Errno::EINTR) => return Err(Error::Interrupted),
                // Completions that overflowed wait to be flushed: the
                // reap below does that.
                Err(Errno::EBUSY | Errno::EAGAIN) => {}
                Err(e) => return Err(self.enter_error(e)),
            }
            let got = self.reap_turn()?;
            if got >= left {
                return Ok(());
            }
            left -= got;
        }
    }

    /// One `io_uring_enter` that submits nothing and waits for `want`
    /// completions.
    #[inline(always)]
    pub(super) fn wait_once(&mut self, want: usize) -> std::result::Result<(), Errno> {
        self.enter_raw(0, want).map(drop)
    }

    /// One `io_uring_enter` for everything queued, waiting for `want`
    /// completions.
    #[inline(always)]
    pub(super) fn enter_once(&mut self, want: usize) -> std::result::Result<usize, Errno> {
        if self.sqpoll {
            return self.enter_sqpoll(want);
        }
        let to_submit = self.queues.sq_len();
        self.enter_raw(to_submit, want)
    }

    /// One `io_uring_enter` submitting `to_submit` queued SQEs and waiting
    /// for `want` completions, through the registered ring index when this
    /// thread has one. The syscall is made inline (the syscall core's), so
    /// no call frame sits between the caller and the kernel: every return
    /// taken after a syscall costs a mispredicted branch on this machine.
    #[inline(always)]
    pub(super) fn enter_raw(
        &mut self,
        to_submit: u32,
        want: usize,
    ) -> std::result::Result<usize, Errno> {
        use crate::sys::uring::EnterFlags;
        let backlog = self.queues.backlog();
        let flags = if want > 0 || backlog {
            EnterFlags::GETEVENTS
        } else {
            EnterFlags::empty()
        };
        self.enter_flags(to_submit, want, flags)
    }

    /// [`enter_raw`](Ring::enter_raw) with the enter's flags given.
    #[inline(always)]
    pub(super) fn enter_flags(
        &mut self,
        to_submit: u32,
        want: usize,
        flags: crate::sys::uring::EnterFlags,
    ) -> std::result::Result<usize, Errno> {
        use crate::sys::uring::{io_uring_enter, io_uring_enter_registered};
        self.enters += 1;
        let want = u32::try_from(want).unwrap_or(u32::MAX);
        let null = std::ptr::null();
        let r = match self.registered {
            // SAFETY: every queued SQE was pushed under `push_entry`'s
            // contract; no argument is passed; `index` was registered by
            // this thread and stays registered while the ring lives.
            Some((index, thread)) if thread == thread_key() => unsafe {
                io_uring_enter_registered(index, to_submit, want, flags, null, 0)
            },
            // SAFETY: as above, through the ring's own descriptor.
            _ => unsafe { io_uring_enter(self.as_fd(), to_submit, want, flags, null, 0) },
        };
        r.map(|n| n as usize)
    }

    /// [`enter_once`](Ring::enter_once), retrying after draining the
    /// completion queue when the kernel asks for that.
    #[inline(always)]
    pub(super) fn enter(&mut self, want: usize) -> Result<usize> {
        match self.enter_once(want) {
            Ok(n) => Ok(n),
            Err(e) => self.enter_retry(want, e),
        }
    }

    /// The slow path of [`enter`](Ring::enter): `EBUSY`/`EAGAIN` mean the
    /// kernel holds overflowed completions, so drain the queue (which lets
    /// it flush them) and enter again while that makes progress.
    #[cold]
    #[inline(never)]
    pub(super) fn enter_retry(&mut self, want: usize, mut e: Errno) -> Result<usize> {
        loop {
            if !matches!(e, Errno::EBUSY | Errno::EAGAIN) || self.reap_passes(false, true)? == 0 {
                return Err(self.enter_error(e));
            }
            match self.enter_once(want) {
                Ok(n) => return Ok(n),
                Err(again) => e = again,
            }
        }
    }
}

impl Ring {
    /// An enter's error as the ring reports it: `EBADFD` from a ring
    /// built disabled is [`Error::RingDisabled`].
    #[cold]
    pub(super) fn enter_error(&self, e: Errno) -> Error {
        if e == Errno::EBADFD && self.disabled {
            Error::RingDisabled
        } else {
            Error::from(e)
        }
    }

    /// Whether SQEs are queued that no enter has handed to the kernel: on
    /// an SQPOLL ring, those queued since the last hand-over (the poller
    /// consumes the rest in its own time); otherwise, any the kernel has
    /// not consumed.
    #[inline]
    pub(super) fn unsubmitted(&mut self) -> bool {
        if self.sqpoll {
            self.queues.unhanded()
        } else {
            !self.queues.sq_is_empty()
        }
    }
}
