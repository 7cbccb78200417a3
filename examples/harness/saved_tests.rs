//! Tests of the files a run keeps: options, the plot, saved runs and
//! their comparison, repetitions, interval logs.

use std::path::PathBuf;

use clap::Parser;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};

use crate::cli::{Cli, Config, Workload};
use crate::report::Report;
use crate::{plot, run, saved};

fn parse(args: &[&str]) -> Result<Config, String> {
    let argv = std::iter::once("harness").chain(args.iter().copied());
    Cli::try_parse_from(argv)
        .map_err(|e| e.to_string())?
        .check()
}

fn short(args: &[&str]) -> (Config, Report) {
    let mut argv = vec!["-d", "16", "-b", "4"];
    if !args.contains(&"-t") {
        argv.extend_from_slice(&["-n", "3000"]);
    }
    argv.extend_from_slice(args);
    let cfg = parse(&argv).expect("options");
    let report = run(&cfg).expect("run");
    (cfg, report)
}

/// A fresh directory of its own under the system's temporary directory.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("iofd-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

#[test]
fn the_file_options_parse() {
    let cfg = parse(&[]).expect("defaults");
    assert_eq!(cfg.files.runs, 1);
    assert_eq!(cfg.files.save_dir, PathBuf::from("target/harness-runs"));
    assert!(cfg.files.plot.is_none() && cfg.files.save.is_none());
    let cfg = parse(&[
        "--plot",
        "out.svg",
        "--save",
        "base-1.x",
        "--save-dir",
        "/tmp/runs",
        "--compare",
        "old_run",
        "--runs",
        "5",
        "--hlog",
        "out.hlog",
    ])
    .expect("options");
    let f = &cfg.files;
    assert_eq!(f.plot, Some(PathBuf::from("out.svg")));
    assert_eq!(f.save.as_deref(), Some("base-1.x"));
    assert_eq!(f.save_dir, PathBuf::from("/tmp/runs"));
    assert_eq!(f.compare.as_deref(), Some("old_run"));
    assert_eq!(f.runs, 5);
    assert_eq!(f.hlog, Some(PathBuf::from("out.hlog")));
    let tcp = parse(&["-w", "tcp-echo", "--plot", "t.svg", "--runs", "2"]).expect("tcp");
    assert_eq!(tcp.files.runs, 2);
}

#[test]
fn bad_file_options_are_refused() {
    let err = |args: &[&str]| parse(args).expect_err("must be refused");
    assert!(
        err(&["--runs", "0"]).contains("invalid value '0' for '--runs <K>': 0 is not in 1..=1000")
    );
    assert!(err(&["--plot", "out.png"]).contains("give a file name ending in .svg"));
    assert!(err(&["--plot", "a.svg", "--hlog", "a.svg"]).contains("the same file"));
    for name in ["", "../up", ".hidden", "a/b", "sp ace"] {
        assert!(
            err(&["--save", name]).contains("is not a run name"),
            "{name:?}"
        );
        assert!(
            err(&["--compare", name]).contains("is not a run name"),
            "{name:?}"
        );
    }
}

#[test]
fn throughput_is_recorded_per_interval() {
    let (_, report) = short(&["-w", "timer", "--timer-us", "100", "-t", "0.35"]);
    let r = &report.runs[0];
    // 0.35 s: three whole intervals and half of one.
    assert_eq!(
        r.intervals_ops_per_sec.len(),
        4,
        "{:?}",
        r.intervals_ops_per_sec
    );
    let counted: f64 = r.intervals_ops_per_sec[..3]
        .iter()
        .map(|v| v * 0.1)
        .sum::<f64>()
        + r.intervals_ops_per_sec[3] * (r.seconds - 0.3);
    let ops = r.ops as f64;
    assert!(
        (counted - ops).abs() < 0.01 * ops + 2.0,
        "{counted} vs {ops}"
    );
}

/// Operations completed during the warm-up count in no interval: the
/// intervals start at its end.
#[test]
fn the_intervals_start_after_the_warmup() {
    crate::recorder::INTERVAL_HISTOGRAMS.store(true, std::sync::atomic::Ordering::Relaxed);
    let (_, report) = short(&[
        "-w",
        "timer",
        "--timer-us",
        "100",
        "-t",
        "0.25",
        "--warmup",
        "0.2",
    ]);
    let r = &report.runs[0];
    assert!(r.warmup_ops > 0, "{r:?}");
    // 0.25 s measured: two whole intervals and half of one, none for the
    // warm-up's 0.2 s.
    assert_eq!(
        r.intervals_ops_per_sec.len(),
        3,
        "{:?}",
        r.intervals_ops_per_sec
    );
    let counted: f64 = (r.intervals_ops_per_sec[0] + r.intervals_ops_per_sec[1]) * 0.1
        + r.intervals_ops_per_sec[2] * (r.seconds - 0.2);
    let ops = r.ops as f64;
    assert!(
        (counted - ops).abs() < 0.01 * ops + 2.0,
        "{counted} vs {ops}"
    );
    let in_intervals: u64 = r.interval_latency.iter().map(|h| h.len()).sum();
    assert_eq!(in_intervals, r.ops, "the warm-up's latencies are left out");
    // The interval log places them after the warm-up.
    let log = saved::hlog(&report, std::time::SystemTime::now()).expect("hlog");
    let mut starts = Vec::new();
    for entry in IntervalLogIterator::new(&log) {
        if let LogEntry::Interval(h) = entry.expect("a log entry") {
            starts.push(h.start_timestamp());
        }
    }
    assert_eq!(starts.len(), 3, "{starts:?}");
    assert!(
        starts[0] >= std::time::Duration::from_millis(200),
        "{starts:?}"
    );
}

/// The tcp-echo client counts intervals from its first request, not from
/// its setup (connecting, starting the server).
#[test]
fn tcp_echo_intervals_start_with_its_run() {
    let cfg = parse(&["-w", "tcp-echo", "-c", "4", "-t", "0.25"]).expect("options");
    let report = run(&cfg).expect("run");
    let r = &report.runs[0];
    assert_eq!(r.intervals_ops_per_sec.len(), 3, "{r:?}");
    let counted = (r.intervals_ops_per_sec[0] + r.intervals_ops_per_sec[1]) * 0.1
        + r.intervals_ops_per_sec[2] * (r.seconds - 0.2);
    let ops = r.ops as f64;
    assert!(
        (counted - ops).abs() < 0.02 * ops + 8.0,
        "{counted} vs {ops}"
    );
}

#[test]
fn the_plot_is_svg_with_both_paths() {
    let (_, report) = short(&["-w", "eventfd", "--baseline"]);
    let svg = plot::svg(&report).expect("svg");
    assert!(svg.starts_with("<svg"), "{}", &svg[..80]);
    assert!(svg.trim_end().ends_with("</svg>"));
    assert!(svg.contains("latency by percentile") && svg.contains("each 100 ms"));
    // plotters writes each text on a line of its own.
    let text = |t: &str| format!(">\n{t}\n</text>");
    assert!(
        svg.contains(&text("99.999%")) && svg.contains(&text("99%")),
        "the nines axis"
    );
    // Each chart's legend names both paths, and draws a line of each.
    assert_eq!(svg.matches(&text("ring")).count(), 2);
    assert_eq!(svg.matches(&text("baseline")).count(), 2);
    assert!(svg.matches("<polyline").count() >= 4, "two lines per chart");
}

#[test]
fn save_then_compare_round_trip() {
    let dir = scratch("saved");
    let (cfg, first) = short(&["-w", "nop", "--baseline"]);
    let json = saved::to_json("base", &first, &["-w".into(), "nop".into()]);
    assert_eq!(
        json["machine"]["cpu"].as_str().map(str::is_empty),
        Some(false)
    );
    assert!(
        json["machine"]["kernel"]
            .as_str()
            .expect("kernel")
            .starts_with("Linux ")
    );
    assert_eq!(json["iofd_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(json["options"][1], "nop");
    let buckets = json["histograms_ns"]["ring"].as_array().expect("histogram");
    let total: u64 = buckets.iter().map(|b| b[1].as_u64().expect("count")).sum();
    assert_eq!(total, 3000, "the whole histogram");
    let path = saved::path_of(&dir, "base");
    std::fs::write(&path, serde_json::to_vec(&json).expect("json")).expect("save");

    let back = saved::load(&dir, "base", Workload::Nop).expect("load");
    let (_, second) = short(&["-w", "nop", "--baseline"]);
    let c = saved::compare(&second, &back);
    assert_eq!(c.figures.len(), 6, "three figures of two paths: {c:?}");
    let ring_ops = &c.figures[0];
    assert_eq!((ring_ops.path.as_str(), ring_ops.figure), ("ring", "ops/s"));
    assert_eq!(ring_ops.saved, first.runs[0].ops_per_sec);
    assert_eq!(ring_ops.new, second.runs[0].ops_per_sec);
    assert!((ring_ops.ratio - ring_ops.new / ring_ops.saved).abs() < 1e-12);
    assert!(
        c.figures.iter().all(|b| b.verdict == "spread unknown"),
        "{c:?}"
    );
    assert!(
        c.table()
            .contains("spread unknown (no --runs K on either run)")
    );

    // With a spread (--runs 3 on the new run), the verdict is decided.
    let reports = (0..3)
        .map(|_| short(&["-w", "nop", "--baseline"]).1)
        .collect();
    let folded = saved::fold(&cfg, reports);
    let c = saved::compare(&folded, &back);
    for b in &c.figures {
        let s = b.spread.expect("a spread");
        let beyond = (b.ratio - 1.0).abs() > s;
        assert_eq!(b.verdict == "beyond the spread", beyond, "{b:?}");
        assert!(b.verdict != "spread unknown");
    }

    // Settings that differ are shown; a paced run beside an unpaced one
    // has its latency from another start, so only throughput is compared.
    assert!(c.differs.is_empty(), "{c:?}");
    let (_, paced) = short(&[
        "-w",
        "nop",
        "--baseline",
        "-r",
        "200000",
        "--warmup",
        "0.01",
    ]);
    let c = saved::compare(&paced, &back);
    let differs: Vec<&str> = c.differs.iter().map(|(what, ..)| what.as_str()).collect();
    assert_eq!(differs, ["rate", "latency_from", "warmup_seconds"], "{c:?}");
    assert!(c.figures.iter().all(|b| b.figure == "ops/s"), "{c:?}");
    assert_eq!(c.figures.len(), 2, "{c:?}");
    let table = c.table();
    assert!(
        table.contains("  rate: saved none, new 200000\n"),
        "{table}"
    );
    assert!(
        table.contains("  latency_from: saved actual start, new scheduled start\n"),
        "{table}"
    );
    assert!(table.contains("only throughput is compared"), "{table}");

    let e = saved::load(&dir, "base", Workload::Memfd).expect_err("another workload");
    assert!(
        e.contains("that run is of the nop workload, this one of memfd"),
        "{e}"
    );
    let e = saved::load(&dir, "nothing", Workload::Nop).expect_err("missing");
    assert!(e.starts_with("--compare nothing: no saved run"), "{e}");
    std::fs::write(saved::path_of(&dir, "junk"), "{}").expect("junk");
    let e = saved::load(&dir, "junk", Workload::Nop).expect_err("not a run");
    assert!(e.contains("is not a saved harness run"), "{e}");
    std::fs::remove_dir_all(&dir).expect("clean up");
}

#[test]
fn repeats_report_the_median_and_the_spread() {
    let (cfg, _) = short(&["-w", "nop"]);
    let mut reports: Vec<Report> = (0..3).map(|_| short(&["-w", "nop"]).1).collect();
    for (r, rate) in reports.iter_mut().zip([300.0, 100.0, 200.0]) {
        r.runs[0].ops_per_sec = rate;
    }
    let folded = saved::fold(&cfg, reports);
    assert_eq!(folded.runs.len(), 1);
    assert_eq!(folded.runs[0].ops_per_sec, 200.0, "the median run");
    let rep = &folded.repeats.as_ref().expect("repeats")[0];
    assert_eq!(rep.runs, 3);
    assert_eq!(
        (
            rep.ops_per_sec.median,
            rep.ops_per_sec.min,
            rep.ops_per_sec.max
        ),
        (200.0, 100.0, 300.0)
    );
    assert!((rep.ops_per_sec.relative() - 1.0).abs() < 1e-12);
    let table = folded.table();
    assert!(
        table.contains("ring over 3 runs: ops/s median 200 (min 100, max 300, spread 100.0%)"),
        "{table}"
    );
    let json = serde_json::to_value(&folded).expect("json");
    assert_eq!(json["repeats"][0]["ops_per_sec"]["median"], 200.0);
}

#[test]
fn the_interval_log_holds_each_path() {
    crate::recorder::INTERVAL_HISTOGRAMS.store(true, std::sync::atomic::Ordering::Relaxed);
    let (_, report) = short(&[
        "-w",
        "timer",
        "--timer-us",
        "50",
        "-t",
        "0.25",
        "--baseline",
    ]);
    let log = saved::hlog(&report, std::time::SystemTime::now()).expect("hlog");
    let text = String::from_utf8_lossy(&log);
    assert!(
        text.starts_with("#iofd harness, timer workload; latency in ns\n"),
        "{text}"
    );
    let mut tags = Vec::new();
    let mut spans = Vec::new();
    let mut counted = 0u64;
    for entry in IntervalLogIterator::new(&log) {
        if let LogEntry::Interval(h) = entry.expect("a log entry") {
            tags.push(h.tag().expect("tagged").as_str().to_string());
            spans.push((h.start_timestamp(), h.start_timestamp() + h.duration()));
            assert!(h.duration() <= crate::recorder::INTERVAL);
            let bytes = base64_decode(h.encoded_histogram());
            let hist: hdrhistogram::Histogram<u64> =
                hdrhistogram::serialization::Deserializer::new()
                    .deserialize(&mut &bytes[..])
                    .expect("a histogram");
            counted += hist.len();
        }
    }
    assert!(
        tags.iter().any(|t| t == "ring") && tags.iter().any(|t| t == "baseline"),
        "{tags:?}"
    );
    let ops: u64 = report.runs.iter().map(|r| r.ops).sum();
    assert_eq!(counted, ops, "every operation is in one interval");
    // The paths ran one after the other, and so they are logged: the
    // baseline's first interval starts after the ring's last one ends.
    let ring_end = (tags.iter().zip(&spans))
        .filter(|(t, _)| *t == "ring")
        .map(|(_, s)| s.1)
        .max();
    let baseline_start = (tags.iter().zip(&spans))
        .filter(|(t, _)| *t == "baseline")
        .map(|(_, s)| s.0)
        .min();
    assert!(ring_end <= baseline_start, "{tags:?} {spans:?}");
}

/// Standard base64, as the interval log encodes histograms.
fn base64_decode(s: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes().filter(|&c| c != b'=') {
        acc = (acc << 6) | u32::from(value(c));
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}
