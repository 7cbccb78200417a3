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
mod sqpoll;
mod table;
mod timers;
mod wheel;
