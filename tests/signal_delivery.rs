//! Real signal delivery through a `SignalFd`: process-directed signals sent
//! to ourselves with `PidFd::send_signal`. A `harness = false` binary: it
//! owns its process, blocks the signals in the main thread before any other
//! thread exists (so every thread inherits the block), and runs its checks
//! one after another.

#[macro_use]
mod util;

use std::error::Error as StdError;

use iofd::sys::Errno;
use iofd::sys::process::{getpid, gettid, getuid, tgkill};
use iofd::sys::resource::{Resource, Rlimit, prlimit};
use iofd::{Error, PidFd, SigSet, Signal, SignalFd, SignalInfo};

type TestResult = util::CheckResult;

/// The real-time signal used here.
const RT40: Signal = match Signal::new(40) {
    Some(s) => s,
    None => panic!("40 is a signal"),
};

/// Every signal this binary sends; blocked in all threads.
const MASK: SigSet = SigSet::empty()
    .with(Signal::USR1)
    .with(Signal::USR2)
    .with(RT40);

/// Sends `sig` to this whole process.
fn send_to_self(sig: Signal) -> TestResult {
    PidFd::open(getpid())?.send_signal(sig)?;
    Ok(())
}

/// Checks a record of `sig` sent by `kill`/`pidfd_send_signal` from this
/// process (which runs as root here, so `uid` is 0).
fn assert_from_us(info: &SignalInfo, sig: Signal) {
    assert_eq!(info.signal(), Some(sig), "{info:?}");
    assert_eq!(info.signo, sig.number() as u32);
    assert_eq!(info.code, SignalInfo::SI_USER);
    assert_eq!(info.code, 0);
    assert_eq!(info.errno, 0);
    assert_eq!(info.pid, getpid());
    assert_eq!(info.uid, getuid());
    assert_eq!((info.fd, info.tid, info.status, info.int), (0, 0, 0, 0));
}

/// A hex field of `/proc/self/status` (`SigPnd:`, `ShdPnd:`, `SigBlk:`).
fn status_hex(field: &str) -> Result<u64, Box<dyn StdError + Send + Sync>> {
    let text = std::fs::read_to_string("/proc/self/status")?;
    let v = text
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .ok_or("field missing")?;
    Ok(u64::from_str_radix(v.trim(), 16)?)
}

fn the_mask_is_blocked_in_every_thread() -> TestResult {
    assert_eq!(SigSet::thread_mask()?.intersection(MASK), MASK);
    assert_eq!(status_hex("SigBlk:")? & MASK.bits(), MASK.bits());
    let inherited = std::thread::spawn(SigSet::thread_mask)
        .join()
        .map_err(|_| "thread panicked")??;
    assert_eq!(inherited.intersection(MASK), MASK);
    Ok(())
}

fn standard_signals_coalesce_and_real_time_ones_queue() -> TestResult {
    let sfd = SignalFd::new(&MASK)?;
    assert_eq!(sfd.read_info(), Err(Error::WouldBlock));
    send_to_self(RT40)?;
    send_to_self(Signal::USR2)?;
    send_to_self(Signal::USR1)?;
    send_to_self(RT40)?;
    send_to_self(Signal::USR1)?;
    assert_eq!(status_hex("ShdPnd:")?, MASK.bits());

    let mut infos = [SignalInfo::zeroed(); 8];
    let n = sfd.read_many(&mut infos)?;
    assert_eq!(n, 4, "{:?}", &infos[..n]);
    // Lowest number first; the two SIGUSR1 became one record, the two
    // signal-40 stayed two.
    assert_from_us(&infos[0], Signal::USR1);
    assert_from_us(&infos[1], Signal::USR2);
    assert_from_us(&infos[2], RT40);
    assert_from_us(&infos[3], RT40);
    assert!(infos[4..].iter().all(|i| *i == SignalInfo::zeroed()));
    assert_eq!(sfd.read_many(&mut infos), Err(Error::WouldBlock));
    assert_eq!(status_hex("ShdPnd:")?, 0);
    Ok(())
}

fn read_info_and_read_into_take_one_record_each() -> TestResult {
    let sfd = SignalFd::new(&MASK)?;
    send_to_self(Signal::USR2)?;
    send_to_self(RT40)?;
    assert_from_us(&sfd.read_info()?, Signal::USR2);
    let mut info = SignalInfo::zeroed();
    sfd.read_into(&mut info)?;
    assert_from_us(&info, RT40);
    assert_eq!(sfd.read_into(&mut info), Err(Error::WouldBlock));
    assert_eq!(sfd.read_info(), Err(Error::WouldBlock));
    Ok(())
}

fn any_thread_reads_process_signals_but_only_its_own_thread_signals() -> TestResult {
    let sfd = SignalFd::new(&MASK)?;
    send_to_self(Signal::USR1)?;
    tgkill(getpid(), gettid(), Signal::USR2.number())?; // this (main) thread only
    let other = std::thread::scope(|s| {
        s.spawn(
            || -> Result<(SignalInfo, Result<SignalInfo, Error>), Error> {
                let first = sfd.read_info()?;
                Ok((first, sfd.read_info()))
            },
        )
        .join()
    })
    .map_err(|_| "thread panicked")??;
    assert_from_us(&other.0, Signal::USR1);
    // The main thread's SIGUSR2 is invisible from the other thread...
    assert_eq!(other.1, Err(Error::WouldBlock));
    // ...and read here, as sent by tgkill.
    let info = sfd.read_info()?;
    assert_eq!(info.signal(), Some(Signal::USR2));
    assert_eq!(info.code, SignalInfo::SI_TKILL);
    assert_eq!(info.pid, getpid());
    assert_eq!(sfd.read_info(), Err(Error::WouldBlock));
    Ok(())
}

fn set_mask_selects_what_is_read_and_pending_signals_wait() -> TestResult {
    let mut sfd = SignalFd::new(&SigSet::from(Signal::USR1))?;
    send_to_self(Signal::USR2)?;
    assert_eq!(sfd.read_info(), Err(Error::WouldBlock));
    sfd.set_mask(&SigSet::from(Signal::USR2))?;
    assert_eq!(sfd.mask(), SigSet::from(Signal::USR2));
    assert_from_us(&sfd.read_info()?, Signal::USR2);

    // Closing a signalfd leaves pending signals pending for the next one.
    send_to_self(Signal::USR2)?;
    sfd.close()?;
    let again = SignalFd::new(&MASK)?;
    assert_from_us(&again.read_info()?, Signal::USR2);
    assert_eq!(again.read_info(), Err(Error::WouldBlock));
    Ok(())
}

fn new_without_a_free_descriptor_is_emfile_and_leaks_nothing() -> TestResult {
    // The lowest free number, then a limit that makes every free number
    // out of reach.
    let lowest_free = {
        let probe = std::fs::File::open("/dev/null")?;
        std::os::fd::AsRawFd::as_raw_fd(&probe)
    };
    let before = util::fd_count();
    let old = prlimit(Resource::Nofile, None)?;
    let tight = Rlimit {
        cur: u64::try_from(lowest_free)?,
        max: old.max,
    };
    prlimit(Resource::Nofile, Some(&tight))?;
    let r = SignalFd::new(&MASK).map(drop);
    prlimit(Resource::Nofile, Some(&old))?;
    assert_eq!(r, Err(Error::Os(Errno::EMFILE)));
    assert_eq!(util::fd_count(), before);
    Ok(())
}

fn nothing_is_left_pending() -> TestResult {
    assert_eq!(status_hex("ShdPnd:")? & MASK.bits(), 0);
    assert_eq!(status_hex("SigPnd:")? & MASK.bits(), 0);
    Ok(())
}

fn main() {
    // First of all, before any other thread exists: block the signals, so
    // that no thread can take one the usual way (which would end the
    // process).
    if let Err(e) = MASK.block_thread() {
        eprintln!("signal_delivery: cannot block {MASK:?}: {e}");
        std::process::exit(1);
    }

    checks![
        the_mask_is_blocked_in_every_thread,
        standard_signals_coalesce_and_real_time_ones_queue,
        read_info_and_read_into_take_one_record_each,
        any_thread_reads_process_signals_but_only_its_own_thread_signals,
        set_mask_selects_what_is_read_and_pending_signals_wait,
        new_without_a_free_descriptor_is_emfile_and_leaks_nothing,
        nothing_is_left_pending,
    ];
}
