//! Pipes and moving data through them: `pipe2`, `splice`, `tee`, `vmsplice`.
//!
//! # Safety
//!
//! `pipe2` hands the kernel a two-element array for the call; the two
//! descriptors it fills are new, so they are wrapped in [`OwnedFd`]s.
//! `splice` passes `&mut u64` offsets that the kernel reads and updates
//! during the call. `tee` touches no memory.
//!
//! `vmsplice` is the subtle one. Writing user memory into a pipe does not
//! copy it: the kernel takes a reference on each *physical page* behind the
//! buffers and queues those pages in the pipe. The reference keeps the page
//! alive after the call, whatever Rust later does with the memory (frees,
//! reuses, unmaps it); the kernel keeps no pointer to the virtual addresses.
//! Those pipe buffers are only ever read (the kernel never merges a later
//! `write` into them), so the kernel never writes memory Rust owns, and a
//! read by the pipe's consumer breaks no assumption the Rust program makes.
//! That is why [`vmsplice`] is safe. What it does cost is *content*: the
//! consumer reads the bytes that are in the page when it reads, so writing
//! to (or freeing and reusing) a buffer before the data has been consumed
//! changes what the consumer sees — possibly another allocation's contents.
//! Two things would make it unsound, and the safe functions rule both out:
//!
//! - the kernel picks the direction from the descriptor's access mode, and
//!   on a descriptor open only for reading it *writes* into the buffers,
//!   which must not happen through `&[u8]`. [`vmsplice`] checks the access
//!   mode first (one `fcntl(F_GETFL)`). Between the check and the call the
//!   open file behind a borrowed descriptor can change only to iofd's inert
//!   `O_PATH` placeholder (when an `Fd` is closed), on which `vmsplice`
//!   fails with `EBADF`;
//! - `SPLICE_F_GIFT` gives the pages to the kernel, whose documented
//!   contract is that the application never modifies them again. Today the
//!   kernel only steals a gifted page once nothing else maps it, but a safe
//!   function cannot make the caller's borrowed buffer immutable forever, so
//!   the documented contract becomes a caller promise in [`vmsplice_gift`].
#![expect(
    unsafe_code,
    reason = "pipe2 returns new descriptors; splice and vmsplice take live pointers"
)]

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{BorrowedFd, OwnedFd, RawFd};

use bitflags::bitflags;

use super::file::fcntl_getfl;
use super::{Errno, nr, owned_fd, syscall2, syscall4, syscall6};

bitflags! {
    /// Flags of `pipe2`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct PipeFlags: u32 {
        /// `O_CLOEXEC`: both ends are close-on-exec.
        const CLOEXEC = 0o2000000;
        /// `O_NONBLOCK`: both ends are non-blocking.
        const NONBLOCK = 0o4000;
        /// `O_DIRECT`: packet mode; each `write` is one packet, each `read`
        /// returns at most one.
        const DIRECT = 0o40000;
    }
}

bitflags! {
    /// Flags of `splice`, `tee` and `vmsplice` (`SPLICE_F_*`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct SpliceFlags: u32 {
        /// `SPLICE_F_MOVE`: move pages instead of copying, if possible (a
        /// hint; the kernel mostly ignores it).
        const MOVE = 1;
        /// `SPLICE_F_NONBLOCK`: do not block on the pipe (the other
        /// descriptor's own mode still applies).
        const NONBLOCK = 2;
        /// `SPLICE_F_MORE`: more data follows (a hint for sockets).
        const MORE = 4;
        /// `SPLICE_F_GIFT`: `vmsplice` gives the pages to the kernel. Refused
        /// by the safe [`vmsplice`]; see [`vmsplice_gift`].
        const GIFT = 8;
    }
}

/// `O_ACCMODE`: the access-mode bits of the file status flags.
const ACCMODE: u32 = 0o3;
/// `O_RDONLY`: the access mode of a descriptor open only for reading.
const RDONLY: u32 = 0;

/// Whether the kernel's `vmsplice` treats `fd` as a pipe's write end (it
/// does when the file is open for writing, `O_WRONLY` or `O_RDWR`).
#[inline]
fn is_write_end(fd: BorrowedFd<'_>) -> Result<bool, Errno> {
    let mode = fcntl_getfl(fd)?.bits() & ACCMODE;
    Ok(mode != RDONLY)
}

/// `pipe2(fds, flags)` — creates a pipe; returns `(read end, write end)`.
///
/// # Errors
///
/// `EINVAL` for an unknown flag, `EMFILE`/`ENFILE` when out of descriptors.
///
/// See [pipe2(2)](https://man7.org/linux/man-pages/man2/pipe2.2.html).
#[inline]
pub fn pipe2(flags: PipeFlags) -> Result<(OwnedFd, OwnedFd), Errno> {
    let mut fds: [RawFd; 2] = [-1, -1];
    // SAFETY: `fds` is a writable `int[2]` for the call; on success both
    // entries are new descriptors nothing else owns.
    unsafe {
        syscall2(nr::PIPE2, fds.as_mut_ptr().into(), flags.bits().into())?;
        Ok((owned_fd(fds[0] as usize), owned_fd(fds[1] as usize)))
    }
}

/// `splice(fd_in, off_in, fd_out, off_out, len, flags)` — moves up to `len`
/// bytes from `fd_in` to `fd_out` without a trip through user memory; one
/// side must be a pipe. An offset (`Some`) reads and writes at that position
/// of a seekable file, leaving its file position alone, and is advanced by
/// the bytes moved; `None` uses (and advances) the file position. `Ok(0)`
/// means end of input.
///
/// # Errors
///
/// `EINVAL` when neither side is a pipe, for an unknown flag, or when a side
/// does not support splicing; `ESPIPE` for an offset on a pipe; `EBADF`
/// when a side is not open in the needed direction; `EAGAIN` with
/// [`SpliceFlags::NONBLOCK`] or a non-blocking descriptor.
///
/// See [splice(2)](https://man7.org/linux/man-pages/man2/splice.2.html).
#[inline]
pub fn splice(
    fd_in: BorrowedFd<'_>,
    off_in: Option<&mut u64>,
    fd_out: BorrowedFd<'_>,
    off_out: Option<&mut u64>,
    len: usize,
    flags: SpliceFlags,
) -> Result<usize, Errno> {
    // SAFETY: each offset pointer is null or a live `&mut u64` (the layout
    // of `loff_t`) that the kernel reads and updates during the call only.
    unsafe {
        syscall6(
            nr::SPLICE,
            fd_in.into(),
            off_in.into(),
            fd_out.into(),
            off_out.into(),
            len.into(),
            flags.bits().into(),
        )
    }
}

/// `tee(fd_in, fd_out, len, flags)` — copies up to `len` bytes from one pipe
/// to another without consuming them from `fd_in`. `Ok(0)` means there was
/// nothing to copy and no writer remains.
///
/// # Errors
///
/// `EINVAL` when either side is not a pipe, both are the same pipe, or for
/// an unknown flag; `EAGAIN` with [`SpliceFlags::NONBLOCK`] when there is
/// nothing to copy yet.
///
/// See [tee(2)](https://man7.org/linux/man-pages/man2/tee.2.html).
#[inline]
pub fn tee(
    fd_in: BorrowedFd<'_>,
    fd_out: BorrowedFd<'_>,
    len: usize,
    flags: SpliceFlags,
) -> Result<usize, Errno> {
    // SAFETY: tee touches no user memory.
    unsafe {
        syscall4(
            nr::TEE,
            fd_in.into(),
            fd_out.into(),
            len.into(),
            flags.bits().into(),
        )
    }
}

/// `vmsplice(fd, iov, nr_segs, flags)` — queues the pages behind `bufs` in
/// the pipe whose write end is `fd`, without copying them.
///
/// The call returns once the pages are queued; the consumer reads them
/// later, *as they are then*. Do not change or free a buffer before its
/// bytes have been consumed if the consumer must see the bytes as they were
/// at the call (see the [module docs](self) for why this is not a memory
/// safety matter). Use [`write`](super::io::write) when that cannot be
/// promised.
///
/// # Errors
///
/// `EINVAL` for [`SpliceFlags::GIFT`] (refused before the call, see
/// [`vmsplice_gift`]) or more than 1024 buffers; `EBADF` when `fd` is not a
/// pipe, or is open only for reading (checked with one `fcntl` before the
/// call); `EAGAIN` with [`SpliceFlags::NONBLOCK`] when the pipe is full.
///
/// See [vmsplice(2)](https://man7.org/linux/man-pages/man2/vmsplice.2.html).
#[inline]
pub fn vmsplice(
    fd: BorrowedFd<'_>,
    bufs: &[IoSlice<'_>],
    flags: SpliceFlags,
) -> Result<usize, Errno> {
    if flags.contains(SpliceFlags::GIFT) {
        return Err(Errno::EINVAL);
    }
    if !is_write_end(fd)? {
        return Err(Errno::EBADF);
    }
    // SAFETY: `fd` is open for writing (checked above; its open file can
    // since have changed only to the O_PATH placeholder of a closed `Fd`,
    // which vmsplice refuses with EBADF), so the kernel only reads
    // the buffers; it takes page references, not pointers, and never writes
    // those pages (module docs). `IoSlice` is ABI-compatible with `iovec`.
    unsafe {
        syscall4(
            nr::VMSPLICE,
            fd.into(),
            bufs.as_ptr().into(),
            bufs.len().into(),
            flags.bits().into(),
        )
    }
}

/// `vmsplice(fd, iov, nr_segs, flags | SPLICE_F_GIFT)` — [`vmsplice`] that
/// gives the pages to the kernel, which may later move (steal) them instead
/// of copying them, e.g. into a file's page cache on a `splice` with
/// [`SpliceFlags::MOVE`].
///
/// # Safety
///
/// - Every buffer must start on a page boundary and span whole pages.
/// - The memory behind `bufs` must never be written again while it stays
///   mapped: leak it, or unmap it without touching it (the kernel's
///   documented contract for `SPLICE_F_GIFT`).
/// - `fd` must be open for writing (as [`vmsplice`] checks).
///
/// # Errors
///
/// As [`vmsplice`], less the checks it makes before the call.
///
/// See [vmsplice(2)](https://man7.org/linux/man-pages/man2/vmsplice.2.html).
#[inline]
#[doc(alias = "vmsplice")]
pub unsafe fn vmsplice_gift(
    fd: BorrowedFd<'_>,
    bufs: &[IoSlice<'_>],
    flags: SpliceFlags,
) -> Result<usize, Errno> {
    let flags = flags | SpliceFlags::GIFT;
    // SAFETY: the caller gives the pages away and promises `fd` is a write
    // end; `IoSlice` is ABI-compatible with `iovec`.
    unsafe {
        syscall4(
            nr::VMSPLICE,
            fd.into(),
            bufs.as_ptr().into(),
            bufs.len().into(),
            flags.bits().into(),
        )
    }
}

/// `vmsplice(fd, iov, nr_segs, flags)` on a pipe's read end — copies up to
/// the buffers' total length out of the pipe, like [`readv`](super::io::readv).
/// `Ok(0)` means the pipe is empty and has no writer.
///
/// # Errors
///
/// `EBADF` when `fd` is not a pipe, or is open for writing (checked with one
/// `fcntl` before the call: the kernel would move data the other way);
/// `EINVAL` for more than 1024 buffers; `EAGAIN` with
/// [`SpliceFlags::NONBLOCK`] when the pipe is empty.
///
/// See [vmsplice(2)](https://man7.org/linux/man-pages/man2/vmsplice.2.html).
#[inline]
#[doc(alias = "vmsplice")]
pub fn vmsplice_read(
    fd: BorrowedFd<'_>,
    bufs: &mut [IoSliceMut<'_>],
    flags: SpliceFlags,
) -> Result<usize, Errno> {
    if is_write_end(fd)? {
        return Err(Errno::EBADF);
    }
    // SAFETY: `IoSliceMut` is ABI-compatible with `iovec` and each borrows
    // memory valid for writes; the kernel copies into it during the call.
    unsafe {
        syscall4(
            nr::VMSPLICE,
            fd.into(),
            bufs.as_mut_ptr().into(),
            bufs.len().into(),
            flags.bits().into(),
        )
    }
}
