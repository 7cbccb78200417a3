//! The setup flags beyond the defaults — a kernel thread polling the
//! submission queue (`SQPOLL`), a ring built disabled (`R_DISABLED`),
//! submission past failing entries (`SUBMIT_ALL`), clamped sizes
//! (`CLAMP`) — checked against each other before the ring is made, and
//! named when the kernel refuses one.

use std::time::Duration;

use io_uring::IoUring;

use super::builder::{RingBuilder, io_error};
use super::driver::Ring;
use crate::error::{Error, Result};
use crate::sys::Errno;

/// The kernel's largest submission queue (`IORING_MAX_ENTRIES`).
const MAX_SQ_ENTRIES: u32 = 32_768;
/// The kernel's largest completion queue (`IORING_MAX_CQ_ENTRIES`).
const MAX_CQ_ENTRIES: u32 = 2 * MAX_SQ_ENTRIES;

/// The error of [`Ring::enable`] on a ring that takes submissions.
const ENABLED_ALREADY: &str =
    "the ring is enabled already (built without r_disabled, or enable called before)";

/// One setup flag the builder may ask for beyond the sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Flag {
    /// `IORING_SETUP_CLAMP`.
    Clamp,
    /// `IORING_SETUP_SQPOLL`, with its idle time in milliseconds.
    SqPoll(u32),
    /// `IORING_SETUP_SQ_AFF`, with the CPU.
    SqAff(u32),
    /// `IORING_SETUP_R_DISABLED`.
    RDisabled,
    /// `IORING_SETUP_SUBMIT_ALL`.
    SubmitAll,
    /// `IORING_SETUP_SINGLE_ISSUER`.
    SingleIssuer,
    /// `IORING_SETUP_DEFER_TASKRUN` (with `TASKRUN_FLAG`).
    DeferTaskrun,
    /// `IORING_SETUP_COOP_TASKRUN` (with `TASKRUN_FLAG`).
    CoopTaskrun,
}

impl Flag {
    /// The flag's C name, which an [`Error::Unsupported`] carries.
    pub(super) fn name(self) -> &'static str {
        match self {
            Flag::Clamp => "IORING_SETUP_CLAMP",
            Flag::SqPoll(_) => "IORING_SETUP_SQPOLL",
            Flag::SqAff(_) => "IORING_SETUP_SQ_AFF",
            Flag::RDisabled => "IORING_SETUP_R_DISABLED",
            Flag::SubmitAll => "IORING_SETUP_SUBMIT_ALL",
            Flag::SingleIssuer => "IORING_SETUP_SINGLE_ISSUER",
            Flag::DeferTaskrun => "IORING_SETUP_DEFER_TASKRUN",
            Flag::CoopTaskrun => "IORING_SETUP_COOP_TASKRUN",
        }
    }

    /// Sets the flag (and what it needs with it) on an io-uring builder.
    fn apply(self, b: &mut io_uring::Builder) {
        match self {
            Flag::Clamp => {
                b.setup_clamp();
            }
            Flag::SqPoll(idle_ms) => {
                b.setup_sqpoll(idle_ms);
            }
            Flag::SqAff(cpu) => {
                b.setup_sqpoll_cpu(cpu);
            }
            Flag::RDisabled => {
                b.setup_r_disabled();
            }
            Flag::SubmitAll => {
                b.setup_submit_all();
            }
            Flag::SingleIssuer => {
                b.setup_single_issuer();
            }
            Flag::DeferTaskrun => {
                b.setup_defer_taskrun();
                b.setup_taskrun_flag();
            }
            Flag::CoopTaskrun => {
                b.setup_coop_taskrun();
                b.setup_taskrun_flag();
            }
        }
    }
}

/// What the kernel refused in a setup that failed with `EINVAL`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Refused {
    /// The sizes alone (with `CLAMP`, when asked for).
    Sizes,
    /// This flag, added to the sizes and the flags before it.
    Flag(Flag),
    /// Nothing on its own: every prefix of the flags was accepted.
    Nothing,
}

/// Finds what the kernel refuses, given `builds`, which says whether a
/// ring with the sizes and a set of flags can be set up: the sizes first
/// (with `CLAMP`, which changes what sizes are valid), then each flag
/// added in turn to those before it, so that a flag that needs another
/// (`SQ_AFF` needs `SQPOLL`) is tried with it.
pub(super) fn refused(flags: &[Flag], mut builds: impl FnMut(&[Flag]) -> bool) -> Refused {
    let base = usize::from(flags.first() == Some(&Flag::Clamp));
    if !builds(&flags[..base]) {
        return Refused::Sizes;
    }
    for i in base..flags.len() {
        if !builds(&flags[..=i]) {
            return Refused::Flag(flags[i]);
        }
    }
    Refused::Nothing
}

impl RingBuilder {
    /// `IORING_SETUP_SQPOLL`: a kernel thread polls the submission queue
    /// and submits what it finds, so that a push needs no syscall to reach
    /// the kernel. After `idle` without work the thread sleeps (the kernel
    /// then sets `IORING_SQ_NEED_WAKEUP`), and the next
    /// [`submit`](Ring::submit) wakes it (`IORING_ENTER_SQ_WAKEUP`). The
    /// idle time is rounded up to whole milliseconds and must be at least
    /// 1 ms and fit in 32 bits of them.
    ///
    /// On such a ring [`submit`](Ring::submit) makes no syscall while the
    /// poller is awake, and waits ([`submit_and_wait`](Ring::submit_and_wait),
    /// [`wait`](Ring::wait)) enter the kernel only to sleep for
    /// completions: a loop that polls its completions with
    /// [`reap`](Ring::reap) instead of waiting runs without syscalls. It
    /// must still call `submit` after pushing: an awake poller takes SQEs
    /// as they are pushed, but only a submit (or a wait) wakes one that
    /// went to sleep.
    ///
    /// The kernel refuses it together with
    /// [`defer_taskrun`](RingBuilder::defer_taskrun) or
    /// [`coop_taskrun`](RingBuilder::coop_taskrun): the poller runs the
    /// completion work itself.
    ///
    /// # When SQPOLL pays
    ///
    /// The poller is a thread that spins on a CPU while it has work and
    /// for `idle` after: SQPOLL trades a CPU for what that spinning buys.
    /// It saves the `io_uring_enter` of each submission, but every SQE and
    /// CQE then crosses between CPUs, and a loop that waits for its
    /// completions still enters the kernel to sleep. Measured on 2 vCPUs
    /// (`BENCHMARKS.md`, "Setup options: SQPOLL"):
    ///
    /// - Work that completes inline (NOPs were measured) is slower through
    ///   the poller at every batch size, 1.4–2.7x even for a loop that
    ///   reaps without ever sleeping, 2.6–7.7x for one that waits.
    /// - A latency-bound loop at low concurrency (one TCP echo connection)
    ///   ran twice as fast with half the median latency: the spinning
    ///   poller kept a CPU from halting, and waking a halted vCPU is what
    ///   each request cost without it. The process used twice the CPU.
    /// - A busy server loop (64 connections) gained nothing, and paid a
    ///   third more CPU per request.
    ///
    /// So use it when a CPU is free to give to the poller (pin it there
    /// with [`sqpoll_cpu`](RingBuilder::sqpoll_cpu)) and latency matters
    /// more than CPU; on a machine whose CPUs the application already
    /// uses, the poller competes with it. Measure before keeping it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use iofd::ring::Ring;
    /// use iofd::ring::ops::Nop;
    ///
    /// let mut ring = Ring::builder(8).sqpoll(Duration::from_millis(50)).build()?;
    /// assert!(ring.is_sqpoll());
    /// let nop = ring.push(Nop::new())?;
    /// // Hands the queue to the poller: an enter only to wake it (a new
    /// // poller starts asleep).
    /// ring.submit()?;
    /// ring.wait(nop)?;
    /// # Ok::<(), iofd::Error>(())
    /// ```
    #[doc(alias = "IORING_SETUP_SQPOLL")]
    #[must_use]
    pub const fn sqpoll(mut self, idle: Duration) -> RingBuilder {
        self.sqpoll = Some(idle);
        self
    }

    /// `IORING_SETUP_SQ_AFF`: pins the [`sqpoll`](RingBuilder::sqpoll)
    /// thread to `cpu`, which must be online and one the building thread
    /// may run on.
    #[doc(alias = "IORING_SETUP_SQ_AFF")]
    #[must_use]
    pub const fn sqpoll_cpu(mut self, cpu: u32) -> RingBuilder {
        self.sqpoll_cpu = Some(cpu);
        self
    }

    /// `IORING_SETUP_R_DISABLED`: the ring is built disabled, so that
    /// resources can be registered before anything is submitted (with
    /// [`sqpoll`](RingBuilder::sqpoll), before the poller may run).
    /// Until [`Ring::enable`], a push fails with
    /// [`Error::RingDisabled`], queueing nothing, and so does a submit or
    /// a wait (the kernel answers `EBADFD`). With
    /// [`single_issuer`](RingBuilder::single_issuer), the kernel makes the
    /// thread that enables the ring its issuer: `enable` must be called
    /// on the thread that built it.
    #[doc(alias = "IORING_SETUP_R_DISABLED")]
    #[must_use]
    pub const fn r_disabled(mut self, on: bool) -> RingBuilder {
        self.r_disabled = on;
        self
    }

    /// `IORING_SETUP_SUBMIT_ALL`: an SQE that fails before it is issued
    /// (a bad field, an unknown personality) does not stop the submission
    /// of the SQEs behind it. Without it, the kernel stops at such an SQE
    /// (it completes with its error) and [`submit`](Ring::submit) counts
    /// only the SQEs up to it; the rest stay queued for the next enter.
    /// Either way the failing SQE's operation ends with its error.
    #[doc(alias = "IORING_SETUP_SUBMIT_ALL")]
    #[must_use]
    pub const fn submit_all(mut self, on: bool) -> RingBuilder {
        self.submit_all = on;
        self
    }

    /// `IORING_SETUP_CLAMP`: submission and completion queue sizes beyond
    /// the kernel's maximum (32768 and 65536 entries) are clamped to it
    /// instead of refused; [`Ring::sq_entries`] and [`Ring::cq_entries`]
    /// report what was set up.
    #[doc(alias = "IORING_SETUP_CLAMP")]
    #[must_use]
    pub const fn clamp(mut self, on: bool) -> RingBuilder {
        self.clamp = on;
        self
    }

    /// The SQPOLL idle time in whole milliseconds, checked.
    fn sqpoll_idle_ms(idle: Duration) -> Result<u32> {
        let ms = idle.as_nanos().div_ceil(1_000_000);
        if ms == 0 {
            return Err(Error::InvalidParam(
                "the SQPOLL idle time must be at least 1 ms",
            ));
        }
        u32::try_from(ms).map_err(|_| {
            Error::InvalidParam("the SQPOLL idle time must be at most 2^32 - 1 ms (about 49 days)")
        })
    }

    /// Refuses, before any syscall, the options that cannot go together.
    pub(super) fn check_setup(&self) -> Result<()> {
        let Some(idle) = self.sqpoll else {
            if self.sqpoll_cpu.is_some() {
                return Err(Error::InvalidParam(
                    "sqpoll_cpu pins the SQPOLL thread: it needs sqpoll",
                ));
            }
            return Ok(());
        };
        RingBuilder::sqpoll_idle_ms(idle)?;
        if self.defer_taskrun {
            return Err(Error::InvalidParam(
                "SQPOLL cannot be combined with DEFER_TASKRUN (the kernel refuses it: the poller runs the completion work)",
            ));
        }
        if self.coop_taskrun {
            return Err(Error::InvalidParam(
                "SQPOLL cannot be combined with COOP_TASKRUN (the kernel refuses it: the poller runs the completion work)",
            ));
        }
        Ok(())
    }

    /// The setup flags asked for, `CLAMP` first (see [`refused`]).
    /// Call after [`check_setup`](RingBuilder::check_setup).
    pub(super) fn flags(&self) -> Vec<Flag> {
        let mut flags = Vec::new();
        if self.clamp {
            flags.push(Flag::Clamp);
        }
        if let Some(idle) = self.sqpoll {
            flags.push(Flag::SqPoll(
                RingBuilder::sqpoll_idle_ms(idle).unwrap_or(u32::MAX),
            ));
            if let Some(cpu) = self.sqpoll_cpu {
                flags.push(Flag::SqAff(cpu));
            }
        }
        if self.r_disabled {
            flags.push(Flag::RDisabled);
        }
        if self.submit_all {
            flags.push(Flag::SubmitAll);
        }
        if self.single_issuer {
            flags.push(Flag::SingleIssuer);
        }
        if self.defer_taskrun {
            flags.push(Flag::DeferTaskrun);
        }
        if self.coop_taskrun {
            flags.push(Flag::CoopTaskrun);
        }
        flags
    }

    /// Sets the sizes and `flags` on an io-uring builder.
    pub(super) fn apply(&self, b: &mut io_uring::Builder, flags: &[Flag]) {
        if let Some(cq) = self.cq_entries {
            b.setup_cqsize(cq);
        }
        for flag in flags {
            flag.apply(b);
        }
    }

    /// Explains a failed setup. The kernel answers `EINVAL` both for
    /// sizes it refuses and for flags it does not know, so on `EINVAL`
    /// the setup is tried again with the sizes alone, then with each flag
    /// added in turn: the first one refused is what the kernel lacks (or,
    /// for `SQ_AFF`, a CPU it cannot pin to).
    #[cold]
    pub(super) fn setup_error(&self, e: &std::io::Error) -> Error {
        if Errno::from_io_error(e) != Some(Errno::EINVAL) {
            return io_error(e);
        }
        let entries = self.entries.max(2);
        let builds = |flags: &[Flag]| {
            let mut b = IoUring::builder();
            self.apply(&mut b, flags);
            b.build(entries).is_ok()
        };
        match refused(&self.flags(), builds) {
            Refused::Sizes
                if !self.clamp
                    && (entries > MAX_SQ_ENTRIES
                        || self.cq_entries.is_some_and(|cq| cq > MAX_CQ_ENTRIES)) =>
            {
                Error::InvalidParam(
                    "ring entries beyond the kernel's maximum (32768 submission, 65536 completion): set clamp to have them clamped",
                )
            }
            Refused::Sizes if self.cq_below_sq(entries) => Error::InvalidParam(
                "cq_entries must be at least the submission queue's size (the ring's entries, at least 2, rounded up to a power of two)",
            ),
            Refused::Flag(Flag::SqAff(_)) => Error::InvalidParam(
                "the SQPOLL CPU is not online, or not one this thread may run on",
            ),
            Refused::Flag(flag) => Error::Unsupported(flag.name()),
            Refused::Sizes | Refused::Nothing => io_error(e),
        }
    }
}

impl RingBuilder {
    /// Whether the completion queue asked for is smaller than the
    /// submission queue, which the kernel refuses once it has clamped (if
    /// asked to) and rounded both up to powers of two.
    fn cq_below_sq(&self, entries: u32) -> bool {
        let sized = |n: u32, max: u32| {
            let n = if self.clamp { n.min(max) } else { n };
            n.checked_next_power_of_two().unwrap_or(u32::MAX)
        };
        self.cq_entries
            .is_some_and(|cq| sized(cq, MAX_CQ_ENTRIES) < sized(entries, MAX_SQ_ENTRIES))
    }
}

impl Ring {
    /// `IORING_REGISTER_ENABLE_RINGS` — enables a ring built with
    /// [`r_disabled`](RingBuilder::r_disabled): from now on it takes
    /// submissions (and an SQPOLL thread starts polling).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParam`] when the ring is enabled already (built
    /// without `r_disabled`, or enabled before), or for a
    /// [`single_issuer`](RingBuilder::single_issuer) ring, on a thread
    /// other than the one that built it (the kernel would make the
    /// enabling thread the issuer).
    ///
    /// See [io_uring_register(2)](https://man7.org/linux/man-pages/man2/io_uring_register.2.html).
    #[doc(alias = "IORING_REGISTER_ENABLE_RINGS")]
    pub fn enable(&mut self) -> Result<()> {
        if !self.disabled {
            return Err(Error::InvalidParam(ENABLED_ALREADY));
        }
        self.check_issuer()?;
        match self.uring.submitter().register_enable_rings() {
            Ok(()) => {}
            // Enabled behind the driver's back (through `as_fd`).
            Err(e) if Errno::from_io_error(&e) == Some(Errno::EBADFD) => {
                self.set_enabled();
                return Err(Error::InvalidParam(ENABLED_ALREADY));
            }
            Err(e) => return Err(io_error(&e)),
        }
        self.set_enabled();
        Ok(())
    }

    /// Records that the ring takes submissions.
    fn set_enabled(&mut self) {
        self.disabled = false;
        self.queues.set_disabled(false);
    }

    /// Whether the ring takes submissions: `false` for one built with
    /// [`r_disabled`](RingBuilder::r_disabled) until
    /// [`enable`](Ring::enable).
    pub fn is_enabled(&self) -> bool {
        !self.disabled
    }

    /// Whether a kernel thread polls the submission queue
    /// ([`RingBuilder::sqpoll`]).
    pub fn is_sqpoll(&self) -> bool {
        self.sqpoll
    }
}

#[cfg(test)]
mod tests {
    use super::{Flag, Refused, refused};

    #[test]
    fn the_first_flag_refused_is_named() {
        let flags = [
            Flag::Clamp,
            Flag::SqPoll(10),
            Flag::SqAff(1),
            Flag::SubmitAll,
        ];
        // A kernel that knows everything but SUBMIT_ALL.
        let no_submit_all = |f: &[Flag]| !f.contains(&Flag::SubmitAll);
        assert_eq!(
            refused(&flags, no_submit_all),
            Refused::Flag(Flag::SubmitAll)
        );
        assert_eq!(Flag::SubmitAll.name(), "IORING_SETUP_SUBMIT_ALL");
        // SQ_AFF is tried with SQPOLL, never alone.
        let tried_alone =
            |f: &[Flag]| !f.contains(&Flag::SqAff(1)) || f.contains(&Flag::SqPoll(10));
        assert_eq!(refused(&flags, tried_alone), Refused::Nothing);
        // Sizes refused even with CLAMP.
        assert_eq!(refused(&flags, |_| false), Refused::Sizes);
        // Without CLAMP, the sizes are tried with no flag at all.
        let mut first = None;
        let _ = refused(&[Flag::RDisabled], |f| {
            first.get_or_insert(f.len());
            true
        });
        assert_eq!(first, Some(0));
    }
}
