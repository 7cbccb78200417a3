//! The socket wrappers of `iofd::sys::net`, against real sockets on
//! 127.0.0.1 (and ::1 when the kernel has IPv6), ports chosen by the kernel.

use crate::util;

use std::error::Error;
use std::fs::File;
use std::io::{IoSlice, IoSliceMut};
use std::net::{Ipv6Addr, Shutdown, SocketAddr, SocketAddrV6};
use std::os::fd::{AsFd, OwnedFd};

use iofd::sys::Errno;
use iofd::sys::file::{FdFlags, StatusFlags, fcntl_getfd, fcntl_getfl};
use iofd::sys::net::{
    self, AddressFamily, MMsgHdr, MMsgHdrMut, MsgFlags, Protocol, SockAddr, SocketFlags, SocketType,
};

type TestResult = Result<(), Box<dyn Error>>;

const LOOPBACK: &str = "127.0.0.1:0";

/// An open descriptor that is not a socket.
fn not_a_socket() -> File {
    File::open("/dev/null").expect("open /dev/null")
}

fn any_loopback() -> SocketAddr {
    LOOPBACK.parse().expect("address")
}

fn new_socket(ty: SocketType, flags: SocketFlags) -> Result<OwnedFd, Errno> {
    net::socket(
        AddressFamily::INET,
        ty,
        flags | SocketFlags::CLOEXEC,
        Protocol::DEFAULT,
    )
}

/// The address `fd` is bound to, decoded.
fn local_addr(fd: &impl AsFd) -> Result<SocketAddr, Box<dyn Error>> {
    let a = net::getsockname(fd.as_fd())?;
    Ok(a.as_socket_addr().ok_or("getsockname: not an IP address")?)
}

/// A UDP socket bound to 127.0.0.1 on a kernel-chosen port.
fn udp(flags: SocketFlags) -> Result<(OwnedFd, SocketAddr), Box<dyn Error>> {
    let fd = new_socket(SocketType::DGRAM, flags)?;
    net::bind(fd.as_fd(), &any_loopback())?;
    let addr = local_addr(&fd)?;
    Ok((fd, addr))
}

/// A listening TCP socket on 127.0.0.1, a kernel-chosen port.
fn tcp_listener(flags: SocketFlags) -> Result<(OwnedFd, SocketAddr), Box<dyn Error>> {
    let fd = new_socket(SocketType::STREAM, flags)?;
    net::bind(fd.as_fd(), &any_loopback())?;
    net::listen(fd.as_fd(), 16)?;
    let addr = local_addr(&fd)?;
    Ok((fd, addr))
}

/// A connected TCP pair: (client, server side).
fn tcp_pair() -> Result<(OwnedFd, OwnedFd), Box<dyn Error>> {
    let (listener, addr) = tcp_listener(SocketFlags::empty())?;
    let client = new_socket(SocketType::STREAM, SocketFlags::empty())?;
    net::connect(client.as_fd(), &addr)?;
    let (server, _) = net::accept4(listener.as_fd(), SocketFlags::CLOEXEC)?;
    Ok((client, server))
}

#[test]
fn tcp_connect_accept_send_shutdown() -> TestResult {
    let (listener, addr) = tcp_listener(SocketFlags::empty())?;
    assert!(addr.ip().is_loopback());
    assert_ne!(addr.port(), 0);

    let client = new_socket(SocketType::STREAM, SocketFlags::empty())?;
    net::connect(client.as_fd(), &addr)?;
    let (server, peer) = net::accept4(listener.as_fd(), SocketFlags::CLOEXEC)?;
    assert_eq!(peer, Some(local_addr(&client)?));
    assert_eq!(fcntl_getfd(server.as_fd())?, FdFlags::CLOEXEC);
    assert!(!fcntl_getfl(server.as_fd())?.contains(StatusFlags::NONBLOCK));

    assert_eq!(
        net::sendto(client.as_fd(), b"hello", MsgFlags::NOSIGNAL, None)?,
        5
    );
    let mut buf = [0u8; 16];
    let (n, from) = net::recvfrom(server.as_fd(), &mut buf, MsgFlags::empty())?;
    assert_eq!(&buf[..n], b"hello");
    assert_eq!(from, None, "TCP reports no source address");

    net::shutdown(client.as_fd(), Shutdown::Write)?;
    let (n, _) = net::recvfrom(server.as_fd(), &mut buf, MsgFlags::empty())?;
    assert_eq!(n, 0, "the peer reads end of file after shutdown(Write)");
    // The other direction still works.
    net::sendto(server.as_fd(), b"back", MsgFlags::NOSIGNAL, None)?;
    let (n, _) = net::recvfrom(client.as_fd(), &mut buf, MsgFlags::empty())?;
    assert_eq!(&buf[..n], b"back");
    Ok(())
}

#[test]
fn socket_and_accept4_apply_their_flags() -> TestResult {
    let both = SocketFlags::NONBLOCK | SocketFlags::CLOEXEC;
    let (listener, addr) = tcp_listener(SocketFlags::NONBLOCK)?;
    assert!(fcntl_getfl(listener.as_fd())?.contains(StatusFlags::NONBLOCK));
    assert_eq!(fcntl_getfd(listener.as_fd())?, FdFlags::CLOEXEC);

    let plain = net::socket(
        AddressFamily::INET,
        SocketType::STREAM,
        SocketFlags::empty(),
        Protocol::TCP,
    )?;
    assert_eq!(fcntl_getfd(plain.as_fd())?, FdFlags::empty());
    net::connect(plain.as_fd(), &addr)?;
    let (conn, _) = net::accept4(listener.as_fd(), both)?;
    assert!(fcntl_getfl(conn.as_fd())?.contains(StatusFlags::NONBLOCK));
    assert_eq!(fcntl_getfd(conn.as_fd())?, FdFlags::CLOEXEC);
    Ok(())
}

#[test]
fn udp_sendto_recvfrom_reports_the_source() -> TestResult {
    let (a, a_addr) = udp(SocketFlags::empty())?;
    let (b, b_addr) = udp(SocketFlags::empty())?;
    assert_eq!(
        net::sendto(a.as_fd(), b"ping", MsgFlags::empty(), Some(&b_addr))?,
        4
    );
    let mut buf = [0u8; 16];
    let (n, from) = net::recvfrom(b.as_fd(), &mut buf, MsgFlags::empty())?;
    assert_eq!(&buf[..n], b"ping");
    assert_eq!(from, Some(a_addr));

    // PEEK leaves the datagram queued; TRUNC reports its full length.
    net::sendto(b.as_fd(), b"0123456789", MsgFlags::empty(), Some(&a_addr))?;
    let mut small = [0u8; 4];
    let (n, _) = net::recvfrom(a.as_fd(), &mut small, MsgFlags::PEEK | MsgFlags::TRUNC)?;
    assert_eq!((n, &small), (10, b"0123"));
    let (n, from) = net::recvfrom(a.as_fd(), &mut buf, MsgFlags::empty())?;
    assert_eq!((&buf[..n], from), (&b"0123456789"[..], Some(b_addr)));
    Ok(())
}

#[test]
fn sendmsg_recvmsg_gather_and_scatter() -> TestResult {
    let (a, a_addr) = udp(SocketFlags::empty())?;
    let (b, b_addr) = udp(SocketFlags::empty())?;
    let out = [IoSlice::new(b"head-"), IoSlice::new(b"tail")];
    assert_eq!(
        net::sendmsg(a.as_fd(), &out, Some(&b_addr), MsgFlags::empty())?,
        9
    );

    let (mut x, mut y) = ([0u8; 3], [0u8; 8]);
    let mut bufs = [IoSliceMut::new(&mut x), IoSliceMut::new(&mut y)];
    let got = net::recvmsg(b.as_fd(), &mut bufs, MsgFlags::empty())?;
    assert_eq!(got.bytes, 9);
    assert_eq!(got.addr, Some(a_addr));
    assert_eq!(got.flags, MsgFlags::empty());
    assert_eq!((&x, &y[..6]), (b"hea", &b"d-tail"[..]));

    // A datagram longer than the buffers is cut and flagged.
    net::sendmsg(a.as_fd(), &out, Some(&b_addr), MsgFlags::empty())?;
    let (mut x, mut y) = ([0u8; 2], [0u8; 2]);
    let mut bufs = [IoSliceMut::new(&mut x), IoSliceMut::new(&mut y)];
    let got = net::recvmsg(b.as_fd(), &mut bufs, MsgFlags::empty())?;
    assert_eq!(got.bytes, 4);
    assert!(got.flags.contains(MsgFlags::TRUNC));
    assert_eq!((&x, &y), (b"he", b"ad"));

    // On a connected socket no address is needed.
    net::connect(a.as_fd(), &b_addr)?;
    net::sendmsg(a.as_fd(), &out[1..], None, MsgFlags::empty())?;
    let mut z = [0u8; 8];
    let got = net::recvmsg(b.as_fd(), &mut [IoSliceMut::new(&mut z)], MsgFlags::empty())?;
    assert_eq!(
        (got.bytes, got.addr, &z[..4]),
        (4, Some(a_addr), &b"tail"[..])
    );
    Ok(())
}

#[test]
fn sendmmsg_recvmmsg_move_a_batch() -> TestResult {
    let (a, a_addr) = udp(SocketFlags::empty())?;
    let (b, b_addr) = udp(SocketFlags::empty())?;
    let to = SockAddr::from(b_addr);
    let payloads: [&[u8]; 3] = [b"one", b"second", b"3"];
    let iovs: Vec<[IoSlice<'_>; 1]> = payloads.iter().map(|p| [IoSlice::new(p)]).collect();
    let mut out: Vec<MMsgHdr<'_>> = iovs.iter().map(|v| MMsgHdr::with_addr(v, &to)).collect();
    assert_eq!(out[0].bytes_sent(), 0);
    assert_eq!(net::sendmmsg(a.as_fd(), &mut out, MsgFlags::empty())?, 3);
    let sent: Vec<usize> = out.iter().map(MMsgHdr::bytes_sent).collect();
    assert_eq!(sent, [3, 6, 1]);

    let mut bufs = [[0u8; 16]; 4];
    let mut srcs = [SockAddr::new(); 4];
    let mut iovs: Vec<[IoSliceMut<'_>; 1]> =
        bufs.iter_mut().map(|b| [IoSliceMut::new(b)]).collect();
    let mut msgs: Vec<MMsgHdrMut<'_>> = iovs
        .iter_mut()
        .zip(srcs.iter_mut())
        .map(|(v, s)| MMsgHdrMut::with_addr(v, s))
        .collect();
    // Four headers, three datagrams: WAITFORONE returns what is queued.
    let n = net::recvmmsg(b.as_fd(), &mut msgs, MsgFlags::WAITFORONE)?;
    assert_eq!(n, 3);
    let lens: Vec<usize> = msgs.iter().map(MMsgHdrMut::bytes).collect();
    assert_eq!(lens, [3, 6, 1, 0]);
    for m in &msgs[..3] {
        assert_eq!(m.addr(), Some(a_addr));
        assert_eq!(m.flags(), MsgFlags::empty());
    }
    assert_eq!(msgs[3].addr(), None, "an unfilled header has no address");
    drop(msgs);
    drop(iovs);
    for (buf, p) in bufs.iter().zip(payloads) {
        assert_eq!(&buf[..p.len()], p);
    }

    // Headers without addresses, on a connected socket.
    net::connect(a.as_fd(), &b_addr)?;
    let iov = [IoSlice::new(b"x")];
    let mut out = [MMsgHdr::new(&iov), MMsgHdr::new(&iov)];
    assert_eq!(net::sendmmsg(a.as_fd(), &mut out, MsgFlags::empty())?, 2);
    let mut buf = [0u8; 4];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut msgs = [MMsgHdrMut::new(&mut iov)];
    assert_eq!(net::recvmmsg(b.as_fd(), &mut msgs, MsgFlags::empty())?, 1);
    assert_eq!((msgs[0].bytes(), msgs[0].addr()), (1, None));
    // The header can be reused for the next message.
    assert_eq!(net::recvmmsg(b.as_fd(), &mut msgs, MsgFlags::DONTWAIT)?, 1);
    assert_eq!(
        net::recvmmsg(b.as_fd(), &mut msgs, MsgFlags::DONTWAIT).unwrap_err(),
        Errno::EAGAIN
    );
    Ok(())
}

#[test]
fn ipv6_loopback_round_trip() -> TestResult {
    let fd = match net::socket(
        AddressFamily::INET6,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC,
        Protocol::UDP,
    ) {
        Err(Errno::EAFNOSUPPORT) => {
            println!("skipped: this kernel has no IPv6 (EAFNOSUPPORT)");
            return Ok(());
        }
        r => r?,
    };
    let any = SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::LOCALHOST, 0, 0, 0));
    match net::bind(fd.as_fd(), &any) {
        Err(Errno::EADDRNOTAVAIL) => {
            println!("skipped: ::1 is not configured (EADDRNOTAVAIL)");
            return Ok(());
        }
        r => r?,
    }
    let local = net::getsockname(fd.as_fd())?;
    assert_eq!(local.family(), AddressFamily::INET6);
    assert_eq!(local.len(), 28);
    let addr = local.as_socket_addr().ok_or("not IPv6")?;
    assert_eq!(addr.ip(), Ipv6Addr::LOCALHOST);
    assert_ne!(addr.port(), 0);

    net::sendto(fd.as_fd(), b"six", MsgFlags::empty(), Some(&addr))?;
    let mut buf = [0u8; 8];
    let (n, from) = net::recvfrom(fd.as_fd(), &mut buf, MsgFlags::empty())?;
    assert_eq!((&buf[..n], from), (&b"six"[..], Some(addr)));
    Ok(())
}

#[test]
fn setsockopt_reuseaddr_lets_udp_sockets_share_a_port() -> TestResult {
    let (first, addr) = udp(SocketFlags::empty())?;
    let second = new_socket(SocketType::DGRAM, SocketFlags::empty())?;
    assert_eq!(
        net::bind(second.as_fd(), &addr).unwrap_err(),
        Errno::EADDRINUSE
    );

    let a = new_socket(SocketType::DGRAM, SocketFlags::empty())?;
    net::setsockopt_reuseaddr(a.as_fd(), true)?;
    net::bind(a.as_fd(), &any_loopback())?;
    let shared = local_addr(&a)?;
    let b = new_socket(SocketType::DGRAM, SocketFlags::empty())?;
    net::setsockopt_reuseaddr(b.as_fd(), true)?;
    net::bind(b.as_fd(), &shared)?;
    assert_eq!(local_addr(&b)?, shared);
    drop(first);
    Ok(())
}

#[test]
fn sockaddr_converts_both_ways() {
    let v4: SocketAddr = "127.0.0.1:4242".parse().unwrap();
    let a = SockAddr::from(v4);
    assert_eq!(
        (a.family(), a.len(), a.as_socket_addr()),
        (AddressFamily::INET, 16, Some(v4))
    );
    let v6 = SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::LOCALHOST, 80, 0xabcde, 3));
    let b = SockAddr::from(v6);
    assert_eq!(
        (b.family(), b.len(), b.as_socket_addr()),
        (AddressFamily::INET6, 28, Some(v6))
    );
    assert_ne!(a, b);
    assert_eq!(SockAddr::new(), SockAddr::default());
    assert!(SockAddr::new().is_empty());
    assert_eq!(SockAddr::new().family(), AddressFamily::UNSPEC);
    assert_eq!(format!("{a:?}"), "SockAddr(127.0.0.1:4242)");
}

// Errors, one or more per wrapper.

#[test]
fn socket_rejects_a_bad_family_type_or_flag() {
    let bogus = AddressFamily::from_raw(200);
    let err = net::socket(
        bogus,
        SocketType::STREAM,
        SocketFlags::empty(),
        Protocol::DEFAULT,
    );
    assert_eq!(err.unwrap_err(), Errno::EAFNOSUPPORT);
    let err = new_socket(SocketType::from_raw(0xf), SocketFlags::empty());
    assert_eq!(err.unwrap_err(), Errno::EINVAL);
    let err = new_socket(SocketType::STREAM, SocketFlags::from_bits_retain(0x100));
    assert_eq!(err.unwrap_err(), Errno::EINVAL);
    let err = net::socket(
        AddressFamily::INET,
        SocketType::STREAM,
        SocketFlags::empty(),
        Protocol::UDP,
    );
    assert_eq!(err.unwrap_err(), Errno::EPROTONOSUPPORT);
}

#[test]
fn bind_errors() -> TestResult {
    let (fd, addr) = udp(SocketFlags::empty())?;
    assert_eq!(
        net::bind(fd.as_fd(), &any_loopback()).unwrap_err(),
        Errno::EINVAL
    );
    let (_listener, taken) = tcp_listener(SocketFlags::empty())?;
    let other = new_socket(SocketType::STREAM, SocketFlags::empty())?;
    assert_eq!(
        net::bind(other.as_fd(), &taken).unwrap_err(),
        Errno::EADDRINUSE
    );
    let v6 = SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::LOCALHOST, 0, 0, 0));
    assert_eq!(
        net::bind(other.as_fd(), &v6).unwrap_err(),
        Errno::EAFNOSUPPORT
    );
    assert_eq!(
        net::bind(not_a_socket().as_fd(), &addr).unwrap_err(),
        Errno::ENOTSOCK
    );
    assert_eq!(
        net::bind(util::not_open(), &addr).unwrap_err(),
        Errno::EBADF
    );
    Ok(())
}

#[test]
fn listen_on_udp_is_not_supported() -> TestResult {
    let (fd, _) = udp(SocketFlags::empty())?;
    assert_eq!(net::listen(fd.as_fd(), 1).unwrap_err(), Errno::EOPNOTSUPP);
    assert_eq!(
        net::listen(not_a_socket().as_fd(), 1).unwrap_err(),
        Errno::ENOTSOCK
    );
    Ok(())
}

#[test]
fn accept4_errors() -> TestResult {
    let idle = new_socket(SocketType::STREAM, SocketFlags::empty())?;
    assert_eq!(
        net::accept4(idle.as_fd(), SocketFlags::empty()).unwrap_err(),
        Errno::EINVAL
    );
    let (listener, _) = tcp_listener(SocketFlags::NONBLOCK)?;
    let err = net::accept4(listener.as_fd(), SocketFlags::empty()).unwrap_err();
    assert_eq!(err, Errno::EAGAIN);
    let err = net::accept4(listener.as_fd(), SocketFlags::from_bits_retain(0x1)).unwrap_err();
    assert_eq!(err, Errno::EINVAL);
    let (udp, _) = udp(SocketFlags::empty())?;
    assert_eq!(
        net::accept4(udp.as_fd(), SocketFlags::empty()).unwrap_err(),
        Errno::EOPNOTSUPP
    );
    Ok(())
}

#[test]
fn connect_to_a_closed_port_is_refused() -> TestResult {
    // A socket bound but not listening holds the port, so nothing else
    // can listen there during the test.
    let holder = new_socket(SocketType::STREAM, SocketFlags::empty())?;
    net::bind(holder.as_fd(), &any_loopback())?;
    let closed = local_addr(&holder)?;
    let client = new_socket(SocketType::STREAM, SocketFlags::empty())?;
    assert_eq!(
        net::connect(client.as_fd(), &closed).unwrap_err(),
        Errno::ECONNREFUSED
    );
    assert_eq!(
        net::connect(util::not_open(), &closed).unwrap_err(),
        Errno::EBADF
    );
    Ok(())
}

#[test]
fn shutdown_of_an_unconnected_socket() -> TestResult {
    let fd = new_socket(SocketType::STREAM, SocketFlags::empty())?;
    assert_eq!(
        net::shutdown(fd.as_fd(), Shutdown::Both).unwrap_err(),
        Errno::ENOTCONN
    );
    let err = net::shutdown(not_a_socket().as_fd(), Shutdown::Read).unwrap_err();
    assert_eq!(err, Errno::ENOTSOCK);
    Ok(())
}

#[test]
fn getsockname_errors() {
    assert_eq!(
        net::getsockname(not_a_socket().as_fd()).unwrap_err(),
        Errno::ENOTSOCK
    );
    assert_eq!(
        net::getsockname(util::not_open()).unwrap_err(),
        Errno::EBADF
    );
}

#[test]
fn setsockopt_errors() {
    let err = net::setsockopt_reuseaddr(not_a_socket().as_fd(), true).unwrap_err();
    assert_eq!(err, Errno::ENOTSOCK);
    assert_eq!(
        net::setsockopt_reuseaddr(util::not_open(), true).unwrap_err(),
        Errno::EBADF
    );
}

#[test]
fn sendto_errors() -> TestResult {
    let fd = new_socket(SocketType::STREAM, SocketFlags::empty())?;
    // NOSIGNAL: EPIPE on a stream must not raise SIGPIPE in the test process.
    let err = net::sendto(fd.as_fd(), b"x", MsgFlags::NOSIGNAL, None).unwrap_err();
    assert_eq!(err, Errno::EPIPE);
    let (udp, _) = udp(SocketFlags::empty())?;
    let err = net::sendto(udp.as_fd(), b"x", MsgFlags::empty(), None).unwrap_err();
    assert_eq!(err, Errno::EDESTADDRREQ);
    let err = net::sendto(not_a_socket().as_fd(), b"x", MsgFlags::NOSIGNAL, None).unwrap_err();
    assert_eq!(err, Errno::ENOTSOCK);
    Ok(())
}

#[test]
fn sendto_after_the_peer_closed_is_epipe() -> TestResult {
    let (client, server) = tcp_pair()?;
    drop(server);
    // The first send may be accepted before the peer's reset arrives; keep
    // sending until the broken connection shows.
    let mut last = Ok(0);
    for _ in 0..100 {
        last = net::sendto(client.as_fd(), b"x", MsgFlags::NOSIGNAL, None);
        if last.is_err() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let err = last.unwrap_err();
    assert!(err == Errno::EPIPE || err == Errno::ECONNRESET, "{err:?}");
    Ok(())
}

#[test]
fn recvfrom_errors() -> TestResult {
    let (fd, _) = udp(SocketFlags::NONBLOCK)?;
    let mut buf = [0u8; 4];
    assert_eq!(
        net::recvfrom(fd.as_fd(), &mut buf, MsgFlags::empty()).unwrap_err(),
        Errno::EAGAIN
    );
    let (blocking, _) = udp(SocketFlags::empty())?;
    let err = net::recvfrom(blocking.as_fd(), &mut buf, MsgFlags::DONTWAIT).unwrap_err();
    assert_eq!(err, Errno::EAGAIN);
    let tcp = new_socket(SocketType::STREAM, SocketFlags::empty())?;
    let err = net::recvfrom(tcp.as_fd(), &mut buf, MsgFlags::empty()).unwrap_err();
    assert_eq!(err, Errno::ENOTCONN);
    Ok(())
}

#[test]
fn sendmsg_errors() -> TestResult {
    let iov = [IoSlice::new(b"x")];
    let err = net::sendmsg(not_a_socket().as_fd(), &iov, None, MsgFlags::NOSIGNAL).unwrap_err();
    assert_eq!(err, Errno::ENOTSOCK);
    let (fd, addr) = udp(SocketFlags::empty())?;
    let many = vec![IoSlice::new(b"x"); 1025];
    let err = net::sendmsg(fd.as_fd(), &many, Some(&addr), MsgFlags::empty()).unwrap_err();
    assert_eq!(err, Errno::EMSGSIZE);
    Ok(())
}

#[test]
fn recvmsg_errors() -> TestResult {
    let mut buf = [0u8; 4];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let err = net::recvmsg(not_a_socket().as_fd(), &mut iov, MsgFlags::empty()).unwrap_err();
    assert_eq!(err, Errno::ENOTSOCK);
    let (fd, _) = udp(SocketFlags::empty())?;
    let err = net::recvmsg(fd.as_fd(), &mut iov, MsgFlags::DONTWAIT).unwrap_err();
    assert_eq!(err, Errno::EAGAIN);
    Ok(())
}

#[test]
fn sendmmsg_errors() -> TestResult {
    let iov = [IoSlice::new(b"x")];
    let mut msgs = [MMsgHdr::new(&iov)];
    let err = net::sendmmsg(not_a_socket().as_fd(), &mut msgs, MsgFlags::empty()).unwrap_err();
    assert_eq!(err, Errno::ENOTSOCK);
    // Unconnected UDP without an address: the first message fails.
    let (fd, _) = udp(SocketFlags::empty())?;
    let err = net::sendmmsg(fd.as_fd(), &mut msgs, MsgFlags::empty()).unwrap_err();
    assert_eq!(err, Errno::EDESTADDRREQ);
    assert_eq!(msgs[0].bytes_sent(), 0);
    Ok(())
}

#[test]
fn recvmmsg_errors() -> TestResult {
    let mut buf = [0u8; 4];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut msgs = [MMsgHdrMut::new(&mut iov)];
    let err = net::recvmmsg(not_a_socket().as_fd(), &mut msgs, MsgFlags::empty()).unwrap_err();
    assert_eq!(err, Errno::ENOTSOCK);
    let (fd, _) = udp(SocketFlags::NONBLOCK)?;
    let err = net::recvmmsg(fd.as_fd(), &mut msgs, MsgFlags::empty()).unwrap_err();
    assert_eq!(err, Errno::EAGAIN);
    Ok(())
}
