//! Processes and threads: ids, `tgkill`, pidfds, `waitid` and CPU
//! affinity (`sched_setaffinity`, `sched_getaffinity`).
//!
//! # Safety
//!
//! The id getters take no arguments and cannot fail. `waitid` hands the
//! kernel a zeroed, correctly sized `siginfo_t` for the call only (no
//! `rusage`). The pidfd calls return new descriptors, wrapped as
//! [`OwnedFd`]s; `pidfd_getfd` duplicates a descriptor rather than taking
//! one over, so nothing another owner holds is closed or changed. Sending a
//! signal can end a process but touches no memory of ours.
#![expect(
    unsafe_code,
    reason = "waitid fills a live siginfo; pidfd calls return new descriptors"
)]

use std::os::fd::{BorrowedFd, OwnedFd, RawFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use bitflags::bitflags;

mod affinity;

pub use affinity::{CPU_SETSIZE, CpuOutOfRange, CpuSet, sched_getaffinity, sched_setaffinity};

use super::{A0, A1, ArgReg, Errno, arch, nr, owned_fd, syscall2, syscall3, syscall4, syscall5};

bitflags! {
    /// Flags of `pidfd_open`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct PidFdFlags: u32 {
        /// `PIDFD_NONBLOCK`: `waitid` on the pidfd fails with `EAGAIN`
        /// instead of blocking.
        const NONBLOCK = 0o4000;
        /// `PIDFD_THREAD`: the pidfd refers to a thread, not its thread
        /// group (Linux 6.9).
        const THREAD = 0o200;
    }
}

bitflags! {
    /// Options of `waitid` (`W*`). One of [`EXITED`](Self::EXITED),
    /// [`STOPPED`](Self::STOPPED) or [`CONTINUED`](Self::CONTINUED) is
    /// required.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct WaitOptions: u32 {
        /// `WNOHANG`: return at once when no child has changed state.
        const NOHANG = 1;
        /// `WSTOPPED`: report children stopped by a signal.
        const STOPPED = 2;
        /// `WUNTRACED`: the older name of `WSTOPPED`.
        const UNTRACED = 2;
        /// `WEXITED`: report children that terminated.
        const EXITED = 4;
        /// `WCONTINUED`: report stopped children resumed by `SIGCONT`.
        const CONTINUED = 8;
        /// `WNOWAIT`: leave the child waitable (do not reap it).
        const NOWAIT = 0x0100_0000;
        /// `__WNOTHREAD`: only children of the calling thread.
        const NOTHREAD = 0x2000_0000;
        /// `__WALL`: children of any kind, clone or not.
        const ALL = 0x4000_0000;
        /// `__WCLONE`: only "clone" children (no or another exit signal).
        const CLONE = 0x8000_0000;
    }
}

/// Which children `waitid` waits for (`idtype` and `id`).
#[derive(Clone, Copy, Debug)]
pub enum WaitId<'a> {
    /// `P_ALL`: any child. In a program that also uses
    /// `std::process::Child`, this reaps children `Child::wait` expects.
    All,
    /// `P_PID`: the child with this process id.
    Pid(u32),
    /// `P_PGID`: any child in this process group (0: the caller's).
    Pgid(u32),
    /// `P_PIDFD`: the child this pidfd refers to (Linux 5.4).
    PidFd(BorrowedFd<'a>),
}

/// `P_ALL`: `waitid`'s id type for any child.
pub const P_ALL: u32 = 0;
/// `P_PID`: `waitid`'s id type for one child by process id.
pub const P_PID: u32 = 1;
/// `P_PGID`: `waitid`'s id type for any child in a process group.
pub const P_PGID: u32 = 2;
/// `P_PIDFD`: `waitid`'s id type for the child a pidfd refers to.
pub const P_PIDFD: u32 = 3;

impl<'a> WaitId<'a> {
    /// The `(idtype, id)` arguments.
    #[inline(always)]
    fn args(self) -> (ArgReg<'a, A0>, ArgReg<'a, A1>) {
        match self {
            WaitId::All => (P_ALL.into(), 0u32.into()),
            WaitId::Pid(pid) => (P_PID.into(), pid.into()),
            WaitId::Pgid(pgid) => (P_PGID.into(), pgid.into()),
            WaitId::PidFd(fd) => (P_PIDFD.into(), fd.into()),
        }
    }
}

/// Why a child changed state: the `si_code` of its `SIGCHLD` (`CLD_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WaitCode {
    /// `CLD_EXITED`: it exited; the status is its exit code.
    Exited = 1,
    /// `CLD_KILLED`: a signal killed it; the status is the signal.
    Killed = 2,
    /// `CLD_DUMPED`: a signal killed it and it dumped core.
    Dumped = 3,
    /// `CLD_TRAPPED`: a traced child trapped; the status is the signal.
    Trapped = 4,
    /// `CLD_STOPPED`: a signal stopped it; the status is the signal.
    Stopped = 5,
    /// `CLD_CONTINUED`: `SIGCONT` resumed it.
    Continued = 6,
}

impl WaitCode {
    /// The code for a raw `si_code`, or `None` outside `CLD_*`.
    #[inline]
    pub const fn from_raw(code: i32) -> Option<WaitCode> {
        Some(match code {
            1 => WaitCode::Exited,
            2 => WaitCode::Killed,
            3 => WaitCode::Dumped,
            4 => WaitCode::Trapped,
            5 => WaitCode::Stopped,
            6 => WaitCode::Continued,
            _ => return None,
        })
    }
}

/// A child's change of state, decoded from the `siginfo_t` `waitid` fills.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WaitInfo {
    /// The child's process id (`si_pid`).
    pub pid: u32,
    /// The child's real user id (`si_uid`).
    pub uid: u32,
    /// What happened (`si_code`).
    pub code: WaitCode,
    /// The exit code, or the signal number for the other codes
    /// (`si_status`).
    pub status: i32,
}

impl WaitInfo {
    /// The termination as a std [`ExitStatus`], in the wait-status encoding
    /// `waitpid` would have reported; `None` unless the child terminated
    /// ([`Exited`](WaitCode::Exited), [`Killed`](WaitCode::Killed) or
    /// [`Dumped`](WaitCode::Dumped)).
    pub fn exit_status(&self) -> Option<ExitStatus> {
        let raw = match self.code {
            WaitCode::Exited => (self.status & 0xff) << 8,
            WaitCode::Killed => self.status & 0x7f,
            WaitCode::Dumped => (self.status & 0x7f) | 0x80,
            WaitCode::Trapped | WaitCode::Stopped | WaitCode::Continued => return None,
        };
        Some(ExitStatus::from_raw(raw))
    }
}

/// The kernel's `siginfo_t` as `waitid` (and io_uring's `IORING_OP_WAITID`)
/// fills it for `SIGCHLD`: 128 bytes, the `_sigchld` arm of the union at
/// offset 16. Start from [`SigInfoChld::zeroed`] and read it with
/// [`SigInfoChld::decode`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigInfoChld {
    signo: i32,
    errno: i32,
    code: i32,
    pad0: i32,
    pid: i32,
    uid: u32,
    status: i32,
    pad1: i32,
    utime: i64,
    stime: i64,
    rest: [u64; 10],
}

impl SigInfoChld {
    /// All zeroes: what `waitid` expects, so that "no child ready" (which
    /// leaves it untouched) reads as pid 0.
    #[inline]
    pub const fn zeroed() -> SigInfoChld {
        SigInfoChld {
            signo: 0,
            errno: 0,
            code: 0,
            pad0: 0,
            pid: 0,
            uid: 0,
            status: 0,
            pad1: 0,
            utime: 0,
            stime: 0,
            rest: [0; 10],
        }
    }

    /// The child state change it holds: `Ok(None)` when no child was
    /// ready (pid 0).
    ///
    /// # Errors
    ///
    /// `EPROTO` for a `si_code` outside `CLD_*`, which Linux does not report.
    #[inline]
    pub fn decode(&self) -> Result<Option<WaitInfo>, Errno> {
        if self.pid == 0 {
            return Ok(None);
        }
        let code = WaitCode::from_raw(self.code).ok_or(Errno::EPROTO)?;
        Ok(Some(WaitInfo {
            pid: self.pid as u32,
            uid: self.uid,
            code,
            status: self.status,
        }))
    }
}

/// `getpid()` — the calling process's id (its thread group id).
///
/// See [getpid(2)](https://man7.org/linux/man-pages/man2/getpid.2.html).
#[inline]
pub fn getpid() -> u32 {
    // SAFETY: getpid takes no arguments, touches no memory and cannot fail.
    unsafe { arch::raw0(nr::GETPID) }.into_usize() as u32
}

/// `getppid()` — the parent process's id.
///
/// See [getppid(2)](https://man7.org/linux/man-pages/man2/getppid.2.html).
#[inline]
pub fn getppid() -> u32 {
    // SAFETY: getppid takes no arguments, touches no memory and cannot fail.
    unsafe { arch::raw0(nr::GETPPID) }.into_usize() as u32
}

/// `gettid()` — the calling thread's id.
///
/// See [gettid(2)](https://man7.org/linux/man-pages/man2/gettid.2.html).
#[inline]
pub fn gettid() -> u32 {
    // SAFETY: gettid takes no arguments, touches no memory and cannot fail.
    unsafe { arch::raw0(nr::GETTID) }.into_usize() as u32
}

/// `getuid()` — the calling process's real user id.
///
/// See [getuid(2)](https://man7.org/linux/man-pages/man2/getuid.2.html).
#[inline]
pub fn getuid() -> u32 {
    // SAFETY: getuid takes no arguments, touches no memory and cannot fail.
    unsafe { arch::raw0(nr::GETUID) }.into_usize() as u32
}

/// `tgkill(tgid, tid, sig)` — sends `sig` to thread `tid` of thread group
/// `tgid`; signal 0 only checks that the thread exists.
///
/// # Errors
///
/// `EINVAL` for an invalid signal or a non-positive id; `ESRCH` when no such
/// thread is in that group; `EPERM` without permission.
///
/// See [tgkill(2)](https://man7.org/linux/man-pages/man2/tgkill.2.html).
#[inline]
pub fn tgkill(tgid: u32, tid: u32, sig: i32) -> Result<(), Errno> {
    // SAFETY: tgkill touches no user memory.
    unsafe { syscall3(nr::TGKILL, tgid.into(), tid.into(), sig.into()) }.map(drop)
}

/// `pidfd_open(pid, flags)` — a close-on-exec descriptor referring to
/// process `pid`, immune to pid reuse.
///
/// # Errors
///
/// `ESRCH` when no such process exists; `EINVAL` for an unknown flag or a
/// non-positive pid (or, without [`PidFdFlags::THREAD`], a pid that is not a
/// thread group leader); `EMFILE`/`ENFILE`.
///
/// See [pidfd_open(2)](https://man7.org/linux/man-pages/man2/pidfd_open.2.html).
#[inline]
pub fn pidfd_open(pid: u32, flags: PidFdFlags) -> Result<OwnedFd, Errno> {
    // SAFETY: pidfd_open touches no user memory and returns a new
    // descriptor.
    unsafe {
        let r = syscall2(nr::PIDFD_OPEN, pid.into(), flags.bits().into())?;
        Ok(owned_fd(r))
    }
}

/// `pidfd_send_signal(pidfd, sig, NULL, 0)` — sends `sig` to the process the
/// pidfd refers to, as `kill` would; signal 0 only checks that it lives.
///
/// # Errors
///
/// `EBADF` when `pidfd` is not a pidfd; `ESRCH` when the process has exited;
/// `EINVAL` for an invalid signal; `EPERM` without permission.
///
/// See [pidfd_send_signal(2)](https://man7.org/linux/man-pages/man2/pidfd_send_signal.2.html).
#[inline]
pub fn pidfd_send_signal(pidfd: BorrowedFd<'_>, sig: i32) -> Result<(), Errno> {
    // SAFETY: with a null `info` the kernel reads no user memory.
    unsafe {
        syscall4(
            nr::PIDFD_SEND_SIGNAL,
            pidfd.into(),
            sig.into(),
            ArgReg::NULL,
            0usize.into(),
        )
    }
    .map(drop)
}

bitflags! {
    /// Flags of `pidfd_send_signal` (`PIDFD_SIGNAL_*`, Linux 6.9): whom
    /// the signal goes to. At most one; none means what the pidfd names.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct PidFdSignal: u32 {
        /// `PIDFD_SIGNAL_THREAD`: the thread the pidfd names only.
        const THREAD = 1;
        /// `PIDFD_SIGNAL_THREAD_GROUP`: the whole thread group (process).
        const THREAD_GROUP = 2;
        /// `PIDFD_SIGNAL_PROCESS_GROUP`: every process in the process
        /// group the named process leads (whose id is its pid), as
        /// `killpg` would; `ESRCH` when it leads none.
        const PROCESS_GROUP = 4;
    }
}

/// `pidfd_send_signal(pidfd, sig, NULL, flags)` — as
/// [`pidfd_send_signal`], to whom `flags` says.
///
/// # Errors
///
/// As [`pidfd_send_signal`]; `EINVAL` for more than one flag, or any flag
/// before Linux 6.9.
///
/// See [pidfd_send_signal(2)](https://man7.org/linux/man-pages/man2/pidfd_send_signal.2.html).
#[inline]
#[doc(alias = "pidfd_send_signal")]
pub fn pidfd_send_signal_to(
    pidfd: BorrowedFd<'_>,
    sig: i32,
    flags: PidFdSignal,
) -> Result<(), Errno> {
    // SAFETY: with a null `info` the kernel reads no user memory.
    unsafe {
        syscall4(
            nr::PIDFD_SEND_SIGNAL,
            pidfd.into(),
            sig.into(),
            ArgReg::NULL,
            flags.bits().into(),
        )
    }
    .map(drop)
}

/// `pidfd_getfd(pidfd, target, 0)` — a close-on-exec duplicate, in this
/// process, of descriptor `target` of the process `pidfd` refers to.
///
/// # Errors
///
/// `EBADF` when `pidfd` is not a pidfd or `target` is not open in that
/// process; `EPERM` without ptrace access to it; `ESRCH` when it has exited;
/// `EMFILE`.
///
/// See [pidfd_getfd(2)](https://man7.org/linux/man-pages/man2/pidfd_getfd.2.html).
#[inline]
pub fn pidfd_getfd(pidfd: BorrowedFd<'_>, target: RawFd) -> Result<OwnedFd, Errno> {
    // SAFETY: pidfd_getfd touches no user memory and returns a new
    // descriptor (a duplicate; `target` itself is left alone).
    unsafe {
        let r = syscall3(nr::PIDFD_GETFD, pidfd.into(), target.into(), 0usize.into())?;
        Ok(owned_fd(r))
    }
}

/// `waitid(idtype, id, &info, options, NULL)` — waits for a child to change
/// state and reports how; with [`WaitOptions::NOHANG`], `Ok(None)` when no
/// matching child has changed state yet. A terminated child is reaped
/// unless [`WaitOptions::NOWAIT`] is set: do not also `wait` on a
/// `std::process::Child` reaped here.
///
/// On a pidfd opened with [`PidFdFlags::NONBLOCK`], a child that has not
/// changed state makes the call fail with `EAGAIN` (unless `NOHANG` is
/// given, which returns `Ok(None)`).
///
/// # Errors
///
/// `ECHILD` when the id names no child of the caller; `EINVAL` for options
/// with none of `EXITED`/`STOPPED`/`CONTINUED`, an unknown option or a bad
/// id; `EBADF` for a bad pidfd; `EAGAIN` as above; `EINTR`. A `si_code`
/// outside `CLD_*`, which Linux does not report, is `EPROTO`.
///
/// See [waitid(2)](https://man7.org/linux/man-pages/man2/waitid.2.html).
#[inline]
pub fn waitid(id: WaitId<'_>, options: WaitOptions) -> Result<Option<WaitInfo>, Errno> {
    let mut info = SigInfoChld::zeroed();
    let (idtype, id) = id.args();
    // SAFETY: `info` is a writable, zeroed 128-byte `siginfo_t` for the call;
    // the `rusage` pointer is null.
    unsafe {
        syscall5(
            nr::WAITID,
            idtype,
            id,
            (&mut info).into(),
            options.bits().into(),
            ArgReg::NULL,
        )?;
    }
    info.decode()
}

#[cfg(test)]
mod tests {
    use std::mem::offset_of;

    use super::{SigInfoChld, WaitCode, WaitInfo};

    #[test]
    fn siginfo_has_the_kernel_layout() {
        assert_eq!(size_of::<SigInfoChld>(), 128);
        assert_eq!(offset_of!(SigInfoChld, code), 8);
        assert_eq!(offset_of!(SigInfoChld, pid), 16);
        assert_eq!(offset_of!(SigInfoChld, uid), 20);
        assert_eq!(offset_of!(SigInfoChld, status), 24);
        assert_eq!(offset_of!(SigInfoChld, utime), 32);
        assert_eq!(offset_of!(SigInfoChld, stime), 40);
    }

    #[test]
    fn exit_status_uses_the_wait_encoding() {
        use std::os::unix::process::ExitStatusExt;
        let info = |code, status| WaitInfo {
            pid: 1,
            uid: 0,
            code,
            status,
        };
        let exited = info(WaitCode::Exited, 3).exit_status();
        assert_eq!(exited.and_then(|s| s.code()), Some(3));
        let killed = info(WaitCode::Killed, 9).exit_status();
        assert_eq!(killed.and_then(|s| s.signal()), Some(9));
        let dumped = info(WaitCode::Dumped, 11).exit_status();
        assert_eq!(
            dumped.map(|s| (s.signal(), s.core_dumped())),
            Some((Some(11), true))
        );
        assert_eq!(info(WaitCode::Stopped, 19).exit_status(), None);
        assert_eq!(WaitCode::from_raw(7), None);
    }
}
