//! `UdpSocket`.

use std::net::SocketAddr;
use std::os::fd::OwnedFd;

use crate::error::{Error, Result};
use crate::fd::{Fd, handle_impls};
use crate::sys::net::{self, MsgFlags, Protocol, SocketType};

use super::{family, from_std, local_addr, peer_addr, recv, send, socket};

/// A UDP socket.
///
/// ```
/// use iofd::UdpSocket;
///
/// let a = UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
/// let b = UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
/// a.send_to(b"hi", b.local_addr()?)?;
/// let mut buf = [0; 8];
/// let (n, from) = b.recv_from(&mut buf)?;
/// assert_eq!((&buf[..n], from), (&b"hi"[..], a.local_addr()?));
/// # Ok::<(), iofd::Error>(())
/// ```
#[derive(Debug)]
pub struct UdpSocket {
    fd: Fd,
}

impl UdpSocket {
    /// Binds `addr` (port 0: the kernel chooses).
    ///
    /// # Errors
    ///
    /// [`Error::Os`] with `EADDRINUSE`, `EADDRNOTAVAIL`, `EACCES`,
    /// `EMFILE`/`ENFILE`.
    pub fn bind(addr: SocketAddr) -> Result<UdpSocket> {
        let fd = socket(family(&addr), SocketType::DGRAM, Protocol::UDP)?;
        net::bind(fd.borrow()?, &addr)?;
        Ok(UdpSocket { fd })
    }

    /// Sets the default peer: [`send`](UdpSocket::send) goes there and
    /// only its datagrams are received.
    ///
    /// # Errors
    ///
    /// `ENETUNREACH`; `EAFNOSUPPORT` for another family;
    /// [`Error::Closed`].
    pub fn connect(&self, addr: SocketAddr) -> Result<()> {
        Ok(net::connect(self.fd.borrow()?, &addr)?)
    }

    /// Sends one datagram to `addr`.
    ///
    /// # Errors
    ///
    /// [`Error::WouldBlock`] when the send buffer is full; `EMSGSIZE` for
    /// a datagram too big; `ECONNREFUSED` reported for an earlier datagram
    /// to a closed port; [`Error::Closed`].
    pub fn send_to(&self, buf: &[u8], addr: SocketAddr) -> Result<usize> {
        Ok(net::sendto(
            self.fd.borrow()?,
            buf,
            MsgFlags::NOSIGNAL,
            Some(&addr),
        )?)
    }

    /// Receives one datagram and its sender; a datagram longer than `buf`
    /// is cut to fit.
    ///
    /// # Errors
    ///
    /// [`Error::WouldBlock`] when none waits; [`Error::Closed`].
    pub fn recv_from(&self, buf: &mut [u8]) -> Result<(usize, SocketAddr)> {
        match net::recvfrom(self.fd.borrow()?, buf, MsgFlags::empty())? {
            (n, Some(addr)) => Ok((n, addr)),
            (_, None) => Err(Error::InvalidParam("a datagram from no IP address")),
        }
    }

    /// Sends one datagram to the connected peer.
    ///
    /// # Errors
    ///
    /// `EDESTADDRREQ` when not connected; as [`send_to`](UdpSocket::send_to).
    pub fn send(&self, buf: &[u8]) -> Result<usize> {
        send(&self.fd, buf)
    }

    /// Receives one datagram from the connected peer.
    ///
    /// # Errors
    ///
    /// As [`recv_from`](UdpSocket::recv_from).
    pub fn recv(&self, buf: &mut [u8]) -> Result<usize> {
        recv(&self.fd, buf)
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`].
    pub fn local_addr(&self) -> Result<SocketAddr> {
        local_addr(self.fd.borrow()?)
    }

    /// The connected peer's address.
    ///
    /// # Errors
    ///
    /// `ENOTCONN`; [`Error::Closed`].
    pub fn peer_addr(&self) -> Result<SocketAddr> {
        peer_addr(self.fd.borrow()?)
    }

    fn from_fd(fd: Fd) -> UdpSocket {
        UdpSocket { fd }
    }
}

handle_impls!(UdpSocket, UdpSocket::from_fd);

impl From<std::net::UdpSocket> for UdpSocket {
    /// Takes std's socket, switched to non-blocking.
    fn from(s: std::net::UdpSocket) -> UdpSocket {
        UdpSocket::from_fd(from_std(OwnedFd::from(s)))
    }
}

impl From<UdpSocket> for std::net::UdpSocket {
    /// Hands the socket to std, still non-blocking.
    fn from(s: UdpSocket) -> std::net::UdpSocket {
        std::net::UdpSocket::from(OwnedFd::from(s))
    }
}

socket_methods!(UdpSocket, buffers);
