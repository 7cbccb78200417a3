//! `MemFd`: an anonymous, sealable, mappable in-memory file.
//!
//! The mappings ([`MemFd::map`], [`MemFd::map_at`], [`MemFd::map_sealed`])
//! and the unsafe code they need live in `memfd/map.rs`; the
//! [`MappedRegion`] that owns each mapping in `memfd/region.rs`.

use std::ffi::CStr;
use std::os::fd::{AsRawFd, BorrowedFd};

use super::{Fd, handle_impls};
use crate::error::{Error, Result};
use crate::sys::file::{self, Seals};
use crate::sys::mem::{self, MemFdFlags};
use crate::sys::{Errno, io};

mod map;
mod region;

pub use region::MappedRegion;

/// The longest name `memfd_create` accepts, in bytes (`NAME_MAX` less the
/// `memfd:` prefix).
const NAME_MAX: usize = 249;

/// An anonymous file that lives in memory (`memfd_create`).
///
/// A memfd behaves like a regular file on tmpfs that has no path: it can be
/// resized, read and written at offsets, mapped into memory, and handed to
/// another process (over a unix socket, or inherited), which then shares
/// the same pages. Its memory is freed when the last descriptor and the
/// last mapping are gone. Its name only labels it in
/// `/proc/<pid>/fd` (`/memfd:<name> (deleted)`); names need not be unique.
///
/// A memfd made with [`new_sealable`](MemFd::new_sealable) can be *sealed*:
/// each seal forbids a kind of change (shrinking, growing, writing, adding
/// more seals) for good, for every holder of the file. A receiver that
/// checks the seals can then trust the contents not to change under it:
/// [`map_sealed`](MemFd::map_sealed) maps such a file safely.
///
/// `MemFd` is close-on-exec; it has no non-blocking mode (file I/O on
/// memory never waits).
///
/// # Examples
///
/// ```
/// use iofd::{Error, MemFd, Seals};
///
/// let memfd = MemFd::new_sealable("config")?;
/// assert_eq!(memfd.name(), "config");
/// memfd.write_at(b"threads=4", 0)?;
/// assert_eq!(memfd.len()?, 9);
///
/// memfd.seal(Seals::WRITE | Seals::SHRINK | Seals::GROW | Seals::SEAL)?;
/// assert_eq!(memfd.write_at(b"x", 0), Err(Error::Permission));
///
/// let region = memfd.map_sealed()?; // safe: the contents can no longer change
/// assert_eq!(region.as_slice(), b"threads=4");
/// drop(memfd); // the mapping keeps the file alive
/// assert_eq!(&region.as_slice()[..7], b"threads");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct MemFd {
    fd: Fd,
    name: String,
}

impl MemFd {
    /// `memfd_create(name, MFD_CLOEXEC)` — creates an empty, close-on-exec
    /// memfd that cannot be sealed (the kernel sets [`Seals::SEAL`] on it).
    ///
    /// The name is copied into a stack buffer to be NUL-terminated; nothing
    /// is allocated for it but the cached copy [`name`](MemFd::name)
    /// returns.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidParam`] for a name containing NUL or longer than
    ///   249 bytes, before any syscall.
    /// - `Os(EMFILE)`/`Os(ENFILE)` when no descriptor is free;
    ///   [`Error::NoMemory`].
    ///
    /// See [memfd_create(2)](https://man7.org/linux/man-pages/man2/memfd_create.2.html).
    pub fn new(name: &str) -> Result<MemFd> {
        MemFd::create(name, MemFdFlags::CLOEXEC)
    }

    /// `memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING)` — as
    /// [`new`](MemFd::new), but the memfd accepts [`seal`](MemFd::seal).
    ///
    /// # Errors
    ///
    /// As [`new`](MemFd::new).
    ///
    /// See [memfd_create(2)](https://man7.org/linux/man-pages/man2/memfd_create.2.html).
    pub fn new_sealable(name: &str) -> Result<MemFd> {
        MemFd::create(name, MemFdFlags::CLOEXEC | MemFdFlags::ALLOW_SEALING)
    }

    /// `memfd_create(name, MFD_CLOEXEC | MFD_HUGETLB)` — as
    /// [`new`](MemFd::new), but backed by huge pages of the default size
    /// (2 MiB on x86_64), from the pool the administrator reserved
    /// (`/proc/sys/vm/nr_hugepages`).
    ///
    /// Creation succeeds even when the pool is empty; the shortage shows
    /// later, when the pages are needed ([`map`](MemFd::map) fails with
    /// [`Error::NoMemory`]). On a hugetlb memfd, sizes and mapping offsets
    /// must be multiples of the huge page size, and so must mapping lengths
    /// (see [`map_at`](MemFd::map_at)); the kernel does not
    /// support [`write_at`](MemFd::write_at): write through a mapping.
    ///
    /// # Errors
    ///
    /// As [`new`](MemFd::new); [`Error::InvalidParam`] or `Os(ENOENT)`
    /// when the kernel has no hugetlbfs support.
    ///
    /// See [memfd_create(2)](https://man7.org/linux/man-pages/man2/memfd_create.2.html).
    pub fn new_hugetlb(name: &str) -> Result<MemFd> {
        MemFd::create(name, MemFdFlags::CLOEXEC | MemFdFlags::HUGETLB)
    }

    fn create(name: &str, flags: MemFdFlags) -> Result<MemFd> {
        let mut buf = [0u8; NAME_MAX + 1];
        let bytes = name.as_bytes();
        let Some(dst) = buf.get_mut(..bytes.len()) else {
            return Err(Error::InvalidParam("memfd name longer than 249 bytes"));
        };
        dst.copy_from_slice(bytes);
        let Some(with_nul) = buf.get(..=bytes.len()) else {
            return Err(Error::InvalidParam("memfd name longer than 249 bytes"));
        };
        let Ok(cname) = CStr::from_bytes_with_nul(with_nul) else {
            return Err(Error::InvalidParam("memfd name contains NUL"));
        };
        let fd = mem::memfd_create(cname, flags)?;
        Ok(MemFd {
            fd: Fd::from(fd),
            name: name.to_owned(),
        })
    }

    /// Rebuilds the handle around a memfd, reading its name back from the
    /// `/proc/self/fd` link (`/memfd:<name> (deleted)`); empty when the
    /// link does not have that form.
    fn from_fd(fd: Fd) -> MemFd {
        let name = fd
            .borrow()
            .ok()
            .and_then(|b| std::fs::read_link(format!("/proc/self/fd/{}", b.as_raw_fd())).ok())
            .and_then(|target| {
                let target = target.into_os_string().into_string().ok()?;
                let rest = target.strip_prefix("/memfd:")?;
                Some(rest.strip_suffix(" (deleted)").unwrap_or(rest).to_owned())
            })
            .unwrap_or_default();
        MemFd { fd, name }
    }

    /// The name given at creation (no syscall). It is not unique and only
    /// labels the file in `/proc/<pid>/fd`.
    #[inline]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ftruncate(fd, size)` — sets the file's size; growth reads as zeros.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`]; [`Error::Permission`] when a seal forbids the
    /// change ([`Seals::SHRINK`], [`Seals::GROW`]);
    /// `InvalidParam(`[`Error::KERNEL_EINVAL`]`)` for a size past
    /// `i64::MAX` (or, on a hugetlb memfd, not a multiple of the huge page
    /// size); `Os(EFBIG)` past the file size limit.
    ///
    /// See [ftruncate(2)](https://man7.org/linux/man-pages/man2/ftruncate.2.html).
    pub fn set_len(&self, size: u64) -> Result<()> {
        let fd = self.fd.borrow()?;
        Ok(file::ftruncate(fd, size)?)
    }

    /// `fstat(fd)` — the file's size in bytes.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`]; the kernel's errors.
    ///
    /// See [fstat(2)](https://man7.org/linux/man-pages/man2/fstat.2.html).
    pub fn len(&self) -> Result<u64> {
        file_size(self.fd.borrow()?)
    }

    /// `fstat(fd)` — whether the file's size is 0.
    ///
    /// # Errors
    ///
    /// As [`len`](MemFd::len).
    ///
    /// See [fstat(2)](https://man7.org/linux/man-pages/man2/fstat.2.html).
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// `pread64(fd, buf, offset)` — reads up to `buf.len()` bytes at
    /// `offset`, leaving the file position alone (as std's
    /// `FileExt::read_at`); `Ok(0)` at or past the end.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`]; `InvalidParam(`[`Error::KERNEL_EINVAL`]`)` for an
    /// offset past `i64::MAX`.
    ///
    /// See [pread(2)](https://man7.org/linux/man-pages/man2/pread.2.html).
    #[inline]
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize> {
        let fd = self.fd.borrow()?;
        Ok(io::pread(fd, buf, offset)?)
    }

    /// `pwrite64(fd, buf, offset)` — writes up to `buf.len()` bytes at
    /// `offset`, growing the file as needed and leaving the file position
    /// alone (as std's `FileExt::write_at`).
    ///
    /// # Errors
    ///
    /// [`Error::Closed`]; [`Error::Permission`] when a seal forbids the
    /// write ([`Seals::WRITE`], [`Seals::FUTURE_WRITE`], or
    /// [`Seals::GROW`] for a write past the end);
    /// `InvalidParam(`[`Error::KERNEL_EINVAL`]`)` for an offset past
    /// `i64::MAX`, or on a hugetlb memfd; `Os(EFBIG)` past the file size
    /// limit.
    ///
    /// See [pwrite(2)](https://man7.org/linux/man-pages/man2/pwrite.2.html).
    #[inline]
    pub fn write_at(&self, buf: &[u8], offset: u64) -> Result<usize> {
        let fd = self.fd.borrow()?;
        Ok(io::pwrite(fd, buf, offset)?)
    }

    /// `fcntl(fd, F_ADD_SEALS, seals)` — adds seals, for good and for every
    /// holder of the file. Adding a seal already set is not an error.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`]; [`Error::Permission`] when [`Seals::SEAL`] is
    /// set, which includes every memfd not made by
    /// [`new_sealable`](MemFd::new_sealable); `Os(EBUSY)` for
    /// [`Seals::WRITE`] while any shared mapping of the file exists, even
    /// a read-only one: every [`MappedRegion`] from [`map`](MemFd::map) or
    /// [`map_at`](MemFd::map_at), whatever its [`Prot`](crate::Prot), in
    /// any process (the kernel counts a shared mapping of a file opened for
    /// writing as writable, since `mprotect` could make it so; regions from
    /// [`map_sealed`](MemFd::map_sealed) are private and do not count);
    /// `InvalidParam(`[`Error::KERNEL_EINVAL`]`)` for an unknown seal bit.
    ///
    /// See [memfd_create(2)](https://man7.org/linux/man-pages/man2/memfd_create.2.html)
    /// (File sealing).
    pub fn seal(&self, seals: Seals) -> Result<()> {
        let fd = self.fd.borrow()?;
        Ok(file::fcntl_add_seals(fd, seals)?)
    }

    /// `fcntl(fd, F_GET_SEALS)` — the seals set on the file.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`]; the kernel's errors.
    ///
    /// See [fcntl(2)](https://man7.org/linux/man-pages/man2/fcntl.2.html).
    pub fn seals(&self) -> Result<Seals> {
        let fd = self.fd.borrow()?;
        Ok(file::fcntl_get_seals(fd)?)
    }
}

/// The size of the file behind `fd`.
fn file_size(fd: BorrowedFd<'_>) -> Result<u64> {
    let st = file::fstat(fd)?;
    u64::try_from(st.size).map_err(|_| Error::Os(Errno::EOVERFLOW))
}

handle_impls!(MemFd, MemFd::from_fd);
