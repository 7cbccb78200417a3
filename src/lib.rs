//! Owned Linux descriptors over an inline-assembly syscall core, built for
//! io_uring programs.
//!
//! The ring as an event loop: operations tagged with their owner,
//! completions handed back by tag.
//!
#![cfg_attr(feature = "ring", doc = "```")]
#![cfg_attr(not(feature = "ring"), doc = "```ignore")]
//! use std::sync::Arc;
//! use iofd::EventFd;
//! use iofd::ring::Ring;
//!
//! let mut ring = Ring::new(64)?;
//! let efds: Vec<Arc<EventFd>> = (0..3).map(|_| EventFd::new(0).map(Arc::new)).collect::<Result<_, _>>()?;
//! let mut reads = Vec::new();
//! for (owner, efd) in efds.iter().enumerate() {
//!     reads.push(ring.push_tagged(efd.read_op_shared(), owner as u64)?);
//! }
//! efds[2].signal(30)?;
//! efds[0].signal(10)?;
//! let mut got = Vec::new();
//! while got.len() < 2 {
//!     ring.submit_and_wait(1)?;
//!     while let Some(c) = ring.next_completion() {
//!         let value = ring.take(&mut reads[c.tag as usize]).expect("announced")?;
//!         got.push((c.tag, value));
//!     }
//! }
//! got.sort();
//! assert_eq!(got, [(0, 10), (2, 30)]);
//! # Ok::<(), iofd::Error>(())
//! ```
//!
//! And a handle on its own: the syscall core and an owned descriptor.
//!
//! ```
//! use std::os::fd::OwnedFd;
//!
//! use iofd::sys::event::{EventFdFlags, eventfd2};
//! use iofd::{Error, Fd};
//!
//! // The syscall core: a typed wrapper per syscall, no libc underneath.
//! let efd = eventfd2(0, EventFdFlags::CLOEXEC | EventFdFlags::NONBLOCK)?;
//!
//! // `Fd` owns it: read and write through `&self`, close from any thread.
//! let fd = Fd::from(efd);
//! fd.write(&3u64.to_ne_bytes())?;
//! let mut counter = [0u8; 8];
//! fd.read(&mut counter)?;
//! assert_eq!(u64::from_ne_bytes(counter), 3);
//! assert_eq!(fd.read(&mut counter), Err(Error::WouldBlock));
//!
//! fd.close()?;
//! fd.close()?; // idempotent
//! assert_eq!(fd.read(&mut counter), Err(Error::Closed)); // no syscall made
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Layers
//!
//! - [`sys`]: the syscall core. Raw entry points in `asm!`
//!   ([`sys::syscall0`] .. [`sys::syscall6`]), one decode of the kernel's
//!   `-errno` convention into [`sys::Errno`], and one thin typed wrapper per
//!   syscall, grouped by family.
//! - [`fd`]: owned handles. [`Fd`] is the close-capable cell every handle
//!   wraps.
#![cfg_attr(
    feature = "ring",
    doc = " - [`ring`]: the io_uring driver: typed operations batched into a"
)]
#![cfg_attr(
    not(feature = "ring"),
    doc = " - `ring` (not in this build): the io_uring driver: typed operations batched into a"
)]
//!   generation-checked completion table, ring timers, registered eventfds.
//!
//! Errors are [`Error`]: the errno values callers match on get their own
//! variants, and an operation on a closed handle returns [`Error::Closed`]
//! without a syscall.
//!
//! # Features
//!
//! - `ring` (default): the io_uring driver (the `ring` module) and the
//!   handles' ring operations (`EventFd::read_op` and the like), on the
//!   io-uring and slab crates. Without it (`default-features = false`) the
//!   crate is the syscall core and the handles alone, and its only
//!   dependencies are bitflags and thiserror.
//!
//! # Platform
//!
//! Linux on x86_64 only; other targets fail to compile.
#![deny(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn, missing_docs, missing_debug_implementations)]
#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

// The README's examples, compiled and run as doctests.
#[cfg(all(doctest, feature = "ring"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// Doc text holding a link to an item of the `ring` module:
/// `ring_link!(pre, text, path, post)` is `pre[text](path)post` with the
/// `ring` feature and `pre text post` without it (the item does not exist),
/// so the docs of the always-built modules build in both configurations.
#[cfg(feature = "ring")]
macro_rules! ring_link {
    ($pre:literal, $text:literal, $path:literal, $post:literal) => {
        concat!($pre, "[", $text, "](", $path, ")", $post)
    };
}
/// Doc text holding a link to an item of the `ring` module, here without
/// the `ring` feature: the bare text, since the item does not exist.
#[cfg(not(feature = "ring"))]
macro_rules! ring_link {
    ($pre:literal, $text:literal, $path:literal, $post:literal) => {
        concat!($pre, $text, $post)
    };
}

pub mod error;
pub mod fd;
#[cfg(feature = "ring")]
pub mod ring;
pub mod sys;

pub use error::{Error, Result};
pub use fd::{
    ChildEvent, ChildStatus, Clock, EventFd, Fd, Handle, ListenOptions, MappedRegion, MemFd, PidFd,
    SigSet, Signal, SignalFd, SignalInfo, Signaler, TcpListener, TcpStream, Timer, TimerFd,
    UdpSocket, UnixListener, UnixStream,
};
pub use sys::file::Seals;
pub use sys::mem::Prot;
