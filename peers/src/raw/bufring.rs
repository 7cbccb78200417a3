//! A provided-buffer ring (`IORING_REGISTER_PBUF_RING`) for the raw
//! servers' multishot recvs: `entries` buffers of `len` bytes, handed to
//! the kernel through a ring of `io_uring_buf` entries whose tail this
//! thread moves, once per loop turn.

use std::io;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::IoUring;
use io_uring::types::BufRingEntry;

/// The ring of buffer entries and the buffers behind it.
///
/// Both live as long as the process: they are allocated once per thread
/// and never freed. The kernel may write into a buffer whenever it runs a
/// recv, and only unregistering (or the ring's end, which the kernel
/// finishes asynchronously) stops it; memory that is never freed cannot be
/// written after its free. A worker ends only for the process to exit.
pub struct BufRing {
    /// The page-aligned ring of `entries` entries; its first entry's
    /// reserved field is the tail.
    ring: *mut BufRingEntry,
    /// `entries * len` bytes: buffer `bid` is `len` bytes at `bid * len`.
    data: *mut u8,
    entries: u16,
    len: u32,
    /// The tail as moved by this thread; published by [`BufRing::publish`].
    tail: u16,
}

impl BufRing {
    /// Allocates `entries` buffers of `len` bytes (`entries` a power of two,
    /// at most 32768), registers them with `uring` as group `bgid`, and
    /// hands the kernel all of them.
    pub fn new(uring: &IoUring, bgid: u16, entries: u16, len: u32) -> io::Result<BufRing> {
        assert!(entries.is_power_of_two() && entries <= 1 << 15);
        let ring_bytes = usize::from(entries) * size_of::<BufRingEntry>();
        let layout = std::alloc::Layout::from_size_align(ring_bytes, 4096)
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: the layout's size is not zero (entries >= 1). Zeroed: the
        // tail starts at 0, as the kernel expects of a new ring.
        let ring = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<BufRingEntry>();
        if ring.is_null() {
            return Err(io::ErrorKind::OutOfMemory.into());
        }
        // Leaked, as the ring: see the type's docs.
        let data = vec![0u8; usize::from(entries) * len as usize]
            .leak()
            .as_mut_ptr();
        // SAFETY: `ring` is page-aligned, holds `entries` entries, and is
        // never freed, so it stays valid for as long as the group is
        // registered.
        unsafe {
            uring
                .submitter()
                .register_buf_ring_with_flags(ring as u64, entries, bgid, 0)?
        };
        let mut bufs = BufRing {
            ring,
            data,
            entries,
            len,
            tail: 0,
        };
        for bid in 0..entries {
            bufs.recycle(bid);
        }
        bufs.publish();
        Ok(bufs)
    }

    /// Puts buffer `bid` back at the tail (seen by the kernel once
    /// published). A buffer is given back only once this thread is done
    /// reading it; no more than `entries` are ever out, so the tail never
    /// laps an entry the kernel has not consumed.
    pub fn recycle(&mut self, bid: u16) {
        let slot = usize::from(self.tail & (self.entries - 1));
        // SAFETY: `slot` is below `entries`, so the entry is in the ring;
        // the kernel reads the entries between its head and the published
        // tail only, and this one is past the published tail.
        let entry = unsafe { &mut *self.ring.add(slot) };
        // SAFETY: `bid` is below `entries` (the kernel reports the ids this
        // ring gave it), so the buffer is inside `data`.
        let addr = unsafe { self.data.add(usize::from(bid) * self.len as usize) };
        entry.set_addr(addr as u64);
        entry.set_len(self.len);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    /// Publishes the tail: the kernel may take every buffer given back.
    pub fn publish(&self) {
        // SAFETY: the ring's base is valid and its first entry initialised
        // (zeroed); the tail field is a `u16` the kernel reads atomically,
        // aligned as every entry is.
        let tail = unsafe { AtomicU16::from_ptr(BufRingEntry::tail(self.ring).cast_mut()) };
        tail.store(self.tail, Ordering::Release);
    }

    /// The first `n` bytes of buffer `bid`, which a recv completion just
    /// handed this thread.
    ///
    /// # Safety
    ///
    /// `bid` and `n` must come from a completion of a recv on this group,
    /// and the buffer must not have been recycled since.
    pub unsafe fn get(&self, bid: u16, n: usize) -> &[u8] {
        debug_assert!(bid < self.entries && n <= self.len as usize);
        // SAFETY: the buffer is inside `data` (the caller's contract); the
        // kernel wrote its `n` bytes before posting the completion, and
        // writes no more into it until it is recycled.
        unsafe {
            std::slice::from_raw_parts(self.data.add(usize::from(bid) * self.len as usize), n)
        }
    }
}
