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
mod msg;
mod multishot;
mod net;
mod ops;
mod rearm;
mod scope;
mod setup;
mod slotless;
mod sqpoll;
mod table;
mod timers;
mod wheel;

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
