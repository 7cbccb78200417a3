//! `Fd`: close semantics, flags, dup, std conversions and `io` traits.

use crate::util;

use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use iofd::sys::Errno;
use iofd::{Error, Fd};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A pipe as two `Fd`s (read end, write end).
fn pipe() -> (Fd, Fd) {
    let (r, w) = std::io::pipe().expect("pipe");
    (Fd::from(OwnedFd::from(r)), Fd::from(OwnedFd::from(w)))
}

#[test]
fn read_and_write_round_trip() -> TestResult {
    let (r, w) = pipe();
    assert_eq!(w.write(b"hello")?, 5);
    let mut buf = [0u8; 16];
    assert_eq!(r.read(&mut buf)?, 5);
    assert_eq!(&buf[..5], b"hello");
    Ok(())
}

#[test]
fn read_on_empty_nonblocking_is_would_block() -> TestResult {
    let (r, _w) = pipe();
    r.set_nonblocking(true)?;
    let mut buf = [0u8; 4];
    assert_eq!(r.read(&mut buf), Err(Error::WouldBlock));
    Ok(())
}

#[test]
fn read_at_eof_is_zero() -> TestResult {
    let (r, w) = pipe();
    drop(w);
    assert_eq!(r.read(&mut [0u8; 4])?, 0);
    Ok(())
}

#[test]
fn write_to_a_pipe_without_reader_is_epipe() -> TestResult {
    // Rust programs ignore SIGPIPE, so the write reports EPIPE.
    let (r, w) = pipe();
    r.close()?;
    assert_eq!(w.write(b"x"), Err(Error::Os(Errno::EPIPE)));
    Ok(())
}

#[test]
fn three_closes_in_a_row() -> TestResult {
    let (r, w) = pipe();
    assert!(w.is_valid());
    w.close()?;
    w.close()?;
    w.close()?;
    assert!(!w.is_valid());
    assert_eq!(w.raw(), -1);
    assert_eq!(w.as_raw_fd(), -1);
    // The open file was released: the reader sees end of file.
    assert_eq!(r.read(&mut [0u8; 1])?, 0);
    Ok(())
}

#[test]
fn eight_threads_close_one_fd_at_once() -> TestResult {
    for _ in 0..50 {
        let (r, w) = pipe();
        let w = Arc::new(w);
        let barrier = Arc::new(Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (w, barrier) = (Arc::clone(&w), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    barrier.wait();
                    w.close()
                })
            })
            .collect();
        for t in threads {
            assert_eq!(t.join().expect("thread"), Ok(()));
        }
        assert!(!w.is_valid());
        assert_eq!(r.read(&mut [0u8; 1])?, 0, "writer released exactly once");
    }
    Ok(())
}

#[test]
fn every_operation_after_close_is_closed_without_a_syscall() -> TestResult {
    let (r, w) = pipe();
    r.close()?;
    // The number is still reserved and names an inert file on which a real
    // syscall would fail with EBADF; `Closed` shows none was made.
    let mut buf = [0u8; 4];
    assert_eq!(r.read(&mut buf), Err(Error::Closed));
    assert_eq!(r.write(b"x"), Err(Error::Closed));
    assert_eq!(r.set_nonblocking(true), Err(Error::Closed));
    assert_eq!(r.is_nonblocking(), Err(Error::Closed));
    assert_eq!(r.set_cloexec(false), Err(Error::Closed));
    assert_eq!(r.is_cloexec(), Err(Error::Closed));
    assert_eq!(r.dup().map(drop), Err(Error::Closed));
    assert_eq!(r.borrow().map(drop), Err(Error::Closed));
    let io = Read::read(&mut &r, &mut buf).expect_err("closed");
    assert_eq!(io.kind(), std::io::ErrorKind::Other);
    drop(w);
    Ok(())
}

#[test]
fn a_closed_fd_keeps_its_number_until_drop() -> TestResult {
    let (r, _w) = pipe();
    let borrowed = r.as_fd().as_raw_fd();
    r.close()?;
    // Still allocated to us, pointing at the inert placeholder.
    assert!(util::is_open(borrowed));
    assert_eq!(r.as_fd().as_raw_fd(), borrowed);
    // A real syscall on the reserved number fails harmlessly.
    assert_eq!(
        iofd::sys::io::read(r.as_fd(), &mut [0u8; 1]),
        Err(Errno::EBADF)
    );
    // New descriptors never reuse it.
    let (r2, w2) = pipe();
    assert_ne!(r2.raw(), borrowed);
    assert_ne!(w2.raw(), borrowed);
    Ok(())
}

#[test]
fn concurrent_reads_and_close_never_touch_a_foreign_file() -> TestResult {
    use std::sync::atomic::{AtomicBool, Ordering};
    const MARKER: &[u8; 8] = b"FOREIGN!";
    for _ in 0..20 {
        let (r, w) = pipe();
        r.set_nonblocking(true)?;
        let reserved = r.as_fd().as_raw_fd();
        let r = Arc::new(r);
        let stop = Arc::new(AtomicBool::new(false));
        // Another thread keeps opening pipes full of a marker: if the
        // closed number were ever reused, a reader would see the marker.
        let opener = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut reused = false;
                while !stop.load(Ordering::Relaxed) {
                    let (fr, fw) = pipe();
                    fw.write(MARKER).expect("marker");
                    reused |= fr.raw() == reserved || fw.raw() == reserved;
                }
                reused
            })
        };
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let r = Arc::clone(&r);
                std::thread::spawn(move || {
                    let mut buf = [0u8; 8];
                    for _ in 0..500 {
                        match r.read(&mut buf) {
                            Ok(n) => assert_ne!(&buf[..n], MARKER, "read a foreign file"),
                            Err(Error::WouldBlock) | Err(Error::Closed) => {}
                            Err(Error::Os(Errno::EBADF)) => {} // raced onto the placeholder
                            Err(e) => panic!("unexpected {e:?}"),
                        }
                    }
                })
            })
            .collect();
        w.write(b"abc")?;
        r.close()?;
        for t in readers {
            t.join().expect("reader");
        }
        stop.store(true, Ordering::Relaxed);
        assert!(
            !opener.join().expect("opener"),
            "the reserved number was reused"
        );
    }
    Ok(())
}

#[test]
fn the_placeholder_is_not_a_directory() -> TestResult {
    let (r, _w) = pipe();
    r.close()?;
    // Lookups relative to a closed Fd's number must not reach the file system.
    let flags = iofd::sys::file::OpenFlags::CLOEXEC;
    let opened = iofd::sys::file::openat(Some(r.as_fd()), c"etc/hostname", flags, 0);
    assert_eq!(opened.map(drop), Err(Errno::ENOTDIR));
    Ok(())
}

#[test]
fn nonblocking_toggles_both_ways() -> TestResult {
    let (r, _w) = pipe();
    const O_NONBLOCK: u32 = 0o4000;
    assert!(!r.is_nonblocking()?);
    r.set_nonblocking(true)?;
    assert!(r.is_nonblocking()?);
    assert_ne!(util::fdinfo_flags(&r) & O_NONBLOCK, 0);
    r.set_nonblocking(true)?; // already set: no change
    assert!(r.is_nonblocking()?);
    r.set_nonblocking(false)?;
    assert!(!r.is_nonblocking()?);
    assert_eq!(util::fdinfo_flags(&r) & O_NONBLOCK, 0);
    Ok(())
}

#[test]
fn cloexec_toggles_both_ways() -> TestResult {
    let (r, _w) = pipe();
    const O_CLOEXEC: u32 = 0o2000000;
    assert!(r.is_cloexec()?, "std creates pipes close-on-exec");
    r.set_cloexec(false)?;
    assert!(!r.is_cloexec()?);
    assert_eq!(util::fdinfo_flags(&r) & O_CLOEXEC, 0);
    r.set_cloexec(true)?;
    assert!(r.is_cloexec()?);
    assert_ne!(util::fdinfo_flags(&r) & O_CLOEXEC, 0);
    Ok(())
}

#[test]
fn dup_is_independent_and_cloexec() -> TestResult {
    let (r, w) = pipe();
    w.set_cloexec(false)?;
    let w2 = w.dup()?;
    assert_ne!(w2.raw(), w.raw());
    assert!(
        w2.is_cloexec()?,
        "dup is close-on-exec whatever the original"
    );
    // Closing the original leaves the duplicate working.
    w.close()?;
    assert_eq!(w2.write(b"dup")?, 3);
    let mut buf = [0u8; 3];
    assert_eq!(r.read(&mut buf)?, 3);
    assert_eq!(&buf, b"dup");
    // Only when both are gone does the reader see end of file.
    w2.close()?;
    assert_eq!(r.read(&mut buf)?, 0);
    Ok(())
}

/// Races `dup` against `close` on fresh descriptors for about a second:
/// every `Ok` must be a real copy of the pipe (same inode, not `O_PATH`),
/// never the placeholder a racing `close` puts on the number, and every
/// `Err` must be `Closed`.
#[test]
fn dup_racing_close_copies_the_file_or_is_closed() -> TestResult {
    use iofd::sys::file::{OpenFlags, fcntl_getfl, fstat};
    let (_r, w) = pipe();
    let want = fstat(w.borrow()?)?;
    let (mut rounds, mut placeholders) = (0, 0);
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        let fresh = (0..200).map(|_| w.dup()).collect::<Result<Vec<_>, _>>()?;
        for (dup, closed) in util::race_each(&fresh, Fd::dup, Fd::close) {
            closed?;
            rounds += 1;
            match dup {
                Ok(copy) => {
                    let got = fstat(copy.borrow()?)?;
                    let path = fcntl_getfl(copy.borrow()?)?.bits() & OpenFlags::PATH.bits() != 0;
                    if (got.dev, got.ino) != (want.dev, want.ino) || path {
                        placeholders += 1;
                    }
                }
                Err(Error::Closed) => {}
                Err(e) => return Err(format!("dup racing close: {e:?}").into()),
            }
        }
    }
    assert_eq!(
        placeholders, 0,
        "{placeholders} of {rounds} dups racing a close returned the placeholder"
    );
    Ok(())
}

#[test]
fn dup_shares_status_flags() -> TestResult {
    let (r, _w) = pipe();
    let r2 = r.dup()?;
    r.set_nonblocking(true)?;
    assert!(r2.is_nonblocking()?, "O_NONBLOCK lives on the open file");
    Ok(())
}

#[test]
fn round_trip_through_owned_fd() -> TestResult {
    let (r, w) = pipe();
    let raw = w.raw();
    let owned: OwnedFd = w.into();
    assert_eq!(owned.as_raw_fd(), raw);
    let back = Fd::from(owned);
    assert_eq!(back.raw(), raw);
    back.write(b"o")?;
    assert_eq!(r.read(&mut [0u8; 1])?, 1);
    let owned = back.into_owned()?;
    assert_eq!(owned.as_raw_fd(), raw);
    Ok(())
}

#[test]
fn a_closed_fd_into_owned_is_closed() -> TestResult {
    let (r, _w) = pipe();
    r.close()?;
    assert_eq!(r.into_owned().map(drop), Err(Error::Closed));
    Ok(())
}

#[test]
fn a_closed_fd_converted_to_owned_fd_names_the_inert_file() -> TestResult {
    let (r, _w) = pipe();
    r.close()?;
    let owned = OwnedFd::from(r);
    assert_eq!(
        iofd::sys::io::read(owned.as_fd(), &mut [0u8; 1]),
        Err(Errno::EBADF)
    );
    Ok(())
}

#[test]
fn round_trip_through_raw_fd() -> TestResult {
    let (r, w) = pipe();
    let raw = w.into_raw_fd();
    assert!(util::is_open(raw));
    // SAFETY: `raw` came from `into_raw_fd` just above and is owned here.
    let w = unsafe { Fd::from_raw_fd(raw) };
    assert_eq!(w.raw(), raw);
    w.write(b"r")?;
    assert_eq!(r.read(&mut [0u8; 1])?, 1);
    drop(w);
    assert_eq!(r.read(&mut [0u8; 1])?, 0, "drop closed the writer");
    Ok(())
}

#[test]
fn a_closed_fd_into_raw_fd_is_minus_one_and_releases_the_number() -> TestResult {
    let (r, _w) = pipe();
    r.close()?;
    assert_eq!(r.into_raw_fd(), -1);
    Ok(())
}

#[test]
fn from_a_negative_number_is_closed() -> TestResult {
    // SAFETY: a negative number is documented to give a closed Fd.
    let fd = unsafe { Fd::from_raw(-1) };
    assert!(!fd.is_valid());
    assert_eq!(fd.read(&mut [0u8; 1]), Err(Error::Closed));
    fd.close()?;
    // It still borrows something valid: the inert placeholder.
    assert_eq!(
        iofd::sys::io::read(fd.as_fd(), &mut [0u8; 1]),
        Err(Errno::EBADF)
    );
    assert_eq!(fd.into_raw_fd(), -1);
    Ok(())
}

#[test]
fn as_fd_borrows_the_descriptor() -> TestResult {
    let (r, w) = pipe();
    let b = w.as_fd();
    assert_eq!(b.as_raw_fd(), w.raw());
    assert_eq!(iofd::sys::io::write(b, b"b"), Ok(1));
    let owned = b.try_clone_to_owned()?;
    drop(owned);
    assert_eq!(r.read(&mut [0u8; 1])?, 1);
    Ok(())
}

#[test]
fn io_read_and_write_on_shared_references() -> TestResult {
    let (r, w) = pipe();
    (&w).write_all(b"std traits")?;
    (&w).flush()?;
    drop(w);
    let mut s = String::new();
    (&r).read_to_string(&mut s)?;
    assert_eq!(s, "std traits");
    Ok(())
}

#[test]
fn io_traits_on_owned_values() -> TestResult {
    let (mut r, mut w) = pipe();
    w.write_all(b"owned")?;
    w.flush()?;
    drop(w);
    let mut v = Vec::new();
    r.read_to_end(&mut v)?;
    assert_eq!(v, b"owned");
    Ok(())
}

#[test]
fn io_would_block_maps_to_the_std_kind() -> TestResult {
    let (r, _w) = pipe();
    r.set_nonblocking(true)?;
    let e = Read::read(&mut &r, &mut [0u8; 1]).expect_err("empty");
    assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock);
    assert_eq!(e.raw_os_error(), Some(11));
    Ok(())
}

#[test]
fn debug_shows_the_number_or_closed() -> TestResult {
    let (r, _w) = pipe();
    assert_eq!(format!("{r:?}"), format!("Fd {{ fd: {} }}", r.raw()));
    r.close()?;
    assert_eq!(format!("{r:?}"), "Fd { closed: true }");
    Ok(())
}

#[test]
fn fd_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Fd>();
}
