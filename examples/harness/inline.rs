//! The ring reaped by the submitting thread, with the queue kept full.
//!
//! The run has `--depth` lanes. Each lane holds one driver-owned
//! operation, pushed with [`Ring::push_tagged`] under the lane's index
//! (a memfd operation owns its buffer, so nothing is lent and nothing
//! has to come back before the next push). After each wait the loop pops
//! the completions in order ([`Ring::next_completion`]), takes each
//! result from its lane's token and frees the lane; then it refills the
//! free lanes a `--batch` at a time, one `io_uring_enter` per batch (the
//! last one shares its enter with the wait). So the queue never drains:
//! before every wait at least `depth - batch + 1` operations are in
//! flight, where waves of `--depth` (what this replaced) let it fall to
//! zero once a wave.
//!
//! A paced run arms one ring timer (tagged apart from the lanes) for the
//! next batch's release time from the [`Pacer`] and pushes that batch
//! once the timer has fired and a batch of lanes is free; the lanes go on
//! being reaped meanwhile. A batch that is due already when its lanes
//! free up (a loop behind its schedule) goes at once, with no timer, so a
//! slow ring still keeps its queue full and its delay shows in the
//! latency from the scheduled start. A `--warmup` runs the same loop: [`Limit`]
//! counts `--ops` from its end and the [`Recorder`] leaves out what
//! completes in it; the queue is sampled only once the first result after
//! it is in.
//!
//! Latency runs to the return of the wait that reaped the result, from
//! the moment the operation's batch started being pushed, or in a paced
//! run from the batch's scheduled release (the uncorrected figure, from
//! the push, beside it): one clock read per batch and one per wait serve
//! all their operations, which saves two per operation and never
//! shortens an operation's time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use iofd::Clock;
use iofd::ring::ops::Timeout;
use iofd::ring::{Ring, Token};
use serde::Serialize;

use crate::cli::Config;
use crate::engine::{Lanes, Objects, RELEASE, build_ring};
use crate::measure::{Limit, Pacer, Start, stall};
use crate::pin::{Pinned, Role};
use crate::recorder::{Outcome, Recorder};

/// Operations in flight, sampled before each wait once the queue was
/// first filled and the warm-up was over, while operations were left to
/// push.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct QueueDepth {
    /// Waits sampled.
    pub samples: u64,
    /// The fewest operations in flight at a wait.
    pub min: usize,
    /// The mean.
    pub mean: f64,
}

/// Sums the samples of [`QueueDepth`].
struct Sampler {
    samples: u64,
    min: usize,
    sum: u64,
}

impl Sampler {
    fn sample(&mut self, in_flight: usize) {
        self.samples += 1;
        self.min = self.min.min(in_flight);
        self.sum += in_flight as u64;
    }

    fn depth(&self) -> Option<QueueDepth> {
        (self.samples > 0).then(|| QueueDepth {
            samples: self.samples,
            min: self.min,
            mean: self.sum as f64 / self.samples as f64,
        })
    }
}

/// The ring and its lanes, with the run's schedule.
struct Feed<'a> {
    cfg: &'a Config,
    obj: &'a Objects,
    ring: Ring,
    lanes: Lanes,
    /// Operations pushed.
    seq: u64,
    limit: Limit,
    pacer: Pacer,
    /// A paced run's timer for the next batch, and whether it has fired.
    release: Option<Token<Timeout>>,
    released: bool,
}

impl Feed<'_> {
    /// Pushes a batch into the free lanes while a whole one fits (or what
    /// is left of the run), submitting each before the next; the last
    /// waits to be submitted with the wait. A paced run first arms the
    /// batch's release timer and pushes it once that has fired, or at
    /// once if it is due already; each operation's latency then runs from
    /// the time the batch was due.
    fn refill(&mut self) -> iofd::Result<()> {
        let mut unsubmitted = false;
        loop {
            let n = (self.cfg.batch as u64).min(self.limit.remaining(self.seq)) as usize;
            if n == 0 || self.lanes.free() < n {
                return Ok(());
            }
            if self.cfg.rate.is_some() && !self.released {
                if self.release.is_some() {
                    return Ok(());
                }
                // A batch already due (a loop behind its schedule) goes at
                // once: waiting for a timer would let the queue run down.
                if let Some(at) = self.pacer.release(n as u64)
                    && !self.pacer.is_due()
                {
                    let timer = Timeout::at(Clock::Monotonic, at);
                    self.release = Some(self.ring.push_tagged(timer, RELEASE)?);
                    return Ok(());
                }
            }
            self.released = false;
            if unsubmitted {
                self.ring.submit()?;
            }
            stall(self.cfg, self.seq, n as u64);
            let t0 = Start::now(self.pacer.due());
            for _ in 0..n {
                self.lanes
                    .push(&mut self.ring, self.cfg, self.obj, self.seq, t0)?;
                self.seq += 1;
            }
            unsubmitted = true;
        }
    }

    /// Submits, waits for a result, and takes every result reaped,
    /// freeing their lanes.
    fn reap(&mut self, rec: &mut Recorder) -> iofd::Result<()> {
        self.ring.submit_and_wait(1)?;
        let now = Instant::now();
        while let Some(c) = self.ring.next_completion() {
            if c.tag == RELEASE {
                if let Some(t) = &mut self.release
                    && let Some(r) = self.ring.take(t)
                {
                    r?;
                    self.release = None;
                    self.released = true;
                }
                continue;
            }
            if let Some((t0, ok)) = self.lanes.take(&mut self.ring, c.tag) {
                rec.complete_at(t0, now, ok);
            }
        }
        Ok(())
    }
}

/// The ring, reaped by the submitting thread, each lane refilled as its
/// result comes (see the module's notes).
pub fn ring_inline(cfg: &Config, obj: &Objects, done: &AtomicU64) -> iofd::Result<Outcome> {
    let _pin = Pinned::this_thread(&cfg.cpus, Role::Submitter)?;
    let ring = build_ring(cfg)?;
    let start = Instant::now();
    let mut rec = Recorder::for_run(cfg, start);
    // The pacer's clock starts after the run's, so the run covers it.
    let mut l = Feed {
        cfg,
        obj,
        ring,
        lanes: Lanes::new(cfg.depth),
        seq: 0,
        limit: Limit::new(cfg, start),
        pacer: Pacer::new(cfg)?,
        release: None,
        released: false,
    };
    let mut queue = Sampler {
        samples: 0,
        min: usize::MAX,
        sum: 0,
    };
    let mut filled = false;
    loop {
        let ended = l.limit.over(l.seq);
        if !ended {
            l.refill()?;
        }
        let left = !ended && l.limit.remaining(l.seq) > 0;
        if l.lanes.idle() && !left {
            break;
        }
        filled |= l.lanes.free() < cfg.batch;
        // Not in the warm-up, which counts in no figure.
        if filled && left && rec.measuring() {
            // The ring's own count, less the release timer.
            queue.sample(l.ring.in_flight() - usize::from(l.release.is_some()));
        }
        l.reap(&mut rec)?;
        done.store(rec.ops(), Ordering::Relaxed);
    }
    let elapsed = start.elapsed();
    let mut outcome = rec.outcome(elapsed, l.ring.enters());
    outcome.queue = queue.depth();
    Ok(outcome)
}
