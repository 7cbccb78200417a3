//! The echo server example (`examples/echo_server.rs`), run as a user runs
//! it: built with cargo, started on a port the kernel picks, driven by
//! ordinary blocking clients, and stopped with a SIGTERM sent to it alone
//! (through a pidfd).

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use iofd::Signal;

use crate::support;

use support::{Server, closed_by_server};

/// Starts the example with `args`.
fn start(args: &[&str]) -> Server {
    Server::start("echo_server", args)
}

/// A payload of `len` bytes that differs per client and round.
fn payload(client: u64, round: u64, len: usize) -> Vec<u8> {
    let mut x = (client << 32 | round).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn echoes_every_byte_on_two_threads_and_exits_zero_on_sigterm() {
    const CLIENTS: u64 = 6;
    const ROUNDS: u64 = 60;
    let server = start(&["--addr", "127.0.0.1:0", "--threads", "2"]);
    // A connection that stays open across the shutdown.
    let mut idle = server.connect_stream();
    let start = Instant::now();
    std::thread::scope(|s| {
        for client in 0..CLIENTS {
            let server = &server;
            s.spawn(move || {
                let mut conn = server.connect_stream();
                for round in 0..ROUNDS {
                    if round % 10 == 0 {
                        conn = server.connect_stream(); // spread over both listeners
                    }
                    // Mostly small, now and then larger than a provided
                    // buffer or a socket buffer.
                    let len = match round % 6 {
                        0 => 1,
                        1 => 100,
                        2 => 4096,
                        3 => 5000,
                        4 => 70_000,
                        _ => 300_000,
                    };
                    let sent = payload(client, round, len);
                    let mut got = vec![0u8; len];
                    std::thread::scope(|io| {
                        // Written and read at once: an echo of a big payload
                        // fills both ways' socket buffers.
                        let mut w = conn.try_clone().unwrap();
                        let writer = io.spawn(move || w.write_all(&sent).map(|()| sent));
                        conn.read_exact(&mut got).expect("reading the echo");
                        let sent = writer.join().unwrap().expect("writing");
                        assert!(got == sent, "client {client} round {round}: echo differs");
                    });
                }
            });
        }
    });
    eprintln!("{} round trips in {:?}", CLIENTS * ROUNDS, start.elapsed());
    idle.write_all(b"still here").unwrap();
    let mut back = [0u8; 10];
    idle.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"still here");

    let (status, stderr) = server.stop(Signal::TERM);
    assert_eq!(
        status.code(),
        Some(0),
        "exit status after SIGTERM; stderr: {stderr}"
    );
    assert!(stderr.is_empty(), "nothing on stderr: {stderr}");
    assert!(closed_by_server(&mut idle), "the open connection is closed");
}

#[test]
fn closes_idle_connections_and_exits_zero_on_sigint() {
    let server = start(&["--addr", "127.0.0.1:0", "--idle-ms", "200"]);
    let mut busy = server.connect_stream();
    let mut quiet = server.connect_stream();
    let start = Instant::now();
    quiet.write_all(b"hi").unwrap();
    let mut two = [0u8; 2];
    quiet.read_exact(&mut two).unwrap();
    // `busy` talks every 50 ms for 600 ms: never idle for 200 ms.
    while start.elapsed() < Duration::from_millis(600) {
        busy.write_all(b"x").unwrap();
        busy.read_exact(&mut two[..1]).unwrap();
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        closed_by_server(&mut quiet),
        "the quiet connection was closed"
    );
    let quiet_for = start.elapsed();
    assert!(quiet_for >= Duration::from_millis(200), "closed early");
    busy.write_all(b"y").unwrap();
    busy.read_exact(&mut two[..1])
        .expect("the busy connection is open");
    assert_eq!(two[0], b'y');

    let (status, stderr) = server.stop(Signal::INT);
    assert_eq!(
        status.code(),
        Some(0),
        "exit status after SIGINT; stderr: {stderr}"
    );
}

#[test]
fn bad_input_exits_two_with_a_message() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let in_use = taken.local_addr().unwrap().to_string();
    let cases: [(&[&str], &str); 5] = [
        (&["--addr", "nonsense"], "nonsense"),
        (&["--threads", "0"], "--threads"),
        (&["--frobnicate"], "--frobnicate"),
        (&["--addr"], "--addr"),
        (&["--addr", &in_use], "in use"),
    ];
    support::assert_refused("echo_server", &cases);
}
