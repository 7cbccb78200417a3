//! Every rival run as a user runs it: built by cargo for this test,
//! started on a port the kernel picks with two threads, driven by
//! ordinary blocking clients from several threads (echo round trips of
//! many sizes; HTTP single, pipelined and split requests, checked byte for
//! byte against iofd's responses), and stopped with SIGTERM, after which
//! it must exit 0. Bad arguments and a port in use must exit 2.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// How long anything the server should do promptly may take.
const PROMPT: Duration = Duration::from_secs(10);

/// A running server, killed if a test fails before stopping it.
struct Server {
    child: Child,
    addr: SocketAddr,
    /// What the server prints after its start line (nothing, it should).
    more: std::thread::JoinHandle<String>,
}

impl Server {
    /// Starts `bin` with `args` and reads its `listening on` line.
    fn start(bin: &str, args: &[&str]) -> Server {
        let mut child = Command::new(bin)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting the server");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        let more = std::thread::spawn(move || {
            let mut out = BufReader::new(stdout);
            let mut line = String::new();
            let _ = out.read_line(&mut line);
            let _ = tx.send(line);
            let mut rest = String::new();
            let _ = out.read_to_string(&mut rest);
            rest
        });
        let Ok(line) = rx.recv_timeout(PROMPT) else {
            let _ = child.kill();
            panic!("{bin} printed nothing within {PROMPT:?}");
        };
        let Some(addr) = line.strip_prefix("listening on ") else {
            let _ = child.kill();
            let status = child.wait();
            panic!("{bin}: unexpected first line {line:?} ({status:?})");
        };
        let addr: SocketAddr = addr.trim().parse().expect("an address");
        assert_ne!(addr.port(), 0, "the actual port, not the requested 0");
        Server { child, addr, more }
    }

    fn connect(&self) -> TcpStream {
        let s = TcpStream::connect_timeout(&self.addr, PROMPT).expect("connecting");
        s.set_read_timeout(Some(PROMPT)).unwrap();
        s.set_write_timeout(Some(PROMPT)).unwrap();
        s.set_nodelay(true).unwrap();
        s
    }

    /// Sends `sig` to the server, and returns its exit status and stderr.
    fn stop(mut self, sig: Signal) -> (ExitStatus, String) {
        kill(Pid::from_raw(self.child.id() as i32), sig).expect("kill");
        let status = wait_for(&mut self.child).expect("the server exits after a signal");
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        let more = std::mem::replace(&mut self.more, std::thread::spawn(String::new));
        let more = more.join().expect("the stdout reader");
        assert!(
            more.is_empty(),
            "one line on stdout, then nothing: {more:?}"
        );
        (status, err)
    }

    /// Stops the server with SIGTERM and checks it exits 0, quietly.
    fn stop_cleanly(self) {
        let (status, stderr) = self.stop(Signal::SIGTERM);
        assert_eq!(
            status.code(),
            Some(0),
            "exit after SIGTERM; stderr: {stderr}"
        );
        assert!(stderr.is_empty(), "nothing on stderr: {stderr}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn wait_for(child: &mut Child) -> Option<ExitStatus> {
    let end = Instant::now() + PROMPT;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() >= end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether the server has closed `s`: end of file, or a reset.
fn closed_by_server(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 1];
    match s.read(&mut b) {
        Ok(0) => true,
        Err(e) => matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe),
        Ok(_) => false,
    }
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

fn echo_round_trips(bin: &str) {
    const CLIENTS: u64 = 5;
    const ROUNDS: u64 = 60;
    let server = Server::start(bin, &["--addr", "127.0.0.1:0", "--threads", "2"]);
    // A connection that stays open through the test.
    let mut idle = server.connect();
    std::thread::scope(|s| {
        for client in 0..CLIENTS {
            let server = &server;
            s.spawn(move || {
                let mut conn = server.connect();
                for round in 0..ROUNDS {
                    if round % 10 == 0 {
                        conn = server.connect(); // spread over both listeners
                    }
                    let len = [1, 64, 4096, 5000, 70_000, 300_000][(round % 6) as usize];
                    let sent = payload(client, round, len);
                    let mut got = vec![0u8; len];
                    std::thread::scope(|io| {
                        // Written and read at once: a big payload fills both
                        // ways' socket buffers.
                        let mut w = conn.try_clone().unwrap();
                        let writer = io.spawn(move || w.write_all(&sent).map(|()| sent));
                        conn.read_exact(&mut got).expect("reading the echo");
                        let sent = writer.join().unwrap().expect("writing");
                        assert!(got == sent, "{bin}: client {client} round {round} differs");
                    });
                }
            });
        }
    });
    idle.write_all(b"still here").unwrap();
    let mut back = [0u8; 10];
    idle.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"still here");
    // The peer's close ends a connection.
    let mut bye = server.connect();
    bye.write_all(b"bye").unwrap();
    bye.shutdown(std::net::Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    bye.read_to_end(&mut rest).expect("the echo, then the end");
    assert_eq!(rest, b"bye");
    server.stop_cleanly();
}

fn echo_idle_timeout(bin: &str) {
    let server = Server::start(bin, &["--addr", "127.0.0.1:0", "--idle-ms", "200"]);
    let (mut busy, mut quiet) = (server.connect(), server.connect());
    let start = Instant::now();
    let mut two = [0u8; 2];
    quiet.write_all(b"hi").unwrap();
    quiet.read_exact(&mut two).unwrap();
    // `busy` talks every 50 ms for 600 ms: never idle for 200 ms.
    while start.elapsed() < Duration::from_millis(600) {
        busy.write_all(b"x").unwrap();
        busy.read_exact(&mut two[..1]).unwrap();
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(closed_by_server(&mut quiet), "{bin}: the quiet one closed");
    assert!(
        start.elapsed() >= Duration::from_millis(200),
        "closed early"
    );
    busy.write_all(b"y").unwrap();
    busy.read_exact(&mut two[..1])
        .expect("the busy one is open");
    server.stop_cleanly();
}

/// iofd's responses, byte for byte, a `Date` of 29 bytes at `@`.
const OK: &str = "HTTP/1.1 200 OK\r\nServer: iofd\r\nContent-Type: text/plain\r\n\
                  Content-Length: 13\r\nDate: @\r\n\r\nHello, World!";
const NOT_FOUND: &str = "HTTP/1.1 404 Not Found\r\nServer: iofd\r\nContent-Length: 0\r\n\
                         Date: @\r\n\r\n";
const BAD: &str = "HTTP/1.1 400 Bad Request\r\nServer: iofd\r\nContent-Length: 0\r\n\
                   Connection: close\r\nDate: @\r\n\r\n";

/// Reads one response and checks it is `want` (its date aside, which
/// must look like one).
fn expect_response(c: &mut TcpStream, want: &str, what: &str) {
    let (before, after) = want.split_once('@').unwrap();
    let mut got = vec![0u8; before.len() + 29 + after.len()];
    c.read_exact(&mut got)
        .unwrap_or_else(|e| panic!("{what}: reading: {e}"));
    let date = &got[before.len()..before.len() + 29];
    let text = String::from_utf8_lossy(&got);
    assert!(
        got.starts_with(before.as_bytes()) && got.ends_with(after.as_bytes()),
        "{what}: {text:?}"
    );
    assert!(
        date.ends_with(b" GMT") && date[3..5] == *b", ",
        "{what}: date {text:?}"
    );
}

fn get(path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: test\r\nUser-Agent: peers-test\r\n{extra}\r\n")
}

fn http_requests(bin: &str) {
    const CLIENTS: usize = 5;
    const ROUNDS: usize = 4;
    const SINGLES: usize = 10;
    const DEPTH: usize = 16;
    let server = Server::start(bin, &["--addr", "127.0.0.1:0", "--threads", "2"]);
    std::thread::scope(|s| {
        for client in 0..CLIENTS {
            let server = &server;
            s.spawn(move || {
                for round in 0..ROUNDS {
                    let mut c = server.connect(); // spread over both listeners
                    for _ in 0..SINGLES {
                        c.write_all(get("/plaintext", "").as_bytes()).unwrap();
                        expect_response(&mut c, OK, bin);
                    }
                    // A pipelined batch in one write, every fifth a 404.
                    let batch: String = (0..DEPTH)
                        .map(|i| match i % 5 {
                            3 => get(&format!("/missing/{client}/{i}"), ""),
                            _ => get("/plaintext", ""),
                        })
                        .collect();
                    c.write_all(batch.as_bytes()).unwrap();
                    for i in 0..DEPTH {
                        expect_response(&mut c, if i % 5 == 3 { NOT_FOUND } else { OK }, bin);
                    }
                    // A request split across two writes.
                    let req = get("/plaintext", "Accept: */*\r\n");
                    let cut = [5, 20, req.len() - 3, req.len() - 1][round % 4];
                    c.write_all(&req.as_bytes()[..cut]).unwrap();
                    std::thread::sleep(Duration::from_millis(10));
                    c.write_all(&req.as_bytes()[cut..]).unwrap();
                    expect_response(&mut c, OK, bin);
                }
            });
        }
    });
    server.stop_cleanly();
}

fn http_close_and_bad(bin: &str) {
    let server = Server::start(bin, &["--addr", "127.0.0.1:0", "--threads", "2"]);
    // A request with a body, skipped; then `Connection: close`.
    let mut c = server.connect();
    c.write_all(b"POST /plaintext HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello")
        .unwrap();
    expect_response(&mut c, NOT_FOUND, bin);
    c.write_all(get("/plaintext", "Connection: close\r\n").as_bytes())
        .unwrap();
    let close = OK.replace("Date", "Connection: close\r\nDate");
    expect_response(&mut c, &close, bin);
    assert!(
        closed_by_server(&mut c),
        "{bin}: closed after Connection: close"
    );
    // HTTP/1.0 keep-alive.
    let mut c = server.connect();
    c.write_all(b"GET /plaintext HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .unwrap();
    let keep = OK.replace("Date", "Connection: keep-alive\r\nDate");
    expect_response(&mut c, &keep, bin);
    // Malformed: a 400 and a close, after the good request before it.
    c.write_all(
        [get("/plaintext", "").as_str(), "NOT HTTP\r\n\r\n"]
            .concat()
            .as_bytes(),
    )
    .unwrap();
    expect_response(&mut c, &keep.replace("Connection: keep-alive\r\n", ""), bin);
    expect_response(&mut c, BAD, bin);
    assert!(closed_by_server(&mut c), "{bin}: closed after the 400");
    server.stop_cleanly();
}

fn refuses_bad_input(bin: &str) {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let in_use = taken.local_addr().unwrap().to_string();
    let cases: [(&[&str], &str); 5] = [
        (&["--addr", "nonsense"], "nonsense"),
        (&["--threads", "0"], "--threads"),
        (&["--frobnicate"], "--frobnicate"),
        (&["--addr"], "--addr"),
        (&["--addr", &in_use], "in use"),
    ];
    for (args, needle) in cases {
        let out = Command::new(bin)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("running the server");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bin} {args:?}: {err}");
        assert!(
            err.contains(needle),
            "{bin} {args:?}: names {needle:?}: {err}"
        );
        assert!(out.stdout.is_empty(), "{bin} {args:?}: no start line");
    }
}

macro_rules! echo_rivals {
    ($($peer:ident),*) => {$(
        mod $peer {
            const BIN: &str = env!(concat!("CARGO_BIN_EXE_echo_", stringify!($peer)));
            #[test]
            fn echoes_on_two_threads_and_exits_zero_on_sigterm() {
                super::echo_round_trips(BIN);
            }
            #[test]
            fn closes_idle_connections() {
                super::echo_idle_timeout(BIN);
            }
            #[test]
            fn refuses_bad_input() {
                super::refuses_bad_input(BIN);
            }
        }
    )*};
}

macro_rules! http_rivals {
    ($($peer:ident),*) => {$(
        mod $peer {
            const BIN: &str = env!(concat!("CARGO_BIN_EXE_http_", stringify!($peer)));
            #[test]
            fn serves_pipelined_requests_and_exits_zero_on_sigterm() {
                super::http_requests(BIN);
            }
            #[test]
            fn answers_close_and_bad_requests_as_iofd() {
                super::http_close_and_bad(BIN);
            }
            #[test]
            fn refuses_bad_input() {
                super::refuses_bad_input(BIN);
            }
        }
    )*};
}

mod echo {
    use super::*;
    echo_rivals!(tokio, monoio, tokio_uring, raw);
}

mod http {
    use super::*;
    http_rivals!(tokio, monoio, tokio_uring, raw);
}
