//! Operations without a table slot: those whose whole result is their CQE.
//!
//! A typed operation pushed with [`Ring::push_tagged`] takes a slot in the
//! ring's table: the slot holds what the kernel writes (a read's
//! counter), what the operation keeps open (a shared handle), and its
//! result until the owner takes it through its [`Token`](super::Token).
//! Some operations need none of that: a NOP, a poll of a registered file,
//! a cancel. They point at no memory, keep nothing open, and their result
//! is the CQE itself. [`Ring::push_slotless`] sends such an operation with
//! its tag in its `user_data`, as a raw io_uring program would; its result
//! comes out of [`Ring::next_completion`] whole, in
//! [`Completion::cqe`](super::Completion::cqe), and
//! [`Completion::output`](super::Completion::output) types it. There is
//! no token and no take.
//!
//! What that saves is the slot's whole life: claiming it, recording the
//! result in it, checking its generation when it is dispatched and taken,
//! and freeing it. For the NOP loop of `benches/loop_ab.rs` that is all of
//! iofd's cost over the raw io-uring crate with a slab of owners
//! (BENCHMARKS.md, "The ring as an event loop").
//!
//! What it gives up:
//!
//! - **Tags are below [`SLOTLESS_TAGS`]** (2^30): the tag and a marker
//!   share the `user_data`.
//! - **A cancel names the tag** ([`Ring::cancel_slotless`]), and ends every
//!   slotless operation in flight under it.
//! - **Nothing waits for them when the ring drops**: having no memory in
//!   the kernel's hands, they need no drain; the kernel ends them when the
//!   ring's descriptor closes. [`Ring::in_flight`] and [`Ring::wait_idle`]
//!   count them.
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
#![expect(
    unsafe_code,
    reason = "the Slotless trait's contract, and decoding a CQE with no storage"
)]

use io_uring::{opcode, types};

use super::UserData;
use super::dispatch::Completion;
use super::driver::Ring;
use super::op::Op;
use super::ops::{Cancel, Nop, Poll, PollMultishot, PollTarget};
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

/// An operation the ring can run with no table slot
/// ([`Ring::push_slotless`]).
///
/// # Safety
///
/// An implementor promises, beyond [`Op`]'s contract:
///
/// - its SQE points at no memory the kernel reads or writes after the
///   submission;
/// - it names no descriptor it would have to keep open
///   ([`Op::into_keep`] returns `None`): it names a registered file, or
///   none;
/// - its [`Op::output`] reads nothing from the storage (there is none) and
///   its `Output` owns nothing that must be let go when nobody takes it
///   (a descriptor, a buffer): a slotless result nobody looks at is simply
///   dropped;
/// - it needs no [`Op::poll_first`], no re-arm ([`Op::rearm`] returns
///   `None`) and does not fold CQEs ([`Op::FOLDS`] is `false`).
///
/// [`Ring::push_slotless`] calls only [`Op::ring_bound`],
/// [`Op::files_epoch`], [`Op::check`] and [`Op::entry`], then drops the
/// operation once its SQE is queued: nothing it owns lives on.
pub unsafe trait Slotless: Op<Storage = ()> {}

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
    /// reading of the same CQE.
    #[inline]
    pub fn output<O: Slotless>(&self) -> Option<Result<O::Output>> {
        let cqe = self.cqe?;
        // SAFETY: `O::Storage` is `()`, and `O` reads nothing from it
        // (the trait's contract): a dangling pointer is a valid `*const ()`.
        Some(unsafe { O::output(cqe, std::ptr::NonNull::dangling().as_ptr()) })
    }
}

impl Ring {
    /// Queues a [`Slotless`] operation under `tag`, with no table slot and
    /// no token: its results come out of
    /// [`next_completion`](Ring::next_completion) with the tag and the
    /// whole CQE (see the [module docs](super::slotless)). Nothing is
    /// submitted until [`submit`](Ring::submit) (or a call that submits).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParam`] for a tag of [`SLOTLESS_TAGS`] or more, or
    /// when the operation refuses itself ([`Op::check`]) or is bound to
    /// another ring or file table; [`Error::Unsupported`] when the kernel
    /// lacks the operation; [`Error::RingDisabled`] and the errors of the
    /// submission a full queue forces.
    #[inline(always)]
    pub fn push_slotless<O: Slotless>(&mut self, op: O, tag: u64) -> Result<()> {
        check_tag(tag)?;
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

    /// Asks the kernel to cancel every slotless operation in flight under
    /// `tag` (`IORING_OP_ASYNC_CANCEL` with `IORING_ASYNC_CANCEL_ALL`).
    /// Each ends with its own final result, as the kernel gives it: for a
    /// cancelled one, `-ECANCELED`. A tag with nothing in flight cancels
    /// nothing.
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

    /// Slotless operations whose final CQE has not come (also counted in
    /// [`in_flight`](Ring::in_flight)).
    pub fn slotless_in_flight(&self) -> usize {
        self.table.slotless_in_flight()
    }
}
