//! What a run measured, and the recorder that counts it: completed
//! operations, their latency (corrected and, in a paced run, uncorrected),
//! the warm-up's completions kept apart, and the completions and latency
//! of each 100 ms interval after the warm-up.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::cli::Config;
use crate::inline::QueueDepth;
use crate::measure::{Start, nanos};

/// What a run measured.
pub struct Outcome {
    pub ops: u64,
    pub errors: u64,
    pub elapsed: Duration,
    /// Latency per operation, in nanoseconds.
    pub latency: Histogram<u64>,
    pub syscalls: u64,
    /// Paced runs: latency from each operation's actual push (not
    /// corrected for coordinated omission), beside `latency`.
    pub uncorrected: Option<Histogram<u64>>,
    /// Operations completed during the warm-up (in no other figure).
    pub warmup_ops: u64,
    /// Operations completed in each 100 ms interval since the warm-up's
    /// end (the run's start, without one).
    pub intervals: Vec<u64>,
    /// With `--hlog`: the latency histogram of each 100 ms interval.
    pub interval_latency: Vec<Histogram<u64>>,
    /// How full the queue was, when the run sampled it.
    pub queue: Option<QueueDepth>,
}

/// An empty latency histogram: 1 ns to 1 hour, 3 significant figures.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("histogram bounds")
}

/// The length of a throughput interval.
pub const INTERVAL: Duration = Duration::from_millis(100);

/// Whether recorders keep a latency histogram per interval (`--hlog`),
/// set once by `main` before any run.
pub static INTERVAL_HISTOGRAMS: AtomicBool = AtomicBool::new(false);

/// Counts and times completed operations.
///
/// A completion is first checked against the warm-up: one that comes
/// before its end counts only in `warmup_ops`. Every other one counts in
/// the totals, the latency histograms and the intervals, which run from
/// the warm-up's end, so interval 0 is the measured part's first 100 ms.
pub struct Recorder {
    ops: u64,
    errors: u64,
    latency: Histogram<u64>,
    uncorrected: Option<Histogram<u64>>,
    /// Completions before this instant are the warm-up's: counted apart.
    warm_end: Option<Instant>,
    warmup: Duration,
    warmup_ops: u64,
    /// Where interval 0 starts: the warm-up's end.
    start: Instant,
    /// Completions per interval, up to the last clock check.
    intervals: Vec<u64>,
    /// Completions since the last clock check.
    unsorted: u64,
    /// How many completions go between clock checks: reading the clock on
    /// every one would cost as much as a NOP, so the stride grows while
    /// checks come less than a millisecond apart and shrinks when they are
    /// more than four apart (every completion, at low rates).
    stride: u64,
    last_check: Instant,
    /// Per-interval latency (`--hlog`): the finished intervals' and the
    /// current one's.
    interval_latency: Option<(Vec<Histogram<u64>>, Histogram<u64>)>,
}

impl Recorder {
    pub fn new() -> Recorder {
        let now = Instant::now();
        Recorder {
            ops: 0,
            errors: 0,
            latency: histogram(),
            uncorrected: None,
            warm_end: None,
            warmup: Duration::ZERO,
            warmup_ops: 0,
            start: now,
            intervals: Vec::new(),
            unsorted: 0,
            stride: 1,
            last_check: now,
            interval_latency: INTERVAL_HISTOGRAMS
                .load(Ordering::Relaxed)
                .then(|| (Vec::new(), histogram())),
        }
    }

    /// A recorder for a run of `cfg` started at `start`: it leaves out
    /// what completes during the warm-up, and in a paced run keeps the
    /// uncorrected latency beside the corrected one.
    pub fn for_run(cfg: &Config, start: Instant) -> Recorder {
        let mut rec = Recorder {
            uncorrected: cfg.rate.map(|_| histogram()),
            ..Recorder::new().warmup(cfg.warmup)
        };
        rec.begin(start);
        rec
    }

    /// Leaves out what completes in the first `warmup` of the run, once it
    /// has begun.
    pub fn warmup(self, warmup: Duration) -> Recorder {
        Recorder { warmup, ..self }
    }

    /// The run begins: the warm-up runs from `start`, and the intervals
    /// from its end. Call before any completion.
    pub fn begin(&mut self, start: Instant) {
        self.warm_end = (!self.warmup.is_zero()).then(|| start + self.warmup);
        self.start = start + self.warmup;
        self.last_check = self.start;
    }

    /// Whether an operation completed at `now` is the warm-up's, counting
    /// it if so.
    fn warming(&mut self, now: Instant) -> bool {
        if let Some(end) = self.warm_end {
            if now < end {
                self.warmup_ops += 1;
                return true;
            }
            self.warm_end = None;
        }
        false
    }

    /// Records an operation that completed now: its latency runs from its
    /// scheduled start when it had one, else from its push.
    pub fn complete(&mut self, start: Start, ok: bool) {
        self.complete_at(start, Instant::now(), ok);
    }

    /// Records an operation whose result was taken at `now` (the inline
    /// reaper shares one clock read among the results of a wait).
    pub fn complete_at(&mut self, start: Start, now: Instant, ok: bool) {
        if self.warming(now) {
            return;
        }
        if let (Some(h), Some(_)) = (&mut self.uncorrected, start.due) {
            h.saturating_record(nanos(start.pushed, now));
        }
        self.count(nanos(start.due.unwrap_or(start.pushed), now), ok);
    }

    /// Records an operation that completed now and took `took` (unless
    /// the warm-up is still on).
    pub fn record(&mut self, took: Duration, ok: bool) {
        // No clock read per request once the warm-up is over (or without
        // one), beyond the interval's clock checks.
        if self.warm_end.is_some() && self.warming(Instant::now()) {
            return;
        }
        let ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX).max(1);
        self.count(ns, ok);
    }

    /// Counts a measured completion (past the warm-up) of latency `ns`.
    fn count(&mut self, ns: u64, ok: bool) {
        self.ops += 1;
        if !ok {
            self.errors += 1;
        }
        self.latency.saturating_record(ns);
        if let Some((_, current)) = &mut self.interval_latency {
            current.saturating_record(ns);
        }
        self.unsorted += 1;
        if self.unsorted >= self.stride {
            self.sort(Instant::now());
        }
    }

    /// Counts the completions since the last clock check in the interval
    /// `now` falls in.
    fn sort(&mut self, now: Instant) {
        let gap = now.saturating_duration_since(self.last_check);
        if gap < Duration::from_millis(1) {
            self.stride = (self.stride * 2).min(4096);
        } else if gap > Duration::from_millis(4) {
            self.stride = (self.stride / 2).max(1);
        }
        self.last_check = now;
        let since = now.saturating_duration_since(self.start);
        let at = (since.as_nanos() / INTERVAL.as_nanos()) as usize;
        if self.intervals.len() <= at {
            self.intervals.resize(at + 1, 0);
        }
        self.intervals[at] += self.unsorted;
        self.unsorted = 0;
        if let Some((done, current)) = &mut self.interval_latency {
            // Each finished interval gets a histogram, empty or not.
            while done.len() < at {
                done.push(std::mem::replace(current, histogram()));
            }
        }
    }

    /// Whether the warm-up is over (or there is none): the first result
    /// after it has been recorded.
    pub fn measuring(&self) -> bool {
        self.warm_end.is_none()
    }

    /// Operations recorded so far.
    pub fn ops(&self) -> u64 {
        self.ops
    }

    /// What was measured in a run that took `elapsed`, warm-up included
    /// (left out of the outcome's time).
    pub fn outcome(mut self, elapsed: Duration, syscalls: u64) -> Outcome {
        self.sort(Instant::now());
        let interval_latency = match self.interval_latency {
            Some((mut done, current)) => {
                done.push(current);
                done
            }
            None => Vec::new(),
        };
        Outcome {
            ops: self.ops,
            errors: self.errors,
            elapsed: elapsed.saturating_sub(self.warmup),
            latency: self.latency,
            syscalls,
            uncorrected: self.uncorrected,
            warmup_ops: self.warmup_ops,
            intervals: self.intervals,
            interval_latency,
            queue: None,
        }
    }
}
