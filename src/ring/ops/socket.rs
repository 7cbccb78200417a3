//! Sockets on the ring: connecting, shutting down and closing (accepting
//! is in `accept.rs`), and the `on_target` builder the socket operations
//! share.
//!
//! # Safety
//!
//! Each `unsafe impl Op` below builds an SQE on a descriptor the operation
//! holds (borrowed, kept by an `Arc`, or registered) that touches only its
//! own storage: a connect's encoded address, which the kernel reads. A
//! close hands its descriptor to the kernel, which closes it; `output`
//! lets go of it then, or closes it itself if the kernel did not.
#![expect(
    unsafe_code,
    reason = "the SQEs point at addresses in the operation's storage"
)]

use std::fmt;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::sync::Arc;

use io_uring::{opcode, squeue, types};

use super::{OpHandle, Opts, check_target, op_setters, target};
use crate::error::{Error, Result};
use crate::fd::{TcpStream, UdpSocket, UnixStream};
use crate::ring::Cqe;
use crate::ring::Opcode;
use crate::ring::direct::release;
use crate::ring::op::Op;
use crate::sys::net::SockAddr;

/// Builds an SQE with `$f` bound to the target as the io-uring crate's
/// `Fd` or `Fixed`.
macro_rules! on_target {
    ($target:expr, |$f:ident| $body:expr) => {
        match $target {
            $crate::ring::Target::Fd(fd) => {
                let $f = ::io_uring::types::Fd(::std::os::fd::AsRawFd::as_raw_fd(&fd));
                $body
            }
            $crate::ring::Target::Fixed(index) => {
                let $f = ::io_uring::types::Fixed(index);
                $body
            }
        }
    };
}
pub(super) use on_target;

/// Connects a socket: `IORING_OP_CONNECT`. The result is `()` once the
/// connection is made (for TCP, the handshake done), or the error:
/// `Os(ECONNREFUSED)` when nothing listens there.
#[doc(alias = "IORING_OP_CONNECT")]
pub struct Connect<H> {
    handle: H,
    addr: SockAddr,
    opts: Opts,
}

op_setters!(Connect);

impl<H: fmt::Debug> fmt::Debug for Connect<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connect")
            .field("handle", &self.handle)
            .field("addr", &self.addr)
            .field("opts", &self.opts)
            .finish()
    }
}

impl<H> Connect<H> {
    /// Connects `handle` (a [`TcpStream`] from
    /// [`TcpStream::unconnected`], a [`UdpSocket`], by reference, `Arc` or
    /// [`Fixed`](super::Fixed) index) to `addr`.
    #[doc(alias = "IORING_OP_CONNECT")]
    pub fn new(handle: H, addr: SocketAddr) -> Connect<H> {
        Connect {
            handle,
            addr: SockAddr::from(addr),
            opts: Opts::DEFAULT,
        }
    }
}

/// Where a [`Connect`] keeps the encoded address while in flight.
#[repr(C, align(8))]
pub struct ConnectStorage {
    addr: [u8; 112],
    len: u32,
}

impl fmt::Debug for ConnectStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ConnectStorage")
    }
}

// SAFETY: the SQE connects a descriptor the operation holds to the address
// in the storage, which the kernel reads (`prepare` fills it whole) and
// which stays put until the final CQE.
unsafe impl<H: OpHandle> Op for Connect<H> {
    type Storage = ConnectStorage;
    type Output = ();
    const CODE: Opcode = Opcode::CONNECT;
    const NAME: &'static str = "connect (IORING_OP_CONNECT)";

    #[inline]
    fn check(&self) -> Result<()> {
        if self.addr.len() > 112 {
            return Err(Error::InvalidParam("an address longer than 112 bytes"));
        }
        check_target(&self.handle, self.opts.fixed)
    }

    #[inline]
    unsafe fn prepare(&self, storage: *mut ConnectStorage) {
        let bytes = self.addr.as_bytes();
        let mut addr = [0u8; 112];
        let n = bytes.len().min(112);
        addr[..n].copy_from_slice(&bytes[..n]);
        // SAFETY: the driver's promise: `storage` is writable.
        unsafe {
            storage.write(ConnectStorage {
                addr,
                len: n as u32,
            });
        }
    }

    #[inline]
    fn entry(&self, storage: *mut ConnectStorage) -> squeue::Entry {
        let len = self.addr.len().min(112) as u32;
        // The address is the storage's first field.
        let addr = storage.cast_const().cast::<u8>();
        on_target!(target(&self.handle, self.opts.fixed), |f| {
            opcode::Connect::new(f, addr.cast(), len).build()
        })
    }

    super::handle_methods!(keep);

    #[inline]
    unsafe fn output(cqe: Cqe, _storage: *const ConnectStorage) -> Result<()> {
        cqe.result().map(drop)
    }
}

/// Shuts down reading, writing or both of a connection:
/// `IORING_OP_SHUTDOWN`.
#[doc(alias = "IORING_OP_SHUTDOWN")]
pub struct ShutdownOp<H> {
    handle: H,
    how: Shutdown,
    opts: Opts,
}

op_setters!(ShutdownOp);

impl<H: fmt::Debug> fmt::Debug for ShutdownOp<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShutdownOp")
            .field("handle", &self.handle)
            .field("how", &self.how)
            .finish()
    }
}

impl<H> ShutdownOp<H> {
    /// Shuts `handle`'s connection down as `how` says.
    #[doc(alias = "IORING_OP_SHUTDOWN")]
    pub fn new(handle: H, how: Shutdown) -> ShutdownOp<H> {
        ShutdownOp {
            handle,
            how,
            opts: Opts::DEFAULT,
        }
    }
}

// SAFETY: the SQE shuts down a descriptor the operation holds and touches
// no memory.
unsafe impl<H: OpHandle> Op for ShutdownOp<H> {
    type Storage = ();
    type Output = ();
    const CODE: Opcode = Opcode::SHUTDOWN;
    const NAME: &'static str = "shutdown (IORING_OP_SHUTDOWN)";

    super::handle_methods!(check; keep);

    #[inline]
    fn entry(&self, _storage: *mut ()) -> squeue::Entry {
        let how = match self.how {
            Shutdown::Read => 0,
            Shutdown::Write => 1,
            Shutdown::Both => 2,
        };
        on_target!(target(&self.handle, self.opts.fixed), |f| {
            opcode::Shutdown::new(f, how).build()
        })
    }

    #[inline]
    unsafe fn output(cqe: Cqe, _storage: *const ()) -> Result<()> {
        cqe.result().map(drop)
    }
}

/// Closes a descriptor on the ring: `IORING_OP_CLOSE`, for a handle given
/// up to it ([`Close::new`]) or for a slot of the ring's fixed-file table
/// ([`Close::fixed`]). If the kernel cannot close the handle's descriptor
/// (it never went out, say), the result's drop closes it, so it is never
/// leaked.
#[doc(alias = "IORING_OP_CLOSE")]
pub struct Close {
    fd: std::cell::Cell<Option<OwnedFd>>,
    /// The descriptor's number, once `prepare` has moved it to the storage.
    raw: std::cell::Cell<RawFd>,
    fixed: Option<u32>,
    /// For a [`Direct`](crate::ring::Direct)'s slot: its ring and table
    /// registration (epoch), and whether the operation still
    /// owns the slot (until `prepare` hands it to the storage), to close
    /// it as the `Direct` would if the operation is dropped unpushed.
    slot: Option<(u32, u32)>,
    owns_slot: std::cell::Cell<bool>,
}

impl Drop for Close {
    fn drop(&mut self) {
        if let (Some((ring, epoch)), Some(index), true) =
            (self.slot, self.fixed, self.owns_slot.get())
        {
            release(ring, epoch, index);
        }
    }
}

impl fmt::Debug for Close {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Close")
            .field("fixed", &self.fixed)
            .finish_non_exhaustive()
    }
}

impl Close {
    /// Closes `handle` (any handle, or an `OwnedFd`), which the operation
    /// owns from now on.
    #[doc(alias = "IORING_OP_CLOSE")]
    pub fn new(handle: impl Into<OwnedFd>) -> Close {
        Close {
            fd: std::cell::Cell::new(Some(handle.into())),
            raw: std::cell::Cell::new(-1),
            fixed: None,
            slot: None,
            owns_slot: std::cell::Cell::new(false),
        }
    }

    /// Closes fixed-file slot `index` of the ring this is pushed on.
    #[doc(alias = "IORING_OP_CLOSE")]
    pub fn fixed(index: u32) -> Close {
        Close {
            fd: std::cell::Cell::new(None),
            raw: std::cell::Cell::new(-1),
            fixed: Some(index),
            slot: None,
            owns_slot: std::cell::Cell::new(false),
        }
    }

    /// Closes slot `index` of registration `epoch` of ring `ring`'s table,
    /// which the operation owns
    /// (see [`Direct::close_op`](crate::ring::Direct::close_op)).
    pub(crate) fn direct(ring: u32, epoch: u32, index: u32) -> Close {
        Close {
            fd: std::cell::Cell::new(None),
            raw: std::cell::Cell::new(-1),
            fixed: Some(index),
            slot: Some((ring, epoch)),
            owns_slot: std::cell::Cell::new(true),
        }
    }
}

/// What a [`Close`] of a handle holds while in flight: the descriptor.
#[derive(Debug)]
pub struct CloseStorage {
    fd: RawFd,
    /// A [`Direct`](crate::ring::Direct)'s slot the operation owns: `(ring, table epoch, index)`.
    slot: Option<(u32, u32, u32)>,
}

/// The result of a [`Close`]: its drop closes a descriptor the kernel did
/// not (so that none leaks); there is nothing to take from it.
#[derive(Debug)]
pub struct Closed {
    left: Option<OwnedFd>,
}

impl Closed {
    /// Whether the kernel failed to close the handle, which the drop of
    /// this value then closes.
    pub fn left_open(&self) -> bool {
        self.left.is_some()
    }
}

// SAFETY: the SQE closes the descriptor the operation owns (moved into the
// storage by `prepare`, so that no one else closes it) or a fixed slot of
// the ring, and touches no memory; `output` takes the descriptor back
// unless the kernel closed it.
unsafe impl Op for Close {
    type Storage = CloseStorage;
    type Output = Closed;
    const CODE: Opcode = Opcode::CLOSE;
    const NAME: &'static str = "close (IORING_OP_CLOSE)";

    #[inline]
    fn ring_bound(&self) -> Option<u32> {
        self.slot.map(|(ring, _)| ring)
    }

    #[inline]
    fn files_epoch(&self) -> Option<u32> {
        self.slot.map(|(_, epoch)| epoch)
    }

    #[inline]
    fn check(&self) -> Result<()> {
        if self.fixed.is_some() {
            return Ok(());
        }
        match self.fd.take() {
            Some(fd) => {
                self.fd.set(Some(fd));
                Ok(())
            }
            None => Err(Error::InvalidParam("the operation was pushed already")),
        }
    }

    #[inline]
    unsafe fn prepare(&self, storage: *mut CloseStorage) {
        let fd = self.fd.take().map_or(-1, IntoRawFd::into_raw_fd);
        self.raw.set(fd);
        let slot = match (self.slot, self.fixed) {
            (Some((ring, epoch)), Some(index)) if self.owns_slot.replace(false) => {
                Some((ring, epoch, index))
            }
            _ => None,
        };
        // SAFETY: the driver's promise: `storage` is writable.
        unsafe { storage.write(CloseStorage { fd, slot }) };
    }

    #[inline]
    fn entry(&self, _storage: *mut CloseStorage) -> squeue::Entry {
        match self.fixed {
            Some(index) => opcode::Close::new(types::Fixed(index)).build(),
            // Recorded by `prepare`, which the driver calls first.
            None => opcode::Close::new(types::Fd(self.raw.get())).build(),
        }
    }

    #[inline]
    unsafe fn output(cqe: Cqe, storage: *const CloseStorage) -> Result<Closed> {
        // SAFETY: the kernel is done with the storage; `prepare` filled it.
        let CloseStorage { fd, slot } = unsafe { storage.read() };
        // A slot whose close never ran (the push failed, or a link before
        // it did) is closed as its `Direct`'s drop would.
        if let Some((ring, epoch, index)) = slot
            && cqe.res == -crate::sys::Errno::ECANCELED.raw()
        {
            release(ring, epoch, index);
        }
        // A descriptor the kernel did not close (an error, or the request
        // never went out) is still ours: taken back, to close on drop.
        let left = (cqe.res < 0 && fd >= 0).then(|| {
            // SAFETY: the operation owned it (moved in by `prepare`) and the
            // kernel did not close it; this CQE is decoded once.
            unsafe { OwnedFd::from_raw_fd(fd) }
        });
        match cqe.result() {
            Ok(_) => Ok(Closed { left }),
            Err(e) if left.is_some() => {
                drop(left);
                Err(e)
            }
            Err(e) => Err(e),
        }
    }
}

/// Connect and shutdown operations of a socket type.
macro_rules! socket_ops {
    ($ty:ident) => {
        impl $ty {
            /// An operation that connects the socket to `addr` (see
            /// [`Connect`]), borrowing it.
            #[doc(alias = "IORING_OP_CONNECT")]
            pub fn connect_op(&self, addr: SocketAddr) -> Connect<&$ty> {
                Connect::new(self, addr)
            }

            /// [`connect_op`](Self::connect_op), keeping the socket open
            /// itself.
            #[doc(alias = "IORING_OP_CONNECT")]
            pub fn connect_op_shared(self: &Arc<Self>, addr: SocketAddr) -> Connect<Arc<$ty>> {
                Connect::new(Arc::clone(self), addr)
            }

            /// An operation that shuts the connection down as `how` says
            /// (see [`ShutdownOp`]), borrowing the socket.
            #[doc(alias = "IORING_OP_SHUTDOWN")]
            pub fn shutdown_op(&self, how: Shutdown) -> ShutdownOp<&$ty> {
                ShutdownOp::new(self, how)
            }

            /// [`shutdown_op`](Self::shutdown_op), keeping the socket open
            /// itself.
            #[doc(alias = "IORING_OP_SHUTDOWN")]
            pub fn shutdown_op_shared(self: &Arc<Self>, how: Shutdown) -> ShutdownOp<Arc<$ty>> {
                ShutdownOp::new(Arc::clone(self), how)
            }
        }
    };
}

socket_ops!(TcpStream);
socket_ops!(UdpSocket);

impl UnixStream {
    /// An operation that shuts the connection down as `how` says (see
    /// [`ShutdownOp`]), borrowing the stream.
    #[doc(alias = "IORING_OP_SHUTDOWN")]
    pub fn shutdown_op(&self, how: Shutdown) -> ShutdownOp<&UnixStream> {
        ShutdownOp::new(self, how)
    }

    /// [`shutdown_op`](UnixStream::shutdown_op), keeping the stream open
    /// itself.
    #[doc(alias = "IORING_OP_SHUTDOWN")]
    pub fn shutdown_op_shared(self: &Arc<Self>, how: Shutdown) -> ShutdownOp<Arc<UnixStream>> {
        ShutdownOp::new(Arc::clone(self), how)
    }
}
