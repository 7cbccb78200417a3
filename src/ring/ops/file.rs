//! Fd and MemFd operations: read and write at an offset into caller buffers.
//!
//! # Safety
//!
//! Each `unsafe impl Op` below reads into, or writes from, the byte buffer
//! it is given, never past its length (capped at `u32::MAX`).
#![expect(
    unsafe_code,
    reason = "the SQEs read into and write from caller buffers"
)]

use std::sync::Arc;

use io_uring::squeue;

use super::{
    Fixed, OpHandle, Opts, check_offset, check_target, op_setters, read_entry, target, write_entry,
};
use crate::error::Result;
use crate::fd::{Fd, MemFd};
use crate::ring::Cqe;
use crate::ring::Opcode;
use crate::ring::op::{Op, cqe_count};

/// Reads into a caller's byte buffer at an offset: `IORING_OP_READ`. On a
/// non-blocking stream with nothing to read, the driver re-arms it on a
/// poll. The result is the byte count (0 at end of file).
#[derive(Debug)]
#[doc(alias = "IORING_OP_READ")]
pub struct ReadAt<H> {
    pub(super) handle: H,
    pub(super) offset: u64,
    pub(super) opts: Opts,
}

/// Writes a caller's byte buffer at an offset: `IORING_OP_WRITE`. The
/// result is the byte count.
#[derive(Debug)]
#[doc(alias = "IORING_OP_WRITE")]
pub struct WriteAt<H> {
    pub(super) handle: H,
    pub(super) offset: u64,
    pub(super) opts: Opts,
}

op_setters!(ReadAt);
op_setters!(WriteAt);

impl Fd {
    /// An operation that reads into the buffer it is given at `offset`
    /// (ignored by streams such as pipes and sockets).
    #[doc(alias = "IORING_OP_READ")]
    pub fn read_at_op(&self, offset: u64) -> ReadAt<&Fd> {
        ReadAt {
            handle: self,
            offset,
            opts: Opts::DEFAULT,
        }
    }

    /// An operation that writes the buffer it is given at `offset`.
    #[doc(alias = "IORING_OP_WRITE")]
    pub fn write_at_op(&self, offset: u64) -> WriteAt<&Fd> {
        WriteAt {
            handle: self,
            offset,
            opts: Opts::DEFAULT,
        }
    }

    /// [`read_at_op`](Fd::read_at_op) for a shared handle, which the
    /// operation keeps open until it completes: for the driver-owned
    /// [`Ring::push`](crate::ring::Ring::push), with a buffer it owns
    /// ([`ReadAt::with_buf`]).
    #[doc(alias = "IORING_OP_READ")]
    pub fn read_at_op_shared(self: &Arc<Self>, offset: u64) -> ReadAt<Arc<Fd>> {
        ReadAt {
            handle: Arc::clone(self),
            offset,
            opts: Opts::DEFAULT,
        }
    }

    /// [`write_at_op`](Fd::write_at_op) for a shared handle (see
    /// [`read_at_op_shared`](Fd::read_at_op_shared) and
    /// [`WriteAt::with_buf`]).
    #[doc(alias = "IORING_OP_WRITE")]
    pub fn write_at_op_shared(self: &Arc<Self>, offset: u64) -> WriteAt<Arc<Fd>> {
        WriteAt {
            handle: Arc::clone(self),
            offset,
            opts: Opts::DEFAULT,
        }
    }
}

impl MemFd {
    /// An operation that reads into the buffer it is given at `offset`.
    ///
    /// # Examples
    ///
    /// ```
    /// use iofd::MemFd;
    /// use iofd::ring::Ring;
    ///
    /// let mut ring = Ring::new(4)?;
    /// let mem = MemFd::new("ring")?;
    /// mem.write_at(b"hello, ring", 0)?;
    /// let mut buf = [0u8; 4];
    /// let n = ring.scope(|s| {
    ///     let t = s.push_into(mem.read_at_op(7), &mut buf)?;
    ///     s.wait(t)
    /// })?;
    /// assert_eq!(&buf[..n], b"ring");
    /// # Ok::<(), iofd::Error>(())
    /// ```
    #[doc(alias = "IORING_OP_READ")]
    pub fn read_at_op(&self, offset: u64) -> ReadAt<&MemFd> {
        ReadAt {
            handle: self,
            offset,
            opts: Opts::DEFAULT,
        }
    }

    /// An operation that writes the buffer it is given at `offset`.
    #[doc(alias = "IORING_OP_WRITE")]
    pub fn write_at_op(&self, offset: u64) -> WriteAt<&MemFd> {
        WriteAt {
            handle: self,
            offset,
            opts: Opts::DEFAULT,
        }
    }

    /// [`read_at_op`](MemFd::read_at_op) for a shared handle, which the
    /// operation keeps open until it completes: for the driver-owned
    /// [`Ring::push`](crate::ring::Ring::push), with a buffer it owns
    /// ([`ReadAt::with_buf`]).
    #[doc(alias = "IORING_OP_READ")]
    pub fn read_at_op_shared(self: &Arc<Self>, offset: u64) -> ReadAt<Arc<MemFd>> {
        ReadAt {
            handle: Arc::clone(self),
            offset,
            opts: Opts::DEFAULT,
        }
    }

    /// [`write_at_op`](MemFd::write_at_op) for a shared handle (see
    /// [`read_at_op_shared`](MemFd::read_at_op_shared) and
    /// [`WriteAt::with_buf`]).
    #[doc(alias = "IORING_OP_WRITE")]
    pub fn write_at_op_shared(self: &Arc<Self>, offset: u64) -> WriteAt<Arc<MemFd>> {
        WriteAt {
            handle: Arc::clone(self),
            offset,
            opts: Opts::DEFAULT,
        }
    }
}

/// Read and write operations on a registered file.
macro_rules! fixed_file_ops {
    ($handle:ident) => {
        impl Fixed<$handle> {
            #[doc = concat!("[`", stringify!($handle), "::read_at_op`] on the registered file.")]
            #[doc(alias = "IORING_OP_READ")]
            pub fn read_at_op(self, offset: u64) -> ReadAt<Fixed<$handle>> {
                ReadAt {
                    handle: self,
                    offset,
                    opts: Opts::DEFAULT,
                }
            }

            #[doc = concat!("[`", stringify!($handle), "::write_at_op`] on the registered file.")]
            #[doc(alias = "IORING_OP_WRITE")]
            pub fn write_at_op(self, offset: u64) -> WriteAt<Fixed<$handle>> {
                WriteAt {
                    handle: self,
                    offset,
                    opts: Opts::DEFAULT,
                }
            }
        }
    };
}
fixed_file_ops!(Fd);
fixed_file_ops!(MemFd);

/// The length of one io_uring transfer: at most `u32::MAX` bytes.
#[inline]
pub(super) fn len32(len: usize) -> u32 {
    len.min(u32::MAX as usize) as u32
}

// SAFETY: the SQE reads at most `storage.len()` bytes into `storage` from
// a descriptor the operation holds.
unsafe impl<H: OpHandle> Op for ReadAt<H> {
    type Storage = [u8];
    type Output = usize;
    const CODE: Opcode = Opcode::READ;
    const NAME: &'static str = "read (IORING_OP_READ)";

    #[inline]
    fn check(&self) -> Result<()> {
        check_offset(self.offset)?;
        check_target(&self.handle, self.opts.fixed)
    }

    #[inline]
    fn entry(&self, storage: *mut [u8]) -> squeue::Entry {
        read_entry(
            target(&self.handle, self.opts.fixed),
            storage.cast(),
            len32(storage.len()),
            self.offset,
        )
    }

    super::handle_methods!(rearm(IN); keep);

    #[inline]
    unsafe fn output(cqe: Cqe, _storage: *const [u8]) -> Result<usize> {
        cqe_count(cqe)
    }
}

// SAFETY: the SQE writes at most `storage.len()` bytes from `storage` to a
// descriptor the operation holds; the kernel only reads the buffer.
unsafe impl<H: OpHandle> Op for WriteAt<H> {
    type Storage = [u8];
    type Output = usize;
    const CODE: Opcode = Opcode::WRITE;
    const NAME: &'static str = "write (IORING_OP_WRITE)";

    #[inline]
    fn check(&self) -> Result<()> {
        check_offset(self.offset)?;
        check_target(&self.handle, self.opts.fixed)
    }

    #[inline]
    fn entry(&self, storage: *mut [u8]) -> squeue::Entry {
        write_entry(
            target(&self.handle, self.opts.fixed),
            storage.cast_const().cast(),
            len32(storage.len()),
            self.offset,
        )
    }

    super::handle_methods!(rearm(OUT); keep);

    #[inline]
    unsafe fn output(cqe: Cqe, _storage: *const [u8]) -> Result<usize> {
        cqe_count(cqe)
    }
}
