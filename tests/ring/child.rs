//! Waiting for children on the ring: by pidfd (behind a poll on a
//! non-blocking one, the kernel's own wait on a blocking one), by process
//! group, for exits, stops and continues, peeking with `NOWAIT`; and
//! every refusal with its exact error. Waits for *any* child live in the
//! `spawn` binary, which owns its process: here they would reap other
//! tests' children.

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use iofd::ring::Ring;
use iofd::ring::ops::{Timeout, TimeoutResult, WaitAny};
use iofd::sys::Errno;
use iofd::sys::process::WaitOptions;
use iofd::{ChildEvent, ChildStatus, Error, PidFd, Signal};

const MS: Duration = Duration::from_millis(1);

/// A child running `sh -c script`, with its pidfd (shared, as a
/// driver-owned wait keeps it).
fn child(script: &str) -> (std::process::Child, Arc<PidFd>) {
    let (c, p) = PidFd::spawn(Command::new("sh").args(["-c", script])).expect("spawn");
    (c, Arc::new(p))
}

/// A child in a process group of its own (its pid is the group's id).
fn grouped(script: &str) -> (std::process::Child, Arc<PidFd>) {
    let (c, p) =
        PidFd::spawn(Command::new("sh").args(["-c", script]).process_group(0)).expect("spawn");
    (c, Arc::new(p))
}

/// Kills and reaps a child through its pidfd.
fn kill_and_reap(p: &PidFd) {
    let _ = p.send_signal(Signal::KILL);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match p.try_wait() {
            Ok(Some(_)) | Err(Error::Os(Errno::ECHILD)) => return,
            Ok(None) => {}
            Err(e) => panic!("try_wait: {e}"),
        }
        assert!(Instant::now() < deadline, "child did not exit");
        std::thread::sleep(MS);
    }
}

fn ring() -> Option<Ring> {
    let ring = Ring::new(16).expect("ring");
    if !ring.is_supported(iofd::ring::Opcode::WAITID) {
        eprintln!("skipped: the kernel has no IORING_OP_WAITID");
        return None;
    }
    Some(ring)
}

#[test]
fn a_wait_by_a_non_blocking_pidfd_waits_for_the_exit() -> iofd::Result<()> {
    let Some(mut ring) = ring() else {
        return Ok(());
    };
    let (c, pidfd) = child("sleep 0.1; exit 7");
    assert!(pidfd.is_nonblocking()?);
    let start = Instant::now();
    // Pushed while the child runs: the poll in front holds the wait back
    // (alone, the kernel would run it as WNOHANG and find nothing).
    let status = ring.run(pidfd.wait_op_shared())?;
    assert_eq!(status.code(), Some(7));
    assert!(start.elapsed() >= 90 * MS, "waited for the exit");
    // Reaped: nothing left to wait for.
    assert_eq!(pidfd.try_wait(), Err(Error::Os(Errno::ECHILD)));
    drop(c);
    Ok(())
}

#[test]
fn a_typed_wait_by_pidfd_reports_the_child() -> iofd::Result<()> {
    let Some(mut ring) = ring() else {
        return Ok(());
    };
    let (c, pidfd) = child("exit 3");
    let event = ring.run(pidfd.wait_child_op_shared(WaitOptions::EXITED))?;
    assert_eq!(event.pid, c.id());
    assert_eq!(event.status, ChildStatus::Exited(3));
    assert!(event.is_terminated());
    assert_eq!(event.exit_status().and_then(|s| s.code()), Some(3));
    Ok(())
}

#[test]
fn stops_and_continues_are_reported_on_a_blocking_pidfd() -> iofd::Result<()> {
    let Some(mut ring) = ring() else {
        return Ok(());
    };
    let (c, pidfd) = child("exec sleep 30");
    pidfd.set_nonblocking(false)?;
    let all = WaitOptions::EXITED | WaitOptions::STOPPED | WaitOptions::CONTINUED;
    // Each wait is pushed before its signal, and so really waits.
    let mut after = |sig: Signal| -> iofd::Result<ChildEvent> {
        let token = ring.push(pidfd.wait_child_op_shared(all))?;
        ring.submit()?;
        pidfd.send_signal(sig)?;
        ring.wait(token)
    };
    assert_eq!(
        after(Signal::STOP)?.status,
        ChildStatus::Stopped(Signal::STOP)
    );
    assert_eq!(after(Signal::CONT)?.status, ChildStatus::Continued);
    let event = after(Signal::KILL)?;
    assert_eq!(
        event.status,
        ChildStatus::Killed {
            signal: Signal::KILL,
            core_dumped: false
        }
    );
    assert_eq!(event.exit_status().and_then(|s| s.signal()), Some(9));
    assert_eq!(event.pid, c.id());
    Ok(())
}

#[test]
fn nowait_peeks_and_a_second_wait_reaps() -> iofd::Result<()> {
    let Some(mut ring) = ring() else {
        return Ok(());
    };
    let (_c, pidfd) = child("exit 5");
    let peek = ring.run(pidfd.wait_child_op_shared(WaitOptions::EXITED | WaitOptions::NOWAIT))?;
    assert_eq!(peek.status, ChildStatus::Exited(5));
    // Still waitable: the real wait reaps it.
    assert_eq!(ring.run(pidfd.wait_op_shared())?.code(), Some(5));
    assert_eq!(pidfd.try_wait(), Err(Error::Os(Errno::ECHILD)));
    Ok(())
}

#[test]
fn a_group_wait_reports_stops_and_the_exit() -> iofd::Result<()> {
    let Some(mut ring) = ring() else {
        return Ok(());
    };
    let (c, pidfd) = grouped("exec sleep 30");
    let group = c.id();
    let all = WaitOptions::EXITED | WaitOptions::STOPPED;
    let stop = ring.push(WaitAny::group(group, all))?;
    ring.submit()?;
    pidfd.send_signal(Signal::STOP)?;
    let event = ring.wait(stop)?;
    assert_eq!(
        (event.pid, event.status),
        (c.id(), ChildStatus::Stopped(Signal::STOP))
    );
    let exit = ring.push(WaitAny::group(group, all))?;
    ring.submit()?;
    pidfd.send_signal(Signal::KILL)?;
    let event = ring.wait(exit)?;
    assert_eq!(event.pid, c.id());
    assert!(event.is_terminated());
    // The group is empty now.
    assert_eq!(
        ring.run(WaitAny::group(group, WaitOptions::EXITED)),
        Err(Error::Os(Errno::ECHILD))
    );
    Ok(())
}

#[test]
fn a_blocking_pidfd_wait_takes_a_deadline_and_a_polled_one_refuses_it() -> iofd::Result<()> {
    let Some(mut ring) = ring() else {
        return Ok(());
    };
    let (_c, pidfd) = child("exec sleep 30");
    assert_eq!(
        ring.push_with_timeout(pidfd.wait_op_shared(), Timeout::after(10 * MS))
            .map(drop),
        Err(Error::InvalidParam(
            "an operation that polls first cannot be chained, flagged or given a deadline"
        ))
    );
    assert_eq!(ring.in_flight(), 0, "nothing left behind");
    pidfd.set_nonblocking(false)?;
    let (wait, _deadline) =
        ring.push_with_timeout(pidfd.wait_op_shared(), Timeout::after(20 * MS))?;
    assert_eq!(ring.wait(wait), Err(Error::Os(Errno::ECANCELED)));
    kill_and_reap(&pidfd);
    Ok(())
}

#[test]
fn a_cancelled_polled_wait_leaves_the_child_to_reap() -> iofd::Result<()> {
    let Some(mut ring) = ring() else {
        return Ok(());
    };
    let (_c, pidfd) = child("exec sleep 30");
    let token = ring.push(pidfd.wait_op_shared())?;
    ring.submit()?;
    ring.cancel_keep(&token)?;
    assert_eq!(ring.wait(token), Err(Error::Os(Errno::ECANCELED)));
    assert_eq!(ring.in_flight(), 0);
    // The wait never ran: the child is still there to be reaped.
    assert_eq!(pidfd.try_wait(), Ok(None));
    kill_and_reap(&pidfd);
    // A dropped token's wait is detached, not cancelled: it still reaps
    // the child when it exits, then lets the pidfd go.
    let (_c, pidfd) = child("exec sleep 30");
    drop(ring.push(pidfd.wait_op_shared())?);
    ring.submit()?;
    assert_eq!(Arc::strong_count(&pidfd), 2, "the wait keeps the pidfd");
    pidfd.send_signal(Signal::KILL)?;
    ring.wait_idle()?;
    assert_eq!(Arc::strong_count(&pidfd), 1);
    assert_eq!(pidfd.try_wait(), Err(Error::Os(Errno::ECHILD)));
    Ok(())
}

#[test]
fn bad_waits_are_refused_with_the_exact_error() -> iofd::Result<()> {
    let Some(mut ring) = ring() else {
        return Ok(());
    };
    let (_c, pidfd) = child("exec sleep 30");
    assert_eq!(
        ring.push(pidfd.wait_child_op_shared(WaitOptions::empty()))
            .map(drop),
        Err(Error::InvalidParam(
            "wait options name no event: EXITED, STOPPED or CONTINUED"
        ))
    );
    assert_eq!(
        ring.push(pidfd.wait_child_op_shared(WaitOptions::EXITED | WaitOptions::NOHANG))
            .map(drop),
        Err(Error::InvalidParam(
            "a ring wait waits: NOHANG is for waitid and PidFd::try_wait"
        ))
    );
    assert_eq!(
        ring.push(pidfd.wait_child_op_shared(WaitOptions::EXITED | WaitOptions::STOPPED))
            .map(drop),
        Err(Error::InvalidParam(
            "waiting by pidfd for stops or continues needs a blocking pidfd \
             (PidFd::set_nonblocking(false))"
        ))
    );
    assert_eq!(
        ring.push(WaitAny::group(u32::MAX, WaitOptions::EXITED))
            .map(drop),
        Err(Error::InvalidParam("process group id above i32::MAX"))
    );
    assert_eq!(
        ring.push(WaitAny::any_child(
            WaitOptions::NOHANG | WaitOptions::EXITED
        ))
        .map(drop),
        Err(Error::InvalidParam(
            "a ring wait waits: NOHANG is for waitid and PidFd::try_wait"
        ))
    );
    // Not a child: refused at the push, not left waiting for ever.
    let parent = Arc::new(PidFd::open(iofd::sys::process::getppid())?);
    assert_eq!(
        ring.push(parent.wait_op_shared()).map(drop),
        Err(Error::Os(Errno::ECHILD))
    );
    kill_and_reap(&pidfd);
    pidfd.close()?;
    assert_eq!(
        ring.push(pidfd.wait_op_shared()).map(drop),
        Err(Error::Closed)
    );
    assert_eq!(ring.in_flight(), 0);
    Ok(())
}

#[test]
fn a_timeout_is_not_mistaken_for_a_wait() -> iofd::Result<()> {
    // A wait and an unrelated timer on one ring: each result goes to its
    // own token.
    let Some(mut ring) = ring() else {
        return Ok(());
    };
    let (_c, pidfd) = child("sleep 0.05; exit 1");
    let wait = ring.push(pidfd.wait_op_shared())?;
    let timer = ring.push(Timeout::after(MS))?;
    assert_eq!(ring.wait(timer)?, TimeoutResult::Fired);
    assert_eq!(ring.wait(wait)?.code(), Some(1));
    Ok(())
}

#[test]
fn a_group_signal_reaches_what_the_child_started() -> iofd::Result<()> {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let Some(mut ring) = ring() else {
        return Ok(());
    };
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "sleep 30 & echo $!; wait"])
        .process_group(0)
        .stdout(Stdio::piped());
    let (mut c, pidfd) = PidFd::spawn(&mut cmd)?;
    let mut line = String::new();
    BufReader::new(c.stdout.take().expect("piped"))
        .read_line(&mut line)
        .expect("the grandchild's pid");
    let grandchild = Arc::new(PidFd::open(line.trim().parse().expect("a pid"))?);
    pidfd.send_signal_group(Signal::TERM)?;
    // The shell's child, which a signal to the shell alone would miss.
    ring.run(grandchild.exit_op_shared())?;
    let status = ring.run(Arc::new(pidfd).wait_op_shared())?;
    assert_eq!(status.signal(), Some(Signal::TERM.number()));
    grandchild.close()?;
    assert_eq!(
        grandchild.send_signal_group(Signal::TERM),
        Err(Error::Closed)
    );
    Ok(())
}
