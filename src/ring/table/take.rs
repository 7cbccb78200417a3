//! Taking results out of the table: the common final result freed in
//! place, intermediate (multishot) results in order, and the rest.

use super::store::NONE;
use super::{Cqe, Life, SCOPED, Table};
use crate::ring::UserData;

impl Table {
    /// Takes one result of slot `ud`, intermediate ones first, in order:
    /// `None` while nothing has come. With the final result the slot is
    /// freed, and the flag says so.
    #[inline(always)]
    pub(crate) fn take(&mut self, ud: UserData) -> Option<(Cqe, bool)> {
        self.take_at(ud).map(|(cqe, last, _)| (cqe, last))
    }

    /// [`take`](Table::take), with a pointer to the slot's inline storage
    /// (never dereferenced here) from the same lookup: the slot's memory
    /// stays with the table when the take frees it.
    #[inline(always)]
    pub(crate) fn take_at(&mut self, ud: UserData) -> Option<(Cqe, bool, *mut u8)> {
        let free = self.slots.free;
        let slot = self.slots.get_mut(ud.key())?;
        if slot.generation != ud.generation() {
            return None;
        }
        let storage = slot.storage_ptr();
        let (life, idx, cqe) = (slot.life, slot.extra, slot.cqe);
        if life == Life::Completed && idx == NONE && slot.flags & SCOPED == 0 {
            // The common take: a plain final result, freed in place.
            slot.life = Life::Vacant;
            slot.next = free;
            self.slots.free = ud.key();
            self.slots.live -= 1;
            self.completed -= 1;
            return Some((cqe, true, storage));
        }
        let (cqe, last) = self.take_general(ud, life, idx, cqe)?;
        Some((cqe, last, storage))
    }

    /// [`take`](Table::take) of a slot with a side record, a scoped one,
    /// or one still in flight.
    #[inline(never)]
    fn take_general(
        &mut self,
        ud: UserData,
        life: Life,
        idx: u32,
        cqe: Cqe,
    ) -> Option<(Cqe, bool)> {
        if life == Life::Vacant {
            return None;
        }
        if idx != NONE
            && let Some(shot) = self.pop_shot(idx)
        {
            return Some((shot, false));
        }
        if life != Life::Completed {
            return None;
        }
        self.completed -= 1;
        if idx != NONE {
            // Taken: nothing is left to discard.
            if let Some(extra) = self.extras.items.get_mut(idx as usize) {
                extra.discard = None;
            }
        }
        self.free(ud);
        Some((cqe, true))
    }
}
