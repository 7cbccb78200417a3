//! `sys::process`: ids, tgkill, pidfds and waitid against real children;
//! CPU affinity on spawned threads.
//!
//! Tests share one process, so every wait names a specific child (a pid or a
//! pidfd); a `waitid(All)` would reap other tests' children.

use crate::util;

use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command};

use iofd::sys::Errno;
use iofd::sys::file::{FdFlags, StatusFlags, fcntl_getfd, fcntl_getfl};
use iofd::sys::io::{read, write};
use iofd::sys::pipe::{PipeFlags, pipe2};
use iofd::sys::process::{
    CpuSet, PidFdFlags, WaitCode, WaitId, WaitInfo, WaitOptions, getpid, getppid, gettid, getuid,
    pidfd_getfd, pidfd_open, pidfd_send_signal, sched_getaffinity, sched_setaffinity, tgkill,
    waitid,
};

const SIGKILL: i32 = 9;
const SIGCONT: i32 = 18;
const SIGSTOP: i32 = 19;
/// A pid above this machine's `pid_max` (at most 2^22), so never in use.
const NO_SUCH_PID: u32 = 4_000_000;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A spawned child that is killed and reaped on drop unless a test reaped it.
struct Kid {
    child: Child,
    reaped: bool,
}

impl Kid {
    fn spawn(cmd: &mut Command) -> std::io::Result<Kid> {
        Ok(Kid {
            child: cmd.spawn()?,
            reaped: false,
        })
    }

    fn sleeper() -> std::io::Result<Kid> {
        Kid::spawn(Command::new("sleep").arg("30"))
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits (blocking) for this child to terminate, and reaps it.
    fn reap(&mut self) -> Result<WaitInfo, Errno> {
        let info = waitid(WaitId::Pid(self.pid()), WaitOptions::EXITED)?;
        self.reaped = true;
        info.ok_or(Errno::EPROTO)
    }
}

impl Drop for Kid {
    fn drop(&mut self) {
        if !self.reaped {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A numeric field of a `/proc` status file (the first, for `Uid:`).
fn status_field(path: &str, field: &str) -> Result<u32, Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(path)?;
    let line = text
        .lines()
        .find(|l| l.starts_with(field))
        .ok_or("field missing")?;
    let first = line[field.len()..]
        .split_whitespace()
        .next()
        .ok_or("empty field")?;
    Ok(first.parse()?)
}

#[test]
fn ids_match_std_and_proc() -> TestResult {
    assert_eq!(getpid(), std::process::id());
    assert_eq!(getpid(), status_field("/proc/self/status", "Pid:")?);
    assert_eq!(getppid(), status_field("/proc/self/status", "PPid:")?);
    assert_eq!(getppid(), std::os::unix::process::parent_id());
    assert_eq!(getuid(), status_field("/proc/self/status", "Uid:")?);
    let (tid, tgid, proc_tid) = std::thread::spawn(|| {
        let proc_tid = status_field("/proc/thread-self/status", "Pid:").map_err(|e| e.to_string());
        (gettid(), getpid(), proc_tid)
    })
    .join()
    .map_err(|_| "thread panicked")?;
    assert_eq!(tgid, getpid());
    assert_ne!(tid, tgid);
    assert_eq!(Ok(tid), proc_tid);
    Ok(())
}

#[test]
fn tgkill_signal_zero_reaches_our_thread() -> TestResult {
    tgkill(getpid(), gettid(), 0)?;
    Ok(())
}

#[test]
fn tgkill_errors() {
    assert_eq!(tgkill(getpid(), gettid(), 1000), Err(Errno::EINVAL));
    assert_eq!(tgkill(getpid(), NO_SUCH_PID, 0), Err(Errno::ESRCH));
    assert_eq!(tgkill(getpid(), 0, 0), Err(Errno::EINVAL));
}

#[test]
fn pidfd_kill_and_wait_a_child() -> TestResult {
    let mut kid = Kid::sleeper()?;
    let pidfd = pidfd_open(kid.pid(), PidFdFlags::empty())?;
    assert!(fcntl_getfd(pidfd.as_fd())?.contains(FdFlags::CLOEXEC));

    let opts = WaitOptions::EXITED | WaitOptions::NOHANG;
    assert_eq!(waitid(WaitId::PidFd(pidfd.as_fd()), opts)?, None);
    pidfd_send_signal(pidfd.as_fd(), 0)?;

    pidfd_send_signal(pidfd.as_fd(), SIGKILL)?;
    let info = waitid(WaitId::PidFd(pidfd.as_fd()), WaitOptions::EXITED)?.ok_or("no child")?;
    kid.reaped = true;
    assert_eq!(info.pid, kid.pid());
    assert_eq!(info.uid, getuid());
    assert_eq!(info.code, WaitCode::Killed);
    assert_eq!(info.status, SIGKILL);
    let status = info.exit_status().ok_or("no exit status")?;
    assert_eq!(status.signal(), Some(SIGKILL));
    assert_eq!(status.code(), None);

    // Reaped: the pidfd still names the process, which is gone.
    assert_eq!(
        waitid(WaitId::PidFd(pidfd.as_fd()), WaitOptions::EXITED),
        Err(Errno::ECHILD)
    );
    assert_eq!(pidfd_send_signal(pidfd.as_fd(), 0), Err(Errno::ESRCH));
    Ok(())
}

#[test]
fn nonblocking_pidfd_wait_is_eagain() -> TestResult {
    let mut kid = Kid::sleeper()?;
    let pidfd = pidfd_open(kid.pid(), PidFdFlags::NONBLOCK)?;
    assert!(fcntl_getfl(pidfd.as_fd())?.contains(StatusFlags::NONBLOCK));
    let id = WaitId::PidFd(pidfd.as_fd());
    assert_eq!(waitid(id, WaitOptions::EXITED), Err(Errno::EAGAIN));
    assert_eq!(
        waitid(id, WaitOptions::EXITED | WaitOptions::NOHANG),
        Ok(None)
    );
    pidfd_send_signal(pidfd.as_fd(), SIGKILL)?;
    assert_eq!(kid.reap()?.code, WaitCode::Killed);
    Ok(())
}

#[test]
fn waitid_nohang_on_a_running_child_is_none() -> TestResult {
    let mut kid = Kid::sleeper()?;
    let opts = WaitOptions::EXITED | WaitOptions::NOHANG;
    assert_eq!(waitid(WaitId::Pid(kid.pid()), opts)?, None);
    kid.child.kill()?;
    assert_eq!(kid.reap()?.status, SIGKILL);
    Ok(())
}

#[test]
fn waitid_sees_an_exit_code() -> TestResult {
    let mut kid = Kid::spawn(Command::new("sh").args(["-c", "exit 3"]))?;
    let info = kid.reap()?;
    assert_eq!(info.code, WaitCode::Exited);
    assert_eq!(info.status, 3);
    let status = info.exit_status().ok_or("no exit status")?;
    assert_eq!(status.code(), Some(3));
    assert!(!status.success());
    Ok(())
}

#[test]
fn waitid_nowait_leaves_the_child_waitable() -> TestResult {
    let mut kid = Kid::spawn(Command::new("sh").args(["-c", "exit 0"]))?;
    let peek = waitid(
        WaitId::Pid(kid.pid()),
        WaitOptions::EXITED | WaitOptions::NOWAIT,
    )?;
    let info = kid.reap()?;
    assert_eq!(peek, Some(info));
    assert!(info.exit_status().is_some_and(|s| s.success()));
    Ok(())
}

#[test]
fn waitid_by_process_group() -> TestResult {
    let mut kid = Kid::spawn(Command::new("sh").args(["-c", "exit 5"]).process_group(0))?;
    // The child leads its own group, so only it is waited for.
    let info = waitid(WaitId::Pgid(kid.pid()), WaitOptions::EXITED)?.ok_or("no child")?;
    kid.reaped = true;
    assert_eq!(
        (info.pid, info.code, info.status),
        (kid.pid(), WaitCode::Exited, 5)
    );
    Ok(())
}

#[test]
fn waitid_sees_stop_and_continue() -> TestResult {
    let mut kid = Kid::sleeper()?;
    let pidfd = pidfd_open(kid.pid(), PidFdFlags::empty())?;
    let id = WaitId::Pid(kid.pid());

    pidfd_send_signal(pidfd.as_fd(), SIGSTOP)?;
    let stopped = waitid(id, WaitOptions::STOPPED)?.ok_or("no stop")?;
    assert_eq!((stopped.code, stopped.status), (WaitCode::Stopped, SIGSTOP));
    assert_eq!(stopped.exit_status(), None);

    pidfd_send_signal(pidfd.as_fd(), SIGCONT)?;
    let resumed = waitid(id, WaitOptions::CONTINUED)?.ok_or("no continue")?;
    assert_eq!(
        (resumed.code, resumed.status),
        (WaitCode::Continued, SIGCONT)
    );
    assert_eq!(resumed.exit_status(), None);

    pidfd_send_signal(pidfd.as_fd(), SIGKILL)?;
    assert_eq!(kid.reap()?.code, WaitCode::Killed);
    Ok(())
}

#[test]
fn waitid_errors() {
    let opts = WaitOptions::EXITED | WaitOptions::NOHANG;
    // Our parent is not our child.
    assert_eq!(waitid(WaitId::Pid(getppid()), opts), Err(Errno::ECHILD));
    assert_eq!(waitid(WaitId::Pid(NO_SUCH_PID), opts), Err(Errno::ECHILD));
    // None of EXITED, STOPPED, CONTINUED.
    assert_eq!(
        waitid(WaitId::Pid(getppid()), WaitOptions::NOHANG),
        Err(Errno::EINVAL)
    );
    assert_eq!(waitid(WaitId::Pid(0), opts), Err(Errno::EINVAL));
    assert_eq!(
        waitid(WaitId::PidFd(util::not_open()), opts),
        Err(Errno::EBADF)
    );
}

#[test]
fn waitid_on_a_pidfd_of_a_non_child_is_echild() -> TestResult {
    let pidfd = pidfd_open(getpid(), PidFdFlags::empty())?;
    let opts = WaitOptions::EXITED | WaitOptions::NOHANG;
    assert_eq!(
        waitid(WaitId::PidFd(pidfd.as_fd()), opts),
        Err(Errno::ECHILD)
    );
    Ok(())
}

#[test]
fn pidfd_open_errors() {
    assert_eq!(
        pidfd_open(NO_SUCH_PID, PidFdFlags::empty()).unwrap_err(),
        Errno::ESRCH
    );
    let bad = PidFdFlags::from_bits_retain(0x1);
    assert_eq!(pidfd_open(getpid(), bad).unwrap_err(), Errno::EINVAL);
    assert_eq!(
        pidfd_open(0, PidFdFlags::empty()).unwrap_err(),
        Errno::EINVAL
    );
}

#[test]
fn pidfd_open_thread() -> TestResult {
    let pidfd = pidfd_open(gettid(), PidFdFlags::THREAD)?;
    pidfd_send_signal(pidfd.as_fd(), 0)?;
    Ok(())
}

#[test]
fn pidfd_send_signal_errors() -> TestResult {
    let (r, _w) = pipe2(PipeFlags::CLOEXEC)?;
    assert_eq!(pidfd_send_signal(r.as_fd(), 0), Err(Errno::EBADF));
    assert_eq!(pidfd_send_signal(util::not_open(), 0), Err(Errno::EBADF));
    let pidfd = pidfd_open(getpid(), PidFdFlags::empty())?;
    assert_eq!(pidfd_send_signal(pidfd.as_fd(), 1000), Err(Errno::EINVAL));
    Ok(())
}

#[test]
fn pidfd_getfd_duplicates_our_own_descriptor() -> TestResult {
    let (r, w) = pipe2(PipeFlags::NONBLOCK)?;
    let pidfd = pidfd_open(getpid(), PidFdFlags::empty())?;
    let dup = pidfd_getfd(pidfd.as_fd(), w.as_raw_fd())?;
    assert_ne!(dup.as_raw_fd(), w.as_raw_fd());
    assert!(fcntl_getfd(dup.as_fd())?.contains(FdFlags::CLOEXEC));
    // The original write end is not close-on-exec; the duplicate is.
    assert!(!fcntl_getfd(w.as_fd())?.contains(FdFlags::CLOEXEC));

    assert_eq!(write(dup.as_fd(), b"via dup")?, 7);
    let mut buf = [0u8; 16];
    assert_eq!(read(r.as_fd(), &mut buf)?, 7);
    assert_eq!(&buf[..7], b"via dup");
    Ok(())
}

#[test]
fn pidfd_getfd_errors() -> TestResult {
    let pidfd = pidfd_open(getpid(), PidFdFlags::empty())?;
    assert_eq!(
        pidfd_getfd(pidfd.as_fd(), 900_000).unwrap_err(),
        Errno::EBADF
    );
    let (r, _w) = pipe2(PipeFlags::CLOEXEC)?;
    assert_eq!(
        pidfd_getfd(r.as_fd(), r.as_raw_fd()).unwrap_err(),
        Errno::EBADF
    );
    Ok(())
}

#[test]
fn pidfd_send_signal_to_takes_one_flag() {
    use iofd::sys::process::{PidFdFlags, PidFdSignal, pidfd_open, pidfd_send_signal_to};
    use std::os::fd::AsFd;
    let me = pidfd_open(iofd::sys::process::getpid(), PidFdFlags::empty()).expect("pidfd_open");
    // Signal 0 checks that the target lives and delivers nothing.
    for flags in [PidFdSignal::empty(), PidFdSignal::THREAD_GROUP] {
        assert_eq!(
            pidfd_send_signal_to(me.as_fd(), 0, flags),
            Ok(()),
            "{flags:?}"
        );
    }
    assert_eq!(
        pidfd_send_signal_to(
            me.as_fd(),
            0,
            PidFdSignal::THREAD | PidFdSignal::PROCESS_GROUP
        ),
        Err(iofd::sys::Errno::EINVAL)
    );
}

/// Pins a spawned thread (so no other test's thread is moved) to one CPU it
/// may run on, reads the set back by id and through 0, and checks that an
/// empty set and a set of only a CPU the machine lacks are refused with
/// `EINVAL`, leaving the pinning as it was.
#[test]
fn affinity_pins_a_thread_and_refuses_sets_it_cannot_run_on() {
    std::thread::spawn(|| -> Result<(), Errno> {
        let allowed = sched_getaffinity(0)?;
        assert!(!allowed.is_empty(), "a thread may run somewhere");
        let cpu = allowed.iter().last().expect("a CPU");
        let one = CpuSet::from_cpus([cpu]).expect("in range");
        sched_setaffinity(0, &one)?;
        assert_eq!(sched_getaffinity(0)?, one);
        assert_eq!(sched_getaffinity(gettid())?, one, "by id too");

        assert_eq!(sched_setaffinity(0, &CpuSet::new()), Err(Errno::EINVAL));
        // No machine this runs on has 1024 CPUs.
        let absent = CpuSet::from_cpus([1023]).expect("in range");
        assert_eq!(sched_setaffinity(0, &absent), Err(Errno::EINVAL));
        assert_eq!(sched_getaffinity(0)?, one, "unchanged by the refusals");
        assert_eq!(sched_getaffinity(NO_SUCH_PID), Err(Errno::ESRCH));
        Ok(())
    })
    .join()
    .expect("affinity thread")
    .expect("affinity calls");
}
