//! Single-message send and receive: `sendto`, `recvfrom`, `sendmsg`,
//! `recvmsg`.
//!
//! # Safety
//!
//! Every call passes the kernel pointers into live Rust values for the
//! length of the call only: byte slices, `IoSlice`/`IoSliceMut` arrays
//! (which std guarantees to be ABI-compatible with `struct iovec`), a
//! [`SockAddr`] with room for the length passed, and a `#[repr(C)]`
//! `struct msghdr` whose layout the unit test pins to the kernel's.
#![expect(
    unsafe_code,
    reason = "message calls take pointers to live buffers, headers and addresses"
)]

use core::ffi::c_void;
use core::ptr;
use std::io::{IoSlice, IoSliceMut};
use std::net::SocketAddr;
use std::os::fd::BorrowedFd;

use super::super::{Errno, nr, syscall3, syscall6};
use super::{MsgFlags, SockAddr};

/// `struct msghdr`.
#[repr(C)]
#[derive(Clone, Copy)]
pub(super) struct RawMsgHdr {
    pub(super) name: *mut c_void,
    pub(super) namelen: u32,
    pub(super) iov: *mut c_void,
    pub(super) iovlen: usize,
    pub(super) control: *mut c_void,
    pub(super) controllen: usize,
    pub(super) flags: u32,
}

impl RawMsgHdr {
    /// A header for `iovlen` iovecs at `iov` and an optional address, with
    /// no control data.
    #[inline(always)]
    pub(super) fn new(
        iov: *mut c_void,
        iovlen: usize,
        name: *mut c_void,
        namelen: u32,
    ) -> RawMsgHdr {
        RawMsgHdr {
            name,
            namelen,
            iov,
            iovlen,
            control: ptr::null_mut(),
            controllen: 0,
            flags: 0,
        }
    }
}

/// What [`recvmsg`] received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecvMsg {
    /// The bytes received (for a datagram with [`MsgFlags::TRUNC`] asked
    /// for, its full length).
    pub bytes: usize,
    /// The source address, if the socket reports one and it is IPv4 or
    /// IPv6.
    pub addr: Option<SocketAddr>,
    /// The flags the kernel reported, e.g. [`MsgFlags::TRUNC`].
    pub flags: MsgFlags,
}

/// `sendto(fd, buf, len, flags, addr, addrlen)` — sends `buf`, to `addr`
/// when given (unconnected datagram sockets), else to the connected peer.
///
/// # Errors
///
/// `EAGAIN` when a non-blocking socket is full, `EPIPE` for a stream not (or
/// no longer) connected — also raising `SIGPIPE` unless
/// [`MsgFlags::NOSIGNAL`] — `EDESTADDRREQ` with no address and no peer,
/// `EMSGSIZE` for a datagram too large, `ECONNREFUSED`, `EISCONN`,
/// `EINTR`, `ENOTSOCK`, `EBADF`.
///
/// See [sendto(2)](https://man7.org/linux/man-pages/man2/sendto.2.html).
#[inline]
pub fn sendto(
    fd: BorrowedFd<'_>,
    buf: &[u8],
    flags: MsgFlags,
    addr: Option<&SocketAddr>,
) -> Result<usize, Errno> {
    let addr = addr.map(|a| SockAddr::from(*a));
    let (p, len) = addr.as_ref().map_or((ptr::null(), 0), SockAddr::arg);
    // SAFETY: `buf` is valid for reads of `buf.len()` bytes, and `p` (when
    // not null) points at `len` bytes of a `SockAddr` alive for the call.
    unsafe {
        syscall6(
            nr::SENDTO,
            fd.into(),
            buf.as_ptr().into(),
            buf.len().into(),
            flags.bits().into(),
            p.into(),
            len.into(),
        )
    }
}

/// `recvfrom(fd, buf, len, flags, addr, addrlen)` — receives into `buf`,
/// with the source address when the socket reports one (datagram sockets)
/// and it is IPv4 or IPv6. `Ok((0, _))` is end of file on a stream.
///
/// # Errors
///
/// `EAGAIN` on an empty non-blocking socket (or with
/// [`MsgFlags::DONTWAIT`]), `ENOTCONN` for a stream not connected,
/// `ECONNREFUSED`, `EINTR`, `ENOTSOCK`, `EBADF`.
///
/// See [recvfrom(2)](https://man7.org/linux/man-pages/man2/recvfrom.2.html).
#[inline]
pub fn recvfrom(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
    flags: MsgFlags,
) -> Result<(usize, Option<SocketAddr>), Errno> {
    let mut addr = SockAddr::new();
    let mut len = SockAddr::CAPACITY as u32;
    let p = addr.as_mut_ptr();
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes, `p` has room
    // for `len` bytes, and `len` is a writable u32.
    let n = unsafe {
        syscall6(
            nr::RECVFROM,
            fd.into(),
            buf.as_mut_ptr().into(),
            buf.len().into(),
            flags.bits().into(),
            p.into(),
            (&mut len).into(),
        )
    }?;
    addr.set_len(len);
    Ok((n, addr.as_socket_addr()))
}

/// `sendmsg(fd, msg, flags)` — gathers one message from `bufs`, to `addr`
/// when given, else to the connected peer. No control data is sent.
///
/// # Errors
///
/// As [`sendto`], and `EMSGSIZE` for more than 1024 buffers (`UIO_MAXIOV`).
///
/// See [sendmsg(2)](https://man7.org/linux/man-pages/man2/sendmsg.2.html).
#[inline]
pub fn sendmsg(
    fd: BorrowedFd<'_>,
    bufs: &[IoSlice<'_>],
    addr: Option<&SocketAddr>,
    flags: MsgFlags,
) -> Result<usize, Errno> {
    let addr = addr.map(|a| SockAddr::from(*a));
    let (name, namelen) = match &addr {
        Some(a) => (a.as_ptr().cast_mut(), a.len() as u32),
        None => (ptr::null_mut(), 0),
    };
    let iov = bufs.as_ptr().cast_mut().cast();
    let msg = RawMsgHdr::new(iov, bufs.len(), name, namelen);
    // SAFETY: `msg` points at `bufs` (ABI-compatible with `struct iovec`,
    // each readable) and at the address, all alive for the call; the kernel
    // only reads through a send header.
    unsafe { syscall3(nr::SENDMSG, fd.into(), (&msg).into(), flags.bits().into()) }
}

/// `recvmsg(fd, msg, flags)` — scatters one message across `bufs`, with its
/// source address and the flags the kernel reports. No control data is
/// received.
///
/// # Errors
///
/// As [`recvfrom`], and `EMSGSIZE` for more than 1024 buffers.
///
/// See [recvmsg(2)](https://man7.org/linux/man-pages/man2/recvmsg.2.html).
#[inline]
pub fn recvmsg(
    fd: BorrowedFd<'_>,
    bufs: &mut [IoSliceMut<'_>],
    flags: MsgFlags,
) -> Result<RecvMsg, Errno> {
    let mut addr = SockAddr::new();
    let name = addr.as_mut_ptr();
    let mut msg = RawMsgHdr::new(
        bufs.as_mut_ptr().cast(),
        bufs.len(),
        name,
        SockAddr::CAPACITY as u32,
    );
    let p = ptr::from_mut(&mut msg);
    // SAFETY: `msg` points at `bufs` (ABI-compatible with `struct iovec`,
    // each writable) and at 128 writable bytes of `addr`, all alive for the
    // call; the kernel writes `namelen` and `flags` back into `msg`.
    let n = unsafe { syscall3(nr::RECVMSG, fd.into(), p.into(), flags.bits().into()) }?;
    addr.set_len(msg.namelen);
    Ok(RecvMsg {
        bytes: n,
        addr: addr.as_socket_addr(),
        flags: MsgFlags::from_bits_retain(msg.flags),
    })
}

#[cfg(test)]
mod tests {
    use core::mem::offset_of;

    use super::RawMsgHdr;

    #[test]
    fn msghdr_has_the_kernel_layout() {
        assert_eq!(size_of::<RawMsgHdr>(), 56);
        assert_eq!(offset_of!(RawMsgHdr, namelen), 8);
        assert_eq!(offset_of!(RawMsgHdr, iov), 16);
        assert_eq!(offset_of!(RawMsgHdr, iovlen), 24);
        assert_eq!(offset_of!(RawMsgHdr, control), 32);
        assert_eq!(offset_of!(RawMsgHdr, controllen), 40);
        assert_eq!(offset_of!(RawMsgHdr, flags), 48);
    }
}
