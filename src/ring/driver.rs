//! `Ring`: setup, submission, reaping, driver-owned operations, drop.
//!
//! # Safety
//!
//! Every SQE this file pushes is built by an [`Op`] (an `unsafe trait`
//! whose implementations promise what the SQE touches) or is one of the
//! driver's own requests (cancel, wake, the poll half of a re-arm), which
//! touch no memory. The storage a driver-owned operation writes is its
//! slot's inline buffer in the [`Table`], which outlives the operation:
//! slots are freed only after their final CQE, and `Drop` cancels and reaps
//! every operation before the table goes.
#![allow(unsafe_code)]

use std::fmt;
use std::mem::{ManuallyDrop, MaybeUninit};
use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::{AtomicU32, Ordering};

use io_uring::{IoUring, cqueue, opcode, squeue};

use super::UserData;
use super::op::{Op, Target, Token};
use super::ops::LinkTimeout;
use super::orphans::{self, Posted, thread_key, unregister_ring_index};
use super::table::{Delivery, INLINE_BYTES, State, Table};
use crate::error::{Error, Result};
use crate::fd::EventFd;
use crate::sys::Errno;
use crate::sys::time::Timespec;
use crate::sys::uring::Features;

/// `POLLIN`.
pub(crate) const POLLIN: u32 = 0x1;

/// The error for a token another ring issued.
const FOREIGN_TOKEN: &str = "the token belongs to another ring";

/// The `POLL_ADD` half of a poll-then-read pair for operation `ud`: linked
/// to the SQE that follows it, and silent unless it fails. A failing poll's
/// CQE carries `ud` with the auxiliary flag and ends the operation: the
/// kernel then skips the CQE of the read linked behind it as well.
fn poll_entry(target: Target, events: u32, ud: UserData) -> squeue::Entry {
    super::ops::poll_add(target, events)
        .flags(squeue::Flags::IO_LINK | squeue::Flags::SKIP_SUCCESS)
        .user_data(ud.aux().raw())
}

/// Whether opcode `code` is set in a probe bitmap.
#[inline]
fn probed(supported: &[u64; 4], code: u8) -> bool {
    supported[usize::from(code / 64)] & (1 << (code % 64)) != 0
}

/// The features the driver cannot work without, and what each is for.
const REQUIRED: [(Features, &str); 2] = [
    // Without it an overflowing completion queue drops CQEs, and their
    // operations would never end.
    (
        Features::NODROP,
        "IORING_FEAT_NODROP (no completion lost on overflow)",
    ),
    // A re-armed read's poll is submitted with `IOSQE_CQE_SKIP_SUCCESS`.
    (Features::CQE_SKIP, "IORING_FEAT_CQE_SKIP (re-armed reads)"),
];

/// The setup's features as [`Features`]. The io-uring crate reports them
/// one by one, and has no accessor for `REG_REG_RING` (a failed ring fd
/// registration reports that instead) or `RW_ATTR`: those two stay clear.
fn features_of(p: &io_uring::Parameters) -> Features {
    let all = [
        (p.is_feature_single_mmap(), Features::SINGLE_MMAP),
        (p.is_feature_nodrop(), Features::NODROP),
        (p.is_feature_submit_stable(), Features::SUBMIT_STABLE),
        (p.is_feature_rw_cur_pos(), Features::RW_CUR_POS),
        (p.is_feature_cur_personality(), Features::CUR_PERSONALITY),
        (p.is_feature_fast_poll(), Features::FAST_POLL),
        (p.is_feature_poll_32bits(), Features::POLL_32BITS),
        (p.is_feature_sqpoll_nonfixed(), Features::SQPOLL_NONFIXED),
        (p.is_feature_ext_arg(), Features::EXT_ARG),
        (p.is_feature_native_workers(), Features::NATIVE_WORKERS),
        (p.is_feature_resource_tagging(), Features::RSRC_TAGS),
        (p.is_feature_skip_cqe_on_success(), Features::CQE_SKIP),
        (p.is_feature_linked_file(), Features::LINKED_FILE),
        (p.is_feature_recvsend_bundle(), Features::RECVSEND_BUNDLE),
        (p.is_feature_min_timeout(), Features::MIN_TIMEOUT),
        (p.is_feature_no_iowait(), Features::NO_IOWAIT),
    ];
    let mut f = Features::empty();
    for (has, flag) in all {
        if has {
            f |= flag;
        }
    }
    f
}

/// Checks that the kernel has the features the driver relies on; the
/// error names the first that is missing.
fn require(have: Features) -> Result<()> {
    for (flag, name) in REQUIRED {
        if !have.contains(flag) {
            return Err(Error::Unsupported(name));
        }
    }
    Ok(())
}

/// Checks that a probe bitmap has `O`'s opcode, naming the operation when
/// it does not.
#[inline]
fn check<O: Op>(supported: &[u64; 4]) -> Result<()> {
    if probed(supported, O::CODE) {
        Ok(())
    } else {
        Err(Error::Unsupported(O::NAME))
    }
}

/// Checks `op` ([`Op::check`]), fills its storage, records how to re-arm
/// it (when `rearm` allows and the operation has a recipe) and builds its
/// SQE for slot `ud` of `table`; on error — the kernel lacks the opcode,
/// the op refuses, or it panics — the slot is freed. The SQE is not pushed, and what the slot keeps is not yet taken:
/// the caller pushes the SQE at once (so that it goes straight into the
/// ring, with no call in between to spill it to the stack) and then hands
/// the op to [`keep`].
///
/// # Safety
///
/// - `storage` points at `O::Storage` that stays valid, and is not
///   otherwise accessed, until the slot's final CQE is reaped.
#[inline(always)]
unsafe fn build<O: Op>(
    table: &mut Table,
    supported: &[u64; 4],
    op: &O,
    ud: UserData,
    storage: *mut O::Storage,
    rearm: bool,
) -> Result<squeue::Entry> {
    if let Err(e) = check::<O>(supported) {
        table.remove(ud);
        return Err(e);
    }
    // If `prepare`, `rearm` or `entry` panics, the slot was never
    // submitted: free it, or a drain would wait for it forever.
    struct Unsubmitted<'a> {
        table: &'a mut Table,
        ud: UserData,
    }
    impl Drop for Unsubmitted<'_> {
        fn drop(&mut self) {
            self.table.remove(self.ud);
        }
    }
    let guard = Unsubmitted { table, ud };
    // Dropping the guard frees the slot.
    op.check()?;
    // SAFETY: the caller's promise: `storage` is valid for writes and
    // nothing else accesses it; the kernel does not see it before the push.
    unsafe { op.prepare(storage) };
    // The recipe gets an SQE of its own, built in its place in the table
    // rather than cloned from the pushed one: a clone would put that SQE in
    // memory, and the push would copy it through the stack.
    if rearm {
        if let Some((target, events)) = op.rearm() {
            guard
                .table
                .set_rearm(ud, target, events, || op.entry(storage).user_data(ud.raw()));
        }
    }
    let entry = op.entry(storage).user_data(ud.raw());
    std::mem::forget(guard);
    Ok(entry)
}

/// Hands what a driver-owned `op` keeps open to slot `ud`, once its SQE is
/// queued. [`Op::into_keep`] must not panic (its contract): the SQE already
/// names the handle.
#[inline(always)]
fn keep<O: Op>(table: &mut Table, ud: UserData, op: O) {
    if let Some(keep) = op.into_keep() {
        table.set_keep(ud, keep);
    }
}

/// The io-uring crate's `io::Error` as an iofd error.
#[inline]
pub(crate) fn io_error(e: &std::io::Error) -> Error {
    match Errno::from_io_error(e) {
        Some(errno) => Error::from(errno),
        None => Error::Os(Errno::EIO),
    }
}

/// Which completions wake a registered eventfd.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notify {
    /// Every completion (`IORING_REGISTER_EVENTFD`).
    All,
    /// Only completions posted by the kernel's io-wq worker threads
    /// (`IORING_REGISTER_EVENTFD_ASYNC`): the kernel signals only when
    /// `io_wq_current_is_worker()`. Operations that complete inline *or*
    /// after waiting on a poll (a read armed before its data, a pidfd
    /// poll, run as task work in the submitter) do not signal it; only
    /// those punted to a worker (blocking files, `IOSQE_ASYNC`) do.
    AsyncOnly,
}

/// Options for a [`Ring`]; start from [`Ring::builder`].
#[derive(Clone, Debug)]
pub struct RingBuilder {
    entries: u32,
    cq_entries: Option<u32>,
    capacity: Option<usize>,
    single_issuer: bool,
    defer_taskrun: bool,
    coop_taskrun: bool,
    register_ring_fd: bool,
}

impl RingBuilder {
    /// Explains a failed setup: when the kernel refuses the optional flags
    /// (it answers `EINVAL` for flags it does not know) but accepts the same
    /// ring without them, the flags are what it lacks.
    #[cold]
    fn setup_error(&self, e: &std::io::Error) -> Error {
        let optional = self.single_issuer || self.defer_taskrun || self.coop_taskrun;
        if optional && Errno::from_io_error(e) == Some(Errno::EINVAL) {
            let mut plain = IoUring::<squeue::Entry, cqueue::Entry>::builder();
            if let Some(cq) = self.cq_entries {
                plain.setup_cqsize(cq);
            }
            if plain.build(self.entries).is_ok() {
                return Error::Unsupported(
                    "io_uring setup flags SINGLE_ISSUER / DEFER_TASKRUN / COOP_TASKRUN",
                );
            }
        }
        io_error(e)
    }

    /// Registers the ring's own descriptor (`IORING_REGISTER_RING_FDS`) so
    /// that each `io_uring_enter` skips the descriptor lookup. Ring
    /// registrations belong to the registering thread: from any other
    /// thread the ring enters through its plain descriptor. Only that
    /// thread can unregister it, too: a ring dropped elsewhere stays
    /// registered (its kernel memory held, one of the thread's 16 slots
    /// taken) until the registering thread next builds a ring with this
    /// option, which unregisters it first, or exits.
    ///
    /// The kernel has 16 such slots per thread. A ring built while all of
    /// them are taken (by rings still alive) is not registered and enters
    /// through its descriptor: [`Ring::ring_fd_registered`] says which.
    pub fn register_ring_fd(mut self, on: bool) -> RingBuilder {
        self.register_ring_fd = on;
        self
    }

    /// The completion-queue size (`IORING_SETUP_CQSIZE`); by default twice
    /// the submission queue. Completions beyond it wait in the kernel's
    /// overflow list and are flushed by the driver: none is lost.
    pub fn cq_entries(mut self, n: u32) -> RingBuilder {
        self.cq_entries = Some(n);
        self
    }

    /// How many operations may be in flight (or completed but not taken)
    /// at once: the completion table's size, fixed for the ring's life. By
    /// default the completion-queue size.
    pub fn capacity(mut self, n: usize) -> RingBuilder {
        self.capacity = Some(n);
        self
    }

    /// `IORING_SETUP_SINGLE_ISSUER`: only the thread that creates the ring
    /// submits to it (a `Ring` used from another thread then fails with
    /// `Os(EEXIST)`; a [`Scope`](super::Scope) there refuses its pushes
    /// with [`Error::InvalidParam`], queueing nothing). Lets the kernel
    /// skip locking.
    ///
    /// Such a ring may still be moved and dropped anywhere. Dropped on
    /// another thread with operations in flight, which only its own thread
    /// can cancel and reap, it is handed back to that thread: the thread
    /// drains and frees it the next time it builds or drops a ring, or
    /// when it exits. If that thread has exited already, the kernel ended
    /// the operations then, and the ring is freed as soon as the thread is
    /// gone, by the next ring built or dropped in the process.
    pub fn single_issuer(mut self, on: bool) -> RingBuilder {
        self.single_issuer = on;
        self
    }

    /// `IORING_SETUP_DEFER_TASKRUN` (with `SINGLE_ISSUER` and
    /// `TASKRUN_FLAG`): completion work runs only when the ring is entered
    /// to wait, in the submitter's own context. The driver keeps entering
    /// while the kernel flags deferred work (`IORING_SQ_TASKRUN`), since one
    /// entry runs only a bounded batch of it.
    pub fn defer_taskrun(mut self, on: bool) -> RingBuilder {
        self.defer_taskrun = on;
        if on {
            self.single_issuer = true;
        }
        self
    }

    /// `IORING_SETUP_COOP_TASKRUN` (with `TASKRUN_FLAG`): no interrupt to
    /// run completion work; it runs at the next entry. Without it, the
    /// kernel interrupts the submitting thread to run that work, so a
    /// blocking call the thread is in — `epoll_wait` in an event loop that
    /// waits on the ring's registered eventfd — returns `EINTR`.
    pub fn coop_taskrun(mut self, on: bool) -> RingBuilder {
        self.coop_taskrun = on;
        self
    }

    /// `io_uring_setup` — creates the ring and probes its opcodes.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParam`] for zero entries or capacity;
    /// [`Error::Permission`] when io_uring is disabled
    /// (`kernel.io_uring_disabled`); `Os(ENOSYS)` without io_uring;
    /// [`Error::NoMemory`], also when the completion table's memory cannot
    /// be had; [`Error::Unsupported`] when the kernel lacks a
    /// requested setup flag (`SINGLE_ISSUER`, `DEFER_TASKRUN`,
    /// `COOP_TASKRUN`): the ring is not silently built without it, or a
    /// feature the driver relies on (`IORING_FEAT_NODROP`, so that no
    /// completion is lost on overflow; `IORING_FEAT_CQE_SKIP`, for re-armed
    /// reads), named in the error; `Os(ENFILE)` once the process has built
    /// 2^32 - 1 rings (tokens name their ring by a 32-bit identity, never
    /// reused).
    ///
    /// See [io_uring_setup(2)](https://man7.org/linux/man-pages/man2/io_uring_setup.2.html).
    pub fn build(self) -> Result<Ring> {
        // Rings handed back to this thread are drained first.
        orphans::sweep_rings();
        if self.entries == 0 {
            return Err(Error::InvalidParam("ring entries must be at least 1"));
        }
        // Identities are never reused, so a token can never name a later
        // ring; they are 32 bits so that a token is 16 bytes.
        static NEXT_ID: AtomicU32 = AtomicU32::new(1);
        let id = NEXT_ID
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_add(1))
            .map_err(|_| Error::Os(Errno::ENFILE))?;
        // A re-armed read is a linked pair that must fit the queue at once.
        let entries = self.entries.max(2);
        let mut b = IoUring::builder();
        if let Some(cq) = self.cq_entries {
            if cq == 0 {
                return Err(Error::InvalidParam(
                    "completion queue entries must be at least 1",
                ));
            }
            b.setup_cqsize(cq);
        }
        if self.single_issuer {
            b.setup_single_issuer();
        }
        if self.defer_taskrun {
            b.setup_defer_taskrun();
            b.setup_taskrun_flag();
        }
        if self.coop_taskrun {
            b.setup_coop_taskrun();
            b.setup_taskrun_flag();
        }
        let uring = match b.build(entries) {
            Ok(uring) => uring,
            Err(e) => return Err(self.setup_error(&e)),
        };
        let capacity = self
            .capacity
            .unwrap_or(uring.params().cq_entries() as usize);
        if capacity == 0 {
            return Err(Error::InvalidParam("table capacity must be at least 1"));
        }
        if capacity > u32::MAX as usize {
            return Err(Error::InvalidParam("table capacity must fit in 32 bits"));
        }
        let features = features_of(uring.params());
        require(features)?;
        let mut probe = io_uring::Probe::new();
        uring
            .submitter()
            .register_probe(&mut probe)
            .map_err(|e| io_error(&e))?;
        let mut supported = [0u64; 4];
        for op in 0..=255u8 {
            if probe.is_supported(op) {
                supported[usize::from(op / 64)] |= 1 << (op % 64);
            }
        }
        if self.single_issuer {
            // What is dropped elsewhere comes back to this thread.
            orphans::mark_live();
        }
        orphans::ring_built(id);
        let mut ring = Ring {
            id,
            uring: ManuallyDrop::new(uring),
            table: Table::try_with_capacity(capacity).ok_or(Error::NoMemory)?,
            supported,
            features,
            eventfd: None,
            registered: None,
            issuer: self.single_issuer.then(thread_key),
            issuer_tid: crate::sys::process::gettid(),
            enters: 0,
            draining: false,
            kernel_done: false,
        };
        if self.register_ring_fd {
            ring.registered = match ring.register_ring_fd() {
                Ok(index) => Some((index, thread_key())),
                // The thread's slots are all taken: the ring works as well
                // through its descriptor.
                Err(Error::Os(Errno::EBUSY)) => None,
                Err(e) => return Err(e),
            };
        }
        Ok(ring)
    }
}

/// An io_uring instance with a completion table: the iofd driver.
///
/// Operations are values ([`Op`]) that handles hand out
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
///   [`poll`](Ring::poll) or [`wait`](Ring::wait). Nothing is borrowed, so
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
    id: u32,
    /// Dropped by hand at the end of `Drop`, unless the ring was handed
    /// back to its issuing thread, which then owns it.
    uring: ManuallyDrop<IoUring>,
    table: Table,
    supported: [u64; 4],
    /// What `io_uring_setup` reported.
    features: Features,
    eventfd: Option<Notify>,
    /// The registered ring index, and the thread it belongs to.
    registered: Option<(u32, u64)>,
    /// For a `SINGLE_ISSUER` ring, the thread that built it: the kernel
    /// takes submissions from no other.
    issuer: Option<u64>,
    /// `io_uring_enter` calls made so far.
    enters: u64,
    /// Set while [`drain`](Ring::drain) runs: a kept handle's panic is
    /// then held until nothing is in flight, instead of being resumed by a
    /// reap, which would leave the drain with the kernel still writing.
    /// (Reaps nested in other calls hold it too: see [`reap`](Ring::reap).)
    draining: bool,
    /// For a single-issuer ring, the kernel thread id of its issuer.
    issuer_tid: u32,
    /// Set for a single-issuer ring whose issuer has exited: the kernel
    /// ended every operation then, so nothing is in flight whatever the
    /// table says.
    kernel_done: bool,
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
    pub fn builder(entries: u32) -> RingBuilder {
        RingBuilder {
            entries,
            cq_entries: None,
            capacity: None,
            single_issuer: false,
            defer_taskrun: false,
            coop_taskrun: false,
            register_ring_fd: false,
        }
    }

    /// Registers the ring descriptor for this thread; returns its index.
    fn register_ring_fd(&self) -> Result<u32> {
        orphans::register_ring_fd(self.as_fd(), self.uring.as_raw_fd())
    }

    /// The thread that registered the ring descriptor, if one did.
    #[cfg(test)]
    pub(crate) fn registered_by(&self) -> Option<u64> {
        self.registered.map(|(_, thread)| thread)
    }

    /// Whether `io_uring_enter` goes through a registered ring index (on
    /// the thread that registered it).
    pub fn ring_fd_registered(&self) -> bool {
        matches!(self.registered, Some((_, t)) if t == thread_key())
    }

    /// `IORING_REGISTER_FILES` — registers descriptors as the ring's fixed
    /// files, indexed from 0 in the order given; an operation made with
    /// `.fixed(index)` then names the file by index, which spares the
    /// kernel a descriptor lookup and reference count per operation. The
    /// ring holds its own reference to each file until
    /// [`unregister_files`](Ring::unregister_files) or drop.
    ///
    /// # Errors
    ///
    /// `Os(EBUSY)` when files are already registered; `Os(EBADF)`;
    /// [`Error::InvalidParam`] for an empty list.
    pub fn register_files(&mut self, fds: &[std::os::fd::BorrowedFd<'_>]) -> Result<()> {
        if fds.is_empty() {
            return Err(Error::InvalidParam("no descriptors to register"));
        }
        let raw: Vec<i32> = fds.iter().map(|fd| fd.as_raw_fd()).collect();
        self.uring
            .submitter()
            .register_files(&raw)
            .map_err(|e| io_error(&e))
    }

    /// `IORING_UNREGISTER_FILES` — drops the fixed-file table.
    ///
    /// # Errors
    ///
    /// `Os(ENXIO)` when none is registered.
    pub fn unregister_files(&mut self) -> Result<()> {
        self.uring
            .submitter()
            .unregister_files()
            .map_err(|e| io_error(&e))
    }

    /// Submission-queue entries.
    pub fn sq_entries(&self) -> u32 {
        self.uring.params().sq_entries()
    }

    /// Completion-queue entries.
    pub fn cq_entries(&self) -> u32 {
        self.uring.params().cq_entries()
    }

    /// How many operations the completion table holds at once.
    pub fn capacity(&self) -> usize {
        self.table.capacity()
    }

    /// Operations pushed whose final CQE has not been reaped.
    pub fn in_flight(&self) -> usize {
        self.table.in_flight()
    }

    /// How many `io_uring_enter` syscalls the ring has made (submitting,
    /// waiting, flushing overflow, running deferred work): divided by the
    /// operations done, the syscalls per operation a batch saved.
    pub fn enters(&self) -> u64 {
        self.enters
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

    /// Whether the kernel supports opcode `code` (`IORING_OP_*`).
    #[inline]
    pub fn is_supported(&self, code: u8) -> bool {
        probed(&self.supported, code)
    }

    /// The ring's descriptor, for `epoll` or `IORING_REGISTER_*` calls of
    /// one's own.
    #[inline]
    pub fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        // SAFETY: the io-uring crate owns the ring descriptor for as long
        // as `self.uring` lives, which outlives the borrow.
        unsafe { std::os::fd::BorrowedFd::borrow_raw(self.uring.as_raw_fd()) }
    }

    /// Checks that the kernel has `O`'s opcode.
    #[inline]
    pub(crate) fn check<O: Op>(&self) -> Result<()> {
        check::<O>(&self.supported)
    }

    /// Pushes one SQE, submitting first when the queue is full.
    ///
    /// # Safety
    ///
    /// - The SQE satisfies [`io_uring_enter`](crate::sys::uring::io_uring_enter)'s
    ///   contract for as long as its operation is in flight.
    #[inline]
    pub(crate) unsafe fn push_entry(&mut self, entry: &squeue::Entry) -> Result<()> {
        // SAFETY: forwarded to the caller.
        if unsafe { self.uring.submission().push(entry) }.is_ok() {
            return Ok(());
        }
        self.make_room()?;
        // SAFETY: forwarded to the caller. The queue has room now.
        unsafe { self.uring.submission().push(entry) }.map_err(|_| Error::Os(Errno::EBUSY))
    }

    /// Allocates a table slot for a new operation.
    ///
    /// # Errors
    ///
    /// `Os(EBUSY)` when every slot holds an operation or an untaken result,
    /// even after reaping; [`Error::InvalidParam`] for a scoped operation on a `SINGLE_ISSUER`
    /// ring from a thread other than the one that built it: the kernel
    /// would refuse the submission, and the scope could then not end its
    /// operations.
    #[inline]
    pub(crate) fn alloc(&mut self, scoped: bool) -> Result<UserData> {
        if scoped {
            self.check_issuer()?;
        }
        match self.table.insert(scoped) {
            Some(ud) => Ok(ud),
            None => self.alloc_full(scoped),
        }
    }

    /// Fails on a `SINGLE_ISSUER` ring outside the thread that built it.
    #[inline]
    fn check_issuer(&self) -> Result<()> {
        match self.issuer {
            Some(thread) if thread != thread_key() => Err(Error::InvalidParam(
                "a single-issuer ring takes submissions only from the thread that built it",
            )),
            _ => Ok(()),
        }
    }

    /// The slow path of [`alloc`](Ring::alloc): reap, then try again.
    #[cold]
    #[inline(never)]
    fn alloc_full(&mut self, scoped: bool) -> Result<UserData> {
        // Slots that owners dropped without the ring gave up: their
        // cancels go out now, and the reap below frees them.
        if orphans::any_posted() {
            self.take_posted_slow();
            self.enter(0)?;
        }
        // Held: a caller may have claimed a slot it has not queued yet.
        self.reap_passes(false)?;
        self.table.insert(scoped).ok_or(Error::Os(Errno::EBUSY))
    }

    /// Fills `op`'s storage and pushes its SQE for slot `ud` (from
    /// [`alloc`](Ring::alloc)); on error the slot is freed.
    ///
    /// # Safety
    ///
    /// - `storage` points at `O::Storage` that stays valid, and is not
    ///   otherwise accessed, until the slot's final CQE is reaped.
    #[inline(always)]
    pub(crate) unsafe fn launch<O: Op>(
        &mut self,
        op: O,
        ud: UserData,
        storage: *mut O::Storage,
    ) -> Result<()> {
        // One view of the queue for the room check and the push, with the
        // SQE built in between. Room is made first so that the failure path
        // of the push never needs the SQE: it is then written straight into
        // the ring, where a copy through the stack would stall on store
        // forwarding (measured: 15 → 24 cycles per push).
        let mut sq = self.uring.submission();
        if sq.is_full() {
            drop(sq);
            if let Err(e) = self.make_room() {
                self.table.remove(ud);
                return Err(e);
            }
            sq = self.uring.submission();
        }
        // SAFETY: forwarded to the caller.
        let entry = unsafe { build(&mut self.table, &self.supported, &op, ud, storage, true) }?;
        // SAFETY: `O: Op` vouches for the SQE; its storage outlives the
        // operation (the caller's promise).
        if unsafe { sq.push(&entry) }.is_err() {
            // Unreachable: the queue had room and nothing else pushed.
            drop(sq);
            self.table.remove(ud);
            return Err(Error::Os(Errno::EBUSY));
        }
        drop(sq);
        keep(&mut self.table, ud, op);
        Ok(())
    }

    /// Submits until the submission queue has room for one more SQE.
    #[cold]
    #[inline(never)]
    fn make_room(&mut self) -> Result<()> {
        while self.uring.submission().is_full() {
            self.submit()?;
        }
        Ok(())
    }

    /// Pushes `op` (slot `ud`) linked to a link timeout, both in one
    /// submission, and returns the timeout's slot; on error both slots are
    /// freed. The timeout's slot is claimed only once `op`'s SQE is built,
    /// so a panic while building it leaves nothing behind. The operation is
    /// never re-armed: a re-armed read would no longer be linked to its
    /// deadline.
    ///
    /// # Safety
    ///
    /// - As [`launch`](Ring::launch), for `storage`.
    pub(crate) unsafe fn launch_linked<O: Op>(
        &mut self,
        op: O,
        ud: UserData,
        storage: *mut O::Storage,
        timeout: LinkTimeout,
        scoped: bool,
    ) -> Result<UserData> {
        if let Err(e) = self.check::<LinkTimeout>() {
            self.table.remove(ud);
            return Err(e);
        }
        // SAFETY: forwarded to the caller.
        let first = unsafe { build(&mut self.table, &self.supported, &op, ud, storage, false) }?;
        let first = first.flags(squeue::Flags::IO_LINK);
        let lt_ud = match self.alloc(scoped) {
            Ok(lt_ud) => lt_ud,
            Err(e) => {
                self.table.remove(ud);
                return Err(e);
            }
        };
        let lt_storage = self.table.inline_ptr(lt_ud).cast::<Timespec>();
        // SAFETY: the slot's inline buffer holds a 16-byte timespec, is
        // reached only through this pointer, and lives until the slot's
        // final CQE. `LinkTimeout`'s `prepare` and `entry` cannot panic.
        let second = match unsafe {
            build(
                &mut self.table,
                &self.supported,
                &timeout,
                lt_ud,
                lt_storage,
                false,
            )
        } {
            Ok(entry) => entry,
            Err(e) => {
                self.table.remove(ud);
                return Err(e);
            }
        };
        // SAFETY: both SQEs are vouched for by their `Op`s, their storage
        // outlives them (the caller's promise, and the slot's buffer); they
        // go into the queue together, so the link is never split.
        if let Err(e) = unsafe { self.push_linked(&[first, second]) } {
            self.table.remove(ud);
            self.table.remove(lt_ud);
            return Err(e);
        }
        keep(&mut self.table, ud, op);
        keep(&mut self.table, lt_ud, timeout);
        Ok(lt_ud)
    }

    /// Queues a driver-owned operation: its result lands in its slot of the
    /// completion table and waits there to be taken with
    /// [`poll`](Ring::poll) or [`wait`](Ring::wait). Nothing is submitted
    /// until [`submit`](Ring::submit) (or a call that submits).
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] when the kernel lacks the operation (naming
    /// it); `Os(EBUSY)` when every table slot holds an operation or an
    /// untaken result; errors of the submission a full queue forces.
    #[inline(always)]
    pub fn push<O: Op + 'static>(&mut self, op: O) -> Result<Token<O>>
    where
        O::Storage: Sized + Copy,
    {
        const { assert!(size_of::<O::Storage>() <= INLINE_BYTES && align_of::<O::Storage>() <= 8) };
        let ud = self.alloc(false)?;
        let storage = self.table.inline_ptr(ud).cast::<O::Storage>();
        // SAFETY: the slot's inline buffer fits `O::Storage` (asserted
        // above), is reached only through this pointer, and lives until the
        // final CQE.
        unsafe { self.launch(op, ud, storage) }?;
        Ok(Token::new(ud, self.id))
    }

    /// Takes one result of a driver-owned operation: `None` while nothing
    /// has completed (call [`submit`](Ring::submit) and [`reap`](Ring::reap),
    /// or use [`wait`](Ring::wait)). A multishot operation yields each shot
    /// in turn; the token is done after the final one.
    #[inline]
    pub fn poll<O: Op>(&mut self, token: &mut Token<O>) -> Option<Result<O::Output>>
    where
        O::Storage: Sized,
    {
        if token.done {
            return None;
        }
        if token.ring != self.id {
            // Another ring's token names nothing here: taking this ring's
            // slot with it would decode someone else's storage. The token
            // is spent, and its operation detached on its own ring.
            orphans::post(token.ring, token.ud, Posted::Detach);
            token.done = true;
            return Some(Err(Error::InvalidParam(FOREIGN_TOKEN)));
        }
        let ptr = self.table.inline_ptr(token.ud).cast::<O::Storage>();
        let (cqe, last) = self.table.take(token.ud)?;
        token.done = last;
        // SAFETY: the CQE was reaped, so the kernel is done with the slot's
        // inline buffer, which held this operation's storage; the buffer
        // stays allocated with the table.
        Some(unsafe { O::output(cqe, ptr) })
    }

    /// Submits what is queued and waits until `token`'s operation has a
    /// result, then takes it.
    ///
    /// # Errors
    ///
    /// The operation's own error, or the ring's: [`Error::Interrupted`]
    /// when a signal interrupted the wait. The token is then spent and its
    /// operation cancelled, unless its result came with the signal, which
    /// is returned instead. A result that comes while the cancel is on its
    /// way is dropped: code that must see every result (a child's exit
    /// status, which the kernel gives once) and may be interrupted waits
    /// with [`poll`](Ring::poll) and [`submit_and_wait`](Ring::submit_and_wait),
    /// which cancel nothing.
    #[inline(always)]
    pub fn wait<O: Op>(&mut self, mut token: Token<O>) -> Result<O::Output>
    where
        O::Storage: Sized,
    {
        loop {
            if let Some(r) = self.poll(&mut token) {
                if !token.done {
                    self.cancel(token)?;
                }
                return r;
            }
            if token.done {
                return Err(Error::InvalidParam("the token's result was already taken"));
            }
            if let Err(e) = self.submit_and_wait_for(1) {
                return self.wait_failed(token, e);
            }
        }
    }

    /// The end of a [`wait`](Ring::wait) whose enter failed with `e`: a
    /// result that has come meanwhile is returned, else the operation is
    /// cancelled and `e` returned.
    #[cold]
    #[inline(never)]
    fn wait_failed<O: Op>(&mut self, mut token: Token<O>, e: Error) -> Result<O::Output>
    where
        O::Storage: Sized,
    {
        if self.reap_passes(false).is_ok() {
            if let Some(r) = self.poll(&mut token) {
                if !token.done {
                    self.cancel(token)?;
                }
                return r;
            }
        }
        self.cancel(token)?;
        Err(e)
    }

    /// Gives up an operation: asks the kernel to cancel it if it is still
    /// in flight. Its slot, and the storage and handle it keeps, stay until
    /// its final CQE arrives, then are freed by [`reap`](Ring::reap).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParam`] for another ring's token; errors of the
    /// submission a full queue forces.
    pub fn cancel<O: Op>(&mut self, mut token: Token<O>) -> Result<()> {
        let ud = self.ud_of(&token)?;
        token.done = true;
        self.cancel_ud(ud)
    }

    /// The tag of `token`, if this ring issued it.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParam`] for another ring's token.
    #[inline]
    pub(crate) fn ud_of<O: Op>(&self, token: &Token<O>) -> Result<UserData> {
        if token.ring != self.id {
            return Err(Error::InvalidParam(FOREIGN_TOKEN));
        }
        Ok(token.ud)
    }

    pub(crate) fn cancel_ud(&mut self, ud: UserData) -> Result<()> {
        let in_flight = self.table.state(ud) == Some(State::Submitted);
        self.table.abandon(ud);
        if in_flight {
            self.push_cancels(ud)?;
        }
        Ok(())
    }

    /// Pushes cancel requests for operation `ud` and for the poll half of a
    /// poll-then-read pair it may be waiting behind (a linked read is only
    /// issued once its poll fires, so cancelling the poll is what ends it).
    fn push_cancels(&mut self, ud: UserData) -> Result<()> {
        // A cancel that finds nothing still searches the kernel's lists in
        // full: the poll half is named only when there can be one.
        let aux = self.table.was_rearmed(ud).then(|| ud.aux());
        for target in std::iter::once(ud).chain(aux) {
            let entry = opcode::AsyncCancel::new(target.raw())
                .build()
                .user_data(UserData::CANCEL.raw());
            // SAFETY: a cancel request touches no memory.
            unsafe { self.push_entry(&entry) }?;
        }
        Ok(())
    }

    /// Asks the kernel to cancel operation `ud` but keeps its slot: the
    /// owner still takes its (cancelled or completed) result.
    pub(crate) fn request_cancel(&mut self, ud: UserData) -> Result<()> {
        if self.table.state(ud) == Some(State::Submitted) {
            // A `-EAGAIN` already in the completion queue would otherwise
            // re-arm the operation after the cancel found nothing.
            self.table.ask_cancel(ud);
            self.push_cancels(ud)?;
        }
        Ok(())
    }

    /// This ring's identity, stamped on its tokens.
    #[inline]
    pub(crate) fn id(&self) -> u32 {
        self.id
    }

    pub(crate) fn table_state(&self, ud: UserData) -> Option<State> {
        self.table.state(ud)
    }

    pub(crate) fn table_abandon(&mut self, ud: UserData) {
        self.table.abandon(ud);
    }

    pub(crate) fn table_inline(&self, ud: UserData) -> *mut u8 {
        self.table.inline_ptr(ud)
    }

    pub(crate) fn table_take(&mut self, ud: UserData) -> Option<(super::Cqe, bool)> {
        self.table.take(ud)
    }

    pub(crate) fn table_scoped_in_flight(&self) -> usize {
        self.table.scoped_in_flight()
    }

    /// `io_uring_enter` — submits every queued SQE.
    ///
    /// # Errors
    ///
    /// [`Error::Interrupted`]; the ring's errors. `EBUSY` (completions
    /// waiting to be flushed) is handled by reaping and retrying; that reap
    /// holds a kept handle's panic for the next [`reap`](Ring::reap).
    #[inline(always)]
    pub fn submit(&mut self) -> Result<usize> {
        self.take_posted();
        self.enter(0)
    }

    /// Ends the operations posted for this ring by owners dropped without
    /// it (see the `orphans` module): one load while none are.
    #[inline(always)]
    fn take_posted(&mut self) {
        if orphans::any_posted() {
            self.take_posted_slow();
        }
    }

    /// The slow path of [`take_posted`](Ring::take_posted). A cancel that
    /// fails to go out leaves its slot abandoned, which a drop's drain
    /// cancels again.
    #[cold]
    #[inline(never)]
    fn take_posted_slow(&mut self) {
        let mut posted = Vec::new();
        orphans::take_posted(self.id, |ud, what| posted.push((ud, what)));
        for (ud, what) in posted {
            match what {
                Posted::Cancel => {
                    let _ = self.cancel_ud(ud);
                }
                Posted::Detach => self.table.abandon(ud),
            }
        }
    }

    /// `io_uring_enter` — submits every queued SQE, reaps what has
    /// completed into the table and, if that was fewer than `want`
    /// completions, waits for the rest and reaps them too. Returns how many
    /// SQEs were submitted.
    ///
    /// It does not wait while a result is already in the table to be
    /// taken — one reaped earlier, by a [`wait`](Ring::wait) for another
    /// operation, say — so a loop that waits and then polls its tokens
    /// cannot sleep on a result it has not taken. That includes the result
    /// of a token dropped untaken: cancel tokens instead of dropping them.
    ///
    /// The submission and the wait are separate enters when the wait is
    /// needed: the kernel reports a signal that interrupts a wait in the
    /// same enter as a submission as the count it submitted, not `EINTR`.
    /// A batch that completes while it is submitted costs one enter.
    ///
    /// # Errors
    ///
    /// [`Error::Interrupted`] when a signal interrupted the wait before
    /// any completion arrived (what arrived before it is reaped); the
    /// ring's errors, as [`submit`](Ring::submit).
    #[inline(always)]
    pub fn submit_and_wait(&mut self, want: usize) -> Result<usize> {
        // Results of dropped tokens are let go first: they are nobody's.
        self.take_posted();
        let want = if self.table.has_results() { 0 } else { want };
        self.submit_and_wait_for(want)
    }

    /// [`submit_and_wait`](Ring::submit_and_wait) without the check for
    /// results in the table: for a caller that has just looked for its own
    /// (a wait on one token, a scope waiting for its batch).
    #[inline(always)]
    pub(crate) fn submit_and_wait_for(&mut self, want: usize) -> Result<usize> {
        self.take_posted();
        let n = if want == 0 || !self.uring.submission().is_empty() {
            self.enter(0)?
        } else {
            0
        };
        let got = self.reap()?;
        if got < want {
            self.wait_rest(want - got)?;
        }
        Ok(n)
    }

    /// Waits until `left` more completions are reaped, in enters that
    /// submit nothing, so that a signal is reported as `EINTR`. The kernel
    /// may also end such a wait early with a completion (a timeout's CQE
    /// wakes every waiter), which only counts toward `left`; and it swallows
    /// `EINTR` when completions are already in the queue, so the queue is
    /// drained before every wait.
    #[inline(never)]
    fn wait_rest(&mut self, mut left: usize) -> Result<()> {
        loop {
            // The reap may have queued re-arms: submit them first.
            while !self.uring.submission().is_empty() {
                self.enter(0)?;
                left = left.saturating_sub(self.reap()?);
                if left == 0 {
                    return Ok(());
                }
            }
            match self.wait_once(left) {
                Ok(()) => {}
                Err(Errno::EINTR) => return Err(Error::Interrupted),
                // Completions that overflowed wait to be flushed: the
                // reap below does that.
                Err(Errno::EBUSY | Errno::EAGAIN) => {}
                Err(e) => return Err(Error::from(e)),
            }
            let got = self.reap()?;
            if got >= left {
                return Ok(());
            }
            left -= got;
        }
    }

    /// One `io_uring_enter` that submits nothing and waits for `want`
    /// completions.
    #[inline(always)]
    fn wait_once(&mut self, want: usize) -> std::result::Result<(), Errno> {
        self.enter_raw(0, want).map(drop)
    }

    /// One `io_uring_enter` for everything queued, waiting for `want`
    /// completions.
    #[inline(always)]
    fn enter_once(&mut self, want: usize) -> std::result::Result<usize, Errno> {
        let to_submit = self.uring.submission().len() as u32;
        self.enter_raw(to_submit, want)
    }

    /// One `io_uring_enter` submitting `to_submit` queued SQEs and waiting
    /// for `want` completions, through the registered ring index when this
    /// thread has one. The syscall is made inline (the syscall core's), so
    /// no call frame sits between the caller and the kernel: every return
    /// taken after a syscall costs a mispredicted branch on this machine.
    #[inline(always)]
    fn enter_raw(&mut self, to_submit: u32, want: usize) -> std::result::Result<usize, Errno> {
        use crate::sys::uring::{EnterFlags, io_uring_enter, io_uring_enter_registered};
        self.enters += 1;
        let backlog = {
            let sq = self.uring.submission();
            sq.cq_overflow() || sq.taskrun()
        };
        let want = u32::try_from(want).unwrap_or(u32::MAX);
        let flags = if want > 0 || backlog {
            EnterFlags::GETEVENTS
        } else {
            EnterFlags::empty()
        };
        let null = std::ptr::null();
        let r = match self.registered {
            // SAFETY: every queued SQE was pushed under `push_entry`'s
            // contract; no argument is passed; `index` was registered by
            // this thread and stays registered while the ring lives.
            Some((index, thread)) if thread == thread_key() => unsafe {
                io_uring_enter_registered(index, to_submit, want, flags, null, 0)
            },
            // SAFETY: as above, through the ring's own descriptor.
            _ => unsafe { io_uring_enter(self.as_fd(), to_submit, want, flags, null, 0) },
        };
        r.map(|n| n as usize)
    }

    /// [`enter_once`](Ring::enter_once), retrying after draining the
    /// completion queue when the kernel asks for that.
    #[inline(always)]
    fn enter(&mut self, want: usize) -> Result<usize> {
        match self.enter_once(want) {
            Ok(n) => Ok(n),
            Err(e) => self.enter_retry(want, e),
        }
    }

    /// The slow path of [`enter`](Ring::enter): `EBUSY`/`EAGAIN` mean the
    /// kernel holds overflowed completions, so drain the queue (which lets
    /// it flush them) and enter again while that makes progress.
    #[cold]
    #[inline(never)]
    fn enter_retry(&mut self, want: usize, mut e: Errno) -> Result<usize> {
        loop {
            if !matches!(e, Errno::EBUSY | Errno::EAGAIN) || self.reap_passes(false)? == 0 {
                return Err(Error::from(e));
            }
            match self.enter_once(want) {
                Ok(n) => return Ok(n),
                Err(again) => e = again,
            }
        }
    }

    /// Drains the completion queue into the table — flushing completions
    /// that overflowed it and running deferred completion work while the
    /// kernel flags any — and re-arms reads that found nothing ready.
    /// Returns how many CQEs it consumed.
    ///
    /// # Errors
    ///
    /// Errors of the `io_uring_enter` that flushes overflow or runs
    /// deferred work, or of re-arming.
    ///
    /// # Panics
    ///
    /// With the panic of a kept handle's `Drop` (see
    /// [`Op::into_keep`]), once the pass of completions it came in is
    /// recorded. Only the calls that reap at the top — this one,
    /// [`submit_and_wait`](Ring::submit_and_wait), [`wait`](Ring::wait) and
    /// their scope counterparts — resume such a panic. A reap inside
    /// another call (a push making room, a full table, a submit retrying)
    /// holds it for the next of those, so that it never cuts short a push
    /// that has claimed a slot but not yet queued its SQE.
    pub fn reap(&mut self) -> Result<usize> {
        self.reap_passes(true)
    }

    /// [`reap`](Ring::reap); a kept handle's panic is resumed only with
    /// `resume` (and not while draining), else held.
    #[inline(always)]
    fn reap_passes(&mut self, resume: bool) -> Result<usize> {
        /// CQEs copied out of the ring per pass.
        const PASS: usize = 32;
        let mut buf = [const { MaybeUninit::<cqueue::Entry>::uninit() }; PASS];
        let mut total = 0;
        loop {
            // Copy a pass of CQEs out, releasing their ring slots at once;
            // with the queue released, reads can be re-armed as they come.
            let cqes: &[cqueue::Entry] = self.uring.completion().fill(&mut buf);
            let mut done = 0;
            for cqe in cqes {
                let ud = UserData::from_raw(cqe.user_data());
                match self.table.complete_unsettled(ud, cqe.result(), cqe.flags()) {
                    Delivery::Unsettled => done += 1,
                    Delivery::Rearm(key) => self.rearm_or_end(key),
                    _ => {}
                }
            }
            self.table.settle(done);
            total += cqes.len();
            if resume && !self.draining {
                self.resume_unwound();
            }
            if cqes.len() == PASS {
                continue;
            }
            let backlog = {
                let sq = self.uring.submission();
                sq.cq_overflow() || sq.taskrun()
            };
            if !backlog {
                break;
            }
            // GETEVENTS flushes the overflow list and runs deferred work
            // into the queue; then drain again.
            self.enter_once(0).map_err(Error::from)?;
            if self.uring.completion().is_empty() {
                break;
            }
        }
        Ok(total)
    }

    /// Resumes the panic of a kept handle's `Drop` that a pass of
    /// completions held back (all of the pass was recorded first), unless
    /// the thread is already unwinding.
    #[inline]
    pub(crate) fn resume_unwound(&mut self) {
        if self.table.unwound_pending() {
            self.resume_unwound_slow();
        }
    }

    /// The slow path of [`resume_unwound`](Ring::resume_unwound).
    #[cold]
    #[inline(never)]
    fn resume_unwound_slow(&mut self) {
        if let Some(payload) = self.table.take_unwound() {
            if !std::thread::panicking() {
                std::panic::resume_unwind(payload);
            }
        }
    }

    /// [`rearm`](Ring::rearm), or when that fails, ends the read with the
    /// error instead, so that nothing is left half-submitted.
    fn rearm_or_end(&mut self, key: u32) {
        if let Err(e) = self.rearm(key) {
            if let Some((ud, _)) = self.table.rearm_of(key) {
                let errno = e.errno().map_or(Errno::EIO.raw(), Errno::raw);
                self.table.complete(ud.aux(), -errno, 0);
            }
        }
    }

    /// Re-arms the read in slot `key` after `-EAGAIN`: a `POLL_ADD` for its
    /// descriptor linked to the read itself, so the read runs once there is
    /// something to read. Only a failing poll produces a CQE (tagged with the
    /// auxiliary flag, and is then the operation's final result); the read
    /// keeps its tag.
    fn rearm(&mut self, key: u32) -> Result<()> {
        let Some((ud, r)) = self.table.rearm_of(key) else {
            return Ok(());
        };
        let pair = [poll_entry(r.target, r.events, ud), r.entry.clone()];
        self.table.mark_rearmed(ud);
        // SAFETY: the poll touches no memory and its descriptor is kept
        // open by the operation (borrowed for its scope, or kept by the
        // slot); the read is the operation's own SQE again, whose storage is
        // still reserved for it (the slot is in flight). Both go into the
        // queue together, so the link can never be split across two
        // submissions (which would leave the read running after its poll's
        // failure ended the operation).
        unsafe { self.push_linked(&pair) }
    }

    /// Pushes SQEs that must reach the kernel in one submission (a link),
    /// submitting first until the queue has room for all of them.
    ///
    /// # Safety
    ///
    /// - As [`push_entry`](Ring::push_entry), for every entry.
    unsafe fn push_linked(&mut self, entries: &[squeue::Entry]) -> Result<()> {
        if entries.len() > self.uring.params().sq_entries() as usize {
            return Err(Error::InvalidParam(
                "a link longer than the submission queue",
            ));
        }
        loop {
            // SAFETY: forwarded to the caller; `push_multiple` pushes all of
            // them or none.
            if unsafe { self.uring.submission().push_multiple(entries) }.is_ok() {
                return Ok(());
            }
            self.submit()?;
        }
    }

    /// Registers `efd` to be signalled when completions arrive, so that an
    /// `epoll` or tokio loop can sleep on it and reap when it fires. The
    /// kernel keeps its own reference to the eventfd.
    ///
    /// # Errors
    ///
    /// `Os(EBUSY)` when an eventfd is already registered; [`Error::Closed`].
    ///
    /// See [io_uring_register(2)](https://man7.org/linux/man-pages/man2/io_uring_register.2.html).
    pub fn register_eventfd(&mut self, efd: &EventFd, notify: Notify) -> Result<()> {
        let fd = efd.as_fd().as_raw_fd();
        if !efd.is_valid() {
            return Err(Error::Closed);
        }
        let sub = self.uring.submitter();
        let r = match notify {
            Notify::All => sub.register_eventfd(fd),
            Notify::AsyncOnly => sub.register_eventfd_async(fd),
        };
        r.map_err(|e| io_error(&e))?;
        self.eventfd = Some(notify);
        Ok(())
    }

    /// Unregisters the eventfd.
    ///
    /// # Errors
    ///
    /// `Os(ENXIO)` when none is registered.
    pub fn unregister_eventfd(&mut self) -> Result<()> {
        self.uring
            .submitter()
            .unregister_eventfd()
            .map_err(|e| io_error(&e))?;
        self.eventfd = None;
        Ok(())
    }

    /// Which completions signal the registered eventfd, if one is.
    pub fn registered_eventfd(&self) -> Option<Notify> {
        self.eventfd
    }

    /// Switches eventfd notifications off or on at run time
    /// (`IORING_CQ_EVENTFD_DISABLED`), without unregistering.
    pub fn set_eventfd_enabled(&mut self, on: bool) {
        let cq = self.uring.completion();
        if on {
            cq.enable_eventfd();
        } else {
            cq.disable_eventfd();
        }
    }

    /// Whether eventfd notifications are on.
    pub fn eventfd_enabled(&mut self) -> bool {
        !self.uring.completion().eventfd_disabled()
    }

    /// Cancels every operation still in flight (all of them, or only the
    /// scoped ones) and reaps until none is left. Never returns `true`
    /// while the kernel may still write into their storage. If the ring
    /// stops working (e.g. a `SINGLE_ISSUER` ring dropped on a thread that
    /// is not its submitter: every enter fails with `EEXIST`), a scoped
    /// drain aborts the process rather than let caller memory be written
    /// after it is freed; a full drain returns `false`, and the caller
    /// (`Drop`) leaks the table, whose buffers are the only storage its
    /// driver-owned operations use. A kept handle's `Drop` that panics
    /// meanwhile is held back (see [`resume_unwound`](Ring::resume_unwound))
    /// for the caller to resume once nothing is in flight.
    pub(crate) fn drain(&mut self, scoped_only: bool) -> bool {
        let was_draining = std::mem::replace(&mut self.draining, true);
        let drained = self.drain_all(scoped_only);
        self.draining = was_draining;
        drained
    }

    /// [`drain`](Ring::drain)'s work, with reaps holding back panics.
    fn drain_all(&mut self, scoped_only: bool) -> bool {
        // A cancel that could not be queued (its submission failed) is
        // sent again before each wait: the operation may never end
        // without it.
        let mut cancelled = self.cancel_live(scoped_only);
        let mut failures = 0u32;
        loop {
            let left = if scoped_only {
                self.table.scoped_in_flight()
            } else {
                self.table.in_flight()
            };
            if left == 0 {
                break;
            }
            if !cancelled {
                cancelled = self.cancel_live(scoped_only);
            }
            match self.submit_and_wait_for(1) {
                Ok(_) | Err(Error::Interrupted) => failures = 0,
                Err(_) => {
                    failures += 1;
                    if failures > 1000 {
                        if !scoped_only {
                            return false;
                        }
                        // The kernel may still write into caller storage
                        // that is about to be freed: stopping is the only
                        // sound choice left.
                        std::process::abort();
                    }
                }
            }
        }
        true
    }

    /// Asks the kernel to cancel every live operation (all, or only the
    /// scoped ones) and frees those already completed; `false` when a
    /// cancel request could not be queued.
    fn cancel_live(&mut self, scoped_only: bool) -> bool {
        let mut all_sent = true;
        // The cancels go from the highest live key down: the kernel finds
        // a poll to cancel by walking its hash bucket from the newest
        // entry, past every poll armed after it and every one cancelled
        // but not yet reaped, so cancelling the newest first (a fresh
        // table's keys rise in push order), with each submission's cancels
        // completing before the next, keeps every search short, where
        // oldest-first made a drain quadratic in the operations in flight.
        // Both scans stop once they have seen every live slot they are
        // after: a small batch in a big table costs a few keys.
        let mut unseen = self.table.live_count(scoped_only);
        let top = self.top_live_key(scoped_only, unseen);
        if unseen > 0 {
            for key in (0..=top).rev() {
                let Some((ud, state, scoped)) = self.table.at(key) else {
                    continue;
                };
                if scoped_only && !scoped {
                    continue;
                }
                match state {
                    State::Submitted => {
                        // Abandoned first, so a failed push leaves it in
                        // the state a retry looks for.
                        all_sent &= self.cancel_ud(ud).is_ok();
                    }
                    State::Cancelled => {
                        // Abandoned without a cancel request (a detached
                        // operation, or a cancel that failed to go out):
                        // it may never end on its own.
                        all_sent &= self.push_cancels(ud).is_ok();
                    }
                    State::Completed => {
                        self.table.remove(ud);
                    }
                }
                unseen -= 1;
                if unseen == 0 {
                    break;
                }
            }
        }
        all_sent
    }

    /// The highest key of the `live` live slots (all, or only the scoped
    /// ones), found by a scan from key 0 that stops at the last of them.
    fn top_live_key(&self, scoped_only: bool, mut live: usize) -> usize {
        let mut top = 0;
        for key in 0..self.table.capacity() {
            if live == 0 {
                break;
            }
            if let Some((_, _, scoped)) = self.table.at(key) {
                if scoped || !scoped_only {
                    top = key;
                    live -= 1;
                }
            }
        }
        top
    }

    /// Pushes an SQE as it is, `user_data` included, with no table slot:
    /// its CQE is matched against the table like any other, so a tag that
    /// names no live operation is counted in
    /// [`stale_completions`](Ring::stale_completions) and dropped.
    ///
    /// # Safety
    ///
    /// - The SQE satisfies [`io_uring_enter`](crate::sys::uring::io_uring_enter)'s
    ///   contract: everything it points at stays valid, and every descriptor
    ///   it names stays open, until its CQE has been reaped.
    /// - Its `user_data` does not name a live operation of this ring (a
    ///   result would be delivered to that operation's owner).
    /// - It does not close the ring or change its registrations.
    ///
    /// # Errors
    ///
    /// Errors of the submission a full queue forces.
    pub unsafe fn push_raw(&mut self, entry: &squeue::Entry) -> Result<()> {
        // SAFETY: forwarded to the caller.
        unsafe { self.push_entry(entry) }
    }
}

impl Ring {
    /// The issuing thread of a single-issuer ring dropped elsewhere with
    /// operations the kernel may still run: its key and kernel thread id.
    fn issuer_elsewhere(&self) -> Option<(u64, u32)> {
        match self.issuer {
            Some(issuer)
                if !self.kernel_done && issuer != thread_key() && self.table.in_flight() > 0 =>
            {
                Some((issuer, self.issuer_tid))
            }
            _ => None,
        }
    }

    /// Moves the ring out of `self`, which keeps an empty table and must
    /// not touch its `uring` again.
    fn take(&mut self) -> Ring {
        Ring {
            id: self.id,
            // SAFETY: `self` is being dropped and returns right after this
            // (see `Drop`): its `uring` is never used or dropped again.
            uring: ManuallyDrop::new(unsafe { ManuallyDrop::take(&mut self.uring) }),
            table: std::mem::replace(&mut self.table, Table::empty()),
            supported: self.supported,
            features: self.features,
            eventfd: self.eventfd,
            registered: self.registered.take(),
            issuer: self.issuer,
            enters: self.enters,
            draining: false,
            issuer_tid: self.issuer_tid,
            kernel_done: false,
        }
    }

    /// Records that the ring's issuing thread has exited, so the kernel
    /// has ended every operation: the drop frees the table without a
    /// drain (which could not enter the ring anyway).
    pub(crate) fn forget_in_flight(&mut self) {
        self.kernel_done = true;
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        if let Some((issuer, tid)) = self.issuer_elsewhere() {
            // Only the issuing thread can cancel and reap what is in
            // flight, and the table must outlive it: the ring goes back to
            // that thread (see the `orphans` module). The ring with its
            // table moves out; what is left here is empty.
            let ring = self.take();
            orphans::hand_back(issuer, tid, ring);
            orphans::sweep_rings();
            return;
        }
        // What was posted for this ring is moot: the drain ends everything.
        orphans::ring_dropped(self.id);
        if !self.kernel_done && !self.drain(false) {
            // Operations are still in flight and cannot be reaped (only
            // driver-owned ones: a scope drains its own before it ends).
            // Their storage is the table's inline buffers: leak the table
            // (and the handles it keeps) instead of freeing memory the
            // kernel may still write. A kept handle's panic the drain held
            // is not leaked with it: it goes on below.
            self.table.leak();
        }
        if let Some((index, thread)) = self.registered {
            if thread == thread_key() {
                unregister_ring_index(self.as_fd(), index);
            } else {
                // Only the registering thread can unregister it; until it
                // does, its registration holds the ring open in the kernel.
                orphans::orphan_index(thread, index);
            }
        }
        // SAFETY: the ring's descriptor and mappings are not used again:
        // this is the end of its drop, and `take` never ran (it returns
        // above).
        unsafe { ManuallyDrop::drop(&mut self.uring) };
        orphans::sweep_rings();
        // Everything is reaped: a kept handle's panic held back by the
        // drain can go on now.
        self.resume_unwound();
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

#[cfg(test)]
mod tests {
    use super::{Error, Features, require};

    #[test]
    fn a_missing_feature_is_named() {
        assert!(matches!(
            require(Features::empty()),
            Err(Error::Unsupported(name)) if name.starts_with("IORING_FEAT_NODROP")
        ));
        assert!(matches!(
            require(Features::NODROP),
            Err(Error::Unsupported(name)) if name.starts_with("IORING_FEAT_CQE_SKIP")
        ));
        assert!(require(Features::NODROP | Features::CQE_SKIP).is_ok());
    }
}
