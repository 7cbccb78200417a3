//! The completion table: one slot per operation in flight, in a slab sized
//! once and never reallocated.
//!
//! # Safety
//!
//! The kernel writes an operation's result into memory the table hands it
//! (a slot's inline buffer) until the operation's final CQE is reaped. The
//! buffers therefore live in their own boxed slice, allocated once with the
//! table and only ever reached through raw pointers from `UnsafeCell`s: no
//! Rust reference to a buffer exists while the kernel may write it, and the
//! allocation never moves or shrinks while the table lives.
#![allow(unsafe_code)]

use std::any::Any;
use std::cell::UnsafeCell;
use std::fmt;
use std::os::fd::AsFd;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use io_uring::squeue;
use slab::Slab;

use super::UserData;
use crate::sys::Errno;

/// What a CQE reported for an operation, before it is typed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cqe {
    /// The result: a count or value, or `-errno`.
    pub res: i32,
    /// The CQE flags (`IORING_CQE_F_*`).
    pub flags: u32,
}

impl Cqe {
    /// `IORING_CQE_F_MORE`: more CQEs will follow for this operation.
    pub const F_MORE: u32 = 1 << 1;

    /// Whether more CQEs will follow (a multishot operation).
    #[inline]
    pub fn more(self) -> bool {
        self.flags & Cqe::F_MORE != 0
    }
}

/// Bytes of driver-owned storage each slot has.
pub const INLINE_BYTES: usize = 128;

/// One slot's driver-owned storage: 128 bytes, 8-aligned (a `u64`, a
/// `SignalInfo`, a `siginfo_t`, a `timespec`).
#[repr(C, align(8))]
pub(crate) struct Inline([u8; INLINE_BYTES]);

/// Where an operation stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum State {
    /// Submitted (or queued); its CQE has not come.
    Submitted,
    /// Abandoned by its owner; the slot (and what it keeps alive) stays
    /// until the final CQE, which is then dropped.
    Cancelled,
    /// The final CQE has come; the result waits to be taken.
    Completed,
}

/// How to re-arm a read that completed with `-EAGAIN`: poll `target` for
/// `events`, then submit `entry` again.
#[derive(Clone)]
pub(crate) struct Rearm {
    pub(crate) target: super::Target,
    pub(crate) events: u32,
    pub(crate) entry: squeue::Entry,
}

/// One operation's entry in the table: 16 bytes, and 16 as a slab entry
/// too (the slab's vacant link fits beside the state byte's niche), so a
/// batch of slots spans few cache lines and inserting or freeing one is a
/// couple of stores. What only some operations need (a re-arm recipe, a
/// kept handle, untaken multishot results) lives in side arrays indexed by
/// key, flagged in `extras`, so that the common operation — none of them —
/// is handled by one comparison.
#[derive(Clone, Copy)]
#[repr(C)]
pub(crate) struct Slot {
    /// The final CQE, once `state` is `Completed`.
    cqe: Cqe,
    pub(crate) generation: u32,
    pub(crate) state: State,
    /// [`SCOPED`], [`REARM`], [`KEEP`], [`SHOTS`], [`CANCEL_ASKED`],
    /// [`REARMED`].
    extras: u8,
}

/// The slab's own entry type, mirrored: the layout the size assertion
/// below checks.
#[allow(dead_code)]
enum SlabEntry {
    Vacant(usize),
    Occupied(Slot),
}
const _: () = assert!(size_of::<Slot>() == 16 && size_of::<SlabEntry>() == 16);

/// Intermediate CQEs (`IORING_CQE_F_MORE`) of a multishot operation,
/// delivered but not yet taken.
#[derive(Clone, Copy, Default)]
struct Shots {
    /// How many.
    count: u32,
    /// The latest. A multishot operation's intermediate shots all carry
    /// the same result (a periodic timeout's `-ETIME`), so the latest
    /// stands for each of them.
    latest: Cqe,
}

/// `Slot::extras`: owned by a [`Scope`](super::Scope), cancelled and freed
/// when it ends.
const SCOPED: u8 = 1;
/// `Slot::extras`: `rearms[key]` holds this operation's recipe.
const REARM: u8 = 2;
/// `Slot::extras`: `keeps[key]` holds a handle for this operation.
const KEEP: u8 = 4;
/// `Slot::extras`: `shots[key]` holds untaken intermediate results.
const SHOTS: u8 = 8;
/// `Slot::extras`: its owner asked for it to be cancelled but still takes
/// its result: a `-EAGAIN` is then its final result, `-ECANCELED`, not a
/// reason to re-arm it.
const CANCEL_ASKED: u8 = 16;
/// `Slot::extras`: re-armed at least once, so it may be waiting behind a
/// poll tagged with its auxiliary tag, which a cancel must name too.
const REARMED: u8 = 32;

impl Slot {
    #[inline]
    fn scoped(&self) -> bool {
        self.extras & SCOPED != 0
    }

    /// Whether the slot is in `state` with no side data but its scope:
    /// the state and flag bytes compared as one half-word.
    #[inline]
    fn is_plain(&self, state: State) -> bool {
        u16::from_ne_bytes([self.state as u8, self.extras & !SCOPED]) == state as u16
    }
}

/// What [`Table::complete`] did with a CQE.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// Stored in its slot, to be taken.
    Stored,
    /// The final result of a plain operation, stored; the caller owes a
    /// [`Table::settle`] for it.
    Unsettled,
    /// A reserved tag's CQE (a cancel, a wake) or a successful aux poll.
    Ignored,
    /// No live slot has this key and generation: counted, dropped.
    Stale,
    /// The final CQE of an abandoned operation: its slot is free again.
    Freed,
    /// `-EAGAIN` on a re-armable read: the caller must re-arm slot `key`.
    Rearm(u32),
}

/// A kept handle.
type Keep = Arc<dyn AsFd + Send + Sync>;

/// `n` values from `f` in a boxed slice, or `None` when the allocation
/// fails (instead of aborting the process).
fn filled<T>(n: usize, f: impl FnMut() -> T) -> Option<Box<[T]>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).ok()?;
    v.extend(std::iter::repeat_with(f).take(n));
    Some(v.into_boxed_slice())
}

/// The slab of in-flight operations plus their inline buffers.
pub(crate) struct Table {
    slots: Slab<Slot>,
    generations: Box<[u32]>,
    inline: Box<[UnsafeCell<Inline>]>,
    rearms: Box<[Option<Rearm>]>,
    keeps: Box<[Option<Keep>]>,
    shots: Box<[Shots]>,
    stale: u64,
    /// Live slots whose final CQE has come: the rest are in flight. Kept
    /// instead of an in-flight count so that a push, which only adds a slab
    /// entry, updates no counter of its own.
    completed: usize,
    /// Live slots with untaken intermediate results ([`SHOTS`]).
    shot_slots: usize,
    scoped_in_flight: usize,
    scoped_live: usize,
    /// A panic of a kept handle's `Drop`, held until the pass is done.
    unwound: Option<Box<dyn Any + Send>>,
}

impl Table {
    /// A table for at most `capacity` operations at once, or `None` when
    /// the memory for it cannot be had. Every array is reserved fallibly,
    /// the largest first; the slab, smaller than the inline buffers, last.
    pub(crate) fn try_with_capacity(capacity: usize) -> Option<Table> {
        let inline = filled(capacity, || UnsafeCell::new(Inline([0; INLINE_BYTES])))?;
        let rearms = filled(capacity, || None)?;
        let keeps = filled(capacity, || None)?;
        let shots = filled(capacity, Shots::default)?;
        let generations = filled(capacity, || 0)?;
        Some(Table {
            slots: Slab::with_capacity(capacity),
            generations,
            inline,
            rearms,
            keeps,
            shots,
            ..Table::empty()
        })
    }

    /// A table with no room, allocating nothing.
    pub(crate) fn empty() -> Table {
        Table {
            slots: Slab::new(),
            generations: Box::new([]),
            inline: Box::new([]),
            rearms: Box::new([]),
            keeps: Box::new([]),
            shots: Box::new([]),
            stale: 0,
            completed: 0,
            shot_slots: 0,
            scoped_in_flight: 0,
            scoped_live: 0,
            unwound: None,
        }
    }

    /// [`try_with_capacity`](Table::try_with_capacity), for tests.
    #[cfg(test)]
    fn with_capacity(capacity: usize) -> Table {
        Table::try_with_capacity(capacity).expect("memory for a test table")
    }

    /// How many operations the table holds at most.
    pub(crate) fn capacity(&self) -> usize {
        self.generations.len()
    }

    /// Operations whose final CQE has not come.
    pub(crate) fn in_flight(&self) -> usize {
        self.slots.len() - self.completed
    }

    /// Whether any result waits to be taken: a final one, or an
    /// intermediate shot of a multishot operation.
    #[inline]
    pub(crate) fn has_results(&self) -> bool {
        self.completed > 0 || self.shot_slots > 0
    }

    /// Scoped operations whose final CQE has not come.
    pub(crate) fn scoped_in_flight(&self) -> usize {
        self.scoped_in_flight
    }

    /// CQEs dropped as stale so far.
    pub(crate) fn stale(&self) -> u64 {
        self.stale
    }

    /// Takes a free slot for a new operation, or `None` when the table is
    /// full. The slab never grows past its first allocation.
    #[inline]
    pub(crate) fn insert(&mut self, scoped: bool) -> Option<UserData> {
        // The slab's next key is a vacant entry's, or one past its last
        // entry: it reaches the capacity (the length of `generations`) only
        // when every slot is live, so this one bounds check is the
        // fullness check too, and the slab never grows past it.
        let key = self.slots.vacant_key();
        let generation = self.generations.get_mut(key)?;
        *generation = UserData::next_gen(*generation);
        let generation = *generation;
        self.slots.insert(Slot {
            cqe: Cqe { res: 0, flags: 0 },
            generation,
            state: State::Submitted,
            extras: if scoped { SCOPED } else { 0 },
        });
        if scoped {
            self.scoped_in_flight += 1;
            self.scoped_live += 1;
        }
        Some(UserData::new(key as u32, generation))
    }

    /// Gives slot `ud` a re-arm recipe: poll `target` for `events`, then
    /// submit the SQE `entry` builds. The SQE is built in its place in the
    /// side array, not on the stack and copied.
    #[inline(always)]
    pub(crate) fn set_rearm(
        &mut self,
        ud: UserData,
        target: super::Target,
        events: u32,
        entry: impl FnOnce() -> squeue::Entry,
    ) {
        let Some(slot) = self.get_mut(ud) else {
            return;
        };
        slot.extras |= REARM;
        if let Some(place) = self.rearms.get_mut(ud.key() as usize) {
            *place = Some(Rearm {
                target,
                events,
                entry: entry(),
            });
        }
    }

    /// Gives slot `ud` a handle to keep open until its final CQE.
    #[inline(always)]
    pub(crate) fn set_keep(&mut self, ud: UserData, keep: Keep) {
        let Some(slot) = self.get_mut(ud) else {
            return;
        };
        slot.extras |= KEEP;
        if let Some(place) = self.keeps.get_mut(ud.key() as usize) {
            *place = Some(keep);
        }
    }

    /// The slot `ud` names, if it is live at that generation. Reserved tags
    /// never match: their generation is one no slot reaches.
    #[inline]
    pub(crate) fn get(&self, ud: UserData) -> Option<&Slot> {
        let slot = self.slots.get(ud.key() as usize)?;
        (slot.generation == ud.generation()).then_some(slot)
    }

    /// The slot `ud` names, if it is live at that generation.
    #[inline]
    pub(crate) fn get_mut(&mut self, ud: UserData) -> Option<&mut Slot> {
        let slot = self.slots.get_mut(ud.key() as usize)?;
        (slot.generation == ud.generation()).then_some(slot)
    }

    /// The state of slot `ud`, if live.
    #[inline]
    pub(crate) fn state(&self, ud: UserData) -> Option<State> {
        self.get(ud).map(|s| s.state)
    }

    /// A pointer to slot `ud`'s inline buffer (never dereferenced here).
    #[inline]
    pub(crate) fn inline_ptr(&self, ud: UserData) -> *mut u8 {
        match self.inline.get(ud.key() as usize) {
            Some(cell) => cell.get().cast(),
            None => std::ptr::null_mut(),
        }
    }

    /// Frees slot `ud` (and drops what it keeps). Its generation stays
    /// recorded, so a late CQE with the old tag is recognised as stale.
    #[inline]
    pub(crate) fn remove(&mut self, ud: UserData) -> bool {
        if self.get(ud).is_none() {
            return false;
        }
        let key = ud.key() as usize;
        let slot = self.slots.remove(key);
        if slot.state == State::Completed {
            self.completed -= 1;
        } else if slot.scoped() {
            self.scoped_in_flight -= 1;
        }
        if slot.scoped() {
            self.scoped_live -= 1;
        }
        if slot.extras & (KEEP | SHOTS) != 0 {
            self.drop_side(key, slot.extras);
        }
        true
    }

    /// Clears the kept handle and untaken shots of slot `key` that
    /// `extras` flags.
    #[cold]
    fn drop_side(&mut self, key: usize, extras: u8) {
        // A recipe owns nothing, and only a flagged one is ever read: it is
        // left in place for the next `set_rearm` to overwrite.
        if extras & KEEP != 0 {
            self.release_keep(key);
        }
        if extras & SHOTS != 0 {
            self.shot_slots -= 1;
            if let Some(s) = self.shots.get_mut(key) {
                *s = Shots::default();
            }
        }
    }

    /// Drops slot `key`'s kept handle, which may be the last reference to
    /// a caller's type. Should its `Drop` panic, the panic is held for
    /// [`take_unwound`](Table::take_unwound) rather than let it cut a pass
    /// of completions short: CQEs already copied out of the ring would be
    /// lost, and their operations never end.
    #[inline(always)]
    fn release_keep(&mut self, key: usize) {
        if let Some(keep) = self.keeps.get_mut(key).and_then(Option::take) {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(keep))) {
                self.unwound.get_or_insert(payload);
            }
        }
    }

    /// Whether a kept handle's `Drop` panicked since the last
    /// [`take_unwound`](Table::take_unwound).
    #[inline]
    pub(crate) fn unwound_pending(&self) -> bool {
        self.unwound.is_some()
    }

    /// Forgets everything the table holds, leaving it empty: its buffers
    /// stay allocated, for operations the kernel may still be writing. A
    /// held panic is kept, for its owner to resume.
    pub(crate) fn leak(&mut self) {
        let unwound = self.unwound.take();
        std::mem::forget(std::mem::replace(self, Table::empty()));
        self.unwound = unwound;
    }

    /// The first panic of a kept handle's `Drop` since the last call.
    #[inline]
    pub(crate) fn take_unwound(&mut self) -> Option<Box<dyn Any + Send>> {
        self.unwound.take()
    }

    /// Records that the owner of in-flight slot `ud` asked for it to be
    /// cancelled and will still take its result.
    pub(crate) fn ask_cancel(&mut self, ud: UserData) {
        if let Some(slot) = self.get_mut(ud) {
            if slot.state == State::Submitted {
                slot.extras |= CANCEL_ASKED;
            }
        }
    }

    /// Marks an in-flight operation abandoned: its final CQE will free it.
    ///
    /// Intermediate results it delivered and nobody took are dropped now:
    /// they are nobody's, and would keep [`has_results`](Table::has_results)
    /// true until the operation ends, which a periodic one never does.
    pub(crate) fn abandon(&mut self, ud: UserData) {
        match self.get_mut(ud) {
            Some(slot) if slot.state == State::Completed => {
                self.remove(ud);
            }
            Some(slot) => {
                slot.state = State::Cancelled;
                if slot.extras & SHOTS != 0 {
                    slot.extras &= !SHOTS;
                    self.drop_side(ud.key() as usize, SHOTS);
                }
            }
            None => {}
        }
    }

    /// Records a CQE in the slot it names, with one lookup.
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
    /// one and only result of a plain operation — is reported as
    /// [`Delivery::Unsettled`]: stored, but not yet counted out of
    /// [`in_flight`](Table::in_flight), so that a pass over many CQEs
    /// [`settle`](Table::settle)s them with one update.
    #[inline]
    pub(crate) fn complete_unsettled(&mut self, ud: UserData, res: i32, flags: u32) -> Delivery {
        let key = ud.key() as usize;
        if let Some(slot) = self.slots.get_mut(key) {
            // Comparing the whole upper half against the generation also
            // sends every auxiliary tag to the general path.
            // A re-arm recipe needs no work unless the read found nothing
            // ready: the flag is cleared and the stale recipe left in
            // place (only a flagged recipe is ever read).
            // A kept handle is released here too: it is needed no longer.
            // A scoped operation stays flagged (its cleanup looks for
            // it) and leaves the scope's in-flight count.
            if slot.generation == ud.upper()
                && slot.state == State::Submitted
                && slot.extras & !(REARM | KEEP | SCOPED) == 0
                && flags & Cqe::F_MORE == 0
                && (res != -EAGAIN || slot.extras & REARM == 0)
            {
                let extras = slot.extras;
                slot.cqe = Cqe { res, flags };
                slot.state = State::Completed;
                slot.extras = extras & SCOPED;
                if extras & SCOPED != 0 {
                    self.scoped_in_flight -= 1;
                }
                if extras & KEEP != 0 {
                    self.release_keep(key);
                }
                return Delivery::Unsettled;
            }
        }
        self.complete_general(ud, res, flags)
    }

    /// Counts `n` [`Delivery::Unsettled`] operations out of flight.
    #[inline]
    pub(crate) fn settle(&mut self, n: usize) {
        self.completed += n;
    }

    /// [`complete`](Table::complete) for everything but the common CQE:
    /// auxiliary polls, re-arms, multishot, scoped or abandoned operations,
    /// stale tags.
    #[inline(never)]
    fn complete_general(&mut self, ud: UserData, mut res: i32, flags: u32) -> Delivery {
        let key = ud.key() as usize;
        let Some(slot) = self
            .slots
            .get_mut(key)
            .filter(|s| s.generation == ud.generation())
        else {
            return self.unmatched(ud);
        };
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
            if slot.extras & REARM != 0 && res == -EAGAIN && slot.state == State::Submitted {
                if slot.extras & CANCEL_ASKED == 0 {
                    return Delivery::Rearm(ud.key());
                }
                // Cancelled before the re-arm: the cancel found nothing in
                // the kernel, so this is the end.
                res = -ECANCELED;
            }
            !Cqe { res, flags }.more()
        };
        match slot.state {
            State::Submitted => {
                if !last {
                    if slot.extras & SHOTS == 0 {
                        self.shot_slots += 1;
                    }
                    slot.extras |= SHOTS;
                    if let Some(shots) = self.shots.get_mut(key) {
                        shots.latest = Cqe { res, flags };
                        shots.count += 1;
                    }
                    return Delivery::Stored;
                }
                slot.cqe = Cqe { res, flags };
                slot.state = State::Completed;
                self.completed += 1;
                if slot.extras != 0 {
                    let done = *slot;
                    self.completed_extras(key, done);
                }
                Delivery::Stored
            }
            State::Cancelled => {
                if last {
                    self.remove(ud);
                    Delivery::Freed
                } else {
                    Delivery::Ignored
                }
            }
            State::Completed => {
                // A CQE after the final one cannot come from the kernel.
                self.stale += 1;
                Delivery::Stale
            }
        }
    }

    /// A CQE whose tag matches no live slot: one of the driver's own
    /// requests, or stale.
    #[cold]
    fn unmatched(&mut self, ud: UserData) -> Delivery {
        if ud.is_reserved() {
            Delivery::Ignored
        } else {
            self.stale += 1;
            Delivery::Stale
        }
    }

    /// Bookkeeping when an operation with side data completes: its re-arm
    /// recipe and kept handle are no longer needed.
    #[cold]
    fn completed_extras(&mut self, key: usize, done: Slot) {
        if done.scoped() {
            self.scoped_in_flight -= 1;
        }
        // Untaken shots stay until taken.
        self.drop_side(key, done.extras & (REARM | KEEP));
        if let Some(s) = self.slots.get_mut(key) {
            s.extras &= SCOPED | SHOTS;
        }
    }

    /// Takes one delivered result of slot `ud`, intermediate shots first:
    /// `None` while nothing has come. With the final result the slot is
    /// freed, and the flag says so.
    #[inline]
    pub(crate) fn take(&mut self, ud: UserData) -> Option<(Cqe, bool)> {
        let key = ud.key() as usize;
        let slot = self
            .slots
            .get_mut(key)
            .filter(|s| s.generation == ud.generation())?;
        if !slot.is_plain(State::Completed) {
            return self.take_general(key);
        }
        let slot = *slot;
        Some(self.take_final(key, slot))
    }

    /// Frees the completed slot `key` (a copy of which is `slot`) as its
    /// final result is taken.
    #[inline(always)]
    fn take_final(&mut self, key: usize, slot: Slot) -> (Cqe, bool) {
        // A branch, not arithmetic: the driver-owned take then writes no
        // scope counter at all.
        if slot.scoped() {
            self.scoped_live -= 1;
        }
        self.slots.remove(key);
        self.completed -= 1;
        (slot.cqe, true)
    }

    /// [`take`](Table::take) from a live slot with untaken intermediate
    /// shots, or one still in flight.
    #[inline(never)]
    fn take_general(&mut self, key: usize) -> Option<(Cqe, bool)> {
        let slot = self.slots.get_mut(key)?;
        if slot.extras & SHOTS != 0 {
            let shots = self.shots.get_mut(key)?;
            shots.count -= 1;
            let shot = shots.latest;
            if shots.count == 0 {
                slot.extras &= !SHOTS;
                self.shot_slots -= 1;
            }
            return Some((shot, false));
        }
        if slot.state != State::Completed {
            return None;
        }
        let slot = *slot;
        Some(self.take_final(key, slot))
    }

    /// Records that slot `ud` was re-armed behind a poll.
    pub(crate) fn mark_rearmed(&mut self, ud: UserData) {
        if let Some(slot) = self.get_mut(ud) {
            slot.extras |= REARMED;
        }
    }

    /// Whether slot `ud` was ever re-armed behind a poll.
    pub(crate) fn was_rearmed(&self, ud: UserData) -> bool {
        self.get(ud).is_some_and(|s| s.extras & REARMED != 0)
    }

    /// Live slots: all of them, or only scoped ones.
    pub(crate) fn live_count(&self, scoped_only: bool) -> usize {
        if scoped_only {
            self.scoped_live
        } else {
            self.slots.len()
        }
    }

    /// The slot at `key`, if live: its tag, state and whether it is scoped.
    pub(crate) fn at(&self, key: usize) -> Option<(UserData, State, bool)> {
        let s = self.slots.get(key)?;
        Some((UserData::new(key as u32, s.generation), s.state, s.scoped()))
    }

    /// The re-arm recipe of slot `key`, if it has one.
    pub(crate) fn rearm_of(&self, key: u32) -> Option<(UserData, &Rearm)> {
        let slot = self.slots.get(key as usize)?;
        if slot.extras & REARM == 0 {
            return None;
        }
        let rearm = self.rearms.get(key as usize)?.as_ref()?;
        Some((UserData::new(key, slot.generation), rearm))
    }
}

/// `EAGAIN`, as a CQE result carries it negated.
const EAGAIN: i32 = Errno::EAGAIN.raw();
/// `ECANCELED`, as a CQE result carries it negated.
const ECANCELED: i32 = Errno::ECANCELED.raw();

impl fmt::Debug for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Table")
            .field("capacity", &self.capacity())
            .field("live", &self.slots.len())
            .field("in_flight", &self.in_flight())
            .field("stale", &self.stale)
            .finish()
    }
}

// SAFETY: the inline buffers are plain bytes reached only through raw
// pointers by the thread that owns the table (`&mut Table`); sending the
// table sends them with it.
unsafe impl Send for Table {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generations_make_late_cqes_stale() {
        let mut t = Table::with_capacity(2);
        let a = t.insert(false).expect("free slot");
        assert_eq!(t.complete(a, 5, 0), Delivery::Stored);
        assert_eq!(t.take(a), Some((Cqe { res: 5, flags: 0 }, true)));
        assert!(t.get(a).is_none(), "freed with its final result");
        let b = t.insert(false).expect("free slot");
        assert_eq!(a.key(), b.key(), "the key is reused");
        assert_ne!(a.generation(), b.generation());
        // A late CQE for `a` must not reach `b`.
        assert_eq!(t.complete(a, 7, 0), Delivery::Stale);
        assert_eq!(t.stale(), 1);
        assert_eq!(t.take(b), None);
        // A key that was never handed out is stale too.
        assert_eq!(t.complete(UserData::new(1, 3), 0, 0), Delivery::Stale);
        assert_eq!(t.stale(), 2);
    }

    #[test]
    fn the_table_never_grows() {
        let mut t = Table::with_capacity(3);
        let uds: Vec<_> = (0..3).map(|_| t.insert(false).expect("free")).collect();
        assert!(t.insert(false).is_none());
        assert_eq!(t.in_flight(), 3);
        t.abandon(uds[0]);
        assert_eq!(t.complete(uds[0], -125, 0), Delivery::Freed);
        assert!(t.insert(true).is_some());
        assert_eq!(t.scoped_in_flight(), 1);
    }

    #[test]
    fn multishot_results_are_counted_until_the_last() {
        let mut t = Table::with_capacity(1);
        let ud = t.insert(false).expect("free");
        assert_eq!(t.complete(ud, -62, Cqe::F_MORE), Delivery::Stored);
        assert_eq!(t.complete(ud, -62, Cqe::F_MORE), Delivery::Stored);
        assert_eq!(t.in_flight(), 1);
        assert_eq!(t.complete(ud, -62, 0), Delivery::Stored);
        assert_eq!(t.in_flight(), 0);
        for _ in 0..3 {
            assert!(t.take(ud).is_some());
        }
        assert!(t.get(ud).is_none());
    }

    #[test]
    fn intermediate_shots_come_before_a_different_final_result() {
        let mut t = Table::with_capacity(1);
        let ud = t.insert(false).expect("free");
        assert_eq!(t.complete(ud, -62, Cqe::F_MORE), Delivery::Stored);
        assert_eq!(t.complete(ud, -62, Cqe::F_MORE), Delivery::Stored);
        assert_eq!(t.complete(ud, -125, 0), Delivery::Stored);
        let res: Vec<_> =
            std::iter::from_fn(|| t.take(ud).map(|(c, last)| (c.res, last))).collect();
        assert_eq!(res, [(-62, false), (-62, false), (-125, true)]);
        assert!(t.get(ud).is_none());
    }

    #[test]
    fn a_recipe_matters_only_when_the_read_found_nothing() {
        let mut t = Table::with_capacity(1);
        let ud = t.insert(false).expect("free");
        t.set_rearm(ud, super::super::Target::Fd(0), 1, || {
            io_uring::opcode::Nop::new().build()
        });
        assert_eq!(t.complete(ud, -EAGAIN, 0), Delivery::Rearm(ud.key()));
        assert!(t.rearm_of(ud.key()).is_some());
        assert_eq!(t.complete(ud, 8, 0), Delivery::Stored);
        assert!(t.rearm_of(ud.key()).is_none(), "the flag is cleared");
        assert_eq!(t.take(ud), Some((Cqe { res: 8, flags: 0 }, true)));
        assert_eq!(t.in_flight(), 0);
    }

    #[test]
    fn scoped_slots_are_counted_out_on_the_fast_path() {
        let mut t = Table::with_capacity(2);
        let a = t.insert(true).expect("free");
        let b = t.insert(true).expect("free");
        assert_eq!((t.scoped_in_flight(), t.live_count(true)), (2, 2));
        assert_eq!(t.complete_unsettled(a, 8, 0), Delivery::Unsettled);
        assert_eq!(t.complete_unsettled(b, -9, 0), Delivery::Unsettled);
        t.settle(2);
        assert_eq!((t.scoped_in_flight(), t.in_flight()), (0, 0));
        // Still flagged: the scope's cleanup finds untaken ones by it.
        assert_eq!(
            t.at(b.key() as usize).map(|(_, _, scoped)| scoped),
            Some(true)
        );
        assert_eq!(t.take(a), Some((Cqe { res: 8, flags: 0 }, true)));
        assert_eq!(t.live_count(true), 1);
        assert!(t.remove(b));
        assert_eq!(t.live_count(true), 0);
    }

    #[test]
    fn untaken_shots_die_with_their_slot() {
        let mut t = Table::with_capacity(1);
        let a = t.insert(false).expect("free");
        assert_eq!(t.complete(a, -62, Cqe::F_MORE), Delivery::Stored);
        assert_eq!(t.complete(a, -62, Cqe::F_MORE), Delivery::Stored);
        assert!(t.remove(a));
        let b = t.insert(false).expect("free");
        assert_eq!(a.key(), b.key(), "the key is reused");
        assert_eq!(t.complete(b, -62, Cqe::F_MORE), Delivery::Stored);
        assert_eq!(t.complete(b, 0, 0), Delivery::Stored);
        let res: Vec<_> = std::iter::from_fn(|| t.take(b).map(|(c, last)| (c.res, last))).collect();
        assert_eq!(res, [(-62, false), (0, true)], "only b's own shot");
    }

    #[test]
    fn reserved_cqes_are_not_results_and_failed_polls_are() {
        let mut t = Table::with_capacity(1);
        let ud = t.insert(false).expect("free");
        assert_eq!(t.complete(UserData::CANCEL, 0, 0), Delivery::Ignored);
        // A poll half that succeeds is silent; one that fails is the
        // operation's final result (the kernel skips its linked read's CQE).
        assert_eq!(t.complete(ud.aux(), 1, 0), Delivery::Ignored);
        assert_eq!(t.complete(ud.aux(), -9, 0), Delivery::Stored);
        assert_eq!(t.take(ud).map(|(c, last)| (c.res, last)), Some((-9, true)));
    }
}
