//! Provided buffer rings (`IORING_REGISTER_PBUF_RING`): a group of
//! buffers the kernel picks from when a read has data, instead of one
//! buffer pinned to each operation in flight.
//!
//! # The model
//!
//! - **Who owns the memory.** [`Ring::register_buf_ring`] allocates two
//!   blocks: the ring of entries (16 bytes each, page-aligned), which the
//!   kernel reads, and the buffers (`entries × buf_len` bytes, zeroed),
//!   which it writes. Both belong to the group's shared state, which a
//!   [`BufRing`] handle is a reference to. The memory is freed when the
//!   last reference goes: the handles, the [`Ring`] (which keeps one until
//!   its io_uring is closed, or [`unregister_buf_ring`](Ring::unregister_buf_ring)),
//!   every operation reading from the group (until its final completion)
//!   and every [`ProvidedBuf`].
//! - **Who picks a buffer.** An operation that reads "from the group"
//!   ([`EventFd::read_provided_op`](crate::EventFd::read_provided_op) and
//!   its siblings) names no buffer: when data comes, the kernel takes the
//!   next entry of the ring, reads into its buffer and names it in the
//!   completion (`IORING_CQE_F_BUFFER` and the buffer id). The operation's
//!   result is a [`ProvidedBuf`] that owns that buffer and the bytes the
//!   kernel wrote.
//! - **When buffers come back.** Dropping a [`ProvidedBuf`] writes its
//!   entry back at the ring's tail and publishes it (a release store of the
//!   tail), so the kernel can pick it again. A group whose buffers are all
//!   held starves: its reads fail with `Os(ENOBUFS)`. A read that finds no
//!   data takes no buffer. A result nobody takes — a dropped token, a
//!   cancelled operation, a dropped ring — is dropped by the driver, which
//!   gives its buffer back too. (A raw SQE, [`Ring::push_raw`], that
//!   selects from a group takes a buffer that never comes back.)
//! - **Threads.** [`BufRing`] and [`ProvidedBuf`] are `Send + Sync`. A
//!   buffer can be dropped on any thread, at any time — also after its
//!   [`Ring`] is gone, when it goes back into memory no kernel reads any
//!   more. Returns from several threads at once are serialised by a lock
//!   on the ring's tail, the one field user space writes.
//! - **Group ids are unique in the process.** The kernel names the group
//!   by its id alone, and a completion carries only the buffer id: an
//!   operation made from one group but pushed on another ring, where
//!   another group had the same id, would read into that group's buffer
//!   and be decoded as one of its own group's. So an id is taken by one
//!   [`BufRing`] in the whole process, until its last reference (handle,
//!   operation or buffer) is gone; registering it again before that is
//!   `Os(EEXIST)`, on any ring. Give each ring its own ids.
//!
//! # Examples
//!
//! ```
//! use std::sync::Arc;
//! use iofd::EventFd;
//! use iofd::ring::Ring;
//!
//! let mut ring = Ring::new(8)?;
//! // Group 1: four buffers of 64 bytes.
//! let bufs = ring.register_buf_ring(1, 4, 64)?;
//! let efd = Arc::new(EventFd::new(0)?);
//! efd.signal(5)?;
//! let token = ring.push(efd.read_provided_op_shared(&bufs))?;
//! let buf = ring.wait(token)?; // one of the four buffers, picked by the kernel
//! assert_eq!(buf.len(), 8);
//! assert_eq!(buf.counter(), Some(5));
//! assert_eq!(bufs.available(), 3);
//! drop(buf); // back in the ring
//! assert_eq!(bufs.available(), 4);
//! # Ok::<(), iofd::Error>(())
//! ```
//!
//! # Safety
//!
//! This file owns the two blocks the kernel shares. It promises: the ring
//! memory outlives the kernel's registration (the [`Ring`] keeps a
//! reference until its io_uring is closed, or until the kernel confirmed
//! the unregistration); user space writes only the entry at the tail,
//! which the kernel is not reading (a buffer held out means fewer than
//! `entries` are published), under the tail lock, field by field so that
//! entry 0's reserved field — the tail itself — is only written
//! atomically; a buffer id is handed out at most once until its
//! [`ProvidedBuf`] returns it (a bitmap of held ids), so a
//! [`ProvidedBuf`] is the only view of its buffer, which the kernel does
//! not write while it is out of the ring.
#![expect(unsafe_code, reason = "owns the buffer-ring memory the kernel shares")]

mod groups;
mod register;
#[cfg(test)]
mod tests;

use std::alloc::{self, Layout};
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::Cqe;
#[cfg(doc)]
use super::driver::Ring;
use crate::error::{Error, Result};
use groups::Reservation;

/// The most entries a ring can have.
const MAX_ENTRIES: u16 = 1 << 15;
/// The ring's alignment: the kernel maps it by whole pages, and x86_64
/// (the only architecture built) has 4 KiB pages.
const PAGE: usize = 4096;

/// The error for `entries` that the kernel would refuse.
const BAD_ENTRIES: &str = "a buffer ring's entries must be a power of two from 1 to 32768";
/// The error for empty buffers.
const BAD_LEN: &str = "a provided buffer must be at least one byte long";
/// The error for a registration the kernel would refuse with `EEXIST`,
/// which means a group it has.
const NOT_ISSUER: &str =
    "a single-issuer ring takes registrations only from the thread that built it";

/// The kernel's `struct io_uring_buf`. In entry 0, `resv` is the ring's
/// tail (`struct io_uring_buf_ring` overlays it), so entries are written
/// field by field and `resv` never.
#[repr(C)]
struct RawEntry {
    addr: u64,
    len: u32,
    bid: u16,
    resv: u16,
}
const _: () = assert!(size_of::<RawEntry>() == 16);

/// A zeroed heap block, freed on drop.
struct Block {
    ptr: NonNull<u8>,
    layout: Layout,
}

impl Block {
    /// `size` zeroed bytes aligned to `align`, or [`Error::NoMemory`].
    fn zeroed(size: usize, align: usize) -> Result<Block> {
        let layout = Layout::from_size_align(size, align).map_err(|_| Error::NoMemory)?;
        // SAFETY: `size` is never zero: callers pass at least one entry or
        // one byte-long buffer.
        let ptr = unsafe { alloc::alloc_zeroed(layout) };
        let ptr = NonNull::new(ptr).ok_or(Error::NoMemory)?;
        Ok(Block { ptr, layout })
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        // SAFETY: allocated in `zeroed` with this layout, freed only here.
        unsafe { alloc::dealloc(self.ptr.as_ptr(), self.layout) }
    }
}

/// A group's shared state: its memory, its tail, which buffers are out.
pub(crate) struct Inner {
    group: u16,
    entries: u16,
    buf_len: u32,
    /// The entries, `entries × 16` bytes rounded up to whole pages.
    ring: Block,
    /// The buffers, `entries × buf_len` bytes.
    bufs: Block,
    /// The tail user space publishes, with the lock every return takes.
    tail: Mutex<u16>,
    /// One bit per buffer id: set while a [`ProvidedBuf`] holds it.
    held: Box<[AtomicU64]>,
    /// How many buffers are held.
    out: AtomicU32,
    _group: Reservation,
}

// SAFETY: the two blocks are plain memory reached only through `&self`
// methods that write under the tail lock (entries) or through a
// `ProvidedBuf`, the one owner of its buffer (the `held` bitmap); the rest
// is atomics and a mutex.
unsafe impl Send for Inner {}
// SAFETY: as for `Send`: shared access writes nothing without the lock or
// exclusive ownership of a buffer.
unsafe impl Sync for Inner {}

impl Inner {
    /// Allocates and fills a group of `entries` buffers of `buf_len`
    /// bytes, every buffer published; the arguments are checked already.
    /// With no `group`, any free id is taken.
    fn new(group: Option<u16>, entries: u16, buf_len: u32) -> Result<Inner> {
        let reservation = match group {
            Some(g) => Reservation::take(g)?,
            None => Reservation::take_any()?,
        };
        let group = reservation.id();
        let n = usize::from(entries);
        let ring_bytes = (n * size_of::<RawEntry>()).next_multiple_of(PAGE);
        let buf_bytes = n.checked_mul(buf_len as usize).ok_or(Error::NoMemory)?;
        let ring = Block::zeroed(ring_bytes, PAGE)?;
        let bufs = Block::zeroed(buf_bytes, 8)?;
        let mut held = Vec::new();
        held.try_reserve_exact(n.div_ceil(64))
            .map_err(|_| Error::NoMemory)?;
        held.extend((0..n.div_ceil(64)).map(|_| AtomicU64::new(0)));
        let inner = Inner {
            group,
            entries,
            buf_len,
            ring,
            bufs,
            tail: Mutex::new(entries),
            held: held.into_boxed_slice(),
            out: AtomicU32::new(0),
            _group: reservation,
        };
        for bid in 0..entries {
            // SAFETY: `bid` < `entries`; the ring is not registered yet, so
            // nothing else reads it.
            unsafe { inner.write_entry(bid, bid) };
        }
        // `entries` wraps to 0 only at 65536, which is over the maximum.
        inner.tail_atomic().store(entries, Ordering::Release);
        Ok(inner)
    }

    /// The ring's address, as the kernel takes it.
    fn ring_addr(&self) -> u64 {
        self.ring.ptr.as_ptr() as u64
    }

    /// The ring's tail, in entry 0's reserved field.
    fn tail_atomic(&self) -> &AtomicU16 {
        // SAFETY: offset 14 of entry 0 lies in the ring block, which lives
        // as long as `self`, and is 2-aligned (the block is page-aligned).
        // Every access to it — ours and the kernel's `smp_load_acquire` —
        // is atomic; the entry writes never touch it.
        unsafe { AtomicU16::from_ptr(self.ring.ptr.as_ptr().add(14).cast::<u16>()) }
    }

    /// The start of buffer `bid`.
    fn buf_ptr(&self, bid: u16) -> *mut u8 {
        // SAFETY: callers pass `bid` < `entries`, so the offset is inside
        // the buffers block.
        unsafe {
            self.bufs
                .ptr
                .as_ptr()
                .add(usize::from(bid) * self.buf_len as usize)
        }
    }

    /// Writes buffer `bid` into ring entry `index`, leaving `resv` alone.
    ///
    /// # Safety
    ///
    /// - `index` and `bid` are below `entries`.
    /// - The kernel does not read entry `index` (it is not published, or
    ///   the ring is not registered) and no other thread writes it (the
    ///   caller holds the tail lock, or owns `self`).
    unsafe fn write_entry(&self, index: u16, bid: u16) {
        let entry = self
            .ring
            .ptr
            .as_ptr()
            .cast::<RawEntry>()
            .wrapping_add(usize::from(index));
        let addr = self.buf_ptr(bid) as u64;
        // SAFETY: the caller's promises: the entry is inside the ring
        // block, and nothing else reads or writes these three fields now.
        unsafe {
            (&raw mut (*entry).addr).write(addr);
            (&raw mut (*entry).len).write(self.buf_len);
            (&raw mut (*entry).bid).write(bid);
        }
    }

    /// Decodes a CQE's buffer, if it names one of this group: the bytes
    /// the kernel wrote, owned until dropped. `None` without
    /// `IORING_CQE_F_BUFFER`, for an id out of range, or for one already
    /// held (never handed out twice).
    fn take(self: Arc<Inner>, cqe: Cqe) -> Option<ProvidedBuf> {
        if cqe.flags & Cqe::F_BUFFER == 0 {
            return None;
        }
        let bid = u16::try_from(cqe.flags >> Cqe::BUFFER_SHIFT).ok()?;
        if bid >= self.entries {
            return None;
        }
        let bit = 1u64 << (bid % 64);
        if self.held[usize::from(bid / 64)].fetch_or(bit, Ordering::AcqRel) & bit != 0 {
            return None;
        }
        self.out.fetch_add(1, Ordering::Relaxed);
        // A negative result with a buffer (never seen) gives it back empty.
        let len = u32::try_from(cqe.res).unwrap_or(0).min(self.buf_len);
        Some(ProvidedBuf {
            ring: self,
            bid,
            len,
        })
    }

    /// Gives buffer `bid` back to the kernel: its entry at the tail, then
    /// the tail published.
    fn recycle(&self, bid: u16) {
        let mut tail = self.tail.lock().unwrap_or_else(PoisonError::into_inner);
        // Cleared before it is published: once it is, the kernel may hand
        // it out again, and its next owner sets the bit.
        self.held[usize::from(bid / 64)].fetch_and(!(1u64 << (bid % 64)), Ordering::AcqRel);
        self.out.fetch_sub(1, Ordering::Relaxed);
        // SAFETY: `bid` was checked when it was handed out and the index is
        // masked below `entries`. While this buffer was held at most
        // `entries - 1` entries were published, so the kernel is not
        // reading the one at the tail; the lock keeps other returns out.
        unsafe { self.write_entry(*tail & (self.entries - 1), bid) };
        *tail = tail.wrapping_add(1);
        self.tail_atomic().store(*tail, Ordering::Release);
    }
}

/// A provided buffer ring registered on a [`Ring`]: a group of equal
/// buffers the kernel reads into, picking one per completion (see the
/// [module docs](self) for the model).
///
/// A cheap handle: clones share the group. Operations that read from it
/// are made by the handles (`EventFd::read_provided_op(&bufs)`, ...) and
/// give a [`ProvidedBuf`] per completion.
#[derive(Clone)]
pub struct BufRing {
    inner: Arc<Inner>,
}

impl BufRing {
    /// The group id (`bgid`) reads name.
    #[inline]
    pub fn group(&self) -> u16 {
        self.inner.group
    }

    /// The length of each buffer.
    #[inline]
    pub fn buf_len(&self) -> u32 {
        self.inner.buf_len
    }

    /// How many buffers the group has.
    #[inline]
    pub fn entries(&self) -> u16 {
        self.inner.entries
    }

    /// How many buffers no [`ProvidedBuf`] holds: those in the ring, and
    /// any the kernel has just filled for a completion not yet taken.
    #[inline]
    pub fn available(&self) -> u16 {
        let out = self.inner.out.load(Ordering::Relaxed);
        self.inner.entries.saturating_sub(out as u16)
    }

    /// A strong reference to the group, as a raw pointer for an
    /// operation's storage; [`take_raw`] gives it back.
    pub(crate) fn to_raw(&self) -> *const Inner {
        Arc::into_raw(Arc::clone(&self.inner))
    }

    /// The buffer a CQE of this group names, if any: see [`take_raw`].
    #[cfg_attr(not(test), expect(dead_code, reason = "for driver-side decoding"))]
    pub(crate) fn take(&self, cqe: Cqe) -> Option<ProvidedBuf> {
        Arc::clone(&self.inner).take(cqe)
    }
}

/// The buffer `cqe` names in the group `ring` points at (`None` without
/// `IORING_CQE_F_BUFFER`, for a buffer id out of range or one already
/// held), releasing the reference `ring` stands for when `release`.
///
/// # Safety
///
/// - `ring` came from [`BufRing::to_raw`], and the reference it stands
///   for has not been released yet.
/// - With `release`, this call releases it: `ring` is not used again.
pub(crate) unsafe fn take_raw(ring: *const Inner, cqe: Cqe, release: bool) -> Option<ProvidedBuf> {
    if !release {
        // SAFETY: the caller's promise: the reference `ring` stands for is
        // live, so the count is at least one; this adds one for the `Arc`
        // made below.
        unsafe { Arc::increment_strong_count(ring) };
    }
    // SAFETY: `ring` came from `Arc::into_raw` and one of its references
    // (the caller's, or the one just added) is moved into this `Arc`.
    let inner = unsafe { Arc::from_raw(ring) };
    inner.take(cqe)
}

impl fmt::Debug for BufRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufRing")
            .field("group", &self.group())
            .field("entries", &self.entries())
            .field("buf_len", &self.buf_len())
            .field("available", &self.available())
            .finish()
    }
}

/// One buffer of a [`BufRing`] with the bytes a read put in it: what a
/// read from the group gives. Derefs to those bytes (`len` of them, at
/// most [`BufRing::buf_len`]).
///
/// Dropping it gives the buffer back to the ring, for the kernel to pick
/// again — on any thread, and also after the [`Ring`] is gone (the memory
/// lives as long as this does).
pub struct ProvidedBuf {
    ring: Arc<Inner>,
    bid: u16,
    len: u32,
}

impl ProvidedBuf {
    /// How many bytes the read delivered.
    #[inline]
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether the read delivered nothing (end of file).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The buffer id in its group (what the CQE named).
    #[inline]
    pub fn bid(&self) -> u16 {
        self.bid
    }

    /// The group the buffer belongs to.
    #[inline]
    pub fn group(&self) -> u16 {
        self.ring.group
    }

    /// The 8-byte counter an eventfd or timerfd read delivered, or `None`
    /// unless the read delivered exactly 8 bytes.
    #[inline]
    pub fn counter(&self) -> Option<u64> {
        <[u8; 8]>::try_from(&**self).ok().map(u64::from_ne_bytes)
    }
}

impl Deref for ProvidedBuf {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        // SAFETY: `bid` < `entries` and `len` ≤ `buf_len` (checked in
        // `take`), so the bytes lie in the buffers block, which `self.ring`
        // keeps allocated and which was zeroed when allocated. The buffer
        // is out of the ring (the kernel wrote it before posting the CQE
        // and writes it no more) and this value is its only owner.
        unsafe { std::slice::from_raw_parts(self.ring.buf_ptr(self.bid), self.len as usize) }
    }
}

impl DerefMut for ProvidedBuf {
    #[inline]
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `deref`; `&mut self` makes this the only view.
        unsafe { std::slice::from_raw_parts_mut(self.ring.buf_ptr(self.bid), self.len as usize) }
    }
}

impl Drop for ProvidedBuf {
    #[inline]
    fn drop(&mut self) {
        self.ring.recycle(self.bid);
    }
}

impl fmt::Debug for ProvidedBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProvidedBuf")
            .field("group", &self.group())
            .field("bid", &self.bid)
            .field("len", &self.len)
            .finish()
    }
}
