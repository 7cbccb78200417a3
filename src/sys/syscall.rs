//! The raw entry points: `syscall0` .. `syscall6`, each one `asm!` stub and
//! the crate's one decode.
//!
//! # Safety
//!
//! Every function here is an `unsafe fn` that adds no obligation of its own
//! beyond the call's (their `# Safety` sections say so): the arguments are
//! passed to the stub unchanged and the result is only decoded.
#![expect(unsafe_code, reason = "the raw entry points are unsafe fns")]

use core::ffi::c_void;

use super::arch;
use super::errno::Errno;
use super::reg::{A0, A1, A2, A3, A4, A5, ArgReg};

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
/// The kernel's `-errno`, decoded by [`decode`](super::decode).
#[inline(always)]
pub unsafe fn syscall0(nr: usize) -> Result<usize, Errno> {
    // SAFETY: forwarded to the caller.
    unsafe { arch::raw0(nr) }.decode()
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
/// The kernel's `-errno`, decoded by [`decode`](super::decode).
#[inline(always)]
pub unsafe fn syscall1(nr: usize, a0: ArgReg<'_, A0>) -> Result<usize, Errno> {
    // SAFETY: forwarded to the caller.
    unsafe { arch::raw1(nr, a0) }.decode()
}

/// Makes syscall `nr` with two arguments.
///
/// # Safety
///
/// - As [`syscall1`], for every argument.
///
/// # Errors
///
/// The kernel's `-errno`, decoded by [`decode`](super::decode).
#[inline(always)]
pub unsafe fn syscall2(nr: usize, a0: ArgReg<'_, A0>, a1: ArgReg<'_, A1>) -> Result<usize, Errno> {
    // SAFETY: forwarded to the caller.
    unsafe { arch::raw2(nr, a0, a1) }.decode()
}

/// Makes syscall `nr` with three arguments.
///
/// # Safety
///
/// - As [`syscall1`], for every argument.
///
/// # Errors
///
/// The kernel's `-errno`, decoded by [`decode`](super::decode).
#[inline(always)]
pub unsafe fn syscall3(
    nr: usize,
    a0: ArgReg<'_, A0>,
    a1: ArgReg<'_, A1>,
    a2: ArgReg<'_, A2>,
) -> Result<usize, Errno> {
    // SAFETY: forwarded to the caller.
    unsafe { arch::raw3(nr, a0, a1, a2) }.decode()
}

/// Makes syscall `nr` with four arguments.
///
/// # Safety
///
/// - As [`syscall1`], for every argument.
///
/// # Errors
///
/// The kernel's `-errno`, decoded by [`decode`](super::decode).
#[inline(always)]
pub unsafe fn syscall4(
    nr: usize,
    a0: ArgReg<'_, A0>,
    a1: ArgReg<'_, A1>,
    a2: ArgReg<'_, A2>,
    a3: ArgReg<'_, A3>,
) -> Result<usize, Errno> {
    // SAFETY: forwarded to the caller.
    unsafe { arch::raw4(nr, a0, a1, a2, a3) }.decode()
}

/// Makes syscall `nr` with five arguments.
///
/// # Safety
///
/// - As [`syscall1`], for every argument.
///
/// # Errors
///
/// The kernel's `-errno`, decoded by [`decode`](super::decode).
#[inline(always)]
pub unsafe fn syscall5(
    nr: usize,
    a0: ArgReg<'_, A0>,
    a1: ArgReg<'_, A1>,
    a2: ArgReg<'_, A2>,
    a3: ArgReg<'_, A3>,
    a4: ArgReg<'_, A4>,
) -> Result<usize, Errno> {
    // SAFETY: forwarded to the caller.
    unsafe { arch::raw5(nr, a0, a1, a2, a3, a4) }.decode()
}

/// Makes syscall `nr` with six arguments.
///
/// # Safety
///
/// - As [`syscall1`], for every argument.
///
/// # Errors
///
/// The kernel's `-errno`, decoded by [`decode`](super::decode).
#[inline(always)]
pub unsafe fn syscall6(
    nr: usize,
    a0: ArgReg<'_, A0>,
    a1: ArgReg<'_, A1>,
    a2: ArgReg<'_, A2>,
    a3: ArgReg<'_, A3>,
    a4: ArgReg<'_, A4>,
    a5: ArgReg<'_, A5>,
) -> Result<usize, Errno> {
    // SAFETY: forwarded to the caller.
    unsafe { arch::raw6(nr, a0, a1, a2, a3, a4, a5) }.decode()
}

/// As [`syscall6`], keeping a successful result as the pointer the kernel
/// returned (`mmap`), not a number cast back into one.
///
/// # Safety
///
/// - As [`syscall1`], for every argument.
#[inline(always)]
pub(crate) unsafe fn syscall6_ptr(
    nr: usize,
    a0: ArgReg<'_, A0>,
    a1: ArgReg<'_, A1>,
    a2: ArgReg<'_, A2>,
    a3: ArgReg<'_, A3>,
    a4: ArgReg<'_, A4>,
    a5: ArgReg<'_, A5>,
) -> Result<*mut c_void, Errno> {
    // SAFETY: forwarded to the caller.
    unsafe { arch::raw6(nr, a0, a1, a2, a3, a4, a5) }.decode_ptr()
}
