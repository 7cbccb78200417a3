//! `MappedRegion`: one owned mapping of a memfd.
//!
//! # Safety
//!
//! A `MappedRegion` owns the mapping `ptr..ptr + len` (none when `len` is
//! 0) and unmaps it exactly once, in `unmap` or `Drop`. It is made only by
//! [`MappedRegion::from_raw`], whose callers in `map.rs` hand over a fresh
//! mapping, readable, of exactly `len` bytes (rounded up to pages, never to
//! more: `munmap(ptr, len)` removes all of it), within the file, under a
//! guarantee (the caller's promise or the file's seals) that nothing else
//! writes or truncates it while slices of it are alive. Slices borrow the
//! region, so none outlives the mapping.
#![expect(
    unsafe_code,
    reason = "MappedRegion owns a mapping and hands out slices of it"
)]

use std::fmt;
use std::mem::ManuallyDrop;
use std::ptr::NonNull;

use crate::error::{Error, Result};
use crate::sys::mem::{self, Prot};

/// A mapping of (part of) a [`MemFd`](crate::MemFd), unmapped on drop.
///
/// Made by [`MemFd::map`](crate::MemFd::map),
/// [`MemFd::map_at`](crate::MemFd::map_at) or, safely,
/// [`MemFd::map_sealed`](crate::MemFd::map_sealed). The mapping holds its
/// own reference to the file, so a region outlives the `MemFd` it came
/// from. A region from `map` or `map_at` is `MAP_SHARED`: what is written
/// through it reaches the file, and what is written to the file shows in
/// it. A region from `map_sealed` is a read-only `MAP_PRIVATE` mapping of
/// a file whose seals forbid every change.
///
/// # Examples
///
/// ```
/// use iofd::{MemFd, Prot};
///
/// let memfd = MemFd::new("buffer")?;
/// memfd.set_len(4096)?;
/// // SAFETY: nothing else writes this new, private memfd while the region
/// // is in use.
/// let mut region = unsafe { memfd.map(4096, Prot::READ | Prot::WRITE)? };
/// region.as_mut_slice()?[..5].copy_from_slice(b"hello");
///
/// let mut buf = [0u8; 5];
/// memfd.read_at(&mut buf, 0)?;
/// assert_eq!(&buf, b"hello");
/// region.unmap()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct MappedRegion {
    ptr: NonNull<u8>,
    len: usize,
    prot: Prot,
}

// SAFETY: a region owns its mapping as a `Vec<u8>` owns its buffer: the
// memory is process-wide, and unmapping it from another thread is fine.
unsafe impl Send for MappedRegion {}

// SAFETY: through `&MappedRegion` the memory is only read (`as_slice`,
// `as_ptr`); writing needs `&mut` (`as_mut_slice`), so shared references on
// several threads see memory that nobody changes (the mapping's contract).
unsafe impl Sync for MappedRegion {}

impl MappedRegion {
    /// Takes over the mapping `ptr..ptr + len` made with `prot`.
    ///
    /// # Safety
    ///
    /// - `ptr..ptr + len` is a mapping, `len > 0`, readable (`prot` holds
    ///   [`Prot::READ`]), that no one else owns or unmaps, and the whole of
    ///   it: the kernel did not round it up past the page holding the last
    ///   byte (as it does, to whole huge pages, on hugetlbfs), so that
    ///   `munmap(ptr, len)` removes it all.
    /// - The mapped file covers the whole range, and nothing else writes it
    ///   or truncates it while slices of the region are alive.
    pub(super) unsafe fn from_raw(ptr: NonNull<u8>, len: usize, prot: Prot) -> MappedRegion {
        MappedRegion { ptr, len, prot }
    }

    /// The region of an empty file: nothing is mapped.
    pub(super) fn empty() -> MappedRegion {
        MappedRegion {
            ptr: NonNull::dangling(),
            len: 0,
            prot: Prot::READ,
        }
    }

    /// The length in bytes, as asked for when mapping (the mapping itself
    /// is rounded up to whole pages).
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the region is empty (mapped from an empty sealed file).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The protection the region was mapped with.
    #[inline]
    pub fn prot(&self) -> Prot {
        self.prot
    }

    /// The first byte of the region (dangling, but non-null and aligned,
    /// when it is empty).
    #[inline]
    pub fn as_ptr(&self) -> *const u8 {
        self.ptr.as_ptr()
    }

    /// The region's bytes.
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `from_raw`'s contract: `len` readable bytes at `ptr`,
        // mapped while `self` lives, within the file and unchanged while
        // this borrow lasts (or `len == 0` and `ptr` is dangling, which an
        // empty slice allows).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    /// The region's bytes, writable; the writes reach the file.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParam`] unless the region was mapped with
    /// [`Prot::WRITE`].
    #[inline]
    pub fn as_mut_slice(&mut self) -> Result<&mut [u8]> {
        if !self.prot.contains(Prot::WRITE) {
            return Err(Error::InvalidParam("region is not mapped writable"));
        }
        // SAFETY: as `as_slice`, and the pages are writable (`Prot::WRITE`,
        // checked above); `&mut self` excludes every other slice of this
        // region, and the mapping's contract every other writer.
        Ok(unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) })
    }

    /// `munmap(ptr, len)` — removes the mapping now, reporting an error
    /// that dropping would ignore.
    ///
    /// # Errors
    ///
    /// `InvalidParam(`[`Error::KERNEL_EINVAL`]`)` if the kernel refuses; the
    /// mapping is then left in place, leaked. The kernel refuses to unmap
    /// part of a huge page, which is why a hugetlb memfd is only mapped in
    /// whole huge pages (see [`MemFd::map_at`](crate::MemFd::map_at)); a
    /// region's length is thus always one `munmap` accepts.
    ///
    /// See [munmap(2)](https://man7.org/linux/man-pages/man2/munmap.2.html).
    pub fn unmap(self) -> Result<()> {
        let this = ManuallyDrop::new(self);
        this.release()
    }

    fn release(&self) -> Result<()> {
        if self.len == 0 {
            return Ok(());
        }
        // SAFETY: the region owns this mapping and is being consumed
        // (`unmap` or `drop`), so no slice of it is alive and nothing
        // unmaps it again.
        Ok(unsafe { mem::munmap(self.ptr.as_ptr().cast(), self.len) }?)
    }
}

impl Drop for MappedRegion {
    fn drop(&mut self) {
        let _ = self.release();
    }
}

impl fmt::Debug for MappedRegion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MappedRegion")
            .field("ptr", &self.ptr)
            .field("len", &self.len)
            .field("prot", &self.prot)
            .finish()
    }
}
