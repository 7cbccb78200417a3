//! Reads and writes with registered buffers: `IORING_OP_READ_FIXED` and
//! `IORING_OP_WRITE_FIXED`, each moving a [`FixedBuf`] in and handing it
//! back with the result.
//!
//! # Safety
//!
//! The [`FixedBuf`] is moved into the operation's storage before the SQE
//! is built; it is the only holder of its buffer index (see
//! `ring/fixedbuf.rs`), so nothing else reaches the bytes the kernel reads
//! or writes, and the pool's memory outlives it. `ring_bound` keeps the
//! operation to the ring the buffer is registered with. `output` moves
//! the buffer out once, after the final CQE.
#![expect(
    unsafe_code,
    reason = "the SQEs point at a registered buffer the operation owns"
)]

use std::cell::Cell;
use std::fmt;
use std::mem::MaybeUninit;
use std::sync::Arc;

use io_uring::{opcode, squeue};

use super::file::len32;
use super::socket::on_target;
use super::{
    CURRENT_POSITION, Fixed, OpHandle, Opts, check_offset, check_target, op_setters, target,
};
use crate::error::{Error, Result};
use crate::fd::{Fd, MemFd, TcpStream, UnixStream};
use crate::ring::Opcode;
use crate::ring::op::{Op, cqe_count};
use crate::ring::{Cqe, FixedBuf};

/// The result of a fixed read or write: the byte count (or error) and the
/// buffer, its length set to what was read (a write leaves it as it was).
pub type FixedResult = (Result<usize>, FixedBuf);

/// Where a fixed operation keeps its buffer while in flight.
pub struct FixedStorage {
    buf: MaybeUninit<FixedBuf>,
}

impl fmt::Debug for FixedStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FixedStorage")
    }
}

/// Reads into a registered buffer, up to its capacity:
/// `IORING_OP_READ_FIXED`.
#[doc(alias = "IORING_OP_READ_FIXED")]
pub struct ReadFixed<H> {
    handle: H,
    buf: Cell<Option<FixedBuf>>,
    /// The buffer's address, length and ring, recorded when it moves into
    /// the storage.
    raw: Cell<(*mut u8, usize, u16)>,
    ring: Option<u32>,
    offset: u64,
    opts: Opts,
}

/// Writes a registered buffer's filled bytes: `IORING_OP_WRITE_FIXED`.
#[doc(alias = "IORING_OP_WRITE_FIXED")]
pub struct WriteFixed<H> {
    handle: H,
    buf: Cell<Option<FixedBuf>>,
    raw: Cell<(*mut u8, usize, u16)>,
    ring: Option<u32>,
    offset: u64,
    opts: Opts,
}

macro_rules! fixed_op_common {
    ($ty:ident) => {
        impl<H> $ty<H> {
            fn new(handle: H, offset: u64, buf: FixedBuf) -> $ty<H> {
                let ring = Some(buf.raw().1);
                $ty {
                    handle,
                    buf: Cell::new(Some(buf)),
                    raw: Cell::new((std::ptr::null_mut(), 0, 0)),
                    ring,
                    offset,
                    opts: Opts::DEFAULT,
                }
            }
        }

        impl<H: OpHandle> $ty<H> {
            /// [`Op::check`]: the offset (unless "the current position"),
            /// the buffer (still there, not pushed already) and the file.
            #[inline]
            fn check_io(&self) -> Result<()> {
                if self.offset != CURRENT_POSITION {
                    check_offset(self.offset)?;
                }
                check_buf(&self.buf)?;
                check_target(&self.handle, self.opts.fixed)
            }
        }

        impl<H: fmt::Debug> fmt::Debug for $ty<H> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($ty))
                    .field("handle", &self.handle)
                    .field("offset", &self.offset)
                    .finish_non_exhaustive()
            }
        }
    };
}

fixed_op_common!(ReadFixed);
fixed_op_common!(WriteFixed);
op_setters!(ReadFixed);
op_setters!(WriteFixed);

/// Moves `buf` into `storage`, returning where its bytes are.
///
/// # Safety
///
/// - `storage` is valid for writes of a `FixedStorage`.
unsafe fn store(storage: *mut FixedStorage, buf: FixedBuf, read: bool) -> (*mut u8, usize, u16) {
    let (ptr, _) = buf.raw();
    let len = if read { buf.capacity() } else { buf.len() };
    let index = buf.index();
    // SAFETY: the caller's promise.
    unsafe { (&raw mut (*storage).buf).write(MaybeUninit::new(buf)) };
    (ptr, len, index)
}

/// Refuses an operation whose buffer was taken already.
fn check_buf(buf: &Cell<Option<FixedBuf>>) -> Result<()> {
    match buf.take() {
        Some(b) => {
            buf.set(Some(b));
            Ok(())
        }
        None => Err(Error::InvalidParam("the operation was pushed already")),
    }
}

// SAFETY: as the module says: the kernel writes at most the buffer's
// capacity into registered buffer `index`, which the storage's `FixedBuf`
// alone holds, from a descriptor the operation holds.
unsafe impl<H: OpHandle> Op for ReadFixed<H> {
    type Storage = FixedStorage;
    type Output = FixedResult;
    const CODE: Opcode = Opcode::READ_FIXED;
    const NAME: &'static str = "registered-buffer read (IORING_OP_READ_FIXED)";

    #[inline]
    fn check(&self) -> Result<()> {
        self.check_io()
    }

    #[inline]
    fn ring_bound(&self) -> Option<u32> {
        self.ring
    }

    #[inline]
    unsafe fn prepare(&self, storage: *mut FixedStorage) {
        if let Some(buf) = self.buf.take() {
            // SAFETY: the driver's promise: `storage` is writable.
            self.raw.set(unsafe { store(storage, buf, true) });
        }
    }

    #[inline]
    fn entry(&self, _storage: *mut FixedStorage) -> squeue::Entry {
        let (ptr, len, index) = self.raw.get();
        on_target!(target(&self.handle, self.opts.fixed), |f| {
            opcode::ReadFixed::new(f, ptr, len32(len), index)
                .offset(self.offset)
                .build()
        })
    }

    super::handle_methods!(rearm(IN); keep);

    #[inline]
    unsafe fn output(cqe: Cqe, storage: *const FixedStorage) -> Result<FixedResult> {
        // SAFETY: called once, after the final CQE: moved out once.
        let mut buf = unsafe { std::ptr::read(&raw const (*storage).buf).assume_init() };
        let n = cqe_count(cqe);
        if let Ok(n) = n {
            // At most the capacity, which the read was limited to.
            let _ = buf.set_len(n.min(buf.capacity()));
        }
        Ok((n, buf))
    }
}

// SAFETY: as the module says: the kernel reads the filled bytes of
// registered buffer `index`, which the storage's `FixedBuf` alone holds,
// and writes them to a descriptor the operation holds.
unsafe impl<H: OpHandle> Op for WriteFixed<H> {
    type Storage = FixedStorage;
    type Output = FixedResult;
    const CODE: Opcode = Opcode::WRITE_FIXED;
    const NAME: &'static str = "registered-buffer write (IORING_OP_WRITE_FIXED)";

    #[inline]
    fn check(&self) -> Result<()> {
        self.check_io()
    }

    #[inline]
    fn ring_bound(&self) -> Option<u32> {
        self.ring
    }

    #[inline]
    unsafe fn prepare(&self, storage: *mut FixedStorage) {
        if let Some(buf) = self.buf.take() {
            // SAFETY: the driver's promise: `storage` is writable.
            self.raw.set(unsafe { store(storage, buf, false) });
        }
    }

    #[inline]
    fn entry(&self, _storage: *mut FixedStorage) -> squeue::Entry {
        let (ptr, len, index) = self.raw.get();
        on_target!(target(&self.handle, self.opts.fixed), |f| {
            opcode::WriteFixed::new(f, ptr.cast_const(), len32(len), index)
                .offset(self.offset)
                .build()
        })
    }

    super::handle_methods!(rearm(OUT); keep);

    #[inline]
    unsafe fn output(cqe: Cqe, storage: *const FixedStorage) -> Result<FixedResult> {
        // SAFETY: as for `ReadFixed`.
        let buf = unsafe { std::ptr::read(&raw const (*storage).buf).assume_init() };
        Ok((cqe_count(cqe), buf))
    }
}

/// Fixed reads and writes at an offset, for a file-like handle.
macro_rules! file_fixed_ops {
    ($ty:ident) => {
        impl $ty {
            /// An operation that reads at `offset` into the registered
            /// buffer `buf` (see [`ReadFixed`]), borrowing the handle.
            #[doc(alias = "IORING_OP_READ_FIXED")]
            pub fn read_fixed_op(&self, offset: u64, buf: FixedBuf) -> ReadFixed<&$ty> {
                ReadFixed::new(self, offset, buf)
            }

            /// [`read_fixed_op`](Self::read_fixed_op), keeping the handle
            /// open itself: for the driver-owned
            /// [`Ring::push`](crate::ring::Ring::push).
            #[doc(alias = "IORING_OP_READ_FIXED")]
            pub fn read_fixed_op_shared(
                self: &Arc<Self>,
                offset: u64,
                buf: FixedBuf,
            ) -> ReadFixed<Arc<$ty>> {
                ReadFixed::new(Arc::clone(self), offset, buf)
            }

            /// An operation that writes the registered buffer `buf`'s
            /// filled bytes at `offset` (see [`WriteFixed`]).
            #[doc(alias = "IORING_OP_WRITE_FIXED")]
            pub fn write_fixed_op(&self, offset: u64, buf: FixedBuf) -> WriteFixed<&$ty> {
                WriteFixed::new(self, offset, buf)
            }

            /// [`write_fixed_op`](Self::write_fixed_op), keeping the
            /// handle open itself.
            #[doc(alias = "IORING_OP_WRITE_FIXED")]
            pub fn write_fixed_op_shared(
                self: &Arc<Self>,
                offset: u64,
                buf: FixedBuf,
            ) -> WriteFixed<Arc<$ty>> {
                WriteFixed::new(Arc::clone(self), offset, buf)
            }
        }

        impl Fixed<$ty> {
            /// [`read_fixed_op`]($ty::read_fixed_op) on the registered file.
            #[doc(alias = "IORING_OP_READ_FIXED")]
            pub fn read_fixed_op(self, offset: u64, buf: FixedBuf) -> ReadFixed<Fixed<$ty>> {
                ReadFixed::new(self, offset, buf)
            }

            /// [`write_fixed_op`]($ty::write_fixed_op) on the registered
            /// file.
            #[doc(alias = "IORING_OP_WRITE_FIXED")]
            pub fn write_fixed_op(self, offset: u64, buf: FixedBuf) -> WriteFixed<Fixed<$ty>> {
                WriteFixed::new(self, offset, buf)
            }
        }
    };
}

/// Fixed reads and writes on a stream (no offset).
macro_rules! stream_fixed_ops {
    ($ty:ident) => {
        impl $ty {
            /// An operation that receives into the registered buffer `buf`
            /// (see [`ReadFixed`]), borrowing the stream.
            #[doc(alias = "IORING_OP_READ_FIXED")]
            pub fn read_fixed_op(&self, buf: FixedBuf) -> ReadFixed<&$ty> {
                ReadFixed::new(self, CURRENT_POSITION, buf)
            }

            /// [`read_fixed_op`](Self::read_fixed_op), keeping the stream
            /// open itself.
            #[doc(alias = "IORING_OP_READ_FIXED")]
            pub fn read_fixed_op_shared(self: &Arc<Self>, buf: FixedBuf) -> ReadFixed<Arc<$ty>> {
                ReadFixed::new(Arc::clone(self), CURRENT_POSITION, buf)
            }

            /// An operation that sends the registered buffer `buf`'s filled
            /// bytes (see [`WriteFixed`]), borrowing the stream.
            #[doc(alias = "IORING_OP_WRITE_FIXED")]
            pub fn write_fixed_op(&self, buf: FixedBuf) -> WriteFixed<&$ty> {
                WriteFixed::new(self, CURRENT_POSITION, buf)
            }

            /// [`write_fixed_op`](Self::write_fixed_op), keeping the stream
            /// open itself.
            #[doc(alias = "IORING_OP_WRITE_FIXED")]
            pub fn write_fixed_op_shared(self: &Arc<Self>, buf: FixedBuf) -> WriteFixed<Arc<$ty>> {
                WriteFixed::new(Arc::clone(self), CURRENT_POSITION, buf)
            }
        }
    };
}

file_fixed_ops!(Fd);
file_fixed_ops!(MemFd);
stream_fixed_ops!(TcpStream);
stream_fixed_ops!(UnixStream);
