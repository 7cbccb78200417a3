//! The end of a ring or a scope: every operation cancelled and reaped
//! before any storage goes, and a single-issuer ring dropped elsewhere
//! handed back to its thread.
//!
//! # Safety
//!
//! The ring's io_uring instance is dropped by hand, once, at the end of
//! `Drop`, unless the ring was moved out to be handed back.
#![expect(unsafe_code, reason = "drops the io_uring instance by hand, once")]

use std::mem::ManuallyDrop;
use std::os::fd::AsFd;

use super::driver::Ring;
use super::orphans::{self, thread_key, unregister_ring_index};
use super::table::{Life, Table};
use crate::error::Error;

impl Ring {
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
    pub(super) fn drain_all(&mut self, scoped_only: bool) -> bool {
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
    pub(super) fn cancel_live(&mut self, scoped_only: bool) -> bool {
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
                    Life::InFlight => {
                        // Abandoned first, so a failed push leaves it in
                        // the state a retry looks for.
                        all_sent &= self.cancel_ud(ud).is_ok();
                    }
                    Life::Detached | Life::Lent => {
                        // Abandoned without a cancel request (a detached
                        // operation, or a cancel that failed to go out), or
                        // a slotless one, which has no owner: it may never
                        // end on its own.
                        all_sent &= self.push_cancels(ud).is_ok();
                    }
                    Life::Completed => {
                        self.table.remove(ud);
                    }
                    Life::Vacant => {}
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
    pub(super) fn top_live_key(&self, scoped_only: bool, mut live: usize) -> usize {
        let mut top = 0;
        for key in 0..self.table.key_bound() {
            if live == 0 {
                break;
            }
            if let Some((_, _, scoped)) = self.table.at(key)
                && (scoped || !scoped_only)
            {
                top = key;
                live -= 1;
            }
        }
        top
    }

    /// The issuing thread of a single-issuer ring dropped elsewhere with
    /// operations the kernel may still run: its key and kernel thread id.
    /// Never for an SQPOLL ring: its poller, not the thread, submits, and
    /// the kernel takes its enters from any thread, so it is drained where
    /// it is dropped. (Handed back, it would be freed once its issuing
    /// thread is gone, while the poller, which outlives that thread, may
    /// still run its operations.)
    pub(super) fn issuer_elsewhere(&self) -> Option<(u64, u32)> {
        match self.issuer {
            Some(issuer)
                if !self.kernel_done
                    && !self.sqpoll
                    && issuer != thread_key()
                    && self.table.in_flight() > 0 =>
            {
                Some((issuer, self.issuer_tid))
            }
            _ => None,
        }
    }

    /// Moves the ring out of `self`, which keeps an empty table and must
    /// not touch its `uring` again.
    pub(super) fn move_out(&mut self) -> Ring {
        Ring {
            id: self.id,
            // SAFETY: `self` is being dropped and returns right after this
            // (see `Drop`): its `uring` is never used or dropped again.
            uring: ManuallyDrop::new(unsafe { ManuallyDrop::take(&mut self.uring) }),
            // SAFETY: as for `uring`.
            queues: ManuallyDrop::new(unsafe { ManuallyDrop::take(&mut self.queues) }),
            table: std::mem::replace(&mut self.table, Table::empty()),
            supported: self.supported,
            features: self.features,
            eventfd: self.eventfd,
            registered: self.registered.take(),
            issuer: self.issuer,
            enters: self.enters,
            reaped: self.reaped,
            draining: false,
            issuer_tid: self.issuer_tid,
            kernel_done: false,
            buf_rings: std::mem::take(&mut self.buf_rings),
            fixed_bufs: self.fixed_bufs.take(),
            files_epoch: self.files_epoch,
            direct_slots: self.direct_slots,
            wait_score: self.wait_score,
            turns: self.turns,
            sqpoll: self.sqpoll,
            disabled: self.disabled,
            mail: std::mem::take(&mut self.mail),
            posted: Vec::new(),
        }
    }

    /// Records that the ring's issuing thread and its io_uring workers have
    /// left the process, so that no operation can touch the table again:
    /// the drop frees it without a drain (which could not enter the ring
    /// anyway).
    pub(crate) fn forget_in_flight(&mut self) {
        self.kernel_done = true;
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // Senders get `Closed` from now on.
        self.mail.shut();
        if let Some((issuer, tid)) = self.issuer_elsewhere() {
            // Only the issuing thread can cancel and reap what is in
            // flight, and the table must outlive it: the ring goes back to
            // that thread (see the `orphans` module). The ring with its
            // table moves out; what is left here is empty.
            let ring = self.move_out();
            orphans::hand_back(issuer, tid, ring);
            orphans::sweep_rings();
            return;
        }
        // What was posted for this ring is moot: the drain ends everything.
        orphans::ring_dropped(self.id);
        // Never submitted, mailboxes would never end by themselves.
        self.close_mailboxes();
        if !self.kernel_done && !self.drain(false) {
            // Operations are still in flight and cannot be reaped (only
            // driver-owned ones: a scope drains its own before it ends).
            // Their storage is the table's inline buffers: leak the table
            // (and the handles it keeps) instead of freeing memory the
            // kernel may still write. A kept handle's panic the drain held
            // is not leaked with it: it goes on below.
            self.table.leak();
            // Those operations may still pick buffers from the rings.
            std::mem::forget(std::mem::take(&mut self.buf_rings));
            // And read or write registered buffers.
            std::mem::forget(self.fixed_bufs.take());
        }
        if self.mail.shared() {
            // Other rings and threads hold the ring's descriptor, so the
            // kernel object outlives this drop: the files in its table
            // (some perhaps sent by another ring just now) are closed here,
            // not when the last of them lets go. A failure (no table)
            // leaves nothing to close.
            let _ = self.uring.submitter().unregister_files();
        }
        if let Some((index, thread)) = self.registered {
            if thread == thread_key() {
                // SAFETY: this ring registered the slot on this thread and
                // is being dropped: nothing enters through it after this.
                unsafe { unregister_ring_index(self.as_fd(), index) };
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
        // SAFETY: as for `uring`: the queues are not used again.
        unsafe { ManuallyDrop::drop(&mut self.queues) };
        orphans::sweep_rings();
        // Everything is reaped: a kept handle's panic held back by the
        // drain can go on now.
        self.resume_unwound();
    }
}
