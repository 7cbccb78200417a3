//! TimerFd operations: read the expiration count.
//!
//! # Safety
//!
//! The `unsafe impl Op` below builds an 8-byte read of its handle's
//! descriptor into the `u64` storage it is given, and reads that storage
//! back only after the final CQE.
#![allow(unsafe_code)]

use std::os::fd::AsFd;
use std::sync::Arc;

use io_uring::{opcode, squeue};

use super::eventfd::counter_result;
use super::{CURRENT_POSITION, OpHandle, Opts, op_setters, read_entry, target};
use crate::error::Result;
use crate::fd::TimerFd;
use crate::ring::driver::POLLIN;
use crate::ring::op::Op;
use crate::ring::{Cqe, Target};

/// Reads a timerfd's expiration count (and resets it): `IORING_OP_READ` of
/// 8 bytes. Waits — the driver re-arms it on a poll — until the timer has
/// expired.
#[derive(Debug)]
pub struct ReadExpirations<H> {
    handle: H,
    opts: Opts,
}

op_setters!(ReadExpirations);

impl TimerFd {
    /// An operation that reads the expiration count into a `u64`,
    /// completing once the timer has expired.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use iofd::TimerFd;
    /// use iofd::ring::Ring;
    ///
    /// let mut ring = Ring::new(4)?;
    /// let timer = TimerFd::new()?;
    /// timer.arm(Duration::from_millis(1), Duration::ZERO)?;
    /// let token = ring.push(std::sync::Arc::new(timer).expirations_op_shared())?;
    /// assert_eq!(ring.wait(token)?, 1);
    /// # Ok::<(), iofd::Error>(())
    /// ```
    pub fn expirations_op(&self) -> ReadExpirations<&TimerFd> {
        ReadExpirations {
            handle: self,
            opts: Opts::DEFAULT,
        }
    }

    /// [`expirations_op`](TimerFd::expirations_op) for a shared handle,
    /// which the operation keeps open until it completes.
    pub fn expirations_op_shared(self: &Arc<Self>) -> ReadExpirations<Arc<TimerFd>> {
        ReadExpirations {
            handle: Arc::clone(self),
            opts: Opts::DEFAULT,
        }
    }
}

// SAFETY: the SQE reads 8 bytes into `storage` (a `u64`) from a descriptor
// the operation holds; it touches nothing else.
unsafe impl<H: OpHandle> Op for ReadExpirations<H> {
    type Storage = u64;
    type Output = u64;
    const CODE: u8 = opcode::Read::CODE;
    const NAME: &'static str = "timerfd read (IORING_OP_READ)";

    #[inline]
    fn entry(&self, storage: *mut u64) -> squeue::Entry {
        read_entry(
            target(&self.handle, self.opts.fixed),
            storage.cast(),
            8,
            CURRENT_POSITION,
        )
    }

    #[inline]
    fn rearm(&self) -> Option<(Target, u32)> {
        Some((target(&self.handle, self.opts.fixed), POLLIN))
    }

    fn keep(&self) -> Option<Arc<dyn AsFd + Send + Sync>> {
        self.handle.keep_alive()
    }

    #[inline]
    unsafe fn output(cqe: Cqe, storage: *const u64) -> Result<u64> {
        counter_result(cqe)?;
        // SAFETY: the kernel wrote the 8 bytes (res == 8) and is done.
        Ok(unsafe { storage.read() })
    }
}
