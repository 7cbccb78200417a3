//! CPU affinity: `sched_setaffinity` and `sched_getaffinity` with a fixed
//! 1024-CPU set (`cpu_set_t`).
//!
//! # Safety
//!
//! Both calls hand the kernel a live `CpuSet` and its exact size for the
//! call only: read by `sched_setaffinity`, written (at most that many
//! bytes) by `sched_getaffinity`.
#![expect(
    unsafe_code,
    reason = "the affinity calls read or fill a live, correctly sized CpuSet"
)]

use std::fmt;

use super::super::{Errno, nr, syscall3};

/// The most CPUs a [`CpuSet`] holds (`CPU_SETSIZE`): CPUs 0 to 1023.
pub const CPU_SETSIZE: usize = 1024;

const WORDS: usize = CPU_SETSIZE / 64;

/// A set of CPUs 0 to 1023, laid out as the kernel's `cpu_set_t` (a bit
/// per CPU in 64-bit words).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(C)]
pub struct CpuSet {
    bits: [u64; WORDS],
}

/// A CPU number a [`CpuSet`] cannot hold: 1024 or more.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuOutOfRange(pub usize);

impl fmt::Display for CpuOutOfRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CPU {} is out of range: a CPU set holds CPUs 0 to {}",
            self.0,
            CPU_SETSIZE - 1
        )
    }
}

impl std::error::Error for CpuOutOfRange {}

impl CpuSet {
    /// The empty set.
    #[must_use]
    pub const fn new() -> CpuSet {
        CpuSet { bits: [0; WORDS] }
    }

    /// A set of the given CPUs.
    ///
    /// # Errors
    ///
    /// [`CpuOutOfRange`] for a CPU of 1024 or more.
    pub fn from_cpus(cpus: impl IntoIterator<Item = usize>) -> Result<CpuSet, CpuOutOfRange> {
        let mut set = CpuSet::new();
        for cpu in cpus {
            set.insert(cpu)?;
        }
        Ok(set)
    }

    /// Adds `cpu`.
    ///
    /// # Errors
    ///
    /// [`CpuOutOfRange`] for a CPU of 1024 or more; the set is unchanged.
    pub fn insert(&mut self, cpu: usize) -> Result<(), CpuOutOfRange> {
        if cpu >= CPU_SETSIZE {
            return Err(CpuOutOfRange(cpu));
        }
        self.bits[cpu / 64] |= 1 << (cpu % 64);
        Ok(())
    }

    /// Removes `cpu`; whether it was in the set.
    pub fn remove(&mut self, cpu: usize) -> bool {
        let had = self.contains(cpu);
        if had {
            self.bits[cpu / 64] &= !(1 << (cpu % 64));
        }
        had
    }

    /// Whether `cpu` is in the set (never, for 1024 or more).
    #[must_use]
    pub fn contains(&self, cpu: usize) -> bool {
        cpu < CPU_SETSIZE && self.bits[cpu / 64] & (1 << (cpu % 64)) != 0
    }

    /// How many CPUs the set holds.
    #[must_use]
    pub fn count(&self) -> usize {
        self.bits.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// Whether the set is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.bits.iter().all(|&w| w == 0)
    }

    /// The CPUs in the set, lowest first.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        (0..CPU_SETSIZE).filter(|&cpu| self.contains(cpu))
    }
}

impl fmt::Debug for CpuSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// `sched_setaffinity(tid, sizeof(cpu_set_t), set)` — lets thread `tid`
/// (0: the calling thread) run only on the CPUs of `set`.
///
/// # Errors
///
/// `EINVAL` when `set` holds no CPU this thread may run on (an empty set,
/// or only CPUs the machine does not have); `ESRCH` when no thread has id
/// `tid`; `EPERM` without permission to change another user's thread.
///
/// See [sched_setaffinity(2)](https://man7.org/linux/man-pages/man2/sched_setaffinity.2.html).
#[inline]
pub fn sched_setaffinity(tid: u32, set: &CpuSet) -> Result<(), Errno> {
    // SAFETY: `set` is a live `cpu_set_t` of exactly the size passed, read
    // by the kernel during the call only.
    unsafe {
        syscall3(
            nr::SCHED_SETAFFINITY,
            tid.into(),
            size_of::<CpuSet>().into(),
            set.into(),
        )
    }
    .map(drop)
}

/// `sched_getaffinity(tid, sizeof(cpu_set_t), set)` — the CPUs thread
/// `tid` (0: the calling thread) may run on.
///
/// # Errors
///
/// `ESRCH` when no thread has id `tid`; `EINVAL` on a kernel built for more
/// than 1024 CPUs.
///
/// See [sched_getaffinity(2)](https://man7.org/linux/man-pages/man2/sched_getaffinity.2.html).
#[inline]
pub fn sched_getaffinity(tid: u32) -> Result<CpuSet, Errno> {
    let mut set = CpuSet::new();
    // SAFETY: `set` is a writable, zeroed `cpu_set_t` of exactly the size
    // passed; the kernel writes at most that many bytes during the call.
    unsafe {
        syscall3(
            nr::SCHED_GETAFFINITY,
            tid.into(),
            size_of::<CpuSet>().into(),
            (&mut set).into(),
        )
    }?;
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::{CPU_SETSIZE, CpuOutOfRange, CpuSet};

    #[test]
    fn a_set_holds_cpus_below_1024() {
        assert_eq!(size_of::<CpuSet>(), 128, "the size of cpu_set_t");
        let mut set = CpuSet::from_cpus([0, 63, 64, 1023]).expect("in range");
        assert_eq!(set.count(), 4);
        assert!(set.contains(64) && !set.contains(1) && !set.contains(5000));
        assert_eq!(set.insert(CPU_SETSIZE), Err(CpuOutOfRange(1024)));
        assert_eq!(
            CpuOutOfRange(1024).to_string(),
            "CPU 1024 is out of range: a CPU set holds CPUs 0 to 1023"
        );
        assert!(set.remove(63) && !set.remove(63));
        assert_eq!(set.iter().collect::<Vec<_>>(), [0, 64, 1023]);
        assert_eq!(format!("{set:?}"), "{0, 64, 1023}");
        assert!(CpuSet::new().is_empty() && !set.is_empty());
    }
}
