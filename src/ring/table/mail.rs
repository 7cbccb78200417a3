//! Messages for mailboxes: CQEs another ring (or thread) posted with a
//! mailbox's tag ([`UserData::mail`]), queued as the mailbox's results.

use super::store::NONE;
use super::{Cqe, Delivery, Life, TAGGED, Table};
use crate::ring::UserData;

/// A mailbox result's flag: the message brought a file, in the direct
/// slot its `res` names. (The upper half of the flags, where a CQE keeps a
/// provided buffer's id; a mailbox has none.)
pub(crate) const MAIL_FILE: u32 = 1 << 16;
/// Beside [`MAIL_FILE`]: the ring's file table was unregistered after the
/// file came and before it was taken, closing its slot.
pub(crate) const MAIL_LOST: u32 = 1 << 17;

impl Table {
    /// Queues a message (tag `ud`, a [`UserData::mail`] tag) as a result
    /// of its mailbox, announced under the mailbox's tag. A message for a
    /// mailbox that is gone is stale; if it brought a file, the caller
    /// closes the slot ([`Delivery::CloseFile`]).
    #[cold]
    pub(super) fn mail(&mut self, ud: UserData, res: i32) -> Option<Delivery> {
        let (mailbox, file) = ud.mail_target()?;
        let open = self
            .live(mailbox)
            .filter(|s| s.life == Life::InFlight && s.flags & TAGGED != 0 && s.extra != NONE)
            .map(|s| s.tag);
        let Some(tag) = open else {
            if file && res >= 0 {
                return Some(Delivery::CloseFile(res as u32));
            }
            self.stale += 1;
            return Some(Delivery::Stale);
        };
        let flags = Cqe::F_MORE | if file { MAIL_FILE } else { 0 };
        let cqe = Cqe { res, flags };
        if !self.push_shot(mailbox, cqe) {
            // No memory to queue it: dropped through the mailbox's
            // discard, which closes a file's slot.
            self.discard(mailbox, cqe);
            return Some(Delivery::Ignored);
        }
        self.announce(mailbox, tag);
        Some(Delivery::Stored)
    }

    /// Marks every file mailbox `mailbox` holds untaken as lost: the
    /// ring's file table, where they were, has been unregistered.
    pub(crate) fn lose_mailed_files(&mut self, mailbox: UserData) {
        let Some(idx) = self.live(mailbox).map(|s| s.extra) else {
            return;
        };
        let Some(extra) = self.extra_at(idx) else {
            return;
        };
        let mut at = extra.shot_head;
        while at != NONE {
            let Some(shot) = self.shots.items.get_mut(at as usize) else {
                return;
            };
            if shot.cqe.flags & MAIL_FILE != 0 {
                shot.cqe.flags |= MAIL_LOST;
            }
            at = shot.next;
        }
    }
}
