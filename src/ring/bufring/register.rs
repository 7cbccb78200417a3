//! Registering provided buffer rings with a ring, and taking them back.
//!
//! # Safety
//!
//! A registered ring's memory is kept by the [`Ring`] (in `buf_rings`)
//! until its io_uring is closed or the kernel has confirmed the
//! unregistration; see the parent module.
#![expect(unsafe_code, reason = "registers ring memory the kernel writes")]

use std::sync::Arc;

use super::{BAD_ENTRIES, BAD_LEN, BufRing, Inner, MAX_ENTRIES, NOT_ISSUER};
use crate::error::{Error, Result};
use crate::ring::builder::io_error;
use crate::ring::driver::Ring;
use crate::ring::orphans::thread_key;
use crate::sys::Errno;

impl Ring {
    /// Refuses a registration from a thread other than a `SINGLE_ISSUER`
    /// ring's own, which the kernel would answer with `EEXIST`.
    pub(crate) fn check_registrar(&self) -> Result<()> {
        match self.issuer {
            Some(thread) if thread != thread_key() => Err(Error::InvalidParam(NOT_ISSUER)),
            _ => Ok(()),
        }
    }

    /// `IORING_REGISTER_PBUF_RING` — registers a provided buffer ring:
    /// group `group` of `entries` buffers of `buf_len` bytes each, all
    /// given to the kernel at once. Reads made from the returned
    /// [`BufRing`] then let the kernel pick a buffer when data comes. The
    /// ring keeps the group's memory until its io_uring is closed (or
    /// [`unregister_buf_ring`](Ring::unregister_buf_ring)).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParam`] for `entries` that is not a power of two in
    /// `1..=32768`, a zero `buf_len`, or a call from a thread other than
    /// a [`single_issuer`](crate::ring::RingBuilder::single_issuer) ring's own;
    /// `Os(EEXIST)` for a group this
    /// ring has, or another live [`BufRing`] of the process has (see the
    /// [module docs](super)); [`Error::NoMemory`]; [`Error::Unsupported`]
    /// when the kernel lacks provided buffer rings (before 5.19).
    ///
    /// # Examples
    ///
    /// ```
    /// use iofd::Error;
    /// use iofd::ring::Ring;
    /// use iofd::sys::Errno;
    ///
    /// let mut ring = Ring::new(4)?;
    /// let bufs = ring.register_buf_ring(2, 8, 4096)?;
    /// assert_eq!((bufs.group(), bufs.entries(), bufs.buf_len()), (2, 8, 4096));
    /// assert_eq!(ring.register_buf_ring(2, 8, 4096).unwrap_err(), Error::Os(Errno::EEXIST));
    /// # Ok::<(), iofd::Error>(())
    /// ```
    ///
    /// See [io_uring_register_buf_ring(3)](https://man7.org/linux/man-pages/man3/io_uring_register_buf_ring.3.html).
    #[doc(alias = "IORING_REGISTER_PBUF_RING")]
    pub fn register_buf_ring(&mut self, group: u16, entries: u16, buf_len: u32) -> Result<BufRing> {
        self.register_group(Some(group), entries, buf_len)
    }

    /// [`register_buf_ring`](Ring::register_buf_ring) under group `group`,
    /// or under any free id when `None`.
    pub(super) fn register_group(
        &mut self,
        group: Option<u16>,
        entries: u16,
        buf_len: u32,
    ) -> Result<BufRing> {
        self.check_registrar()?;
        if !entries.is_power_of_two() || entries > MAX_ENTRIES {
            return Err(Error::InvalidParam(BAD_ENTRIES));
        }
        if buf_len == 0 {
            return Err(Error::InvalidParam(BAD_LEN));
        }
        // Everything that can fail comes before the registration: once the
        // kernel has the ring, only the io_uring's end may free it.
        self.buf_rings.try_reserve(1).map_err(|_| Error::NoMemory)?;
        let ring = BufRing {
            inner: Arc::new(Inner::new(group, entries, buf_len)?),
        };
        // SAFETY: the ring block is page-aligned and holds `entries`
        // entries; `self.buf_rings` keeps it alive until the io_uring is
        // closed (its field drops after `uring` is closed) or the kernel
        // has confirmed its unregistration.
        let registered = unsafe {
            self.uring.submitter().register_buf_ring_with_flags(
                ring.inner.ring_addr(),
                entries,
                ring.group(),
                0,
            )
        };
        if let Err(e) = registered {
            // The arguments are valid: EINVAL is a kernel without the
            // register opcode.
            return Err(match Errno::from_io_error(&e) {
                Some(Errno::EINVAL) => Error::Unsupported("provided buffer rings"),
                _ => io_error(&e),
            });
        }
        self.buf_rings.push(ring.clone());
        Ok(ring)
    }

    /// `IORING_UNREGISTER_PBUF_RING` — takes a provided buffer ring back
    /// from the kernel, which picks no more buffers from it: reads of the
    /// group then fail with `Os(ENOBUFS)`.
    ///
    /// Allowed with operations in flight: each operation reading from the
    /// group holds a reference to its memory until its final completion,
    /// so a read that picked a buffer before the unregistration still
    /// delivers it, and buffers returned afterwards go back into memory
    /// the kernel no longer reads. The group id stays taken until the
    /// last reference to the group is gone (see the [module docs](super)).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParam`] when `ring` is not registered on this ring,
    /// or from a thread other than a single-issuer ring's own; the
    /// kernel's error otherwise.
    #[doc(alias = "IORING_UNREGISTER_PBUF_RING")]
    pub fn unregister_buf_ring(&mut self, ring: &BufRing) -> Result<()> {
        self.check_registrar()?;
        let Some(index) = self
            .buf_rings
            .iter()
            .position(|r| Arc::ptr_eq(&r.inner, &ring.inner))
        else {
            return Err(Error::InvalidParam(
                "the buffer ring is not registered on this ring",
            ));
        };
        self.uring
            .submitter()
            .unregister_buf_ring(ring.group())
            .map_err(|e| io_error(&e))?;
        self.buf_rings.swap_remove(index);
        Ok(())
    }
}
