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
//! The functions return the raw `rax` value; [`super::super::decode`] turns
//! it into a `Result` once, for every caller. They are `#[inline(always)]`
//! so that the `syscall` instruction lands in the caller's frame: on this
//! kernel the first `ret` after a syscall mispredicts, and every function
//! boundary crossed right after it costs tens of nanoseconds.
#![allow(unsafe_code)]

use core::arch::asm;

/// Makes syscall `nr` with no arguments and returns the raw `rax` value.
///
/// # Safety
///
/// - `nr` must be a syscall that is sound to make with no arguments in the
///   current program state.
#[inline(always)]
pub unsafe fn raw0(nr: usize) -> usize {
    let ret: usize;
    // SAFETY: the syscall ABI above; the caller vouches for the call itself.
    unsafe {
        asm!("syscall", inlateout("rax") nr => ret, lateout("rcx") _, lateout("r11") _,
             options(nostack, preserves_flags));
    }
    ret
}

/// Makes syscall `nr` with one argument and returns the raw `rax` value.
///
/// # Safety
///
/// - `nr` and `a0` must form a call that is sound in the current program
///   state (pointers valid for what the kernel reads and writes).
#[inline(always)]
pub unsafe fn raw1(nr: usize, a0: usize) -> usize {
    let ret: usize;
    // SAFETY: the syscall ABI above; the caller vouches for the call itself.
    unsafe {
        asm!("syscall", inlateout("rax") nr => ret, in("rdi") a0,
             lateout("rcx") _, lateout("r11") _, options(nostack, preserves_flags));
    }
    ret
}

/// Makes syscall `nr` with two arguments and returns the raw `rax` value.
///
/// # Safety
///
/// - `nr` and the arguments must form a call that is sound in the current
///   program state (pointers valid for what the kernel reads and writes).
#[inline(always)]
pub unsafe fn raw2(nr: usize, a0: usize, a1: usize) -> usize {
    let ret: usize;
    // SAFETY: the syscall ABI above; the caller vouches for the call itself.
    unsafe {
        asm!("syscall", inlateout("rax") nr => ret, in("rdi") a0, in("rsi") a1,
             lateout("rcx") _, lateout("r11") _, options(nostack, preserves_flags));
    }
    ret
}

/// Makes syscall `nr` with three arguments and returns the raw `rax` value.
///
/// # Safety
///
/// - `nr` and the arguments must form a call that is sound in the current
///   program state (pointers valid for what the kernel reads and writes).
#[inline(always)]
pub unsafe fn raw3(nr: usize, a0: usize, a1: usize, a2: usize) -> usize {
    let ret: usize;
    // SAFETY: the syscall ABI above; the caller vouches for the call itself.
    unsafe {
        asm!("syscall", inlateout("rax") nr => ret, in("rdi") a0, in("rsi") a1, in("rdx") a2,
             lateout("rcx") _, lateout("r11") _, options(nostack, preserves_flags));
    }
    ret
}

/// Makes syscall `nr` with four arguments and returns the raw `rax` value.
///
/// # Safety
///
/// - `nr` and the arguments must form a call that is sound in the current
///   program state (pointers valid for what the kernel reads and writes).
#[inline(always)]
pub unsafe fn raw4(nr: usize, a0: usize, a1: usize, a2: usize, a3: usize) -> usize {
    let ret: usize;
    // SAFETY: the syscall ABI above; the caller vouches for the call itself.
    unsafe {
        asm!("syscall", inlateout("rax") nr => ret, in("rdi") a0, in("rsi") a1, in("rdx") a2,
             in("r10") a3, lateout("rcx") _, lateout("r11") _,
             options(nostack, preserves_flags));
    }
    ret
}

/// Makes syscall `nr` with five arguments and returns the raw `rax` value.
///
/// # Safety
///
/// - `nr` and the arguments must form a call that is sound in the current
///   program state (pointers valid for what the kernel reads and writes).
#[inline(always)]
pub unsafe fn raw5(nr: usize, a0: usize, a1: usize, a2: usize, a3: usize, a4: usize) -> usize {
    let ret: usize;
    // SAFETY: the syscall ABI above; the caller vouches for the call itself.
    unsafe {
        asm!("syscall", inlateout("rax") nr => ret, in("rdi") a0, in("rsi") a1, in("rdx") a2,
             in("r10") a3, in("r8") a4, lateout("rcx") _, lateout("r11") _,
             options(nostack, preserves_flags));
    }
    ret
}

/// Makes syscall `nr` with six arguments and returns the raw `rax` value.
///
/// # Safety
///
/// - `nr` and the arguments must form a call that is sound in the current
///   program state (pointers valid for what the kernel reads and writes).
#[inline(always)]
pub unsafe fn raw6(
    nr: usize,
    a0: usize,
    a1: usize,
    a2: usize,
    a3: usize,
    a4: usize,
    a5: usize,
) -> usize {
    let ret: usize;
    // SAFETY: the syscall ABI above; the caller vouches for the call itself.
    unsafe {
        asm!("syscall", inlateout("rax") nr => ret, in("rdi") a0, in("rsi") a1, in("rdx") a2,
             in("r10") a3, in("r8") a4, in("r9") a5, lateout("rcx") _, lateout("r11") _,
             options(nostack, preserves_flags));
    }
    ret
}

/// x86_64 syscall numbers (`arch/x86/entry/syscalls/syscall_64.tbl`), for
/// the calls iofd makes.
#[expect(missing_docs, reason = "each constant is the syscall of the same name")]
pub mod nr {
    pub const READ: usize = 0;
    pub const WRITE: usize = 1;
    pub const CLOSE: usize = 3;
    pub const FSTAT: usize = 5;
    pub const MMAP: usize = 9;
    pub const MUNMAP: usize = 11;
    pub const RT_SIGACTION: usize = 13;
    pub const RT_SIGPROCMASK: usize = 14;
    pub const PREAD64: usize = 17;
    pub const PWRITE64: usize = 18;
    pub const READV: usize = 19;
    pub const WRITEV: usize = 20;
    pub const GETPID: usize = 39;
    pub const SOCKET: usize = 41;
    pub const CONNECT: usize = 42;
    pub const SENDTO: usize = 44;
    pub const RECVFROM: usize = 45;
    pub const SENDMSG: usize = 46;
    pub const RECVMSG: usize = 47;
    pub const SHUTDOWN: usize = 48;
    pub const BIND: usize = 49;
    pub const LISTEN: usize = 50;
    pub const GETSOCKNAME: usize = 51;
    pub const GETPEERNAME: usize = 52;
    pub const SOCKETPAIR: usize = 53;
    pub const SETSOCKOPT: usize = 54;
    pub const GETSOCKOPT: usize = 55;
    pub const KILL: usize = 62;
    pub const FCNTL: usize = 72;
    pub const FTRUNCATE: usize = 77;
    pub const GETUID: usize = 102;
    pub const GETPPID: usize = 110;
    pub const SETRESUID: usize = 117;
    pub const SETRESGID: usize = 119;
    pub const PRCTL: usize = 157;
    pub const GETTID: usize = 186;
    pub const CLOCK_GETTIME: usize = 228;
    pub const EXIT_GROUP: usize = 231;
    pub const EPOLL_CTL: usize = 233;
    pub const TGKILL: usize = 234;
    pub const WAITID: usize = 247;
    pub const OPENAT: usize = 257;
    pub const PPOLL: usize = 271;
    pub const SPLICE: usize = 275;
    pub const TEE: usize = 276;
    pub const VMSPLICE: usize = 278;
    pub const EPOLL_PWAIT: usize = 281;
    pub const TIMERFD_CREATE: usize = 283;
    pub const TIMERFD_SETTIME: usize = 286;
    pub const TIMERFD_GETTIME: usize = 287;
    pub const ACCEPT4: usize = 288;
    pub const SIGNALFD4: usize = 289;
    pub const EVENTFD2: usize = 290;
    pub const EPOLL_CREATE1: usize = 291;
    pub const DUP3: usize = 292;
    pub const PIPE2: usize = 293;
    pub const PREADV: usize = 295;
    pub const PWRITEV: usize = 296;
    pub const RECVMMSG: usize = 299;
    pub const PRLIMIT64: usize = 302;
    pub const SENDMMSG: usize = 307;
    pub const MEMFD_CREATE: usize = 319;
    pub const PREADV2: usize = 327;
    pub const PWRITEV2: usize = 328;
    pub const PIDFD_SEND_SIGNAL: usize = 424;
    pub const IO_URING_SETUP: usize = 425;
    pub const IO_URING_ENTER: usize = 426;
    pub const IO_URING_REGISTER: usize = 427;
    pub const PIDFD_OPEN: usize = 434;
    pub const PIDFD_GETFD: usize = 438;
}
