//! Slots lent to slotless operations ([`Life::Lent`]): a counter read
//! needs 8 bytes the kernel writes, but no owner, no token and no take.
//! The slot is claimed at the push and freed by the final CQE, whose
//! result goes out on the dispatch queue with the storage's first word.

use super::{Cqe, Life, Table};
use crate::ring::UserData;

impl Table {
    /// Lends a free slot to a slotless operation tagged `tag`, with a
    /// pointer to its inline storage (never dereferenced here); `None`
    /// when the table is at its maximum or out of memory.
    #[inline(always)]
    pub(crate) fn insert_lent(&mut self, tag: u64) -> Option<(UserData, *mut u8)> {
        let at = self.claim(Life::Lent, 0, tag)?;
        self.lent += 1;
        Some(at)
    }

    /// Lends slot `ud`, just claimed for an untagged, unscoped operation
    /// (by [`insert`](Table::insert)), to a slotless one tagged `tag`.
    pub(crate) fn lend(&mut self, ud: UserData, tag: u64) {
        if let Some(slot) = self.live_mut(ud)
            && slot.life == Life::InFlight
        {
            slot.life = Life::Lent;
            slot.tag = tag;
            self.lent += 1;
        }
    }

    /// Slots lent to slotless operations in flight.
    pub(crate) fn lent(&self) -> usize {
        self.lent
    }

    /// A result of lent slot `ud` off the fast path (one with
    /// `IORING_CQE_F_MORE`, which no slotless operation should give): out
    /// on the dispatch queue with the storage's first word, the slot freed
    /// with the `last` one.
    pub(super) fn lent_result(&mut self, ud: UserData, cqe: Cqe, last: bool) {
        let Some(slot) = self.live(ud) else {
            return;
        };
        // The kernel may write the storage again before a later CQE.
        let (word, tag) = (if last { slot.word() } else { 0 }, slot.tag);
        if last {
            self.free(ud);
        }
        self.announce_slotless(tag, cqe, word);
    }
}
