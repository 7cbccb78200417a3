//! `Ring`: the driver's state and what it reports about itself. Its work
//! lives beside it, one file a job: [`builder`](super::builder) (setup),
//! [`submit`](super::submit), [`enter`](super::enter), [`reap`](super::reap),
//! [`take`](super::take) (results and cancels), [`register`](super::register)
//! and [`drain`](super::drain) (the end of a ring or scope).
//!
//! # Safety
//!
//! The one `unsafe` block here borrows the ring's descriptor, which the
//! io-uring crate keeps open for as long as the ring lives. The table's
//! buffers, which the kernel writes, are freed only after every operation
//! is reaped (see `drain`).
#![expect(
    unsafe_code,
    reason = "borrows the descriptor the io-uring crate keeps open"
)]

use std::fmt;
use std::mem::ManuallyDrop;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use io_uring::IoUring;

use super::UserData;
use super::builder::{RingBuilder, probed};
use super::opcode::Opcode;
use super::register::Notify;
use super::table::{Life, Table};
use crate::error::Result;
use crate::sys::uring::Features;

/// The error for a token another ring issued.
pub(super) const FOREIGN_TOKEN: &str = "the token belongs to another ring";

/// The error for a token whose operation has ended: its final result was
/// taken (a multishot stream may end by itself, as when the kernel finds
/// the completion queue full: [`Token::is_done`](super::Token::is_done)).
pub(super) const SPENT_TOKEN: &str =
    "the token is spent: its operation ended and its final result was taken";

/// An io_uring instance with a completion table: the iofd driver.
///
/// Operations are values ([`Op`](super::Op)) that handles hand out
/// (`EventFd::read_op`, `TimerFd::expirations_op`, `PidFd::wait_op`, ...).
/// Pushing one fills a submission-queue entry; [`submit`](Ring::submit)
/// (or [`submit_and_wait`](Ring::submit_and_wait)) hands the whole batch to
/// the kernel in one `io_uring_enter`. A full submission queue is submitted
/// and refilled, never reported. Completions are drained into the table by
/// [`reap`](Ring::reap), including those that overflowed the completion
/// queue.
///
/// Two ways to own an operation's result storage:
///
/// - [`push`](Ring::push): driver-owned. The result lands in the
///   operation's slot in the table and lives there until taken with
///   [`take`](Ring::take) or [`wait`](Ring::wait). Nothing is borrowed, so
///   it suits long-lived server operations; no heap allocation per
///   operation.
/// - [`scope`](Ring::scope): caller-owned. Inside the scope, operations
///   write into the caller's own storage; leaving the scope — normally, by
///   `?` or by a panic — cancels and reaps every operation it started
///   before the borrows end.
///
/// Dropping the ring cancels and reaps everything still in flight before
/// any storage is freed (a [`single_issuer`](RingBuilder::single_issuer)
/// ring dropped on another thread has its own thread do that).
///
/// A `Ring` is `Send`, not `Sync`: build it (and its mailboxes) on one
/// thread and move it into the thread that runs its loop, as a
/// thread-per-core server does. A
/// [`single_issuer`](RingBuilder::single_issuer) ring takes submissions
/// only from the thread that built it: build that one in its own thread.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use iofd::EventFd;
/// use iofd::ring::Ring;
///
/// let mut ring = Ring::new(8)?;
/// // A driver-owned operation keeps its handle open: share it.
/// let efd = Arc::new(EventFd::new(0)?);
/// let token = ring.push(efd.read_op_shared())?;
/// ring.submit()?; // armed: the counter is zero
/// efd.signal(42)?;
/// assert_eq!(ring.wait(token)?, 42);
/// # Ok::<(), iofd::Error>(())
/// ```
pub struct Ring {
    /// This ring's identity, stamped on its tokens.
    pub(super) id: u32,
    /// Dropped by hand at the end of `Drop`, unless the ring was handed
    /// back to its issuing thread, which then owns it.
    pub(super) uring: ManuallyDrop<IoUring>,
    /// The ring's queues, mapped again for the driver's own use. Dropped
    /// with `uring`.
    pub(super) queues: ManuallyDrop<super::queues::Queues>,
    pub(super) table: Table,
    pub(super) supported: [u64; 4],
    /// What `io_uring_setup` reported.
    pub(super) features: Features,
    pub(super) eventfd: Option<Notify>,
    /// The registered ring index, and the thread it belongs to.
    pub(super) registered: Option<(u32, u64)>,
    /// For a `SINGLE_ISSUER` ring, the thread that built it: the kernel
    /// takes submissions from no other.
    pub(super) issuer: Option<u64>,
    /// `io_uring_enter` calls made so far.
    pub(super) enters: u64,
    /// CQEs reaped so far.
    pub(super) reaped: u64,
    /// Set while [`drain`](Ring::drain) runs: a kept handle's panic is
    /// then held until nothing is in flight, instead of being resumed by a
    /// reap, which would leave the drain with the kernel still writing.
    /// (Reaps nested in other calls hold it too: see [`reap`](Ring::reap).)
    pub(super) draining: bool,
    /// For a single-issuer ring, the kernel thread id of its issuer.
    pub(super) issuer_tid: u32,
    /// Set for a single-issuer ring whose issuer and its io_uring workers
    /// have left the process: no operation can touch the table again,
    /// whatever it says is in flight.
    pub(super) kernel_done: bool,
    /// Provided buffer rings registered on it: the kernel reads their
    /// entries and writes their buffers until the io_uring is closed, so
    /// the ring holds a reference to each, dropped after `uring` is.
    pub(super) buf_rings: Vec<super::BufRing>,
    /// The registered buffers, held (like `buf_rings`) until after `uring`
    /// is closed.
    pub(super) fixed_bufs: Option<super::FixedBufs>,
    /// Bumped at every registration and unregistration of the fixed-file
    /// table, so that a [`Direct`](super::Direct) of an earlier table never
    /// closes a slot of the current one.
    pub(super) files_epoch: u32,
    /// The slots of the table of direct descriptors, 0 when none is
    /// registered.
    pub(super) direct_slots: u32,
    /// How often `submit_and_wait(1)` has lately found nothing complete
    /// at once (see `submit_reap_wait`): turns then submit and wait in
    /// one enter.
    pub(super) wait_score: u8,
    /// Turns taken in one enter, counted to try the other way now and then.
    pub(super) turns: u32,
    /// Whether a kernel thread polls the submission queue (`SQPOLL`).
    pub(super) sqpoll: bool,
    /// Whether the ring was built disabled and not yet enabled.
    pub(super) disabled: bool,
    /// Its handle for other threads, once made, and its open mailboxes.
    pub(super) mail: super::mailbox::Mail,
    /// What was last taken of what dropped tokens and `Direct`s posted
    /// for the ring, kept empty between takes so that its room is reused.
    pub(super) posted: Vec<(UserData, super::orphans::Posted)>,
}

impl Ring {
    /// A ring with `entries` submission slots (at least 2, rounded up to a
    /// power of two) and default options.
    ///
    /// # Errors
    ///
    /// As [`RingBuilder::build`].
    pub fn new(entries: u32) -> Result<Ring> {
        Ring::builder(entries).build()
    }

    /// Options for a ring with `entries` submission slots.
    #[must_use]
    pub const fn builder(entries: u32) -> RingBuilder {
        RingBuilder {
            entries,
            cq_entries: None,
            capacity: None,
            max_capacity: RingBuilder::DEFAULT_MAX_CAPACITY,
            single_issuer: false,
            defer_taskrun: false,
            coop_taskrun: false,
            register_ring_fd: false,
            sqpoll: None,
            sqpoll_cpu: None,
            r_disabled: false,
            submit_all: false,
            clamp: false,
        }
    }

    /// Submission-queue entries.
    pub fn sq_entries(&self) -> u32 {
        self.uring.params().sq_entries()
    }

    /// Completion-queue entries.
    pub fn cq_entries(&self) -> u32 {
        self.uring.params().cq_entries()
    }

    /// How many operations the completion table has slots for now: it
    /// grows on demand up to [`max_capacity`](Ring::max_capacity).
    pub fn capacity(&self) -> usize {
        self.table.capacity()
    }

    /// The most operations the completion table holds at once
    /// ([`RingBuilder::max_capacity`]).
    pub fn max_capacity(&self) -> usize {
        self.table.max()
    }

    /// Bytes of memory the completion table holds: its slots (56 bytes
    /// each, 24 of them an operation's inline storage), what some
    /// operations need beside theirs (16 bytes a slot for a kept `Arc`
    /// handle, 80 for a re-arm recipe recorded as an SQE, each allocated
    /// for a chunk of 128 slots once one of them needs it; side records
    /// of multishot and out-of-line operations), and the dispatch queue
    /// (24 bytes a result waiting to be popped, in a buffer that doubles).
    pub fn table_bytes(&self) -> usize {
        self.table.bytes()
    }

    /// Operations pushed whose final CQE has not been reaped, slotless
    /// ones ([`push_slotless`](Ring::push_slotless)) included.
    pub fn in_flight(&self) -> usize {
        self.table.in_flight() + self.table.slotless_in_flight()
    }

    /// How many `io_uring_enter` syscalls the ring has made (submitting,
    /// waiting, flushing overflow, running deferred work): divided by the
    /// operations done, the syscalls per operation a batch saved.
    pub fn enters(&self) -> u64 {
        self.enters
    }

    /// How many CQEs the ring has reaped: every completion the kernel
    /// posted for it and the driver read, its own (cancels, wakes)
    /// included. Beside [`enters`](Ring::enters), what a benchmark reports
    /// per operation.
    pub fn completions(&self) -> u64 {
        self.reaped
    }

    /// CQEs dropped because no live operation had their `user_data` (a
    /// freed slot, or an older generation of a reused one).
    pub fn stale_completions(&self) -> u64 {
        self.table.stale()
    }

    /// The features the kernel reported when it set the ring up
    /// (`IORING_FEAT_*`), except `REG_REG_RING` and `RW_ATTR`, which the
    /// io-uring crate does not pass on. Those the driver relies on were
    /// checked then: see [`RingBuilder::build`].
    #[inline]
    pub fn features(&self) -> Features {
        self.features
    }

    /// Whether the kernel supports `code`, as it answered the probe
    /// (`IORING_REGISTER_PROBE`) when the ring was built.
    #[doc(alias = "IORING_REGISTER_PROBE")]
    #[inline]
    pub fn is_supported(&self, code: Opcode) -> bool {
        probed(&self.supported, code.code())
    }

    /// This ring's identity, stamped on its tokens: unique in the process
    /// and never reused.
    #[inline]
    pub fn id(&self) -> u32 {
        self.id
    }

    pub(crate) fn table_state(&self, ud: UserData) -> Option<Life> {
        self.table.state(ud)
    }

    pub(crate) fn table_abandon(&mut self, ud: UserData) {
        self.table.abandon(ud);
    }

    pub(crate) fn table_storage(&self, ud: UserData, big: bool) -> *mut u8 {
        self.table.storage_ptr(ud, big)
    }

    pub(crate) fn table_take(&mut self, ud: UserData) -> Option<(super::Cqe, bool)> {
        self.table.take(ud)
    }

    pub(crate) fn table_scoped_in_flight(&self) -> usize {
        self.table.scoped_in_flight()
    }
}

/// The ring's descriptor, for `epoll` or `IORING_REGISTER_*` calls of
/// one's own.
impl AsFd for Ring {
    #[inline]
    fn as_fd(&self) -> BorrowedFd<'_> {
        // SAFETY: the io-uring crate owns the ring descriptor for as long
        // as `self.uring` lives, which outlives the borrow.
        unsafe { BorrowedFd::borrow_raw(self.uring.as_raw_fd()) }
    }
}

impl fmt::Debug for Ring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ring")
            .field("sq_entries", &self.sq_entries())
            .field("cq_entries", &self.cq_entries())
            .field("table", &self.table)
            .field("eventfd", &self.eventfd)
            .finish()
    }
}
