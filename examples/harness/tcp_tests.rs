//! The tcp-echo workload's tests: runs against the in-process echo server
//! and against echo servers on std's blocking sockets, and the input it
//! refuses.

use std::io::{Read, Write};
use std::net::TcpListener as StdListener;
use std::thread::JoinHandle;

use clap::Parser;

use super::*;
use crate::cli::Cli;
use crate::report::Report;

fn config(args: &[&str]) -> Result<Config, String> {
    let argv = std::iter::once("harness").chain(args.iter().copied());
    Cli::try_parse_from(argv)
        .map_err(|e| e.to_string())?
        .check()
}

fn run(args: &[&str]) -> Result<Report, Failure> {
    let mut argv = vec!["-w", "tcp-echo"];
    argv.extend_from_slice(args);
    crate::run(&config(&argv).expect("options"))
}

/// An echo server on std's blocking sockets for `connections`
/// connections, a thread each, that passes every byte through `f`.
fn std_echo(connections: usize, f: fn(u8) -> u8) -> (SocketAddr, JoinHandle<()>) {
    let listener = StdListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    let server = std::thread::spawn(move || {
        let mut handlers = Vec::new();
        for _ in 0..connections {
            let (mut conn, _) = listener.accept().expect("accept");
            handlers.push(std::thread::spawn(move || {
                let mut buf = [0u8; 16 << 10];
                loop {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            buf[..n].iter_mut().for_each(|b| *b = f(*b));
                            if conn.write_all(&buf[..n]).is_err() {
                                return;
                            }
                        }
                    }
                }
            }));
        }
        for h in handlers {
            h.join().expect("echo thread");
        }
    });
    (addr, server)
}

#[test]
fn echoes_through_the_in_process_server_closed_loop() {
    let report = run(&["-c", "4", "-t", "0.3"]).expect("run");
    let r = &report.runs[0];
    let tcp = report.tcp.as_ref().expect("tcp figures");
    assert!(r.ops > 100, "{r:?}");
    assert_eq!(r.errors, 0, "{r:?}");
    assert_eq!(tcp.echoed_bytes, r.ops * 64, "every echoed byte is checked");
    assert_eq!(tcp.server, "in-process echo_server");
    assert!(tcp.target.starts_with("127.0.0.1:"), "{tcp:?}");
    assert_eq!((tcp.connections, tcp.message_bytes), (4, 64));
    assert_eq!(tcp.latency_from, "actual send time");
    assert_eq!(tcp.unsent, 0);
    assert!((0.3..1.0).contains(&r.seconds), "{r:?}");
    let l = &r.latency_us;
    assert!(0.0 < l.p50 && l.p50 <= l.p99 && l.p99 <= l.p999 && l.p999 <= l.max);
    assert!(
        r.syscalls_per_op < 1.0,
        "one enter for several requests: {r:?}"
    );

    let table = report.table();
    for part in [
        "workload tcp-echo",
        "4 connections",
        "closed loop",
        "requests/s",
    ] {
        assert!(table.contains(part), "{part:?} missing from\n{table}");
    }
    assert!(table.contains("max µs") && table.contains("from each request's actual send time"));
    let json = serde_json::to_value(&report).expect("json");
    assert_eq!(json["workload"], "tcp-echo");
    assert_eq!(json["runs"][0]["ops"], r.ops);
    assert!(json["runs"][0]["latency_us"]["max"].as_f64().is_some());
    assert_eq!(json["tcp"]["latency_from"], "actual send time");
    assert!(json.get("depth").is_none(), "no queue depth for tcp-echo");
}

#[test]
fn paces_an_open_loop_and_measures_from_the_schedule() {
    // 120 requests at 1,000/s over 3 connections: the last is due at
    // 120 ms.
    let report = run(&["-c", "3", "-n", "120", "-r", "1000"]).expect("run");
    let r = &report.runs[0];
    let tcp = report.tcp.as_ref().expect("tcp figures");
    assert_eq!((r.ops, r.errors, tcp.unsent), (120, 0, 0), "{r:?}");
    assert_eq!(tcp.echoed_bytes, 120 * 64);
    assert!(r.seconds >= 0.120 && r.seconds < 1.0, "{r:?}");
    assert!(r.ops_per_sec <= 1000.0 * 1.01, "paced: {r:?}");
    assert_eq!(tcp.latency_from, "scheduled send time");
    let table = report.table();
    assert!(
        table.contains("open loop at 1000 requests/s")
            && table.contains("scheduled send time (corrected for coordinated omission)"),
        "{table}"
    );
}

#[test]
fn drives_an_external_server_with_long_messages() {
    // 70,000 bytes: more than a provided buffer, so each echo comes in
    // several pieces.
    let (addr, server) = std_echo(3, |b| b);
    let target = addr.to_string();
    let report = run(&["--target", &target, "-c", "3", "-n", "60", "-s", "70000"]).expect("run");
    let r = &report.runs[0];
    let tcp = report.tcp.as_ref().expect("tcp figures");
    assert_eq!((r.ops, r.errors), (60, 0), "{r:?}");
    assert_eq!(tcp.echoed_bytes, 60 * 70_000);
    assert_eq!(
        (tcp.server, tcp.target.as_str()),
        ("external", target.as_str())
    );
    server
        .join()
        .expect("the server saw every connection close");
}

#[test]
fn an_echo_that_differs_is_an_error() {
    let (addr, server) = std_echo(2, |b| if b == b'q' { b'Q' } else { b });
    let target = addr.to_string();
    // Byte 16 of a message is the first `q` (the 8-byte stamp never is
    // one, this early): 16 bytes miss it, 17 do not.
    let report = run(&["--target", &target, "-c", "2", "-n", "20", "-s", "16"]).expect("run");
    assert_eq!((report.runs[0].ops, report.runs[0].errors), (20, 0));
    server.join().expect("server");
    let (addr, server) = std_echo(2, |b| if b == b'q' { b'Q' } else { b });
    let target = addr.to_string();
    let report = run(&["--target", &target, "-c", "2", "-n", "20", "-s", "17"]).expect("run");
    assert_eq!((report.runs[0].ops, report.runs[0].errors), (20, 20));
    server.join().expect("server");
}

#[test]
fn a_target_nothing_listens_on_is_refused_with_status_2() {
    // A port that was just free.
    let port = StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a port")
        .port();
    let target = format!("127.0.0.1:{port}");
    let err = run(&["--target", &target, "-c", "2", "-t", "0.2"]).expect_err("refused");
    assert_eq!(err.status, 2);
    assert_eq!(
        err.message,
        format!(
            "cannot connect to {target}: connection refused (is an echo server listening there?)"
        )
    );
}

#[test]
fn a_server_that_hangs_up_fails_the_run_with_status_1() {
    let listener = StdListener::bind("127.0.0.1:0").expect("bind");
    let target = listener.local_addr().expect("address").to_string();
    let server = std::thread::spawn(move || {
        for _ in 0..2 {
            drop(listener.accept().expect("accept")); // and hang up
        }
    });
    let err = run(&["--target", &target, "-c", "2", "-t", "0.2"]).expect_err("hung up");
    assert_eq!(err.status, 1);
    // It hung up (end of file), or its reset came first.
    let ends = [
        "the server closed connection ",
        "receiving on connection ",
        "sending on connection ",
    ];
    assert!(
        ends.iter().any(|e| err.message.starts_with(e)),
        "{}",
        err.message
    );
    server.join().expect("server");
}

#[test]
fn bad_options_are_refused() {
    let err = |args: &[&str]| config(args).expect_err("must be refused");
    let tcp = |extra: &[&str]| {
        let mut args = vec!["-w", "tcp-echo"];
        args.extend_from_slice(extra);
        err(&args)
    };
    assert!(
        tcp(&["--connections", "0"])
            .contains("invalid value '0' for '--connections <N>': 0 is not in 1..=65536")
    );
    assert!(
        tcp(&["--size", "0"])
            .contains("invalid value '0' for '--size <BYTES>': 0 is not in 1..=1048576")
    );
    assert!(tcp(&["--size", "1048577"]).contains("is not in 1..=1048576"));
    assert!(tcp(&["--target", "localhost"]).contains(
        "invalid value 'localhost' for '--target <ADDR>': `localhost` is not an address: want IP:PORT, like 127.0.0.1:7878"
    ));
    assert!(tcp(&["--target", "127.0.0.1:0"]).contains("has port 0"));
    assert!(tcp(&["--baseline"]).contains("--baseline does not apply to tcp-echo"));
    assert!(tcp(&["--reaper", "thread"]).contains("--reaper thread cannot run tcp-echo"));
    assert!(tcp(&["-c", "2000", "-s", "1048576"]).contains("at most 1024 MiB"));
    for other in [["-c", "4"], ["-s", "100"], ["--target", "127.0.0.1:7878"]] {
        let e = err(&["-w", "nop", other[0], other[1]]);
        assert!(e.contains("are options of --workload tcp-echo"), "{e}");
    }
    let cfg = config(&["-w", "tcp-echo"]).expect("defaults");
    let expected = Tcp {
        target: None,
        connections: 64,
        size: 64,
    };
    assert_eq!(cfg.tcp, Some(expected));
    assert_eq!(cfg.stop, Stop::Time(Duration::from_secs(2)));
    assert_eq!(cfg.entries, 64, "a submission slot per connection");
}

#[test]
fn an_echo_is_checked_piece_by_piece() {
    let pattern: Vec<u8> = (0..20).map(|i| b'a' + i).collect();
    let stamp = stamp(3, 7);
    let mut message = pattern.clone();
    message[..STAMP].copy_from_slice(&stamp);
    for (at, len) in [(0, 20), (0, 3), (3, 10), (8, 12), (12, 8), (19, 1)] {
        let chunk = &message[at..at + len];
        assert!(echoes(&pattern, &stamp, at, chunk), "{at}+{len}");
        let mut wrong = chunk.to_vec();
        wrong[len - 1] ^= 1;
        assert!(!echoes(&pattern, &stamp, at, &wrong), "{at}+{len} altered");
    }
    assert!(
        !echoes(&pattern, &super::stamp(3, 8), 0, &message),
        "another request's echo"
    );
    // A message shorter than the stamp is all stamp.
    assert!(echoes(&pattern[..5], &stamp, 2, &stamp[2..5]));
}

#[test]
fn the_schedule_spaces_requests_by_the_rate() {
    let s = Schedule {
        rate: 4,
        mono: Duration::ZERO,
        next: 0,
        limit: 8,
        timer: None,
    };
    assert_eq!(
        s.offset(0),
        Duration::from_millis(250),
        "released at the end of its slot"
    );
    assert_eq!(s.offset(7), Duration::from_secs(2));
}
