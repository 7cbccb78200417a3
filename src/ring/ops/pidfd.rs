//! PidFd operations: wait for a process to exit, reap a child, wait for
//! a child's stops and continues.
//!
//! # Safety
//!
//! `PollExit` touches no memory; `WaitExit` has the kernel fill the
//! 128-byte `siginfo_t` storage it is given, read back only after the final
//! CQE.
#![expect(
    unsafe_code,
    reason = "implements the unsafe Op trait for pidfd polls and waits"
)]

use std::ops::Deref;
use std::os::fd::AsFd;
use std::process::ExitStatus;
use std::sync::Arc;

use io_uring::{opcode, squeue};

use super::{Fixed, OpHandle, POLLIN, poll_add};
use crate::error::{Error, Result};
use crate::fd::{ChildEvent, PidFd};
use crate::ring::Cqe;
use crate::ring::Opcode;
use crate::ring::op::{Op, Target, cqe_error, cqe_unit};
use crate::sys::Errno;
use crate::sys::poll::PollFlags;
use crate::sys::process::{P_PIDFD, SigInfoChld, WaitOptions};

/// Completes once the process has exited: `IORING_OP_POLL_ADD` of `POLLIN`
/// on the pidfd. Works for any process, child or not; reaps nothing.
#[derive(Debug)]
#[doc(alias = "IORING_OP_POLL_ADD")]
pub struct PollExit<H> {
    handle: H,
}

/// Reaps a child and returns its exit status: `IORING_OP_WAITID` by the
/// pidfd (`P_PIDFD`, Linux 6.7+; [`Error::Unsupported`] before), behind a
/// poll of the pidfd so that it runs once the child has exited. Only the
/// process's own children can be waited for (`Os(ECHILD)` otherwise).
#[derive(Debug)]
#[doc(alias = "IORING_OP_WAITID")]
pub struct WaitExit<H> {
    /// The same wait, for exits.
    wait: WaitChild<H>,
}

/// Waits for a change of state of one child, by its pidfd, and reports
/// it typed: `IORING_OP_WAITID` with `P_PIDFD` and the options asked for
/// (see [`PidFd::wait_child_op`]).
#[derive(Debug)]
#[doc(alias = "IORING_OP_WAITID")]
pub struct WaitChild<H> {
    handle: H,
    options: WaitOptions,
    /// Whether the pidfd was non-blocking when the operation was made:
    /// the wait then runs behind a poll.
    polled: bool,
}

impl PidFd {
    /// An operation that completes once the process has exited.
    #[doc(alias = "IORING_OP_POLL_ADD")]
    pub fn exit_op(&self) -> PollExit<&PidFd> {
        PollExit { handle: self }
    }

    /// An operation that waits for this child to exit, reaps it and
    /// returns its exit status.
    ///
    /// It waits by the pidfd (`P_PIDFD`), so it can only ever reap this
    /// child: a pid reused by another process is never waited for. The
    /// kernel runs a wait by a non-blocking pidfd (the default) as
    /// `WNOHANG`, so on such a pidfd the driver links a poll of the pidfd
    /// in front of the wait, which then runs once the child has exited.
    /// Such a pair cannot take a deadline
    /// ([`push_with_timeout`](crate::ring::Ring::push_with_timeout)); a
    /// wait on a blocking pidfd
    /// ([`set_nonblocking(false)`](PidFd::set_nonblocking) before making
    /// the operation) is the kernel's wait alone, and can.
    ///
    /// # Errors
    ///
    /// At the push, `Os(ECHILD)` when the process is not a child of this
    /// one (or was reaped already), and [`Error::Closed`]. As the result,
    /// `Os(ECHILD)` when something else reaped the child first
    /// (`waitpid(-1)`, [`PidFd::try_wait`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::process::Command;
    /// use std::sync::Arc;
    /// use iofd::PidFd;
    /// use iofd::ring::Ring;
    ///
    /// let mut ring = Ring::new(8)?;
    /// let (_child, pidfd) = PidFd::spawn(Command::new("sh").args(["-c", "exit 3"]))?;
    /// let status = ring.run(Arc::new(pidfd).wait_op_shared())?;
    /// assert_eq!(status.code(), Some(3));
    /// # Ok::<(), iofd::Error>(())
    /// ```
    #[doc(alias = "IORING_OP_WAITID")]
    pub fn wait_op(&self) -> WaitExit<&PidFd> {
        WaitExit {
            wait: self.wait_child_op(WaitOptions::EXITED),
        }
    }

    /// An operation that waits for a change of state of this child — what
    /// `options` asks for: [`EXITED`](WaitOptions::EXITED),
    /// [`STOPPED`](WaitOptions::STOPPED), [`CONTINUED`](WaitOptions::CONTINUED),
    /// with [`NOWAIT`](WaitOptions::NOWAIT) to leave an exited child
    /// waitable — and reports it as a [`ChildEvent`].
    ///
    /// Exits alone are waited for on any pidfd (behind a poll on a
    /// non-blocking one, as [`wait_op`](PidFd::wait_op)). A pidfd signals
    /// only exits to a poll, so stops and continues need a blocking pidfd
    /// ([`set_nonblocking(false)`](PidFd::set_nonblocking) before making
    /// the operation), on which the kernel's wait itself sleeps.
    ///
    /// # Errors
    ///
    /// At the push, [`Error::InvalidParam`] for options without `EXITED`,
    /// `STOPPED` or `CONTINUED`, with `NOHANG` (a ring wait waits; use
    /// [`PidFd::try_wait`] to look without waiting), or asking for stops or
    /// continues on a non-blocking pidfd; `Os(ECHILD)` for a wait behind a
    /// poll on a process that is not a child; [`Error::Closed`]. As the result,
    /// `Os(ECHILD)` when the process is not (or no longer) a child to wait
    /// for, and [`Error::WouldBlock`] if the pidfd was made non-blocking
    /// after the push and nothing had happened yet.
    #[doc(alias = "IORING_OP_WAITID")]
    pub fn wait_child_op(&self, options: WaitOptions) -> WaitChild<&PidFd> {
        WaitChild {
            handle: self,
            options,
            polled: self.needs_poll(),
        }
    }

    /// [`wait_child_op`](PidFd::wait_child_op) for a shared handle, which
    /// the operation keeps open until it completes.
    #[doc(alias = "IORING_OP_WAITID")]
    pub fn wait_child_op_shared(self: &Arc<Self>, options: WaitOptions) -> WaitChild<Arc<PidFd>> {
        WaitChild {
            handle: Arc::clone(self),
            options,
            polled: self.needs_poll(),
        }
    }

    /// [`exit_op`](PidFd::exit_op) for a shared handle, which the operation
    /// keeps open until it completes.
    #[doc(alias = "IORING_OP_POLL_ADD")]
    pub fn exit_op_shared(self: &Arc<Self>) -> PollExit<Arc<PidFd>> {
        PollExit {
            handle: Arc::clone(self),
        }
    }

    /// [`wait_op`](PidFd::wait_op) for a shared handle.
    #[doc(alias = "IORING_OP_WAITID")]
    pub fn wait_op_shared(self: &Arc<Self>) -> WaitExit<Arc<PidFd>> {
        WaitExit {
            wait: self.wait_child_op_shared(WaitOptions::EXITED),
        }
    }
}

impl Fixed<PidFd> {
    /// [`PidFd::exit_op`] on the registered pidfd. (A registered pidfd has
    /// no [`wait_op`](PidFd::wait_op): io_uring's waitid takes a pidfd by
    /// descriptor only.)
    #[doc(alias = "IORING_OP_POLL_ADD")]
    pub fn exit_op(self) -> PollExit<Fixed<PidFd>> {
        PollExit { handle: self }
    }
}

// SAFETY: a poll of a file the operation holds (or the ring's file table
// does); no memory touched.
unsafe impl<H: OpHandle> Op for PollExit<H> {
    type Storage = ();
    type Output = ();
    const CODE: Opcode = Opcode::POLL_ADD;
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

impl PidFd {
    /// Whether a wait by this pidfd must run behind a poll: it is
    /// non-blocking (or its flags cannot be read, when closed: the push
    /// then refuses it).
    fn needs_poll(&self) -> bool {
        self.is_nonblocking().unwrap_or(true)
    }
}

/// Checks a wait by pidfd at the push: open, and — for a wait that runs
/// behind a poll, which would otherwise wait for ever on a process that is
/// not a child — naming a child of this process.
fn check_waitable(pidfd: &PidFd, polled: bool) -> Result<()> {
    if polled {
        pidfd.check_child()
    } else {
        pidfd.borrow_fd().map(drop)
    }
}

// SAFETY: `WaitChild`'s SQE, poll and storage, unchanged.
unsafe impl<H: OpHandle + Deref<Target = PidFd>> Op for WaitExit<H> {
    type Storage = SigInfoChld;
    type Output = ExitStatus;
    const CODE: Opcode = Opcode::WAITID;
    const NAME: &'static str = "waitid (IORING_OP_WAITID)";

    #[inline]
    fn check(&self) -> Result<()> {
        self.wait.check()
    }

    #[inline]
    unsafe fn prepare(&self, storage: *mut SigInfoChld) {
        // SAFETY: forwarded.
        unsafe { self.wait.prepare(storage) }
    }

    #[inline]
    fn entry(&self, storage: *mut SigInfoChld) -> squeue::Entry {
        self.wait.entry(storage)
    }

    #[inline]
    fn poll_first(&self) -> Option<(Target, PollFlags)> {
        self.wait.poll_first()
    }

    #[inline]
    fn into_keep(self) -> Option<Arc<dyn AsFd + Send + Sync>> {
        self.wait.into_keep()
    }

    unsafe fn output(cqe: Cqe, storage: *const SigInfoChld) -> Result<ExitStatus> {
        // SAFETY: forwarded; the kernel is done with the storage.
        let event = unsafe { child_event(cqe, storage) }?;
        event.exit_status().ok_or(Error::Os(Errno::EPROTO))
    }
}

/// The child event a waitid's CQE and `siginfo_t` report.
///
/// # Safety
///
/// - `storage` points at the `siginfo_t` the operation's SQE named, which
///   the kernel is done with (the CQE was reaped).
pub(super) unsafe fn child_event(cqe: Cqe, storage: *const SigInfoChld) -> Result<ChildEvent> {
    if cqe.res < 0 {
        return Err(cqe_error(cqe.res));
    }
    // SAFETY: the caller's promise.
    match unsafe { storage.read() }.decode()? {
        Some(info) => ChildEvent::try_from(info),
        // A wait that found nothing: only a wait by a pidfd made
        // non-blocking after the push gets here (the kernel's `WNOHANG`).
        None => Err(Error::WouldBlock),
    }
}

/// Refuses ring-wait options the kernel would answer otherwise than the
/// caller means: none of the three events, or `NOHANG`.
pub(super) fn check_options(options: WaitOptions) -> Result<()> {
    let events = WaitOptions::EXITED | WaitOptions::STOPPED | WaitOptions::CONTINUED;
    if !options.intersects(events) {
        return Err(Error::InvalidParam(
            "wait options name no event: EXITED, STOPPED or CONTINUED",
        ));
    }
    if options.contains(WaitOptions::NOHANG) {
        return Err(Error::InvalidParam(
            "a ring wait waits: NOHANG is for waitid and PidFd::try_wait",
        ));
    }
    Ok(())
}

// SAFETY: the SQE has the kernel fill `storage` (a 128-byte `siginfo_t`)
// for one child, named by a pidfd the operation keeps open (or borrows
// for its scope); the poll in front of it, on a non-blocking pidfd,
// touches no memory.
unsafe impl<H: OpHandle + Deref<Target = PidFd>> Op for WaitChild<H> {
    type Storage = SigInfoChld;
    type Output = ChildEvent;
    const CODE: Opcode = Opcode::WAITID;
    const NAME: &'static str = "waitid (IORING_OP_WAITID)";

    fn check(&self) -> Result<()> {
        check_options(self.options)?;
        let others = WaitOptions::STOPPED | WaitOptions::CONTINUED;
        if self.polled && self.options.intersects(others) {
            return Err(Error::InvalidParam(
                "waiting by pidfd for stops or continues needs a blocking pidfd \
                 (PidFd::set_nonblocking(false))",
            ));
        }
        check_waitable(&self.handle, self.polled)
    }

    #[inline]
    unsafe fn prepare(&self, storage: *mut SigInfoChld) {
        // SAFETY: the caller hands a pointer valid for writes of a
        // `siginfo_t` that nothing else accesses during the call.
        unsafe { storage.write(SigInfoChld::zeroed()) }
    }

    #[inline]
    fn entry(&self, storage: *mut SigInfoChld) -> squeue::Entry {
        // By descriptor: io_uring's waitid takes no registered file (and
        // the handle is a `PidFd`, never an index).
        let fd = self.handle.raw() as u32;
        opcode::WaitId::new(P_PIDFD, fd, self.options.bits() as i32)
            .infop(storage.cast_const().cast())
            .build()
    }

    #[inline]
    fn poll_first(&self) -> Option<(Target, PollFlags)> {
        self.polled.then(|| (self.handle.target(), POLLIN))
    }

    #[inline]
    fn into_keep(self) -> Option<Arc<dyn AsFd + Send + Sync>> {
        self.handle.into_keep_alive()
    }

    unsafe fn output(cqe: Cqe, storage: *const SigInfoChld) -> Result<ChildEvent> {
        // SAFETY: forwarded.
        unsafe { child_event(cqe, storage) }
    }
}
