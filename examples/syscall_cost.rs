//! A measurement driver: makes one kind of call N times through one path,
//! so that `valgrind --tool=callgrind` can count the user-space instructions
//! each call costs (run it at two values of N and divide the difference).
//!
//! ```text
//! cargo build --release --example syscall_cost
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/syscall_cost iofd getppid 100000
//! ```
//!
//! Paths: `iofd`, `libc`, `rustix`. Calls: `getppid`, `eventfd` (one write
//! and one read of an eventfd counter).

use std::hint::black_box;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::process::ExitCode;

use iofd::sys::event::{EventFdFlags, eventfd2};

#[inline(never)]
fn iofd_getppid(n: u64) {
    for _ in 0..n {
        black_box(iofd::sys::process::getppid());
    }
}

#[inline(never)]
fn libc_getppid(n: u64) {
    for _ in 0..n {
        // SAFETY: getppid has no preconditions.
        black_box(unsafe { libc::getppid() });
    }
}

#[inline(never)]
fn rustix_getppid(n: u64) {
    for _ in 0..n {
        black_box(rustix::process::getppid());
    }
}

#[inline(never)]
fn iofd_eventfd(fd: BorrowedFd<'_>, n: u64) {
    for _ in 0..n {
        let _ = iofd::sys::io::write(fd, &1u64.to_ne_bytes());
        let mut v = [0u8; 8];
        let _ = iofd::sys::io::read(fd, &mut v);
        black_box(v);
    }
}

#[inline(never)]
fn libc_eventfd(fd: BorrowedFd<'_>, n: u64) {
    let raw = fd.as_raw_fd();
    for _ in 0..n {
        let one = 1u64;
        let mut v = 0u64;
        // SAFETY: `raw` is open for the whole run; both buffers are 8 live
        // bytes.
        unsafe {
            libc::write(raw, (&raw const one).cast(), 8);
            libc::read(raw, (&raw mut v).cast(), 8);
        }
        black_box(v);
    }
}

#[inline(never)]
fn rustix_eventfd(fd: BorrowedFd<'_>, n: u64) {
    for _ in 0..n {
        let _ = rustix::io::write(fd, &1u64.to_ne_bytes());
        let mut v = [0u8; 8];
        let _ = rustix::io::read(fd, &mut v);
        black_box(v);
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: syscall_cost <iofd|libc|rustix> <getppid|eventfd> <count>";
    let [path, call, count] = args.as_slice() else {
        eprintln!("{usage}");
        return ExitCode::from(2);
    };
    let Ok(n) = count.parse::<u64>() else {
        eprintln!("count must be a whole number\n{usage}");
        return ExitCode::from(2);
    };
    let efd = match eventfd2(0, EventFdFlags::CLOEXEC | EventFdFlags::NONBLOCK) {
        Ok(fd) => fd,
        Err(e) => {
            eprintln!("eventfd2: {e}");
            return ExitCode::FAILURE;
        }
    };
    let fd = efd.as_fd();
    match (path.as_str(), call.as_str()) {
        ("iofd", "getppid") => iofd_getppid(n),
        ("libc", "getppid") => libc_getppid(n),
        ("rustix", "getppid") => rustix_getppid(n),
        ("iofd", "eventfd") => iofd_eventfd(fd, n),
        ("libc", "eventfd") => libc_eventfd(fd, n),
        ("rustix", "eventfd") => rustix_eventfd(fd, n),
        _ => {
            eprintln!("{usage}");
            return ExitCode::from(2);
        }
    }
    ExitCode::SUCCESS
}
