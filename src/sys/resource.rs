//! Resource limits: `prlimit64`.
//!
//! # Safety
//!
//! `prlimit64` reads and writes two live `Rlimit` values of the kernel's
//! layout for the length of the call only.
#![expect(unsafe_code, reason = "prlimit64 reads and writes live Rlimit values")]

use super::{Errno, nr, syscall4};

/// A resource whose use the kernel limits (`RLIMIT_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Resource {
    /// `RLIMIT_CPU`: CPU time, in seconds.
    Cpu = 0,
    /// `RLIMIT_FSIZE`: the largest file the process may create, in bytes.
    Fsize = 1,
    /// `RLIMIT_DATA`: the data segment, in bytes.
    Data = 2,
    /// `RLIMIT_STACK`: the main thread's stack, in bytes.
    Stack = 3,
    /// `RLIMIT_CORE`: core dump size, in bytes.
    Core = 4,
    /// `RLIMIT_NPROC`: processes of the real user.
    Nproc = 6,
    /// `RLIMIT_NOFILE`: one more than the largest descriptor number the
    /// process may open.
    Nofile = 7,
    /// `RLIMIT_MEMLOCK`: locked memory, in bytes.
    Memlock = 8,
    /// `RLIMIT_AS`: address space, in bytes.
    As = 9,
}

/// A soft (`cur`) and hard (`max`) limit; `u64::MAX` is `RLIM_INFINITY`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Rlimit {
    /// The soft limit, which the kernel enforces.
    pub cur: u64,
    /// The hard limit, the ceiling for `cur`.
    pub max: u64,
}

impl Rlimit {
    /// `RLIM_INFINITY`: no limit.
    pub const INFINITY: u64 = u64::MAX;
}

/// `prlimit64(0, resource, new, old)` — reads this process's limit for
/// `resource` and, with `new`, replaces it; returns the limit as it was.
///
/// # Errors
///
/// `EINVAL` when `new.cur > new.max`; `EPERM` when raising the hard limit
/// without `CAP_SYS_RESOURCE`, or `RLIMIT_NOFILE` past `fs.nr_open`.
///
/// See [prlimit(2)](https://man7.org/linux/man-pages/man2/prlimit.2.html).
#[inline]
#[doc(alias = "prlimit64")]
pub fn prlimit(resource: Resource, new: Option<&Rlimit>) -> Result<Rlimit, Errno> {
    let mut old = Rlimit::default();
    // SAFETY: `new` is null or a live `Rlimit` the kernel reads; `old`
    // is a writable `Rlimit`; both match `struct rlimit64` and are used only
    // during the call.
    unsafe {
        syscall4(
            nr::PRLIMIT64,
            0usize.into(),
            (resource as u32).into(),
            new.into(),
            (&mut old).into(),
        )?;
    }
    Ok(old)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rlimit_has_the_kernel_layout() {
        assert_eq!(size_of::<Rlimit>(), 16);
    }

    #[test]
    fn reading_the_descriptor_limit() {
        let lim = prlimit(Resource::Nofile, None).expect("prlimit");
        assert!(lim.cur >= 3 && lim.cur <= lim.max);
    }

    #[test]
    fn soft_above_hard_is_einval() {
        let bad = Rlimit { cur: 10, max: 5 };
        assert_eq!(prlimit(Resource::Core, Some(&bad)), Err(Errno::EINVAL));
    }
}
