//! Edges of the ring that review found mishandled: results the kernel can
//! post that a decode did not expect, arguments io_uring reads otherwise
//! than the syscalls do, closed handles, cancels that race a re-arm, and
//! waits that must not block on a result already in the table.
//!
//! Children are spawned with `std::process::Command` and reaped only
//! through their `PidFd`.

use std::os::fd::AsFd;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use iofd::ring::ops::{LinkTimeoutResult, Timeout, TimeoutResult};
use iofd::ring::{Fixed, Ring};
use iofd::sys::Errno;
use iofd::{Error, EventFd, Fd, MemFd, PidFd, SigSet, SignalFd, TimerFd};

const MS: Duration = Duration::from_millis(1);

/// Spawns `sleep secs` and opens its pidfd; the `Child` is dropped unwaited
/// on purpose: the test reaps it through the pidfd.
fn sleeper(secs: &str) -> PidFd {
    let pid = Command::new("sleep")
        .arg(secs)
        .spawn()
        .expect("spawn sleep")
        .id();
    PidFd::open(pid).expect("pidfd_open")
}

/// Kills and reaps a child through its pidfd.
fn kill_and_reap(p: &PidFd) {
    p.send_signal(iofd::Signal::KILL).expect("kill");
    let deadline = Instant::now() + Duration::from_secs(10);
    while p.try_wait().expect("try_wait").is_none() {
        assert!(Instant::now() < deadline, "child did not exit");
        std::thread::sleep(MS);
    }
}

#[test]
fn a_deadline_that_cancels_a_waitid_expires() {
    let mut ring = Ring::new(8).expect("ring");
    if !ring.is_supported(iofd::ring::Opcode::WAITID) {
        eprintln!("skipped: the kernel has no IORING_OP_WAITID");
        return;
    }
    let child = Arc::new(sleeper("30"));
    // A blocking pidfd: the kernel's wait alone, which takes a deadline
    // (on a non-blocking one the wait runs behind a poll, which cannot).
    child.set_nonblocking(false).expect("blocking");
    let start = Instant::now();
    let (wait, deadline) = ring
        .push_with_timeout(child.wait_op_shared(), Timeout::after(50 * MS))
        .expect("push");
    // The kernel posts the count of requests the deadline cancelled (1),
    // not -ETIME, when the linked operation is a waitid.
    assert_eq!(ring.wait(deadline), Ok(LinkTimeoutResult::Expired));
    assert_eq!(
        ring.wait(wait).map_err(|e| e.errno()),
        Err(Some(Errno::ECANCELED))
    );
    assert!(start.elapsed() >= 50 * MS);
    kill_and_reap(&child);
}

#[test]
fn an_offset_io_uring_reads_as_the_cursor_is_refused() -> iofd::Result<()> {
    let mut ring = Ring::new(8)?;
    let mem = MemFd::new("cursor")?;
    mem.write_at(b"0123456789", 0)?;
    // The same input through the syscall method.
    assert_eq!(
        mem.write_at(b"x", u64::MAX),
        Err(Error::InvalidParam(Error::KERNEL_EINVAL))
    );
    let mut buf = [0u8; 4];
    let mut xy = *b"XY";
    let before = ring.in_flight();
    for offset in [u64::MAX, i64::MAX as u64 + 1] {
        let r = ring.scope(|s| s.push_into(mem.write_at_op(offset), &mut xy).map(drop));
        assert_eq!(r, Err(Error::InvalidParam(Error::KERNEL_EINVAL)));
        let r = ring.scope(|s| s.push_into(mem.read_at_op(offset), &mut buf).map(drop));
        assert_eq!(r, Err(Error::InvalidParam(Error::KERNEL_EINVAL)));
    }
    assert_eq!(ring.in_flight(), before, "nothing was queued");
    // Nothing was written anywhere.
    assert_eq!(mem.len()?, 10);
    let mut all = [0u8; 16];
    assert_eq!(mem.read_at(&mut all, 0)?, 10);
    assert_eq!(&all[..10], b"0123456789");
    Ok(())
}

#[test]
fn ops_on_a_closed_handle_report_closed() -> iofd::Result<()> {
    let mut ring = Ring::new(8)?;
    let efd = Arc::new(EventFd::new(1)?);
    let timer = Arc::new(TimerFd::new()?);
    let mem = MemFd::new("closed")?;
    let fd = Fd::from(std::os::fd::OwnedFd::from(EventFd::new(0)?));
    let sfd = Arc::new(SignalFd::new(&SigSet::empty().with(iofd::Signal::USR2))?);
    let child = Arc::new(sleeper("30"));
    efd.close()?;
    timer.close()?;
    mem.close()?;
    fd.close()?;
    sfd.close()?;
    // Reaped first: a closed pidfd could no longer end the child.
    kill_and_reap(&child);
    child.close()?;
    // The handles' own syscall methods say Closed.
    assert_eq!(efd.wait(), Err(Error::Closed));
    assert_eq!(
        ring.push(efd.read_op_shared()).map(drop),
        Err(Error::Closed)
    );
    assert_eq!(
        ring.push(efd.signal_op_shared(1)).map(drop),
        Err(Error::Closed)
    );
    assert_eq!(
        ring.push(timer.expirations_op_shared()).map(drop),
        Err(Error::Closed)
    );
    assert_eq!(
        ring.push(sfd.read_op_shared()).map(drop),
        Err(Error::Closed)
    );
    assert_eq!(
        ring.push(child.exit_op_shared()).map(drop),
        Err(Error::Closed)
    );
    assert_eq!(
        ring.push(child.wait_op_shared()).map(drop),
        Err(Error::Closed)
    );
    let mut buf = [0u8; 8];
    let r = ring.scope(|s| s.push_into(mem.read_at_op(0), &mut buf).map(drop));
    assert_eq!(r, Err(Error::Closed));
    let r = ring.scope(|s| s.push_into(fd.write_at_op(0), &mut buf).map(drop));
    assert_eq!(r, Err(Error::Closed));
    assert_eq!(ring.in_flight(), 0, "nothing was queued");
    // A registered file is the ring's own reference: closing the handle
    // does not end it.
    let live = EventFd::new(4)?;
    ring.register_files(&[live.as_fd()])?;
    live.close()?;
    let t = ring.push(Fixed::<EventFd>::new(0).read_op())?;
    assert_eq!(ring.wait(t), Ok(4));
    Ok(())
}

#[test]
fn a_signal_op_of_u64_max_is_refused_as_signal_refuses_it() -> iofd::Result<()> {
    let mut ring = Ring::new(8)?;
    let efd = Arc::new(EventFd::new(0)?);
    let expected = efd.signal(u64::MAX);
    assert!(matches!(expected, Err(Error::InvalidParam(_))));
    assert_eq!(
        ring.push(efd.signal_op_shared(u64::MAX)).map(drop),
        expected
    );
    let r = ring.scope(|s| s.push(efd.signal_op(u64::MAX)).map(drop));
    assert_eq!(r, expected);
    assert_eq!(ring.in_flight(), 0);
    assert_eq!(efd.wait(), Err(Error::WouldBlock), "nothing was written");
    Ok(())
}

#[test]
fn a_wait_never_sleeps_on_a_result_already_in_the_table() -> iofd::Result<()> {
    let mut ring = Ring::new(8)?;
    // A safety net: were the loop to sleep, this fires after 2 s.
    let net = ring.push(Timeout::after(Duration::from_secs(2)))?;
    let mut t = ring.push(Timeout::every(5 * MS))?;
    ring.submit()?;
    let remove = ring.remove_timeout(&t)?;
    // The wait for the remove also reaps the timer's final result.
    ring.wait(remove)?;
    let start = Instant::now();
    let mut last = None;
    // The documented form: wait, then take what came.
    while !t.is_done() {
        ring.submit_and_wait(1)?;
        while let Some(r) = ring.take(&mut t) {
            last = Some(r?);
        }
    }
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "slept {:?}",
        start.elapsed()
    );
    assert_eq!(last, Some(TimeoutResult::Removed));
    // With nothing left to take, the wait sleeps again: the net fires.
    assert_eq!(ring.wait(net), Ok(TimeoutResult::Fired));
    Ok(())
}

#[test]
fn rings_past_the_registered_slots_of_a_thread_work_unregistered() -> iofd::Result<()> {
    // The kernel has 16 registered ring slots per thread; a fresh thread
    // starts with all of them free.
    std::thread::spawn(|| -> iofd::Result<()> {
        let mut rings = Vec::new();
        for _ in 0..20 {
            rings.push(Ring::builder(4).register_ring_fd(true).build()?);
        }
        let registered = rings.iter().filter(|r| r.ring_fd_registered()).count();
        assert_eq!(registered, 16);
        assert!(!rings[16..].iter().any(Ring::ring_fd_registered));
        for ring in &mut rings {
            let t = ring.push(iofd::ring::ops::Nop::new())?;
            assert_eq!(ring.wait(t), Ok(()));
        }
        // Dropping one frees its slot for the next.
        rings.remove(0);
        assert!(
            Ring::builder(4)
                .register_ring_fd(true)
                .build()?
                .ring_fd_registered()
        );
        Ok(())
    })
    .join()
    .expect("the thread")
}

#[test]
fn a_wheel_dropped_while_scheduled_gives_its_slot_back() -> iofd::Result<()> {
    use iofd::ring::WheelTimers;
    let mut ring = Ring::builder(16).capacity(16).build()?;
    for _ in 0..40 {
        let mut wheel = WheelTimers::new();
        let _key = wheel.arm(Duration::from_secs(3600), ());
        wheel.schedule(&mut ring)?;
        assert!(wheel.is_scheduled());
        drop(wheel);
    }
    // Forty hour-long ring timeouts were pushed through a table of 16:
    // each dropped wheel's timeout was cancelled and its slot freed.
    let t = ring.push(Timeout::after(MS))?;
    assert_eq!(ring.wait(t), Ok(TimeoutResult::Fired));
    ring.submit()?;
    let deadline = Instant::now() + Duration::from_secs(5);
    while ring.in_flight() > 0 {
        assert!(
            Instant::now() < deadline,
            "{} still in flight",
            ring.in_flight()
        );
        ring.submit_and_wait(1)?;
    }
    assert_eq!(ring.stale_completions(), 0);
    Ok(())
}

#[test]
fn a_dropped_token_lets_its_result_go() -> iofd::Result<()> {
    let mut ring = Ring::builder(4).max_capacity(4).build()?;
    // Far more operations than slots, every token dropped untaken: each
    // slot is freed with its result.
    for _ in 0..100 {
        drop(ring.push(iofd::ring::ops::Nop::new())?);
    }
    let efd = Arc::new(EventFd::new(0)?);
    drop(ring.push(efd.read_op_shared())?);
    ring.submit()?;
    // A result nobody can take does not keep the wait from sleeping.
    let mut t = ring.push(Timeout::after(30 * MS))?;
    let enters = ring.enters();
    ring.submit_and_wait(1)?;
    assert_eq!(ring.take(&mut t), Some(Ok(TimeoutResult::Fired)));
    assert!(
        ring.enters() - enters <= 3,
        "{} enters",
        ring.enters() - enters
    );
    // The detached read runs on, and lets its handle go when it ends.
    assert_eq!(Arc::strong_count(&efd), 2);
    efd.signal(1)?;
    ring.submit_and_wait(1)?;
    assert_eq!(Arc::strong_count(&efd), 1);
    assert_eq!(ring.in_flight(), 0);
    Ok(())
}

#[test]
fn a_dropped_multishot_token_leaves_no_shot_to_spin_on() -> iofd::Result<()> {
    let mut ring = Ring::new(8)?;
    let every = ring.push(Timeout::every(MS))?;
    // Shots come and are reaped, but never taken.
    let pause = ring.push(Timeout::after(10 * MS))?;
    ring.wait(pause)?;
    drop(every);
    // The detached timer runs on (it never ends by itself), but its untaken
    // shots are nobody's: they do not keep the waits from sleeping.
    let mut t = ring.push(Timeout::after(30 * MS))?;
    let enters = ring.enters();
    while ring.take(&mut t).is_none() {
        ring.submit_and_wait(1)?;
    }
    // A wake per 1 ms shot at most, not a spin.
    assert!(
        ring.enters() - enters < 100,
        "{} enters",
        ring.enters() - enters
    );
    Ok(())
}

#[test]
fn cancelling_a_spent_token_touches_no_other_operation() {
    let mut ring = Ring::new(4).unwrap();
    let efd = Arc::new(EventFd::new(0).unwrap());
    let mut first = ring.push(efd.read_op_shared()).unwrap();
    efd.signal(1).unwrap();
    ring.submit_and_wait(1).unwrap();
    assert_eq!(ring.take(&mut first), Some(Ok(1)));
    // The next read takes the freed slot; the spent token names its old
    // generation.
    let second = ring.push(efd.read_op_shared()).unwrap();
    ring.submit().unwrap();
    ring.cancel(first).unwrap();
    efd.signal(5).unwrap();
    assert_eq!(ring.wait(second), Ok(5), "the new read was not cancelled");
}
