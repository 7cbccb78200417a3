//! SQPOLL against plain submission, NOP batches of 1, 32 and 128, in one
//! run: blocks of rounds of each side in turn, eleven times, so that the
//! sides share the machine's weather (see `loop_ab`).
//!
//! - `plain`: push a batch, `submit_and_wait(n)` (one enter that submits
//!   and, the NOPs having completed inline, returns), take the results.
//! - `sqpoll_wait`: the same on an SQPOLL ring (idle 10 ms): the push
//!   publishes the SQEs, the submit makes no syscall while the poller is
//!   awake, and the wait enters the kernel to sleep until the poller has
//!   posted the batch's completions.
//! - `sqpoll_spin`: an SQPOLL ring whose loop never sleeps: it reaps in a
//!   loop until the batch's completions are in, with no syscall at all.
//! - `sqpoll_spin_pinned`: the same with the poller pinned to one CPU
//!   (`sqpoll_cpu`) and the benchmark thread to another.
//!
//! Prints per batch the median ns per NOP of each side, its ratio to
//! `plain` (median, lowest, highest of the eleven pairs), and the
//! `io_uring_enter` calls per NOP.
//!
//! Run: `cargo bench --bench sqpoll`.

use std::time::{Duration, Instant};

use iofd::ring::Ring;
use iofd::ring::Token;
use iofd::ring::ops::Nop;

/// NOPs per block of rounds.
const BLOCK_OPS: usize = 1 << 18;
/// Rounds of blocks.
const ROUNDS: usize = 11;
/// The pollers' idle time. Every side has its own ring, and so every
/// SQPOLL side its own poller: after each block the run sleeps
/// [`SETTLE`], so that the block's poller has gone to sleep before the
/// next side runs, instead of spinning beside it.
const IDLE: Duration = Duration::from_millis(10);
/// The pause after each block: twice the idle time.
const SETTLE: Duration = Duration::from_millis(20);

/// How a side waits for its batch.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// In the kernel, with `submit_and_wait`.
    Sleep,
    /// Reaping in a loop.
    Spin,
}

/// One side: a ring and how it waits.
struct Side {
    name: &'static str,
    ring: Ring,
    wait: Wait,
    tokens: Vec<Token<Nop>>,
    ns: Vec<f64>,
    enters: u64,
    ops: u64,
}

impl Side {
    fn new(name: &'static str, ring: Ring, wait: Wait) -> Side {
        Side {
            name,
            ring,
            wait,
            tokens: Vec::with_capacity(128),
            ns: Vec::new(),
            enters: 0,
            ops: 0,
        }
    }

    /// One batch of `n` NOPs, pushed, submitted and taken.
    fn round(&mut self, n: usize) {
        for _ in 0..n {
            self.tokens.push(self.ring.push(Nop::new()).expect("push"));
        }
        match self.wait {
            Wait::Sleep => {
                self.ring.submit_and_wait(n).expect("submit_and_wait");
            }
            Wait::Spin => {
                self.ring.submit().expect("submit");
                let target = self.ring.completions() + n as u64;
                while self.ring.completions() < target {
                    self.ring.reap().expect("reap");
                    std::hint::spin_loop();
                }
            }
        }
        for t in self.tokens.drain(..) {
            self.ring.wait(t).expect("nop");
        }
    }

    /// A block of rounds, in ns per NOP.
    fn block(&mut self, n: usize, record: bool) -> f64 {
        let rounds = BLOCK_OPS / n;
        let enters = self.ring.enters();
        let start = Instant::now();
        for _ in 0..rounds {
            self.round(n);
        }
        let ns = start.elapsed().as_nanos() as f64 / (rounds * n) as f64;
        std::thread::sleep(SETTLE);
        if record {
            self.ns.push(ns);
            self.enters += self.ring.enters() - enters;
            self.ops += (rounds * n) as u64;
        }
        ns
    }
}

/// The median of `v`.
fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Pins the calling thread to `cpu`.
fn pin_to(cpu: usize) {
    // SAFETY: a zeroed `cpu_set_t` is an empty set; `CPU_SET` writes
    // inside it; `sched_setaffinity` reads the set for the call only.
    let r = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set)
    };
    assert_eq!(r, 0, "sched_setaffinity to CPU {cpu}");
}

fn main() {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    for n in [1usize, 32, 128] {
        let sqpoll = || Ring::builder(256).sqpoll(IDLE);
        let mut sides = vec![
            Side::new("plain", Ring::new(256).expect("ring"), Wait::Sleep),
            Side::new(
                "sqpoll_wait",
                sqpoll().build().expect("sqpoll"),
                Wait::Sleep,
            ),
            Side::new("sqpoll_spin", sqpoll().build().expect("sqpoll"), Wait::Spin),
        ];
        if cpus >= 2 {
            let pinned = sqpoll().sqpoll_cpu(1).build().expect("pinned sqpoll");
            sides.push(Side::new("sqpoll_spin_pinned", pinned, Wait::Spin));
        }
        // The pinned side's thread runs on CPU 0, the others anywhere:
        // each block sets its own affinity.
        let all: Vec<usize> = (0..cpus).collect();
        let set_affinity = |pinned: bool| {
            if pinned {
                pin_to(0);
            } else {
                // SAFETY: as in `pin_to`, with every CPU in the set.
                let r = unsafe {
                    let mut set: libc::cpu_set_t = std::mem::zeroed();
                    for &c in &all {
                        libc::CPU_SET(c, &mut set);
                    }
                    libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set)
                };
                assert_eq!(r, 0, "sched_setaffinity to all CPUs");
            }
        };
        for side in &mut sides {
            set_affinity(side.name.ends_with("pinned"));
            side.block(n, false);
        }
        let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); sides.len()];
        for _ in 0..ROUNDS {
            let mut plain = 0.0;
            for (i, side) in sides.iter_mut().enumerate() {
                set_affinity(side.name.ends_with("pinned"));
                let ns = side.block(n, true);
                if i == 0 {
                    plain = ns;
                }
                ratios[i].push(ns / plain);
            }
        }
        set_affinity(false);
        for (side, ratio) in sides.iter_mut().zip(&mut ratios) {
            let (lo, hi) = ratio
                .iter()
                .fold((f64::MAX, 0f64), |(lo, hi), &x| (lo.min(x), hi.max(x)));
            println!(
                "sqpoll/b{n}/{}: {:.1} ns/op, /plain median {:.3} (min {lo:.3}, max {hi:.3}), {:.3} enters/op",
                side.name,
                median(&mut side.ns),
                median(ratio),
                side.enters as f64 / side.ops as f64,
            );
        }
    }
}
