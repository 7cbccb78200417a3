//! Link timeouts end to end: an operation that misses its deadline is
//! cancelled, one that completes first disarms it, absolute deadlines and
//! their updates, the forms the kernel refuses, and a panic while a linked
//! operation is built.

use std::sync::Arc;
use std::time::{Duration, Instant};

use iofd::ring::Ring;
use iofd::ring::ops::{LinkTimeoutResult, Timeout};
use iofd::sys::Errno;
use iofd::{Clock, Error, EventFd};

use super::timers::{MS, errno, finishes};

#[test]
fn a_link_timeout_cancels_an_operation_that_misses_it() {
    let mut ring = Ring::new(8).expect("ring");
    let efd = Arc::new(EventFd::new(0).expect("eventfd"));
    let start = Instant::now();
    let (read, deadline) = ring
        .push_with_timeout(efd.read_op_shared(), Timeout::after(10 * MS))
        .expect("push");
    assert_eq!(
        ring.wait(deadline).expect("deadline"),
        LinkTimeoutResult::Expired
    );
    assert_eq!(
        ring.wait(read).map_err(errno),
        Err(Some(Errno::ECANCELED.raw()))
    );
    assert!(start.elapsed() >= 10 * MS);
    // The counter was never consumed.
    efd.signal(3).expect("signal");
    assert_eq!(efd.wait().expect("wait"), 3);
}

#[test]
fn a_link_timeout_is_disarmed_when_the_operation_completes_first() {
    let mut ring = Ring::new(8).expect("ring");
    let efd = Arc::new(EventFd::new(0).expect("eventfd"));
    // Ready before the push: completes inline.
    efd.signal(7).expect("signal");
    let (read, deadline) = ring
        .push_with_timeout(
            efd.read_op_shared(),
            Timeout::after(Duration::from_secs(60)),
        )
        .expect("push");
    assert_eq!(ring.wait(read), Ok(7));
    assert_eq!(
        ring.wait(deadline).expect("deadline"),
        LinkTimeoutResult::Disarmed
    );

    // Signalled while armed: completes through the kernel's poll.
    let (read, deadline) = ring
        .push_with_timeout(
            efd.read_op_shared(),
            Timeout::after(Duration::from_secs(60)),
        )
        .expect("push");
    ring.submit().expect("submit");
    efd.signal(9).expect("signal");
    assert_eq!(ring.wait(read), Ok(9));
    assert_eq!(
        ring.wait(deadline).expect("deadline"),
        LinkTimeoutResult::Disarmed
    );
    assert_eq!(ring.in_flight(), 0);
}

#[test]
fn a_link_timeout_on_an_absolute_deadline_and_its_update() {
    let mut ring = Ring::new(8).expect("ring");
    let efd = Arc::new(EventFd::new(0).expect("eventfd"));
    let at = Clock::Monotonic.now().expect("now") + 5 * MS;
    let (read, deadline) = ring
        .push_with_timeout(efd.read_op_shared(), Timeout::at(Clock::Monotonic, at))
        .expect("push");
    assert_eq!(
        ring.wait(deadline).expect("deadline"),
        LinkTimeoutResult::Expired
    );
    assert!(ring.wait(read).is_err());
    assert!(Clock::Monotonic.now().expect("now") >= at);

    // A one-minute deadline brought forward to 10 ms.
    let (read, deadline) = ring
        .push_with_timeout(
            efd.read_op_shared(),
            Timeout::after(Duration::from_secs(60)),
        )
        .expect("push");
    ring.submit().expect("submit");
    let start = Instant::now();
    let update = ring
        .update_link_timeout(&deadline, 10 * MS)
        .expect("update");
    assert_eq!(ring.wait(update), Ok(()));
    assert_eq!(
        ring.wait(deadline).expect("deadline"),
        LinkTimeoutResult::Expired
    );
    assert!(ring.wait(read).is_err());
    let took = start.elapsed();
    assert!(
        took >= 10 * MS && took < Duration::from_secs(30),
        "{took:?}"
    );
}

#[test]
fn a_link_timeout_must_be_one_shot_without_a_count() {
    let mut ring = Ring::new(8).expect("ring");
    let efd = Arc::new(EventFd::new(0).expect("eventfd"));
    assert_eq!(
        ring.push_with_timeout(efd.read_op_shared(), Timeout::every(MS))
            .map(drop),
        Err(Error::InvalidParam("a link timeout cannot be periodic"))
    );
    assert_eq!(
        ring.push_with_timeout(efd.read_op_shared(), Timeout::after(MS).completions(2))
            .map(drop),
        Err(Error::InvalidParam(
            "a link timeout cannot wait for a completion count"
        ))
    );
    assert_eq!(ring.in_flight(), 0, "nothing queued on error");
    assert_eq!(Arc::strong_count(&efd), 1, "no handle kept on error");
}

/// An operation whose SQE cannot be built: its `entry` panics.
struct Explodes;

// SAFETY: it never builds an SQE.
unsafe impl iofd::ring::Op for Explodes {
    type Storage = ();
    type Output = ();
    const CODE: iofd::ring::Opcode = iofd::ring::Opcode::NOP;
    const NAME: &'static str = "explodes";

    fn entry(&self, _storage: *mut ()) -> io_uring::squeue::Entry {
        panic!("entry panics")
    }

    unsafe fn output(_cqe: iofd::ring::Cqe, _storage: *const ()) -> iofd::Result<()> {
        Ok(())
    }
}

#[test]
fn a_panic_while_building_a_linked_operation_leaves_no_slot() {
    finishes(|| {
        let mut ring = Ring::new(16).expect("ring");
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _ = ring.push_with_timeout(Explodes, Timeout::after(MS));
        }));
        assert!(r.is_err());
        assert_eq!(ring.in_flight(), 0);
        let mut unit = ();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            ring.scope(|s| {
                let _ = s.push_into_with_timeout(Explodes, &mut unit, Timeout::after(MS));
            })
        }));
        assert!(r.is_err());
        assert_eq!(ring.in_flight(), 0);
        drop(ring);
    });
}
