//! Readiness on the ring: a one-shot poll of any descriptor, and a
//! multishot poll that reports every readiness event until cancelled.
//!
//! # Safety
//!
//! A poll touches no memory; its descriptor is borrowed (`&T`) or kept
//! open (`Arc<T>`) by the operation, or named by a fixed-file index.
#![expect(unsafe_code, reason = "implements the unsafe Op trait for polls")]

use std::os::fd::AsFd;
use std::sync::Arc;

use io_uring::{opcode, squeue};

use crate::error::Result;
use crate::ring::Opcode;
use crate::ring::op::{Op, cqe_error};
use crate::ring::{Cqe, Target};
pub use crate::sys::poll::PollFlags;

/// What a poll waits on: a borrowed descriptor (`&T`, for a scope), a
/// shared one (`Arc<T>`, kept open by a driver-owned poll until its final
/// CQE) or a registered file ([`PollTarget::fixed`]).
pub trait PollSource: sealed::Sealed {
    /// The file the SQE names.
    fn target(&self) -> Target;
    /// What the operation keeps open, if anything.
    fn keep(self) -> Option<Arc<dyn AsFd + Send + Sync>>
    where
        Self: Sized;
}

mod sealed {
    pub trait Sealed {}
    impl<T: std::os::fd::AsFd + ?Sized> Sealed for &T {}
    impl<T: std::os::fd::AsFd + Send + Sync + 'static> Sealed for std::sync::Arc<T> {}
    impl Sealed for super::PollTarget {}
}

impl<T: AsFd + ?Sized> PollSource for &T {
    #[inline]
    fn target(&self) -> Target {
        Target::fd(*self)
    }
    #[inline]
    fn keep(self) -> Option<Arc<dyn AsFd + Send + Sync>> {
        None
    }
}

impl<T: AsFd + Send + Sync + 'static> PollSource for Arc<T> {
    #[inline]
    fn target(&self) -> Target {
        Target::fd(&**self)
    }
    #[inline]
    fn keep(self) -> Option<Arc<dyn AsFd + Send + Sync>> {
        Some(self)
    }
}

/// A registered file, by its index in the ring's fixed-file table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PollTarget(u32);

impl PollTarget {
    /// The file at `index` of the ring's fixed-file table.
    pub fn fixed(index: u32) -> PollTarget {
        PollTarget(index)
    }
}

impl PollSource for PollTarget {
    #[inline]
    fn target(&self) -> Target {
        Target::Fixed(self.0)
    }
    #[inline]
    fn keep(self) -> Option<Arc<dyn AsFd + Send + Sync>> {
        None
    }
}

/// Waits until a descriptor is ready for any of `flags`:
/// `IORING_OP_POLL_ADD`, one shot. The result is the events that were
/// ready (errors and hang-ups are always reported).
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use iofd::EventFd;
/// use iofd::ring::Ring;
/// use iofd::ring::ops::{Poll, PollFlags};
///
/// let mut ring = Ring::new(4)?;
/// let efd = Arc::new(EventFd::new(0)?);
/// let t = ring.push(Poll::new(Arc::clone(&efd), PollFlags::IN))?;
/// ring.submit()?;
/// efd.signal(1)?;
/// assert_eq!(ring.wait(t)?, PollFlags::IN);
/// # Ok::<(), iofd::Error>(())
/// ```
#[derive(Debug)]
#[doc(alias = "IORING_OP_POLL_ADD")]
pub struct Poll<H> {
    handle: H,
    flags: PollFlags,
}

/// Reports every readiness event of a descriptor until cancelled:
/// `IORING_OP_POLL_ADD` with `IORING_POLL_ADD_MULTI`. Each result is the
/// events ready when the file was woken: the kernel posts once per
/// wake-up, so a file left ready (an eventfd never read) posts nothing
/// more until it is woken again (signalled again). The stream ends with a
/// final result — `-ECANCELED` (as `Os(ECANCELED)`) when it was
/// cancelled, or another error when the kernel ended it (it then posts no
/// `IORING_CQE_F_MORE`). The kernel also ends it, with an ordinary
/// readiness as the final result, when the completion queue is full (the
/// [`ring`](crate::ring) module's "Multishot operations are streams").
#[derive(Debug)]
#[doc(alias("IORING_OP_POLL_ADD", "IORING_POLL_ADD_MULTI"))]
pub struct PollMultishot<H> {
    handle: H,
    flags: PollFlags,
}

impl<H: PollSource> Poll<H> {
    /// A poll of `handle` for `flags`.
    #[doc(alias = "IORING_OP_POLL_ADD")]
    pub fn new(handle: H, flags: PollFlags) -> Poll<H> {
        Poll { handle, flags }
    }
}

impl<H: PollSource> PollMultishot<H> {
    /// A multishot poll of `handle` for `flags`.
    #[doc(alias("IORING_OP_POLL_ADD", "IORING_POLL_ADD_MULTI"))]
    pub fn new(handle: H, flags: PollFlags) -> PollMultishot<H> {
        PollMultishot { handle, flags }
    }
}

/// The `POLL_ADD` SQE for `target`.
fn poll_entry(target: Target, flags: PollFlags, multi: bool) -> squeue::Entry {
    super::socket::on_target!(target, |f| opcode::PollAdd::new(f, flags.bits())
        .multi(multi)
        .build())
}

/// The events a poll's CQE reports, or its error.
#[inline]
fn poll_output(cqe: Cqe) -> Result<PollFlags> {
    if cqe.res < 0 {
        Err(cqe_error(cqe.res))
    } else {
        Ok(PollFlags::from_bits_retain(cqe.res as u32))
    }
}

/// The `Op` impl of a poll type: `multi` says whether it is multishot.
macro_rules! poll_op {
    ($ty:ident, $multi:expr, $name:expr) => {
        // SAFETY: a poll touches no memory (each shot writes nothing); the
        // descriptor is held by `H` (borrowed, kept, or registered).
        unsafe impl<H: PollSource> Op for $ty<H> {
            type Storage = ();
            type Output = PollFlags;
            const CODE: Opcode = Opcode::POLL_ADD;
            const NAME: &'static str = $name;

            #[inline]
            fn entry(&self, _storage: *mut ()) -> squeue::Entry {
                poll_entry(self.handle.target(), self.flags, $multi)
            }

            #[inline]
            fn into_keep(self) -> Option<Arc<dyn AsFd + Send + Sync>> {
                self.handle.keep()
            }

            #[inline]
            unsafe fn output(cqe: Cqe, _storage: *const ()) -> Result<PollFlags> {
                poll_output(cqe)
            }
        }
    };
}

poll_op!(Poll, false, "poll (IORING_OP_POLL_ADD)");
poll_op!(
    PollMultishot,
    true,
    "multishot poll (IORING_OP_POLL_ADD, IORING_POLL_ADD_MULTI)"
);
