//! The table's unit tests: lifecycle, generations, shots, dispatch. Its
//! model-based test is in `model.rs`.

use crate::ring::FdNumber;
use crate::sys::poll::PollFlags;
use io_uring::squeue;

use super::*;

impl Table {
    /// A table for at most `max` operations, for tests.
    fn with_max(max: usize) -> Table {
        Table::try_new(0, max).expect("memory for a test table")
    }
}

#[test]
fn generations_make_late_cqes_stale() {
    let mut t = Table::with_max(2);
    let a = t.insert(false, None).expect("free slot");
    assert_eq!(t.complete(a, 5, 0), Delivery::Stored);
    assert_eq!(t.take(a), Some((Cqe { res: 5, flags: 0 }, true)));
    assert!(t.state(a).is_none(), "freed with its final result");
    let b = t.insert(false, None).expect("free slot");
    assert_eq!(a.key(), b.key(), "the key is reused");
    assert_ne!(a.generation(), b.generation());
    // A late CQE for `a` must not reach `b`.
    assert_eq!(t.complete(a, 7, 0), Delivery::Stale);
    assert_eq!(t.stale(), 1);
    assert_eq!(t.take(b), None);
    // A key that was never handed out is stale too.
    assert_eq!(t.complete(UserData::new(1, 3), 0, 0), Delivery::Stale);
    assert_eq!(t.stale(), 2);
}

#[test]
fn the_table_stops_at_its_max() {
    let mut t = Table::with_max(3);
    let uds: Vec<_> = (0..3)
        .map(|_| t.insert(false, None).expect("free"))
        .collect();
    assert!(t.insert(false, None).is_none());
    assert_eq!(t.in_flight(), 3);
    t.abandon(uds[0]);
    assert_eq!(t.complete(uds[0], -125, 0), Delivery::Freed);
    assert!(t.insert(true, None).is_some());
    assert_eq!(t.scoped_in_flight(), 1);
}

#[test]
fn multishot_results_are_counted_until_the_last() {
    let mut t = Table::with_max(1);
    let ud = t.insert(false, None).expect("free");
    assert_eq!(t.complete(ud, -62, Cqe::F_MORE), Delivery::Stored);
    assert_eq!(t.complete(ud, -62, Cqe::F_MORE), Delivery::Stored);
    assert_eq!(t.in_flight(), 1);
    assert_eq!(t.complete(ud, -62, 0), Delivery::Stored);
    assert_eq!(t.in_flight(), 0);
    for _ in 0..3 {
        assert!(t.take(ud).is_some());
    }
    assert!(t.state(ud).is_none());
}

#[test]
fn intermediate_shots_come_before_a_different_final_result() {
    let mut t = Table::with_max(1);
    let ud = t.insert(false, None).expect("free");
    assert_eq!(t.complete(ud, -62, Cqe::F_MORE), Delivery::Stored);
    assert_eq!(t.complete(ud, -62, Cqe::F_MORE), Delivery::Stored);
    assert_eq!(t.complete(ud, -125, 0), Delivery::Stored);
    let res: Vec<_> = std::iter::from_fn(|| t.take(ud).map(|(c, last)| (c.res, last))).collect();
    assert_eq!(res, [(-62, false), (-62, false), (-125, true)]);
    assert!(t.state(ud).is_none());
}

#[test]
fn a_recipe_matters_only_when_the_read_found_nothing() {
    let mut t = Table::with_max(1);
    let ud = t.insert(false, None).expect("free");
    t.set_rearm(
        ud,
        crate::ring::Target::Fd(FdNumber::recorded(0)),
        PollFlags::IN,
        || io_uring::opcode::Nop::new().build(),
    );
    assert_eq!(t.complete(ud, -EAGAIN, 0), Delivery::Rearm(ud.key()));
    assert!(matches!(t.recipe(ud.key()), Some(Ok(_))));
    assert_eq!(t.complete(ud, 8, 0), Delivery::Stored);
    assert!(t.recipe(ud.key()).is_none(), "the flag is cleared");
    assert_eq!(t.take(ud), Some((Cqe { res: 8, flags: 0 }, true)));
    assert_eq!(t.in_flight(), 0);
}

/// A recipe held in the slot: the target and a rebuild function.
#[test]
fn a_recipe_in_the_slot_rebuilds_the_sqe_for_its_target() {
    /// Builds a read of 8 bytes into `storage` from `target`.
    unsafe fn remake(
        target: crate::ring::Target,
        storage: *mut u8,
    ) -> Option<(PollFlags, squeue::Entry)> {
        let crate::ring::Target::Fixed(index) = target else {
            return None;
        };
        let read = io_uring::opcode::Read::new(io_uring::types::Fixed(index), storage, 8);
        Some((PollFlags::IN | PollFlags::OUT, read.build()))
    }
    let mut t = Table::with_max(2);
    let a = t.insert(false, None).expect("free");
    assert!(t.set_remake(a, crate::ring::Target::Fixed(3), remake));
    let b = t.insert(false, None).expect("free");
    assert!(t.set_remake(b, crate::ring::Target::Fd(FdNumber::recorded(5)), remake));
    assert_eq!(t.remakes.len(), 1, "one kind of operation, listed once");
    assert_eq!(t.complete(a, -EAGAIN, 0), Delivery::Rearm(a.key()));
    let Some(Ok((ud, r))) = t.recipe(a.key()) else {
        panic!("a recipe");
    };
    assert_eq!(
        (ud, r.target, r.events),
        (
            a,
            crate::ring::Target::Fixed(3),
            PollFlags::IN | PollFlags::OUT
        )
    );
    assert_eq!(r.entry.get_user_data(), a.raw());
    assert_eq!(t.complete(b, -EAGAIN, 0), Delivery::Rearm(b.key()));
    assert_eq!(
        t.recipe(b.key()).map(|r| r.err()),
        Some(Some(b)),
        "the rebuild refused"
    );
    // Re-armed and completed, a slot-held recipe frees like any slot.
    assert_eq!(t.complete(a, 8, 0), Delivery::Stored);
    assert!(t.recipe(a.key()).is_none());
    assert_eq!(t.take(a), Some((Cqe { res: 8, flags: 0 }, true)));
    assert!(t.remove(b));
    assert_eq!(t.live_count(false), 0);
}

#[test]
fn scoped_slots_are_counted_out_on_the_fast_path() {
    let mut t = Table::with_max(2);
    let a = t.insert(true, None).expect("free");
    let b = t.insert(true, None).expect("free");
    assert_eq!((t.scoped_in_flight(), t.live_count(true)), (2, 2));
    assert_eq!(t.complete_unsettled(a, 8, 0), Delivery::Unsettled);
    assert_eq!(t.complete_unsettled(b, -9, 0), Delivery::Unsettled);
    t.settle(2);
    assert_eq!((t.scoped_in_flight(), t.in_flight()), (0, 0));
    // Still flagged: the scope's cleanup finds untaken ones by it.
    assert_eq!(
        t.at(b.key() as usize).map(|(_, _, scoped)| scoped),
        Some(true)
    );
    assert_eq!(t.take(a), Some((Cqe { res: 8, flags: 0 }, true)));
    assert_eq!(t.live_count(true), 1);
    assert!(t.remove(b));
    assert_eq!(t.live_count(true), 0);
}

#[test]
fn untaken_shots_die_with_their_slot() {
    let mut t = Table::with_max(1);
    let a = t.insert(false, None).expect("free");
    assert_eq!(t.complete(a, -62, Cqe::F_MORE), Delivery::Stored);
    assert_eq!(t.complete(a, -62, Cqe::F_MORE), Delivery::Stored);
    assert!(t.remove(a));
    let b = t.insert(false, None).expect("free");
    assert_eq!(a.key(), b.key(), "the key is reused");
    assert_eq!(t.complete(b, -62, Cqe::F_MORE), Delivery::Stored);
    assert_eq!(t.complete(b, 0, 0), Delivery::Stored);
    let res: Vec<_> = std::iter::from_fn(|| t.take(b).map(|(c, last)| (c.res, last))).collect();
    assert_eq!(res, [(-62, false), (0, true)], "only b's own shot");
}

#[test]
fn reserved_cqes_are_not_results_and_failed_polls_are() {
    let mut t = Table::with_max(1);
    let ud = t.insert(false, None).expect("free");
    assert_eq!(t.complete(UserData::CANCEL, 0, 0), Delivery::Ignored);
    // A poll half that succeeds is silent; one that fails is the
    // operation's final result (the kernel skips its linked read's CQE).
    assert_eq!(t.complete(ud.aux(), 1, 0), Delivery::Ignored);
    assert_eq!(t.complete(ud.aux(), -9, 0), Delivery::Stored);
    assert_eq!(t.take(ud).map(|(c, last)| (c.res, last)), Some((-9, true)));
}

#[path = "model.rs"]
mod model;

/// A folding operation's first CQE is held and delivered with its last:
/// one result, announced once, whatever the order of takes.
#[test]
fn folding_cqes_make_one_result() {
    let mut t = Table::with_max(2);
    let ud = t.insert(false, Some(9)).expect("free");
    assert!(t.set_folds(ud));
    assert_eq!(t.complete(ud, 100, Cqe::F_MORE), Delivery::Ignored);
    assert_eq!(t.take(ud), None, "nothing to take before the notification");
    assert_eq!(t.next_ready(), None, "nor announced");
    assert_eq!(t.complete(ud, 0, Cqe::F_NOTIF), Delivery::Stored);
    assert_eq!(t.next_ready(), Some((9, ud)));
    assert_eq!(
        t.take(ud),
        Some((
            Cqe {
                res: 100,
                flags: Cqe::F_NOTIF
            },
            true
        ))
    );
    // A first CQE with nothing to follow is the result itself.
    let ud = t.insert(false, None).expect("free");
    assert!(t.set_folds(ud));
    assert_eq!(t.complete(ud, -32, 0), Delivery::Stored);
    assert_eq!(t.take(ud), Some((Cqe { res: -32, flags: 0 }, true)));
    assert_eq!(t.live_count(false), 0);
}

/// A discard that keeps nothing: a mailbox's record needs one.
unsafe fn keep_nothing(_cqe: Cqe, _storage: *mut u8) {}

#[test]
fn messages_reach_their_mailbox_and_only_it() {
    let mut t = Table::with_max(2);
    let mailbox = t.insert(false, Some(9)).expect("free");
    assert!(t.set_discard(mailbox, keep_nothing, std::ptr::null_mut()));
    // A value (its sign bit set: a `u32` the kernel carries as `res`) and
    // a file in slot 3, in order, each announced under the mailbox's tag.
    assert_eq!(t.complete(mailbox.mail(false), -5, 0), Delivery::Stored);
    assert_eq!(t.complete(mailbox.mail(true), 3, 0), Delivery::Stored);
    assert_eq!(t.next_ready(), Some((9, mailbox)));
    assert_eq!(
        t.take(mailbox),
        Some((
            Cqe {
                res: -5,
                flags: Cqe::F_MORE
            },
            false
        ))
    );
    assert_eq!(t.next_ready(), Some((9, mailbox)));
    let file = Cqe {
        res: 3,
        flags: Cqe::F_MORE | MAIL_FILE,
    };
    assert_eq!(t.take(mailbox), Some((file, false)));
    assert_eq!(t.in_flight(), 1, "a mailbox never ends by itself");
    // An untaken file is marked lost when the file table goes.
    assert_eq!(t.complete(mailbox.mail(true), 4, 0), Delivery::Stored);
    t.lose_mailed_files(mailbox);
    let lost = Cqe {
        res: 4,
        flags: Cqe::F_MORE | MAIL_FILE | MAIL_LOST,
    };
    assert_eq!(t.take(mailbox), Some((lost, false)));
    // Closed: a late value is stale, a late file's slot is the caller's
    // to close, and the slot's next owner sees neither.
    assert!(t.remove(mailbox));
    let next = t.insert(false, Some(1)).expect("free");
    assert_eq!(next.key(), mailbox.key());
    assert_eq!(t.complete(mailbox.mail(false), 1, 0), Delivery::Stale);
    assert_eq!(t.complete(mailbox.mail(true), 6, 0), Delivery::CloseFile(6));
    assert_eq!(t.stale(), 1);
    assert_eq!(t.take(next), None);
    assert_eq!(t.next_ready(), None);
    // An operation's slot is no mailbox, even at the right generation.
    assert_eq!(t.complete(next.mail(false), 1, 0), Delivery::Stale);
    assert_eq!(t.take(next), None);
}
