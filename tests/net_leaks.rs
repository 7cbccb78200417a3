//! Sockets on the ring lose no descriptor: thousands of connections
//! accepted, served and closed, and accepted connections nobody takes. A
//! `harness = false` binary, so that counting `/proc/self/fd` sees only
//! this binary's own descriptors.

#[macro_use]
mod util;

use std::sync::Arc;

use iofd::ring::Ring;
use iofd::ring::ops::Close;
use iofd::{TcpListener, TcpStream};

use util::{CheckResult, fd_count};

/// 10,000 rounds of: connect, accept on the ring, echo a byte, close both
/// ends (the server's on the ring).
fn ten_thousand_connections_leave_the_descriptor_count_unchanged() -> CheckResult {
    const N: usize = 10_000;
    let mut ring = Ring::new(16)?;
    let l = Arc::new(TcpListener::bind("127.0.0.1:0".parse()?)?);
    let addr = l.local_addr()?;
    let before = fd_count();
    for _ in 0..N {
        let accept = ring.push(l.accept_op_shared())?;
        ring.submit()?;
        let client = TcpStream::connect(addr)?;
        let server = Arc::new(ring.wait(accept)?);
        client.write(b"x")?;
        let (n, buf) = ring.run(server.recv_op_shared(Vec::with_capacity(8)))?;
        assert_eq!((n?, &buf[..]), (1, &b"x"[..]));
        let server = Arc::try_unwrap(server).map_err(|_| "the ring still holds the stream")?;
        ring.run(Close::new(server))?;
        drop(client);
    }
    assert_eq!(fd_count(), before, "descriptors after {N} connections");
    Ok(())
}

/// Connections a multishot accept took while nobody took them from the
/// ring: the ring closes them when the token, or the ring, goes.
fn accepted_connections_nobody_takes_are_closed() -> CheckResult {
    let before = fd_count();
    let l = Arc::new(TcpListener::bind("127.0.0.1:0".parse()?)?);
    let addr = l.local_addr()?;
    let mut clients = Vec::new();
    {
        let mut ring = Ring::new(16)?;
        let t = ring.push(l.accept_multi_op_shared())?;
        ring.submit()?;
        for _ in 0..20 {
            clients.push(TcpStream::connect(addr)?);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        ring.submit_and_wait(0)?;
        // 20 accepted streams wait in the table, untaken.
        assert!(fd_count() >= before + 1 + 20 + 20, "accepted and held");
        drop(t);
        // The ring drops: the detached accept is cancelled, and every
        // accepted stream it held closed.
    }
    drop(l);
    // The clients see their peers go.
    let mut buf = [0; 1];
    for c in &clients {
        std::thread::sleep(std::time::Duration::from_millis(1));
        assert_eq!(c.read(&mut buf)?, 0, "the server side was closed");
    }
    drop(clients);
    assert_eq!(fd_count(), before);
    Ok(())
}

fn main() {
    checks![
        ten_thousand_connections_leave_the_descriptor_count_unchanged,
        accepted_connections_nobody_takes_are_closed,
    ];
}
