//! `PidFd`: opening, signalling, reaping and descriptor copying, with every
//! error checked.
//!
//! Children are spawned with `std::process::Command` and reaped through
//! their `PidFd` only (never `Child::wait`, never "any child").

use crate::util;

use std::os::fd::{AsFd, AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use iofd::sys::Errno;
use iofd::sys::process::{getpid, getppid, gettid};
use iofd::{Error, Fd, Handle, PidFd, Signal};

const O_NONBLOCK: u32 = 0o4000;
const O_CLOEXEC: u32 = 0o2000000;

/// Spawns a child and returns its pid. The `Child` is dropped unwaited on
/// purpose: every test reaps its children through a `PidFd`.
fn spawn(cmd: &str, args: &[&str]) -> u32 {
    Command::new(cmd)
        .args(args)
        .spawn()
        .expect("spawn child")
        .id()
}

/// A child that sleeps 30 s unless killed.
fn sleeper() -> u32 {
    spawn("sleep", &["30"])
}

/// Polls `try_wait` until the child is reaped (at most 10 s).
fn reap(p: &PidFd) -> ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = p.try_wait().expect("try_wait") {
            return status;
        }
        assert!(Instant::now() < deadline, "child did not exit within 10 s");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Kills a child and reaps it through its pidfd.
fn kill_and_reap(p: &PidFd) {
    p.send_signal(Signal::KILL).expect("kill");
    reap(p);
}

/// The state letter of `/proc/<pid>/stat` (after the command's parentheses).
fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

#[test]
fn open_is_nonblocking_and_cloexec() {
    let pid = sleeper();
    let p = PidFd::open(pid).unwrap();
    assert_eq!(p.pid(), pid);
    let flags = util::fdinfo_flags(&p);
    assert_ne!(flags & O_NONBLOCK, 0, "flags {flags:o}");
    assert_ne!(flags & O_CLOEXEC, 0, "flags {flags:o}");
    assert!(p.is_valid());
    assert!(p.raw() >= 0);
    kill_and_reap(&p);
}

#[test]
fn open_blocking_is_blocking_and_cloexec_and_wait_sleeps() {
    let pid = spawn("sh", &["-c", "sleep 0.2; exit 5"]);
    let p = PidFd::open_blocking(pid).unwrap();
    assert_eq!(p.pid(), pid);
    let flags = util::fdinfo_flags(&p);
    assert_eq!(flags & O_NONBLOCK, 0, "flags {flags:o}");
    assert_ne!(flags & O_CLOEXEC, 0, "flags {flags:o}");
    let status = p.wait().unwrap();
    assert_eq!(status.code(), Some(5));
    // Reaped: nothing is left to wait for.
    assert_eq!(p.wait(), Err(Error::Os(Errno::ECHILD)));
}

#[test]
fn wait_on_a_nonblocking_handle_of_a_running_child_would_block() {
    let pid = sleeper();
    let p = PidFd::open(pid).unwrap();
    assert_eq!(p.wait(), Err(Error::WouldBlock));
    p.send_signal(Signal::KILL).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        match p.wait() {
            Ok(status) => break status,
            Err(Error::WouldBlock) => {
                assert!(Instant::now() < deadline, "child did not die");
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("wait: {e}"),
        }
    };
    assert_eq!(status.signal(), Some(Signal::KILL.number()));
}

#[test]
fn kill_then_try_wait_sees_the_signal() {
    let pid = sleeper();
    let p = PidFd::open(pid).unwrap();
    assert_eq!(p.try_wait(), Ok(None));
    p.send_signal(Signal::KILL).unwrap();
    let status = reap(&p);
    assert_eq!(status.signal(), Some(9));
    assert_eq!(status.code(), None);
    // Reaped once: a second wait finds no child.
    assert_eq!(p.try_wait(), Err(Error::Os(Errno::ECHILD)));
}

#[test]
fn try_wait_sees_the_exit_code() {
    let pid = spawn("sh", &["-c", "exit 3"]);
    let p = PidFd::open(pid).unwrap();
    let status = reap(&p);
    assert_eq!(status.code(), Some(3));
    assert!(!status.success());
}

#[test]
fn try_wait_on_a_running_child_is_none() {
    let pid = sleeper();
    let p = PidFd::open(pid).unwrap();
    assert_eq!(p.try_wait(), Ok(None));
    assert_eq!(p.try_wait(), Ok(None));
    kill_and_reap(&p);
}

#[test]
fn waiting_on_a_non_child_is_echild() {
    for pid in [getppid(), 1] {
        let p = PidFd::open(pid).unwrap();
        assert_eq!(p.pid(), pid);
        assert_eq!(p.try_wait(), Err(Error::Os(Errno::ECHILD)), "pid {pid}");
        assert_eq!(p.wait(), Err(Error::Os(Errno::ECHILD)), "pid {pid}");
    }
}

#[test]
fn open_rejects_pid_zero_and_out_of_range_pids_before_the_kernel() {
    let zero = Some(Error::InvalidParam("pid 0 names no process"));
    assert_eq!(PidFd::open(0).err(), zero);
    assert_eq!(PidFd::open_blocking(0).err(), zero);
    let too_big = i32::MAX as u32 + 1;
    let range = Some(Error::InvalidParam("pid above i32::MAX"));
    assert_eq!(PidFd::open(too_big).err(), range);
    assert_eq!(PidFd::open(u32::MAX).err(), range);
    assert_eq!(PidFd::open_blocking(too_big).err(), range);
}

#[test]
fn from_raw_fd_of_a_negative_number_is_a_closed_handle() {
    // SAFETY: a negative number owns nothing; the handle is born closed.
    let p = unsafe { PidFd::from_raw_fd(-1) };
    assert!(!p.is_valid());
    assert_eq!(p.pid(), 0);
    assert_eq!(p.raw(), -1);
    assert_eq!(p.send_signal(Signal::USR1), Err(Error::Closed));
    assert_eq!(p.try_wait(), Err(Error::Closed));
    assert_eq!(p.close(), Ok(()));
}

#[test]
fn open_of_a_nonexistent_pid_is_esrch() {
    // Pids are always below pid_max, so pid_max itself never exists.
    let pid_max: u32 = std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(PidFd::open(pid_max).err(), Some(Error::Os(Errno::ESRCH)));
    assert_eq!(
        PidFd::open_blocking(pid_max).err(),
        Some(Error::Os(Errno::ESRCH))
    );
}

#[test]
fn open_of_a_thread_that_is_not_a_leader_is_esrch_not_einval() {
    // The kernel answers EINVAL for a tid that is not a thread group leader;
    // PidFd reports it as "no such process".
    let (tx, rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let t = std::thread::spawn(move || {
        tx.send(gettid()).unwrap();
        let _ = done_rx.recv();
    });
    let tid = rx.recv().unwrap();
    assert_ne!(tid, getpid());
    assert_eq!(PidFd::open(tid).err(), Some(Error::Os(Errno::ESRCH)));
    assert_eq!(
        PidFd::open_blocking(tid).err(),
        Some(Error::Os(Errno::ESRCH))
    );
    done_tx.send(()).unwrap();
    t.join().unwrap();
}

#[test]
fn send_signal_reaches_a_zombie_and_fails_once_reaped() {
    let pid = spawn("true", &[]);
    let p = PidFd::open(pid).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while proc_state(pid) != Some('Z') {
        assert!(Instant::now() < deadline, "child did not become a zombie");
        std::thread::sleep(Duration::from_millis(5));
    }
    // Exited but not reaped: the signal is accepted (and ignored).
    assert_eq!(p.send_signal(Signal::TERM), Ok(()));
    assert_eq!(reap(&p).code(), Some(0));
    assert_eq!(p.send_signal(Signal::TERM), Err(Error::Os(Errno::ESRCH)));
}

#[test]
fn get_fd_copies_a_descriptor_close_on_exec() {
    let (r, w) = std::io::pipe().unwrap();
    let me = PidFd::open(getpid()).unwrap();
    assert_eq!(me.pid(), std::process::id());
    let copy: Fd = me.get_fd(r.as_raw_fd()).unwrap();
    assert_ne!(copy.raw(), r.as_raw_fd());
    assert_ne!(util::fdinfo_flags(&copy) & O_CLOEXEC, 0);
    assert!(copy.is_cloexec().unwrap());
    // Same open file: what is written to the pipe reads from the copy.
    let writer = Fd::from(OwnedFd::from(w));
    writer.write(b"pidfd").unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(copy.read(&mut buf).unwrap(), 5);
    assert_eq!(&buf[..5], b"pidfd");
    // The original is untouched by closing the copy.
    copy.close().unwrap();
    assert!(util::is_open(r.as_raw_fd()));
}

#[test]
fn get_fd_of_an_unopened_number_is_ebadf() {
    let me = PidFd::open(getpid()).unwrap();
    assert_eq!(me.get_fd(1_000_000).err(), Some(Error::Os(Errno::EBADF)));
    assert_eq!(me.get_fd(-1).err(), Some(Error::Os(Errno::EBADF)));
}

/// Races `get_fd` against `close` of the pidfd for about a second: every
/// `Ok` must be a real copy of the target (same inode), and every `Err`
/// must be `Closed`, never the `EBADF` the placeholder answers, which would
/// read as "the target is not open".
#[test]
fn get_fd_racing_close_copies_the_target_or_is_closed() -> Result<(), Box<dyn std::error::Error>> {
    use iofd::sys::file::fstat;
    let (r, _w) = std::io::pipe()?;
    let want = fstat(r.as_fd())?;
    let (mut rounds, mut wrong) = (0, Vec::new());
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        let fresh = (0..100)
            .map(|_| PidFd::open(getpid()))
            .collect::<Result<Vec<_>, _>>()?;
        let copies = util::race_each(&fresh, |p| p.get_fd(r.as_raw_fd()), PidFd::close);
        for (copy, closed) in copies {
            closed?;
            rounds += 1;
            match copy {
                Ok(copy) => {
                    let got = fstat(copy.borrow()?)?;
                    if (got.dev, got.ino) != (want.dev, want.ino) {
                        wrong.push(format!("a copy of {}:{}", got.dev, got.ino));
                    }
                }
                Err(Error::Closed) => {}
                Err(e) => wrong.push(format!("{e:?}")),
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {rounds} get_fd racing a close went wrong, first: {}",
        wrong.len(),
        wrong[0]
    );
    Ok(())
}

#[test]
fn get_fd_of_a_reaped_process_is_esrch() {
    let pid = spawn("true", &[]);
    let p = PidFd::open(pid).unwrap();
    reap(&p);
    assert_eq!(p.get_fd(0).err(), Some(Error::Os(Errno::ESRCH)));
}

#[test]
fn every_operation_after_close_is_closed() {
    let pid = sleeper();
    let p = PidFd::open(pid).unwrap();
    // A second handle to reap the child after the first is closed.
    let keeper = PidFd::open(pid).unwrap();
    p.close().unwrap();
    p.close().unwrap(); // idempotent
    assert!(!p.is_valid());
    assert_eq!(p.raw(), -1);
    assert_eq!(Handle::raw(&p), -1);
    assert_eq!(p.send_signal(Signal::KILL), Err(Error::Closed));
    assert_eq!(p.get_fd(0).err(), Some(Error::Closed));
    assert_eq!(p.try_wait(), Err(Error::Closed));
    assert_eq!(p.wait(), Err(Error::Closed));
    assert_eq!(p.pid(), pid); // cached, no syscall
    // The child was not signalled through the closed handle.
    assert_eq!(keeper.try_wait(), Ok(None));
    kill_and_reap(&keeper);
}

#[test]
fn conversions_round_trip_and_rebuild_the_pid() {
    let pid = sleeper();
    let p = PidFd::open(pid).unwrap();

    let owned = OwnedFd::from(p);
    let p = PidFd::from(owned);
    assert_eq!(p.pid(), pid);

    let raw = p.into_raw_fd();
    // SAFETY: `raw` came from `into_raw_fd` and is owned by nobody else.
    let p = unsafe { PidFd::from_raw_fd(raw) };
    assert_eq!(p.pid(), pid);
    assert_eq!(p.as_raw_fd(), raw);

    kill_and_reap(&p);
    // Once reaped, the kernel reports no pid: the rebuilt handle says 0.
    let p = PidFd::from(OwnedFd::from(p));
    assert_eq!(p.pid(), 0);
    assert_eq!(p.try_wait(), Err(Error::Os(Errno::ECHILD)));
}

#[test]
fn debug_send_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<PidFd>();
    let p = PidFd::open(getpid()).unwrap();
    let dbg = format!("{p:?}");
    assert!(
        dbg.contains("PidFd") && dbg.contains(&getpid().to_string()),
        "{dbg}"
    );
}
