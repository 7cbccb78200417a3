//! The syscall core (`src/sys`): one module per family of wrappers.
//!
//! One test binary per layer: linking one binary instead of one per file is
//! most of what `cargo test` spent its time on.

#[path = "../util/mod.rs"]
mod util;

mod event;
mod file;
mod io;
mod mem;
mod net;
mod pipe;
mod poll;
mod process;
mod signal;
mod time;
mod uring;
