//! `UnixListener` and `UnixStream`: stream sockets in the Unix domain.

use std::net::Shutdown;
use std::os::fd::OwnedFd;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::SocketAddr;
use std::path::Path;

use crate::error::{Error, Result};
use crate::fd::{Fd, handle_impls};
use crate::sys::net::{self, AddressFamily, Protocol, SockAddr, SocketFlags, SocketType};

use super::{DEFAULT_BACKLOG, connect_and_wait, from_std, recv, send, shutdown, socket};

/// `path` encoded as a Unix-domain address.
fn encode(path: &Path) -> Result<SockAddr> {
    SockAddr::unix(path.as_os_str().as_bytes()).ok_or(Error::InvalidParam(
        "a Unix socket path must be 1 to 107 bytes, with no NUL",
    ))
}

/// A Unix-domain address as std's [`SocketAddr`].
fn decode(a: &SockAddr) -> Result<SocketAddr> {
    let path = a
        .as_unix_path()
        .ok_or(Error::InvalidParam("not a Unix-domain address"))?;
    let made = match path.split_first() {
        Some((0, name)) => SocketAddr::from_abstract_name(name),
        _ => SocketAddr::from_pathname(std::ffi::OsStr::from_bytes(path)),
    };
    made.map_err(|_| Error::InvalidParam("a Unix address std cannot hold"))
}

/// A Unix-domain stream socket listening at a path.
///
/// ```
/// use iofd::{UnixListener, UnixStream};
///
/// let dir = std::env::temp_dir().join(format!("iofd-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("sock");
/// # let _ = std::fs::remove_file(&path);
/// let listener = UnixListener::bind(&path)?;
/// let client = UnixStream::connect(&path)?;
/// let (server, _) = listener.accept()?;
/// client.write(b"hi")?;
/// let mut buf = [0; 2];
/// assert_eq!(server.read(&mut buf)?, 2);
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), iofd::Error>(())
/// ```
#[derive(Debug)]
pub struct UnixListener {
    fd: Fd,
}

impl UnixListener {
    /// Binds `path` (which must not exist yet) and listens.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParam`] for a path that does not fit a Unix
    /// address; [`Error::Os`](crate::Error::Os) with `EADDRINUSE` when the
    /// file exists, `ENOENT`/`EACCES` for its directory.
    pub fn bind(path: impl AsRef<Path>) -> Result<UnixListener> {
        let addr = encode(path.as_ref())?;
        let fd = socket(AddressFamily::UNIX, SocketType::STREAM, Protocol::DEFAULT)?;
        let b = fd.borrow()?;
        net::bind_addr(b, &addr)?;
        net::listen(b, DEFAULT_BACKLOG)?;
        Ok(UnixListener { fd })
    }

    /// `accept4` — takes a waiting connection and its peer's address
    /// (unnamed, for a client that did not bind one).
    ///
    /// # Errors
    ///
    /// [`Error::WouldBlock`] when none waits; [`Error::Closed`];
    /// `EMFILE`/`ENFILE`.
    pub fn accept(&self) -> Result<(UnixStream, SocketAddr)> {
        let flags = SocketFlags::NONBLOCK | SocketFlags::CLOEXEC;
        let (fd, _) = net::accept4(self.fd.borrow()?, flags)?;
        let stream = UnixStream { fd: Fd::from(fd) };
        let addr = stream.peer_addr()?;
        Ok((stream, addr))
    }

    /// The address it listens at.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`].
    pub fn local_addr(&self) -> Result<SocketAddr> {
        decode(&net::getsockname(self.fd.borrow()?)?)
    }

    fn from_fd(fd: Fd) -> UnixListener {
        UnixListener { fd }
    }
}

handle_impls!(UnixListener, UnixListener::from_fd);

/// A Unix-domain stream connection.
///
/// As [`TcpStream`](crate::TcpStream): reads and writes never block, and
/// writes pass `MSG_NOSIGNAL`.
#[derive(Debug)]
pub struct UnixStream {
    pub(crate) fd: Fd,
}

impl UnixStream {
    /// Connects to the listener at `path`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParam`] for a path that does not fit;
    /// [`Error::Os`](crate::Error::Os) with `ENOENT` when nothing is bound
    /// there, `ECONNREFUSED` when nothing listens.
    pub fn connect(path: impl AsRef<Path>) -> Result<UnixStream> {
        let addr = encode(path.as_ref())?;
        let fd = socket(AddressFamily::UNIX, SocketType::STREAM, Protocol::DEFAULT)?;
        connect_and_wait(&fd, &addr)?;
        Ok(UnixStream { fd })
    }

    /// Two streams connected to each other (`socketpair`).
    ///
    /// # Errors
    ///
    /// `EMFILE`/`ENFILE`.
    pub fn pair() -> Result<(UnixStream, UnixStream)> {
        let flags = SocketFlags::NONBLOCK | SocketFlags::CLOEXEC;
        let (a, b) = net::socketpair(
            AddressFamily::UNIX,
            SocketType::STREAM,
            flags,
            Protocol::DEFAULT,
        )?;
        Ok((
            UnixStream { fd: Fd::from(a) },
            UnixStream { fd: Fd::from(b) },
        ))
    }

    /// `recv` — as [`TcpStream::read`](crate::TcpStream::read).
    ///
    /// # Errors
    ///
    /// As [`TcpStream::read`](crate::TcpStream::read).
    pub fn read(&self, buf: &mut [u8]) -> Result<usize> {
        recv(&self.fd, buf)
    }

    /// `send(.., MSG_NOSIGNAL)` — as [`TcpStream::write`](crate::TcpStream::write).
    ///
    /// # Errors
    ///
    /// As [`TcpStream::write`](crate::TcpStream::write).
    pub fn write(&self, buf: &[u8]) -> Result<usize> {
        send(&self.fd, buf)
    }

    /// Shuts down reading, writing or both.
    ///
    /// # Errors
    ///
    /// `ENOTCONN`; [`Error::Closed`].
    pub fn shutdown(&self, how: Shutdown) -> Result<()> {
        shutdown(&self.fd, how)
    }

    /// The local address (unnamed unless bound).
    ///
    /// # Errors
    ///
    /// [`Error::Closed`].
    pub fn local_addr(&self) -> Result<SocketAddr> {
        decode(&net::getsockname(self.fd.borrow()?)?)
    }

    /// The peer's address.
    ///
    /// # Errors
    ///
    /// `ENOTCONN`; [`Error::Closed`].
    pub fn peer_addr(&self) -> Result<SocketAddr> {
        decode(&net::getpeername(self.fd.borrow()?)?)
    }

    pub(crate) fn from_fd(fd: Fd) -> UnixStream {
        UnixStream { fd }
    }
}

handle_impls!(UnixStream, UnixStream::from_fd);

impl From<std::os::unix::net::UnixListener> for UnixListener {
    /// Takes std's listener, switched to non-blocking.
    fn from(l: std::os::unix::net::UnixListener) -> UnixListener {
        UnixListener::from_fd(from_std(OwnedFd::from(l)))
    }
}

impl From<UnixListener> for std::os::unix::net::UnixListener {
    /// Hands the listener to std, still non-blocking.
    fn from(l: UnixListener) -> std::os::unix::net::UnixListener {
        std::os::unix::net::UnixListener::from(OwnedFd::from(l))
    }
}

impl From<std::os::unix::net::UnixStream> for UnixStream {
    /// Takes std's stream, switched to non-blocking.
    fn from(s: std::os::unix::net::UnixStream) -> UnixStream {
        UnixStream::from_fd(from_std(OwnedFd::from(s)))
    }
}

impl From<UnixStream> for std::os::unix::net::UnixStream {
    /// Hands the stream to std, still non-blocking.
    fn from(s: UnixStream) -> std::os::unix::net::UnixStream {
        std::os::unix::net::UnixStream::from(OwnedFd::from(s))
    }
}

socket_methods!(UnixListener);
socket_methods!(UnixStream);
