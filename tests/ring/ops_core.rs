//! The ring's own operations and what it learns of the kernel: NOPs and
//! cancels, the opcode probe and an operation the kernel lacks, the
//! features the driver relies on, and deferred task running.

use std::sync::Arc;
use std::time::{Duration, Instant};

use iofd::ring::ops::{Cancel, Nop, Timeout};
use iofd::ring::{Cqe, Op, Opcode, Ring, UserData};
use iofd::sys::Errno;
use iofd::sys::uring::Features;
use iofd::{Error, EventFd, MemFd, Signal, TimerFd};

use super::ops::{child, reap, settle};

// ---- Nop and Cancel ---------------------------------------------------

#[test]
fn nop_completes() {
    let mut ring = Ring::new(8).unwrap();
    let token = ring.push(Nop::new()).unwrap();
    assert_eq!(ring.wait(token), Ok(()));
    let r = ring.scope(|s| {
        let t = s.push(Nop::default())?;
        s.wait(t)
    });
    assert_eq!(r, Ok(()));
    assert_eq!(ring.in_flight(), 0);
}

#[test]
fn cancel_op_finds_an_armed_poll_and_reports_enoent_otherwise() {
    let mut ring = Ring::new(8).unwrap();
    let p = child("sleep", &["30"]);
    let (target, cancel) = ring
        .scope(|s| {
            let t = s.push(p.exit_op())?;
            s.submit()?;
            let c = s.push(Cancel::new(t.user_data()))?;
            let cancel = s.wait(c);
            Ok::<_, Error>((s.wait(t), cancel))
        })
        .unwrap();
    assert_eq!(cancel, Ok(()));
    assert_eq!(target, Err(Error::Os(Errno::ECANCELED)));
    p.send_signal(Signal::KILL).unwrap();
    reap(&p);

    // Nothing carries this tag.
    let nobody = UserData::from_raw(0x7777_0000_0001);
    let r = ring.scope(|s| {
        let c = s.push(Cancel::new(nobody))?;
        s.wait(c)
    });
    assert_eq!(r, Err(Error::Os(Errno::ENOENT)));
    assert_eq!(ring.in_flight(), 0);
}

#[test]
fn ring_cancel_of_an_armed_read_frees_its_slot_after_the_cqe() {
    let mut ring = Ring::new(8).unwrap();
    let efd = Arc::new(EventFd::new(0).unwrap());
    let token = ring.push(efd.read_op_shared()).unwrap();
    ring.submit().unwrap();
    ring.reap().unwrap();
    ring.submit().unwrap();
    assert_eq!(ring.in_flight(), 1);
    ring.cancel(token).unwrap();
    settle(&mut ring);
    assert_eq!(ring.in_flight(), 0);
    assert_eq!(Arc::strong_count(&efd), 1, "the slot let go of the handle");
    // The counter was never read by the cancelled operation.
    efd.signal(2).unwrap();
    assert_eq!(efd.wait(), Ok(2));
    assert_eq!(ring.stale_completions(), 0);

    // A cancelled operation that had already completed frees at once.
    let token = ring.push(Nop::new()).unwrap();
    ring.submit_and_wait(1).unwrap();
    ring.cancel(token).unwrap();
    assert_eq!(ring.in_flight(), 0);
    crate::assert_every_slot_free(&mut ring);
}

#[test]
fn ring_cancel_of_an_armed_pidfd_poll() {
    let mut ring = Ring::new(8).unwrap();
    let p = Arc::new(child("sleep", &["30"]));
    let token = ring.push(p.exit_op_shared()).unwrap();
    ring.submit().unwrap();
    ring.cancel(token).unwrap();
    settle(&mut ring);
    assert_eq!(Arc::strong_count(&p), 1);
    p.send_signal(Signal::KILL).unwrap();
    reap(&p);
}

#[test]
fn opcode_probe() {
    let ring = Ring::new(8).unwrap();
    assert!(ring.is_supported(Opcode::NOP));
    assert!(ring.is_supported(Opcode::READ));
    assert!(ring.is_supported(Opcode::new(io_uring::opcode::Read::CODE)));
    assert!(!ring.is_supported(Opcode::new(255)));
}

/// An operation whose opcode no kernel has (255), to be refused by the
/// probe.
struct Unknown;

// SAFETY: the probe refuses it before submission; were its SQE ever
// submitted, it is a NOP, which touches no memory and no descriptor.
unsafe impl Op for Unknown {
    type Storage = u64;
    type Output = ();
    const CODE: Opcode = Opcode::new(255);
    const NAME: &'static str = "unknown (opcode 255)";

    fn entry(&self, _storage: *mut u64) -> io_uring::squeue::Entry {
        io_uring::opcode::Nop::new().build()
    }

    unsafe fn output(_cqe: Cqe, _storage: *const u64) -> iofd::Result<()> {
        Ok(())
    }
}

#[test]
fn an_op_the_kernel_lacks_is_refused_by_name_and_nothing_is_queued() {
    let refused =
        |r: iofd::Result<()>| matches!(r, Err(Error::Unsupported("unknown (opcode 255)")));
    let mut ring = Ring::new(8).unwrap();
    assert!(refused(ring.push(Unknown).map(drop)));
    let deadline = Timeout::after(Duration::from_secs(1));
    assert!(refused(ring.push_with_timeout(Unknown, deadline).map(drop)));
    let mut out = 0u64;
    let mut other = 0u64;
    ring.scope(|s| {
        assert!(refused(s.push_into(Unknown, &mut out).map(drop)));
        assert!(refused(s.push(Unknown).map(drop)));
        assert!(refused(
            s.push_into_with_timeout(Unknown, &mut other, deadline)
                .map(drop)
        ));
        Ok::<(), Error>(())
    })
    .unwrap();
    // No slot was kept and no SQE queued.
    assert_eq!(ring.in_flight(), 0);
    assert_eq!(ring.submit().unwrap(), 0);
    // The ring works on.
    let nop = ring.push(Nop::new()).unwrap();
    ring.wait(nop).unwrap();
}

#[test]
fn the_features_the_driver_relies_on_are_reported() {
    let ring = Ring::new(8).unwrap();
    assert!(
        ring.features()
            .contains(Features::NODROP | Features::CQE_SKIP)
    );
}

// ---- Deferred task running --------------------------------------------

/// A ring with `IORING_SETUP_DEFER_TASKRUN`, or `None` (with a note) when
/// the kernel lacks it.
fn defer_taskrun_ring(entries: u32) -> Option<Ring> {
    match Ring::builder(entries).defer_taskrun(true).build() {
        Ok(ring) => Some(ring),
        Err(e) => {
            eprintln!("skipped: DEFER_TASKRUN unavailable ({e})");
            None
        }
    }
}

#[test]
fn defer_taskrun_reap_runs_the_deferred_completion_of_an_armed_read() {
    let Some(mut ring) = defer_taskrun_ring(8) else {
        return;
    };
    let efd = Arc::new(EventFd::new(0).unwrap());
    let mut token = ring.push(efd.read_op_shared()).unwrap();
    ring.submit().unwrap();
    ring.reap().unwrap();
    assert!(ring.take(&mut token).is_none());
    efd.signal(5).unwrap();
    // The completion is deferred work now: `reap` alone must run it.
    let deadline = Instant::now() + Duration::from_secs(5);
    let got = loop {
        ring.reap().unwrap();
        if let Some(r) = ring.take(&mut token) {
            break r;
        }
        assert!(
            Instant::now() < deadline,
            "reap never ran the deferred completion"
        );
        std::thread::sleep(Duration::from_millis(1));
    };
    assert_eq!(got, Ok(5));
    assert_eq!(ring.in_flight(), 0);
}

#[test]
fn defer_taskrun_every_operation_kind() {
    let Some(mut ring) = defer_taskrun_ring(8) else {
        return;
    };
    let efd = EventFd::new(0).unwrap();
    let timer = TimerFd::new().unwrap();
    let mem = MemFd::new("defer").unwrap();
    let mut msg = *b"deferred";
    let mut back = [0u8; 8];
    timer.arm(Duration::from_millis(2), Duration::ZERO).unwrap();
    let r = ring.scope(|s| {
        let e = s.push(efd.read_op())?;
        let t = s.push(timer.expirations_op())?;
        let w = s.push_into(mem.write_at_op(3), &mut msg)?;
        let n = s.push(Nop::new())?;
        s.submit()?;
        efd.signal(2)?;
        let w = s.wait(w)?;
        let rd = s.push_into(mem.read_at_op(3), &mut back)?;
        Ok::<_, Error>((s.wait(e)?, s.wait(t)?, w, s.wait(n)?, s.wait(rd)?))
    });
    assert_eq!(r, Ok((2, 1, 8, (), 8)));
    assert_eq!(&back, b"deferred");
}
