//! The ring driver: typed handle operations batched through io_uring, a
//! generation-checked completion table that grows with the work, and
//! dispatch of completions to their owners by tag — the core of an
//! io_uring event loop.
//!
//! # The model
//!
//! - **Operations are values.** Every handle hands out [`Op`]s next to its
//!   syscall methods ([`ops`] lists them): read an eventfd counter, read
//!   timerfd expirations, read a `SignalInfo`, wait for a child, read or
//!   write at an offset, accept connections (one, or a multishot stream
//!   of them), connect, receive and send (owned buffers, a scope's
//!   slices, provided-buffer rings, registered buffers, zero-copy),
//!   datagrams with addresses, shut down and close. An operation borrows its handle (or shares it
//!   through an `Arc`), never a bare descriptor number, builds one SQE and
//!   turns its CQE into a typed result or an [`Error`](crate::Error).
//! - **The completion table** holds one 56-byte slot per operation (24
//!   bytes of it the operation's storage) in chunks that are added as the
//!   work grows — never moved, since the kernel writes into them — up to
//!   [`RingBuilder::max_capacity`]; at it a push fails with
//!   [`Error::TableFull`](crate::Error::TableFull). Each SQE's `user_data`
//!   ([`UserData`]) packs its slot key and the slot's generation; a CQE
//!   whose slot is free or has moved on to a later generation is counted
//!   ([`Ring::stale_completions`]) and dropped, never delivered to another
//!   operation.
//! - **Dispatch by tag.** An operation pushed with [`Ring::push_tagged`]
//!   carries the caller's `u64` (a connection's index); each of its
//!   results is announced, in completion order, by
//!   [`Ring::next_completion`] — O(1), no scan, no allocation — and taken
//!   from its [`Token`]. The [`dispatch`] module says why this shape.
//! - **Slotless operations.** An operation whose whole result is its CQE
//!   (a NOP, a poll of a registered file, a cancel) or its CQE and 8
//!   bytes (a counter read or write of a registered file): the
//!   [`Slotless`] ones can go with no token ([`Ring::push_slotless`]).
//!   Its result comes whole with its completion; one without storage
//!   takes no slot at all, one with is lent a slot for its flight. In a
//!   hot loop of such operations this is the way to push them: it runs
//!   within a few percent of a raw io-uring loop with a slab of owners,
//!   where the token's round trip costs four to thirteen (BENCHMARKS.md,
//!   "The ring as an event loop"). The [`slotless`] module says what it saves
//!   and what it gives up.
//! - **Multishot operations are streams**: every CQE is one result, taken
//!   in order ([`Ring::take`] again and again), however late; the last has
//!   no `IORING_CQE_F_MORE`, and ends the token. A stream cancelled with
//!   [`Ring::cancel_keep`] ends with the operation's cancelled result
//!   (`Os(ECANCELED)` for a poll or a read,
//!   [`TimeoutResult::Cancelled`](ops::TimeoutResult::Cancelled) for a
//!   periodic timeout); one the kernel ends ends with its own error
//!   (`Os(ENOBUFS)` when a multishot read runs out of provided buffers).
//!   **The kernel also ends a stream when the completion queue is full**
//!   as it posts a result: that result comes as the final one (no
//!   `IORING_CQE_F_MORE`), an ordinary value (a connection, a timer's
//!   [`Fired`](ops::TimeoutResult::Fired)), and the token is then
//!   [`done`](Token::is_done). No result is lost, but the stream stops: a
//!   loop whose streams must go on pushes one again when its token is
//!   done, and sizes the completion queue
//!   ([`RingBuilder::cq_entries`]) for the results a wake-up can bring.
//! - **Nothing untaken leaks.** A result nobody takes — its token dropped,
//!   its operation detached or cancelled, its ring dropped — is decoded
//!   and dropped, so an owned buffer is freed and a provided buffer goes
//!   back to its group.
//! - **Batching.** Pushing only fills the submission queue; one
//!   `io_uring_enter` ([`Ring::submit`], [`Ring::submit_and_wait`]) submits
//!   the whole batch and may wait in the same call. A full submission queue
//!   is submitted and refilled, never an error. Completions that overflow
//!   the completion queue are flushed from the kernel's overflow list by
//!   [`Ring::reap`]: none is lost.
//! - **Reads that find nothing** (`-EAGAIN` on a non-blocking handle) are
//!   re-armed by the driver — a `POLL_ADD` linked to the read — rather than
//!   reported. (Tokened reads: a [`slotless`] one is never
//!   re-armed.)
//!
//! # Who owns an operation's storage
//!
//! The kernel may write into an operation's result storage until that
//! operation's final CQE has been reaped, so the storage must outlive it
//! whatever the caller does — return early, panic, or `mem::forget`
//! something. iofd offers three ways, from safest to rawest:
//!
//! 1. **Driver-owned** ([`Ring::push`]): the result lands in the
//!    operation's own slot of the table (24 bytes inline, a 128-byte block
//!    out of line for bigger storage), which is freed
//!    only after the final CQE. The returned [`Token`] borrows nothing, so
//!    long-lived server operations can be kept anywhere; an operation made
//!    from an `Arc`-held handle keeps the handle open too, and one made
//!    from a [`Fixed`] file (a handle registered with the ring) needs
//!    nothing kept at all. No heap allocation per operation.
//! 2. **Scoped** ([`Ring::scope`]): operations write into the caller's own
//!    storage, borrowed for longer than the scope. Leaving the scope by any
//!    path cancels and reaps every operation it started before the borrows
//!    end; the cleanup is not a value the caller holds, so it cannot be
//!    forgotten.
//! 3. **Raw** ([`Ring::push_raw`], `unsafe`): any SQE, with its contract
//!    under `# Safety`.
//!
//! Dropping a [`Ring`] cancels and reaps every operation still in flight
//! before any storage is freed.
//!
//! # Shutting a loop down
//!
//! Dropping the ring is a complete shutdown: everything in flight is
//! cancelled and reaped, and results nobody took are dropped (buffers
//! freed, descriptors and direct slots closed). A loop that must see the
//! last results first (a counter read, a child's exit status) ends each
//! kind of operation by what names it, then waits:
//!
//! - tokened operations: [`Ring::cancel_keep`] with the token, which
//!   still takes every result up to the final one (a token already
//!   [`done`](Token::is_done), as a stream the kernel ended, needs
//!   nothing);
//! - slotless ones without storage: [`Ring::cancel_slotless`] with the
//!   tag;
//! - slotless counter reads and writes: [`Ring::cancel_fixed`] with the
//!   file;
//! - a [`Mailbox`]: close it;
//! - then [`Ring::wait_idle`], and [`Ring::next_completion`] until it is
//!   empty: [`Ring::in_flight`] is then 0.
//!
//! # Timers
//!
//! Timers complete on the ring like any operation, with no descriptor each:
//! [`ops::Timeout`] (relative, absolute on a [`Clock`](crate::Clock),
//! periodic, or bounded by a completion count), deadlines on another
//! operation ([`Ring::push_with_timeout`]), and [`Ring::update_timeout`] /
//! [`Ring::remove_timeout`] for pending ones. The kernel reads a timeout's
//! `timespec` from the operation's own storage during submission, and never
//! fires one early.
//!
//! Which to use:
//!
//! - **Ring timeouts** are kernel hrtimers: precise (a 1 ms timeout is late
//!   by about 50 µs here), each with its own completion, about 1 µs of CPU
//!   per armed and fired timer, and a kernel request (about 330 bytes) plus
//!   a table slot while armed. Use them for few or precise timers and for
//!   deadlines on single operations.
//! - **[`WheelTimers`]** keeps timers in a hierarchical wheel in user space
//!   and wakes through a single ring timeout: arming and cancelling are O(1)
//!   list operations with no syscall and no allocation, about 50 ns per
//!   timer armed and fired at 100,000, but deadlines are rounded up to a
//!   whole millisecond. Use it for very many coarse timers that are mostly
//!   pushed back or cancelled: an idle timeout per connection.
//!
//! # Provided buffers
//!
//! A [`BufRing`] ([`Ring::register_buf_ring`]) is a group of buffers the
//! kernel picks from when a read has data, so that thousands of armed
//! reads need no buffer each until data comes; each result is a
//! [`ProvidedBuf`] that goes back to the group when dropped. The
//! [`bufring`] module explains who owns the memory and when.
//!
//! # Messages between rings
//!
//! A thread-per-core server runs one ring per thread. A [`Mailbox`]
//! ([`Ring::mailbox`]) receives what other rings send with
//! `IORING_OP_MSG_RING` — values ([`Sender::message_op`]), and direct
//! descriptors ([`Ring::send_file`]): an accepted connection handed to
//! another thread's ring — and what threads without a ring post
//! ([`Sender::post`]), each message announced by [`Ring::next_completion`]
//! under the mailbox's tag. [`RingHandle::wake`] just wakes a ring. The
//! [`msg`] module says how, and what a sender sees once the receiver is
//! gone.
//!
//! # An event loop
//!
//! Owners (connections, children, timers) keep their tokens; the loop
//! waits, and hands each completion to its owner by tag, which takes the
//! result and pushes its next operation:
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use iofd::EventFd;
//! use iofd::ring::ops::{PollFlags, PollMultishot, Timeout, TimeoutResult};
//! use iofd::ring::{Ring, Token};
//!
//! enum Owner {
//!     Ticker(Token<Timeout>, u32),
//!     Doorbell(Token<PollMultishot<Arc<EventFd>>>, Arc<EventFd>),
//! }
//!
//! let mut ring = Ring::new(64)?;
//! let bell = Arc::new(EventFd::new(0)?);
//! let mut owners = vec![
//!     Owner::Ticker(ring.push_tagged(Timeout::every(Duration::from_millis(1)), 0)?, 0),
//!     Owner::Doorbell(
//!         ring.push_tagged(PollMultishot::new(Arc::clone(&bell), PollFlags::IN), 1)?,
//!         Arc::clone(&bell),
//!     ),
//! ];
//! let mut rung = false;
//! while !rung {
//!     ring.submit_and_wait(1)?;
//!     while let Some(c) = ring.next_completion() {
//!         match &mut owners[c.tag as usize] {
//!             Owner::Ticker(token, ticks) => {
//!                 if let Some(Ok(TimeoutResult::Fired)) = ring.take(token) {
//!                     *ticks += 1;
//!                     if *ticks == 3 {
//!                         bell.signal(1)?; // ring the doorbell on the third tick
//!                     }
//!                 }
//!             }
//!             Owner::Doorbell(token, efd) => {
//!                 if let Some(events) = ring.take(token) {
//!                     assert!(events?.contains(PollFlags::IN));
//!                     efd.wait()?;
//!                     rung = true;
//!                 }
//!             }
//!         }
//!     }
//! }
//! // Shutting down: `cancel_keep` leaves each token able to take what
//! // raced with the shutdown, up to its final (cancelled) result.
//! for owner in &owners {
//!     match owner {
//!         Owner::Ticker(t, _) => ring.cancel_keep(t)?,
//!         Owner::Doorbell(t, _) => ring.cancel_keep(t)?,
//!     }
//! }
//! while ring.in_flight() > 0 {
//!     ring.submit_and_wait(1)?;
//! }
//! for owner in &mut owners {
//!     match owner {
//!         Owner::Ticker(t, _) => while ring.take(t).is_some() {},
//!         Owner::Doorbell(t, _) => while ring.take(t).is_some() {},
//!     }
//! }
//! # Ok::<(), iofd::Error>(())
//! ```
//!
//! # Writing an operation of one's own
//!
//! An operation the crate lacks is an [`Op`]: an `unsafe trait`, since the
//! driver pushes the SQE it builds. Build the SQE with the re-exported
//! [`io_uring`] crate, decode the CQE with [`Cqe::result`], and keep the
//! contract on [`Op`] (the SQE touches only the storage it is given and
//! what the operation borrows). A `fsync` of an `Arc`-held file, say:
//!
//! ```
//! use std::os::fd::{AsFd, AsRawFd};
//! use std::sync::Arc;
//! use iofd::MemFd;
//! use iofd::ring::io_uring::{opcode, squeue, types};
//! use iofd::ring::{Cqe, Op, Opcode, Ring};
//!
//! struct Fsync(Arc<MemFd>);
//!
//! // SAFETY: the SQE names the descriptor the operation keeps open until
//! // its CQE, and touches no memory.
//! unsafe impl Op for Fsync {
//!     type Storage = ();
//!     type Output = ();
//!     const CODE: Opcode = Opcode::new(opcode::Fsync::CODE);
//!     const NAME: &'static str = "fsync (IORING_OP_FSYNC)";
//!
//!     fn entry(&self, _storage: *mut ()) -> squeue::Entry {
//!         opcode::Fsync::new(types::Fd(self.0.as_fd().as_raw_fd())).build()
//!     }
//!
//!     fn into_keep(self) -> Option<Arc<dyn AsFd + Send + Sync>> {
//!         Some(self.0)
//!     }
//!
//!     unsafe fn output(cqe: Cqe, _storage: *const ()) -> iofd::Result<()> {
//!         cqe.result().map(drop)
//!     }
//! }
//!
//! let mut ring = Ring::new(4)?;
//! let mem = Arc::new(MemFd::new("synced")?);
//! let t = ring.push(Fsync(Arc::clone(&mem)))?;
//! ring.wait(t)?;
//! # Ok::<(), iofd::Error>(())
//! ```
//!
//! An SQE that fits no type can still go through the ring with its
//! results: [`Ring::push_raw_tagged`].
//!
//! # Examples
//!
//! Signal three eventfds and read them back in one batch:
//!
//! ```
//! use iofd::EventFd;
//! use iofd::ring::Ring;
//!
//! let mut ring = Ring::new(16)?;
//! let efds = [EventFd::new(0)?, EventFd::new(0)?, EventFd::new(0)?];
//! for (i, efd) in efds.iter().enumerate() {
//!     efd.signal(i as u64 + 1)?;
//! }
//! let mut values = [0u64; 3];
//! ring.scope(|s| {
//!     for (efd, v) in efds.iter().zip(values.iter_mut()) {
//!         let _ = s.push_into(efd.read_op(), v)?;
//!     }
//!     s.submit_and_wait_all() // one io_uring_enter for the batch
//! })?;
//! assert_eq!(values, [1, 2, 3]);
//! # Ok::<(), iofd::Error>(())
//! ```

pub mod bufring;
mod builder;
mod chain;
mod direct;
pub mod dispatch;
mod drain;
mod driver;
mod enter;
mod fixedbuf;
mod linked;
mod mailbox;
pub mod msg;
mod op;
mod opcode;
pub mod ops;
mod orphans;
mod queues;
mod reap;
mod register;
mod scope;
mod setup;
pub mod slotless;
mod sqpoll;
mod submit;
mod table;
mod take;
mod timers;
mod user_data;
mod wheel;
mod wheel_timers;

/// The io-uring crate the driver is built on, re-exported so that a custom
/// [`Op`] or a raw SQE ([`Ring::push_raw`]) is built with the very version
/// the ring takes.
pub use io_uring;

pub use bufring::{BufRing, ProvidedBuf};
pub use builder::RingBuilder;
pub use chain::{Chain, Link, SqeFlags};
pub use direct::{Direct, DirectFiles, MAX_DIRECT_FILES};
pub use dispatch::Completion;
pub use driver::Ring;
pub use fixedbuf::{FixedBuf, FixedBufs};
pub use msg::{Mailbox, Message, RingHandle, Sender};
pub use op::{FdNumber, Op, ScopedToken, Target, Token};
pub use opcode::Opcode;
pub use ops::Fixed;
pub use register::Notify;
pub use scope::Scope;
pub use slotless::{SLOTLESS_TAGS, Slotless, SlotlessStorage};
pub use table::{BIG_BYTES, Cqe, INLINE_BYTES};
pub use user_data::UserData;
pub use wheel::{Expired, TimerKey, TimerWheel};
pub use wheel_timers::WheelTimers;
