//! Zero-copy sends: `IORING_OP_SEND_ZC`, whose two CQEs — the byte count,
//! then a notification that the kernel is done with the buffer — fold into
//! one result ([`Op::FOLDS`]).
//!
//! # Safety
//!
//! As for the owned-buffer sends (`stream.rs`): the buffer is moved into
//! the storage before the SQE is built and its heap bytes stay put until
//! the final CQE — here the notification, after which the kernel no
//! longer reads them — when `output` moves it out, once (the first CQE is
//! held by the driver, never decoded).
#![expect(
    unsafe_code,
    reason = "the SQE points at an owned buffer until the notification"
)]

use std::cell::Cell;
use std::fmt;
use std::sync::Arc;

use io_uring::{opcode, squeue};

use super::file::len32;
use super::owned::{BufResult, BufStorage, IoBuf};
use super::socket::on_target;
use super::stream::{stash_send, take_sent};
use super::{Fixed, OpHandle, Opts, op_setters, target};
use crate::error::Result;
use crate::fd::{TcpStream, UnixStream};
use crate::ring::Cqe;
use crate::ring::Opcode;
use crate::ring::op::Op;

/// `MSG_NOSIGNAL`.
const MSG_NOSIGNAL: i32 = crate::sys::net::MsgFlags::NOSIGNAL.bits() as i32;

/// Sends from a buffer the operation owns without copying it into the
/// kernel: `IORING_OP_SEND_ZC` (Linux 6.0). The kernel posts the byte
/// count, then a notification once the network stack no longer reads the
/// buffer; the driver folds the two into one result, the byte count with
/// the buffer ([`BufResult`]), which comes with the notification — so the
/// buffer handed back may be reused or freed at once. Worth it for large
/// sends; for small ones the notification costs more than the copy.
#[doc(alias = "IORING_OP_SEND_ZC")]
pub struct SendZc<H, B> {
    handle: H,
    buf: Cell<Option<B>>,
    bytes: Cell<(*const u8, usize)>,
    opts: Opts,
}

impl<H, B> SendZc<H, B> {
    fn new(handle: H, buf: B) -> SendZc<H, B> {
        SendZc {
            handle,
            buf: Cell::new(Some(buf)),
            bytes: Cell::new((std::ptr::null(), 0)),
            opts: Opts::DEFAULT,
        }
    }
}

impl<H: fmt::Debug, B> fmt::Debug for SendZc<H, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendZc")
            .field("handle", &self.handle)
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

// SAFETY: the SQE sends the owned buffer's initialised bytes, heap memory
// the storage owns until the final CQE (the notification), on a
// descriptor the operation holds; the kernel only reads them. `FOLDS`
// keeps the first CQE from being decoded, so `output` runs once.
unsafe impl<H: OpHandle, B: IoBuf> Op for SendZc<H, B> {
    type Storage = BufStorage<B>;
    type Output = BufResult<B>;
    const CODE: Opcode = Opcode::SEND_ZC;
    const NAME: &'static str = "zero-copy send (IORING_OP_SEND_ZC)";
    const FOLDS: bool = true;

    super::handle_methods!(check; keep);

    #[inline]
    unsafe fn prepare(&self, storage: *mut BufStorage<B>) {
        if let Some(buf) = self.buf.take() {
            // SAFETY: the driver's promise: `storage` is writable.
            self.bytes.set(unsafe { stash_send(buf, 0, storage) });
        }
    }

    #[inline]
    fn entry(&self, _storage: *mut BufStorage<B>) -> squeue::Entry {
        let (ptr, len) = self.bytes.get();
        on_target!(target(&self.handle, self.opts.fixed), |f| {
            opcode::SendZc::new(f, ptr, len32(len))
                .flags(MSG_NOSIGNAL)
                .build()
        })
    }

    #[inline]
    unsafe fn output(cqe: Cqe, storage: *const BufStorage<B>) -> Result<BufResult<B>> {
        // SAFETY: called once, after the final CQE (the notification, or
        // a first CQE that had none to follow).
        Ok(unsafe { take_sent(cqe, storage) })
    }
}

/// The zero-copy send of a stream type.
macro_rules! zc_ops {
    ($ty:ident) => {
        impl $ty {
            /// An operation that sends `buf`'s bytes without copying them
            /// (see [`SendZc`]), borrowing the stream.
            #[doc(alias = "IORING_OP_SEND_ZC")]
            pub fn send_zc_op<B: IoBuf>(&self, buf: B) -> SendZc<&$ty, B> {
                SendZc::new(self, buf)
            }

            /// [`send_zc_op`](Self::send_zc_op), keeping the stream open
            /// itself: for the driver-owned [`Ring::push`](crate::ring::Ring::push).
            #[doc(alias = "IORING_OP_SEND_ZC")]
            pub fn send_zc_op_shared<B: IoBuf>(self: &Arc<Self>, buf: B) -> SendZc<Arc<$ty>, B> {
                SendZc::new(Arc::clone(self), buf)
            }
        }

        impl Fixed<$ty> {
            /// [`send_zc_op`]($ty::send_zc_op) on the registered stream.
            #[doc(alias = "IORING_OP_SEND_ZC")]
            pub fn send_zc_op<B: IoBuf>(self, buf: B) -> SendZc<Fixed<$ty>, B> {
                SendZc::new(self, buf)
            }
        }
    };
}

zc_ops!(TcpStream);
zc_ops!(UnixStream);

op_setters!(SendZc, B);
