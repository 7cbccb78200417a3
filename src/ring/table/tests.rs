//! The table's unit tests: lifecycle, generations, shots, dispatch.

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
    t.set_rearm(ud, crate::ring::Target::Fd(0), 1, || {
        io_uring::opcode::Nop::new().build()
    });
    assert_eq!(t.complete(ud, -EAGAIN, 0), Delivery::Rearm(ud.key()));
    assert!(t.rearm_of(ud.key()).is_some());
    assert_eq!(t.complete(ud, 8, 0), Delivery::Stored);
    assert!(t.rearm_of(ud.key()).is_none(), "the flag is cleared");
    assert_eq!(t.take(ud), Some((Cqe { res: 8, flags: 0 }, true)));
    assert_eq!(t.in_flight(), 0);
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
