//! Datagrams with addresses on the ring: `IORING_OP_SENDMSG` and
//! `IORING_OP_RECVMSG` on a [`UdpSocket`], with a buffer the operation
//! owns.
//!
//! # Safety
//!
//! The message header, its one `iovec` and the address live in the
//! operation's storage, filled by `prepare` before the SQE is built and
//! left in place until the final CQE: the SQE points at the header, the
//! header at the `iovec` and the address, the `iovec` at the owned
//! buffer's heap bytes (which do not move with the buffer). The kernel
//! reads the buffer (send) or writes at most its capacity into it
//! (receive), and writes the address and the header's lengths and flags
//! (receive); `output` moves the buffer out once.
#![expect(
    unsafe_code,
    reason = "the SQE points at a message header in the operation's storage"
)]

use std::cell::Cell;
use std::ffi::c_void;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use io_uring::{opcode, squeue};

use super::owned::{BufResult, IoBuf, IoBufMut};
use super::socket::on_target;
use super::{Fixed, OpHandle, Opts, check_target, op_setters, target};
use crate::error::{Error, Result};
use crate::fd::UdpSocket;
use crate::ring::Cqe;
use crate::ring::Opcode;
use crate::ring::op::{Op, cqe_count};
use crate::sys::net::SockAddr;

/// `MSG_NOSIGNAL`.
const MSG_NOSIGNAL: u32 = crate::sys::net::MsgFlags::NOSIGNAL.bits();
/// Bytes of address room: a `sockaddr_in6`.
const ADDR: usize = 28;

/// `struct msghdr`.
#[repr(C)]
struct MsgHdr {
    name: *mut c_void,
    namelen: u32,
    iov: *mut IoVec,
    iovlen: usize,
    control: *mut c_void,
    controllen: usize,
    flags: u32,
}

/// `struct iovec`.
#[repr(C)]
struct IoVec {
    base: *mut c_void,
    len: usize,
}

const _: () = assert!(size_of::<MsgHdr>() == 56 && size_of::<IoVec>() == 16);

/// Where a datagram operation keeps its header, `iovec`, address and
/// buffer while in flight.
#[repr(C)]
pub struct MsgStorage<B> {
    hdr: MsgHdr,
    iov: IoVec,
    addr: [u8; ADDR],
    buf: std::mem::MaybeUninit<B>,
}

impl<B> fmt::Debug for MsgStorage<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MsgStorage")
    }
}

/// Sends one datagram to an address from a buffer the operation owns:
/// `IORING_OP_SENDMSG`. The result is the byte count with the buffer.
#[doc(alias = "IORING_OP_SENDMSG")]
pub struct SendTo<H, B> {
    handle: H,
    buf: Cell<Option<B>>,
    addr: SockAddr,
    opts: Opts,
}

/// Receives one datagram and its sender's address into a buffer the
/// operation owns: `IORING_OP_RECVMSG`. The result is the byte count and
/// the sender, with the buffer (its length set to the datagram's, cut to
/// fit).
#[doc(alias = "IORING_OP_RECVMSG")]
pub struct RecvFrom<H, B> {
    handle: H,
    buf: Cell<Option<B>>,
    opts: Opts,
}

impl<H, B> SendTo<H, B> {}

impl<H, B> RecvFrom<H, B> {}

impl<H: fmt::Debug, B> fmt::Debug for SendTo<H, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendTo")
            .field("handle", &self.handle)
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl<H: fmt::Debug, B> fmt::Debug for RecvFrom<H, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvFrom")
            .field("handle", &self.handle)
            .finish_non_exhaustive()
    }
}

/// Fills `storage` with a header for one `iovec` over `ptr`/`len` and the
/// address room, holding `buf`, and returns the header's address.
///
/// # Safety
///
/// - `storage` is valid for writes of a `MsgStorage<B>`.
unsafe fn fill<B>(
    storage: *mut MsgStorage<B>,
    buf: B,
    ptr: *mut u8,
    len: usize,
    addr: &[u8],
) -> *const MsgHdr {
    let mut room = [0u8; ADDR];
    let n = addr.len().min(ADDR);
    room[..n].copy_from_slice(&addr[..n]);
    // SAFETY: the caller's promise; the pointers computed below are into
    // the storage, which does not move until the final CQE.
    unsafe {
        let iov = &raw mut (*storage).iov;
        let name = &raw mut (*storage).addr;
        storage.write(MsgStorage {
            hdr: MsgHdr {
                name: name.cast(),
                namelen: if addr.is_empty() {
                    ADDR as u32
                } else {
                    n as u32
                },
                iov,
                iovlen: 1,
                control: std::ptr::null_mut(),
                controllen: 0,
                flags: 0,
            },
            iov: IoVec {
                base: ptr.cast(),
                len,
            },
            addr: room,
            buf: std::mem::MaybeUninit::new(buf),
        });
        &raw const (*storage).hdr
    }
}

// SAFETY: as the module says: the header, `iovec` and address are in the
// storage, the bytes in the owned buffer, all in place until the final
// CQE; the kernel only reads them.
unsafe impl<H: OpHandle, B: IoBuf> Op for SendTo<H, B> {
    type Storage = MsgStorage<B>;
    type Output = BufResult<B>;
    const CODE: Opcode = Opcode::SENDMSG;
    const NAME: &'static str = "datagram send (IORING_OP_SENDMSG)";

    #[inline]
    fn check(&self) -> Result<()> {
        if self.addr.len() > ADDR {
            return Err(Error::InvalidParam("not an IPv4 or IPv6 address"));
        }
        check_target(&self.handle, self.opts.fixed)
    }

    #[inline]
    unsafe fn prepare(&self, storage: *mut MsgStorage<B>) {
        if let Some(buf) = self.buf.take() {
            let (ptr, len) = (buf.as_ptr().cast_mut(), buf.bytes_init());
            // SAFETY: the driver's promise: `storage` is writable.
            unsafe { fill(storage, buf, ptr, len, self.addr.as_bytes()) };
        }
    }

    #[inline]
    fn entry(&self, storage: *mut MsgStorage<B>) -> squeue::Entry {
        // The header is the storage's first field, filled by `prepare`.
        let hdr = storage.cast_const().cast::<MsgHdr>();
        on_target!(target(&self.handle, self.opts.fixed), |f| {
            opcode::SendMsg::new(f, hdr.cast())
                .flags(MSG_NOSIGNAL)
                .build()
        })
    }

    super::handle_methods!(keep);

    #[inline]
    unsafe fn output(cqe: Cqe, storage: *const MsgStorage<B>) -> Result<BufResult<B>> {
        // SAFETY: called once, after the final CQE: the buffer `prepare`
        // moved in is moved out exactly once.
        let buf = unsafe { std::ptr::read(&raw const (*storage).buf).assume_init() };
        Ok((cqe_count(cqe), buf))
    }
}

// SAFETY: as the module says: the kernel writes at most the buffer's
// capacity into its heap bytes, and the sender's address and the header's
// lengths and flags into the storage, all in place until the final CQE.
unsafe impl<H: OpHandle, B: IoBufMut> Op for RecvFrom<H, B> {
    type Storage = MsgStorage<B>;
    type Output = (Result<(usize, SocketAddr)>, B);
    const CODE: Opcode = Opcode::RECVMSG;
    const NAME: &'static str = "datagram receive (IORING_OP_RECVMSG)";

    super::handle_methods!(check; keep);

    #[inline]
    unsafe fn prepare(&self, storage: *mut MsgStorage<B>) {
        if let Some(mut buf) = self.buf.take() {
            let (ptr, len) = (buf.as_mut_ptr(), buf.bytes_total());
            // SAFETY: the driver's promise: `storage` is writable.
            unsafe { fill(storage, buf, ptr, len, &[]) };
        }
    }

    #[inline]
    fn entry(&self, storage: *mut MsgStorage<B>) -> squeue::Entry {
        let hdr = storage.cast::<MsgHdr>();
        on_target!(target(&self.handle, self.opts.fixed), |f| {
            opcode::RecvMsg::new(f, hdr.cast()).build()
        })
    }

    #[inline]
    unsafe fn output(
        cqe: Cqe,
        storage: *const MsgStorage<B>,
    ) -> Result<(Result<(usize, SocketAddr)>, B)> {
        // SAFETY: as for `SendTo`: moved out once, after the final CQE.
        let mut buf = unsafe { std::ptr::read(&raw const (*storage).buf).assume_init() };
        let n = match cqe_count(cqe) {
            Ok(n) => n,
            Err(e) => return Ok((Err(e), buf)),
        };
        // SAFETY: the kernel wrote `n` bytes, at most the capacity.
        unsafe { buf.set_init(n.min(buf.bytes_total())) };
        // SAFETY: the kernel is done with the storage, which `prepare`
        // initialised whole; it wrote the address and its length.
        let (addr, len) = unsafe { ((*storage).addr, (*storage).hdr.namelen as usize) };
        let from = SockAddr::from_bytes(&addr[..len.min(ADDR)])
            .as_socket_addr()
            .ok_or(Error::InvalidParam("a datagram from no IP address"));
        Ok((from.map(|a| (n, a)), buf))
    }
}

impl UdpSocket {
    /// An operation that sends `buf`'s bytes to `addr` as one datagram
    /// (see [`SendTo`]), borrowing the socket.
    #[doc(alias = "IORING_OP_SENDMSG")]
    pub fn send_to_op<B: IoBuf>(&self, buf: B, addr: SocketAddr) -> SendTo<&UdpSocket, B> {
        SendTo::new(self, buf, addr)
    }

    /// [`send_to_op`](UdpSocket::send_to_op), keeping the socket open
    /// itself: for the driver-owned [`Ring::push`](crate::ring::Ring::push).
    #[doc(alias = "IORING_OP_SENDMSG")]
    pub fn send_to_op_shared<B: IoBuf>(
        self: &Arc<Self>,
        buf: B,
        addr: SocketAddr,
    ) -> SendTo<Arc<UdpSocket>, B> {
        SendTo::new(Arc::clone(self), buf, addr)
    }

    /// An operation that receives one datagram and its sender into `buf`
    /// (see [`RecvFrom`]), borrowing the socket.
    #[doc(alias = "IORING_OP_RECVMSG")]
    pub fn recv_from_op<B: IoBufMut>(&self, buf: B) -> RecvFrom<&UdpSocket, B> {
        RecvFrom::new(self, buf)
    }

    /// [`recv_from_op`](UdpSocket::recv_from_op), keeping the socket open
    /// itself.
    #[doc(alias = "IORING_OP_RECVMSG")]
    pub fn recv_from_op_shared<B: IoBufMut>(
        self: &Arc<Self>,
        buf: B,
    ) -> RecvFrom<Arc<UdpSocket>, B> {
        RecvFrom::new(Arc::clone(self), buf)
    }
}

impl Fixed<UdpSocket> {
    /// [`send_to_op`](UdpSocket::send_to_op) on the registered socket.
    #[doc(alias = "IORING_OP_SENDMSG")]
    pub fn send_to_op<B: IoBuf>(self, buf: B, addr: SocketAddr) -> SendTo<Fixed<UdpSocket>, B> {
        SendTo::new(self, buf, addr)
    }

    /// [`recv_from_op`](UdpSocket::recv_from_op) on the registered socket.
    #[doc(alias = "IORING_OP_RECVMSG")]
    pub fn recv_from_op<B: IoBufMut>(self, buf: B) -> RecvFrom<Fixed<UdpSocket>, B> {
        RecvFrom::new(self, buf)
    }
}

impl<H, B> SendTo<H, B> {
    fn new(handle: H, buf: B, addr: SocketAddr) -> SendTo<H, B> {
        SendTo {
            handle,
            buf: Cell::new(Some(buf)),
            addr: SockAddr::from(addr),
            opts: Opts::DEFAULT,
        }
    }
}

impl<H, B> RecvFrom<H, B> {
    fn new(handle: H, buf: B) -> RecvFrom<H, B> {
        RecvFrom {
            handle,
            buf: Cell::new(Some(buf)),
            opts: Opts::DEFAULT,
        }
    }
}

op_setters!(SendTo, B);
op_setters!(RecvFrom, B);
