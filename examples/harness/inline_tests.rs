//! The inline reaper keeps its queue full: sampled before every wait, the
//! operations in flight never fall more than a batch below `--depth`
//! once the queue was first filled.

use std::sync::atomic::AtomicU64;

use clap::Parser;

use crate::cli::{Cli, Config};
use crate::engine::Objects;
use crate::inline::ring_inline;
use crate::recorder::Outcome;
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

/// A paced run the ring cannot keep up with is behind its schedule from
/// the start: each batch is due before its lanes free up, and goes at
/// once instead of waiting for a release timer, so the queue stays as
/// full as an unpaced run's.
#[test]
fn a_paced_run_behind_its_schedule_keeps_the_queue_full() {
    let (cfg, o) = run(&[
        "-w",
        "memfd",
        "-d",
        "32",
        "-b",
        "8",
        "-n",
        "20000",
        "-r",
        "1000000000",
    ]);
    assert_eq!((o.ops, o.errors), (20_000, 0));
    let q = o.queue.expect("sampled");
    assert!(q.min > cfg.depth - cfg.batch, "{q:?}");
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

/// The queue is sampled after the warm-up only, and `--ops` counts what
/// is pushed after it: unpaced, at most the depth more completes. The
/// table gives the queue beside the warm-up.
#[test]
fn the_warmup_is_not_sampled() {
    let (cfg, o) = run(&[
        "-w", "memfd", "-d", "8", "-b", "2", "-n", "200", "--warmup", "0.05",
    ]);
    assert!(o.warmup_ops > 200, "the warm-up ran: {}", o.warmup_ops);
    assert!((200..=208).contains(&o.ops) && o.errors == 0, "{}", o.ops);
    // The 100 ms intervals, like the queue, count only what follows it.
    assert_eq!(o.intervals.iter().sum::<u64>(), o.ops, "{:?}", o.intervals);
    let q = o.queue.expect("sampled");
    // Each sampled wait reaps at least one measured result.
    assert!(q.samples <= o.ops, "{q:?}");
    assert!(q.min > cfg.depth - cfg.batch, "{q:?}");
    let table = Report::new(&cfg, vec![Run::new("ring", &o)]).table();
    assert!(
        table.contains("ring queue: ")
            && table.contains("latency from each operation's actual start")
            && table.contains("warm-up 0.050 s left out of every figure"),
        "{table}"
    );
}

/// A paced run that the ring cannot keep up with (2 ms timers, 8 deep,
/// at 20,000/s) reports all of it: the queue, both latency bases and the
/// warm-up. (Paced, each batch waits for its own release timer, so the
/// queue is not held within a batch of the depth.)
#[test]
fn a_paced_run_reports_the_queue_beside_both_latencies() {
    let (cfg, o) = run(&[
        "-w",
        "timer",
        "--timer-us",
        "2000",
        "-d",
        "8",
        "-b",
        "2",
        "-n",
        "200",
        "-r",
        "20000",
        "--warmup",
        "0.02",
    ]);
    assert!((200..=208).contains(&o.ops) && o.errors == 0, "{}", o.ops);
    assert!(o.warmup_ops > 0);
    let q = o.queue.expect("sampled");
    assert!(q.min <= cfg.depth && q.mean > 1.0, "{q:?}");
    let uncorrected = o.uncorrected.as_ref().expect("paced");
    // Behind the schedule: the corrected latency grows past the push's.
    assert!(
        o.latency.max() > uncorrected.max(),
        "charged from the schedule"
    );
    let report = Report::new(&cfg, vec![Run::new("ring", &o)]);
    let table = report.table();
    for line in [
        "ring queue: ",
        "latency from each operation's scheduled start",
        "ring uncorrected (from each actual push): p50",
        "warm-up 0.020 s left out of every figure (operations completed in it: ring ",
    ] {
        assert!(table.contains(line), "{line}: {table}");
    }
    let json = serde_json::to_value(&report).expect("json");
    let r = &json["runs"][0];
    assert_eq!(r["queue"]["samples"], q.samples);
    assert!(r["uncorrected_latency_us"]["p99"].is_f64() && r["warmup_ops"].as_u64() > Some(0));
}
