//! Waits for any child, or any child in a process group, on the ring
//! (`IORING_OP_WAITID` with `P_ALL` / `P_PGID`).
//!
//! # Safety
//!
//! The SQE has the kernel fill the operation's 128-byte `siginfo_t`
//! storage, read back only after the final CQE; it names no descriptor.
#![expect(
    unsafe_code,
    reason = "the SQE has the kernel fill the operation's siginfo"
)]

use io_uring::{opcode, squeue};

use super::pidfd::{check_options, child_event};
use crate::error::{Error, Result};
use crate::fd::ChildEvent;
use crate::ring::Cqe;
use crate::ring::Opcode;
use crate::ring::op::Op;
use crate::sys::process::{P_ALL, P_PGID, SigInfoChld, WaitOptions};

/// Waits for a change of state of any child, or of any child in a process
/// group, and reports it as a [`ChildEvent`] (which child, and how).
///
/// A supervisor that spawns many children can keep one of these in flight
/// instead of one wait per child, and find the child by
/// [`ChildEvent::pid`]. It reaps whatever child it reports (unless
/// [`NOWAIT`](WaitOptions::NOWAIT) is asked), including children other
/// code in the process expects to reap itself (a `std::process::Child`):
/// in a program that waits by pidfd as well, use those waits instead.
///
/// # Examples
///
/// ```
/// use std::process::Command;
/// use iofd::{ChildStatus, PidFd};
/// use iofd::ring::Ring;
/// use iofd::ring::ops::WaitAny;
/// use iofd::sys::process::WaitOptions;
///
/// let mut ring = Ring::new(8)?;
/// // A process group of its own, so that no other child of this process
/// // (a test's, say) is reaped by the wait.
/// use std::os::unix::process::CommandExt;
/// let (child, _pidfd) = PidFd::spawn(Command::new("true").process_group(0))?;
/// let event = ring.run(WaitAny::group(child.id(), WaitOptions::EXITED))?;
/// assert_eq!((event.pid, event.status), (child.id(), ChildStatus::Exited(0)));
/// # Ok::<(), iofd::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
#[doc(alias = "IORING_OP_WAITID")]
pub struct WaitAny {
    idtype: u32,
    id: u32,
    options: WaitOptions,
}

impl WaitAny {
    /// Any child of this process (`P_ALL`).
    #[doc(alias = "IORING_OP_WAITID")]
    pub fn any_child(options: WaitOptions) -> WaitAny {
        WaitAny {
            idtype: P_ALL,
            id: 0,
            options,
        }
    }

    /// Any child in process group `pgid` (`P_PGID`); 0 names the caller's
    /// own group.
    #[doc(alias = "IORING_OP_WAITID")]
    pub fn group(pgid: u32, options: WaitOptions) -> WaitAny {
        WaitAny {
            idtype: P_PGID,
            id: pgid,
            options,
        }
    }
}

// SAFETY: the SQE has the kernel fill `storage` (a `siginfo_t`) and names
// no descriptor.
unsafe impl Op for WaitAny {
    type Storage = SigInfoChld;
    type Output = ChildEvent;
    const CODE: Opcode = Opcode::WAITID;
    const NAME: &'static str = "waitid (IORING_OP_WAITID)";

    /// [`Error::InvalidParam`] for options without an event, with
    /// `NOHANG`, or a group id above `i32::MAX`.
    fn check(&self) -> Result<()> {
        check_options(self.options)?;
        if self.id > i32::MAX as u32 {
            return Err(Error::InvalidParam("process group id above i32::MAX"));
        }
        Ok(())
    }

    #[inline]
    unsafe fn prepare(&self, storage: *mut SigInfoChld) {
        // SAFETY: the caller hands a pointer valid for writes of a
        // `siginfo_t` that nothing else accesses during the call.
        unsafe { storage.write(SigInfoChld::zeroed()) }
    }

    #[inline]
    fn entry(&self, storage: *mut SigInfoChld) -> squeue::Entry {
        opcode::WaitId::new(self.idtype, self.id, self.options.bits() as i32)
            .infop(storage.cast_const().cast())
            .build()
    }

    unsafe fn output(cqe: Cqe, storage: *const SigInfoChld) -> Result<ChildEvent> {
        // SAFETY: forwarded: the kernel is done with the storage.
        unsafe { child_event(cqe, storage) }
    }
}
