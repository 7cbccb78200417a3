//! The inline reaper keeps its queue full: sampled before every wait, the
//! operations in flight never fall more than a batch below `--depth`
//! once the queue was first filled.

use std::sync::atomic::AtomicU64;

use clap::Parser;

use crate::cli::{Cli, Config};
use crate::engine::{Objects, Outcome};
use crate::inline::ring_inline;
use crate::report::{Report, Run};

fn config(args: &[&str]) -> Config {
    let argv = std::iter::once("harness").chain(args.iter().copied());
    Cli::try_parse_from(argv)
        .expect("options")
        .check()
        .expect("checked")
}

fn run(args: &[&str]) -> (Config, Outcome) {
    let cfg = config(args);
    let objects = Objects::new().expect("objects");
    let outcome = ring_inline(&cfg, &objects, &AtomicU64::new(0)).expect("run");
    (cfg, outcome)
}

/// At every sampled wait, at least `depth - batch + 1` operations were in
/// flight: the refill leaves fewer than a batch of lanes free.
#[test]
fn the_queue_stays_within_a_batch_of_the_depth() {
    for (workload, depth, batch) in [
        ("memfd", 64, 16),
        ("nop", 32, 8),
        ("mix", 20, 8),
        ("eventfd", 16, 16),
        ("nop", 7, 1),
    ] {
        let (d, b) = (depth.to_string(), batch.to_string());
        let (cfg, o) = run(&["-w", workload, "-d", &d, "-b", &b, "-n", "20000"]);
        assert_eq!((o.ops, o.errors), (20_000, 0), "{workload}");
        let q = o.queue.expect("sampled");
        // 20,000 operations take at least 20,000 / depth waits.
        assert!(q.samples >= 20_000 / depth as u64 / 2, "{workload}: {q:?}");
        assert!(
            q.min > cfg.depth - cfg.batch && q.min <= cfg.depth,
            "{workload} -d {depth} -b {batch}: {q:?}"
        );
        assert!(q.mean >= q.min as f64 && q.mean <= depth as f64, "{q:?}");
    }
}

/// What the waves this replaced did: with one batch per depth the queue
/// used to drain to zero each wave, and now it is refilled at once.
#[test]
fn a_batch_as_deep_as_the_queue_still_refills() {
    let (_, o) = run(&["-w", "memfd", "-d", "16", "-b", "16", "-n", "4000"]);
    let q = o.queue.expect("sampled");
    assert!(q.min >= 1 && q.mean > 1.0, "{q:?}");
    assert_eq!((o.ops, o.errors), (4000, 0));
}

/// A timed run and a paced run end with every lane reaped and every
/// result counted.
#[test]
fn timed_and_paced_runs_reap_every_lane() {
    let (_, o) = run(&["-w", "memfd", "-d", "8", "-b", "2", "-t", "0.05"]);
    assert!(o.ops > 0 && o.errors == 0);
    assert!(o.queue.expect("sampled").min >= 7);
    // 600 operations at 20,000/s take at least 30 ms.
    let (_, o) = run(&[
        "-w", "mix", "-d", "8", "-b", "4", "-n", "600", "-r", "20000",
    ]);
    assert_eq!((o.ops, o.errors), (600, 0));
    assert!(o.elapsed.as_secs_f64() >= 0.030, "{:?}", o.elapsed);
}

#[test]
fn the_report_shows_the_queue() {
    let (cfg, o) = run(&["-w", "memfd", "-d", "32", "-b", "8", "-n", "3000"]);
    let report = Report::new(&cfg, vec![Run::new("ring", &o)]);
    let q = o.queue.expect("sampled");
    let table = report.table();
    assert!(
        table.contains(&format!("never fewer than {} (depth 32)", q.min)),
        "{table}"
    );
    let json = serde_json::to_value(&report).expect("json");
    assert_eq!(json["runs"][0]["queue"]["min"], q.min);
    assert_eq!(json["runs"][0]["queue"]["samples"], q.samples);
}
