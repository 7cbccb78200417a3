//! Readiness: `epoll_create1`, `epoll_ctl`, `epoll_pwait`, `ppoll`.
//!
//! # Safety
//!
//! Every call passes the kernel pointers to live Rust values — an
//! `EpollEvent`, a slice of them, a slice of `PollFd`s, a `Timespec` — for
//! the length of the call only. `epoll_ctl` names descriptors the caller
//! borrows; the epoll instance keeps a reference to the open file, not to
//! the number, and drops it when the file is released.
#![expect(
    unsafe_code,
    reason = "epoll and ppoll take pointers to live events, descriptors and a timeout"
)]

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use bitflags::bitflags;

use super::time::Timespec;
use super::{ArgReg, Errno, nr, owned_fd, syscall1, syscall4, syscall5, syscall6};

bitflags! {
    /// Readiness events (`EPOLL*`, the same bits as `POLL*`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct Events: u32 {
        /// `EPOLLIN`/`POLLIN`: readable.
        const IN = 0x001;
        /// `EPOLLPRI`/`POLLPRI`: exceptional condition.
        const PRI = 0x002;
        /// `EPOLLOUT`/`POLLOUT`: writable.
        const OUT = 0x004;
        /// `EPOLLERR`/`POLLERR`: error (always reported).
        const ERR = 0x008;
        /// `EPOLLHUP`/`POLLHUP`: hang-up (always reported).
        const HUP = 0x010;
        /// `POLLNVAL`: `ppoll` only — the descriptor is not open.
        const NVAL = 0x020;
        /// `EPOLLRDHUP`/`POLLRDHUP`: the peer shut down writing.
        const RDHUP = 0x2000;
        /// `EPOLLEXCLUSIVE`: wake only one of several epoll instances.
        const EXCLUSIVE = 1 << 28;
        /// `EPOLLONESHOT`: disable the entry after one event.
        const ONESHOT = 1 << 30;
        /// `EPOLLET`: edge-triggered.
        const ET = 1 << 31;
    }
}

bitflags! {
    /// The `poll(2)` events an io_uring poll (`IORING_OP_POLL_ADD`) waits
    /// for and reports: [`Events`] without the bits only epoll knows.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct PollFlags: u32 {
        /// `POLLIN`: readable.
        const IN = Events::IN.bits();
        /// `POLLPRI`: exceptional condition.
        const PRI = Events::PRI.bits();
        /// `POLLOUT`: writable.
        const OUT = Events::OUT.bits();
        /// `POLLERR`: error (always reported).
        const ERR = Events::ERR.bits();
        /// `POLLHUP`: hang-up (always reported).
        const HUP = Events::HUP.bits();
        /// `POLLNVAL`: the descriptor is not open (reported).
        const NVAL = Events::NVAL.bits();
        /// `POLLRDHUP`: the peer shut down writing.
        const RDHUP = Events::RDHUP.bits();
    }
}

bitflags! {
    /// Flags of `epoll_create1`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct EpollFlags: u32 {
        /// `EPOLL_CLOEXEC`: the descriptor is close-on-exec.
        const CLOEXEC = 0o2000000;
    }
}

/// `struct epoll_event`: packed on x86_64 (12 bytes).
#[repr(C, packed)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EpollEvent {
    events: u32,
    data: u64,
}

impl EpollEvent {
    /// An event mask with the caller's 64-bit tag.
    #[inline]
    pub const fn new(events: Events, data: u64) -> EpollEvent {
        EpollEvent {
            events: events.bits(),
            data,
        }
    }

    /// The events that fired (or are watched).
    #[inline]
    pub fn events(&self) -> Events {
        Events::from_bits_retain(self.events)
    }

    /// The caller's tag.
    #[inline]
    pub fn data(&self) -> u64 {
        self.data
    }
}

/// `struct pollfd`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PollFd<'fd> {
    fd: i32,
    events: i16,
    revents: i16,
    _fd: std::marker::PhantomData<BorrowedFd<'fd>>,
}

impl<'fd> PollFd<'fd> {
    /// Watches `fd` for `events`.
    #[inline]
    pub fn new(fd: BorrowedFd<'fd>, events: Events) -> PollFd<'fd> {
        PollFd {
            fd: fd.as_raw_fd(),
            events: events.bits() as i16,
            revents: 0,
            _fd: std::marker::PhantomData,
        }
    }

    /// The events that fired at the last `ppoll`.
    #[inline]
    pub fn revents(&self) -> Events {
        Events::from_bits_retain(self.revents as u16 as u32)
    }
}

/// What `epoll_ctl` does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EpollOp {
    /// `EPOLL_CTL_ADD`.
    Add = 1,
    /// `EPOLL_CTL_DEL`.
    Del = 2,
    /// `EPOLL_CTL_MOD`.
    Mod = 3,
}

/// `epoll_create1(flags)` — creates an epoll instance.
///
/// # Errors
///
/// `EINVAL` for unknown flags; `EMFILE`; `ENOMEM`.
///
/// See [epoll_create1(2)](https://man7.org/linux/man-pages/man2/epoll_create1.2.html).
#[inline]
pub fn epoll_create1(flags: EpollFlags) -> Result<OwnedFd, Errno> {
    // SAFETY: no memory is passed; the result is a new descriptor.
    unsafe { Ok(owned_fd(syscall1(nr::EPOLL_CREATE1, flags.bits().into())?)) }
}

/// `epoll_ctl(epfd, op, fd, event)` — adds, changes or removes `fd` in the
/// interest list (`event` is ignored for [`EpollOp::Del`]).
///
/// # Errors
///
/// `EEXIST` (add twice), `ENOENT` (change or remove what is not there),
/// `EPERM` (a file that does not support polling, such as a regular file),
/// `EINVAL` (`fd` is `epfd`, or bad flags), `EBADF`, `ELOOP`, `ENOMEM`.
///
/// See [epoll_ctl(2)](https://man7.org/linux/man-pages/man2/epoll_ctl.2.html).
#[inline]
pub fn epoll_ctl(
    epfd: BorrowedFd<'_>,
    op: EpollOp,
    fd: BorrowedFd<'_>,
    event: EpollEvent,
) -> Result<(), Errno> {
    let mut ev = event;
    // SAFETY: `ev` is a live `epoll_event` read during the call only.
    unsafe {
        syscall4(
            nr::EPOLL_CTL,
            epfd.into(),
            (op as u32).into(),
            fd.into(),
            (&mut ev).into(),
        )
    }
    .map(drop)
}

/// `epoll_pwait(epfd, events, maxevents, timeout, NULL)` — waits up to
/// `timeout` (`None`: forever; rounded up to milliseconds) for events and
/// fills `events` with those ready; returns how many.
///
/// # Errors
///
/// `EINTR`; `EINVAL` for an empty `events` or a non-epoll `epfd`; `EBADF`.
///
/// See [epoll_wait(2)](https://man7.org/linux/man-pages/man2/epoll_wait.2.html).
#[inline]
#[doc(alias = "epoll_pwait")]
pub fn epoll_wait(
    epfd: BorrowedFd<'_>,
    events: &mut [EpollEvent],
    timeout: Option<Duration>,
) -> Result<usize, Errno> {
    let ms = match timeout {
        None => -1,
        Some(d) => {
            let ms = d.as_nanos().div_ceil(1_000_000);
            i32::try_from(ms).unwrap_or(i32::MAX) as isize
        }
    };
    let max = events.len().min(i32::MAX as usize);
    // SAFETY: `events` is writable for `max` entries during the call; no
    // signal mask is passed.
    unsafe {
        syscall6(
            nr::EPOLL_PWAIT,
            epfd.into(),
            events.as_mut_ptr().into(),
            max.into(),
            ms.into(),
            ArgReg::NULL,
            8usize.into(),
        )
    }
}

/// `ppoll(fds, nfds, timeout, NULL)` — waits up to `timeout` (`None`:
/// forever) for events on `fds`, filling each one's `revents`; returns how
/// many have events.
///
/// # Errors
///
/// `EINTR`; `EINVAL` for too many descriptors or a bad timeout; `ENOMEM`.
///
/// See [ppoll(2)](https://man7.org/linux/man-pages/man2/ppoll.2.html).
#[inline]
pub fn ppoll(fds: &mut [PollFd<'_>], timeout: Option<Duration>) -> Result<usize, Errno> {
    let ts = match timeout {
        Some(d) => Some(Timespec::try_from(d).map_err(|_| Errno::EINVAL)?),
        None => None,
    };
    // SAFETY: `fds` is a writable array of `struct pollfd` and `ts` a live
    // timespec (or null), both used during the call only.
    unsafe {
        syscall5(
            nr::PPOLL,
            fds.as_mut_ptr().into(),
            fds.len().into(),
            ts.as_ref().into(),
            ArgReg::NULL,
            8usize.into(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::{EpollEvent, PollFd};

    #[test]
    fn layouts_match_the_kernel() {
        assert_eq!(size_of::<EpollEvent>(), 12);
        assert_eq!(size_of::<PollFd<'_>>(), 8);
    }
}
