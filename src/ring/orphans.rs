//! What the kernel ties to one thread, and what becomes of it when a ring
//! is dropped on another: ring-descriptor registrations, and the rings of
//! `SINGLE_ISSUER` (and `DEFER_TASKRUN`) setups, which only their issuing
//! thread can enter.
//!
//! - A registered ring index can be unregistered only by the thread that
//!   registered it; until then it holds the dropped ring's kernel memory
//!   and one of that thread's 16 slots. Such indices are recorded here and
//!   unregistered by their thread the next time it registers a ring.
//! - A single-issuer ring dropped on another thread with operations in
//!   flight cannot cancel or reap them there (every enter fails with
//!   `EEXIST`), and its table must outlive them. It is handed back to its
//!   issuing thread, which drains and frees it the next time it builds or
//!   drops a ring, or when it exits. A ring whose issuer has exited already
//!   cannot be drained, but needs no drain once the thread and its io_uring
//!   workers are gone from the process: nothing can run its requests in
//!   this process's memory after that (see [`thread_gone`]). Such a ring is
//!   freed then, by whichever thread next builds or drops a ring (or
//!   exits).
//! - An operation whose owner is dropped without the ring at hand (a
//!   [`Token`](super::Token) dropped before its final result was taken, a
//!   [`WheelTimers`](super::WheelTimers) dropped while scheduled) is
//!   posted here for its ring, which detaches or cancels it at its next
//!   submission or when it runs out of slots, and frees the slot at its
//!   final CQE.
//!
//! # Safety
//!
//! A ring slot is unregistered only by the thread that registered it, and
//! only once the ring registered there is gone (dropped, or handed back and
//! drained): nothing enters through it any more.
#![expect(
    unsafe_code,
    reason = "unregisters the ring slots of rings that are gone"
)]

use std::cell::Cell;
use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::{Ring, UserData};
use crate::error::Result;
use crate::sys::Errno;
use crate::sys::process::{getpid, tgkill};
use crate::sys::uring::{io_uring_register_ring_fd, io_uring_unregister_ring_fd};

/// This thread's identity for what the kernel keeps per thread: unique for
/// the life of the process (unlike an address or a kernel thread id, never
/// reused by a later thread), and one thread-local read.
#[inline]
pub(crate) fn thread_key() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local!(static KEY: Cell<u64> = const { Cell::new(0) });
    KEY.with(|k| match k.get() {
        0 => {
            let key = NEXT.fetch_add(1, Ordering::Relaxed);
            k.set(key);
            key
        }
        key => key,
    })
}

/// A single-issuer ring handed back to its issuing thread.
struct Orphan {
    /// The issuing thread's [`thread_key`] and kernel thread id.
    issuer: u64,
    tid: u32,
    ring: Ring,
}

/// See the module docs.
struct Orphans {
    /// Threads that have registered a ring or built a single-issuer one
    /// and not exited.
    live: Vec<u64>,
    /// Registered ring indices of dropped rings: `(registering thread,
    /// index)`. An index of a thread no longer live is not recorded (the
    /// kernel freed it).
    indices: Vec<(u64, u32)>,
    /// Single-issuer rings dropped on another thread than their issuer's.
    rings: Vec<Orphan>,
}

static ORPHANS: Mutex<Orphans> = Mutex::new(Orphans {
    live: Vec::new(),
    indices: Vec::new(),
    rings: Vec::new(),
});

/// How many rings [`Orphans::rings`] holds, read without the lock so that
/// building and dropping rings cost nothing while there are none.
static ORPHAN_RINGS: AtomicUsize = AtomicUsize::new(0);

/// The orphan lists, locked; a panic elsewhere while they were held left
/// them consistent (every change is one push, one `retain` or one
/// `swap_remove`).
fn orphans() -> MutexGuard<'static, Orphans> {
    ORPHANS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A thread's entry in [`Orphans::live`], and its sweep when it exits.
struct Sweep(u64);

impl Sweep {
    fn new() -> Sweep {
        let me = thread_key();
        orphans().live.push(me);
        Sweep(me)
    }
}

impl Drop for Sweep {
    fn drop(&mut self) {
        {
            let mut o = orphans();
            o.live.retain(|&thread| thread != self.0);
            o.indices.retain(|&(thread, _)| thread != self.0);
        }
        // This thread can still drain what was handed back to it.
        sweep_rings();
    }
}

thread_local!(static SWEEP: Sweep = Sweep::new());

/// Records this thread as live, so that what is handed back to it is
/// kept for it. In a thread-local destructor the sweep may be gone
/// already: the thread is then exiting, and is not recorded.
pub(crate) fn mark_live() {
    let _ = SWEEP.try_with(|_| {});
}

/// `IORING_UNREGISTER_RING_FDS` for one index of this thread, through any
/// io_uring descriptor (`ring`): the kernel looks the index up in the
/// calling thread's table. A failure leaves nothing to do.
///
/// # Safety
///
/// - Slot `index` of this thread is a registration of the driver's own
///   that no live ring enters through any more.
pub(crate) unsafe fn unregister_ring_index(ring: BorrowedFd<'_>, index: u32) {
    // SAFETY: forwarded to the caller.
    let _ = unsafe { io_uring_unregister_ring_fd(ring, index) };
}

/// `IORING_REGISTER_RING_FDS` for ring `ring` on this thread; returns its
/// index. First unregisters this thread's recorded indices of rings
/// dropped elsewhere.
///
/// # Errors
///
/// The kernel's: `Os(EBUSY)` when the thread's 16 slots are taken.
pub(crate) fn register_ring_fd(ring: BorrowedFd<'_>) -> Result<u32> {
    let me = thread_key();
    mark_live();
    orphans().indices.retain(|&(thread, index)| {
        if thread == me {
            // SAFETY: recorded when the ring registered there was dropped:
            // nothing enters through the slot any more.
            unsafe { unregister_ring_index(ring, index) };
        }
        thread != me
    });
    Ok(io_uring_register_ring_fd(ring, ring)?)
}

/// Records registered index `index` of a ring dropped on another thread
/// than `thread`, which registered it, for that thread to unregister.
pub(crate) fn orphan_index(thread: u64, index: u32) {
    let mut o = orphans();
    if o.live.contains(&thread) {
        o.indices.push((thread, index));
    }
}

/// Keeps single-issuer `ring`, dropped on a thread that cannot drain it,
/// until its issuing thread (`issuer`, kernel thread id `tid`) drains it
/// or has exited.
pub(crate) fn hand_back(issuer: u64, tid: u32, ring: Ring) {
    let mut o = orphans();
    o.rings.push(Orphan { issuer, tid, ring });
    // Counted under the lock, as the sweep uncounts: never below zero.
    ORPHAN_RINGS.fetch_add(1, Ordering::Release);
}

/// Drops the handed-back rings this thread can end: its own, which it
/// drains, and those whose issuing thread is gone from the process, which
/// have nothing left in flight. Free while there are none.
pub(crate) fn sweep_rings() {
    if ORPHAN_RINGS.load(Ordering::Acquire) == 0 {
        return;
    }
    let me = thread_key();
    let mut ready = Vec::new();
    {
        let mut o = orphans();
        let mut i = 0;
        while i < o.rings.len() {
            let orphan = &o.rings[i];
            let mine = orphan.issuer == me;
            if mine || (!o.live.contains(&orphan.issuer) && thread_gone(orphan.tid)) {
                let mut orphan = o.rings.swap_remove(i);
                if !mine {
                    orphan.ring.forget_in_flight();
                }
                ready.push(orphan.ring);
                ORPHAN_RINGS.fetch_sub(1, Ordering::Release);
            } else {
                i += 1;
            }
        }
    }
    // Dropped with the lock released: a drop sweeps again.
    drop(ready);
}

/// Whether thread `tid` and its io_uring workers have left this process,
/// so that nothing can run its requests in this process's memory any
/// more: what the kernel still holds of them is failed when it next runs
/// (with no thread of theirs left, only a kernel worker without this
/// memory could run it) or cancelled when the ring closes. Workers
/// (`iou-wrk-<tid>`, threads of this process) finish the request they are
/// on before they exit, so they are waited for. A later thread that
/// reuses the id, or a `/proc` that cannot be read, only delays the
/// answer.
fn thread_gone(tid: u32) -> bool {
    if tgkill(getpid(), tid, 0) != Err(Errno::ESRCH) {
        return false;
    }
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return false;
    };
    let worker = format!("iou-wrk-{tid}");
    for task in tasks {
        let Ok(task) = task else {
            return false;
        };
        match std::fs::read_to_string(task.path().join("comm")) {
            Ok(comm) if comm.trim_end() == worker => return false,
            Ok(_) => {}
            // A thread that left between the listing and the read.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(_) => return false,
        }
    }
    true
}

/// What a ring does with an operation whose owner was dropped without it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Posted {
    /// Cancel it (a wheel's timeout, which may be hours away), and free
    /// the slot at its final CQE.
    Cancel,
    /// Let it run, and free the slot (dropping the result) at its final
    /// CQE, or at once if that has come (a dropped [`Token`](super::Token)).
    Detach,
    /// Close slot `index` of the ring's file table, unless the table has
    /// been registered again since `epoch` (a dropped
    /// [`Direct`](super::Direct)).
    CloseSlot {
        /// The slot.
        index: u32,
        /// The table registration it belongs to.
        epoch: u32,
    },
}

/// Operations posted by owners dropped without their ring, and the rings
/// that can still take them.
struct Mailbox {
    /// Identities of the rings alive: nothing is posted for another.
    live: Vec<u32>,
    /// `(ring identity, tag, what to do)`.
    posted: Vec<(u32, UserData, Posted)>,
}

static MAILBOX: Mutex<Mailbox> = Mutex::new(Mailbox {
    live: Vec::new(),
    posted: Vec::new(),
});

/// How many operations [`MAILBOX`] holds, read without the lock.
static POSTED: AtomicUsize = AtomicUsize::new(0);

fn mailbox() -> MutexGuard<'static, Mailbox> {
    MAILBOX.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Records ring `ring` as alive, able to take what is posted for it.
pub(crate) fn ring_built(ring: u32) {
    mailbox().live.push(ring);
}

/// Forgets ring `ring` and what was posted for it: its drop ends
/// everything anyway.
pub(crate) fn ring_dropped(ring: u32) {
    let mut m = mailbox();
    m.live.retain(|&r| r != ring);
    let before = m.posted.len();
    m.posted.retain(|&(r, _, _)| r != ring);
    POSTED.fetch_sub(before - m.posted.len(), Ordering::Release);
}

/// Posts operation `ud` of ring `ring`, whose owner is gone, for the ring
/// to end as `what` says; nothing if the ring is gone too.
pub(crate) fn post(ring: u32, ud: UserData, what: Posted) {
    let mut m = mailbox();
    if m.live.contains(&ring) {
        m.posted.push((ring, ud, what));
        POSTED.fetch_add(1, Ordering::Release);
    }
}

/// Whether anything is posted, for any ring: one load.
#[inline(always)]
pub(crate) fn any_posted() -> bool {
    POSTED.load(Ordering::Relaxed) != 0
}

/// Takes what is posted for ring `ring`, into `mine` (empty).
pub(crate) fn take_posted(ring: u32, mine: &mut Vec<(UserData, Posted)>) {
    debug_assert!(mine.is_empty(), "the count below is of what is taken now");
    let mut m = mailbox();
    m.posted.retain(|&(r, ud, what)| {
        if r == ring {
            mine.push((ud, what));
        }
        r != ring
    });
    POSTED.fetch_sub(mine.len(), Ordering::Release);
}

#[cfg(test)]
mod tests {
    use super::{Ring, orphans};

    #[test]
    fn a_ring_of_a_thread_that_has_exited_leaves_no_orphan_index() {
        // Built and registered by a worker that then exits, dropped here:
        // the kernel freed the registration with the worker.
        let ring = std::thread::spawn(|| Ring::builder(4).register_ring_fd(true).build())
            .join()
            .expect("the worker")
            .expect("a ring");
        let worker = ring.registered_by().expect("registered");
        assert!(!orphans().live.contains(&worker), "the worker's sweep ran");
        drop(ring);
        assert!(
            orphans()
                .indices
                .iter()
                .all(|&(thread, _)| thread != worker)
        );
    }

    #[test]
    fn a_ring_registered_in_a_thread_local_destructor_does_not_abort() {
        struct Late;
        impl Drop for Late {
            fn drop(&mut self) {
                // The sweep's thread-local is gone by now.
                let ring = Ring::builder(4).register_ring_fd(true).build();
                assert!(ring.is_ok(), "{:?}", ring.err());
            }
        }
        thread_local!(static LATE: Late = const { Late });
        std::thread::spawn(|| {
            // Set up first, so destroyed last: after the sweep.
            LATE.with(|_| {});
            drop(Ring::builder(4).register_ring_fd(true).build());
        })
        .join()
        .expect("the thread, its destructors included");
    }
}
