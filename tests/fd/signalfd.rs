//! `SigSet` and `SignalFd`. Tests share one process and run on several
//! threads, so every test that blocks or sends a signal does it in a thread
//! of its own, with `tgkill` aimed at that thread: its mask and its pending
//! signals die with it.

use crate::util;

use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};

use iofd::fd::SigSetIter;
use iofd::sys::Errno;
use iofd::sys::event::{EventFdFlags, eventfd2};
use iofd::sys::process::{getpid, gettid, getuid, tgkill};
use iofd::{Error, Handle, SigSet, Signal, SignalFd, SignalInfo};

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

const O_NONBLOCK: u32 = 0o4000;
const O_CLOEXEC: u32 = 0o2000000;

fn rt(n: i32) -> Signal {
    Signal::new(n).expect("a real-time signal number")
}

/// Runs `f` on a fresh thread, whose signal mask and thread-directed
/// pending signals die with it.
fn in_thread(f: impl FnOnce() -> TestResult + Send + 'static) -> TestResult {
    std::thread::spawn(f)
        .join()
        .map_err(|_| "test thread panicked")?
}

/// The calling thread's blocked signals, as `/proc/thread-self/status`
/// reports them (`SigBlk:`, hex).
fn sig_blk() -> Result<u64, Box<dyn std::error::Error + Send + Sync>> {
    let text = std::fs::read_to_string("/proc/thread-self/status")?;
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("SigBlk:"))
        .ok_or("no SigBlk line")?;
    Ok(u64::from_str_radix(line.trim(), 16)?)
}

/// Sends `sig` to the calling thread only.
fn tkill_self(sig: Signal) -> TestResult {
    tgkill(getpid(), gettid(), sig.number())?;
    Ok(())
}

/// Checks a record of `sig` sent by `tgkill` from this process.
fn assert_tkill(info: &SignalInfo, sig: Signal) {
    assert_eq!(info.signal(), Some(sig), "{info:?}");
    assert_eq!(info.signo, sig.number() as u32);
    assert_eq!(info.code, SignalInfo::SI_TKILL);
    assert_eq!(info.code, -6);
    assert_eq!(info.errno, 0);
    assert_eq!(info.pid, getpid());
    assert_eq!(info.uid, getuid());
    assert_eq!((info.fd, info.tid, info.status, info.addr), (0, 0, 0, 0));
}

/// A small xorshift64 generator: deterministic, no dependency.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

/// Compares `set` with the model (`model[n - 1]` is signal `n`).
fn assert_matches(set: &SigSet, model: &[bool; 64]) {
    let members: Vec<i32> = (1..=64).filter(|&n| model[n as usize - 1]).collect();
    for n in 1..=64 {
        assert_eq!(set.contains(rt(n)), model[n as usize - 1], "signal {n}");
    }
    let bits = members.iter().fold(0u64, |b, &n| b | 1 << (n - 1));
    assert_eq!(set.bits(), bits);
    assert_eq!(set.is_empty(), members.is_empty());
    assert_eq!(set.len(), members.len());
    let up: Vec<i32> = set.iter().map(Signal::number).collect();
    assert_eq!(up, members);
    let down: Vec<i32> = set.iter().rev().map(Signal::number).collect();
    assert_eq!(down, members.iter().rev().copied().collect::<Vec<_>>());
    assert_eq!(set.iter().len(), members.len());
    let rebuilt: SigSet = members.iter().map(|&n| rt(n)).collect();
    assert_eq!(rebuilt, *set);
    assert_eq!(SigSet::from_bits(set.bits()), *set);
}

#[test]
fn sigset_matches_a_naive_model() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for _ in 0..300 {
        let mut set = SigSet::empty();
        let mut model = [false; 64];
        for _ in 0..200 {
            let r = rng.next();
            let sig = rt((r % 64) as i32 + 1);
            let i = sig.number() as usize - 1;
            match (r >> 8) % 6 {
                0 | 1 => {
                    set.add(sig);
                    model[i] = true;
                }
                2 | 3 => {
                    set.remove(sig);
                    model[i] = false;
                }
                4 => {
                    set = set.with(sig);
                    model[i] = true;
                }
                _ => {
                    set = set.without(sig);
                    model[i] = false;
                }
            }
            assert_matches(&set, &model);
        }
        // Set algebra against the model, with a second random set.
        let other = SigSet::from_bits(rng.next());
        let pick = |f: &dyn Fn(bool, bool) -> bool| {
            let mut m = [false; 64];
            for (n, slot) in m.iter_mut().enumerate() {
                *slot = f(model[n], other.contains(rt(n as i32 + 1)));
            }
            m
        };
        assert_matches(&set.union(other), &pick(&|a, b| a || b));
        assert_matches(&set.intersection(other), &pick(&|a, b| a && b));
        assert_matches(&set.difference(other), &pick(&|a, b| a && !b));
    }
}

#[test]
fn sigset_iterates_in_ascending_order() {
    let all: Vec<i32> = SigSet::full().iter().map(Signal::number).collect();
    assert_eq!(all, (1..=64).collect::<Vec<_>>());
    assert_eq!(SigSet::full().len(), 64);
    assert_eq!(SigSet::full().bits(), u64::MAX);
    assert_eq!(SigSet::empty().iter().next(), None);
    assert!(SigSet::empty().is_empty() && !SigSet::full().is_empty());
    assert_eq!(SigSet::default(), SigSet::empty());

    let mut set = SigSet::from_iter([Signal::TERM, rt(64), Signal::HUP]);
    set.extend([Signal::USR1, Signal::HUP]);
    let order: Vec<Signal> = (&set).into_iter().collect();
    assert_eq!(order, [Signal::HUP, Signal::USR1, Signal::TERM, rt(64)]);
    let mut it: SigSetIter = set.into_iter();
    assert_eq!(it.size_hint(), (4, Some(4)));
    assert_eq!(it.next_back(), Some(rt(64)));
    assert_eq!(it.next(), Some(Signal::HUP));
    assert_eq!(it.len(), 2);
    assert_eq!(it.by_ref().count(), 2);
    assert_eq!(it.next(), None);
    assert_eq!(it.next(), None); // fused

    assert_eq!(SigSet::from(Signal::USR2).bits(), 1 << 11);
    assert_eq!(
        format!("{:?}", SigSet::from(Signal::INT)),
        "SigSet{SIGINT(2)}"
    );
    const CONST_SET: SigSet = SigSet::empty().with(Signal::CHLD);
    assert!(CONST_SET.contains(Signal::CHLD));
}

#[test]
fn block_and_unblock_round_trip_in_the_calling_thread() -> TestResult {
    in_thread(|| {
        let base = SigSet::thread_mask()?;
        assert_eq!(base.bits(), sig_blk()?);
        let set = SigSet::from_iter([Signal::USR1, Signal::USR2, rt(40)]);

        let old = set.block_thread()?;
        assert_eq!(old, base);
        let now = SigSet::thread_mask()?;
        assert_eq!(now, base.union(set));
        assert_eq!(sig_blk()?, now.bits());

        // Threads spawned now inherit the mask; ours is not theirs to change.
        let inherited = std::thread::spawn(|| -> Result<SigSet, Error> {
            let m = SigSet::thread_mask()?;
            SigSet::from(rt(40)).unblock_thread()?;
            Ok(m)
        })
        .join()
        .map_err(|_| "child thread panicked")??;
        assert_eq!(inherited, now);
        assert_eq!(SigSet::thread_mask()?, now);

        let before = SigSet::from(Signal::USR2).unblock_thread()?;
        assert_eq!(before, now);
        assert_eq!(SigSet::thread_mask()?, now.without(Signal::USR2));
        assert_eq!(sig_blk()?, now.without(Signal::USR2).bits());

        // `full` blocks all but SIGKILL, SIGSTOP (the kernel) and 32, 33
        // (the C library's, left alone like glibc does).
        SigSet::full().block_thread()?;
        let all = SigSet::thread_mask()?;
        let spared = SigSet::from_iter([Signal::KILL, Signal::STOP, rt(32), rt(33)]);
        assert_eq!(all, SigSet::full().difference(spared));
        assert_eq!(sig_blk()?, all.bits());

        // set_thread_mask replaces and returns the old mask.
        assert_eq!(base.set_thread_mask()?, all);
        assert_eq!(SigSet::thread_mask()?, base);
        assert_eq!(SigSet::full().unblock_thread()?, base);
        assert_eq!(SigSet::thread_mask()?, SigSet::empty());
        assert_eq!(sig_blk()?, 0);
        base.set_thread_mask()?;
        Ok(())
    })
}

#[test]
fn new_is_nonblocking_and_cloexec() -> TestResult {
    let mask = SigSet::from(Signal::USR1);
    let sfd = SignalFd::new(&mask)?;
    let flags = util::fdinfo_flags(&sfd);
    assert_eq!(flags & O_NONBLOCK, O_NONBLOCK);
    assert_eq!(flags & O_CLOEXEC, O_CLOEXEC);
    assert!(sfd.is_valid() && util::is_open(sfd.raw()));
    assert_eq!(sfd.as_raw_fd(), sfd.raw());
    assert_eq!(sfd.mask(), mask);
    assert!(format!("{sfd:?}").contains("SIGUSR1"));

    // An empty mask is accepted; SIGKILL and SIGSTOP are dropped, as the
    // kernel does.
    assert_eq!(SignalFd::new(&SigSet::empty())?.mask(), SigSet::empty());
    let all = SignalFd::new(&SigSet::full())?;
    let want = SigSet::full().without(Signal::KILL).without(Signal::STOP);
    assert_eq!(all.mask(), want);
    assert_eq!(SignalFd::from(OwnedFd::from(all)).mask(), want);
    Ok(())
}

#[test]
fn reads_on_an_empty_queue_would_block() -> TestResult {
    in_thread(|| {
        let mask = SigSet::from_iter([Signal::USR1, rt(41)]);
        let old = mask.block_thread()?;
        let sfd = SignalFd::new(&mask)?;
        assert_eq!(sfd.read_info(), Err(Error::WouldBlock));
        let mut info = SignalInfo::zeroed();
        assert_eq!(sfd.read_into(&mut info), Err(Error::WouldBlock));
        let mut many = [SignalInfo::zeroed(); 4];
        assert_eq!(sfd.read_many(&mut many), Err(Error::WouldBlock));
        assert_eq!(
            sfd.read_many(&mut []),
            Err(Error::InvalidParam("no room for a signal record"))
        );
        old.set_thread_mask()?;
        Ok(())
    })
}

#[test]
fn thread_directed_signals_are_read_with_their_sender() -> TestResult {
    in_thread(|| {
        let mask = SigSet::from_iter([Signal::USR1, Signal::USR2, rt(40)]);
        mask.block_thread()?;
        let sfd = SignalFd::new(&mask)?;

        // read_info
        tkill_self(Signal::USR1)?;
        assert_tkill(&sfd.read_info()?, Signal::USR1);
        assert_eq!(sfd.read_info(), Err(Error::WouldBlock));

        // read_into
        tkill_self(Signal::USR2)?;
        let mut info = SignalInfo::zeroed();
        sfd.read_into(&mut info)?;
        assert_tkill(&info, Signal::USR2);
        assert_eq!(sfd.read_into(&mut info), Err(Error::WouldBlock));

        // read_many: a standard signal sent twice coalesces, a real-time one
        // queues; lowest number first.
        tkill_self(Signal::USR2)?;
        tkill_self(rt(40))?;
        tkill_self(Signal::USR1)?;
        tkill_self(rt(40))?;
        tkill_self(Signal::USR1)?;
        let mut many = [SignalInfo::zeroed(); 8];
        assert_eq!(sfd.read_many(&mut many)?, 4);
        assert_tkill(&many[0], Signal::USR1);
        assert_tkill(&many[1], Signal::USR2);
        assert_tkill(&many[2], rt(40));
        assert_tkill(&many[3], rt(40));
        assert!(many[4..].iter().all(|i| *i == SignalInfo::default()));
        assert_eq!(sfd.read_many(&mut many), Err(Error::WouldBlock));

        // A short slice takes only what fits; the rest stays pending.
        tkill_self(Signal::USR1)?;
        tkill_self(Signal::USR2)?;
        let mut one = [SignalInfo::zeroed()];
        assert_eq!(sfd.read_many(&mut one)?, 1);
        assert_tkill(&one[0], Signal::USR1);
        assert_eq!(sfd.read_many(&mut one)?, 1);
        assert_tkill(&one[0], Signal::USR2);
        assert_eq!(sfd.read_many(&mut one), Err(Error::WouldBlock));
        Ok(())
    })
}

#[test]
fn set_mask_changes_what_is_read_and_the_cache_only_on_success() -> TestResult {
    in_thread(|| {
        SigSet::from_iter([Signal::USR1, Signal::USR2]).block_thread()?;
        let mut sfd = SignalFd::new(&SigSet::from(Signal::USR1))?;
        tkill_self(Signal::USR2)?;
        assert_eq!(sfd.read_info(), Err(Error::WouldBlock)); // not in the mask

        let usr2 = SigSet::from(Signal::USR2);
        sfd.set_mask(&usr2)?;
        assert_eq!(sfd.mask(), usr2);
        assert_tkill(&sfd.read_info()?, Signal::USR2); // pending, now readable
        let flags = util::fdinfo_flags(&sfd);
        assert_eq!(flags & (O_NONBLOCK | O_CLOEXEC), O_NONBLOCK | O_CLOEXEC);

        // The kernel keeps the new mask: a rebuilt handle reads it back.
        sfd.set_mask(&usr2.with(Signal::KILL).with(rt(64)))?;
        assert_eq!(sfd.mask(), usr2.with(rt(64)));
        let mut sfd = SignalFd::from(OwnedFd::from(sfd));
        assert_eq!(sfd.mask(), usr2.with(rt(64)));

        // Failure on a closed handle: no syscall, cache unchanged.
        sfd.close()?;
        assert_eq!(sfd.set_mask(&SigSet::full()), Err(Error::Closed));
        assert_eq!(sfd.mask(), usr2.with(rt(64)));
        Ok(())
    })
}

#[test]
fn set_mask_on_a_descriptor_that_is_not_a_signalfd_fails_and_keeps_the_cache() -> TestResult {
    let mut bogus = SignalFd::from(eventfd2(0, EventFdFlags::CLOEXEC | EventFdFlags::NONBLOCK)?);
    assert_eq!(bogus.mask(), SigSet::empty()); // no sigmask in its fdinfo
    assert_eq!(
        bogus.set_mask(&SigSet::from(Signal::USR1)),
        Err(Error::InvalidParam(Error::KERNEL_EINVAL))
    );
    assert_eq!(bogus.mask(), SigSet::empty());
    Ok(())
}

#[test]
fn partial_records_are_an_error_not_a_panic() -> TestResult {
    // An eventfd read returns 8 bytes: never a whole 128-byte record.
    let flags = EventFdFlags::CLOEXEC | EventFdFlags::NONBLOCK;
    let bogus = SignalFd::from(eventfd2(3, flags)?);
    assert_eq!(bogus.read_info(), Err(Error::Os(Errno::EIO)));
    let bogus = SignalFd::from(eventfd2(3, flags)?);
    let mut info = SignalInfo::zeroed();
    assert_eq!(bogus.read_into(&mut info), Err(Error::Os(Errno::EIO)));
    let bogus = SignalFd::from(eventfd2(3, flags)?);
    let mut many = [SignalInfo::zeroed(); 2];
    assert_eq!(bogus.read_many(&mut many), Err(Error::Os(Errno::EIO)));
    // A descriptor at end of file returns 0 bytes: no record either.
    let (r, w) = std::io::pipe()?;
    drop(w);
    let eof = SignalFd::from(OwnedFd::from(r));
    assert_eq!(eof.read_many(&mut many), Err(Error::Os(Errno::EIO)));
    assert_eq!(eof.read_info(), Err(Error::Os(Errno::EIO)));
    Ok(())
}

#[test]
fn every_operation_after_close_is_closed() -> TestResult {
    let mask = SigSet::from(Signal::USR1);
    let mut sfd = SignalFd::new(&mask)?;
    let raw = sfd.raw();
    sfd.close()?;
    sfd.close()?; // idempotent
    Handle::close(&sfd)?;
    assert!(!sfd.is_valid() && !Handle::is_valid(&sfd));
    assert_eq!(
        (sfd.raw(), Handle::raw(&sfd), sfd.as_raw_fd()),
        (-1, -1, -1)
    );
    // The number stays reserved (inert) until drop.
    assert!(util::is_open(raw));
    assert_eq!(sfd.read_info(), Err(Error::Closed));
    let mut info = SignalInfo::zeroed();
    assert_eq!(sfd.read_into(&mut info), Err(Error::Closed));
    assert_eq!(sfd.read_many(&mut [info; 2]), Err(Error::Closed));
    assert_eq!(sfd.read_many(&mut []), Err(Error::Closed));
    assert_eq!(sfd.set_mask(&SigSet::empty()), Err(Error::Closed));
    assert_eq!(sfd.mask(), mask); // cached, no syscall
    assert_eq!(sfd.into_raw_fd(), -1);
    Ok(())
}

#[test]
fn std_conversions_round_trip_and_rebuild_the_mask() -> TestResult {
    let masks = [
        SigSet::empty(),
        SigSet::from(Signal::USR1),
        SigSet::from_iter([Signal::HUP, rt(32), rt(33), rt(40), rt(64)]),
        SigSet::full().without(Signal::KILL).without(Signal::STOP),
    ];
    for mask in masks {
        let sfd = SignalFd::new(&mask)?;
        let raw = sfd.raw();

        let owned = OwnedFd::from(sfd);
        assert_eq!(owned.as_raw_fd(), raw);
        let sfd = SignalFd::from(owned);
        assert_eq!(sfd.mask(), mask);

        let raw2 = sfd.into_raw_fd();
        assert_eq!(raw2, raw);
        // SAFETY: `raw2` came from `into_raw_fd` just above; nothing else
        // owns it.
        let sfd = unsafe { SignalFd::from_raw_fd(raw2) };
        assert_eq!(sfd.mask(), mask);
        assert_eq!(sfd.raw(), raw);
        let flags = util::fdinfo_flags(&sfd);
        assert_eq!(flags & (O_NONBLOCK | O_CLOEXEC), O_NONBLOCK | O_CLOEXEC);
    }
    Ok(())
}

#[test]
fn handles_and_records_are_plain_values() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<SignalFd>();
    send_sync::<SigSet>();
    send_sync::<SignalInfo>();
    assert_eq!(size_of::<SignalInfo>(), 128);
    assert_eq!(SignalInfo::SIZE, 128);
    let info = SignalInfo::default();
    assert_eq!(info, SignalInfo::zeroed());
    assert_eq!(info.signal(), None);
    let copy = info;
    assert_eq!(copy.clone(), info);
}
