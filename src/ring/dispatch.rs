//! Dispatch by tag: which operations have a result to take, in completion
//! order, O(1) each.
//!
//! A server keeps thousands of operations in flight and, after each
//! `io_uring_enter`, must hand every completion to its owner (a connection,
//! a child being supervised) without looking at the others. An operation
//! pushed with [`Ring::push_tagged`] carries the caller's `u64` tag; each
//! of its results, as it is reaped, puts the operation on a queue that
//! [`Ring::next_completion`] pops. The owner then takes the typed result
//! from its [`Token`] ([`Ring::take`], O(1)) and, usually,
//! pushes its next operation — in the same loop body.
//!
//! # Why this shape
//!
//! - liburing's `io_uring_for_each_cqe` walks the completion ring in place
//!   and the caller advances it afterwards: cheapest for raw CQEs, but the
//!   slot a CQE occupies stays taken until the walk ends, and the result is
//!   untyped.
//! - The io-uring crate's `CompletionQueue` is an iterator that borrows the
//!   queue: a loop over it cannot also push through the same ring without
//!   splitting it into parts, and the owner is found by decoding
//!   `user_data` by hand (a `slab` of owners, in practice).
//! - tokio-uring and a10 keep an explicit lifecycle per operation and wake
//!   the task that owns it: the dispatch is a waker call, which needs an
//!   executor and a heap allocation per operation.
//!
//! iofd copies CQEs out of the completion ring into its table as it reaps
//! (so the ring's slots are free at once and overflow never waits on a
//! slow owner), records each tagged result on a FIFO of
//! `user_data` (no allocation once it has grown to the working set), and
//! hands them out one at a time: `next_completion` borrows the ring only
//! for the call, so the loop body has `&mut Ring` to take the result and
//! push the next operation. The tag is the caller's, not the slot's: an
//! owner's index stays its own whatever slot its operation gets.
//!
//! A [slotless](super::slotless) operation ([`Ring::push_slotless`]) goes
//! through the same queue without a slot: its entry holds its tag and its
//! CQE, and [`Completion::cqe`] hands the CQE out whole.
//!
//! Each result is announced once, as it is reaped: a multishot operation
//! that delivered three results appears three times. A popped completion
//! always has a result waiting. An announcement whose result was already
//! taken through the token is skipped — or, if the operation has a later
//! result by then, stands for that one (results are taken in order), and
//! that result's own announcement is skipped in its turn. Announcements
//! of ended operations are dropped; those of a live one stay queued until
//! popped, so a loop that tags operations pops them.
#![expect(
    unsafe_code,
    reason = "push_raw_tagged forwards a raw SQE under its caller's contract, and reads its flags"
)]

use io_uring::squeue;

use super::driver::Ring;
use super::op::Token;
use super::ops::RawSqe;
use super::{Cqe, UserData};
use crate::error::{Error, Result};

/// A tagged operation with a result to take: what
/// [`Ring::next_completion`] yields. For an operation with a token
/// ([`Ring::push_tagged`]) the result waits behind the token; for a
/// [slotless](super::slotless) one ([`Ring::push_slotless`]) it is here,
/// in [`cqe`](Completion::cqe). Tokened and slotless operations share one
/// space of tags: a loop that runs both gives them tags apart, or tells
/// them apart with [`is_slotless`](Completion::is_slotless).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Completion {
    /// The tag the operation was pushed with.
    pub tag: u64,
    /// The operation's `user_data`: the same as its token's
    /// ([`Token::user_data`](super::Token::user_data)), which tells two
    /// tokened operations of one owner apart. A slotless operation's is
    /// made of its tag alone, the same for every slotless operation under
    /// that tag. For one without storage it is what the kernel holds; for
    /// one with storage (a counter read) it is not, and a cancel naming it
    /// reaches only the tag's operations without storage: cancel one with
    /// storage by its file, [`Ring::cancel_fixed`].
    pub user_data: UserData,
    /// A [slotless](super::slotless) operation's result, whole: decode it
    /// with [`output`](Completion::output). `None` for an operation with a
    /// token, whose result waits to be taken through the token.
    pub cqe: Option<Cqe>,
    /// A slotless operation's storage word (its counter, say), copied out
    /// of the slot it was lent; read through [`output`](Completion::output).
    pub(super) word: u64,
}

impl Ring {
    /// The next tagged operation ([`push_tagged`](Ring::push_tagged) or
    /// [`push_slotless`](Ring::push_slotless)) with a result to take, in
    /// the order the results were reaped: `None` when there is none.
    /// Results are reaped by [`reap`](Ring::reap),
    /// [`submit_and_wait`](Ring::submit_and_wait) and the other calls that
    /// wait.
    ///
    /// O(1): no scan of the table or of tokens, no allocation.
    ///
    /// # Examples
    ///
    /// An event loop: each owner's operation is dispatched by its tag, and
    /// the owner pushes its next one.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use iofd::EventFd;
    /// use iofd::ring::ops::ReadCounter;
    /// use iofd::ring::{Ring, Token};
    ///
    /// struct Owner {
    ///     efd: Arc<EventFd>,
    ///     read: Option<Token<ReadCounter<Arc<EventFd>>>>,
    ///     total: u64,
    /// }
    ///
    /// let mut ring = Ring::new(64)?;
    /// let mut owners = Vec::new();
    /// for tag in 0..4u64 {
    ///     let efd = Arc::new(EventFd::new(0)?);
    ///     let read = ring.push_tagged(efd.read_op_shared(), tag)?;
    ///     owners.push(Owner { efd, read: Some(read), total: 0 });
    /// }
    /// for (i, o) in owners.iter().enumerate() {
    ///     o.efd.signal(i as u64 + 1)?;
    /// }
    /// let mut done = 0;
    /// while done < 4 {
    ///     ring.submit_and_wait(1)?;
    ///     while let Some(c) = ring.next_completion() {
    ///         let owner = &mut owners[c.tag as usize];
    ///         let token = owner.read.as_mut().expect("a read in flight");
    ///         if let Some(value) = ring.take(token) {
    ///             owner.total += value?;
    ///             owner.read = None; // or push the owner's next read
    ///             done += 1;
    ///         }
    ///     }
    /// }
    /// assert_eq!(owners.iter().map(|o| o.total).sum::<u64>(), 10);
    /// # Ok::<(), iofd::Error>(())
    /// ```
    #[inline]
    pub fn next_completion(&mut self) -> Option<Completion> {
        let (tag, entry) = self.table.next_entry()?;
        Some(match entry {
            Ok(user_data) => Completion {
                tag,
                user_data,
                cqe: None,
                word: 0,
            },
            Err((cqe, word)) => Completion {
                tag,
                user_data: UserData::slotless(tag),
                cqe: Some(cqe),
                word,
            },
        })
    }

    /// Pushes a raw SQE whose CQEs come back like a typed operation's:
    /// announced under `tag` by [`next_completion`](Ring::next_completion)
    /// and taken from the returned token as [`Cqe`](super::Cqe)s (result
    /// and flags as the kernel gave them; every CQE of a multishot SQE, in
    /// order). The driver sets the SQE's `user_data`: the token's.
    ///
    /// # Safety
    ///
    /// - The SQE satisfies [`io_uring_enter`](crate::sys::uring::io_uring_enter)'s
    ///   contract: everything it points at stays valid, and every descriptor
    ///   it names stays open, until its final CQE (one without
    ///   `IORING_CQE_F_MORE`) has been reaped.
    /// - It does not close the ring or change its registrations, and it is
    ///   not linked (`IOSQE_IO_LINK`) to SQEs pushed after it.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParam`] for an SQE flagged `IOSQE_CQE_SKIP_SUCCESS`:
    /// its slot is freed only by a final CQE, which that flag suppresses
    /// when the SQE succeeds. Otherwise as [`push`](Ring::push).
    pub unsafe fn push_raw_tagged(
        &mut self,
        entry: &squeue::Entry,
        tag: u64,
    ) -> Result<Token<RawSqe>> {
        if sqe_flags(entry) & squeue::Flags::SKIP_SUCCESS.bits() != 0 {
            return Err(Error::InvalidParam(
                "a raw SQE pushed with a token must post its CQE: no IOSQE_CQE_SKIP_SUCCESS",
            ));
        }
        let ud = self.alloc(false, Some(tag))?;
        let entry = entry.clone().user_data(ud.raw());
        // SAFETY: forwarded to the caller.
        if let Err(e) = unsafe { self.push_entry(&entry) } {
            self.table.remove(ud);
            return Err(e);
        }
        Ok(Token::new(ud, self.id))
    }
}

// `sqe_flags` reads the kernel's layout through the io-uring crate's
// `#[repr(C)]` wrapper: a wrapper of another size is not that layout.
const _: () = assert!(size_of::<squeue::Entry>() == 64);

/// The `flags` byte of an SQE (`IOSQE_*`), which the io-uring crate sets
/// but does not give back.
fn sqe_flags(entry: &squeue::Entry) -> u8 {
    // SAFETY: `Entry` is `#[repr(C)]` around the kernel's `io_uring_sqe`,
    // fully initialised, whose second byte is `flags` (the io_uring ABI:
    // `__u8 opcode; __u8 flags;`).
    unsafe { std::ptr::from_ref(entry).cast::<u8>().add(1).read() }
}
