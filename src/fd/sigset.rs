//! `SigSet`: a set of signals in the kernel's mask layout, and the calling
//! thread's blocked signals.

use std::fmt;
use std::iter::FusedIterator;

use super::Signal;
use crate::error::Result;
use crate::sys::signal::{SigHow, rt_sigprocmask};

/// A set of signals `1..=64`, stored as the kernel's 64-bit signal mask:
/// bit `n - 1` stands for signal `n`.
///
/// A signal mask says which signals a thread keeps *blocked* (pending, not
/// delivered) and which signals a [`SignalFd`](crate::SignalFd) reads. A
/// `SigSet` is a plain `Copy` value: every operation is a bit operation,
/// allocation-free, and most are `const fn`. Only
/// [`block_thread`](SigSet::block_thread),
/// [`unblock_thread`](SigSet::unblock_thread),
/// [`set_thread_mask`](SigSet::set_thread_mask) and
/// [`thread_mask`](SigSet::thread_mask) make a syscall, and they act on the
/// calling thread alone.
///
/// # Examples
///
/// ```
/// use iofd::{SigSet, Signal};
///
/// let mut set = SigSet::empty();
/// set.add(Signal::USR2);
/// set.add(Signal::USR1);
/// assert!(set.contains(Signal::USR1));
/// assert_eq!(set.bits(), (1 << 9) | (1 << 11));
/// // Iteration is in ascending signal order.
/// let order: Vec<Signal> = set.iter().collect();
/// assert_eq!(order, [Signal::USR1, Signal::USR2]);
///
/// set.remove(Signal::USR1);
/// assert_eq!(set, SigSet::from_iter([Signal::USR2]));
///
/// // Block it in this thread for a while, then restore the old mask.
/// let old = set.block_thread()?;
/// assert!(SigSet::thread_mask()?.contains(Signal::USR2));
/// old.set_thread_mask()?;
/// # Ok::<(), iofd::Error>(())
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct SigSet(u64);

impl SigSet {
    /// The empty set.
    #[inline]
    pub const fn empty() -> SigSet {
        SigSet(0)
    }

    /// All 64 signals.
    ///
    /// Blocking this set does not block everything: the kernel keeps
    /// `SIGKILL` and `SIGSTOP` deliverable, and
    /// [`block_thread`](SigSet::block_thread) leaves signals 32 and 33
    /// unblocked (the C library reserves them; see
    /// [`LIBC_RESERVED`](crate::sys::signal::LIBC_RESERVED)).
    #[inline]
    pub const fn full() -> SigSet {
        SigSet(u64::MAX)
    }

    /// The set whose mask is `bits` (bit `n - 1` is signal `n`); every `u64`
    /// is a valid set.
    #[inline]
    pub const fn from_bits(bits: u64) -> SigSet {
        SigSet(bits)
    }

    /// The kernel mask: bit `n - 1` is signal `n`.
    #[inline]
    pub const fn bits(&self) -> u64 {
        self.0
    }

    /// Adds `sig` (a no-op if present).
    #[inline]
    pub const fn add(&mut self, sig: Signal) {
        self.0 |= sig.mask_bit();
    }

    /// Removes `sig` (a no-op if absent).
    #[inline]
    pub const fn remove(&mut self, sig: Signal) {
        self.0 &= !sig.mask_bit();
    }

    /// This set with `sig` added, for building sets in constants.
    #[inline]
    #[must_use]
    pub const fn with(self, sig: Signal) -> SigSet {
        SigSet(self.0 | sig.mask_bit())
    }

    /// This set with `sig` removed.
    #[inline]
    #[must_use]
    pub const fn without(self, sig: Signal) -> SigSet {
        SigSet(self.0 & !sig.mask_bit())
    }

    /// Whether `sig` is in the set.
    #[inline]
    pub const fn contains(&self, sig: Signal) -> bool {
        self.0 & sig.mask_bit() != 0
    }

    /// Whether the set has no signal.
    #[inline]
    pub const fn is_empty(&self) -> bool {
        self.0 == 0
    }

    /// How many signals the set holds.
    #[inline]
    pub const fn len(&self) -> usize {
        self.0.count_ones() as usize
    }

    /// The signals in either set.
    #[inline]
    #[must_use]
    pub const fn union(self, other: SigSet) -> SigSet {
        SigSet(self.0 | other.0)
    }

    /// The signals in both sets.
    #[inline]
    #[must_use]
    pub const fn intersection(self, other: SigSet) -> SigSet {
        SigSet(self.0 & other.0)
    }

    /// The signals in this set and not in `other`.
    #[inline]
    #[must_use]
    pub const fn difference(self, other: SigSet) -> SigSet {
        SigSet(self.0 & !other.0)
    }

    /// The signals in the set, in ascending order.
    #[inline]
    pub const fn iter(&self) -> SigSetIter {
        SigSetIter(self.0)
    }

    /// `rt_sigprocmask(SIG_BLOCK, set, old)` — adds this set to the calling
    /// thread's blocked signals and returns the mask as it was before. Other
    /// threads are untouched; threads spawned afterwards inherit the mask.
    ///
    /// The kernel silently keeps `SIGKILL` and `SIGSTOP` unblocked, and so
    /// does this call with signals 32 and 33, which the C library reserves
    /// for thread cancellation and `setuid` broadcasting (blocking them
    /// could hang `setuid` in another thread); see
    /// [`LIBC_RESERVED`](crate::sys::signal::LIBC_RESERVED).
    ///
    /// The mask is inherited by threads this thread starts and by child
    /// processes, across `execve`: a child spawned with
    /// `std::process::Command` keeps these signals blocked, and does not
    /// react to them. [`PidFd::spawn`](crate::PidFd::spawn) starts children
    /// with an empty mask.
    ///
    /// # Errors
    ///
    /// None in practice: the kernel's `EINVAL` and `EFAULT` cannot be
    /// reached through this signature. The `Result` keeps the shape of every
    /// other call.
    ///
    /// See [sigprocmask(2)](https://man7.org/linux/man-pages/man2/sigprocmask.2.html).
    #[inline]
    pub fn block_thread(&self) -> Result<SigSet> {
        Ok(SigSet(rt_sigprocmask(SigHow::Block, Some(&self.0))?))
    }

    /// `rt_sigprocmask(SIG_UNBLOCK, set, old)` — removes this set from the
    /// calling thread's blocked signals and returns the mask as it was
    /// before. Signals of the set that were pending are delivered at once
    /// (their default action may end the process).
    ///
    /// # Errors
    ///
    /// None in practice, as [`block_thread`](SigSet::block_thread).
    ///
    /// See [sigprocmask(2)](https://man7.org/linux/man-pages/man2/sigprocmask.2.html).
    #[inline]
    pub fn unblock_thread(&self) -> Result<SigSet> {
        Ok(SigSet(rt_sigprocmask(SigHow::Unblock, Some(&self.0))?))
    }

    /// `rt_sigprocmask(SIG_SETMASK, set, old)` — makes this set the calling
    /// thread's blocked signals and returns the mask as it was before; the
    /// way to restore a mask saved from
    /// [`block_thread`](SigSet::block_thread). `SIGKILL`, `SIGSTOP` and
    /// signals 32 and 33 stay unblocked, as there.
    ///
    /// # Errors
    ///
    /// None in practice, as [`block_thread`](SigSet::block_thread).
    ///
    /// See [sigprocmask(2)](https://man7.org/linux/man-pages/man2/sigprocmask.2.html).
    #[inline]
    pub fn set_thread_mask(&self) -> Result<SigSet> {
        Ok(SigSet(rt_sigprocmask(SigHow::SetMask, Some(&self.0))?))
    }

    /// `rt_sigprocmask(SIG_BLOCK, NULL, old)` — the calling thread's blocked
    /// signals, unchanged.
    ///
    /// # Errors
    ///
    /// None in practice, as [`block_thread`](SigSet::block_thread).
    ///
    /// See [sigprocmask(2)](https://man7.org/linux/man-pages/man2/sigprocmask.2.html).
    #[inline]
    pub fn thread_mask() -> Result<SigSet> {
        Ok(SigSet(rt_sigprocmask(SigHow::Block, None)?))
    }
}

impl fmt::Debug for SigSet {
    /// The signals by name: `SigSet{SIGUSR1, SIGUSR2}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigSet")?;
        f.debug_set().entries(self.iter()).finish()
    }
}

impl FromIterator<Signal> for SigSet {
    fn from_iter<I: IntoIterator<Item = Signal>>(iter: I) -> SigSet {
        let mut set = SigSet::empty();
        set.extend(iter);
        set
    }
}

impl Extend<Signal> for SigSet {
    fn extend<I: IntoIterator<Item = Signal>>(&mut self, iter: I) {
        for sig in iter {
            self.add(sig);
        }
    }
}

impl IntoIterator for SigSet {
    type Item = Signal;
    type IntoIter = SigSetIter;

    #[inline]
    fn into_iter(self) -> SigSetIter {
        self.iter()
    }
}

impl IntoIterator for &SigSet {
    type Item = Signal;
    type IntoIter = SigSetIter;

    #[inline]
    fn into_iter(self) -> SigSetIter {
        self.iter()
    }
}

impl From<Signal> for SigSet {
    /// The set of one signal.
    #[inline]
    fn from(sig: Signal) -> SigSet {
        SigSet(sig.mask_bit())
    }
}

/// The signals of a [`SigSet`], in ascending order (from
/// [`SigSet::iter`]); double-ended and exact-size.
#[derive(Clone, Debug)]
pub struct SigSetIter(u64);

impl Iterator for SigSetIter {
    type Item = Signal;

    #[inline]
    fn next(&mut self) -> Option<Signal> {
        if self.0 == 0 {
            return None;
        }
        // `trailing_zeros` of a non-zero u64 is 0..=63, so the signal
        // number is 1..=64.
        let n = self.0.trailing_zeros() as i32 + 1;
        self.0 &= self.0 - 1;
        Signal::new(n)
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.0.count_ones() as usize;
        (n, Some(n))
    }
}

impl DoubleEndedIterator for SigSetIter {
    #[inline]
    fn next_back(&mut self) -> Option<Signal> {
        if self.0 == 0 {
            return None;
        }
        // `leading_zeros` of a non-zero u64 is 0..=63: bit 63 - lz is set.
        let bit = 63 - self.0.leading_zeros();
        self.0 &= !(1u64 << bit);
        Signal::new(bit as i32 + 1)
    }
}

impl ExactSizeIterator for SigSetIter {}

impl FusedIterator for SigSetIter {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_layout_is_the_kernels() {
        assert_eq!(SigSet::from(Signal::HUP).bits(), 1);
        assert_eq!(SigSet::from(Signal::USR1).bits(), 1 << 9);
        let rt64 = Signal::new(64).expect("64 is a signal");
        assert_eq!(SigSet::from(rt64).bits(), 1 << 63);
        assert_eq!(SigSet::full().len(), 64);
        assert_eq!(SigSet::full().iter().count(), 64);
        assert!(SigSet::empty().is_empty());
        assert_eq!(SigSet::default(), SigSet::empty());
    }

    #[test]
    fn iterates_both_ways_in_order() {
        let set = SigSet::from_bits(0x8000_0000_0000_0201);
        let up: Vec<i32> = set.iter().map(Signal::number).collect();
        assert_eq!(up, [1, 10, 64]);
        let down: Vec<i32> = set.iter().rev().map(Signal::number).collect();
        assert_eq!(down, [64, 10, 1]);
        let mut it = set.iter();
        assert_eq!(it.len(), 3);
        assert_eq!(it.next(), Signal::new(1));
        assert_eq!(it.next_back(), Signal::new(64));
        assert_eq!(it.len(), 1);
        assert_eq!(it.next(), Signal::new(10));
        assert_eq!((it.next(), it.next_back()), (None, None));
    }

    #[test]
    fn debug_names_the_signals() {
        let set = SigSet::empty().with(Signal::USR1).with(Signal::TERM);
        assert_eq!(format!("{set:?}"), "SigSet{SIGUSR1(10), SIGTERM(15)}");
    }
}
