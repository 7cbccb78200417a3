//! The handles' typed ring operations end to end (eventfd, timerfd,
//! pidfd, memfd and plain descriptors), on real kernel objects, with the
//! errors their CQEs map to. The ring's own operations are in `ops_core`,
//! those by registered file in `ops_fixed`.
//!
//! Children are spawned with `std::process::Command` and reaped only
//! through their `PidFd` (never `Child::wait`, never "any child").

use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use iofd::ring::ops::Nop;
use iofd::ring::{Opcode, Ring};
use iofd::sys::Errno;
use iofd::sys::pipe::{PipeFlags, pipe2};
use iofd::sys::process::getppid;
use iofd::{Error, EventFd, Fd, MemFd, PidFd, Signal, TimerFd};

/// A non-blocking, close-on-exec pipe as `(read end, write end)`.
pub(crate) fn pipe() -> (Fd, Fd) {
    let (r, w): (OwnedFd, OwnedFd) =
        pipe2(PipeFlags::NONBLOCK | PipeFlags::CLOEXEC).expect("pipe2");
    (Fd::from(r), Fd::from(w))
}

/// Spawns a child and opens its pidfd. The `Child` is dropped unwaited on
/// purpose: the tests reap it through the pidfd.
pub(crate) fn child(cmd: &str, args: &[&str]) -> PidFd {
    let pid = Command::new(cmd)
        .args(args)
        .spawn()
        .expect("spawn child")
        .id();
    PidFd::open(pid).expect("pidfd_open")
}

/// Reaps a child through its pidfd, polling for at most 10 s.
pub(crate) fn reap(p: &PidFd) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = p.try_wait().expect("try_wait") {
            return status;
        }
        assert!(Instant::now() < deadline, "child did not exit within 10 s");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Reaps until nothing is in flight (at most 5 s).
pub(crate) fn settle(ring: &mut Ring) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while ring.in_flight() > 0 {
        assert!(Instant::now() < deadline, "operations still in flight");
        ring.submit().expect("submit");
        ring.reap().expect("reap");
        std::thread::sleep(Duration::from_millis(1));
    }
}

// ---- EventFd ----------------------------------------------------------

#[test]
fn eventfd_read_of_a_set_counter_completes_inline() {
    let mut ring = Ring::new(8).unwrap();
    let efd = EventFd::new(5).unwrap();
    let mut value = 0u64;
    let got = ring
        .scope(|s| {
            let t = s.push_into(efd.read_op(), &mut value)?;
            // One submission: the counter is set, so the read completes
            // during the enter itself.
            s.submit_and_wait(1)?;
            assert_eq!(s.in_flight(), 0);
            s.wait(t)
        })
        .unwrap();
    assert_eq!((got, value), (5, 5));
    assert_eq!(efd.wait(), Err(Error::WouldBlock), "the read reset it");
    assert_eq!(ring.in_flight(), 0);
    assert_eq!(ring.stale_completions(), 0);
}

#[test]
fn eventfd_read_armed_before_the_signal_is_rearmed_not_would_block() {
    let mut ring = Ring::new(8).unwrap();
    let efd = EventFd::new(0).unwrap();
    let mut value = 0u64;
    let got = ring
        .scope(|s| {
            let mut t = s.push_into(efd.read_op(), &mut value)?;
            s.submit()?;
            // The first attempt finds nothing (-EAGAIN): the driver must
            // re-arm it rather than report WouldBlock.
            for _ in 0..3 {
                s.reap()?;
                s.submit()?;
                assert!(s.take(&mut t).is_none(), "no result before the signal");
                assert_eq!(s.in_flight(), 1);
            }
            efd.signal(42)?;
            s.wait(t)
        })
        .unwrap();
    assert_eq!((got, value), (42, 42));
    assert_eq!(ring.in_flight(), 0);
}

#[test]
fn a_driver_owned_op_on_a_fixed_file_keeps_no_handle() {
    use std::os::fd::AsFd;
    let mut ring = Ring::new(8).unwrap();
    let efd = Arc::new(EventFd::new(0).unwrap());
    ring.register_files(&[efd.as_fd()]).unwrap();
    let token = ring.push(efd.read_op_shared().fixed(0)).unwrap();
    ring.submit().unwrap();
    // The ring's file table holds the file: the slot needs no reference.
    assert_eq!(Arc::strong_count(&efd), 1, "nothing kept for a fixed file");
    assert_eq!(ring.in_flight(), 1);
    efd.signal(5).unwrap();
    assert_eq!(ring.wait(token), Ok(5));
    assert_eq!(ring.in_flight(), 0);
}

#[test]
fn in_flight_counts_what_has_not_completed_not_what_is_untaken() {
    let mut ring = Ring::new(8).unwrap();
    let efd = Arc::new(EventFd::new(0).unwrap());
    let armed = ring.push(efd.read_op_shared()).unwrap();
    let nops: Vec<_> = (0..3).map(|_| ring.push(Nop::new()).unwrap()).collect();
    assert_eq!(ring.in_flight(), 4);
    ring.submit_and_wait(3).unwrap();
    assert_eq!(ring.in_flight(), 1, "three results wait untaken");
    for t in nops {
        ring.wait(t).unwrap();
    }
    assert_eq!(ring.in_flight(), 1);
    efd.signal(1).unwrap();
    ring.submit_and_wait(1).unwrap();
    assert_eq!(ring.in_flight(), 0, "completed, not yet taken");
    assert_eq!(ring.wait(armed), Ok(1));
    assert_eq!(ring.in_flight(), 0);
}

#[test]
fn eventfd_driver_owned_read_rearmed_and_taken_from_its_slot() {
    let mut ring = Ring::new(8).unwrap();
    let efd = Arc::new(EventFd::new(0).unwrap());
    let mut token = ring.push(efd.read_op_shared()).unwrap();
    assert!(!token.is_done());
    ring.submit().unwrap();
    ring.reap().unwrap();
    ring.submit().unwrap();
    assert!(ring.take(&mut token).is_none());
    assert_eq!(Arc::strong_count(&efd), 2, "the slot keeps the handle");
    efd.signal(3).unwrap();
    assert_eq!(ring.wait(token), Ok(3));
    assert_eq!(Arc::strong_count(&efd), 1, "released with the final CQE");
    assert_eq!(ring.in_flight(), 0);
}

#[test]
fn eventfd_semaphore_read_takes_one() {
    let mut ring = Ring::new(8).unwrap();
    let efd = EventFd::new_semaphore(3).unwrap();
    let got = ring
        .scope(|s| {
            let a = s.push(efd.read_op())?;
            let b = s.push(efd.read_op())?;
            Ok::<_, Error>((s.wait(a)?, s.wait(b)?))
        })
        .unwrap();
    assert_eq!(got, (1, 1));
    assert_eq!(efd.wait(), Ok(1));
    assert_eq!(efd.wait(), Err(Error::WouldBlock));
}

#[test]
fn eventfd_signal_op_adds_to_the_counter() {
    let mut ring = Ring::new(8).unwrap();
    let efd = EventFd::new(1).unwrap();
    ring.scope(|s| {
        let t = s.push(efd.signal_op(6))?;
        s.wait(t)
    })
    .unwrap();
    assert_eq!(efd.wait(), Ok(7));

    // Driver-owned, through a shared handle.
    let shared = Arc::new(EventFd::new(0).unwrap());
    let token = ring.push(shared.signal_op_shared(9)).unwrap();
    assert_eq!(ring.wait(token), Ok(()));
    assert_eq!(shared.wait(), Ok(9));
    assert_eq!(Arc::strong_count(&shared), 1);
}

#[test]
fn eventfd_signal_op_on_a_full_counter_waits_for_room() {
    let mut ring = Ring::new(8).unwrap();
    let efd = EventFd::new(0).unwrap();
    efd.signal(u64::MAX - 1).unwrap();
    let r = ring.scope(|s| {
        let mut t = s.push(efd.signal_op(1))?;
        s.submit()?;
        s.reap()?;
        s.submit()?;
        // The write found no room (-EAGAIN) and waits on POLLOUT.
        assert!(s.take(&mut t).is_none());
        assert_eq!(s.in_flight(), 1);
        assert_eq!(efd.wait(), Ok(u64::MAX - 1));
        s.wait(t)
    });
    assert_eq!(r, Ok(()));
    assert_eq!(efd.wait(), Ok(1));
}

// ---- TimerFd ----------------------------------------------------------

#[test]
fn timerfd_expiration_read_through_the_ring() {
    let mut ring = Ring::new(8).unwrap();
    let timer = TimerFd::new().unwrap();
    let mut count = 0u64;
    let start = Instant::now();
    timer
        .arm(Duration::from_millis(20), Duration::ZERO)
        .unwrap();
    let got = ring
        .scope(|s| {
            let t = s.push_into(timer.expirations_op(), &mut count)?;
            s.wait(t)
        })
        .unwrap();
    assert!(
        start.elapsed() >= Duration::from_millis(20),
        "not before the deadline"
    );
    assert_eq!((got, count), (1, 1));
    assert_eq!(
        timer.expirations(),
        Err(Error::WouldBlock),
        "the read reset it"
    );

    // Driver-owned: a periodic timer read after it has fired a few times.
    let timer = Arc::new(TimerFd::new().unwrap());
    timer
        .arm(Duration::from_millis(1), Duration::from_millis(1))
        .unwrap();
    std::thread::sleep(Duration::from_millis(10));
    let token = ring.push(timer.expirations_op_shared()).unwrap();
    let n = ring.wait(token).unwrap();
    assert!(n >= 2, "{n} expirations after 10 ms of a 1 ms timer");
    assert_eq!(Arc::strong_count(&timer), 1);
}

// ---- PidFd ------------------------------------------------------------

#[test]
fn pidfd_exit_op_completes_when_the_child_is_killed() {
    let mut ring = Ring::new(8).unwrap();
    let p = child("sleep", &["30"]);
    ring.scope(|s| {
        let mut t = s.push(p.exit_op())?;
        s.submit()?;
        std::thread::sleep(Duration::from_millis(5));
        s.reap()?;
        assert!(s.take(&mut t).is_none(), "the child still runs");
        p.send_signal(Signal::KILL)?;
        s.wait(t)
    })
    .unwrap();
    // exit_op reaps nothing: the child is still there to be reaped.
    assert_eq!(reap(&p).signal(), Some(9));
}

#[test]
fn pidfd_wait_op_returns_the_exit_status() {
    let mut ring = Ring::new(8).unwrap();
    if !ring.is_supported(Opcode::WAITID) {
        eprintln!("skipped: the kernel lacks IORING_OP_WAITID");
        return;
    }
    let p = child("sh", &["-c", "exit 3"]);
    let status = ring
        .scope(|s| {
            let t = s.push(p.wait_op())?;
            s.wait(t)
        })
        .unwrap();
    assert_eq!(status.code(), Some(3));
    assert_eq!(
        p.try_wait(),
        Err(Error::Os(Errno::ECHILD)),
        "already reaped"
    );

    // A killed child, driver-owned.
    let p = Arc::new(child("sleep", &["30"]));
    let mut token = ring.push(p.wait_op_shared()).unwrap();
    ring.submit().unwrap();
    ring.reap().unwrap();
    assert!(ring.take(&mut token).is_none());
    p.send_signal(Signal::KILL).unwrap();
    let status = ring.wait(token).unwrap();
    assert_eq!((status.code(), status.signal()), (None, Some(9)));
    assert_eq!(Arc::strong_count(&p), 1);
}

#[test]
fn pidfd_wait_op_of_a_non_child_is_echild() {
    let mut ring = Ring::new(8).unwrap();
    if !ring.is_supported(Opcode::WAITID) {
        eprintln!("skipped: the kernel lacks IORING_OP_WAITID");
        return;
    }
    let parent = PidFd::open(getppid()).unwrap();
    let r = ring.scope(|s| {
        let t = s.push(parent.wait_op())?;
        s.wait(t)
    });
    assert_eq!(r, Err(Error::Os(Errno::ECHILD)));
}

// ---- MemFd and Fd -----------------------------------------------------

#[test]
fn memfd_write_and_read_at_offsets() {
    let mut ring = Ring::new(8).unwrap();
    let mem = MemFd::new("ring_ops").unwrap();
    let mut first = *b"hello";
    let mut second = *b", ring";
    let (a, b) = ring
        .scope(|s| {
            let a = s.push_into(mem.write_at_op(100), &mut first)?;
            let b = s.push_into(mem.write_at_op(105), &mut second)?;
            Ok::<_, Error>((s.wait(a)?, s.wait(b)?))
        })
        .unwrap();
    assert_eq!((a, b), (5, 6));
    assert_eq!(mem.len(), Ok(111));
    let mut check = [0u8; 11];
    assert_eq!(mem.read_at(&mut check, 100), Ok(11));
    assert_eq!(&check, b"hello, ring");

    let mut head = [0xffu8; 4];
    let mut mid = [0u8; 4];
    let mut tail = [0u8; 16];
    let mut past = [0u8; 4];
    let counts = ring
        .scope(|s| {
            let h = s.push_into(mem.read_at_op(0), &mut head)?;
            let m = s.push_into(mem.read_at_op(107), &mut mid)?;
            let t = s.push_into(mem.read_at_op(105), &mut tail)?;
            let p = s.push_into(mem.read_at_op(4096), &mut past)?;
            Ok::<_, Error>([s.wait(h)?, s.wait(m)?, s.wait(t)?, s.wait(p)?])
        })
        .unwrap();
    assert_eq!(counts, [4, 4, 6, 0]);
    assert_eq!(head, [0; 4], "the hole reads as zeroes");
    assert_eq!(&mid, b"ring");
    assert_eq!(&tail[..6], b", ring");
}

#[test]
fn fd_read_on_a_pipe_armed_before_data_arrives() {
    let mut ring = Ring::new(8).unwrap();
    let (r, w) = pipe();
    let mut buf = [0u8; 16];
    let n = ring
        .scope(|s| {
            let mut t = s.push_into(r.read_at_op(0), &mut buf)?;
            s.submit()?;
            s.reap()?;
            s.submit()?;
            assert!(s.take(&mut t).is_none(), "nothing written yet");
            assert_eq!(s.in_flight(), 1);
            assert_eq!(w.write(b"ping"), Ok(4));
            s.wait(t)
        })
        .unwrap();
    assert_eq!(&buf[..n], b"ping");

    // And a write through the ring, read back with the syscall.
    let mut msg = *b"pong!";
    let n = ring
        .scope(|s| {
            let t = s.push_into(w.write_at_op(0), &mut msg)?;
            s.wait(t)
        })
        .unwrap();
    assert_eq!(n, 5);
    let mut back = [0u8; 8];
    assert_eq!(r.read(&mut back), Ok(5));
    assert_eq!(&back[..5], b"pong!");

    // End of file once the write end is gone.
    drop(w);
    let n = ring
        .scope(|s| {
            let t = s.push_into(r.read_at_op(0), &mut buf)?;
            s.wait(t)
        })
        .unwrap();
    assert_eq!(n, 0);
}

#[test]
fn read_at_on_a_descriptor_not_open_for_reading_is_ebadf() {
    let mut ring = Ring::new(8).unwrap();
    // An O_PATH descriptor: no I/O at all.
    const O_PATH: i32 = 0o10000000;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(O_PATH)
        .open("/proc/self/exe")
        .unwrap();
    let path = Fd::from(OwnedFd::from(file));
    let (_r, w) = pipe();
    let mem = MemFd::new("ro").unwrap();
    let mut buf = [0u8; 8];
    let mut buf2 = [0u8; 8];
    let mut buf3 = [0u8; 8];
    let r = ring.scope(|s| {
        let a = s.push_into(path.read_at_op(0), &mut buf)?;
        let b = s.push_into(w.read_at_op(0), &mut buf2)?;
        let c = s.push_into(path.write_at_op(0), &mut buf3)?;
        Ok::<_, Error>((s.wait(a), s.wait(b), s.wait(c)))
    });
    let ebadf = Err(Error::Os(Errno::EBADF));
    assert_eq!(r, Ok((ebadf, ebadf, ebadf)));

    // A read of a directory through an ordinary descriptor is EISDIR.
    let dir = Fd::from(OwnedFd::from(std::fs::File::open("/").unwrap()));
    let r = ring.scope(|s| {
        let t = s.push_into(dir.read_at_op(0), &mut buf)?;
        s.wait(t)
    });
    assert_eq!(r, Err(Error::Os(Errno::EISDIR)));
    drop(mem);
}

#[test]
fn operations_queued_before_their_handle_closes_are_ebadf() {
    // Closed before the push, an operation is refused with Closed
    // (ring_edges.rs). Closed after it is queued but before it is
    // submitted, it names the inert O_PATH placeholder that keeps the
    // number, so it reaches no other file: EBADF.
    let mut ring = Ring::new(8).unwrap();
    let (r, w) = pipe();
    let efd = EventFd::new(3).unwrap();
    let timer = TimerFd::new().unwrap();
    let mem = MemFd::new("closed").unwrap();
    let mut buf = [0u8; 4];
    let mut buf2 = [0u8; 4];
    let got = ring
        .scope(|s| {
            let a = s.push_into(r.read_at_op(0), &mut buf)?;
            let b = s.push(efd.read_op())?;
            let c = s.push(efd.signal_op(1))?;
            let d = s.push(timer.expirations_op())?;
            let e = s.push_into(mem.write_at_op(0), &mut buf2)?;
            r.close()?;
            efd.close()?;
            timer.close()?;
            mem.close()?;
            Ok::<_, Error>((s.wait(a), s.wait(b), s.wait(c), s.wait(d), s.wait(e)))
        })
        .unwrap();
    let ebadf = Error::Os(Errno::EBADF);
    assert_eq!(
        got,
        (Err(ebadf), Err(ebadf), Err(ebadf), Err(ebadf), Err(ebadf))
    );
    drop(w);
}

#[test]
fn closing_a_handle_under_an_armed_read_then_leaving_the_scope() {
    let mut ring = Ring::new(8).unwrap();
    let efd = EventFd::new(0).unwrap();
    let mut v = 0u64;
    let r: Result<(), Error> = ring.scope(|s| {
        let _ = s.push_into(efd.read_op(), &mut v)?;
        s.submit()?;
        // The kernel holds its own reference to the armed file; closing
        // the handle does not complete the read, leaving the scope does.
        efd.close()?;
        s.reap()?;
        assert_eq!(s.in_flight(), 1);
        Err(Error::Closed)
    });
    assert_eq!(r, Err(Error::Closed));
    assert_eq!(ring.in_flight(), 0);
    assert_eq!(v, 0);
}

// ---- One-shot polls ---------------------------------------------------

#[test]
fn a_one_shot_poll_of_any_handle_reports_its_readiness() {
    use iofd::UnixStream;
    use iofd::ring::ops::{Poll, PollFlags};

    let mut ring = Ring::new(8).unwrap();
    // Driver-owned, of an `Arc`: waits until the eventfd is signalled.
    let efd = Arc::new(EventFd::new(0).unwrap());
    let t = ring
        .push(Poll::new(Arc::clone(&efd), PollFlags::IN))
        .unwrap();
    ring.submit().unwrap();
    ring.reap().unwrap();
    assert_eq!(ring.in_flight(), 1, "not ready yet");
    efd.signal(1).unwrap();
    assert_eq!(ring.wait(t), Ok(PollFlags::IN));
    assert_eq!(Arc::strong_count(&efd), 1, "the handle let go");
    // Scoped, borrowing a socket and a pipe (not iofd-specific: any `AsFd`).
    let (a, b) = UnixStream::pair().unwrap();
    let (r, w) = pipe();
    drop(w);
    let (out, hup) = ring
        .scope(|s| {
            let out = s.push(Poll::new(&a, PollFlags::IN | PollFlags::OUT))?;
            let hup = s.push(Poll::new(&r, PollFlags::IN))?;
            Ok::<_, Error>((s.wait(out)?, s.wait(hup)?))
        })
        .unwrap();
    assert_eq!(out, PollFlags::OUT, "writable, nothing to read");
    assert!(hup.contains(PollFlags::HUP), "the writer is gone: {hup:?}");
    drop(b);
}
