//! Socket options and the calls that name a socket's ends: `setsockopt`,
//! `getsockopt` (integer options), `getpeername`, `socketpair`, and
//! `bind`/`connect` with any encoded address (a Unix path, say).
//!
//! # Safety
//!
//! Every call passes the kernel pointers into live Rust values for the
//! length of the call only: a 4-byte `i32` with its size, a writable `u32`
//! length, a [`SockAddr`] with its true length or full capacity, or a
//! two-`i32` array.
#![expect(
    unsafe_code,
    reason = "socket option calls take pointers to live values and lengths"
)]

use core::ptr;
use std::os::fd::{BorrowedFd, OwnedFd};

use super::super::{Errno, nr, owned_fd, syscall3, syscall4, syscall5};
use super::{AddressFamily, Protocol, SockAddr, SocketFlags, SocketType};

/// An integer socket option: its level and name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SockOpt {
    level: u32,
    name: u32,
}

impl SockOpt {
    /// `SOL_SOCKET, SO_REUSEADDR`: `bind` may reuse a local address.
    pub const REUSEADDR: SockOpt = SockOpt::new(1, 2);
    /// `SOL_SOCKET, SO_TYPE` (read only): the socket's type.
    pub const TYPE: SockOpt = SockOpt::new(1, 3);
    /// `SOL_SOCKET, SO_ERROR` (read only, and cleared by reading): the
    /// pending error, such as a non-blocking connect's outcome.
    pub const ERROR: SockOpt = SockOpt::new(1, 4);
    /// `SOL_SOCKET, SO_SNDBUF`: the send buffer's size, in bytes (the
    /// kernel doubles what is set, and reports the doubled size).
    pub const SNDBUF: SockOpt = SockOpt::new(1, 7);
    /// `SOL_SOCKET, SO_RCVBUF`: the receive buffer's size (doubled as
    /// [`SNDBUF`](SockOpt::SNDBUF) is).
    pub const RCVBUF: SockOpt = SockOpt::new(1, 8);
    /// `SOL_SOCKET, SO_KEEPALIVE`: probe an idle connection.
    pub const KEEPALIVE: SockOpt = SockOpt::new(1, 9);
    /// `SOL_SOCKET, SO_REUSEPORT`: sockets that all set it may bind the
    /// same address, and the kernel spreads connections among them.
    pub const REUSEPORT: SockOpt = SockOpt::new(1, 15);
    /// `SOL_SOCKET, SO_ACCEPTCONN` (read only): whether it listens.
    pub const ACCEPTCONN: SockOpt = SockOpt::new(1, 30);
    /// `SOL_SOCKET, SO_DOMAIN` (read only): the address family.
    pub const DOMAIN: SockOpt = SockOpt::new(1, 39);
    /// `IPPROTO_TCP, TCP_NODELAY`: send small segments at once (no Nagle).
    pub const TCP_NODELAY: SockOpt = SockOpt::new(6, 1);
    /// `IPPROTO_IPV6, IPV6_V6ONLY`: an IPv6 socket takes no IPv4 traffic.
    pub const IPV6_V6ONLY: SockOpt = SockOpt::new(41, 26);

    /// The option `name` at `level`, for one this type does not name.
    pub const fn new(level: u32, name: u32) -> SockOpt {
        SockOpt { level, name }
    }
}

/// `setsockopt(fd, level, name, &value, 4)` for an integer option
/// (booleans are `0` and `1`).
///
/// # Errors
///
/// `ENOPROTOOPT` for an option the socket's protocol lacks; `EINVAL`;
/// `ENOTSOCK`; `EBADF`; `EPERM` for privileged values.
///
/// See [setsockopt(2)](https://man7.org/linux/man-pages/man2/setsockopt.2.html).
#[inline]
pub fn setsockopt(fd: BorrowedFd<'_>, opt: SockOpt, value: i32) -> Result<(), Errno> {
    let p = ptr::from_ref(&value);
    // SAFETY: `p` points at a live 4-byte int, the size passed.
    unsafe {
        syscall5(
            nr::SETSOCKOPT,
            fd.into(),
            opt.level.into(),
            opt.name.into(),
            p.into(),
            4usize.into(),
        )
    }
    .map(drop)
}

/// `getsockopt(fd, level, name, &value, &len)` for an integer option.
///
/// # Errors
///
/// As [`setsockopt`].
///
/// See [getsockopt(2)](https://man7.org/linux/man-pages/man2/getsockopt.2.html).
#[inline]
pub fn getsockopt(fd: BorrowedFd<'_>, opt: SockOpt) -> Result<i32, Errno> {
    let mut value = 0i32;
    let mut len = 4u32;
    // SAFETY: `value` is a writable 4-byte int and `len` says so.
    unsafe {
        syscall5(
            nr::GETSOCKOPT,
            fd.into(),
            opt.level.into(),
            opt.name.into(),
            (&mut value).into(),
            (&mut len).into(),
        )
    }?;
    Ok(value)
}

/// `getpeername(fd, addr, addrlen)` — the address of a connected socket's
/// peer.
///
/// # Errors
///
/// `ENOTCONN` when not connected; `ENOTSOCK`; `EBADF`.
///
/// See [getpeername(2)](https://man7.org/linux/man-pages/man2/getpeername.2.html).
#[inline]
pub fn getpeername(fd: BorrowedFd<'_>) -> Result<SockAddr, Errno> {
    let mut addr = SockAddr::new();
    let mut len = SockAddr::CAPACITY as u32;
    let p = addr.as_mut_ptr();
    // SAFETY: `p` has room for `len` bytes and `len` is a writable u32.
    unsafe { syscall3(nr::GETPEERNAME, fd.into(), p.into(), (&mut len).into()) }?;
    addr.set_len(len);
    Ok(addr)
}

/// `socketpair(family, type | flags, protocol, fds)` — two sockets
/// connected to each other (`AF_UNIX` only).
///
/// # Errors
///
/// `EAFNOSUPPORT`, `EOPNOTSUPP` for another family; `EMFILE`/`ENFILE`.
///
/// See [socketpair(2)](https://man7.org/linux/man-pages/man2/socketpair.2.html).
#[inline]
pub fn socketpair(
    family: AddressFamily,
    ty: SocketType,
    flags: SocketFlags,
    protocol: Protocol,
) -> Result<(OwnedFd, OwnedFd), Errno> {
    let mut fds = [0i32; 2];
    // SAFETY: `fds` is a writable array of two ints; on success both are
    // fresh descriptors, owned here alone.
    unsafe {
        syscall4(
            nr::SOCKETPAIR,
            family.raw().into(),
            (ty.raw() | flags.bits()).into(),
            protocol.raw().into(),
            fds.as_mut_ptr().into(),
        )?;
        Ok((owned_fd(fds[0] as usize), owned_fd(fds[1] as usize)))
    }
}

/// `bind(fd, addr, len)` with an encoded address (any family).
///
/// # Errors
///
/// As [`bind`](super::bind); for a Unix path, `EADDRINUSE` when the file
/// exists and `ENOENT`/`EACCES` for its directory.
#[inline]
#[doc(alias = "bind")]
pub fn bind_addr(fd: BorrowedFd<'_>, addr: &SockAddr) -> Result<(), Errno> {
    let (p, len) = addr.arg();
    // SAFETY: `p` points at `len` initialised bytes of `addr`.
    unsafe { syscall3(nr::BIND, fd.into(), p.into(), len.into()) }.map(drop)
}

/// `connect(fd, addr, len)` with an encoded address (any family).
///
/// # Errors
///
/// As [`connect`](super::connect); for a Unix path, `ENOENT` when nothing
/// is bound there and `ECONNREFUSED` when nothing listens.
#[inline]
#[doc(alias = "connect")]
pub fn connect_addr(fd: BorrowedFd<'_>, addr: &SockAddr) -> Result<(), Errno> {
    let (p, len) = addr.arg();
    // SAFETY: `p` points at `len` initialised bytes of `addr`.
    unsafe { syscall3(nr::CONNECT, fd.into(), p.into(), len.into()) }.map(drop)
}
