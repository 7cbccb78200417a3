//! Taking results: a token's result polled or waited for, and giving
//! operations up (cancel).
//!
//! # Safety
//!
//! A result is decoded from a slot's storage only after its CQE was
//! reaped, when the kernel is done with it; cancel requests touch no
//! memory.
#![expect(
    unsafe_code,
    reason = "decodes outputs from storage after the final CQE"
)]

use io_uring::opcode;

use super::UserData;
use super::driver::{FOREIGN_TOKEN, Ring, SPENT_TOKEN};
use super::op::{Op, Token};
use super::orphans::{self, Posted};
use super::submit::is_big;
use super::table::Life;
use crate::error::{Error, Result};

impl Ring {
    /// Takes one result of a driver-owned operation: `None` while nothing
    /// has completed (call [`submit`](Ring::submit) and [`reap`](Ring::reap),
    /// or use [`wait`](Ring::wait)). A multishot operation yields each shot
    /// in turn; the token is done after the final one.
    #[inline(always)]
    pub fn take<O: Op>(&mut self, token: &mut Token<O>) -> Option<Result<O::Output>>
    where
        O::Storage: Sized,
    {
        if token.done {
            return None;
        }
        if token.ring != self.id {
            // Another ring's token names nothing here: taking this ring's
            // slot with it would decode someone else's storage. The token
            // is spent, and its operation detached on its own ring.
            orphans::post(token.ring, token.ud, Posted::Detach);
            token.done = true;
            return Some(Err(Error::InvalidParam(FOREIGN_TOKEN)));
        }
        let (cqe, last, ptr) = if is_big::<O::Storage>() {
            // The block goes back to its pool with the final result, but
            // stays allocated with the table: looked up first.
            let ptr = self.table.storage_ptr(token.ud, true);
            let (cqe, last) = self.table.take(token.ud)?;
            (cqe, last, ptr)
        } else {
            self.table.take_at(token.ud)?
        };
        let ptr = if size_of::<O::Storage>() == 0 {
            std::ptr::NonNull::dangling().as_ptr()
        } else {
            ptr.cast::<O::Storage>()
        };
        token.done = last;
        // SAFETY: the CQE was reaped, so the kernel is done with the slot's
        // inline buffer, which held this operation's storage; the buffer
        // stays allocated with the table.
        Some(unsafe { O::output(cqe, ptr) })
    }

    /// Submits what is queued and waits until `token`'s operation has a
    /// result, then takes it.
    ///
    /// # Errors
    ///
    /// The operation's own error, or the ring's: [`Error::Interrupted`]
    /// when a signal interrupted the wait. The token is then spent and its
    /// operation cancelled, unless its result came with the signal, which
    /// is returned instead. A result that comes while the cancel is on its
    /// way is dropped: code that must see every result (a child's exit
    /// status, which the kernel gives once) and may be interrupted waits
    /// with [`take`](Ring::take) and [`submit_and_wait`](Ring::submit_and_wait),
    /// which cancel nothing.
    #[inline(always)]
    pub fn wait<O: Op>(&mut self, mut token: Token<O>) -> Result<O::Output>
    where
        O::Storage: Sized,
    {
        loop {
            if let Some(r) = self.take(&mut token) {
                if !token.done {
                    // The rest of a multishot operation is given up. A
                    // cancel that cannot go out leaves it abandoned, for
                    // the drop's drain to cancel: the result still wins.
                    let _ = self.cancel(token);
                }
                return r;
            }
            if token.done {
                return Err(Error::InvalidParam(SPENT_TOKEN));
            }
            if let Err(e) = self.submit_and_wait_for(1) {
                return self.wait_failed(token, e);
            }
        }
    }

    /// Pushes `op`, submits, and waits for its result: [`push`](Ring::push)
    /// then [`wait`](Ring::wait), for the one operation a caller needs done
    /// now.
    ///
    /// # Errors
    ///
    /// As [`push`](Ring::push), then as [`wait`](Ring::wait).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use iofd::UnixStream;
    /// use iofd::ring::Ring;
    ///
    /// let mut ring = Ring::new(4)?;
    /// let (a, b) = UnixStream::pair()?;
    /// let (n, _buf) = ring.run(Arc::new(a).send_op_shared(b"hi".to_vec()))?;
    /// assert_eq!(n?, 2);
    /// let mut got = [0; 2];
    /// assert_eq!(b.read(&mut got)?, 2);
    /// # Ok::<(), iofd::Error>(())
    /// ```
    #[inline]
    pub fn run<O: Op + 'static>(&mut self, op: O) -> Result<O::Output>
    where
        O::Storage: Sized,
    {
        let token = self.push(op)?;
        self.wait(token)
    }

    /// The end of a [`wait`](Ring::wait) whose enter failed with `e`: a
    /// result that has come meanwhile is returned, else the operation is
    /// cancelled and `e` returned.
    #[cold]
    #[inline(never)]
    pub(super) fn wait_failed<O: Op>(&mut self, mut token: Token<O>, e: Error) -> Result<O::Output>
    where
        O::Storage: Sized,
    {
        if self.reap_passes(false, true).is_ok()
            && let Some(r) = self.take(&mut token)
        {
            if !token.done {
                // As in `wait`.
                let _ = self.cancel(token);
            }
            return r;
        }
        // The wait's own error is the one to report; a cancel that cannot
        // go out leaves the operation abandoned, for the drain.
        let _ = self.cancel(token);
        Err(e)
    }

    /// Gives up an operation: asks the kernel to cancel it if it is still
    /// in flight. Its slot, and the storage and handle it keeps, stay until
    /// its final CQE arrives, then are freed by [`reap`](Ring::reap). Its
    /// results — one already waiting, or one that completes before the
    /// cancel reaches it — are dropped (an owned buffer freed): to see
    /// them, use [`cancel_keep`](Ring::cancel_keep) instead. A token whose
    /// final result was taken already is simply spent: nothing is sent,
    /// and no other operation is touched.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParam`] for another ring's token; errors of the
    /// submission a full queue forces.
    #[doc(alias = "IORING_OP_ASYNC_CANCEL")]
    pub fn cancel<O: Op>(&mut self, mut token: Token<O>) -> Result<()> {
        let ud = self.ud_of(&token)?;
        token.done = true;
        self.cancel_ud(ud)
    }

    /// Asks the kernel to cancel an operation but keeps the token: the
    /// owner still takes every result, up to the final one — the
    /// operation's own cancelled result (`Os(ECANCELED)` for most,
    /// [`TimeoutResult::Cancelled`](super::ops::TimeoutResult::Cancelled)
    /// for a timeout), or whatever it completed with if the cancel came too
    /// late. The way to shut a loop down without losing a result that
    /// raced with the shutdown (a counter read, a child's exit status).
    /// Nothing is sent for an operation whose final result has come.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParam`] for another ring's token or one whose final
    /// result was taken; errors of the submission a full queue forces.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use iofd::{Error, EventFd, sys::Errno};
    /// use iofd::ring::Ring;
    ///
    /// let mut ring = Ring::new(8)?;
    /// let efd = Arc::new(EventFd::new(0)?);
    /// let read = ring.push(efd.read_op_shared())?;
    /// ring.submit()?;
    /// ring.cancel_keep(&read)?;
    /// assert_eq!(ring.wait(read), Err(Error::Os(Errno::ECANCELED)));
    /// # Ok::<(), iofd::Error>(())
    /// ```
    #[doc(alias = "IORING_OP_ASYNC_CANCEL")]
    pub fn cancel_keep<O: Op>(&mut self, token: &Token<O>) -> Result<()> {
        if token.done {
            return Err(Error::InvalidParam(SPENT_TOKEN));
        }
        let ud = self.ud_of(token)?;
        self.request_cancel(ud)
    }

    /// The tag of `token`, if this ring issued it.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParam`] for another ring's token.
    #[inline]
    pub(crate) fn ud_of<O: Op>(&self, token: &Token<O>) -> Result<UserData> {
        if token.ring != self.id {
            return Err(Error::InvalidParam(FOREIGN_TOKEN));
        }
        Ok(token.ud)
    }

    pub(crate) fn cancel_ud(&mut self, ud: UserData) -> Result<()> {
        let in_flight = self.table.state(ud) == Some(Life::InFlight);
        self.table.abandon(ud);
        if in_flight {
            self.push_cancels(ud)?;
        }
        Ok(())
    }

    /// Pushes cancel requests for operation `ud` and for the poll half of a
    /// poll-then-read pair it may be waiting behind (a linked read is only
    /// issued once its poll fires, so cancelling the poll is what ends it).
    pub(super) fn push_cancels(&mut self, ud: UserData) -> Result<()> {
        // A cancel that finds nothing still searches the kernel's lists in
        // full: the poll half is named only when there can be one.
        let aux = self.table.was_rearmed(ud).then(|| ud.aux());
        // Its CQE names the slot: a cancel that finds nothing while the
        // operation runs on is sent again (see `Ring::recancel`).
        self.table.mark_cancelled(ud);
        let tag = UserData::cancel_of(ud.key()).raw();
        for target in std::iter::once(ud).chain(aux) {
            let entry = opcode::AsyncCancel::new(target.raw())
                .build()
                .user_data(tag);
            // SAFETY: a cancel request touches no memory.
            unsafe { self.push_entry(&entry) }?;
        }
        Ok(())
    }

    /// Asks the kernel to cancel operation `ud` but keeps its slot: the
    /// owner still takes its (cancelled or completed) result.
    pub(crate) fn request_cancel(&mut self, ud: UserData) -> Result<()> {
        if self.table.state(ud) == Some(Life::InFlight) {
            // A `-EAGAIN` already in the completion queue would otherwise
            // re-arm the operation after the cancel found nothing.
            self.table.ask_cancel(ud);
            self.push_cancels(ud)?;
        }
        Ok(())
    }
}
