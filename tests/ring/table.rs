//! The completion table: generations, stale CQEs, fixed capacity, batching
//! past the submission queue, and completion-queue overflow.

use std::sync::Arc;

use io_uring::opcode;
use iofd::ring::ops::Nop;
use iofd::ring::{Ring, RingBuilder, UserData};
use iofd::sys::Errno;
use iofd::{Error, EventFd};

/// Submits a raw NOP carrying `user_data` and reaps its CQE.
fn raw_nop(ring: &mut Ring, user_data: u64) {
    let entry = opcode::Nop::new().build().user_data(user_data);
    // SAFETY: a NOP touches no memory and no descriptor; the callers pass
    // tags that name no live operation of `ring`.
    unsafe { ring.push_raw(&entry) }.unwrap();
    ring.submit_and_wait(1).unwrap();
    ring.reap().unwrap();
}

#[test]
fn a_late_cqe_of_a_freed_slot_is_stale_and_reaches_nobody() {
    let mut ring = Ring::builder(8).capacity(1).build().unwrap();
    let first = ring.push(Nop::new()).unwrap();
    let old = first.user_data();
    assert_eq!(ring.wait(first), Ok(()));
    assert_eq!(ring.in_flight(), 0);

    // The only slot is reused at a later generation.
    let efd = Arc::new(EventFd::new(0).unwrap());
    let mut second = ring.push(efd.read_op_shared()).unwrap();
    let new = second.user_data();
    assert_eq!(new.key(), old.key(), "capacity 1: the same slot");
    assert_ne!(new.generation(), old.generation());
    ring.submit().unwrap();

    // A crafted CQE carrying the old tag.
    raw_nop(&mut ring, old.raw());
    assert_eq!(ring.stale_completions(), 1);
    assert!(
        ring.take(&mut second).is_none(),
        "not delivered to the new owner"
    );
    assert_eq!(ring.in_flight(), 1);

    // The same for a generation the slot has not reached, a key past the
    // table, and the largest key.
    let tag = |key: u64, generation: u64| (generation << UserData::KEY_BITS) | key;
    raw_nop(
        &mut ring,
        tag(u64::from(new.key()), u64::from(new.generation()) + 100),
    );
    raw_nop(&mut ring, tag(5, 1));
    raw_nop(&mut ring, tag(u64::from(u32::MAX), 0));
    assert_eq!(ring.stale_completions(), 4);
    assert!(ring.take(&mut second).is_none());

    // The real owner still gets its own result.
    efd.signal(11).unwrap();
    assert_eq!(ring.wait(second), Ok(11));
    assert_eq!(ring.stale_completions(), 4);
}

#[test]
fn reserved_tags_are_consumed_and_aux_tags_of_freed_slots_are_stale() {
    let mut ring = Ring::new(8).unwrap();
    let efd = Arc::new(EventFd::new(0).unwrap());
    let mut token = ring.push(efd.read_op_shared()).unwrap();
    ring.submit().unwrap();
    // The reserved tags the driver uses for itself are consumed silently.
    raw_nop(&mut ring, UserData::WAKE.raw());
    raw_nop(&mut ring, UserData::CANCEL.raw());
    assert_eq!(ring.stale_completions(), 0);
    assert!(ring.take(&mut token).is_none());
    let tag = token.user_data();
    efd.signal(1).unwrap();
    assert_eq!(ring.wait(token), Ok(1));
    // The auxiliary (re-arm poll) tag of the now-freed slot is stale.
    raw_nop(&mut ring, tag.raw() | (1 << 63));
    assert_eq!(ring.stale_completions(), 1);
}

#[test]
fn tags_are_distinct_and_generations_advance_on_reuse() {
    let mut ring = Ring::builder(8).max_capacity(4).build().unwrap();
    let tokens: Vec<_> = (0..4).map(|_| ring.push(Nop::new()).unwrap()).collect();
    let mut keys: Vec<u32> = tokens.iter().map(|t| t.user_data().key()).collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), 4);
    assert!(keys.iter().all(|&k| (k as usize) < ring.capacity()));
    let before: Vec<UserData> = tokens.iter().map(|t| t.user_data()).collect();
    for t in tokens {
        assert_eq!(ring.wait(t), Ok(()));
    }
    for old in before {
        let t = ring.push(Nop::new()).unwrap();
        let new = t.user_data();
        assert!(!new.is_reserved() && !new.is_aux());
        assert_ne!(new, old);
        assert_eq!(ring.wait(t), Ok(()));
    }
}

#[test]
fn a_table_at_its_max_is_full_and_taking_frees_a_slot() {
    let mut ring = Ring::builder(8).max_capacity(4).build().unwrap();
    assert_eq!((ring.capacity(), ring.max_capacity()), (4, 4));
    let mut tokens: Vec<_> = (0..4).map(|_| ring.push(Nop::new()).unwrap()).collect();
    ring.submit_and_wait(4).unwrap();
    assert_eq!(ring.in_flight(), 0, "all completed, none taken");
    assert_eq!(ring.push(Nop::new()).map(|_| ()), Err(Error::TableFull));
    assert_eq!(Error::TableFull.errno(), Some(Errno::EBUSY));
    // A scope shares the table.
    let r = ring.scope(|s| s.push(Nop::new()).map(|_| ()));
    assert_eq!(r, Err(Error::TableFull));
    assert_eq!(ring.capacity(), 4, "never past its max");

    let mut t = tokens.pop().unwrap();
    assert_eq!(ring.take(&mut t), Some(Ok(())));
    assert!(t.is_done());
    assert_eq!(ring.take(&mut t), None, "taken once");
    let again = ring.push(Nop::new()).unwrap();
    assert_eq!(ring.wait(again), Ok(()));
    for t in tokens {
        assert_eq!(ring.wait(t), Ok(()));
    }

    // Full of operations in flight: full too, even after reaping.
    let efd = Arc::new(EventFd::new(0).unwrap());
    let reads: Vec<_> = (0..4)
        .map(|_| ring.push(efd.read_op_shared()).unwrap())
        .collect();
    ring.submit().unwrap();
    assert_eq!(ring.push(Nop::new()).map(|_| ()), Err(Error::TableFull));
    assert_eq!(ring.in_flight(), 4);
    efd.signal(1).unwrap();
    ring.submit_and_wait(1).unwrap();
    let mut sum = 0;
    for mut t in reads {
        // Only one read can take the counter; cancel the rest.
        match ring.take(&mut t) {
            Some(r) => sum += r.unwrap(),
            None => ring.cancel(t).unwrap(),
        }
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while ring.in_flight() > 0 {
        assert!(std::time::Instant::now() < deadline);
        ring.submit_and_wait(1).unwrap();
    }
    assert_eq!(sum, 1);
    assert_eq!(Arc::strong_count(&efd), 1);
}

#[test]
fn zero_sizes_are_rejected() {
    assert_eq!(
        Ring::new(0).map(|_| ()),
        Err(Error::InvalidParam("ring entries must be at least 1"))
    );
    assert_eq!(
        Ring::builder(8).max_capacity(0).build().map(|_| ()),
        Err(Error::InvalidParam("table capacity must be at least 1"))
    );
    assert_eq!(
        Ring::builder(8).cq_entries(0).build().map(|_| ()),
        Err(Error::InvalidParam(
            "completion queue entries must be at least 1"
        ))
    );
}

#[test]
fn a_table_too_big_for_memory_is_an_error_not_an_abort() {
    // 2^32 - 1 slots want about a TiB. Only the kernel's overcommit
    // policy says whether asking for that fails; under "always" (1) it
    // would not, and filling it would exhaust the machine.
    let policy = std::fs::read_to_string("/proc/sys/vm/overcommit_memory").unwrap_or_default();
    if policy.trim() == "1" {
        eprintln!("skipped: vm.overcommit_memory = 1 grants any allocation");
        return;
    }
    let huge = u32::MAX as usize - 1;
    assert_eq!(
        Ring::builder(8)
            .capacity(huge)
            .max_capacity(huge)
            .build()
            .map(|_| ()),
        Err(Error::NoMemory)
    );
    assert_eq!(
        Ring::builder(8)
            .max_capacity(u32::MAX as usize)
            .build()
            .map(|_| ()),
        Err(Error::InvalidParam(
            "table capacity must fit in 32 bits, less one"
        ))
    );
}

#[test]
fn sizes_are_as_asked() {
    let ring = Ring::builder(8).cq_entries(64).build().unwrap();
    assert_eq!(ring.sq_entries(), 8);
    assert_eq!(ring.cq_entries(), 64);
    assert!(
        ring.capacity() >= 64,
        "room for the CQ size from the start: {}",
        ring.capacity()
    );
    assert_eq!(ring.max_capacity(), RingBuilder::DEFAULT_MAX_CAPACITY);
    let ring = Ring::new(5).unwrap();
    assert_eq!(ring.sq_entries(), 8, "rounded up to a power of two");
}

#[test]
fn a_batch_is_submitted_and_waited_for_in_one_enter() {
    let mut ring = Ring::new(64).unwrap();
    let efds: Vec<Arc<EventFd>> = (1..=16)
        .map(|i| Arc::new(EventFd::new(i).unwrap()))
        .collect();
    let mut nops: Vec<_> = (0..16).map(|_| ring.push(Nop::new()).unwrap()).collect();
    let mut reads: Vec<_> = efds
        .iter()
        .map(|efd| ring.push(efd.read_op_shared()).unwrap())
        .collect();
    assert_eq!(ring.enters(), 0, "pushing only queues");
    assert_eq!(ring.submit_and_wait(32), Ok(32));
    assert_eq!(ring.enters(), 1, "one io_uring_enter submitted and waited");
    // Every result is there to take, with no further syscall.
    for t in &mut nops {
        assert_eq!(ring.take(t), Some(Ok(())));
    }
    let values: Vec<u64> = reads
        .iter_mut()
        .map(|t| ring.take(t).unwrap().unwrap())
        .collect();
    assert_eq!(values, (1..=16).collect::<Vec<u64>>());
    assert_eq!(ring.enters(), 1);
}

#[test]
fn more_operations_than_sq_entries_are_submitted_in_turn() {
    let mut ring = Ring::builder(8).capacity(128).build().unwrap();
    assert_eq!(ring.sq_entries(), 8);
    let tokens: Vec<_> = (0..100).map(|_| ring.push(Nop::new()).unwrap()).collect();
    for t in tokens {
        assert_eq!(ring.wait(t), Ok(()));
    }
    assert_eq!(ring.in_flight(), 0);

    // The same through a scope, into caller storage.
    let efds: Vec<EventFd> = (1..=100).map(|i| EventFd::new(i).unwrap()).collect();
    let mut values = vec![0u64; 100];
    ring.scope(|s| {
        for (efd, v) in efds.iter().zip(values.iter_mut()) {
            let _ = s.push_into(efd.read_op(), v)?;
        }
        s.submit_and_wait_all()
    })
    .unwrap();
    assert_eq!(values, (1..=100).collect::<Vec<u64>>());
    assert_eq!(ring.stale_completions(), 0);
}

#[test]
fn cq_overflow_loses_nothing() {
    const N: usize = 1000;
    let mut ring = Ring::builder(8)
        .cq_entries(8)
        .capacity(1024)
        .build()
        .unwrap();
    assert_eq!(ring.cq_entries(), 8);
    let efd = EventFd::new_semaphore(0).unwrap();
    let mut values = vec![0u64; N];
    let results = ring
        .scope(|s| {
            let mut tokens = Vec::with_capacity(N);
            for v in values.iter_mut() {
                tokens.push(s.push_into(efd.read_op(), v)?);
            }
            s.submit()?;
            s.reap()?;
            s.submit()?;
            assert_eq!(s.in_flight(), N, "all armed");
            // 1,000 completions into an 8-entry completion queue.
            efd.signal(N as u64)?;
            s.submit_and_wait_all()?;
            let mut results = Vec::with_capacity(N);
            for t in tokens.iter_mut() {
                results.push(s.take(t).expect("every read completed")?);
                assert!(t.is_done());
                assert!(s.take(t).is_none(), "exactly once");
            }
            Ok::<_, Error>(results)
        })
        .unwrap();
    assert_eq!(results.len(), N);
    assert!(results.iter().all(|&v| v == 1));
    assert!(values.iter().all(|&v| v == 1));
    assert_eq!(ring.stale_completions(), 0);
    assert_eq!(ring.in_flight(), 0);
    assert_eq!(
        efd.wait(),
        Err(Error::WouldBlock),
        "the counter was shared out exactly"
    );
}

#[test]
fn cq_overflow_of_driver_owned_nops() {
    const N: usize = 500;
    let mut ring = Ring::builder(8).cq_entries(8).capacity(N).build().unwrap();
    let mut tokens: Vec<_> = (0..N).map(|_| ring.push(Nop::new()).unwrap()).collect();
    ring.submit().unwrap();
    ring.reap().unwrap();
    let mut got = 0;
    for t in tokens.iter_mut() {
        if let Some(r) = ring.take(t) {
            r.unwrap();
            got += 1;
        }
    }
    assert_eq!(got, N, "reap flushed the overflow list");
    assert_eq!(ring.stale_completions(), 0);
    assert_eq!(ring.in_flight(), 0);
}

#[test]
fn cq_overflow_loses_nothing_with_defer_taskrun() {
    const N: usize = 1000;
    let ring = Ring::builder(8)
        .cq_entries(8)
        .capacity(1024)
        .defer_taskrun(true)
        .build();
    let mut ring = match ring {
        Ok(ring) => ring,
        Err(e) => {
            eprintln!("skipped: DEFER_TASKRUN unavailable ({e})");
            return;
        }
    };
    let efd = EventFd::new_semaphore(0).unwrap();
    let mut values = vec![0u64; N];
    let count = ring
        .scope(|s| {
            let mut tokens = Vec::with_capacity(N);
            for v in values.iter_mut() {
                tokens.push(s.push_into(efd.read_op(), v)?);
            }
            s.submit()?;
            efd.signal(N as u64)?;
            // Reaping alone must run all the deferred completions (the
            // kernel runs a bounded batch per entry) and flush the overflow.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            while s.in_flight() > 0 {
                assert!(
                    std::time::Instant::now() < deadline,
                    "{} left",
                    s.in_flight()
                );
                s.reap()?;
            }
            let mut count = 0;
            for t in tokens.iter_mut() {
                assert_eq!(s.take(t), Some(Ok(1)));
                assert!(s.take(t).is_none(), "exactly once");
                count += 1;
            }
            Ok::<_, Error>(count)
        })
        .unwrap();
    assert_eq!(count, N);
    assert!(values.iter().all(|&v| v == 1));
    assert_eq!(ring.stale_completions(), 0);
}
