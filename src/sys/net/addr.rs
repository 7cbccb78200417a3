//! [`SockAddr`]: a socket address in the kernel's encoding, and its
//! conversion to and from [`std::net::SocketAddr`].
//!
//! # Safety
//!
//! A [`SockAddr`]'s 128 bytes are always initialised: it starts zeroed, and
//! is only ever written whole fields or by the kernel. Every view of them
//! (`sockaddr_in`, `sockaddr_in6`, `sockaddr_storage`, bytes) accepts any bit
//! pattern, so reading any union field is sound. A length the kernel reports
//! is clamped to the 128-byte capacity before it is used.
#![expect(
    unsafe_code,
    reason = "typed views of the always-initialised address bytes"
)]

use core::ffi::c_void;
use core::fmt;
use core::ptr;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use super::AddressFamily;

/// `struct sockaddr_in`, with the port and address in network byte order.
#[repr(C)]
#[derive(Clone, Copy)]
struct SockAddrIn {
    family: u16,
    port: u16,
    addr: u32,
    zero: [u8; 8],
}

/// `struct sockaddr_in6`, with the port and flow information in network
/// byte order.
#[repr(C)]
#[derive(Clone, Copy)]
struct SockAddrIn6 {
    family: u16,
    port: u16,
    flowinfo: u32,
    addr: [u8; 16],
    scope_id: u32,
}

/// `struct sockaddr_storage`: room for any address, pointer-aligned.
#[repr(C, align(8))]
#[derive(Clone, Copy)]
struct SockAddrStorage {
    family: u16,
    data: [u8; 126],
}

/// The three views of one address buffer.
#[repr(C)]
#[derive(Clone, Copy)]
union RawSockAddr {
    v4: SockAddrIn,
    v6: SockAddrIn6,
    storage: SockAddrStorage,
}

/// A socket address in the kernel's encoding: a `struct sockaddr_storage`
/// and the number of its bytes that hold the address.
///
/// Build one from a [`SocketAddr`] (`SockAddr::from(addr)`), or start from
/// [`SockAddr::new`] (empty) as room for an address the kernel fills in.
/// [`as_socket_addr`](SockAddr::as_socket_addr) decodes IPv4 and IPv6
/// addresses; other families decode to `None` but keep their bytes.
///
/// IPv6 flow information is stored in network byte order, as the kernel
/// defines `sin6_flowinfo` (rustix does the same; std's own sockets copy
/// [`SocketAddrV6::flowinfo`] without swapping).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SockAddr {
    raw: RawSockAddr,
    len: u32,
}

impl SockAddr {
    /// The size of `struct sockaddr_storage`: room for any address.
    pub const CAPACITY: usize = 128;

    /// An empty address (`AF_UNSPEC`, length 0), all bytes zero.
    #[inline]
    pub const fn new() -> SockAddr {
        SockAddr {
            raw: RawSockAddr {
                storage: SockAddrStorage {
                    family: 0,
                    data: [0; 126],
                },
            },
            len: 0,
        }
    }

    /// The number of bytes that hold the address.
    #[inline]
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether no address is held (length 0).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The address family, `UNSPEC` when too short to hold one.
    #[inline]
    pub fn family(&self) -> AddressFamily {
        if self.len < 2 {
            return AddressFamily::UNSPEC;
        }
        // SAFETY: all 128 bytes are initialised (see the file's Safety), and
        // any bytes are a valid `SockAddrStorage`.
        AddressFamily(unsafe { self.raw.storage.family })
    }

    /// The encoded bytes, `len()` of them.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        let len = self.len().min(Self::CAPACITY);
        // SAFETY: `raw` is 128 initialised bytes (see the file's Safety) and
        // `len` is at most 128.
        unsafe { core::slice::from_raw_parts(ptr::from_ref(&self.raw).cast::<u8>(), len) }
    }

    /// The address as a [`SocketAddr`], or `None` for a family other than
    /// IPv4 and IPv6 or a length too short for its family.
    pub fn as_socket_addr(&self) -> Option<SocketAddr> {
        let len = self.len();
        match self.family() {
            AddressFamily::INET if len >= size_of::<SockAddrIn>() => {
                // SAFETY: initialised bytes, and any bytes are a valid
                // `SockAddrIn`.
                let a = unsafe { self.raw.v4 };
                let ip = Ipv4Addr::from(a.addr.to_ne_bytes());
                Some(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(a.port))))
            }
            AddressFamily::INET6 if len >= size_of::<SockAddrIn6>() => {
                // SAFETY: as above, for `SockAddrIn6`.
                let a = unsafe { self.raw.v6 };
                let ip = Ipv6Addr::from(a.addr);
                let port = u16::from_be(a.port);
                let flowinfo = u32::from_be(a.flowinfo);
                Some(SocketAddr::V6(SocketAddrV6::new(
                    ip, port, flowinfo, a.scope_id,
                )))
            }
            _ => None,
        }
    }

    /// An address from its encoded bytes (at most
    /// [`CAPACITY`](SockAddr::CAPACITY) of them are kept).
    pub fn from_bytes(bytes: &[u8]) -> SockAddr {
        let mut s = SockAddr::new();
        let n = bytes.len().min(Self::CAPACITY);
        // SAFETY: `raw` is 128 bytes, any bytes valid, and `n <= 128`.
        let raw = unsafe {
            core::slice::from_raw_parts_mut(ptr::from_mut(&mut s.raw).cast::<u8>(), Self::CAPACITY)
        };
        raw[..n].copy_from_slice(&bytes[..n]);
        s.len = n as u32;
        s
    }

    /// Offset of `sun_path` in `struct sockaddr_un`.
    const SUN_PATH: usize = 2;
    /// Bytes of `sun_path`.
    const SUN_PATH_LEN: usize = 108;

    /// A Unix-domain address (`AF_UNIX`) for the file-system path `path`
    /// (no NUL inside; the kernel's terminating NUL is added), or for an
    /// abstract name when `path` starts with a NUL byte. `None` when it
    /// does not fit `sun_path` (107 bytes and the NUL), or holds a NUL
    /// past the first byte.
    pub fn unix(path: &[u8]) -> Option<SockAddr> {
        let abstract_name = path.first() == Some(&0);
        if path.is_empty()
            || path.len() >= Self::SUN_PATH_LEN + usize::from(abstract_name)
            || path.iter().skip(1).any(|&b| b == 0)
        {
            return None;
        }
        let mut s = SockAddr::new();
        // SAFETY: all 128 bytes are initialised and any bytes are valid.
        let storage = unsafe { &mut s.raw.storage };
        storage.family = AddressFamily::UNIX.0;
        storage.data[..path.len()].copy_from_slice(path);
        // A path is passed with its NUL; an abstract name exactly.
        let len = Self::SUN_PATH + path.len() + usize::from(!abstract_name);
        s.len = len as u32;
        Some(s)
    }

    /// The path (or, starting with a NUL byte, abstract name) of a
    /// Unix-domain address, without the terminating NUL: empty for an
    /// unnamed socket. `None` for another family.
    pub fn as_unix_path(&self) -> Option<&[u8]> {
        if self.family() != AddressFamily::UNIX {
            return None;
        }
        let bytes = self.as_bytes().get(Self::SUN_PATH..).unwrap_or(&[]);
        if bytes.first() == Some(&0) {
            return Some(bytes);
        }
        let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        Some(&bytes[..end])
    }

    /// The address pointer and length, as arguments.
    #[inline(always)]
    pub(super) fn arg(&self) -> (*const c_void, u32) {
        (self.as_ptr(), self.len)
    }

    /// A pointer to the encoded address, for the kernel to read
    /// [`len`](SockAddr::len) bytes from.
    #[inline(always)]
    pub(super) fn as_ptr(&self) -> *const c_void {
        ptr::from_ref(self).cast()
    }

    /// A pointer to the address buffer, with room for
    /// [`CAPACITY`](SockAddr::CAPACITY) bytes, for the kernel to fill.
    #[inline(always)]
    pub(super) fn as_mut_ptr(&mut self) -> *mut c_void {
        ptr::from_mut(self).cast()
    }

    /// Sets the length the kernel reported, clamped to the capacity (the
    /// kernel reports the full length even when it truncated).
    #[inline(always)]
    pub(super) fn set_len(&mut self, len: u32) {
        self.len = len.min(Self::CAPACITY as u32);
    }
}

impl Default for SockAddr {
    fn default() -> SockAddr {
        SockAddr::new()
    }
}

impl From<SocketAddrV4> for SockAddr {
    fn from(a: SocketAddrV4) -> SockAddr {
        let mut s = SockAddr::new();
        s.raw.v4 = SockAddrIn {
            family: AddressFamily::INET.0,
            port: a.port().to_be(),
            addr: u32::from_ne_bytes(a.ip().octets()),
            zero: [0; 8],
        };
        s.len = size_of::<SockAddrIn>() as u32;
        s
    }
}

impl From<SocketAddrV6> for SockAddr {
    fn from(a: SocketAddrV6) -> SockAddr {
        let mut s = SockAddr::new();
        s.raw.v6 = SockAddrIn6 {
            family: AddressFamily::INET6.0,
            port: a.port().to_be(),
            flowinfo: a.flowinfo().to_be(),
            addr: a.ip().octets(),
            scope_id: a.scope_id(),
        };
        s.len = size_of::<SockAddrIn6>() as u32;
        s
    }
}

impl From<SocketAddr> for SockAddr {
    fn from(a: SocketAddr) -> SockAddr {
        match a {
            SocketAddr::V4(a) => a.into(),
            SocketAddr::V6(a) => a.into(),
        }
    }
}

impl PartialEq for SockAddr {
    fn eq(&self, other: &SockAddr) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for SockAddr {}

impl fmt::Debug for SockAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.as_socket_addr() {
            Some(a) => write!(f, "SockAddr({a})"),
            None => f
                .debug_struct("SockAddr")
                .field("family", &self.family().raw())
                .field("len", &self.len)
                .finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use core::mem::{align_of, offset_of};

    use super::*;

    #[test]
    fn address_structs_have_the_kernel_layout() {
        assert_eq!(size_of::<SockAddrIn>(), 16);
        assert_eq!(offset_of!(SockAddrIn, port), 2);
        assert_eq!(offset_of!(SockAddrIn, addr), 4);
        assert_eq!(size_of::<SockAddrIn6>(), 28);
        assert_eq!(offset_of!(SockAddrIn6, flowinfo), 4);
        assert_eq!(offset_of!(SockAddrIn6, addr), 8);
        assert_eq!(offset_of!(SockAddrIn6, scope_id), 24);
        assert_eq!(size_of::<SockAddrStorage>(), SockAddr::CAPACITY);
        assert_eq!(size_of::<RawSockAddr>(), SockAddr::CAPACITY);
        assert_eq!(align_of::<RawSockAddr>(), 8);
        // The buffer comes first: a pointer to a `SockAddr` is one to it.
        assert_eq!(offset_of!(SockAddr, raw), 0);
    }

    #[test]
    fn addresses_encode_in_network_byte_order() {
        let a = SockAddr::from("127.0.0.1:8080".parse::<SocketAddr>().unwrap());
        assert_eq!(
            a.as_bytes(),
            &[2, 0, 0x1f, 0x90, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]
        );
        let v6 = SocketAddrV6::new(Ipv6Addr::LOCALHOST, 443, 0x0001_2345, 7);
        let b = SockAddr::from(v6);
        assert_eq!(b.len(), 28);
        assert_eq!(
            &b.as_bytes()[..8],
            &[10, 0, 0x01, 0xbb, 0x00, 0x01, 0x23, 0x45]
        );
        assert_eq!(&b.as_bytes()[24..], &7u32.to_ne_bytes());
        assert_eq!(b.as_socket_addr(), Some(SocketAddr::V6(v6)));
    }

    #[test]
    fn short_or_foreign_addresses_do_not_decode() {
        let mut a = SockAddr::from("127.0.0.1:1".parse::<SocketAddr>().unwrap());
        a.set_len(15);
        assert_eq!(a.as_socket_addr(), None);
        a.set_len(1);
        assert_eq!(a.family(), AddressFamily::UNSPEC);
        a.set_len(u32::MAX);
        assert_eq!(a.len(), SockAddr::CAPACITY);
        assert_eq!(SockAddr::new().as_socket_addr(), None);
        let mut unix = SockAddr::new();
        unix.raw.storage.family = AddressFamily::UNIX.raw();
        unix.set_len(3);
        assert_eq!(unix.family(), AddressFamily::UNIX);
        assert_eq!(unix.as_socket_addr(), None);
    }
}
