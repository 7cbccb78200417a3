//! Operations with no token: their whole result comes with their
//! completion.
//!
//! A typed operation pushed with [`Ring::push_tagged`] takes a slot in the
//! ring's table: the slot holds what the kernel writes (a read's
//! counter), what the operation keeps open (a shared handle), and its
//! result until the owner takes it through its [`Token`](super::Token).
//! Some operations need little or none of that. A NOP, a poll of a
//! registered file and a cancel point at no memory, keep nothing open,
//! and their result is the CQE itself. A counter read or write of a
//! registered file needs 8 bytes the kernel writes or reads, and nothing
//! else. [`Ring::push_slotless`] sends such an operation with its tag:
//!
//! - **With no storage** (a [`Slotless`] operation whose
//!   [`Storage`](super::Op::Storage) is `()`), it takes no slot at all:
//!   its tag rides in its `user_data`, as a raw io_uring program would
//!   pack it.
//! - **With a `u64` of storage** (a counter read or write of a
//!   [`Fixed`] file), the ring lends it a slot for its
//!   flight only: the final CQE frees the slot as it is reaped, and the 8
//!   bytes travel on with the result.
//!
//! Either way the result comes out of [`Ring::next_completion`] whole, in
//! [`Completion::cqe`](super::Completion::cqe), and
//! [`Completion::output`](super::Completion::output) types it. There is
//! no token and no take.
//!
//! What that saves is the token's round trip: checking the slot's
//! generation when the result is dispatched and again when it is taken,
//! and the take itself (and for NOPs, the slot's whole life). For the
//! loops of `benches/loop_ab.rs` that is most of iofd's cost over the raw
//! io-uring crate with a slab of owners: on the machine of record, NOP
//! and counter-read loops pushed this way run at 0.93–1.05x the raw loop,
//! tokened ones at 0.99–1.13x (BENCHMARKS.md, "The ring as an event
//! loop"). Operations that are not slotless (anything with a buffer, a
//! kept handle or a bigger result) go tokened.
//!
//! What it gives up:
//!
//! - **Tags are below [`SLOTLESS_TAGS`]** (2^30): the tag and a marker
//!   share the `user_data`.
//! - **No re-arm, no poll first.** What the kernel answers is the result.
//!   On Linux 6.18, the kernel this crate is tested on, the kernel itself
//!   waits for an eventfd or timerfd read with nothing to read. A kernel
//!   that answers `-EAGAIN` instead gives [`Error::WouldBlock`], where a
//!   tokened read would be re-armed behind a poll: pushing the read again
//!   at once would spin, so wait for readiness first (a slotless
//!   [`Poll`] of the file, then the read) or use a tokened read there.
//! - **Cancelling names the tag or the file.**
//!   [`Ring::cancel_slotless`] ends every operation without storage in
//!   flight under a tag. One with storage has its slot's `user_data` in
//!   the kernel, which no tag names: [`Ring::cancel_fixed`] ends every
//!   operation on its registered file (the file, through whatever index
//!   or descriptor), which is how an owner that goes away ends its reads.
//!   Cancel before giving the index up: once it holds no file, the cancel
//!   answers `Os(EBADF)` and a read still waiting on the old file ends
//!   only when it is signalled or the ring drops.
//! - **Dropping the ring**: operations without storage need no drain (the
//!   kernel ends them when the ring's descriptor closes); those with a
//!   lent slot are cancelled and waited for, as tokened ones are.
//!   [`Ring::in_flight`] and [`Ring::wait_idle`] count both kinds, and
//!   [`Ring::slotless_in_flight`] counts them alone.
//!
//! # Examples
//!
//! A multishot poll of a registered eventfd, with no slot, stopped by its
//! tag:
//!
//! ```
//! use std::os::fd::AsFd;
//! use iofd::EventFd;
//! use iofd::ring::ops::{PollFlags, PollMultishot, PollTarget};
//! use iofd::ring::Ring;
//!
//! let mut ring = Ring::new(8)?;
//! let efd = EventFd::new(0)?;
//! ring.register_files(&[efd.as_fd()])?;
//! let poll = PollMultishot::new(PollTarget::fixed(0), PollFlags::IN);
//! ring.push_slotless(poll, 7)?;
//! ring.submit()?;
//! efd.signal(1)?;
//! ring.submit_and_wait(1)?;
//! let c = ring.next_completion().expect("the poll fired");
//! assert_eq!(c.tag, 7);
//! assert_eq!(c.output::<PollMultishot<PollTarget>>(), Some(Ok(PollFlags::IN)));
//! assert!(c.cqe.is_some_and(|cqe| cqe.more()), "and goes on");
//!
//! ring.cancel_slotless(7)?;
//! ring.wait_idle()?;
//! let end = ring.next_completion().expect("the stream's end");
//! assert_eq!(
//!     end.output::<PollMultishot<PollTarget>>(),
//!     Some(Err(iofd::Error::Os(iofd::sys::Errno::ECANCELED)))
//! );
//! # Ok::<(), iofd::Error>(())
//! ```
//!
//! Counter reads of registered eventfds, one per owner, each owner's
//! count coming with its completion; the quiet one is ended by its file:
//!
//! ```
//! use std::os::fd::AsFd;
//! use iofd::EventFd;
//! use iofd::ring::ops::ReadCounter;
//! use iofd::ring::{Fixed, Ring};
//!
//! let mut ring = Ring::new(8)?;
//! let efds = [EventFd::new(0)?, EventFd::new(0)?, EventFd::new(0)?];
//! ring.register_files(&[efds[0].as_fd(), efds[1].as_fd(), efds[2].as_fd()])?;
//! for owner in 0..3u32 {
//!     ring.push_slotless(Fixed::<EventFd>::new(owner).read_op(), owner.into())?;
//! }
//! efds[0].signal(5)?;
//! efds[2].signal(7)?;
//! let mut counts = [0; 3];
//! while counts[0] == 0 || counts[2] == 0 {
//!     ring.submit_and_wait(1)?;
//!     while let Some(c) = ring.next_completion() {
//!         counts[c.tag as usize] = c.output::<ReadCounter<Fixed<EventFd>>>().expect("slotless")?;
//!     }
//! }
//! assert_eq!(counts, [5, 0, 7]);
//! // Owner 1 goes away: its read, still waiting, is cancelled by its file.
//! assert_eq!(ring.cancel_fixed(Fixed::<EventFd>::new(1))?, 1);
//! ring.wait_idle()?;
//! let end = ring.next_completion().expect("the read's end");
//! assert_eq!(end.tag, 1);
//! assert_eq!(
//!     end.output::<ReadCounter<Fixed<EventFd>>>(),
//!     Some(Err(iofd::Error::Os(iofd::sys::Errno::ECANCELED)))
//! );
//! # Ok::<(), iofd::Error>(())
//! ```
#![expect(
    unsafe_code,
    reason = "the Slotless trait's contract, and decoding a CQE with no storage"
)]

use io_uring::{opcode, types};

use super::Fixed;
use super::UserData;
use super::dispatch::Completion;
use super::driver::Ring;
use super::op::Op;
use super::ops::{
    Cancel, CancelFixed, Nop, Poll, PollMultishot, PollTarget, ReadCounter, WriteCounter,
};
use super::submit::{Rearming, build};
use crate::error::{Error, Result};

/// How many tags a slotless operation can have: its tag is below this.
pub const SLOTLESS_TAGS: u64 = UserData::SLOTLESS;

/// Refuses a tag that does not fit a slotless `user_data`.
fn check_tag(tag: u64) -> Result<()> {
    if tag >= SLOTLESS_TAGS {
        return Err(Error::InvalidParam(
            "a slotless operation's tag must be below SLOTLESS_TAGS (2^30)",
        ));
    }
    Ok(())
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for () {}
    impl Sealed for u64 {}
}

/// What a [`Slotless`] operation's storage can be: `()`, for one that
/// points at no memory (no slot at all), or a `u64`, for one the kernel
/// reads or writes 8 bytes for (a counter: the ring lends it a slot for
/// its flight, and hands the 8 bytes out with its completion).
pub trait SlotlessStorage: sealed::Sealed + Copy + Send + 'static {}
impl SlotlessStorage for () {}
impl SlotlessStorage for u64 {}

/// An operation whose whole result comes out with its completion
/// ([`Ring::push_slotless`]): no token and no take.
///
/// # Safety
///
/// An implementor promises, beyond [`Op`]'s contract:
///
/// - its SQE points at no memory the kernel reads or writes after the
///   submission other than its storage ([`SlotlessStorage`]: none, or
///   one `u64`);
/// - it names no descriptor it would have to keep open
///   ([`Op::into_keep`] returns `None`): it names a registered file, or
///   none;
/// - its [`Op::output`] reads at most that `u64` from the storage, and
///   is sound whatever the `u64` holds (a completion decoded as another
///   operation's hands it another operation's word); its `Output` owns
///   nothing that must be let go when nobody takes it (a descriptor, a
///   buffer): a slotless result nobody looks at is simply dropped;
/// - it completes once (no `IORING_CQE_F_MORE`) when it has storage, and
///   does not fold CQEs ([`Op::FOLDS`] is `false`).
///
/// [`Ring::push_slotless`] calls only [`Op::ring_bound`],
/// [`Op::files_epoch`], [`Op::check`], [`Op::prepare`] and
/// [`Op::entry`], then drops the operation once its SQE is queued:
/// nothing it owns lives on. It never polls first ([`Op::poll_first`])
/// and never re-arms ([`Op::rearm`]): what the kernel answers, `-EAGAIN`
/// included, is the result.
pub unsafe trait Slotless: Op<Storage: SlotlessStorage> {}

// SAFETY: a NOP touches no memory and no descriptor; its result is `()`.
unsafe impl Slotless for Nop {}
// SAFETY: a cancel request names its target by `user_data` and touches
// no memory; its result is `()`.
unsafe impl Slotless for Cancel {}
// SAFETY: a poll of a registered file writes nothing, keeps nothing (the
// file table holds the file), and its result is a copy of the events.
unsafe impl Slotless for Poll<PollTarget> {}
// SAFETY: as for `Poll<PollTarget>`, for each of its shots.
unsafe impl Slotless for PollMultishot<PollTarget> {}
// SAFETY: a cancel request touches no memory and holds nothing; its
// result is a count.
unsafe impl Slotless for CancelFixed {}
// SAFETY: one 8-byte read of a registered file into its `u64` storage,
// completing once; the file table keeps the file; the output is the
// `u64`, any value of which is a counter.
unsafe impl<H> Slotless for ReadCounter<Fixed<H>> {}
// SAFETY: one 8-byte write to a registered file from its `u64` storage
// (filled by `prepare`), completing once; the output is `()`.
unsafe impl<H> Slotless for WriteCounter<Fixed<H>> {}

impl Completion {
    /// Whether this is a slotless operation's completion, its result in
    /// [`cqe`](Completion::cqe); otherwise the result waits behind the
    /// operation's token. A slotless stream's last result is the one
    /// whose CQE has no `IORING_CQE_F_MORE` ([`Cqe::more`](super::Cqe::more)).
    #[inline]
    pub fn is_slotless(&self) -> bool {
        self.cqe.is_some()
    }

    /// A slotless operation's result, typed as `O`'s: `None` for an
    /// operation with a token (take its result through the token). The
    /// caller knows which operation a tag stands for; decoding the
    /// completion as another slotless operation gives that operation's
    /// reading of the same CQE, which can be an error the kernel never
    /// gave: a NOP's result (0) read as a counter read's is a short read,
    /// `Os(EIO)`.
    #[inline]
    pub fn output<O: Slotless>(&self) -> Option<Result<O::Output>> {
        let cqe = self.cqe?;
        let storage: *const O::Storage = if size_of::<O::Storage>() == 0 {
            std::ptr::NonNull::dangling().as_ptr()
        } else {
            (&raw const self.word).cast()
        };
        // SAFETY: `O::Storage` is `()`, for which a dangling pointer is
        // valid, or a `u64`, which `storage` points at: the word the
        // operation's slot held at its final CQE (0 for one without
        // storage). `O` reads at most that, and any value is sound for it
        // (the trait's contract).
        Some(unsafe { O::output(cqe, storage) })
    }
}

impl Ring {
    /// Queues a [`Slotless`] operation under `tag`, with no token: its
    /// results come out of [`next_completion`](Ring::next_completion) with
    /// the tag and the whole CQE (see the [module docs](super::slotless)).
    /// One with no storage takes no table slot; one with a `u64` of storage
    /// (a counter read or write) is lent a slot until its final CQE, and
    /// is cancelled by its file ([`cancel_fixed`](Ring::cancel_fixed)),
    /// not by its tag.
    /// Nothing is submitted until [`submit`](Ring::submit) (or a call that
    /// submits).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParam`] for a tag of [`SLOTLESS_TAGS`] or more, or
    /// when the operation refuses itself ([`Op::check`]) or is bound to
    /// another ring or file table; [`Error::Unsupported`] when the kernel
    /// lacks the operation; [`Error::TableFull`] and [`Error::NoMemory`]
    /// as for [`push`](Ring::push), for one with storage;
    /// [`Error::RingDisabled`] and the errors of the submission a full
    /// queue forces.
    #[inline(always)]
    pub fn push_slotless<O: Slotless>(&mut self, op: O, tag: u64) -> Result<()> {
        check_tag(tag)?;
        if size_of::<O::Storage>() != 0 {
            return self.push_lent(op, tag);
        }
        self.check_bound(&op)?;
        super::builder::check::<O>(&self.supported)?;
        op.check()?;
        if self.queues.sq_is_full() {
            self.make_room()?;
        }
        let entry = op
            .entry(std::ptr::NonNull::dangling().as_ptr())
            .user_data(UserData::slotless(tag).raw());
        // SAFETY: `O: Slotless` vouches that the SQE points at no memory
        // and names no descriptor that must be kept open. The queue has
        // room: nothing was pushed since the check.
        unsafe { self.queues.push_unchecked(entry) };
        self.table.slotless_pushed();
        Ok(())
    }

    /// [`push_slotless`](Ring::push_slotless) of an operation with
    /// storage: a slot is lent to it for its flight, and freed by its
    /// final CQE.
    #[inline(always)]
    fn push_lent<O: Slotless>(&mut self, op: O, tag: u64) -> Result<()> {
        let (ud, storage) = match self.table.insert_lent(tag) {
            Some(at) => at,
            None => self.alloc_lent_full(tag)?,
        };
        self.ready_to_launch(&op, ud)?;
        let storage = storage.cast::<O::Storage>();
        // SAFETY: the slot's inline storage is 8-aligned and 24 bytes long,
        // and the kernel has not seen it: its word is written whole before
        // `prepare` (`Slot::word` reads it at the final CQE).
        unsafe { storage.cast::<u64>().write(0) };
        // SAFETY: the lent slot's storage stays reserved until its final
        // CQE (the drain waits for it); nothing else touches it. A
        // slotless operation is never re-armed.
        let entry = unsafe {
            build(
                &mut self.table,
                &self.supported,
                &op,
                ud,
                storage,
                Rearming::Never,
                None,
            )
        }?;
        // SAFETY: `O: Slotless` vouches that the SQE touches only its
        // storage and names no descriptor to keep open; the storage
        // outlives the operation. The queue has room: nothing was pushed
        // since the check.
        unsafe { self.queues.push_unchecked(entry) };
        Ok(())
    }

    /// The slow path of [`push_lent`](Ring::push_lent): a slot claimed
    /// after a reap, then lent.
    #[cold]
    #[inline(never)]
    fn alloc_lent_full(&mut self, tag: u64) -> Result<(UserData, *mut u8)> {
        let ud = self.alloc_full(false, None)?;
        self.table.lend(ud, tag);
        Ok((ud, self.table.storage_ptr(ud, false)))
    }

    /// Asks the kernel to cancel every slotless operation without storage
    /// in flight under `tag` (`IORING_OP_ASYNC_CANCEL` with
    /// `IORING_ASYNC_CANCEL_ALL`). Each ends with its own final result, as
    /// the kernel gives it: for a cancelled one, `-ECANCELED`. A tag with
    /// nothing in flight cancels nothing. An operation with storage (a
    /// counter read) is cancelled by its file:
    /// [`cancel_fixed`](Ring::cancel_fixed).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParam`] for a tag of [`SLOTLESS_TAGS`] or more;
    /// errors of the submission a full queue forces.
    #[doc(alias = "IORING_OP_ASYNC_CANCEL")]
    pub fn cancel_slotless(&mut self, tag: u64) -> Result<()> {
        check_tag(tag)?;
        let target = types::CancelBuilder::user_data(UserData::slotless(tag).raw()).all();
        let entry = opcode::AsyncCancel2::new(target)
            .build()
            .user_data(UserData::CANCEL.raw());
        // SAFETY: a cancel request touches no memory; its CQE carries a
        // reserved tag, which the reap drops.
        unsafe { self.push_entry(&entry) }
    }

    /// Cancels every operation in flight on the file registered at
    /// `file`'s index ([`CancelFixed`]), and waits for the kernel's answer:
    /// how many it cancelled (0 when nothing was in flight on it). Each cancelled operation ends with its own
    /// final result, `-ECANCELED`, as usual: slotless ones with storage,
    /// which have no tag of their own in the kernel
    /// ([`cancel_slotless`](Ring::cancel_slotless) does not reach them),
    /// and tokened and slotless ones alike. The kernel matches the file,
    /// not the index: operations on the same file through another index or
    /// a plain descriptor end too. This is how an owner that goes away ends
    /// its reads of its own file. A read the ring re-arms behind a poll
    /// after the cancel ran is not ended by it (cancel it by token). To
    /// cancel without waiting, push a [`CancelFixed`] (slotless, say) and
    /// read its result when it comes.
    ///
    /// # Errors
    ///
    /// `Os(EBADF)` when the index holds no file (unregistered, replaced or closed:
    /// cancel before giving an index up, or what runs on its old file can
    /// only be ended by dropping the ring); `Os(EINVAL)` from a kernel
    /// before 6.0; errors of [`run`](Ring::run).
    #[doc(alias = "IORING_ASYNC_CANCEL_FD")]
    pub fn cancel_fixed<H>(&mut self, file: Fixed<H>) -> Result<u32> {
        self.run(CancelFixed::new(file))
    }

    /// Slotless operations whose final CQE has not come (also counted in
    /// [`in_flight`](Ring::in_flight)).
    pub fn slotless_in_flight(&self) -> usize {
        self.table.slotless_in_flight() + self.table.lent()
    }
}
