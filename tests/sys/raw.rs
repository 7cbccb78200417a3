//! `sys::syscall0` .. `sys::syscall6`: the raw entry points, with typed
//! register arguments, against the typed wrappers.

use crate::util;

use std::io::IoSliceMut;
use std::os::fd::{AsFd, IntoRawFd, OwnedFd};

use iofd::sys::poll::{Events, PollFd};
use iofd::sys::time::Timespec;
use iofd::sys::{self, ArgReg, Errno, nr};

fn memfd() -> OwnedFd {
    use iofd::sys::mem::{MemFdFlags, memfd_create};
    memfd_create(c"iofd-sys-raw", MemFdFlags::CLOEXEC).expect("memfd_create")
}

#[test]
fn syscall0_agrees_with_the_wrapper() -> Result<(), Errno> {
    // SAFETY: getppid takes no arguments and touches no memory.
    let raw = unsafe { sys::syscall0(nr::GETPPID) }?;
    assert_eq!(raw as u32, sys::process::getppid());
    Ok(())
}

#[test]
fn syscall1_closes_and_decodes_ebadf() {
    let raw = memfd().into_raw_fd();
    // SAFETY: `raw` was just released by its `OwnedFd`: this test owns it.
    assert_eq!(unsafe { sys::syscall1(nr::CLOSE, raw.into()) }, Ok(0));
    // Not `raw` again: another test's thread may already have reused the
    // number.
    // SAFETY: the kernel refuses a descriptor that is not open.
    assert_eq!(
        unsafe { sys::syscall1(nr::CLOSE, util::not_open().into()) },
        Err(Errno::EBADF)
    );
}

#[test]
fn syscall2_to_syscall4_truncate_write_and_read_back() -> Result<(), Errno> {
    let fd = memfd();
    // SAFETY: ftruncate touches no memory.
    assert_eq!(
        unsafe { sys::syscall2(nr::FTRUNCATE, fd.as_fd().into(), 3u64.into()) }?,
        0
    );
    let data = *b"xyz";
    // SAFETY: `data` is 3 readable bytes, live for the call.
    let n = unsafe { sys::syscall3(nr::WRITE, fd.as_fd().into(), (&data).into(), 3usize.into()) }?;
    assert_eq!(n, 3);
    let mut back = [0u8; 6];
    // SAFETY: `back` is 6 writable bytes, live for the call.
    let n = unsafe {
        sys::syscall4(
            nr::PREAD64,
            fd.as_fd().into(),
            (&mut back).into(),
            6usize.into(),
            0u64.into(),
        )
    }?;
    // The file was 3 bytes, and the write at position 0 replaced them.
    assert_eq!((n, &back[..3]), (3, &b"xyz"[..]));
    Ok(())
}

#[test]
fn syscall3_decodes_the_kernel_error() {
    let mut buf = [0u8; 8];
    // SAFETY: `buf` is 8 writable bytes; the kernel refuses the descriptor.
    let r = unsafe {
        sys::syscall3(
            nr::READ,
            util::not_open().into(),
            buf.as_mut_ptr().into(),
            buf.len().into(),
        )
    };
    assert_eq!(r, Err(Errno::EBADF));
}

#[test]
fn syscall5_polls_a_ready_eventfd() -> Result<(), Errno> {
    use iofd::sys::event::{EventFdFlags, eventfd_write, eventfd2};
    let efd = eventfd2(0, EventFdFlags::CLOEXEC | EventFdFlags::NONBLOCK)?;
    eventfd_write(efd.as_fd(), 1)?;
    let mut fds = [PollFd::new(efd.as_fd(), Events::IN)];
    let timeout = Timespec::ZERO;
    // SAFETY: `fds` is one writable `struct pollfd` and `timeout` a live
    // `timespec`, both for the call; a NULL sigmask is allowed.
    let n = unsafe {
        sys::syscall5(
            nr::PPOLL,
            fds.as_mut_ptr().into(),
            1usize.into(),
            (&timeout).into(),
            ArgReg::NULL,
            8usize.into(),
        )
    }?;
    assert_eq!(n, 1);
    assert_eq!(fds[0].revents(), Events::IN);
    Ok(())
}

#[test]
fn syscall6_scatters_a_positioned_read() -> Result<(), Errno> {
    let fd = memfd();
    sys::io::pwrite(fd.as_fd(), b"abcdef", 0)?;
    let (mut a, mut b) = ([0u8; 2], [0u8; 3]);
    let mut bufs = [IoSliceMut::new(&mut a), IoSliceMut::new(&mut b)];
    // SAFETY: `IoSliceMut` is ABI-compatible with `struct iovec`; both
    // buffers are writable and live for the call.
    let n = unsafe {
        sys::syscall6(
            nr::PREADV2,
            fd.as_fd().into(),
            bufs.as_mut_ptr().into(),
            bufs.len().into(),
            1u64.into(),
            0u32.into(),
            0u32.into(),
        )
    }?;
    assert_eq!((n, a, b), (5, *b"bc", *b"def"));
    Ok(())
}
