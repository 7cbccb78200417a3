//! The syscall core: raw entry points in inline assembly, one [`Errno`]
//! decode, and one thin typed wrapper per syscall.
//!
//! The layering follows rustix's `linux_raw` backend at a smaller scale:
//!
//! - `arch/x86_64.rs` holds the only `asm!` and the syscall numbers;
//! - [`decode`] turns a raw return into `Result<usize, Errno>`, once;
//! - [`syscall0`] .. [`syscall6`] join the two, for callers that need a raw
//!   call;
//! - the family modules ([`io`], [`file`](mod@file), [`event`], [`time`], [`mem`],
//!   [`signal`], [`process`], [`resource`], [`net`], [`pipe`], [`poll`], [`uring`]) hold one typed
//!   wrapper per syscall. Wrappers take `BorrowedFd<'_>`, slices and
//!   references, return owned descriptors as `OwnedFd`,
//!   and are `unsafe` only where the kernel keeps a pointer past the call or
//!   the caller must promise descriptor ownership.
//!
//! Every wrapper is `#[inline]` and every stub `#[inline(always)]`: a wrapper
//! adds no instruction that a hand-written `syscall` would not need. The
//! `sys` benchmark and `BENCHMARKS.md` hold the measurements.
//!
//! # Safety
//!
//! This module joins the asm stubs to the decode: `syscall0` ..
//! `syscall6` are `unsafe fn`s that add no obligation of their own beyond
//! the call's (their `# Safety` sections say so), and `owned_fd` wraps a
//! number only a syscall that returns a new descriptor produced. Each
//! family module states what its wrappers promise.
//!
//! # Examples
//!
//! ```
//! use iofd::sys::{self, Errno};
//!
//! let pid = sys::process::getpid();
//! assert!(pid > 0);
//! // The raw entry points return the same decoded result.
//! // SAFETY: getpid takes no arguments and touches no memory.
//! let raw = unsafe { sys::syscall0(sys::nr::GETPID) }?;
//! assert_eq!(raw as u32, pid);
//! # Ok::<(), Errno>(())
//! ```
#![allow(unsafe_code)]

mod arch;
mod errno;
mod errno_table;

pub mod event;
pub mod file;
pub mod io;
pub mod mem;
pub mod net;
pub mod pipe;
pub mod poll;
pub mod process;
pub mod resource;
pub mod signal;
pub mod time;
pub mod uring;

pub use arch::nr;
pub use errno::{Errno, decode};

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// Makes syscall `nr` with no arguments.
///
/// # Safety
///
/// - `nr` must be a syscall that is sound to make with no arguments in the
///   current program state (it must not, for example, unmap memory Rust
///   still references, or close a descriptor something else owns).
///
/// # Errors
///
/// The kernel's `-errno`, decoded by [`decode`].
#[inline(always)]
pub unsafe fn syscall0(nr: usize) -> Result<usize, Errno> {
    // SAFETY: forwarded to the caller.
    decode(unsafe { arch::raw0(nr) })
}

/// Makes syscall `nr` with one argument.
///
/// # Safety
///
/// - `nr` and `a0` must form a call that is sound in the current program
///   state: every pointer valid for what the kernel reads or writes, for as
///   long as the kernel uses it, and no descriptor or mapping that something
///   else owns closed or changed.
///
/// # Errors
///
/// The kernel's `-errno`, decoded by [`decode`].
#[inline(always)]
pub unsafe fn syscall1(nr: usize, a0: usize) -> Result<usize, Errno> {
    // SAFETY: forwarded to the caller.
    decode(unsafe { arch::raw1(nr, a0) })
}

/// Makes syscall `nr` with two arguments.
///
/// # Safety
///
/// - As [`syscall1`], for every argument.
///
/// # Errors
///
/// The kernel's `-errno`, decoded by [`decode`].
#[inline(always)]
pub unsafe fn syscall2(nr: usize, a0: usize, a1: usize) -> Result<usize, Errno> {
    // SAFETY: forwarded to the caller.
    decode(unsafe { arch::raw2(nr, a0, a1) })
}

/// Makes syscall `nr` with three arguments.
///
/// # Safety
///
/// - As [`syscall1`], for every argument.
///
/// # Errors
///
/// The kernel's `-errno`, decoded by [`decode`].
#[inline(always)]
pub unsafe fn syscall3(nr: usize, a0: usize, a1: usize, a2: usize) -> Result<usize, Errno> {
    // SAFETY: forwarded to the caller.
    decode(unsafe { arch::raw3(nr, a0, a1, a2) })
}

/// Makes syscall `nr` with four arguments.
///
/// # Safety
///
/// - As [`syscall1`], for every argument.
///
/// # Errors
///
/// The kernel's `-errno`, decoded by [`decode`].
#[inline(always)]
pub unsafe fn syscall4(
    nr: usize,
    a0: usize,
    a1: usize,
    a2: usize,
    a3: usize,
) -> Result<usize, Errno> {
    // SAFETY: forwarded to the caller.
    decode(unsafe { arch::raw4(nr, a0, a1, a2, a3) })
}

/// Makes syscall `nr` with five arguments.
///
/// # Safety
///
/// - As [`syscall1`], for every argument.
///
/// # Errors
///
/// The kernel's `-errno`, decoded by [`decode`].
#[inline(always)]
pub unsafe fn syscall5(
    nr: usize,
    a0: usize,
    a1: usize,
    a2: usize,
    a3: usize,
    a4: usize,
) -> Result<usize, Errno> {
    // SAFETY: forwarded to the caller.
    decode(unsafe { arch::raw5(nr, a0, a1, a2, a3, a4) })
}

/// Makes syscall `nr` with six arguments.
///
/// # Safety
///
/// - As [`syscall1`], for every argument.
///
/// # Errors
///
/// The kernel's `-errno`, decoded by [`decode`].
#[inline(always)]
pub unsafe fn syscall6(
    nr: usize,
    a0: usize,
    a1: usize,
    a2: usize,
    a3: usize,
    a4: usize,
    a5: usize,
) -> Result<usize, Errno> {
    // SAFETY: forwarded to the caller.
    decode(unsafe { arch::raw6(nr, a0, a1, a2, a3, a4, a5) })
}

/// A borrowed descriptor as a syscall argument.
#[inline(always)]
fn fd_arg(fd: BorrowedFd<'_>) -> usize {
    fd.as_raw_fd() as usize
}

/// Takes ownership of the descriptor a successful syscall returned.
///
/// # Safety
///
/// - `ret` must be the result of a syscall that returns a new descriptor
///   (which nothing else owns yet).
#[inline(always)]
unsafe fn owned_fd(ret: usize) -> OwnedFd {
    // SAFETY: the caller promises `ret` is a fresh descriptor, which is
    // open and in `0..=i32::MAX`.
    unsafe { OwnedFd::from_raw_fd(ret as RawFd) }
}
