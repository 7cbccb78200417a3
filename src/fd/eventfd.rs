//! `EventFd`: a kernel counter that one side signals and another takes.

use crate::error::{Error, Result};
use crate::sys::event::{EventFdFlags, eventfd_read, eventfd_write, eventfd2};

use super::{Fd, Signaler, fdinfo_field, handle_impls};

/// An eventfd: a 64-bit counter held by the kernel, used to wake a thread,
/// an epoll loop or an io_uring from anywhere.
///
/// The whole protocol is 8-byte reads and writes of one `u64`:
///
/// - [`signal(n)`](EventFd::signal) writes `n`, which the kernel adds to the
///   counter. The counter never exceeds `u64::MAX - 1` (2^64 - 2): a write
///   that would pass it blocks a blocking descriptor, and here, since the
///   handle is non-blocking, fails with [`Error::WouldBlock`] and leaves the
///   counter unchanged. `u64::MAX` itself can never be written.
/// - [`wait()`](EventFd::wait) reads the counter: it returns the whole count
///   and resets it to zero, or, for a semaphore ([`EventFd::new_semaphore`]),
///   returns 1 and decrements it. A zero counter cannot be read: the call
///   fails with [`Error::WouldBlock`].
///
/// The descriptor is readable (for poll, epoll or io_uring) while the
/// counter is non-zero and writable while at least 1 can still be added, so
/// many signals before one wait coalesce into one wake-up carrying their
/// sum: the same use mio's eventfd waker makes of it.
///
/// The handle is created non-blocking and close-on-exec. Neither
/// [`signal`](EventFd::signal) nor [`wait`](EventFd::wait) allocates.
///
/// # Examples
///
/// ```
/// use iofd::{Error, EventFd};
///
/// let ev = EventFd::new(0)?;
/// ev.signal(2)?;
/// ev.signal(3)?;
/// assert_eq!(ev.wait()?, 5); // signals coalesce; the read resets the counter
/// assert_eq!(ev.wait(), Err(Error::WouldBlock));
///
/// let sem = EventFd::new_semaphore(2)?;
/// assert_eq!(sem.wait()?, 1);
/// assert_eq!(sem.wait()?, 1);
/// assert_eq!(sem.wait(), Err(Error::WouldBlock));
/// # Ok::<(), iofd::Error>(())
/// ```
#[derive(Debug)]
pub struct EventFd {
    fd: Fd,
    semaphore: bool,
}

/// The error text for a signal of `u64::MAX`, which no eventfd can take.
pub(crate) const SIGNAL_MAX: &str = "eventfd increment of u64::MAX";

impl EventFd {
    /// `eventfd2(initial, EFD_NONBLOCK | EFD_CLOEXEC)` — creates a counter
    /// holding `initial`, whose [`wait`](EventFd::wait) takes the whole count.
    ///
    /// # Errors
    ///
    /// [`Error::Os`] with `EMFILE`/`ENFILE` when out of descriptors;
    /// [`Error::NoMemory`].
    ///
    /// See [eventfd(2)](https://man7.org/linux/man-pages/man2/eventfd.2.html).
    pub fn new(initial: u32) -> Result<EventFd> {
        EventFd::create(initial, false)
    }

    /// `eventfd2(initial, EFD_SEMAPHORE | EFD_NONBLOCK | EFD_CLOEXEC)` —
    /// creates a counting semaphore holding `initial`: each
    /// [`wait`](EventFd::wait) takes 1 and returns 1.
    ///
    /// # Errors
    ///
    /// [`Error::Os`] with `EMFILE`/`ENFILE` when out of descriptors;
    /// [`Error::NoMemory`].
    ///
    /// See [eventfd(2)](https://man7.org/linux/man-pages/man2/eventfd.2.html).
    pub fn new_semaphore(initial: u32) -> Result<EventFd> {
        EventFd::create(initial, true)
    }

    fn create(initial: u32, semaphore: bool) -> Result<EventFd> {
        let mut flags = EventFdFlags::NONBLOCK | EventFdFlags::CLOEXEC;
        if semaphore {
            flags |= EventFdFlags::SEMAPHORE;
        }
        let fd = eventfd2(initial, flags)?;
        Ok(EventFd {
            fd: Fd::from(fd),
            semaphore,
        })
    }

    /// Rebuilds the semaphore flag from `/proc/self/fdinfo`
    /// (`eventfd-semaphore`); `false` when it cannot be read.
    fn from_fd(fd: Fd) -> EventFd {
        let semaphore = fd
            .borrow()
            .ok()
            .and_then(|b| fdinfo_field(b, "eventfd-semaphore"))
            .is_some_and(|v| v == "1");
        EventFd { fd, semaphore }
    }

    /// Whether this is a semaphore ([`EventFd::new_semaphore`]): each
    /// [`wait`](EventFd::wait) takes 1 rather than the whole count. Cached;
    /// no syscall.
    #[inline]
    pub fn is_semaphore(&self) -> bool {
        self.semaphore
    }

    /// `write(fd, &n, 8)` — adds `n` to the counter, waking anything
    /// waiting for it to become non-zero.
    ///
    /// `n == 0` is a no-op and makes no syscall (it still reports
    /// [`Error::Closed`] on a closed handle). `u64::MAX` is rejected before
    /// the syscall, as the kernel would.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] once closed; [`Error::InvalidParam`] for
    /// `n == u64::MAX`; [`Error::WouldBlock`] when the counter would pass
    /// `u64::MAX - 1` (it is left unchanged); [`Error::Interrupted`].
    ///
    /// See [eventfd(2)](https://man7.org/linux/man-pages/man2/eventfd.2.html).
    #[inline]
    pub fn signal(&self, n: u64) -> Result<()> {
        let fd = self.fd.borrow()?;
        if n == 0 {
            return Ok(());
        }
        if n == u64::MAX {
            return Err(Error::InvalidParam(SIGNAL_MAX));
        }
        eventfd_write(fd, n)?;
        Ok(())
    }

    /// `read(fd, &out, 8)` — takes the counter: returns it and resets it to
    /// zero, or, for a semaphore, returns 1 and decrements it.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] once closed; [`Error::WouldBlock`] when the counter
    /// is zero; [`Error::Interrupted`].
    ///
    /// See [eventfd(2)](https://man7.org/linux/man-pages/man2/eventfd.2.html).
    #[inline]
    pub fn wait(&self) -> Result<u64> {
        let fd = self.fd.borrow()?;
        Ok(eventfd_read(fd)?)
    }

    /// `read(fd, out, 8)` — as [`wait`](EventFd::wait), storing the value
    /// in `out`, which is left untouched on error.
    ///
    /// # Errors
    ///
    /// As [`wait`](EventFd::wait): [`Error::Closed`],
    /// [`Error::WouldBlock`], [`Error::Interrupted`].
    ///
    /// See [eventfd(2)](https://man7.org/linux/man-pages/man2/eventfd.2.html).
    #[inline]
    pub fn wait_into(&self, out: &mut u64) -> Result<()> {
        let fd = self.fd.borrow()?;
        *out = eventfd_read(fd)?;
        Ok(())
    }
}

handle_impls!(EventFd, EventFd::from_fd);

impl Signaler for EventFd {
    /// As [`EventFd::signal`].
    #[inline]
    fn signal(&self, n: u64) -> Result<()> {
        EventFd::signal(self, n)
    }

    /// As [`EventFd::wait`].
    #[inline]
    fn wait(&self) -> Result<u64> {
        EventFd::wait(self)
    }
}
