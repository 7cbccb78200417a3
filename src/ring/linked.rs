//! Linked submissions: SQEs that must reach the kernel together — an
//! operation behind its poll ([`Op::poll_first`]), an operation and its
//! link timeout — pushed in one go so that no submission splits a link.
//!
//! # Safety
//!
//! As in `submit.rs`: every SQE is built by an [`Op`] into storage that
//! outlives its operation, and a poll touches no memory.
#![expect(
    unsafe_code,
    reason = "pushes SQEs built by Op implementations, linked"
)]

use io_uring::squeue;

use super::UserData;
use super::driver::Ring;
use super::op::{Op, Target};
use super::ops::LinkTimeout;
use super::submit::{Rearming, build, keep};
use super::table::Discard;
use crate::error::{Error, Result};
use crate::sys::poll::PollFlags;
use crate::sys::time::Timespec;

impl Ring {
    /// The rest of [`launch`](Ring::launch) for an operation with a poll
    /// first ([`Op::poll_first`]): the poll and the operation's SQE
    /// (`entry`, built for slot `ud`) go into the queue together, linked.
    #[cold]
    #[inline(never)]
    pub(super) fn launch_polled<O: Op>(
        &mut self,
        op: O,
        ud: UserData,
        entry: squeue::Entry,
        target: Target,
        events: PollFlags,
    ) -> Result<()> {
        let pair = [super::reap::poll_entry(target, events, ud), entry];
        // A cancel must then name the poll too.
        self.table.mark_rearmed(ud);
        // SAFETY: the poll touches no memory, and its file is the
        // operation's own, kept open as for the operation; the operation's
        // SQE is vouched for by `O: Op` with storage that outlives it. Both
        // go in together, so the link is never split.
        if let Err(e) = unsafe { self.push_linked(&pair) } {
            self.table.remove(ud);
            return Err(e);
        }
        keep(&mut self.table, ud, op);
        Ok(())
    }

    /// Pushes `op` (slot `ud`) linked to a link timeout, both in one
    /// submission, and returns the timeout's slot; on error both slots are
    /// freed. The timeout's slot is claimed only once `op`'s SQE is built,
    /// so a panic while building it leaves nothing behind. The operation is
    /// never re-armed: a re-armed read would no longer be linked to its
    /// deadline.
    ///
    /// # Safety
    ///
    /// - As [`launch`](Ring::launch), for `storage`.
    pub(crate) unsafe fn launch_linked<O: Op>(
        &mut self,
        op: O,
        ud: UserData,
        storage: *mut O::Storage,
        timeout: LinkTimeout,
        scoped: bool,
        discard: Option<Discard>,
    ) -> Result<UserData> {
        let checked = self
            .check::<LinkTimeout>()
            .and(self.check_bound(&op))
            .and(refuse_polled(&op));
        if let Err(e) = checked {
            self.table.remove(ud);
            return Err(e);
        }
        // SAFETY: forwarded to the caller.
        let first = unsafe {
            build(
                &mut self.table,
                &self.supported,
                &op,
                ud,
                storage,
                Rearming::Never,
                discard,
            )
        }?;
        let first = first.flags(squeue::Flags::IO_LINK);
        let lt_ud = match self.alloc(scoped, None) {
            Ok(lt_ud) => lt_ud,
            Err(e) => {
                self.table.remove(ud);
                return Err(e);
            }
        };
        let lt_storage = self.table.storage_ptr(lt_ud, false).cast::<Timespec>();
        // SAFETY: the slot's inline buffer holds a 16-byte timespec, is
        // reached only through this pointer, and lives until the slot's
        // final CQE. `LinkTimeout`'s `prepare` and `entry` cannot panic.
        let second = match unsafe {
            build(
                &mut self.table,
                &self.supported,
                &timeout,
                lt_ud,
                lt_storage,
                Rearming::Never,
                None,
            )
        } {
            Ok(entry) => entry,
            Err(e) => {
                self.table.remove(ud);
                return Err(e);
            }
        };
        // SAFETY: both SQEs are vouched for by their `Op`s, their storage
        // outlives them (the caller's promise, and the slot's buffer); they
        // go into the queue together, so the link is never split.
        if let Err(e) = unsafe { self.push_linked(&[first, second]) } {
            self.table.remove(ud);
            self.table.remove(lt_ud);
            return Err(e);
        }
        keep(&mut self.table, ud, op);
        keep(&mut self.table, lt_ud, timeout);
        Ok(lt_ud)
    }

    /// Pushes SQEs that must reach the kernel in one submission (a link),
    /// submitting first until the queue has room for all of them.
    ///
    /// # Safety
    ///
    /// - As [`push_entry`](Ring::push_entry), for every entry.
    pub(super) unsafe fn push_linked(&mut self, entries: &[squeue::Entry]) -> Result<()> {
        if entries.len() > self.queues.sq_entries() as usize {
            return Err(Error::InvalidParam(
                "a link longer than the submission queue",
            ));
        }
        loop {
            // SAFETY: forwarded to the caller; `push_all` pushes all of
            // them or none.
            if unsafe { self.queues.push_all(entries) } {
                return Ok(());
            }
            // Not `submit`: see `make_room`.
            self.free_sq()?;
        }
    }
}

/// Refuses an operation with a poll first ([`Op::poll_first`]) where its
/// SQE would not be pushed as the driver's linked pair: in a chain, with
/// flags, or with a link timeout.
#[inline(always)]
pub(crate) fn refuse_polled<O: Op>(op: &O) -> Result<()> {
    if op.poll_first().is_some() {
        return Err(Error::InvalidParam(
            "an operation that polls first cannot be chained, flagged or given a deadline",
        ));
    }
    Ok(())
}
