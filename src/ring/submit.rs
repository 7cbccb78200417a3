//! Submission: a slot for each operation, its SQE built straight into the
//! submission queue, raw SQEs. Linked submissions are in `linked.rs`.
//!
//! # Safety
//!
//! Every SQE this file pushes is built by an [`Op`] (an `unsafe trait`
//! whose implementations promise what the SQE touches) or comes from
//! [`Ring::push_raw`] under its contract. The storage a driver-owned
//! operation writes is its slot's inline buffer in the table, which
//! outlives the operation: slots are freed only after their final CQE, and
//! dropping the ring cancels and reaps every operation before the table
//! goes.
#![expect(
    unsafe_code,
    reason = "pushes SQEs built by Op implementations or raw pushes"
)]

use io_uring::squeue;

use super::UserData;
use super::builder::check;
use super::driver::Ring;
use super::op::Target;
use super::op::{Op, Token};
use super::orphans::{self, thread_key};
use super::table::{BIG_BYTES, Cqe, Discard, INLINE_BYTES, Remake, Table};
use crate::error::{Error, Result};
use crate::sys::Errno;
use crate::sys::poll::PollFlags;

/// How a read pushed by [`build`] may be re-armed after a `-EAGAIN`.
#[derive(Clone, Copy)]
pub(crate) enum Rearming {
    /// Never: a member of a link, which a re-arm would take out of it.
    Never,
    /// With the operation's recipe, if it has one: rebuilt by the
    /// [`Remake`] when given (see [`remake_of`]), else recorded as an SQE.
    Allowed(Option<Remake>),
}

/// Frees a claimed slot when dropped: on an error, or when an operation's
/// own code panics before its SQE was queued (a slot never submitted
/// would keep a drain waiting for ever). Forgotten once the SQE is built.
struct Unsubmitted<'a> {
    table: &'a mut Table,
    ud: UserData,
}

impl Drop for Unsubmitted<'_> {
    fn drop(&mut self) {
        self.table.remove(self.ud);
    }
}

/// Checks `op` ([`Op::check`]), fills its storage, records how to re-arm
/// it (as `rearm` allows, when the operation has a recipe) and builds its
/// SQE for slot `ud` of `table`; on error — the kernel lacks the opcode,
/// the op refuses, or it panics — the slot is freed. The SQE is not
/// pushed, and what the slot keeps is not yet taken:
/// the caller pushes the SQE at once (so that it goes straight into the
/// ring, with no call in between to spill it to the stack) and then hands
/// the op to [`keep`].
///
/// # Safety
///
/// - `storage` points at `O::Storage` that stays valid, and is not
///   otherwise accessed, until the slot's final CQE is reaped.
#[inline(always)]
pub(crate) unsafe fn build<O: Op>(
    table: &mut Table,
    supported: &[u64; 4],
    op: &O,
    ud: UserData,
    storage: *mut O::Storage,
    rearm: Rearming,
    discard: Option<Discard>,
) -> Result<squeue::Entry> {
    if let Err(e) = check::<O>(supported) {
        table.remove(ud);
        return Err(e);
    }
    // If `prepare`, `rearm` or `entry` panics, the slot was never
    // submitted: the guard frees it.
    let guard = Unsubmitted { table, ud };
    // Dropping the guard frees the slot.
    op.check()?;
    // Marked before `prepare` fills the storage: a failure here has
    // nothing to let go.
    if O::FOLDS && !guard.table.set_folds(ud) {
        return Err(Error::NoMemory);
    }

    // SAFETY: the caller's promise: `storage` is valid for writes and
    // nothing else accesses it; the kernel does not see it before the push.
    unsafe { op.prepare(storage) };
    // An output that owns something (a buffer, a descriptor) is decoded
    // and dropped when nobody takes it — also if the operation never goes
    // out (the table then hands it a `-ECANCELED`): recorded once
    // `prepare` has put what it owns in the storage.
    if let Some(discard) = discard
        && !guard.table.set_discard(ud, discard, storage.cast::<u8>())
    {
        let cancelled = Cqe {
            res: -Errno::ECANCELED.raw(),
            flags: 0,
        };
        // SAFETY: `prepare` filled the storage and the kernel never saw
        // it: the output is decoded once, here.
        unsafe { discard(cancelled, storage.cast::<u8>()) };
        return Err(Error::NoMemory);
    }
    // An operation that can build its SQE again (`Op::rebuild`) leaves
    // only its target in the slot. Otherwise the recipe gets an SQE of its
    // own, built in its place in the table rather than cloned from the
    // pushed one: a clone would put that SQE in memory, and the push would
    // copy it through the stack.
    if let Rearming::Allowed(remake) = rearm
        && let Some((target, events)) = op.rearm()
    {
        let remade = remake.is_some_and(|r| guard.table.set_remake(ud, target, r));
        if !remade
            && !guard
                .table
                .set_rearm(ud, target, events, || op.entry(storage).user_data(ud.raw()))
        {
            return Err(Error::NoMemory);
        }
    }
    let entry = op.entry(storage).user_data(ud.raw());
    std::mem::forget(guard);
    Ok(entry)
}

/// Hands what a driver-owned `op` keeps open to slot `ud`, once its SQE is
/// queued. [`Op::into_keep`] must not panic (its contract): the SQE already
/// names the handle.
#[inline(always)]
pub(super) fn keep<O: Op>(table: &mut Table, ud: UserData, op: O) {
    if let Some(keep) = op.into_keep()
        && let Err(keep) = table.set_keep(ud, keep)
    {
        // No memory for the record: the handle must outlive the
        // operation all the same, so it is leaked, never closed early.
        std::mem::forget(keep);
    }
}

/// Decodes and drops a result of `O` nobody takes.
///
/// # Safety
///
/// - `storage` is `O`'s storage for the operation whose CQE `cqe` is, and
///   the kernel is done with it for this CQE.
unsafe fn discard<O: Op>(cqe: Cqe, storage: *mut u8)
where
    O::Storage: Sized,
{
    // SAFETY: forwarded to the caller; `O::Storage` is the type the
    // pointer was recorded with (`build`).
    drop(unsafe { O::output(cqe, storage.cast::<O::Storage>().cast_const()) });
}

/// [`Op::rebuild`] for `O`'s storage at `storage`.
///
/// # Safety
///
/// - `storage` is `O`'s storage for a live operation of `O`.
unsafe fn remake<O: Op>(target: Target, storage: *mut u8) -> Option<(PollFlags, squeue::Entry)>
where
    O::Storage: Sized,
{
    O::rebuild(target, storage.cast::<O::Storage>())
}

/// How the slot builds `O`'s SQE again for a re-arm, if `O` can
/// ([`Op::REBUILDS`]) and its storage is inline (the slot then finds it
/// without a side record).
#[inline(always)]
pub(crate) fn remake_of<O: Op>() -> Option<Remake>
where
    O::Storage: Sized,
{
    (O::REBUILDS && !is_big::<O::Storage>()).then_some(remake::<O> as Remake)
}

/// How to drop a result of `O` nobody takes, if its output owns anything
/// (a buffer, a descriptor). Only for sized storage, whose pointer the
/// table can keep as one word: an operation with unsized storage writes
/// into a caller's slice and has nothing to give back.
#[inline(always)]
pub(crate) fn discard_of<O: Op>() -> Option<Discard>
where
    O::Storage: Sized,
{
    std::mem::needs_drop::<O::Output>().then_some(discard::<O> as Discard)
}

impl Ring {
    /// Checks that the kernel has `O`'s opcode.
    #[inline]
    pub(crate) fn check<O: Op>(&self) -> Result<()> {
        check::<O>(&self.supported)
    }

    /// Refuses an operation bound to another ring ([`Op::ring_bound`]).
    #[inline(always)]
    pub(crate) fn check_bound<O: Op>(&self, op: &O) -> Result<()> {
        self.check_bound_to(op.ring_bound(), op.files_epoch())
    }

    /// [`check_bound`](Ring::check_bound) of an operation bound to ring
    /// `bound` and file table `epoch`.
    #[inline(always)]
    fn check_bound_to(&self, bound: Option<u32>, epoch: Option<u32>) -> Result<()> {
        match bound {
            Some(id) if id != self.id => Err(Error::InvalidParam(
                "the operation's registered resources belong to another ring",
            )),
            _ => self.check_files_epoch(epoch),
        }
    }

    /// Pushes one SQE, submitting first when the queue is full.
    ///
    /// # Safety
    ///
    /// - The SQE satisfies [`io_uring_enter`](crate::sys::uring::io_uring_enter)'s
    ///   contract for as long as its operation is in flight.
    #[inline]
    pub(crate) unsafe fn push_entry(&mut self, entry: &squeue::Entry) -> Result<()> {
        if self.queues.sq_is_full() {
            self.make_room()?;
        }
        // SAFETY: forwarded to the caller; the queue has room.
        unsafe { self.queues.push_unchecked(entry.clone()) };
        Ok(())
    }

    /// Allocates a table slot for a new operation.
    ///
    /// # Errors
    ///
    /// [`Error::TableFull`] when the table holds its maximum of operations
    /// and untaken results, even after reaping; [`Error::NoMemory`] when
    /// it cannot grow; [`Error::InvalidParam`] for a scoped operation on a `SINGLE_ISSUER`
    /// ring from a thread other than the one that built it: the kernel
    /// would refuse the submission, and the scope could then not end its
    /// operations.
    #[inline]
    pub(crate) fn alloc(&mut self, scoped: bool, tag: Option<u64>) -> Result<UserData> {
        if scoped {
            self.check_issuer()?;
        }
        match self.table.insert(scoped, tag) {
            Some(ud) => Ok(ud),
            None => self.alloc_full(scoped, tag),
        }
    }

    /// [`alloc`](Ring::alloc) of an unscoped slot, with a pointer to its
    /// inline storage.
    ///
    /// # Errors
    ///
    /// As [`alloc`](Ring::alloc).
    #[inline(always)]
    fn alloc_at(&mut self, tag: Option<u64>) -> Result<(UserData, *mut u8)> {
        if let Some(at) = self.table.insert_at(false, tag) {
            return Ok(at);
        }
        let ud = self.alloc_full(false, tag)?;
        Ok((ud, self.table.storage_ptr(ud, false)))
    }

    /// A pointer to slot `ud`'s storage for an `S`: its inline bytes, or a
    /// block out of line for an `S` bigger than them. On error the slot is
    /// freed.
    ///
    /// # Errors
    ///
    /// [`Error::NoMemory`] when a block cannot be had.
    #[inline(always)]
    pub(crate) fn slot_storage<S>(&mut self, ud: UserData) -> Result<*mut S> {
        const { assert!(size_of::<S>() <= BIG_BYTES && align_of::<S>() <= 8) };
        if size_of::<S>() == 0 {
            // Nothing is stored: no lookup.
            return Ok(std::ptr::NonNull::dangling().as_ptr());
        }
        if !is_big::<S>() {
            return Ok(self.table.storage_ptr(ud, false).cast());
        }
        let p = self.table.attach_big(ud);
        if p.is_null() {
            self.table.remove(ud);
            return Err(Error::NoMemory);
        }
        Ok(p.cast())
    }

    /// Fails on a `SINGLE_ISSUER` ring outside the thread that built it.
    #[inline]
    pub(super) fn check_issuer(&self) -> Result<()> {
        match self.issuer {
            Some(thread) if thread != thread_key() => Err(Error::InvalidParam(
                "a single-issuer ring takes submissions only from the thread that built it",
            )),
            _ => Ok(()),
        }
    }

    /// The slow path of [`alloc`](Ring::alloc): reap, then try again.
    #[cold]
    #[inline(never)]
    pub(super) fn alloc_full(&mut self, scoped: bool, tag: Option<u64>) -> Result<UserData> {
        // Slots that owners dropped without the ring gave up: their
        // cancels go out now, and the reap below frees them.
        if orphans::any_posted() {
            self.take_posted_slow();
            self.enter(0)?;
        }
        // Held: a caller may have claimed a slot it has not queued yet.
        self.reap_passes(false, true)?;
        match self.table.insert(scoped, tag) {
            Some(ud) => Ok(ud),
            None if self.table.is_full() => Err(Error::TableFull),
            None => Err(Error::NoMemory),
        }
    }

    /// Fills `op`'s storage and pushes its SQE for slot `ud` (from
    /// [`alloc`](Ring::alloc)); on error the slot is freed.
    ///
    /// # Safety
    ///
    /// - `storage` points at `O::Storage` that stays valid, and is not
    ///   otherwise accessed, until the slot's final CQE is reaped.
    #[inline(always)]
    pub(crate) unsafe fn launch<O: Op>(
        &mut self,
        op: O,
        ud: UserData,
        storage: *mut O::Storage,
        discard: Option<Discard>,
        rearming: Rearming,
    ) -> Result<()> {
        self.ready_to_launch(&op, ud)?;
        // SAFETY: forwarded to the caller.
        let entry = unsafe {
            build(
                &mut self.table,
                &self.supported,
                &op,
                ud,
                storage,
                rearming,
                discard,
            )
        }?;
        if let Some((target, events)) = op.poll_first() {
            return self.launch_polled(op, ud, entry, target, events);
        }
        // SAFETY: `O: Op` vouches for the SQE; its storage outlives the
        // operation (the caller's promise). The queue has room: nothing
        // pushed since the check.
        unsafe { self.queues.push_unchecked(entry) };
        keep(&mut self.table, ud, op);
        Ok(())
    }

    /// Checks that `op` may go on this ring and makes room for its SQE;
    /// on error slot `ud` (claimed for it) is freed.
    ///
    /// Room is made first so that the push never fails and never needs the
    /// SQE again: it is then written straight into the ring, where a copy
    /// through the stack would stall on store forwarding (BENCHMARKS.md,
    /// "Why the code is shaped so").
    #[inline(always)]
    pub(super) fn ready_to_launch<O: Op>(&mut self, op: &O, ud: UserData) -> Result<()> {
        // The operation's own code runs with the slot claimed: a panic
        // frees it.
        let guard = Unsubmitted {
            table: &mut self.table,
            ud,
        };
        let (bound, epoch) = (op.ring_bound(), op.files_epoch());
        std::mem::forget(guard);
        if let Err(e) = self.check_bound_to(bound, epoch) {
            self.table.remove(ud);
            return Err(e);
        }
        if self.queues.sq_is_full()
            && let Err(e) = self.make_room()
        {
            self.table.remove(ud);
            return Err(e);
        }
        Ok(())
    }

    /// Submits until the submission queue has room for one more SQE.
    #[cold]
    #[inline(never)]
    pub(super) fn make_room(&mut self) -> Result<()> {
        // `enter`, not `submit`: a push may come from inside a reap pass (a
        // re-arm), where ending posted operations would free slots whose
        // completions the pass has not yet counted.
        while self.queues.sq_is_full() {
            self.free_sq()?;
        }
        Ok(())
    }

    /// Gets the kernel to consume queued SQEs, for room: an enter that
    /// submits them, or on an SQPOLL ring one that waits until the poller
    /// has taken some (`IORING_ENTER_SQ_WAIT`).
    ///
    /// # Errors
    ///
    /// [`Error::RingDisabled`] on a ring built disabled and not enabled
    /// (nothing is queued then: its queue has no room); the enter's.
    #[cold]
    pub(super) fn free_sq(&mut self) -> Result<()> {
        if self.disabled {
            return Err(Error::RingDisabled);
        }
        if self.sqpoll {
            return self.sqpoll_wait_room();
        }
        self.enter(0).map(drop)
    }

    /// Queues a driver-owned operation: its result lands in its slot of the
    /// completion table and waits there to be taken with
    /// [`take`](Ring::take) or [`wait`](Ring::wait). Nothing is submitted
    /// until [`submit`](Ring::submit) (or a call that submits).
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] when the kernel lacks the operation (naming
    /// it); [`Error::TableFull`] when the table holds its
    /// [`max_capacity`](Ring::max_capacity) of operations and untaken
    /// results; [`Error::NoMemory`] when it cannot grow; errors of the
    /// submission a full queue forces.
    #[inline(always)]
    pub fn push<O: Op + 'static>(&mut self, op: O) -> Result<Token<O>>
    where
        O::Storage: Sized,
    {
        self.push_inner(op, None)
    }

    /// [`push`](Ring::push), with the operation's results announced by
    /// [`next_completion`](Ring::next_completion) under `tag` (the index
    /// of the connection or task it belongs to, say), in completion order.
    ///
    /// # Errors
    ///
    /// As [`push`](Ring::push).
    #[inline(always)]
    pub fn push_tagged<O: Op + 'static>(&mut self, op: O, tag: u64) -> Result<Token<O>>
    where
        O::Storage: Sized,
    {
        self.push_inner(op, Some(tag))
    }

    #[inline(always)]
    fn push_inner<O: Op + 'static>(&mut self, op: O, tag: Option<u64>) -> Result<Token<O>>
    where
        O::Storage: Sized,
    {
        let (ud, storage) = if is_big::<O::Storage>() || size_of::<O::Storage>() == 0 {
            let ud = self.alloc(false, tag)?;
            (ud, self.slot_storage::<O::Storage>(ud)?)
        } else {
            let (ud, inline) = self.alloc_at(tag)?;
            (ud, inline.cast::<O::Storage>())
        };
        // SAFETY: the slot's storage fits `O::Storage` (`slot_storage`
        // checks), is reached only through this pointer, and lives until
        // the final CQE.
        unsafe {
            self.launch(
                op,
                ud,
                storage,
                discard_of::<O>(),
                Rearming::Allowed(remake_of::<O>()),
            )
        }?;
        Ok(Token::new(ud, self.id))
    }

    /// Pushes an SQE as it is, `user_data` included, with no table slot:
    /// its CQE is matched against the table like any other, so a tag that
    /// names no live operation is counted in
    /// [`stale_completions`](Ring::stale_completions) and dropped.
    ///
    /// # Safety
    ///
    /// - The SQE satisfies [`io_uring_enter`](crate::sys::uring::io_uring_enter)'s
    ///   contract: everything it points at stays valid, and every descriptor
    ///   it names stays open, until its CQE has been reaped.
    /// - Its `user_data` does not name a live operation of this ring (a
    ///   result would be delivered to that operation's owner).
    /// - It does not close the ring or change its registrations.
    ///
    /// # Errors
    ///
    /// Errors of the submission a full queue forces.
    pub unsafe fn push_raw(&mut self, entry: &squeue::Entry) -> Result<()> {
        // SAFETY: forwarded to the caller.
        unsafe { self.push_entry(entry) }
    }
}

/// Whether an `S` is stored out of line.
#[inline(always)]
pub(crate) const fn is_big<S>() -> bool {
    size_of::<S>() > INLINE_BYTES || align_of::<S>() > 8
}
