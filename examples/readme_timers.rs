//! The README's timer example: `cargo run --example readme_timers`.

use std::sync::Arc;
use std::time::Duration;

use iofd::EventFd;
use iofd::ring::ops::{LinkTimeoutResult, Timeout, TimeoutResult};
use iofd::ring::{Ring, WheelTimers};

fn main() -> iofd::Result<()> {
    let mut ring = Ring::new(64)?;

    // A kernel timer on the ring: no descriptor, a typed result.
    let once = ring.push(Timeout::after(Duration::from_millis(5)))?;
    assert_eq!(ring.wait(once)?, TimeoutResult::Fired);

    // A deadline on an operation: read this eventfd, or give up after 10 ms.
    let efd = Arc::new(EventFd::new(0)?);
    let (read, deadline) = ring.push_with_timeout(
        efd.read_op_shared(),
        Timeout::after(Duration::from_millis(10)),
    )?;
    assert_eq!(ring.wait(deadline)?, LinkTimeoutResult::Expired);
    assert!(ring.wait(read).is_err()); // cancelled by its deadline

    // Many coarse timers on one ring timeout: an idle timeout per connection.
    let mut idle = WheelTimers::with_capacity(10_000);
    for conn in 0..10_000u32 {
        idle.arm(Duration::from_millis(20), conn);
    }
    let mut closed = 0;
    while !idle.is_empty() {
        idle.schedule(&mut ring)?;
        ring.submit_and_wait(1)?;
        closed += idle.expire(&mut ring, |_key, _conn| { /* close it */ })?;
    }
    println!("{closed} idle connections timed out");
    Ok(())
}
