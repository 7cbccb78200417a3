//! Descriptor control: `close`, `fcntl`, `dup3`, `ftruncate`, `fstat`.
//!
//! # Safety
//!
//! `close` is the one call here whose soundness rests on the caller: it ends
//! a descriptor's life, so the caller must own it. The others borrow their
//! descriptor (`BorrowedFd`) or receive an owned one, and pass the kernel
//! only pointers to live, correctly sized Rust values for the length of the
//! call.
#![expect(
    unsafe_code,
    reason = "close ends a descriptor the caller owns; others return new ones"
)]

use std::ffi::CStr;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};

use bitflags::bitflags;

use super::{A0, ArgReg, Errno, nr, owned_fd, syscall1, syscall2, syscall3, syscall4};

/// `AT_FDCWD`: resolve a relative path against the working directory.
const AT_FDCWD: isize = -100;

const F_GETFD: usize = 1;
const F_SETFD: usize = 2;
const F_GETFL: usize = 3;
const F_SETFL: usize = 4;
const F_DUPFD_CLOEXEC: usize = 1030;
const F_ADD_SEALS: usize = 1033;
const F_GET_SEALS: usize = 1034;

bitflags! {
    /// Descriptor flags (`F_GETFD`/`F_SETFD`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct FdFlags: u32 {
        /// `FD_CLOEXEC`: close the descriptor on `execve`.
        const CLOEXEC = 1;
        // Keep bits this crate does not name.
        const _ = !0;
    }
}

bitflags! {
    /// File status flags and access mode (`F_GETFL`/`F_SETFL`, `O_*`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct StatusFlags: u32 {
        /// `O_WRONLY`: access mode write-only.
        const WRONLY = 0o1;
        /// `O_RDWR`: access mode read-write.
        const RDWR = 0o2;
        /// `O_APPEND`: every write appends.
        const APPEND = 0o2000;
        /// `O_NONBLOCK`: operations fail with `EAGAIN` instead of blocking.
        const NONBLOCK = 0o4000;
        /// `O_DSYNC`: writes are data-synchronised.
        const DSYNC = 0o10000;
        /// `O_ASYNC`: signal-driven I/O.
        const ASYNC = 0o20000;
        /// `O_DIRECT`: bypass the page cache.
        const DIRECT = 0o40000;
        /// `O_NOATIME`: do not update the access time.
        const NOATIME = 0o1000000;
        // Keep bits this crate does not name.
        const _ = !0;
    }
}

bitflags! {
    /// Flags of `openat` (`O_*`) that iofd uses.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct OpenFlags: u32 {
        /// `O_WRONLY`: open for writing only (`O_RDONLY` is the empty set).
        const WRONLY = 0o1;
        /// `O_RDWR`: open for reading and writing.
        const RDWR = 0o2;
        /// `O_CREAT`: create the file if it does not exist.
        const CREAT = 0o100;
        /// `O_EXCL`: with `O_CREAT`, fail if the file exists.
        const EXCL = 0o200;
        /// `O_NONBLOCK`: non-blocking I/O.
        const NONBLOCK = 0o4000;
        /// `O_DIRECTORY`: fail unless the path is a directory.
        const DIRECTORY = 0o200000;
        /// `O_NOFOLLOW`: fail if the last component is a symbolic link.
        const NOFOLLOW = 0o400000;
        /// `O_CLOEXEC`: close the descriptor on `execve`.
        const CLOEXEC = 0o2000000;
        /// `O_PATH`: a descriptor that names a file but permits no I/O:
        /// `read`, `write` and most other calls on it fail with `EBADF`.
        const PATH = 0o10000000;
    }
}

bitflags! {
    /// Flags of `dup3`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct DupFlags: u32 {
        /// `O_CLOEXEC`: the new descriptor is close-on-exec.
        const CLOEXEC = 0o2000000;
    }
}

bitflags! {
    /// File seals (`F_ADD_SEALS`/`F_GET_SEALS`), which restrict what may be
    /// done to a memfd's contents and size from now on.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct Seals: u32 {
        /// `F_SEAL_SEAL`: no further seals may be added.
        const SEAL = 0x1;
        /// `F_SEAL_SHRINK`: the file may not shrink.
        const SHRINK = 0x2;
        /// `F_SEAL_GROW`: the file may not grow.
        const GROW = 0x4;
        /// `F_SEAL_WRITE`: the contents may not change.
        const WRITE = 0x8;
        /// `F_SEAL_FUTURE_WRITE`: no new writable mapping or write; existing
        /// writable mappings keep working.
        const FUTURE_WRITE = 0x10;
        /// `F_SEAL_EXEC`: the file's exec bits may not change.
        const EXEC = 0x20;
    }
}

/// `struct stat` as the x86_64 kernel fills it in `fstat`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stat {
    /// Device of the file system holding the file.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// Number of hard links.
    pub nlink: u64,
    /// File type and mode bits (`S_IFMT`, permissions).
    pub mode: u32,
    /// Owner's user id.
    pub uid: u32,
    /// Owner's group id.
    pub gid: u32,
    pad0: u32,
    /// Device number, for a device file.
    pub rdev: u64,
    /// Size in bytes.
    pub size: i64,
    /// Preferred I/O block size.
    pub blksize: i64,
    /// Number of 512-byte blocks allocated.
    pub blocks: i64,
    /// Last access, seconds.
    pub atime: i64,
    /// Last access, nanoseconds.
    pub atime_nsec: i64,
    /// Last modification, seconds.
    pub mtime: i64,
    /// Last modification, nanoseconds.
    pub mtime_nsec: i64,
    /// Last status change, seconds.
    pub ctime: i64,
    /// Last status change, nanoseconds.
    pub ctime_nsec: i64,
    unused: [i64; 3],
}

impl Stat {
    /// `S_IFMT`: the file type bits of [`mode`](Stat::mode).
    pub const S_IFMT: u32 = 0o170000;
    /// `S_IFREG`: a regular file.
    pub const S_IFREG: u32 = 0o100000;
    /// `S_IFIFO`: a pipe.
    pub const S_IFIFO: u32 = 0o010000;
    /// `S_IFSOCK`: a socket.
    pub const S_IFSOCK: u32 = 0o140000;

    /// The file type bits of `mode` (`mode & S_IFMT`).
    #[inline]
    pub fn file_type(&self) -> u32 {
        self.mode & Self::S_IFMT
    }
}

/// `close(fd)` — releases a descriptor.
///
/// On Linux the descriptor is released even when `close` reports an error
/// (including `EINTR`), so a failed close must never be retried.
///
/// # Safety
///
/// - `fd` must be a descriptor the caller owns, and nothing may use the
///   number afterwards (it can be reused by the next `open`). Prefer
///   dropping an [`OwnedFd`].
///
/// # Errors
///
/// `EBADF` for a descriptor that is not open, `EIO` or `EINTR` from the
/// file's flush.
///
/// See [close(2)](https://man7.org/linux/man-pages/man2/close.2.html).
#[inline]
pub unsafe fn close(fd: RawFd) -> Result<(), Errno> {
    // SAFETY: the caller owns `fd` and gives it up.
    unsafe { syscall1(nr::CLOSE, fd.into()) }.map(drop)
}

/// `openat(dir, path, flags, mode)` — opens `path`, relative to `dir` or,
/// with `None`, to the working directory; `mode` applies with
/// [`OpenFlags::CREAT`].
///
/// # Errors
///
/// `ENOENT`, `EACCES`, `ENOTDIR`, `EEXIST` (with `CREAT | EXCL`), `EMFILE`,
/// `EINVAL` for a bad flag combination, and the file system's own errors.
///
/// See [openat(2)](https://man7.org/linux/man-pages/man2/openat.2.html).
#[inline]
pub fn openat(
    dir: Option<BorrowedFd<'_>>,
    path: &CStr,
    flags: OpenFlags,
    mode: u32,
) -> Result<OwnedFd, Errno> {
    let dirfd: ArgReg<'_, A0> = dir.map_or(AT_FDCWD.into(), Into::into);
    // SAFETY: `path` is NUL-terminated and read only during the call; the
    // result is a new descriptor.
    unsafe {
        let r = syscall4(
            nr::OPENAT,
            dirfd,
            path.as_ptr().into(),
            flags.bits().into(),
            mode.into(),
        )?;
        Ok(owned_fd(r))
    }
}

/// `fcntl(fd, F_GETFD)` — the descriptor flags.
///
/// # Errors
///
/// `EBADF`.
///
/// See [fcntl(2)](https://man7.org/linux/man-pages/man2/fcntl.2.html).
#[inline]
#[doc(alias = "fcntl")]
pub fn fcntl_getfd(fd: BorrowedFd<'_>) -> Result<FdFlags, Errno> {
    // SAFETY: F_GETFD reads no memory.
    let r = unsafe { syscall2(nr::FCNTL, fd.into(), F_GETFD.into()) }?;
    Ok(FdFlags::from_bits_retain(r as u32))
}

/// `fcntl(fd, F_SETFD, flags)` — sets the descriptor flags.
///
/// # Errors
///
/// `EBADF`.
///
/// See [fcntl(2)](https://man7.org/linux/man-pages/man2/fcntl.2.html).
#[inline]
#[doc(alias = "fcntl")]
pub fn fcntl_setfd(fd: BorrowedFd<'_>, flags: FdFlags) -> Result<(), Errno> {
    // SAFETY: F_SETFD reads no memory.
    unsafe { syscall3(nr::FCNTL, fd.into(), F_SETFD.into(), flags.bits().into()) }.map(drop)
}

/// `fcntl(fd, F_GETFL)` — the file status flags and access mode.
///
/// # Errors
///
/// `EBADF`.
///
/// See [fcntl(2)](https://man7.org/linux/man-pages/man2/fcntl.2.html).
#[inline]
#[doc(alias = "fcntl")]
pub fn fcntl_getfl(fd: BorrowedFd<'_>) -> Result<StatusFlags, Errno> {
    // SAFETY: F_GETFL reads no memory.
    let r = unsafe { syscall2(nr::FCNTL, fd.into(), F_GETFL.into()) }?;
    Ok(StatusFlags::from_bits_retain(r as u32))
}

/// `fcntl(fd, F_SETFL, flags)` — sets the file status flags (the kernel
/// changes only `O_APPEND`, `O_ASYNC`, `O_DIRECT`, `O_NOATIME` and
/// `O_NONBLOCK`, and ignores the rest).
///
/// # Errors
///
/// `EBADF`; `EINVAL` for `O_DIRECT` on a file that cannot do it;
/// `EPERM` for `O_APPEND` removed from an append-only file.
///
/// See [fcntl(2)](https://man7.org/linux/man-pages/man2/fcntl.2.html).
#[inline]
#[doc(alias = "fcntl")]
pub fn fcntl_setfl(fd: BorrowedFd<'_>, flags: StatusFlags) -> Result<(), Errno> {
    // SAFETY: F_SETFL reads no memory.
    unsafe { syscall3(nr::FCNTL, fd.into(), F_SETFL.into(), flags.bits().into()) }.map(drop)
}

/// `fcntl(fd, F_DUPFD_CLOEXEC, min)` — a new close-on-exec descriptor, the
/// lowest free number at or above `min`, for the same open file.
///
/// # Errors
///
/// `EBADF`; `EINVAL` for a negative `min` or one past the descriptor limit;
/// `EMFILE` when the process has no free descriptor.
///
/// See [fcntl(2)](https://man7.org/linux/man-pages/man2/fcntl.2.html).
#[inline]
#[doc(alias = "fcntl")]
pub fn fcntl_dupfd_cloexec(fd: BorrowedFd<'_>, min: RawFd) -> Result<OwnedFd, Errno> {
    // SAFETY: F_DUPFD_CLOEXEC reads no memory and returns a new descriptor.
    unsafe {
        let r = syscall3(nr::FCNTL, fd.into(), F_DUPFD_CLOEXEC.into(), min.into())?;
        Ok(owned_fd(r))
    }
}

/// `fcntl(fd, F_ADD_SEALS, seals)` — adds seals to a sealable file.
///
/// # Errors
///
/// `EPERM` when [`Seals::SEAL`] is set or the file was created without
/// `MFD_ALLOW_SEALING`; `EBUSY` for [`Seals::WRITE`] while a writable shared
/// mapping exists; `EINVAL` on a file that is not sealable.
///
/// See [fcntl(2)](https://man7.org/linux/man-pages/man2/fcntl.2.html).
#[inline]
#[doc(alias = "fcntl")]
pub fn fcntl_add_seals(fd: BorrowedFd<'_>, seals: Seals) -> Result<(), Errno> {
    // SAFETY: F_ADD_SEALS reads no memory.
    unsafe {
        syscall3(
            nr::FCNTL,
            fd.into(),
            F_ADD_SEALS.into(),
            seals.bits().into(),
        )
    }
    .map(drop)
}

/// `fcntl(fd, F_GET_SEALS)` — the seals set on a file.
///
/// # Errors
///
/// `EINVAL` on a file that does not support sealing; `EBADF`.
///
/// See [fcntl(2)](https://man7.org/linux/man-pages/man2/fcntl.2.html).
#[inline]
#[doc(alias = "fcntl")]
pub fn fcntl_get_seals(fd: BorrowedFd<'_>) -> Result<Seals, Errno> {
    // SAFETY: F_GET_SEALS reads no memory.
    let r = unsafe { syscall2(nr::FCNTL, fd.into(), F_GET_SEALS.into()) }?;
    Ok(Seals::from_bits_retain(r as u32))
}

/// `dup3(old, new, flags)` — makes `new` refer to the open file of `old`,
/// closing what `new` referred to before, atomically.
///
/// `new` stays owned by the caller, now for the new open file; on error it
/// is unchanged.
///
/// # Errors
///
/// `EINVAL` when `old` and `new` are the same descriptor or `flags` holds
/// anything but `O_CLOEXEC`; `EBADF`; `EBUSY` on a race with `open`.
///
/// See [dup3(2)](https://man7.org/linux/man-pages/man2/dup3.2.html).
#[inline]
pub fn dup3(old: BorrowedFd<'_>, new: &mut OwnedFd, flags: DupFlags) -> Result<(), Errno> {
    // SAFETY: `new` is owned by the caller and `&mut` shows nothing borrows
    // it, so replacing the open file it names affects no one else; its
    // number does not change.
    unsafe {
        syscall3(
            nr::DUP3,
            old.into(),
            new.as_raw_fd().into(),
            flags.bits().into(),
        )
    }
    .map(drop)
}

/// `ftruncate(fd, len)` — sets a file's size, zero-filling growth.
///
/// # Errors
///
/// `EINVAL` for a length past `i64::MAX` or a descriptor not open for
/// writing a regular file; `EPERM` when a seal forbids the change; `EBADF`.
///
/// See [ftruncate(2)](https://man7.org/linux/man-pages/man2/ftruncate.2.html).
#[inline]
pub fn ftruncate(fd: BorrowedFd<'_>, len: u64) -> Result<(), Errno> {
    // SAFETY: ftruncate reads no memory.
    unsafe { syscall2(nr::FTRUNCATE, fd.into(), len.into()) }.map(drop)
}

/// `fstat(fd, &stat)` — the file's metadata.
///
/// # Errors
///
/// `EBADF`.
///
/// See [fstat(2)](https://man7.org/linux/man-pages/man2/fstat.2.html).
#[inline]
pub fn fstat(fd: BorrowedFd<'_>) -> Result<Stat, Errno> {
    let mut st = MaybeUninit::<Stat>::uninit();
    // SAFETY: `st` is a writable `struct stat` of the x86_64 layout.
    unsafe {
        syscall2(nr::FSTAT, fd.into(), st.as_mut_ptr().into())?;
        // SAFETY: the kernel filled every field on success.
        Ok(st.assume_init())
    }
}

#[cfg(test)]
mod tests {
    use super::Stat;

    #[test]
    fn stat_has_the_kernel_layout() {
        assert_eq!(size_of::<Stat>(), 144);
        assert_eq!(std::mem::offset_of!(Stat, size), 48);
        assert_eq!(std::mem::offset_of!(Stat, mtime), 88);
    }
}
