//! The dispatch queue: tagged operations with a result to take, one
//! entry per result, in the order they were reaped.

use super::store::NONE;
use super::{Life, Table};
use crate::ring::UserData;

impl Table {
    /// Puts `ud` on the dispatch queue.
    #[inline(always)]
    pub(super) fn announce(&mut self, ud: UserData) {
        if self.ready.len() == self.ready.capacity() {
            self.compact_ready();
        }
        self.ready.push_back(ud);
    }

    /// Drops entries whose results were taken by token, when the queue is
    /// at its capacity, before it grows.
    #[cold]
    pub(super) fn compact_ready(&mut self) {
        let mut ready = std::mem::take(&mut self.ready);
        ready.retain(|&ud| self.has_result(ud));
        self.ready = ready;
    }

    /// Whether slot `ud` is live with a result to take.
    #[inline]
    pub(super) fn has_result(&self, ud: UserData) -> bool {
        self.live(ud).is_some_and(|s| {
            s.life == Life::Completed
                || (s.life == Life::InFlight
                    && self.extra_at(s.extra).is_some_and(|e| e.shot_head != NONE))
        })
    }

    /// The next tagged operation with a result to take, in completion
    /// order: its tag and its `user_data`.
    #[inline]
    pub(crate) fn next_ready(&mut self) -> Option<(u64, UserData)> {
        while let Some(ud) = self.ready.pop_front() {
            let Some(s) = self.live(ud) else {
                continue;
            };
            if s.life == Life::Completed
                || (s.life == Life::InFlight
                    && self.extra_at(s.extra).is_some_and(|e| e.shot_head != NONE))
            {
                return Some((s.tag, ud));
            }
        }
        None
    }
}
