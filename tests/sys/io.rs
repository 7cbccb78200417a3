//! `sys::io`: read, write and the vectored and positioned forms, on a memfd.

use crate::util;

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, OwnedFd};

use iofd::sys::Errno;
use iofd::sys::io::{self, ReadWriteFlags};
use iofd::sys::mem::{MemFdFlags, memfd_create};

fn memfd() -> OwnedFd {
    memfd_create(c"iofd-sys-io", MemFdFlags::CLOEXEC).expect("memfd_create")
}

fn eventfd() -> OwnedFd {
    use iofd::sys::event::{EventFdFlags, eventfd2};
    eventfd2(0, EventFdFlags::CLOEXEC | EventFdFlags::NONBLOCK).expect("eventfd2")
}

#[test]
fn write_then_read_back() -> Result<(), Errno> {
    let fd = memfd();
    assert_eq!(io::write(fd.as_fd(), b"abcdef")?, 6);
    let mut buf = [0u8; 6];
    // The position is at the end: nothing more to read.
    assert_eq!(io::read(fd.as_fd(), &mut buf)?, 0);
    assert_eq!(
        io::preadv(fd.as_fd(), &mut [IoSliceMut::new(&mut buf)], 0)?,
        6
    );
    assert_eq!(&buf, b"abcdef");
    Ok(())
}

#[test]
fn read_and_write_errors() {
    let mut buf = [0u8; 8];
    assert_eq!(io::read(util::not_open(), &mut buf), Err(Errno::EBADF));
    assert_eq!(io::write(util::not_open(), &buf), Err(Errno::EBADF));
    // An eventfd takes exactly 8-byte reads and writes.
    let efd = eventfd();
    assert_eq!(io::read(efd.as_fd(), &mut buf[..4]), Err(Errno::EINVAL));
    assert_eq!(io::write(efd.as_fd(), &buf[..4]), Err(Errno::EINVAL));
    assert_eq!(io::read(efd.as_fd(), &mut buf), Err(Errno::EAGAIN));
}

#[test]
fn readv_writev_scatter_and_gather() -> Result<(), Errno> {
    let fd = memfd();
    let n = io::writev(
        fd.as_fd(),
        &[
            IoSlice::new(b"head-"),
            IoSlice::new(b""),
            IoSlice::new(b"tail"),
        ],
    )?;
    assert_eq!(n, 9);
    let (mut a, mut b) = ([0u8; 4], [0u8; 8]);
    let n = io::preadv(
        fd.as_fd(),
        &mut [IoSliceMut::new(&mut a), IoSliceMut::new(&mut b)],
        0,
    )?;
    assert_eq!(n, 9);
    assert_eq!(&a, b"head");
    assert_eq!(&b[..5], b"-tail");
    // readv continues from the file position, which writev left at 9.
    assert_eq!(io::readv(fd.as_fd(), &mut [IoSliceMut::new(&mut a)])?, 0);
    Ok(())
}

#[test]
fn readv_writev_errors() {
    let mut a = [0u8; 1];
    assert_eq!(
        io::readv(util::not_open(), &mut [IoSliceMut::new(&mut a)]),
        Err(Errno::EBADF)
    );
    assert_eq!(
        io::writev(util::not_open(), &[IoSlice::new(&a)]),
        Err(Errno::EBADF)
    );
    // More than IOV_MAX (1024) buffers.
    let fd = memfd();
    let many = vec![IoSlice::new(b"x"); 1025];
    assert_eq!(io::writev(fd.as_fd(), &many), Err(Errno::EINVAL));
    let mut bufs: Vec<[u8; 1]> = vec![[0]; 1025];
    let mut slices: Vec<IoSliceMut<'_>> = bufs.iter_mut().map(|b| IoSliceMut::new(b)).collect();
    assert_eq!(io::readv(fd.as_fd(), &mut slices), Err(Errno::EINVAL));
}

#[test]
fn pwritev_preadv_at_offsets_leave_the_position() -> Result<(), Errno> {
    let fd = memfd();
    assert_eq!(io::pwritev(fd.as_fd(), &[IoSlice::new(b"world")], 6)?, 5);
    assert_eq!(io::pwritev(fd.as_fd(), &[IoSlice::new(b"hello ")], 0)?, 6);
    let mut buf = [0u8; 11];
    assert_eq!(
        io::preadv(fd.as_fd(), &mut [IoSliceMut::new(&mut buf)], 0)?,
        11
    );
    assert_eq!(&buf, b"hello world");
    // The position never moved: a plain read starts at 0.
    let mut first = [0u8; 5];
    assert_eq!(io::read(fd.as_fd(), &mut first)?, 5);
    assert_eq!(&first, b"hello");
    Ok(())
}

#[test]
fn positioned_io_errors() {
    let mut a = [0u8; 1];
    assert_eq!(
        io::preadv(util::not_open(), &mut [IoSliceMut::new(&mut a)], 0),
        Err(Errno::EBADF)
    );
    assert_eq!(
        io::pwritev(util::not_open(), &[IoSlice::new(&a)], 0),
        Err(Errno::EBADF)
    );
    // An offset past i64::MAX is negative to the kernel.
    let fd = memfd();
    assert_eq!(
        io::preadv(fd.as_fd(), &mut [IoSliceMut::new(&mut a)], u64::MAX - 1),
        Err(Errno::EINVAL)
    );
    // Positioned I/O needs a seekable file.
    let efd = eventfd();
    let mut v = [0u8; 8];
    assert_eq!(
        io::preadv(efd.as_fd(), &mut [IoSliceMut::new(&mut v)], 0),
        Err(Errno::ESPIPE)
    );
    assert_eq!(
        io::pwritev(efd.as_fd(), &[IoSlice::new(&v)], 0),
        Err(Errno::ESPIPE)
    );
}

#[test]
fn preadv2_pwritev2_with_and_without_offsets() -> Result<(), Errno> {
    let fd = memfd();
    let none = ReadWriteFlags::empty();
    // `None` writes at the file position and advances it.
    assert_eq!(
        io::pwritev2(fd.as_fd(), &[IoSlice::new(b"abc")], None, none)?,
        3
    );
    assert_eq!(
        io::pwritev2(fd.as_fd(), &[IoSlice::new(b"def")], None, none)?,
        3
    );
    // An explicit offset leaves it alone.
    assert_eq!(
        io::pwritev2(fd.as_fd(), &[IoSlice::new(b"X")], Some(1), none)?,
        1
    );
    let mut buf = [0u8; 6];
    assert_eq!(
        io::preadv2(fd.as_fd(), &mut [IoSliceMut::new(&mut buf)], Some(0), none)?,
        6
    );
    assert_eq!(&buf, b"aXcdef");
    // The position is 6, so a positional-less read finds the end.
    assert_eq!(
        io::preadv2(fd.as_fd(), &mut [IoSliceMut::new(&mut buf)], None, none)?,
        0
    );
    // A per-write O_DSYNC is accepted (and trivially met) by a memfd.
    assert_eq!(
        io::pwritev2(
            fd.as_fd(),
            &[IoSlice::new(b"!")],
            Some(6),
            ReadWriteFlags::DSYNC
        )?,
        1
    );
    // RWF_NOWAIT on a pipe that holds data reads it at once.
    let (r, w) = std::io::pipe().expect("pipe");
    io::write(w.as_fd(), b"now")?;
    let mut three = [0u8; 3];
    assert_eq!(
        io::preadv2(
            r.as_fd(),
            &mut [IoSliceMut::new(&mut three)],
            None,
            ReadWriteFlags::NOWAIT
        )?,
        3
    );
    Ok(())
}

#[test]
fn preadv2_pwritev2_errors() {
    let fd = memfd();
    let mut a = [0u8; 1];
    // A flag bit the kernel does not know.
    let bogus = ReadWriteFlags::from_bits_retain(0x8000_0000);
    // u64::MAX would be -1, "the current position", to the kernel: refused.
    let none = ReadWriteFlags::empty();
    assert_eq!(
        io::pwritev2(fd.as_fd(), &[IoSlice::new(&a)], Some(u64::MAX), none),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        io::preadv2(
            fd.as_fd(),
            &mut [IoSliceMut::new(&mut a)],
            Some(1 << 63),
            none
        ),
        Err(Errno::EINVAL)
    );
    assert_eq!(iofd::sys::file::fstat(fd.as_fd()).map(|s| s.size), Ok(0));
    assert_eq!(
        io::preadv2(fd.as_fd(), &mut [IoSliceMut::new(&mut a)], Some(0), bogus),
        Err(Errno::EOPNOTSUPP)
    );
    assert_eq!(
        io::pwritev2(fd.as_fd(), &[IoSlice::new(&a)], Some(0), bogus),
        Err(Errno::EOPNOTSUPP)
    );
    // RWF_NOWAIT on an empty pipe: EAGAIN instead of blocking.
    let (r, _w) = std::io::pipe().expect("pipe");
    assert_eq!(
        io::preadv2(
            r.as_fd(),
            &mut [IoSliceMut::new(&mut a)],
            None,
            ReadWriteFlags::NOWAIT
        ),
        Err(Errno::EAGAIN)
    );
    // memfd (shmem) reads do not support RWF_NOWAIT.
    assert_eq!(
        io::preadv2(
            fd.as_fd(),
            &mut [IoSliceMut::new(&mut a)],
            Some(0),
            ReadWriteFlags::NOWAIT
        ),
        Err(Errno::EOPNOTSUPP)
    );
    assert_eq!(
        io::preadv2(
            util::not_open(),
            &mut [IoSliceMut::new(&mut a)],
            None,
            ReadWriteFlags::empty()
        ),
        Err(Errno::EBADF)
    );
    assert_eq!(
        io::pwritev2(
            util::not_open(),
            &[IoSlice::new(&a)],
            None,
            ReadWriteFlags::empty()
        ),
        Err(Errno::EBADF)
    );
}

#[test]
fn pread_pwrite_at_offsets_leave_the_position() -> Result<(), Errno> {
    let fd = memfd();
    assert_eq!(io::pwrite(fd.as_fd(), b"world", 6)?, 5);
    assert_eq!(io::pwrite(fd.as_fd(), b"hello ", 0)?, 6);
    let mut buf = [0u8; 11];
    assert_eq!(io::pread(fd.as_fd(), &mut buf, 0)?, 11);
    assert_eq!(&buf, b"hello world");
    assert_eq!(io::pread(fd.as_fd(), &mut buf, 11)?, 0, "at the end");
    assert_eq!(io::read(fd.as_fd(), &mut buf[..5])?, 5, "position still 0");
    Ok(())
}

#[test]
fn pread_pwrite_errors() {
    let mut buf = [0u8; 8];
    assert_eq!(io::pread(util::not_open(), &mut buf, 0), Err(Errno::EBADF));
    assert_eq!(io::pwrite(util::not_open(), &buf, 0), Err(Errno::EBADF));
    let efd = eventfd();
    assert_eq!(io::pread(efd.as_fd(), &mut buf, 0), Err(Errno::ESPIPE));
    assert_eq!(io::pwrite(efd.as_fd(), &buf, 0), Err(Errno::ESPIPE));
    let fd = memfd();
    assert_eq!(
        io::pread(fd.as_fd(), &mut buf, u64::MAX),
        Err(Errno::EINVAL)
    );
    assert_eq!(io::pwrite(fd.as_fd(), &buf, 1 << 63), Err(Errno::EINVAL));
}
