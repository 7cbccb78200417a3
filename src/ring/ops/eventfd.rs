//! EventFd operations: read the counter, signal it.
//!
//! # Safety
//!
//! Each `unsafe impl Op` below builds an 8-byte read or write of its
//! handle's descriptor into the `u64` storage it is given, and reads that
//! storage back only after the final CQE.
#![expect(
    unsafe_code,
    reason = "the SQEs read and write the operation's u64 storage"
)]

use std::sync::Arc;

use io_uring::squeue;

use super::{
    CURRENT_POSITION, Fixed, OpHandle, Opts, POLLIN, POLLOUT, check_target, op_setters, read_entry,
    target, write_entry,
};
use crate::error::{Error, Result};
use crate::fd::{EventFd, SIGNAL_MAX};
use crate::ring::Cqe;
use crate::ring::Opcode;
use crate::ring::Target;
use crate::ring::op::{Op, cqe_error};
use crate::sys::Errno;
use crate::sys::poll::PollFlags;

/// Reads an 8-byte counter: an eventfd's (resetting it, or in semaphore
/// mode taking one) or a timerfd's expiration count ([`ReadExpirations`](super::ReadExpirations)):
/// `IORING_OP_READ` of 8 bytes. Waits while the counter is zero.
#[derive(Debug)]
#[doc(alias = "IORING_OP_READ")]
pub struct ReadCounter<H> {
    handle: H,
    opts: Opts,
}

/// Adds a value to an eventfd's counter: `IORING_OP_WRITE` of 8 bytes.
#[derive(Debug)]
#[doc(alias = "IORING_OP_WRITE")]
pub struct WriteCounter<H> {
    handle: H,
    value: u64,
    opts: Opts,
}

impl<H> ReadCounter<H> {
    /// A read of `handle`'s 8-byte counter.
    pub(crate) fn new(handle: H) -> ReadCounter<H> {
        ReadCounter {
            handle,
            opts: Opts::DEFAULT,
        }
    }
}

impl EventFd {
    /// An operation that reads the counter into a `u64`.
    ///
    /// # Examples
    ///
    /// ```
    /// use iofd::EventFd;
    /// use iofd::ring::Ring;
    ///
    /// let mut ring = Ring::new(4)?;
    /// let efd = EventFd::new(0)?;
    /// let mut counter = 0u64;
    /// ring.scope(|s| {
    ///     let t = s.push_into(efd.read_op(), &mut counter)?;
    ///     s.submit()?; // armed: the counter is still zero
    ///     efd.signal(7)?;
    ///     s.wait(t)
    /// })?;
    /// assert_eq!(counter, 7);
    /// # Ok::<(), iofd::Error>(())
    /// ```
    #[doc(alias = "IORING_OP_READ")]
    pub fn read_op(&self) -> ReadCounter<&EventFd> {
        ReadCounter {
            handle: self,
            opts: Opts::DEFAULT,
        }
    }

    /// An operation that adds `value` to the counter.
    #[doc(alias = "IORING_OP_WRITE")]
    pub fn signal_op(&self, value: u64) -> WriteCounter<&EventFd> {
        WriteCounter {
            handle: self,
            value,
            opts: Opts::DEFAULT,
        }
    }

    /// [`read_op`](EventFd::read_op) for a shared handle, which the
    /// operation keeps open until it completes (for [`Ring::push`](crate::ring::Ring::push)).
    #[doc(alias = "IORING_OP_READ")]
    pub fn read_op_shared(self: &Arc<Self>) -> ReadCounter<Arc<EventFd>> {
        ReadCounter {
            handle: Arc::clone(self),
            opts: Opts::DEFAULT,
        }
    }

    /// [`signal_op`](EventFd::signal_op) for a shared handle.
    #[doc(alias = "IORING_OP_WRITE")]
    pub fn signal_op_shared(self: &Arc<Self>, value: u64) -> WriteCounter<Arc<EventFd>> {
        WriteCounter {
            handle: Arc::clone(self),
            value,
            opts: Opts::DEFAULT,
        }
    }
}

impl Fixed<EventFd> {
    /// [`EventFd::read_op`] on the registered eventfd.
    #[doc(alias = "IORING_OP_READ")]
    pub fn read_op(self) -> ReadCounter<Fixed<EventFd>> {
        ReadCounter::new(self)
    }

    /// [`EventFd::signal_op`] on the registered eventfd.
    #[doc(alias = "IORING_OP_WRITE")]
    pub fn signal_op(self, value: u64) -> WriteCounter<Fixed<EventFd>> {
        WriteCounter {
            handle: self,
            value,
            opts: Opts::DEFAULT,
        }
    }
}

op_setters!(ReadCounter);
op_setters!(WriteCounter);

/// The counter value of an 8-byte eventfd transfer.
#[inline]
pub(super) fn counter_result(cqe: Cqe) -> Result<()> {
    match cqe.res {
        8 => Ok(()),
        res if res < 0 => Err(cqe_error(res)),
        _ => Err(Error::Os(Errno::EIO)),
    }
}

// SAFETY: the SQE reads 8 bytes into `storage` (a `u64`) from a descriptor
// the operation holds (borrowed or kept alive); it touches nothing else.
unsafe impl<H: OpHandle> Op for ReadCounter<H> {
    type Storage = u64;
    type Output = u64;
    const CODE: Opcode = Opcode::READ;
    const NAME: &'static str = "8-byte counter read (IORING_OP_READ)";

    super::handle_methods!(check; rearm(IN); keep);

    #[inline]
    fn entry(&self, storage: *mut u64) -> squeue::Entry {
        read_entry(
            target(&self.handle, self.opts.fixed),
            storage.cast(),
            8,
            CURRENT_POSITION,
        )
    }

    const REBUILDS: bool = true;

    #[inline]
    fn rebuild(target: Target, storage: *mut u64) -> Option<(PollFlags, squeue::Entry)> {
        Some((
            POLLIN,
            read_entry(target, storage.cast(), 8, CURRENT_POSITION),
        ))
    }

    #[inline]
    unsafe fn output(cqe: Cqe, storage: *const u64) -> Result<u64> {
        counter_result(cqe)?;
        // SAFETY: the kernel wrote the 8 bytes (res == 8) and is done.
        Ok(unsafe { storage.read() })
    }
}

// SAFETY: the SQE writes 8 bytes from `storage` (a `u64` filled by
// `prepare`) to a descriptor the operation holds; it touches nothing else.
unsafe impl<H: OpHandle> Op for WriteCounter<H> {
    type Storage = u64;
    type Output = ();
    const CODE: Opcode = Opcode::WRITE;
    const NAME: &'static str = "eventfd write (IORING_OP_WRITE)";

    #[inline]
    fn check(&self) -> Result<()> {
        if self.value == u64::MAX {
            return Err(Error::InvalidParam(SIGNAL_MAX));
        }
        check_target(&self.handle, self.opts.fixed)
    }

    #[inline]
    unsafe fn prepare(&self, storage: *mut u64) {
        // SAFETY: the caller hands a pointer valid for writes of a `u64`
        // that nothing else accesses during the call.
        unsafe { storage.write(self.value) }
    }

    #[inline]
    fn entry(&self, storage: *mut u64) -> squeue::Entry {
        write_entry(
            target(&self.handle, self.opts.fixed),
            storage.cast_const().cast(),
            8,
            CURRENT_POSITION,
        )
    }

    super::handle_methods!(rearm(OUT); keep);

    const REBUILDS: bool = true;

    #[inline]
    fn rebuild(target: Target, storage: *mut u64) -> Option<(PollFlags, squeue::Entry)> {
        let buf = storage.cast_const().cast();
        Some((POLLOUT, write_entry(target, buf, 8, CURRENT_POSITION)))
    }

    #[inline]
    unsafe fn output(cqe: Cqe, _storage: *const u64) -> Result<()> {
        counter_result(cqe)
    }
}
