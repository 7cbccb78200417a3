//! Running an example server as a user runs it, for the examples' tests:
//! built with the cargo that runs the tests, started on a port the kernel
//! picks, stopped with a signal sent to it alone (through a pidfd).
#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::io::{BufRead, BufReader, ErrorKind, Read};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};

use iofd::{PidFd, Signal};

/// How long anything the server should do promptly may take.
pub const PROMPT: Duration = Duration::from_secs(5);

/// The example `name`'s binary, built once per test run with the cargo
/// that runs the tests: it inherits this process's environment (so a
/// `CARGO_TARGET_DIR` too), and cargo names the executable it built.
pub fn server_binary(name: &'static str) -> PathBuf {
    static BINS: Mutex<Vec<(&str, PathBuf)>> = Mutex::new(Vec::new());
    // Held across the build: two tests asking at once build once.
    let mut bins = BINS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, path)) = bins.iter().find(|(n, _)| *n == name) {
        return path.clone();
    }
    let out = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--example", name])
        .arg("--message-format=json-render-diagnostics")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stderr(Stdio::inherit())
        .output()
        .expect("running cargo build");
    assert!(out.status.success(), "cargo build --example {name} failed");
    let path = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == name)
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .unwrap_or_else(|| panic!("cargo named no {name} executable"));
    bins.push((name, path.clone()));
    path
}

/// Waits up to `limit` for `child` to exit.
pub fn wait_for(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let end = Instant::now() + limit;
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

/// A running server, killed if a test fails before stopping it.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
}

impl Server {
    /// Starts example `name` with `args` and reads its `listening on`
    /// line.
    pub fn start(name: &'static str, args: &[&str]) -> Server {
        let mut child = Command::new(server_binary(name))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting the server");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = match rx.recv_timeout(PROMPT) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                panic!("the server printed nothing within {PROMPT:?}");
            }
        };
        let Some(addr) = line.strip_prefix("listening on ") else {
            let _ = child.kill();
            let status = child.wait();
            panic!("unexpected first line {line:?} (server: {status:?})");
        };
        let addr: SocketAddr = addr
            .trim()
            .parse()
            .expect("an address after `listening on`");
        assert_ne!(addr.port(), 0, "the actual port, not the requested 0");
        Server { child, addr }
    }

    /// Sends `sig` to the server process alone, and returns its exit
    /// status and what it wrote to stderr.
    pub fn stop(mut self, sig: Signal) -> (ExitStatus, String) {
        let pidfd = PidFd::open(self.child.id()).expect("pidfd_open");
        pidfd.send_signal(sig).expect("pidfd_send_signal");
        let status = wait_for(&mut self.child, PROMPT).expect("the server exits after a signal");
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        (status, err)
    }
}

impl Server {
    /// A blocking client connection to the server, with read and write
    /// timeouts of [`PROMPT`].
    pub fn connect_stream(&self) -> TcpStream {
        let s = TcpStream::connect_timeout(&self.addr, PROMPT).expect("connecting");
        s.set_read_timeout(Some(PROMPT)).expect("read timeout");
        s.set_write_timeout(Some(PROMPT)).expect("write timeout");
        s
    }
}

/// Whether the server has closed `s`: end of file, or a reset.
pub fn closed_by_server(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 1];
    match s.read(&mut b) {
        Ok(0) => true,
        Err(e) => matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe),
        Ok(_) => false,
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

/// Runs example `name` with `args`, which it should refuse: its exit
/// status and stderr.
pub fn refused(name: &'static str, args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(server_binary(name))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the server");
    let Some(status) = wait_for(&mut child, PROMPT) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the server did not refuse {args:?}: it is still running");
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status.code(), err)
}

/// Runs example `name` with each case's arguments, which it must refuse:
/// exit status 2, and stderr naming the case's needle.
pub fn assert_refused(name: &'static str, cases: &[(&[&str], &str)]) {
    for &(args, needle) in cases {
        let (code, err) = refused(name, args);
        assert_eq!(code, Some(2), "{args:?}: exit status; stderr: {err}");
        assert!(
            err.contains(needle),
            "{args:?}: stderr names {needle:?}: {err}"
        );
    }
}
