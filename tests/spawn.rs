//! Spawning with a pidfd and a clean signal state, and waits for *any*
//! child: a `harness = false` binary, because it changes the process's
//! signal dispositions, counts `/proc/self/fd`, and reaps whatever child
//! exists — none of which may meet another test's threads or children.

#[macro_use]
mod util;

use std::collections::BTreeSet;
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::sync::Arc;

use iofd::ring::Ring;
use iofd::ring::ops::WaitAny;
use iofd::sys::Errno;
use iofd::sys::process::WaitOptions;
use iofd::sys::signal::{SigDisposition, rt_sigaction};
use iofd::{ChildStatus, Error, PidFd, SigSet, Signal};

use util::{CheckResult, fd_count};

/// A hex mask field (`SigBlk:`, `SigIgn:`) of `/proc/<pid>/status`.
fn status_mask(pid: u32, field: &str) -> Result<u64, Box<dyn std::error::Error + Send + Sync>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = text
        .lines()
        .find(|l| l.starts_with(field))
        .ok_or("field missing")?;
    Ok(u64::from_str_radix(line[field.len()..].trim(), 16)?)
}

/// The bit of `sig` in a kernel signal mask.
fn bit(sig: Signal) -> u64 {
    1 << (sig.number() - 1)
}

/// The children of every thread of this process that are not yet reaped.
fn children() -> Result<Vec<u32>, Box<dyn std::error::Error + Send + Sync>> {
    let mut all = Vec::new();
    for task in std::fs::read_dir("/proc/self/task")? {
        let text = std::fs::read_to_string(task?.path().join("children"))?;
        all.extend(
            text.split_whitespace()
                .map(str::parse::<u32>)
                .collect::<Result<Vec<_>, _>>()?,
        );
    }
    Ok(all)
}

/// A parent that blocks TERM and INT (for a signalfd) and ignores HUP
/// and USR2 spawns children with none of that: `std` alone passes it on.
fn children_start_with_a_clean_signal_state() -> CheckResult {
    let blocked = SigSet::empty().with(Signal::TERM).with(Signal::INT);
    let old_mask = blocked.block_thread()?;
    let old_hup = rt_sigaction(Signal::HUP.number(), Some(SigDisposition::Ignore))?;
    let old_usr2 = rt_sigaction(Signal::USR2.number(), Some(SigDisposition::Ignore))?;
    let result = (|| -> CheckResult {
        // The pitfall: a plain std spawn inherits both.
        let mut plain = Command::new("sleep").arg("30").spawn()?;
        let inherited = status_mask(plain.id(), "SigBlk:")?;
        let ignored = status_mask(plain.id(), "SigIgn:")?;
        plain.kill()?;
        plain.wait()?;
        assert_eq!(inherited & bit(Signal::TERM), bit(Signal::TERM));
        assert_eq!(ignored & bit(Signal::HUP), bit(Signal::HUP));

        let (child, pidfd) = PidFd::spawn(Command::new("sleep").arg("30"))?;
        assert_eq!(status_mask(child.id(), "SigBlk:")?, 0, "mask");
        assert_eq!(status_mask(child.id(), "SigIgn:")?, 0, "ignored");
        // The parent's own state is untouched.
        assert!(SigSet::thread_mask()?.contains(Signal::TERM));
        assert_eq!(
            rt_sigaction(Signal::HUP.number(), None)?,
            SigDisposition::Ignore
        );
        // And so TERM reaches the child.
        pidfd.send_signal(Signal::TERM)?;
        let status = Ring::new(4)?.run(Arc::new(pidfd).wait_op_shared())?;
        assert_eq!(status.signal(), Some(Signal::TERM.number()));
        Ok(())
    })();
    rt_sigaction(Signal::HUP.number(), Some(old_hup))?;
    rt_sigaction(Signal::USR2.number(), Some(old_usr2))?;
    old_mask.set_thread_mask()?;
    result
}

/// The pidfd names the child spawned: its pid, and a wait by it reports
/// that child.
fn the_pidfd_names_the_child() -> CheckResult {
    let (child, pidfd) = PidFd::spawn(Command::new("sh").args(["-c", "exit 4"]))?;
    assert_eq!(pidfd.pid(), child.id());
    let pidfd = Arc::new(pidfd);
    let event = Ring::new(4)?.run(pidfd.wait_child_op_shared(WaitOptions::EXITED))?;
    assert_eq!(
        (event.pid, event.status),
        (child.id(), ChildStatus::Exited(4))
    );
    Ok(())
}

/// 1,000 spawn-and-reap cycles on the ring leave no descriptor and no
/// zombie behind.
fn a_thousand_spawns_leave_nothing_behind() -> CheckResult {
    let mut ring = Ring::new(8)?;
    let before = fd_count();
    for i in 0..1000 {
        let (child, pidfd) = PidFd::spawn(&mut Command::new("true"))?;
        let status = ring.run(Arc::new(pidfd).wait_op_shared())?;
        assert_eq!(status.code(), Some(0), "spawn {i}");
        drop(child);
    }
    assert_eq!(fd_count(), before, "descriptors");
    assert_eq!(children()?, Vec::<u32>::new(), "unreaped children");
    Ok(())
}

/// A wait for any child reports each child once, with its own status.
fn any_child_waits_report_every_child() -> CheckResult {
    let mut ring = Ring::new(8)?;
    let mut expected = BTreeSet::new();
    for code in [0, 1, 2] {
        let (child, _pidfd) =
            PidFd::spawn(Command::new("sh").args(["-c", &format!("exit {code}")]))?;
        expected.insert((child.id(), code));
    }
    let mut seen = BTreeSet::new();
    for _ in 0..3 {
        let event = ring.run(WaitAny::any_child(WaitOptions::EXITED))?;
        match event.status {
            ChildStatus::Exited(code) => seen.insert((event.pid, code)),
            other => return Err(format!("unexpected {other:?}").into()),
        };
    }
    assert_eq!(seen, expected);
    Ok(())
}

/// With no child at all, a wait for any child is `ECHILD`, at once.
fn any_child_wait_without_children_is_echild() -> CheckResult {
    assert_eq!(children()?, Vec::<u32>::new());
    let mut ring = Ring::new(4)?;
    assert_eq!(
        ring.run(WaitAny::any_child(WaitOptions::EXITED)),
        Err(Error::Os(Errno::ECHILD))
    );
    Ok(())
}

/// A spawn that fails reports the OS error, or std's refusal, and leaves
/// no descriptor or child behind.
fn failed_spawns_report_the_error() -> CheckResult {
    let before = fd_count();
    assert_eq!(
        PidFd::spawn(&mut Command::new("/nonexistent/program")).map(drop),
        Err(Error::Os(Errno::ENOENT))
    );
    assert_eq!(
        PidFd::spawn(Command::new("true").arg("nul\0byte")).map(drop),
        Err(Error::InvalidParam(
            "the command cannot be spawned (a NUL byte in it?)"
        ))
    );
    assert_eq!(
        PidFd::spawn(&mut Command::new("/proc/self/status")).map(drop),
        Err(Error::Permission)
    );
    assert_eq!(fd_count(), before);
    assert_eq!(children()?, Vec::<u32>::new());
    Ok(())
}

fn main() {
    checks![
        children_start_with_a_clean_signal_state,
        the_pidfd_names_the_child,
        a_thousand_spawns_leave_nothing_behind,
        any_child_waits_report_every_child,
        any_child_wait_without_children_is_echild,
        failed_spawns_report_the_error,
    ];
}
