//! SignalFd operations: read one `SignalInfo`, or a batch.
//!
//! # Safety
//!
//! Each `unsafe impl Op` below reads whole 128-byte records into the
//! `SignalInfo` storage it is given (never past its length), and reads that
//! storage back only after the final CQE.
#![expect(
    unsafe_code,
    reason = "the SQEs have the kernel fill SignalInfo storage"
)]

use std::sync::Arc;

use io_uring::squeue;

use super::{CURRENT_POSITION, Fixed, OpHandle, Opts, op_setters, read_entry, target};
use crate::error::{Error, Result};
use crate::fd::{SignalFd, SignalInfo};
use crate::ring::Cqe;
use crate::ring::Opcode;
use crate::ring::op::{Op, cqe_error};
use crate::sys::Errno;

/// Reads one pending signal as a [`SignalInfo`]: `IORING_OP_READ` of 128
/// bytes. Waits — the driver re-arms it on a poll — until a signal in the
/// mask is pending.
#[derive(Debug)]
#[doc(alias = "IORING_OP_READ")]
pub struct ReadSignal<H> {
    handle: H,
    opts: Opts,
}

/// Reads up to `storage.len()` pending signals at once into a caller's
/// `[SignalInfo]`: one `IORING_OP_READ`; the result is how many records
/// arrived.
#[derive(Debug)]
#[doc(alias = "IORING_OP_READ")]
pub struct ReadSignals<H> {
    handle: H,
    opts: Opts,
}

op_setters!(ReadSignal);
op_setters!(ReadSignals);

impl SignalFd {
    /// An operation that reads one pending signal.
    #[doc(alias = "IORING_OP_READ")]
    pub fn read_op(&self) -> ReadSignal<&SignalFd> {
        ReadSignal {
            handle: self,
            opts: Opts::DEFAULT,
        }
    }

    /// An operation that reads up to as many signals as the storage it is
    /// given holds (push it with a scope's `push_into`).
    #[doc(alias = "IORING_OP_READ")]
    pub fn read_many_op(&self) -> ReadSignals<&SignalFd> {
        ReadSignals {
            handle: self,
            opts: Opts::DEFAULT,
        }
    }

    /// [`read_op`](SignalFd::read_op) for a shared handle, which the
    /// operation keeps open until it completes.
    #[doc(alias = "IORING_OP_READ")]
    pub fn read_op_shared(self: &Arc<Self>) -> ReadSignal<Arc<SignalFd>> {
        ReadSignal {
            handle: Arc::clone(self),
            opts: Opts::DEFAULT,
        }
    }
}

impl Fixed<SignalFd> {
    /// [`SignalFd::read_op`] on the registered signalfd.
    #[doc(alias = "IORING_OP_READ")]
    pub fn read_op(self) -> ReadSignal<Fixed<SignalFd>> {
        ReadSignal {
            handle: self,
            opts: Opts::DEFAULT,
        }
    }

    /// [`SignalFd::read_many_op`] on the registered signalfd.
    #[doc(alias = "IORING_OP_READ")]
    pub fn read_many_op(self) -> ReadSignals<Fixed<SignalFd>> {
        ReadSignals {
            handle: self,
            opts: Opts::DEFAULT,
        }
    }
}

/// How many whole records a read of `res` bytes delivered.
#[inline]
fn records(cqe: Cqe) -> Result<usize> {
    if cqe.res < 0 {
        return Err(cqe_error(cqe.res));
    }
    let bytes = cqe.res as usize;
    if bytes == 0 || !bytes.is_multiple_of(SignalInfo::SIZE) {
        return Err(Error::Os(Errno::EIO));
    }
    Ok(bytes / SignalInfo::SIZE)
}

// SAFETY: the SQE reads 128 bytes into `storage` (a `SignalInfo`, 128
// bytes, plain integers) from a descriptor the operation holds.
unsafe impl<H: OpHandle> Op for ReadSignal<H> {
    type Storage = SignalInfo;
    type Output = SignalInfo;
    const CODE: Opcode = Opcode::READ;
    const NAME: &'static str = "signalfd read (IORING_OP_READ)";

    super::handle_methods!(check; rearm(IN); keep);

    #[inline]
    fn entry(&self, storage: *mut SignalInfo) -> squeue::Entry {
        read_entry(
            target(&self.handle, self.opts.fixed),
            storage.cast(),
            SignalInfo::SIZE as u32,
            CURRENT_POSITION,
        )
    }

    #[inline]
    unsafe fn output(cqe: Cqe, storage: *const SignalInfo) -> Result<SignalInfo> {
        records(cqe)?;
        // SAFETY: the kernel wrote one whole record and is done.
        Ok(unsafe { storage.read() })
    }
}

// SAFETY: the SQE reads at most `storage.len()` whole records into
// `storage` (a slice of 128-byte plain-integer records) from a descriptor
// the operation holds.
unsafe impl<H: OpHandle> Op for ReadSignals<H> {
    type Storage = [SignalInfo];
    type Output = usize;
    const CODE: Opcode = Opcode::READ;
    const NAME: &'static str = "signalfd batch read (IORING_OP_READ)";

    super::handle_methods!(check; rearm(IN); keep);

    #[inline]
    fn entry(&self, storage: *mut [SignalInfo]) -> squeue::Entry {
        let len = storage.len().min(u32::MAX as usize / SignalInfo::SIZE) * SignalInfo::SIZE;
        read_entry(
            target(&self.handle, self.opts.fixed),
            storage.cast(),
            len as u32,
            CURRENT_POSITION,
        )
    }

    #[inline]
    unsafe fn output(cqe: Cqe, _storage: *const [SignalInfo]) -> Result<usize> {
        records(cqe)
    }
}
