//! The timer wheel driven by one ring timeout, end to end: never early,
//! never lost, fired once each; its ring timeout moved earlier for a sooner
//! timer; a million timers; one ring per wheel; and a tagged wheel waking
//! an event loop.

use std::time::{Duration, Instant};

use iofd::Error;
use iofd::ring::{Ring, WheelTimers};

use super::timers::MS;

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
