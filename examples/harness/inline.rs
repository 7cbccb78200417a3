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
//! Latency runs from the moment the operation's batch started being
//! pushed to the return of the wait that reaped its result: both
//! timestamps are shared by the batch, and by the completions of one
//! wait, which saves two clock reads per operation and never shortens
//! an operation's time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use iofd::Clock;
use iofd::ring::ops::Timeout;
use iofd::ring::{Ring, Token};
use serde::Serialize;

use crate::cli::Config;
use crate::engine::{
    Buf, Objects, Outcome, Owned, Pacer, Recorder, buffers, build_ring, over, remaining,
};

/// The tag of a paced run's release timer (lanes are tagged from 0).
const RELEASE: u64 = u64::MAX;

/// Operations in flight, sampled before each wait once the queue was
/// first filled and while operations were left to push.
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

/// One lane's operation in flight, and when its batch started.
type Lane = Option<(Owned, Instant)>;

/// The ring and its lanes.
struct Lanes<'a> {
    cfg: &'a Config,
    obj: &'a Objects,
    ring: Ring,
    bufs: Vec<Buf>,
    lanes: Vec<Lane>,
    free: Vec<usize>,
    /// Operations pushed.
    seq: u64,
    pacer: Pacer,
    /// A paced run's timer for the next batch, and whether it has fired.
    release: Option<Token<Timeout>>,
    released: bool,
}

impl Lanes<'_> {
    /// Pushes a batch into the free lanes while a whole one fits (or what
    /// is left of the run), submitting each before the next; the last
    /// waits to be submitted with the wait. A paced run first arms the
    /// batch's release timer and pushes it once that has fired.
    fn refill(&mut self) -> iofd::Result<()> {
        let mut unsubmitted = false;
        loop {
            let n = (self.cfg.batch as u64).min(remaining(self.cfg.stop, self.seq)) as usize;
            if n == 0 || self.free.len() < n {
                return Ok(());
            }
            if self.cfg.rate.is_some() && !self.released {
                if self.release.is_none()
                    && let Some(at) = self.pacer.release(n as u64)
                {
                    let timer = Timeout::at(Clock::Monotonic, at);
                    self.release = Some(self.ring.push_tagged(timer, RELEASE)?);
                }
                return Ok(());
            }
            self.released = false;
            if unsubmitted {
                self.ring.submit()?;
            }
            let t0 = Instant::now();
            for _ in 0..n {
                let lane = self.free.pop().expect("a free lane");
                let tag = Some(lane as u64);
                let op = Owned::push(
                    &mut self.ring,
                    self.cfg,
                    self.obj,
                    self.seq,
                    tag,
                    &mut self.bufs,
                )?;
                self.lanes[lane] = Some((op, t0));
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
            let lane = c.tag as usize;
            if let Some((op, t0)) = &mut self.lanes[lane]
                && let Some(ok) = op.take(&mut self.ring, &mut self.bufs)
            {
                rec.record(now - *t0, ok);
                self.lanes[lane] = None;
                self.free.push(lane);
            }
        }
        Ok(())
    }
}

/// The ring, reaped by the submitting thread, each lane refilled as its
/// result comes (see the module's notes).
pub fn ring_inline(cfg: &Config, obj: &Objects, done: &AtomicU64) -> iofd::Result<Outcome> {
    let ring = build_ring(cfg)?;
    let start = Instant::now();
    // The pacer's clock starts after the run's, so the run covers it.
    let mut l = Lanes {
        cfg,
        obj,
        ring,
        bufs: buffers(cfg.depth),
        lanes: (0..cfg.depth).map(|_| None).collect(),
        free: (0..cfg.depth).rev().collect(),
        seq: 0,
        pacer: Pacer::new(cfg)?,
        release: None,
        released: false,
    };
    let mut rec = Recorder::new();
    let mut queue = Sampler {
        samples: 0,
        min: usize::MAX,
        sum: 0,
    };
    let mut filled = false;
    loop {
        let ended = over(cfg.stop, l.seq, start);
        if !ended {
            l.refill()?;
        }
        let left = remaining(cfg.stop, l.seq) > 0 && !ended;
        if l.free.len() == cfg.depth && !left {
            break;
        }
        filled |= l.free.len() < cfg.batch;
        if filled && left {
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
