//! The HTTP server example (`examples/http_server/`), run as a user runs
//! it: built with cargo, started on a port the kernel picks, driven by
//! ordinary blocking clients over keep-alive connections (single requests,
//! pipelined batches, requests split across writes), and stopped with a
//! signal sent to it alone (through a pidfd).

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use iofd::Signal;

use crate::support;

use support::{PROMPT, Server};

/// Starts the example with `args`.
fn start(args: &[&str]) -> Server {
    Server::start("http_server", args)
}

impl Server {
    fn connect(&self) -> Client {
        let s = TcpStream::connect_timeout(&self.addr, PROMPT).expect("connecting");
        s.set_read_timeout(Some(PROMPT)).unwrap();
        s.set_write_timeout(Some(PROMPT)).unwrap();
        s.set_nodelay(true).unwrap();
        Client {
            w: s.try_clone().unwrap(),
            r: BufReader::new(s),
        }
    }
}

/// A connection: requests written straight, responses read through a
/// buffer (pipelined responses may come in one read).
struct Client {
    w: TcpStream,
    r: BufReader<TcpStream>,
}

struct Response {
    status: u16,
    reason: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        let mut found = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name));
        let value = found.next().map(|(_, v)| v.as_str());
        assert!(found.next().is_none(), "one {name} header");
        value
    }
}

impl Client {
    fn send(&mut self, bytes: &[u8]) {
        self.w.write_all(bytes).expect("writing a request");
    }

    /// Reads one response, framed by its `Content-Length`.
    fn response(&mut self) -> Response {
        let mut line = String::new();
        let mut lines = Vec::new();
        loop {
            line.clear();
            let n = self.r.read_line(&mut line).expect("reading a response");
            assert!(n > 0, "a response, not the end (after {lines:?})");
            let l = line
                .strip_suffix("\r\n")
                .unwrap_or_else(|| panic!("a CRLF line: {line:?}"));
            if l.is_empty() {
                break;
            }
            lines.push(l.to_owned());
        }
        let (version, rest) = lines[0].split_once(' ').expect("a status line");
        assert_eq!(version, "HTTP/1.1", "status line {:?}", lines[0]);
        let (code, reason) = rest.split_once(' ').expect("a status and a reason");
        let headers: Vec<(String, String)> = lines[1..]
            .iter()
            .map(|h| {
                let (n, v) = h.split_once(": ").expect("a `Name: value` header");
                (n.to_owned(), v.to_owned())
            })
            .collect();
        let mut resp = Response {
            status: code.parse().expect("a numeric status"),
            reason: reason.to_owned(),
            headers,
            body: Vec::new(),
        };
        let len: usize = resp
            .header("Content-Length")
            .expect("a Content-Length")
            .parse()
            .expect("a numeric Content-Length");
        resp.body = vec![0; len];
        self.r.read_exact(&mut resp.body).expect("reading a body");
        assert!(resp.header("Server").is_some_and(|s| !s.is_empty()));
        check_date(resp.header("Date").expect("a Date header"));
        resp
    }

    /// Whether the server has closed the connection: end of file, or a
    /// reset, and no more bytes.
    fn closed_by_server(&mut self) -> bool {
        let mut b = [0u8; 1];
        match self.r.read(&mut b) {
            Ok(0) => true,
            Err(e) => matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe),
            Ok(_) => false,
        }
    }
}

/// A GET request for `path` with the `extra` header lines.
fn get(path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: test\r\nUser-Agent: iofd-test\r\n{extra}\r\n")
}

fn check_plaintext(r: &Response) {
    assert_eq!((r.status, r.reason.as_str()), (200, "OK"));
    assert_eq!(r.body, b"Hello, World!");
    assert_eq!(r.header("Content-Length"), Some("13"));
    assert_eq!(r.header("Content-Type"), Some("text/plain"));
    assert_eq!(
        r.header("Connection"),
        None,
        "keep-alive is HTTP/1.1's default"
    );
}

fn check_not_found(r: &Response) {
    assert_eq!((r.status, r.reason.as_str()), (404, "Not Found"));
    assert!(r.body.is_empty());
    assert_eq!(r.header("Content-Length"), Some("0"));
}

/// Days from 1970-01-01 to a civil date (Howard Hinnant's
/// `days_from_civil`), for checking the server's own conversion.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
}

/// A `Date` value is an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`)
/// whose weekday fits its date, within a few seconds of now.
fn check_date(date: &str) {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let bad = || panic!("a malformed Date: {date:?}");
    let f: Vec<&str> = date.split(' ').collect();
    if date.len() != 29 || f.len() != 6 || f[5] != "GMT" || f[1].len() != 2 || f[4].len() != 8 {
        bad();
    }
    let num = |s: &str| -> i64 {
        if !s.bytes().all(|b| b.is_ascii_digit()) {
            bad();
        }
        s.parse().unwrap()
    };
    let (day, year) = (num(f[1]), num(f[3]));
    let month = MONTHS.iter().position(|m| *m == f[2]).unwrap_or_else(bad) as i64 + 1;
    let hms: Vec<i64> = f[4].split(':').map(num).collect();
    if hms.len() != 3 || hms[0] > 23 || hms[1] > 59 || hms[2] > 60 || !(1..=31).contains(&day) {
        bad();
    }
    let days = days_from_civil(year, month, day);
    assert_eq!(
        f[0],
        format!("{},", DAYS[days.rem_euclid(7) as usize]),
        "weekday of {date:?}"
    );
    let secs = days * 86_400 + hms[0] * 3600 + hms[1] * 60 + hms[2];
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now - secs).abs() <= 5, "{date:?} is {}s off", now - secs);
}

#[test]
fn serves_keep_alive_pipelined_and_split_requests_and_exits_zero_on_sigterm() {
    const CLIENTS: usize = 6;
    const ROUNDS: usize = 4;
    const SINGLES: usize = 10;
    const DEPTH: usize = 16;
    let server = start(&["--addr", "127.0.0.1:0", "--threads", "2"]);
    // A connection that stays open across the shutdown.
    let mut idle = server.connect();
    idle.send(get("/plaintext", "").as_bytes());
    check_plaintext(&idle.response());

    let start = Instant::now();
    let answered = AtomicUsize::new(0);
    // Pipelined batches whose responses all came in the client's first read.
    let in_one_read = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for client in 0..CLIENTS {
            let (server, answered, in_one_read) = (&server, &answered, &in_one_read);
            s.spawn(move || {
                for round in 0..ROUNDS {
                    // A connection per round: spread over both listeners.
                    let mut c = server.connect();
                    for _ in 0..SINGLES {
                        c.send(get("/plaintext", "").as_bytes());
                        check_plaintext(&c.response());
                    }
                    // A batch in one write, every fifth a 404: answered in
                    // order.
                    let path = |i: usize| {
                        if i % 5 == 3 {
                            format!("/missing/{client}/{round}/{i}")
                        } else {
                            "/plaintext".to_owned()
                        }
                    };
                    let batch: String = (0..DEPTH).map(|i| get(&path(i), "")).collect();
                    c.send(batch.as_bytes());
                    let first = c.r.fill_buf().expect("reading responses");
                    let first = first.windows(9).filter(|w| w == b"HTTP/1.1 ").count();
                    if first == DEPTH {
                        in_one_read.fetch_add(1, Ordering::Relaxed);
                    }
                    for i in 0..DEPTH {
                        let r = c.response();
                        if i % 5 == 3 {
                            check_not_found(&r);
                        } else {
                            check_plaintext(&r);
                        }
                    }
                    // A request split across two writes, at a point that
                    // moves: in the request line, the headers, the blank
                    // line (between its `\r` and `\n`).
                    let req = get("/plaintext", "Accept: */*\r\n");
                    let cut = [5, 20, req.len() - 3, req.len() - 1][round % 4];
                    c.send(&req.as_bytes()[..cut]);
                    std::thread::sleep(Duration::from_millis(20));
                    c.send(&req.as_bytes()[cut..]);
                    check_plaintext(&c.response());
                    answered.fetch_add(SINGLES + DEPTH + 1, Ordering::Relaxed);
                }
            });
        }
    });
    let answered = answered.into_inner();
    assert_eq!(answered, CLIENTS * ROUNDS * (SINGLES + DEPTH + 1));
    eprintln!("{answered} requests answered in {:?}", start.elapsed());
    assert!(
        in_one_read.into_inner() > 0,
        "some pipelined batch was answered in one read"
    );
    // The idle connection is still served.
    idle.send(get("/plaintext", "").as_bytes());
    check_plaintext(&idle.response());

    let (status, stderr) = server.stop(Signal::TERM);
    assert_eq!(
        status.code(),
        Some(0),
        "exit status after SIGTERM; stderr: {stderr}"
    );
    assert!(stderr.is_empty(), "nothing on stderr: {stderr}");
    assert!(idle.closed_by_server(), "the open connection is closed");
}

/// Sends `request` on a new connection and checks that it is answered
/// with a 400 and a close.
fn check_bad(server: &Server, request: &[u8]) {
    let mut c = server.connect();
    c.send(request);
    let r = c.response();
    let shown = String::from_utf8_lossy(&request[..request.len().min(60)]);
    assert_eq!(
        (r.status, r.reason.as_str()),
        (400, "Bad Request"),
        "{shown:?}"
    );
    assert_eq!(r.header("Content-Length"), Some("0"));
    assert_eq!(r.header("Connection"), Some("close"));
    assert!(c.closed_by_server(), "closed after the 400 to {shown:?}");
}

#[test]
fn answers_404_400_and_connection_close_and_exits_zero_on_sigint() {
    let server = start(&["--addr", "127.0.0.1:0"]);

    // A 404 keeps the connection; so does a request with a body, skipped.
    let mut c = server.connect();
    c.send(get("/", "").as_bytes());
    check_not_found(&c.response());
    c.send(b"POST /plaintext HTTP/1.1\r\nHost: test\r\nContent-Length: 11\r\n\r\nhello world");
    check_not_found(&c.response());
    // A request a byte at a time.
    for b in get("/plaintext", "").bytes() {
        c.send(&[b]);
        std::thread::sleep(Duration::from_millis(1));
    }
    check_plaintext(&c.response());

    // `Connection: close`: the response says so, then the end.
    c.send(get("/plaintext", "Connection: close\r\n").as_bytes());
    let r = c.response();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"Hello, World!"[..]));
    assert_eq!(r.header("Connection"), Some("close"));
    assert!(c.closed_by_server(), "closed after `Connection: close`");

    // In a pipelined batch: what comes after it is not answered.
    let mut c = server.connect();
    let batch = [
        get("/plaintext", ""),
        get("/plaintext", "Connection: close\r\n"),
        get("/plaintext", ""),
    ];
    c.send(batch.concat().as_bytes());
    check_plaintext(&c.response());
    assert_eq!(c.response().header("Connection"), Some("close"));
    assert!(c.closed_by_server(), "nothing after the closing request");

    // HTTP/1.0 closes unless asked to keep the connection.
    let mut c = server.connect();
    c.send(b"GET /plaintext HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    let r = c.response();
    assert_eq!(
        (r.status, r.header("Connection")),
        (200, Some("keep-alive"))
    );
    c.send(b"GET /plaintext HTTP/1.0\r\n\r\n");
    let r = c.response();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"Hello, World!"[..]));
    assert!(
        c.closed_by_server(),
        "an HTTP/1.0 request without keep-alive"
    );

    // Malformed requests, and header blocks over 8 KiB.
    let big = "a".repeat(9000);
    let long = get("/plaintext", &format!("X-Big: {big}\r\n"));
    let endless = format!("GET /plaintext HTTP/1.1\r\nHost: test\r\nX-Big: {big}");
    let bad: [&[u8]; 7] = [
        b"GARBAGE\r\n\r\n",
        b"GET /plaintext HTTP/1.1\r\n\r\n", // no Host
        b"GET /plaintext HTTP/2.0\r\nHost: test\r\n\r\n",
        b"GET  /plaintext HTTP/1.1\r\nHost: test\r\n\r\n",
        b"GET /plaintext HTTP/1.1\r\nHost: test\r\nno colon here\r\n\r\n",
        long.as_bytes(),
        // Never ends: refused once 8 KiB have come.
        endless.as_bytes(),
    ];
    for request in bad {
        check_bad(&server, request);
    }
    // A bad request after a good one, in the same write.
    let mut c = server.connect();
    c.send(
        [get("/plaintext", "").as_bytes(), b"NOT HTTP\r\n\r\n"]
            .concat()
            .as_slice(),
    );
    check_plaintext(&c.response());
    assert_eq!(c.response().status, 400);
    assert!(c.closed_by_server(), "closed after the 400");

    let (status, stderr) = server.stop(Signal::INT);
    assert_eq!(
        status.code(),
        Some(0),
        "exit status after SIGINT; stderr: {stderr}"
    );
    assert!(stderr.is_empty(), "nothing on stderr: {stderr}");
}

#[test]
fn bad_input_exits_two_with_a_message() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let in_use = taken.local_addr().unwrap().to_string();
    let cases: [(&[&str], &str); 6] = [
        (&["--addr", "nonsense"], "nonsense"),
        (&["--threads", "0"], "--threads"),
        (&["--threads", "many"], "--threads"),
        (&["--frobnicate"], "--frobnicate"),
        (&["--addr"], "--addr"),
        (&["--addr", &in_use], "in use"),
    ];
    support::assert_refused("http_server", &cases);
}
