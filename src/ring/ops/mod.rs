//! Typed operations: what each handle can do on the ring.
//!
//! Each operation is a small struct that borrows (or shares) its handle and
//! builds one SQE; the handles hand them out next to their syscall methods:
//!
//! | handle | method | operation | result |
//! |---|---|---|---|
//! | [`EventFd`](crate::EventFd) | `read_op` | [`ReadCounter`] | the counter, `u64` |
//! | [`EventFd`](crate::EventFd) | `signal_op(n)` | [`WriteCounter`] | `()` |
//! | [`TimerFd`](crate::TimerFd) | `expirations_op` | [`ReadExpirations`] | expirations, `u64` |
//! | [`SignalFd`](crate::SignalFd) | `read_op` | [`ReadSignal`] | one [`SignalInfo`](crate::SignalInfo) |
//! | [`SignalFd`](crate::SignalFd) | `read_many_op` | [`ReadSignals`] | how many records |
//! | [`PidFd`](crate::PidFd) | `exit_op` | [`PollExit`] | `()` once the process has exited |
//! | [`PidFd`](crate::PidFd) | `wait_op` | [`WaitExit`] | the child's [`ExitStatus`](std::process::ExitStatus) |
//! | [`PidFd`](crate::PidFd) | `wait_child_op` | [`WaitChild`] | a [`ChildEvent`](crate::ChildEvent): exit, stop or continue |
//! | — | [`WaitAny::any_child`], [`WaitAny::group`] | [`WaitAny`] | a [`ChildEvent`](crate::ChildEvent) of whichever child |
//! | [`EventFd`](crate::EventFd), [`TimerFd`](crate::TimerFd), [`SignalFd`](crate::SignalFd) | `read_provided_op(&bufs)` | [`ReadProvided`] | a [`ProvidedBuf`](super::ProvidedBuf) from the [`BufRing`](super::BufRing) |
//! | [`EventFd`](crate::EventFd), [`TimerFd`](crate::TimerFd), [`SignalFd`](crate::SignalFd) | `read_multishot_op(&bufs)` | [`ReadMultishot`] | a [`ProvidedBuf`](super::ProvidedBuf) per shot |
//! | [`Fd`](crate::Fd), [`MemFd`](crate::MemFd) | `read_at_op(offset)` | [`ReadAt`] | bytes read |
//! | [`Fd`](crate::Fd), [`MemFd`](crate::MemFd) | `write_at_op(offset)` | [`WriteAt`] | bytes written |
//! | [`Fd`](crate::Fd), [`MemFd`](crate::MemFd) | `read_at_op_shared(offset).with_buf(buf)` | [`ReadBuf`] | bytes read and the buffer ([`BufResult`]) |
//! | [`Fd`](crate::Fd), [`MemFd`](crate::MemFd) | `write_at_op_shared(offset).with_buf(buf)` | [`WriteBuf`] | bytes written and the buffer |
//! | [`TcpListener`](crate::TcpListener), [`UnixListener`](crate::UnixListener) | `accept_op` | [`Accept`] | the connection, a [`TcpStream`](crate::TcpStream) or [`UnixStream`](crate::UnixStream) (closed if not taken) |
//! | [`TcpListener`](crate::TcpListener), [`UnixListener`](crate::UnixListener) | `accept_multi_op` | [`AcceptMulti`] | a connection per shot |
//! | [`TcpListener`](crate::TcpListener), [`UnixListener`](crate::UnixListener) | `accept_direct_op(files)` / `accept_direct_multi_op(files)` | [`AcceptDirect`] / [`AcceptDirectMulti`] | a [`Direct`](super::Direct): the connection in a slot of the ring's [`DirectFiles`](super::DirectFiles) table (closed if not taken) |
//! | — | [`Ring::install_direct`](super::Ring::install_direct)`(&handle)` | [`InstallDirect`] | a [`Direct`](super::Direct): a file the process holds, put in a free slot of that table (closed if not taken) |
//! | [`TcpListener`](crate::TcpListener) | `accept_from_op` | [`AcceptFrom`] | the connection and its peer's address |
//! | [`TcpStream`](crate::TcpStream), [`UdpSocket`](crate::UdpSocket) | `connect_op(addr)` | [`Connect`] | `()` once connected |
//! | [`TcpStream`](crate::TcpStream), [`UnixStream`](crate::UnixStream) | `recv_op(buf)` | [`RecvBuf`] | bytes received and the buffer ([`BufResult`]) |
//! | [`TcpStream`](crate::TcpStream), [`UnixStream`](crate::UnixStream) | `send_op(buf)` | [`SendBuf`] | bytes sent and the buffer |
//! | [`TcpStream`](crate::TcpStream), [`UnixStream`](crate::UnixStream) | `send_zc_op(buf)` | [`SendZc`] | bytes sent and the buffer, once the kernel is done with it |
//! | [`TcpStream`](crate::TcpStream), [`UnixStream`](crate::UnixStream) | `recv_slice_op` / `send_slice_op` | [`RecvSlice`] / [`SendSlice`] | bytes moved, in a scope's lent slice |
//! | [`TcpStream`](crate::TcpStream), [`UnixStream`](crate::UnixStream) | `recv_multi_op(&bufs)` | [`RecvMulti`] | `Some` [`ProvidedBuf`](super::ProvidedBuf) per arrival, `None` at the end |
//! | [`TcpStream`](crate::TcpStream), [`UdpSocket`](crate::UdpSocket), [`UnixStream`](crate::UnixStream) | `shutdown_op(how)` | [`ShutdownOp`] | `()` |
//! | [`UdpSocket`](crate::UdpSocket) | `send_to_op(buf, addr)` | [`SendTo`] | bytes sent and the buffer |
//! | [`UdpSocket`](crate::UdpSocket) | `recv_from_op(buf)` | [`RecvFrom`] | bytes and sender, and the buffer |
//! | any handle, or a fixed slot | [`Close::new`], [`Close::fixed`], [`Direct::close_op`](super::Direct::close_op) | [`Close`] | [`Closed`] |
//! | [`Fd`](crate::Fd), [`MemFd`](crate::MemFd), streams | `read_fixed_op` / `write_fixed_op` with a [`FixedBuf`](super::FixedBuf) | [`ReadFixed`] / [`WriteFixed`] | bytes moved and the buffer ([`FixedResult`]) |
//! | any `AsFd` (`&T`, `Arc<T>`, [`PollTarget`]) | [`Poll::new`] | [`Poll`] | the ready [`PollFlags`] |
//! | any `AsFd` | [`PollMultishot::new`] | [`PollMultishot`] | the ready [`PollFlags`], per event |
//! | — | [`OpenAt::new`] | [`OpenAt`] | the new descriptor, an [`Fd`](crate::Fd) (closed if not taken) |
//! | — | [`Nop::new`] | [`Nop`] | `()` |
//! | a [`Sender`](super::Sender) | `message_op(value)` | [`SendMessage`] | `()` once posted to the other ring's [`Mailbox`](super::Mailbox) |
//! | a [`Sender`](super::Sender) and a [`Direct`](super::Direct) | [`Ring::send_file`](super::Ring::send_file) | [`SendFile`] | `()` once the file is in the other ring's table |
//! | — | [`Cancel::new`] | [`Cancel`] | `()` when found and cancelled |
//! | — | [`CancelFixed::new`] | [`CancelFixed`] | how many operations on the file it cancelled |
//! | — | [`Timeout::after`], [`Timeout::at`], [`Timeout::every`] | [`Timeout`] | a [`TimeoutResult`] per shot |
//! | — | [`Ring::push_with_timeout`](super::Ring::push_with_timeout) | [`LinkTimeout`] | a [`LinkTimeoutResult`] |
//! | — | [`Ring::remove_timeout`](super::Ring::remove_timeout) | [`TimeoutRemove`] | `()` when found and removed |
//! | — | [`Ring::update_timeout`](super::Ring::update_timeout) | [`TimeoutUpdate`] | `()` when found and re-armed |
//!
//! The `*_op` methods borrow the handle (for a [`Scope`](super::Scope));
//! the `*_op_shared` methods of an `Arc`-held handle make operations that
//! keep it open themselves, for the driver-owned [`Ring::push`](super::Ring::push).
//! A [`Fixed`] file — a handle registered in the ring's file table — offers
//! the same operations by index, for either API, and they keep nothing:
//! the cheapest driver-owned operations. Its counter reads and writes,
//! polls and cancels are [`Slotless`](super::Slotless) too: pushed with
//! [`Ring::push_slotless`](super::Ring::push_slotless), with no token, they
//! are the cheapest way to run them in an event loop.

use std::fmt;
use std::marker::PhantomData;
use std::os::fd::AsFd;
use std::sync::Arc;

use io_uring::{opcode, squeue};

use super::Target;
use crate::error::{Error, Result};
use crate::fd::Handle;

mod accept;
mod datagram;
mod direct;
mod eventfd;
mod file;
mod fixedio;
mod install;
mod misc;
mod msg;
mod open;
mod owned;
mod pidfd;
mod poll;
mod provided;
mod signalfd;
mod socket;
mod stream;
mod timeout;
mod timerfd;
mod wait;
mod zerocopy;

pub use accept::{Accept, AcceptFrom, AcceptMulti, PeerStorage};
pub use datagram::{MsgStorage, RecvFrom, SendTo};
pub use direct::{AcceptDirect, AcceptDirectMulti, DirectStorage};
pub use eventfd::{ReadCounter, WriteCounter};
pub use file::{ReadAt, WriteAt};
pub use fixedio::{FixedResult, FixedStorage, ReadFixed, WriteFixed};
pub use install::{InstallDirect, InstallStorage};
pub use misc::{Cancel, CancelFixed, Nop, RawSqe};
pub(crate) use msg::{MailState, Receive};
pub use msg::{SendFile, SendMessage};
pub use open::{OpenAt, OpenStorage};
pub use owned::{BufResult, BufStorage, IoBuf, IoBufMut, ReadBuf, WriteBuf};
pub use pidfd::{PollExit, WaitChild, WaitExit};
pub use poll::{Poll, PollFlags, PollMultishot, PollSource, PollTarget};
pub use provided::{ProvidedStorage, ReadMultishot, ReadProvided};
pub use signalfd::{ReadSignal, ReadSignals};
pub use socket::{Close, CloseStorage, Closed, Connect, ConnectStorage, ShutdownOp};
pub use stream::{RecvBuf, RecvMulti, RecvSlice, SendBuf, SendSlice};
pub use timeout::{
    LinkTimeout, LinkTimeoutResult, Timeout, TimeoutRemove, TimeoutResult, TimeoutStorage,
    TimeoutUpdate,
};
pub use timerfd::ReadExpirations;
pub use wait::WaitAny;
pub use zerocopy::SendZc;

pub(crate) use timeout::{check_update, mark_removed};

/// How an operation holds its handle: borrowed (`&H`, for a scope, which
/// keeps it alive by the borrow), shared (`Arc<H>`, for a driver-owned
/// operation, which keeps it open until its final CQE), or registered
/// ([`Fixed<H>`], an index into the ring's fixed-file table, which keeps
/// the file open itself).
///
/// The trait is sealed: what an operation names, and what keeps that open,
/// is a promise the driver relies on.
pub trait OpHandle: sealed::Sealed {
    /// The reference the driver keeps until the final CQE, if any.
    fn into_keep_alive(self) -> Option<Arc<dyn AsFd + Send + Sync>>
    where
        Self: Sized;

    /// The file the SQE names.
    fn target(&self) -> Target;

    /// [`Error::Closed`] for a handle closed already: its number names the
    /// inert placeholder, and the kernel would answer `EBADF`. A
    /// registered file is checked by the kernel, not here.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`].
    fn check_open(&self) -> Result<()>;
}

mod sealed {
    pub trait Sealed {}
    impl<T: crate::fd::Handle + ?Sized> Sealed for &T {}
    impl<T: crate::fd::Handle + Send + Sync + 'static> Sealed for std::sync::Arc<T> {}
    impl<H> Sealed for super::Fixed<H> {}
}

impl<T: Handle + ?Sized> OpHandle for &T {
    #[inline]
    fn into_keep_alive(self) -> Option<Arc<dyn AsFd + Send + Sync>> {
        None
    }

    #[inline]
    fn target(&self) -> Target {
        Target::fd(*self)
    }

    #[inline]
    fn check_open(&self) -> Result<()> {
        open_or_closed(*self)
    }
}

impl<T: Handle + Send + Sync + 'static> OpHandle for Arc<T> {
    #[inline]
    fn into_keep_alive(self) -> Option<Arc<dyn AsFd + Send + Sync>> {
        Some(self as Arc<dyn AsFd + Send + Sync>)
    }

    #[inline]
    fn target(&self) -> Target {
        Target::fd(&**self)
    }

    #[inline]
    fn check_open(&self) -> Result<()> {
        open_or_closed(&**self)
    }
}

/// [`Error::Closed`] once `handle` is closed.
#[inline]
fn open_or_closed<T: Handle + ?Sized>(handle: &T) -> Result<()> {
    if handle.is_valid() {
        Ok(())
    } else {
        Err(Error::Closed)
    }
}

impl<H> OpHandle for Fixed<H> {
    #[inline]
    fn into_keep_alive(self) -> Option<Arc<dyn AsFd + Send + Sync>> {
        None
    }

    #[inline]
    fn target(&self) -> Target {
        Target::Fixed(self.index)
    }

    #[inline]
    fn check_open(&self) -> Result<()> {
        Ok(())
    }
}

/// A file in the ring's fixed-file table
/// ([`Ring::register_files`](super::Ring::register_files)), typed by the
/// kind of handle registered there: it offers that handle's operations,
/// which name the file by index (`IOSQE_FIXED_FILE`).
///
/// An operation made from a `Fixed` holds nothing: the ring's file table
/// keeps the file open (and the kernel keeps it for operations in flight
/// even if it is unregistered), so a driver-owned read costs no reference
/// counting at all — unlike one made from an `Arc`-held handle, which is
/// cloned for the operation and released when it completes.
///
/// The index is not checked against the table: an index with no file
/// completes with `Os(EBADF)`, and one holding another kind of file gives
/// that file's result or error (a short read is `Os(EIO)`); neither can
/// touch memory outside the operation's storage.
///
/// # Examples
///
/// ```
/// use std::os::fd::AsFd;
/// use iofd::EventFd;
/// use iofd::ring::{Fixed, Ring};
///
/// let mut ring = Ring::new(8)?;
/// let efd = EventFd::new(0)?;
/// ring.register_files(&[efd.as_fd()])?;
/// let fixed = Fixed::<EventFd>::new(0);
/// efd.signal(3)?;
/// let token = ring.push(fixed.read_op())?;
/// assert_eq!(ring.wait(token)?, 3);
/// # Ok::<(), iofd::Error>(())
/// ```
pub struct Fixed<H> {
    index: u32,
    _handle: PhantomData<fn() -> H>,
}

impl<H> Fixed<H> {
    /// Names fixed file `index`, a handle of type `H`.
    #[inline]
    pub const fn new(index: u32) -> Fixed<H> {
        Fixed {
            index,
            _handle: PhantomData,
        }
    }

    /// The index in the ring's fixed-file table.
    #[inline]
    pub const fn index(self) -> u32 {
        self.index
    }
}

impl<H> Clone for Fixed<H> {
    fn clone(&self) -> Fixed<H> {
        *self
    }
}

impl<H> Copy for Fixed<H> {}

impl<H> PartialEq for Fixed<H> {
    fn eq(&self, other: &Fixed<H>) -> bool {
        self.index == other.index
    }
}

impl<H> Eq for Fixed<H> {}

impl<H> std::hash::Hash for Fixed<H> {
    fn hash<S: std::hash::Hasher>(&self, state: &mut S) {
        self.index.hash(state);
    }
}

impl<H> fmt::Debug for Fixed<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Fixed").field(&self.index).finish()
    }
}

/// `POLLIN`, what a read waits for before it is tried again.
const POLLIN: PollFlags = PollFlags::IN;
/// `POLLOUT`, what a write waits for before it is tried again.
const POLLOUT: PollFlags = PollFlags::OUT;

/// `-1` as an io_uring read/write offset: "the file's current position",
/// which is also what a stream (eventfd, pipe) wants.
const CURRENT_POSITION: u64 = u64::MAX;

/// What an operation on `handle` keeps open until its final CQE: the
/// handle (when shared), unless the operation names fixed file `fixed`,
/// which the ring's file table keeps open itself.
#[inline]
fn kept<H: OpHandle>(handle: H, fixed: Option<u32>) -> Option<Arc<dyn AsFd + Send + Sync>> {
    match fixed {
        Some(_) => None,
        None => handle.into_keep_alive(),
    }
}

/// The file an operation on `handle` names: its descriptor, or fixed-file
/// `index` when one was chosen with `.fixed(index)`.
#[inline]
fn target<H: OpHandle>(handle: &H, fixed: Option<u32>) -> Target {
    match fixed {
        Some(index) => Target::Fixed(index),
        None => handle.target(),
    }
}

/// [`OpHandle::check_open`] for an operation on `handle`, unless it names
/// fixed file `fixed`, which the ring's file table keeps open.
#[inline]
fn check_target<H: OpHandle>(handle: &H, fixed: Option<u32>) -> Result<()> {
    match fixed {
        Some(_) => Ok(()),
        None => handle.check_open(),
    }
}

/// Refuses an offset past `i64::MAX` as `pread`/`pwrite` do: io_uring
/// would read `u64::MAX` as "the current file position" and move it.
#[inline]
fn check_offset(offset: u64) -> Result<()> {
    if offset > i64::MAX as u64 {
        Err(Error::InvalidParam(Error::KERNEL_EINVAL))
    } else {
        Ok(())
    }
}

/// `IORING_OP_POLL_ADD` of `events` on `target`.
#[inline]
pub(crate) fn poll_add(target: Target, events: PollFlags) -> squeue::Entry {
    socket::on_target!(target, |f| opcode::PollAdd::new(f, events.bits()).build())
}

/// `IORING_OP_READ` of `len` bytes into `buf` at `offset`.
#[inline]
fn read_entry(target: Target, buf: *mut u8, len: u32, offset: u64) -> squeue::Entry {
    socket::on_target!(target, |f| opcode::Read::new(f, buf, len)
        .offset(offset)
        .build())
}

/// `IORING_OP_WRITE` of `len` bytes from `buf` at `offset`.
#[inline]
fn write_entry(target: Target, buf: *const u8, len: u32, offset: u64) -> squeue::Entry {
    socket::on_target!(target, |f| opcode::Write::new(f, buf, len)
        .offset(offset)
        .build())
}

/// Options every descriptor operation takes.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Opts {
    /// A fixed-file index to name the file by, instead of the descriptor.
    pub(crate) fixed: Option<u32>,
}

impl Opts {
    pub(crate) const DEFAULT: Opts = Opts { fixed: None };
}

/// Adds the `fixed` setter to an operation struct with an `opts: Opts`
/// field.
macro_rules! op_setters {
    ($ty:ident $(, $g:ident)?) => {
        impl<H $(, $g)?> $ty<H $(, $g)?> {
            /// Names the file by its index in the ring's fixed-file table
            /// (see [`Ring::register_files`](crate::ring::Ring::register_files))
            /// instead of by descriptor.
            #[must_use]
            pub const fn fixed(mut self, index: u32) -> Self {
                self.opts.fixed = Some(index);
                self
            }
        }
    };
}
use op_setters;

/// The [`Op`](super::Op) methods that every operation on a handle shares,
/// for an operation struct with a `handle: H` (`H:` [`OpHandle`]) and an
/// `opts: Opts` field, written once here rather than in every `impl`:
///
/// - `check`: [`OpHandle::check_open`], unless the operation names a fixed
///   file;
/// - `rearm(IN)` / `rearm(OUT)`: re-armed after `-EAGAIN` once the file
///   polls readable / writable;
/// - `keep`: `into_keep` hands over the `Arc` of a shared handle, or
///   nothing for a borrowed handle or a fixed file.
macro_rules! handle_methods {
    ($($name:ident $(($events:ident))?);+) => {
        $($crate::ring::ops::handle_methods!(@ $name $($events)?);)+
    };
    (@check) => {
        #[inline]
        fn check(&self) -> $crate::Result<()> {
            $crate::ring::ops::check_target(&self.handle, self.opts.fixed)
        }
    };
    (@rearm $events:ident) => {
        #[inline]
        fn rearm(&self) -> Option<($crate::ring::Target, $crate::ring::ops::PollFlags)> {
            Some((
                $crate::ring::ops::target(&self.handle, self.opts.fixed),
                $crate::ring::ops::PollFlags::$events,
            ))
        }
    };
    (@keep) => {
        #[inline]
        fn into_keep(
            self,
        ) -> Option<::std::sync::Arc<dyn ::std::os::fd::AsFd + Send + Sync>> {
            $crate::ring::ops::kept(self.handle, self.opts.fixed)
        }
    };
}
use handle_methods;
