//! Installing a file the process holds into a free slot of the ring's
//! table of direct descriptors (`IORING_OP_FILES_UPDATE` with
//! `IORING_FILE_INDEX_ALLOC`): the result is a [`Direct`], as a direct
//! accept's is, so that a ring whose one file table holds direct
//! connections can still name an eventfd or a timerfd by index.
//!
//! # Safety
//!
//! The SQE points the kernel at the operation's storage: the descriptor
//! number it reads, in whose place it writes the slot it picked. The
//! descriptor is one the operation owns and keeps open until the final
//! CQE; the storage is the driver's, and read only after that CQE.
#![expect(
    unsafe_code,
    reason = "implements the unsafe Op trait for a file installation"
)]

use std::fmt;
use std::marker::PhantomData;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::Arc;

use io_uring::{opcode, squeue};

use crate::error::{Error, Result};
use crate::ring::op::{Op, cqe_error};
use crate::ring::{Cqe, Direct, DirectFiles, Opcode};

/// `IORING_FILE_INDEX_ALLOC` as the `off` of a files update: the kernel
/// picks a free slot and writes its index back over the descriptor.
const INDEX_ALLOC: i32 = -1;

/// Installs a file into a free slot of the ring's table of direct
/// descriptors: `IORING_OP_FILES_UPDATE` with `IORING_FILE_INDEX_ALLOC`
/// (Linux 5.19). The table holds the file from then on; the descriptor
/// the operation was given is closed with its final CQE. The result is a
/// [`Direct`] owning the slot, which names the file as a
/// [`Fixed<S>`](crate::ring::Fixed) ([`Direct::fixed`]); a table with no
/// free slot fails it with `Os(ENFILE)`.
///
/// [`Ring::install_direct`](crate::ring::Ring::install_direct) runs one
/// for a handle; push this to install files in a batch.
///
/// # Examples
///
/// ```
/// use std::os::fd::AsFd;
/// use iofd::EventFd;
/// use iofd::ring::Ring;
/// use iofd::ring::ops::InstallDirect;
///
/// let mut ring = Ring::new(8)?;
/// let files = ring.register_files_sparse(16)?;
/// let efd = EventFd::new(0)?;
/// let op = InstallDirect::<EventFd>::new(files, efd.as_fd().try_clone_to_owned().unwrap());
/// let direct = ring.run(op)?;
/// efd.signal(3)?;
/// assert_eq!(ring.run(direct.fixed().read_op())?, 3);
/// # Ok::<(), iofd::Error>(())
/// ```
#[doc(alias("IORING_OP_FILES_UPDATE", "IORING_FILE_INDEX_ALLOC"))]
pub struct InstallDirect<S> {
    fd: Arc<OwnedFd>,
    files: DirectFiles,
    _file: PhantomData<fn() -> S>,
}

impl<S> InstallDirect<S> {
    /// An operation that installs the file `fd` refers to into a free slot
    /// of table `files`, as a file of type `S` (what the [`Direct`] and
    /// its [`Fixed`](crate::ring::Fixed) will offer operations of: give the
    /// handle type the descriptor came from). `fd` is closed once the
    /// operation is done; the table keeps the file.
    pub fn new(files: DirectFiles, fd: OwnedFd) -> InstallDirect<S> {
        InstallDirect {
            fd: Arc::new(fd),
            files,
            _file: PhantomData,
        }
    }
}

impl<S> fmt::Debug for InstallDirect<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstallDirect")
            .field("fd", &self.fd.as_raw_fd())
            .field("files", &self.files)
            .finish()
    }
}

/// What an installation holds in flight: the table its slot belongs to,
/// and the descriptor number the kernel reads and overwrites with the
/// slot's index.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct InstallStorage {
    files: DirectFiles,
    fd: i32,
}

// SAFETY: the SQE reads and writes one `i32` of the storage (`fd`, one
// descriptor to install) and nothing else; the descriptor is owned by the
// operation and kept open by `into_keep` until the final CQE; the kernel
// installs the file in the ring's own table, which safe Rust cannot
// observe but through `Direct`; `output` makes one `Direct` of the one
// successful CQE.
unsafe impl<S> Op for InstallDirect<S> {
    type Storage = InstallStorage;
    type Output = Direct<S>;
    const CODE: Opcode = Opcode::FILES_UPDATE;
    const NAME: &'static str =
        "direct file installation (IORING_OP_FILES_UPDATE, IORING_FILE_INDEX_ALLOC)";

    super::direct::bound_to_direct_table!();

    #[inline]
    unsafe fn prepare(&self, storage: *mut InstallStorage) {
        let fd = self.fd.as_raw_fd();
        // SAFETY: the driver's promise: `storage` is writable.
        unsafe {
            storage.write(InstallStorage {
                files: self.files,
                fd,
            })
        };
    }

    #[inline]
    fn entry(&self, storage: *mut InstallStorage) -> squeue::Entry {
        // The field's address, with no access: the driver keeps the
        // storage in place until the final CQE.
        let fd = storage
            .wrapping_byte_add(std::mem::offset_of!(InstallStorage, fd))
            .cast::<i32>();
        opcode::FilesUpdate::new(fd.cast_const(), 1)
            .offset(INDEX_ALLOC)
            .build()
    }

    #[inline]
    fn into_keep(self) -> Option<Arc<dyn AsFd + Send + Sync>> {
        Some(self.fd)
    }

    #[inline]
    unsafe fn output(cqe: Cqe, storage: *const InstallStorage) -> Result<Direct<S>> {
        if cqe.res < 0 {
            return Err(cqe_error(cqe.res));
        }
        if cqe.res != 1 {
            // One descriptor was asked for; the kernel installs it or
            // fails.
            return Err(Error::Os(crate::sys::Errno::EIO));
        }
        // SAFETY: the final CQE was reaped: the kernel wrote the slot's
        // index over the descriptor and is done with the storage.
        let InstallStorage { files, fd: index } = unsafe { storage.read() };
        // The kernel installed the file in slot `index` for this CQE alone,
        // which is decoded once: this `Direct` is its only owner.
        Ok(Direct::new(files, index as u32))
    }
}
