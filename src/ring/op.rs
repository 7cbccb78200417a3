//! The `Op` trait: an io_uring operation as a value that builds one SQE and
//! turns its CQE into a typed result.
//!
//! # Safety
//!
//! `Op` is an `unsafe trait`: the driver pushes whatever SQE an
//! implementation builds, so implementing it is a promise about what that
//! SQE touches (spelled out on the trait). `output` is an `unsafe fn`
//! because it reads storage only the kernel has written.
#![expect(
    unsafe_code,
    reason = "defines the unsafe Op trait and its output contract"
)]

use std::fmt;
use std::marker::PhantomData;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::Arc;

use io_uring::squeue;

use super::opcode::Opcode;
use super::{Cqe, UserData};
use crate::error::{Error, Result};
use crate::sys::Errno;
use crate::sys::poll::PollFlags;

/// An io_uring operation: builds one SQE and decodes its CQE.
///
/// Every handle offers its operations as `Op` values (`EventFd::read_op`,
/// `TimerFd::expirations_op`, ...); the ring's [`push`](super::Ring::push)
/// and a [`Scope`](super::Scope)'s `push`/`push_into` submit them.
///
/// # Safety
///
/// The driver trusts an implementation's SQE, so implementing `Op` is a
/// promise:
///
/// - [`entry`](Op::entry) builds an SQE whose memory accesses are only the
///   `storage` it is given (within `Self::Storage`'s size, reading or
///   writing as the operation does) and memory that `Self` itself borrows
///   for its whole lifetime;
/// - the descriptors it names are borrowed by `Self` (or kept alive by
///   [`into_keep`](Op::into_keep)) for its whole lifetime;
/// - it does nothing safe Rust could not (close or replace a descriptor,
///   change memory Rust holds other than `storage`);
/// - [`output`](Op::output) only reads `storage` as the kernel left it;
/// - the operation completes with one CQE, or it is multishot (its
///   intermediate CQEs carry `IORING_CQE_F_MORE`) and then the kernel
///   never writes `storage` for a shot (a periodic timeout, a multishot
///   poll, a multishot read into provided buffers): the driver decodes
///   each CQE with `output` while later ones may still come;
/// - with [`Target::Fixed`], the operation acts on whatever file the ring
///   has registered at that index; the handle it borrows only keeps its own
///   descriptor alive;
/// - [`into_keep`](Op::into_keep) does not panic: the driver calls it once
///   the SQE, which names the handle, is already queued.
pub unsafe trait Op {
    /// What the kernel reads or writes for the operation.
    type Storage: ?Sized;
    /// The typed result.
    type Output;
    /// The io_uring opcode (`IORING_OP_*`), probed before submission.
    const CODE: Opcode;
    /// A short name for errors (`"eventfd read"`).
    const NAME: &'static str;

    /// Fills `storage` before submission with what the kernel must read
    /// (a write's value). Most operations leave it alone.
    ///
    /// # Safety
    ///
    /// - `storage` is valid for writes of `Self::Storage` and nothing else
    ///   accesses it during the call; it may hold leftover bytes that are
    ///   not a valid value, so an implementation writes through it and
    ///   never reads it.
    #[inline]
    unsafe fn prepare(&self, storage: *mut Self::Storage) {
        let _ = storage;
    }

    /// Refuses the operation before anything is queued, with the error
    /// the handle's own syscall method gives for the same input: a handle
    /// closed already ([`Error::Closed`]), an argument the kernel would
    /// read otherwise than asked (an offset of `u64::MAX` is "the file's
    /// current position" to io_uring). The driver calls it on every push;
    /// by default it accepts.
    ///
    /// # Errors
    ///
    /// Why the operation cannot be pushed.
    #[inline]
    fn check(&self) -> Result<()> {
        Ok(())
    }

    /// Builds the SQE, pointing the kernel at `storage`. The driver sets
    /// the `user_data`.
    fn entry(&self, storage: *mut Self::Storage) -> squeue::Entry;

    /// For a read on a pollable descriptor: the file and the events
    /// ([`PollFlags`]) to wait for when the read completes with `-EAGAIN`
    /// (a non-blocking handle with nothing ready), after which the driver
    /// submits it again.
    #[inline]
    fn rearm(&self) -> Option<(Target, PollFlags)> {
        None
    }

    /// For an operation that must not run before its file is ready (a
    /// wait by a non-blocking pidfd, which the kernel runs as `WNOHANG`):
    /// the file and the events ([`PollFlags`]) to wait for first. The
    /// driver then pushes a `POLL_ADD` linked in front of the operation's
    /// SQE, silent unless it fails (its error, such as a cancel's, is then
    /// the operation's result). Such an operation cannot be chained,
    /// flagged or given a link timeout. `None` (the default): pushed alone.
    #[inline]
    fn poll_first(&self) -> Option<(Target, PollFlags)> {
        None
    }

    /// The ring the operation's registered resources belong to (a fixed
    /// buffer's), by its [`Ring::id`](super::Ring::id): the driver
    /// refuses to push it on any other, where the same index names other
    /// memory. `None` (the default): any ring.
    #[inline]
    fn ring_bound(&self) -> Option<u32> {
        None
    }

    /// For an operation made for the ring's table of direct descriptors
    /// (a direct accept, a [`Direct`](super::Direct)'s close): which
    /// registration of the table it was made for, so that the driver
    /// refuses it once the table has been registered again (its slots are
    /// another table's). `None` (the default): any table.
    #[inline]
    fn files_epoch(&self) -> Option<u32> {
        None
    }

    /// Whether the operation's CQEs fold into one result: the first, when
    /// `IORING_CQE_F_MORE` says one more follows, is held, and `output`
    /// gets it once the last has come, with the last's flags added (a
    /// zero-copy send: its byte count, once the notification says the
    /// buffer is free). Such an operation must have an `Output` that needs
    /// dropping (so the driver keeps a side record for it) and must post
    /// at most one CQE after the first.
    const FOLDS: bool = false;

    /// Whether [`rebuild`](Op::rebuild) rebuilds this operation's SQE. When
    /// it does, the driver records only the target at a push, not the SQE.
    const REBUILDS: bool = false;

    /// For a re-armable read whose [`REBUILDS`](Op::REBUILDS) is set: the
    /// SQE built again, without the operation, from the target
    /// [`rearm`](Op::rearm) named and the operation's storage, with the
    /// events ([`PollFlags`]) to wait for first. Called only after a
    /// `-EAGAIN`, so the driver need not keep a copy of every SQE it pushes
    /// in case one comes. `None` (the default) ends the operation with
    /// `Os(EIO)`.
    #[inline]
    fn rebuild(target: Target, storage: *mut Self::Storage) -> Option<(PollFlags, squeue::Entry)> {
        let _ = (target, storage);
        None
    }

    /// The handle a driver-owned operation keeps open until its final CQE
    /// (for operations that hold an `Arc` of their handle), taken out of
    /// the operation once its SQE is queued: moved, not cloned. An
    /// operation on a fixed file keeps nothing: the ring's file table holds
    /// the file. It must not panic (see the trait's contract).
    #[inline]
    fn into_keep(self) -> Option<Arc<dyn AsFd + Send + Sync>>
    where
        Self: Sized,
    {
        None
    }

    /// Turns the CQE into the typed result.
    ///
    /// Every CQE of the operation is decoded once, in order, as a result
    /// that is taken or, when nobody takes it, dropped: for an `Output` that
    /// needs dropping (a buffer, a descriptor), the driver calls `output`
    /// exactly once for every CQE — results taken, and results of an
    /// operation whose token was dropped, that was cancelled, or whose ring
    /// was dropped — and the last call is the one whose CQE lacks
    /// `IORING_CQE_F_MORE`. So an output may move what `prepare` put into
    /// the storage out on that last CQE, and nothing leaks. (An operation
    /// that never reached the kernel — its push failed after `prepare` —
    /// gets one call with `-ECANCELED`.) A `-EAGAIN` the driver re-arms
    /// after is not a CQE of the operation's and is never decoded. This
    /// holds for driver-owned storage ([`Ring::push`](super::Ring::push),
    /// a scope's `push`); storage a caller lends (`push_into`) is the
    /// caller's.
    ///
    /// # Safety
    ///
    /// - `storage` points at this operation's storage, which the kernel is
    ///   done with (the final CQE has been reaped).
    unsafe fn output(cqe: Cqe, storage: *const Self::Storage) -> Result<Self::Output>;
}

/// Which file an SQE names: a descriptor, or an index into the ring's
/// fixed-file table ([`Ring::register_files`](super::Ring::register_files)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// A descriptor the operation borrows or keeps open, by its number.
    Fd(FdNumber),
    /// A fixed-file index (`IOSQE_FIXED_FILE`).
    Fixed(u32),
}

impl Target {
    /// The descriptor `fd`, which the operation naming it must borrow or
    /// keep open (the [`Op`] contract).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::fd::{AsFd, AsRawFd};
    /// use iofd::EventFd;
    /// use iofd::ring::Target;
    ///
    /// let efd = EventFd::new(0)?;
    /// let Target::Fd(number) = Target::fd(&efd) else { unreachable!() };
    /// assert_eq!(number.as_raw_fd(), efd.as_fd().as_raw_fd());
    /// # Ok::<(), iofd::Error>(())
    /// ```
    #[inline]
    pub fn fd<F: AsFd + ?Sized>(fd: &F) -> Target {
        Target::Fd(FdNumber::of(fd.as_fd()))
    }
}

/// The number of a descriptor that an operation names, taken from a
/// borrowed descriptor ([`FdNumber::of`]) and never from an integer.
///
/// It is not a [`BorrowedFd`]: an operation's target outlives any borrow
/// the type system could name. The driver stores it in the operation's
/// slot to build the SQE again for a re-arm ([`Op::rebuild`]), long after
/// the call that pushed it returned, and the SQE carries it to the kernel
/// as a bare number in any case. What keeps the number meaning the same
/// file is the [`Op`] contract — the operation borrows its handle for its
/// whole lifetime, or keeps it open ([`Op::into_keep`]) until its final
/// CQE — not a lifetime here; a `BorrowedFd<'static>` would claim a
/// borrow nobody holds. So an `FdNumber` is only made from a descriptor
/// that is open when it is made, and gives back only its number
/// ([`AsRawFd`]), for building an SQE.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FdNumber(RawFd);

impl FdNumber {
    /// The number of `fd`.
    #[inline]
    pub fn of(fd: BorrowedFd<'_>) -> FdNumber {
        FdNumber(fd.as_raw_fd())
    }

    /// The number the table recorded for a live operation, taken from an
    /// `FdNumber` when it was pushed.
    #[inline]
    pub(crate) const fn recorded(raw: RawFd) -> FdNumber {
        FdNumber(raw)
    }
}

impl AsRawFd for FdNumber {
    #[inline]
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

/// The error of a CQE with a negative result.
#[inline]
pub(crate) fn cqe_error(res: i32) -> Error {
    match Errno::from_raw(res.wrapping_neg()) {
        Some(e) => Error::from(e),
        None => Error::Os(Errno::EIO),
    }
}

impl Cqe {
    /// The result as a count or value, or the error it carries, decoded as
    /// the driver's own operations decode theirs (`-EAGAIN` is
    /// [`Error::WouldBlock`], `-EINTR` [`Error::Interrupted`], `-EINVAL`
    /// `InvalidParam(`[`Error::KERNEL_EINVAL`]`)`, and so on): for a custom
    /// [`Op`]'s `output`.
    ///
    /// # Errors
    ///
    /// The error a negative result stands for.
    ///
    /// # Examples
    ///
    /// ```
    /// use iofd::Error;
    /// use iofd::ring::Cqe;
    ///
    /// assert_eq!(Cqe { res: 8, flags: 0 }.result(), Ok(8));
    /// assert_eq!(Cqe { res: -11, flags: 0 }.result(), Err(Error::WouldBlock));
    /// ```
    #[inline]
    pub fn result(self) -> Result<u32> {
        if self.res < 0 {
            Err(cqe_error(self.res))
        } else {
            Ok(self.res as u32)
        }
    }
}

/// The CQE's result as success with no value, or its error.
#[inline]
pub(crate) fn cqe_unit(cqe: Cqe) -> Result<()> {
    if cqe.res < 0 {
        Err(cqe_error(cqe.res))
    } else {
        Ok(())
    }
}

/// The CQE's result as a count, or its error.
#[inline]
pub(crate) fn cqe_count(cqe: Cqe) -> Result<usize> {
    if cqe.res < 0 {
        Err(cqe_error(cqe.res))
    } else {
        Ok(cqe.res as usize)
    }
}

/// A driver-owned operation's claim token: what [`Ring::push`] returns.
///
/// A [`ScopedToken`] is the same idea for an operation of a
/// [`Scope`](super::Scope), taken the same way ([`Scope::take`] and
/// [`Scope::wait`] beside [`Ring::take`] and [`Ring::wait`]); the two are
/// distinct types because a scoped one borrows the scope and this one
/// borrows nothing.
///
/// The operation's storage lives in the ring's completion table until its
/// final CQE, so a `Token` borrows nothing: it can be kept across calls,
/// stored in a connection's state, or dropped. Take the result with
/// [`Ring::take`] or [`Ring::wait`]; give it up with [`Ring::cancel`] (or
/// [`Ring::detach`]). A token dropped before its final result was taken
/// detaches its operation: it runs on, and its slot is freed, its result
/// dropped, when it ends. A multishot operation that need not end by
/// itself (a periodic timeout, a multishot recv on a live connection)
/// keeps running, its results dropped as they come: cancel it instead.
/// (Any multishot stream may still end by itself: the kernel ends one
/// whose result finds the completion queue full, that result its final
/// one, and the token is then [`is_done`](Token::is_done); see the
/// [`ring`](super) module's "Multishot operations are streams".) Beware
/// of dropping one by accident — `Option::take` followed by a check that
/// fails drops the token; [`is_for`](Token::is_for) tells whether a
/// [`Completion`](super::Completion) is this token's before anything is
/// taken out.
///
/// [`Ring::push`]: super::Ring::push
/// [`Scope::take`]: super::Scope::take
/// [`Scope::wait`]: super::Scope::wait
/// [`Ring::take`]: super::Ring::take
/// [`Ring::wait`]: super::Ring::wait
/// [`Ring::cancel`]: super::Ring::cancel
/// [`Ring::detach`]: super::Ring::detach
#[must_use = "a token is the only way to take the result or cancel the operation"]
pub struct Token<O: Op> {
    pub(crate) ud: UserData,
    /// The identity of the ring that issued it.
    pub(crate) ring: u32,
    pub(crate) done: bool,
    _op: PhantomData<fn() -> O>,
}

// A token is two words: the tag, and the ring's identity with the flag.
const _: () = assert!(size_of::<Token<super::ops::Nop>>() == 16);

impl<O: Op> Token<O> {
    #[inline]
    pub(crate) fn new(ud: UserData, ring: u32) -> Token<O> {
        Token {
            ud,
            ring,
            done: false,
            _op: PhantomData,
        }
    }

    /// The `user_data` the operation's SQE carries.
    #[inline]
    pub fn user_data(&self) -> UserData {
        self.ud
    }

    /// Whether `c` announces this token's operation: for an owner with
    /// several operations under one tag (a connection's recv and send).
    #[inline]
    pub fn is_for(&self, c: &super::Completion) -> bool {
        self.ud == c.user_data
    }

    /// Whether the final result has been taken.
    #[inline]
    pub fn is_done(&self) -> bool {
        self.done
    }
}

impl<O: Op> Drop for Token<O> {
    /// A token dropped before its final result was taken detaches its
    /// operation: the ring lets it run and frees its slot, dropping the
    /// result, when its final CQE arrives (or at once if it has come). The
    /// ring learns of it at its next submission, or when it runs out of
    /// slots.
    #[inline]
    fn drop(&mut self) {
        if !self.done {
            super::orphans::post(self.ring, self.ud, super::orphans::Posted::Detach);
        }
    }
}

impl<O: Op> fmt::Debug for Token<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("op", &O::NAME)
            .field("user_data", &self.ud)
            .field("done", &self.done)
            .finish()
    }
}

/// A scoped operation's claim token: what a [`Scope`](super::Scope)'s
/// `push` and `push_into` return, taken with [`Scope::take`] or
/// [`Scope::wait`] as a driver-owned [`Token`] is with
/// [`Ring::take`](super::Ring::take). Unlike a `Token`, it is valid only
/// inside its scope (its operation may write storage the scope borrows),
/// and dropping it leaves its operation to the scope, whose end cancels
/// and reaps whatever is still in flight.
///
/// [`Scope::take`]: super::Scope::take
/// [`Scope::wait`]: super::Scope::wait
///
/// A token cannot be handed to another scope, even one of another ring
/// nested inside its own (which would read the first scope's storage while
/// the kernel may still write it):
///
/// ```compile_fail,E0521
/// use iofd::EventFd;
/// use iofd::ring::Ring;
///
/// let (mut a, mut b) = (Ring::new(4).unwrap(), Ring::new(4).unwrap());
/// let efd = EventFd::new(0).unwrap();
/// let mut v = 0u64;
/// a.scope(|sa| {
///     let t = sa.push_into(efd.read_op(), &mut v).unwrap();
///     b.scope(|sb| {
///         let mut t = t;
///         let _ = sb.take(&mut t); // error: `'scope` of another scope
///     });
/// });
/// ```
#[must_use = "a token is the only way to take the result"]
pub struct ScopedToken<'scope, O: Op> {
    pub(crate) ud: UserData,
    pub(crate) storage: *mut O::Storage,
    pub(crate) done: bool,
    _scope: PhantomData<&'scope mut O::Storage>,
    // Invariant in `'scope`: were it covariant, a token of an outer scope
    // could shrink to a nested scope's lifetime and be taken there, by
    // another ring that knows nothing of its operation.
    _invariant: PhantomData<fn(&'scope ()) -> &'scope ()>,
}

impl<'scope, O: Op> ScopedToken<'scope, O> {
    pub(crate) fn new(ud: UserData, storage: *mut O::Storage) -> ScopedToken<'scope, O> {
        ScopedToken {
            ud,
            storage,
            done: false,
            _scope: PhantomData,
            _invariant: PhantomData,
        }
    }

    /// The `user_data` the operation's SQE carries.
    #[inline]
    pub fn user_data(&self) -> UserData {
        self.ud
    }

    /// Whether the final result has been taken.
    #[inline]
    pub fn is_done(&self) -> bool {
        self.done
    }
}

impl<O: Op> fmt::Debug for ScopedToken<'_, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopedToken")
            .field("op", &O::NAME)
            .field("user_data", &self.ud)
            .field("done", &self.done)
            .finish()
    }
}
