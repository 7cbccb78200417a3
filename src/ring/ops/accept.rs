//! Accepting connections on the ring: one at a time, with the peer's
//! address, or as a multishot stream.
//!
//! # Safety
//!
//! Each `unsafe impl Op` below accepts on a descriptor the operation holds
//! (borrowed, kept by an `Arc`, or registered) and writes only its own
//! storage (an address buffer and its length, for [`AcceptFrom`]). A
//! descriptor an accept returns was created by the kernel for that CQE
//! alone, and `output` takes ownership of it exactly once; the driver
//! calls `output` for every CQE of an operation whose output owns
//! something, so one nobody takes is closed.
#![expect(
    unsafe_code,
    reason = "the SQEs have the kernel write peer addresses into storage"
)]

use std::fmt;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::Arc;

use io_uring::{opcode, squeue};

use super::socket::on_target;
use super::{Fixed, OpHandle, Opts, POLLIN, op_setters, target};
use crate::error::Result;
use crate::fd::{TcpListener, TcpStream, UnixListener, UnixStream};
use crate::ring::Opcode;
use crate::ring::op::{Op, cqe_error};
use crate::ring::{Cqe, Target};
use crate::sys::net::{SockAddr, SocketFlags};
use crate::sys::poll::PollFlags;

/// `SOCK_NONBLOCK | SOCK_CLOEXEC`, as accept flags: every accepted stream
/// is a handle like any other.
const ACCEPT_FLAGS: i32 = SocketFlags::NONBLOCK.union(SocketFlags::CLOEXEC).bits() as i32;

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
#[doc(alias = "IORING_OP_ACCEPT")]
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
#[doc(alias("IORING_OP_ACCEPT", "IORING_ACCEPT_MULTISHOT"))]
pub struct AcceptMulti<H, S> {
    handle: H,
    opts: Opts,
    _stream: PhantomData<fn() -> S>,
}

/// Accepts one TCP connection with its peer's address: `IORING_OP_ACCEPT`
/// with an address buffer. The result is `(TcpStream, SocketAddr)`.
#[doc(alias = "IORING_OP_ACCEPT")]
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
}

impl<H, S> AcceptMulti<H, S> {
    fn new(handle: H) -> AcceptMulti<H, S> {
        AcceptMulti {
            handle,
            opts: Opts::DEFAULT,
            _stream: PhantomData,
        }
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
    const CODE: Opcode = Opcode::ACCEPT;
    const NAME: &'static str = "accept (IORING_OP_ACCEPT)";
    const REBUILDS: bool = true;

    super::handle_methods!(check; rearm(IN); keep);

    #[inline]
    fn entry(&self, _storage: *mut ()) -> squeue::Entry {
        let null = std::ptr::null_mut();
        accept_entry(target(&self.handle, self.opts.fixed), null, null.cast())
    }

    #[inline]
    fn rebuild(target: Target, _storage: *mut ()) -> Option<(PollFlags, squeue::Entry)> {
        let null = std::ptr::null_mut();
        Some((POLLIN, accept_entry(target, null, null.cast())))
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
    const CODE: Opcode = Opcode::ACCEPT;
    const NAME: &'static str = "multishot accept (IORING_OP_ACCEPT, IORING_ACCEPT_MULTISHOT)";

    super::handle_methods!(check; keep);

    #[inline]
    fn entry(&self, _storage: *mut ()) -> squeue::Entry {
        on_target!(target(&self.handle, self.opts.fixed), |f| {
            opcode::AcceptMulti::new(f).flags(ACCEPT_FLAGS).build()
        })
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
    const CODE: Opcode = Opcode::ACCEPT;
    const NAME: &'static str = "accept with address (IORING_OP_ACCEPT)";

    super::handle_methods!(check; rearm(IN); keep);

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

/// Accept operations of a listener handing out streams of type `$stream`.
macro_rules! listener_ops {
    ($listener:ident, $stream:ident) => {
        impl $listener {
            /// An operation that accepts one connection (see [`Accept`]),
            /// borrowing the listener.
            #[doc(alias = "IORING_OP_ACCEPT")]
            pub fn accept_op(&self) -> Accept<&$listener, $stream> {
                Accept::new(self)
            }

            /// [`accept_op`](Self::accept_op), keeping the listener open
            /// itself: for the driver-owned [`Ring::push`](crate::ring::Ring::push).
            #[doc(alias = "IORING_OP_ACCEPT")]
            pub fn accept_op_shared(self: &Arc<Self>) -> Accept<Arc<$listener>, $stream> {
                Accept::new(Arc::clone(self))
            }

            /// An operation that accepts connections as they come (see
            /// [`AcceptMulti`]), borrowing the listener.
            #[doc(alias("IORING_OP_ACCEPT", "IORING_ACCEPT_MULTISHOT"))]
            pub fn accept_multi_op(&self) -> AcceptMulti<&$listener, $stream> {
                AcceptMulti::new(self)
            }

            /// [`accept_multi_op`](Self::accept_multi_op), keeping the
            /// listener open itself.
            #[doc(alias("IORING_OP_ACCEPT", "IORING_ACCEPT_MULTISHOT"))]
            pub fn accept_multi_op_shared(
                self: &Arc<Self>,
            ) -> AcceptMulti<Arc<$listener>, $stream> {
                AcceptMulti::new(Arc::clone(self))
            }
        }

        impl Fixed<$listener> {
            /// [`accept_op`]($listener::accept_op) on the registered listener.
            #[doc(alias = "IORING_OP_ACCEPT")]
            pub fn accept_op(self) -> Accept<Fixed<$listener>, $stream> {
                Accept::new(self)
            }

            /// [`accept_multi_op`]($listener::accept_multi_op) on the
            /// registered listener.
            #[doc(alias("IORING_OP_ACCEPT", "IORING_ACCEPT_MULTISHOT"))]
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
    #[doc(alias = "IORING_OP_ACCEPT")]
    pub fn accept_from_op(&self) -> AcceptFrom<&TcpListener> {
        AcceptFrom {
            handle: self,
            opts: Opts::DEFAULT,
        }
    }

    /// [`accept_from_op`](TcpListener::accept_from_op), keeping the
    /// listener open itself.
    #[doc(alias = "IORING_OP_ACCEPT")]
    pub fn accept_from_op_shared(self: &Arc<Self>) -> AcceptFrom<Arc<TcpListener>> {
        AcceptFrom {
            handle: Arc::clone(self),
            opts: Opts::DEFAULT,
        }
    }
}

op_setters!(Accept, S);
op_setters!(AcceptMulti, S);
