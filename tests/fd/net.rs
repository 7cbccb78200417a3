//! The socket handles: constructors, options, addresses, conversions, and
//! their error results.

use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsFd, OwnedFd};

use iofd::sys::Errno;
use iofd::{Error, ListenOptions, TcpListener, TcpStream, UdpSocket, UnixListener, UnixStream};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// A fresh directory for Unix socket paths.
fn temp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("iofd-net-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn tcp_handles_are_non_blocking_and_close_on_exec() -> TestResult {
    let l = TcpListener::bind(loopback())?;
    let c = TcpStream::connect(l.local_addr()?)?;
    let (s, _) = l.accept()?;
    for fd in [l.as_fd(), c.as_fd(), s.as_fd()] {
        let flags = iofd::sys::file::fcntl_getfl(fd)?;
        assert!(flags.contains(iofd::sys::file::StatusFlags::NONBLOCK));
        let fdf = iofd::sys::file::fcntl_getfd(fd)?;
        assert!(fdf.contains(iofd::sys::file::FdFlags::CLOEXEC));
    }
    Ok(())
}

#[test]
fn a_taken_address_and_a_closed_port_are_named_errors() -> TestResult {
    let l = TcpListener::bind(loopback())?;
    assert_eq!(
        TcpListener::bind(l.local_addr()?).err(),
        Some(Error::Os(Errno::EADDRINUSE))
    );
    let closed = TcpListener::bind(loopback())?.local_addr()?;
    assert_eq!(
        TcpStream::connect(closed).err(),
        Some(Error::Os(Errno::ECONNREFUSED))
    );
    Ok(())
}

#[test]
fn reuse_port_lets_listeners_share_an_address() -> TestResult {
    let opts = ListenOptions::new().reuse_port(true).backlog(64);
    let a = TcpListener::bind_with(loopback(), opts)?;
    let b = TcpListener::bind_with(a.local_addr()?, opts)?;
    assert_eq!(a.local_addr()?, b.local_addr()?);
    // Without it on the second, the address is taken.
    assert_eq!(
        TcpListener::bind(a.local_addr()?).err(),
        Some(Error::Os(Errno::EADDRINUSE))
    );
    Ok(())
}

#[test]
fn a_nodelay_listener_hands_out_nodelay_connections() -> TestResult {
    let plain = TcpListener::bind(loopback())?;
    let _c = TcpStream::connect(plain.local_addr()?)?;
    std::thread::sleep(std::time::Duration::from_millis(10));
    assert!(!plain.accept()?.0.nodelay()?);
    let l = TcpListener::bind_with(loopback(), ListenOptions::new().nodelay(true))?;
    let _c = TcpStream::connect(l.local_addr()?)?;
    std::thread::sleep(std::time::Duration::from_millis(10));
    assert!(l.accept()?.0.nodelay()?);
    Ok(())
}

#[test]
fn stream_options_are_set_and_read_back() -> TestResult {
    let l = TcpListener::bind(loopback())?;
    let c = TcpStream::connect(l.local_addr()?)?;
    assert!(!c.nodelay()?);
    c.set_nodelay(true)?;
    assert!(c.nodelay()?);
    c.set_keepalive(true)?;
    assert!(c.keepalive()?);
    c.set_recv_buffer_size(64 << 10)?;
    assert!(c.recv_buffer_size()? >= 64 << 10, "the kernel doubles it");
    c.set_send_buffer_size(64 << 10)?;
    assert!(c.send_buffer_size()? >= 64 << 10);
    assert_eq!(
        c.set_send_buffer_size(usize::MAX).err(),
        Some(Error::InvalidParam("buffer size over i32::MAX"))
    );
    assert_eq!(c.take_error()?, None);
    Ok(())
}

#[test]
fn v6_only_listeners_bind_the_ipv6_loopback() -> TestResult {
    let addr: SocketAddr = "[::1]:0".parse()?;
    match TcpListener::bind_with(addr, ListenOptions::new().v6_only(true)) {
        Ok(l) => {
            let c = TcpStream::connect(l.local_addr()?)?;
            assert!(c.peer_addr()?.is_ipv6());
        }
        // A host without IPv6 on loopback says so.
        Err(Error::Os(Errno::EADDRNOTAVAIL | Errno::EAFNOSUPPORT)) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

#[test]
fn shutdown_and_closed_handles() -> TestResult {
    let l = TcpListener::bind(loopback())?;
    let c = TcpStream::connect(l.local_addr()?)?;
    let (s, _) = l.accept()?;
    c.shutdown(Shutdown::Write)?;
    std::thread::sleep(std::time::Duration::from_millis(5));
    let mut buf = [0; 4];
    assert_eq!(s.read(&mut buf)?, 0);
    c.close()?;
    assert_eq!(c.write(b"x"), Err(Error::Closed));
    assert_eq!(c.local_addr(), Err(Error::Closed));
    assert_eq!(l.accept().err(), Some(Error::WouldBlock));
    Ok(())
}

#[test]
fn std_conversions_both_ways_keep_the_socket_non_blocking() -> TestResult {
    let std_l = std::net::TcpListener::bind(loopback())?;
    let addr = std_l.local_addr()?;
    let l = TcpListener::from(std_l);
    assert_eq!(
        l.accept().err(),
        Some(Error::WouldBlock),
        "made non-blocking"
    );
    let back: std::net::TcpListener = l.into();
    assert_eq!(back.local_addr()?, addr);
    let owned = OwnedFd::from(TcpListener::from(back));
    let l = TcpListener::from(owned);
    assert_eq!(l.local_addr()?, addr);
    let u = UdpSocket::from(std::net::UdpSocket::bind(loopback())?);
    let mut buf = [0; 1];
    assert_eq!(u.recv_from(&mut buf).err(), Some(Error::WouldBlock));
    Ok(())
}

#[test]
fn udp_connected_send_and_recv() -> TestResult {
    let a = UdpSocket::bind(loopback())?;
    let b = UdpSocket::bind(loopback())?;
    a.connect(b.local_addr()?)?;
    assert_eq!(a.peer_addr()?, b.local_addr()?);
    a.send(b"abc")?;
    std::thread::sleep(std::time::Duration::from_millis(5));
    let mut buf = [0; 8];
    assert_eq!(b.recv(&mut buf)?, 3);
    let unconnected = UdpSocket::bind(loopback())?;
    assert_eq!(
        unconnected.send(b"x").err(),
        Some(Error::Os(Errno::EDESTADDRREQ))
    );
    Ok(())
}

#[test]
fn unix_streams_by_path_and_as_a_pair() -> TestResult {
    let dir = temp_dir("path");
    let path = dir.join("s");
    let l = UnixListener::bind(&path)?;
    assert_eq!(l.local_addr()?.as_pathname(), Some(path.as_path()));
    assert_eq!(
        UnixListener::bind(&path).err(),
        Some(Error::Os(Errno::EADDRINUSE))
    );
    let c = UnixStream::connect(&path)?;
    let (s, peer) = l.accept()?;
    assert!(peer.is_unnamed());
    c.write(b"hi")?;
    let mut buf = [0; 2];
    assert_eq!(s.read(&mut buf)?, 2);
    let (x, y) = UnixStream::pair()?;
    y.write(b"yo")?;
    assert_eq!(x.read(&mut buf)?, 2);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[test]
fn unix_paths_that_do_not_fit_are_refused() -> TestResult {
    let long = "x".repeat(200);
    let refused = Some(Error::InvalidParam(
        "a Unix socket path must be 1 to 107 bytes, with no NUL",
    ));
    assert_eq!(UnixListener::bind(&long).err(), refused);
    assert_eq!(UnixStream::connect("").err(), refused);
    assert_eq!(
        UnixStream::connect(temp_dir("none").join("nothing")).err(),
        Some(Error::Os(Errno::ENOENT))
    );
    Ok(())
}
