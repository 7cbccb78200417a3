//! Reads and writes with buffers the operation owns: a `Vec<u8>` or a
//! `Box<[u8]>` moved in with the operation and handed back with its
//! result, so a driver-owned [`Ring::push`](crate::ring::Ring::push) can
//! move any number of bytes (the slot holds only the buffer's handle).
//!
//! # Safety
//!
//! The buffer is moved into the operation's storage before its SQE is
//! built, so its heap memory — which [`IoBuf`] promises does not move with
//! the value — stays put and owned by the driver until the final CQE, when
//! `output` moves it out again (and the driver calls `output` for a result
//! nobody takes, so the buffer is then freed, never leaked or freed early).
#![expect(
    unsafe_code,
    reason = "the SQEs point at owned buffers kept until the final CQE"
)]

use std::cell::Cell;
use std::mem::MaybeUninit;
use std::os::fd::AsFd;
use std::sync::Arc;

use io_uring::squeue;

use super::file::{ReadAt, WriteAt, len32};
use super::{OpHandle, read_entry, target, write_entry};
use crate::error::Result;
use crate::ring::Opcode;
use crate::ring::op::{Op, cqe_count};
use crate::ring::{Cqe, Target};
use crate::sys::poll::PollFlags;

/// A byte buffer an operation can own: its bytes stay at one address
/// while the value moves.
///
/// # Safety
///
/// - [`as_ptr`](IoBuf::as_ptr) points at [`bytes_total`](IoBuf::bytes_total)
///   bytes owned by the value, at an address that does not change when the
///   value moves or while it is only read, and that stays valid until the
///   value is dropped.
pub unsafe trait IoBuf: Send + 'static {
    /// The first byte.
    fn as_ptr(&self) -> *const u8;
    /// Bytes holding data: what a write sends.
    fn bytes_init(&self) -> usize;
    /// Bytes of room: what a read may fill.
    fn bytes_total(&self) -> usize;
}

/// A byte buffer a read can fill.
///
/// # Safety
///
/// - As [`IoBuf`]; [`as_mut_ptr`](IoBufMut::as_mut_ptr) is the same
///   address as [`as_ptr`](IoBuf::as_ptr), writable for
///   [`bytes_total`](IoBuf::bytes_total) bytes.
pub unsafe trait IoBufMut: IoBuf {
    /// The first byte, for writing.
    fn as_mut_ptr(&mut self) -> *mut u8;

    /// Records that the first `n` bytes now hold data.
    ///
    /// # Safety
    ///
    /// - The first `n` bytes (`n <= bytes_total()`) were written.
    unsafe fn set_init(&mut self, n: usize);
}

// SAFETY: a `Vec`'s heap buffer does not move with the `Vec`, and is
// reallocated only through `&mut self` methods the driver never calls.
unsafe impl IoBuf for Vec<u8> {
    #[inline]
    fn as_ptr(&self) -> *const u8 {
        Vec::as_ptr(self)
    }
    #[inline]
    fn bytes_init(&self) -> usize {
        self.len()
    }
    #[inline]
    fn bytes_total(&self) -> usize {
        self.capacity()
    }
}

// SAFETY: as for `IoBuf`; the capacity is writable.
unsafe impl IoBufMut for Vec<u8> {
    #[inline]
    fn as_mut_ptr(&mut self) -> *mut u8 {
        Vec::as_mut_ptr(self)
    }
    #[inline]
    unsafe fn set_init(&mut self, n: usize) {
        if n > self.len() {
            // SAFETY: the caller's promise: `n <= capacity` bytes written.
            unsafe { self.set_len(n) };
        }
    }
}

// SAFETY: a box's slice does not move with the box.
unsafe impl IoBuf for Box<[u8]> {
    #[inline]
    fn as_ptr(&self) -> *const u8 {
        <[u8]>::as_ptr(self)
    }
    #[inline]
    fn bytes_init(&self) -> usize {
        self.len()
    }
    #[inline]
    fn bytes_total(&self) -> usize {
        self.len()
    }
}

// SAFETY: as for `IoBuf`; every byte of a boxed slice is initialised.
unsafe impl IoBufMut for Box<[u8]> {
    #[inline]
    fn as_mut_ptr(&mut self) -> *mut u8 {
        <[u8]>::as_mut_ptr(self)
    }
    #[inline]
    unsafe fn set_init(&mut self, _n: usize) {}
}

/// Where an owned-buffer operation keeps its buffer while in flight: only
/// the driver makes one (in a table slot), so these operations cannot be
/// pushed into a scope's storage.
pub struct BufStorage<B> {
    pub(super) buf: MaybeUninit<B>,
}

impl<B> std::fmt::Debug for BufStorage<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BufStorage")
    }
}

/// What an owned-buffer operation gives back: the byte count or the error,
/// and the buffer in every case (tokio-uring's `BufResult`). The
/// operation's own error is the inner one; [`Ring::take`](crate::ring::Ring::take)
/// and [`Ring::wait`](crate::ring::Ring::wait) wrap the pair in the ring's
/// `Result`, which for these operations is never `Err` once the operation
/// was pushed (the buffer always comes back): `Ok((Err(e), buf))` is a
/// failed transfer.
pub type BufResult<B> = (Result<usize>, B);

/// Reads at an offset into a buffer the operation owns
/// ([`ReadAt::with_buf`]): `IORING_OP_READ` of up to the buffer's
/// [`bytes_total`](IoBuf::bytes_total) bytes (at most `u32::MAX`). A
/// `Vec`'s length becomes the bytes read if that is more.
#[doc(alias = "IORING_OP_READ")]
pub struct ReadBuf<H, B> {
    read: ReadAt<H>,
    buf: Cell<Option<B>>,
    /// The buffer's bytes, recorded by `prepare` as it moves the buffer
    /// into the storage (they do not move with it).
    bytes: Cell<(*mut u8, usize)>,
}

/// Writes a buffer the operation owns at an offset ([`WriteAt::with_buf`]):
/// `IORING_OP_WRITE` of its [`bytes_init`](IoBuf::bytes_init) bytes (at
/// most `u32::MAX`).
#[doc(alias = "IORING_OP_WRITE")]
pub struct WriteBuf<H, B> {
    write: WriteAt<H>,
    buf: Cell<Option<B>>,
    /// As for [`ReadBuf`]: the bytes to send.
    bytes: Cell<(*mut u8, usize)>,
}

impl<H: std::fmt::Debug, B> std::fmt::Debug for ReadBuf<H, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadBuf")
            .field("read", &self.read)
            .finish_non_exhaustive()
    }
}

impl<H: std::fmt::Debug, B> std::fmt::Debug for WriteBuf<H, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteBuf")
            .field("write", &self.write)
            .finish_non_exhaustive()
    }
}

impl<H> ReadAt<H> {
    /// This read, into `buf`, which it owns until its result is taken
    /// (or dropped, if nobody takes it) and hands back with it.
    ///
    /// # Examples
    ///
    /// A 1 MiB read through the driver-owned `push`:
    ///
    /// ```
    /// use std::sync::Arc;
    /// use iofd::MemFd;
    /// use iofd::ring::Ring;
    ///
    /// let mut ring = Ring::new(4)?;
    /// let mem = Arc::new(MemFd::new("owned")?);
    /// mem.write_at(&vec![7u8; 1 << 20], 0)?;
    /// let t = ring.push(mem.read_at_op_shared(0).with_buf(Vec::with_capacity(1 << 20)))?;
    /// let (n, buf) = ring.wait(t)?;
    /// assert_eq!(n?, 1 << 20);
    /// assert!(buf.iter().all(|&b| b == 7));
    /// # Ok::<(), iofd::Error>(())
    /// ```
    #[must_use]
    #[doc(alias = "IORING_OP_READ")]
    pub const fn with_buf<B: IoBufMut>(self, buf: B) -> ReadBuf<H, B> {
        ReadBuf {
            read: self,
            buf: Cell::new(Some(buf)),
            bytes: Cell::new((std::ptr::null_mut(), 0)),
        }
    }
}

impl<H> WriteAt<H> {
    /// This write, of `buf`'s bytes, which it owns until its result is
    /// taken (or dropped, if nobody takes it) and hands back with it.
    #[must_use]
    #[doc(alias = "IORING_OP_WRITE")]
    pub const fn with_buf<B: IoBuf>(self, buf: B) -> WriteBuf<H, B> {
        WriteBuf {
            write: self,
            buf: Cell::new(Some(buf)),
            bytes: Cell::new((std::ptr::null_mut(), 0)),
        }
    }
}

// SAFETY: the SQE reads into the owned buffer's `bytes_total` bytes, which
// live in the buffer's heap memory, owned by the storage until `output`
// moves it out after the final CQE; the descriptor is the read's.
unsafe impl<H: OpHandle, B: IoBufMut> Op for ReadBuf<H, B> {
    type Storage = BufStorage<B>;
    type Output = BufResult<B>;
    const CODE: Opcode = <ReadAt<H> as Op>::CODE;
    const NAME: &'static str = "read into an owned buffer (IORING_OP_READ)";

    #[inline]
    fn check(&self) -> Result<()> {
        self.read.check()
    }

    #[inline]
    unsafe fn prepare(&self, storage: *mut BufStorage<B>) {
        if let Some(mut buf) = self.buf.take() {
            self.bytes.set((buf.as_mut_ptr(), buf.bytes_total()));
            // SAFETY: the driver's promise: `storage` is writable.
            unsafe { (&raw mut (*storage).buf).write(MaybeUninit::new(buf)) };
        }
    }

    #[inline]
    fn entry(&self, _storage: *mut BufStorage<B>) -> squeue::Entry {
        // Recorded by `prepare`, which the driver calls first; before it,
        // a null pointer with length 0.
        let (ptr, len) = self.bytes.get();
        read_entry(
            target(&self.read.handle, self.read.opts.fixed),
            ptr,
            len32(len),
            self.read.offset,
        )
    }

    #[inline]
    fn rearm(&self) -> Option<(Target, PollFlags)> {
        self.read.rearm()
    }

    #[inline]
    fn into_keep(self) -> Option<Arc<dyn AsFd + Send + Sync>> {
        self.read.into_keep()
    }

    #[inline]
    unsafe fn output(cqe: Cqe, storage: *const BufStorage<B>) -> Result<BufResult<B>> {
        // SAFETY: the driver calls `output` once, after the final CQE, for
        // storage `prepare` filled: the buffer is moved out exactly once.
        let mut buf = unsafe { std::ptr::read(&raw const (*storage).buf).assume_init() };
        let n = cqe_count(cqe);
        if let Ok(n) = n {
            // SAFETY: the kernel wrote `n` bytes, at most `bytes_total`.
            unsafe { buf.set_init(n.min(buf.bytes_total())) };
        }
        Ok((n, buf))
    }
}

// SAFETY: the SQE sends the owned buffer's `bytes_init` bytes, which live
// in its heap memory, owned by the storage until the final CQE; the
// kernel only reads them.
unsafe impl<H: OpHandle, B: IoBuf> Op for WriteBuf<H, B> {
    type Storage = BufStorage<B>;
    type Output = BufResult<B>;
    const CODE: Opcode = <WriteAt<H> as Op>::CODE;
    const NAME: &'static str = "write from an owned buffer (IORING_OP_WRITE)";

    #[inline]
    fn check(&self) -> Result<()> {
        self.write.check()
    }

    #[inline]
    unsafe fn prepare(&self, storage: *mut BufStorage<B>) {
        if let Some(buf) = self.buf.take() {
            self.bytes.set((buf.as_ptr().cast_mut(), buf.bytes_init()));
            // SAFETY: the driver's promise: `storage` is writable.
            unsafe { (&raw mut (*storage).buf).write(MaybeUninit::new(buf)) };
        }
    }

    #[inline]
    fn entry(&self, _storage: *mut BufStorage<B>) -> squeue::Entry {
        // As for `ReadBuf`.
        let (ptr, len) = self.bytes.get();
        write_entry(
            target(&self.write.handle, self.write.opts.fixed),
            ptr.cast_const(),
            len32(len),
            self.write.offset,
        )
    }

    #[inline]
    fn rearm(&self) -> Option<(Target, PollFlags)> {
        self.write.rearm()
    }

    #[inline]
    fn into_keep(self) -> Option<Arc<dyn AsFd + Send + Sync>> {
        self.write.into_keep()
    }

    #[inline]
    unsafe fn output(cqe: Cqe, storage: *const BufStorage<B>) -> Result<BufResult<B>> {
        // SAFETY: as for `ReadBuf`: moved out once, after the final CQE.
        let buf = unsafe { std::ptr::read(&raw const (*storage).buf).assume_init() };
        Ok((cqe_count(cqe), buf))
    }
}
