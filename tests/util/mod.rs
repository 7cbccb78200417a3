//! Helpers shared by the integration tests.
#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::os::fd::{AsFd, AsRawFd};

/// The number of descriptors open in this process (`/proc/self/fd`, less
/// the one used to read it).
pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("read /proc/self/fd")
        .count()
        - 1
}

/// Whether descriptor `fd` is open in this process.
pub fn is_open(fd: std::os::fd::RawFd) -> bool {
    std::path::Path::new(&format!("/proc/self/fd/{fd}")).exists()
}

/// The `flags:` line of `/proc/self/fdinfo/<fd>`, in octal as printed.
pub fn fdinfo_flags(fd: &impl AsFd) -> u32 {
    let raw = fd.as_fd().as_raw_fd();
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{raw}")).expect("fdinfo");
    let line = info
        .lines()
        .find(|l| l.starts_with("flags:"))
        .expect("flags line");
    u32::from_str_radix(line["flags:".len()..].trim(), 8).expect("octal flags")
}
