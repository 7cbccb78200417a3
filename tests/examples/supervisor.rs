//! `examples/supervisor.rs` end to end: children started, a failing one
//! restarted with a growing back-off, a successful one left alone, a
//! signal forwarded to every child and the supervisor gone (status 0)
//! once they are; bad command lines refused with status 2.

use crate::support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use iofd::sys::Errno;
use iofd::{Error, PidFd, Signal};
use support::{PROMPT, server_binary, wait_for};

/// A running supervisor and its output, line by line.
struct Supervisor {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Supervisor {
    fn start(commands: &[&str]) -> Supervisor {
        let mut child = Command::new(server_binary("supervisor"))
            .args(commands)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting the supervisor");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Supervisor {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The first line, seen already or read now, that satisfies `want`
    /// (children run concurrently: their lines interleave in any order).
    fn expect(&mut self, what: &str, want: impl Fn(&str) -> bool) -> String {
        if let Some(line) = self.seen.iter().find(|l| want(l)) {
            return line.clone();
        }
        let end = Instant::now() + PROMPT;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if want(&line) {
                        return line;
                    }
                }
                Err(_) => panic!("no line {what} within {PROMPT:?}; saw {:#?}", self.seen),
            }
        }
    }

    fn signal(&self, sig: Signal) {
        PidFd::open(self.child.id())
            .and_then(|p| p.send_signal(sig))
            .expect("signalling the supervisor");
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The pid in a `[i] started `...` as pid N` line.
fn started_pid(line: &str) -> u32 {
    line.rsplit(' ')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a pid")
}

#[test]
fn restarts_failures_forwards_sigterm_and_exits_zero() {
    let mut sup = Supervisor::start(&["sleep 300", "false", "true"]);
    let sleeper = started_pid(&sup.expect("starting sleep", |l| {
        l.starts_with("[0] started `sleep 300` as pid")
    }));
    sup.expect("true's clean exit", |l| {
        l.starts_with("[2] pid") && l.ends_with("exited with code 0")
    });
    // `false` fails and is restarted, each time after a longer back-off.
    sup.expect("the first back-off", |l| l == "[1] restarting in 100 ms");
    sup.expect("a restart", |l| l.starts_with("[1] started `false`"));
    sup.expect("the second back-off", |l| l == "[1] restarting in 200 ms");
    assert!(
        !sup.seen.iter().any(|l| l.starts_with("[2] restarting")),
        "a clean exit is not restarted: {:#?}",
        sup.seen
    );
    sup.signal(Signal::TERM);
    sup.expect("the forward", |l| {
        l.starts_with("received SIGTERM: forwarding to")
    });
    sup.expect("sleep's end", |l| {
        l == format!("[0] pid {sleeper} killed by SIGTERM")
    });
    sup.expect("the exit", |l| l == "all children gone: exiting");
    let status = wait_for(&mut sup.child, PROMPT).expect("the supervisor exits");
    assert_eq!(status.code(), Some(0));
    // The child was reaped, not left a zombie or running.
    assert_eq!(
        PidFd::open(sleeper).map(drop),
        Err(Error::Os(Errno::ESRCH)),
        "pid {sleeper} is gone"
    );
}

#[test]
fn sigint_reaches_every_child() {
    let mut sup = Supervisor::start(&["sleep 300", "sleep 301"]);
    let a = started_pid(&sup.expect("the first", |l| l.starts_with("[0] started")));
    let b = started_pid(&sup.expect("the second", |l| l.starts_with("[1] started")));
    sup.signal(Signal::INT);
    sup.expect("the forward", |l| {
        l == "received SIGINT: forwarding to 2 children"
    });
    for (i, pid) in [(0, a), (1, b)] {
        let line = format!("[{i}] pid {pid} killed by SIGINT");
        sup.expect(&line.clone(), |l| l == line);
    }
    sup.expect("the exit", |l| l == "all children gone: exiting");
    let status = wait_for(&mut sup.child, Duration::from_secs(5)).expect("exits");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn bad_command_lines_exit_two_with_a_message() {
    let (code, err) = support::refused("supervisor", &[]);
    assert_eq!(code, Some(2));
    assert!(err.contains("usage: supervisor"), "{err}");
    let (code, err) = support::refused("supervisor", &["sleep 1", "   "]);
    assert_eq!(code, Some(2));
    assert!(err.contains("an empty command"), "{err}");
}
