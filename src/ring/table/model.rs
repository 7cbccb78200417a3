//! A model-based check of the table and its dispatch queue: random pushes
//! (tagged or not, one-shot or multishot), CQEs in any order (stale,
//! duplicate and multishot ones among them), takes, detaches and growth,
//! against a naive model. No result is lost, none reaches the wrong
//! operation or comes twice, every discarded result is discarded once, and
//! every slot is freed.

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

/// Pushes the model's next operation into `t`, which must refuse it
/// exactly when `full`; whether it went in.
fn push_op(
    t: &mut Table,
    ops: &mut Vec<Op>,
    full: bool,
    tagged: bool,
    multishot: bool,
) -> Result<bool, TestCaseError> {
    let i = ops.len();
    let ud = t.insert(false, tagged.then_some(tag_of(i)));
    prop_assert_eq!(ud.is_none(), full);
    let Some(ud) = ud else { return Ok(false) };
    prop_assert!(t.set_discard(ud, record, i as *mut u8));
    ops.push(Op {
        ud,
        tagged,
        multishot,
        pending: VecDeque::new(),
        ended: false,
        detached: false,
        freed: false,
    });
    Ok(true)
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
                    let full = live(&ops) + lent.len() >= MAX;
                    push_op(&mut t, &mut ops, full, tagged, multishot)?;
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
                        let full = live(&ops) + lent.len() >= MAX;
                        if !push_op(&mut t, &mut ops, full, true, false)? { break; }
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
