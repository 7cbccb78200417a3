//! The dispatch queue: tagged operations with a result to take, one
//! entry per result, in the order they were reaped.

use super::store::NONE;
use super::{Cqe, Life, Table};
use crate::ring::UserData;

/// An entry of the dispatch queue: the operation, and its caller's tag,
/// copied here so that the dispatch can hand the tag out without waiting
/// on the slot (it checks the slot for a result at the same time).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ready {
    pub(crate) ud: UserData,
    pub(crate) tag: u64,
    /// A slotless operation's storage word (see [`Life::Lent`]); 0 for
    /// any other entry.
    pub(crate) word: u64,
}

/// What the dispatch queue hands out with a tag: a slotted operation's
/// `user_data` (its result waits in its slot), or a slotless one's whole
/// result, its CQE and storage word.
pub(crate) type Entry = Result<UserData, (Cqe, u64)>;

/// A FIFO of [`Ready`] entries in a power-of-two ring buffer: a push and a
/// pop are a masked index each, inlined into the reap and the dispatch
/// loops.
pub(crate) struct Fifo {
    buf: Vec<Ready>,
    head: usize,
    len: usize,
}

impl Fifo {
    pub(crate) const fn new() -> Fifo {
        Fifo {
            buf: Vec::new(),
            head: 0,
            len: 0,
        }
    }

    /// Room for at least `n` entries, or `false` when out of memory.
    pub(crate) fn reserve(&mut self, n: usize) -> bool {
        if n <= self.buf.len() {
            return true;
        }
        let Some(cap) = n.checked_next_power_of_two() else {
            return false;
        };
        let mut buf = Vec::new();
        if buf.try_reserve_exact(cap).is_err() {
            return false;
        }
        buf.extend((0..self.len).map(|i| self.buf[(self.head + i) & (self.buf.len() - 1)]));
        buf.resize(
            cap,
            Ready {
                ud: UserData::from_raw(0),
                tag: 0,
                word: 0,
            },
        );
        self.buf = buf;
        self.head = 0;
        true
    }

    #[inline(always)]
    fn is_full(&self) -> bool {
        self.len == self.buf.len()
    }

    #[inline(always)]
    fn push(&mut self, entry: Ready) {
        let mask = self.buf.len().wrapping_sub(1);
        if let Some(place) = self.buf.get_mut((self.head + self.len) & mask) {
            *place = entry;
            self.len += 1;
        }
    }

    #[inline(always)]
    fn pop(&mut self) -> Option<Ready> {
        if self.len == 0 {
            return None;
        }
        let entry = *self.buf.get(self.head)?;
        self.head = (self.head + 1) & (self.buf.len() - 1);
        self.len -= 1;
        Some(entry)
    }

    /// Bytes held.
    pub(crate) fn bytes(&self) -> usize {
        self.buf.capacity() * size_of::<Ready>()
    }
}

impl Table {
    /// Puts `ud`, tagged `tag`, on the dispatch queue.
    #[inline(always)]
    pub(super) fn announce(&mut self, ud: UserData, tag: u64) {
        if self.ready.is_full() {
            self.make_ready_room();
        }
        self.ready.push(Ready { ud, tag, word: 0 });
    }

    /// Queues a slotless operation's whole result under `tag` (below
    /// 2^30). The entry's `ud` has the reserved generation, which no
    /// slot's has, with the result in its key; its `tag` holds the flags
    /// above the tag.
    #[inline(always)]
    pub(super) fn announce_slotless(&mut self, tag: u64, cqe: Cqe, word: u64) {
        if self.ready.is_full() {
            self.make_ready_room();
        }
        self.slotless_pending += 1;
        self.ready.push(Ready {
            ud: UserData::new(cqe.res as u32, UserData::RESERVED),
            tag: (u64::from(cqe.flags) << 32) | tag,
            word,
        });
    }

    /// Drops entries of operations that have ended (their slots freed),
    /// and grows the queue if that was not enough. Entries of live
    /// operations stay even when their result was taken by token: which
    /// entry announces which result must not depend on when the queue was
    /// compacted. (So a tagged operation whose results are only ever taken
    /// by token, never popped, grows the queue while it lives.) A slotless
    /// operation's entry is its result, and always stays. Out of memory,
    /// the oldest entry is dropped: a slotted operation's result stays to
    /// be taken by token; a slotless one's is lost, and counted in
    /// [`stale`](Table::stale).
    #[cold]
    #[inline(never)]
    pub(super) fn make_ready_room(&mut self) {
        let mut kept = Fifo::new();
        let n = self.ready.len;
        if kept.reserve(n.max(1)) {
            while let Some(entry) = self.ready.pop() {
                if entry.ud.is_reserved() || self.live(entry.ud).is_some() {
                    kept.push(entry);
                }
            }
            self.ready = kept;
        }
        // One more than it holds: `reserve` rounds that up to the next
        // power of two, so the queue doubles (and no more).
        if self.ready.is_full()
            && !self.ready.reserve(self.ready.len + 1)
            && let Some(dropped) = self.ready.pop()
            && dropped.ud.is_reserved()
        {
            self.slotless_pending -= 1;
            self.stale += 1;
        }
    }

    /// Whether slot `ud` is live with a result to take.
    #[inline(always)]
    fn has_result(&self, ud: UserData) -> bool {
        let Some(s) = self.live(ud) else {
            return false;
        };
        s.life == Life::Completed
            || (s.life == Life::InFlight
                && self.extra_at(s.extra).is_some_and(|e| e.shot_head != NONE))
    }

    /// The next tagged operation with a result to take, in completion
    /// order: its tag and its `user_data`.
    #[cfg(test)]
    pub(crate) fn next_ready(&mut self) -> Option<(u64, UserData)> {
        loop {
            if let (tag, Ok(ud)) = self.next_entry()? {
                return Some((tag, ud));
            }
        }
    }

    /// The next entry of the dispatch queue with a result: a slotted
    /// operation's tag and `user_data` (its result waits in its slot), or
    /// a slotless one's tag and CQE.
    #[inline(always)]
    pub(crate) fn next_entry(&mut self) -> Option<(u64, Entry)> {
        while let Some(Ready { ud, tag, word }) = self.ready.pop() {
            if ud.is_reserved() {
                self.slotless_pending -= 1;
                let cqe = Cqe {
                    res: ud.key() as i32,
                    flags: (tag >> 32) as u32,
                };
                return Some((tag & u64::from(u32::MAX), Err((cqe, word))));
            }
            if self.has_result(ud) {
                return Some((tag, Ok(ud)));
            }
        }
        None
    }
}
