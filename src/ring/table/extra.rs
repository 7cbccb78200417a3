//! The table's side records: what only some operations need (a re-arm
//! recipe, a kept handle, a discard for results nobody takes, untaken
//! multishot results, storage out of line), pooled and reused.
#![expect(
    unsafe_code,
    reason = "releases outputs through each operation's own decoder"
)]

use super::store::{Extra, NONE, Shot};
use super::{Cqe, Discard, KEEP, Keep, REARM, REMAKE, REMAKE_FIXED, Rearm, Remake, Table};
use crate::ring::UserData;
use io_uring::squeue;
use std::panic::{AssertUnwindSafe, catch_unwind};

impl Table {
    /// Slot `ud`'s side record, made if it has none; `None` when out of
    /// memory or `ud` is not live.
    pub(super) fn extra_mut(&mut self, ud: UserData) -> Option<&mut Extra> {
        let idx = self.live(ud)?.extra;
        let idx = if idx == NONE {
            let idx = if self.extras.free != NONE {
                let i = self.extras.free;
                self.extras.free = self.extras.items[i as usize].next;
                i
            } else {
                self.extras.items.try_reserve(1).ok()?;
                self.extras.items.push(Extra::EMPTY);
                self.extras.items.len() as u32 - 1
            };
            self.live_mut(ud)?.extra = idx;
            idx
        } else {
            idx
        };
        self.extras.items.get_mut(idx as usize)
    }

    /// The side record at `idx`, if any.
    #[inline]
    pub(super) fn extra_at(&self, idx: u32) -> Option<&Extra> {
        if idx == NONE {
            None
        } else {
            self.extras.items.get(idx as usize)
        }
    }

    /// Gives slot `ud` a re-arm recipe: poll `target` for `events`, then
    /// submit the SQE `entry` builds (in its place, not copied).
    #[inline(always)]
    pub(crate) fn set_rearm(
        &mut self,
        ud: UserData,
        target: crate::ring::Target,
        events: crate::sys::poll::PollFlags,
        entry: impl FnOnce() -> squeue::Entry,
    ) -> bool {
        // `ud` was just claimed by the caller: live, so no generation check.
        let Some(side) = self.rearms.get_or_alloc(ud.key()) else {
            return false;
        };
        *side = Some(Rearm {
            target,
            events,
            entry: entry(),
        });
        if let Some(slot) = self.slots.get_mut(ud.key()) {
            slot.flags |= REARM;
        }
        true
    }

    /// Gives slot `ud` a re-arm recipe held in the slot itself: `remake`
    /// builds the SQE again for `target` when a `-EAGAIN` comes. `false`
    /// when the table cannot list `remake` (out of memory, or 65,535 kinds
    /// listed): the caller records the SQE instead.
    #[inline(always)]
    pub(crate) fn set_remake(
        &mut self,
        ud: UserData,
        target: crate::ring::Target,
        remake: Remake,
    ) -> bool {
        let Some(index) = self.remake_index(remake) else {
            return false;
        };
        // `ud` was just claimed by the caller: live, so no generation check.
        let Some(slot) = self.slots.get_mut(ud.key()) else {
            return false;
        };
        let (number, fixed) = match target {
            crate::ring::Target::Fd(fd) => (std::os::fd::AsRawFd::as_raw_fd(&fd) as u32, 0),
            crate::ring::Target::Fixed(index) => (index, REMAKE_FIXED),
        };
        slot.next = number;
        slot.remake = index;
        slot.flags |= REARM | REMAKE | fixed;
        true
    }

    /// One plus `remake`'s index in the list, which it joins if need be.
    /// The one asked for last is answered first: a loop pushes one kind of
    /// read over and over.
    #[inline(always)]
    #[expect(
        unpredictable_function_pointer_comparisons,
        reason = "a missed match only lists the function twice"
    )]
    fn remake_index(&mut self, remake: Remake) -> Option<u16> {
        match self.remake_last {
            Some((last, index)) if last == remake => Some(index),
            _ => self.remake_index_slow(remake),
        }
    }

    /// [`remake_index`](Table::remake_index) for another kind than the
    /// last: looked up, or added to the list (`None` when the list is full
    /// or out of memory).
    #[cold]
    #[inline(never)]
    #[expect(
        unpredictable_function_pointer_comparisons,
        reason = "a missed match only lists the function twice"
    )]
    fn remake_index_slow(&mut self, remake: Remake) -> Option<u16> {
        let i = match self.remakes.iter().position(|r| *r == remake) {
            Some(i) => i,
            None => {
                if self.remakes.len() >= usize::from(u16::MAX)
                    || self.remakes.try_reserve(1).is_err()
                {
                    return None;
                }
                self.remakes.push(remake);
                self.remakes.len() - 1
            }
        };
        let index = u16::try_from(i + 1).ok()?;
        self.remake_last = Some((remake, index));
        Some(index)
    }

    /// Gives slot `ud` a handle to keep open until its final CQE, or hands
    /// it back when out of memory (the caller must then see to it).
    #[inline(always)]
    pub(crate) fn set_keep(&mut self, ud: UserData, keep: Keep) -> Result<(), Keep> {
        // As in `set_rearm`: `ud` is the caller's, just claimed.
        let Some(side) = self.keeps.get_or_alloc(ud.key()) else {
            return Err(keep);
        };
        *side = Some(keep);
        if let Some(slot) = self.slots.get_mut(ud.key()) {
            slot.flags |= KEEP;
        }
        Ok(())
    }

    /// Drops slot `key`'s kept handle, which may be the last reference to
    /// a caller's type (see [`release`](Table::release)).
    #[inline(always)]
    pub(super) fn release_keep(&mut self, key: u32) {
        if let Some(keep) = self.keeps.get_mut(key).and_then(Option::take) {
            self.release(move || drop(keep));
        }
    }

    /// Has every result of slot `ud` that nobody takes handed to
    /// `discard`, with `storage`.
    pub(crate) fn set_discard(&mut self, ud: UserData, discard: Discard, storage: *mut u8) -> bool {
        match self.extra_mut(ud) {
            Some(extra) => {
                extra.discard = Some((discard, storage));
                true
            }
            None => false,
        }
    }

    /// Marks slot `ud`'s CQEs as folding into one result: its first CQE,
    /// when more follow, is held, and delivered with the final one (see
    /// [`Op::FOLDS`](crate::ring::Op::FOLDS)). `false` when out of memory.
    pub(crate) fn set_folds(&mut self, ud: UserData) -> bool {
        match self.extra_mut(ud) {
            Some(extra) => {
                extra.folds = true;
                true
            }
            None => false,
        }
    }

    /// For a folding slot (`idx` its side record): holds `cqe` if more
    /// follow (`true`: nothing to deliver yet), or turns a final CQE into
    /// the held one, with the final's flags beside it.
    #[inline]
    pub(super) fn fold(&mut self, idx: u32, cqe: &mut Cqe) -> bool {
        let Some(extra) = self.extras.items.get_mut(idx as usize) else {
            return false;
        };
        if !extra.folds {
            return false;
        }
        if cqe.flags & Cqe::F_MORE != 0 {
            extra.first = Some(*cqe);
            return true;
        }
        if let Some(first) = extra.first.take() {
            *cqe = Cqe {
                res: first.res,
                flags: (first.flags & !Cqe::F_MORE) | cqe.flags,
            };
        }
        false
    }

    /// Gives slot `ud` a [`BIG_BYTES`] storage block and returns it; null
    /// when out of memory.
    pub(crate) fn attach_big(&mut self, ud: UserData) -> *mut u8 {
        let Some(block) = self.bigs.take() else {
            return std::ptr::null_mut();
        };
        match self.extra_mut(ud) {
            Some(extra) => {
                extra.big = block;
                self.bigs.ptr(block)
            }
            None => {
                self.bigs.give(block);
                std::ptr::null_mut()
            }
        }
    }

    /// Empties side record `idx` of operation `ud` (discarding its untaken
    /// shots) and returns it to the pool.
    #[cold]
    pub(super) fn free_extra(&mut self, idx: u32, ud: UserData) {
        while let Some(cqe) = self.pop_shot(idx) {
            self.discard_with(idx, ud, cqe);
        }
        let Some(extra) = self.extras.items.get_mut(idx as usize) else {
            return;
        };
        let big = extra.big;
        *extra = Extra {
            next: self.extras.free,
            ..Extra::EMPTY
        };
        self.extras.free = idx;
        if big != NONE {
            self.bigs.give(big);
        }
    }

    /// Runs `f` (a `Drop` of a caller's type), holding a panic for
    /// [`take_unwound`](Table::take_unwound) rather than let it cut a pass
    /// of completions short: CQEs already copied out of the ring would be
    /// lost, and their operations never end.
    #[inline(always)]
    pub(super) fn release(&mut self, f: impl FnOnce()) {
        if let Err(payload) = catch_unwind(AssertUnwindSafe(f)) {
            self.unwound.get_or_insert(payload);
        }
    }

    /// Hands `cqe`, a result of `ud` nobody will take, to its discard.
    #[inline]
    pub(super) fn discard(&mut self, ud: UserData, cqe: Cqe) {
        if let Some(idx) = self.live(ud).map(|s| s.extra) {
            self.discard_with(idx, ud, cqe);
        }
    }

    /// Hands `cqe`, a result nobody will take, to the discard of side
    /// record `idx` (if any).
    pub(super) fn discard_with(&mut self, idx: u32, _ud: UserData, cqe: Cqe) {
        if let Some((discard, storage)) = self.extra_at(idx).and_then(|e| e.discard) {
            // SAFETY: `discard` is the operation's own output decoder
            // (recorded with its storage by the push) and the CQE has been
            // reaped; each result is handed over once, taken or discarded.
            self.release(move || unsafe { discard(cqe, storage) });
        }
    }

    /// Removes the oldest untaken intermediate result of record `idx`.
    pub(super) fn pop_shot(&mut self, idx: u32) -> Option<Cqe> {
        let extra = self.extras.items.get_mut(idx as usize)?;
        let head = extra.shot_head;
        let shot = *self.shots.items.get(head as usize)?;
        extra.shot_head = shot.next;
        if shot.next == NONE {
            extra.shot_tail = NONE;
        }
        self.shots.items[head as usize].next = self.shots.free;
        self.shots.free = head;
        self.shots_pending -= 1;
        Some(shot.cqe)
    }

    /// Appends an intermediate result to operation `ud`'s queue; `false`
    /// when out of memory.
    pub(super) fn push_shot(&mut self, ud: UserData, cqe: Cqe) -> bool {
        let node = if self.shots.free != NONE {
            let i = self.shots.free;
            self.shots.free = self.shots.items[i as usize].next;
            self.shots.items[i as usize] = Shot { cqe, next: NONE };
            i
        } else {
            if self.shots.items.try_reserve(1).is_err() {
                return false;
            }
            self.shots.items.push(Shot { cqe, next: NONE });
            self.shots.items.len() as u32 - 1
        };
        let Some(extra) = self.extra_mut(ud) else {
            self.shots.items[node as usize].next = self.shots.free;
            self.shots.free = node;
            return false;
        };
        let tail = std::mem::replace(&mut extra.shot_tail, node);
        if tail == NONE {
            extra.shot_head = node;
        } else {
            self.shots.items[tail as usize].next = node;
        }
        self.shots_pending += 1;
        true
    }

    /// Operation `ud`'s final CQE came: its side record is needed no
    /// longer if it holds nothing to take or discard.
    #[cold]
    pub(super) fn finished(&mut self, idx: u32, ud: UserData) {
        let Some(extra) = self.extras.items.get(idx as usize) else {
            return;
        };
        if !extra.holds_results() {
            if let Some(slot) = self.live_mut(ud) {
                slot.extra = NONE;
            }
            self.free_extra(idx, ud);
        }
    }
}
