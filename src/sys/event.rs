//! Event counters: `eventfd2`, and the 8-byte reads and writes that wait on
//! and signal one.
//!
//! An eventfd is a kernel-held `u64` counter. A write of 8 bytes adds to it
//! (a write that would take it past `u64::MAX - 1` blocks, or fails with
//! `EAGAIN` when non-blocking); a read of 8 bytes returns the counter and
//! resets it to zero, or, in semaphore mode, returns 1 and decrements it. A
//! read of a zero counter blocks, or fails with `EAGAIN` when non-blocking.
//!
//! # Safety
//!
//! Every call here passes the kernel only a pointer to a live, 8-byte Rust
//! `u64`, used for the duration of the call.
#![expect(
    unsafe_code,
    reason = "eventfd2 returns a new descriptor; the counter calls take a live u64"
)]

use std::os::fd::{BorrowedFd, OwnedFd};

use bitflags::bitflags;

use super::{Errno, nr, owned_fd, syscall2, syscall3};

bitflags! {
    /// Flags of `eventfd2` (`EFD_*`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct EventFdFlags: u32 {
        /// `EFD_SEMAPHORE`: each read takes 1 from the counter and returns 1.
        const SEMAPHORE = 1;
        /// `EFD_NONBLOCK`: reads and writes fail with `EAGAIN` instead of
        /// blocking.
        const NONBLOCK = 0o4000;
        /// `EFD_CLOEXEC`: the descriptor is close-on-exec.
        const CLOEXEC = 0o2000000;
    }
}

/// `eventfd2(initval, flags)` — creates an event counter holding `initval`.
///
/// # Errors
///
/// `EINVAL` for unknown `flags`; `EMFILE`/`ENFILE` when out of descriptors;
/// `ENOMEM`.
///
/// See [eventfd2(2)](https://man7.org/linux/man-pages/man2/eventfd2.2.html).
#[inline]
pub fn eventfd2(initval: u32, flags: EventFdFlags) -> Result<OwnedFd, Errno> {
    // SAFETY: eventfd2 reads no memory and returns a new descriptor.
    unsafe {
        let r = syscall2(nr::EVENTFD2, initval.into(), flags.bits().into())?;
        Ok(owned_fd(r))
    }
}

/// `read(fd, &value, 8)` — takes the counter of eventfd `fd` (all of it, or
/// 1 in semaphore mode).
///
/// On an eventfd an 8-byte read either transfers all 8 bytes or fails, so the
/// byte count is not checked. On another kind of descriptor fewer bytes may
/// arrive and the rest of the value stays zero: call it on eventfds only.
///
/// # Errors
///
/// `EAGAIN` when the counter is zero and `fd` is non-blocking; `EBADF`;
/// `EINTR`.
///
/// See [eventfd(2)](https://man7.org/linux/man-pages/man2/eventfd.2.html).
#[inline]
#[doc(alias = "read")]
pub fn eventfd_read(fd: BorrowedFd<'_>) -> Result<u64, Errno> {
    let mut value: u64 = 0;
    // SAFETY: `value` is a live `u64`, writable for 8 bytes during the call.
    unsafe { syscall3(nr::READ, fd.into(), (&raw mut value).into(), 8usize.into()) }?;
    Ok(value)
}

/// `write(fd, &value, 8)` — adds `value` to the counter of eventfd `fd`.
///
/// # Errors
///
/// `EAGAIN` when the counter would pass `u64::MAX - 1` and `fd` is
/// non-blocking; `EINVAL` for `value == u64::MAX`; `EBADF`; `EINTR`.
///
/// See [eventfd(2)](https://man7.org/linux/man-pages/man2/eventfd.2.html).
#[inline]
#[doc(alias = "write")]
pub fn eventfd_write(fd: BorrowedFd<'_>, value: u64) -> Result<(), Errno> {
    // SAFETY: `value` is a live `u64`, readable for 8 bytes during the call.
    unsafe {
        syscall3(
            nr::WRITE,
            fd.into(),
            (&raw const value).into(),
            8usize.into(),
        )
    }
    .map(drop)
}
