//! Sockets as handles: TCP listeners and streams, UDP sockets, Unix-domain
//! stream listeners and streams, named as `std::net` and
//! `std::os::unix::net` name them.
//!
//! Like every handle here they are non-blocking and close-on-exec from the
//! start (a socket taken from std is switched to non-blocking), close
//! atomically and idempotently, and convert both ways with their std
//! counterparts and `OwnedFd`. Their syscall methods never block: where
//! std would wait they return [`Error::WouldBlock`](crate::Error::WouldBlock);
//! waiting is the ring's job (the socket operations in
//! [`ring::ops`](crate::ring::ops)). Sends pass `MSG_NOSIGNAL`, so a
//! broken connection is `Os(EPIPE)`, never a `SIGPIPE`. No method
//! allocates: addresses are encoded on the stack.

use std::net::{Shutdown, SocketAddr};
use std::os::fd::BorrowedFd;

use crate::error::{Error, Result};
use crate::sys::Errno;
use crate::sys::net::{
    self, AddressFamily, MsgFlags, Protocol, SockAddr, SockOpt, SocketFlags, SocketType,
};
use crate::sys::poll::{Events, PollFd, ppoll};

use super::Fd;

/// The methods every socket type has: the pending error, and with
/// `buffers`, the buffer sizes.
macro_rules! socket_methods {
    ($ty:ident) => {
        impl $ty {
            /// The pending socket error, cleared by reading it
            /// (`SO_ERROR`).
            ///
            /// # Errors
            ///
            /// [`Error::Closed`](crate::Error::Closed).
            pub fn take_error(&self) -> crate::Result<Option<crate::Error>> {
                super::take_error(&self.fd)
            }
        }
    };
    ($ty:ident, buffers) => {
        socket_methods!($ty);

        impl $ty {
            /// `SO_RCVBUF`: the receive buffer's size (the kernel doubles
            /// what it is given).
            ///
            /// # Errors
            ///
            /// [`Error::InvalidParam`](crate::Error::InvalidParam) above
            /// `i32::MAX`; [`Error::Closed`](crate::Error::Closed).
            pub fn set_recv_buffer_size(&self, bytes: usize) -> crate::Result<()> {
                super::set_size(&self.fd, crate::sys::net::SockOpt::RCVBUF, bytes)
            }

            /// The receive buffer's size.
            ///
            /// # Errors
            ///
            /// [`Error::Closed`](crate::Error::Closed).
            pub fn recv_buffer_size(&self) -> crate::Result<usize> {
                super::size(&self.fd, crate::sys::net::SockOpt::RCVBUF)
            }

            /// `SO_SNDBUF`: the send buffer's size (the kernel doubles
            /// what it is given).
            ///
            /// # Errors
            ///
            /// As [`set_recv_buffer_size`](Self::set_recv_buffer_size).
            pub fn set_send_buffer_size(&self, bytes: usize) -> crate::Result<()> {
                super::set_size(&self.fd, crate::sys::net::SockOpt::SNDBUF, bytes)
            }

            /// The send buffer's size.
            ///
            /// # Errors
            ///
            /// [`Error::Closed`](crate::Error::Closed).
            pub fn send_buffer_size(&self) -> crate::Result<usize> {
                super::size(&self.fd, crate::sys::net::SockOpt::SNDBUF)
            }
        }
    };
}

mod tcp;
mod udp;
mod unix;

pub use tcp::{ListenOptions, TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixListener, UnixStream};

/// The backlog of a listener made without [`ListenOptions::backlog`]:
/// generous for a server (the kernel caps it at `net.core.somaxconn`,
/// 4096 by default).
const DEFAULT_BACKLOG: i32 = 1024;

/// The address family of `addr`.
fn family(addr: &SocketAddr) -> AddressFamily {
    match addr {
        SocketAddr::V4(_) => AddressFamily::INET,
        SocketAddr::V6(_) => AddressFamily::INET6,
    }
}

/// A new socket, non-blocking and close-on-exec.
fn socket(family: AddressFamily, ty: SocketType, protocol: Protocol) -> Result<Fd> {
    let flags = SocketFlags::NONBLOCK | SocketFlags::CLOEXEC;
    Ok(Fd::from(net::socket(family, ty, flags, protocol)?))
}

/// Connects `fd` (non-blocking) to `addr`, waiting for the handshake to
/// finish: a non-blocking connect answers `EINPROGRESS`, and then the
/// socket turns writable with the outcome in `SO_ERROR`.
fn connect_and_wait(fd: &Fd, addr: &SockAddr) -> Result<()> {
    match net::connect_addr(fd.borrow()?, addr) {
        Ok(()) => return Ok(()),
        Err(Errno::EINPROGRESS) => {}
        Err(e) => return Err(e.into()),
    }
    let b = fd.borrow()?;
    loop {
        let mut fds = [PollFd::new(b, Events::OUT)];
        match ppoll(&mut fds, None) {
            Ok(_) => break,
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    match net::getsockopt(b, SockOpt::ERROR)? {
        0 => Ok(()),
        e => Err(Errno::from_raw(e)
            .map(Error::from)
            .unwrap_or(Error::Os(Errno::EIO))),
    }
}

/// The IP address `fd` is bound to (`getsockname`).
fn local_addr(fd: BorrowedFd<'_>) -> Result<SocketAddr> {
    ip_addr(net::getsockname(fd)?)
}

/// The IP address of `fd`'s peer (`getpeername`).
fn peer_addr(fd: BorrowedFd<'_>) -> Result<SocketAddr> {
    ip_addr(net::getpeername(fd)?)
}

/// `a` as an IP socket address.
fn ip_addr(a: SockAddr) -> Result<SocketAddr> {
    a.as_socket_addr()
        .ok_or(Error::InvalidParam("not an IPv4 or IPv6 address"))
}

/// An integer option as a flag.
fn flag(fd: &Fd, opt: SockOpt) -> Result<bool> {
    Ok(net::getsockopt(fd.borrow()?, opt)? != 0)
}

/// Sets an integer option from a flag.
fn set_flag(fd: &Fd, opt: SockOpt, on: bool) -> Result<()> {
    Ok(net::setsockopt(fd.borrow()?, opt, i32::from(on))?)
}

/// A buffer size option (`SO_RCVBUF`, `SO_SNDBUF`).
fn size(fd: &Fd, opt: SockOpt) -> Result<usize> {
    Ok(usize::try_from(net::getsockopt(fd.borrow()?, opt)?).unwrap_or(0))
}

/// Sets a buffer size option; the kernel doubles what it is given.
fn set_size(fd: &Fd, opt: SockOpt, bytes: usize) -> Result<()> {
    let v = i32::try_from(bytes).map_err(|_| Error::InvalidParam("buffer size over i32::MAX"))?;
    Ok(net::setsockopt(fd.borrow()?, opt, v)?)
}

/// `send(fd, buf, MSG_NOSIGNAL)`.
fn send(fd: &Fd, buf: &[u8]) -> Result<usize> {
    Ok(net::sendto(fd.borrow()?, buf, MsgFlags::NOSIGNAL, None)?)
}

/// `recv(fd, buf, 0)`.
fn recv(fd: &Fd, buf: &mut [u8]) -> Result<usize> {
    Ok(net::recvfrom(fd.borrow()?, buf, MsgFlags::empty())?.0)
}

/// `shutdown(fd, how)`.
fn shutdown(fd: &Fd, how: Shutdown) -> Result<()> {
    Ok(net::shutdown(fd.borrow()?, how)?)
}

/// The pending socket error (`SO_ERROR`, cleared by reading it).
fn take_error(fd: &Fd) -> Result<Option<Error>> {
    Ok(match net::getsockopt(fd.borrow()?, SockOpt::ERROR)? {
        0 => None,
        e => Some(Errno::from_raw(e).map_or(Error::Os(Errno::EIO), Error::from)),
    })
}

/// A socket taken from std, made non-blocking like every handle (std's
/// sockets are blocking unless told otherwise; close-on-exec they already
/// are).
fn from_std(fd: std::os::fd::OwnedFd) -> Fd {
    let fd = Fd::from(fd);
    // A descriptor the caller handed over is a socket: `F_SETFL` cannot
    // fail on it.
    let _ = fd.set_nonblocking(true);
    fd
}
