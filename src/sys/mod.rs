//! The syscall core: raw entry points in inline assembly, one [`Errno`]
//! decode, and one thin typed wrapper per syscall.
//!
//! The layering follows rustix's `linux_raw` backend at a smaller scale:
//!
//! - `arch/x86_64.rs` holds the only `asm!`, and `arch/x86_64_nr.rs` the
//!   syscall numbers ([`nr`]);
//! - [`ArgReg`] types each argument register and keeps a pointer argument a
//!   pointer up to the `syscall` instruction, with the lifetime of what it
//!   borrows;
//! - [`decode`] turns a raw return into `Result<usize, Errno>`, once;
//! - [`syscall0`] .. [`syscall6`] join the three, for callers that need a
//!   raw call;
//! - the family modules ([`io`], [`file`](mod@file), [`event`], [`time`],
//!   [`mem`], [`signal`], [`process`], [`resource`], [`net`], [`pipe`],
//!   [`poll`], [`uring`]) hold one typed wrapper per syscall. Wrappers take
//!   `BorrowedFd<'_>`, slices and references, return owned descriptors as
//!   `OwnedFd`, and are `unsafe` only where the kernel keeps a pointer past
//!   the call or the caller must promise descriptor ownership.
//!
//! Every wrapper is `#[inline]` and every stub `#[inline(always)]`: a wrapper
//! adds no instruction that a hand-written `syscall` would not need. The
//! `sys` benchmark and `BENCHMARKS.md` hold the measurements.
//!
//! Unsafe code is opt-in per file: this module is under the crate's
//! `deny(unsafe_code)`, and each file that needs `unsafe` (the asm stubs,
//! the raw entry points, each family's calls) opts in at its top with
//! `#![expect(unsafe_code, reason = "..")]` and a `# Safety` paragraph
//! saying what it promises.
//!
//! # Examples
//!
//! ```
//! use iofd::sys::{self, Errno};
//!
//! let pid = sys::process::getpid();
//! assert!(pid > 0);
//! // The raw entry points return the same decoded result.
//! // SAFETY: getpid takes no arguments and touches no memory.
//! let raw = unsafe { sys::syscall0(sys::nr::GETPID) }?;
//! assert_eq!(raw as u32, pid);
//! # Ok::<(), Errno>(())
//! ```
mod arch;
mod conv;
mod errno;
mod errno_table;
mod reg;
mod syscall;

pub mod event;
pub mod file;
pub mod io;
pub mod mem;
pub mod net;
pub mod pipe;
pub mod poll;
pub mod process;
pub mod resource;
pub mod signal;
pub mod time;
pub mod uring;

pub use arch::nr;
pub use errno::{Errno, decode};
pub use reg::{A0, A1, A2, A3, A4, A5, ArgNumber, ArgReg};
pub use syscall::{syscall0, syscall1, syscall2, syscall3, syscall4, syscall5, syscall6};

use conv::owned_fd;
use syscall::syscall6_ptr;
