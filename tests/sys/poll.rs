//! `sys::poll`: epoll and ppoll against eventfds and pipes.

use crate::util;

use std::os::fd::AsFd;
use std::time::Duration;

use iofd::sys::Errno;
use iofd::sys::event::{EventFdFlags, eventfd_write, eventfd2};
use iofd::sys::poll::{
    EpollEvent, EpollFlags, EpollOp, Events, PollFd, epoll_create1, epoll_ctl, epoll_wait, ppoll,
};

fn eventfd() -> std::os::fd::OwnedFd {
    eventfd2(0, EventFdFlags::CLOEXEC | EventFdFlags::NONBLOCK).expect("eventfd2")
}

#[test]
fn epoll_reports_a_ready_eventfd_with_its_tag() -> Result<(), Errno> {
    let ep = epoll_create1(EpollFlags::CLOEXEC)?;
    let efd = eventfd();
    epoll_ctl(
        ep.as_fd(),
        EpollOp::Add,
        efd.as_fd(),
        EpollEvent::new(Events::IN, 77),
    )?;
    let mut events = [EpollEvent::default(); 4];
    assert_eq!(
        epoll_wait(ep.as_fd(), &mut events, Some(Duration::ZERO))?,
        0
    );
    eventfd_write(efd.as_fd(), 1)?;
    assert_eq!(
        epoll_wait(ep.as_fd(), &mut events, Some(Duration::from_secs(5)))?,
        1
    );
    assert_eq!(events[0].data(), 77);
    assert!(events[0].events().contains(Events::IN));
    epoll_ctl(
        ep.as_fd(),
        EpollOp::Mod,
        efd.as_fd(),
        EpollEvent::new(Events::OUT, 78),
    )?;
    assert_eq!(epoll_wait(ep.as_fd(), &mut events, None)?, 1);
    assert_eq!(events[0].data(), 78);
    epoll_ctl(ep.as_fd(), EpollOp::Del, efd.as_fd(), EpollEvent::default())?;
    assert_eq!(
        epoll_wait(ep.as_fd(), &mut events, Some(Duration::ZERO))?,
        0
    );
    Ok(())
}

#[test]
fn epoll_errors() -> Result<(), Errno> {
    assert_eq!(
        epoll_create1(EpollFlags::from_bits_retain(1)).map(drop),
        Err(Errno::EINVAL)
    );
    let ep = epoll_create1(EpollFlags::CLOEXEC)?;
    let efd = eventfd();
    let ev = EpollEvent::new(Events::IN, 0);
    epoll_ctl(ep.as_fd(), EpollOp::Add, efd.as_fd(), ev)?;
    assert_eq!(
        epoll_ctl(ep.as_fd(), EpollOp::Add, efd.as_fd(), ev),
        Err(Errno::EEXIST)
    );
    let other = eventfd();
    assert_eq!(
        epoll_ctl(ep.as_fd(), EpollOp::Del, other.as_fd(), ev),
        Err(Errno::ENOENT)
    );
    assert_eq!(
        epoll_ctl(ep.as_fd(), EpollOp::Add, ep.as_fd(), ev),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        epoll_ctl(ep.as_fd(), EpollOp::Add, util::not_open(), ev),
        Err(Errno::EBADF)
    );
    // A regular file cannot be polled.
    let mem = iofd::sys::mem::memfd_create(c"poll", iofd::sys::mem::MemFdFlags::CLOEXEC)?;
    assert_eq!(
        epoll_ctl(ep.as_fd(), EpollOp::Add, mem.as_fd(), ev),
        Err(Errno::EPERM)
    );
    assert_eq!(epoll_wait(ep.as_fd(), &mut [], None), Err(Errno::EINVAL));
    assert_eq!(
        epoll_wait(
            efd.as_fd(),
            &mut [EpollEvent::default()],
            Some(Duration::ZERO)
        ),
        Err(Errno::EINVAL)
    );
    Ok(())
}

#[test]
fn ppoll_reports_revents() -> Result<(), Errno> {
    let a = eventfd();
    let b = eventfd();
    eventfd_write(b.as_fd(), 3)?;
    let mut fds = [
        PollFd::new(a.as_fd(), Events::IN),
        PollFd::new(b.as_fd(), Events::IN),
    ];
    assert_eq!(ppoll(&mut fds, Some(Duration::from_millis(1)))?, 1);
    assert!(fds[0].revents().is_empty());
    assert!(fds[1].revents().contains(Events::IN));
    Ok(())
}

#[test]
fn ppoll_errors() {
    let huge = Duration::from_secs(u64::MAX);
    let a = eventfd();
    let mut fds = [PollFd::new(a.as_fd(), Events::IN)];
    assert_eq!(ppoll(&mut fds, Some(huge)), Err(Errno::EINVAL));
    // An unopened number is reported in revents as POLLNVAL, not an error.
    let mut bad = [PollFd::new(util::not_open(), Events::IN)];
    assert_eq!(ppoll(&mut bad, Some(Duration::ZERO)), Ok(1));
    assert_eq!(bad[0].revents(), Events::NVAL);
}
