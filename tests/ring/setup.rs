//! Setup options: a ring built disabled and enabled, SUBMIT_ALL, CLAMP,
//! and the exact errors of options that are out of range or cannot go
//! together.

use std::sync::Arc;
use std::time::Duration;

use iofd::ring::io_uring::opcode;
use iofd::ring::ops::Nop;
use iofd::ring::{Ring, RingBuilder};
use iofd::sys::Errno;
use iofd::{Error, EventFd};

/// The error of `build`, which must fail.
fn build_error(b: RingBuilder) -> Error {
    b.build().expect_err("the builder must refuse")
}

/// A ring's options, fixed at compile time: the setters are `const`.
const SMALL: RingBuilder = Ring::builder(4)
    .cq_entries(16)
    .capacity(256)
    .max_capacity(1024)
    .clamp(true);

#[test]
fn a_builder_made_in_a_const_builds_the_ring_it_names() {
    let ring = SMALL.build().unwrap();
    assert_eq!(ring.sq_entries(), 4);
    assert_eq!(ring.cq_entries(), 16);
    assert_eq!(ring.capacity(), 256);
    assert_eq!(ring.max_capacity(), 1024);
}

#[test]
fn a_disabled_ring_refuses_pushes_submits_and_waits_until_enabled() {
    let mut ring = Ring::builder(8).r_disabled(true).build().unwrap();
    assert!(!ring.is_enabled());
    assert_eq!(ring.push(Nop::new()).err(), Some(Error::RingDisabled));
    assert_eq!(ring.in_flight(), 0, "nothing queued, no slot kept");
    assert_eq!(ring.submit(), Err(Error::RingDisabled));
    assert_eq!(ring.submit_and_wait(1), Err(Error::RingDisabled));
    let scoped = ring.scope(|s| s.push(Nop::new()).map(drop));
    assert_eq!(scoped, Err(Error::RingDisabled));
    assert_eq!(Error::RingDisabled.errno(), Some(Errno::EBADFD));
    // Registering is what a disabled ring is for.
    let efd = EventFd::new(0).unwrap();
    ring.register_files(&[std::os::fd::AsFd::as_fd(&efd)])
        .unwrap();
    ring.enable().unwrap();
    assert!(ring.is_enabled());
    let nop = ring.push(Nop::new()).unwrap();
    assert_eq!(ring.wait(nop), Ok(()));
    assert_eq!(
        ring.enable(),
        Err(Error::InvalidParam(
            "the ring is enabled already (built without r_disabled, or enable called before)"
        ))
    );
}

#[test]
fn enabling_a_ring_built_enabled_is_refused() {
    let mut ring = Ring::new(4).unwrap();
    assert!(ring.is_enabled());
    assert_eq!(
        ring.enable(),
        Err(Error::InvalidParam(
            "the ring is enabled already (built without r_disabled, or enable called before)"
        ))
    );
}

#[test]
fn a_disabled_single_issuer_ring_is_enabled_only_by_its_thread() {
    let ring = Ring::builder(4)
        .single_issuer(true)
        .r_disabled(true)
        .build()
        .unwrap();
    let mut ring = std::thread::spawn(move || {
        let mut ring = ring;
        assert_eq!(
            ring.enable(),
            Err(Error::InvalidParam(
                "a single-issuer ring takes submissions only from the thread that built it"
            ))
        );
        ring
    })
    .join()
    .unwrap();
    assert!(!ring.is_enabled());
    ring.enable().unwrap();
    let nop = ring.push(Nop::new()).unwrap();
    assert_eq!(ring.wait(nop), Ok(()));
}

#[test]
fn a_disabled_sqpoll_ring_polls_once_enabled() {
    let mut ring = Ring::builder(8)
        .sqpoll(Duration::from_millis(20))
        .r_disabled(true)
        .build()
        .unwrap();
    assert_eq!(ring.push(Nop::new()).err(), Some(Error::RingDisabled));
    assert_eq!(ring.submit_and_wait(1), Err(Error::RingDisabled));
    ring.enable().unwrap();
    let efd = Arc::new(EventFd::new(0).unwrap());
    let read = ring.push(efd.read_op_shared()).unwrap();
    ring.submit().unwrap();
    efd.signal(5).unwrap();
    assert_eq!(ring.wait(read), Ok(5));
}

/// Three NOPs, the middle one failing before it is issued (a personality
/// nobody registered): returns what `submit` counted, and the CQEs one
/// reap finds right after.
fn submit_past_a_failing_sqe(submit_all: bool) -> (usize, usize) {
    let mut ring = Ring::builder(8).submit_all(submit_all).build().unwrap();
    let first = ring.push(Nop::new()).unwrap();
    let bad = opcode::Nop::new().build().personality(0xfff0);
    // SAFETY: a NOP touches no memory and no descriptor.
    let mut bad = unsafe { ring.push_raw_tagged(&bad, 7) }.unwrap();
    let last = ring.push(Nop::new()).unwrap();
    let submitted = ring.submit().unwrap();
    let reaped = ring.reap().unwrap();
    let cqe = ring
        .take(&mut bad)
        .expect("the failing SQE completed")
        .unwrap();
    assert_eq!(cqe.result(), Err(Error::InvalidParam(Error::KERNEL_EINVAL)));
    assert_eq!(ring.wait(first), Ok(()));
    // Without SUBMIT_ALL it is submitted by the next enter.
    assert_eq!(ring.wait(last), Ok(()));
    (submitted, reaped)
}

#[test]
fn submit_all_goes_past_a_failing_sqe() {
    assert_eq!(submit_past_a_failing_sqe(false), (2, 2));
    assert_eq!(submit_past_a_failing_sqe(true), (3, 3));
}

#[test]
fn clamp_clamps_oversized_queues_instead_of_refusing_them() {
    let ring = Ring::builder(65_536)
        .cq_entries(1 << 20)
        .capacity(64)
        .clamp(true)
        .build()
        .unwrap();
    assert_eq!((ring.sq_entries(), ring.cq_entries()), (32_768, 65_536));
    let too_big = "ring entries beyond the kernel's maximum (32768 submission, 65536 completion): set clamp to have them clamped";
    assert_eq!(
        build_error(Ring::builder(65_536).capacity(64)),
        Error::InvalidParam(too_big)
    );
    assert_eq!(
        build_error(Ring::builder(8).cq_entries(1 << 20).capacity(64)),
        Error::InvalidParam(too_big)
    );
}

#[test]
fn a_completion_queue_smaller_than_the_submission_queue_is_refused_by_name() {
    let small = "cq_entries must be at least the submission queue's size (the ring's entries, at least 2, rounded up to a power of two)";
    assert_eq!(
        build_error(Ring::builder(64).cq_entries(32)),
        Error::InvalidParam(small)
    );
    // A ring has two entries at least: one completion entry is too few.
    assert_eq!(
        build_error(Ring::builder(1).cq_entries(1)),
        Error::InvalidParam(small)
    );
    // Both are rounded up to powers of two first: 33 is 64 then.
    let ring = Ring::builder(64).cq_entries(33).build().unwrap();
    assert_eq!((ring.sq_entries(), ring.cq_entries()), (64, 64));
    // And clamped first, when asked: 65,536 entries are 32,768.
    let ring = Ring::builder(65_536)
        .cq_entries(32_768)
        .capacity(64)
        .clamp(true)
        .build()
        .unwrap();
    assert_eq!((ring.sq_entries(), ring.cq_entries()), (32_768, 32_768));
}

#[test]
fn sqpoll_options_out_of_range_are_refused_by_name() {
    assert_eq!(
        build_error(Ring::builder(8).sqpoll(Duration::ZERO)),
        Error::InvalidParam("the SQPOLL idle time must be at least 1 ms")
    );
    assert_eq!(
        build_error(Ring::builder(8).sqpoll(Duration::from_millis(u64::from(u32::MAX) + 1))),
        Error::InvalidParam("the SQPOLL idle time must be at most 2^32 - 1 ms (about 49 days)")
    );
    assert_eq!(
        build_error(Ring::builder(8).sqpoll_cpu(0)),
        Error::InvalidParam("sqpoll_cpu pins the SQPOLL thread: it needs sqpoll")
    );
    assert_eq!(
        build_error(
            Ring::builder(8)
                .sqpoll(Duration::from_millis(10))
                .sqpoll_cpu(100_000)
        ),
        Error::InvalidParam("the SQPOLL CPU is not online, or not one this thread may run on")
    );
    assert_eq!(
        build_error(
            Ring::builder(8)
                .sqpoll(Duration::from_millis(10))
                .defer_taskrun(true)
        ),
        Error::InvalidParam(
            "SQPOLL cannot be combined with DEFER_TASKRUN (the kernel refuses it: the poller runs the completion work)"
        )
    );
    assert_eq!(
        build_error(
            Ring::builder(8)
                .sqpoll(Duration::from_millis(10))
                .coop_taskrun(true)
        ),
        Error::InvalidParam(
            "SQPOLL cannot be combined with COOP_TASKRUN (the kernel refuses it: the poller runs the completion work)"
        )
    );
}

#[test]
fn a_sub_millisecond_idle_time_is_rounded_up_and_a_pinned_poller_works() {
    let mut ring = Ring::builder(8)
        .sqpoll(Duration::from_nanos(1))
        .sqpoll_cpu(0)
        .build()
        .unwrap();
    assert!(ring.is_sqpoll());
    let nop = ring.push(Nop::new()).unwrap();
    assert_eq!(ring.wait(nop), Ok(()));
}
