//! The handles (`src/fd`): one module per handle.
//!
//! One test binary per layer: linking one binary instead of one per file is
//! most of what `cargo test` spent its time on.

#[path = "../util/mod.rs"]
mod util;

mod eventfd;
mod fd;
mod memfd;
mod net;
mod pidfd;
mod signalfd;
mod timerfd;
