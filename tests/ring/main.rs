//! The ring driver (`src/ring`): one module per feature.
//!
//! One test binary per layer: linking one binary instead of one per file is
//! most of what `cargo test` spent its time on.

#[path = "../util/mod.rs"]
mod util;

mod bufring;
mod child;
mod direct;
mod edges;
mod event_loop;
mod eventfd;
mod fixed;
mod install;
mod msg;
mod multishot;
mod net;
mod ops;
mod ops_core;
mod ops_fixed;
mod rearm;
mod scope;
mod setup;
mod slotless;
mod slotless_lent;
mod sqpoll;
mod table;
mod timer_links;
mod timer_wheel;
mod timers;
mod wheel;

/// Every completion announced until `n` have come, waiting as needed.
fn completions(ring: &mut iofd::ring::Ring, n: usize) -> Vec<iofd::ring::Completion> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut out = Vec::new();
    while out.len() < n {
        assert!(
            std::time::Instant::now() < deadline,
            "only {} of {n}",
            out.len()
        );
        ring.submit_and_wait(1).unwrap();
        while let Some(c) = ring.next_completion() {
            out.push(c);
        }
    }
    out
}

/// Asserts that every slot of `ring`'s table is free: its whole capacity
/// can be pushed, and each push completes.
fn assert_every_slot_free(ring: &mut iofd::ring::Ring) {
    let tokens: Vec<_> = (0..ring.capacity())
        .map(|_| ring.push(iofd::ring::ops::Nop::new()).unwrap())
        .collect();
    for t in tokens {
        assert_eq!(ring.wait(t), Ok(()));
    }
}
