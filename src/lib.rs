//! Owned Linux descriptors over an inline-assembly syscall core, built for
//! io_uring programs.
//!
//! The ring as an event loop: operations tagged with their owner,
//! completions handed back by tag.
//!
//! ```
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
//! - [`ring`]: the io_uring driver: typed operations batched into a
//!   generation-checked completion table, ring timers, registered eventfds.
//!
//! Errors are [`Error`]: the errno values callers match on get their own
//! variants, and an operation on a closed handle returns [`Error::Closed`]
//! without a syscall.
//!
//! # Platform
//!
//! Linux on x86_64 only; other targets fail to compile.
#![deny(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn, missing_docs, missing_debug_implementations)]
#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub mod error;
pub mod fd;
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
