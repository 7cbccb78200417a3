//! Child processes: spawning one with its [`PidFd`] and a clean signal
//! state, and the typed change of state a wait reports.
//!
//! # Safety
//!
//! The spawn's `pre_exec` hook runs in the child between `fork` and
//! `execve`, where only async-signal-safe calls are allowed: it makes raw
//! syscalls through the syscall core and touches no lock and no heap.
#![expect(unsafe_code, reason = "the pre_exec hook runs between fork and execve")]

use std::io;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus};

use super::{PidFd, Signal};
use crate::error::{Error, Result};
use crate::sys::Errno;
use crate::sys::process::{self, WaitCode, WaitId, WaitInfo, WaitOptions};
use crate::sys::signal::{SigDisposition, SigHow, rt_sigaction, rt_sigprocmask};

/// How a child changed state: what a wait for it reports, typed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChildStatus {
    /// It exited with this code (`CLD_EXITED`; `WEXITED`).
    Exited(i32),
    /// A signal killed it (`CLD_KILLED`, `CLD_DUMPED`; `WEXITED`).
    Killed {
        /// The signal that killed it.
        signal: Signal,
        /// Whether it dumped core.
        core_dumped: bool,
    },
    /// A signal stopped it (`CLD_STOPPED`; `WSTOPPED`).
    Stopped(Signal),
    /// It is traced and trapped with this signal (`CLD_TRAPPED`).
    Trapped(Signal),
    /// `SIGCONT` resumed it after a stop (`CLD_CONTINUED`; `WCONTINUED`).
    Continued,
}

/// One child's change of state: which child, and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ChildEvent {
    /// The child's process id.
    pub pid: u32,
    /// The child's real user id.
    pub uid: u32,
    /// What happened to it.
    pub status: ChildStatus,
}

impl ChildEvent {
    /// Whether the child terminated ([`Exited`](ChildStatus::Exited) or
    /// [`Killed`](ChildStatus::Killed)) — it was reaped, unless the wait
    /// asked to leave it waitable (`WNOWAIT`).
    pub fn is_terminated(&self) -> bool {
        matches!(
            self.status,
            ChildStatus::Exited(_) | ChildStatus::Killed { .. }
        )
    }

    /// The termination as a std [`ExitStatus`] (the encoding `waitpid`
    /// reports); `None` for a stop, trap or continue.
    pub fn exit_status(&self) -> Option<ExitStatus> {
        let raw = match self.status {
            ChildStatus::Exited(code) => (code & 0xff) << 8,
            ChildStatus::Killed {
                signal,
                core_dumped,
            } => (signal.number() & 0x7f) | if core_dumped { 0x80 } else { 0 },
            _ => return None,
        };
        Some(ExitStatus::from_raw(raw))
    }
}

impl TryFrom<WaitInfo> for ChildEvent {
    type Error = Error;

    /// The typed event; `Os(EPROTO)` for a signal number outside 1..=64,
    /// which Linux does not report.
    fn try_from(info: WaitInfo) -> Result<ChildEvent> {
        let signal = || Signal::new(info.status).ok_or(Error::Os(Errno::EPROTO));
        let status = match info.code {
            WaitCode::Exited => ChildStatus::Exited(info.status),
            WaitCode::Killed | WaitCode::Dumped => ChildStatus::Killed {
                signal: signal()?,
                core_dumped: info.code == WaitCode::Dumped,
            },
            WaitCode::Stopped => ChildStatus::Stopped(signal()?),
            WaitCode::Trapped => ChildStatus::Trapped(signal()?),
            WaitCode::Continued => ChildStatus::Continued,
        };
        Ok(ChildEvent {
            pid: info.pid,
            uid: info.uid,
            status,
        })
    }
}

/// `SIGKILL` and `SIGSTOP`, whose dispositions cannot change.
const FIXED_DISPOSITION: [i32; 2] = [9, 19];

/// In the child, before `execve`: every signal's disposition back to the
/// default, then an empty signal mask. Dispositions first, so that a
/// signal that arrives once the mask opens finds no handler of the
/// parent's. (A handler would be reset by `execve` anyway; an ignored
/// signal and the mask are inherited, which is what this undoes.)
fn reset_signals() -> io::Result<()> {
    for sig in 1..=64 {
        if !FIXED_DISPOSITION.contains(&sig) {
            rt_sigaction(sig, Some(SigDisposition::Default)).map_err(errno_io)?;
        }
    }
    rt_sigprocmask(SigHow::SetMask, Some(&0)).map_err(errno_io)?;
    Ok(())
}

/// An errno as the `io::Error` `pre_exec` reports (no allocation).
fn errno_io(e: Errno) -> io::Error {
    io::Error::from_raw_os_error(e.raw())
}

/// A std spawn error as iofd's: the OS error it carries, or
/// `InvalidParam` for std's own refusals (a NUL byte in an argument).
fn spawn_error(e: &io::Error) -> Error {
    match e.raw_os_error().and_then(Errno::from_raw) {
        Some(errno) => Error::from(errno),
        None => Error::InvalidParam("the command cannot be spawned (a NUL byte in it?)"),
    }
}

impl PidFd {
    /// Spawns `cmd` and returns the child together with a non-blocking
    /// pidfd for it, with the child's signal state clean: every signal's
    /// disposition back to the default and its signal mask empty before it
    /// runs the program.
    ///
    /// # Why the clean signal state
    ///
    /// A child inherits its parent's signal mask and ignored signals across
    /// `execve`. A program that blocks `SIGTERM` to read it from a
    /// [`SignalFd`](super::SignalFd) (as it must) and then spawns with
    /// `std::process::Command` gets children that block `SIGTERM` too:
    /// [`send_signal`](PidFd::send_signal)`(Signal::TERM)` then does
    /// nothing. This resets both in the child (through a `pre_exec` hook of
    /// raw syscalls), whatever the parent's state.
    ///
    /// # The pidfd
    ///
    /// The pidfd is opened right after the fork, before this call returns.
    /// Until it is reaped a child keeps its pid, and only a wait in this
    /// process can reap it: the pidfd names this child unless another
    /// thread reaps *any* child (`waitid(P_ALL)`, `waitpid(-1)`) in that
    /// window, or `SIGCHLD` is ignored (children are then reaped by the
    /// kernel and cannot be waited for). The pidfd is checked to name a
    /// child of this process, else the spawn fails with `Os(ECHILD)`.
    ///
    /// Reap the child through the pidfd ([`PidFd::try_wait`], the ring's
    #[doc = ring_link!("", "`wait_op`", "PidFd::wait_op", ") *or* through the `Child`, not both.")]
    ///
    /// The hook makes std fork rather than use `posix_spawn`: starting and
    /// reaping `/bin/true` measured 1.24x std's plain spawn (BENCHMARKS.md,
    /// "Processes"), more in a parent with much memory mapped.
    /// Each call adds one `pre_exec` hook to `cmd`: spawn a fresh
    /// `Command` each time rather than one reused thousands of times.
    ///
    /// # Errors
    ///
    /// The spawn's own, as the OS reported them (`Os(ENOENT)` for a
    /// program that does not exist, `Os(EACCES)`, [`Error::NoMemory`]);
    /// [`Error::InvalidParam`] for what std refuses before any syscall (a
    /// NUL byte in an argument); `Os(EMFILE)`/`Os(ENFILE)` when no
    /// descriptor is free for the pidfd, after which the child is killed
    /// and reaped, not left running; `Os(ECHILD)` or `Os(ESRCH)` when
    /// something else reaped it first (see above).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::process::Command;
    /// use iofd::{PidFd, SigSet, Signal};
    ///
    /// // Block SIGTERM here (for a SignalFd, say): the child still gets it.
    /// let old = SigSet::empty().with(Signal::TERM).block_thread()?;
    /// let (_child, pidfd) = PidFd::spawn(Command::new("sleep").arg("30"))?;
    /// pidfd.send_signal(Signal::TERM)?;
    /// let status = loop {
    ///     if let Some(status) = pidfd.try_wait()? {
    ///         break status;
    ///     }
    ///     std::thread::sleep(std::time::Duration::from_millis(2));
    /// };
    /// use std::os::unix::process::ExitStatusExt;
    /// assert_eq!(status.signal(), Some(Signal::TERM.number()));
    /// old.set_thread_mask()?;
    /// # Ok::<(), iofd::Error>(())
    /// ```
    pub fn spawn(cmd: &mut Command) -> Result<(Child, PidFd)> {
        // SAFETY: `reset_signals` is async-signal-safe: raw syscalls
        // through the syscall core, no allocation on its success path (an
        // `io::Error` from a raw OS error does not allocate), no lock.
        unsafe { cmd.pre_exec(reset_signals) };
        let mut child = cmd.spawn().map_err(|e| spawn_error(&e))?;
        match PidFd::open(child.id()).and_then(|p| p.check_child().map(|()| p)) {
            Ok(pidfd) => Ok((child, pidfd)),
            Err(e) => {
                // The child is ours until reaped: stop it rather than leave
                // it unsupervised (both fail harmlessly if it is gone).
                let _ = child.kill();
                let _ = child.wait();
                Err(e)
            }
        }
    }

    /// Checks that the pidfd names a child of this process that has not
    /// been reaped: a wait that peeks (`WNOHANG | WNOWAIT`) finds it.
    pub(crate) fn check_child(&self) -> Result<()> {
        let fd = self.borrow_fd()?;
        let any = WaitOptions::EXITED
            | WaitOptions::STOPPED
            | WaitOptions::CONTINUED
            | WaitOptions::NOHANG
            | WaitOptions::NOWAIT;
        process::waitid(WaitId::PidFd(fd), any)?;
        Ok(())
    }
}
