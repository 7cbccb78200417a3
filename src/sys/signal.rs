//! Signal masks, dispositions and signalfd: `rt_sigprocmask`,
//! `rt_sigaction`, `signalfd4`.
//!
//! Signal sets cross this layer as a plain `u64` in the kernel's layout for
//! x86_64 (`sizeof(sigset_t)` is 8): bit `n - 1` stands for signal `n`.
//!
//! # Safety
//!
//! Every call here passes the kernel pointers to live `u64` masks for the
//! length of the call only. `signalfd4` returns a new descriptor when asked
//! to create one, which becomes an [`OwnedFd`]; when asked to update an
//! existing one it returns that descriptor's number again, which is never
//! wrapped a second time.
#![expect(
    unsafe_code,
    reason = "signal calls take pointers to live masks and return new descriptors"
)]

use std::os::fd::{BorrowedFd, OwnedFd};

use bitflags::bitflags;

use super::{Errno, nr, owned_fd, syscall4};

/// `sizeof(sigset_t)` as the x86_64 kernel expects it.
const SIGSET_SIZE: usize = size_of::<u64>();

/// Signals 32 and 33, which glibc keeps for itself (`SIGCANCEL` for thread
/// cancellation, `SIGSETXID` to run `setuid`/`setgid` on every thread).
/// Blocking them in one thread makes `setuid` in another hang forever, so
/// glibc's `sigprocmask` never blocks them, and neither does this one.
pub const LIBC_RESERVED: u64 = (1 << 31) | (1 << 32);

/// What `rt_sigprocmask` does with its set (`SIG_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SigHow {
    /// `SIG_BLOCK`: add the set to the blocked signals.
    Block = 0,
    /// `SIG_UNBLOCK`: remove the set from the blocked signals.
    Unblock = 1,
    /// `SIG_SETMASK`: the set becomes the blocked signals.
    SetMask = 2,
}

bitflags! {
    /// Flags of `signalfd4` (`SFD_*`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct SignalFdFlags: u32 {
        /// `SFD_NONBLOCK`: reads fail with `EAGAIN` instead of blocking.
        const NONBLOCK = 0o4000;
        /// `SFD_CLOEXEC`: the descriptor is close-on-exec.
        const CLOEXEC = 0o2000000;
    }
}

/// `rt_sigprocmask(how, set, oldset, 8)` — changes the calling *thread's*
/// blocked signals as `how` says (or only reads them, with `set: None`) and
/// returns the mask as it was before. Other threads' masks are untouched.
/// The kernel silently keeps `SIGKILL` and `SIGSTOP` unblocked, and this
/// wrapper keeps the C library's signals 32 and 33 ([`LIBC_RESERVED`])
/// unblocked with [`SigHow::Block`] and [`SigHow::SetMask`], as glibc does.
///
/// # Errors
///
/// None reachable through this signature: the kernel's `EINVAL` (an unknown
/// `how`, a wrong set size) and `EFAULT` (a bad pointer) cannot be expressed.
/// The `Result` keeps the shape of every other wrapper.
///
/// See [rt_sigprocmask(2)](https://man7.org/linux/man-pages/man2/rt_sigprocmask.2.html).
#[inline]
pub fn rt_sigprocmask(how: SigHow, set: Option<&u64>) -> Result<u64, Errno> {
    let mut old: u64 = 0;
    let filtered = match how {
        SigHow::Unblock => set.copied(),
        SigHow::Block | SigHow::SetMask => set.map(|s| s & !LIBC_RESERVED),
    };
    // SAFETY: `filtered` is null or a live `u64` the kernel reads; `old` is a
    // writable `u64`; both are used during the call only.
    unsafe {
        syscall4(
            nr::RT_SIGPROCMASK,
            (how as u32).into(),
            filtered.as_ref().into(),
            (&mut old).into(),
            SIGSET_SIZE.into(),
        )?;
    }
    Ok(old)
}

/// What the process does with a signal: its disposition, as
/// `rt_sigaction` reports and sets it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SigDisposition {
    /// `SIG_DFL`: the signal's default action (terminate, stop, ignore...).
    Default,
    /// `SIG_IGN`: the signal is discarded. An ignored signal stays ignored
    /// across `execve`, unlike a handler.
    Ignore,
    /// A handler function at this address (only reported: this layer sets
    /// no handlers, which would need a signal-return trampoline).
    Handler(usize),
}

/// The kernel's `struct sigaction` for x86_64 (`kernel_sigaction`).
#[repr(C)]
struct KernelSigaction {
    handler: usize,
    flags: u64,
    restorer: usize,
    mask: u64,
}

/// `rt_sigaction(sig, act, oldact, 8)` — sets signal `sig`'s disposition
/// to `set` ([`Default`](SigDisposition::Default) or
/// [`Ignore`](SigDisposition::Ignore), with no flags and an empty mask),
/// or only reads it with `set: None`, and returns the disposition as it
/// was. Dispositions are process-wide.
///
/// Only raw syscalls, no allocation: it may be called between `fork` and
/// `execve` (in a `pre_exec` hook).
///
/// # Errors
///
/// `EINVAL` for a signal outside 1..=64, for setting `SIGKILL` or
/// `SIGSTOP`, and for `set: Some(Handler(_))`, which this layer does not
/// install.
///
/// See [rt_sigaction(2)](https://man7.org/linux/man-pages/man2/rt_sigaction.2.html).
#[inline]
pub fn rt_sigaction(sig: i32, set: Option<SigDisposition>) -> Result<SigDisposition, Errno> {
    /// `SIG_DFL` and `SIG_IGN` as handler values.
    const SIG_DFL: usize = 0;
    const SIG_IGN: usize = 1;
    if !(1..=64).contains(&sig) {
        return Err(Errno::EINVAL);
    }
    let act = match set {
        None => None,
        Some(SigDisposition::Default) => Some(SIG_DFL),
        Some(SigDisposition::Ignore) => Some(SIG_IGN),
        Some(SigDisposition::Handler(_)) => return Err(Errno::EINVAL),
    }
    .map(|handler| KernelSigaction {
        handler,
        flags: 0,
        restorer: 0,
        mask: 0,
    });
    let mut old = KernelSigaction {
        handler: 0,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    // SAFETY: `act` is None or a live `KernelSigaction` the kernel
    // reads; `old` is a writable one; both only during the call. Only
    // `SIG_DFL` and `SIG_IGN` are installed, which need no restorer.
    unsafe {
        syscall4(
            nr::RT_SIGACTION,
            sig.into(),
            act.as_ref().into(),
            (&mut old).into(),
            SIGSET_SIZE.into(),
        )?;
    }
    Ok(match old.handler {
        SIG_DFL => SigDisposition::Default,
        SIG_IGN => SigDisposition::Ignore,
        addr => SigDisposition::Handler(addr),
    })
}

/// `signalfd4(-1, mask, 8, flags)` — creates a signalfd that reads the
/// signals in `mask` as 128-byte `signalfd_siginfo` records. The signals
/// must also be blocked (see [`rt_sigprocmask`]) or they are delivered the
/// usual way first. A read dequeues signals pending for the process and for
/// the *reading* thread. The kernel drops `SIGKILL` and `SIGSTOP` from
/// `mask`.
///
/// # Errors
///
/// `EINVAL` for an unknown flag; `EMFILE`/`ENFILE` when out of descriptors;
/// `ENOMEM`.
///
/// See [signalfd4(2)](https://man7.org/linux/man-pages/man2/signalfd4.2.html).
#[inline]
pub fn signalfd4(mask: u64, flags: SignalFdFlags) -> Result<OwnedFd, Errno> {
    // SAFETY: `mask` is a live `u64` the kernel reads during the call; with
    // fd -1 the call returns a new descriptor.
    unsafe {
        let r = syscall4(
            nr::SIGNALFD4,
            (-1isize).into(),
            (&mask).into(),
            SIGSET_SIZE.into(),
            flags.bits().into(),
        )?;
        Ok(owned_fd(r))
    }
}

/// `signalfd4(fd, mask, 8, 0)` — replaces the mask of an existing signalfd.
/// The kernel returns `fd`'s own number, which is discarded (the caller
/// already owns that descriptor); the descriptor's flags are unchanged.
///
/// # Errors
///
/// `EINVAL` when `fd` is not a signalfd; `EBADF`.
///
/// See [signalfd4(2)](https://man7.org/linux/man-pages/man2/signalfd4.2.html).
#[inline]
#[doc(alias = "signalfd4")]
pub fn signalfd4_update(fd: BorrowedFd<'_>, mask: u64) -> Result<(), Errno> {
    // SAFETY: `mask` is a live `u64` the kernel reads during the call; the
    // returned number is `fd` itself and is not taken ownership of.
    unsafe {
        syscall4(
            nr::SIGNALFD4,
            fd.into(),
            (&mask).into(),
            SIGSET_SIZE.into(),
            0usize.into(),
        )
    }
    .map(drop)
}
