//! Accepting straight into the ring's table of direct descriptors
//! (`IORING_FILE_INDEX_ALLOC`): the result is a [`Direct`], the owner of
//! the slot the kernel picked, never a descriptor.
//!
//! # Safety
//!
//! Each `unsafe impl Op` below accepts on a descriptor the operation holds
//! (borrowed, kept by an `Arc`, or registered) and writes no memory: the
//! kernel installs the connection in the ring's table and reports the
//! slot's index. The storage holds the table's name, which `prepare`
//! writes and the kernel never touches; `output` makes one [`Direct`] of
//! each successful CQE, so a slot nobody takes is closed by that value's
//! drop.
#![expect(
    unsafe_code,
    reason = "implements the unsafe Op trait for direct accepts"
)]

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use io_uring::types::DestinationSlot;
use io_uring::{opcode, squeue};

use super::socket::on_target;
use super::{Fixed, OpHandle, Opts, POLLIN, op_setters, target};
use crate::error::Result;
use crate::fd::{TcpListener, TcpStream, UnixListener, UnixStream};
use crate::ring::Opcode;
use crate::ring::op::{Op, cqe_error};
use crate::ring::{Cqe, Direct, DirectFiles, Target};
use crate::sys::poll::PollFlags;

/// No accept flags: the kernel refuses `SOCK_CLOEXEC` with a direct slot
/// (`EINVAL`; a slot is never inherited by `exec` anyway), and the ring's
/// own operations wait for a blocking socket without blocking (they poll),
/// while `SOCK_NONBLOCK` could make them complete with `-EAGAIN`.
const DIRECT_ACCEPT_FLAGS: i32 = 0;

/// Accepts one connection into a free slot of the ring's table of direct
/// descriptors: `IORING_OP_ACCEPT` with `IORING_FILE_INDEX_ALLOC` (Linux
/// 5.19). The result is a [`Direct`] owning the slot, holding a stream of
/// type `S`; a table with no free slot fails it with `Os(ENFILE)`.
#[doc(alias = "IORING_OP_ACCEPT")]
pub struct AcceptDirect<H, S> {
    handle: H,
    opts: Opts,
    files: DirectFiles,
    _stream: PhantomData<fn() -> S>,
}

/// Accepts connections as they come into free slots of the ring's table
/// of direct descriptors: [`AcceptDirect`] with `IORING_ACCEPT_MULTISHOT`.
/// Each connection is one result, a [`Direct`]; the stream runs until
/// cancelled or it fails (`Os(ENFILE)` once the table is full — push it
/// again when slots are free). The kernel also ends it with a connection
/// as its final result when the completion queue is full, so a server
/// that wants more pushes it again once its token
/// [`is_done`](crate::ring::Token::is_done) (the [`ring`](crate::ring)
/// module's "Multishot operations are streams").
#[doc(alias("IORING_OP_ACCEPT", "IORING_ACCEPT_MULTISHOT"))]
pub struct AcceptDirectMulti<H, S> {
    handle: H,
    opts: Opts,
    files: DirectFiles,
    _stream: PhantomData<fn() -> S>,
}

/// What a direct accept holds while in flight: the table its results
/// belong to. The kernel never touches it.
#[derive(Clone, Copy, Debug)]
pub struct DirectStorage {
    files: DirectFiles,
}

macro_rules! direct_accept_common {
    ($ty:ident, $name:literal) => {
        impl<H, S> $ty<H, S> {
            fn new(handle: H, files: DirectFiles) -> $ty<H, S> {
                $ty {
                    handle,
                    opts: Opts::DEFAULT,
                    files,
                    _stream: PhantomData,
                }
            }
        }

        impl<H: fmt::Debug, S> fmt::Debug for $ty<H, S> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct($name)
                    .field("handle", &self.handle)
                    .field("opts", &self.opts)
                    .field("files", &self.files)
                    .finish()
            }
        }

        op_setters!($ty, S);
    };
}

direct_accept_common!(AcceptDirect, "AcceptDirect");
direct_accept_common!(AcceptDirectMulti, "AcceptDirectMulti");

/// The one-shot direct accept SQE for `target`.
#[inline]
fn accept_direct_entry(target: Target) -> squeue::Entry {
    on_target!(target, |f| opcode::Accept::new(
        f,
        std::ptr::null_mut(),
        std::ptr::null_mut()
    )
    .flags(DIRECT_ACCEPT_FLAGS)
    .file_index(Some(DestinationSlot::auto_target()))
    .build())
}

/// The [`Direct`] a CQE of a direct accept reports.
///
/// # Safety
///
/// - `storage` was written by `prepare` and is not written by the kernel.
#[inline]
unsafe fn accepted_direct<S>(cqe: Cqe, storage: *const DirectStorage) -> Result<Direct<S>> {
    if cqe.res < 0 {
        return Err(cqe_error(cqe.res));
    }
    // SAFETY: the caller's promise; the storage is plain `Copy` data.
    let files = unsafe { (*storage).files };
    // The kernel installed the connection in slot `res` for this CQE
    // alone, which is decoded once: this `Direct` is its only owner.
    Ok(Direct::new(files, cqe.res as u32))
}

/// The `Op` methods of an operation made for a table of direct
/// descriptors (its `files` field): refused on another ring, and once the
/// table has been registered again.
macro_rules! bound_to_direct_table {
    () => {
        #[inline]
        fn ring_bound(&self) -> Option<u32> {
            Some(self.files.ring_id())
        }

        #[inline]
        fn files_epoch(&self) -> Option<u32> {
            Some(self.files.epoch())
        }
    };
}

pub(super) use bound_to_direct_table;

/// The methods both direct accepts' `Op` implementations share: the
/// checks, the table's name written to the storage, and the decoding.
macro_rules! direct_accept_op_common {
    () => {
        super::handle_methods!(check; keep);
        bound_to_direct_table!();

        #[inline]
        unsafe fn prepare(&self, storage: *mut DirectStorage) {
            // SAFETY: the driver's promise: `storage` is writable.
            unsafe { storage.write(DirectStorage { files: self.files }) };
        }

        #[inline]
        unsafe fn output(cqe: Cqe, storage: *const DirectStorage) -> Result<Direct<S>> {
            // SAFETY: `prepare` wrote the storage; the kernel never does.
            unsafe { accepted_direct(cqe, storage) }
        }
    };
}

// SAFETY: the SQE accepts on a descriptor the operation holds into the
// ring's table and writes no memory; the storage is read, never written,
// after `prepare`.
unsafe impl<H: OpHandle, S> Op for AcceptDirect<H, S> {
    type Storage = DirectStorage;
    type Output = Direct<S>;
    const CODE: Opcode = Opcode::ACCEPT;
    const NAME: &'static str = "direct accept (IORING_OP_ACCEPT, IORING_FILE_INDEX_ALLOC)";
    const REBUILDS: bool = true;

    direct_accept_op_common!();

    #[inline]
    fn entry(&self, _storage: *mut DirectStorage) -> squeue::Entry {
        accept_direct_entry(target(&self.handle, self.opts.fixed))
    }

    super::handle_methods!(rearm(IN));

    #[inline]
    fn rebuild(target: Target, _storage: *mut DirectStorage) -> Option<(PollFlags, squeue::Entry)> {
        Some((POLLIN, accept_direct_entry(target)))
    }
}

// SAFETY: as for `AcceptDirect`, for each shot: no memory is written, and
// every slot a CQE carries is owned by that CQE's `output` call.
unsafe impl<H: OpHandle, S> Op for AcceptDirectMulti<H, S> {
    type Storage = DirectStorage;
    type Output = Direct<S>;
    const CODE: Opcode = Opcode::ACCEPT;
    const NAME: &'static str = "multishot direct accept (IORING_OP_ACCEPT, IORING_ACCEPT_MULTISHOT, IORING_FILE_INDEX_ALLOC)";

    direct_accept_op_common!();

    #[inline]
    fn entry(&self, _storage: *mut DirectStorage) -> squeue::Entry {
        on_target!(target(&self.handle, self.opts.fixed), |f| {
            opcode::AcceptMulti::new(f)
                .flags(DIRECT_ACCEPT_FLAGS)
                .allocate_file_index(true)
                .build()
        })
    }
}

/// Direct accept operations of a listener handing out streams of type
/// `$stream`.
macro_rules! direct_listener_ops {
    ($listener:ident, $stream:ident) => {
        impl $listener {
            /// An operation that accepts one connection into a free slot of
            /// table `files` (see [`AcceptDirect`]), borrowing the listener.
            #[doc(alias = "IORING_OP_ACCEPT")]
            pub fn accept_direct_op(
                &self,
                files: DirectFiles,
            ) -> AcceptDirect<&$listener, $stream> {
                AcceptDirect::new(self, files)
            }

            /// [`accept_direct_op`](Self::accept_direct_op), keeping the
            /// listener open itself: for the driver-owned
            /// [`Ring::push`](crate::ring::Ring::push).
            #[doc(alias = "IORING_OP_ACCEPT")]
            pub fn accept_direct_op_shared(
                self: &Arc<Self>,
                files: DirectFiles,
            ) -> AcceptDirect<Arc<$listener>, $stream> {
                AcceptDirect::new(Arc::clone(self), files)
            }

            /// An operation that accepts connections as they come into
            /// free slots of table `files` (see [`AcceptDirectMulti`]),
            /// borrowing the listener.
            #[doc(alias("IORING_OP_ACCEPT", "IORING_ACCEPT_MULTISHOT"))]
            pub fn accept_direct_multi_op(
                &self,
                files: DirectFiles,
            ) -> AcceptDirectMulti<&$listener, $stream> {
                AcceptDirectMulti::new(self, files)
            }

            /// [`accept_direct_multi_op`](Self::accept_direct_multi_op),
            /// keeping the listener open itself.
            #[doc(alias("IORING_OP_ACCEPT", "IORING_ACCEPT_MULTISHOT"))]
            pub fn accept_direct_multi_op_shared(
                self: &Arc<Self>,
                files: DirectFiles,
            ) -> AcceptDirectMulti<Arc<$listener>, $stream> {
                AcceptDirectMulti::new(Arc::clone(self), files)
            }
        }

        impl Fixed<$listener> {
            /// [`accept_direct_op`]($listener::accept_direct_op) on the
            /// registered listener.
            #[doc(alias = "IORING_OP_ACCEPT")]
            pub fn accept_direct_op(
                self,
                files: DirectFiles,
            ) -> AcceptDirect<Fixed<$listener>, $stream> {
                AcceptDirect::new(self, files)
            }

            /// [`accept_direct_multi_op`]($listener::accept_direct_multi_op)
            /// on the registered listener.
            #[doc(alias("IORING_OP_ACCEPT", "IORING_ACCEPT_MULTISHOT"))]
            pub fn accept_direct_multi_op(
                self,
                files: DirectFiles,
            ) -> AcceptDirectMulti<Fixed<$listener>, $stream> {
                AcceptDirectMulti::new(self, files)
            }
        }
    };
}

direct_listener_ops!(TcpListener, TcpStream);
direct_listener_ops!(UnixListener, UnixStream);
