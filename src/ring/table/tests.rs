//! The table's unit tests: lifecycle, generations, shots, dispatch.

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

/// A model-based check of the table and its dispatch queue: random pushes
/// (tagged or not, one-shot or multishot), CQEs in any order (stale,
/// duplicate and multishot ones among them), takes, detaches and growth,
/// against a naive model. No result is lost, none reaches the wrong
/// operation or comes twice, every discarded result is discarded once, and
/// every slot is freed.
mod model {
    use std::cell::RefCell;
    use std::collections::VecDeque;

    use proptest::prelude::*;

    use super::*;

    thread_local! {
        /// Results handed to the discard, as (storage word, res).
        static DISCARDED: RefCell<Vec<(usize, i32)>> = const { RefCell::new(Vec::new()) };
    }

    /// The discard under test: records which operation (its storage
    /// pointer is its model index) lost which result.
    unsafe fn record(cqe: Cqe, storage: *mut u8) {
        DISCARDED.with(|d| d.borrow_mut().push((storage as usize, cqe.res)));
    }

    #[derive(Clone, Debug)]
    enum Step {
        Push {
            tagged: bool,
            multishot: bool,
        },
        Shot(usize),
        Final(usize),
        Take(usize),
        Detach(usize),
        Stale(usize),
        Pop,
        /// A slotless operation pushed under a tag.
        SlotlessPush(u64),
        /// A CQE of the k-th slotless operation in flight: its last, or
        /// one of many.
        SlotlessCqe {
            k: usize,
            last: bool,
        },
        /// A slotless operation with storage, lent a slot, under a tag.
        LentPush(u64),
        /// The final CQE of the k-th lent operation in flight, the kernel
        /// having written its storage word.
        LentCqe(usize),
        /// A CQE for the k-th lent operation that has ended: stale.
        LentStale(usize),
        /// A second final CQE for the k-th operation, whose final result
        /// came but is not taken yet (its slot still live): stale, and the
        /// result waiting is kept.
        Duplicate(usize),
        /// `n` tagged operations pushed at once: the table grows chunk by
        /// chunk.
        Burst(usize),
    }

    /// A slotted operation's tag: any `u64`, so from the top down (a
    /// slotless entry must not be taken for one whatever its bits).
    fn tag_of(i: usize) -> u64 {
        u64::MAX - i as u64
    }

    /// An entry of the model's dispatch queue.
    enum Queued {
        /// A slotted operation, by model index.
        Slot(usize),
        /// A slotless operation's whole result, with its storage word.
        Slotless(u64, Cqe, u64),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            3 => (any::<bool>(), any::<bool>())
                .prop_map(|(tagged, multishot)| Step::Push { tagged, multishot }),
            3 => (0..64usize).prop_map(Step::Shot),
            3 => (0..64usize).prop_map(Step::Final),
            3 => (0..64usize).prop_map(Step::Take),
            1 => (0..64usize).prop_map(Step::Detach),
            1 => (0..64usize).prop_map(Step::Stale),
            2 => Just(Step::Pop),
            1 => (0..8u64).prop_map(Step::SlotlessPush),
            2 => (0..64usize, any::<bool>()).prop_map(|(k, last)| Step::SlotlessCqe { k, last }),
            1 => (0..8u64).prop_map(Step::LentPush),
            2 => (0..64usize).prop_map(Step::LentCqe),
            1 => (0..64usize).prop_map(Step::LentStale),
            1 => (0..64usize).prop_map(Step::Duplicate),
            1 => (1..200usize).prop_map(Step::Burst),
        ]
    }

    /// What the model knows of one operation.
    struct Op {
        ud: UserData,
        tagged: bool,
        multishot: bool,
        /// Results delivered and not yet taken, in order.
        pending: VecDeque<i32>,
        /// The final CQE has come.
        ended: bool,
        /// Its owner is gone.
        detached: bool,
        /// The slot is free.
        freed: bool,
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn the_table_matches_a_naive_model(steps in prop::collection::vec(step(), 1..400)) {
            // Room for bursts to grow the table over several chunks.
            const MAX: usize = 1000;
            DISCARDED.with(|d| d.borrow_mut().clear());
            let mut t = Table::try_new(0, MAX).expect("table");
            let mut ops: Vec<Op> = Vec::new();
            let mut ready: VecDeque<Queued> = VecDeque::new();
            let mut slotless: Vec<u64> = Vec::new();
            // Lent operations in flight (`user_data`, tag, storage) and ended.
            let mut lent: Vec<(UserData, u64, *mut u8)> = Vec::new();
            let mut lent_ended: Vec<UserData> = Vec::new();
            let mut next_res = 1i32;
            let mut discarded_expected: Vec<(usize, i32)> = Vec::new();
            let live = |ops: &Vec<Op>| ops.iter().filter(|o| !o.freed).count();
            for s in steps {
                match s {
                    Step::Push { tagged, multishot } => {
                        let i = ops.len();
                        let full = live(&ops) + lent.len() >= MAX;
                        let ud = t.insert(false, tagged.then_some(tag_of(i)));
                        prop_assert_eq!(ud.is_none(), full);
                        let Some(ud) = ud else { continue };
                        prop_assert!(t.set_discard(ud, record, i as *mut u8));
                        ops.push(Op { ud, tagged, multishot, pending: VecDeque::new(),
                            ended: false, detached: false, freed: false });
                    }
                    Step::Shot(k) | Step::Final(k) => {
                        let last = matches!(s, Step::Final(_));
                        let Some(i) = (!ops.is_empty()).then(|| k % ops.len()) else { continue };
                        let o = &mut ops[i];
                        if o.ended || o.freed || (!last && !o.multishot) {
                            continue;
                        }
                        let res = next_res;
                        next_res += 1;
                        let flags = if last { 0 } else { Cqe::F_MORE };
                        let d = t.complete(o.ud, res, flags);
                        if o.detached {
                            discarded_expected.push((i, res));
                            prop_assert_eq!(d, if last { Delivery::Freed } else { Delivery::Ignored });
                            if last { o.freed = true; o.ended = true; }
                        } else {
                            prop_assert_eq!(d, Delivery::Stored);
                            o.pending.push_back(res);
                            o.ended = last;
                            if o.tagged { ready.push_back(Queued::Slot(i)); }
                        }
                    }
                    Step::Take(k) => {
                        let Some(i) = (!ops.is_empty()).then(|| k % ops.len()) else { continue };
                        let o = &mut ops[i];
                        let got = t.take(o.ud);
                        if o.freed || o.detached {
                            prop_assert_eq!(got, None);
                            continue;
                        }
                        match o.pending.pop_front() {
                            None => prop_assert_eq!(got, None),
                            Some(res) => {
                                let last = o.ended && o.pending.is_empty();
                                prop_assert_eq!(got, Some((Cqe { res, flags: if last { 0 } else { Cqe::F_MORE } }, last)));
                                if last { o.freed = true; }
                            }
                        }
                    }
                    Step::Detach(k) => {
                        let Some(i) = (!ops.is_empty()).then(|| k % ops.len()) else { continue };
                        let o = &mut ops[i];
                        if o.freed || o.detached { continue; }
                        t.abandon(o.ud);
                        o.detached = true;
                        for res in o.pending.drain(..) {
                            discarded_expected.push((i, res));
                        }
                        if o.ended { o.freed = true; }
                    }
                    Step::Stale(k) => {
                        // A CQE for an operation whose slot is gone.
                        let Some(i) = (!ops.is_empty()).then(|| k % ops.len()) else { continue };
                        if !ops[i].freed { continue; }
                        let before = t.stale();
                        prop_assert_eq!(t.complete(ops[i].ud, 99, 0), Delivery::Stale);
                        prop_assert_eq!(t.stale(), before + 1);
                    }
                    Step::Pop => {
                        // The model's announcement: the first queued one
                        // that still has a result to take.
                        // A slotless result is always one.
                        let want = loop {
                            match ready.pop_front() {
                                None => break None,
                                Some(Queued::Slot(i)) if !ops[i].freed && !ops[i].detached && !ops[i].pending.is_empty() => {
                                    break Some((tag_of(i), Ok(ops[i].ud)));
                                }
                                Some(Queued::Slot(_)) => {}
                                Some(Queued::Slotless(tag, cqe, word)) => break Some((tag, Err((cqe, word)))),
                            }
                        };
                        prop_assert_eq!(t.next_entry(), want);
                    }
                    Step::SlotlessPush(tag) => {
                        t.slotless_pushed();
                        slotless.push(tag);
                    }
                    Step::SlotlessCqe { k, last } => {
                        if slotless.is_empty() { continue; }
                        let tag = if last { slotless.remove(k % slotless.len()) } else { slotless[k % slotless.len()] };
                        let cqe = Cqe { res: next_res, flags: if last { 0 } else { Cqe::F_MORE } };
                        next_res += 1;
                        prop_assert_eq!(t.complete(UserData::slotless(tag), cqe.res, cqe.flags), Delivery::Ignored);
                        ready.push_back(Queued::Slotless(tag, cqe, 0));
                    }
                    Step::LentPush(tag) => {
                        let full = live(&ops) + lent.len() >= MAX;
                        let at = t.insert_lent(tag);
                        prop_assert_eq!(at.is_none(), full);
                        let Some((ud, storage)) = at else { continue };
                        // SAFETY: the slot's storage is 8-aligned and free
                        // for the push to write, as `push_lent` does.
                        unsafe { storage.cast::<u64>().write(0) };
                        lent.push((ud, tag, storage));
                    }
                    Step::LentCqe(k) => {
                        if lent.is_empty() { continue; }
                        let (ud, tag, storage) = lent.remove(k % lent.len());
                        let word = 0x5eed_0000_0000 | next_res as u64;
                        // SAFETY: the kernel's write of the lent storage,
                        // before its CQE.
                        unsafe { storage.cast::<u64>().write(word) };
                        let cqe = Cqe { res: next_res, flags: 0 };
                        next_res += 1;
                        prop_assert_eq!(t.complete(ud, cqe.res, cqe.flags), Delivery::Ignored);
                        ready.push_back(Queued::Slotless(tag, cqe, word));
                        lent_ended.push(ud);
                    }
                    Step::LentStale(k) => {
                        if lent_ended.is_empty() { continue; }
                        let ud = lent_ended[k % lent_ended.len()];
                        let before = t.stale();
                        prop_assert_eq!(t.complete(ud, 99, 0), Delivery::Stale);
                        prop_assert_eq!(t.stale(), before + 1);
                    }
                    Step::Duplicate(k) => {
                        let Some(i) = (!ops.is_empty()).then(|| k % ops.len()) else { continue };
                        if !ops[i].ended || ops[i].freed { continue; }
                        let before = t.stale();
                        prop_assert_eq!(t.complete(ops[i].ud, 98, 0), Delivery::Stale);
                        prop_assert_eq!(t.stale(), before + 1);
                    }
                    Step::Burst(n) => {
                        for _ in 0..n {
                            let i = ops.len();
                            let full = live(&ops) + lent.len() >= MAX;
                            let ud = t.insert(false, Some(tag_of(i)));
                            prop_assert_eq!(ud.is_none(), full);
                            let Some(ud) = ud else { break };
                            prop_assert!(t.set_discard(ud, record, i as *mut u8));
                            ops.push(Op { ud, tagged: true, multishot: false, pending: VecDeque::new(),
                                ended: false, detached: false, freed: false });
                        }
                    }
                }
                prop_assert_eq!(t.live_count(false), live(&ops) + lent.len());
                prop_assert_eq!(t.slotless_in_flight(), slotless.len());
                prop_assert_eq!(t.lent(), lent.len());
                prop_assert_eq!(
                    t.has_results(),
                    ready.iter().any(|q| matches!(q, Queued::Slotless(..)))
                        || ops.iter().any(|o| !o.freed && !o.detached && !o.pending.is_empty())
                );
                prop_assert_eq!(
                    t.in_flight(),
                    ops.iter().filter(|o| !o.freed && !o.ended).count() + lent.len()
                );
            }
            // Lent operations still in flight end (no word written: the
            // push's zero comes out).
            for (ud, tag, _) in lent.drain(..) {
                let cqe = Cqe { res: -4, flags: 0 };
                prop_assert_eq!(t.complete(ud, cqe.res, cqe.flags), Delivery::Ignored);
                ready.push_back(Queued::Slotless(tag, cqe, 0));
            }
            // The end: every operation finishes and every result is taken
            // or discarded; every slot is free.
            for (i, o) in ops.iter_mut().enumerate() {
                if o.freed { continue; }
                if !o.ended {
                    let res = next_res;
                    next_res += 1;
                    t.complete(o.ud, res, 0);
                    if o.detached { discarded_expected.push((i, res)); } else { o.pending.push_back(res); }
                }
                if !o.detached {
                    while let Some(res) = o.pending.pop_front() {
                        prop_assert_eq!(t.take(o.ud).map(|(c, _)| c.res), Some(res));
                    }
                }
            }
            prop_assert_eq!(t.live_count(false), 0);
            // Every slotless result queued comes out, in order.
            let queued: Vec<(u64, (Cqe, u64))> = ready
                .into_iter()
                .filter_map(|q| match q { Queued::Slotless(tag, cqe, word) => Some((tag, (cqe, word))), Queued::Slot(_) => None })
                .collect();
            let mut popped = Vec::new();
            while let Some((tag, entry)) = t.next_entry() {
                if let Err(result) = entry { popped.push((tag, result)); }
            }
            prop_assert_eq!(popped, queued);
            prop_assert!(!t.has_results());
            let mut discarded = DISCARDED.with(|d| std::mem::take(&mut *d.borrow_mut()));
            discarded.sort_unstable();
            discarded_expected.sort_unstable();
            prop_assert_eq!(discarded, discarded_expected);
        }
    }
}

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
