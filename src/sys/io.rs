//! Reading and writing: `read`, `write`, and the vectored and positioned
//! variants.
//!
//! # Safety
//!
//! Every call here passes the kernel a pointer and length taken from a live
//! Rust slice (or from `IoSlice`/`IoSliceMut`, which std guarantees to be
//! ABI-compatible with `struct iovec`); the kernel uses them only for the
//! duration of the call.
#![expect(
    unsafe_code,
    reason = "read and write calls take pointers into live slices"
)]

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::BorrowedFd;

use bitflags::bitflags;

use super::{Errno, nr, syscall3, syscall4, syscall6};

bitflags! {
    /// Per-call flags of `preadv2`/`pwritev2` (`RWF_*`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct ReadWriteFlags: u32 {
        /// `RWF_HIPRI`: high-priority (polled) I/O, for block devices.
        const HIPRI = 0x1;
        /// `RWF_DSYNC`: per-write `O_DSYNC`.
        const DSYNC = 0x2;
        /// `RWF_SYNC`: per-write `O_SYNC`.
        const SYNC = 0x4;
        /// `RWF_NOWAIT`: fail with `EAGAIN` instead of blocking.
        const NOWAIT = 0x8;
        /// `RWF_APPEND`: per-write `O_APPEND`.
        const APPEND = 0x10;
        /// `RWF_NOAPPEND`: ignore `O_APPEND` for this write.
        const NOAPPEND = 0x20;
    }
}

/// `read(fd, buf, len)` — reads up to `buf.len()` bytes; `Ok(0)` at end of
/// file.
///
/// # Errors
///
/// `EAGAIN` on an empty non-blocking descriptor, `EBADF`, `EINVAL`, `EINTR`,
/// and the descriptor type's own errors.
///
/// See [read(2)](https://man7.org/linux/man-pages/man2/read.2.html).
#[inline]
pub fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> Result<usize, Errno> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes during the call.
    unsafe {
        syscall3(
            nr::READ,
            fd.into(),
            buf.as_mut_ptr().into(),
            buf.len().into(),
        )
    }
}

/// `write(fd, buf, len)` — writes up to `buf.len()` bytes.
///
/// # Errors
///
/// `EAGAIN` when a non-blocking descriptor is full, `EBADF`, `EINVAL`,
/// `EPIPE`, `EINTR`, and the descriptor type's own errors.
///
/// See [write(2)](https://man7.org/linux/man-pages/man2/write.2.html).
#[inline]
pub fn write(fd: BorrowedFd<'_>, buf: &[u8]) -> Result<usize, Errno> {
    // SAFETY: `buf` is valid for reads of `buf.len()` bytes during the call.
    unsafe { syscall3(nr::WRITE, fd.into(), buf.as_ptr().into(), buf.len().into()) }
}

/// `pread64(fd, buf, len, offset)` — reads up to `buf.len()` bytes at
/// `offset`, leaving the file position alone; `Ok(0)` at or past the end.
///
/// # Errors
///
/// As [`read`], `ESPIPE` on a pipe or socket, `EINVAL` for an offset past
/// `i64::MAX`.
///
/// See [pread(2)](https://man7.org/linux/man-pages/man2/pread.2.html).
#[inline]
#[doc(alias = "pread64")]
pub fn pread(fd: BorrowedFd<'_>, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes during the call.
    unsafe {
        syscall4(
            nr::PREAD64,
            fd.into(),
            buf.as_mut_ptr().into(),
            buf.len().into(),
            offset.into(),
        )
    }
}

/// `pwrite64(fd, buf, len, offset)` — writes up to `buf.len()` bytes at
/// `offset`, leaving the file position alone (but see `O_APPEND` in the
/// man page: Linux then appends).
///
/// # Errors
///
/// As [`write()`], `ESPIPE` on a pipe or socket, `EINVAL` for an offset
/// past `i64::MAX`, `EFBIG` past the maximum file size.
///
/// See [pwrite(2)](https://man7.org/linux/man-pages/man2/pwrite.2.html).
#[inline]
#[doc(alias = "pwrite64")]
pub fn pwrite(fd: BorrowedFd<'_>, buf: &[u8], offset: u64) -> Result<usize, Errno> {
    // SAFETY: `buf` is valid for reads of `buf.len()` bytes during the call.
    unsafe {
        syscall4(
            nr::PWRITE64,
            fd.into(),
            buf.as_ptr().into(),
            buf.len().into(),
            offset.into(),
        )
    }
}

/// `readv(fd, iov, iovcnt)` — scatters one read across `bufs`.
///
/// # Errors
///
/// As [`read`], and `EINVAL` for more than 1024 buffers (`IOV_MAX`).
///
/// See [readv(2)](https://man7.org/linux/man-pages/man2/readv.2.html).
#[inline]
pub fn readv(fd: BorrowedFd<'_>, bufs: &mut [IoSliceMut<'_>]) -> Result<usize, Errno> {
    // SAFETY: `IoSliceMut` is ABI-compatible with `struct iovec`, and each
    // one borrows memory valid for writes during the call.
    unsafe {
        syscall3(
            nr::READV,
            fd.into(),
            bufs.as_mut_ptr().into(),
            bufs.len().into(),
        )
    }
}

/// `writev(fd, iov, iovcnt)` — gathers one write from `bufs`.
///
/// # Errors
///
/// As [`write()`], and `EINVAL` for more than 1024 buffers.
///
/// See [writev(2)](https://man7.org/linux/man-pages/man2/writev.2.html).
#[inline]
pub fn writev(fd: BorrowedFd<'_>, bufs: &[IoSlice<'_>]) -> Result<usize, Errno> {
    // SAFETY: `IoSlice` is ABI-compatible with `struct iovec`, and each one
    // borrows memory valid for reads during the call.
    unsafe {
        syscall3(
            nr::WRITEV,
            fd.into(),
            bufs.as_ptr().into(),
            bufs.len().into(),
        )
    }
}

/// `preadv(fd, iov, iovcnt, offset)` — a scattered read at `offset`,
/// leaving the file position alone.
///
/// # Errors
///
/// As [`readv`], `ESPIPE` on a pipe or socket, `EINVAL` for an offset past
/// `i64::MAX`.
///
/// See [preadv(2)](https://man7.org/linux/man-pages/man2/preadv.2.html).
#[inline]
pub fn preadv(
    fd: BorrowedFd<'_>,
    bufs: &mut [IoSliceMut<'_>],
    offset: u64,
) -> Result<usize, Errno> {
    // SAFETY: as `readv`; on 64-bit the whole offset goes in `pos_l` and
    // `pos_h` is ignored.
    unsafe {
        syscall4(
            nr::PREADV,
            fd.into(),
            bufs.as_mut_ptr().into(),
            bufs.len().into(),
            offset.into(),
        )
    }
}

/// `pwritev(fd, iov, iovcnt, offset)` — a gathered write at `offset`,
/// leaving the file position alone.
///
/// # Errors
///
/// As [`writev`], `ESPIPE` on a pipe or socket, `EINVAL` for an offset past
/// `i64::MAX`.
///
/// See [pwritev(2)](https://man7.org/linux/man-pages/man2/pwritev.2.html).
#[inline]
pub fn pwritev(fd: BorrowedFd<'_>, bufs: &[IoSlice<'_>], offset: u64) -> Result<usize, Errno> {
    // SAFETY: as `writev`; on 64-bit the whole offset goes in `pos_l`.
    unsafe {
        syscall4(
            nr::PWRITEV,
            fd.into(),
            bufs.as_ptr().into(),
            bufs.len().into(),
            offset.into(),
        )
    }
}

/// The offset argument of `preadv2`/`pwritev2`: `-1` means "the current
/// file position, and advance it", so an offset past `i64::MAX` (which the
/// kernel would read as negative, and `u64::MAX` as exactly `-1`) is
/// refused with `EINVAL` before the call.
#[inline(always)]
fn offset_arg(offset: Option<u64>) -> Result<usize, Errno> {
    match offset {
        Some(o) if o > i64::MAX as u64 => Err(Errno::EINVAL),
        Some(o) => Ok(o as usize),
        None => Ok(usize::MAX),
    }
}

/// `preadv2(fd, iov, iovcnt, offset, flags)` — [`preadv`] with per-call
/// flags; `offset: None` reads at (and advances) the file position.
///
/// # Errors
///
/// As [`preadv`] (`EINVAL` for an offset past `i64::MAX`, refused before
/// the call), `EOPNOTSUPP` for a flag the file does not support,
/// `EAGAIN` with [`ReadWriteFlags::NOWAIT`] when data is not at hand.
///
/// See [preadv2(2)](https://man7.org/linux/man-pages/man2/preadv2.2.html).
#[inline]
pub fn preadv2(
    fd: BorrowedFd<'_>,
    bufs: &mut [IoSliceMut<'_>],
    offset: Option<u64>,
    flags: ReadWriteFlags,
) -> Result<usize, Errno> {
    let offset = offset_arg(offset)?;
    // SAFETY: as `readv`; `pos_h` is ignored on 64-bit.
    unsafe {
        syscall6(
            nr::PREADV2,
            fd.into(),
            bufs.as_mut_ptr().into(),
            bufs.len().into(),
            offset.into(),
            0usize.into(),
            flags.bits().into(),
        )
    }
}

/// `pwritev2(fd, iov, iovcnt, offset, flags)` — [`pwritev`] with per-call
/// flags; `offset: None` writes at (and advances) the file position.
///
/// # Errors
///
/// As [`pwritev`] (`EINVAL` for an offset past `i64::MAX`, refused before
/// the call), `EOPNOTSUPP` for a flag the file does not support.
///
/// See [pwritev2(2)](https://man7.org/linux/man-pages/man2/pwritev2.2.html).
#[inline]
pub fn pwritev2(
    fd: BorrowedFd<'_>,
    bufs: &[IoSlice<'_>],
    offset: Option<u64>,
    flags: ReadWriteFlags,
) -> Result<usize, Errno> {
    let offset = offset_arg(offset)?;
    // SAFETY: as `writev`; `pos_h` is ignored on 64-bit.
    unsafe {
        syscall6(
            nr::PWRITEV2,
            fd.into(),
            bufs.as_ptr().into(),
            bufs.len().into(),
            offset.into(),
            0usize.into(),
            flags.bits().into(),
        )
    }
}
