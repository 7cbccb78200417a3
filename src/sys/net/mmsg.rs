//! Batched send and receive: `sendmmsg`, `recvmmsg`, and their message
//! headers [`MMsgHdr`] and [`MMsgHdrMut`].
//!
//! # Safety
//!
//! A header is a transparent `struct mmsghdr` (layout pinned by the unit
//! test) whose raw pointers come only from borrows that live as long as the
//! header: `IoSlice`/`IoSliceMut` arrays (ABI-compatible with `struct
//! iovec`) and a [`SockAddr`] of 128 bytes. The calls borrow the headers
//! for their duration, so every pointer the kernel follows is live, and
//! memory it writes is memory the header borrows mutably.
#![expect(
    unsafe_code,
    reason = "mmsghdr arrays point the kernel at live buffers and addresses"
)]

use core::fmt;
use core::marker::PhantomData;
use core::ptr;
use std::io::{IoSlice, IoSliceMut};
use std::net::SocketAddr;
use std::os::fd::BorrowedFd;

use super::super::{ArgReg, Errno, nr, syscall4, syscall5};
use super::msg::RawMsgHdr;
use super::{MsgFlags, SockAddr};

/// `struct mmsghdr`: a message header and the byte count the kernel wrote.
#[repr(C)]
#[derive(Clone, Copy)]
struct RawMMsgHdr {
    hdr: RawMsgHdr,
    len: u32,
}

/// One message of a [`sendmmsg`] batch: `struct mmsghdr` over borrowed
/// buffers and an optional destination address.
///
/// After the call, [`bytes_sent`](MMsgHdr::bytes_sent) holds what the kernel
/// sent of this message.
#[repr(transparent)]
pub struct MMsgHdr<'a> {
    raw: RawMMsgHdr,
    _borrows: PhantomData<&'a ()>,
}

impl<'a> MMsgHdr<'a> {
    /// A message of `bufs`, for a connected socket.
    #[inline]
    pub fn new(bufs: &'a [IoSlice<'_>]) -> MMsgHdr<'a> {
        let iov = bufs.as_ptr().cast_mut().cast();
        MMsgHdr {
            raw: RawMMsgHdr {
                hdr: RawMsgHdr::new(iov, bufs.len(), ptr::null_mut(), 0),
                len: 0,
            },
            _borrows: PhantomData,
        }
    }

    /// A message of `bufs` to `addr`.
    #[inline]
    pub fn with_addr(bufs: &'a [IoSlice<'_>], addr: &'a SockAddr) -> MMsgHdr<'a> {
        let mut m = MMsgHdr::new(bufs);
        m.raw.hdr.name = addr.as_ptr().cast_mut();
        m.raw.hdr.namelen = addr.len() as u32;
        m
    }

    /// The bytes the kernel sent of this message (0 before a [`sendmmsg`]
    /// that reached it).
    #[inline]
    pub fn bytes_sent(&self) -> usize {
        self.raw.len as usize
    }
}

impl fmt::Debug for MMsgHdr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MMsgHdr")
            .field("bufs", &self.raw.hdr.iovlen)
            .field("has_addr", &!self.raw.hdr.name.is_null())
            .field("bytes_sent", &self.raw.len)
            .finish()
    }
}

/// One message of a [`recvmmsg`] batch: `struct mmsghdr` over borrowed
/// buffers and, optionally, room for the source address.
///
/// After the call, [`bytes`](MMsgHdrMut::bytes), [`flags`](MMsgHdrMut::flags)
/// and [`addr`](MMsgHdrMut::addr) describe the message received into it.
#[repr(transparent)]
pub struct MMsgHdrMut<'a> {
    raw: RawMMsgHdr,
    _borrows: PhantomData<&'a mut ()>,
}

impl<'a> MMsgHdrMut<'a> {
    /// Room for one message in `bufs`; the source address is not kept.
    #[inline]
    pub fn new(bufs: &'a mut [IoSliceMut<'_>]) -> MMsgHdrMut<'a> {
        let iov = bufs.as_mut_ptr().cast();
        MMsgHdrMut {
            raw: RawMMsgHdr {
                hdr: RawMsgHdr::new(iov, bufs.len(), ptr::null_mut(), 0),
                len: 0,
            },
            _borrows: PhantomData,
        }
    }

    /// Room for one message in `bufs` and its source address in `addr`
    /// (read it back with [`addr`](MMsgHdrMut::addr)).
    #[inline]
    pub fn with_addr(bufs: &'a mut [IoSliceMut<'_>], addr: &'a mut SockAddr) -> MMsgHdrMut<'a> {
        let mut m = MMsgHdrMut::new(bufs);
        m.raw.hdr.name = addr.as_mut_ptr();
        m
    }

    /// The bytes received into this message (0 before a [`recvmmsg`] that
    /// reached it).
    #[inline]
    pub fn bytes(&self) -> usize {
        self.raw.len as usize
    }

    /// The flags the kernel reported for this message (e.g.
    /// [`MsgFlags::TRUNC`]).
    #[inline]
    pub fn flags(&self) -> MsgFlags {
        MsgFlags::from_bits_retain(self.raw.hdr.flags)
    }

    /// The source address of the message received, if room was given and
    /// it is IPv4 or IPv6.
    pub fn addr(&self) -> Option<SocketAddr> {
        if self.raw.hdr.name.is_null() {
            return None;
        }
        // SAFETY: a non-null `name` comes from the `&'a mut SockAddr` this
        // header borrows exclusively, so it points at a live, initialised
        // `SockAddr` no one else is using.
        let mut a = unsafe { *self.raw.hdr.name.cast::<SockAddr>() };
        a.set_len(self.raw.hdr.namelen);
        a.as_socket_addr()
    }
}

impl fmt::Debug for MMsgHdrMut<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MMsgHdrMut")
            .field("bufs", &self.raw.hdr.iovlen)
            .field("bytes", &self.raw.len)
            .field("flags", &self.flags())
            .field("addr", &self.addr())
            .finish()
    }
}

/// `sendmmsg(fd, msgs, vlen, flags)` — sends a batch of messages in one
/// call; returns how many were sent, each one's byte count in
/// [`MMsgHdr::bytes_sent`]. The kernel sends at most 1024 per call.
///
/// # Errors
///
/// As [`sendmsg`](super::sendmsg), for the first message. An error on a
/// later message ends the batch: the call returns the count sent so far,
/// and a retry from the first unsent message reports the error.
///
/// See [sendmmsg(2)](https://man7.org/linux/man-pages/man2/sendmmsg.2.html).
#[inline]
pub fn sendmmsg(
    fd: BorrowedFd<'_>,
    msgs: &mut [MMsgHdr<'_>],
    flags: MsgFlags,
) -> Result<usize, Errno> {
    let vlen = msgs.len().min(u32::MAX as usize);
    let p = msgs.as_mut_ptr();
    // SAFETY: `MMsgHdr` is a transparent `struct mmsghdr` whose pointers
    // borrow live buffers and addresses for its lifetime; the kernel reads
    // them and writes each `msg_len`, within `msgs`.
    unsafe {
        syscall4(
            nr::SENDMMSG,
            fd.into(),
            p.into(),
            vlen.into(),
            flags.bits().into(),
        )
    }
}

/// `recvmmsg(fd, msgs, vlen, flags, NULL)` — receives a batch of messages
/// in one call, without a timeout; returns how many were received, each
/// one's byte count, flags and source in its [`MMsgHdrMut`].
///
/// On a blocking socket the call waits until every header is filled,
/// unless [`MsgFlags::WAITFORONE`] (wait for the first message only) or
/// [`MsgFlags::DONTWAIT`] is given. Headers are reset before the call, so a
/// batch can be reused.
///
/// # Errors
///
/// As [`recvmsg`](super::recvmsg), for the first message. An error on a
/// later message ends the batch: the call returns the count received so
/// far and the socket reports the error on its next call.
///
/// See [recvmmsg(2)](https://man7.org/linux/man-pages/man2/recvmmsg.2.html).
#[inline]
pub fn recvmmsg(
    fd: BorrowedFd<'_>,
    msgs: &mut [MMsgHdrMut<'_>],
    flags: MsgFlags,
) -> Result<usize, Errno> {
    for m in msgs.iter_mut() {
        // A reused header must offer its whole address buffer again.
        m.raw.hdr.namelen = if m.raw.hdr.name.is_null() {
            0
        } else {
            SockAddr::CAPACITY as u32
        };
        m.raw.hdr.flags = 0;
        m.raw.len = 0;
    }
    let vlen = msgs.len().min(u32::MAX as usize);
    let p = msgs.as_mut_ptr();
    // SAFETY: `MMsgHdrMut` is a transparent `struct mmsghdr` whose pointers
    // borrow live writable buffers and 128-byte address buffers for its
    // lifetime; the kernel writes them and each header's `msg_len`,
    // `msg_namelen` and `msg_flags`, within `msgs`.
    unsafe {
        syscall5(
            nr::RECVMMSG,
            fd.into(),
            p.into(),
            vlen.into(),
            flags.bits().into(),
            ArgReg::NULL,
        )
    }
}

#[cfg(test)]
mod tests {
    use core::mem::offset_of;

    use super::*;

    #[test]
    fn mmsghdr_has_the_kernel_layout() {
        assert_eq!(size_of::<RawMMsgHdr>(), 64);
        assert_eq!(offset_of!(RawMMsgHdr, len), 56);
        assert_eq!(size_of::<MMsgHdr<'_>>(), 64);
        assert_eq!(size_of::<MMsgHdrMut<'_>>(), 64);
    }
}
