//! The thread-per-core example (`examples/thread_per_core.rs`), run as a
//! user runs it: started on a port the kernel picks, driven by ordinary
//! blocking clients whose connections the acceptor hands to its workers'
//! rings, and stopped with a signal sent to it alone (through a pidfd).

use std::io::{Read, Write};

use iofd::Signal;

use crate::support;

use support::{Server, closed_by_server};

#[test]
fn connections_handed_to_three_workers_echo_and_sigterm_exits_zero() {
    const CLIENTS: u32 = 9;
    const ROUNDS: u32 = 20;
    let server = Server::start(
        "thread_per_core",
        &["--addr", "127.0.0.1:0", "--threads", "3"],
    );
    // Open across the shutdown: closed by its worker on the way out.
    let mut open = server.connect_stream();
    open.write_all(b"first").unwrap();
    let mut five = [0u8; 5];
    open.read_exact(&mut five).unwrap();
    assert_eq!(&five, b"first");
    std::thread::scope(|s| {
        for client in 0..CLIENTS {
            let server = &server;
            s.spawn(move || {
                // A new connection every few rounds: each lands on the
                // next worker.
                let mut conn = server.connect_stream();
                for round in 0..ROUNDS {
                    if round % 5 == 0 {
                        conn = server.connect_stream();
                    }
                    let len = [1, 100, 5000, 70_000][(round % 4) as usize];
                    let sent: Vec<u8> = (0..len)
                        .map(|i| (i as u32 ^ client ^ round) as u8)
                        .collect();
                    let mut got = vec![0u8; len];
                    std::thread::scope(|io| {
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
    let (status, stderr) = server.stop(Signal::TERM);
    assert_eq!(
        status.code(),
        Some(0),
        "exit status after SIGTERM; stderr: {stderr}"
    );
    assert!(stderr.is_empty(), "nothing on stderr: {stderr}");
    assert!(closed_by_server(&mut open), "the open connection is closed");
}

#[test]
fn sigint_with_no_connection_exits_zero() {
    let server = Server::start("thread_per_core", &["--addr", "127.0.0.1:0"]);
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
        (&["--threads", "2000"], "--threads"),
        (&["--frobnicate"], "--frobnicate"),
        (&["--addr", &in_use], "in use"),
    ];
    support::assert_refused("thread_per_core", &cases);
}
