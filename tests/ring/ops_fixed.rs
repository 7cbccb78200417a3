//! Handles registered in the ring's file table, named by index
//! (`Fixed<H>`): every kind's operations by index, re-armed reads, an
//! empty index and one holding another kind of file.

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use iofd::ring::{Fixed, Ring};
use iofd::sys::Errno;
use iofd::{Error, EventFd, Fd, MemFd, PidFd, Signal, TimerFd};

use super::ops::{child, pipe, reap};

// ---- Fixed files ------------------------------------------------------

#[test]
fn fixed_eventfd_reads_and_signals_by_index_and_is_rearmed() {
    use std::os::fd::AsFd;
    let mut ring = Ring::new(8).unwrap();
    let efd = EventFd::new(0).unwrap();
    ring.register_files(&[efd.as_fd()]).unwrap();
    let fixed = Fixed::<EventFd>::new(0);
    assert_eq!(fixed.index(), 0);

    // Armed before the signal: the non-blocking read finds nothing and is
    // re-armed on a poll of the fixed file, not surfaced as WouldBlock.
    let armed = ring.push(fixed.read_op()).unwrap();
    settle_some(&mut ring);
    assert_eq!(ring.in_flight(), 1, "still waiting");
    let signal = ring.push(fixed.signal_op(9)).unwrap();
    assert_eq!(ring.wait(signal), Ok(()));
    assert_eq!(ring.wait(armed), Ok(9));

    // The file stays reachable by index after the handle is closed: the
    // ring's table holds it.
    drop(efd);
    let signal = ring.push(fixed.signal_op(4)).unwrap();
    assert_eq!(ring.wait(signal), Ok(()));
    let mut v = 0u64;
    let got = ring
        .scope(|s| {
            let t = s.push_into(fixed.read_op(), &mut v)?;
            s.wait(t)
        })
        .unwrap();
    assert_eq!((got, v), (4, 4));
    assert_eq!(ring.in_flight(), 0);
}

/// Submits and reaps a few times without waiting for anything.
fn settle_some(ring: &mut Ring) {
    for _ in 0..3 {
        ring.submit().unwrap();
        ring.reap().unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn fixed_index_with_no_file_is_ebadf() {
    use std::os::fd::AsFd;
    let mut ring = Ring::new(8).unwrap();
    // No table at all.
    let t = ring.push(Fixed::<EventFd>::new(0).read_op()).unwrap();
    assert_eq!(ring.wait(t), Err(Error::Os(Errno::EBADF)));
    // A table, but the index is past its end.
    let efd = EventFd::new(1).unwrap();
    ring.register_files(&[efd.as_fd()]).unwrap();
    let t = ring.push(Fixed::<EventFd>::new(1).read_op()).unwrap();
    assert_eq!(ring.wait(t), Err(Error::Os(Errno::EBADF)));
    assert_eq!(ring.in_flight(), 0);
}

#[test]
fn fixed_index_of_another_kind_of_file_gives_that_files_result() {
    use std::os::fd::AsFd;
    let mut ring = Ring::new(8).unwrap();
    let mem = MemFd::new("not an eventfd").unwrap();
    ring.register_files(&[mem.as_fd()]).unwrap();
    // An 8-byte counter read of an empty memfd reads 0 bytes: not a counter.
    let t = ring.push(Fixed::<EventFd>::new(0).read_op()).unwrap();
    assert_eq!(ring.wait(t), Err(Error::Os(Errno::EIO)));
}

#[test]
fn fixed_memfd_and_fd_read_and_write_at_offsets() {
    use std::os::fd::AsFd;
    let mut ring = Ring::new(8).unwrap();
    let mem = MemFd::new("fixed").unwrap();
    let (r, w) = pipe();
    ring.register_files(&[mem.as_fd(), r.as_fd(), w.as_fd()])
        .unwrap();
    let (fm, fr, fw) = (
        Fixed::<MemFd>::new(0),
        Fixed::<Fd>::new(1),
        Fixed::<Fd>::new(2),
    );
    let mut out = *b"fixed files";
    let mut back = [0u8; 5];
    let (wrote, read) = ring
        .scope(|s| {
            let t = s.push_into(fm.write_at_op(10), &mut out)?;
            let wrote = s.wait(t)?;
            let t = s.push_into(fm.read_at_op(16), &mut back)?;
            Ok::<_, Error>((wrote, s.wait(t)?))
        })
        .unwrap();
    assert_eq!((wrote, read), (11, 5));
    assert_eq!(&back, b"files");
    assert_eq!(mem.len(), Ok(21));

    // A pipe read armed before the write, re-armed on the fixed file.
    let mut buf = [0u8; 8];
    let mut msg = *b"ping";
    let n = ring
        .scope(|s| {
            let mut t = s.push_into(fr.read_at_op(0), &mut buf)?;
            s.submit()?;
            s.reap()?;
            assert!(s.take(&mut t).is_none(), "nothing written yet");
            let wt = s.push_into(fw.write_at_op(0), &mut msg)?;
            assert_eq!(s.wait(wt)?, 4);
            s.wait(t)
        })
        .unwrap();
    assert_eq!(&buf[..n], b"ping");
}

#[test]
fn fixed_timerfd_and_pidfd() {
    use std::os::fd::AsFd;
    let mut ring = Ring::new(8).unwrap();
    let timer = TimerFd::new().unwrap();
    let p = child("sleep", &["30"]);
    ring.register_files(&[timer.as_fd(), p.as_fd()]).unwrap();
    timer.arm(Duration::from_millis(5), Duration::ZERO).unwrap();
    let t = ring
        .push(Fixed::<TimerFd>::new(0).expirations_op())
        .unwrap();
    assert_eq!(ring.wait(t), Ok(1));

    let mut exit = ring.push(Fixed::<PidFd>::new(1).exit_op()).unwrap();
    settle_some(&mut ring);
    assert!(ring.take(&mut exit).is_none(), "the child still runs");
    p.send_signal(Signal::KILL).unwrap();
    assert_eq!(ring.wait(exit), Ok(()));
    assert_eq!(reap(&p).signal(), Some(9));
}
