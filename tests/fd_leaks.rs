//! No descriptor leaks from `Fd`: thousands of open/close/drop cycles leave
//! the process's descriptor count unchanged. A `harness = false` binary, so
//! no other test opens descriptors concurrently.

mod util;

use std::os::fd::{IntoRawFd, OwnedFd};

use iofd::{Error, Fd};

fn pipe() -> (Fd, Fd) {
    let (r, w) = std::io::pipe().expect("pipe");
    (Fd::from(OwnedFd::from(r)), Fd::from(OwnedFd::from(w)))
}

fn cycle() {
    // Dropped while open.
    drop(pipe());
    // Closed, then dropped: the reserved number is released by drop.
    let (r, w) = pipe();
    r.close().expect("close");
    w.close().expect("close");
    w.close().expect("close again");
    drop((r, w));
    // dup, closed and not.
    let (r, w) = pipe();
    let d = w.dup().expect("dup");
    d.close().expect("close");
    drop((r, w, d));
    // Through OwnedFd and raw numbers, open and closed.
    let (r, w) = pipe();
    drop(OwnedFd::from(r));
    w.close().expect("close");
    assert_eq!(w.into_raw_fd(), -1);
    let (r, w) = pipe();
    r.close().expect("close");
    assert_eq!(r.into_owned().map(drop), Err(Error::Closed));
    drop(OwnedFd::from(w));
}

fn main() {
    // The first close opens the process-wide placeholder once; do it
    // before the baseline.
    cycle();
    let before = util::fd_count();
    for _ in 0..5_000 {
        cycle();
    }
    let after = util::fd_count();
    assert_eq!(before, after, "descriptors leaked");
    println!("fd_leaks: 5000 cycles, {before} descriptors before and after");
    println!("1 passed, 0 failed");
}
