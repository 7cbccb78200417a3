//! `Fd::close` under a descriptor limit: the two ways it can fail, and that
//! neither leaks. A `harness = false` binary, because it changes the
//! process's `RLIMIT_NOFILE` and must be the first in the process to close
//! an `Fd` (which opens the process-wide placeholder).

mod util;

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use iofd::sys::Errno;
use iofd::sys::file::{OpenFlags, openat};
use iofd::sys::resource::{Resource, Rlimit, prlimit};
use iofd::{Error, Fd};

fn pipe() -> (Fd, Fd) {
    let (r, w) = std::io::pipe().expect("pipe");
    (Fd::from(OwnedFd::from(r)), Fd::from(OwnedFd::from(w)))
}

fn set_nofile(cur: u64, max: u64) {
    prlimit(Resource::Nofile, Some(&Rlimit { cur, max })).expect("setrlimit");
}

fn placeholder_cannot_be_opened() {
    let (r, w) = pipe();
    let saved = prlimit(Resource::Nofile, None).expect("getrlimit");
    let highest = r.raw().max(w.raw()) as u64;
    set_nofile(highest + 2, saved.max);
    // Fill every free number below the limit.
    let mut fillers = Vec::new();
    loop {
        match openat(None, c"/dev/null", OpenFlags::CLOEXEC, 0) {
            Ok(fd) => fillers.push(fd),
            Err(e) => {
                assert_eq!(e, Errno::EMFILE);
                break;
            }
        }
    }
    // No descriptor for the placeholder: close fails and the Fd stays open.
    assert_eq!(w.close(), Err(Error::Os(Errno::EMFILE)));
    assert!(w.is_valid());
    assert_eq!(w.write(b"still open"), Ok(10));
    // One free number is enough; the retry succeeds.
    assert!(fillers.pop().is_some(), "at least one number was filled");
    assert_eq!(w.close(), Ok(()));
    assert!(!w.is_valid());
    assert_eq!(r.read(&mut [0u8; 16]), Ok(10));
    assert_eq!(r.read(&mut [0u8; 16]), Ok(0), "the writer was released");
    drop(fillers);
    set_nofile(saved.cur, saved.max);
}

fn dup3_past_the_limit() {
    let saved = prlimit(Resource::Nofile, None).expect("getrlimit");
    let (r, w) = pipe();
    let number = w.as_fd().as_raw_fd();
    // Below the writer's number: dup3 onto it is EBADF.
    set_nofile(number as u64, saved.max);
    assert_eq!(w.close(), Err(Error::Os(Errno::EBADF)));
    // Marked closed all the same; the open file goes with the drop.
    assert!(!w.is_valid());
    assert_eq!(w.write(b"x"), Err(Error::Closed));
    assert_eq!(w.close(), Ok(()));
    set_nofile(saved.cur, saved.max);
    r.set_nonblocking(true).expect("nonblocking");
    assert_eq!(
        r.read(&mut [0u8; 1]),
        Err(Error::WouldBlock),
        "writer still open"
    );
    drop(w);
    assert_eq!(r.read(&mut [0u8; 1]), Ok(0), "drop released the writer");
    assert!(!util::is_open(number));
}

fn main() {
    let before = util::fd_count();
    placeholder_cannot_be_opened();
    dup3_past_the_limit();
    // The placeholder is the one descriptor that stays, by design.
    assert_eq!(util::fd_count(), before + 1);
    println!("fd_close_limits: EMFILE and EBADF closes behave as documented");
    println!("2 passed, 0 failed");
}
