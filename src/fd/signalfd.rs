//! `SignalFd` (being written), and `Signal`.

use std::fmt;

use super::{Fd, handle_impls};

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

/// Placeholder.
#[derive(Debug)]
pub struct SignalFd {
    fd: Fd,
}

impl SignalFd {
    fn from_fd(fd: Fd) -> SignalFd {
        SignalFd { fd }
    }
}

handle_impls!(SignalFd, SignalFd::from_fd);

/// Placeholder.
#[derive(Debug)]
pub struct SigSet;
/// Placeholder.
#[derive(Debug)]
pub struct SigSetIter;
/// Placeholder.
#[derive(Debug)]
pub struct SignalInfo;

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
