//! The completion table: one slot per operation in flight, in chunks that
//! are added as the working set grows and never move, plus the dispatch
//! queue of tagged operations with results to take.
//!
//! A slot is 56 bytes with 24 bytes of storage inline, so a small
//! operation (a NOP, a counter read, a timeout) costs one slot and nothing
//! more. What only some operations need — a re-arm recipe, a kept handle,
//! a way to drop a result nobody takes, untaken multishot results, storage
//! bigger than 24 bytes — hangs off the slot in one side record, from a
//! pool. Every pool reuses what it freed, so once the table has grown to
//! the working set, no operation allocates.
#![expect(
    unsafe_code,
    reason = "rebuilds an operation in its own slot storage; the table is Send"
)]

mod complete;
mod extra;
mod lent;
mod mail;
mod ready;
mod store;
mod take;
#[cfg(test)]
mod tests;

use std::any::Any;
use std::fmt;
use std::os::fd::AsFd;
use std::sync::Arc;

use io_uring::squeue;

use super::UserData;
use crate::sys::Errno;
pub(crate) use mail::{MAIL_FILE, MAIL_LOST};
pub use store::{BIG_BYTES, INLINE_BYTES};
use store::{Bigs, Extras, NONE, Shots, Sides, Slots, pool_bytes};
pub(crate) use store::{Discard, Life, Remake};

/// What a CQE reported for an operation, before it is typed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Cqe {
    /// The result: a count or value, or `-errno`.
    pub res: i32,
    /// The CQE flags (`IORING_CQE_F_*`).
    pub flags: u32,
}

impl Cqe {
    /// `IORING_CQE_F_BUFFER`: the upper 16 bits of `flags` hold the id of
    /// the provided buffer the operation used.
    pub const F_BUFFER: u32 = 1 << 0;
    /// `IORING_CQE_BUFFER_SHIFT`: where that buffer id starts in `flags`.
    pub const BUFFER_SHIFT: u32 = 16;
    /// `IORING_CQE_F_MORE`: more CQEs will follow for this operation.
    pub const F_MORE: u32 = 1 << 1;
    /// `IORING_CQE_F_NOTIF`: a zero-copy send's notification that the
    /// kernel is done with the buffer.
    pub const F_NOTIF: u32 = 1 << 3;

    /// Whether more CQEs will follow (a multishot operation).
    #[inline]
    pub fn more(self) -> bool {
        self.flags & Cqe::F_MORE != 0
    }
}

/// How to re-arm a read that completed with `-EAGAIN`: poll `target` for
/// `events`, then submit `entry` again.
#[derive(Clone)]
pub(crate) struct Rearm {
    pub(crate) target: super::Target,
    pub(crate) events: crate::sys::poll::PollFlags,
    pub(crate) entry: squeue::Entry,
}

/// A kept handle.
pub(crate) type Keep = Arc<dyn AsFd + Send + Sync>;

/// `Slot::flags`: owned by a [`Scope`](super::Scope), cancelled and freed
/// when it ends.
const SCOPED: u8 = 1;
/// `Slot::flags`: its results are announced on the dispatch queue.
const TAGGED: u8 = 2;
/// `Slot::flags`: its owner asked for it to be cancelled but still takes
/// its result: a `-EAGAIN` is then its final result, `-ECANCELED`, not a
/// reason to re-arm it.
const ASKED: u8 = 4;
/// `Slot::flags`: re-armed at least once, so it may be waiting behind a
/// poll tagged with its auxiliary tag, which a cancel must name too.
const REARMED: u8 = 8;
/// `Slot::flags`: its side holds a re-arm recipe.
const REARM: u8 = 16;
/// `Slot::flags`: its side holds a kept handle.
const KEEP: u8 = 32;
/// `Slot::flags`, beside [`REARM`]: the recipe is in the slot itself, a
/// [`Remake`] with the target's number in `next`, not in its side.
const REMAKE: u8 = 64;
/// `Slot::flags`, beside [`REMAKE`]: the target is a fixed file.
const REMAKE_FIXED: u8 = 128;

/// What [`Table::complete`] did with a CQE.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// Stored in its slot, to be taken.
    Stored,
    /// The final result of a plain operation, stored; the caller owes a
    /// [`Table::settle`] for it.
    Unsettled,
    /// A reserved tag's CQE (a cancel, a wake), a successful aux poll, or
    /// an intermediate result of a detached operation (dropped).
    Ignored,
    /// No live slot has this key and generation: counted, dropped.
    Stale,
    /// The final CQE of a detached operation: its slot is free again.
    Freed,
    /// `-EAGAIN` on a re-armable read: the caller must re-arm slot `key`.
    Rearm(u32),
    /// The driver's cancel of slot `key` found nothing: the caller sends
    /// it again if the slot still runs ([`Table::cancel_pending`]).
    Recancel(u32),
    /// A file came for a mailbox that is gone: the caller closes direct
    /// slot `index` of the ring's file table.
    CloseFile(u32),
}

/// The table of operations in flight.
pub(crate) struct Table {
    slots: Slots,
    rearms: Sides<Rearm>,
    keeps: Sides<Keep>,
    extras: Extras,
    shots: Shots,
    bigs: Bigs,
    /// Tagged operations with a result to take, one entry per result, in
    /// completion order. Entries whose result was since taken by token are
    /// skipped when popped.
    ready: ready::Fifo,
    /// The most operations live at once.
    max: usize,
    stale: u64,
    /// Live slots whose final CQE has come.
    completed: usize,
    /// Slotless operations whose final CQE has not come, with no slot.
    slotless_in_flight: usize,
    /// Slots lent to slotless operations ([`Life::Lent`]).
    lent: usize,
    /// Slotless results on the dispatch queue.
    slotless_pending: usize,
    /// Untaken intermediate results.
    shots_pending: usize,
    scoped_in_flight: usize,
    scoped_live: usize,
    /// A panic of a kept handle's or a discarded result's `Drop`, held
    /// until the pass is done.
    unwound: Option<Box<dyn Any + Send>>,
    /// The [`Remake`]s slots name by index: one per kind of operation
    /// that rebuilds its SQE, so this stays a few entries long.
    remakes: Vec<Remake>,
    /// The [`Remake`] asked for last, with its index.
    remake_last: Option<(Remake, u16)>,
}

/// `EAGAIN`, as a CQE result carries it negated.
const EAGAIN: i32 = Errno::EAGAIN.raw();
/// `ECANCELED`, as a CQE result carries it negated.
const ECANCELED: i32 = Errno::ECANCELED.raw();

impl Table {
    /// A table that holds at most `max` operations at once, with slots for
    /// `initial` allocated now; `None` when their memory cannot be had.
    pub(crate) fn try_new(initial: usize, max: usize) -> Option<Table> {
        let mut t = Table::empty();
        // Keys stay below 2^31: the reap marks held keys with the top bit.
        t.max = max.min(1 << 31);
        let chunks = initial.min(max).div_ceil(store::CHUNK);
        if chunks > 0 && (!t.ready.reserve(store::CHUNK) || !t.slots.grow(chunks)) {
            return None;
        }
        Some(t)
    }

    /// A table with no room, allocating nothing.
    pub(crate) const fn empty() -> Table {
        Table {
            slots: Slots::new(),
            rearms: Sides::new(),
            keeps: Sides::new(),
            extras: Extras::new(),
            shots: Shots::new(),
            bigs: Bigs::new(),
            ready: ready::Fifo::new(),
            max: 0,
            stale: 0,
            completed: 0,
            slotless_in_flight: 0,
            lent: 0,
            slotless_pending: 0,
            shots_pending: 0,
            scoped_in_flight: 0,
            scoped_live: 0,
            unwound: None,
            remakes: Vec::new(),
            remake_last: None,
        }
    }

    /// A chunk more, with room on the dispatch queue for its operations.
    #[cold]
    fn grow(&mut self) -> bool {
        self.slots.grow(1)
    }

    /// Slots allocated so far.
    pub(crate) fn capacity(&self) -> usize {
        self.slots.allocated().min(self.max)
    }

    /// The most operations the table holds at once.
    pub(crate) fn max(&self) -> usize {
        self.max
    }

    /// Whether every slot the table may have is live.
    pub(crate) fn is_full(&self) -> bool {
        self.slots.live >= self.max
    }

    /// Bytes of memory the table holds.
    pub(crate) fn bytes(&self) -> usize {
        self.slots.allocated() * size_of::<store::Slot>()
            + self.slots.chunks() * size_of::<usize>()
            + pool_bytes(&self.extras)
            + pool_bytes(&self.shots)
            + self.bigs.bytes()
            + self.rearms.bytes()
            + self.keeps.bytes()
            + self.ready.bytes()
    }

    /// Operations whose final CQE has not come.
    pub(crate) fn in_flight(&self) -> usize {
        self.slots.live - self.completed
    }

    /// Slotless operations with no slot whose final CQE has not come
    /// (not counted in [`in_flight`](Table::in_flight): nothing of theirs
    /// needs draining).
    pub(crate) fn slotless_in_flight(&self) -> usize {
        self.slotless_in_flight
    }

    /// Counts a slotless operation pushed.
    #[inline(always)]
    pub(crate) fn slotless_pushed(&mut self) {
        self.slotless_in_flight += 1;
    }

    /// Whether any result waits to be taken.
    #[inline]
    pub(crate) fn has_results(&self) -> bool {
        self.completed > 0 || self.shots_pending > 0 || self.slotless_pending > 0
    }

    /// Scoped operations whose final CQE has not come.
    pub(crate) fn scoped_in_flight(&self) -> usize {
        self.scoped_in_flight
    }

    /// CQEs dropped as stale so far.
    pub(crate) fn stale(&self) -> u64 {
        self.stale
    }

    /// Takes a free slot for a new operation (announced on the dispatch
    /// queue with `tag`, if given), or `None` when the table is at its
    /// maximum or out of memory ([`is_full`](Table::is_full) tells which).
    #[inline]
    pub(crate) fn insert(&mut self, scoped: bool, tag: Option<u64>) -> Option<UserData> {
        self.insert_at(scoped, tag).map(|(ud, _)| ud)
    }

    /// [`insert`](Table::insert), with a pointer to the slot's inline
    /// storage (never dereferenced here), from the same lookup.
    #[inline(always)]
    pub(crate) fn insert_at(
        &mut self,
        scoped: bool,
        tag: Option<u64>,
    ) -> Option<(UserData, *mut u8)> {
        let mut flags = if scoped { SCOPED } else { 0 };
        if tag.is_some() {
            flags |= TAGGED;
        }
        let at = self.claim(Life::InFlight, flags, tag.unwrap_or(0))?;
        if scoped {
            self.scoped_in_flight += 1;
            self.scoped_live += 1;
        }
        Some(at)
    }

    /// Takes the first free slot (growing the table if need be) into
    /// `life` with `flags` and `tag`, under its next generation, with a
    /// pointer to its inline storage; `None` when the table is at its
    /// maximum or out of memory.
    #[inline(always)]
    fn claim(&mut self, life: Life, flags: u8, tag: u64) -> Option<(UserData, *mut u8)> {
        if self.slots.live >= self.max || (self.slots.free == NONE && !self.grow()) {
            return None;
        }
        let key = self.slots.free;
        let slots = &mut self.slots;
        let slot = slots.get_mut(key)?;
        let storage = slot.storage_ptr();
        let next = slot.next;
        slot.generation = UserData::next_gen(slot.generation);
        slot.life = life;
        slot.extra = NONE;
        slot.flags = flags;
        if flags & TAGGED != 0 || life == Life::Lent {
            slot.tag = tag;
        }
        let ud = UserData::new(key, slot.generation);
        slots.free = next;
        slots.live += 1;
        Some((ud, storage))
    }

    /// The live slot `ud` names.
    #[inline(always)]
    fn live(&self, ud: UserData) -> Option<&store::Slot> {
        let slot = self.slots.get(ud.key())?;
        (slot.generation == ud.generation() && slot.life != Life::Vacant).then_some(slot)
    }

    /// The live slot `ud` names.
    #[inline(always)]
    fn live_mut(&mut self, ud: UserData) -> Option<&mut store::Slot> {
        let slot = self.slots.get_mut(ud.key())?;
        (slot.generation == ud.generation() && slot.life != Life::Vacant).then_some(slot)
    }

    /// A pointer to slot `ud`'s storage: inline, or its big block when
    /// `big` (null if it has none). Never dereferenced here.
    #[inline(always)]
    pub(crate) fn storage_ptr(&self, ud: UserData, big: bool) -> *mut u8 {
        if !big {
            return self.slots.storage(ud.key());
        }
        match self.live(ud).and_then(|s| self.extra_at(s.extra)) {
            Some(extra) if extra.big != NONE => self.bigs.ptr(extra.big),
            _ => std::ptr::null_mut(),
        }
    }

    /// The lifecycle stage of slot `ud`, if live.
    #[inline]
    pub(crate) fn state(&self, ud: UserData) -> Option<Life> {
        self.live(ud).map(|s| s.life)
    }

    /// Frees slot `ud` whatever it holds: results nobody took are
    /// discarded. Only an operation never submitted is removed in flight:
    /// its storage's contents are discarded as a `-ECANCELED` result. Its generation stays, so a late CQE with the old tag is
    /// recognised as stale.
    pub(crate) fn remove(&mut self, ud: UserData) -> bool {
        let Some(slot) = self.live(ud) else {
            return false;
        };
        let (life, flags, idx, cqe) = (slot.life, slot.flags, slot.extra, slot.cqe);
        if idx != NONE {
            // Untaken results go in order: the intermediate ones first.
            while let Some(shot) = self.pop_shot(idx) {
                self.discard_with(idx, ud, shot);
            }
        }
        if life == Life::Completed {
            self.completed -= 1;
            self.discard_with(idx, ud, cqe);
        } else {
            if life == Life::InFlight {
                // Never submitted (a push that failed after `prepare`):
                // what the storage owns is let go as a cancelled result.
                self.discard_with(
                    idx,
                    ud,
                    Cqe {
                        res: -ECANCELED,
                        flags: 0,
                    },
                );
            }
            if flags & SCOPED != 0 {
                self.scoped_in_flight -= 1;
            }
        }
        self.free(ud);
        true
    }

    /// Returns slot `ud` (live) to the free list with its side record; any
    /// untaken intermediate result is discarded.
    fn free(&mut self, ud: UserData) {
        let key = ud.key();
        let free = self.slots.free;
        let Some(slot) = self.slots.get_mut(key) else {
            return;
        };
        let (extra, flags) = (slot.extra, slot.flags);
        if slot.life == Life::Lent {
            self.lent -= 1;
        }
        slot.life = Life::Vacant;
        slot.extra = NONE;
        slot.flags = 0;
        slot.next = free;
        self.slots.free = key;
        self.slots.live -= 1;
        if flags & SCOPED != 0 {
            self.scoped_live -= 1;
        }
        if flags & KEEP != 0 {
            self.release_keep(key);
        }
        if extra != NONE {
            self.free_extra(extra, ud);
        }
    }

    /// Whether a kept handle's or a discarded result's `Drop` panicked
    /// since the last [`take_unwound`](Table::take_unwound).
    #[inline]
    pub(crate) fn unwound_pending(&self) -> bool {
        self.unwound.is_some()
    }

    /// Forgets everything the table holds, leaving it empty: its memory
    /// stays allocated, for operations the kernel may still be writing. A
    /// held panic is kept, for its owner to resume.
    pub(crate) fn leak(&mut self) {
        let unwound = self.unwound.take();
        std::mem::forget(std::mem::replace(self, Table::empty()));
        self.unwound = unwound;
    }

    /// The first panic held since the last call.
    #[inline]
    pub(crate) fn take_unwound(&mut self) -> Option<Box<dyn Any + Send>> {
        self.unwound.take()
    }

    /// Records that the owner of in-flight slot `ud` asked for it to be
    /// cancelled and will still take its result.
    pub(crate) fn ask_cancel(&mut self, ud: UserData) {
        if let Some(slot) = self.live_mut(ud)
            && slot.life == Life::InFlight
        {
            slot.flags |= ASKED;
        }
    }

    /// Detaches an operation from its owner: a completed one is freed now
    /// (its result discarded); one in flight is freed by its final CQE, and
    /// its results are discarded as they come, those waiting now at once.
    pub(crate) fn abandon(&mut self, ud: UserData) {
        let Some(slot) = self.live_mut(ud) else {
            return;
        };
        match slot.life {
            Life::Completed => {
                self.remove(ud);
            }
            Life::InFlight => {
                slot.life = Life::Detached;
                let idx = slot.extra;
                if idx != NONE {
                    while let Some(cqe) = self.pop_shot(idx) {
                        self.discard_with(idx, ud, cqe);
                    }
                }
            }
            // A lent slot has no owner to detach it from.
            Life::Detached | Life::Vacant | Life::Lent => {}
        }
    }

    /// Records that slot `ud` was re-armed behind a poll.
    pub(crate) fn mark_rearmed(&mut self, ud: UserData) {
        if let Some(slot) = self.live_mut(ud) {
            slot.flags |= REARMED;
        }
    }

    /// Whether slot `ud` was ever re-armed behind a poll.
    pub(crate) fn was_rearmed(&self, ud: UserData) -> bool {
        self.live(ud).is_some_and(|s| s.flags & REARMED != 0)
    }

    /// Live slots: all of them, or only scoped ones.
    pub(crate) fn live_count(&self, scoped_only: bool) -> usize {
        if scoped_only {
            self.scoped_live
        } else {
            self.slots.live
        }
    }

    /// One past the highest key a slot may have.
    pub(crate) fn key_bound(&self) -> usize {
        self.slots.allocated()
    }

    /// The slot at `key`, if live: its tag, stage and whether it is scoped.
    pub(crate) fn at(&self, key: usize) -> Option<(UserData, Life, bool)> {
        let s = self.slots.get(u32::try_from(key).ok()?)?;
        if s.life == Life::Vacant {
            return None;
        }
        Some((
            UserData::new(key as u32, s.generation),
            s.life,
            s.flags & SCOPED != 0,
        ))
    }

    /// The live slot at `key`: its `user_data`.
    pub(crate) fn live_at(&self, key: u32) -> Option<UserData> {
        let slot = self.slots.get(key)?;
        (slot.life != Life::Vacant).then(|| UserData::new(key, slot.generation))
    }

    /// The re-arm recipe of slot `key`, if it has one: its `user_data`,
    /// the target to poll, the events, and the SQE to submit again (its
    /// `user_data` set). `Err` when the recipe cannot build the SQE.
    pub(crate) fn recipe(&self, key: u32) -> Option<Result<(UserData, Rearm), UserData>> {
        let slot = self.slots.get(key)?;
        if slot.life == Life::Vacant || slot.flags & REARM == 0 {
            return None;
        }
        let ud = UserData::new(key, slot.generation);
        if slot.flags & REMAKE == 0 {
            let rearm = self.rearms.get(key)?.clone()?;
            return Some(Ok((ud, rearm)));
        }
        let target = if slot.flags & REMAKE_FIXED != 0 {
            super::Target::Fixed(slot.next)
        } else {
            super::Target::Fd(super::FdNumber::recorded(slot.next as i32))
        };
        let remake = *self.remakes.get(usize::from(slot.remake).checked_sub(1)?)?;
        // SAFETY: `remake` is the slot's operation's own `rebuild`, for the
        // storage it was pushed with: the slot's inline bytes (only
        // operations with inline storage record a `Remake`), which the
        // slot still reserves (it is live). Building an SQE reads nothing.
        match unsafe { remake(target, slot.storage_ptr()) } {
            Some((events, entry)) => Some(Ok((
                ud,
                Rearm {
                    target,
                    events,
                    entry: entry.user_data(ud.raw()),
                },
            ))),
            None => Some(Err(ud)),
        }
    }
}

impl Drop for Table {
    /// Discards the results nobody took (a ring's drain has ended every
    /// operation by now; a table whose operations may still run is
    /// [`leak`](Table::leak)ed instead).
    fn drop(&mut self) {
        for key in 0..self.key_bound() {
            if let Some((ud, _, _)) = self.at(key) {
                self.remove(ud);
            }
        }
    }
}

impl fmt::Debug for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Table")
            .field("capacity", &self.capacity())
            .field("max", &self.max)
            .field("live", &self.slots.live)
            .field("in_flight", &self.in_flight())
            .field("stale", &self.stale)
            .finish()
    }
}

// SAFETY: the storage is plain bytes reached only through raw pointers by
// the thread that owns the table (`&mut Table`); a discard's storage
// pointer is the operation's own storage, which moves with the ring that
// owns it; sending the table sends all of it.
unsafe impl Send for Table {}
