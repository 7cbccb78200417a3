//! Sockets on the ring: accepting connections (one at a time, or as a
//! multishot stream), connecting, shutting down and closing.
//!
//! # Safety
//!
//! Each `unsafe impl Op` below builds an SQE on a descriptor the operation
//! holds (borrowed, kept by an `Arc`, or registered) that touches only its
//! own storage: an accept's address buffer and its length (written by the
//! kernel), a connect's encoded address (read by it). A descriptor an
//! accept returns was created by the kernel for that CQE alone, and
//! `output` takes ownership of it exactly once; the driver calls `output`
//! for every CQE of an operation whose output owns something, so one
//! nobody takes is closed. A close hands its descriptor to the kernel,
//! which closes it; `output` lets go of it then, or closes it itself if
//! the kernel did not.
#![allow(unsafe_code)]

use std::fmt;
use std::marker::PhantomData;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::sync::Arc;

use io_uring::{opcode, squeue, types};

use super::{Fixed, OpHandle, Opts, POLLIN, check_target, kept, op_setters, target};
use crate::error::{Error, Result};
use crate::fd::{TcpListener, TcpStream, UdpSocket, UnixListener, UnixStream};
use crate::ring::op::{Op, cqe_error};
use crate::ring::{Cqe, Target};
use crate::sys::net::SockAddr;

/// `SOCK_NONBLOCK | SOCK_CLOEXEC`, as accept flags: every accepted stream
/// is a handle like any other.
const ACCEPT_FLAGS: i32 = 0o4000 | 0o2000000;

/// Builds an SQE with `$f` bound to the target as the io-uring crate's
/// `Fd` or `Fixed`.
macro_rules! on_target {
    ($target:expr, |$f:ident| $body:expr) => {
        match $target {
            $crate::ring::Target::Fd(fd) => {
                let $f = ::io_uring::types::Fd(fd);
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

/// The accepted descriptor of a CQE, as a stream handle of type `S`.
///
/// # Safety
///
/// - `cqe` is a CQE of an accept, which the caller decodes once.
#[inline]
unsafe fn accepted<S: From<OwnedFd>>(cqe: Cqe) -> Result<S> {
    if cqe.res < 0 {
        return Err(cqe_error(cqe.res));
    }
    // SAFETY: a non-negative accept result is a descriptor the kernel made
    // for this CQE; the caller's promise makes this its only owner.
    Ok(S::from(unsafe { OwnedFd::from_raw_fd(cqe.res) }))
}

/// Accepts one connection: `IORING_OP_ACCEPT`. The result is the new
/// stream (non-blocking, close-on-exec) as a handle of type `S`
/// ([`TcpStream`] from a [`TcpListener`], [`UnixStream`] from a
/// [`UnixListener`]); one nobody takes is closed.
pub struct Accept<H, S> {
    handle: H,
    opts: Opts,
    _stream: PhantomData<fn() -> S>,
}

/// Accepts connections as they come: `IORING_OP_ACCEPT` with
/// `IORING_ACCEPT_MULTISHOT` (Linux 5.19). Each connection is one result,
/// a stream handle of type `S`; the operation runs until cancelled or it
/// fails (its final result then says why, as `Os(EMFILE)` when the
/// process runs out of descriptors). Connections nobody takes are closed.
///
/// The kernel may also end the stream with a connection as its final
/// result — it does when the completion queue is full — so a server that
/// wants more pushes it again once its token
/// [`is_done`](crate::ring::Token::is_done).
pub struct AcceptMulti<H, S> {
    handle: H,
    opts: Opts,
    _stream: PhantomData<fn() -> S>,
}

/// Accepts one TCP connection with its peer's address: `IORING_OP_ACCEPT`
/// with an address buffer. The result is `(TcpStream, SocketAddr)`.
pub struct AcceptFrom<H> {
    handle: H,
    opts: Opts,
}

op_setters!(AcceptFrom);

impl<H, S> Accept<H, S> {
    fn new(handle: H) -> Accept<H, S> {
        Accept {
            handle,
            opts: Opts::DEFAULT,
            _stream: PhantomData,
        }
    }

    /// Names the listener by fixed-file `index` instead of by descriptor.
    pub fn fixed(mut self, index: u32) -> Self {
        self.opts.fixed = Some(index);
        self
    }
}

impl<H, S> AcceptMulti<H, S> {
    fn new(handle: H) -> AcceptMulti<H, S> {
        AcceptMulti {
            handle,
            opts: Opts::DEFAULT,
            _stream: PhantomData,
        }
    }

    /// Names the listener by fixed-file `index` instead of by descriptor.
    pub fn fixed(mut self, index: u32) -> Self {
        self.opts.fixed = Some(index);
        self
    }
}

impl<H: fmt::Debug, S> fmt::Debug for Accept<H, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Accept")
            .field("handle", &self.handle)
            .field("opts", &self.opts)
            .finish()
    }
}

impl<H: fmt::Debug, S> fmt::Debug for AcceptMulti<H, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcceptMulti")
            .field("handle", &self.handle)
            .field("opts", &self.opts)
            .finish()
    }
}

impl<H: fmt::Debug> fmt::Debug for AcceptFrom<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcceptFrom")
            .field("handle", &self.handle)
            .field("opts", &self.opts)
            .finish()
    }
}

/// The accept SQE for `target`, with an address buffer or none.
#[inline]
fn accept_entry(target: Target, addr: *mut u8, len: *mut u32) -> squeue::Entry {
    on_target!(target, |f| opcode::Accept::new(f, addr.cast(), len.cast())
        .flags(ACCEPT_FLAGS)
        .build())
}

// SAFETY: the SQE accepts on a descriptor the operation holds and writes
// no memory (no address buffer); the result is owned by `output` once.
unsafe impl<H: OpHandle, S: From<OwnedFd>> Op for Accept<H, S> {
    type Storage = ();
    type Output = S;
    const CODE: u8 = opcode::Accept::CODE;
    const NAME: &'static str = "accept (IORING_OP_ACCEPT)";
    const REBUILDS: bool = true;

    #[inline]
    fn check(&self) -> Result<()> {
        check_target(&self.handle, self.opts.fixed)
    }

    #[inline]
    fn entry(&self, _storage: *mut ()) -> squeue::Entry {
        let null = std::ptr::null_mut();
        accept_entry(target(&self.handle, self.opts.fixed), null, null.cast())
    }

    #[inline]
    fn rearm(&self) -> Option<(Target, u32)> {
        Some((target(&self.handle, self.opts.fixed), POLLIN))
    }

    #[inline]
    fn rebuild(target: Target, _storage: *mut ()) -> Option<(u32, squeue::Entry)> {
        let null = std::ptr::null_mut();
        Some((POLLIN, accept_entry(target, null, null.cast())))
    }

    #[inline]
    fn into_keep(self) -> Option<Arc<dyn AsFd + Send + Sync>> {
        kept(self.handle, self.opts.fixed)
    }

    #[inline]
    unsafe fn output(cqe: Cqe, _storage: *const ()) -> Result<S> {
        // SAFETY: the driver decodes each CQE once.
        unsafe { accepted(cqe) }
    }
}

// SAFETY: as for `Accept`, for each shot: no memory is written, and every
// descriptor a CQE carries is owned by that CQE's `output` call.
unsafe impl<H: OpHandle, S: From<OwnedFd>> Op for AcceptMulti<H, S> {
    type Storage = ();
    type Output = S;
    const CODE: u8 = opcode::AcceptMulti::CODE;
    const NAME: &'static str = "multishot accept (IORING_OP_ACCEPT, IORING_ACCEPT_MULTISHOT)";

    #[inline]
    fn check(&self) -> Result<()> {
        check_target(&self.handle, self.opts.fixed)
    }

    #[inline]
    fn entry(&self, _storage: *mut ()) -> squeue::Entry {
        on_target!(target(&self.handle, self.opts.fixed), |f| {
            opcode::AcceptMulti::new(f).flags(ACCEPT_FLAGS).build()
        })
    }

    #[inline]
    fn into_keep(self) -> Option<Arc<dyn AsFd + Send + Sync>> {
        kept(self.handle, self.opts.fixed)
    }

    #[inline]
    unsafe fn output(cqe: Cqe, _storage: *const ()) -> Result<S> {
        // SAFETY: the driver decodes each CQE once.
        unsafe { accepted(cqe) }
    }
}

/// Where an [`AcceptFrom`] has the kernel write the peer's address: room
/// for an IPv6 one, and its length.
#[repr(C, align(8))]
pub struct PeerStorage {
    addr: [u8; 28],
    len: u32,
}

impl fmt::Debug for PeerStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PeerStorage")
    }
}

// SAFETY: the SQE accepts on a descriptor the operation holds and writes
// the peer's address into the storage's buffer, at most the length
// `prepare` set there; the result is owned by `output` once.
unsafe impl<H: OpHandle> Op for AcceptFrom<H> {
    type Storage = PeerStorage;
    type Output = (TcpStream, SocketAddr);
    const CODE: u8 = opcode::Accept::CODE;
    const NAME: &'static str = "accept with address (IORING_OP_ACCEPT)";

    #[inline]
    fn check(&self) -> Result<()> {
        check_target(&self.handle, self.opts.fixed)
    }

    #[inline]
    unsafe fn prepare(&self, storage: *mut PeerStorage) {
        // SAFETY: the driver's promise: `storage` is writable.
        unsafe {
            storage.write(PeerStorage {
                addr: [0; 28],
                len: 28,
            });
        }
    }

    #[inline]
    fn entry(&self, storage: *mut PeerStorage) -> squeue::Entry {
        // The fields' addresses, computed without touching the storage.
        let addr = storage.cast::<u8>();
        let len = addr
            .wrapping_add(std::mem::offset_of!(PeerStorage, len))
            .cast::<u32>();
        accept_entry(target(&self.handle, self.opts.fixed), addr, len)
    }

    #[inline]
    fn rearm(&self) -> Option<(Target, u32)> {
        Some((target(&self.handle, self.opts.fixed), POLLIN))
    }

    #[inline]
    fn into_keep(self) -> Option<Arc<dyn AsFd + Send + Sync>> {
        kept(self.handle, self.opts.fixed)
    }

    #[inline]
    unsafe fn output(cqe: Cqe, storage: *const PeerStorage) -> Result<(TcpStream, SocketAddr)> {
        // SAFETY: the driver decodes each CQE once.
        let stream: TcpStream = unsafe { accepted(cqe) }?;
        // SAFETY: the kernel is done with the storage, which `prepare`
        // initialised whole.
        let peer = unsafe { &*storage };
        let addr = SockAddr::from_bytes(&peer.addr[..(peer.len as usize).min(28)]);
        let addr = match addr.as_socket_addr() {
            Some(a) => a,
            // Cut short (not by any IP address): asked of the socket.
            None => stream.peer_addr()?,
        };
        Ok((stream, addr))
    }
}

/// Connects a socket: `IORING_OP_CONNECT`. The result is `()` once the
/// connection is made (for TCP, the handshake done), or the error:
/// `Os(ECONNREFUSED)` when nothing listens there.
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
    /// [`Fixed`] index) to `addr`.
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
    const CODE: u8 = opcode::Connect::CODE;
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

    #[inline]
    fn into_keep(self) -> Option<Arc<dyn AsFd + Send + Sync>> {
        kept(self.handle, self.opts.fixed)
    }

    #[inline]
    unsafe fn output(cqe: Cqe, _storage: *const ConnectStorage) -> Result<()> {
        cqe.result().map(drop)
    }
}

/// Shuts down reading, writing or both of a connection:
/// `IORING_OP_SHUTDOWN`.
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
    const CODE: u8 = opcode::Shutdown::CODE;
    const NAME: &'static str = "shutdown (IORING_OP_SHUTDOWN)";

    #[inline]
    fn check(&self) -> Result<()> {
        check_target(&self.handle, self.opts.fixed)
    }

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
    fn into_keep(self) -> Option<Arc<dyn AsFd + Send + Sync>> {
        kept(self.handle, self.opts.fixed)
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
pub struct Close {
    fd: std::cell::Cell<Option<OwnedFd>>,
    /// The descriptor's number, once `prepare` has moved it to the storage.
    raw: std::cell::Cell<RawFd>,
    fixed: Option<u32>,
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
    pub fn new(handle: impl Into<OwnedFd>) -> Close {
        Close {
            fd: std::cell::Cell::new(Some(handle.into())),
            raw: std::cell::Cell::new(-1),
            fixed: None,
        }
    }

    /// Closes fixed-file slot `index` of the ring this is pushed on.
    pub fn fixed(index: u32) -> Close {
        Close {
            fd: std::cell::Cell::new(None),
            raw: std::cell::Cell::new(-1),
            fixed: Some(index),
        }
    }
}

/// What a [`Close`] of a handle holds while in flight: the descriptor.
#[derive(Debug)]
pub struct CloseStorage {
    fd: RawFd,
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
    const CODE: u8 = opcode::Close::CODE;
    const NAME: &'static str = "close (IORING_OP_CLOSE)";

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
        // SAFETY: the driver's promise: `storage` is writable.
        unsafe { storage.write(CloseStorage { fd }) };
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
        let fd = unsafe { (*storage).fd };
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

/// Accept operations of a listener handing out streams of type `$stream`.
macro_rules! listener_ops {
    ($listener:ident, $stream:ident) => {
        impl $listener {
            /// An operation that accepts one connection (see [`Accept`]),
            /// borrowing the listener.
            pub fn accept_op(&self) -> Accept<&$listener, $stream> {
                Accept::new(self)
            }

            /// [`accept_op`](Self::accept_op), keeping the listener open
            /// itself: for the driver-owned [`Ring::push`](crate::ring::Ring::push).
            pub fn accept_op_shared(self: &Arc<Self>) -> Accept<Arc<$listener>, $stream> {
                Accept::new(Arc::clone(self))
            }

            /// An operation that accepts connections as they come (see
            /// [`AcceptMulti`]), borrowing the listener.
            pub fn accept_multi_op(&self) -> AcceptMulti<&$listener, $stream> {
                AcceptMulti::new(self)
            }

            /// [`accept_multi_op`](Self::accept_multi_op), keeping the
            /// listener open itself.
            pub fn accept_multi_op_shared(
                self: &Arc<Self>,
            ) -> AcceptMulti<Arc<$listener>, $stream> {
                AcceptMulti::new(Arc::clone(self))
            }
        }

        impl Fixed<$listener> {
            /// [`accept_op`]($listener::accept_op) on the registered listener.
            pub fn accept_op(self) -> Accept<Fixed<$listener>, $stream> {
                Accept::new(self)
            }

            /// [`accept_multi_op`]($listener::accept_multi_op) on the
            /// registered listener.
            pub fn accept_multi_op(self) -> AcceptMulti<Fixed<$listener>, $stream> {
                AcceptMulti::new(self)
            }
        }
    };
}

listener_ops!(TcpListener, TcpStream);
listener_ops!(UnixListener, UnixStream);

impl TcpListener {
    /// An operation that accepts one connection with its peer's address
    /// (see [`AcceptFrom`]), borrowing the listener.
    pub fn accept_from_op(&self) -> AcceptFrom<&TcpListener> {
        AcceptFrom {
            handle: self,
            opts: Opts::DEFAULT,
        }
    }

    /// [`accept_from_op`](TcpListener::accept_from_op), keeping the
    /// listener open itself.
    pub fn accept_from_op_shared(self: &Arc<Self>) -> AcceptFrom<Arc<TcpListener>> {
        AcceptFrom {
            handle: Arc::clone(self),
            opts: Opts::DEFAULT,
        }
    }
}

/// Connect and shutdown operations of a socket type.
macro_rules! socket_ops {
    ($ty:ident) => {
        impl $ty {
            /// An operation that connects the socket to `addr` (see
            /// [`Connect`]), borrowing it.
            pub fn connect_op(&self, addr: SocketAddr) -> Connect<&$ty> {
                Connect::new(self, addr)
            }

            /// [`connect_op`](Self::connect_op), keeping the socket open
            /// itself.
            pub fn connect_op_shared(self: &Arc<Self>, addr: SocketAddr) -> Connect<Arc<$ty>> {
                Connect::new(Arc::clone(self), addr)
            }

            /// An operation that shuts the connection down as `how` says
            /// (see [`ShutdownOp`]), borrowing the socket.
            pub fn shutdown_op(&self, how: Shutdown) -> ShutdownOp<&$ty> {
                ShutdownOp::new(self, how)
            }

            /// [`shutdown_op`](Self::shutdown_op), keeping the socket open
            /// itself.
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
    pub fn shutdown_op(&self, how: Shutdown) -> ShutdownOp<&UnixStream> {
        ShutdownOp::new(self, how)
    }

    /// [`shutdown_op`](UnixStream::shutdown_op), keeping the stream open
    /// itself.
    pub fn shutdown_op_shared(self: &Arc<Self>, how: Shutdown) -> ShutdownOp<Arc<UnixStream>> {
        ShutdownOp::new(Arc::clone(self), how)
    }
}
