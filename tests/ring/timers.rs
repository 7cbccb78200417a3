//! Completion-based timers end to end: every kind of ring timeout, update
//! and remove, past deadlines, 100,000 timers on one ring, and
//! cancellation when a scope ends or the ring drops. Link timeouts are in
//! `timer_links`, the wheel driven by one ring timeout in `timer_wheel`.
//!
//! "Never early" is checked against the clock each timer was armed on:
//! the clock is read before the timer is pushed and again once its result
//! has been taken.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use iofd::ring::Ring;
use iofd::ring::ops::{LinkTimeoutResult, Nop, Timeout, TimeoutResult};
use iofd::sys::Errno;
use iofd::{Clock, Error, EventFd};

pub(crate) const MS: Duration = Duration::from_millis(1);

pub(crate) fn errno(e: Error) -> Option<i32> {
    e.errno().map(Errno::raw)
}

#[test]
fn a_relative_timeout_fires_never_early() {
    let mut ring = Ring::new(8).expect("ring");
    for d in [Duration::ZERO, MS, 5 * MS, 20 * MS] {
        let start = Instant::now();
        let token = ring.push(Timeout::after(d)).expect("push");
        assert_eq!(ring.wait(token).expect("wait"), TimeoutResult::Fired);
        let took = start.elapsed();
        assert!(took >= d, "{d:?} timeout fired after {took:?}");
    }
    assert_eq!(ring.in_flight(), 0);
}

#[test]
fn absolute_deadlines_on_every_clock_fire_never_early() {
    let mut ring = Ring::new(8).expect("ring");
    for clock in [Clock::Monotonic, Clock::Boottime, Clock::Realtime] {
        let deadline = clock.now().expect("now") + 10 * MS;
        let token = ring.push(Timeout::at(clock, deadline)).expect("push");
        assert_eq!(ring.wait(token).expect("wait"), TimeoutResult::Fired);
        let now = clock.now().expect("now");
        assert!(
            now >= deadline,
            "{clock:?}: fired at {now:?} before {deadline:?}"
        );
    }
}

#[test]
fn an_absolute_deadline_already_past_fires_at_once() {
    let mut ring = Ring::new(8).expect("ring");
    for clock in [Clock::Monotonic, Clock::Boottime, Clock::Realtime] {
        let past = clock.now().expect("now") - Duration::from_secs(1);
        let start = Instant::now();
        let token = ring.push(Timeout::at(clock, past)).expect("push");
        assert_eq!(ring.wait(token).expect("wait"), TimeoutResult::Fired);
        // "At once": far sooner than any real wait (a generous bound, not a
        // timing measurement).
        assert!(start.elapsed() < Duration::from_millis(500));
    }
    // The epoch itself is in the past too.
    let token = ring
        .push(Timeout::at(Clock::Monotonic, Duration::ZERO))
        .expect("push");
    assert_eq!(ring.wait(token).expect("wait"), TimeoutResult::Fired);
}

#[test]
fn a_periodic_timer_delivers_exactly_its_shots() {
    let mut ring = Ring::new(8).expect("ring");
    let period = 2 * MS;
    let start = Instant::now();
    let mut token = ring.push(Timeout::every(period).shots(5)).expect("push");
    let mut shots = 0u32;
    while !token.is_done() {
        ring.submit_and_wait(1).expect("wait");
        while let Some(r) = ring.take(&mut token) {
            assert_eq!(r.expect("shot"), TimeoutResult::Fired);
            shots += 1;
            // Shot n comes no earlier than n periods after the push.
            assert!(start.elapsed() >= period * shots, "shot {shots} early");
        }
    }
    assert_eq!(shots, 5);
    assert!(ring.take(&mut token).is_none());
    assert_eq!(ring.in_flight(), 0);
}

#[test]
fn an_unbounded_periodic_timer_runs_until_removed() {
    let mut ring = Ring::new(8).expect("ring");
    let mut token = ring.push(Timeout::every(MS)).expect("push");
    let mut shots = 0;
    while shots < 4 {
        ring.submit_and_wait(1).expect("wait");
        while let Some(r) = ring.take(&mut token) {
            assert_eq!(r.expect("shot"), TimeoutResult::Fired);
            shots += 1;
        }
    }
    assert!(!token.is_done());
    let remove = ring.remove_timeout(&token).expect("remove");
    assert_eq!(ring.wait(remove), Ok(()));
    // Shots that came before the removal are still delivered, then the
    // removal ends it.
    let mut last = None;
    while !token.is_done() {
        match ring.take(&mut token) {
            Some(r) => last = Some(r.expect("result")),
            None => {
                ring.submit_and_wait(1).expect("wait");
            }
        }
    }
    assert_eq!(last, Some(TimeoutResult::Removed));
    assert_eq!(ring.in_flight(), 0);
}

#[test]
fn shots_not_yet_taken_survive_a_removal() {
    let mut ring = Ring::new(8).expect("ring");
    let mut token = ring.push(Timeout::every(MS)).expect("push");
    ring.submit().expect("submit");
    std::thread::sleep(10 * MS);
    ring.reap().expect("reap");
    let remove = ring.remove_timeout(&token).expect("remove");
    assert_eq!(ring.wait(remove), Ok(()));
    let mut results = Vec::new();
    while !token.is_done() {
        match ring.take(&mut token) {
            Some(r) => results.push(r.expect("result")),
            None => {
                ring.submit_and_wait(1).expect("wait");
            }
        }
    }
    let (last, shots) = results.split_last().expect("results");
    assert_eq!(*last, TimeoutResult::Removed);
    assert!(!shots.is_empty(), "10 ms of a 1 ms timer gave no shot");
    assert!(shots.iter().all(|r| *r == TimeoutResult::Fired));
}

#[test]
fn a_zero_period_is_refused() {
    let mut ring = Ring::new(8).expect("ring");
    let token = ring.push(Timeout::every(Duration::ZERO)).expect("push");
    assert_eq!(
        ring.wait(token),
        Err(Error::InvalidParam(Error::KERNEL_EINVAL))
    );
}

#[test]
fn a_completion_count_timeout_reports_the_count() {
    let mut ring = Ring::new(16).expect("ring");
    let timeout = ring
        .push(Timeout::after(Duration::from_secs(10)).completions(3))
        .expect("push");
    ring.submit().expect("submit");
    let nops: Vec<_> = (0..3)
        .map(|_| ring.push(Nop::new()).expect("nop"))
        .collect();
    let start = Instant::now();
    assert_eq!(
        ring.wait(timeout).expect("wait"),
        TimeoutResult::CountReached
    );
    assert!(start.elapsed() < Duration::from_secs(5));
    for nop in nops {
        ring.wait(nop).expect("nop");
    }
    // Other timers firing are not completions that count.
    let start = Instant::now();
    let timeout = ring
        .push(Timeout::after(100 * MS).completions(1))
        .expect("push");
    let quick = ring.push(Timeout::after(Duration::ZERO)).expect("push");
    assert_eq!(ring.wait(quick).expect("quick"), TimeoutResult::Fired);
    assert_eq!(ring.wait(timeout).expect("wait"), TimeoutResult::Fired);
    assert!(start.elapsed() >= 100 * MS);
    // The deadline still wins when the count is not reached.
    let timeout = ring
        .push(Timeout::after(5 * MS).completions(1000))
        .expect("push");
    assert_eq!(ring.wait(timeout).expect("wait"), TimeoutResult::Fired);
}

#[test]
fn removing_a_pending_timeout_reports_removed() {
    let mut ring = Ring::new(8).expect("ring");
    let token = ring
        .push(Timeout::after(Duration::from_secs(60)))
        .expect("push");
    ring.submit().expect("submit");
    let remove = ring.remove_timeout(&token).expect("remove");
    assert_eq!(ring.wait(remove), Ok(()));
    assert_eq!(ring.wait(token).expect("wait"), TimeoutResult::Removed);
    // Removing one that has not been submitted yet works too: the queue
    // keeps its order.
    let token = ring
        .push(Timeout::after(Duration::from_secs(60)))
        .expect("push");
    let remove = ring.remove_timeout(&token).expect("remove");
    assert_eq!(ring.wait(remove), Ok(()));
    assert_eq!(ring.wait(token).expect("wait"), TimeoutResult::Removed);
}

#[test]
fn removing_or_updating_a_fired_timeout_finds_nothing() {
    let mut ring = Ring::new(8).expect("ring");
    let mut token = ring.push(Timeout::after(Duration::ZERO)).expect("push");
    ring.submit_and_wait(1).expect("wait");
    let remove = ring.remove_timeout(&token).expect("remove");
    assert_eq!(
        ring.wait(remove).map_err(errno),
        Err(Some(Errno::ENOENT.raw()))
    );
    let update = ring.update_timeout(&token, MS).expect("update");
    assert_eq!(
        ring.wait(update).map_err(errno),
        Err(Some(Errno::ENOENT.raw()))
    );
    assert_eq!(
        ring.take(&mut token).expect("result").expect("fired"),
        TimeoutResult::Fired
    );
    // Taken: the token has nothing left to remove or update.
    assert_eq!(
        ring.remove_timeout(&token).map(drop),
        Err(Error::InvalidParam(
            "the token is spent: its operation ended and its final result was taken"
        ))
    );
    assert!(ring.update_timeout(&token, MS).is_err());
}

#[test]
fn a_token_of_another_ring_is_refused() {
    let mut a = Ring::new(8).expect("ring");
    let mut b = Ring::new(8).expect("ring");
    let token = a
        .push(Timeout::after(Duration::from_secs(60)))
        .expect("push");
    assert_eq!(
        b.remove_timeout(&token).map(drop),
        Err(Error::InvalidParam("the token belongs to another ring"))
    );
    assert!(b.update_timeout(&token, MS).is_err());
    assert!(b.detach(token).is_err());
    assert_eq!(b.in_flight(), 0);
}

#[test]
fn updating_moves_the_expiry_both_ways() {
    let mut ring = Ring::new(8).expect("ring");
    // Sooner: a one-minute timeout brought forward to 20 ms.
    let start = Instant::now();
    let token = ring
        .push(Timeout::after(Duration::from_secs(60)))
        .expect("push");
    ring.submit().expect("submit");
    let update = ring.update_timeout(&token, 20 * MS).expect("update");
    let updated_at = Instant::now();
    assert_eq!(ring.wait(update), Ok(()));
    assert_eq!(ring.wait(token).expect("wait"), TimeoutResult::Fired);
    assert!(updated_at.elapsed() >= 20 * MS);
    assert!(start.elapsed() < Duration::from_secs(30));

    // Later: a 5 ms timeout pushed back to 40 ms.
    let token = ring.push(Timeout::after(5 * MS)).expect("push");
    ring.submit().expect("submit");
    let update = ring.update_timeout(&token, 40 * MS).expect("update");
    let updated_at = Instant::now();
    ring.submit().expect("submit");
    let result = ring.wait(token).expect("wait");
    // The update may lose the race with the 5 ms expiry on a loaded
    // machine; when it wins, the timer fires no earlier than 40 ms later.
    assert_eq!(result, TimeoutResult::Fired);
    if ring.wait(update).is_ok() {
        assert!(updated_at.elapsed() >= 40 * MS);
    }

    // To an absolute monotonic deadline.
    let token = ring
        .push(Timeout::after(Duration::from_secs(60)))
        .expect("push");
    let deadline = Clock::Monotonic.now().expect("now") + 15 * MS;
    let update = ring.update_timeout_at(&token, deadline).expect("update");
    assert_eq!(ring.wait(update), Ok(()));
    assert_eq!(ring.wait(token).expect("wait"), TimeoutResult::Fired);
    assert!(Clock::Monotonic.now().expect("now") >= deadline);
}

#[test]
fn scoped_timeouts_and_link_timeouts() {
    let mut ring = Ring::new(8).expect("ring");
    let efd = EventFd::new(0).expect("eventfd");
    let mut value = 0u64;
    ring.scope(|s| {
        let long = s
            .push(Timeout::after(Duration::from_secs(60)))
            .expect("push");
        let short = s.push(Timeout::after(MS)).expect("push");
        let (read, deadline) = s
            .push_into_with_timeout(efd.read_op(), &mut value, Timeout::after(5 * MS))
            .expect("push");
        assert_eq!(s.wait(short).expect("short"), TimeoutResult::Fired);
        assert_eq!(
            s.wait(deadline).expect("deadline"),
            LinkTimeoutResult::Expired
        );
        assert!(s.wait(read).is_err());
        let update = s
            .update_timeout(&long, Duration::from_secs(120))
            .expect("update");
        assert_eq!(s.wait(update), Ok(()));
        let remove = s.remove_timeout(&long).expect("remove");
        assert_eq!(s.wait(remove), Ok(()));
        assert_eq!(s.wait(long).expect("long"), TimeoutResult::Removed);
    });
    assert_eq!(value, 0);
    assert_eq!(ring.in_flight(), 0);
}

#[test]
fn a_cancelled_timeout_reports_cancelled() {
    let mut ring = Ring::new(8).expect("ring");
    ring.scope(|s| {
        let t = s
            .push(Timeout::after(Duration::from_secs(60)))
            .expect("push");
        s.submit().expect("submit");
        s.cancel_keep(&t).expect("cancel");
        assert_eq!(s.wait(t).expect("result"), TimeoutResult::Cancelled);
    });
}

#[test]
fn detached_results_free_their_slots() {
    let mut ring = Ring::builder(8).capacity(4).build().expect("ring");
    for _ in 0..100 {
        let t = ring.push(Timeout::after(Duration::ZERO)).expect("push");
        ring.detach(t).expect("detach");
        ring.submit_and_wait(1).expect("wait");
    }
    assert_eq!(ring.in_flight(), 0);
    // All four slots are free again.
    let tokens: Vec<_> = (0..4)
        .map(|_| ring.push(Nop::new()).expect("slot"))
        .collect();
    for t in tokens {
        ring.wait(t).expect("nop");
    }
}

#[test]
fn one_hundred_thousand_timers_on_one_ring_each_fire_once() {
    const N: usize = 100_000;
    let mut ring = Ring::builder(1024)
        .cq_entries(4096)
        .capacity(N)
        .build()
        .expect("ring");
    let start = Instant::now();
    let mut tokens = Vec::with_capacity(N);
    for i in 0..N {
        // Deadlines spread over 1..=50 ms, so completions arrive while
        // submissions are still going in (and overflow the 4096-entry
        // completion queue).
        let d = Duration::from_millis(1 + (i % 50) as u64);
        tokens.push((ring.push(Timeout::after(d)).expect("push"), d));
    }
    ring.submit().expect("submit");
    let mut fired = 0usize;
    let mut pending: Vec<_> = tokens.into_iter().map(Some).collect();
    while fired < N {
        ring.submit_and_wait(1).expect("wait");
        for slot in pending.iter_mut() {
            if let Some((token, d)) = slot
                && let Some(r) = ring.take(token)
            {
                assert_eq!(r.expect("timer"), TimeoutResult::Fired);
                assert!(start.elapsed() >= *d, "early");
                assert!(token.is_done());
                *slot = None;
                fired += 1;
            }
        }
    }
    assert_eq!(fired, N);
    assert_eq!(ring.in_flight(), 0);
    assert_eq!(ring.stale_completions(), 0);
}

/// Runs `f` on another thread and fails if it has not finished in 10 s:
/// a ring that did not cancel its timers would wait on them for an hour.
pub(crate) fn finishes(f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    rx.recv_timeout(Duration::from_secs(10))
        .expect("armed timers were not cancelled");
}

#[test]
fn dropping_the_ring_cancels_armed_timers() {
    finishes(|| {
        let mut ring = Ring::builder(64).capacity(2000).build().expect("ring");
        let mut tokens = Vec::new();
        for _ in 0..1000 {
            tokens.push(
                ring.push(Timeout::after(Duration::from_secs(3600)))
                    .expect("push"),
            );
        }
        let efd = Arc::new(EventFd::new(0).expect("eventfd"));
        let linked = ring
            .push_with_timeout(
                efd.read_op_shared(),
                Timeout::after(Duration::from_secs(3600)),
            )
            .expect("push");
        let periodic = ring
            .push(Timeout::every(Duration::from_secs(3600)))
            .expect("push");
        ring.submit().expect("submit");
        assert_eq!(ring.in_flight(), 1003);
        drop((tokens, linked, periodic));
        drop(ring);
        assert_eq!(Arc::strong_count(&efd), 1, "the ring let go of the handle");
    });
}

#[test]
fn leaving_a_scope_cancels_its_armed_timers() {
    finishes(|| {
        let mut ring = Ring::new(64).expect("ring");
        ring.scope(|s| {
            for _ in 0..32 {
                let _ = s
                    .push(Timeout::after(Duration::from_secs(3600)))
                    .expect("push");
            }
            let _ = s
                .push(Timeout::every(Duration::from_secs(3600)))
                .expect("push");
            s.submit().expect("submit");
        });
        assert_eq!(ring.in_flight(), 0);
    });
}

#[test]
fn one_reap_runs_all_deferred_timer_completions() {
    // With DEFER_TASKRUN the kernel posts completions only when the ring is
    // entered, and one entry runs a bounded batch of that deferred work:
    // `reap` must keep entering while the kernel flags more.
    let mut ring = match Ring::builder(256)
        .capacity(1000)
        .defer_taskrun(true)
        .build()
    {
        Ok(ring) => ring,
        Err(Error::Unsupported(what)) => {
            eprintln!("skipped: the kernel lacks {what}");
            return;
        }
        Err(e) => panic!("ring: {e}"),
    };
    let mut tokens: Vec<_> = (0..1000)
        .map(|_| ring.push(Timeout::after(MS)).expect("push"))
        .collect();
    ring.submit().expect("submit");
    std::thread::sleep(30 * MS);
    ring.reap().expect("reap");
    for token in &mut tokens {
        let r = ring.take(token).expect("delivered by one reap");
        assert_eq!(r.expect("timer"), TimeoutResult::Fired);
    }
    assert_eq!(ring.in_flight(), 0);
}

#[test]
fn dropping_the_ring_ends_detached_operations_too() {
    finishes(|| {
        let mut ring = Ring::new(16).expect("ring");
        let periodic = ring
            .push(Timeout::every(Duration::from_secs(3600)))
            .expect("push");
        let long = ring
            .push(Timeout::after(Duration::from_secs(3600)))
            .expect("push");
        let efd = Arc::new(EventFd::new(0).expect("eventfd"));
        let read = ring.push(efd.read_op_shared()).expect("push");
        ring.submit().expect("submit");
        ring.detach(periodic).expect("detach");
        ring.detach(long).expect("detach");
        ring.detach(read).expect("detach");
        drop(ring);
        assert_eq!(Arc::strong_count(&efd), 1);
    });
}

#[test]
fn updates_the_kernel_would_get_wrong_are_refused() {
    let mut ring = Ring::new(16).expect("ring");
    let bounded = ring
        .push(Timeout::every(Duration::from_secs(60)).shots(3))
        .expect("push");
    let counted = ring
        .push(Timeout::after(Duration::from_secs(60)).completions(5))
        .expect("push");
    let periodic = ring
        .push(Timeout::every(Duration::from_secs(60)))
        .expect("push");
    ring.submit().expect("submit");
    let count_err = Err(Error::InvalidParam(
        "a timeout with a shot or completion count cannot be updated (the kernel would drop the count)",
    ));
    assert_eq!(ring.update_timeout(&bounded, MS).map(drop), count_err);
    assert_eq!(ring.update_timeout(&counted, MS).map(drop), count_err);
    assert_eq!(
        ring.update_timeout_at(&periodic, Duration::from_secs(1))
            .map(drop),
        Err(Error::InvalidParam(
            "a periodic timeout cannot be moved to an absolute expiry"
        ))
    );
    assert_eq!(
        ring.update_timeout(&periodic, Duration::ZERO).map(drop),
        Err(Error::InvalidParam(
            "a periodic timeout cannot have a zero period"
        ))
    );
    // A new period is fine.
    let update = ring.update_timeout(&periodic, 2 * MS).expect("update");
    assert_eq!(ring.wait(update), Ok(()));
    let mut periodic = periodic;
    let start = Instant::now();
    loop {
        ring.submit_and_wait(1).expect("wait");
        if let Some(r) = ring.take(&mut periodic) {
            assert_eq!(r.expect("shot"), TimeoutResult::Fired);
            break;
        }
    }
    assert!(start.elapsed() < Duration::from_secs(30));
    for t in [bounded, counted, periodic] {
        ring.cancel(t).expect("cancel");
    }
}
