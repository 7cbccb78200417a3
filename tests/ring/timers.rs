//! Completion-based timers end to end: every kind of ring timeout, update
//! and remove, link timeouts on both sides, past deadlines, 100,000 timers
//! on one ring, cancellation when a scope ends or the ring drops, and the
//! wheel driven by one ring timeout.
//!
//! "Never early" is checked against the clock each timer was armed on:
//! the clock is read before the timer is pushed and again once its result
//! has been taken.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use iofd::ring::ops::{LinkTimeoutResult, Nop, Timeout, TimeoutResult};
use iofd::ring::{Ring, WheelTimers};
use iofd::sys::Errno;
use iofd::{Clock, Error, EventFd};

const MS: Duration = Duration::from_millis(1);

fn errno(e: Error) -> Option<i32> {
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
fn finishes(f: impl FnOnce() + Send + 'static) {
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
fn the_wheel_fires_never_early_never_lost_once_each() {
    let mut ring = Ring::new(64).expect("ring");
    let mut timers = WheelTimers::with_capacity(10_000);
    let mut deadlines = Vec::new();
    let mut keys = Vec::new();
    let start = Instant::now();
    for i in 0..10_000u64 {
        let at = start + Duration::from_millis(i % 40);
        keys.push(timers.arm_at(at, i as usize));
        deadlines.push(at);
    }
    // Cancel every tenth before it can fire.
    let mut cancelled = 0;
    for (i, key) in keys.iter().enumerate().step_by(10) {
        assert_eq!(timers.cancel(*key), Some(i));
        cancelled += 1;
    }
    let mut seen = vec![false; deadlines.len()];
    let mut fired = 0;
    while !timers.is_empty() {
        timers.schedule(&mut ring).expect("schedule");
        assert!(timers.is_scheduled());
        ring.submit_and_wait(1).expect("wait");
        fired += timers
            .expire(&mut ring, |_, i| {
                assert!(Instant::now() >= deadlines[i], "timer {i} early");
                assert!(!seen[i], "timer {i} twice");
                assert!(i % 10 != 0, "cancelled timer {i} fired");
                seen[i] = true;
            })
            .expect("expire");
    }
    assert_eq!(fired + cancelled, deadlines.len());
    // Cancelling after expiry finds nothing.
    assert_eq!(timers.cancel(keys[1]), None);
    timers.unschedule(&mut ring).expect("unschedule");
    ring.submit_and_wait(0).expect("submit");
    while ring.in_flight() > 0 {
        ring.submit_and_wait(1).expect("drain");
    }
}

#[test]
fn the_wheel_moves_its_ring_timeout_earlier_for_a_sooner_timer() {
    let mut ring = Ring::new(64).expect("ring");
    let mut timers = WheelTimers::new();
    let late = timers.arm(Duration::from_secs(60), "late");
    timers.schedule(&mut ring).expect("schedule");
    ring.submit().expect("submit");
    let start = Instant::now();
    let _soon = timers.arm(10 * MS, "soon");
    timers.schedule(&mut ring).expect("schedule");
    let mut fired = Vec::new();
    while fired.is_empty() {
        ring.submit_and_wait(1).expect("wait");
        timers
            .expire(&mut ring, |_, v| fired.push(v))
            .expect("expire");
    }
    assert_eq!(fired, ["soon"]);
    let took = start.elapsed();
    assert!(
        took >= 10 * MS && took < Duration::from_secs(30),
        "{took:?}"
    );
    assert_eq!(timers.cancel(late), Some("late"));
    timers.unschedule(&mut ring).expect("unschedule");
}

#[test]
fn the_wheel_holds_a_million_timers_on_one_ring_timeout() {
    let mut ring = Ring::new(64).expect("ring");
    let mut timers = WheelTimers::with_capacity(1_000_000);
    let start = Instant::now();
    for i in 0..1_000_000u32 {
        timers.arm_at(start + Duration::from_millis(u64::from(i % 20)), i);
    }
    let mut count = 0usize;
    let mut sum = 0u64;
    while !timers.is_empty() {
        timers.schedule(&mut ring).expect("schedule");
        // One ring timeout (plus at most one detached update) at a time.
        assert!(ring.in_flight() <= 2);
        ring.submit_and_wait(1).expect("wait");
        count += timers
            .expire(&mut ring, |_, i| sum += u64::from(i))
            .expect("expire");
    }
    assert_eq!(count, 1_000_000);
    assert_eq!(sum, (0..1_000_000u64).sum::<u64>());
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

#[test]
fn a_wheel_refuses_a_second_ring_and_keeps_its_timeout() {
    let mut a = Ring::new(16).expect("ring");
    let mut b = Ring::new(16).expect("ring");
    let mut timers = WheelTimers::new();
    timers.arm(5 * MS, 1u8);
    timers.schedule(&mut a).expect("schedule");
    let wrong = Err(Error::InvalidParam(
        "the wheel's ring timeout is armed on another ring",
    ));
    assert_eq!(timers.schedule(&mut b), wrong);
    assert_eq!(timers.expire(&mut b, |_, _| {}).map(drop), wrong);
    assert_eq!(timers.unschedule(&mut b), wrong);
    assert!(timers.is_scheduled());
    assert_eq!(b.in_flight(), 0);
    // Ring `a` still wakes for it.
    let mut fired = 0;
    while fired == 0 {
        a.submit_and_wait(1).expect("wait");
        fired = timers
            .expire(&mut a, |_, v| assert_eq!(v, 1))
            .expect("expire");
    }
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

#[test]
fn a_tagged_wheel_wakes_an_event_loop_under_its_tag() {
    const WHEEL: u64 = 77;
    let mut ring = Ring::new(8).unwrap();
    let mut timers = WheelTimers::new().with_tag(WHEEL);
    let key = timers.arm(Duration::from_millis(50), "idle");
    timers.arm(Duration::from_millis(2), "soon");
    // Activity pushes the first timer back.
    assert!(timers.reset_after(key, Duration::from_millis(60)));
    timers.schedule(&mut ring).unwrap();
    let start = Instant::now();
    let mut fired = Vec::new();
    while fired.len() < 2 {
        ring.submit_and_wait(1).unwrap();
        while let Some(c) = ring.next_completion() {
            assert_eq!(c.tag, WHEEL, "only the wheel's timeout is in flight");
            timers
                .expire(&mut ring, |_, v| fired.push((v, start.elapsed())))
                .unwrap();
        }
    }
    assert_eq!(fired[0].0, "soon");
    assert_eq!(fired[1].0, "idle");
    assert!(fired[1].1 >= Duration::from_millis(60), "{:?}", fired[1].1);
    timers.unschedule(&mut ring).unwrap();
}
