//! A process supervisor on one ring: starts the commands it is given,
//! restarts those that fail (backing off on ring timers), forwards
//! `SIGTERM`/`SIGINT` to every child, and reaps them all on the ring.
//!
//! ```text
//! cargo run --example supervisor -- 'sleep 300' 'my-server --port 1'
//! ```
//!
//! Each argument is one command, split on whitespace (no shell). One line
//! per event goes to standard output. A child that exits with code 0 is
//! done; one that fails (another code, or killed by a signal) is started
//! again after a back-off that doubles from 100 ms to 5 s, and starts
//! again at 100 ms once a run has lasted 10 s. After `SIGTERM` or `SIGINT`
//! nothing is restarted: the signal goes to every child (to its process
//! group: each child leads one), and the supervisor exits (status 0) once
//! they are all gone. Exit status 2 for a
//! bad command line.
//!
//! How it is built: children come from [`PidFd::spawn`], so they start
//! with the signals this process blocks (for its `SignalFd`) unblocked;
//! each child's exit is a wait by pidfd on the ring, the back-off a ring
//! timeout, the signals a read of the `SignalFd`. Every operation is
//! pushed with a tag naming what it is for and whose, and the loop
//! dispatches completions by tag.

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitStatus};
use std::sync::Arc;
use std::time::{Duration, Instant};

use iofd::ring::ops::{ReadSignal, Timeout, WaitExit};
use iofd::ring::{Ring, Token};
use iofd::{Error, PidFd, SigSet, Signal, SignalFd};

/// What an operation's tag names: the kind in the high half, the child's
/// index in the low.
const EXIT: u64 = 1 << 32;
const RESTART: u64 = 2 << 32;
const SIGNAL: u64 = 3 << 32;
const KIND: u64 = !0 << 32;

/// Back-off between restarts: doubles from the first to the last.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// A run this long resets the back-off.
const HEALTHY_RUN: Duration = Duration::from_secs(10);

/// One supervised command and where it stands.
struct Child {
    /// The command as given.
    line: String,
    /// Program and arguments.
    argv: Vec<String>,
    /// While running: the process.
    running: Option<Running>,
    /// While waiting to be restarted: the back-off timer.
    restart: Option<Token<Timeout>>,
    /// The next back-off.
    backoff: Duration,
}

/// A running child process.
struct Running {
    pidfd: Arc<PidFd>,
    /// The ring's wait for its exit, by its pidfd.
    wait: Token<WaitExit<Arc<PidFd>>>,
    started: Instant,
}

struct Supervisor {
    ring: Ring,
    children: Vec<Child>,
    /// Set once a signal asked everything to stop.
    stopping: bool,
}

fn main() {
    let lines: Vec<String> = std::env::args().skip(1).collect();
    if lines.is_empty() || lines.iter().any(|l| l == "-h" || l == "--help") {
        eprintln!("usage: supervisor 'COMMAND [ARG...]' ['COMMAND [ARG...]' ...]");
        std::process::exit(2);
    }
    let mut children = Vec::new();
    for line in lines {
        let argv: Vec<String> = line.split_whitespace().map(String::from).collect();
        if argv.is_empty() {
            eprintln!("supervisor: an empty command");
            std::process::exit(2);
        }
        children.push(Child {
            line,
            argv,
            running: None,
            restart: None,
            backoff: FIRST_BACKOFF,
        });
    }
    if let Err(e) = run(children) {
        eprintln!("supervisor: {e}");
        std::process::exit(1);
    }
}

fn run(children: Vec<Child>) -> iofd::Result<()> {
    // Blocked before anything else, so that the signals wait for the
    // signalfd; children get them unblocked from `PidFd::spawn`.
    let signals = SigSet::from(Signal::TERM).with(Signal::INT);
    signals.block_thread()?;
    let sfd = Arc::new(SignalFd::new(&signals)?);
    let mut sup = Supervisor {
        ring: Ring::new(64)?,
        children,
        stopping: false,
    };
    let mut signal_read: Token<ReadSignal<Arc<SignalFd>>> =
        sup.ring.push_tagged(sfd.read_op_shared(), SIGNAL)?;
    for i in 0..sup.children.len() {
        sup.start(i)?;
    }
    loop {
        if sup.stopping && sup.children.iter().all(|c| c.running.is_none()) {
            println!("all children gone: exiting");
            return Ok(());
        }
        match sup.ring.submit_and_wait(1) {
            Ok(_) | Err(Error::Interrupted) => {}
            Err(e) => return Err(e),
        }
        while let Some(c) = sup.ring.next_completion() {
            let i = (c.tag & !KIND) as usize;
            match c.tag & KIND {
                SIGNAL => {
                    if let Some(info) = sup.ring.take(&mut signal_read) {
                        if let Some(sig) = info?.signal() {
                            sup.stop(sig)?;
                        }
                        signal_read = sup.ring.push_tagged(sfd.read_op_shared(), SIGNAL)?;
                    }
                }
                EXIT => sup.exited(i)?,
                RESTART => {
                    let Some(mut timer) = sup.children[i].restart.take() else {
                        continue;
                    };
                    if sup.ring.take(&mut timer).is_some() && !sup.stopping {
                        sup.start(i)?;
                    }
                }
                _ => unreachable!("a tag this loop did not give"),
            }
        }
    }
}

impl Supervisor {
    /// Starts child `i`; a spawn that fails counts as a failed run.
    fn start(&mut self, i: usize) -> iofd::Result<()> {
        let child = &mut self.children[i];
        let mut cmd = Command::new(&child.argv[0]);
        // A process group of its own: a forwarded signal reaches what the
        // child starts too, and a terminal's ^C reaches only the
        // supervisor, which forwards it once.
        cmd.args(&child.argv[1..]).process_group(0);
        match PidFd::spawn(&mut cmd) {
            Ok((_std_child, pidfd)) => {
                // Reaped through the pidfd, on the ring: the std `Child` is
                // not waited on.
                let pidfd = Arc::new(pidfd);
                let wait = self
                    .ring
                    .push_tagged(pidfd.wait_op_shared(), EXIT | i as u64)?;
                println!("[{i}] started `{}` as pid {}", child.line, pidfd.pid());
                child.running = Some(Running {
                    pidfd,
                    wait,
                    started: Instant::now(),
                });
                Ok(())
            }
            Err(e) => {
                println!("[{i}] cannot start `{}`: {e}", child.line);
                self.schedule_restart(i)
            }
        }
    }

    /// Child `i`'s wait completed: report it, and restart it if it failed.
    fn exited(&mut self, i: usize) -> iofd::Result<()> {
        let child = &mut self.children[i];
        let Some(mut run) = child.running.take() else {
            return Ok(());
        };
        let Some(result) = self.ring.take(&mut run.wait) else {
            child.running = Some(run);
            return Ok(());
        };
        let status = match result {
            Ok(status) => status,
            Err(e) => {
                // Reaped by someone else (ECHILD): nothing to restart.
                println!("[{i}] pid {} lost: {e}", run.pidfd.pid());
                return Ok(());
            }
        };
        println!("[{i}] pid {} {}", run.pidfd.pid(), describe(status));
        if run.started.elapsed() >= HEALTHY_RUN {
            child.backoff = FIRST_BACKOFF;
        }
        if self.stopping || status.success() {
            return Ok(());
        }
        self.schedule_restart(i)
    }

    /// Arms child `i`'s restart timer and doubles its back-off.
    fn schedule_restart(&mut self, i: usize) -> iofd::Result<()> {
        if self.stopping {
            return Ok(());
        }
        let child = &mut self.children[i];
        let delay = child.backoff;
        child.backoff = (delay * 2).min(MAX_BACKOFF);
        println!("[{i}] restarting in {} ms", delay.as_millis());
        child.restart = Some(
            self.ring
                .push_tagged(Timeout::after(delay), RESTART | i as u64)?,
        );
        Ok(())
    }

    /// A signal asked everything to stop: no more restarts, and the signal
    /// goes to every running child.
    fn stop(&mut self, sig: Signal) -> iofd::Result<()> {
        self.stopping = true;
        let running = self.children.iter().filter(|c| c.running.is_some()).count();
        println!("received {}: forwarding to {running} children", sig.name());
        for (i, child) in self.children.iter_mut().enumerate() {
            if let Some(timer) = child.restart.take() {
                println!("[{i}] restart cancelled");
                self.ring.cancel(timer)?;
            }
            if let Some(Running { pidfd, .. }) = &child.running {
                match pidfd.send_signal_group(sig) {
                    // Exited but not yet reaped: its wait reports it.
                    Ok(()) | Err(Error::Os(iofd::sys::Errno::ESRCH)) => {}
                    Err(e) => println!("[{i}] cannot signal pid {}: {e}", pidfd.pid()),
                }
            }
        }
        Ok(())
    }
}

/// How a child ended, in words.
fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with code {code}"),
        (None, Some(sig)) => {
            let name = Signal::new(sig).map_or("?", Signal::name);
            format!("killed by {name}")
        }
        _ => format!("ended: {status}"),
    }
}
