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
//! | [`Fd`](crate::Fd), [`MemFd`](crate::MemFd) | `read_at_op(offset)` | [`ReadAt`] | bytes read |
//! | [`Fd`](crate::Fd), [`MemFd`](crate::MemFd) | `write_at_op(offset)` | [`WriteAt`] | bytes written |
//! | — | [`Nop::new`] | [`Nop`] | `()` |
//! | — | [`Cancel::new`] | [`Cancel`] | `()` when found and cancelled |
//! | — | [`Timeout::after`], [`Timeout::at`], [`Timeout::every`] | [`Timeout`] | a [`TimeoutResult`] per shot |
//! | — | [`Ring::push_with_timeout`](super::Ring::push_with_timeout) | [`LinkTimeout`] | a [`LinkTimeoutResult`] |
//! | — | [`Ring::remove_timeout`](super::Ring::remove_timeout) | [`TimeoutRemove`] | `()` when found and removed |
//! | — | [`Ring::update_timeout`](super::Ring::update_timeout) | [`TimeoutUpdate`] | `()` when found and re-armed |
//!
//! The `*_op` methods borrow the handle (for a [`Scope`](super::Scope));
//! the `*_op_shared` methods of an `Arc`-held handle make operations that
//! keep it open themselves, for the driver-owned [`Ring::push`](super::Ring::push).

use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::sync::Arc;

use io_uring::{opcode, squeue, types};

use super::Target;

mod eventfd;
mod file;
mod misc;
mod pidfd;
mod signalfd;
mod timeout;
mod timerfd;

pub use eventfd::{ReadCounter, WriteCounter};
pub use file::{ReadAt, WriteAt};
pub use misc::{Cancel, Nop};
pub use pidfd::{PollExit, WaitExit};
pub use signalfd::{ReadSignal, ReadSignals};
pub use timeout::{
    LinkTimeout, LinkTimeoutResult, Timeout, TimeoutRemove, TimeoutResult, TimeoutStorage,
    TimeoutUpdate,
};
pub use timerfd::ReadExpirations;

pub(crate) use timeout::{check_update, mark_removed};

/// How an operation holds its handle: borrowed (`&H`, for a scope, which
/// keeps it alive by the borrow) or shared (`Arc<H>`, for a driver-owned
/// operation, which keeps it open until its final CQE).
pub trait OpHandle: AsFd {
    /// The reference the driver keeps until the final CQE, if any.
    fn into_keep_alive(self) -> Option<Arc<dyn AsFd + Send + Sync>>
    where
        Self: Sized;

    /// The descriptor number for the SQE.
    #[inline]
    fn raw(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

impl<T: AsFd + ?Sized> OpHandle for &T {
    #[inline]
    fn into_keep_alive(self) -> Option<Arc<dyn AsFd + Send + Sync>> {
        None
    }
}

impl<T: AsFd + Send + Sync + 'static> OpHandle for Arc<T> {
    #[inline]
    fn into_keep_alive(self) -> Option<Arc<dyn AsFd + Send + Sync>> {
        Some(self as Arc<dyn AsFd + Send + Sync>)
    }
}

/// `POLLOUT`.
const POLLOUT: u32 = 0x4;

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
        None => Target::Fd(handle.raw()),
    }
}

/// `IORING_OP_READ` of `len` bytes into `buf` at `offset`.
#[inline]
fn read_entry(target: Target, buf: *mut u8, len: u32, offset: u64) -> squeue::Entry {
    match target {
        Target::Fd(fd) => opcode::Read::new(types::Fd(fd), buf, len)
            .offset(offset)
            .build(),
        Target::Fixed(i) => opcode::Read::new(types::Fixed(i), buf, len)
            .offset(offset)
            .build(),
    }
}

/// `IORING_OP_WRITE` of `len` bytes from `buf` at `offset`.
#[inline]
fn write_entry(target: Target, buf: *const u8, len: u32, offset: u64) -> squeue::Entry {
    match target {
        Target::Fd(fd) => opcode::Write::new(types::Fd(fd), buf, len)
            .offset(offset)
            .build(),
        Target::Fixed(i) => opcode::Write::new(types::Fixed(i), buf, len)
            .offset(offset)
            .build(),
    }
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
    ($ty:ident) => {
        impl<H> $ty<H> {
            /// Names the file by its index in the ring's fixed-file table
            /// (see [`Ring::register_files`](crate::ring::Ring::register_files))
            /// instead of by descriptor.
            pub fn fixed(mut self, index: u32) -> Self {
                self.opts.fixed = Some(index);
                self
            }
        }
    };
}
use op_setters;
