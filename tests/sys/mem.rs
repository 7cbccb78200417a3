//! `sys::mem`: memfd_create, mmap and munmap, against real memfds and
//! mappings.

use std::ffi::{CString, c_void};
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::ptr::{self, NonNull};

use iofd::sys::Errno;
use iofd::sys::file::{FdFlags, Seals, fcntl_add_seals, fcntl_getfd, ftruncate};
use iofd::sys::io;
use iofd::sys::mem::{MapFlags, MemFdFlags, Prot, memfd_create, mmap, munmap};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const PAGE: usize = 4096;

/// A mapping this test owns, unmapped on drop.
struct Mapping {
    ptr: NonNull<c_void>,
    len: usize,
}

impl Mapping {
    /// Maps `len` bytes at an address of the kernel's choosing (never
    /// `FIXED`, so nothing else is replaced).
    fn new(
        len: usize,
        prot: Prot,
        flags: MapFlags,
        fd: Option<BorrowedFd<'_>>,
        offset: u64,
    ) -> Result<Mapping, Errno> {
        assert!(!flags.intersects(MapFlags::FIXED | MapFlags::FIXED_NOREPLACE));
        // SAFETY: not FIXED, so no existing mapping is replaced; the memory
        // is only reached through raw pointers below.
        let ptr = unsafe { mmap(ptr::null_mut(), len, prot, flags, fd, offset) }?;
        Ok(Mapping { ptr, len })
    }

    fn bytes(&self) -> *mut u8 {
        self.ptr.as_ptr().cast()
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: this struct owns the mapping and no reference into it
        // outlives the struct.
        let r = unsafe { munmap(self.ptr.as_ptr(), self.len) };
        assert_eq!(r, Ok(()));
    }
}

fn memfd(
    name: &str,
    flags: MemFdFlags,
) -> Result<std::os::fd::OwnedFd, Box<dyn std::error::Error>> {
    Ok(memfd_create(&CString::new(name)?, flags)?)
}

#[test]
fn shared_mapping_and_file_agree_both_ways() -> TestResult {
    let fd = memfd("sys_mem_shared", MemFdFlags::CLOEXEC)?;
    ftruncate(fd.as_fd(), PAGE as u64)?;
    let map = Mapping::new(
        PAGE,
        Prot::READ | Prot::WRITE,
        MapFlags::SHARED,
        Some(fd.as_fd()),
        0,
    )?;

    // Memory -> file.
    let msg = b"through the mapping";
    // SAFETY: the mapping is PAGE bytes, writable, and only this test uses it.
    unsafe { ptr::copy_nonoverlapping(msg.as_ptr(), map.bytes(), msg.len()) };
    let mut back = [0u8; 19];
    assert_eq!(io::read(fd.as_fd(), &mut back)?, msg.len());
    assert_eq!(&back, msg);
    let mut at = [0u8; 7];
    assert_eq!(
        io::preadv(fd.as_fd(), &mut [IoSliceMut::new(&mut at)], 12)?,
        7
    );
    assert_eq!(&at, b"mapping");

    // File -> memory.
    assert_eq!(io::pwritev(fd.as_fd(), &[IoSlice::new(b"FILE")], 100)?, 4);
    let mut seen = [0u8; 4];
    // SAFETY: offset 100..104 is inside the mapping; no other writer runs now.
    unsafe { ptr::copy_nonoverlapping(map.bytes().add(100), seen.as_mut_ptr(), 4) };
    assert_eq!(&seen, b"FILE");
    Ok(())
}

#[test]
fn anonymous_private_mapping_is_zeroed_and_writable() -> TestResult {
    let map = Mapping::new(
        2 * PAGE,
        Prot::READ | Prot::WRITE,
        MapFlags::PRIVATE | MapFlags::ANONYMOUS,
        None,
        0,
    )?;
    assert_eq!(map.ptr.as_ptr() as usize % PAGE, 0);
    // SAFETY: the mapping is 2 * PAGE bytes, readable and writable, owned here.
    let bytes = unsafe { std::slice::from_raw_parts_mut(map.bytes(), 2 * PAGE) };
    assert!(bytes.iter().all(|&b| b == 0));
    bytes[PAGE + 1] = 0xab;
    assert_eq!(bytes[PAGE + 1], 0xab);
    Ok(())
}

#[test]
fn zero_length_mapping_is_einval() {
    let err = Mapping::new(
        0,
        Prot::READ,
        MapFlags::PRIVATE | MapFlags::ANONYMOUS,
        None,
        0,
    );
    assert_eq!(err.err(), Some(Errno::EINVAL));
}

#[test]
fn unaligned_offset_is_einval() -> TestResult {
    let fd = memfd("sys_mem_offset", MemFdFlags::CLOEXEC)?;
    ftruncate(fd.as_fd(), 2 * PAGE as u64)?;
    let err = Mapping::new(PAGE, Prot::READ, MapFlags::SHARED, Some(fd.as_fd()), 1);
    assert_eq!(err.err(), Some(Errno::EINVAL));
    Ok(())
}

#[test]
fn file_mapping_without_fd_is_ebadf() {
    let err = Mapping::new(PAGE, Prot::READ, MapFlags::SHARED, None, 0);
    assert_eq!(err.err(), Some(Errno::EBADF));
}

#[test]
fn fixed_mapping_at_null_is_refused() {
    // SAFETY: refused before the call, so nothing is mapped or replaced.
    let r = unsafe {
        mmap(
            ptr::null_mut(),
            PAGE,
            Prot::READ,
            MapFlags::PRIVATE | MapFlags::ANONYMOUS | MapFlags::FIXED,
            None,
            0,
        )
    };
    assert_eq!(r, Err(Errno::EINVAL));
}

#[test]
fn fixed_noreplace_over_an_existing_mapping_is_eexist() -> TestResult {
    let map = Mapping::new(
        PAGE,
        Prot::READ,
        MapFlags::PRIVATE | MapFlags::ANONYMOUS,
        None,
        0,
    )?;
    // SAFETY: FIXED_NOREPLACE never replaces a mapping; the range is ours.
    let r = unsafe {
        mmap(
            map.ptr.as_ptr(),
            PAGE,
            Prot::READ,
            MapFlags::PRIVATE | MapFlags::ANONYMOUS | MapFlags::FIXED_NOREPLACE,
            None,
            0,
        )
    };
    assert_eq!(r, Err(Errno::EEXIST));
    Ok(())
}

#[test]
fn shared_validate_rejects_unknown_flags() -> TestResult {
    let fd = memfd("sys_mem_validate", MemFdFlags::CLOEXEC)?;
    ftruncate(fd.as_fd(), PAGE as u64)?;
    let ok = Mapping::new(
        PAGE,
        Prot::READ,
        MapFlags::SHARED_VALIDATE,
        Some(fd.as_fd()),
        0,
    )?;
    drop(ok);
    // Bit 25 is no MAP_* flag: SHARED ignores it, SHARED_VALIDATE refuses it.
    let bit25 = MapFlags::from_bits_retain(0x0200_0000);
    Mapping::new(
        PAGE,
        Prot::READ,
        MapFlags::SHARED | bit25,
        Some(fd.as_fd()),
        0,
    )?;
    let unknown = MapFlags::SHARED_VALIDATE | bit25;
    let err = Mapping::new(PAGE, Prot::READ, unknown, Some(fd.as_fd()), 0);
    assert_eq!(err.err(), Some(Errno::EOPNOTSUPP));
    Ok(())
}

#[test]
fn munmap_of_an_unaligned_address_is_einval() -> TestResult {
    let map = Mapping::new(
        PAGE,
        Prot::READ,
        MapFlags::PRIVATE | MapFlags::ANONYMOUS,
        None,
        0,
    )?;
    // SAFETY: the kernel rejects the unaligned address before unmapping
    // anything; the mapping stays owned by `map`.
    let r = unsafe { munmap(map.bytes().add(1).cast(), PAGE) };
    assert_eq!(r, Err(Errno::EINVAL));
    Ok(())
}

#[test]
fn memfd_is_named_and_flags_apply() -> TestResult {
    let fd = memfd("sys_mem_named", MemFdFlags::CLOEXEC)?;
    assert!(fcntl_getfd(fd.as_fd())?.contains(FdFlags::CLOEXEC));
    let link = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))?;
    assert_eq!(link.to_string_lossy(), "/memfd:sys_mem_named (deleted)");

    let plain = memfd("sys_mem_plain", MemFdFlags::empty())?;
    assert!(!fcntl_getfd(plain.as_fd())?.contains(FdFlags::CLOEXEC));
    Ok(())
}

#[test]
fn memfd_bad_flags_are_einval() {
    let c = c"sys_mem_bad";
    assert_eq!(
        memfd_create(c, MemFdFlags::from_bits_retain(0x40)).unwrap_err(),
        Errno::EINVAL
    );
    let both = MemFdFlags::NOEXEC_SEAL | MemFdFlags::EXEC;
    assert_eq!(memfd_create(c, both).unwrap_err(), Errno::EINVAL);
}

#[test]
fn memfd_name_longer_than_249_bytes_is_einval() -> TestResult {
    memfd(&"n".repeat(249), MemFdFlags::CLOEXEC)?;
    let err = memfd_create(&CString::new("n".repeat(250))?, MemFdFlags::CLOEXEC).unwrap_err();
    assert_eq!(err, Errno::EINVAL);
    Ok(())
}

#[test]
fn writable_shared_mapping_of_a_write_sealed_memfd_is_eperm() -> TestResult {
    let fd = memfd(
        "sys_mem_sealed",
        MemFdFlags::CLOEXEC | MemFdFlags::ALLOW_SEALING,
    )?;
    ftruncate(fd.as_fd(), PAGE as u64)?;
    fcntl_add_seals(fd.as_fd(), Seals::WRITE)?;
    let err = Mapping::new(
        PAGE,
        Prot::READ | Prot::WRITE,
        MapFlags::SHARED,
        Some(fd.as_fd()),
        0,
    );
    assert_eq!(err.err(), Some(Errno::EPERM));
    // Reading is still allowed.
    Mapping::new(PAGE, Prot::READ, MapFlags::SHARED, Some(fd.as_fd()), 0)?;
    Ok(())
}

#[test]
fn munmap_releases_the_range() -> TestResult {
    let flags = MapFlags::PRIVATE | MapFlags::ANONYMOUS;
    // Another test thread may map into the freed range between our munmap
    // and the re-map; a few attempts make that race harmless, while a
    // munmap that did nothing fails every attempt with EEXIST.
    for _ in 0..5 {
        // SAFETY: not FIXED, so nothing is replaced; the memory is never
        // referenced from Rust.
        let p = unsafe { mmap(ptr::null_mut(), PAGE, Prot::READ, flags, None, 0) }?;
        // SAFETY: this test owns the mapping and holds no reference into it.
        unsafe { munmap(p.as_ptr(), PAGE) }?;
        // The range is free again: FIXED_NOREPLACE can claim exactly it (it
        // would be EEXIST while mapped, as the test above shows).
        // SAFETY: FIXED_NOREPLACE never replaces a mapping.
        let again = unsafe {
            mmap(
                p.as_ptr(),
                PAGE,
                Prot::READ,
                flags | MapFlags::FIXED_NOREPLACE,
                None,
                0,
            )
        };
        match again {
            Ok(q) => {
                assert_eq!(q, p);
                // SAFETY: owned here, unreferenced.
                unsafe { munmap(q.as_ptr(), PAGE) }?;
                return Ok(());
            }
            Err(Errno::EEXIST) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err("the unmapped range was never free again".into())
}
