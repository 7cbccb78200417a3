//! SQE flags and link chains as types: operations pushed with
//! `IOSQE_IO_DRAIN` or `IOSQE_ASYNC`, and chains of typed operations
//! linked with `IOSQE_IO_LINK` or `IOSQE_IO_HARDLINK`, each member with its
//! own token and typed result.
//!
//! `IOSQE_CQE_SKIP_SUCCESS` is not offered for typed operations: a slot is
//! freed, and its storage and kept handle released, only by the
//! operation's final CQE, which that flag suppresses on success. (The
//! driver uses it internally only for the poll half of a re-armed read,
//! whose success is implied by the read's own CQE.)
//!
//! # Safety
//!
//! Every SQE is built by an [`Op`] into storage the table owns until the
//! final CQE, exactly as [`Ring::push`] does; linking changes when the
//! kernel runs them, not what they touch.
#![expect(unsafe_code, reason = "pushes linked SQEs built by Op implementations")]

use io_uring::squeue;

use super::UserData;
use super::driver::Ring;
use super::op::{Op, Token};
use super::submit::{Rearming, build, discard_of, keep, remake_of};
use crate::error::Result;

bitflags::bitflags! {
    /// Flags for one SQE ([`Ring::push_flagged`]).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct SqeFlags: u8 {
        /// `IOSQE_IO_DRAIN`: the operation starts only once every
        /// operation submitted before it has completed, and nothing
        /// submitted after it starts before it completes.
        const DRAIN = 1 << 0;
        /// `IOSQE_ASYNC`: issue it from an io-wq worker straight away,
        /// without a non-blocking attempt first (for an operation known to
        /// block, such as a read of a file with nothing to read).
        const ASYNC = 1 << 1;
    }
}

/// How the members of a chain ([`Ring::push_chain`]) are linked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Link {
    /// `IOSQE_IO_LINK`: each member starts once the one before it
    /// succeeded; when one fails (or completes short), every later member
    /// completes with `Os(ECANCELED)` without running.
    Soft,
    /// `IOSQE_IO_HARDLINK`: each member starts once the one before it
    /// completed, whatever its result.
    Hard,
}

impl SqeFlags {
    fn sqe(self) -> squeue::Flags {
        let mut f = squeue::Flags::empty();
        if self.contains(SqeFlags::DRAIN) {
            f |= squeue::Flags::IO_DRAIN;
        }
        if self.contains(SqeFlags::ASYNC) {
            f |= squeue::Flags::ASYNC;
        }
        f
    }
}

impl Link {
    fn sqe(self) -> squeue::Flags {
        match self {
            Link::Soft => squeue::Flags::IO_LINK,
            Link::Hard => squeue::Flags::IO_HARDLINK,
        }
    }
}

impl Ring {
    /// Claims a slot for `op` and builds its SQE (not pushed, nothing
    /// kept yet). A linked member is never re-armed: a read re-armed
    /// behind a poll would leave its chain.
    fn member<O: Op + 'static>(
        &mut self,
        op: &O,
        tag: Option<u64>,
        rearm: bool,
    ) -> Result<(UserData, squeue::Entry)>
    where
        O::Storage: Sized,
    {
        self.check_bound(op)?;
        super::linked::refuse_polled(op)?;
        let ud = self.alloc(false, tag)?;
        let storage = self.slot_storage::<O::Storage>(ud)?;
        // SAFETY: the slot's storage fits `O::Storage`, is reached only
        // through this pointer, and lives until the slot's final CQE.
        let entry = unsafe {
            build(
                &mut self.table,
                &self.supported,
                op,
                ud,
                storage,
                if rearm {
                    Rearming::Allowed(remake_of::<O>())
                } else {
                    Rearming::Never
                },
                discard_of::<O>(),
            )
        }?;
        Ok((ud, entry))
    }

    /// [`push`](Ring::push) (or [`push_tagged`](Ring::push_tagged), with
    /// a `tag`) with SQE flags.
    ///
    /// # Errors
    ///
    /// As [`push`](Ring::push).
    ///
    /// # Examples
    ///
    /// ```
    /// use iofd::ring::ops::Nop;
    /// use iofd::ring::{Ring, SqeFlags};
    ///
    /// let mut ring = Ring::new(8)?;
    /// let t = ring.push_flagged(Nop::new(), None, SqeFlags::DRAIN | SqeFlags::ASYNC)?;
    /// ring.wait(t)?;
    /// # Ok::<(), iofd::Error>(())
    /// ```
    pub fn push_flagged<O: Op + 'static>(
        &mut self,
        op: O,
        tag: Option<u64>,
        flags: SqeFlags,
    ) -> Result<Token<O>>
    where
        O::Storage: Sized,
    {
        let (ud, entry) = self.member(&op, tag, true)?;
        let entry = entry.flags(flags.sqe());
        // SAFETY: built by `O: Op` into the slot's storage, which outlives
        // the operation.
        if let Err(e) = unsafe { self.push_entry(&entry) } {
            self.table.remove(ud);
            return Err(e);
        }
        keep(&mut self.table, ud, op);
        Ok(Token::new(ud, self.id))
    }

    /// Pushes a chain of operations — a tuple of two to four — linked in
    /// order: each starts when the one before it has completed (`link`
    /// says whether it must also have succeeded). All go into one
    /// submission, and each has its own token and typed result. Members
    /// are never re-armed: a read that finds nothing on a non-blocking
    /// handle completes with [`Error::WouldBlock`](crate::Error::WouldBlock)
    /// (which, with [`Link::Soft`], cancels the rest).
    ///
    /// # Errors
    ///
    /// As [`push`](Ring::push), for any member; nothing is queued then.
    /// [`Error::InvalidParam`](crate::Error::InvalidParam) for a chain
    /// longer than the submission queue.
    ///
    /// # Examples
    ///
    /// A signal, a cancel that finds nothing, and a signal that never
    /// runs:
    ///
    /// ```
    /// use std::sync::Arc;
    /// use iofd::{Error, EventFd, sys::Errno};
    /// use iofd::ring::ops::Cancel;
    /// use iofd::ring::{Link, Ring, UserData};
    ///
    /// let mut ring = Ring::new(8)?;
    /// let efd = Arc::new(EventFd::new(0)?);
    /// let nothing = Cancel::new(UserData::from_raw(7)); // ENOENT
    /// let (a, b, c) = ring.push_chain(
    ///     (efd.signal_op_shared(1), nothing, efd.signal_op_shared(2)),
    ///     Link::Soft,
    /// )?;
    /// assert_eq!(ring.wait(a), Ok(()));
    /// assert_eq!(ring.wait(b), Err(Error::Os(Errno::ENOENT)));
    /// assert_eq!(ring.wait(c), Err(Error::Os(Errno::ECANCELED)));
    /// assert_eq!(efd.wait()?, 1);
    /// # Ok::<(), iofd::Error>(())
    /// ```
    pub fn push_chain<C: Chain>(&mut self, chain: C, link: Link) -> Result<C::Tokens> {
        chain.push(self, link, None)
    }

    /// [`push_chain`](Ring::push_chain) with every member announced under
    /// `tag` by [`next_completion`](Ring::next_completion).
    ///
    /// # Errors
    ///
    /// As [`push_chain`](Ring::push_chain).
    pub fn push_chain_tagged<C: Chain>(
        &mut self,
        chain: C,
        link: Link,
        tag: u64,
    ) -> Result<C::Tokens> {
        chain.push(self, link, Some(tag))
    }
}

/// A tuple of operations [`Ring::push_chain`] links: `(A, B)`, `(A, B,
/// C)` or `(A, B, C, D)`, each an [`Op`] with sized storage.
pub trait Chain: sealed::Sealed {
    /// A token per member.
    type Tokens;
    /// Pushes the members linked by `link`.
    ///
    /// # Errors
    ///
    /// As [`Ring::push_chain`].
    fn push(self, ring: &mut Ring, link: Link, tag: Option<u64>) -> Result<Self::Tokens>;
}

mod sealed {
    pub trait Sealed {}
}

macro_rules! chain {
    ($($op:ident $v:ident $ud:ident $e:ident),+) => {
        impl<$($op: Op + 'static),+> sealed::Sealed for ($($op,)+) where $($op::Storage: Sized),+ {}

        impl<$($op: Op + 'static),+> Chain for ($($op,)+)
        where
            $($op::Storage: Sized),+
        {
            type Tokens = ($(Token<$op>,)+);

            fn push(self, ring: &mut Ring, link: Link, tag: Option<u64>) -> Result<Self::Tokens> {
                let ($($v,)+) = self;
                // Fixed arrays: a chain allocates nothing.
                let mut built = [UserData::from_raw(0); 4];
                let mut entries: [squeue::Entry; 4] =
                    std::array::from_fn(|_| io_uring::opcode::Nop::new().build());
                let mut n = 0;
                let r = (|| -> Result<()> {
                    $(
                        let ($ud, $e) = ring.member(&$v, tag, false)?;
                        built[n] = $ud;
                        entries[n] = $e;
                        n += 1;
                    )+
                    Ok(())
                })();
                let pushed = r.and_then(|()| {
                    for e in &mut entries[..n - 1] {
                        *e = e.clone().flags(link.sqe());
                    }
                    // SAFETY: every SQE was built by its `Op` into its
                    // slot's storage, which outlives it; they go into the
                    // queue together, so the chain is never split.
                    unsafe { ring.push_linked(&entries[..n]) }
                });
                if let Err(e) = pushed {
                    for &ud in &built[..n] {
                        ring.table.remove(ud);
                    }
                    return Err(e);
                }
                let mut i = 0;
                $(
                    let $ud = built[i];
                    i += 1;
                    keep(&mut ring.table, $ud, $v);
                )+
                debug_assert_eq!(i, n);
                Ok(($(Token::new($ud, ring.id),)+))
            }
        }
    };
}

chain!(A a ua ea, B b ub eb);
chain!(A a ua ea, B b ub eb, C c uc ec);
chain!(A a ua ea, B b ub eb, C c uc ec, D d ud_ ed);
