//! Registered (fixed) buffers: `IORING_REGISTER_BUFFERS` and the
//! `READ_FIXED`/`WRITE_FIXED` operations that use them.
//!
//! [`Ring::register_buffers`] allocates `count` buffers of `len` bytes in
//! one block, registers them with the kernel (which pins the pages once,
//! instead of at every operation) and hands back a [`FixedBufs`] pool.
//! [`FixedBufs::take`] checks a buffer out as a [`FixedBuf`]: an owned
//! handle to buffer `index`, which a fixed read or write moves into the
//! operation and hands back with the result, and which goes back to the
//! pool when dropped.
//!
//! # Safety
//!
//! The block is allocated zeroed (every byte initialised), never moves,
//! and is freed only when the last of the pool, its buffers and the ring
//! that registered it is gone: the ring holds the pool until its io_uring
//! is closed (or leaks it, with the table, when operations could not be
//! ended). Each buffer index is held by at most one [`FixedBuf`] at a
//! time (the pool's free list hands each out once), so a `FixedBuf` is
//! the only way to its bytes: Rust references to them exist only through
//! it, and a fixed operation owns it, in its storage, while the kernel
//! reads or writes them. An operation is pushed only on the ring the pool
//! was registered with (see [`Op::ring_bound`](super::Op::ring_bound)):
//! index `i` of another ring is another buffer.
#![expect(
    unsafe_code,
    reason = "owns the registered buffer block the kernel reads and writes"
)]

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;
use std::sync::{Arc, Mutex};

use super::builder::io_error;
use super::driver::Ring;
use crate::error::{Error, Result};

/// The memory and free list of registered buffers.
struct Pool {
    base: NonNull<u8>,
    len: usize,
    count: u16,
    free: Mutex<Vec<u16>>,
    ring: u32,
}

// SAFETY: the block is plain bytes, reached only through `FixedBuf`s (one
// per index at a time) and the kernel; the free list is behind a mutex.
unsafe impl Send for Pool {}
// SAFETY: as above: shared references to the pool touch only the mutex
// and immutable fields.
unsafe impl Sync for Pool {}

impl Pool {
    fn layout(count: u16, len: usize) -> Option<std::alloc::Layout> {
        let size = len.checked_mul(usize::from(count))?;
        std::alloc::Layout::from_size_align(size, 4096).ok()
    }

    /// Buffer `index`'s first byte.
    fn buf(&self, index: u16) -> *mut u8 {
        self.base
            .as_ptr()
            .wrapping_add(usize::from(index) * self.len)
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        if let Some(layout) = Pool::layout(self.count, self.len) {
            // SAFETY: allocated in `register_buffers` with this layout; the
            // last reference is gone, so neither a buffer nor the kernel
            // (the ring holds a reference while registered) uses it.
            unsafe { std::alloc::dealloc(self.base.as_ptr(), layout) };
        }
    }
}

/// The registered buffers of a ring: check one out with
/// [`take`](FixedBufs::take). Cheap to clone (a reference count).
#[derive(Clone)]
pub struct FixedBufs {
    pool: Arc<Pool>,
}

impl FixedBufs {
    /// Checks out a free buffer, empty (length 0), or `None` when all are
    /// out.
    pub fn take(&self) -> Option<FixedBuf> {
        let index = self.pool.free.lock().ok()?.pop()?;
        Some(FixedBuf {
            pool: Arc::clone(&self.pool),
            index,
            filled: 0,
        })
    }

    /// How many buffers are free.
    pub fn available(&self) -> usize {
        self.pool.free.lock().map_or(0, |f| f.len())
    }

    /// The number of buffers.
    pub fn count(&self) -> u16 {
        self.pool.count
    }

    /// The size of each buffer, in bytes.
    pub fn buf_len(&self) -> usize {
        self.pool.len
    }
}

impl fmt::Debug for FixedBufs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FixedBufs")
            .field("count", &self.pool.count)
            .field("buf_len", &self.pool.len)
            .field("available", &self.available())
            .finish()
    }
}

/// One registered buffer, checked out of its [`FixedBufs`]: derefs to its
/// filled bytes (the first [`len`](FixedBuf::len)); dropping it gives it
/// back.
pub struct FixedBuf {
    pool: Arc<Pool>,
    index: u16,
    filled: usize,
}

impl FixedBuf {
    /// Its index in the ring's registered buffers.
    pub fn index(&self) -> u16 {
        self.index
    }

    /// Bytes filled: what a write sends, what a read put there.
    pub fn len(&self) -> usize {
        self.filled
    }

    /// Whether no byte is filled.
    pub fn is_empty(&self) -> bool {
        self.filled == 0
    }

    /// The buffer's size.
    pub fn capacity(&self) -> usize {
        self.pool.len
    }

    /// Sets how many bytes are filled, at most the capacity (every byte of
    /// the buffer is initialised).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParam`] past the capacity.
    pub fn set_len(&mut self, len: usize) -> Result<()> {
        if len > self.pool.len {
            return Err(Error::InvalidParam("a length past the buffer's capacity"));
        }
        self.filled = len;
        Ok(())
    }

    /// The whole buffer, to fill before a write (then
    /// [`set_len`](FixedBuf::set_len)).
    pub fn as_mut_capacity(&mut self) -> &mut [u8] {
        // SAFETY: this `FixedBuf` is the only holder of its index (see the
        // module's Safety), the bytes are initialised, and `&mut self`
        // makes the borrow unique.
        unsafe { std::slice::from_raw_parts_mut(self.pool.buf(self.index), self.pool.len) }
    }

    /// Copies `data` in as the buffer's contents.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParam`] when `data` is longer than the capacity.
    pub fn fill_from(&mut self, data: &[u8]) -> Result<()> {
        let room = self.as_mut_capacity();
        let dst = room
            .get_mut(..data.len())
            .ok_or(Error::InvalidParam("a length past the buffer's capacity"))?;
        dst.copy_from_slice(data);
        self.filled = data.len();
        Ok(())
    }

    /// Where the kernel reads or writes, and the ring the buffer belongs
    /// to.
    pub(crate) fn raw(&self) -> (*mut u8, u32) {
        (self.pool.buf(self.index), self.pool.ring)
    }
}

impl Deref for FixedBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: as in `as_mut_capacity`, shared: `filled` is at most the
        // capacity.
        unsafe { std::slice::from_raw_parts(self.pool.buf(self.index), self.filled) }
    }
}

impl DerefMut for FixedBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        let n = self.filled;
        &mut self.as_mut_capacity()[..n]
    }
}

impl Drop for FixedBuf {
    fn drop(&mut self) {
        if let Ok(mut free) = self.pool.free.lock() {
            free.push(self.index);
        }
    }
}

impl fmt::Debug for FixedBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FixedBuf")
            .field("index", &self.index)
            .field("len", &self.filled)
            .field("capacity", &self.pool.len)
            .finish()
    }
}

/// `struct iovec`.
#[repr(C)]
struct IoVec {
    base: *mut u8,
    len: usize,
}

impl Ring {
    /// `IORING_REGISTER_BUFFERS` — allocates `count` buffers of `len`
    /// bytes (page-aligned, zeroed) and registers them, for
    /// `read_fixed_op`/`write_fixed_op`. The ring keeps them until its
    /// io_uring is closed; a ring registers one set.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParam`] for a zero `count` or `len`, or from a
    /// thread other than a single-issuer ring's own; `Os(EBUSY)` when the
    /// ring has registered buffers already; `Os(ENOMEM)` past the locked
    /// memory limit; [`Error::NoMemory`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use iofd::MemFd;
    /// use iofd::ring::Ring;
    ///
    /// let mut ring = Ring::new(4)?;
    /// let bufs = ring.register_buffers(4, 4096)?;
    /// let mem = Arc::new(MemFd::new("fixed")?);
    /// let mut buf = bufs.take().expect("a free buffer");
    /// buf.fill_from(b"registered")?;
    /// let (n, buf) = ring.run(mem.write_fixed_op_shared(0, buf))?;
    /// assert_eq!(n?, 10);
    /// drop(buf); // back to the pool
    /// let (n, back) = ring.run(mem.read_fixed_op_shared(0, bufs.take().unwrap()))?;
    /// assert_eq!(&back[..n?], b"registered");
    /// # Ok::<(), iofd::Error>(())
    /// ```
    pub fn register_buffers(&mut self, count: u16, len: usize) -> Result<FixedBufs> {
        self.check_registrar()?;
        if count == 0 || len == 0 {
            return Err(Error::InvalidParam(
                "registered buffers need a count and a length",
            ));
        }
        if self.fixed_bufs.is_some() {
            return Err(Error::Os(crate::sys::Errno::EBUSY));
        }
        let layout = Pool::layout(count, len).ok_or(Error::InvalidParam(
            "registered buffers too big for the address space",
        ))?;
        // SAFETY: the layout has a non-zero size.
        let base =
            NonNull::new(unsafe { std::alloc::alloc_zeroed(layout) }).ok_or(Error::NoMemory)?;
        let mut free = Vec::new();
        let pool = Arc::new(Pool {
            base,
            len,
            count,
            free: Mutex::new(Vec::new()),
            ring: self.id(),
        });
        free.try_reserve_exact(usize::from(count))
            .map_err(|_| Error::NoMemory)?;
        free.extend((0..count).rev());
        let iovecs: Vec<IoVec> = (0..count)
            .map(|i| IoVec {
                base: pool.buf(i),
                len,
            })
            .collect();
        // SAFETY: the iovecs describe the pool's block, which the ring
        // keeps (below) until its io_uring is closed; `IoVec` has the
        // kernel's (and libc's) `struct iovec` layout.
        let registered = unsafe {
            self.uring
                .submitter()
                .register_buffers(std::slice::from_raw_parts(
                    iovecs.as_ptr().cast(),
                    iovecs.len(),
                ))
        };
        registered.map_err(|e| io_error(&e))?;
        if let Ok(mut f) = pool.free.lock() {
            *f = free;
        }
        let bufs = FixedBufs { pool };
        self.fixed_bufs = Some(bufs.clone());
        Ok(bufs)
    }
}
