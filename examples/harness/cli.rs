//! Options: parsed by clap, then checked against each other.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

/// What each operation does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Workload {
    /// IORING_OP_NOP (baseline: getppid, the cheapest syscall).
    Nop,
    /// Alternately signal an eventfd and read its counter (baseline: write
    /// and read syscalls on the same EventFd).
    Eventfd,
    /// Arm a ring timeout and wait for it to fire (baseline: arm a TimerFd,
    /// ppoll it, read it).
    Timer,
    /// Alternately write and read 4 KiB at rotating offsets of a memfd
    /// (baseline: pwrite and pread).
    Memfd,
    /// All of the above in turn.
    Mix,
    /// Messages of --size bytes over --connections TCP connections to an
    /// echo server (--target, or the example echo server started in this
    /// process), one request in flight per connection: closed loop, or
    /// open loop at --rate requests/s (no baseline).
    #[serde(rename = "tcp-echo")]
    TcpEcho,
}

/// Who reaps the ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Reaper {
    /// The submitting thread itself, keeping --depth operations in flight:
    /// each is refilled as its result comes, a --batch at a time.
    Inline,
    /// A second thread, woken by an eventfd registered with the ring, reaps
    /// while the first keeps the ring fed: how a ring joins an existing
    /// event loop. Not with --single-issuer or --defer-taskrun (two
    /// threads enter the ring).
    Thread,
}

/// A benchmark harness built on iofd: drives io_uring operations through
/// iofd's ring driver, paced by completion timers, and reports throughput,
/// latency percentiles and syscalls per operation, beside the same work
/// done with one syscall per operation (--baseline).
#[derive(Clone, Debug, Parser)]
#[command(name = "harness", version, after_help = AFTER_HELP)]
pub struct Cli {
    /// The operation to run.
    #[arg(short, long, value_enum, default_value_t = Workload::Nop)]
    pub workload: Workload,

    /// Queue depth: operations in flight at once.
    #[arg(short, long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub depth: u32,

    /// Operations pushed per io_uring_enter (at most --depth).
    #[arg(short, long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub batch: u32,

    /// Stop after this many operations (requests, for tcp-echo) instead of
    /// --duration.
    #[arg(short = 'n', long, conflicts_with = "duration", value_parser = clap::value_parser!(u64).range(1..=1_000_000_000_000))]
    pub ops: Option<u64>,

    /// Run for this many seconds (default 2; fractions allowed).
    #[arg(short = 't', long, value_parser = parse_seconds, allow_hyphen_values = true)]
    pub duration: Option<Duration>,

    /// Pace submissions to this many operations per second with ring
    /// timers (default: as fast as possible).
    #[arg(short, long, value_parser = clap::value_parser!(u64).range(1..=1_000_000_000))]
    pub rate: Option<u64>,

    /// Microseconds each timer-workload timeout waits before firing.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=1_000_000))]
    pub timer_us: u64,

    /// Who reaps the ring.
    #[arg(long, value_enum, default_value_t = Reaper::Inline)]
    pub reaper: Reaper,

    /// Submission-queue entries (a power of two is used; default: enough
    /// for --depth and --batch, or one per tcp-echo connection up to 4096;
    /// at least 8). The ring holds twice as many operations in flight.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=32_768))]
    pub entries: Option<u32>,

    /// IORING_SETUP_SINGLE_ISSUER.
    #[arg(long)]
    pub single_issuer: bool,

    /// IORING_SETUP_DEFER_TASKRUN (implies --single-issuer).
    #[arg(long)]
    pub defer_taskrun: bool,

    /// IORING_SETUP_COOP_TASKRUN.
    #[arg(long)]
    pub coop_taskrun: bool,

    /// Register the ring's descriptor (IORING_REGISTER_RING_FDS).
    #[arg(long)]
    pub register_ring_fd: bool,

    /// IORING_SETUP_SQPOLL: a kernel thread polls the submission queue,
    /// sleeping after this many milliseconds without work. Not with
    /// --defer-taskrun or --coop-taskrun (the kernel refuses them
    /// together).
    #[arg(long, value_name = "IDLE_MS", value_parser = clap::value_parser!(u32).range(1..))]
    pub sqpoll: Option<u32>,

    /// Also run the workload with one syscall per operation through the
    /// handle methods, and report the ratio.
    #[arg(long)]
    pub baseline: bool,

    /// Print the report as JSON (no progress line, no table).
    #[arg(long)]
    pub json: bool,

    /// tcp-echo: TCP connections to open, each with one request in flight
    /// (default 64).
    #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub connections: Option<u32>,

    /// tcp-echo: bytes per message (default 64, at most 1 MiB).
    #[arg(short, long, value_name = "BYTES", value_parser = clap::value_parser!(u32).range(1..=MAX_MESSAGE as i64))]
    pub size: Option<u32>,

    /// tcp-echo: the echo server to drive, IP:PORT (default: the example
    /// echo server, started in this process on 127.0.0.1 on a thread of
    /// its own).
    #[arg(long, value_name = "ADDR", value_parser = parse_target)]
    pub target: Option<SocketAddr>,

    /// Write an SVG picture of the run: latency by percentile (0 to
    /// 99.999%, a log "nines" axis) and ops/s in each 100 ms interval,
    /// every path on both.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,

    /// Save the run as JSON, as NAME.json in --save-dir: the report, the
    /// whole latency histograms, the CPU model, the kernel, the iofd
    /// version and the command line.
    #[arg(long, value_name = "NAME", value_parser = parse_name)]
    pub save: Option<String>,

    /// Where --save writes and --compare reads saved runs.
    #[arg(long, value_name = "DIR", default_value = "target/harness-runs")]
    pub save_dir: PathBuf,

    /// Print the run beside saved run NAME (of the same workload): each
    /// figure, the ratio, and whether the difference is beyond the
    /// run-to-run spread (known when either run used --runs).
    #[arg(long, value_name = "NAME", value_parser = parse_name)]
    pub compare: Option<String>,

    /// Repeat the workload K times: report each path's median run and the
    /// spread (min, max) of its figures.
    #[arg(long, value_name = "K", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub runs: u32,

    /// Write an HdrHistogram interval log (a latency histogram per path
    /// and 100 ms interval, tagged with the path) for the HdrHistogram
    /// tools.
    #[arg(long, value_name = "FILE")]
    pub hlog: Option<PathBuf>,

    /// Run this many seconds first without measuring (fractions allowed):
    /// operations completed then count in no figure. --duration follows
    /// the warm-up; --ops counts the operations pushed after it.
    #[arg(long, value_name = "SECONDS", value_parser = parse_warmup, allow_hyphen_values = true)]
    pub warmup: Option<Duration>,

    /// Pin the submitting thread to the first CPU of this list and the
    /// --reaper thread's reaping thread to the second (to the first when
    /// the list has one): numbers and ranges, like 0, 0,1 or 0-1.
    #[arg(long, value_name = "LIST", value_parser = crate::pin::parse_cpu_list)]
    pub cpu: Option<crate::pin::CpuList>,
}

/// What `--help` says after the options.
const AFTER_HELP: &str = "\
tcp-echo: each connection sends a message and waits for its whole echo (every byte is \
checked) before the next. Unpaced, that is a closed loop and latency runs from each \
request's actual send time. With --rate R it is an open loop: request k is due at \
(k + 1) / R s on connection k mod N, paced by ring timeouts, and latency runs from its \
scheduled send time (corrected for coordinated omission, as wrk2 does); with --duration D \
the run holds the R x D requests due in it and gives up on any not sent by 2 x D. \
--depth, --batch and --timer-us do not apply; --baseline and --reaper thread are refused.

Other workloads: with --rate, latency runs from each operation's scheduled start (its \
batch's release time), corrected for coordinated omission; the report gives the \
uncorrected figures (from each actual push) beside it.

Exit status: 0 after a run; 2 for bad options, a --target nothing listens on (connection \
refused), too low a descriptor limit (RLIMIT_NOFILE) for --connections, a --plot, --hlog \
or --save file that cannot be written, or a --compare run that is missing or of another \
workload (all checked before the run, so nothing is written); 1 when a run fails (an echo \
that never comes, a connection the server closes).";

/// The largest --size: 1 MiB.
pub const MAX_MESSAGE: usize = 1 << 20;
/// The most bytes of messages the connections may hold together.
const MAX_HELD: usize = 1 << 30;

/// An address to connect to: `IP:PORT`, not port 0.
fn parse_target(s: &str) -> Result<SocketAddr, String> {
    let addr: SocketAddr = s
        .parse()
        .map_err(|_| format!("`{s}` is not an address: want IP:PORT, like 127.0.0.1:7878"))?;
    if addr.port() == 0 {
        return Err(format!(
            "`{s}` has port 0, which nothing can be connected to"
        ));
    }
    Ok(addr)
}

/// A saved run's name: letters, digits, `.`, `_` and `-`, not starting
/// with `.`.
fn parse_name(s: &str) -> Result<String, String> {
    let fine = !s.is_empty()
        && s.len() <= 100
        && !s.starts_with('.')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if fine {
        Ok(s.to_string())
    } else {
        Err(format!(
            "`{s}` is not a run name: use letters, digits, '.', '_' and '-' (not a leading '.')"
        ))
    }
}

/// Seconds as a positive `Duration` of at most a day.
fn parse_seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    // NaN is refused here too.
    if secs.is_nan() || secs <= 0.0 {
        return Err("the duration must be more than 0 seconds".into());
    }
    if secs > 86_400.0 {
        return Err("the duration must be at most 86400 seconds (a day)".into());
    }
    Ok(Duration::from_secs_f64(secs))
}

/// A warm-up: from 0 to 86400 seconds.
fn parse_warmup(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if secs.is_nan() || secs < 0.0 {
        return Err("the warm-up must be 0 seconds or more".into());
    }
    if secs > 86_400.0 {
        return Err("the warm-up must be at most 86400 seconds (a day)".into());
    }
    Ok(Duration::from_secs_f64(secs))
}

/// When a run stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// After this many operations.
    Ops(u64),
    /// After this long.
    Time(Duration),
}

/// The checked options of the tcp-echo workload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tcp {
    /// The server to drive, or `None` for the in-process echo server.
    pub target: Option<SocketAddr>,
    pub connections: usize,
    /// Bytes per message.
    pub size: usize,
}

/// What the run keeps beyond its report: `--plot`, `--hlog`, `--save`,
/// `--compare`, `--runs`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Files {
    pub plot: Option<PathBuf>,
    pub hlog: Option<PathBuf>,
    pub save: Option<String>,
    pub save_dir: PathBuf,
    pub compare: Option<String>,
    /// Repetitions of the workload (at least 1).
    pub runs: usize,
}

/// The checked options.
#[derive(Clone, Debug)]
pub struct Config {
    pub workload: Workload,
    pub depth: usize,
    pub batch: usize,
    pub stop: Stop,
    pub rate: Option<u64>,
    pub timer: Duration,
    pub reaper: Reaper,
    pub entries: u32,
    pub single_issuer: bool,
    pub defer_taskrun: bool,
    pub coop_taskrun: bool,
    pub register_ring_fd: bool,
    /// The SQPOLL thread's idle time, when one polls the ring.
    pub sqpoll: Option<Duration>,
    pub baseline: bool,
    pub json: bool,
    /// The tcp-echo workload's options (for it alone).
    pub tcp: Option<Tcp>,
    /// Files written and read, and repetitions.
    pub files: Files,
    /// Time run before measuring (zero: none).
    pub warmup: Duration,
    /// `--cpu`: the submitting thread's CPU, then the reaping thread's
    /// (empty: not pinned).
    pub cpus: Vec<usize>,
    /// A test hook, set only by tests: sleep this long in the submitting
    /// loop once, just before pushing the operation numbered here (from
    /// 0), to stall the ring on purpose.
    pub stall: Option<(u64, Duration)>,
}

impl Cli {
    /// When the run stops: --ops, --duration, or after 2 seconds.
    fn stop(&self) -> Stop {
        match (self.ops, self.duration) {
            (Some(n), _) => Stop::Ops(n),
            (None, Some(d)) => Stop::Time(d),
            (None, None) => Stop::Time(Duration::from_secs(2)),
        }
    }

    /// The SQPOLL idle time, checked against the taskrun options.
    fn sqpoll(&self) -> Result<Option<Duration>, String> {
        let Some(ms) = self.sqpoll else {
            return Ok(None);
        };
        if self.defer_taskrun || self.coop_taskrun {
            return Err(
                "--sqpoll cannot be combined with --defer-taskrun or --coop-taskrun: the kernel refuses SQPOLL with them"
                    .into(),
            );
        }
        Ok(Some(Duration::from_millis(u64::from(ms))))
    }

    /// The file options, checked for sense (whether the files can be
    /// written is checked before the run, in `main`).
    fn files(&self) -> Result<Files, String> {
        if let Some(plot) = &self.plot
            && plot.extension().is_none_or(|e| e != "svg")
        {
            return Err(format!(
                "--plot {} writes SVG: give a file name ending in .svg",
                plot.display()
            ));
        }
        if self.plot.is_some() && self.plot == self.hlog {
            return Err("--plot and --hlog name the same file".into());
        }
        Ok(Files {
            plot: self.plot.clone(),
            hlog: self.hlog.clone(),
            save: self.save.clone(),
            save_dir: self.save_dir.clone(),
            compare: self.compare.clone(),
            runs: self.runs as usize,
        })
    }

    /// The --cpu list, checked against the CPUs the harness may run on.
    fn cpus(&self) -> Result<Vec<usize>, String> {
        let cpus = self.cpu.clone().map(|l| l.0).unwrap_or_default();
        crate::pin::check_cpus(&cpus)?;
        Ok(cpus)
    }

    /// Checks the options against each other.
    pub fn check(self) -> Result<Config, String> {
        let sqpoll = self.sqpoll()?;
        let files = self.files()?;
        if self.workload == Workload::TcpEcho {
            return self.check_tcp();
        }
        if self.connections.is_some() || self.size.is_some() || self.target.is_some() {
            return Err(
                "--connections, --size and --target are options of --workload tcp-echo".into(),
            );
        }
        let depth = self.depth as usize;
        let batch = self.batch as usize;
        if batch > depth {
            return Err(format!(
                "--batch {batch} is larger than --depth {depth}: a batch cannot hold more than the queue"
            ));
        }
        let entries = self
            .entries
            .unwrap_or_else(|| self.batch.max(self.depth.div_ceil(2)).max(8))
            .next_power_of_two();
        // The ring's completion table holds twice the submission entries.
        let capacity = 2 * entries as usize;
        if depth > capacity {
            return Err(format!(
                "--depth {depth} is larger than the ring (it holds {capacity} operations with {entries} entries); raise --entries to at least {} or lower --depth",
                depth.div_ceil(2).next_power_of_two()
            ));
        }
        if self.reaper == Reaper::Thread && (self.single_issuer || self.defer_taskrun) {
            return Err(
                "--reaper thread enters the ring from two threads: it cannot be combined with --single-issuer or --defer-taskrun"
                    .into(),
            );
        }
        let stop = self.stop();
        Ok(Config {
            workload: self.workload,
            depth,
            batch,
            stop,
            rate: self.rate,
            timer: Duration::from_micros(self.timer_us),
            reaper: self.reaper,
            entries,
            single_issuer: self.single_issuer || self.defer_taskrun,
            defer_taskrun: self.defer_taskrun,
            coop_taskrun: self.coop_taskrun,
            register_ring_fd: self.register_ring_fd,
            sqpoll,
            baseline: self.baseline,
            json: self.json,
            tcp: None,
            files,
            warmup: self.warmup.unwrap_or_default(),
            cpus: self.cpus()?,
            stall: None,
        })
    }

    /// Checks the options of the tcp-echo workload.
    fn check_tcp(self) -> Result<Config, String> {
        let sqpoll = self.sqpoll()?;
        let files = self.files()?;
        if self.baseline {
            return Err("--baseline does not apply to tcp-echo: there is no one-syscall-per-operation run of it to compare with".into());
        }
        if self.reaper == Reaper::Thread {
            return Err(
                "--reaper thread cannot run tcp-echo: its event loop runs on one thread".into(),
            );
        }
        if self.warmup.is_some() && self.ops.is_some() {
            return Err(
                "--warmup with tcp-echo needs --duration: the warm-up is time, and --ops would count requests sent in it"
                    .into(),
            );
        }
        let connections = self.connections.unwrap_or(64) as usize;
        let size = self.size.unwrap_or(64) as usize;
        if connections * size > MAX_HELD {
            return Err(format!(
                "--connections {connections} with --size {size} would hold {} MiB of messages (each connection keeps its own): at most {} MiB",
                (connections * size) >> 20,
                MAX_HELD >> 20
            ));
        }
        // Room for a send per connection, and each one's echo, per enter.
        let entries = self
            .entries
            .unwrap_or_else(|| (connections as u32).clamp(8, 4096))
            .next_power_of_two();
        let stop = self.stop();
        Ok(Config {
            workload: self.workload,
            depth: connections,
            batch: connections,
            stop,
            rate: self.rate,
            timer: Duration::ZERO,
            reaper: self.reaper,
            entries,
            single_issuer: self.single_issuer || self.defer_taskrun,
            defer_taskrun: self.defer_taskrun,
            coop_taskrun: self.coop_taskrun,
            register_ring_fd: self.register_ring_fd,
            sqpoll,
            baseline: false,
            json: self.json,
            warmup: self.warmup.unwrap_or_default(),
            cpus: self.cpus()?,
            stall: None,
            tcp: Some(Tcp {
                target: self.target,
                connections,
                size,
            }),
            files,
        })
    }
}
