//! Saved runs: `--runs K` (repeat, report the median and the spread),
//! `--save NAME` (the run as JSON, with its whole histograms and the
//! machine it ran on), `--compare NAME` (the new run beside a saved one),
//! and `--hlog FILE` (HdrHistogram interval logs).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use serde::Serialize;
use serde_json::{Value, json};

use crate::cli::Workload;
use crate::recorder::INTERVAL;
use crate::report::{Report, Run};

/// What a saved run's JSON declares itself to be.
const FORMAT: &str = "iofd-harness-run/1";

/// The median, lowest and highest of one figure over `--runs`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    fn of(mut v: Vec<f64>) -> Spread {
        v.sort_by(f64::total_cmp);
        Spread {
            median: median(&v),
            min: v[0],
            max: v[v.len() - 1],
        }
    }

    /// The spread as a fraction of the median: (max - min) / median.
    pub fn relative(&self) -> f64 {
        if self.median > 0.0 {
            (self.max - self.min) / self.median
        } else {
            0.0
        }
    }
}

fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// One path's figures over `--runs`.
#[derive(Clone, Debug, Serialize)]
pub struct Repeats {
    pub path: String,
    pub runs: usize,
    pub ops_per_sec: Spread,
    pub p50_us: Spread,
    pub p99_us: Spread,
}

/// Folds the reports of `--runs` repetitions into one: each path's run is
/// the repetition with its median throughput (the lower middle one, for an
/// even count), and the spreads of every path go in `repeats`.
pub fn fold(cfg: &crate::cli::Config, mut reports: Vec<Report>) -> Report {
    let k = reports.len();
    let paths = reports[0].runs.len();
    let mut chosen = Vec::with_capacity(paths);
    let mut repeats = Vec::with_capacity(paths);
    let mut tcp_from = 0;
    for p in 0..paths {
        let runs: Vec<&Run> = reports.iter().map(|r| &r.runs[p]).collect();
        let figure = |f: fn(&Run) -> f64| Spread::of(runs.iter().map(|r| f(r)).collect());
        repeats.push(Repeats {
            path: runs[0].path.to_string(),
            runs: k,
            ops_per_sec: figure(|r| r.ops_per_sec),
            p50_us: figure(|r| r.latency_us.p50),
            p99_us: figure(|r| r.latency_us.p99),
        });
        let mut order: Vec<usize> = (0..k).collect();
        order.sort_by(|&a, &b| runs[a].ops_per_sec.total_cmp(&runs[b].ops_per_sec));
        let mid = order[(k - 1) / 2];
        if p == 0 {
            tcp_from = mid;
        }
        chosen.push(runs[mid].clone());
    }
    let tcp = reports.swap_remove(tcp_from).tcp;
    let mut report = Report::new(cfg, chosen);
    report.tcp = tcp;
    report.repeats = Some(repeats);
    report
}

/// The table lines of the repetitions.
pub fn repeats_table(repeats: &[Repeats]) -> String {
    let mut out = String::new();
    for r in repeats {
        let s = |x: &Spread, digits: usize| {
            format!(
                "median {:.*} (min {:.*}, max {:.*}, spread {:.1}%)",
                digits,
                x.median,
                digits,
                x.min,
                digits,
                x.max,
                100.0 * x.relative()
            )
        };
        out += &format!(
            "{} over {} runs: ops/s {}; p50 µs {}; p99 µs {}\n",
            r.path,
            r.runs,
            s(&r.ops_per_sec, 0),
            s(&r.p50_us, 2),
            s(&r.p99_us, 2)
        );
    }
    out
}

/// The CPU model, from /proc/cpuinfo.
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// The kernel, from uname(2): `sysname release version machine`.
fn kernel() -> String {
    // SAFETY: `utsname` is plain bytes, valid when zeroed.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is a valid, writable utsname for the call.
    if unsafe { libc::uname(&mut u) } != 0 {
        return "unknown".into();
    }
    let field = |f: &[libc::c_char]| {
        let bytes: Vec<u8> = f
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    format!(
        "{} {} {} {}",
        field(&u.sysname),
        field(&u.release),
        field(&u.version),
        field(&u.machine)
    )
}

/// Where run `name` is saved.
pub fn path_of(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.json"))
}

/// The JSON of a saved run: the report, each path's whole histogram as
/// `[value_ns, count]` pairs (each value the highest of its bucket), the
/// machine, the iofd version and the command line.
pub fn to_json(name: &str, report: &Report, args: &[String]) -> Value {
    let histograms: serde_json::Map<String, Value> = report
        .runs
        .iter()
        .map(|r| {
            let buckets: Vec<[u64; 2]> = r
                .histogram
                .iter_recorded()
                .map(|v| [v.value_iterated_to(), v.count_at_value()])
                .collect();
            (r.path.to_string(), json!(buckets))
        })
        .collect();
    let saved_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    json!({
        "format": FORMAT,
        "name": name,
        "saved_at_unix": saved_at,
        "machine": { "cpu": cpu_model(), "kernel": kernel() },
        "iofd_version": env!("CARGO_PKG_VERSION"),
        "options": args,
        "report": report,
        "histograms_ns": histograms,
    })
}

/// A saved run, read back for `--compare`.
#[derive(Clone, Debug)]
pub struct Saved {
    pub name: String,
    pub json: Value,
}

/// Reads saved run `name` from `dir` and checks it comes from `workload`.
pub fn load(dir: &Path, name: &str, workload: Workload) -> Result<Saved, String> {
    let path = path_of(dir, name);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "--compare {name}: no saved run {} ({e}); save one with --save {name}",
            path.display()
        )
    })?;
    let json: Value = serde_json::from_str(&text)
        .ok()
        .filter(|v: &Value| v["format"] == FORMAT)
        .ok_or_else(|| {
            format!(
                "--compare {name}: {} is not a saved harness run",
                path.display()
            )
        })?;
    let theirs = json["report"]["workload"]
        .as_str()
        .unwrap_or("?")
        .to_string();
    let ours = serde_json::to_value(workload).expect("a workload is JSON");
    if json["report"]["workload"] != ours {
        return Err(format!(
            "--compare {name}: that run is of the {theirs} workload, this one of {}: compare runs of the same workload",
            ours.as_str().unwrap_or("?")
        ));
    }
    Ok(Saved {
        name: name.to_string(),
        json,
    })
}

/// One figure of the new run beside the saved one.
#[derive(Clone, Debug, Serialize)]
pub struct Beside {
    pub path: String,
    pub figure: &'static str,
    pub saved: f64,
    pub new: f64,
    /// new / saved.
    pub ratio: f64,
    /// `beyond the spread`, `within the spread`, `spread unknown`, or
    /// `no ratio (the saved figure is 0)`.
    pub verdict: &'static str,
    /// The run-to-run spread the verdict used, as a fraction of the
    /// median (the larger of the two runs'), when known.
    pub spread: Option<f64>,
}

/// The new run beside a saved one.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    pub name: String,
    pub saved_cpu: String,
    pub saved_kernel: String,
    /// The settings in which the two runs differ: `(setting, saved, new)`.
    pub differs: Vec<(String, String, String)>,
    pub figures: Vec<Beside>,
}

/// The report settings a comparison shows when they differ.
const SETTINGS: [&str; 7] = [
    "depth",
    "batch",
    "rate",
    "reaper",
    "setup",
    "latency_from",
    "warmup_seconds",
];

/// A report setting as the comparison shows it.
fn setting(v: &Value) -> String {
    match v {
        Value::Null => "none".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) if a.is_empty() => "none".into(),
        Value::Array(a) => a.iter().map(setting).collect::<Vec<_>>().join(" "),
        v => v.to_string(),
    }
}

/// The relative spread of `figure` of `path` in a report's JSON.
fn spread_in(report: &Value, path: &str, figure: &str) -> Option<f64> {
    let r = report["repeats"]
        .as_array()?
        .iter()
        .find(|r| r["path"] == path)?;
    let s: Spread = Spread {
        median: r[figure]["median"].as_f64()?,
        min: r[figure]["min"].as_f64()?,
        max: r[figure]["max"].as_f64()?,
    };
    (r["runs"].as_u64()? > 1).then(|| s.relative())
}

/// Compares `report` with `saved`, path by path (those both have).
pub fn compare(report: &Report, saved: &Saved) -> Comparison {
    let ours = serde_json::to_value(report).expect("a report is JSON");
    let theirs = &saved.json["report"];
    let differs: Vec<(String, String, String)> = SETTINGS
        .iter()
        .filter(|k| ours[**k] != theirs[**k])
        .map(|k| (k.to_string(), setting(&theirs[*k]), setting(&ours[*k])))
        .collect();
    // Latency from a scheduled start and from an actual one are different
    // measures: only throughput is compared then.
    let same_latency = ours["latency_from"] == theirs["latency_from"];
    let mut figures = Vec::new();
    for run in &ours["runs"].as_array().cloned().unwrap_or_default() {
        let path = run["path"].as_str().unwrap_or("?");
        let Some(old) = theirs["runs"]
            .as_array()
            .and_then(|a| a.iter().find(|r| r["path"] == path))
        else {
            continue;
        };
        for (figure, key, get) in [
            (
                "ops/s",
                "ops_per_sec",
                (|r: &Value| r["ops_per_sec"].as_f64()) as fn(&Value) -> Option<f64>,
            ),
            ("p50 µs", "p50_us", |r: &Value| {
                r["latency_us"]["p50"].as_f64()
            }),
            ("p99 µs", "p99_us", |r: &Value| {
                r["latency_us"]["p99"].as_f64()
            }),
        ] {
            let (Some(new), Some(was)) = (get(run), get(old)) else {
                continue;
            };
            if key != "ops_per_sec" && !same_latency {
                continue;
            }
            let ratio = if was > 0.0 { new / was } else { f64::NAN };
            let spread = [spread_in(&ours, path, key), spread_in(theirs, path, key)]
                .into_iter()
                .flatten()
                .reduce(f64::max);
            let verdict = match spread {
                _ if !ratio.is_finite() => "no ratio (the saved figure is 0)",
                None => "spread unknown",
                Some(s) if (ratio - 1.0).abs() > s => "beyond the spread",
                Some(_) => "within the spread",
            };
            figures.push(Beside {
                path: path.to_string(),
                figure,
                saved: was,
                new,
                ratio,
                verdict,
                spread,
            });
        }
    }
    Comparison {
        name: saved.name.clone(),
        saved_cpu: saved.json["machine"]["cpu"].as_str().unwrap_or("?").into(),
        saved_kernel: saved.json["machine"]["kernel"]
            .as_str()
            .unwrap_or("?")
            .into(),
        differs,
        figures,
    }
}

impl Comparison {
    pub fn table(&self) -> String {
        let mut out = format!(
            "beside saved run `{}` (cpu {}, kernel {}):\n",
            self.name, self.saved_cpu, self.saved_kernel
        );
        for (what, saved, new) in &self.differs {
            out += &format!("  {what}: saved {saved}, new {new}\n");
        }
        if self.differs.iter().any(|(what, ..)| what == "latency_from") {
            out += "  latency runs from a different start in each: only throughput is compared\n";
        }
        out += &format!(
            "{:<9} {:<7} {:>12} {:>12} {:>9}  {}\n",
            "path", "figure", "saved", "new", "new/saved", "difference"
        );
        for b in &self.figures {
            let spread = match b.spread {
                Some(s) => format!(" (spread {:.1}%)", 100.0 * s),
                None => " (no --runs K on either run)".into(),
            };
            out += &format!(
                "{:<9} {:<7} {:>12.2} {:>12.2} {:>8.3}x  {}{spread}\n",
                b.path, b.figure, b.saved, b.new, b.ratio, b.verdict
            );
        }
        out
    }
}

/// The HdrHistogram interval log of the report's runs: one histogram per
/// path and 100 ms interval, tagged with the path, values in nanoseconds
/// (shown in milliseconds by the log's max-value divisor).
pub fn hlog(report: &Report, started: SystemTime) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut serializer = V2DeflateSerializer::new();
    let mut log = IntervalLogWriterBuilder::new()
        .add_comment(&format!(
            "iofd harness, {} workload; latency in ns",
            serde_json::to_value(report.workload)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        ))
        .with_start_time(started)
        .with_base_time(started)
        .with_max_value_divisor(1e6)
        .begin_log_with(&mut out, &mut serializer)
        .map_err(|e| format!("--hlog: {e}"))?;
    // The paths ran one after the other, each after its own warm-up: their
    // intervals follow one another in that order (the setup between them
    // left out), so that no two paths claim the same moment.
    let warmup = Duration::from_secs_f64(report.warmup_seconds);
    let mut start = Duration::ZERO;
    for run in &report.runs {
        let tag = Tag::new(run.path);
        let seconds = Duration::from_secs_f64(run.seconds);
        start += warmup;
        for (i, h) in run.interval_latency.iter().enumerate() {
            let from = INTERVAL * i as u32;
            let length = seconds.saturating_sub(from).min(INTERVAL);
            if length.is_zero() && h.is_empty() {
                // A run that ended on an interval's edge.
                continue;
            }
            log.write_histogram(h, start + from, length, tag)
                .map_err(|e| format!("--hlog: {e:?}"))?;
        }
        start += seconds;
    }
    Ok(out)
}
