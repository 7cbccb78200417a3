//! `sys::signal`: rt_sigprocmask and signalfd4, each in a thread of its own
//! so no other test's thread mask or signals are touched.

use std::os::fd::{AsFd, BorrowedFd};

use iofd::sys::Errno;
use iofd::sys::file::{FdFlags, StatusFlags, fcntl_getfd, fcntl_getfl};
use iofd::sys::io::read;
use iofd::sys::pipe::{PipeFlags, pipe2};
use iofd::sys::process::{getpid, gettid, tgkill};
use iofd::sys::signal::{SigHow, SignalFdFlags, rt_sigprocmask, signalfd4, signalfd4_update};

const SIGKILL: i32 = 9;
const SIGUSR1: i32 = 10;
const SIGUSR2: i32 = 12;
const SIGSTOP: i32 = 19;

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// The mask bit of signal `sig`.
fn bit(sig: i32) -> u64 {
    1 << (sig - 1)
}

/// Runs `f` on a fresh thread, whose signal mask dies with it.
fn in_thread(f: impl FnOnce() -> TestResult + Send + 'static) -> TestResult {
    std::thread::spawn(f)
        .join()
        .map_err(|_| "test thread panicked")?
}

/// A hex field (`SigBlk:`, `sigmask:`) of a `/proc` status-like file.
fn proc_hex(path: &str, field: &str) -> Result<u64, Box<dyn std::error::Error + Send + Sync>> {
    let text = std::fs::read_to_string(path)?;
    let line = text
        .lines()
        .find(|l| l.starts_with(field))
        .ok_or("field missing")?;
    Ok(u64::from_str_radix(line[field.len()..].trim(), 16)?)
}

/// Reads one 128-byte `signalfd_siginfo` and returns its `ssi_signo`.
fn read_signo(fd: BorrowedFd<'_>) -> Result<u32, Errno> {
    let mut info = [0u8; 128];
    let n = read(fd, &mut info)?;
    assert_eq!(n, 128);
    Ok(u32::from_ne_bytes([info[0], info[1], info[2], info[3]]))
}

#[test]
fn sigprocmask_block_unblock_round_trip() -> TestResult {
    in_thread(|| {
        let old = rt_sigprocmask(SigHow::Block, Some(&bit(SIGUSR2)))?;
        assert_eq!(old & bit(SIGUSR2), 0);
        // `None` only reads the mask.
        let now = rt_sigprocmask(SigHow::Block, None)?;
        assert_eq!(now, old | bit(SIGUSR2));
        assert_eq!(proc_hex("/proc/thread-self/status", "SigBlk:")?, now);

        let before = rt_sigprocmask(SigHow::Unblock, Some(&bit(SIGUSR2)))?;
        assert_eq!(before, now);
        assert_eq!(rt_sigprocmask(SigHow::Block, None)?, old);

        // SIGKILL and SIGSTOP stay unblocked whatever the set says (the
        // kernel), and so do glibc's signals 32 and 33 (this wrapper).
        rt_sigprocmask(SigHow::SetMask, Some(&u64::MAX))?;
        let all = rt_sigprocmask(SigHow::SetMask, Some(&old))?;
        assert_eq!(all, !(bit(SIGKILL) | bit(SIGSTOP) | bit(32) | bit(33)));
        rt_sigprocmask(SigHow::Block, Some(&(bit(32) | bit(33) | bit(SIGUSR2))))?;
        assert_eq!(rt_sigprocmask(SigHow::Block, None)?, old | bit(SIGUSR2));
        rt_sigprocmask(SigHow::Unblock, Some(&u64::MAX))?;
        assert_eq!(rt_sigprocmask(SigHow::SetMask, Some(&old))?, 0);
        assert_eq!(rt_sigprocmask(SigHow::Block, None)?, old);
        Ok(())
    })
}

#[test]
fn sigprocmask_is_per_thread() -> TestResult {
    in_thread(|| {
        rt_sigprocmask(SigHow::Block, Some(&bit(SIGUSR2)))?;
        let other = std::thread::spawn(|| rt_sigprocmask(SigHow::Block, None)).join();
        let other = other.map_err(|_| "inner thread panicked")??;
        // A new thread inherits the creator's mask at creation...
        assert_ne!(other & bit(SIGUSR2), 0);
        let other_after = std::thread::spawn(|| {
            rt_sigprocmask(SigHow::Unblock, Some(&bit(SIGUSR2)))?;
            rt_sigprocmask(SigHow::Block, None)
        })
        .join()
        .map_err(|_| "inner thread panicked")??;
        // ...but changing its own leaves ours alone.
        assert_eq!(other_after & bit(SIGUSR2), 0);
        assert_ne!(rt_sigprocmask(SigHow::Block, None)? & bit(SIGUSR2), 0);
        Ok(())
    })
}

#[test]
fn signalfd_reads_a_thread_directed_signal() -> TestResult {
    in_thread(|| {
        rt_sigprocmask(SigHow::Block, Some(&bit(SIGUSR1)))?;
        let sfd = signalfd4(
            bit(SIGUSR1),
            SignalFdFlags::NONBLOCK | SignalFdFlags::CLOEXEC,
        )?;
        assert!(fcntl_getfl(sfd.as_fd())?.contains(StatusFlags::NONBLOCK));
        assert!(fcntl_getfd(sfd.as_fd())?.contains(FdFlags::CLOEXEC));
        assert_eq!(read_signo(sfd.as_fd()), Err(Errno::EAGAIN));

        tgkill(getpid(), gettid(), SIGUSR1)?;
        assert_eq!(read_signo(sfd.as_fd())?, SIGUSR1 as u32);
        assert_eq!(read_signo(sfd.as_fd()), Err(Errno::EAGAIN));
        Ok(())
    })
}

#[test]
fn signalfd_drops_sigkill_and_sigstop_from_its_mask() -> TestResult {
    let sfd = signalfd4(
        bit(SIGKILL) | bit(SIGSTOP) | bit(SIGUSR1),
        SignalFdFlags::CLOEXEC,
    )?;
    let path = format!(
        "/proc/self/fdinfo/{}",
        std::os::fd::AsRawFd::as_raw_fd(&sfd)
    );
    assert_eq!(proc_hex(&path, "sigmask:")?, bit(SIGUSR1));
    Ok(())
}

#[test]
fn signalfd_rejects_unknown_flags() {
    let err = signalfd4(bit(SIGUSR1), SignalFdFlags::from_bits_retain(0x1)).unwrap_err();
    assert_eq!(err, Errno::EINVAL);
}

#[test]
fn signalfd_update_changes_the_mask() -> TestResult {
    in_thread(|| {
        rt_sigprocmask(SigHow::Block, Some(&(bit(SIGUSR1) | bit(SIGUSR2))))?;
        let sfd = signalfd4(
            bit(SIGUSR1),
            SignalFdFlags::NONBLOCK | SignalFdFlags::CLOEXEC,
        )?;
        let path = format!(
            "/proc/self/fdinfo/{}",
            std::os::fd::AsRawFd::as_raw_fd(&sfd)
        );
        signalfd4_update(sfd.as_fd(), bit(SIGUSR2))?;
        assert_eq!(proc_hex(&path, "sigmask:")?, bit(SIGUSR2));
        // The update keeps the descriptor's flags.
        assert!(fcntl_getfl(sfd.as_fd())?.contains(StatusFlags::NONBLOCK));

        // SIGUSR1 is no longer read; SIGUSR2 is.
        tgkill(getpid(), gettid(), SIGUSR1)?;
        assert_eq!(read_signo(sfd.as_fd()), Err(Errno::EAGAIN));
        tgkill(getpid(), gettid(), SIGUSR2)?;
        assert_eq!(read_signo(sfd.as_fd())?, SIGUSR2 as u32);

        // The pending SIGUSR1 shows up once the mask lets it in again.
        signalfd4_update(sfd.as_fd(), bit(SIGUSR1))?;
        assert_eq!(read_signo(sfd.as_fd())?, SIGUSR1 as u32);
        Ok(())
    })
}

#[test]
fn signalfd_update_on_a_pipe_is_einval() -> TestResult {
    let (r, _w) = pipe2(PipeFlags::CLOEXEC)?;
    assert_eq!(
        signalfd4_update(r.as_fd(), bit(SIGUSR1)),
        Err(Errno::EINVAL)
    );
    Ok(())
}

#[test]
fn signalfd_update_on_a_closed_number_is_ebadf() {
    // SAFETY: the wrapper only passes the number to the kernel, which reports
    // EBADF; this process never opens descriptor 900000.
    let fd = unsafe { BorrowedFd::borrow_raw(900_000) };
    assert_eq!(signalfd4_update(fd, bit(SIGUSR1)), Err(Errno::EBADF));
}

/// A real-time signal no test sends, so changing its disposition here
/// (process-wide) touches nothing else.
const SIGRT_UNUSED: i32 = 50;

#[test]
fn rt_sigaction_reads_and_sets_dispositions() -> TestResult {
    use iofd::sys::signal::{SigDisposition, rt_sigaction};
    // Read only: the test harness leaves SIGUSR1 at its default.
    assert_eq!(rt_sigaction(SIGUSR1, None)?, SigDisposition::Default);
    let before = rt_sigaction(SIGRT_UNUSED, Some(SigDisposition::Ignore))?;
    assert_eq!(before, SigDisposition::Default);
    let ignored = proc_hex("/proc/self/status", "SigIgn:")?;
    assert_ne!(
        ignored & bit(SIGRT_UNUSED),
        0,
        "the kernel shows it ignored"
    );
    assert_eq!(
        rt_sigaction(SIGRT_UNUSED, Some(SigDisposition::Default))?,
        SigDisposition::Ignore
    );
    let ignored = proc_hex("/proc/self/status", "SigIgn:")?;
    assert_eq!(ignored & bit(SIGRT_UNUSED), 0);
    Ok(())
}

#[test]
fn rt_sigaction_refuses_what_it_cannot_set() {
    use iofd::sys::signal::{SigDisposition, rt_sigaction};
    for sig in [0, -1, 65] {
        assert_eq!(rt_sigaction(sig, None), Err(Errno::EINVAL), "signal {sig}");
    }
    for sig in [SIGKILL, SIGSTOP] {
        assert_eq!(
            rt_sigaction(sig, Some(SigDisposition::Ignore)),
            Err(Errno::EINVAL)
        );
        // Reading them is allowed.
        assert_eq!(rt_sigaction(sig, None), Ok(SigDisposition::Default));
    }
    assert_eq!(
        rt_sigaction(SIGRT_UNUSED, Some(SigDisposition::Handler(0x1000))),
        Err(Errno::EINVAL)
    );
}
