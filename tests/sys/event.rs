//! `sys::event`: eventfd2 and the eventfd read/write helpers, against real
//! eventfds.

use std::os::fd::{AsFd, BorrowedFd};

use iofd::sys::Errno;
use iofd::sys::event::{EventFdFlags, eventfd_read, eventfd_write, eventfd2};
use iofd::sys::file::{FdFlags, StatusFlags, fcntl_getfd, fcntl_getfl};
use iofd::sys::io;

const NB: EventFdFlags = EventFdFlags::NONBLOCK.union(EventFdFlags::CLOEXEC);

/// A descriptor number this process never opens.
fn never_open() -> BorrowedFd<'static> {
    // SAFETY: the wrappers only hand the number to the kernel, which reports
    // EBADF; nothing is ever read through or closed via it.
    unsafe { BorrowedFd::borrow_raw(900_000) }
}

#[test]
fn write_then_read_round_trips_through_sys_io() -> Result<(), Errno> {
    let efd = eventfd2(0, NB)?;
    assert_eq!(io::write(efd.as_fd(), &5u64.to_ne_bytes())?, 8);
    let mut buf = [0u8; 8];
    assert_eq!(io::read(efd.as_fd(), &mut buf)?, 8);
    assert_eq!(u64::from_ne_bytes(buf), 5);
    Ok(())
}

#[test]
fn helpers_round_trip_and_sum_writes() -> Result<(), Errno> {
    let efd = eventfd2(0, NB)?;
    eventfd_write(efd.as_fd(), 5)?;
    assert_eq!(eventfd_read(efd.as_fd())?, 5);
    eventfd_write(efd.as_fd(), 2)?;
    eventfd_write(efd.as_fd(), 3)?;
    assert_eq!(eventfd_read(efd.as_fd())?, 5);
    assert_eq!(eventfd_read(efd.as_fd()), Err(Errno::EAGAIN));
    Ok(())
}

#[test]
fn initial_value_is_read_back() -> Result<(), Errno> {
    let efd = eventfd2(7, NB)?;
    assert_eq!(eventfd_read(efd.as_fd())?, 7);
    Ok(())
}

#[test]
fn semaphore_mode_reads_one_at_a_time() -> Result<(), Errno> {
    let efd = eventfd2(0, NB | EventFdFlags::SEMAPHORE)?;
    eventfd_write(efd.as_fd(), 3)?;
    for _ in 0..3 {
        assert_eq!(eventfd_read(efd.as_fd())?, 1);
    }
    assert_eq!(eventfd_read(efd.as_fd()), Err(Errno::EAGAIN));
    Ok(())
}

#[test]
fn empty_nonblocking_read_is_eagain() -> Result<(), Errno> {
    let efd = eventfd2(0, NB)?;
    let mut buf = [0u8; 8];
    assert_eq!(io::read(efd.as_fd(), &mut buf), Err(Errno::EAGAIN));
    assert_eq!(eventfd_read(efd.as_fd()), Err(Errno::EAGAIN));
    Ok(())
}

#[test]
fn unknown_flags_are_einval() {
    let bad = EventFdFlags::from_bits_retain(0x4);
    assert_eq!(eventfd2(0, bad).unwrap_err(), Errno::EINVAL);
}

#[test]
fn flags_are_visible_through_fcntl() -> Result<(), Errno> {
    let efd = eventfd2(0, NB)?;
    assert!(fcntl_getfd(efd.as_fd())?.contains(FdFlags::CLOEXEC));
    assert!(fcntl_getfl(efd.as_fd())?.contains(StatusFlags::NONBLOCK));

    let plain = eventfd2(0, EventFdFlags::empty())?;
    assert!(!fcntl_getfd(plain.as_fd())?.contains(FdFlags::CLOEXEC));
    assert!(!fcntl_getfl(plain.as_fd())?.contains(StatusFlags::NONBLOCK));
    Ok(())
}

#[test]
fn writing_u64_max_is_einval() -> Result<(), Errno> {
    let efd = eventfd2(0, NB)?;
    assert_eq!(eventfd_write(efd.as_fd(), u64::MAX), Err(Errno::EINVAL));
    Ok(())
}

#[test]
fn overflowing_the_counter_is_eagain() -> Result<(), Errno> {
    let efd = eventfd2(0, NB)?;
    eventfd_write(efd.as_fd(), u64::MAX - 1)?;
    assert_eq!(eventfd_write(efd.as_fd(), 1), Err(Errno::EAGAIN));
    assert_eq!(eventfd_read(efd.as_fd())?, u64::MAX - 1);
    Ok(())
}

#[test]
fn helpers_on_a_never_open_fd_are_ebadf() {
    assert_eq!(eventfd_read(never_open()), Err(Errno::EBADF));
    assert_eq!(eventfd_write(never_open(), 1), Err(Errno::EBADF));
}
