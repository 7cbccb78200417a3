//! Mapping a memfd into memory: [`MemFd::map`], [`MemFd::map_at`] and
//! [`MemFd::map_sealed`].
//!
//! # Safety
//!
//! [`MemFd::map`] and [`MemFd::map_at`] are `unsafe fn`: their callers
//! promise that nothing else writes or shrinks the mapped part of the file
//! while a slice of the region is in use. [`MemFd::map_sealed`] is safe
//! because it maps only files whose seals (`F_SEAL_WRITE | F_SEAL_SHRINK`,
//! which can never be removed) make those promises hold for the kernel
//! itself. Every mapping made here is handed, with exactly the length given
//! to `mmap`, to one [`MappedRegion`] (see `region.rs`), which unmaps it
//! exactly once. On a file whose block size exceeds the page size
//! (hugetlbfs), the kernel rounds a mapping up to whole blocks, so only
//! lengths that are whole blocks are mapped: the region's `munmap` then
//! covers the whole mapping, and never more.
#![expect(
    unsafe_code,
    reason = "mapping a memfd is sound only while nothing shrinks the file"
)]

use std::os::fd::BorrowedFd;

use super::{MappedRegion, MemFd};
use crate::error::{Error, Result};
use crate::sys::Errno;
use crate::sys::file::{self, Seals};
use crate::sys::mem::{self, MapFlags, Prot};

/// The page size of x86_64, to which mapping offsets must be aligned.
const PAGE_SIZE: u64 = 4096;

/// The size of the file behind `fd` and the unit its mappings are made of:
/// its block size when that exceeds the page size (on hugetlbfs, the huge
/// page size, to which the kernel rounds every mapping), else the page.
fn geometry(fd: BorrowedFd<'_>) -> Result<(u64, u64)> {
    let st = file::fstat(fd)?;
    let size = u64::try_from(st.size).map_err(|_| Error::Os(Errno::EOVERFLOW))?;
    let block = u64::try_from(st.blksize)
        .ok()
        .filter(|&b| b > PAGE_SIZE)
        .unwrap_or(PAGE_SIZE);
    Ok((size, block))
}

/// Whether a mapping of `len` bytes of a file mapped in units of `block`
/// bytes is unmapped whole by `munmap(ptr, len)`: always for the page
/// (`munmap` rounds up to pages itself), only for whole blocks otherwise.
fn unmaps_whole(len: u64, block: u64) -> bool {
    block == PAGE_SIZE || len.is_multiple_of(block)
}

impl MemFd {
    /// `mmap(NULL, len, prot, MAP_SHARED, fd, 0)` — maps the first `len`
    /// bytes of the file; as [`map_at`](MemFd::map_at) with offset 0.
    ///
    /// # Safety
    ///
    /// As [`map_at`](MemFd::map_at).
    ///
    /// # Errors
    ///
    /// As [`map_at`](MemFd::map_at).
    ///
    /// See [mmap(2)](https://man7.org/linux/man-pages/man2/mmap.2.html).
    pub unsafe fn map(&self, len: usize, prot: Prot) -> Result<MappedRegion> {
        // SAFETY: the caller keeps `map_at`'s contract, which `map` shares.
        unsafe { self.map_at(len, prot, 0) }
    }

    /// `mmap(NULL, len, prot, MAP_SHARED, fd, offset)` — maps `len` bytes
    /// of the file from `offset` into memory, shared: writes through the
    /// region reach the file (and every other mapping and reader of it),
    /// and writes to the file show in the region.
    ///
    /// The range must lie within the file (checked against its size now);
    /// the region keeps the file alive after this `MemFd` is dropped.
    ///
    /// While the region exists, [`seal`](MemFd::seal) with
    /// [`Seals::WRITE`] fails with `Os(EBUSY)`, even for a read-only
    /// region.
    ///
    /// On a hugetlb memfd (see [`new_hugetlb`](MemFd::new_hugetlb)), the
    /// kernel maps whole huge pages, so `len` must be a multiple of the huge
    /// page size (the file's block size, as `fstat` reports it): another
    /// length is refused rather than mapped, because the region could not
    /// unmap the rounded-up mapping it would get. The same rule applies to
    /// any file whose block size exceeds the page size.
    ///
    /// # Safety
    ///
    /// The region hands out ordinary Rust slices over shared memory, so:
    ///
    /// - while a slice from the region is alive, nothing else may write the
    ///   mapped pages: no [`write_at`](MemFd::write_at), no other writable
    ///   mapping of the same range (in this or another process), no writer
    ///   holding the descriptor elsewhere (the contract of memmap2's
    ///   `Mmap::map`);
    /// - while the region is accessed, nothing may shrink the file below
    ///   the mapped range (touching pages past the end raises `SIGBUS`).
    ///
    /// [`map_sealed`](MemFd::map_sealed) needs neither promise.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidParam`], before the call, for `len == 0`, an
    ///   `offset` that is not a multiple of the 4096-byte page, a `prot`
    ///   without [`Prot::READ`], a range past the end of the file, or, on a
    ///   hugetlb memfd, a `len` that is not a multiple of the huge page
    ///   size.
    /// - [`Error::Closed`].
    /// - [`Error::Permission`] for [`Prot::WRITE`] on a file sealed with
    ///   [`Seals::WRITE`] or [`Seals::FUTURE_WRITE`], or [`Prot::EXEC`]
    ///   where executable memfds are forbidden.
    /// - [`Error::NoMemory`] when memory (or, for a hugetlb memfd, the
    ///   huge page pool) runs short; `InvalidParam(`[`Error::KERNEL_EINVAL`]`)`
    ///   for an offset that is not huge-page aligned on a hugetlb memfd.
    ///
    /// See [mmap(2)](https://man7.org/linux/man-pages/man2/mmap.2.html).
    pub unsafe fn map_at(&self, len: usize, prot: Prot, offset: u64) -> Result<MappedRegion> {
        let fd = self.fd.borrow()?;
        if len == 0 {
            return Err(Error::InvalidParam("mapping length is zero"));
        }
        if !offset.is_multiple_of(PAGE_SIZE) {
            return Err(Error::InvalidParam("mapping offset is not page-aligned"));
        }
        if !prot.contains(Prot::READ) {
            return Err(Error::InvalidParam("a mapped region must be readable"));
        }
        let (size, block) = geometry(fd)?;
        if offset.checked_add(len as u64).is_none_or(|end| end > size) {
            return Err(Error::InvalidParam(
                "mapping extends past the end of the file",
            ));
        }
        if !unmaps_whole(len as u64, block) {
            return Err(Error::InvalidParam(
                "mapping length is not a multiple of the huge page size",
            ));
        }
        // SAFETY: not a fixed mapping, so nothing existing is replaced. The
        // new memory aliases the file; the caller's contract (above) keeps
        // it unchanged and within the file while slices of it are alive.
        let ptr = unsafe {
            mem::mmap(
                std::ptr::null_mut(),
                len,
                prot,
                MapFlags::SHARED,
                Some(fd),
                offset,
            )
        }?;
        // SAFETY: `ptr..ptr + len` is a fresh readable mapping owned by no
        // one else, and all of it: `len` is whole pages or whole blocks
        // (checked above), so the kernel mapped nothing past it that
        // `munmap(ptr, len)` would leave behind.
        Ok(unsafe { MappedRegion::from_raw(ptr.cast(), len, prot) })
    }

    /// `mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0)` — maps the whole
    /// file read-only, safely, because its seals make it immutable.
    ///
    /// It requires both [`Seals::WRITE`] (no write, and no writable shared
    /// mapping can exist: the kernel refuses that seal while one does) and
    /// [`Seals::SHRINK`] (the file never gets shorter than the mapping).
    /// Together they guarantee, for every holder of the file and forever,
    /// what [`map`](MemFd::map) makes the caller promise. The file may
    /// still grow (unless [`Seals::GROW`] is set); the region covers the
    /// size at the time of the call.
    ///
    /// The mapping is private: a read-only private mapping that is never
    /// written reads the file's own pages, which the seals keep unchanged,
    /// so it is exactly as immutable as a shared one. Unlike a shared one,
    /// kernels before 6.7 accept it on a write-sealed file, and it does not
    /// count as a writable mapping of the file.
    ///
    /// [`Seals::FUTURE_WRITE`] is not enough: writable mappings made before
    /// it keep writing.
    ///
    /// An empty file gives an empty region (a zero-length mapping does not
    /// exist, so none is made): [`MappedRegion::as_slice`] is `&[]`.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`]; [`Error::InvalidParam`] unless both seals are set,
    /// or, on a hugetlb memfd, when the file's size is not a multiple of
    /// the huge page size (see [`map_at`](MemFd::map_at));
    /// [`Error::NoMemory`] when memory (or the huge page pool) runs short.
    ///
    /// See [mmap(2)](https://man7.org/linux/man-pages/man2/mmap.2.html).
    pub fn map_sealed(&self) -> Result<MappedRegion> {
        let fd = self.fd.borrow()?;
        let seals = file::fcntl_get_seals(fd)?;
        if !seals.contains(Seals::WRITE | Seals::SHRINK) {
            return Err(Error::InvalidParam(
                "map_sealed needs the WRITE and SHRINK seals",
            ));
        }
        let (size, block) = geometry(fd)?;
        if size == 0 {
            return Ok(MappedRegion::empty());
        }
        if !unmaps_whole(size, block) {
            return Err(Error::InvalidParam(
                "file size is not a multiple of the huge page size",
            ));
        }
        let len = usize::try_from(size).map_err(|_| Error::NoMemory)?;
        // SAFETY: not a fixed mapping, so nothing existing is replaced. The
        // mapping is read-only and private, so it reads the file's pages
        // and is never copied; the WRITE and SHRINK seals, checked above
        // and irrevocable, keep the first `len` bytes of the file unchanged
        // and present for as long as the mapping exists.
        let ptr = unsafe {
            mem::mmap(
                std::ptr::null_mut(),
                len,
                Prot::READ,
                MapFlags::PRIVATE,
                Some(fd),
                0,
            )
        }?;
        // SAFETY: `ptr..ptr + len` is a fresh readable mapping owned by no
        // one else, and all of it (`len` is whole pages or whole blocks,
        // checked above); the region takes it over.
        Ok(unsafe { MappedRegion::from_raw(ptr.cast(), len, Prot::READ) })
    }
}
