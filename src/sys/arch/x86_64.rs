//! Raw `syscall` entry points for x86_64 Linux.
//!
//! # Safety
//!
//! This file holds the only inline assembly in the crate. Each entry point
//! follows the x86_64 Linux syscall ABI: the number in `rax`, arguments in
//! `rdi`, `rsi`, `rdx`, `r10`, `r8`, `r9`, the result in `rax`, and `rcx`
//! and `r11` clobbered by the instruction itself. The kernel does not touch
//! the user stack, so every block is `nostack`. What a syscall does to memory
//! depends on its number and arguments, which is why every function here is
//! an `unsafe fn` whose caller answers for them.
//!
//! Arguments arrive as [`ArgReg`]s and enter the `asm!` block as pointers,
//! so a pointer argument keeps its provenance up to the `syscall`
//! instruction; the result leaves as a [`RetReg`], decoded once by its
//! caller. The functions are `#[inline(always)]` so that the `syscall`
//! instruction lands in the caller's frame: on this kernel the first `ret`
//! after a syscall mispredicts (its return-stack mitigations), so a
//! function boundary crossed right after one is expensive.
#![expect(unsafe_code, reason = "the inline assembly that makes every syscall")]

use core::arch::asm;
use core::ffi::c_void;

use super::super::reg::{A0, A1, A2, A3, A4, A5, ArgReg, RetReg};

/// Makes syscall `nr` with no arguments.
///
/// # Safety
///
/// - `nr` must be a syscall that is sound to make with no arguments in the
///   current program state.
#[inline(always)]
pub(crate) unsafe fn raw0(nr: usize) -> RetReg {
    let ret: *mut c_void;
    // SAFETY: the syscall ABI above; the caller vouches for the call itself.
    unsafe {
        asm!("syscall", inlateout("rax") nr => ret, lateout("rcx") _, lateout("r11") _,
             options(nostack, preserves_flags));
    }
    RetReg::from_asm(ret)
}

/// Makes syscall `nr` with one argument.
///
/// # Safety
///
/// - `nr` and `a0` must form a call that is sound in the current program
///   state (pointers valid for what the kernel reads and writes).
#[inline(always)]
pub(crate) unsafe fn raw1(nr: usize, a0: ArgReg<'_, A0>) -> RetReg {
    let ret: *mut c_void;
    // SAFETY: the syscall ABI above; the caller vouches for the call itself.
    unsafe {
        asm!("syscall", inlateout("rax") nr => ret, in("rdi") a0.into_asm(),
             lateout("rcx") _, lateout("r11") _, options(nostack, preserves_flags));
    }
    RetReg::from_asm(ret)
}

/// Makes syscall `nr` with two arguments.
///
/// # Safety
///
/// - `nr` and the arguments must form a call that is sound in the current
///   program state (pointers valid for what the kernel reads and writes).
#[inline(always)]
pub(crate) unsafe fn raw2(nr: usize, a0: ArgReg<'_, A0>, a1: ArgReg<'_, A1>) -> RetReg {
    let ret: *mut c_void;
    // SAFETY: the syscall ABI above; the caller vouches for the call itself.
    unsafe {
        asm!("syscall", inlateout("rax") nr => ret, in("rdi") a0.into_asm(), in("rsi") a1.into_asm(),
             lateout("rcx") _, lateout("r11") _, options(nostack, preserves_flags));
    }
    RetReg::from_asm(ret)
}

/// Makes syscall `nr` with three arguments.
///
/// # Safety
///
/// - `nr` and the arguments must form a call that is sound in the current
///   program state (pointers valid for what the kernel reads and writes).
#[inline(always)]
pub(crate) unsafe fn raw3(
    nr: usize,
    a0: ArgReg<'_, A0>,
    a1: ArgReg<'_, A1>,
    a2: ArgReg<'_, A2>,
) -> RetReg {
    let ret: *mut c_void;
    // SAFETY: the syscall ABI above; the caller vouches for the call itself.
    unsafe {
        asm!("syscall", inlateout("rax") nr => ret, in("rdi") a0.into_asm(), in("rsi") a1.into_asm(),
             in("rdx") a2.into_asm(), lateout("rcx") _, lateout("r11") _,
             options(nostack, preserves_flags));
    }
    RetReg::from_asm(ret)
}

/// Makes syscall `nr` with four arguments.
///
/// # Safety
///
/// - `nr` and the arguments must form a call that is sound in the current
///   program state (pointers valid for what the kernel reads and writes).
#[inline(always)]
pub(crate) unsafe fn raw4(
    nr: usize,
    a0: ArgReg<'_, A0>,
    a1: ArgReg<'_, A1>,
    a2: ArgReg<'_, A2>,
    a3: ArgReg<'_, A3>,
) -> RetReg {
    let ret: *mut c_void;
    // SAFETY: the syscall ABI above; the caller vouches for the call itself.
    unsafe {
        asm!("syscall", inlateout("rax") nr => ret, in("rdi") a0.into_asm(), in("rsi") a1.into_asm(),
             in("rdx") a2.into_asm(), in("r10") a3.into_asm(), lateout("rcx") _, lateout("r11") _,
             options(nostack, preserves_flags));
    }
    RetReg::from_asm(ret)
}

/// Makes syscall `nr` with five arguments.
///
/// # Safety
///
/// - `nr` and the arguments must form a call that is sound in the current
///   program state (pointers valid for what the kernel reads and writes).
#[inline(always)]
pub(crate) unsafe fn raw5(
    nr: usize,
    a0: ArgReg<'_, A0>,
    a1: ArgReg<'_, A1>,
    a2: ArgReg<'_, A2>,
    a3: ArgReg<'_, A3>,
    a4: ArgReg<'_, A4>,
) -> RetReg {
    let ret: *mut c_void;
    // SAFETY: the syscall ABI above; the caller vouches for the call itself.
    unsafe {
        asm!("syscall", inlateout("rax") nr => ret, in("rdi") a0.into_asm(), in("rsi") a1.into_asm(),
             in("rdx") a2.into_asm(), in("r10") a3.into_asm(), in("r8") a4.into_asm(),
             lateout("rcx") _, lateout("r11") _, options(nostack, preserves_flags));
    }
    RetReg::from_asm(ret)
}

/// Makes syscall `nr` with six arguments.
///
/// # Safety
///
/// - `nr` and the arguments must form a call that is sound in the current
///   program state (pointers valid for what the kernel reads and writes).
#[inline(always)]
pub(crate) unsafe fn raw6(
    nr: usize,
    a0: ArgReg<'_, A0>,
    a1: ArgReg<'_, A1>,
    a2: ArgReg<'_, A2>,
    a3: ArgReg<'_, A3>,
    a4: ArgReg<'_, A4>,
    a5: ArgReg<'_, A5>,
) -> RetReg {
    let ret: *mut c_void;
    // SAFETY: the syscall ABI above; the caller vouches for the call itself.
    unsafe {
        asm!("syscall", inlateout("rax") nr => ret, in("rdi") a0.into_asm(), in("rsi") a1.into_asm(),
             in("rdx") a2.into_asm(), in("r10") a3.into_asm(), in("r8") a4.into_asm(),
             in("r9") a5.into_asm(), lateout("rcx") _, lateout("r11") _,
             options(nostack, preserves_flags));
    }
    RetReg::from_asm(ret)
}
