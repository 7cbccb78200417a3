//! `Errno`, and the one place a raw kernel return value is decoded.

use core::fmt;
use std::io;

/// A Linux error number, as returned by a failed syscall.
///
/// `Errno` is a `Copy` newtype over the positive errno value. Every Linux
/// errno from 1 to 133 has a constant (`Errno::EAGAIN`, ...), a symbolic
/// [`name`](Errno::name) and a [`description`](Errno::description).
/// Converting it into [`std::io::Error`] keeps the raw OS error, so
/// `io::Error::raw_os_error()` and `io::Error::kind()` work as usual.
///
/// # Examples
///
/// ```
/// use iofd::sys::Errno;
///
/// let e = Errno::EAGAIN;
/// assert_eq!(e.name(), "EAGAIN");
/// assert_eq!(e.raw(), 11);
/// let io: std::io::Error = e.into();
/// assert_eq!(io.kind(), std::io::ErrorKind::WouldBlock);
/// assert_eq!(io.raw_os_error(), Some(11));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Errno(pub(super) u16);

impl Errno {
    /// The largest errno the kernel encodes in a syscall return (`MAX_ERRNO`).
    pub const MAX: u16 = 4095;

    /// The errno for a raw positive value, or `None` outside `1..=4095`.
    #[inline]
    pub const fn from_raw(raw: i32) -> Option<Errno> {
        if raw >= 1 && raw <= Errno::MAX as i32 {
            Some(Errno(raw as u16))
        } else {
            None
        }
    }

    /// The raw positive errno value, as `errno` would hold it.
    #[inline]
    pub const fn raw(self) -> i32 {
        self.0 as i32
    }

    /// The errno an [`io::Error`] carries, if it came from the OS.
    pub fn from_io_error(err: &io::Error) -> Option<Errno> {
        err.raw_os_error().and_then(Errno::from_raw)
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.name(), self.0)
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}, os error {})",
            self.description(),
            self.name(),
            self.0
        )
    }
}

impl std::error::Error for Errno {}

impl From<Errno> for io::Error {
    #[inline]
    fn from(e: Errno) -> io::Error {
        io::Error::from_raw_os_error(e.raw())
    }
}

/// Decodes a raw syscall return: values in `[-4095, -1]` (seen as `usize`)
/// are `-errno`, everything else is success.
///
/// This is the only place in the crate that interprets the kernel's error
/// convention.
///
/// # Errors
///
/// `Err(errno)` for a return value in `[-4095, -1]`.
#[inline(always)]
pub fn decode(ret: usize) -> Result<usize, Errno> {
    // `ret` in [-4095, -1] maps to [0, 4094] here, everything else above.
    if ret.wrapping_add(Errno::MAX as usize) < Errno::MAX as usize {
        Err(cold_errno(ret))
    } else {
        Ok(ret)
    }
}

/// The errno of a raw return in `[-4095, -1]`. Cold, so that the compiler
/// lays the error path out of the way and the success path after every
/// syscall is one compare and one not-taken branch; inlinable, so that a
/// caller which discards the result keeps no branch at all (an out-of-line
/// call is one the optimizer cannot drop).
#[cold]
#[inline]
fn cold_errno(ret: usize) -> Errno {
    // The negation of a value in [-4095, -1] is 1..=4095, which fits a u16.
    Errno((ret as u16).wrapping_neg())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_splits_at_the_kernel_error_range() {
        assert_eq!(decode(0), Ok(0));
        assert_eq!(decode(42), Ok(42));
        assert_eq!(decode((-4096isize) as usize), Ok((-4096isize) as usize));
        assert_eq!(decode((-4095isize) as usize), Err(Errno(4095)));
        assert_eq!(decode((-11isize) as usize), Err(Errno::EAGAIN));
        assert_eq!(decode(usize::MAX), Err(Errno::EPERM));
        // A large pointer, as mmap may return, is a success.
        assert_eq!(decode(0x7fff_0000_0000), Ok(0x7fff_0000_0000));
    }

    #[test]
    fn names_and_descriptions_cover_every_errno() {
        let mut named = 0;
        for raw in 1..=133 {
            let e = Errno::from_raw(raw).unwrap();
            // 41 and 58 are unassigned on Linux.
            if raw == 41 || raw == 58 {
                assert_eq!(e.name(), "EUNKNOWN");
                continue;
            }
            assert!(e.name().starts_with('E'), "{raw}");
            assert_ne!(e.description(), "Unknown error", "{raw}");
            named += 1;
        }
        assert_eq!(named, 131);
        assert_eq!(Errno::EHWPOISON.raw(), 133);
        assert_eq!(Errno::EWOULDBLOCK, Errno::EAGAIN);
        assert_eq!(Errno::EDEADLOCK, Errno::EDEADLK);
        assert_eq!(Errno::ENOTSUP, Errno::EOPNOTSUPP);
        assert_eq!(Errno::from_raw(200).unwrap().name(), "EUNKNOWN");
    }

    #[test]
    fn descriptions_match_std() {
        // std asks the C library for the same text.
        for raw in [1, 2, 9, 11, 22, 110, 125] {
            let e = Errno::from_raw(raw).unwrap();
            let io = io::Error::from(e).to_string();
            assert!(
                io.starts_with(e.description()),
                "{io} vs {}",
                e.description()
            );
        }
    }

    #[test]
    fn from_raw_rejects_out_of_range() {
        assert_eq!(Errno::from_raw(0), None);
        assert_eq!(Errno::from_raw(-1), None);
        assert_eq!(Errno::from_raw(4096), None);
        assert_eq!(Errno::from_raw(4095), Some(Errno(4095)));
    }

    #[test]
    fn display_and_debug() {
        assert_eq!(
            Errno::EBADF.to_string(),
            "Bad file descriptor (EBADF, os error 9)"
        );
        assert_eq!(format!("{:?}", Errno::EINVAL), "EINVAL(22)");
        let io = io::Error::from(Errno::EINTR);
        assert_eq!(io.kind(), io::ErrorKind::Interrupted);
        assert_eq!(Errno::from_io_error(&io), Some(Errno::EINTR));
    }
}
