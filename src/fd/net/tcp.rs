//! `TcpListener` and `TcpStream`.

use std::net::{Shutdown, SocketAddr};
use std::os::fd::OwnedFd;

use crate::error::Result;
use crate::fd::{Fd, handle_impls};
use crate::sys::net::{self, Protocol, SockAddr, SockOpt, SocketFlags, SocketType};

use super::{
    DEFAULT_BACKLOG, connect_and_wait, family, flag, from_std, local_addr, peer_addr, recv, send,
    set_flag, shutdown, socket,
};

/// How a listener is set up before it binds: the options that only count
/// then.
///
/// ```
/// use iofd::{ListenOptions, TcpListener};
///
/// let opts = ListenOptions::new().reuse_port(true).backlog(4096);
/// let a = TcpListener::bind_with("127.0.0.1:0".parse().unwrap(), opts)?;
/// // Another listener on the same port: the kernel spreads connections.
/// let b = TcpListener::bind_with(a.local_addr()?, opts)?;
/// assert_eq!(a.local_addr()?, b.local_addr()?);
/// # Ok::<(), iofd::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListenOptions {
    reuse_port: bool,
    v6_only: Option<bool>,
    backlog: i32,
    nodelay: bool,
}

impl ListenOptions {
    /// `SO_REUSEADDR` (always, as std sets it), no `SO_REUSEPORT`, the
    /// system's `IPV6_V6ONLY`, a backlog of 1024.
    pub const fn new() -> ListenOptions {
        ListenOptions {
            reuse_port: false,
            v6_only: None,
            backlog: DEFAULT_BACKLOG,
            nodelay: false,
        }
    }

    /// `SO_REUSEPORT`: several listeners (one per thread, say) bind the
    /// same address, and the kernel spreads new connections among them.
    #[must_use]
    pub const fn reuse_port(mut self, on: bool) -> ListenOptions {
        self.reuse_port = on;
        self
    }

    /// `IPV6_V6ONLY` for an IPv6 address: whether it refuses IPv4 traffic.
    #[must_use]
    pub const fn v6_only(mut self, on: bool) -> ListenOptions {
        self.v6_only = Some(on);
        self
    }

    /// The `listen` backlog (the kernel caps it at `net.core.somaxconn`).
    #[must_use]
    pub const fn backlog(mut self, backlog: i32) -> ListenOptions {
        self.backlog = backlog;
        self
    }

    /// `TCP_NODELAY` on the listener, which Linux copies to every
    /// connection it accepts: the way to set it on connections accepted
    /// as direct descriptors
    #[doc = ring_link!("(", "`accept_direct_op`", "TcpListener::accept_direct_op", "),")]
    /// which have no descriptor to set it on, and one `setsockopt` saved
    /// per connection for the others.
    #[must_use]
    pub const fn nodelay(mut self, on: bool) -> ListenOptions {
        self.nodelay = on;
        self
    }
}

impl Default for ListenOptions {
    fn default() -> ListenOptions {
        ListenOptions::new()
    }
}

/// A TCP socket listening for connections.
///
/// [`accept`](TcpListener::accept) takes one waiting connection without
/// blocking; a server accepts on the ring instead, one connection at a
/// time or as a multishot stream
#[doc = ring_link!("(", "`TcpListener::accept_multi_op`", "TcpListener::accept_multi_op", ").")]
///
/// ```
/// use iofd::{Error, TcpListener, TcpStream};
///
/// let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap())?;
/// assert_eq!(listener.accept().err(), Some(Error::WouldBlock));
/// let client = TcpStream::connect(listener.local_addr()?)?;
/// let (server, peer) = listener.accept()?;
/// assert_eq!(peer, client.local_addr()?);
/// client.write(b"ping")?;
/// let mut buf = [0; 4];
/// assert_eq!(server.read(&mut buf)?, 4);
/// # Ok::<(), iofd::Error>(())
/// ```
#[derive(Debug)]
pub struct TcpListener {
    fd: Fd,
}

impl TcpListener {
    /// Binds `addr` and listens, with [`ListenOptions::new`]'s options.
    /// Port 0 lets the kernel choose ([`local_addr`](TcpListener::local_addr)
    /// tells which).
    ///
    /// # Errors
    ///
    /// [`Error::Os`](crate::Error::Os) with `EADDRINUSE` when the address
    /// is taken, `EADDRNOTAVAIL` for an address not on this host,
    /// `EACCES` for a privileged port, `EMFILE`/`ENFILE`.
    pub fn bind(addr: SocketAddr) -> Result<TcpListener> {
        TcpListener::bind_with(addr, ListenOptions::new())
    }

    /// Binds `addr` and listens, with `opts`.
    ///
    /// # Errors
    ///
    /// As [`bind`](TcpListener::bind).
    pub fn bind_with(addr: SocketAddr, opts: ListenOptions) -> Result<TcpListener> {
        let fd = socket(family(&addr), SocketType::STREAM, Protocol::TCP)?;
        let b = fd.borrow()?;
        net::setsockopt(b, SockOpt::REUSEADDR, 1)?;
        if opts.reuse_port {
            net::setsockopt(b, SockOpt::REUSEPORT, 1)?;
        }
        if let (Some(on), SocketAddr::V6(_)) = (opts.v6_only, addr) {
            net::setsockopt(b, SockOpt::IPV6_V6ONLY, i32::from(on))?;
        }
        if opts.nodelay {
            net::setsockopt(b, SockOpt::TCP_NODELAY, 1)?;
        }
        net::bind(b, &addr)?;
        net::listen(b, opts.backlog)?;
        Ok(TcpListener { fd })
    }

    /// `accept4` — takes a waiting connection: the stream (non-blocking,
    /// close-on-exec) and its peer's address.
    ///
    /// # Errors
    ///
    /// [`Error::WouldBlock`](crate::Error::WouldBlock) when none waits;
    /// [`Error::Closed`](crate::Error::Closed); `EMFILE`/`ENFILE`.
    pub fn accept(&self) -> Result<(TcpStream, SocketAddr)> {
        let flags = SocketFlags::NONBLOCK | SocketFlags::CLOEXEC;
        let (fd, addr) = net::accept4(self.fd.borrow()?, flags)?;
        let stream = TcpStream { fd: Fd::from(fd) };
        let addr = match addr {
            Some(a) => a,
            None => stream.peer_addr()?,
        };
        Ok((stream, addr))
    }

    /// The address it listens on.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`](crate::Error::Closed).
    pub fn local_addr(&self) -> Result<SocketAddr> {
        local_addr(self.fd.borrow()?)
    }

    fn from_fd(fd: Fd) -> TcpListener {
        TcpListener { fd }
    }
}

handle_impls!(TcpListener, TcpListener::from_fd);

/// A TCP connection.
///
/// Reads and writes never block: with nothing to read or no room to write
/// they return [`Error::WouldBlock`](crate::Error::WouldBlock), and a
/// server moves bytes on the ring instead
#[doc = ring_link!("(", "`TcpStream::recv_op`", "TcpStream::recv_op", ",")]
#[doc = ring_link!("", "`TcpStream::send_op`", "TcpStream::send_op", " and their multishot and")]
/// shared forms). Writes pass `MSG_NOSIGNAL`: a connection the peer reset
/// is `Os(EPIPE)`, never a `SIGPIPE`.
#[derive(Debug)]
pub struct TcpStream {
    pub(crate) fd: Fd,
}

impl TcpStream {
    /// Connects to `addr`, waiting for the handshake (the stream is then
    /// non-blocking). To connect without waiting, push a
    #[doc = ring_link!("", "`Connect`", "crate::ring::ops::Connect", " on the ring.")]
    ///
    /// # Errors
    ///
    /// [`Error::Os`](crate::Error::Os) with `ECONNREFUSED` when nothing
    /// listens there, `ETIMEDOUT`, `ENETUNREACH`, `EMFILE`/`ENFILE`.
    pub fn connect(addr: SocketAddr) -> Result<TcpStream> {
        let fd = socket(family(&addr), SocketType::STREAM, Protocol::TCP)?;
        connect_and_wait(&fd, &SockAddr::from(addr))?;
        Ok(TcpStream { fd })
    }

    /// A TCP socket for `addr`'s family, not yet connected: for a
    #[doc = ring_link!("", "`Connect`", "crate::ring::ops::Connect", " on the ring, or to set")]
    /// options before connecting.
    ///
    /// # Errors
    ///
    /// `EMFILE`/`ENFILE`.
    pub fn unconnected(addr: SocketAddr) -> Result<TcpStream> {
        let fd = socket(family(&addr), SocketType::STREAM, Protocol::TCP)?;
        Ok(TcpStream { fd })
    }

    /// `recv` — reads what has arrived, up to `buf.len()` bytes; `Ok(0)`
    /// once the peer has shut its side down.
    ///
    /// # Errors
    ///
    /// [`Error::WouldBlock`](crate::Error::WouldBlock) when nothing has
    /// arrived; [`Error::Closed`](crate::Error::Closed); `ECONNRESET`.
    pub fn read(&self, buf: &mut [u8]) -> Result<usize> {
        recv(&self.fd, buf)
    }

    /// `send(.., MSG_NOSIGNAL)` — queues up to `buf.len()` bytes.
    ///
    /// # Errors
    ///
    /// [`Error::WouldBlock`](crate::Error::WouldBlock) when the send
    /// buffer is full; `EPIPE` or `ECONNRESET` once the connection is
    /// gone; [`Error::Closed`](crate::Error::Closed).
    pub fn write(&self, buf: &[u8]) -> Result<usize> {
        send(&self.fd, buf)
    }

    /// Shuts down reading, writing or both.
    ///
    /// # Errors
    ///
    /// `ENOTCONN`; [`Error::Closed`](crate::Error::Closed).
    pub fn shutdown(&self, how: Shutdown) -> Result<()> {
        shutdown(&self.fd, how)
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`](crate::Error::Closed).
    pub fn local_addr(&self) -> Result<SocketAddr> {
        local_addr(self.fd.borrow()?)
    }

    /// The peer's address.
    ///
    /// # Errors
    ///
    /// `ENOTCONN`; [`Error::Closed`](crate::Error::Closed).
    pub fn peer_addr(&self) -> Result<SocketAddr> {
        peer_addr(self.fd.borrow()?)
    }

    /// `TCP_NODELAY`: send small segments at once instead of gathering
    /// them (Nagle's algorithm off).
    ///
    /// # Errors
    ///
    /// [`Error::Closed`](crate::Error::Closed).
    pub fn set_nodelay(&self, on: bool) -> Result<()> {
        set_flag(&self.fd, SockOpt::TCP_NODELAY, on)
    }

    /// Whether `TCP_NODELAY` is on.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`](crate::Error::Closed).
    pub fn nodelay(&self) -> Result<bool> {
        flag(&self.fd, SockOpt::TCP_NODELAY)
    }

    /// `SO_KEEPALIVE`: probe the peer when the connection idles.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`](crate::Error::Closed).
    pub fn set_keepalive(&self, on: bool) -> Result<()> {
        set_flag(&self.fd, SockOpt::KEEPALIVE, on)
    }

    /// Whether `SO_KEEPALIVE` is on.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`](crate::Error::Closed).
    pub fn keepalive(&self) -> Result<bool> {
        flag(&self.fd, SockOpt::KEEPALIVE)
    }

    pub(crate) fn from_fd(fd: Fd) -> TcpStream {
        TcpStream { fd }
    }
}

handle_impls!(TcpStream, TcpStream::from_fd);

impl From<std::net::TcpListener> for TcpListener {
    /// Takes std's listener, switched to non-blocking.
    fn from(l: std::net::TcpListener) -> TcpListener {
        TcpListener::from_fd(from_std(OwnedFd::from(l)))
    }
}

impl From<TcpListener> for std::net::TcpListener {
    /// Hands the listener to std, still non-blocking.
    fn from(l: TcpListener) -> std::net::TcpListener {
        std::net::TcpListener::from(OwnedFd::from(l))
    }
}

impl From<std::net::TcpStream> for TcpStream {
    /// Takes std's stream, switched to non-blocking.
    fn from(s: std::net::TcpStream) -> TcpStream {
        TcpStream::from_fd(from_std(OwnedFd::from(s)))
    }
}

impl From<TcpStream> for std::net::TcpStream {
    /// Hands the stream to std, still non-blocking.
    fn from(s: TcpStream) -> std::net::TcpStream {
        std::net::TcpStream::from(OwnedFd::from(s))
    }
}

socket_methods!(TcpListener);
socket_methods!(TcpStream, buffers);
