//! PidFd operations: wait for a process to exit, reap a child.
//!
//! # Safety
//!
//! `PollExit` touches no memory; `WaitExit` has the kernel fill the
//! 128-byte `siginfo_t` storage it is given, read back only after the final
//! CQE.
#![allow(unsafe_code)]

use std::os::fd::AsFd;
use std::process::ExitStatus;
use std::sync::Arc;

use io_uring::{opcode, squeue};

use super::{Fixed, OpHandle, POLLIN, poll_add};
use crate::error::{Error, Result};
use crate::fd::PidFd;
use crate::ring::Cqe;
use crate::ring::op::{Op, cqe_error, cqe_unit};
use crate::sys::Errno;
use crate::sys::process::SigInfoChld;

/// `P_PID`: wait for the child with this process id.
const P_PID: u32 = 1;
/// `WEXITED`: wait for children that have terminated.
const WEXITED: i32 = 4;

/// Completes once the process has exited: `IORING_OP_POLL_ADD` of `POLLIN`
/// on the pidfd. Works for any process, child or not; reaps nothing.
#[derive(Debug)]
pub struct PollExit<H> {
    handle: H,
}

/// Reaps a child and returns its exit status: `IORING_OP_WAITID` (Linux
/// 6.7+; [`Error::Unsupported`] before). Only the process's own children
/// can be waited for (`Os(ECHILD)` otherwise).
#[derive(Debug)]
pub struct WaitExit<H> {
    handle: H,
    pid: u32,
}

impl PidFd {
    /// An operation that completes once the process has exited.
    pub fn exit_op(&self) -> PollExit<&PidFd> {
        PollExit { handle: self }
    }

    /// An operation that waits for this child to exit, reaps it and
    /// returns its exit status.
    ///
    /// It waits by the child's pid (`P_PID`): the kernel turns a wait by
    /// pidfd (`P_PIDFD`) on a non-blocking pidfd, the default, into
    /// `WNOHANG`, and io_uring's waitid then completes at once with nothing
    /// reaped. The pid names this child until the child is reaped, so reap
    /// it only here: if something else reaps it first (`waitpid(-1)`, a
    /// `SIGCHLD` handler, [`PidFd::try_wait`]), the operation ends with
    /// `Os(ECHILD)` — unless the kernel has since given the pid to a new
    /// child of this process, which it would then wait for.
    pub fn wait_op(&self) -> WaitExit<&PidFd> {
        WaitExit {
            handle: self,
            pid: self.pid(),
        }
    }

    /// [`exit_op`](PidFd::exit_op) for a shared handle, which the operation
    /// keeps open until it completes.
    pub fn exit_op_shared(self: &Arc<Self>) -> PollExit<Arc<PidFd>> {
        PollExit {
            handle: Arc::clone(self),
        }
    }

    /// [`wait_op`](PidFd::wait_op) for a shared handle.
    pub fn wait_op_shared(self: &Arc<Self>) -> WaitExit<Arc<PidFd>> {
        WaitExit {
            handle: Arc::clone(self),
            pid: self.pid(),
        }
    }
}

impl Fixed<PidFd> {
    /// [`PidFd::exit_op`] on the registered pidfd. (A registered pidfd has
    /// no [`wait_op`](PidFd::wait_op): waiting names the child by its pid,
    /// which the index does not carry.)
    pub fn exit_op(self) -> PollExit<Fixed<PidFd>> {
        PollExit { handle: self }
    }
}

// SAFETY: a poll of a file the operation holds (or the ring's file table
// does); no memory touched.
unsafe impl<H: OpHandle> Op for PollExit<H> {
    type Storage = ();
    type Output = ();
    const CODE: u8 = opcode::PollAdd::CODE;
    const NAME: &'static str = "pidfd poll (IORING_OP_POLL_ADD)";

    #[inline]
    fn check(&self) -> Result<()> {
        self.handle.check_open()
    }

    #[inline]
    fn entry(&self, _storage: *mut ()) -> squeue::Entry {
        poll_add(self.handle.target(), POLLIN)
    }

    #[inline]
    fn into_keep(self) -> Option<Arc<dyn AsFd + Send + Sync>> {
        self.handle.into_keep_alive()
    }

    #[inline]
    unsafe fn output(cqe: Cqe, _storage: *const ()) -> Result<()> {
        cqe_unit(cqe)
    }
}

// SAFETY: the SQE has the kernel fill `storage` (a 128-byte `siginfo_t`)
// for one child, named by a pid the child keeps until it is reaped.
unsafe impl<H: OpHandle> Op for WaitExit<H> {
    type Storage = SigInfoChld;
    type Output = ExitStatus;
    const CODE: u8 = opcode::WaitId::CODE;
    const NAME: &'static str = "waitid (IORING_OP_WAITID)";

    #[inline]
    fn check(&self) -> Result<()> {
        self.handle.check_open()
    }

    #[inline]
    unsafe fn prepare(&self, storage: *mut SigInfoChld) {
        // SAFETY: the caller hands a pointer valid for writes of a
        // `siginfo_t` that nothing else accesses during the call.
        unsafe { storage.write(SigInfoChld::zeroed()) }
    }

    #[inline]
    fn entry(&self, storage: *mut SigInfoChld) -> squeue::Entry {
        opcode::WaitId::new(P_PID, self.pid, WEXITED)
            .infop(storage.cast_const().cast())
            .build()
    }

    #[inline]
    fn into_keep(self) -> Option<Arc<dyn AsFd + Send + Sync>> {
        self.handle.into_keep_alive()
    }

    unsafe fn output(cqe: Cqe, storage: *const SigInfoChld) -> Result<ExitStatus> {
        if cqe.res < 0 {
            return Err(cqe_error(cqe.res));
        }
        // SAFETY: the kernel filled the siginfo and is done with it.
        let info = unsafe { storage.read() }.decode()?;
        info.and_then(|i| i.exit_status())
            .ok_or(Error::Os(Errno::EPROTO))
    }
}
