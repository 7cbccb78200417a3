//! Signals read through the ring from a `SignalFd`. A `harness = false`
//! binary: it owns its process, blocks the signals in the main thread
//! before any other thread exists, sends them to the whole process with
//! `PidFd::send_signal`, and runs its checks one after another.

#[macro_use]
mod util;

use std::sync::Arc;

use std::os::fd::AsFd;

use iofd::ring::{Fixed, Ring};
use iofd::sys::process::{getpid, getuid};
use iofd::{Error, PidFd, SigSet, Signal, SignalFd, SignalInfo};

type TestResult = util::CheckResult;

/// A real-time signal, which queues instead of coalescing.
const RT41: Signal = match Signal::new(41) {
    Some(s) => s,
    None => panic!("41 is a signal"),
};

/// Every signal this binary sends; blocked in all threads.
const MASK: SigSet = SigSet::empty()
    .with(Signal::USR1)
    .with(Signal::USR2)
    .with(RT41);

/// Sends `sig` to this whole process.
fn send_to_self(sig: Signal) -> iofd::Result<()> {
    PidFd::open(getpid())?.send_signal(sig)
}

/// Checks a record of `sig` sent by `pidfd_send_signal` from this process.
fn assert_from_us(info: &SignalInfo, sig: Signal) {
    assert_eq!(info.signal(), Some(sig), "{info:?}");
    assert_eq!(info.signo, sig.number() as u32);
    assert_eq!(info.code, SignalInfo::SI_USER);
    assert_eq!(info.errno, 0);
    assert_eq!(info.pid, getpid());
    assert_eq!(info.uid, getuid());
}

fn read_op_armed_before_the_signal() -> TestResult {
    let mut ring = Ring::new(8)?;
    let sfd = SignalFd::new(&MASK)?;
    let mut info = SignalInfo::zeroed();
    let got = ring.scope(|s| {
        let mut t = s.push_into(sfd.read_op(), &mut info)?;
        s.submit()?;
        s.reap()?;
        assert!(s.take(&mut t).is_none(), "nothing pending yet");
        assert_eq!(s.in_flight(), 1);
        send_to_self(Signal::USR1)?;
        s.wait(t)
    })?;
    assert_from_us(&got, Signal::USR1);
    assert_eq!(got, info, "the result is the storage");
    assert_eq!(sfd.read_info(), Err(Error::WouldBlock), "taken");
    Ok(())
}

fn read_op_of_a_pending_signal_and_driver_owned() -> TestResult {
    let mut ring = Ring::new(8)?;
    let sfd = Arc::new(SignalFd::new(&MASK)?);
    send_to_self(Signal::USR2)?;
    let token = ring.push(sfd.read_op_shared())?;
    let got = ring.wait(token)?;
    assert_from_us(&got, Signal::USR2);
    assert_eq!(Arc::strong_count(&sfd), 1);

    // Armed first, driver-owned.
    let token = ring.push(sfd.read_op_shared())?;
    ring.submit()?;
    send_to_self(Signal::USR1)?;
    assert_from_us(&ring.wait(token)?, Signal::USR1);
    assert_eq!(sfd.read_info(), Err(Error::WouldBlock));
    Ok(())
}

fn fixed_signalfd_reads_one_and_many() -> TestResult {
    let mut ring = Ring::new(8)?;
    let sfd = SignalFd::new(&MASK)?;
    ring.register_files(&[sfd.as_fd()])?;
    let fixed = Fixed::<SignalFd>::new(0);
    // Armed first, driver-owned: re-armed on a poll of the fixed file.
    let token = ring.push(fixed.read_op())?;
    ring.submit()?;
    ring.reap()?;
    assert_eq!(ring.in_flight(), 1, "nothing pending yet");
    send_to_self(Signal::USR2)?;
    assert_from_us(&ring.wait(token)?, Signal::USR2);

    send_to_self(RT41)?;
    send_to_self(RT41)?;
    let mut infos = [SignalInfo::zeroed(); 4];
    let n = ring.scope(|s| {
        let t = s.push_into(fixed.read_many_op(), &mut infos)?;
        s.wait(t)
    })?;
    assert_eq!(n, 2);
    for info in &infos[..2] {
        assert_from_us(info, RT41);
    }
    assert_eq!(sfd.read_info(), Err(Error::WouldBlock));
    Ok(())
}

fn read_many_op_takes_every_pending_record() -> TestResult {
    let mut ring = Ring::new(8)?;
    let sfd = SignalFd::new(&MASK)?;
    send_to_self(RT41)?;
    send_to_self(Signal::USR1)?;
    send_to_self(RT41)?;
    send_to_self(Signal::USR2)?;
    send_to_self(RT41)?;
    let mut infos = [SignalInfo::zeroed(); 8];
    let n = ring.scope(|s| {
        let t = s.push_into(sfd.read_many_op(), &mut infos)?;
        s.wait(t)
    })?;
    // Standard signals are dequeued lowest first, then the queued RT ones.
    assert_eq!(n, 5);
    assert_from_us(&infos[0], Signal::USR1);
    assert_from_us(&infos[1], Signal::USR2);
    for info in &infos[2..5] {
        assert_from_us(info, RT41);
    }
    assert!(
        infos[5..].iter().all(|i| *i == SignalInfo::zeroed()),
        "untouched"
    );
    assert_eq!(sfd.read_info(), Err(Error::WouldBlock));
    Ok(())
}

fn read_many_op_with_room_for_fewer_than_pending() -> TestResult {
    let mut ring = Ring::new(8)?;
    let sfd = SignalFd::new(&MASK)?;
    for _ in 0..3 {
        send_to_self(RT41)?;
    }
    let mut two = [SignalInfo::zeroed(); 2];
    let mut rest = [SignalInfo::zeroed(); 4];
    let (a, b) = ring.scope(|s| {
        let a = s.push_into(sfd.read_many_op(), &mut two)?;
        let a = s.wait(a)?;
        let b = s.push_into(sfd.read_many_op(), &mut rest)?;
        Ok::<_, Error>((a, s.wait(b)?))
    })?;
    assert_eq!((a, b), (2, 1));
    for info in two.iter().chain(&rest[..1]) {
        assert_from_us(info, RT41);
    }
    Ok(())
}

fn read_many_op_armed_before_the_signal() -> TestResult {
    let mut ring = Ring::new(8)?;
    let sfd = SignalFd::new(&SigSet::empty().with(Signal::USR2))?;
    let mut infos = [SignalInfo::zeroed(); 4];
    let n = ring.scope(|s| {
        let t = s.push_into(sfd.read_many_op(), &mut infos)?;
        s.submit()?;
        // A signal outside this signalfd's mask does not complete it.
        send_to_self(Signal::USR1)?;
        s.reap()?;
        assert_eq!(s.in_flight(), 1);
        send_to_self(Signal::USR2)?;
        s.wait(t)
    })?;
    assert_eq!(n, 1);
    assert_from_us(&infos[0], Signal::USR2);
    // USR1 is still pending for a signalfd that takes it.
    let other = SignalFd::new(&MASK)?;
    assert_from_us(&other.read_info()?, Signal::USR1);
    Ok(())
}

fn an_armed_signal_read_is_cancelled_with_its_scope() -> TestResult {
    let mut ring = Ring::new(8)?;
    let sfd = SignalFd::new(&MASK)?;
    let mut info = SignalInfo::zeroed();
    let r: Result<(), Error> = ring.scope(|s| {
        let _ = s.push_into(sfd.read_op(), &mut info)?;
        s.submit()?;
        Err(Error::WouldBlock)
    });
    assert_eq!(r, Err(Error::WouldBlock));
    assert_eq!(ring.in_flight(), 0);
    assert_eq!(info, SignalInfo::zeroed());
    // A signal sent afterwards is not lost to the cancelled read.
    send_to_self(Signal::USR1)?;
    assert_from_us(&sfd.read_info()?, Signal::USR1);
    Ok(())
}

fn a_multishot_read_delivers_every_signal_as_it_comes() -> TestResult {
    let mut ring = Ring::new(8)?;
    let sfd = Arc::new(SignalFd::new(&MASK)?);
    // Room for one record a buffer, and more buffers than signals.
    let bufs = ring.register_buf_ring(61, 16, SignalInfo::SIZE as u32)?;
    let mut stream = ring.push(sfd.read_multishot_op_shared(&bufs))?;
    ring.submit()?;
    ring.reap()?;
    assert!(ring.take(&mut stream).is_none(), "nothing pending yet");
    let sent = [Signal::USR1, RT41, RT41, Signal::USR2, RT41];
    let mut got = Vec::new();
    for sig in sent {
        send_to_self(sig)?;
        // Each signal is read as it comes, one record a result.
        while got.len() < sent.len() && ring.in_flight() > 0 {
            ring.submit_and_wait(1)?;
            let before = got.len();
            while let Some(r) = ring.take(&mut stream) {
                let buf = r?;
                got.extend(buf.signals());
            }
            if got.len() > before {
                break;
            }
        }
    }
    assert_eq!(got.len(), sent.len(), "{got:?}");
    for (info, sig) in got.iter().zip(sent) {
        assert_from_us(info, sig);
    }
    assert!(!stream.is_done(), "the stream goes on until cancelled");
    ring.cancel_keep(&stream)?;
    let mut end = None;
    while !stream.is_done() {
        ring.submit_and_wait(1)?;
        while let Some(r) = ring.take(&mut stream) {
            end = Some(r.map(drop));
        }
    }
    assert_eq!(end, Some(Err(Error::Os(iofd::sys::Errno::ECANCELED))));
    assert_eq!(bufs.available(), 16, "every buffer back");
    Ok(())
}

fn nothing_is_left_pending() -> TestResult {
    let sfd = SignalFd::new(&MASK)?;
    assert_eq!(sfd.read_info(), Err(Error::WouldBlock));
    Ok(())
}

fn main() {
    // First of all, before any other thread exists: block the signals, so
    // that no thread can take one the usual way (which would end the
    // process).
    if let Err(e) = MASK.block_thread() {
        eprintln!("ring_signal: cannot block {MASK:?}: {e}");
        std::process::exit(1);
    }

    checks![
        read_op_armed_before_the_signal,
        read_op_of_a_pending_signal_and_driver_owned,
        fixed_signalfd_reads_one_and_many,
        read_many_op_takes_every_pending_record,
        read_many_op_with_room_for_fewer_than_pending,
        read_many_op_armed_before_the_signal,
        an_armed_signal_read_is_cancelled_with_its_scope,
        a_multishot_read_delivers_every_signal_as_it_comes,
        nothing_is_left_pending,
    ];
}
