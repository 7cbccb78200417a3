//! Ring operations that need no handle: nop and cancels.
//!
//! # Safety
//!
//! `Nop`, `Cancel` and `CancelFixed` touch no memory and no descriptor.
#![expect(
    unsafe_code,
    reason = "implements the unsafe Op trait for nop and cancel"
)]

use io_uring::{opcode, squeue};

use crate::error::Result;
use crate::ring::op::cqe_error;
use crate::ring::op::{Op, cqe_unit};
use crate::ring::{Cqe, UserData};
use crate::ring::{Fixed, Opcode};

/// Does nothing and completes: `IORING_OP_NOP`. Useful to measure the
/// ring's own cost, or to wake a waiter.
#[derive(Clone, Copy, Debug, Default)]
#[doc(alias = "IORING_OP_NOP")]
pub struct Nop {
    _priv: (),
}

impl Nop {
    /// A no-op.
    #[doc(alias = "IORING_OP_NOP")]
    #[inline]
    pub const fn new() -> Nop {
        Nop { _priv: () }
    }
}

/// Asks the kernel to cancel the operation tagged `target`:
/// `IORING_OP_ASYNC_CANCEL`. The result is `Ok(())` when it was found and
/// cancelled, `Os(ENOENT)` when no such operation is in flight, and
/// `Os(EALREADY)` when it is running and will complete on its own.
#[derive(Clone, Copy, Debug)]
#[doc(alias = "IORING_OP_ASYNC_CANCEL")]
pub struct Cancel {
    target: UserData,
}

impl Cancel {
    /// Cancels the operation whose token (or scoped token) has this
    /// `user_data`.
    #[doc(alias = "IORING_OP_ASYNC_CANCEL")]
    pub fn new(target: UserData) -> Cancel {
        Cancel { target }
    }
}

/// Asks the kernel to cancel every operation in flight on the file
/// registered at an index: `IORING_OP_ASYNC_CANCEL` with
/// `IORING_ASYNC_CANCEL_FD`, `_FD_FIXED` and `_ALL`. The kernel looks the
/// index up when the cancel runs and matches the *file*, so operations on
/// the same file through another index or a plain descriptor end too,
/// whoever pushed them. The result is how many were cancelled (0 when
/// none was in flight); `Os(EBADF)` when the index holds
/// no file (unregistered, replaced, or closed since: cancel before
/// giving an index up), `Os(EINVAL)` from a kernel before 6.0.
///
/// It is how a [slotless](crate::ring::slotless) counter read, which no
/// tag names in the kernel, is cancelled: see
/// [`Ring::cancel_fixed`](crate::ring::Ring::cancel_fixed).
#[derive(Clone, Copy, Debug)]
#[doc(alias = "IORING_ASYNC_CANCEL_FD")]
pub struct CancelFixed {
    index: u32,
}

impl CancelFixed {
    /// Cancels every operation on the file registered at `file`'s index.
    #[doc(alias = "IORING_ASYNC_CANCEL_FD_FIXED")]
    pub fn new<H>(file: Fixed<H>) -> CancelFixed {
        CancelFixed {
            index: file.index(),
        }
    }
}

// SAFETY: a no-op touches no memory and no descriptor.
unsafe impl Op for Nop {
    type Storage = ();
    type Output = ();
    const CODE: Opcode = Opcode::NOP;
    const NAME: &'static str = "nop (IORING_OP_NOP)";

    #[inline]
    fn entry(&self, _storage: *mut ()) -> squeue::Entry {
        opcode::Nop::new().build()
    }

    #[inline]
    unsafe fn output(cqe: Cqe, _storage: *const ()) -> Result<()> {
        cqe_unit(cqe)
    }
}

// SAFETY: a cancel request touches no memory and no descriptor.
unsafe impl Op for Cancel {
    type Storage = ();
    type Output = ();
    const CODE: Opcode = Opcode::ASYNC_CANCEL;
    const NAME: &'static str = "cancel (IORING_OP_ASYNC_CANCEL)";

    #[inline]
    fn entry(&self, _storage: *mut ()) -> squeue::Entry {
        opcode::AsyncCancel::new(self.target.raw()).build()
    }

    #[inline]
    unsafe fn output(cqe: Cqe, _storage: *const ()) -> Result<()> {
        cqe_unit(cqe)
    }
}

// SAFETY: a cancel request touches no memory; it names its file by
// index, and holds nothing.
unsafe impl Op for CancelFixed {
    type Storage = ();
    type Output = u32;
    const CODE: Opcode = Opcode::ASYNC_CANCEL;
    const NAME: &'static str = "cancel by fixed file (IORING_OP_ASYNC_CANCEL)";

    #[inline]
    fn entry(&self, _storage: *mut ()) -> squeue::Entry {
        let target = io_uring::types::CancelBuilder::fd(io_uring::types::Fixed(self.index)).all();
        opcode::AsyncCancel2::new(target).build()
    }

    #[inline]
    unsafe fn output(cqe: Cqe, _storage: *const ()) -> Result<u32> {
        if cqe.res < 0 {
            return Err(cqe_error(cqe.res));
        }
        Ok(cqe.res.unsigned_abs())
    }
}

/// The operation behind a raw SQE pushed with
/// [`Ring::push_raw_tagged`](crate::ring::Ring::push_raw_tagged): its
/// results are the CQEs as they came (result, flags). Only the ring makes
/// one, so it is never pushed as a typed operation.
#[derive(Debug)]
pub struct RawSqe {
    _priv: (),
}

// SAFETY: never built as a value outside the driver, whose raw push has
// the caller's promise for the SQE; `entry` is never called for it (and
// would build a NOP), and `output` reads no storage.
unsafe impl Op for RawSqe {
    type Storage = ();
    type Output = Cqe;
    const CODE: Opcode = Opcode::NOP;
    const NAME: &'static str = "raw SQE";

    #[inline]
    fn entry(&self, _storage: *mut ()) -> squeue::Entry {
        opcode::Nop::new().build()
    }

    #[inline]
    unsafe fn output(cqe: Cqe, _storage: *const ()) -> Result<Cqe> {
        Ok(cqe)
    }
}
