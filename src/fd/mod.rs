//! Owned descriptor handles.
//!
//! [`Fd`] is the close-capable cell every handle wraps. Each handle type
//! owns one kernel object, is created non-blocking and close-on-exec (a
//! [`MemFd`] has no non-blocking flag; [`PidFd::open_blocking`] is
//! blocking on purpose), closes on drop, and speaks std's descriptor traits
//! (`AsFd`, `AsRawFd`, `FromRawFd`, `IntoRawFd`, `OwnedFd` both ways).
//!
//! | handle | kernel object |
//! |---|---|
//! | [`EventFd`] | a 64-bit counter that wakes pollers (`eventfd2`) |
//! | [`TimerFd`] | a kernel timer read as an expiration count (`timerfd_create`) |
//! | [`SignalFd`] | a queue of pending signals read as records (`signalfd4`) |
//! | [`PidFd`] | a stable reference to one process (`pidfd_open`) |
//! | [`MemFd`] | an anonymous, sealable, mappable file (`memfd_create`) |
//! | [`TcpListener`], [`TcpStream`] | TCP sockets (`socket`, `accept4`) |
//! | [`UdpSocket`] | a UDP socket |
//! | [`UnixListener`], [`UnixStream`] | Unix-domain stream sockets |
//!
//! Every operation on a closed handle returns [`Error::Closed`] without
//! making a syscall.
//!
//! [`Error::Closed`]: crate::Error::Closed

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::time::Duration;

use crate::error::Result;

mod child;
mod eventfd;
#[expect(
    clippy::module_inception,
    reason = "one file per handle: the Fd cell lives in fd/fd.rs"
)]
mod fd;
mod memfd;
mod net;
mod pidfd;
mod signalfd;
mod sigset;
mod timerfd;

pub use child::{ChildEvent, ChildStatus};
pub use eventfd::EventFd;
#[cfg(feature = "ring")]
pub(crate) use eventfd::SIGNAL_MAX;
pub use fd::Fd;
pub(crate) use fd::unless_closed;
pub use memfd::{MappedRegion, MemFd};
pub use net::{ListenOptions, TcpListener, TcpStream, UdpSocket, UnixListener, UnixStream};
pub use pidfd::PidFd;
pub use signalfd::{Signal, SignalFd, SignalInfo};
pub use sigset::{SigSet, SigSetIter};
pub use timerfd::{Clock, TimerFd};

/// What every handle offers: its descriptor number, whether it is still
/// open, and an atomic, idempotent close.
pub trait Handle: AsFd + AsRawFd {
    /// The descriptor number, or `-1` once closed.
    fn raw(&self) -> RawFd;
    /// Whether the handle is still open.
    fn is_valid(&self) -> bool;
    /// Closes the handle (see [`Fd::close`]); idempotent.
    ///
    /// # Errors
    ///
    /// As [`Fd::close`].
    fn close(&self) -> Result<()>;
}

impl Handle for Fd {
    #[inline]
    fn raw(&self) -> RawFd {
        Fd::raw(self)
    }

    #[inline]
    fn is_valid(&self) -> bool {
        Fd::is_valid(self)
    }

    #[inline]
    fn close(&self) -> Result<()> {
        Fd::close(self)
    }
}

/// A handle that carries a counter others can signal and a waiter can take.
pub trait Signaler: Handle {
    /// Adds `n` to the counter, waking waiters.
    ///
    /// # Errors
    ///
    /// As the implementation's inherent method.
    fn signal(&self, n: u64) -> Result<()>;
    /// Takes the counter (or one unit of it), without blocking.
    ///
    /// # Errors
    ///
    /// As the implementation's inherent method.
    fn wait(&self) -> Result<u64>;
}

/// A handle that can be armed to expire and disarmed.
pub trait Timer: Handle {
    /// Arms the timer to expire after `initial`, then every `interval`
    /// (zero for one shot).
    ///
    /// # Errors
    ///
    /// As the implementation's inherent method.
    fn arm(&self, initial: Duration, interval: Duration) -> Result<()>;
    /// Disarms the timer.
    ///
    /// # Errors
    ///
    /// As the implementation's inherent method.
    fn disarm(&self) -> Result<()>;
}

/// One field of `/proc/self/fdinfo/<fd>` (such as `"clockid"`,
/// `"sigmask"`, `"Pid"`), trimmed; `None` if the file or field is missing.
///
/// Used only to rebuild a handle's cached state when it is made from a raw
/// or owned descriptor, never on an operation's path.
fn fdinfo_field(fd: BorrowedFd<'_>, key: &str) -> Option<String> {
    let path = format!("/proc/self/fdinfo/{}", fd.as_raw_fd());
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        (k.trim() == key).then(|| v.trim().to_owned())
    })
}

/// Implements [`Handle`] and std's descriptor traits for a handle type that
/// wraps one [`Fd`] in a field named `fd`, given a function that builds the
/// handle from an `Fd` (rebuilding any cached state).
///
/// The one `unsafe` item generated is `FromRawFd::from_raw_fd`, which only
/// forwards the caller's ownership promise to [`Fd::from_raw`].
macro_rules! handle_impls {
    ($ty:ident, $from_fd:path) => {
        impl $ty {
            /// The descriptor number, or `-1` once closed. The number stays
            /// owned by the handle.
            #[inline]
            pub fn raw(&self) -> ::std::os::fd::RawFd {
                self.fd.raw()
            }

            /// Whether the handle is still open.
            #[inline]
            pub fn is_valid(&self) -> bool {
                self.fd.is_valid()
            }

            /// Closes the handle: atomic and idempotent, and every later
            /// operation returns [`Error::Closed`](crate::Error::Closed)
            /// without a syscall (see [`Fd::close`](crate::Fd::close)).
            ///
            /// # Errors
            ///
            /// As [`Fd::close`](crate::Fd::close).
            #[inline]
            pub fn close(&self) -> $crate::error::Result<()> {
                self.fd.close()
            }
        }

        impl $crate::fd::Handle for $ty {
            #[inline]
            fn raw(&self) -> ::std::os::fd::RawFd {
                $ty::raw(self)
            }

            #[inline]
            fn is_valid(&self) -> bool {
                $ty::is_valid(self)
            }

            #[inline]
            fn close(&self) -> $crate::error::Result<()> {
                $ty::close(self)
            }
        }

        impl ::std::os::fd::AsFd for $ty {
            /// Borrows the descriptor (see [`Fd`]'s `AsFd` for a closed
            /// handle).
            #[inline]
            fn as_fd(&self) -> ::std::os::fd::BorrowedFd<'_> {
                self.fd.as_fd()
            }
        }

        impl ::std::os::fd::AsRawFd for $ty {
            /// The descriptor number, or `-1` once closed.
            #[inline]
            fn as_raw_fd(&self) -> ::std::os::fd::RawFd {
                self.fd.raw()
            }
        }

        impl ::std::os::fd::IntoRawFd for $ty {
            /// Gives up ownership; `-1` for a closed handle.
            #[inline]
            fn into_raw_fd(self) -> ::std::os::fd::RawFd {
                ::std::os::fd::IntoRawFd::into_raw_fd(self.fd)
            }
        }

        #[expect(
            unsafe_code,
            reason = "FromRawFd is an unsafe trait method; it only forwards the promise"
        )]
        impl ::std::os::fd::FromRawFd for $ty {
            /// Takes ownership of `fd`, which must be a descriptor of this
            /// handle's kind; any state the handle caches is read back from
            /// the kernel (`/proc/self/fdinfo`).
            ///
            /// # Safety
            ///
            /// - As [`Fd::from_raw`]: `fd` must be open and owned by the
            ///   caller.
            #[inline]
            unsafe fn from_raw_fd(fd: ::std::os::fd::RawFd) -> $ty {
                // SAFETY: the caller's ownership promise, forwarded.
                $from_fd(unsafe { $crate::fd::Fd::from_raw(fd) })
            }
        }

        impl ::std::convert::From<::std::os::fd::OwnedFd> for $ty {
            /// Takes ownership of a descriptor of this handle's kind; any
            /// state the handle caches is read back from the kernel.
            #[inline]
            fn from(fd: ::std::os::fd::OwnedFd) -> $ty {
                $from_fd($crate::fd::Fd::from(fd))
            }
        }

        impl ::std::convert::From<$ty> for ::std::os::fd::OwnedFd {
            /// Hands the descriptor over (see `From<Fd> for OwnedFd`).
            #[inline]
            fn from(h: $ty) -> ::std::os::fd::OwnedFd {
                ::std::os::fd::OwnedFd::from(h.fd)
            }
        }
    };
}
use handle_impls;
