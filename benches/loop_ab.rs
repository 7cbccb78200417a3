//! The server-shaped loops of `ring_loop` (`loop/nop`, `loop/read`),
//! iofd against the raw io-uring crate with a slab, run interleaved: a
//! block of rounds of one side, then of the other, eleven times, and the
//! ratio of each pair of blocks. On a shared machine whose speed drifts
//! over seconds, criterion's runs of the two sides can land in different
//! weather; paired blocks a few milliseconds apart cannot.
//!
//! Prints, per loop and batch, the median ns per operation of each side
//! and the median, lowest and highest of the eleven ratios, each against
//! a raw loop of its own: iofd's loop (`iofd`: `Ring::push_slotless`, the
//! way iofd's docs give for NOPs and counter reads) and iofd's tokened
//! loop (`iofd_tokened`: `Ring::push_tagged` and a take by token, the
//! path every operation has). `support/loops.rs` has all three.
//!
//! With `floor`, it also sets the raw loop beside a model of iofd's table
//! stripped to its shape (`support/floor.rs`): `loop/floor` takes and
//! frees a slot per NOP as iofd's tokened loop does, `loop/floor_keep`
//! keeps one slot per owner, `loop/floor_slotless` gives NOPs no slot at
//! all (the result comes with the completion). They bound what tuning the
//! table can give, and what each redesign could.
//!
//! Run: `cargo bench --bench loop_ab` (or `-- nop floor`, say, to pick
//! among `nop`, `read` and `floor`).

use std::time::Instant;

#[path = "support/floor.rs"]
mod floor;
#[path = "support/loops.rs"]
mod loops;

use floor::FloorLoop;
use loops::{
    Kind, RawLoop, SlotlessLoop, TokenedLoop, slotless_nops, slotless_reads, tokened_nops,
    tokened_reads,
};

/// Operations per block of rounds.
const BLOCK_OPS: usize = 1 << 20;
/// Pairs of blocks.
const PAIRS: usize = 11;

/// Times `rounds` calls of `round`, in ns per operation.
fn block(rounds: usize, n: usize, round: &mut impl FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..rounds {
        round();
    }
    start.elapsed().as_nanos() as f64 / (rounds * n) as f64
}

/// The median of `v`.
fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Pairs `raw` against `other` (named `side` in the output).
fn compare(name: &str, side: &str, n: usize, raw: &mut impl FnMut(), other: &mut impl FnMut()) {
    let rounds = BLOCK_OPS / n;
    // Warm both up.
    block(rounds / 8, n, raw);
    block(rounds / 8, n, other);
    let (mut r, mut i, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..PAIRS {
        let a = block(rounds, n, raw);
        let b = block(rounds, n, other);
        r.push(a);
        i.push(b);
        ratio.push(b / a);
    }
    let (lo, hi) = ratio
        .iter()
        .fold((f64::MAX, 0f64), |(lo, hi), &x| (lo.min(x), hi.max(x)));
    println!(
        "{name}/b{n}: raw_slab {:.1} ns/op, {side} {:.1} ns/op, {side}/raw_slab median {:.3} (min {lo:.3}, max {hi:.3})",
        median(&mut r),
        median(&mut i),
        median(&mut ratio),
    );
}

/// Pairs a raw loop of `kind` against `other` (named `side`), then lets
/// both finish.
fn pair<L>(
    (name, side, n, kind): (&str, &str, usize, Kind),
    mut other: L,
    round: impl Fn(&mut L),
    finish: impl FnOnce(L),
) {
    let mut raw = RawLoop::new(n, kind);
    compare(name, side, n, &mut || raw.round(), &mut || {
        round(&mut other)
    });
    raw.finish();
    finish(other);
}

fn main() {
    let picked: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wants = |k: &str| picked.is_empty() || picked.iter().any(|p| p == k);
    let floor = picked.iter().any(|p| p == "floor");
    for n in [1, 32, 128] {
        if wants("nop") {
            let at = |side| ("loop/nop", side, n, Kind::Nop);
            let (round, finish) = (SlotlessLoop::round, SlotlessLoop::finish);
            pair(at("iofd"), slotless_nops(n), round, finish);
            let (round, finish) = (TokenedLoop::round, TokenedLoop::finish);
            pair(at("iofd_tokened"), tokened_nops(n), round, finish);
        }
        if wants("read") {
            let at = |side| ("loop/read", side, n, Kind::Read);
            let (round, finish) = (SlotlessLoop::round, SlotlessLoop::finish);
            pair(at("iofd"), slotless_reads(n), round, finish);
            let (round, finish) = (TokenedLoop::round, TokenedLoop::finish);
            pair(at("iofd_tokened"), tokened_reads(n), round, finish);
        }
        if floor {
            for (name, make) in [
                ("loop/floor", FloorLoop::new as fn(usize) -> FloorLoop),
                ("loop/floor_keep", FloorLoop::keep),
                ("loop/floor_slotless", FloorLoop::slotless),
            ] {
                let at = (name, "model", n, Kind::Nop);
                pair(at, make(n), FloorLoop::round, FloorLoop::finish);
            }
        }
    }
}
