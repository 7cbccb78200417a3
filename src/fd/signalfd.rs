//! `SignalFd`: signals read as records from a descriptor; `Signal`, a
//! signal number. `SignalInfo`, the record, lives in `signalfd/info.rs`.

use std::fmt;

use super::{Fd, SigSet, fdinfo_field, handle_impls};
use crate::error::{Error, Result};
use crate::sys::Errno;
use crate::sys::signal::{SignalFdFlags, signalfd4, signalfd4_update};

mod info;

pub use info::SignalInfo;
use info::records_as_bytes;

/// A Linux signal number, `1..=64`.
///
/// Construction rejects anything else, so a `Signal` can always be handed
/// to the kernel. The standard signals have constants (`Signal::HUP` ..
/// `Signal::SYS`); real-time signals are `Signal::new(34..=64)`.
///
/// # Examples
///
/// ```
/// use iofd::Signal;
///
/// assert_eq!(Signal::USR1.number(), 10);
/// assert_eq!(Signal::new(10), Some(Signal::USR1));
/// assert_eq!(Signal::new(0), None);
/// assert_eq!(Signal::new(65), None);
/// assert_eq!(Signal::TERM.to_string(), "SIGTERM");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Signal(i32);

macro_rules! signals {
    ($($name:ident = $n:literal, $c:literal;)*) => {
        impl Signal {
            $(
                #[doc = concat!("`", $c, "` (", stringify!($n), ").")]
                pub const $name: Signal = Signal($n);
            )*

            /// The C name (`"SIGUSR1"`), or `"SIGRTn"` style for real-time
            /// signals (`"SIGRT34"`).
            pub fn name(self) -> &'static str {
                match self.0 {
                    $($n => $c,)*
                    n => RT_NAMES[(n - 32) as usize],
                }
            }
        }
    };
}

signals! {
    HUP = 1, "SIGHUP";
    INT = 2, "SIGINT";
    QUIT = 3, "SIGQUIT";
    ILL = 4, "SIGILL";
    TRAP = 5, "SIGTRAP";
    ABRT = 6, "SIGABRT";
    BUS = 7, "SIGBUS";
    FPE = 8, "SIGFPE";
    KILL = 9, "SIGKILL";
    USR1 = 10, "SIGUSR1";
    SEGV = 11, "SIGSEGV";
    USR2 = 12, "SIGUSR2";
    PIPE = 13, "SIGPIPE";
    ALRM = 14, "SIGALRM";
    TERM = 15, "SIGTERM";
    STKFLT = 16, "SIGSTKFLT";
    CHLD = 17, "SIGCHLD";
    CONT = 18, "SIGCONT";
    STOP = 19, "SIGSTOP";
    TSTP = 20, "SIGTSTP";
    TTIN = 21, "SIGTTIN";
    TTOU = 22, "SIGTTOU";
    URG = 23, "SIGURG";
    XCPU = 24, "SIGXCPU";
    XFSZ = 25, "SIGXFSZ";
    VTALRM = 26, "SIGVTALRM";
    PROF = 27, "SIGPROF";
    WINCH = 28, "SIGWINCH";
    IO = 29, "SIGIO";
    PWR = 30, "SIGPWR";
    SYS = 31, "SIGSYS";
}

/// Names of signals 32..=64, indexed by `n - 32`.
const RT_NAMES: [&str; 33] = [
    "SIGRT32", "SIGRT33", "SIGRT34", "SIGRT35", "SIGRT36", "SIGRT37", "SIGRT38", "SIGRT39",
    "SIGRT40", "SIGRT41", "SIGRT42", "SIGRT43", "SIGRT44", "SIGRT45", "SIGRT46", "SIGRT47",
    "SIGRT48", "SIGRT49", "SIGRT50", "SIGRT51", "SIGRT52", "SIGRT53", "SIGRT54", "SIGRT55",
    "SIGRT56", "SIGRT57", "SIGRT58", "SIGRT59", "SIGRT60", "SIGRT61", "SIGRT62", "SIGRT63",
    "SIGRT64",
];

impl Signal {
    /// The lowest signal number.
    pub const MIN: i32 = 1;
    /// The highest signal number (`_NSIG - 1`).
    pub const MAX: i32 = 64;

    /// The signal numbered `n`, or `None` outside `1..=64`.
    #[inline]
    pub const fn new(n: i32) -> Option<Signal> {
        if n >= Signal::MIN && n <= Signal::MAX {
            Some(Signal(n))
        } else {
            None
        }
    }

    /// The signal's number, `1..=64`.
    #[inline]
    pub const fn number(self) -> i32 {
        self.0
    }

    /// The signal's bit in a kernel signal mask (bit `n - 1`).
    #[inline]
    pub const fn mask_bit(self) -> u64 {
        1 << (self.0 - 1)
    }
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.name(), self.0)
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A queue of pending signals, read as records from a descriptor
/// (`signalfd`).
///
/// A signalfd does not catch signals by itself: it *reads* them. A signal
/// in its mask that is blocked in the reading thread stays pending, and each
/// read dequeues pending signals, the lowest-numbered first, as
/// [`SignalInfo`] records of 128 bytes (the kernel's `signalfd_siginfo`),
/// instead of running a handler. A read takes signals pending for the whole
/// process and those directed at the reading thread (`tgkill`), never those
/// directed at other threads. Standard signals (1 to 31) coalesce while
/// pending: sent twice, read once. Real-time signals (34 to 64) queue: each
/// send is one record. So the usual pattern is: block the signals (in the
/// main thread, before other threads exist, so that all of them inherit
/// the block), then read them through a `SignalFd`, which a poller or an
/// io_uring read can wait on.
///
/// The descriptor is non-blocking and close-on-exec: a read with nothing
/// pending returns [`Error::WouldBlock`]. The mask is cached: a `SignalFd`
/// made from a raw or owned descriptor reads it back from
/// `/proc/self/fdinfo`.
///
/// # Children inherit the block
///
/// A child process inherits its parent's signal mask (and its ignored
/// signals) across `execve`. A program that blocks `SIGTERM` for its
/// `SignalFd` and then starts children with `std::process::Command` starts
/// them with `SIGTERM` blocked: a `SIGTERM` sent to them stays pending
/// and does nothing. Spawn children with [`PidFd::spawn`](super::PidFd::spawn),
/// which resets their mask and dispositions (and hands back a pidfd).
///
/// # Examples
///
/// ```
/// use iofd::sys::process::{getpid, gettid, tgkill};
/// use iofd::{Error, SigSet, Signal, SignalFd};
///
/// // Block SIGUSR1 in this thread, then read it instead of handling it.
/// let mask = SigSet::from(Signal::USR1);
/// let old = mask.block_thread()?;
/// let sfd = SignalFd::new(&mask)?;
/// assert_eq!(sfd.read_info(), Err(Error::WouldBlock));
///
/// tgkill(getpid(), gettid(), Signal::USR1.number())?; // this thread only
/// let info = sfd.read_info()?;
/// assert_eq!(info.signal(), Some(Signal::USR1));
/// assert_eq!(info.pid, getpid());
/// assert_eq!(sfd.read_info(), Err(Error::WouldBlock));
///
/// old.set_thread_mask()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct SignalFd {
    fd: Fd,
    mask: SigSet,
}

/// `SIGKILL` and `SIGSTOP`, which the kernel drops from a signalfd's mask.
const UNCATCHABLE: SigSet = SigSet::empty().with(Signal::KILL).with(Signal::STOP);

/// A read that returned a partial record or nothing: impossible from a
/// signalfd, so the descriptor is something else.
const NOT_RECORDS: Error = Error::Os(Errno::EIO);

impl SignalFd {
    /// `signalfd4(-1, mask, 8, SFD_NONBLOCK | SFD_CLOEXEC)` — creates a
    /// signalfd that reads the signals of `mask`.
    ///
    /// The signals must also be blocked in every thread that could receive
    /// them (see [`SigSet::block_thread`]), or they are delivered the usual
    /// way before the signalfd sees them. The kernel drops `SIGKILL` and
    /// `SIGSTOP` from the mask, and so does the cached
    /// [`mask`](SignalFd::mask). An empty mask is allowed (nothing is read
    /// until [`set_mask`](SignalFd::set_mask)).
    ///
    /// # Errors
    ///
    /// `Os(EMFILE)` / `Os(ENFILE)` when out of descriptors;
    /// [`Error::NoMemory`].
    ///
    /// See [signalfd(2)](https://man7.org/linux/man-pages/man2/signalfd.2.html).
    pub fn new(mask: &SigSet) -> Result<SignalFd> {
        let flags = SignalFdFlags::NONBLOCK | SignalFdFlags::CLOEXEC;
        let fd = signalfd4(mask.bits(), flags)?;
        Ok(SignalFd {
            fd: Fd::from(fd),
            mask: mask.difference(UNCATCHABLE),
        })
    }

    /// Rebuilds the cached mask from `/proc/self/fdinfo` (`sigmask:`, in
    /// hex); empty if the field is missing (not a signalfd) or `fd` is
    /// closed.
    fn from_fd(fd: Fd) -> SignalFd {
        let mask = fd
            .borrow()
            .ok()
            .and_then(|b| fdinfo_field(b, "sigmask"))
            .and_then(|hex| u64::from_str_radix(&hex, 16).ok())
            .map_or(SigSet::empty(), SigSet::from_bits);
        SignalFd { fd, mask }
    }

    /// `signalfd4(fd, mask, 8, 0)` — replaces the set of signals this
    /// signalfd reads. Signals already pending and now in the mask become
    /// readable at once. The cached [`mask`](SignalFd::mask) changes only
    /// when the call succeeds (minus `SIGKILL` and `SIGSTOP`, as in
    /// [`new`](SignalFd::new)).
    ///
    /// # Errors
    ///
    /// [`Error::Closed`]; `InvalidParam(Error::KERNEL_EINVAL)` when the
    /// descriptor is not a signalfd (a handle made from another kind of
    /// descriptor).
    ///
    /// See [signalfd(2)](https://man7.org/linux/man-pages/man2/signalfd.2.html).
    pub fn set_mask(&mut self, mask: &SigSet) -> Result<()> {
        let fd = self.fd.borrow()?;
        signalfd4_update(fd, mask.bits())?;
        self.mask = mask.difference(UNCATCHABLE);
        Ok(())
    }

    /// The signals this signalfd reads, as cached (no syscall).
    #[inline]
    pub fn mask(&self) -> SigSet {
        self.mask
    }

    /// `read(fd, &mut info, 128)` — dequeues the lowest-numbered pending
    /// signal of the mask and returns its record.
    ///
    /// # Errors
    ///
    /// [`Error::WouldBlock`] when none is pending; [`Error::Closed`];
    /// `Os(EIO)` when the descriptor returned something other than a whole
    /// record (it is not a signalfd).
    ///
    /// See [signalfd(2)](https://man7.org/linux/man-pages/man2/signalfd.2.html).
    #[inline]
    pub fn read_info(&self) -> Result<SignalInfo> {
        let mut info = SignalInfo::zeroed();
        self.read_into(&mut info)?;
        Ok(info)
    }

    /// `read(fd, out, 128)` — as [`read_info`](SignalFd::read_info), into
    /// caller-owned storage. On error `out` may be partly overwritten.
    ///
    /// # Errors
    ///
    /// As [`read_info`](SignalFd::read_info).
    ///
    /// See [signalfd(2)](https://man7.org/linux/man-pages/man2/signalfd.2.html).
    #[inline]
    pub fn read_into(&self, out: &mut SignalInfo) -> Result<()> {
        let fd = self.fd.borrow()?;
        let n = crate::sys::io::read(fd, records_as_bytes(std::slice::from_mut(out)))?;
        if n == SignalInfo::SIZE {
            Ok(())
        } else {
            Err(NOT_RECORDS)
        }
    }

    /// `read(fd, out, 128 * out.len())` — dequeues up to `out.len()` pending
    /// signals in one call and returns how many records were written to the
    /// front of `out` (at least one).
    ///
    /// # Errors
    ///
    /// [`Error::Closed`]; `InvalidParam` for an empty `out` (no syscall);
    /// [`Error::WouldBlock`] when none is pending; `Os(EIO)` when the
    /// descriptor returned something other than whole records (it is not a
    /// signalfd).
    ///
    /// See [signalfd(2)](https://man7.org/linux/man-pages/man2/signalfd.2.html).
    #[inline]
    pub fn read_many(&self, out: &mut [SignalInfo]) -> Result<usize> {
        let fd = self.fd.borrow()?;
        if out.is_empty() {
            return Err(Error::InvalidParam("no room for a signal record"));
        }
        let n = crate::sys::io::read(fd, records_as_bytes(out))?;
        if n == 0 || n % SignalInfo::SIZE != 0 {
            return Err(NOT_RECORDS);
        }
        Ok(n / SignalInfo::SIZE)
    }
}

handle_impls!(SignalFd, SignalFd::from_fd);

#[cfg(test)]
mod signal_tests {
    use super::Signal;

    #[test]
    fn every_number_in_range_is_a_signal_with_a_name() {
        for n in 1..=64 {
            let s = Signal::new(n).expect("in range");
            assert_eq!(s.number(), n);
            assert!(s.name().starts_with("SIG"));
            assert_eq!(s.mask_bit(), 1u64 << (n - 1));
        }
        for n in [i32::MIN, -1, 0, 65, 1000, i32::MAX] {
            assert_eq!(Signal::new(n), None);
        }
        assert_eq!(Signal::SYS.number(), 31);
        assert_eq!(Signal::new(40).map(Signal::name), Some("SIGRT40"));
        assert_eq!(format!("{:?}", Signal::KILL), "SIGKILL(9)");
    }
}
