//! What a run reports: a table for people, JSON for machines, and a live
//! progress line on a terminal.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::cli::{Config, Reaper, Workload};
use crate::inline::QueueDepth;
use crate::recorder::{INTERVAL, Outcome};
use crate::saved::{Comparison, Repeats};

/// Latency percentiles, in microseconds.
#[derive(Clone, Debug, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

/// One run's figures.
#[derive(Clone, Debug, Serialize)]
pub struct Run {
    /// `ring` or `baseline`.
    pub path: &'static str,
    pub ops: u64,
    pub errors: u64,
    pub seconds: f64,
    pub ops_per_sec: f64,
    pub latency_us: Latency,
    pub syscalls_per_op: f64,
    /// Operations per second in each 100 ms interval from the warm-up's
    /// end (the start, without one; the last one over its part of an
    /// interval).
    pub intervals_ops_per_sec: Vec<f64>,
    /// The whole latency histogram, in nanoseconds (for `--plot`,
    /// `--save`).
    #[serde(skip)]
    pub histogram: Histogram<u64>,
    /// Per-interval latency histograms (with `--hlog`).
    #[serde(skip)]
    pub interval_latency: Vec<Histogram<u64>>,
    /// Paced runs: the latency from each operation's actual push, which a
    /// stalled ring would make look better than `latency_us` (from each
    /// operation's scheduled start).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uncorrected_latency_us: Option<Latency>,
    /// Operations completed during the warm-up: in no other figure.
    pub warmup_ops: u64,
    /// Operations in flight at each wait of the inline reaper, once the
    /// queue was first filled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue: Option<QueueDepth>,
}

impl Latency {
    /// The percentiles of a histogram of nanoseconds.
    fn of(h: &hdrhistogram::Histogram<u64>) -> Latency {
        let us = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        Latency {
            p50: us(0.5),
            p90: us(0.9),
            p99: us(0.99),
            p999: us(0.999),
            max: h.max() as f64 / 1000.0,
        }
    }
}

impl Run {
    pub fn new(path: &'static str, o: &Outcome) -> Run {
        let secs = o.elapsed.as_secs_f64();
        Run {
            path,
            ops: o.ops,
            errors: o.errors,
            seconds: secs,
            ops_per_sec: if secs > 0.0 { o.ops as f64 / secs } else { 0.0 },
            latency_us: Latency::of(&o.latency),
            // The syscall counters run through the warm-up too: a ratio
            // over the whole run, so that the warm-up's syscalls are not
            // charged to the operations after it.
            syscalls_per_op: match o.ops + o.warmup_ops {
                0 => 0.0,
                all => o.syscalls as f64 / all as f64,
            },
            intervals_ops_per_sec: interval_rates(&o.intervals, secs),
            histogram: o.latency.clone(),
            interval_latency: o.interval_latency.clone(),
            uncorrected_latency_us: o.uncorrected.as_ref().map(Latency::of),
            warmup_ops: o.warmup_ops,
            queue: o.queue,
        }
    }
}

/// Operations per second of each interval; the last, cut short by the end
/// of the run (`secs`), over its own length, or dropped when it is shorter
/// than a tenth of an interval.
fn interval_rates(counts: &[u64], secs: f64) -> Vec<f64> {
    let width = INTERVAL.as_secs_f64();
    let mut rates: Vec<f64> = counts.iter().map(|&n| n as f64 / width).collect();
    if let Some(last) = counts.len().checked_sub(1) {
        let tail = secs - last as f64 * width;
        if tail < width / 10.0 {
            rates.pop();
        } else if tail < width {
            rates[last] = counts[last] as f64 / tail;
        }
    }
    rates
}

/// The ring beside the baseline.
#[derive(Clone, Debug, Serialize)]
pub struct Ratio {
    /// Ring throughput / baseline throughput.
    pub throughput: f64,
    /// Ring p50 latency / baseline p50 latency.
    pub p50_latency: f64,
}

/// What a tcp-echo run drove, and how it measured.
#[derive(Clone, Debug, Serialize)]
pub struct TcpReport {
    /// The server's address.
    pub target: String,
    /// `in-process echo_server` or `external`.
    pub server: &'static str,
    pub connections: usize,
    pub message_bytes: usize,
    /// What each latency runs from: the request's `scheduled send time`
    /// (open loop, corrected for coordinated omission) or its `actual send
    /// time` (closed loop).
    pub latency_from: &'static str,
    /// Echoed bytes received, each compared with the byte sent.
    pub echoed_bytes: u64,
    /// Requests of the run left unsent (open loop, a server far behind).
    pub unsent: u64,
    /// CQEs the client's ring reaped (`Ring::completions`): what a count
    /// of every ring's completions during the run must subtract to leave
    /// the server's.
    pub client_cqes: u64,
}

/// The whole report.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub workload: Workload,
    /// Not for tcp-echo, which has one request in flight per connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub depth: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch: Option<usize>,
    pub rate: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reaper: Option<Reaper>,
    pub setup: Vec<&'static str>,
    pub runs: Vec<Run>,
    pub ratio: Option<Ratio>,
    /// The tcp-echo workload's own figures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp: Option<TcpReport>,
    /// Each path's figures over `--runs K` (K > 1): `runs` holds the
    /// median run of each path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repeats: Option<Vec<Repeats>>,
    /// The run beside a saved one (`--compare`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comparison: Option<Comparison>,
    /// What each latency runs from: `scheduled start` (paced runs,
    /// corrected for coordinated omission) or `actual start`.
    pub latency_from: &'static str,
    /// The warm-up left out of every figure (0: none).
    pub warmup_seconds: f64,
    /// `--cpu`: the submitting thread's CPU, then the reaping thread's.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cpus: Vec<usize>,
}

impl Report {
    pub fn new(cfg: &Config, runs: Vec<Run>) -> Report {
        let mut setup = Vec::new();
        for (on, name) in [
            (cfg.single_issuer, "single_issuer"),
            (cfg.defer_taskrun, "defer_taskrun"),
            (cfg.coop_taskrun, "coop_taskrun"),
            (cfg.register_ring_fd, "register_ring_fd"),
            (cfg.sqpoll.is_some(), "sqpoll"),
        ] {
            if on {
                setup.push(name);
            }
        }
        let ratio = match (runs.first(), runs.get(1)) {
            (Some(ring), Some(base)) if base.ops_per_sec > 0.0 && base.latency_us.p50 > 0.0 => {
                Some(Ratio {
                    throughput: ring.ops_per_sec / base.ops_per_sec,
                    p50_latency: ring.latency_us.p50 / base.latency_us.p50,
                })
            }
            _ => None,
        };
        let engine = cfg.tcp.is_none();
        Report {
            workload: cfg.workload,
            depth: engine.then_some(cfg.depth),
            batch: engine.then_some(cfg.batch),
            rate: cfg.rate,
            reaper: engine.then_some(cfg.reaper),
            setup,
            runs,
            ratio,
            tcp: None,
            repeats: None,
            comparison: None,
            latency_from: crate::measure::latency_from(cfg),
            warmup_seconds: cfg.warmup.as_secs_f64(),
            cpus: cfg.cpus.clone(),
        }
    }

    /// The lines that say how the figures were taken: what latency runs
    /// from (and, paced, the uncorrected figures beside), the warm-up left
    /// out, the pinning.
    fn method(&self) -> String {
        let mut out = match (self.latency_from, &self.tcp) {
            // The tcp-echo table says it in its own words.
            (_, Some(_)) => String::new(),
            ("scheduled start", None) => "latency from each operation's scheduled start (corrected for coordinated omission)\n".to_string(),
            (from, None) => format!("latency from each operation's {from}\n"),
        };
        for r in &self.runs {
            if let Some(l) = &r.uncorrected_latency_us {
                out += &format!(
                    "{} uncorrected (from each actual push): p50 {:.2} µs, p90 {:.2} µs, p99 {:.2} µs, p99.9 {:.2} µs, max {:.2} µs\n",
                    r.path, l.p50, l.p90, l.p99, l.p999, l.max
                );
            }
        }
        if self.warmup_seconds > 0.0 {
            let ops: Vec<String> = self
                .runs
                .iter()
                .map(|r| format!("{} {}", r.path, r.warmup_ops))
                .collect();
            out += &format!(
                "warm-up {:.3} s left out of every figure (operations completed in it: {})\n",
                self.warmup_seconds,
                ops.join(", ")
            );
        }
        if let Some(&submitter) = self.cpus.first() {
            out += &format!("pinned: submitting thread on CPU {submitter}");
            if self.reaper == Some(Reaper::Thread) {
                let reaper = self.cpus.get(1).copied().unwrap_or(submitter);
                out += &format!(", reaping thread on CPU {reaper}");
            }
            out += "\n";
        }
        out
    }

    /// The human-readable table, with the repetitions' spread and the
    /// comparison with a saved run after it.
    pub fn table(&self) -> String {
        let mut out = match &self.tcp {
            Some(tcp) => self.tcp_table(tcp),
            None => self.engine_table(),
        };
        if let Some(repeats) = &self.repeats {
            out += &crate::saved::repeats_table(repeats);
        }
        if let Some(c) = &self.comparison {
            out += &c.table();
        }
        out
    }

    /// The table of the engine's workloads.
    fn engine_table(&self) -> String {
        let mut out = format!(
            "workload {:?}, depth {}, batch {}, rate {}, reaper {:?}, setup [{}]\n",
            self.workload,
            self.depth.unwrap_or_default(),
            self.batch.unwrap_or_default(),
            self.rate
                .map_or("unpaced".to_string(), |r| format!("{r}/s")),
            self.reaper.unwrap_or(Reaper::Inline),
            self.setup.join(", ")
        )
        .to_lowercase();
        out += &format!(
            "{:<9} {:>10} {:>7} {:>9} {:>12} {:>9} {:>9} {:>9} {:>9} {:>11}\n",
            "path",
            "ops",
            "errors",
            "seconds",
            "ops/s",
            "p50 µs",
            "p90 µs",
            "p99 µs",
            "p99.9 µs",
            "syscalls/op"
        );
        for r in &self.runs {
            out += &format!(
                "{:<9} {:>10} {:>7} {:>9.3} {:>12.0} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>11.3}\n",
                r.path,
                r.ops,
                r.errors,
                r.seconds,
                r.ops_per_sec,
                r.latency_us.p50,
                r.latency_us.p90,
                r.latency_us.p99,
                r.latency_us.p999,
                r.syscalls_per_op
            );
        }
        for r in &self.runs {
            if let Some(q) = &r.queue {
                out += &format!(
                    "{} queue: {:.1} in flight on average at {} waits, never fewer than {} (depth {})\n",
                    r.path,
                    q.mean,
                    q.samples,
                    q.min,
                    self.depth.unwrap_or_default()
                );
            }
        }
        if let Some(ratio) = &self.ratio {
            out += &format!(
                "ring / baseline: throughput {:.2}x, p50 latency {:.2}x\n",
                ratio.throughput, ratio.p50_latency
            );
        }
        out + &self.method()
    }

    /// The table of a tcp-echo run: requests instead of operations, and
    /// the maximum latency too.
    fn tcp_table(&self, tcp: &TcpReport) -> String {
        let pace = match self.rate {
            Some(r) => format!("open loop at {r} requests/s"),
            None => "closed loop".into(),
        };
        let mut out = format!(
            "workload tcp-echo, target {} ({}), {} connections, {}-byte messages, {pace}, setup [{}]\n",
            tcp.target,
            tcp.server,
            tcp.connections,
            tcp.message_bytes,
            self.setup.join(", ")
        );
        out += &format!("latency from each request's {}", tcp.latency_from);
        out += if self.rate.is_some() {
            " (corrected for coordinated omission)\n"
        } else {
            "\n"
        };
        out += &format!(
            "{:<9} {:>10} {:>7} {:>9} {:>12} {:>9} {:>9} {:>9} {:>9} {:>9} {:>12}\n",
            "path",
            "requests",
            "errors",
            "seconds",
            "requests/s",
            "p50 µs",
            "p90 µs",
            "p99 µs",
            "p99.9 µs",
            "max µs",
            "syscalls/req"
        );
        for r in &self.runs {
            let l = &r.latency_us;
            out += &format!(
                "{:<9} {:>10} {:>7} {:>9.3} {:>12.0} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>12.3}\n",
                r.path,
                r.ops,
                r.errors,
                r.seconds,
                r.ops_per_sec,
                l.p50,
                l.p90,
                l.p99,
                l.p999,
                l.max,
                r.syscalls_per_op
            );
        }
        out += &format!(
            "{} echoed bytes, each compared with the byte sent\n",
            tcp.echoed_bytes
        );
        if tcp.unsent > 0 {
            out += &format!(
                "{} requests due in the run were not sent: the server fell behind\n",
                tcp.unsent
            );
        }
        out + &self.method()
    }
}

/// A live "ops, rate" line on stderr, redrawn four times a second while
/// stderr is a terminal; silent (no thread) otherwise.
pub struct Progress {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Progress {
    pub fn start(label: &'static str, done: Arc<AtomicU64>, quiet: bool) -> Progress {
        let stop = Arc::new(AtomicBool::new(false));
        if quiet || !std::io::stderr().is_terminal() {
            return Progress { stop, thread: None };
        }
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let start = Instant::now();
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(250));
                let n = done.load(Ordering::Relaxed);
                let rate = n as f64 / start.elapsed().as_secs_f64();
                eprint!("\r{label}: {n} ops, {rate:.0} ops/s   ");
                let _ = std::io::stderr().flush();
            }
            eprint!("\r\x1b[2K");
        });
        Progress {
            stop,
            thread: Some(thread),
        }
    }

    pub fn finish(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
