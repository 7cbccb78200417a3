//! Completion-based timers on the driver: removing and moving pending
//! timeouts, deadlines on other operations (link timeouts), and results
//! nobody waits for.
#![expect(
    unsafe_code,
    reason = "updates and removals reach a live timeout's slot storage"
)]

use std::time::Duration;

use super::Ring;
use super::driver::SPENT_TOKEN;
use super::op::{Op, Token};
use super::ops::{
    LinkTimeout, Timeout, TimeoutRemove, TimeoutStorage, TimeoutUpdate, check_update, mark_removed,
};
use super::submit::discard_of;
use super::table::Life;
use super::user_data::UserData;
use crate::error::{Error, Result};

impl Ring {
    /// Checks that `token` is this ring's and still has a result to give.
    fn own<O: Op>(&self, token: &Token<O>) -> Result<UserData> {
        let ud = self.ud_of(token)?;
        if token.done {
            return Err(Error::InvalidParam(SPENT_TOKEN));
        }
        Ok(ud)
    }

    /// Removes a pending [`Timeout`] (`IORING_OP_TIMEOUT_REMOVE`): if the
    /// kernel still has it, it completes with
    /// [`TimeoutResult::Removed`](super::ops::TimeoutResult::Removed) and
    /// fires no more. The returned token says whether it was found
    /// (`Ok(())`), had already fired or ended (`Os(ENOENT)`), or was firing
    /// (`Os(EALREADY)`); [`detach`](Ring::detach) it when that does not
    /// matter.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParam`] for another ring's token or one whose final
    /// result was taken; [`Error::TableFull`] when the completion table is at its maximum;
    /// errors of the submission a full queue forces.
    #[doc(alias = "IORING_OP_TIMEOUT_REMOVE")]
    pub fn remove_timeout(&mut self, timeout: &Token<Timeout>) -> Result<Token<TimeoutRemove>> {
        let target = self.own(timeout)?;
        let remove = self.push(TimeoutRemove::new(target))?;
        if self.table_state(target) == Some(Life::InFlight) {
            let storage = self.table_storage(target, false).cast::<TimeoutStorage>();
            // SAFETY: the slot is live and holds this `Timeout`'s storage
            // (the token's type says so), initialised when it was pushed.
            unsafe { mark_removed(storage) };
        }
        Ok(remove)
    }

    /// The checks of an update to `target`'s expiry (see
    /// [`check_update`]).
    fn updatable(&self, target: UserData, expiry: Duration, absolute: bool) -> Result<()> {
        if self.table_state(target) != Some(Life::InFlight) {
            // Already ended: the kernel answers ENOENT.
            return Ok(());
        }
        let storage = self.table_storage(target, false).cast::<TimeoutStorage>();
        // SAFETY: the slot is live and holds this `Timeout`'s storage,
        // initialised when it was pushed.
        unsafe { check_update(storage, expiry, absolute) }
    }

    /// Moves a pending [`Timeout`]'s expiry to `after` from now
    /// (`IORING_TIMEOUT_UPDATE`). A periodic timeout keeps firing with
    /// `after` as its new period. The returned token says whether it was
    /// found (`Ok(())`) or had already fired or ended (`Os(ENOENT)`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParam`] for a timeout with a shot or completion
    /// count (the kernel re-arms an updated timeout without its count) and
    /// for a zero period; otherwise as
    /// [`remove_timeout`](Ring::remove_timeout).
    #[doc(alias("IORING_OP_TIMEOUT_REMOVE", "IORING_TIMEOUT_UPDATE"))]
    pub fn update_timeout(
        &mut self,
        timeout: &Token<Timeout>,
        after: Duration,
    ) -> Result<Token<TimeoutUpdate>> {
        let target = self.own(timeout)?;
        self.updatable(target, after, false)?;
        self.push(TimeoutUpdate::new(target, after, false, false))
    }

    /// Moves a pending one-shot [`Timeout`]'s expiry to the absolute
    /// reading `deadline` of the clock it was armed on (monotonic for one
    /// armed with [`Timeout::after`]). A deadline already past fires it at
    /// once.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParam`] for a periodic timeout (the kernel would
    /// take the deadline as its period) or one with a completion count;
    /// otherwise as [`remove_timeout`](Ring::remove_timeout).
    #[doc(alias("IORING_OP_TIMEOUT_REMOVE", "IORING_TIMEOUT_UPDATE"))]
    pub fn update_timeout_at(
        &mut self,
        timeout: &Token<Timeout>,
        deadline: Duration,
    ) -> Result<Token<TimeoutUpdate>> {
        let target = self.own(timeout)?;
        self.updatable(target, deadline, true)?;
        self.push(TimeoutUpdate::new(target, deadline, true, false))
    }

    /// Moves a pending link timeout's deadline to `after` from now
    /// (`IORING_LINK_TIMEOUT_UPDATE`).
    ///
    /// # Errors
    ///
    /// As [`remove_timeout`](Ring::remove_timeout).
    pub fn update_link_timeout(
        &mut self,
        timeout: &Token<LinkTimeout>,
        after: Duration,
    ) -> Result<Token<TimeoutUpdate>> {
        let target = self.own(timeout)?;
        self.push(TimeoutUpdate::new(target, after, false, true))
    }

    /// Queues a driver-owned operation with a deadline: `op` is linked to a
    /// link timeout (`IORING_OP_LINK_TIMEOUT`) made from `deadline` (a
    /// one-shot [`Timeout::after`] or [`Timeout::at`]), and both go to the
    /// kernel in the same submission. If the deadline passes first, the
    /// kernel cancels `op` — its result is then `Err(Os(ECANCELED))` — and
    /// the timeout reports [`LinkTimeoutResult::Expired`](super::ops::LinkTimeoutResult::Expired);
    /// if `op` ends first, the timeout reports
    /// [`Disarmed`](super::ops::LinkTimeoutResult::Disarmed).
    ///
    /// The operation is not re-armed on `-EAGAIN` (a re-armed read would no
    /// longer be linked to its deadline): on a kernel that answers a read
    /// of a non-blocking file with `-EAGAIN` instead of waiting on its poll
    /// (Linux 6.18 waits, for eventfds), that is the operation's result.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParam`] for a periodic deadline or one with a
    /// completion count; otherwise as [`push`](Ring::push). Nothing is
    /// queued on error.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use iofd::{Error, EventFd};
    /// use iofd::ring::Ring;
    /// use iofd::ring::ops::{LinkTimeoutResult, Timeout};
    ///
    /// let mut ring = Ring::new(8)?;
    /// let efd = Arc::new(EventFd::new(0)?); // nobody signals it
    /// let (read, deadline) =
    ///     ring.push_with_timeout(efd.read_op_shared(), Timeout::after(Duration::from_millis(5)))?;
    /// assert_eq!(ring.wait(deadline)?, LinkTimeoutResult::Expired);
    /// assert_eq!(ring.wait(read), Err(Error::Os(iofd::sys::Errno::ECANCELED)));
    /// # Ok::<(), iofd::Error>(())
    /// ```
    #[doc(alias = "IORING_OP_LINK_TIMEOUT")]
    pub fn push_with_timeout<O: Op + 'static>(
        &mut self,
        op: O,
        deadline: Timeout,
    ) -> Result<(Token<O>, Token<LinkTimeout>)>
    where
        O::Storage: Sized,
    {
        let link = deadline.link()?;
        let ud = self.alloc(false, None)?;
        let storage = self.slot_storage::<O::Storage>(ud)?;
        // SAFETY: the slot's storage fits `O::Storage` (`slot_storage`
        // checks), is reached only through this pointer, and lives until
        // the slot's final CQE.
        let lt_ud = unsafe { self.launch_linked(op, ud, storage, link, false, discard_of::<O>()) }?;
        Ok((Token::new(ud, self.id()), Token::new(lt_ud, self.id())))
    }

    /// Gives up an operation's result but lets it run: unlike
    /// [`cancel`](Ring::cancel), no cancel request is sent. Its slot (and
    /// the handle it keeps) is freed when its final CQE arrives; a result
    /// already waiting is dropped now.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParam`] for another ring's token.
    pub fn detach<O: Op>(&mut self, mut token: Token<O>) -> Result<()> {
        let ud = self.ud_of(&token)?;
        token.done = true;
        self.table_abandon(ud);
        Ok(())
    }
}
