//! The crate's error type.

use std::io;

use crate::sys::Errno;

/// What can go wrong in an iofd operation.
///
/// Kernel errors are folded into the variants callers most often match on;
/// everything else keeps its [`Errno`] in [`Error::Os`]. An operation on a
/// closed handle returns [`Error::Closed`] before any syscall is made, so a
/// closed handle never reaches the kernel with a stale (possibly reused)
/// descriptor number.
///
/// | errno | variant |
/// |---|---|
/// | `EAGAIN` (`EWOULDBLOCK`) | [`WouldBlock`](Error::WouldBlock) |
/// | `EINTR` | [`Interrupted`](Error::Interrupted) |
/// | `ENOMEM` | [`NoMemory`](Error::NoMemory) |
/// | `EPERM`, `EACCES` | [`Permission`](Error::Permission) |
/// | `EINVAL` | [`InvalidParam`](Error::InvalidParam)`(`[`Error::KERNEL_EINVAL`]`)` |
/// | any other | [`Os`](Error::Os) |
///
/// # Examples
///
/// ```
/// use iofd::{Error, sys::Errno};
///
/// assert_eq!(Error::from(Errno::EAGAIN), Error::WouldBlock);
/// assert_eq!(Error::from(Errno::EBADF), Error::Os(Errno::EBADF));
/// let io: std::io::Error = Error::WouldBlock.into();
/// assert_eq!(io.kind(), std::io::ErrorKind::WouldBlock);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The operation would block a non-blocking handle (`EAGAIN`).
    #[error("operation would block")]
    WouldBlock,
    /// The handle was closed: before the operation, which then made no
    /// syscall, or while it made a new descriptor, which is closed again.
    #[error("the descriptor is closed")]
    Closed,
    /// A parameter was rejected, before any syscall (the text says which) or
    /// by the kernel with `EINVAL` (the text is [`Error::KERNEL_EINVAL`]).
    #[error("invalid parameter: {0}")]
    InvalidParam(&'static str),
    /// A signal interrupted the call (`EINTR`). A ring's waits
    #[doc = ring_link!("(", "`Ring::submit_and_wait`", "crate::ring::Ring::submit_and_wait", ",")]
    /// `Ring::wait`, a scope's waits) report it when a signal's handler ran
    /// while the thread slept in `io_uring_enter` and no completion had
    /// arrived, whether or not that call also submitted: the driver never
    /// waits in the enter that submits, since the kernel reports a signal
    /// there as the count it submitted. A signal that arrives together
    /// with a completion is not reported: the wait ends with the
    /// completion, as a `ppoll` that finds a descriptor ready does.
    #[error("interrupted by a signal")]
    Interrupted,
    /// The kernel is out of memory (`ENOMEM`).
    #[error("out of memory")]
    NoMemory,
    /// The caller lacks the privilege or access (`EPERM`, `EACCES`). The
    /// two are not told apart: [`Error::errno`] and the `io::Error`
    /// conversion report `EPERM` for both.
    #[error("permission denied")]
    Permission,
    /// Any other kernel error, with its errno.
    #[error("{0}")]
    Os(Errno),
    /// The running kernel lacks a feature the operation needs (an io_uring
    /// opcode, a setup flag); the text names it. Detected by probing, before
    /// anything is submitted.
    #[error("not supported by this kernel: {0}")]
    Unsupported(&'static str),
    /// A ring's completion table holds its
    #[doc = ring_link!("", "`max_capacity`", "crate::ring::RingBuilder::max_capacity", " of")]
    /// operations (in flight, or completed and not taken): take results or
    /// cancel operations first. Reported as `EBUSY`.
    #[error("the ring's completion table is full")]
    TableFull,
    /// The ring was built disabled
    #[doc = ring_link!("(", "`RingBuilder::r_disabled`", "crate::ring::RingBuilder::r_disabled", ")")]
    #[doc = ring_link!("and not yet enabled (", "`Ring::enable`", "crate::ring::Ring::enable", "):")]
    /// it takes no submission. Reported as `EBADFD`, the kernel's answer.
    #[error("the ring is disabled (IORING_SETUP_R_DISABLED): enable it first")]
    RingDisabled,
}

impl Error {
    /// The text of [`Error::InvalidParam`] when the kernel answered `EINVAL`.
    pub const KERNEL_EINVAL: &'static str = "rejected by the kernel (EINVAL)";

    /// The errno that best describes this error: the kernel's own for
    /// [`Os`](Error::Os), the errno each other variant stands for
    /// (`Permission` reports `EPERM`, `InvalidParam` `EINVAL`), and `None`
    /// for [`Closed`](Error::Closed), which never came from the kernel
    /// (`Unsupported` reports `EOPNOTSUPP`).
    #[inline]
    pub fn errno(&self) -> Option<Errno> {
        match *self {
            Error::WouldBlock => Some(Errno::EAGAIN),
            Error::Closed => None,
            Error::InvalidParam(_) => Some(Errno::EINVAL),
            Error::Interrupted => Some(Errno::EINTR),
            Error::NoMemory => Some(Errno::ENOMEM),
            Error::Permission => Some(Errno::EPERM),
            Error::Os(e) => Some(e),
            Error::Unsupported(_) => Some(Errno::EOPNOTSUPP),
            Error::TableFull => Some(Errno::EBUSY),
            Error::RingDisabled => Some(Errno::EBADFD),
        }
    }
}

impl From<Errno> for Error {
    #[inline]
    fn from(e: Errno) -> Error {
        match e {
            Errno::EAGAIN => Error::WouldBlock,
            Errno::EINTR => Error::Interrupted,
            Errno::ENOMEM => Error::NoMemory,
            Errno::EPERM | Errno::EACCES => Error::Permission,
            Errno::EINVAL => Error::InvalidParam(Error::KERNEL_EINVAL),
            e => Error::Os(e),
        }
    }
}

impl From<Error> for io::Error {
    /// Kernel-backed variants become raw OS errors (so `raw_os_error()` and
    /// `kind()` work); a parameter rejected before any syscall becomes
    /// [`io::ErrorKind::InvalidInput`] and [`Error::Closed`] an
    /// [`io::ErrorKind::Other`] error, each with this error as its source.
    fn from(e: Error) -> io::Error {
        match e {
            Error::InvalidParam(msg) if msg == Error::KERNEL_EINVAL => {
                io::Error::from(Errno::EINVAL)
            }
            Error::InvalidParam(_) => io::Error::new(io::ErrorKind::InvalidInput, e),
            Error::Closed => io::Error::other(e),
            Error::Unsupported(_) => io::Error::new(io::ErrorKind::Unsupported, e),
            Error::Os(errno) => io::Error::from(errno),
            other => match other.errno() {
                Some(errno) => io::Error::from(errno),
                None => io::Error::other(other),
            },
        }
    }
}

/// `Result<T, iofd::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_maps_to_the_documented_variant() {
        assert_eq!(Error::from(Errno::EAGAIN), Error::WouldBlock);
        assert_eq!(Error::from(Errno::EWOULDBLOCK), Error::WouldBlock);
        assert_eq!(Error::from(Errno::EINTR), Error::Interrupted);
        assert_eq!(Error::from(Errno::ENOMEM), Error::NoMemory);
        assert_eq!(Error::from(Errno::EPERM), Error::Permission);
        assert_eq!(Error::from(Errno::EACCES), Error::Permission);
        assert_eq!(
            Error::from(Errno::EINVAL),
            Error::InvalidParam(Error::KERNEL_EINVAL)
        );
        assert_eq!(Error::from(Errno::EBADF), Error::Os(Errno::EBADF));
        assert_eq!(Error::from(Errno::ESRCH), Error::Os(Errno::ESRCH));
    }

    #[test]
    fn errno_round_trips() {
        for e in [
            Errno::EAGAIN,
            Errno::EINTR,
            Errno::ENOMEM,
            Errno::EPERM,
            Errno::EINVAL,
            Errno::EIO,
        ] {
            assert_eq!(Error::from(e).errno(), Some(e));
        }
        assert_eq!(Error::Closed.errno(), None);
        // EACCES folds into Permission and comes back as EPERM (documented).
        assert_eq!(Error::from(Errno::EACCES).errno(), Some(Errno::EPERM));
        assert_eq!(Error::InvalidParam("x").errno(), Some(Errno::EINVAL));
    }

    #[test]
    fn into_io_error_keeps_raw_os_error() {
        let cases = [
            (Error::WouldBlock, io::ErrorKind::WouldBlock, Some(11)),
            (Error::Interrupted, io::ErrorKind::Interrupted, Some(4)),
            (Error::NoMemory, io::ErrorKind::OutOfMemory, Some(12)),
            (Error::Permission, io::ErrorKind::PermissionDenied, Some(1)),
            (Error::Os(Errno::ENOENT), io::ErrorKind::NotFound, Some(2)),
            (
                Error::from(Errno::EINVAL),
                io::ErrorKind::InvalidInput,
                Some(22),
            ),
            (
                Error::InvalidParam("zero interval"),
                io::ErrorKind::InvalidInput,
                None,
            ),
            (Error::Closed, io::ErrorKind::Other, None),
            (
                Error::Unsupported("waitid"),
                io::ErrorKind::Unsupported,
                None,
            ),
        ];
        for (e, kind, raw) in cases {
            let io = io::Error::from(e);
            assert_eq!(io.kind(), kind, "{e:?}");
            assert_eq!(io.raw_os_error(), raw, "{e:?}");
        }
        let io = io::Error::from(Error::Closed);
        let inner = io.get_ref().and_then(|s| s.downcast_ref::<Error>());
        assert_eq!(inner, Some(&Error::Closed));
    }

    #[test]
    fn display() {
        assert_eq!(Error::Closed.to_string(), "the descriptor is closed");
        assert_eq!(
            Error::InvalidParam("name contains NUL").to_string(),
            "invalid parameter: name contains NUL"
        );
        assert_eq!(
            Error::Os(Errno::EBADF).to_string(),
            "Bad file descriptor (EBADF, os error 9)"
        );
    }
}
