//! Sockets: `socket`, `socketpair`, `bind`, `listen`, `accept4`,
//! `connect`, `shutdown`, `getsockname`, `getpeername`, integer
//! `setsockopt`/`getsockopt`, and the send and receive
//! calls, single (`sendto`, `recvfrom`, `sendmsg`, `recvmsg`) and batched
//! (`sendmmsg`, `recvmmsg`).
//!
//! Addresses cross the API as [`std::net::SocketAddr`]; [`SockAddr`] is the
//! kernel's encoding of one (a `struct sockaddr_storage` and its length),
//! which the batched calls need because their headers point at it. The
//! submodules hold the address encoding, the single-message calls and the
//! batched ones; everything is re-exported here.
//!
//! # Safety
//!
//! The calls in this file pass the kernel only a [`SockAddr`] (128 always
//! initialised bytes) with its true length or capacity, a `u32` length or
//! an `i32` option value, all alive for the length of the call; a length
//! the kernel reports is clamped to the capacity before use.
#![expect(
    unsafe_code,
    reason = "socket calls take live addresses and return new descriptors"
)]

mod addr;
mod mmsg;
mod msg;
mod opt;

use core::ptr;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{BorrowedFd, OwnedFd};

use bitflags::bitflags;

pub use addr::SockAddr;
pub use mmsg::{MMsgHdr, MMsgHdrMut, recvmmsg, sendmmsg};
pub use msg::{RecvMsg, recvfrom, recvmsg, sendmsg, sendto};
pub use opt::{SockOpt, bind_addr, connect_addr, getpeername, getsockopt, setsockopt, socketpair};

use super::{Errno, nr, owned_fd, syscall2, syscall3, syscall4, syscall5};

const SOL_SOCKET: usize = 1;
const SO_REUSEADDR: usize = 2;

/// An address family (`AF_*`), the first argument of `socket`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AddressFamily(u16);

impl AddressFamily {
    /// `AF_UNSPEC`: no address (an empty [`SockAddr`]).
    pub const UNSPEC: AddressFamily = AddressFamily(0);
    /// `AF_UNIX`: local (Unix-domain) sockets.
    pub const UNIX: AddressFamily = AddressFamily(1);
    /// `AF_INET`: IPv4.
    pub const INET: AddressFamily = AddressFamily(2);
    /// `AF_INET6`: IPv6.
    pub const INET6: AddressFamily = AddressFamily(10);

    /// The family with raw value `raw`, named here or not.
    #[inline]
    pub const fn from_raw(raw: u16) -> AddressFamily {
        AddressFamily(raw)
    }

    /// The raw `AF_*` value.
    #[inline]
    pub const fn raw(self) -> u16 {
        self.0
    }
}

/// A socket type (`SOCK_*`), the second argument of `socket`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SocketType(u32);

impl SocketType {
    /// `SOCK_STREAM`: a reliable byte stream (TCP for IP).
    pub const STREAM: SocketType = SocketType(1);
    /// `SOCK_DGRAM`: datagrams (UDP for IP).
    pub const DGRAM: SocketType = SocketType(2);
    /// `SOCK_RAW`: raw network-protocol access.
    pub const RAW: SocketType = SocketType(3);
    /// `SOCK_SEQPACKET`: reliable, ordered datagrams.
    pub const SEQPACKET: SocketType = SocketType(5);

    /// The type with raw value `raw`, named here or not.
    #[inline]
    pub const fn from_raw(raw: u32) -> SocketType {
        SocketType(raw)
    }

    /// The raw `SOCK_*` value.
    #[inline]
    pub const fn raw(self) -> u32 {
        self.0
    }
}

/// A protocol number (`IPPROTO_*`), the third argument of `socket`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Protocol(u32);

impl Protocol {
    /// `0`: the default protocol of the family and type.
    pub const DEFAULT: Protocol = Protocol(0);
    /// `IPPROTO_TCP`.
    pub const TCP: Protocol = Protocol(6);
    /// `IPPROTO_UDP`.
    pub const UDP: Protocol = Protocol(17);

    /// The protocol with raw value `raw`, named here or not.
    #[inline]
    pub const fn from_raw(raw: u32) -> Protocol {
        Protocol(raw)
    }

    /// The raw protocol number.
    #[inline]
    pub const fn raw(self) -> u32 {
        self.0
    }
}

bitflags! {
    /// Flags of a new socket, for `socket` and `accept4` (`SOCK_*`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct SocketFlags: u32 {
        /// `SOCK_NONBLOCK`: operations fail with `EAGAIN` instead of
        /// blocking.
        const NONBLOCK = 0o4000;
        /// `SOCK_CLOEXEC`: the descriptor is close-on-exec.
        const CLOEXEC = 0o2000000;
    }
}

bitflags! {
    /// Per-call flags of the send and receive calls, and the flags
    /// `recvmsg` reports (`MSG_*`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct MsgFlags: u32 {
        /// `MSG_OOB`: out-of-band data.
        const OOB = 0x1;
        /// `MSG_PEEK`: receive without removing the data from the queue.
        const PEEK = 0x2;
        /// `MSG_DONTROUTE`: send only to directly connected hosts.
        const DONTROUTE = 0x4;
        /// `MSG_CTRUNC` (reported): control data was truncated.
        const CTRUNC = 0x8;
        /// `MSG_TRUNC`: (reported) the datagram was longer than the buffer;
        /// (requested) return the real length anyway.
        const TRUNC = 0x20;
        /// `MSG_DONTWAIT`: this call does not block.
        const DONTWAIT = 0x40;
        /// `MSG_EOR`: end of record (`SOCK_SEQPACKET`).
        const EOR = 0x80;
        /// `MSG_WAITALL`: block until the whole buffer is filled.
        const WAITALL = 0x100;
        /// `MSG_CONFIRM`: the link layer made forward progress.
        const CONFIRM = 0x800;
        /// `MSG_ERRQUEUE`: receive from the error queue.
        const ERRQUEUE = 0x2000;
        /// `MSG_NOSIGNAL`: a broken stream returns `EPIPE` without raising
        /// `SIGPIPE`.
        const NOSIGNAL = 0x4000;
        /// `MSG_MORE`: more data follows; hold this send back.
        const MORE = 0x8000;
        /// `MSG_WAITFORONE` (`recvmmsg`): turn on `MSG_DONTWAIT` after the
        /// first message.
        const WAITFORONE = 0x10000;
        /// `MSG_CMSG_CLOEXEC`: descriptors received over `SCM_RIGHTS` are
        /// close-on-exec.
        const CMSG_CLOEXEC = 0x4000_0000;
        // Keep bits this crate does not name.
        const _ = !0;
    }
}

/// `socket(family, type | flags, protocol)` — creates a socket.
///
/// # Errors
///
/// `EAFNOSUPPORT` for an unknown family, `EINVAL` for an unknown type or
/// flag, `EPROTONOSUPPORT` for a protocol the family and type lack,
/// `EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`, `EACCES`.
///
/// See [socket(2)](https://man7.org/linux/man-pages/man2/socket.2.html).
#[inline]
pub fn socket(
    family: AddressFamily,
    ty: SocketType,
    flags: SocketFlags,
    protocol: Protocol,
) -> Result<OwnedFd, Errno> {
    let ty = ty.0 | flags.bits();
    // SAFETY: socket reads no memory and returns a new descriptor.
    unsafe {
        let r = syscall3(nr::SOCKET, family.0.into(), ty.into(), protocol.0.into())?;
        Ok(owned_fd(r))
    }
}

/// `bind(fd, addr, addrlen)` — gives a socket its local address.
///
/// # Errors
///
/// `EADDRINUSE` for an address in use, `EINVAL` for a socket already bound,
/// `EAFNOSUPPORT` for an address of another family, `EADDRNOTAVAIL` for an
/// address not local, `EACCES` for a privileged port, `ENOTSOCK`, `EBADF`.
///
/// See [bind(2)](https://man7.org/linux/man-pages/man2/bind.2.html).
#[inline]
pub fn bind(fd: BorrowedFd<'_>, addr: &SocketAddr) -> Result<(), Errno> {
    let addr = SockAddr::from(*addr);
    let (p, len) = addr.arg();
    // SAFETY: `p` points at `len` initialised bytes of `addr`, alive until
    // the end of the function.
    unsafe { syscall3(nr::BIND, fd.into(), p.into(), len.into()) }.map(drop)
}

/// `listen(fd, backlog)` — makes a stream socket accept connections.
///
/// # Errors
///
/// `EOPNOTSUPP` for a socket type that does not listen (e.g. UDP),
/// `EADDRINUSE` when an unbound socket finds no free port, `ENOTSOCK`,
/// `EBADF`.
///
/// See [listen(2)](https://man7.org/linux/man-pages/man2/listen.2.html).
#[inline]
pub fn listen(fd: BorrowedFd<'_>, backlog: i32) -> Result<(), Errno> {
    // SAFETY: listen reads no memory.
    unsafe { syscall2(nr::LISTEN, fd.into(), backlog.into()) }.map(drop)
}

/// `accept4(fd, addr, addrlen, flags)` — takes the next pending connection
/// as a new socket, with its peer's address when IPv4 or IPv6.
///
/// # Errors
///
/// `EAGAIN` on a non-blocking socket with nothing pending, `EINVAL` for a
/// socket not listening or an unknown flag, `EOPNOTSUPP` for a type that
/// does not accept, `ECONNABORTED`, `EINTR`, `EMFILE`, `ENFILE`,
/// `ENOTSOCK`, `EBADF`.
///
/// See [accept4(2)](https://man7.org/linux/man-pages/man2/accept4.2.html).
#[inline]
pub fn accept4(
    fd: BorrowedFd<'_>,
    flags: SocketFlags,
) -> Result<(OwnedFd, Option<SocketAddr>), Errno> {
    let mut addr = SockAddr::new();
    let mut len = SockAddr::CAPACITY as u32;
    let p = addr.as_mut_ptr();
    // SAFETY: `p` has room for `len` bytes and `len` is a writable u32;
    // accept4 returns a new descriptor.
    let conn = unsafe {
        let r = syscall4(
            nr::ACCEPT4,
            fd.into(),
            p.into(),
            (&mut len).into(),
            flags.bits().into(),
        )?;
        owned_fd(r)
    };
    addr.set_len(len);
    Ok((conn, addr.as_socket_addr()))
}

/// `connect(fd, addr, addrlen)` — connects a socket to `addr` (for a
/// datagram socket: sets its default destination and only source).
///
/// # Errors
///
/// `ECONNREFUSED` when nothing listens there, `EINPROGRESS` on a
/// non-blocking stream socket, `EISCONN`, `EALREADY`, `ETIMEDOUT`,
/// `ENETUNREACH`, `EAFNOSUPPORT`, `EADDRNOTAVAIL`, `EINTR`, `ENOTSOCK`,
/// `EBADF`.
///
/// See [connect(2)](https://man7.org/linux/man-pages/man2/connect.2.html).
#[inline]
pub fn connect(fd: BorrowedFd<'_>, addr: &SocketAddr) -> Result<(), Errno> {
    let addr = SockAddr::from(*addr);
    let (p, len) = addr.arg();
    // SAFETY: `p` points at `len` initialised bytes of `addr`, alive until
    // the end of the function.
    unsafe { syscall3(nr::CONNECT, fd.into(), p.into(), len.into()) }.map(drop)
}

/// `shutdown(fd, how)` — shuts down the read side, the write side (the peer
/// then reads end of file) or both of a connection.
///
/// # Errors
///
/// `ENOTCONN` for a socket not connected, `ENOTSOCK`, `EBADF`.
///
/// See [shutdown(2)](https://man7.org/linux/man-pages/man2/shutdown.2.html).
#[inline]
pub fn shutdown(fd: BorrowedFd<'_>, how: Shutdown) -> Result<(), Errno> {
    let how = match how {
        Shutdown::Read => 0,
        Shutdown::Write => 1,
        Shutdown::Both => 2,
    };
    // SAFETY: shutdown reads no memory.
    unsafe { syscall2(nr::SHUTDOWN, fd.into(), how.into()) }.map(drop)
}

/// `getsockname(fd, addr, addrlen)` — the address a socket is bound to
/// (e.g. to learn the port the kernel chose for port 0).
///
/// # Errors
///
/// `ENOTSOCK`, `EBADF`.
///
/// See [getsockname(2)](https://man7.org/linux/man-pages/man2/getsockname.2.html).
#[inline]
pub fn getsockname(fd: BorrowedFd<'_>) -> Result<SockAddr, Errno> {
    let mut addr = SockAddr::new();
    let mut len = SockAddr::CAPACITY as u32;
    let p = addr.as_mut_ptr();
    // SAFETY: `p` has room for `len` bytes and `len` is a writable u32.
    unsafe { syscall3(nr::GETSOCKNAME, fd.into(), p.into(), (&mut len).into()) }?;
    addr.set_len(len);
    Ok(addr)
}

/// `setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, 4)` — lets `bind` reuse a
/// local address (for TCP: one in `TIME_WAIT`; for UDP: one bound by other
/// sockets that set it too).
///
/// # Errors
///
/// `ENOTSOCK`, `EBADF`.
///
/// See [setsockopt(2)](https://man7.org/linux/man-pages/man2/setsockopt.2.html).
#[inline]
#[doc(alias = "setsockopt")]
pub fn setsockopt_reuseaddr(fd: BorrowedFd<'_>, on: bool) -> Result<(), Errno> {
    let v = i32::from(on);
    let p = ptr::from_ref(&v);
    // SAFETY: `p` points at a live 4-byte int, the size passed.
    unsafe {
        syscall5(
            nr::SETSOCKOPT,
            fd.into(),
            SOL_SOCKET.into(),
            SO_REUSEADDR.into(),
            p.into(),
            4usize.into(),
        )
    }
    .map(drop)
}
