//! What keeps the figures honest: when a paced run releases its
//! operations, when each operation started (its scheduled start in a paced
//! run, so that a stalled ring cannot hide its delay), when a run with a
//! warm-up stops, and the test hook that stalls the ring on purpose.

use std::time::{Duration, Instant};

use iofd::Clock;

use crate::cli::{Config, Stop};

/// When an operation started, for its latency.
#[derive(Clone, Copy, Debug)]
pub struct Start {
    /// When it was pushed (on the baseline: called).
    pub pushed: Instant,
    /// When it was due, in a paced run: its latency runs from then
    /// (corrected for coordinated omission, as wrk2 does).
    pub due: Option<Instant>,
}

impl Start {
    /// An operation pushed now, due at `due` if paced.
    pub fn now(due: Option<Instant>) -> Start {
        Start {
            pushed: Instant::now(),
            due,
        }
    }
}

/// What latency runs from in a run of `cfg`: said in the report.
pub fn latency_from(cfg: &Config) -> &'static str {
    if cfg.rate.is_some() {
        "scheduled start"
    } else {
        "actual start"
    }
}

/// Release times for a paced run, counted in operations: operation `k`
/// (from 0) is due at `start + (k + 1) / rate` on the monotonic clock, and
/// a batch goes when its last operation is due.
///
/// Why `k + 1` and not `k`: a rate of `r` per second gives each operation
/// a slot of `1 / r`, and an operation is released at the end of its slot,
/// so `n` operations take at least `n / r` and the reported ops/s (ops over
/// wall time since the start) is the requested rate. Releasing operation 0
/// at the start would let `n` operations span only `(n - 1) / r` and report
/// `r * n / (n - 1)`; counting whole batches of `--batch` from 0, as this
/// once did, released a run shorter than a batch (`-r 1 -n 3` with the
/// default batch of 16) at once, reported as 25,000 ops/s (issue 14).
/// Counting operations, not batches, also keeps a short batch (the end of
/// a run) from being charged a full batch's time.
pub struct Pacer {
    start: Duration,
    /// `start` as an `Instant` (the same monotonic clock), for the times
    /// operations are due.
    instant: Instant,
    rate: Option<u64>,
    released: u64,
    /// When the last batch released was due to go.
    due: Option<Instant>,
}

impl Pacer {
    /// Starts the clock: make it after the run's own start, so that the
    /// run's wall time covers every release.
    pub fn new(cfg: &Config) -> iofd::Result<Pacer> {
        Ok(Pacer {
            start: Clock::Monotonic.now()?,
            instant: Instant::now(),
            rate: cfg.rate,
            released: 0,
            due: None,
        })
    }

    /// When a batch of the next `ops` operations may go, or `None` when
    /// unpaced.
    pub fn release(&mut self, ops: u64) -> Option<Duration> {
        let rate = self.rate?;
        self.released += ops;
        let ns = u128::from(self.released) * 1_000_000_000 / u128::from(rate);
        let after = Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX));
        self.due = Some(self.instant + after);
        Some(self.start + after)
    }

    /// When the batch last released was due to go, or `None` when
    /// unpaced: the scheduled start of each of its operations, from which
    /// their latency runs however late a stalled loop pushes them. (Not
    /// each operation's own due time: the wait for a batch to fill is the
    /// --batch the user chose, not the ring's delay.)
    pub fn due(&self) -> Option<Instant> {
        self.due
    }

    /// Whether the batch last released is due now (or was, a loop behind
    /// its schedule); `false` when unpaced.
    pub fn is_due(&self) -> bool {
        self.due.is_some_and(|due| due <= Instant::now())
    }
}

/// When a run stops: the warm-up, then `--duration` more, or `--ops` more
/// pushes than the warm-up made.
pub struct Limit {
    stop: Stop,
    warm_end: Instant,
    /// Operations pushed when the warm-up ended, once it has.
    base: Option<u64>,
}

impl Limit {
    /// The limit of a run of `cfg` that started at `start`.
    pub fn new(cfg: &Config, start: Instant) -> Limit {
        Limit {
            stop: cfg.stop,
            warm_end: start + cfg.warmup,
            base: None,
        }
    }

    /// Operations pushed before the measured part, once it has begun.
    fn base(&mut self, pushed: u64) -> Option<u64> {
        if self.base.is_none() && Instant::now() >= self.warm_end {
            self.base = Some(pushed);
        }
        self.base
    }

    /// Whether the run is over after `pushed` operations.
    pub fn over(&mut self, pushed: u64) -> bool {
        match self.stop {
            Stop::Ops(n) => self.base(pushed).is_some_and(|b| pushed >= b + n),
            Stop::Time(d) => Instant::now() >= self.warm_end + d,
        }
    }

    /// How many operations may still be pushed (no limit during the
    /// warm-up).
    pub fn remaining(&mut self, pushed: u64) -> u64 {
        match self.stop {
            Stop::Ops(n) => self
                .base(pushed)
                .map_or(u64::MAX, |b| (b + n).saturating_sub(pushed)),
            Stop::Time(_) => u64::MAX,
        }
    }
}

/// The test hook of [`Config::stall`]: sleeps once, in the submitting loop,
/// when the batch about to be pushed (operations `seq..seq + n`) holds the
/// chosen operation.
pub fn stall(cfg: &Config, seq: u64, n: u64) {
    if let Some((at, pause)) = cfg.stall
        && (seq..seq + n).contains(&at)
    {
        std::thread::sleep(pause);
    }
}

/// The time from `from` to `to`, in whole nanoseconds (at least 1, for the
/// histogram).
pub fn nanos(from: Instant, to: Instant) -> u64 {
    let d: Duration = to.saturating_duration_since(from);
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1)
}
