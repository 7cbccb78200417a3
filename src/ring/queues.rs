//! The submission and completion queues, read and written in place
//! through the ring's own mapping of them.
//!
//! The io-uring crate sets the ring up and registers resources; the hot
//! path — an SQE written into its slot, a CQE read where the kernel put
//! it — is done here, as liburing does it: the queue indices kept in
//! `Queues` (this side is the only writer of the SQ tail and the CQ head),
//! the kernel's indices read only when the local view runs out, a CQE read
//! with plain loads rather than copied out through a call.
//!
//! # Safety
//!
//! The mappings are made from the ring's descriptor with the offsets the
//! kernel reported at setup, and unmapped only when `Queues` drops, after
//! the last use. The kernel writes the SQ head, the CQ tail and the CQEs;
//! this side writes the SQ tail, the CQ head and the SQEs, each published
//! with `Release` after the entries it covers, and reads the kernel's
//! indices with `Acquire` before the entries they cover. Nothing else
//! touches those indices: the driver never uses the io-uring crate's own
//! queue views.
#![expect(
    unsafe_code,
    reason = "maps the shared submission and completion queues"
)]

use std::ffi::c_void;
use std::os::fd::BorrowedFd;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

use io_uring::squeue;

use crate::sys::Errno;
use crate::sys::mem::{MapFlags, Prot, mmap, munmap};
use crate::sys::uring::{
    IORING_CQ_EVENTFD_DISABLED as CQ_EVENTFD_DISABLED, IORING_OFF_SQ_RING, IORING_OFF_SQES,
    IORING_SQ_CQ_OVERFLOW as SQ_CQ_OVERFLOW, IORING_SQ_NEED_WAKEUP as SQ_NEED_WAKEUP,
    IORING_SQ_TASKRUN as SQ_TASKRUN, IoUringParams,
};

/// A CQE as the kernel lays it out (`struct io_uring_cqe`, 16 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub(crate) struct RawCqe {
    pub(crate) user_data: u64,
    pub(crate) res: i32,
    pub(crate) flags: u32,
}

/// One mapping of the ring's memory.
struct Map {
    at: NonNull<c_void>,
    len: usize,
}

impl Map {
    /// Maps `len` bytes of the ring at `offset`, shared and read-write.
    fn new(fd: BorrowedFd<'_>, offset: u64, len: usize) -> Result<Map, Errno> {
        // SAFETY: a fresh mapping chosen by the kernel replaces nothing.
        let at = unsafe {
            mmap(
                std::ptr::null_mut(),
                len,
                Prot::READ | Prot::WRITE,
                MapFlags::SHARED | MapFlags::POPULATE,
                Some(fd),
                offset,
            )
        }?;
        Ok(Map { at, len })
    }

    /// A pointer `offset` bytes in.
    fn at<T>(&self, offset: u32) -> *mut T {
        self.at
            .as_ptr()
            .cast::<u8>()
            .wrapping_add(offset as usize)
            .cast()
    }
}

impl Drop for Map {
    fn drop(&mut self) {
        // SAFETY: the mapping is this `Map`'s own, and the pointers into it
        // die with the `Queues` that owns it.
        let _ = unsafe { munmap(self.at.as_ptr(), self.len) };
    }
}

/// The ring's two queues.
pub(crate) struct Queues {
    sq_head: *const AtomicU32,
    sq_tail_shared: *const AtomicU32,
    sq_flags: *const AtomicU32,
    sqes: *mut squeue::Entry,
    sq_mask: u32,
    sq_entries: u32,
    /// The SQEs that may be queued at once: `sq_entries`, or 0 while the
    /// ring is disabled, so that every push takes the slow path, which
    /// refuses it.
    limit: u32,
    /// The SQ tail when an SQPOLL ring's queue was last handed to its
    /// poller (see [`hand_over`](Queues::hand_over)).
    handed: u32,
    /// The SQ tail: written by this side only, published at every push.
    sq_tail: u32,
    /// The kernel's SQ head as last read: it only ever advances, so the
    /// room it implies is a lower bound.
    sq_head_seen: u32,
    cq_head_shared: *const AtomicU32,
    cq_tail: *const AtomicU32,
    cq_flags: *const AtomicU32,
    cqes: *const RawCqe,
    cq_mask: u32,
    /// The CQ head: written by this side only.
    cq_head: u32,
    _rings: Map,
    _sqes: Map,
}

// SAFETY: the pointers are into mappings `Queues` owns; moving it to
// another thread moves them with it, and `&mut self` is needed to touch
// the queues.
unsafe impl Send for Queues {}

impl Queues {
    /// Maps the queues of `uring` again.
    ///
    /// # Errors
    ///
    /// Errors of `mmap`.
    pub(crate) fn new(uring: &io_uring::IoUring) -> Result<Queues, Errno> {
        use std::os::fd::AsRawFd;
        // SAFETY: the descriptor is the ring's, open while `uring` lives,
        // which outlives this call; the mappings made from it stay valid
        // after it is closed.
        let fd = unsafe { BorrowedFd::borrow_raw(uring.as_raw_fd()) };
        let p = params_of(uring.params());
        let sq_len = p.sq_off.array as usize + p.sq_entries as usize * size_of::<u32>();
        let cq_len = p.cq_off.cqes as usize + p.cq_entries as usize * size_of::<RawCqe>();
        // One mapping holds both rings (`IORING_FEAT_SINGLE_MMAP`, Linux
        // 5.4, older than every feature the builder requires).
        let rings = Map::new(fd, IORING_OFF_SQ_RING, sq_len.max(cq_len))?;
        let sqes = Map::new(
            fd,
            IORING_OFF_SQES,
            p.sq_entries as usize * size_of::<squeue::Entry>(),
        )?;
        let load = |offset: u32| {
            // SAFETY: the kernel put a `u32` at each reported offset, inside
            // the mapping, and the mask and count never change.
            unsafe { rings.at::<u32>(offset).read() }
        };
        let sq_mask = load(p.sq_off.ring_mask);
        let sq_entries = load(p.sq_off.ring_entries);
        let cq_mask = load(p.cq_off.ring_mask);
        let sq_head: *const AtomicU32 = rings.at(p.sq_off.head);
        let sq_tail_shared: *const AtomicU32 = rings.at(p.sq_off.tail);
        let cq_head_shared: *const AtomicU32 = rings.at(p.cq_off.head);
        // SAFETY: valid, aligned `u32` indices in the mapping.
        let (head, tail, cq_head) = unsafe {
            (
                (*sq_head).load(Ordering::Acquire),
                (*sq_tail_shared).load(Ordering::Relaxed),
                (*cq_head_shared).load(Ordering::Relaxed),
            )
        };
        Ok(Queues {
            sq_head,
            sq_tail_shared,
            sq_flags: rings.at(p.sq_off.flags),
            sqes: sqes.at(0),
            sq_mask,
            sq_entries,
            limit: sq_entries,
            handed: tail,
            sq_tail: tail,
            sq_head_seen: head,
            cq_head_shared,
            cq_tail: rings.at(p.cq_off.tail),
            cq_flags: rings.at(p.cq_off.flags),
            cqes: rings.at(p.cq_off.cqes),
            cq_mask,
            cq_head,
            _rings: rings,
            _sqes: sqes,
        })
    }

    /// The SQ's size.
    pub(crate) fn sq_entries(&self) -> u32 {
        self.sq_entries
    }

    /// SQEs queued and not yet consumed by the kernel.
    #[inline(always)]
    pub(crate) fn sq_len(&mut self) -> u32 {
        // SAFETY: a valid index in the mapping (see `new`).
        self.sq_head_seen = unsafe { (*self.sq_head).load(Ordering::Acquire) };
        self.sq_tail.wrapping_sub(self.sq_head_seen)
    }

    /// Whether nothing is queued.
    #[inline(always)]
    pub(crate) fn sq_is_empty(&mut self) -> bool {
        self.sq_len() == 0
    }

    /// Room for `n` more SQEs: the kernel's head is read only when the
    /// last one read leaves too little.
    #[inline(always)]
    pub(crate) fn sq_has_room(&mut self, n: u32) -> bool {
        if self.sq_tail.wrapping_sub(self.sq_head_seen) + n <= self.limit {
            return true;
        }
        self.sq_len() + n <= self.limit
    }

    /// Lets no SQE be queued (`true`), or the queue's size again.
    pub(crate) fn set_disabled(&mut self, off: bool) {
        self.limit = if off { 0 } else { self.sq_entries };
    }

    /// For an SQPOLL ring: how many SQEs were queued since the queue was
    /// last handed to the poller, now counted as handed. (The tail itself
    /// is published at every push.)
    #[inline]
    pub(crate) fn hand_over(&mut self) -> u32 {
        let n = self.sq_tail.wrapping_sub(self.handed);
        self.handed = self.sq_tail;
        n
    }

    /// For an SQPOLL ring: whether SQEs were queued since the last
    /// [`hand_over`](Queues::hand_over).
    #[inline]
    pub(crate) fn unhanded(&self) -> bool {
        self.sq_tail != self.handed
    }

    /// For an SQPOLL ring: whether the poller sleeps and must be woken to
    /// see what was queued (`IORING_SQ_NEED_WAKEUP`).
    #[inline]
    pub(crate) fn needs_wakeup(&self) -> bool {
        // The tail stores before this load must be visible to the poller
        // before the flag is read: the poller sets the flag and then
        // reads the tail, with a full barrier between (the kernel's
        // `smp_mb__after_atomic` in `io_sq_thread`). With a full barrier
        // on this side too, either this load sees the flag, or the poller
        // sees the new tail before it sleeps.
        std::sync::atomic::fence(Ordering::SeqCst);
        self.sq_flags() & SQ_NEED_WAKEUP != 0
    }

    /// Whether the SQ is full.
    #[inline(always)]
    pub(crate) fn sq_is_full(&mut self) -> bool {
        !self.sq_has_room(1)
    }

    /// Writes `entry` into the next SQ slot and publishes it.
    ///
    /// # Safety
    ///
    /// - There is room ([`sq_has_room`](Queues::sq_has_room)).
    /// - The SQE satisfies [`io_uring_enter`](crate::sys::uring::io_uring_enter)'s
    ///   contract for as long as its operation is in flight.
    #[inline(always)]
    pub(crate) unsafe fn push_unchecked(&mut self, entry: squeue::Entry) {
        let at = (self.sq_tail & self.sq_mask) as usize;
        // SAFETY: `at` is below the SQ's size, inside the SQE mapping; the
        // slot is free (the caller checked for room), so the kernel does
        // not read it until the tail is published below.
        unsafe { self.sqes.add(at).write(entry) };
        self.sq_tail = self.sq_tail.wrapping_add(1);
        // SAFETY: a valid index; `Release` publishes the SQE with it.
        unsafe { (*self.sq_tail_shared).store(self.sq_tail, Ordering::Release) };
    }

    /// Pushes all of `entries` or none: `false` without room for all. The
    /// tail is published once, after the last: an SQPOLL poller, which
    /// takes SQEs as soon as they are published, sees the whole link or
    /// none of it (a link cut at the end of a submission would run its
    /// first part alone).
    ///
    /// # Safety
    ///
    /// - As [`push_unchecked`](Queues::push_unchecked), for every entry.
    pub(crate) unsafe fn push_all(&mut self, entries: &[squeue::Entry]) -> bool {
        let Ok(n) = u32::try_from(entries.len()) else {
            return false;
        };
        if !self.sq_has_room(n) {
            return false;
        }
        for e in entries {
            let at = (self.sq_tail & self.sq_mask) as usize;
            // SAFETY: as in `push_unchecked`: `at` is inside the SQE
            // mapping and its slot is free (room was checked for all);
            // the kernel reads none of them before the tail below.
            unsafe { self.sqes.add(at).write(e.clone()) };
            self.sq_tail = self.sq_tail.wrapping_add(1);
        }
        // SAFETY: a valid index; `Release` publishes the SQEs with it.
        unsafe { (*self.sq_tail_shared).store(self.sq_tail, Ordering::Release) };
        true
    }

    /// The SQ ring's flags word.
    #[inline(always)]
    fn sq_flags(&self) -> u32 {
        // SAFETY: a valid index in the mapping.
        unsafe { (*self.sq_flags).load(Ordering::Acquire) }
    }

    /// Whether completions wait in the kernel's overflow list, or
    /// completion work waits to be run: an enter with `GETEVENTS` brings
    /// them into the CQ.
    #[inline(always)]
    pub(crate) fn backlog(&self) -> bool {
        self.sq_flags() & (SQ_CQ_OVERFLOW | SQ_TASKRUN) != 0
    }

    /// Whether completions wait in the kernel's overflow list.
    #[inline(always)]
    pub(crate) fn overflowed(&self) -> bool {
        self.sq_flags() & SQ_CQ_OVERFLOW != 0
    }

    /// The CQEs ready now: from the local head to the kernel's tail.
    #[inline(always)]
    pub(crate) fn cq_window(&self) -> (u32, u32) {
        // SAFETY: a valid index; `Acquire` orders the CQEs it covers.
        let tail = unsafe { (*self.cq_tail).load(Ordering::Acquire) };
        (self.cq_head, tail)
    }

    /// The CQE at index `at` of a window from [`cq_window`](Queues::cq_window),
    /// not yet released.
    #[inline(always)]
    pub(crate) fn cqe(&self, at: u32) -> RawCqe {
        // SAFETY: the index is masked into the CQE array, inside the
        // mapping; the kernel wrote the entry before publishing the tail
        // that covers it, and does not reuse it before it is released.
        unsafe { self.cqes.add((at & self.cq_mask) as usize).read() }
    }

    /// Hands the CQEs before index `head` back to the kernel.
    #[inline(always)]
    pub(crate) fn cq_release(&mut self, head: u32) {
        self.cq_head = head;
        // SAFETY: a valid index; `Release` orders the reads of the CQEs
        // before the kernel may overwrite them.
        unsafe { (*self.cq_head_shared).store(head, Ordering::Release) };
    }

    /// Whether no CQE is ready.
    #[inline(always)]
    pub(crate) fn cq_is_empty(&self) -> bool {
        let (head, tail) = self.cq_window();
        head == tail
    }

    /// Whether completions are kept from signalling the registered eventfd
    /// (`IORING_CQ_EVENTFD_DISABLED`).
    pub(crate) fn eventfd_disabled(&self) -> bool {
        // SAFETY: a valid index in the mapping.
        unsafe { (*self.cq_flags).load(Ordering::Acquire) & CQ_EVENTFD_DISABLED != 0 }
    }

    /// Sets or clears `IORING_CQ_EVENTFD_DISABLED`.
    pub(crate) fn set_eventfd_disabled(&mut self, off: bool) {
        // SAFETY: a valid index in the mapping; the kernel only reads it.
        let flags = unsafe { &*self.cq_flags };
        if off {
            flags.fetch_or(CQ_EVENTFD_DISABLED, Ordering::Release);
        } else {
            flags.fetch_and(!CQ_EVENTFD_DISABLED, Ordering::Release);
        }
    }
}

/// The kernel's view of the setup parameters the io-uring crate holds.
pub(crate) fn params_of(p: &io_uring::Parameters) -> &IoUringParams {
    const { assert!(size_of::<io_uring::Parameters>() == size_of::<IoUringParams>()) };
    // SAFETY: `Parameters` is `#[repr(transparent)]` over the kernel's
    // `struct io_uring_params` (its documentation says so, and that a value
    // may be made from any such memory); `IoUringParams` is the same
    // `#[repr(C)]` struct of plain integers (its flag types are transparent
    // `u32`s that take any bits), of the same size.
    unsafe { &*std::ptr::from_ref(p).cast::<IoUringParams>() }
}
