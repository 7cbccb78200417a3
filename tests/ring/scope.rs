//! Scopes: caller-owned storage, tokens, and cleanup on every way out
//! (normal return, `?`, panic).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use iofd::ring::Ring;
use iofd::ring::ops::Nop;
use iofd::sys::Errno;
use iofd::{Error, EventFd, MemFd};

#[test]
fn a_panic_inside_a_scope_leaves_nothing_in_flight() {
    let mut ring = Ring::new(8).unwrap();
    let efd = EventFd::new(0).unwrap();
    let mut values = [7u64; 4];
    let r = catch_unwind(AssertUnwindSafe(|| {
        ring.scope(|s| {
            for v in values.iter_mut() {
                let _ = s.push_into(efd.read_op(), v).unwrap();
            }
            s.submit().unwrap();
            assert_eq!(s.in_flight(), 4);
            panic!("inside the scope");
        })
    }));
    assert!(r.is_err());
    assert_eq!(ring.in_flight(), 0);
    // The storage is intact (the cancelled reads wrote nothing) and usable.
    assert_eq!(values, [7; 4]);
    values[0] = 1;
    // The counter was never taken by the cancelled reads.
    efd.signal(5).unwrap();
    let got = ring
        .scope(|s| {
            let t = s.push_into(efd.read_op(), &mut values[1])?;
            s.wait(t)
        })
        .unwrap();
    assert_eq!(got, 5);
    assert_eq!(values, [1, 5, 7, 7]);
    assert_eq!(ring.stale_completions(), 0);
}

#[test]
fn a_panic_before_submission_also_cleans_up() {
    let mut ring = Ring::new(8).unwrap();
    let efd = EventFd::new(0).unwrap();
    let mut v = 0u64;
    let r = catch_unwind(AssertUnwindSafe(|| {
        ring.scope(|s| {
            // Queued but never submitted by the closure.
            let _ = s.push_into(efd.read_op(), &mut v).unwrap();
            let _ = s.push(Nop::new()).unwrap();
            panic!("before submit");
        })
    }));
    assert!(r.is_err());
    assert_eq!(ring.in_flight(), 0);
    assert_eq!(v, 0);
    crate::assert_every_slot_free(&mut ring);
}

#[test]
fn an_early_return_by_question_mark_cancels() {
    let mut ring = Ring::new(8).unwrap();
    let never = EventFd::new(0).unwrap();
    let mut v = 9u64;
    let r: Result<(), Error> = ring.scope(|s| {
        let _ = s.push_into(never.read_op(), &mut v)?;
        s.submit()?;
        assert_eq!(s.in_flight(), 1);
        Err(Error::Os(Errno::ETIMEDOUT))?;
        unreachable!("returned above")
    });
    assert_eq!(r, Err(Error::Os(Errno::ETIMEDOUT)));
    assert_eq!(ring.in_flight(), 0);
    assert_eq!(v, 9);
    never.signal(1).unwrap();
    assert_eq!(never.wait(), Ok(1), "the cancelled read took nothing");
}

#[test]
fn a_scope_returning_normally_cancels_what_it_left_in_flight() {
    let mut ring = Ring::new(8).unwrap();
    let never = EventFd::new(0).unwrap();
    let ready = EventFd::new(3).unwrap();
    let mut a = 0u64;
    let mut b = 0u64;
    let got = ring.scope(|s| {
        let _left = s.push_into(never.read_op(), &mut a).unwrap();
        let t = s.push_into(ready.read_op(), &mut b).unwrap();
        s.wait(t).unwrap()
    });
    assert_eq!(got, 3);
    assert_eq!((a, b), (0, 3));
    assert_eq!(ring.in_flight(), 0);
}

#[test]
fn scoped_tokens_take_once_and_wait_consumes() {
    let mut ring = Ring::new(8).unwrap();
    let efd = EventFd::new(0).unwrap();
    let ready = EventFd::new(4).unwrap();
    let mut v = 0u64;
    ring.scope(|s| {
        let mut t = s.push_into(efd.read_op(), &mut v)?;
        let mut r = s.push(ready.read_op())?;
        assert_ne!(t.user_data(), r.user_data());
        assert!(!t.is_done());
        assert!(s.take(&mut t).is_none(), "not submitted yet");
        s.submit_and_wait(1)?;
        assert_eq!(s.take(&mut r), Some(Ok(4)));
        assert!(r.is_done());
        assert_eq!(s.take(&mut r), None, "a result is taken once");
        assert_eq!(
            s.wait(r),
            Err(Error::InvalidParam(
                "the token is spent: its operation ended and its final result was taken"
            ))
        );
        assert!(s.take(&mut t).is_none());
        efd.signal(8)?;
        assert_eq!(s.wait(t), Ok(8));
        Ok::<_, Error>(())
    })
    .unwrap();
    assert_eq!(v, 8);
}

#[test]
fn scope_cancel_delivers_ecanceled_to_the_token() {
    let mut ring = Ring::new(8).unwrap();
    let efd = EventFd::new(0).unwrap();
    let mut v = 1u64;
    let r = ring.scope(|s| {
        let t = s.push_into(efd.read_op(), &mut v)?;
        s.submit()?;
        s.cancel_keep(&t)?;
        s.wait(t)
    });
    assert_eq!(r, Err(Error::Os(Errno::ECANCELED)));
    assert_eq!(v, 1);
    assert_eq!(ring.in_flight(), 0);

    // Cancelling a token whose result has come changes nothing.
    let ready = EventFd::new(2).unwrap();
    let r = ring.scope(|s| {
        let t = s.push(ready.read_op())?;
        s.submit_and_wait(1)?;
        s.cancel_keep(&t)?;
        s.wait(t)
    });
    assert_eq!(r, Ok(2));

    // One whose final result was taken is refused, as by the ring's
    // `cancel_keep`.
    let taken = EventFd::new(5).unwrap();
    let r = ring.scope(|s| {
        let mut t = s.push(taken.read_op())?;
        s.submit_and_wait(1)?;
        assert_eq!(s.take(&mut t), Some(Ok(5)));
        s.cancel_keep(&t)
    });
    assert_eq!(
        r,
        Err(Error::InvalidParam(
            "the token is spent: its operation ended and its final result was taken"
        ))
    );
}

#[test]
fn scoped_cleanup_leaves_driver_owned_operations_alone() {
    let mut ring = Ring::new(8).unwrap();
    let shared = Arc::new(EventFd::new(0).unwrap());
    let token = ring.push(shared.read_op_shared()).unwrap();
    let never = EventFd::new(0).unwrap();
    let mut v = 0u64;
    ring.scope(|s| {
        let _ = s.push_into(never.read_op(), &mut v)?;
        s.submit()?;
        assert_eq!(s.in_flight(), 2);
        Ok::<_, Error>(())
    })
    .unwrap();
    assert_eq!(ring.in_flight(), 1, "only the scoped read was cancelled");
    shared.signal(6).unwrap();
    assert_eq!(ring.wait(token), Ok(6));
}

#[test]
fn storage_holds_the_results_after_the_scope() {
    let mut ring = Ring::new(8).unwrap();
    let mem = MemFd::new("scope").unwrap();
    mem.write_at(b"abcdefgh", 0).unwrap();
    let mut halves = [[0u8; 4]; 2];
    let mut counters = [0u64; 3];
    let efds = [
        EventFd::new(10).unwrap(),
        EventFd::new(20).unwrap(),
        EventFd::new(30).unwrap(),
    ];
    ring.scope(|s| {
        let [lo, hi] = &mut halves;
        let _ = s.push_into(mem.read_at_op(0), lo)?;
        let _ = s.push_into(mem.read_at_op(4), hi)?;
        for (efd, c) in efds.iter().zip(counters.iter_mut()) {
            let _ = s.push_into(efd.read_op(), c)?;
        }
        s.submit_and_wait_all()
    })
    .unwrap();
    assert_eq!(&halves, &[*b"abcd", *b"efgh"]);
    assert_eq!(counters, [10, 20, 30]);
    assert_eq!(ring.in_flight(), 0);
}

#[test]
fn submit_and_wait_all_returns_with_errors_left_in_tokens() {
    let mut ring = Ring::new(8).unwrap();
    let ok = EventFd::new(1).unwrap();
    // A memfd opened read-only through /proc: writing it is EBADF.
    let mem = MemFd::new("read-only").unwrap();
    let path = format!("/proc/self/fd/{}", mem.raw());
    let read_only = iofd::Fd::from(std::os::fd::OwnedFd::from(
        std::fs::File::open(path).unwrap(),
    ));
    let mut byte = [0u8; 1];
    let (a, b) = ring
        .scope(|s| {
            let mut a = s.push(ok.read_op())?;
            let mut b = s.push_into(read_only.write_at_op(0), &mut byte)?;
            s.submit_and_wait_all()?;
            Ok::<_, Error>((s.take(&mut a), s.take(&mut b)))
        })
        .unwrap();
    assert_eq!(a, Some(Ok(1)));
    assert_eq!(b, Some(Err(Error::Os(Errno::EBADF))));
}

#[test]
fn nested_use_after_a_scope_many_times() {
    let mut ring = Ring::builder(4).capacity(4).build().unwrap();
    let never = EventFd::new(0).unwrap();
    for _ in 0..200 {
        let mut v = [0u64; 4];
        let r: Result<(), Error> = ring.scope(|s| {
            for x in v.iter_mut() {
                let _ = s.push_into(never.read_op(), x)?;
            }
            s.submit()?;
            Err(Error::WouldBlock)
        });
        assert_eq!(r, Err(Error::WouldBlock));
        assert_eq!(ring.in_flight(), 0);
    }
    assert_eq!(ring.stale_completions(), 0);
}

#[test]
fn leaving_a_scope_frees_untaken_results_wherever_they_sit() {
    let mut ring = Ring::builder(8).max_capacity(8).build().unwrap();
    let shared = Arc::new(EventFd::new(0).unwrap());
    let armed = ring.push(shared.read_op_shared()).unwrap(); // key 0
    let nop = ring.push(Nop::new()).unwrap(); // key 1, freed again
    ring.wait(nop).unwrap();
    let ready = [
        EventFd::new(1).unwrap(),
        EventFd::new(2).unwrap(),
        EventFd::new(3).unwrap(),
    ];
    let never = EventFd::new(0).unwrap();
    let mut values = [0u64; 3];
    let mut v = 0u64;
    ring.scope(|s| {
        for (efd, c) in ready.iter().zip(values.iter_mut()) {
            let _ = s.push_into(efd.read_op(), c)?;
        }
        let _ = s.push_into(never.read_op(), &mut v)?;
        s.submit_and_wait(3)?;
        Ok::<_, Error>(()) // three results untaken, one read armed
    })
    .unwrap();
    assert_eq!(values, [1, 2, 3]);
    assert_eq!(ring.in_flight(), 1, "only the driver-owned read");
    // Every other slot is free again: seven more operations fit, an eighth
    // does not.
    let nops: Vec<_> = (0..7).map(|_| ring.push(Nop::new()).unwrap()).collect();
    assert_eq!(ring.push(Nop::new()).err(), Some(Error::TableFull));
    for t in nops {
        ring.wait(t).unwrap();
    }
    shared.signal(5).unwrap();
    assert_eq!(ring.wait(armed), Ok(5));
}

#[test]
fn submit_and_wait_all_with_more_operations_than_the_completion_queue_holds() {
    // Sixteen results through a four-entry completion queue: they overflow
    // and are flushed, and every one lands in its storage.
    let mut ring = Ring::builder(4).cq_entries(4).capacity(16).build().unwrap();
    let efds: Vec<_> = (1..=16).map(|i| EventFd::new(i).unwrap()).collect();
    let mut values = [0u64; 16];
    ring.scope(|s| {
        for (efd, c) in efds.iter().zip(values.iter_mut()) {
            let _ = s.push_into(efd.read_op(), c)?;
        }
        s.submit_and_wait_all()
    })
    .unwrap();
    let want: Vec<u64> = (1..=16).collect();
    assert_eq!(values.to_vec(), want);
    assert_eq!(ring.in_flight(), 0);
}

#[test]
fn submit_and_wait_all_waits_for_a_read_armed_across_enters() {
    let mut ring = Ring::new(8).unwrap();
    let late = Arc::new(EventFd::new(0).unwrap());
    let now = EventFd::new(4).unwrap();
    let (mut a, mut b) = (0u64, 0u64);
    let signaller = {
        let late = Arc::clone(&late);
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            late.signal(9).unwrap();
        })
    };
    ring.scope(|s| {
        let _ = s.push_into(now.read_op(), &mut a)?;
        let _ = s.push_into(late.read_op(), &mut b)?;
        s.submit_and_wait_all()
    })
    .unwrap();
    signaller.join().unwrap();
    assert_eq!((a, b), (4, 9));
}

#[test]
fn a_single_issuer_ring_refuses_scoped_pushes_on_another_thread() -> iofd::Result<()> {
    let mut ring = match Ring::builder(8).single_issuer(true).build() {
        Ok(ring) => ring,
        Err(e) => {
            eprintln!("skipped: SINGLE_ISSUER unavailable ({e})");
            return Ok(());
        }
    };
    let efd = EventFd::new(1)?;
    let mut v = 0u64;
    // The kernel would refuse this thread's submissions, and the scope's
    // cleanup could then not end what it queued: nothing is queued.
    let mut ring = std::thread::scope(|t| {
        t.spawn(|| {
            ring.scope(|s| {
                let r = s.push_into(efd.read_op(), &mut v).map(drop);
                assert!(matches!(r, Err(Error::InvalidParam(_))), "{r:?}");
                let r = s.push(efd.read_op()).map(drop);
                assert!(matches!(r, Err(Error::InvalidParam(_))), "{r:?}");
            });
            assert_eq!(ring.in_flight(), 0);
            ring
        })
        .join()
        .expect("the scope on the other thread")
    });
    // On the thread that built it, the ring works on.
    ring.scope(|s| {
        let _ = s.push_into(efd.read_op(), &mut v)?;
        s.submit_and_wait_all()
    })?;
    assert_eq!(v, 1);
    Ok(())
}
