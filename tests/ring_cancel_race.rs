//! A periodic timeout that fires while its cancel is being submitted: the
//! kernel's cancel finds nothing (the timeout is between its shot and its
//! re-arm) and the timeout runs on. The driver must send the cancel again,
//! or a ring's drop, and an owner waiting for the cancelled result, wait
//! for ever. A `harness = false` binary: a watchdog ends the process when
//! a round hangs.

use std::sync::mpsc;
use std::time::Duration;

use iofd::ring::Ring;
use iofd::ring::ops::{Nop, Timeout, TimeoutResult};

const ROUNDS: usize = 200;

/// Runs `round` under a watchdog that fails the whole binary if it takes
/// more than five seconds.
fn guarded(name: &str, i: usize, round: impl FnOnce() -> iofd::Result<()>) {
    let (tx, rx) = mpsc::channel::<()>();
    let label = format!("{name}, round {i}");
    let watchdog = std::thread::spawn(move || {
        if rx.recv_timeout(Duration::from_secs(5)).is_err() {
            eprintln!("{label}: the periodic timeout outlived its cancel");
            std::process::exit(1);
        }
    });
    round().unwrap();
    tx.send(()).unwrap();
    watchdog.join().unwrap();
}

/// A ring with a 100 µs periodic timeout and a long submission queued
/// behind it, so that the timer fires while the kernel works through it.
fn busy_ring() -> iofd::Result<(Ring, iofd::ring::Token<Timeout>)> {
    let mut ring = Ring::new(4096)?;
    let tick = ring.push(Timeout::every(Duration::from_micros(100)))?;
    ring.submit()?;
    for _ in 0..3000 {
        drop(ring.push(Nop::new())?);
    }
    Ok((ring, tick))
}

fn main() {
    for i in 0..ROUNDS {
        guarded("a dropped token", i, || {
            let (ring, tick) = busy_ring()?;
            drop(tick);
            drop(ring);
            Ok(())
        });
    }
    for i in 0..ROUNDS {
        guarded("cancel_keep", i, || {
            let (mut ring, mut tick) = busy_ring()?;
            ring.cancel_keep(&tick)?;
            let mut last = None;
            while !tick.is_done() {
                ring.submit_and_wait(1)?;
                while let Some(r) = ring.take(&mut tick) {
                    last = Some(r);
                }
            }
            assert_eq!(last, Some(Ok(TimeoutResult::Cancelled)));
            Ok(())
        });
    }
    for i in 0..ROUNDS {
        guarded("a dropped ring", i, || {
            let (ring, tick) = busy_ring()?;
            drop(ring);
            drop(tick);
            Ok(())
        });
    }
    println!("{} rounds of each, none hung", ROUNDS);
}
