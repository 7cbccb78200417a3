//! Sockets on the ring, end to end over loopback: accept (one-shot, with
//! the peer's address, multishot), connect, recv and send with owned
//! buffers, multishot recv into a buffer ring, shutdown and close, and
//! their error results.

use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use iofd::ring::Ring;
use iofd::ring::ops::Close;
use iofd::sys::Errno;
use iofd::{Error, TcpListener, TcpStream, UdpSocket, UnixStream};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// A listener on an ephemeral port, shared for driver-owned operations.
fn listener() -> Result<Arc<TcpListener>, Error> {
    Ok(Arc::new(TcpListener::bind(loopback())?))
}

#[test]
fn a_one_shot_accept_yields_the_connected_stream() -> TestResult {
    let mut ring = Ring::new(8)?;
    let l = listener()?;
    let t = ring.push(l.accept_op_shared())?;
    ring.submit()?;
    let client = TcpStream::connect(l.local_addr()?)?;
    let server = ring.wait(t)?;
    assert_eq!(server.peer_addr()?, client.local_addr()?);
    client.write(b"hello")?;
    let mut buf = [0; 5];
    std::thread::sleep(Duration::from_millis(10));
    assert_eq!(server.read(&mut buf)?, 5);
    // Accepted streams are handles like any other: non-blocking.
    assert_eq!(server.read(&mut buf), Err(Error::WouldBlock));
    Ok(())
}

#[test]
fn an_accept_with_address_reports_the_peer() -> TestResult {
    let mut ring = Ring::new(8)?;
    let l = listener()?;
    let client = TcpStream::connect(l.local_addr()?)?;
    let t = ring.push(l.accept_from_op_shared())?;
    let (server, peer) = ring.wait(t)?;
    assert_eq!(peer, client.local_addr()?);
    assert_eq!(server.local_addr()?, l.local_addr()?);
    Ok(())
}

#[test]
fn a_multishot_accept_takes_a_thousand_connections_with_none_lost() -> TestResult {
    const N: usize = 1000;
    let mut ring = Ring::new(64)?;
    let l = listener()?;
    let addr = l.local_addr()?;
    let mut t = ring.push_tagged(l.accept_multi_op_shared(), 7)?;
    ring.submit()?;
    let clients = std::thread::spawn(move || -> Result<Vec<SocketAddr>, Error> {
        let mut held = Vec::new();
        let mut addrs = Vec::new();
        for _ in 0..N {
            let c = TcpStream::connect(addr)?;
            addrs.push(c.local_addr()?);
            held.push(c);
        }
        Ok(addrs)
    });
    let mut peers = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while peers.len() < N {
        assert!(
            std::time::Instant::now() < deadline,
            "{} accepted",
            peers.len()
        );
        ring.submit_and_wait(1)?;
        while let Some(c) = ring.next_completion() {
            assert_eq!(c.tag, 7);
            let stream = ring.take(&mut t).expect("announced")?;
            peers.push(stream.peer_addr()?);
        }
        if t.is_done() {
            // The kernel ended the stream (as it does when the completion
            // queue is full): a server arms it again.
            t = ring.push_tagged(l.accept_multi_op_shared(), 7)?;
        }
    }
    let mut sent = clients.join().unwrap()?;
    sent.sort();
    peers.sort();
    assert_eq!(peers, sent);
    ring.cancel_keep(&t)?;
    assert_eq!(ring.wait(t).err(), Some(Error::Os(Errno::ECANCELED)));
    Ok(())
}

#[test]
fn connect_on_the_ring_and_to_a_closed_port() -> TestResult {
    let mut ring = Ring::new(8)?;
    let l = listener()?;
    let s = Arc::new(TcpStream::unconnected(l.local_addr()?)?);
    ring.run(s.connect_op_shared(l.local_addr()?))?;
    assert_eq!(s.peer_addr()?, l.local_addr()?);
    // A port nobody listens on: bind one, note it, close it.
    let closed = TcpListener::bind(loopback())?.local_addr()?;
    let s = Arc::new(TcpStream::unconnected(closed)?);
    let t = ring.push(s.connect_op_shared(closed))?;
    assert_eq!(ring.wait(t), Err(Error::Os(Errno::ECONNREFUSED)));
    Ok(())
}

#[test]
fn a_mebibyte_goes_through_owned_buffers() -> TestResult {
    const LEN: usize = 1 << 20;
    let mut ring = Ring::new(16)?;
    let (a, b) = UnixStream::pair()?;
    let (a, b) = (Arc::new(a), Arc::new(b));
    let data: Vec<u8> = (0..LEN).map(|i| (i * 7 % 251) as u8).collect();
    let mut got = Vec::with_capacity(LEN);
    let mut send = Some(ring.push(a.send_op_shared(data.clone()))?);
    let mut sent = 0;
    let mut recv = Some(ring.push(b.recv_op_shared(Vec::with_capacity(64 << 10)))?);
    while got.len() < LEN {
        ring.submit_and_wait(1)?;
        if let Some(t) = send.as_mut()
            && let Some(r) = ring.take(t)
        {
            // A short send: the rest goes from the same buffer.
            let (n, buf) = r?;
            sent += n?;
            send = (sent < buf.len())
                .then(|| ring.push(a.send_op_shared(buf).skip(sent)))
                .transpose()?;
        }
        if let Some(t) = recv.as_mut()
            && let Some(r) = ring.take(t)
        {
            let (n, buf) = r?;
            assert!(n? > 0);
            got.extend_from_slice(&buf);
            recv = Some(ring.push(b.recv_op_shared(buf_reuse(buf)))?);
        }
    }
    assert_eq!(got, data);
    Ok(())
}

/// An emptied buffer, its capacity kept.
fn buf_reuse(mut buf: Vec<u8>) -> Vec<u8> {
    buf.clear();
    buf
}

#[test]
fn a_multishot_recv_runs_out_of_buffers_and_starts_again() -> TestResult {
    let mut ring = Ring::new(16)?;
    let bufs = ring.register_buf_ring(next_group(), 4, 16)?;
    let (a, b) = UnixStream::pair()?;
    let b = Arc::new(b);
    let mut t = ring.push(b.recv_multi_op_shared(&bufs))?;
    ring.submit()?;
    let mut held = Vec::new();
    // Five messages, four buffers, none given back: the fifth ends the
    // stream with ENOBUFS.
    let end = loop {
        a.write(b"0123456789")?;
        std::thread::sleep(Duration::from_millis(5));
        ring.submit_and_wait(0)?;
        match ring.take(&mut t) {
            Some(Ok(buf)) => held.push(buf.expect("data, not the end")),
            Some(Err(e)) => break e,
            None => {}
        }
    };
    assert_eq!(end, Error::Os(Errno::ENOBUFS));
    assert_eq!(held.len(), 4);
    assert!(held.iter().all(|b| &b[..] == b"0123456789"));
    // The buffers go back; pushed again, the stream reads what waited.
    held.clear();
    let mut t = ring.push(b.recv_multi_op_shared(&bufs))?;
    ring.submit_and_wait(1)?;
    let buf = ring.take(&mut t).expect("the waiting message")?;
    assert_eq!(buf.as_deref(), Some(&b"0123456789"[..]));
    drop(buf);
    // The peer goes: the stream's final result is `None`.
    drop(a);
    ring.submit_and_wait(1)?;
    assert_eq!(
        ring.take(&mut t).map(|r| r.map(|b| b.is_none())),
        Some(Ok(true))
    );
    assert!(t.is_done());
    Ok(())
}

#[test]
fn a_dropped_multishot_recv_gives_every_buffer_back() -> TestResult {
    let mut ring = Ring::new(16)?;
    let bufs = ring.register_buf_ring(next_group(), 8, 32)?;
    let (a, b) = UnixStream::pair()?;
    let t = ring.push(Arc::new(b).recv_multi_op_shared(&bufs))?;
    ring.submit()?;
    for _ in 0..5 {
        a.write(b"x")?;
        std::thread::sleep(Duration::from_millis(2));
        ring.submit_and_wait(0)?;
    }
    // Five results wait untaken; the token goes, then the peer (ending the
    // stream): the results are dropped, their buffers given back.
    drop(t);
    drop(a);
    for _ in 0..500 {
        ring.submit_and_wait(0)?;
        if ring.in_flight() == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(ring.in_flight(), 0);
    // All eight buffers can be held at once again.
    let (a, b) = UnixStream::pair()?;
    let mut t = ring.push(Arc::new(b).recv_multi_op_shared(&bufs))?;
    ring.submit()?;
    let mut held = Vec::new();
    while held.len() < 8 {
        a.write(b"y")?;
        std::thread::sleep(Duration::from_millis(2));
        ring.submit_and_wait(0)?;
        while let Some(r) = ring.take(&mut t) {
            held.push(r?.expect("data"));
        }
    }
    assert_eq!(held.len(), 8);
    Ok(())
}

#[test]
fn sends_after_the_peer_has_gone_fail() -> TestResult {
    let mut ring = Ring::new(8)?;
    let l = TcpListener::bind(loopback())?;
    let client = Arc::new(TcpStream::connect(l.local_addr()?)?);
    let (server, _) = l.accept()?;
    // Unread data makes the close a reset.
    client.write(b"unread")?;
    std::thread::sleep(Duration::from_millis(10));
    drop(server);
    std::thread::sleep(Duration::from_millis(10));
    let mut errors = Vec::new();
    for _ in 0..4 {
        let t = ring.push(client.send_op_shared(b"ping".to_vec()))?;
        let (n, _) = ring.wait(t)?;
        if let Err(e) = n {
            errors.push(e);
        }
    }
    assert!(
        errors
            .iter()
            .all(|e| *e == Error::Os(Errno::EPIPE) || *e == Error::Os(Errno::ECONNRESET)),
        "{errors:?}"
    );
    assert!(!errors.is_empty(), "a send to a reset connection fails");
    Ok(())
}

#[test]
fn shutdown_on_the_ring_ends_the_peers_reads() -> TestResult {
    let mut ring = Ring::new(8)?;
    let (a, b) = UnixStream::pair()?;
    let a = Arc::new(a);
    ring.run(a.shutdown_op_shared(Shutdown::Write))?;
    let mut buf = [0; 4];
    assert_eq!(b.read(&mut buf)?, 0);
    Ok(())
}

#[test]
fn close_on_the_ring_closes_the_descriptor() -> TestResult {
    let mut ring = Ring::new(8)?;
    let (a, b) = UnixStream::pair()?;
    let closed = ring.run(Close::new(a))?;
    assert!(!closed.left_open());
    let mut buf = [0; 4];
    assert_eq!(b.read(&mut buf)?, 0, "the peer sees the close");
    Ok(())
}

#[test]
fn a_close_of_an_empty_fixed_slot_is_ebadf() -> TestResult {
    let mut ring = Ring::new(8)?;
    let (a, _b) = UnixStream::pair()?;
    use std::os::fd::AsFd;
    ring.register_files(&[a.as_fd()])?;
    ring.run(Close::fixed(0))?;
    let again = ring.push(Close::fixed(0))?;
    assert_eq!(ring.wait(again).err(), Some(Error::Os(Errno::EBADF)));
    Ok(())
}

#[test]
fn udp_with_addresses_both_ways() -> TestResult {
    let a = UdpSocket::bind(loopback())?;
    let b = UdpSocket::bind(loopback())?;
    a.send_to(b"one", b.local_addr()?)?;
    b.send_to(b"two", a.local_addr()?)?;
    std::thread::sleep(Duration::from_millis(5));
    let mut buf = [0; 8];
    assert_eq!(b.recv_from(&mut buf)?, (3, a.local_addr()?));
    assert_eq!(a.recv_from(&mut buf)?, (3, b.local_addr()?));
    assert_eq!(a.recv_from(&mut buf), Err(Error::WouldBlock));
    Ok(())
}

/// A buffer group id no other test uses.
fn next_group() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(2000);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[test]
fn udp_datagrams_with_addresses_on_the_ring() -> TestResult {
    let mut ring = Ring::new(8)?;
    let a = Arc::new(UdpSocket::bind(loopback())?);
    let b = Arc::new(UdpSocket::bind(loopback())?);
    let recv = ring.push(b.recv_from_op_shared(Vec::with_capacity(64)))?;
    let (n, _) = ring.run(a.send_to_op_shared(b"datagram".to_vec(), b.local_addr()?))?;
    assert_eq!(n?, 8);
    let (got, buf) = ring.wait(recv)?;
    assert_eq!(got?, (8, a.local_addr()?));
    assert_eq!(&buf[..], b"datagram");
    // The other way, into a buffer too short: cut to fit.
    let recv = ring.push(a.recv_from_op_shared(vec![0u8; 4].into_boxed_slice()))?;
    ring.run(b.send_to_op_shared(b"0123456789".to_vec(), a.local_addr()?))?
        .0?;
    let (got, buf) = ring.wait(recv)?;
    assert_eq!(got?, (4, b.local_addr()?));
    assert_eq!(&buf[..], b"0123");
    Ok(())
}

#[test]
fn recv_and_send_with_slices_a_scope_lends() -> TestResult {
    let mut ring = Ring::new(8)?;
    let (a, b) = UnixStream::pair()?;
    let mut out = *b"scoped bytes";
    let mut got = [0u8; 32];
    let (sent, n) = ring.scope(|s| {
        let r = s.push_into(b.recv_slice_op(), &mut got)?;
        let w = s.push_into(a.send_slice_op(), &mut out)?;
        Ok::<_, Error>((s.wait(w)?, s.wait(r)?))
    })?;
    assert_eq!((sent, n), (12, 12));
    assert_eq!(&got[..n], b"scoped bytes");
    Ok(())
}

#[test]
fn a_zero_copy_send_comes_back_once_with_its_buffer() -> TestResult {
    let mut ring = Ring::new(8)?;
    let l = TcpListener::bind(loopback())?;
    let client = Arc::new(TcpStream::connect(l.local_addr()?)?);
    let (server, _) = l.accept()?;
    let data: Vec<u8> = (0..64 * 1024).map(|i| i as u8).collect();
    let mut t = ring.push_tagged(client.send_zc_op_shared(data.clone()), 3)?;
    let mut got = Vec::new();
    let mut results = 0;
    let mut announced = 0;
    while results == 0 {
        ring.submit_and_wait(1)?;
        while ring.next_completion().is_some() {
            announced += 1;
        }
        if let Some(r) = ring.take(&mut t) {
            let (n, buf) = r?;
            assert_eq!(n?, data.len());
            assert_eq!(buf, data, "the buffer comes back whole");
            results += 1;
        }
        let mut chunk = [0u8; 65536];
        while let Ok(n) = server.read(&mut chunk) {
            got.extend_from_slice(&chunk[..n]);
        }
    }
    assert!(t.is_done(), "one result: the notification is folded in");
    assert_eq!(announced, 1);
    while got.len() < data.len() {
        let mut chunk = [0u8; 65536];
        match server.read(&mut chunk) {
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(Error::WouldBlock) => std::thread::sleep(Duration::from_millis(1)),
            Err(e) => return Err(e.into()),
        }
    }
    assert_eq!(got, data);
    Ok(())
}
