//! Reaping: completions copied out of the queue into the table, overflow
//! flushed, reads that found nothing re-armed behind a poll.
//!
//! # Safety
//!
//! A re-arm pushes a poll, which touches no memory, linked to the
//! operation's own SQE again, whose storage is still reserved for it.
#![expect(
    unsafe_code,
    reason = "re-arms a poll linked to an operation whose storage is reserved"
)]

use io_uring::squeue;

use super::UserData;
use super::driver::Ring;
use super::op::Target;
use super::table::Delivery;
use crate::error::{Error, Result};
use crate::sys::Errno;
use crate::sys::poll::PollFlags;

/// The `POLL_ADD` half of a poll-then-read pair for operation `ud`: linked
/// to the SQE that follows it, and silent unless it fails. A failing poll's
/// CQE carries `ud` with the auxiliary flag and ends the operation: the
/// kernel then skips the CQE of the read linked behind it as well.
pub(super) fn poll_entry(target: Target, events: PollFlags, ud: UserData) -> squeue::Entry {
    super::ops::poll_add(target, events)
        .flags(squeue::Flags::IO_LINK | squeue::Flags::SKIP_SUCCESS)
        .user_data(ud.aux().raw())
}

/// Marks a held key as a cancel to send again, not a read to re-arm
/// (table keys stay below 2^31).
const RECANCEL: u32 = 1 << 31;

/// The key a delivery leaves for the end of the pass: a read to re-arm,
/// or (marked with [`RECANCEL`]) a cancel to send again.
#[inline(always)]
fn held_key(d: Delivery) -> Option<u32> {
    match d {
        Delivery::Rearm(key) => Some(key),
        Delivery::Recancel(key) => Some(key | RECANCEL),
        _ => None,
    }
}

impl Ring {
    /// Drains the completion queue into the table — flushing completions
    /// that overflowed it and running deferred completion work while the
    /// kernel flags any — and re-arms reads that found nothing ready.
    /// Returns how many CQEs it consumed.
    ///
    /// # Errors
    ///
    /// Errors of the `io_uring_enter` that flushes overflow or runs
    /// deferred work, or of re-arming.
    ///
    /// # Panics
    ///
    /// With the panic of a kept handle's `Drop` (see
    /// [`Op::into_keep`](super::Op::into_keep)), once the pass of completions it came in is
    /// recorded. Only the calls that reap at the top — this one,
    /// [`submit_and_wait`](Ring::submit_and_wait), [`wait`](Ring::wait) and
    /// their scope counterparts — resume such a panic. A reap inside
    /// another call (a push making room, a full table, a submit retrying)
    /// holds it for the next of those, so that it never cuts short a push
    /// that has claimed a slot but not yet queued its SQE.
    pub fn reap(&mut self) -> Result<usize> {
        self.reap_passes(true, true)
    }

    /// [`reap`](Ring::reap) for an event loop's turn: what the kernel has
    /// posted, and deferred work run only when nothing was (see
    /// `reap_passes`).
    #[inline(always)]
    pub(super) fn reap_turn(&mut self) -> Result<usize> {
        self.reap_passes(true, false)
    }

    /// [`reap`](Ring::reap); a kept handle's panic is resumed only with
    /// `resume` (and not while draining), else held. With `all_deferred`
    /// it enters until the kernel has no deferred completion work left.
    #[inline(always)]
    pub(super) fn reap_passes(&mut self, resume: bool, all_deferred: bool) -> Result<usize> {
        /// Re-arms (and cancels to send again) held per pass: the pass
        /// ends early when they fill.
        const REARMS: usize = 32;
        let mut rearms = [0u32; REARMS];
        let mut total = 0;
        loop {
            // Read CQEs where they are, and release their ring slots when
            // the pass ends (the queue's drop). Reads to re-arm are held
            // until then: re-arming pushes, and may submit.
            let mut held = 0;
            let mut done = 0;
            let (start, tail) = self.queues.cq_window();
            let mut head = start;
            while head != tail {
                let cqe = self.queues.cqe(head);
                head = head.wrapping_add(1);
                let ud = UserData::from_raw(cqe.user_data);
                match self.table.complete_unsettled(ud, cqe.res, cqe.flags) {
                    Delivery::Unsettled => done += 1,
                    Delivery::CloseFile(index) => self.close_mailed_file(index),
                    d => {
                        if let Some(key) = held_key(d) {
                            if let Some(place) = rearms.get_mut(held) {
                                *place = key;
                            }
                            held += 1;
                            if held == REARMS {
                                break;
                            }
                        }
                    }
                }
            }
            self.queues.cq_release(head);
            self.table.settle(done);
            let n = head.wrapping_sub(start);
            total += n as usize;
            self.reaped += u64::from(n);
            for &key in rearms.iter().take(held) {
                if key & RECANCEL != 0 {
                    self.recancel(key & !RECANCEL);
                } else {
                    self.rearm_or_end(key);
                }
            }
            if resume && !self.draining {
                self.resume_unwound();
            }
            if held == REARMS {
                continue;
            }
            // Completions in the overflow list are flushed now, and
            // deferred completion work (DEFER_TASKRUN) run until none is
            // left for a plain `reap`, which promises everything. An event
            // loop's turn runs it only when it found nothing: under load
            // there is always more deferred work (a server's peers keep
            // sending), and running it all before the caller has handled
            // what came would let every pending multishot recv take a
            // provided buffer while none goes back, until the group runs
            // dry and recvs end with ENOBUFS (a thousand connections on
            // 256 buffers stormed at 2.5 such ends per request). The next
            // enter runs the rest.
            let more = if total == 0 || all_deferred {
                self.queues.backlog()
            } else {
                self.queues.overflowed()
            };
            if !more {
                break;
            }
            // GETEVENTS flushes the overflow list and runs deferred work
            // into the queue; then drain again.
            self.enter_once(0).map_err(Error::from)?;
            if self.queues.cq_is_empty() {
                break;
            }
        }
        Ok(total)
    }

    /// Resumes the panic of a kept handle's `Drop` that a pass of
    /// completions held back (all of the pass was recorded first), unless
    /// the thread is already unwinding.
    #[inline]
    pub(crate) fn resume_unwound(&mut self) {
        if self.table.unwound_pending() {
            self.resume_unwound_slow();
        }
    }

    /// The slow path of [`resume_unwound`](Ring::resume_unwound).
    #[cold]
    #[inline(never)]
    pub(super) fn resume_unwound_slow(&mut self) {
        if let Some(payload) = self.table.take_unwound()
            && !std::thread::panicking()
        {
            std::panic::resume_unwind(payload);
        }
    }

    /// Sends the cancel of slot `key` again: the last one found nothing,
    /// yet the operation runs on (a periodic timeout between a shot and
    /// its re-arm). If it cannot be queued, the next reap of a shot or a
    /// drain's next round sends another.
    #[cold]
    pub(super) fn recancel(&mut self, key: u32) {
        if let Some(ud) = self.table.cancel_pending(key) {
            let _ = self.push_cancels(ud);
        }
    }

    /// [`rearm`](Ring::rearm), or when that fails, ends the read with the
    /// error instead, so that nothing is left half-submitted.
    pub(super) fn rearm_or_end(&mut self, key: u32) {
        if let Err(e) = self.rearm(key)
            && let Some(ud) = self.table.live_at(key)
        {
            let errno = e.errno().map_or(Errno::EIO.raw(), Errno::raw);
            self.table.complete(ud.aux(), -errno, 0);
        }
    }

    /// Re-arms the read in slot `key` after `-EAGAIN`: a `POLL_ADD` for its
    /// descriptor linked to the read itself, so the read runs once there is
    /// something to read. Only a failing poll produces a CQE (tagged with the
    /// auxiliary flag, and is then the operation's final result); the read
    /// keeps its tag.
    pub(super) fn rearm(&mut self, key: u32) -> Result<()> {
        let (ud, r) = match self.table.recipe(key) {
            None => return Ok(()),
            Some(Ok(recipe)) => recipe,
            Some(Err(_)) => return Err(Error::Os(Errno::EIO)),
        };
        let pair = [poll_entry(r.target, r.events, ud), r.entry];
        self.table.mark_rearmed(ud);
        // SAFETY: the poll touches no memory and its descriptor is kept
        // open by the operation (borrowed for its scope, or kept by the
        // slot); the read is the operation's own SQE again, whose storage is
        // still reserved for it (the slot is in flight). Both go into the
        // queue together, so the link can never be split across two
        // submissions (which would leave the read running after its poll's
        // failure ended the operation).
        unsafe { self.push_linked(&pair) }
    }
}
