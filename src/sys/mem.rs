//! Memory: `memfd_create`, `mmap`, `munmap`.
//!
//! Sealing and resizing a memfd are descriptor operations and live in
//! [`sys::file`](super::file) (`fcntl_add_seals`, `ftruncate`).
//!
//! # Safety
//!
//! `memfd_create` only passes the kernel a live, NUL-terminated name.
//! `mmap` and `munmap` change the address space itself, which Rust's memory
//! model cannot see: they are `unsafe fn`, and their callers promise that no
//! memory Rust still uses is replaced or unmapped, and that shared memory
//! other parties can change is never treated as ordinary Rust data.
#![expect(
    unsafe_code,
    reason = "mmap and munmap change the address space behind Rust's back"
)]

use std::ffi::{CStr, c_void};
use std::os::fd::{BorrowedFd, OwnedFd};
use std::ptr::NonNull;

use bitflags::bitflags;

use super::{A4, ArgReg, Errno, nr, owned_fd, syscall2, syscall6_ptr};

bitflags! {
    /// Memory protection of a mapping (`PROT_*`): what the program may do
    /// with its pages.
    ///
    /// `PROT_NONE` — no access at all, any touch faults — is
    /// [`Prot::NONE`], the empty set. x86_64 pages cannot be writable
    /// without being readable, so `WRITE` implies `READ` there; ask for what
    /// you use anyway.
    /// A shared mapping of a file opened read-only, or of a memfd sealed
    /// against writing, cannot be [`WRITE`](Prot::WRITE).
    ///
    /// # Examples
    ///
    /// ```
    /// use iofd::sys::mem::Prot;
    ///
    /// let rw = Prot::READ | Prot::WRITE;
    /// assert!(rw.contains(Prot::READ));
    /// assert!(!rw.contains(Prot::EXEC));
    /// assert_eq!(Prot::NONE, Prot::empty());
    /// ```
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct Prot: u32 {
        /// `PROT_READ`: pages may be read.
        const READ = 0x1;
        /// `PROT_WRITE`: pages may be written.
        const WRITE = 0x2;
        /// `PROT_EXEC`: pages may be executed.
        const EXEC = 0x4;
    }
}

impl Prot {
    /// `PROT_NONE`: no access; the same as [`Prot::empty()`]. Useful to
    /// reserve address space or to fence a guard page.
    pub const NONE: Prot = Prot::empty();
}

bitflags! {
    /// Flags of `mmap` (`MAP_*`).
    ///
    /// Exactly one mapping type is required: [`SHARED`](MapFlags::SHARED),
    /// [`PRIVATE`](MapFlags::PRIVATE) or
    /// [`SHARED_VALIDATE`](MapFlags::SHARED_VALIDATE).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct MapFlags: u32 {
        /// `MAP_SHARED`: writes reach the file and every other mapping of it.
        const SHARED = 0x01;
        /// `MAP_PRIVATE`: a copy-on-write mapping; writes stay private.
        const PRIVATE = 0x02;
        /// `MAP_SHARED_VALIDATE`: [`SHARED`](MapFlags::SHARED), but unknown
        /// flags fail with `EOPNOTSUPP` instead of being ignored. The kernel
        /// reads the mapping type as a 2-bit number, so this is the value 3,
        /// the bits of `SHARED | PRIVATE` together: it is not a union of
        /// the two.
        const SHARED_VALIDATE = 0x03;
        /// `MAP_FIXED`: map exactly at `addr`, replacing whatever was
        /// mapped there.
        const FIXED = 0x10;
        /// `MAP_ANONYMOUS`: zero-filled memory backed by no file; `fd` is
        /// ignored and `offset` must be 0.
        const ANONYMOUS = 0x20;
        /// `MAP_NORESERVE`: reserve no swap space for the mapping.
        const NORESERVE = 0x4000;
        /// `MAP_POPULATE`: prefault the pages now.
        const POPULATE = 0x8000;
        /// `MAP_HUGETLB`: back the mapping with huge pages.
        const HUGETLB = 0x40000;
        /// `MAP_FIXED_NOREPLACE`: map exactly at `addr`, failing with
        /// `EEXIST` if anything is mapped there.
        const FIXED_NOREPLACE = 0x100000;
    }
}

bitflags! {
    /// Flags of `memfd_create` (`MFD_*`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct MemFdFlags: u32 {
        /// `MFD_CLOEXEC`: the descriptor is close-on-exec.
        const CLOEXEC = 0x1;
        /// `MFD_ALLOW_SEALING`: seals may be added with `F_ADD_SEALS`.
        const ALLOW_SEALING = 0x2;
        /// `MFD_HUGETLB`: back the file with huge pages (the size in bits
        /// 26..32, `MFD_HUGE_*`, or the default huge page size).
        const HUGETLB = 0x4;
        /// `MFD_NOEXEC_SEAL`: not executable, sealed so it stays so
        /// (implies `ALLOW_SEALING`).
        const NOEXEC_SEAL = 0x8;
        /// `MFD_EXEC`: executable, even when `vm.memfd_noexec` says
        /// otherwise.
        const EXEC = 0x10;
    }
}

/// `memfd_create(name, flags)` — creates an anonymous, growable in-memory
/// file of size 0; `name` appears in `/proc/self/fd` as `memfd:<name>`.
///
/// # Errors
///
/// `EINVAL` for a name longer than 249 bytes, unknown `flags`, or both
/// `NOEXEC_SEAL` and `EXEC`; `EMFILE`/`ENFILE`; `ENOMEM`.
///
/// See [memfd_create(2)](https://man7.org/linux/man-pages/man2/memfd_create.2.html).
#[inline]
pub fn memfd_create(name: &CStr, flags: MemFdFlags) -> Result<OwnedFd, Errno> {
    // SAFETY: `name` is NUL-terminated and live for the call; memfd_create
    // returns a new descriptor.
    unsafe {
        let r = syscall2(nr::MEMFD_CREATE, name.as_ptr().into(), flags.bits().into())?;
        Ok(owned_fd(r))
    }
}

/// `mmap(addr, len, prot, flags, fd, offset)` — maps `len` bytes (rounded
/// up to whole pages) of `fd` from `offset`, or anonymous memory, and
/// returns the start of the mapping.
///
/// `addr` is a hint (null for "anywhere") unless `flags` holds `FIXED` or
/// `FIXED_NOREPLACE`. `fd: None` passes `-1`, as anonymous mappings want.
/// A fixed mapping at address 0 is refused with `EINVAL` before the call,
/// since its start could not be a `NonNull`. The caller owns the new
/// mapping and releases it with [`munmap`].
///
/// # Safety
///
/// - With [`MapFlags::FIXED`], the kernel silently replaces every mapping in
///   `addr..addr + len`: no memory there may be in use by Rust (the heap,
///   stacks, statics, a live reference, or another owner's mapping).
/// - A mapping of a file ([`MapFlags::SHARED`], and the not yet written
///   pages of a private one) aliases its contents, which other processes,
///   other mappings and writes to the file can change at any moment: the caller must not form references (`&[u8]`, `&mut T`)
///   that assume the memory is exclusive or unchanging while others may
///   write it; use raw pointer, volatile or atomic access instead.
/// - Pages of a file mapping past the file's end (after a truncate by
///   anyone) raise `SIGBUS` when touched: the caller must keep accessed
///   pages within the file, e.g. with seals.
/// - Mapping an io_uring's rings (`fd` a ring, `offset` one of the
///   `IORING_OFF_*` values) makes every SQE written there a submission
///   (with `SQPOLL`, without any `io_uring_enter`): whoever writes SQEs into
///   that memory carries the obligations of
///   [`io_uring_enter`](super::uring::io_uring_enter).
///
/// # Errors
///
/// `EINVAL` for `len == 0`, an unaligned `offset` or fixed `addr`, or a
/// missing or doubled mapping type; `EACCES` when `fd` is not open for the
/// access asked for; `EPERM` for a writable shared mapping of a
/// write-sealed memfd; `EEXIST` with `FIXED_NOREPLACE`; `EBADF`; `ENODEV`;
/// `ENOMEM`; `EOPNOTSUPP` for an unknown flag with `SHARED_VALIDATE`.
///
/// See [mmap(2)](https://man7.org/linux/man-pages/man2/mmap.2.html).
#[inline]
pub unsafe fn mmap(
    addr: *mut c_void,
    len: usize,
    prot: Prot,
    flags: MapFlags,
    fd: Option<BorrowedFd<'_>>,
    offset: u64,
) -> Result<NonNull<c_void>, Errno> {
    if addr.is_null() && flags.intersects(MapFlags::FIXED | MapFlags::FIXED_NOREPLACE) {
        return Err(Errno::EINVAL);
    }
    let fd: ArgReg<'_, A4> = fd.map_or((-1i32).into(), Into::into);
    // SAFETY: the caller answers for replaced mappings and for how the new
    // memory is used; the kernel reads no Rust memory here.
    let r = unsafe {
        syscall6_ptr(
            nr::MMAP,
            addr.into(),
            len.into(),
            prot.bits().into(),
            flags.bits().into(),
            fd,
            offset.into(),
        )
    }?;
    // Only a fixed mapping can start at 0, and that was refused above.
    NonNull::new(r).ok_or(Errno::EINVAL)
}

/// `munmap(addr, len)` — removes the mappings in `addr..addr + len`
/// (rounded up to whole pages). Unmapping a range with nothing mapped is
/// not an error.
///
/// # Safety
///
/// - No memory in the range may still be used by Rust: no live reference
///   into it, no heap block, stack or static in it, and no mapping that
///   another owner (an allocator, a ring driver) still relies on.
///
/// # Errors
///
/// `EINVAL` for an `addr` that is not page-aligned, `len == 0`, or a range
/// outside the address space.
///
/// See [munmap(2)](https://man7.org/linux/man-pages/man2/munmap.2.html).
#[inline]
pub unsafe fn munmap(addr: *mut c_void, len: usize) -> Result<(), Errno> {
    // SAFETY: the caller promises nothing in the range is still in use.
    unsafe { syscall2(nr::MUNMAP, addr.into(), len.into()) }.map(drop)
}
