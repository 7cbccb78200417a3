//! Recording CQEs: the common final result stored on the fast path,
//! everything else (multishot results, re-arms, detached operations,
//! stale tags) on the general one.

use super::store::NONE;
use super::{ASKED, Cqe, Delivery, EAGAIN, ECANCELED, KEEP, Life, REARM, SCOPED, TAGGED, Table};
use crate::ring::UserData;
use crate::sys::Errno;

/// `ENOENT`, as a cancel's CQE carries it negated.
const ENOENT: i32 = Errno::ENOENT.raw();

impl Table {
    /// Records a CQE in the slot it names.
    #[inline]
    pub(crate) fn complete(&mut self, ud: UserData, res: i32, flags: u32) -> Delivery {
        match self.complete_unsettled(ud, res, flags) {
            Delivery::Unsettled => {
                self.settle(1);
                Delivery::Stored
            }
            d => d,
        }
    }

    /// [`complete`](Table::complete), except that the common CQE — the
    /// one and only result of an operation with no side record — is
    /// reported as [`Delivery::Unsettled`]: stored, but not yet counted out
    /// of [`in_flight`](Table::in_flight), so that a pass over many CQEs
    /// [`settle`](Table::settle)s them with one update.
    #[inline(always)]
    pub(crate) fn complete_unsettled(&mut self, ud: UserData, res: i32, flags: u32) -> Delivery {
        if let Some(tag) = ud.slotless_tag() {
            // A slotless operation's result has no slot to go to: it goes
            // on the dispatch queue whole.
            if flags & Cqe::F_MORE == 0 {
                self.slotless_in_flight = self.slotless_in_flight.saturating_sub(1);
            }
            self.announce_slotless(tag, Cqe { res, flags }, 0);
            return Delivery::Ignored;
        }
        let free = self.slots.free;
        if let Some(slot) = self.slots.get_mut(ud.key()) {
            // Comparing the whole upper half against the generation also
            // sends every auxiliary tag to the general path.
            // A recipe needs no work unless the read found nothing ready:
            // its flag is cleared and the recipe left in place (only a
            // flagged one is ever read). A kept handle is let go.
            if slot.generation == ud.upper()
                && slot.life == Life::InFlight
                && slot.extra == NONE
                && flags & Cqe::F_MORE == 0
                && (res != -EAGAIN || slot.flags & REARM == 0)
            {
                slot.cqe = Cqe { res, flags };
                slot.life = Life::Completed;
                let (f, tag) = (slot.flags, slot.tag);
                slot.flags = f & !(REARM | KEEP);
                if f & (SCOPED | TAGGED | KEEP) != 0 {
                    self.counted_out(ud, f, tag);
                }
                return Delivery::Unsettled;
            }
            if slot.generation == ud.upper() && slot.life == Life::Lent && flags & Cqe::F_MORE == 0
            {
                // A lent slot's one result goes out whole, and the slot
                // with it.
                let (word, tag) = (slot.word(), slot.tag);
                slot.life = Life::Vacant;
                slot.flags = 0;
                slot.next = free;
                self.slots.free = ud.key();
                self.slots.live -= 1;
                self.lent -= 1;
                self.announce_slotless(tag, Cqe { res, flags }, word);
                return Delivery::Ignored;
            }
        }
        self.complete_general(ud, res, flags)
    }

    /// A scoped or tagged operation's final result came: it leaves the
    /// scope's count, and is announced under its `tag`.
    #[inline(always)]
    pub(super) fn counted_out(&mut self, ud: UserData, flags: u8, tag: u64) {
        if flags & SCOPED != 0 {
            self.scoped_in_flight -= 1;
        }
        if flags & TAGGED != 0 {
            self.announce(ud, tag);
        }
        if flags & KEEP != 0 {
            self.release_keep(ud.key());
        }
    }

    /// Counts `n` [`Delivery::Unsettled`] operations out of flight.
    #[inline]
    pub(crate) fn settle(&mut self, n: usize) {
        self.completed += n;
    }

    /// [`complete`](Table::complete) for everything but the common CQE.
    #[inline(never)]
    pub(super) fn complete_general(
        &mut self,
        ud: UserData,
        mut res: i32,
        mut flags: u32,
    ) -> Delivery {
        let Some(slot) = self.live(ud) else {
            return self.unmatched(ud, res);
        };
        let (life, sflags, idx, tag) = (slot.life, slot.flags, slot.extra, slot.tag);
        if idx != NONE && !ud.is_aux() && matches!(life, Life::InFlight | Life::Detached) {
            // A folding operation's first CQE waits for its last.
            let mut cqe = Cqe { res, flags };
            if self.fold(idx, &mut cqe) {
                return Delivery::Ignored;
            }
            (res, flags) = (cqe.res, cqe.flags);
        }
        let last = if ud.is_aux() {
            // The poll half of a poll-then-read pair: silent on success
            // (`IOSQE_CQE_SKIP_SUCCESS`). When it fails — cancelled, or its
            // file gone — the kernel skips the CQE of the read linked behind
            // it too (the head's skip flag covers the link's failures), so
            // the poll's error is the operation's final result.
            if res >= 0 {
                return Delivery::Ignored;
            }
            true
        } else {
            if sflags & REARM != 0 && res == -EAGAIN && life == Life::InFlight {
                if sflags & ASKED == 0 {
                    return Delivery::Rearm(ud.key());
                }
                // Cancelled before the re-arm: the cancel found nothing in
                // the kernel, so this is the end.
                res = -ECANCELED;
            }
            flags & Cqe::F_MORE == 0
        };
        let cqe = Cqe { res, flags };
        match life {
            Life::InFlight if !last => {
                if !self.push_shot(ud, cqe) {
                    // No memory for the result: it is dropped, not lost
                    // silently — the discard sees it.
                    self.discard(ud, cqe);
                    return Delivery::Ignored;
                }
                if sflags & TAGGED != 0 {
                    self.announce(ud, tag);
                }
                Delivery::Stored
            }
            Life::InFlight => {
                if let Some(slot) = self.live_mut(ud) {
                    slot.cqe = cqe;
                    slot.life = Life::Completed;
                    slot.flags &= !(REARM | KEEP);
                }
                self.completed += 1;
                self.counted_out(ud, sflags, tag);
                if idx != NONE {
                    self.finished(idx, ud);
                }
                Delivery::Stored
            }
            Life::Detached => {
                self.discard_with(idx, ud, cqe);
                if last {
                    if sflags & SCOPED != 0 {
                        self.scoped_in_flight -= 1;
                    }
                    self.free(ud);
                    Delivery::Freed
                } else {
                    Delivery::Ignored
                }
            }
            Life::Lent => {
                self.lent_result(ud, cqe, last);
                Delivery::Ignored
            }
            Life::Completed | Life::Vacant => {
                // A CQE after the final one cannot come from the kernel.
                self.stale += 1;
                Delivery::Stale
            }
        }
    }

    /// A CQE whose tag matches no live slot: a message for a mailbox, one
    /// of the driver's own requests, or stale. A cancel that found nothing (`-ENOENT`) while
    /// its operation was between two shots (a periodic timeout fired but
    /// not yet re-armed) would leave it running for ever: the caller sends
    /// it again if the slot is still live and asked to end.
    #[cold]
    pub(super) fn unmatched(&mut self, ud: UserData, res: i32) -> Delivery {
        if let Some(d) = self.mail(ud, res) {
            return d;
        }
        if let Some(key) = ud.cancelled_key()
            && res == -ENOENT
        {
            return Delivery::Recancel(key);
        }
        if ud.is_reserved() {
            Delivery::Ignored
        } else {
            self.stale += 1;
            Delivery::Stale
        }
    }

    /// Records that the driver asked the kernel to cancel live slot `ud`
    /// (one in flight, or detached): a `-EAGAIN` then ends a re-armable
    /// read instead of re-arming it, and a cancel that misses is sent
    /// again.
    pub(crate) fn mark_cancelled(&mut self, ud: UserData) {
        if let Some(slot) = self.live_mut(ud)
            && matches!(slot.life, Life::InFlight | Life::Detached | Life::Lent)
        {
            slot.flags |= ASKED;
        }
    }

    /// The tag of slot `key` if a cancel was asked for it and it has not
    /// ended: a cancel to send again.
    pub(crate) fn cancel_pending(&self, key: u32) -> Option<UserData> {
        let slot = self.slots.get(key)?;
        (matches!(slot.life, Life::InFlight | Life::Detached | Life::Lent)
            && slot.flags & ASKED != 0)
            .then(|| UserData::new(key, slot.generation))
    }
}
