//! `EventFd`: counter semantics, semaphore mode, limits, close, flags and
//! std conversions.

use crate::util;

use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};

use iofd::{Error, EventFd, Handle, Signaler};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const O_NONBLOCK: u32 = 0o4000;
const O_CLOEXEC: u32 = 0o2000000;

#[test]
fn created_non_blocking_and_close_on_exec() -> TestResult {
    for ev in [EventFd::new(0)?, EventFd::new_semaphore(0)?] {
        let flags = util::fdinfo_flags(&ev);
        assert_eq!(flags & O_NONBLOCK, O_NONBLOCK, "flags {flags:o}");
        assert_eq!(flags & O_CLOEXEC, O_CLOEXEC, "flags {flags:o}");
    }
    Ok(())
}

#[test]
fn initial_value_is_the_first_wait() -> TestResult {
    let ev = EventFd::new(7)?;
    assert!(!ev.is_semaphore());
    assert_eq!(ev.wait()?, 7);
    assert_eq!(ev.wait(), Err(Error::WouldBlock));
    let max = EventFd::new(u32::MAX)?;
    assert_eq!(max.wait()?, u64::from(u32::MAX));
    Ok(())
}

#[test]
fn signals_add_up_and_a_wait_takes_them_all() -> TestResult {
    let ev = EventFd::new(0)?;
    ev.signal(1)?;
    ev.signal(2)?;
    ev.signal(1 << 40)?;
    assert_eq!(ev.wait()?, 3 + (1 << 40));
    assert_eq!(ev.wait(), Err(Error::WouldBlock));
    Ok(())
}

#[test]
fn wait_on_zero_is_would_block() -> TestResult {
    let ev = EventFd::new(0)?;
    assert_eq!(ev.wait(), Err(Error::WouldBlock));
    let mut out = 99;
    assert_eq!(ev.wait_into(&mut out), Err(Error::WouldBlock));
    assert_eq!(out, 99, "left untouched on error");
    let sem = EventFd::new_semaphore(0)?;
    assert_eq!(sem.wait(), Err(Error::WouldBlock));
    Ok(())
}

#[test]
fn wait_into_stores_the_counter() -> TestResult {
    let ev = EventFd::new(0)?;
    ev.signal(42)?;
    let mut out = 0;
    ev.wait_into(&mut out)?;
    assert_eq!(out, 42);
    Ok(())
}

#[test]
fn signal_zero_is_a_no_op() -> TestResult {
    let ev = EventFd::new(0)?;
    ev.signal(0)?;
    assert_eq!(ev.wait(), Err(Error::WouldBlock));
    // Also at the limit, where a real write of anything non-zero would fail.
    ev.signal(u64::MAX - 1)?;
    ev.signal(0)?;
    assert_eq!(ev.wait()?, u64::MAX - 1);
    Ok(())
}

#[test]
fn signal_of_u64_max_is_invalid_param() -> TestResult {
    let ev = EventFd::new(3)?;
    assert_eq!(
        ev.signal(u64::MAX),
        Err(Error::InvalidParam("eventfd increment of u64::MAX"))
    );
    assert_eq!(ev.wait()?, 3, "counter unchanged");
    Ok(())
}

#[test]
fn counter_overflow_is_would_block() -> TestResult {
    let ev = EventFd::new(0)?;
    ev.signal(u64::MAX - 1)?; // the largest value the counter holds
    assert_eq!(ev.signal(1), Err(Error::WouldBlock));
    assert_eq!(ev.wait()?, u64::MAX - 1, "counter unchanged");
    // Once taken, it accepts signals again.
    ev.signal(1)?;
    assert_eq!(ev.wait()?, 1);

    let near = EventFd::new(5)?;
    assert_eq!(near.signal(u64::MAX - 5), Err(Error::WouldBlock));
    near.signal(u64::MAX - 6)?;
    assert_eq!(near.wait()?, u64::MAX - 1);
    Ok(())
}

#[test]
fn semaphore_hands_out_one_per_wait() -> TestResult {
    let sem = EventFd::new_semaphore(2)?;
    assert!(sem.is_semaphore());
    sem.signal(3)?;
    let mut out = 0;
    for _ in 0..5 {
        out = 0;
        sem.wait_into(&mut out)?;
        assert_eq!(out, 1);
    }
    assert_eq!(out, 1);
    assert_eq!(sem.wait(), Err(Error::WouldBlock));
    Ok(())
}

#[test]
fn signaler_trait_forwards() -> TestResult {
    fn ping(s: &dyn Signaler) -> iofd::Result<u64> {
        s.signal(4)?;
        s.signal(0)?;
        s.wait()
    }
    let ev = EventFd::new(1)?;
    assert_eq!(ping(&ev)?, 5);
    let s: &dyn Signaler = &ev;
    assert_eq!(
        s.signal(u64::MAX),
        Err(Error::InvalidParam("eventfd increment of u64::MAX"))
    );
    assert_eq!(s.wait(), Err(Error::WouldBlock));
    assert!(Handle::is_valid(&ev));
    assert_eq!(Handle::raw(&ev), ev.as_raw_fd());
    Handle::close(&ev)?;
    assert_eq!(s.signal(1), Err(Error::Closed));
    assert_eq!(s.wait(), Err(Error::Closed));
    Ok(())
}

#[test]
fn every_operation_after_close_is_closed() -> TestResult {
    for (ev, semaphore) in [
        (EventFd::new(1)?, false),
        (EventFd::new_semaphore(1)?, true),
    ] {
        let raw = ev.raw();
        assert!(ev.is_valid());
        ev.close()?;
        ev.close()?; // idempotent
        assert!(!ev.is_valid());
        assert_eq!(ev.raw(), -1);
        assert_eq!(ev.as_raw_fd(), -1);
        assert_eq!(ev.signal(1), Err(Error::Closed));
        assert_eq!(ev.signal(0), Err(Error::Closed));
        assert_eq!(ev.signal(u64::MAX), Err(Error::Closed));
        assert_eq!(ev.wait(), Err(Error::Closed));
        let mut out = 7;
        assert_eq!(ev.wait_into(&mut out), Err(Error::Closed));
        assert_eq!(out, 7);
        // The cached mode survives the close.
        assert_eq!(ev.is_semaphore(), semaphore);
        // The number stays reserved (pointing at an inert placeholder) until
        // the handle is dropped.
        assert!(util::is_open(raw));
    }
    Ok(())
}

#[test]
fn owned_fd_round_trip_rebuilds_semaphore_mode() -> TestResult {
    let sem = EventFd::new_semaphore(2)?;
    let sem = EventFd::from(OwnedFd::from(sem));
    assert!(sem.is_semaphore());
    assert_eq!(sem.wait()?, 1);

    let plain = EventFd::new(2)?;
    let plain = EventFd::from(OwnedFd::from(plain));
    assert!(!plain.is_semaphore());
    assert_eq!(plain.wait()?, 2);
    Ok(())
}

#[test]
fn raw_fd_round_trip_rebuilds_semaphore_mode() -> TestResult {
    let sem = EventFd::new_semaphore(3)?;
    let raw = sem.into_raw_fd();
    assert!(util::is_open(raw));
    // SAFETY: `raw` came from `into_raw_fd` just above; we own it.
    let sem = unsafe { EventFd::from_raw_fd(raw) };
    assert!(sem.is_semaphore());
    assert_eq!(sem.raw(), raw);
    assert_eq!(sem.wait()?, 1);
    assert_eq!(sem.wait()?, 1);
    Ok(())
}

#[test]
fn non_eventfd_descriptor_defaults_to_plain_mode() -> TestResult {
    let (r, _w) = std::io::pipe()?;
    let ev = EventFd::from(OwnedFd::from(r));
    assert!(!ev.is_semaphore());
    Ok(())
}

#[test]
fn signal_wakes_another_thread() -> TestResult {
    let ev = std::sync::Arc::new(EventFd::new(0)?);
    let remote = ev.clone();
    let t = std::thread::spawn(move || remote.signal(9));
    t.join().map_err(|_| "signaller panicked")??;
    assert_eq!(ev.wait()?, 9);
    Ok(())
}

#[test]
fn is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<EventFd>();
}

#[test]
fn debug_is_implemented() -> TestResult {
    let ev = EventFd::new_semaphore(0)?;
    let text = format!("{ev:?}");
    assert!(text.contains("EventFd"), "{text}");
    assert!(text.contains("semaphore: true"), "{text}");
    Ok(())
}
