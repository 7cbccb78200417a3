//! A ring whose submission queue a kernel thread polls (SQPOLL): the same
//! behaviour as a plain ring — results, multishot streams, cancels, full
//! queues, overflow, scopes, drop — checked on both, and the poller's own
//! behaviour: no syscall to submit while it is awake, a wake-up once it
//! went idle.

use std::sync::Arc;
use std::time::{Duration, Instant};

use iofd::ring::ops::{LinkTimeoutResult, Nop, PollFlags, PollMultishot, Timeout, TimeoutResult};
use iofd::ring::{Ring, RingBuilder};
use iofd::sys::Errno;
use iofd::{Error, EventFd};

/// The rings each check runs on: plain, and SQPOLL in its variants.
fn builders(entries: u32) -> Vec<(&'static str, RingBuilder)> {
    let idle = Duration::from_millis(20);
    vec![
        ("plain", Ring::builder(entries)),
        ("sqpoll", Ring::builder(entries).sqpoll(idle)),
        (
            "sqpoll+registered",
            Ring::builder(entries).sqpoll(idle).register_ring_fd(true),
        ),
        (
            "sqpoll+single-issuer",
            Ring::builder(entries).sqpoll(idle).single_issuer(true),
        ),
    ]
}

/// Runs `check` on a ring of each kind, naming the kind when it fails.
fn on_each(entries: u32, check: impl Fn(&mut Ring)) {
    for (name, b) in builders(entries) {
        let mut ring = b.build().unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(ring.is_sqpoll(), name != "plain");
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&mut ring)));
        if let Err(p) = r {
            eprintln!("failed on the {name} ring");
            std::panic::resume_unwind(p);
        }
    }
}

#[test]
fn results_arrive_by_token_and_by_tag() {
    on_each(16, |ring| {
        let efds: Vec<_> = (0..4).map(|_| Arc::new(EventFd::new(0).unwrap())).collect();
        let reads: Vec<_> = efds
            .iter()
            .enumerate()
            .map(|(i, e)| ring.push_tagged(e.read_op_shared(), i as u64).unwrap())
            .collect();
        ring.submit().unwrap();
        for (i, e) in efds.iter().enumerate() {
            e.signal(i as u64 + 10).unwrap();
        }
        let mut seen = [false; 4];
        let deadline = Instant::now() + Duration::from_secs(10);
        while seen.iter().any(|s| !s) {
            assert!(Instant::now() < deadline);
            ring.submit_and_wait(1).unwrap();
            while let Some(c) = ring.next_completion() {
                seen[c.tag as usize] = true;
            }
        }
        for (i, t) in reads.into_iter().enumerate() {
            assert_eq!(ring.wait(t), Ok(i as u64 + 10));
        }
    });
}

#[test]
fn a_multishot_stream_delivers_in_order_and_ends_on_cancel() {
    on_each(8, |ring| {
        let mut every = ring.push(Timeout::every(Duration::from_millis(1))).unwrap();
        let mut fired = 0;
        while fired < 5 {
            ring.submit_and_wait(1).unwrap();
            while let Some(r) = ring.take(&mut every) {
                assert_eq!(r, Ok(TimeoutResult::Fired));
                fired += 1;
            }
        }
        ring.cancel_keep(&every).unwrap();
        ring.wait_idle().unwrap();
        let mut last = None;
        while let Some(r) = ring.take(&mut every) {
            last = Some(r);
        }
        assert_eq!(last, Some(Ok(TimeoutResult::Cancelled)));
        assert!(every.is_done());

        let bell = Arc::new(EventFd::new(0).unwrap());
        let mut polls = ring
            .push(PollMultishot::new(Arc::clone(&bell), PollFlags::IN))
            .unwrap();
        ring.submit().unwrap();
        bell.signal(1).unwrap();
        ring.submit_and_wait(1).unwrap();
        let events = ring.take(&mut polls).expect("a readiness").unwrap();
        assert!(events.contains(PollFlags::IN));
        ring.cancel_keep(&polls).unwrap();
        ring.wait_idle().unwrap();
        let mut last = None;
        while let Some(r) = ring.take(&mut polls) {
            last = Some(r);
        }
        assert_eq!(last, Some(Err(Error::Os(Errno::ECANCELED))));
    });
}

#[test]
fn a_cancelled_read_ends_cancelled() {
    on_each(8, |ring| {
        let efd = Arc::new(EventFd::new(0).unwrap());
        let read = ring.push(efd.read_op_shared()).unwrap();
        ring.submit().unwrap();
        ring.cancel_keep(&read).unwrap();
        assert_eq!(ring.wait(read), Err(Error::Os(Errno::ECANCELED)));
        assert_eq!(ring.in_flight(), 0);
    });
}

#[test]
fn a_deadline_linked_to_a_read_cancels_it() {
    // The read and its link timeout are published together: a poller
    // never sees the read without its deadline.
    on_each(8, |ring| {
        for _ in 0..20 {
            let efd = Arc::new(EventFd::new(0).unwrap());
            let (read, deadline) = ring
                .push_with_timeout(
                    efd.read_op_shared(),
                    Timeout::after(Duration::from_millis(2)),
                )
                .unwrap();
            assert_eq!(ring.wait(read), Err(Error::Os(Errno::ECANCELED)));
            assert_eq!(ring.wait(deadline), Ok(LinkTimeoutResult::Expired));
        }
    });
}

#[test]
fn a_full_queue_is_submitted_and_refilled() {
    // 1000 NOPs through a 4-entry queue, unsubmitted between pushes: on
    // an SQPOLL ring each full queue waits for the poller to take some.
    on_each(4, |ring| {
        let tokens: Vec<_> = (0..1000).map(|_| ring.push(Nop::new()).unwrap()).collect();
        for t in tokens {
            assert_eq!(ring.wait(t), Ok(()));
        }
    });
}

#[test]
fn overflowed_completions_are_flushed() {
    // 200 completions into an 8-entry completion queue.
    for (name, b) in builders(8) {
        let mut ring = b.cq_entries(8).build().unwrap();
        let tokens: Vec<_> = (0..200).map(|_| ring.push(Nop::new()).unwrap()).collect();
        ring.submit().unwrap();
        for t in tokens {
            assert_eq!(ring.wait(t), Ok(()), "{name}");
        }
        assert_eq!(ring.in_flight(), 0, "{name}");
    }
}

#[test]
fn a_scope_reaps_what_it_started() {
    on_each(8, |ring| {
        let efds = [EventFd::new(0).unwrap(), EventFd::new(0).unwrap()];
        efds[0].signal(3).unwrap();
        efds[1].signal(4).unwrap();
        let mut values = [0u64; 2];
        ring.scope(|s| {
            for (e, v) in efds.iter().zip(values.iter_mut()) {
                let _ = s.push_into(e.read_op(), v)?;
            }
            s.submit_and_wait_all()
        })
        .unwrap();
        assert_eq!(values, [3, 4]);
        // Left early: the scope cancels its armed read before `idle` is
        // freed.
        let idle = EventFd::new(0).unwrap();
        let mut out = 0u64;
        let r: iofd::Result<()> = ring.scope(|s| {
            let _ = s.push_into(idle.read_op(), &mut out)?;
            s.submit()?;
            Err(Error::WouldBlock)
        });
        assert_eq!(r, Err(Error::WouldBlock));
        assert_eq!(ring.in_flight(), 0);
    });
}

#[test]
fn dropping_a_ring_with_reads_in_flight_drains_it() {
    for (name, b) in builders(64) {
        let mut ring = b.build().unwrap();
        let efd = Arc::new(EventFd::new(0).unwrap());
        let tokens: Vec<_> = (0..500)
            .map(|_| ring.push(efd.read_op_shared()).unwrap())
            .collect();
        ring.submit().unwrap();
        let start = Instant::now();
        drop(tokens);
        drop(ring);
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{name}: drop took {:?}",
            start.elapsed()
        );
        assert_eq!(
            Arc::strong_count(&efd),
            1,
            "{name}: every kept handle let go"
        );
    }
}

#[test]
fn submit_counts_what_it_hands_to_the_poller() {
    let mut ring = Ring::builder(8)
        .sqpoll(Duration::from_secs(5))
        .build()
        .unwrap();
    let tokens: Vec<_> = (0..3).map(|_| ring.push(Nop::new()).unwrap()).collect();
    assert_eq!(ring.submit(), Ok(3));
    assert_eq!(ring.submit(), Ok(0), "nothing new");
    for t in tokens {
        assert_eq!(ring.wait(t), Ok(()));
    }
    // The poller is awake (its idle time is 5 s): submitting makes no
    // syscall.
    let nop = ring.push(Nop::new()).unwrap();
    let enters = ring.enters();
    assert_eq!(ring.submit(), Ok(1));
    assert_eq!(
        ring.enters(),
        enters,
        "no io_uring_enter while the poller is awake"
    );
    assert_eq!(ring.wait(nop), Ok(()));
}

#[test]
fn a_ring_whose_poller_went_idle_still_submits() {
    for registered in [false, true] {
        let mut ring = Ring::builder(8)
            .sqpoll(Duration::from_millis(10))
            .register_ring_fd(registered)
            .build()
            .unwrap();
        for round in 0..3 {
            // Well past the idle time: the poller sleeps.
            std::thread::sleep(Duration::from_millis(300));
            let efd = EventFd::new(0).unwrap();
            efd.signal(round + 1).unwrap();
            let mut value = 0;
            let enters = ring.enters();
            ring.scope(|s| {
                let _ = s.push_into(efd.read_op(), &mut value)?;
                s.submit_and_wait_all()
            })
            .unwrap();
            assert_eq!(value, round + 1);
            assert!(ring.enters() > enters, "the sleeping poller was woken");
            std::thread::sleep(Duration::from_millis(300));
            let nop = ring.push(Nop::new()).unwrap();
            let enters = ring.enters();
            assert_eq!(ring.submit(), Ok(1));
            assert_eq!(ring.enters(), enters + 1, "one enter, to wake the poller");
            assert_eq!(ring.wait(nop), Ok(()));
        }
    }
}

#[test]
fn a_single_issuer_sqpoll_ring_dropped_on_another_thread_is_drained_there() {
    let efd = Arc::new(EventFd::new(0).unwrap());
    let (to_builder, builder_waits) = std::sync::mpsc::channel::<()>();
    let (ring_tx, ring_rx) = std::sync::mpsc::channel();
    let shared = Arc::clone(&efd);
    let builder = std::thread::spawn(move || {
        let mut ring = Ring::builder(16)
            .sqpoll(Duration::from_millis(20))
            .single_issuer(true)
            .build()
            .unwrap();
        let tokens: Vec<_> = (0..10)
            .map(|_| ring.push(shared.read_op_shared()).unwrap())
            .collect();
        ring.submit().unwrap();
        drop((tokens, shared));
        ring_tx.send(ring).unwrap();
        // Alive, and never building or dropping a ring again until told.
        builder_waits.recv().unwrap();
    });
    let ring = ring_rx.recv().unwrap();
    drop(ring);
    // Drained here: every read cancelled and its kept handle let go,
    // with the issuing thread still alive and idle.
    assert_eq!(Arc::strong_count(&efd), 1);
    efd.signal(7).unwrap();
    assert_eq!(efd.wait(), Ok(7), "no read was left to take the counter");
    to_builder.send(()).unwrap();
    builder.join().unwrap();
}
