//! Tests of honest latency (coordinated-omission correction in paced
//! runs), the warm-up, and pinning: their options and what runs with them
//! report.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use clap::Parser;
use iofd::sys::process::sched_getaffinity;

use crate::cli::{Cli, Config};
use crate::engine;
use crate::report::{Report, Run};

fn parse(args: &[&str]) -> Result<Config, String> {
    let argv = std::iter::once("harness").chain(args.iter().copied());
    Cli::try_parse_from(argv)
        .map_err(|e| e.to_string())?
        .check()
}

/// A CPU this process may run on: the last allowed one.
fn some_cpu() -> usize {
    let allowed = sched_getaffinity(0).expect("affinity");
    allowed.iter().last().expect("a CPU")
}

#[test]
fn warmup_and_cpu_parse() {
    let cfg = parse(&[]).expect("defaults");
    assert_eq!(cfg.warmup, Duration::ZERO);
    assert!(cfg.cpus.is_empty() && cfg.stall.is_none());
    let cfg = parse(&["--warmup", "0.5"]).expect("warm-up");
    assert_eq!(cfg.warmup, Duration::from_millis(500));
    assert_eq!(
        parse(&["--warmup", "0"]).expect("none").warmup,
        Duration::ZERO
    );
    let cpu = some_cpu().to_string();
    let cfg = parse(&["--cpu", &cpu, "--reaper", "thread"]).expect("pinned");
    assert_eq!(cfg.cpus, [some_cpu()]);
    let list = format!("{cpu},{cpu}-{cpu}");
    assert!(
        parse(&["--cpu", &list])
            .expect_err("twice")
            .contains("listed twice"),
        "each CPU once"
    );
    let range = format!("0-{cpu}");
    if sched_getaffinity(0).expect("affinity").count() == some_cpu() + 1 {
        // Every CPU from 0 is allowed here (the usual case).
        assert_eq!(
            parse(&["--cpu", &range]).expect("range").cpus,
            (0..=some_cpu()).collect::<Vec<_>>()
        );
    }
    let cfg = parse(&[
        "-w", "tcp-echo", "-t", "1", "--warmup", "0.25", "--cpu", &cpu,
    ])
    .expect("tcp-echo");
    assert_eq!(
        (cfg.warmup, cfg.cpus),
        (Duration::from_millis(250), vec![some_cpu()])
    );
}

#[test]
fn bad_warmup_and_cpu_are_clear_errors() {
    let err = |args: &[&str]| parse(args).expect_err("must be refused");
    assert!(err(&["--warmup", "-1"]).contains("the warm-up must be 0 seconds or more"));
    assert!(err(&["--warmup", "soon"]).contains("`soon` is not a number of seconds"));
    assert!(err(&["--warmup", "1e9"]).contains("at most 86400"));
    assert!(err(&["--warmup", "NaN"]).contains("0 seconds or more"));
    assert!(err(&["--cpu", ""]).contains("the CPU list is empty"));
    assert!(err(&["--cpu", "a"]).contains("`a` is not a CPU number"));
    assert!(err(&["--cpu", "5-2"]).contains("`5-2` is not a range: 5 is above 2"));
    assert!(err(&["--cpu", "2048"]).contains("CPU 2048 is out of range"));
    assert!(
        err(&["--cpu", "1023"])
            .starts_with("--cpu 1023: this machine has no CPU 1023 the harness may run on")
    );
    assert!(
        err(&["-w", "tcp-echo", "--ops", "5", "--warmup", "1"])
            .contains("--warmup with tcp-echo needs --duration")
    );
}

/// Runs `args` (the ring, or the baseline alone with `--baseline`), with
/// the submitting loop stalled once for `stall` before operation `at`.
fn stalled(args: &[&str], at: u64, stall: Duration) -> Run {
    let mut cfg = parse(args).expect("options");
    cfg.stall = Some((at, stall));
    if cfg.baseline {
        let objects = engine::Objects::new().expect("objects");
        let outcome = engine::baseline(&cfg, &objects, &AtomicU64::new(0));
        Run::new("baseline", &outcome.expect("baseline"))
    } else {
        crate::run(&cfg).expect("run").runs.remove(0)
    }
}

/// The ring stalled on purpose for 60 ms in a paced run: the latency from
/// each operation's scheduled start shows the stall (the operations due
/// during it wait for it), while the latency from each actual push, which
/// the report gives beside it, hides it — on every workload, both
/// reapers and the baseline. The stall comes before operation 96, the
/// start of a wave of 16 (nothing in flight, so no push is charged for
/// it); at 2,000/s about 120 operations are due during the stall.
#[test]
fn a_stalled_ring_shows_in_corrected_latency_only() {
    let stall = Duration::from_millis(60);
    let cases: [&[&str]; 9] = [
        &["-w", "nop"],
        &["-w", "eventfd"],
        &["-w", "timer"],
        &["-w", "memfd"],
        &["-w", "mix"],
        &["-w", "nop", "--reaper", "thread"],
        &["-w", "eventfd", "--reaper", "thread"],
        &["-w", "timer", "--reaper", "thread"],
        &["-w", "memfd", "--baseline"],
    ];
    let runs: Vec<_> = cases
        .into_iter()
        .map(|w| {
            std::thread::spawn(move || {
                let mut args = vec!["-r", "2000", "-n", "240", "-d", "16", "-b", "4"];
                args.extend_from_slice(w);
                (w, stalled(&args, 96, stall))
            })
        })
        .collect();
    let ms = |us: f64| us / 1000.0;
    for run in runs {
        let (w, r) = run.join().expect("stalled run");
        assert_eq!((r.ops, r.errors, r.warmup_ops), (240, 0, 0), "{w:?}: {r:?}");
        let corrected = &r.latency_us;
        let uncorrected = r.uncorrected_latency_us.as_ref().expect("paced: both");
        assert!(
            ms(corrected.max) >= 50.0,
            "{w:?}: the stall is in the corrected latency: {r:?}"
        );
        assert!(
            corrected.p90 > uncorrected.p90 && corrected.max > uncorrected.max,
            "{w:?}: corrected above uncorrected: {r:?}"
        );
        assert!(
            ms(uncorrected.p90) < 30.0,
            "{w:?}: pushes after the stall were prompt: {r:?}"
        );
    }
}

#[test]
fn the_report_says_what_latency_runs_from() {
    let report: Report =
        crate::run(&parse(&["-n", "100", "-r", "100000"]).expect("paced")).expect("run");
    assert_eq!(report.latency_from, "scheduled start");
    assert!(report.runs[0].uncorrected_latency_us.is_some());
    let table = report.table();
    assert!(
        table.contains(
            "latency from each operation's scheduled start (corrected for coordinated omission)"
        ) && table.contains("ring uncorrected (from each actual push): p50"),
        "{table}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&serde_json::to_string(&report).expect("json")).expect("parse");
    assert_eq!(json["latency_from"], "scheduled start");
    assert!(json["runs"][0]["uncorrected_latency_us"]["p99"].is_f64());

    let report = crate::run(&parse(&["-n", "100"]).expect("unpaced")).expect("run");
    assert_eq!(report.latency_from, "actual start");
    assert!(report.runs[0].uncorrected_latency_us.is_none());
    let table = report.table();
    assert!(
        table.contains("latency from each operation's actual start")
            && !table.contains("uncorrected"),
        "{table}"
    );
}

/// What completes in the warm-up counts in no figure: not in the
/// operations, nor the time (so not the throughput), and the report says
/// how long it was and how much it left out.
#[test]
fn the_warmup_is_left_out_of_every_figure() {
    // Paced at 1,000/s: 0.15 s of warm-up, then 0.2 s measured (and the
    // rest of a wave of 4).
    let cfg = parse(&[
        "-r", "1000", "-t", "0.2", "--warmup", "0.15", "-d", "4", "-b", "1",
    ])
    .expect("options");
    let report = crate::run(&cfg).expect("run");
    let r = &report.runs[0];
    assert!(
        (120..=160).contains(&r.warmup_ops),
        "about 150 in the warm-up: {r:?}"
    );
    assert!((160..=220).contains(&r.ops), "about 200 after it: {r:?}");
    assert!(
        r.seconds >= 0.2 && r.seconds < 0.3,
        "the warm-up is not timed: {r:?}"
    );
    assert!(
        (800.0..=1100.0).contains(&r.ops_per_sec),
        "the requested rate, not diluted or inflated by the warm-up: {r:?}"
    );
    assert_eq!(report.warmup_seconds, 0.15);
    assert!(
        report.table().contains(
            "warm-up 0.150 s left out of every figure (operations completed in it: ring "
        ),
        "{}",
        report.table()
    );
    // --ops counts what is pushed after the warm-up, on both paths.
    for extra in [&["--baseline"][..], &["--reaper", "thread"]] {
        let mut args = vec!["-n", "300", "-d", "16", "-b", "4", "--warmup", "0.05"];
        args.extend_from_slice(extra);
        let report = crate::run(&parse(&args).expect("options")).expect("run");
        for r in &report.runs {
            assert!(r.warmup_ops > 0, "{extra:?}: {r:?}");
            assert!(
                (300..=320).contains(&r.ops),
                "{extra:?}: 300 pushed after the warm-up is seen to end, and what was in flight (a depth of 16) or pushed (a batch of 4) by then: {r:?}"
            );
            assert!(r.ops < r.ops + r.warmup_ops);
            assert!(
                r.syscalls_per_op < 1.5,
                "{extra:?}: syscalls over all the operations done: {r:?}"
            );
        }
    }
}

/// A pinned run (both reapers and the baseline) runs, says where it ran,
/// and gives the calling thread its affinity back.
#[test]
fn pinned_runs_report_their_cpus() {
    std::thread::spawn(|| {
        let before = sched_getaffinity(0).expect("affinity");
        let cpu = some_cpu().to_string();
        for reaper in ["inline", "thread"] {
            let cfg = parse(&["-n", "200", "--reaper", reaper, "--cpu", &cpu, "--baseline"])
                .expect("options");
            let report = crate::run(&cfg).expect("run");
            assert_eq!(report.cpus, [some_cpu()]);
            assert!(report.runs.iter().all(|r| r.ops == 200 && r.errors == 0));
            let line = format!("pinned: submitting thread on CPU {cpu}");
            assert!(report.table().contains(&line), "{}", report.table());
            if reaper == "thread" {
                assert!(
                    report
                        .table()
                        .contains(&format!("reaping thread on CPU {cpu}"))
                );
            }
            assert_eq!(sched_getaffinity(0).expect("affinity"), before, "restored");
        }
    })
    .join()
    .expect("pinned runs");
}
