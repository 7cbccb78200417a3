//! Opening a file on the ring: `IORING_OP_OPENAT`, whose result is a new
//! descriptor, owned by the output ([`Fd`]), closed if nobody takes it.
//!
//! # Safety
//!
//! The path is moved into the operation's storage before the SQE is built
//! and the SQE points at its bytes, which stay put (a boxed `CStr`) until
//! `output` moves them out after the final CQE; the kernel copies the path
//! while it prepares the request. The result is a descriptor the kernel
//! created for this request alone, which `output` takes ownership of once.
#![expect(
    unsafe_code,
    reason = "the SQE points at a path in the operation's storage"
)]

use std::cell::Cell;
use std::ffi::{CStr, CString};
use std::mem::MaybeUninit;
use std::os::fd::{FromRawFd, OwnedFd};

use io_uring::{opcode, squeue, types};

use crate::error::{Error, Result};
use crate::fd::Fd;
use crate::ring::Cqe;
use crate::ring::Opcode;
use crate::ring::op::{Op, cqe_error};
use crate::sys::file::OpenFlags;

/// `AT_FDCWD`: a path relative to the working directory.
const AT_FDCWD: i32 = -100;

/// Opens a file: `IORING_OP_OPENAT` relative to the working directory,
/// always with `O_CLOEXEC`. The result is the new descriptor as an
/// [`Fd`]; when nobody takes it (the token dropped, the ring dropped) it
/// is closed, never leaked.
///
/// # Examples
///
/// ```
/// use iofd::ring::Ring;
/// use iofd::ring::ops::OpenAt;
/// use iofd::sys::file::OpenFlags;
///
/// let mut ring = Ring::new(4)?;
/// let t = ring.push(OpenAt::new(c"/proc/self/stat", OpenFlags::empty()))?;
/// let fd = ring.wait(t)?;
/// let mut buf = [0u8; 16];
/// assert!(fd.read(&mut buf)? > 0);
/// # Ok::<(), iofd::Error>(())
/// ```
#[doc(alias = "IORING_OP_OPENAT")]
pub struct OpenAt {
    path: Cell<Option<Box<CStr>>>,
    ptr: Cell<*const std::ffi::c_char>,
    flags: OpenFlags,
    mode: u32,
}

impl OpenAt {
    /// Opens `path` with `flags` (and `O_CLOEXEC`).
    #[doc(alias = "IORING_OP_OPENAT")]
    pub fn new(path: &CStr, flags: OpenFlags) -> OpenAt {
        OpenAt::with_mode(path, flags, 0)
    }

    /// Opens (or, with [`OpenFlags::CREAT`], creates with `mode`) `path`.
    #[doc(alias = "IORING_OP_OPENAT")]
    pub fn with_mode(path: &CStr, flags: OpenFlags, mode: u32) -> OpenAt {
        OpenAt {
            path: Cell::new(Some(CString::from(path).into_boxed_c_str())),
            ptr: Cell::new(std::ptr::null()),
            flags: flags | OpenFlags::CLOEXEC,
            mode,
        }
    }
}

impl std::fmt::Debug for OpenAt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAt")
            .field("flags", &self.flags)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

/// Where an [`OpenAt`] keeps its path while in flight; only the driver
/// makes one.
pub struct OpenStorage {
    path: MaybeUninit<Box<CStr>>,
}

impl std::fmt::Debug for OpenStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OpenStorage")
    }
}

// SAFETY: the SQE reads the NUL-terminated path the storage owns (moved
// there by `prepare`, at an address that does not move) and writes no
// memory; the new descriptor is owned by `output`.
unsafe impl Op for OpenAt {
    type Storage = OpenStorage;
    type Output = Fd;
    const CODE: Opcode = Opcode::OPENAT;
    const NAME: &'static str = "open (IORING_OP_OPENAT)";

    #[inline]
    fn check(&self) -> Result<()> {
        // `prepare` has not moved the path out yet: it is still here.
        match self.path.take() {
            Some(p) => {
                self.path.set(Some(p));
                Ok(())
            }
            None => Err(Error::InvalidParam("the operation was pushed already")),
        }
    }

    #[inline]
    unsafe fn prepare(&self, storage: *mut OpenStorage) {
        if let Some(path) = self.path.take() {
            self.ptr.set(path.as_ptr());
            // SAFETY: the driver's promise: `storage` is writable.
            unsafe { (&raw mut (*storage).path).write(MaybeUninit::new(path)) };
        }
    }

    #[inline]
    fn entry(&self, _storage: *mut OpenStorage) -> squeue::Entry {
        opcode::OpenAt::new(types::Fd(AT_FDCWD), self.ptr.get().cast())
            .flags(self.flags.bits() as i32)
            .mode(self.mode)
            .build()
    }

    #[inline]
    unsafe fn output(cqe: Cqe, storage: *const OpenStorage) -> Result<Fd> {
        // SAFETY: called once, after the final CQE, for storage `prepare`
        // filled: the path is moved out (and freed) exactly once.
        drop(unsafe { std::ptr::read(&raw const (*storage).path).assume_init() });
        if cqe.res < 0 {
            return Err(cqe_error(cqe.res));
        }
        // SAFETY: a non-negative result of OPENAT is a descriptor the
        // kernel opened for this request; nothing else owns it.
        Ok(Fd::from(unsafe { OwnedFd::from_raw_fd(cqe.res) }))
    }
}
