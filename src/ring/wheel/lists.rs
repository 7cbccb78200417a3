//! The wheel's intrusive lists: finding the earliest occupied slot,
//! cascading a slot down the levels as the clock reaches it, and linking
//! and unlinking timers.

use super::{DUE, List, NIL, SLOT_BITS, SLOT_MASK, SLOTS, TimerWheel};

impl<T> TimerWheel<T> {
    /// The earliest non-empty slot: `(level, slot, first tick)`.
    ///
    /// Every timer of level `L` lies in the clock's level-`L + 1` span but
    /// not in its level-`L` slot, so it is later than every timer of the
    /// levels below, and its slot lies strictly after the clock's slot: the
    /// first level with a timer holds the earliest, in its first occupied
    /// slot after the clock's.
    #[inline]
    pub(super) fn next_expiration(&self) -> Option<(usize, usize, u64)> {
        let (level, &occupied) = self
            .occupied
            .iter()
            .enumerate()
            .find(|&(_, &bits)| bits != 0)?;
        let shift = level as u32 * SLOT_BITS;
        let clock_slot = ((self.elapsed >> shift) & SLOT_MASK) as u32;
        let slot =
            (occupied.rotate_right(clock_slot).trailing_zeros() + clock_slot) as usize % SLOTS;
        let span = shift + SLOT_BITS;
        let base = if span >= u64::BITS {
            0
        } else {
            self.elapsed & !((1 << span) - 1)
        };
        Some((level, slot, base | ((slot as u64) << shift)))
    }

    /// Moves the clock to `start`, the first tick of slot `slot` of
    /// `level`, and empties that slot: timers due at `start` join the due
    /// list, the others descend to the lower levels.
    pub(super) fn cascade(&mut self, level: usize, slot: usize, start: u64) {
        self.elapsed = start;
        let index = level * SLOTS + slot;
        let List { head, tail } = std::mem::replace(&mut self.lists[index], List::EMPTY);
        self.occupied[level] &= !(1 << slot);
        if level == 0 {
            // A level-0 slot is one tick: all of it is due, in order.
            self.splice_due(head, tail);
            return;
        }
        let mut cur = head;
        while cur != NIL {
            let (next, deadline) = (self.nodes[cur].next, self.nodes[cur].deadline);
            self.link_back(list_for(start, deadline), cur);
            cur = next;
        }
    }

    /// Appends the chain `head..=tail` to the due list.
    pub(super) fn splice_due(&mut self, head: usize, tail: usize) {
        if head == NIL {
            return;
        }
        let due = self.lists[DUE];
        self.nodes[head].prev = due.tail;
        if due.tail == NIL {
            self.lists[DUE].head = head;
        } else {
            self.nodes[due.tail].next = head;
        }
        self.lists[DUE].tail = tail;
    }

    /// Appends node `index` to list `list`.
    #[inline]
    pub(super) fn link_back(&mut self, list: usize, index: usize) {
        let tail = self.lists[list].tail;
        let node = &mut self.nodes[index];
        node.prev = tail;
        node.next = NIL;
        if tail == NIL {
            self.lists[list].head = index;
        } else {
            self.nodes[tail].next = index;
        }
        self.lists[list].tail = index;
        if list < DUE {
            self.occupied[list / SLOTS] |= 1 << (list % SLOTS);
        }
    }

    /// Unlinks node `index` from list `list`, which holds it.
    #[inline]
    pub(super) fn unlink(&mut self, list: usize, index: usize) {
        let node = &self.nodes[index];
        let (prev, next) = (node.prev, node.next);
        if prev == NIL {
            self.lists[list].head = next;
        } else {
            self.nodes[prev].next = next;
        }
        if next == NIL {
            self.lists[list].tail = prev;
        } else {
            self.nodes[next].prev = prev;
        }
        if list < DUE && self.lists[list].head == NIL {
            self.occupied[list / SLOTS] &= !(1 << (list % SLOTS));
        }
    }
}

/// The list a timer due at `deadline` belongs to while the clock reads
/// `elapsed`: the due list if it has been reached, else the slot of the
/// level of the highest bit in which the two differ.
#[inline]
pub(super) fn list_for(elapsed: u64, deadline: u64) -> usize {
    if deadline <= elapsed {
        return DUE;
    }
    let differ = (elapsed ^ deadline) | SLOT_MASK;
    let level = (u64::BITS - 1 - differ.leading_zeros()) / SLOT_BITS;
    let slot = (deadline >> (level * SLOT_BITS)) & SLOT_MASK;
    level as usize * SLOTS + slot as usize
}
