//! `Scope`: operations that write into storage the caller owns, all
//! cancelled and reaped before the scope's borrows end.
//!
//! # Safety
//!
//! A scoped operation's storage is borrowed for `'env`, which outlives the
//! whole [`Ring::scope`] call, and the kernel may write into it until the
//! operation's final CQE is reaped. `Ring::scope` therefore runs the
//! caller's closure and then, on every way out of it — a normal return, an
//! early return by `?`, a panic unwinding through it — cancels every
//! operation the scope started and reaps until none is in flight, before it
//! returns and the borrows end. The cleanup lives in a guard's `Drop` that
//! the caller never holds, so `mem::forget` cannot skip it; if the ring
//! stops working during cleanup, the process aborts rather than let the
//! kernel write into memory that is about to be reused.
#![expect(
    unsafe_code,
    reason = "scoped operations lend the kernel borrowed storage"
)]

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use super::Ring;
use super::driver::SPENT_TOKEN;
use super::op::{Op, ScopedToken};
use super::ops::{LinkTimeout, Timeout, TimeoutRemove, TimeoutUpdate, check_update, mark_removed};
use super::submit::{Rearming, discard_of, remake_of};
use super::table::Life;
use crate::error::{Error, Result};

/// Runs the scope's cleanup however the closure is left.
struct Cleanup<'a> {
    ring: &'a mut Ring,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        self.ring.drain(true);
        self.ring.resume_unwound();
    }
}

/// A batch of operations writing into caller-owned storage; see
/// [`Ring::scope`].
///
/// `'env` is the lifetime of the storage the scope's operations may
/// borrow: it outlives the whole `scope` call, so storage declared inside
/// the closure cannot be lent (that is what makes cleanup after the closure
/// sound).
pub struct Scope<'scope, 'env: 'scope> {
    ring: &'scope mut Ring,
    _env: PhantomData<&'env mut &'env ()>,
}

impl Ring {
    /// Runs `f` with a [`Scope`] whose operations write into storage the
    /// caller owns, then cancels and reaps every operation `f` left in
    /// flight before returning (also when `f` returns early or panics).
    ///
    /// Storage lent to the scope is borrowed for the whole call, so it can
    /// be neither read nor dropped while an operation may still write it.
    /// Results come back through each operation's [`ScopedToken`]; the storage
    /// holds what the kernel wrote once the scope has returned.
    ///
    /// # Examples
    ///
    /// Batch four eventfd reads into a caller's array in one
    /// `io_uring_enter`:
    ///
    /// ```
    /// use iofd::EventFd;
    /// use iofd::ring::Ring;
    ///
    /// let mut ring = Ring::new(8)?;
    /// let efds = [EventFd::new(1)?, EventFd::new(2)?, EventFd::new(3)?, EventFd::new(4)?];
    /// let mut counters = [0u64; 4];
    /// ring.scope(|s| {
    ///     for (efd, out) in efds.iter().zip(counters.iter_mut()) {
    ///         let _ = s.push_into(efd.read_op(), out)?;
    ///     }
    ///     s.submit_and_wait_all()
    /// })?;
    /// assert_eq!(counters, [1, 2, 3, 4]);
    /// # Ok::<(), iofd::Error>(())
    /// ```
    ///
    /// Storage cannot be touched while the scope may still write it:
    ///
    /// ```compile_fail,E0506
    /// use iofd::EventFd;
    /// use iofd::ring::Ring;
    ///
    /// let mut ring = Ring::new(8).unwrap();
    /// let efd = EventFd::new(1).unwrap();
    /// let mut counter = 0u64;
    /// ring.scope(|s| {
    ///     let _ = s.push_into(efd.read_op(), &mut counter);
    ///     counter = 5; // error: `counter` is mutably borrowed by the scope
    /// });
    /// ```
    ///
    /// Nor dropped:
    ///
    /// ```compile_fail,E0505
    /// use iofd::MemFd;
    /// use iofd::ring::Ring;
    ///
    /// let mut ring = Ring::new(8).unwrap();
    /// let mem = MemFd::new("doc").unwrap();
    /// let mut buf = vec![0u8; 16];
    /// ring.scope(|s| {
    ///     let _ = s.push_into(mem.read_at_op(0), &mut buf[..]);
    ///     drop(buf); // error: cannot move out of `buf` because it is borrowed
    /// });
    /// ```
    ///
    /// Nor can storage that would not outlive the scope be lent to it:
    ///
    /// ```compile_fail,E0597
    /// use iofd::EventFd;
    /// use iofd::ring::Ring;
    ///
    /// let mut ring = Ring::new(8).unwrap();
    /// let efd = EventFd::new(1).unwrap();
    /// ring.scope(|s| {
    ///     let mut local = 0u64; // dropped at the end of the closure...
    ///     let _ = s.push_into(efd.read_op(), &mut local); // error: does not live long enough
    /// });
    /// ```
    #[inline(always)]
    pub fn scope<'env, R>(
        &'env mut self,
        f: impl for<'scope> FnOnce(&mut Scope<'scope, 'env>) -> R,
    ) -> R {
        let cleanup = Cleanup { ring: self };
        let mut scope = Scope {
            ring: &mut *cleanup.ring,
            _env: PhantomData,
        };
        f(&mut scope)
        // `cleanup` drops here, after `f`, on success, early return or
        // unwinding alike.
    }
}

impl<'scope, 'env> Scope<'scope, 'env> {
    /// Queues `op` writing its result into `storage`, which the caller owns
    /// and gets back, filled, when the scope returns.
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] when the kernel lacks the operation;
    /// [`Error::TableFull`] when the completion table is at its maximum; errors of the
    /// submission a full queue forces; [`Error::InvalidParam`] on a
    /// [`single_issuer`](super::RingBuilder::single_issuer) ring from a
    /// thread other than the one that built it (whose submissions the
    /// kernel refuses), with nothing queued.
    #[inline(always)]
    pub fn push_into<O: Op + 'env>(
        &mut self,
        op: O,
        storage: &'env mut O::Storage,
    ) -> Result<ScopedToken<'scope, O>> {
        let ptr: *mut O::Storage = storage;
        let ud = self.ring.alloc(true, None)?;
        // SAFETY: `storage` is borrowed for `'env`, which outlives this
        // scope, and only reached through `ptr` from here on; the scope's
        // cleanup reaps the operation before returning.
        unsafe { self.ring.launch(op, ud, ptr, None, Rearming::Allowed(None)) }?;
        Ok(ScopedToken::new(ud, ptr))
    }

    /// Queues `op` with its result in the driver's own slot storage (for
    /// operations whose storage is small: a counter, a `SignalInfo`).
    ///
    /// # Errors
    ///
    /// As [`push_into`](Scope::push_into).
    #[inline(always)]
    pub fn push<O: Op + 'env>(&mut self, op: O) -> Result<ScopedToken<'scope, O>>
    where
        O::Storage: Sized,
    {
        let ud = self.ring.alloc(true, None)?;
        let ptr = self.ring.slot_storage::<O::Storage>(ud)?;
        // SAFETY: the slot's storage fits the storage (`slot_storage`
        // checks), is reached only through `ptr`, and lives until the final
        // CQE.
        unsafe {
            self.ring.launch(
                op,
                ud,
                ptr,
                discard_of::<O>(),
                Rearming::Allowed(remake_of::<O>()),
            )
        }?;
        Ok(ScopedToken::new(ud, ptr))
    }

    /// [`push_into`](Scope::push_into) with a deadline: as
    /// [`Ring::push_with_timeout`], the operation and its link timeout go
    /// to the kernel in one submission.
    ///
    /// # Errors
    ///
    /// As [`Ring::push_with_timeout`]. Nothing is queued on error.
    #[doc(alias = "IORING_OP_LINK_TIMEOUT")]
    pub fn push_into_with_timeout<O: Op + 'env>(
        &mut self,
        op: O,
        storage: &'env mut O::Storage,
        deadline: Timeout,
    ) -> Result<(ScopedToken<'scope, O>, ScopedToken<'scope, LinkTimeout>)> {
        let link = deadline.link()?;
        let ptr: *mut O::Storage = storage;
        let ud = self.ring.alloc(true, None)?;
        // SAFETY: `storage` is borrowed for `'env`, which outlives this
        // scope, and only reached through `ptr`; the scope's cleanup reaps
        // the operation and its timeout before returning.
        let lt_ud = unsafe { self.ring.launch_linked(op, ud, ptr, link, true, None) }?;
        let lt_ptr = self.ring.table_storage(lt_ud, false).cast();
        Ok((ScopedToken::new(ud, ptr), ScopedToken::new(lt_ud, lt_ptr)))
    }

    /// Removes a pending timeout of this scope: as [`Ring::remove_timeout`].
    ///
    /// # Errors
    ///
    /// As [`Ring::remove_timeout`].
    #[doc(alias = "IORING_OP_TIMEOUT_REMOVE")]
    pub fn remove_timeout(
        &mut self,
        timeout: &ScopedToken<'scope, Timeout>,
    ) -> Result<ScopedToken<'scope, TimeoutRemove>> {
        if timeout.done {
            return Err(Error::InvalidParam(SPENT_TOKEN));
        }
        let remove = self.push(TimeoutRemove::new(timeout.ud))?;
        if self.ring.table_state(timeout.ud) == Some(Life::InFlight) {
            // SAFETY: the operation is in flight and its storage is the
            // token's, initialised when it was pushed.
            unsafe { mark_removed(timeout.storage) };
        }
        Ok(remove)
    }

    /// Moves a pending timeout of this scope to fire `after` from now: as
    /// [`Ring::update_timeout`].
    ///
    /// # Errors
    ///
    /// As [`Ring::update_timeout`].
    #[doc(alias("IORING_OP_TIMEOUT_REMOVE", "IORING_TIMEOUT_UPDATE"))]
    pub fn update_timeout(
        &mut self,
        timeout: &ScopedToken<'scope, Timeout>,
        after: Duration,
    ) -> Result<ScopedToken<'scope, TimeoutUpdate>> {
        if timeout.done {
            return Err(Error::InvalidParam(SPENT_TOKEN));
        }
        if self.ring.table_state(timeout.ud) == Some(Life::InFlight) {
            // SAFETY: the operation is in flight and its storage is the
            // token's, initialised when it was pushed.
            unsafe { check_update(timeout.storage, after, false) }?;
        }
        self.push(TimeoutUpdate::new(timeout.ud, after, false, false))
    }

    /// `io_uring_enter` — submits everything queued.
    ///
    /// # Errors
    ///
    /// As [`Ring::submit`].
    #[inline(always)]
    pub fn submit(&mut self) -> Result<usize> {
        self.ring.submit()
    }

    /// Submits, reaps, and waits until at least `want` completions are
    /// reaped, unless a result already waits to be taken (see
    /// [`Ring::submit_and_wait`]).
    ///
    /// # Errors
    ///
    /// As [`Ring::submit_and_wait`].
    #[inline(always)]
    pub fn submit_and_wait(&mut self, want: usize) -> Result<usize> {
        self.ring.submit_and_wait(want)
    }

    /// Submits and waits until every operation of this scope has its final
    /// result. Each operation's own result, error or not, waits in its
    /// token for [`take`](Scope::take) (results not taken are dropped
    /// when the scope ends); it is not returned here.
    ///
    /// # Errors
    ///
    /// The ring's errors only: [`Error::Interrupted`] when a signal
    /// interrupted the wait (the scope's operations are then cancelled
    /// when it ends, unless waited for again).
    #[inline(always)]
    pub fn submit_and_wait_all(&mut self) -> Result<()> {
        // Each enter waits for as many completions as this scope still
        // lacks (others' count too, so it may return early; never more than
        // the completion queue holds), so a batch that completes at once
        // costs one `io_uring_enter`.
        let cap = self.ring.cq_entries() as usize;
        let mut left = self.ring.table_scoped_in_flight();
        loop {
            self.ring.submit_and_wait_for(left.min(cap))?;
            left = self.ring.table_scoped_in_flight();
            if left == 0 {
                return Ok(());
            }
        }
    }

    /// Takes one result of `token`'s operation: `None` while nothing has
    /// completed. A multishot operation yields each shot in turn. The
    /// scope's twin of [`Ring::take`].
    pub fn take<O: Op>(&mut self, token: &mut ScopedToken<'scope, O>) -> Option<Result<O::Output>> {
        if token.done {
            return None;
        }
        let (cqe, last) = self.ring.table_take(token.ud)?;
        token.done = last;
        // SAFETY: the CQE was reaped, so the kernel is done with the storage
        // (caller storage borrowed for 'env, or the slot's inline buffer,
        // which stays allocated with the table).
        Some(unsafe { O::output(cqe, token.storage) })
    }

    /// Submits and waits until `token`'s operation has its final result,
    /// and takes it.
    ///
    /// # Errors
    ///
    /// The operation's error, or the ring's ([`Error::Interrupted`] when a
    /// signal interrupted the wait; the token is then spent, and its
    /// operation is cancelled when the scope ends).
    #[inline(always)]
    pub fn wait<O: Op>(&mut self, mut token: ScopedToken<'scope, O>) -> Result<O::Output> {
        loop {
            if let Some(r) = self.take(&mut token) {
                if token.done {
                    return r;
                }
                continue;
            }
            if token.done {
                return Err(Error::InvalidParam(SPENT_TOKEN));
            }
            self.ring.submit_and_wait_for(1)?;
        }
    }

    /// Asks the kernel to cancel `token`'s operation but keeps the token:
    /// its results (usually a final `Os(ECANCELED)`, or the real one if it
    /// won the race) still arrive, to be taken. The scope's twin of
    /// [`Ring::cancel_keep`]; a scope has no twin of [`Ring::cancel`],
    /// which gives the token up, since the scope's end cancels and reaps
    /// whatever its tokens leave.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParam`] for a token whose final result was taken;
    /// errors of the submission a full queue forces.
    #[doc(alias = "IORING_OP_ASYNC_CANCEL")]
    pub fn cancel_keep<O: Op>(&mut self, token: &ScopedToken<'scope, O>) -> Result<()> {
        if token.done {
            return Err(Error::InvalidParam(SPENT_TOKEN));
        }
        self.ring.request_cancel(token.ud)
    }

    /// Drains the completion queue into the table (see [`Ring::reap`]).
    ///
    /// # Errors
    ///
    /// As [`Ring::reap`].
    pub fn reap(&mut self) -> Result<usize> {
        self.ring.reap()
    }

    /// Operations of any owner in flight on the ring.
    pub fn in_flight(&self) -> usize {
        self.ring.in_flight()
    }
}

impl fmt::Debug for Scope<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope").field("ring", &self.ring).finish()
    }
}
