//! The example programs, run as their users run them: built with cargo,
//! driven from outside, stopped with signals sent to them alone.
//!
//! One test binary per layer: linking one binary instead of one per file is
//! most of what `cargo test` spent its time on.

#[path = "../support/server.rs"]
mod support;
#[path = "../util/mod.rs"]
mod util;

mod echo_server;
mod harness_files;
mod harness_tcp;
mod http_server;
mod supervisor;
mod thread_per_core;
