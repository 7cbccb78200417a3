//! Moving bytes over a connection on the ring: `recv` and `send` with
//! buffers the operation owns, and a multishot `recv` into a provided
//! buffer ring.
//!
//! # Safety
//!
//! As for the owned-buffer reads and writes (`owned.rs`): the buffer is
//! moved into the storage before the SQE is built, its heap bytes stay put
//! and owned by the driver until the final CQE, and `output` moves it out
//! once. A multishot `recv` writes only into buffers the kernel takes from
//! the group's ring, whose memory the storage keeps alive (`provided.rs`).
#![expect(
    unsafe_code,
    reason = "the SQEs point at owned buffers kept until the final CQE"
)]

use std::cell::Cell;
use std::fmt;
use std::mem::MaybeUninit;
use std::sync::Arc;

use io_uring::{opcode, squeue};

use super::file::len32;
use super::owned::{BufResult, BufStorage, IoBuf, IoBufMut};
use super::provided::{ProvidedStorage, check_len, provided_end, provided_output, store};
use super::socket::on_target;
use super::{Fixed, OpHandle, Opts, check_target, op_setters, target};
use crate::error::Result;
use crate::fd::{TcpStream, UnixStream};
use crate::ring::Opcode;
use crate::ring::op::{Op, cqe_count};
use crate::ring::{BufRing, Cqe, ProvidedBuf, Target};

/// `MSG_NOSIGNAL`: a broken connection is `EPIPE`, never a `SIGPIPE`.
const MSG_NOSIGNAL: i32 = crate::sys::net::MsgFlags::NOSIGNAL.bits() as i32;

/// Receives into a buffer the operation owns: `IORING_OP_RECV`, up to the
/// buffer's capacity. The result is the byte count (0 once the peer has
/// shut its side down) with the buffer, its length set to what arrived
/// ([`BufResult`]).
#[doc(alias = "IORING_OP_RECV")]
pub struct RecvBuf<H, B> {
    handle: H,
    buf: Cell<Option<B>>,
    bytes: Cell<(*mut u8, usize)>,
    opts: Opts,
}

/// Sends from a buffer the operation owns: `IORING_OP_SEND` with
/// `MSG_NOSIGNAL`, its initialised bytes. The result is the byte count
/// (which may be short: send the rest again) with the buffer.
#[doc(alias = "IORING_OP_SEND")]
pub struct SendBuf<H, B> {
    handle: H,
    buf: Cell<Option<B>>,
    bytes: Cell<(*const u8, usize)>,
    /// Leading bytes already sent, not sent again.
    skip: usize,
    opts: Opts,
}

/// Receives into a slice a [`Scope`](crate::ring::Scope) lends
/// ([`Scope::push_into`](crate::ring::Scope::push_into)):
/// `IORING_OP_RECV`. The result is the byte count (0 once the peer has
/// shut its side down).
#[doc(alias = "IORING_OP_RECV")]
pub struct RecvSlice<H> {
    handle: H,
    opts: Opts,
}

/// Sends the bytes of a slice a [`Scope`](crate::ring::Scope) lends:
/// `IORING_OP_SEND` with `MSG_NOSIGNAL`. The result is the byte count.
#[doc(alias = "IORING_OP_SEND")]
pub struct SendSlice<H> {
    handle: H,
    opts: Opts,
}

op_setters!(RecvSlice);
op_setters!(SendSlice);

impl<H: fmt::Debug> fmt::Debug for RecvSlice<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvSlice")
            .field("handle", &self.handle)
            .field("opts", &self.opts)
            .finish()
    }
}

impl<H: fmt::Debug> fmt::Debug for SendSlice<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendSlice")
            .field("handle", &self.handle)
            .field("opts", &self.opts)
            .finish()
    }
}

// SAFETY: the SQE receives at most `storage.len()` bytes into the lent
// slice from a descriptor the operation holds.
unsafe impl<H: OpHandle> Op for RecvSlice<H> {
    type Storage = [u8];
    type Output = usize;
    const CODE: Opcode = Opcode::RECV;
    const NAME: &'static str = "recv (IORING_OP_RECV)";

    super::handle_methods!(check; rearm(IN); keep);

    #[inline]
    fn entry(&self, storage: *mut [u8]) -> squeue::Entry {
        recv_entry(
            target(&self.handle, self.opts.fixed),
            storage.cast(),
            storage.len(),
        )
    }

    #[inline]
    unsafe fn output(cqe: Cqe, _storage: *const [u8]) -> Result<usize> {
        cqe_count(cqe)
    }
}

// SAFETY: the SQE sends at most `storage.len()` bytes of the lent slice on
// a descriptor the operation holds; the kernel only reads them.
unsafe impl<H: OpHandle> Op for SendSlice<H> {
    type Storage = [u8];
    type Output = usize;
    const CODE: Opcode = Opcode::SEND;
    const NAME: &'static str = "send (IORING_OP_SEND)";

    super::handle_methods!(check; rearm(OUT); keep);

    #[inline]
    fn entry(&self, storage: *mut [u8]) -> squeue::Entry {
        send_entry(
            target(&self.handle, self.opts.fixed),
            storage.cast_const().cast(),
            storage.len(),
        )
    }

    #[inline]
    unsafe fn output(cqe: Cqe, _storage: *const [u8]) -> Result<usize> {
        cqe_count(cqe)
    }
}

/// Receives as data comes, into buffers the kernel picks from a
/// [`BufRing`]: `IORING_OP_RECV` with `IORING_RECV_MULTISHOT` (Linux
/// 6.0). Each arrival is one result, `Some` [`ProvidedBuf`]; `None` means
/// the peer shut its side down, and is the final result. The stream also
/// ends when the group runs out of buffers (`Os(ENOBUFS)`: give buffers
/// back and push it again; nothing is lost, the data waits in the socket),
/// on an error or a cancel (`Os(ECANCELED)`), or, with data as its final
/// result, when the completion queue is full (the [`ring`](crate::ring)
/// module's "Multishot operations are streams").
#[doc(alias("IORING_OP_RECV", "IORING_RECV_MULTISHOT"))]
pub struct RecvMulti<H> {
    handle: H,
    bufs: BufRing,
    opts: Opts,
}

op_setters!(RecvMulti);

impl<H, B> RecvBuf<H, B> {
    fn new(handle: H, buf: B) -> RecvBuf<H, B> {
        RecvBuf {
            handle,
            buf: Cell::new(Some(buf)),
            bytes: Cell::new((std::ptr::null_mut(), 0)),
            opts: Opts::DEFAULT,
        }
    }
}

impl<H, B> SendBuf<H, B> {
    fn new(handle: H, buf: B) -> SendBuf<H, B> {
        SendBuf {
            handle,
            buf: Cell::new(Some(buf)),
            bytes: Cell::new((std::ptr::null(), 0)),
            skip: 0,
            opts: Opts::DEFAULT,
        }
    }

    /// Sends the buffer's bytes from `n` on: the rest of a send that came
    /// back short, from the same buffer, without copying. Past the end,
    /// nothing is sent (the result is 0).
    #[must_use]
    pub const fn skip(mut self, n: usize) -> Self {
        self.skip = n;
        self
    }
}

impl<H: fmt::Debug, B> fmt::Debug for RecvBuf<H, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvBuf")
            .field("handle", &self.handle)
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

impl<H: fmt::Debug, B> fmt::Debug for SendBuf<H, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendBuf")
            .field("handle", &self.handle)
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

impl<H: fmt::Debug> fmt::Debug for RecvMulti<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvMulti")
            .field("handle", &self.handle)
            .field("bufs", &self.bufs)
            .field("opts", &self.opts)
            .finish()
    }
}

/// The recv SQE for `target`.
#[inline]
fn recv_entry(target: Target, ptr: *mut u8, len: usize) -> squeue::Entry {
    on_target!(target, |f| opcode::Recv::new(f, ptr, len32(len)).build())
}

/// The send SQE for `target`.
#[inline]
fn send_entry(target: Target, ptr: *const u8, len: usize) -> squeue::Entry {
    on_target!(target, |f| opcode::Send::new(f, ptr, len32(len))
        .flags(MSG_NOSIGNAL)
        .build())
}

// SAFETY: the SQE receives into the owned buffer's capacity, heap memory
// the storage owns until the final CQE, from a descriptor the operation
// holds; it touches nothing else.
unsafe impl<H: OpHandle, B: IoBufMut> Op for RecvBuf<H, B> {
    type Storage = BufStorage<B>;
    type Output = BufResult<B>;
    const CODE: Opcode = Opcode::RECV;
    const NAME: &'static str = "recv into an owned buffer (IORING_OP_RECV)";

    super::handle_methods!(check; rearm(IN); keep);

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
        // Recorded by `prepare`, which the driver calls first.
        let (ptr, len) = self.bytes.get();
        recv_entry(target(&self.handle, self.opts.fixed), ptr, len)
    }

    #[inline]
    unsafe fn output(cqe: Cqe, storage: *const BufStorage<B>) -> Result<BufResult<B>> {
        // SAFETY: called once, after the final CQE, for storage `prepare`
        // filled: the buffer is moved out exactly once.
        let mut buf = unsafe { std::ptr::read(&raw const (*storage).buf).assume_init() };
        let n = cqe_count(cqe);
        if let Ok(n) = n {
            // SAFETY: the kernel wrote `n` bytes, at most `bytes_total`.
            unsafe { buf.set_init(n.min(buf.bytes_total())) };
        }
        Ok((n, buf))
    }
}

// SAFETY: the SQE sends the owned buffer's initialised bytes, heap memory
// the storage owns until the final CQE, on a descriptor the operation
// holds; the kernel only reads them.
unsafe impl<H: OpHandle, B: IoBuf> Op for SendBuf<H, B> {
    type Storage = BufStorage<B>;
    type Output = BufResult<B>;
    const CODE: Opcode = Opcode::SEND;
    const NAME: &'static str = "send from an owned buffer (IORING_OP_SEND)";

    super::handle_methods!(check; rearm(OUT); keep);

    #[inline]
    unsafe fn prepare(&self, storage: *mut BufStorage<B>) {
        if let Some(buf) = self.buf.take() {
            // SAFETY: the driver's promise: `storage` is writable.
            self.bytes
                .set(unsafe { stash_send(buf, self.skip, storage) });
        }
    }

    #[inline]
    fn entry(&self, _storage: *mut BufStorage<B>) -> squeue::Entry {
        let (ptr, len) = self.bytes.get();
        send_entry(target(&self.handle, self.opts.fixed), ptr, len)
    }

    #[inline]
    unsafe fn output(cqe: Cqe, storage: *const BufStorage<B>) -> Result<BufResult<B>> {
        // SAFETY: forwarded: called once, after the final CQE.
        Ok(unsafe { take_sent(cqe, storage) })
    }
}

/// Moves a buffer to send into `storage` and returns where the bytes to
/// send are: its initialised bytes from `skip` on.
///
/// # Safety
///
/// - `storage` is valid for writes of a `BufStorage<B>`.
#[inline]
pub(super) unsafe fn stash_send<B: IoBuf>(
    buf: B,
    skip: usize,
    storage: *mut BufStorage<B>,
) -> (*const u8, usize) {
    let skip = skip.min(buf.bytes_init());
    // `skip` is within the initialised bytes.
    let at = (buf.as_ptr().wrapping_add(skip), buf.bytes_init() - skip);
    // SAFETY: the caller's promise.
    unsafe { (&raw mut (*storage).buf).write(MaybeUninit::new(buf)) };
    at
}

/// The result of a send from an owned buffer: the byte count, and the
/// buffer moved out of `storage`.
///
/// # Safety
///
/// - `storage` holds the buffer [`stash_send`] put there, the kernel is done
///   with it, and this is the one call that moves it out.
#[inline]
pub(super) unsafe fn take_sent<B: IoBuf>(cqe: Cqe, storage: *const BufStorage<B>) -> BufResult<B> {
    // SAFETY: the caller's promise.
    let buf = unsafe { std::ptr::read(&raw const (*storage).buf).assume_init() };
    (cqe_count(cqe), buf)
}

// SAFETY: as the module says: each shot receives into a buffer of the
// group, whose memory the storage keeps alive until the final CQE, from a
// descriptor the operation holds.
unsafe impl<H: OpHandle> Op for RecvMulti<H> {
    type Storage = ProvidedStorage;
    type Output = Option<ProvidedBuf>;
    const CODE: Opcode = Opcode::RECV;
    const NAME: &'static str = "multishot recv (IORING_OP_RECV, IORING_RECV_MULTISHOT)";

    #[inline]
    fn check(&self) -> Result<()> {
        check_target(&self.handle, self.opts.fixed)?;
        check_len(&self.bufs, 1)
    }

    #[inline]
    unsafe fn prepare(&self, storage: *mut ProvidedStorage) {
        // SAFETY: forwarded from the caller.
        unsafe { store(&self.bufs, storage) }
    }

    #[inline]
    fn entry(&self, _storage: *mut ProvidedStorage) -> squeue::Entry {
        let group = self.bufs.group();
        on_target!(target(&self.handle, self.opts.fixed), |f| {
            opcode::RecvMulti::new(f, group).build()
        })
    }

    super::handle_methods!(keep);

    #[inline]
    unsafe fn output(cqe: Cqe, storage: *const ProvidedStorage) -> Result<Option<ProvidedBuf>> {
        if cqe.res == 0 && cqe.flags & Cqe::F_BUFFER == 0 {
            // The end of the stream: no buffer was taken. The group's
            // reference goes with the final CQE all the same.
            // SAFETY: forwarded: the driver's contract.
            return unsafe { provided_end(cqe, storage) }.map(|()| None);
        }
        // SAFETY: forwarded: the driver's contract (see `ReadProvided`).
        unsafe { provided_output(cqe, storage) }.map(Some)
    }
}

/// The byte-moving operations of a stream type.
macro_rules! stream_ops {
    ($ty:ident) => {
        impl $ty {
            /// An operation that receives into `buf` (see [`RecvBuf`]),
            /// borrowing the stream.
            #[doc(alias = "IORING_OP_RECV")]
            pub fn recv_op<B: IoBufMut>(&self, buf: B) -> RecvBuf<&$ty, B> {
                RecvBuf::new(self, buf)
            }

            /// [`recv_op`](Self::recv_op), keeping the stream open itself:
            /// for the driver-owned [`Ring::push`](crate::ring::Ring::push).
            #[doc(alias = "IORING_OP_RECV")]
            pub fn recv_op_shared<B: IoBufMut>(self: &Arc<Self>, buf: B) -> RecvBuf<Arc<$ty>, B> {
                RecvBuf::new(Arc::clone(self), buf)
            }

            /// An operation that sends `buf`'s bytes (see [`SendBuf`]),
            /// borrowing the stream.
            #[doc(alias = "IORING_OP_SEND")]
            pub fn send_op<B: IoBuf>(&self, buf: B) -> SendBuf<&$ty, B> {
                SendBuf::new(self, buf)
            }

            /// [`send_op`](Self::send_op), keeping the stream open itself.
            #[doc(alias = "IORING_OP_SEND")]
            pub fn send_op_shared<B: IoBuf>(self: &Arc<Self>, buf: B) -> SendBuf<Arc<$ty>, B> {
                SendBuf::new(Arc::clone(self), buf)
            }

            /// An operation that receives into the slice a scope lends it
            /// (see [`RecvSlice`]).
            #[doc(alias = "IORING_OP_RECV")]
            pub fn recv_slice_op(&self) -> RecvSlice<&$ty> {
                RecvSlice {
                    handle: self,
                    opts: Opts::DEFAULT,
                }
            }

            /// An operation that sends the slice a scope lends it (see
            /// [`SendSlice`]).
            #[doc(alias = "IORING_OP_SEND")]
            pub fn send_slice_op(&self) -> SendSlice<&$ty> {
                SendSlice {
                    handle: self,
                    opts: Opts::DEFAULT,
                }
            }

            /// An operation that receives as data comes, into `bufs` (see
            /// [`RecvMulti`]), borrowing the stream.
            #[doc(alias("IORING_OP_RECV", "IORING_RECV_MULTISHOT"))]
            pub fn recv_multi_op(&self, bufs: &BufRing) -> RecvMulti<&$ty> {
                RecvMulti {
                    handle: self,
                    bufs: bufs.clone(),
                    opts: Opts::DEFAULT,
                }
            }

            /// [`recv_multi_op`](Self::recv_multi_op), keeping the stream
            /// open itself.
            #[doc(alias("IORING_OP_RECV", "IORING_RECV_MULTISHOT"))]
            pub fn recv_multi_op_shared(self: &Arc<Self>, bufs: &BufRing) -> RecvMulti<Arc<$ty>> {
                RecvMulti {
                    handle: Arc::clone(self),
                    bufs: bufs.clone(),
                    opts: Opts::DEFAULT,
                }
            }
        }

        impl Fixed<$ty> {
            /// [`recv_op`]($ty::recv_op) on the registered stream.
            #[doc(alias = "IORING_OP_RECV")]
            pub fn recv_op<B: IoBufMut>(self, buf: B) -> RecvBuf<Fixed<$ty>, B> {
                RecvBuf::new(self, buf)
            }

            /// [`send_op`]($ty::send_op) on the registered stream.
            #[doc(alias = "IORING_OP_SEND")]
            pub fn send_op<B: IoBuf>(self, buf: B) -> SendBuf<Fixed<$ty>, B> {
                SendBuf::new(self, buf)
            }

            /// [`recv_multi_op`]($ty::recv_multi_op) on the registered
            /// stream.
            #[doc(alias("IORING_OP_RECV", "IORING_RECV_MULTISHOT"))]
            pub fn recv_multi_op(self, bufs: &BufRing) -> RecvMulti<Fixed<$ty>> {
                RecvMulti {
                    handle: self,
                    bufs: bufs.clone(),
                    opts: Opts::DEFAULT,
                }
            }
        }
    };
}

stream_ops!(TcpStream);
stream_ops!(UnixStream);

op_setters!(RecvBuf, B);
op_setters!(SendBuf, B);
