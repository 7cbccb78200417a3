//! `sys::file`: close, fcntl, dup3, ftruncate, fstat, openat.

use crate::util;

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, IntoRawFd, OwnedFd};

use iofd::sys::Errno;
use iofd::sys::file::{self, DupFlags, FdFlags, OpenFlags, Seals, Stat, StatusFlags};
use iofd::sys::mem::{MemFdFlags, memfd_create};

fn memfd(flags: MemFdFlags) -> OwnedFd {
    memfd_create(c"iofd-sys-file", flags).expect("memfd_create")
}

#[test]
fn close_releases_the_descriptor() -> Result<(), Errno> {
    let (r, w) = std::io::pipe().expect("pipe");
    let raw = OwnedFd::from(w).into_raw_fd();
    assert!(util::is_open(raw));
    // SAFETY: `raw` came from `into_raw_fd` and is owned here.
    unsafe { file::close(raw) }?;
    // The only writer is gone: the reader sees end of file.
    assert_eq!(iofd::sys::io::read(r.as_fd(), &mut [0u8; 1])?, 0);
    Ok(())
}

#[test]
fn close_of_an_unopened_number_is_ebadf() {
    // SAFETY: 900_000 is never open in this process, so no one's descriptor
    // is closed.
    assert_eq!(unsafe { file::close(900_000) }, Err(Errno::EBADF));
}

#[test]
fn fd_flags_toggle() -> Result<(), Errno> {
    let fd = memfd(MemFdFlags::CLOEXEC);
    assert!(file::fcntl_getfd(fd.as_fd())?.contains(FdFlags::CLOEXEC));
    file::fcntl_setfd(fd.as_fd(), FdFlags::empty())?;
    assert!(!file::fcntl_getfd(fd.as_fd())?.contains(FdFlags::CLOEXEC));
    file::fcntl_setfd(fd.as_fd(), FdFlags::CLOEXEC)?;
    assert!(file::fcntl_getfd(fd.as_fd())?.contains(FdFlags::CLOEXEC));
    Ok(())
}

#[test]
fn status_flags_toggle() -> Result<(), Errno> {
    let fd = memfd(MemFdFlags::CLOEXEC);
    let fl = file::fcntl_getfl(fd.as_fd())?;
    assert!(fl.contains(StatusFlags::RDWR));
    assert!(!fl.contains(StatusFlags::NONBLOCK));
    file::fcntl_setfl(fd.as_fd(), fl | StatusFlags::NONBLOCK | StatusFlags::APPEND)?;
    let fl2 = file::fcntl_getfl(fd.as_fd())?;
    assert!(fl2.contains(StatusFlags::NONBLOCK | StatusFlags::APPEND));
    assert_eq!(util::fdinfo_flags(&fd) & 0o4000, 0o4000);
    file::fcntl_setfl(fd.as_fd(), fl)?;
    assert!(!file::fcntl_getfl(fd.as_fd())?.contains(StatusFlags::NONBLOCK));
    Ok(())
}

#[test]
fn fcntl_errors() {
    assert_eq!(file::fcntl_getfd(util::not_open()), Err(Errno::EBADF));
    assert_eq!(
        file::fcntl_setfd(util::not_open(), FdFlags::CLOEXEC),
        Err(Errno::EBADF)
    );
    assert_eq!(file::fcntl_getfl(util::not_open()), Err(Errno::EBADF));
    assert_eq!(
        file::fcntl_setfl(util::not_open(), StatusFlags::NONBLOCK),
        Err(Errno::EBADF)
    );
    assert_eq!(
        file::fcntl_dupfd_cloexec(util::not_open(), 0).map(drop),
        Err(Errno::EBADF)
    );
    let fd = memfd(MemFdFlags::CLOEXEC);
    assert_eq!(
        file::fcntl_dupfd_cloexec(fd.as_fd(), -1).map(drop),
        Err(Errno::EINVAL)
    );
    // O_DIRECT is not available on a memfd (tmpfs/shmem).
    assert_eq!(
        file::fcntl_setfl(fd.as_fd(), StatusFlags::RDWR | StatusFlags::DIRECT),
        Err(Errno::EINVAL)
    );
}

#[test]
fn dupfd_cloexec_gives_an_independent_close_on_exec_descriptor() -> Result<(), Errno> {
    let fd = memfd(MemFdFlags::empty());
    assert!(!file::fcntl_getfd(fd.as_fd())?.contains(FdFlags::CLOEXEC));
    let dup = file::fcntl_dupfd_cloexec(fd.as_fd(), 100)?;
    assert!(dup.as_raw_fd() >= 100);
    assert!(file::fcntl_getfd(dup.as_fd())?.contains(FdFlags::CLOEXEC));
    // Same open file: a write through one is seen through the other.
    iofd::sys::io::write(dup.as_fd(), b"shared")?;
    assert_eq!(file::fstat(fd.as_fd())?.size, 6);
    Ok(())
}

#[test]
fn seals_round_trip() -> Result<(), Errno> {
    let fd = memfd(MemFdFlags::CLOEXEC | MemFdFlags::ALLOW_SEALING);
    assert_eq!(file::fcntl_get_seals(fd.as_fd())?, Seals::empty());
    file::fcntl_add_seals(fd.as_fd(), Seals::GROW | Seals::SHRINK)?;
    assert_eq!(
        file::fcntl_get_seals(fd.as_fd())?,
        Seals::GROW | Seals::SHRINK
    );
    assert_eq!(file::ftruncate(fd.as_fd(), 10), Err(Errno::EPERM));
    file::fcntl_add_seals(fd.as_fd(), Seals::SEAL)?;
    assert_eq!(
        file::fcntl_add_seals(fd.as_fd(), Seals::WRITE),
        Err(Errno::EPERM)
    );
    Ok(())
}

#[test]
fn seal_errors() -> Result<(), Errno> {
    // Without MFD_ALLOW_SEALING the file starts sealed with F_SEAL_SEAL.
    let fd = memfd(MemFdFlags::CLOEXEC);
    assert_eq!(file::fcntl_get_seals(fd.as_fd())?, Seals::SEAL);
    assert_eq!(
        file::fcntl_add_seals(fd.as_fd(), Seals::GROW),
        Err(Errno::EPERM)
    );
    // A pipe is not sealable at all.
    let (r, w) = std::io::pipe().expect("pipe");
    assert_eq!(file::fcntl_get_seals(r.as_fd()), Err(Errno::EINVAL));
    assert_eq!(
        file::fcntl_add_seals(w.as_fd(), Seals::GROW),
        Err(Errno::EINVAL)
    );
    // The kernel checks for write access before the file type.
    assert_eq!(
        file::fcntl_add_seals(r.as_fd(), Seals::GROW),
        Err(Errno::EPERM)
    );
    assert_eq!(file::fcntl_get_seals(util::not_open()), Err(Errno::EBADF));
    Ok(())
}

#[test]
fn dup3_replaces_the_target_and_keeps_its_number() -> Result<(), Errno> {
    let a = memfd(MemFdFlags::CLOEXEC);
    let mut b = memfd(MemFdFlags::CLOEXEC);
    iofd::sys::io::write(a.as_fd(), b"from a")?;
    let b_raw = b.as_raw_fd();
    file::dup3(a.as_fd(), &mut b, DupFlags::empty())?;
    assert_eq!(b.as_raw_fd(), b_raw);
    assert_eq!(file::fstat(b.as_fd())?.ino, file::fstat(a.as_fd())?.ino);
    assert!(!file::fcntl_getfd(b.as_fd())?.contains(FdFlags::CLOEXEC));
    file::dup3(a.as_fd(), &mut b, DupFlags::CLOEXEC)?;
    assert!(file::fcntl_getfd(b.as_fd())?.contains(FdFlags::CLOEXEC));
    Ok(())
}

#[test]
fn dup3_errors() -> Result<(), Errno> {
    let mut a = memfd(MemFdFlags::CLOEXEC);
    let same = a.try_clone().expect("dup"); // a second number...
    // ...but dup3 onto the very same number is EINVAL.
    // SAFETY: `a` outlives the borrow and is not closed meanwhile.
    let a_borrow = unsafe { BorrowedFd::borrow_raw(a.as_raw_fd()) };
    assert_eq!(
        file::dup3(a_borrow, &mut a, DupFlags::empty()),
        Err(Errno::EINVAL)
    );
    let mut b = memfd(MemFdFlags::CLOEXEC);
    assert_eq!(
        file::dup3(same.as_fd(), &mut b, DupFlags::from_bits_retain(0x1)),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        file::dup3(util::not_open(), &mut b, DupFlags::empty()),
        Err(Errno::EBADF)
    );
    Ok(())
}

#[test]
fn ftruncate_and_fstat() -> Result<(), Errno> {
    let fd = memfd(MemFdFlags::CLOEXEC);
    let st: Stat = file::fstat(fd.as_fd())?;
    assert_eq!(st.size, 0);
    assert_eq!(st.file_type(), Stat::S_IFREG);
    file::ftruncate(fd.as_fd(), 4096 * 3)?;
    assert_eq!(file::fstat(fd.as_fd())?.size, 4096 * 3);
    file::ftruncate(fd.as_fd(), 7)?;
    assert_eq!(file::fstat(fd.as_fd())?.size, 7);
    let (r, _w) = std::io::pipe().expect("pipe");
    assert_eq!(file::fstat(r.as_fd())?.file_type(), Stat::S_IFIFO);
    Ok(())
}

#[test]
fn ftruncate_and_fstat_errors() {
    let fd = memfd(MemFdFlags::CLOEXEC);
    assert_eq!(file::ftruncate(fd.as_fd(), u64::MAX), Err(Errno::EINVAL));
    let (r, _w) = std::io::pipe().expect("pipe");
    assert_eq!(file::ftruncate(r.as_fd(), 1), Err(Errno::EINVAL));
    assert_eq!(file::ftruncate(util::not_open(), 1), Err(Errno::EBADF));
    assert_eq!(file::fstat(util::not_open()), Err(Errno::EBADF));
}

#[test]
fn openat_with_o_path_gives_an_inert_descriptor() -> Result<(), Errno> {
    let fd = file::openat(
        None,
        c"/",
        OpenFlags::PATH | OpenFlags::DIRECTORY | OpenFlags::CLOEXEC,
        0,
    )?;
    assert!(file::fcntl_getfd(fd.as_fd())?.contains(FdFlags::CLOEXEC));
    assert_eq!(
        iofd::sys::io::read(fd.as_fd(), &mut [0u8; 1]),
        Err(Errno::EBADF)
    );
    // Relative to a directory descriptor.
    let proc_self = file::openat(
        None,
        c"/proc/self",
        OpenFlags::DIRECTORY | OpenFlags::CLOEXEC,
        0,
    )?;
    let status = file::openat(Some(proc_self.as_fd()), c"status", OpenFlags::CLOEXEC, 0)?;
    let mut buf = [0u8; 5];
    assert_eq!(iofd::sys::io::read(status.as_fd(), &mut buf)?, 5);
    assert_eq!(&buf, b"Name:");
    Ok(())
}

#[test]
fn openat_errors() {
    let flags = OpenFlags::CLOEXEC;
    assert_eq!(
        file::openat(None, c"/nonexistent/iofd", flags, 0).map(drop),
        Err(Errno::ENOENT)
    );
    assert_eq!(
        file::openat(None, c"/proc/self/status", flags | OpenFlags::DIRECTORY, 0).map(drop),
        Err(Errno::ENOTDIR)
    );
    assert_eq!(
        file::openat(Some(util::not_open()), c"relative", flags, 0).map(drop),
        Err(Errno::EBADF)
    );
}
