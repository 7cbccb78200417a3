//! The table's memory: slots in chunks that never move, and the pools of
//! what only some operations need (side records, multishot results, big
//! storage), each reused through a free list so that a table grown to its
//! working set allocates nothing more.
//!
//! # Safety
//!
//! The kernel writes an operation's storage (a slot's inline bytes, or a
//! big block) until its final CQE. Both live in heap blocks that are
//! allocated once and freed only with the table, and both are reached only
//! through raw pointers from `UnsafeCell`s: growing the table adds blocks
//! and never moves one, and no Rust reference to storage exists while the
//! kernel may write it.
#![expect(
    unsafe_code,
    reason = "slot and block storage the kernel writes until the final CQE"
)]

use std::alloc::{Layout, alloc};
use std::cell::UnsafeCell;
use std::ptr::NonNull;

use io_uring::squeue;

use super::Cqe;

/// Bytes of storage each slot holds inline: a counter, a `timespec`, a
/// timeout's state, an owned buffer's `Vec`. Bigger storage (a
/// `SignalInfo`, a `siginfo_t`) takes a [`BIG_BYTES`] block out of line.
pub const INLINE_BYTES: usize = 24;

/// Bytes of an out-of-line storage block.
pub const BIG_BYTES: usize = 128;

/// "No index": the end of a free list, a slot with no side record.
pub(crate) const NONE: u32 = u32::MAX;

/// Slots per chunk: 128 × 56 bytes, 7 KiB.
pub(crate) const CHUNK_SHIFT: u32 = 7;
/// Slots per chunk.
pub(crate) const CHUNK: usize = 1 << CHUNK_SHIFT;
const CHUNK_MASK: usize = CHUNK - 1;

/// A slot's inline storage, 8-aligned.
#[repr(C, align(8))]
pub(crate) struct Inline(pub(crate) [u8; INLINE_BYTES]);

/// An out-of-line storage block, 8-aligned.
#[repr(C, align(8))]
pub(crate) struct Big(pub(crate) [u8; BIG_BYTES]);

/// Where an operation stands: the explicit lifecycle of a slot (the shape
/// of tokio-uring's `Lifecycle`; the CQE, tag and side record live beside
/// it in the slot).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Life {
    /// On the free list.
    Vacant,
    /// Submitted (or queued); its final CQE has not come. Intermediate
    /// results of a multishot operation may wait in its side record.
    InFlight,
    /// Its owner is gone (a dropped token, a cancel, a detach): every
    /// result is dropped as it comes, and the slot is freed by the final
    /// CQE.
    Detached,
    /// The final CQE has come: the result waits to be taken.
    Completed,
    /// Lent to a [slotless](crate::ring::slotless) operation for its
    /// flight: it has no owner and no token. Its final CQE goes on the
    /// dispatch queue whole, with the first 8 bytes of its storage, and
    /// frees the slot.
    Lent,
}

/// One operation's entry: 56 bytes, its small storage included.
#[repr(C)]
pub(crate) struct Slot {
    storage: UnsafeCell<Inline>,
    /// The caller's tag, for dispatch ([`TAGGED`](super::TAGGED)).
    pub(crate) tag: u64,
    /// The final CQE, once `life` is [`Life::Completed`].
    pub(crate) cqe: Cqe,
    pub(crate) generation: u32,
    /// The next vacant slot, while on the free list.
    pub(crate) next: u32,
    /// The index of its side record, or [`NONE`].
    pub(crate) extra: u32,
    pub(crate) life: Life,
    /// [`SCOPED`](super::SCOPED), [`TAGGED`](super::TAGGED),
    /// [`ASKED`](super::ASKED), [`REARMED`](super::REARMED), and the
    /// re-arm and keep flags.
    pub(crate) flags: u8,
    /// How to build the SQE of a re-armable read again, when the slot
    /// holds its recipe itself ([`REMAKE`](super::REMAKE)): one plus the
    /// index of its [`Remake`] in the table's list of them (`0`: none),
    /// with the target's number in `next`.
    pub(crate) remake: u16,
}

const _: () = assert!(size_of::<Slot>() == 56);

impl Slot {
    /// A pointer to the inline storage (never dereferenced here).
    #[inline(always)]
    pub(crate) fn storage_ptr(&self) -> *mut u8 {
        self.storage.get().cast()
    }

    /// The first 8 bytes of a [lent](Life::Lent) slot's storage, once its
    /// final CQE has come.
    #[inline(always)]
    pub(crate) fn word(&self) -> u64 {
        // SAFETY: the storage is 8-aligned and at least 8 bytes long; a
        // lent slot's first word was written whole at its push (a slotless
        // operation's storage is `()` or a `u64`, zeroed first), then
        // only by the kernel, which is done with it once the final CQE
        // has come. No reference to the storage exists.
        unsafe { self.storage.get().cast::<u64>().read() }
    }
}

/// An operation's [`Op::rebuild`](crate::ring::Op::rebuild), for its
/// storage's address.
pub(crate) type Remake =
    unsafe fn(crate::ring::Target, *mut u8) -> Option<(crate::sys::poll::PollFlags, squeue::Entry)>;

/// What a discarded result is handed to: the operation's `output`, whose
/// value is dropped (a buffer freed, a descriptor closed).
pub(crate) type Discard = unsafe fn(Cqe, *mut u8);

/// What reads and handle-keeping operations need beside their slot, one
/// kind to an array: a re-arm recipe recorded as an SQE, or a kept handle.
/// A chunk of either is allocated beside a chunk of slots the first time
/// one of its operations needs one, and is flagged per slot (`REARM`,
/// `KEEP`), so that the common read completes on the fast path without
/// it. Apart, so that an operation that keeps its handle (16 bytes) does
/// not hold room for a recipe (80) it does not have.
pub(crate) struct Sides<T> {
    chunks: Vec<Option<Box<[Option<T>]>>>,
}

impl<T> Sides<T> {
    pub(crate) const fn new() -> Sides<T> {
        Sides { chunks: Vec::new() }
    }

    /// Slot `key`'s side.
    #[inline(always)]
    pub(crate) fn get(&self, key: u32) -> Option<&Option<T>> {
        let chunk = self.chunks.get((key as usize) >> CHUNK_SHIFT)?.as_ref()?;
        chunk.get(key as usize & CHUNK_MASK)
    }

    /// Slot `key`'s side.
    #[inline(always)]
    pub(crate) fn get_mut(&mut self, key: u32) -> Option<&mut Option<T>> {
        let chunk = self
            .chunks
            .get_mut((key as usize) >> CHUNK_SHIFT)?
            .as_mut()?;
        chunk.get_mut(key as usize & CHUNK_MASK)
    }

    /// Slot `key`'s side, its chunk allocated if need be; `None` when out
    /// of memory.
    #[inline(always)]
    pub(crate) fn get_or_alloc(&mut self, key: u32) -> Option<&mut Option<T>> {
        let c = (key as usize) >> CHUNK_SHIFT;
        if !matches!(self.chunks.get(c), Some(Some(_))) {
            self.alloc(c)?;
        }
        self.get_mut(key)
    }

    #[cold]
    fn alloc(&mut self, c: usize) -> Option<()> {
        if self.chunks.len() <= c {
            self.chunks.try_reserve(c + 1 - self.chunks.len()).ok()?;
            self.chunks.resize_with(c + 1, || None);
        }
        let mut v = Vec::new();
        v.try_reserve_exact(CHUNK).ok()?;
        v.extend(std::iter::repeat_with(|| None).take(CHUNK));
        self.chunks[c] = Some(v.into_boxed_slice());
        Some(())
    }

    /// Bytes held.
    pub(crate) fn bytes(&self) -> usize {
        self.chunks.capacity() * size_of::<Option<Box<[Option<T>]>>>()
            + self.chunks.iter().flatten().count() * CHUNK * size_of::<Option<T>>()
    }
}

/// What only some operations need, out of line.
pub(crate) struct Extra {
    /// How to drop a result nobody takes, and the storage it decodes.
    pub(crate) discard: Option<(Discard, *mut u8)>,
    /// Untaken intermediate results, oldest first: indices into the shot
    /// pool, or [`NONE`].
    pub(crate) shot_head: u32,
    pub(crate) shot_tail: u32,
    /// The out-of-line storage block, or [`NONE`].
    pub(crate) big: u32,
    /// For an operation whose CQEs fold into one result (a zero-copy
    /// send's result and its notification): whether it does, and the
    /// first CQE, held until the notification comes.
    pub(crate) folds: bool,
    pub(crate) first: Option<Cqe>,
    /// The next free record, while free.
    pub(crate) next: u32,
}

impl Extra {
    pub(crate) const EMPTY: Extra = Extra {
        discard: None,
        shot_head: NONE,
        shot_tail: NONE,
        big: NONE,
        folds: false,
        first: None,
        next: NONE,
    };

    /// Whether it still holds something once the final CQE has come.
    #[inline]
    pub(crate) fn holds_results(&self) -> bool {
        self.shot_head != NONE || self.discard.is_some() || self.big != NONE
    }
}

/// One untaken intermediate result.
#[derive(Clone, Copy)]
pub(crate) struct Shot {
    pub(crate) cqe: Cqe,
    pub(crate) next: u32,
}

/// The slots, in chunks that never move, with a free list through the
/// vacant ones.
pub(crate) struct Slots {
    chunks: Vec<NonNull<[Slot; CHUNK]>>,
    /// The allocations the chunks are cut from, with their chunk counts:
    /// the initial size in one, each later chunk in its own.
    blocks: Vec<(NonNull<Slot>, usize)>,
    /// The first vacant slot, or [`NONE`].
    pub(crate) free: u32,
    /// Slots not vacant.
    pub(crate) live: usize,
}

impl Slots {
    pub(crate) const fn new() -> Slots {
        Slots {
            chunks: Vec::new(),
            blocks: Vec::new(),
            free: NONE,
            live: 0,
        }
    }

    /// Slots allocated.
    #[inline]
    pub(crate) fn allocated(&self) -> usize {
        self.chunks.len() * CHUNK
    }

    /// Chunks allocated.
    #[inline]
    pub(crate) fn chunks(&self) -> usize {
        self.chunks.len()
    }

    /// The slot at `key`, vacant or not.
    #[inline(always)]
    pub(crate) fn get(&self, key: u32) -> Option<&Slot> {
        let chunk = self.chunks.get((key as usize) >> CHUNK_SHIFT)?;
        // SAFETY: a chunk is a live allocation owned by `self`, freed only
        // in `drop`; the shared borrow of `self` keeps it so.
        Some(unsafe { &chunk.as_ref()[key as usize & CHUNK_MASK] })
    }

    /// The slot at `key`, vacant or not.
    #[inline(always)]
    pub(crate) fn get_mut(&mut self, key: u32) -> Option<&mut Slot> {
        let chunk = self.chunks.get_mut((key as usize) >> CHUNK_SHIFT)?;
        // SAFETY: as in `get`, with `&mut self` making the borrow unique.
        Some(unsafe { &mut chunk.as_mut()[key as usize & CHUNK_MASK] })
    }

    /// A pointer to slot `key`'s inline storage (never dereferenced here).
    #[inline(always)]
    pub(crate) fn storage(&self, key: u32) -> *mut u8 {
        match self.get(key) {
            Some(slot) => slot.storage_ptr(),
            None => std::ptr::null_mut(),
        }
    }

    /// Adds `n` chunks of vacant slots, cut from one allocation, in front
    /// of the free list, lowest key first; `false` when their memory cannot
    /// be had.
    #[cold]
    pub(crate) fn grow(&mut self, n: usize) -> bool {
        let base = self.allocated();
        let Some(slots) = n.checked_mul(CHUNK) else {
            return false;
        };
        if base.saturating_add(slots) > NONE as usize
            || self.chunks.try_reserve(n).is_err()
            || self.blocks.try_reserve(1).is_err()
        {
            return false;
        }
        let Ok(layout) = Layout::array::<Slot>(slots) else {
            return false;
        };
        if layout.size() == 0 {
            return false;
        }
        // SAFETY: the layout has a non-zero size.
        let Some(first) = NonNull::new(unsafe { alloc(layout) }.cast::<Slot>()) else {
            return false;
        };
        for i in 0..slots {
            let next = if i + 1 < slots {
                (base + i + 1) as u32
            } else {
                self.free
            };
            // SAFETY: `i < slots`, inside the fresh allocation, which has
            // the array's layout; each slot is written once before use.
            unsafe {
                first.add(i).write(Slot {
                    storage: UnsafeCell::new(Inline([0; INLINE_BYTES])),
                    tag: 0,
                    cqe: Cqe::default(),
                    generation: 0,
                    next,
                    extra: NONE,
                    life: Life::Vacant,
                    flags: 0,
                    remake: 0,
                });
            }
        }
        for c in 0..n {
            // SAFETY: chunk `c` starts `c * CHUNK` slots into the block,
            // which holds `n * CHUNK`.
            self.chunks.push(unsafe { first.add(c * CHUNK) }.cast());
        }
        self.blocks.push((first, slots));
        self.free = base as u32;
        true
    }
}

impl Drop for Slots {
    fn drop(&mut self) {
        for (block, slots) in self.blocks.drain(..) {
            if let Ok(layout) = Layout::array::<Slot>(slots) {
                // SAFETY: allocated in `grow` with this layout; slots own
                // nothing to drop.
                unsafe { std::alloc::dealloc(block.as_ptr().cast(), layout) };
            }
        }
    }
}

/// A pool of `T`s reused through a free list of indices (kept in
/// `T`'s own `next` field by the caller).
pub(crate) struct Pool<T> {
    pub(crate) items: Vec<T>,
    pub(crate) free: u32,
}

impl<T> Pool<T> {
    pub(crate) const fn new() -> Pool<T> {
        Pool {
            items: Vec::new(),
            free: NONE,
        }
    }
}

/// Out-of-line storage blocks: each boxed once, never moved, reused.
pub(crate) struct Bigs {
    #[expect(
        clippy::vec_box,
        reason = "the kernel writes a block while the vector grows"
    )]
    blocks: Vec<Box<UnsafeCell<Big>>>,
    free: Vec<u32>,
}

impl Bigs {
    pub(crate) const fn new() -> Bigs {
        Bigs {
            blocks: Vec::new(),
            free: Vec::new(),
        }
    }

    /// A free block's index, or `None` when its memory cannot be had.
    pub(crate) fn take(&mut self) -> Option<u32> {
        if let Some(i) = self.free.pop() {
            return Some(i);
        }
        self.blocks.try_reserve(1).ok()?;
        self.free.try_reserve(self.blocks.len() + 1).ok()?;
        self.blocks
            .push(Box::new(UnsafeCell::new(Big([0; BIG_BYTES]))));
        Some(self.blocks.len() as u32 - 1)
    }

    /// Returns block `i` to the pool (room was reserved when it was made).
    pub(crate) fn give(&mut self, i: u32) {
        self.free.push(i);
    }

    /// A pointer to block `i` (never dereferenced here).
    #[inline]
    pub(crate) fn ptr(&self, i: u32) -> *mut u8 {
        match self.blocks.get(i as usize) {
            Some(b) => b.get().cast(),
            None => std::ptr::null_mut(),
        }
    }

    /// Bytes held.
    pub(crate) fn bytes(&self) -> usize {
        self.blocks.len() * (BIG_BYTES + size_of::<usize>()) + self.free.capacity() * 4
    }
}

/// Bytes a pool of `T` holds.
pub(crate) fn pool_bytes<T>(p: &Pool<T>) -> usize {
    p.items.capacity() * size_of::<T>()
}

/// Shots are plain values.
pub(crate) type Shots = Pool<Shot>;
/// Side records.
pub(crate) type Extras = Pool<Extra>;
