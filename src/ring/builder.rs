//! `RingBuilder`: a ring's setup options, the setup itself, and what the
//! kernel reported it has (features, opcodes).

use std::mem::ManuallyDrop;

use std::sync::atomic::{AtomicU32, Ordering};

use io_uring::IoUring;

use super::driver::Ring;
use super::op::Op;
use super::orphans::{self, thread_key};
use super::queues::Queues;
use super::table::Table;
use crate::error::{Error, Result};
use crate::sys::Errno;
use crate::sys::uring::Features;

/// Whether opcode `code` is set in a probe bitmap.
#[inline]
pub(super) fn probed(supported: &[u64; 4], code: u8) -> bool {
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
pub(super) fn check<O: Op>(supported: &[u64; 4]) -> Result<()> {
    if probed(supported, O::CODE.code()) {
        Ok(())
    } else {
        Err(Error::Unsupported(O::NAME))
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

/// Options for a [`Ring`]; start from [`Ring::builder`].
#[derive(Clone, Debug)]
pub struct RingBuilder {
    pub(super) entries: u32,
    pub(super) cq_entries: Option<u32>,
    pub(super) capacity: Option<usize>,
    pub(super) max_capacity: usize,
    pub(super) single_issuer: bool,
    pub(super) defer_taskrun: bool,
    pub(super) coop_taskrun: bool,
    pub(super) register_ring_fd: bool,
    /// The SQPOLL idle time, when a kernel thread polls the queue.
    pub(super) sqpoll: Option<std::time::Duration>,
    pub(super) sqpoll_cpu: Option<u32>,
    pub(super) r_disabled: bool,
    pub(super) submit_all: bool,
    pub(super) clamp: bool,
}

impl RingBuilder {
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
    #[must_use]
    pub const fn register_ring_fd(mut self, on: bool) -> RingBuilder {
        self.register_ring_fd = on;
        self
    }

    /// The completion-queue size (`IORING_SETUP_CQSIZE`); by default twice
    /// the submission queue, and never less than it (the kernel's rule:
    /// [`build`](RingBuilder::build) refuses a smaller one). Completions
    /// beyond it wait in the kernel's overflow list and are flushed by the
    /// driver: none is lost. A multishot stream, though, ends when it finds
    /// the queue full (the [`ring`](crate::ring) module's "Multishot
    /// operations are streams").
    #[must_use]
    pub const fn cq_entries(mut self, n: u32) -> RingBuilder {
        self.cq_entries = Some(n);
        self
    }

    /// How many operations the completion table has room for when the
    /// ring is built (by default the completion-queue size). The table
    /// grows on demand past it, a chunk of 128 slots at a time, up to
    /// [`max_capacity`](RingBuilder::max_capacity); chunks are never moved
    /// or given back while the ring lives.
    #[must_use]
    pub const fn capacity(mut self, n: usize) -> RingBuilder {
        self.capacity = Some(n);
        self
    }

    /// The most operations that may hold a table slot at once, in flight
    /// or completed but not taken (tokened ones, and
    /// [slotless](super::slotless) ones with storage, for their flight); a
    /// push beyond it fails with [`Error::TableFull`]. Slotless operations
    /// without storage hold no slot and are not counted. By default
    /// [`DEFAULT_MAX_CAPACITY`](RingBuilder::DEFAULT_MAX_CAPACITY).
    #[must_use]
    pub const fn max_capacity(mut self, n: usize) -> RingBuilder {
        self.max_capacity = n;
        self
    }

    /// The default [`max_capacity`](RingBuilder::max_capacity): 2^20
    /// operations (56 MiB of table at most, allocated only as used).
    pub const DEFAULT_MAX_CAPACITY: usize = 1 << 20;

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
    /// when it exits. If that thread has exited already, the ring is freed
    /// once the thread and its io_uring workers are gone from the process
    /// (nothing can then run its operations in this process's memory), by
    /// the next ring built or dropped in the process.
    ///
    /// With [`sqpoll`](RingBuilder::sqpoll) the poller is the ring's only
    /// submitter and the kernel takes the enters that wake it or wait
    /// from any thread: such a ring is drained wherever it is dropped.
    #[must_use]
    pub const fn single_issuer(mut self, on: bool) -> RingBuilder {
        self.single_issuer = on;
        self
    }

    /// `IORING_SETUP_DEFER_TASKRUN` (with `SINGLE_ISSUER` and
    /// `TASKRUN_FLAG`): completion work runs only when the ring is entered
    /// to wait, in the submitter's own context. The driver keeps entering
    /// while the kernel flags deferred work (`IORING_SQ_TASKRUN`), since one
    /// entry runs only a bounded batch of it.
    #[must_use]
    pub const fn defer_taskrun(mut self, on: bool) -> RingBuilder {
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
    #[must_use]
    pub const fn coop_taskrun(mut self, on: bool) -> RingBuilder {
        self.coop_taskrun = on;
        self
    }

    /// `io_uring_setup` — creates the ring and probes its opcodes.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParam`] for zero entries or capacity, for entries
    /// beyond the kernel's maximum without [`clamp`](RingBuilder::clamp),
    /// and for options that cannot go together or are out of range, each
    /// named in the text: an SQPOLL idle time of 0 or of 2^32 ms or more,
    /// [`sqpoll_cpu`](RingBuilder::sqpoll_cpu) without
    /// [`sqpoll`](RingBuilder::sqpoll) or with a CPU that is not online
    /// (or not allowed to the thread), `sqpoll` with
    /// [`defer_taskrun`](RingBuilder::defer_taskrun) or
    /// [`coop_taskrun`](RingBuilder::coop_taskrun) (the kernel refuses
    /// them together);
    /// [`Error::Permission`] when io_uring is disabled
    /// (`kernel.io_uring_disabled`); `Os(ENOSYS)` without io_uring;
    /// [`Error::NoMemory`], also when the completion table's memory cannot
    /// be had; [`Error::Unsupported`] when the kernel lacks a
    /// requested setup flag, named in the error (`"IORING_SETUP_SQPOLL"`,
    /// `"IORING_SETUP_SUBMIT_ALL"`, ...): the ring is not silently built
    /// without it, or a feature the driver relies on
    /// (`IORING_FEAT_NODROP`, so that no completion is lost on overflow;
    /// `IORING_FEAT_CQE_SKIP`, for re-armed reads;
    /// `IORING_FEAT_SQPOLL_NONFIXED` for `sqpoll`), named in the error;
    /// `Os(ENFILE)` once the process has built
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
        self.check_setup()?;
        let mut b = IoUring::builder();
        if let Some(cq) = self.cq_entries
            && cq == 0
        {
            return Err(Error::InvalidParam(
                "completion queue entries must be at least 1",
            ));
        }
        self.apply(&mut b, &self.flags());
        let uring = match b.build(entries) {
            Ok(uring) => uring,
            Err(e) => return Err(self.setup_error(&e)),
        };
        let max = self.max_capacity;
        if max == 0 {
            return Err(Error::InvalidParam("table capacity must be at least 1"));
        }
        if max >= u32::MAX as usize {
            return Err(Error::InvalidParam(
                "table capacity must fit in 32 bits, less one",
            ));
        }
        let capacity = self
            .capacity
            .unwrap_or(uring.params().cq_entries() as usize)
            .min(max);
        let features = features_of(uring.params());
        require(features)?;
        if self.sqpoll.is_some() && !features.contains(Features::SQPOLL_NONFIXED) {
            return Err(Error::Unsupported(
                "IORING_FEAT_SQPOLL_NONFIXED (SQPOLL with plain descriptors)",
            ));
        }
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
        // Everything that can fail comes before the ring is wrapped: from
        // here on only its `Drop` closes it.
        let table = Table::try_new(capacity, max).ok_or(Error::NoMemory)?;
        let queues = Queues::new(&uring).map_err(Error::from)?;
        orphans::ring_built(id);
        let mut ring = Ring {
            id,
            uring: ManuallyDrop::new(uring),
            queues: ManuallyDrop::new(queues),
            table,
            supported,
            features,
            eventfd: None,
            registered: None,
            issuer: self.single_issuer.then(thread_key),
            issuer_tid: crate::sys::process::gettid(),
            enters: 0,
            reaped: 0,
            draining: false,
            kernel_done: false,
            buf_rings: Vec::new(),
            fixed_bufs: None,
            files_epoch: 0,
            direct_slots: 0,
            wait_score: 0,
            turns: 0,
            sqpoll: self.sqpoll.is_some(),
            disabled: self.r_disabled,
            mail: Default::default(),
            posted: Vec::new(),
        };
        if self.r_disabled {
            ring.queues.set_disabled(true);
        }
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
