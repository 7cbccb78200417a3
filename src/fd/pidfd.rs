//! `PidFd`: a stable, race-free reference to one process.

use std::os::fd::RawFd;
use std::process::ExitStatus;

use super::{Fd, Signal, handle_impls};
use crate::error::{Error, Result};
use crate::sys::Errno;
use crate::sys::process::{self, PidFdFlags, WaitId, WaitOptions};

/// A process descriptor (`pidfd`): a handle on one process that stays
/// attached to it even after its pid number is reused.
///
/// A pid is only a number, and once a process exits and is reaped the
/// kernel may hand the same number to a new process: a `kill(pid, ...)`
/// made a moment too late signals a stranger. A pidfd instead refers to the
/// process itself. Signals sent through it reach that process or fail with
/// `ESRCH`; it becomes readable (pollable, for epoll or io_uring) when the
/// process exits; a parent can reap its child through it
/// ([`try_wait`](PidFd::try_wait)); and with ptrace access it can copy a
/// descriptor out of the process ([`get_fd`](PidFd::get_fd)).
///
/// [`open`](PidFd::open) makes a non-blocking, close-on-exec pidfd (a wait
/// on a running child returns at once); [`open_blocking`](PidFd::open_blocking)
/// a blocking one, for [`wait`](PidFd::wait).
///
/// # Examples
///
/// ```
/// use std::process::Command;
/// use iofd::{PidFd, Signal};
///
/// let child = Command::new("sleep").arg("30").spawn()?;
/// let pidfd = PidFd::open(child.id())?;
/// assert_eq!(pidfd.pid(), child.id());
/// assert_eq!(pidfd.try_wait()?, None); // still running
///
/// pidfd.send_signal(Signal::KILL)?;
/// let status = loop {
///     if let Some(status) = pidfd.try_wait()? {
///         break status; // reaped through the pidfd: do not also `child.wait()`
///     }
///     std::thread::sleep(std::time::Duration::from_millis(5));
/// };
/// use std::os::unix::process::ExitStatusExt;
/// assert_eq!(status.signal(), Some(Signal::KILL.number()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct PidFd {
    fd: Fd,
    pid: u32,
}

impl PidFd {
    /// `pidfd_open(pid, PIDFD_NONBLOCK)` — opens a non-blocking,
    /// close-on-exec descriptor for process `pid` (a thread group leader).
    ///
    /// Non-blocking means [`wait`](PidFd::wait) on a running child returns
    /// [`Error::WouldBlock`] instead of sleeping.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidParam`] for pid 0 or a pid above `i32::MAX`,
    ///   before any syscall.
    /// - `Os(ESRCH)` when no such process exists. For a pid that names a
    ///   thread but not a thread group leader, or a process that is just
    ///   exiting, the kernel answers `EINVAL` (or, since Linux 6.9,
    ///   `ENOENT`): that too is reported as `Os(ESRCH)`, since the
    ///   parameter itself was well formed.
    /// - `Os(EMFILE)`/`Os(ENFILE)` when no descriptor is free;
    ///   [`Error::NoMemory`].
    ///
    /// See [pidfd_open(2)](https://man7.org/linux/man-pages/man2/pidfd_open.2.html).
    pub fn open(pid: u32) -> Result<PidFd> {
        PidFd::open_with(pid, PidFdFlags::NONBLOCK)
    }

    /// `pidfd_open(pid, 0)` — as [`open`](PidFd::open), but blocking:
    /// [`wait`](PidFd::wait) sleeps until the child exits.
    ///
    /// # Errors
    ///
    /// As [`open`](PidFd::open).
    ///
    /// See [pidfd_open(2)](https://man7.org/linux/man-pages/man2/pidfd_open.2.html).
    pub fn open_blocking(pid: u32) -> Result<PidFd> {
        PidFd::open_with(pid, PidFdFlags::empty())
    }

    fn open_with(pid: u32, flags: PidFdFlags) -> Result<PidFd> {
        if pid == 0 {
            return Err(Error::InvalidParam("pid 0 names no process"));
        }
        if pid > i32::MAX as u32 {
            return Err(Error::InvalidParam("pid above i32::MAX"));
        }
        match process::pidfd_open(pid, flags) {
            Ok(fd) => Ok(PidFd {
                fd: Fd::from(fd),
                pid,
            }),
            // The flags and the pid's range are valid, so EINVAL (older
            // kernels) or ENOENT (6.9 and later) means the pid is not, or
            // no longer, a thread group leader: no such process.
            Err(Errno::EINVAL | Errno::ENOENT) => Err(Error::Os(Errno::ESRCH)),
            Err(e) => Err(e.into()),
        }
    }

    /// Rebuilds the handle around a pidfd, reading the pid back from the
    /// `Pid:` line of `/proc/self/fdinfo` (0 when unknown).
    fn from_fd(fd: Fd) -> PidFd {
        let pid = fd
            .borrow()
            .ok()
            .and_then(|b| super::fdinfo_field(b, "Pid"))
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0);
        PidFd { fd, pid }
    }

    /// The process id this handle was opened for (no syscall).
    ///
    /// For a handle rebuilt from a raw or owned descriptor, the pid is read
    /// from `/proc/self/fdinfo`; it is 0 when the kernel does not report it:
    /// the process was already reaped (the kernel prints `-1`) or lives in
    /// a pid namespace this process cannot see.
    #[inline]
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The descriptor, borrowed; [`Error::Closed`] once closed.
    pub(crate) fn borrow_fd(&self) -> Result<std::os::fd::BorrowedFd<'_>> {
        self.fd.borrow()
    }

    /// Makes the pidfd blocking or not (`O_NONBLOCK`, on its open file
    /// description: every duplicate of it changes too). A blocking pidfd
    /// lets [`wait`](PidFd::wait) sleep, and lets the ring wait by pidfd
    /// for stops and continues
    #[doc = ring_link!("(", "`wait_child_op`", "PidFd::wait_child_op", "); on a non-blocking one")]
    /// the kernel turns every wait by pidfd into `WNOHANG`.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`].
    pub fn set_nonblocking(&self, nonblocking: bool) -> Result<()> {
        self.fd.set_nonblocking(nonblocking)
    }

    /// Whether the pidfd is non-blocking (`O_NONBLOCK`): one `fcntl`.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`].
    pub fn is_nonblocking(&self) -> Result<bool> {
        self.fd.is_nonblocking()
    }

    /// `pidfd_send_signal(pidfd, sig, NULL, 0)` — sends `sig` to the
    /// process, as `kill(pid, sig)` would, but never to a process that
    /// reused its pid.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`]; `Os(ESRCH)` once the process has been reaped (an
    /// exited but unreaped zombie still accepts, and ignores, signals);
    /// [`Error::Permission`] without permission to signal it.
    ///
    /// See [pidfd_send_signal(2)](https://man7.org/linux/man-pages/man2/pidfd_send_signal.2.html).
    #[inline]
    pub fn send_signal(&self, sig: Signal) -> Result<()> {
        let fd = self.fd.borrow()?;
        Ok(process::pidfd_send_signal(fd, sig.number())?)
    }

    /// `pidfd_send_signal(pidfd, sig, NULL, PIDFD_SIGNAL_PROCESS_GROUP)` —
    /// sends `sig` to every process in the process group this process
    /// leads (whose id is its pid), as `killpg(pid, sig)` would, but
    /// through the pidfd. A supervisor that starts each child in a group
    /// of its own (`CommandExt::process_group(0)`) reaches what the child
    /// started too, such as the program a `sh -c` runs.
    ///
    /// # Errors
    ///
    /// As [`send_signal`](PidFd::send_signal); `Os(ESRCH)` when the
    /// process leads no group (no process has its pid as group id) and
    /// once it is reaped; [`Error::InvalidParam`] (the kernel's `EINVAL`)
    /// before Linux 6.9, which lacks the flag.
    ///
    /// See [pidfd_send_signal(2)](https://man7.org/linux/man-pages/man2/pidfd_send_signal.2.html).
    #[inline]
    pub fn send_signal_group(&self, sig: Signal) -> Result<()> {
        let fd = self.fd.borrow()?;
        Ok(process::pidfd_send_signal_to(
            fd,
            sig.number(),
            process::PidFdSignal::PROCESS_GROUP,
        )?)
    }

    /// `pidfd_getfd(pidfd, target, 0)` — duplicates descriptor `target` of
    /// the process into this one, as a new close-on-exec [`Fd`] sharing the
    /// same open file. The target process's descriptor is left alone.
    ///
    /// This needs ptrace access to the process (the same user and no
    /// elevated privileges on its side, or `CAP_SYS_PTRACE`).
    ///
    /// # Errors
    ///
    /// [`Error::Closed`], also when the handle was closed while the copy
    /// was being made; `Os(EBADF)` when `target` is not open in the
    /// process; [`Error::Permission`] without ptrace access to it;
    /// `Os(ESRCH)` when it has exited; `Os(EMFILE)` when this process has no
    /// free descriptor.
    ///
    /// See [pidfd_getfd(2)](https://man7.org/linux/man-pages/man2/pidfd_getfd.2.html).
    pub fn get_fd(&self, target: RawFd) -> Result<Fd> {
        let copy = process::pidfd_getfd(self.fd.borrow()?, target);
        super::unless_closed(&self.fd, copy).map(Fd::from)
    }

    /// `waitid(P_PIDFD, pidfd, WEXITED | WNOHANG)` — reaps the process if it
    /// has terminated and returns how; `Ok(None)` while it still runs.
    ///
    /// Only a child of this process can be waited for. Once this returns
    /// `Some`, the child is reaped: do not also wait for it through
    /// [`std::process::Child::wait`] (its pid may already belong to someone
    /// else).
    ///
    /// # Errors
    ///
    /// [`Error::Closed`]; `Os(ECHILD)` when the process is not a child of
    /// this one, or was already reaped.
    ///
    /// See [waitid(2)](https://man7.org/linux/man-pages/man2/waitid.2.html).
    pub fn try_wait(&self) -> Result<Option<ExitStatus>> {
        let fd = self.fd.borrow()?;
        let info = process::waitid(WaitId::PidFd(fd), WaitOptions::EXITED | WaitOptions::NOHANG)?;
        match info {
            None => Ok(None),
            Some(info) => info.exit_status().map(Some).ok_or(Error::Os(Errno::EPROTO)),
        }
    }

    /// `waitid(P_PIDFD, pidfd, WEXITED)` — waits for the child to terminate,
    /// reaps it and returns how.
    ///
    /// It sleeps only on a handle from
    /// [`open_blocking`](PidFd::open_blocking); on a non-blocking handle
    /// from [`open`](PidFd::open) it returns [`Error::WouldBlock`] while the
    /// child runs. The same rules as [`try_wait`](PidFd::try_wait) apply:
    /// children only, and do not also wait through `std`.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`]; [`Error::WouldBlock`] on a non-blocking handle
    /// whose child still runs; [`Error::Interrupted`] when a signal handler
    /// ran; `Os(ECHILD)` when the process is not a child of this one, or was
    /// already reaped.
    ///
    /// See [waitid(2)](https://man7.org/linux/man-pages/man2/waitid.2.html).
    pub fn wait(&self) -> Result<ExitStatus> {
        let fd = self.fd.borrow()?;
        process::waitid(WaitId::PidFd(fd), WaitOptions::EXITED)?
            .and_then(|info| info.exit_status())
            .ok_or(Error::Os(Errno::EPROTO))
    }
}

handle_impls!(PidFd, PidFd::from_fd);
