//! The re-arm path: a read that completes with `-EAGAIN` is re-armed
//! behind a poll instead of being reported. On Linux 6.18 io_uring waits
//! internally for eventfd reads, so the path is driven here with an
//! operation that asks for `RWF_NOWAIT`, which makes the kernel answer
//! `-EAGAIN` while the counter is zero.

use std::os::fd::AsRawFd;
use std::sync::Arc;

use iofd::ring::io_uring::{opcode, squeue, types};
use iofd::ring::ops::PollFlags;
use iofd::ring::{Cqe, Op, Opcode, Ring, Target};
use iofd::sys::Errno;
use iofd::{Error, EventFd};

/// `RWF_NOWAIT`.
const RWF_NOWAIT: i32 = 0x8;

/// An eventfd read that never waits in the kernel.
struct NowaitRead(Arc<EventFd>);

// SAFETY: the SQE reads 8 bytes into the `u64` storage from a descriptor
// kept open by the `Arc`, which the driver holds until the final CQE.
unsafe impl Op for NowaitRead {
    type Storage = u64;
    type Output = u64;
    const CODE: Opcode = Opcode::READ;
    const NAME: &'static str = "nowait eventfd read";

    fn entry(&self, storage: *mut u64) -> squeue::Entry {
        use std::os::fd::AsRawFd;
        opcode::Read::new(types::Fd(self.0.as_raw_fd()), storage.cast(), 8)
            .offset(u64::MAX)
            .rw_flags(RWF_NOWAIT)
            .build()
    }

    fn rearm(&self) -> Option<(Target, PollFlags)> {
        Some((Target::fd(&*self.0), PollFlags::IN))
    }

    fn into_keep(self) -> Option<Arc<dyn std::os::fd::AsFd + Send + Sync>> {
        Some(self.0)
    }

    unsafe fn output(cqe: Cqe, storage: *const u64) -> iofd::Result<u64> {
        match cqe.result()? {
            // SAFETY: the kernel wrote the counter and is done.
            8 => Ok(unsafe { storage.read() }),
            _ => Err(Error::Os(Errno::EIO)),
        }
    }
}

/// The same read without a re-arm recipe: its `-EAGAIN` is reported.
struct NowaitNoRearm(NowaitRead);

// SAFETY: as `NowaitRead`.
unsafe impl Op for NowaitNoRearm {
    type Storage = u64;
    type Output = u64;
    const CODE: Opcode = Opcode::READ;
    const NAME: &'static str = "nowait eventfd read, no re-arm";

    fn entry(&self, storage: *mut u64) -> squeue::Entry {
        self.0.entry(storage)
    }

    fn into_keep(self) -> Option<Arc<dyn std::os::fd::AsFd + Send + Sync>> {
        self.0.into_keep()
    }

    unsafe fn output(cqe: Cqe, storage: *const u64) -> iofd::Result<u64> {
        // SAFETY: forwarded.
        unsafe { NowaitRead::output(cqe, storage) }
    }
}

/// The read again, rebuilt from its target and storage at a re-arm
/// (`Op::REBUILDS`) instead of recorded at the push; with `refuse`, the
/// rebuild declines.
struct NowaitRebuilt<const REFUSE: bool>(NowaitRead);

/// The nowait read's SQE, for `target`.
fn nowait_entry(target: Target, storage: *mut u64) -> Option<squeue::Entry> {
    let Target::Fd(fd) = target else {
        return None;
    };
    let read = opcode::Read::new(types::Fd(fd.as_raw_fd()), storage.cast(), 8)
        .offset(u64::MAX)
        .rw_flags(RWF_NOWAIT);
    Some(read.build())
}

// SAFETY: as `NowaitRead`; the rebuilt SQE is the same read.
unsafe impl<const REFUSE: bool> Op for NowaitRebuilt<REFUSE> {
    type Storage = u64;
    type Output = u64;
    const CODE: Opcode = Opcode::READ;
    const NAME: &'static str = "nowait eventfd read, rebuilt";
    const REBUILDS: bool = true;

    fn entry(&self, storage: *mut u64) -> squeue::Entry {
        self.0.entry(storage)
    }

    fn rearm(&self) -> Option<(Target, PollFlags)> {
        self.0.rearm()
    }

    fn rebuild(target: Target, storage: *mut u64) -> Option<(PollFlags, squeue::Entry)> {
        if REFUSE {
            return None;
        }
        Some((PollFlags::IN, nowait_entry(target, storage)?))
    }

    fn into_keep(self) -> Option<Arc<dyn std::os::fd::AsFd + Send + Sync>> {
        self.0.into_keep()
    }

    unsafe fn output(cqe: Cqe, storage: *const u64) -> iofd::Result<u64> {
        // SAFETY: forwarded.
        unsafe { NowaitRead::output(cqe, storage) }
    }
}

#[test]
fn a_read_that_rebuilds_its_sqe_is_rearmed_from_its_slot() -> iofd::Result<()> {
    let mut ring = Ring::new(8)?;
    let efd = Arc::new(EventFd::new(0)?);
    let mut t = ring.push(NowaitRebuilt::<false>(NowaitRead(efd.clone())))?;
    ring.submit_and_wait(1)?;
    assert!(ring.take(&mut t).is_none(), "EAGAIN must not be delivered");
    efd.signal(4)?;
    assert_eq!(ring.wait(t)?, 4);
    assert_eq!((ring.in_flight(), ring.stale_completions()), (0, 0));
    Ok(())
}

#[test]
fn a_rebuild_that_declines_ends_the_read_with_eio() -> iofd::Result<()> {
    let mut ring = Ring::new(8)?;
    let efd = Arc::new(EventFd::new(0)?);
    let t = ring.push(NowaitRebuilt::<true>(NowaitRead(efd.clone())))?;
    assert_eq!(ring.wait(t), Err(Error::Os(Errno::EIO)));
    assert_eq!(Arc::strong_count(&efd), 1, "the kept handle is let go");
    assert_eq!((ring.in_flight(), ring.stale_completions()), (0, 0));
    Ok(())
}

#[test]
fn without_a_recipe_the_kernel_says_eagain() -> iofd::Result<()> {
    let mut ring = Ring::new(8)?;
    let efd = Arc::new(EventFd::new(0)?);
    let t = ring.push(NowaitNoRearm(NowaitRead(efd)))?;
    assert_eq!(ring.wait(t), Err(Error::WouldBlock));
    Ok(())
}

#[test]
fn an_eagain_read_is_rearmed_and_completes_when_signalled() -> iofd::Result<()> {
    let mut ring = Ring::new(8)?;
    let efd = Arc::new(EventFd::new(0)?);
    let mut t = ring.push(NowaitRead(efd.clone()))?;
    ring.submit_and_wait(1)?; // the -EAGAIN comes back and is re-armed
    assert!(ring.take(&mut t).is_none(), "EAGAIN must not be delivered");
    assert_eq!(ring.in_flight(), 1);
    efd.signal(9)?;
    assert_eq!(ring.wait(t)?, 9);
    assert_eq!(ring.in_flight(), 0);
    assert_eq!(ring.stale_completions(), 0);
    Ok(())
}

#[test]
fn a_rearmed_read_can_be_cancelled() -> iofd::Result<()> {
    let mut ring = Ring::new(8)?;
    let efd = Arc::new(EventFd::new(0)?);
    let t = ring.push(NowaitRead(efd.clone()))?;
    ring.submit_and_wait(1)?; // re-armed behind a poll now
    ring.cancel(t)?;
    // The poll and its linked read are both cancelled; the slot is freed.
    // Ends with the poll's -ECANCELED CQE: the kernel skips the CQE of the
    // read linked behind a failed silent poll.
    while ring.in_flight() > 0 {
        ring.submit_and_wait(1)?;
    }
    assert_eq!(ring.stale_completions(), 0);
    assert_eq!(Arc::strong_count(&efd), 1, "the kept handle was released");
    Ok(())
}

#[test]
fn a_scoped_cancel_before_the_eagain_is_reaped_ends_the_read() -> iofd::Result<()> {
    let mut ring = Ring::new(8)?;
    let efd = Arc::new(EventFd::new(0)?);
    // Were the read re-armed, this would end it with the counter instead.
    let signaller = {
        let efd = Arc::clone(&efd);
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_secs(1));
            efd.signal(5)
        })
    };
    let start = std::time::Instant::now();
    let mut v = 0u64;
    let r = ring.scope(|s| {
        let t = s.push_into(NowaitRead(Arc::clone(&efd)), &mut v)?;
        // The -EAGAIN is now in the completion queue, not yet reaped.
        s.submit()?;
        s.cancel_keep(&t)?;
        s.wait(t)
    });
    assert_eq!(r, Err(Error::Os(Errno::ECANCELED)));
    assert!(start.elapsed() < std::time::Duration::from_millis(500));
    signaller.join().expect("the signaller")?;
    assert_eq!(efd.wait(), Ok(5), "the read never took the counter");
    Ok(())
}

#[test]
fn a_token_dropped_before_a_reap_that_re_arms_is_let_go_once() -> iofd::Result<()> {
    // A 2-entry queue: the re-arm's linked pair must submit to make room,
    // in the middle of the reap pass that holds the dropped token's CQE.
    let mut ring = Ring::new(2)?;
    let efd = Arc::new(EventFd::new(0)?);
    let t1 = ring.push(iofd::ring::ops::Nop::new())?;
    let t2 = ring.push(NowaitRead(Arc::clone(&efd)))?;
    ring.submit()?; // the NOP's result and the read's -EAGAIN, not reaped
    drop(t1);
    let t3 = ring.push(iofd::ring::ops::Nop::new())?;
    ring.reap()?;
    efd.signal(1)?;
    assert_eq!(ring.wait(t3), Ok(()));
    assert_eq!(ring.wait(t2), Ok(1));
    ring.submit()?;
    assert_eq!(ring.in_flight(), 0);
    assert_eq!(ring.stale_completions(), 0);
    Ok(())
}

#[test]
fn a_token_from_another_ring_is_refused() -> iofd::Result<()> {
    let mut a = Ring::new(8)?;
    let mut b = Ring::new(8)?;
    let efd = Arc::new(EventFd::new(5)?);
    let mut t = a.push(efd.read_op_shared())?;
    a.submit_and_wait(1)?;
    let _other = b.push(efd.read_op_shared())?;
    assert_eq!(
        b.take(&mut t),
        Some(Err(Error::InvalidParam(
            "the token belongs to another ring"
        )))
    );
    let t2 = a.push(efd.read_op_shared())?;
    assert_eq!(
        b.cancel(t2),
        Err(Error::InvalidParam("the token belongs to another ring"))
    );
    Ok(())
}

#[test]
fn a_rearm_pair_reaches_the_kernel_in_one_submission() -> iofd::Result<()> {
    // Two submission slots: after the NOP below takes one, a poll + read
    // pair pushed one by one would be split across two submissions (the
    // poll alone, then the read unlinked), so the read could outlive its
    // poll's failure.
    let mut ring = Ring::new(2)?;
    assert_eq!(ring.sq_entries(), 2);
    let efd = Arc::new(EventFd::new(0)?);
    let mut t = ring.push(NowaitRead(efd.clone()))?;
    ring.submit()?; // the read answers -EAGAIN (not reaped yet)
    let nop = ring.push(iofd::ring::ops::Nop::new())?;
    ring.reap()?; // re-arm: the pair must wait for room for both
    assert_eq!(ring.submit()?, 2, "poll and read submitted together");
    ring.wait(nop)?;
    efd.signal(4)?;
    loop {
        if let Some(v) = ring.take(&mut t) {
            assert_eq!(v?, 4);
            break;
        }
        ring.submit_and_wait(1)?;
    }
    assert_eq!(ring.in_flight(), 0);
    Ok(())
}

#[test]
fn a_ring_has_room_for_a_linked_pair() -> iofd::Result<()> {
    assert_eq!(Ring::new(1)?.sq_entries(), 2);
    Ok(())
}

/// An operation whose `entry` panics.
struct Panics;

// SAFETY: it never builds an SQE (it panics first).
unsafe impl Op for Panics {
    type Storage = ();
    type Output = ();
    const CODE: Opcode = Opcode::NOP;
    const NAME: &'static str = "panicking op";

    fn entry(&self, _storage: *mut ()) -> squeue::Entry {
        panic!("entry panicked")
    }

    unsafe fn output(_cqe: Cqe, _storage: *const ()) -> iofd::Result<()> {
        Ok(())
    }
}

#[test]
fn a_panic_while_building_an_sqe_leaves_no_slot_in_flight() -> iofd::Result<()> {
    let mut ring = Ring::new(4)?;
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ring.push(Panics)));
    assert!(r.is_err());
    assert_eq!(ring.in_flight(), 0, "the unsubmitted slot was freed");
    // The ring still works, and dropping it does not wait for a ghost.
    let t = ring.push(iofd::ring::ops::Nop::new())?;
    ring.wait(t)?;
    Ok(())
}

/// A handle whose `Drop` panics.
struct Grenade(EventFd);

impl std::os::fd::AsFd for Grenade {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl Drop for Grenade {
    fn drop(&mut self) {
        panic!("a kept handle's drop panicked");
    }
}

/// A NOP that keeps a `Grenade` open until it completes.
struct KeepsGrenade(Arc<Grenade>);

// SAFETY: a NOP touches no memory and names no descriptor; the kept handle
// is handed over without panicking.
unsafe impl Op for KeepsGrenade {
    type Storage = ();
    type Output = ();
    const CODE: Opcode = Opcode::NOP;
    const NAME: &'static str = "nop keeping a grenade";

    fn entry(&self, _storage: *mut ()) -> squeue::Entry {
        opcode::Nop::new().build()
    }

    fn into_keep(self) -> Option<Arc<dyn std::os::fd::AsFd + Send + Sync>> {
        Some(self.0)
    }

    unsafe fn output(cqe: Cqe, _storage: *const ()) -> iofd::Result<()> {
        assert!(cqe.res >= 0);
        Ok(())
    }
}

#[test]
fn a_kept_handle_whose_drop_panics_loses_no_completion() -> iofd::Result<()> {
    use iofd::ring::ops::Nop;
    let mut ring = Ring::new(8)?;
    let before = ring.push(Nop::new())?;
    let grenade = ring.push(KeepsGrenade(Arc::new(Grenade(EventFd::new(0)?))))?;
    let after = ring.push(Nop::new())?;
    // The slot holds the last reference: it is dropped when the NOP
    // completes, in the middle of the pass that also completes the others.
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ring.submit_and_wait(3)));
    let payload = r.expect_err("the panic reaches the caller");
    assert_eq!(
        payload.downcast_ref::<&str>(),
        Some(&"a kept handle's drop panicked")
    );
    // Every completion of the pass was recorded before the panic went on.
    assert_eq!(ring.in_flight(), 0);
    ring.wait(before)?;
    ring.wait(grenade)?;
    ring.wait(after)?;
    Ok(())
}

#[test]
fn a_kept_handle_panicking_while_the_ring_drops_still_drains_first() -> iofd::Result<()> {
    let mut ring = Ring::new(8)?;
    let efd = EventFd::new(0)?;
    let armed = Arc::new(EventFd::new(0)?);
    let _read = ring.push(armed.read_op_shared())?;
    let _grenade = ring.push(KeepsGrenade(Arc::new(Grenade(efd))))?;
    ring.submit()?;
    // Dropping the ring cancels the armed read and reaps both; the panic
    // comes after that, with nothing left in flight.
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(ring)));
    assert!(r.is_err());
    assert_eq!(
        Arc::strong_count(&armed),
        1,
        "the read's handle was released"
    );
    Ok(())
}

#[test]
fn a_kept_handles_panic_never_cuts_short_a_push_that_reaps() -> iofd::Result<()> {
    use iofd::ring::ops::{LinkTimeoutResult, Nop, Timeout};
    use std::time::Duration;
    // Three slots: a detached NOP keeping a grenade (its CQE waits in the
    // queue, unreaped), a NOP, and the read below; its link timeout needs a
    // fourth, so the push reaps, which frees the detached slot and drops
    // the grenade while the read's slot is claimed but not yet queued.
    let mut ring = Ring::builder(8).max_capacity(3).build()?;
    let grenade = ring.push(KeepsGrenade(Arc::new(Grenade(EventFd::new(0)?))))?;
    ring.submit()?;
    ring.detach(grenade)?;
    let nop = ring.push(Nop::new())?;
    let efd = Arc::new(EventFd::new(0)?);
    let (read, deadline) = ring.push_with_timeout(
        efd.read_op_shared(),
        Timeout::after(Duration::from_millis(1)),
    )?;
    // The panic was held for the next top-level reap.
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ring.reap()));
    let payload = r.expect_err("the held panic reaches the caller");
    assert_eq!(
        payload.downcast_ref::<&str>(),
        Some(&"a kept handle's drop panicked")
    );
    // Every operation the push queued ends, and the ring drains.
    ring.wait(nop)?;
    assert_eq!(ring.wait(deadline)?, LinkTimeoutResult::Expired);
    assert!(matches!(ring.wait(read), Err(Error::Os(Errno::ECANCELED))));
    assert_eq!(ring.in_flight(), 0);
    drop(ring);
    assert_eq!(Arc::strong_count(&efd), 1);
    Ok(())
}
