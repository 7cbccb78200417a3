//! `Fd`: one owned, close-capable descriptor cell.
//!
//! # Safety
//!
//! `Fd` hands out `BorrowedFd`s and raw numbers to the syscall core, so the
//! whole crate's I/O safety rests on one invariant, kept in this file:
//!
//! **the descriptor number an `Fd` holds stays allocated to this process for
//! as long as the `Fd` exists.**
//!
//! `close(&self)` can run while other threads are inside syscalls on the
//! same `Fd`, so it must not free the number: a concurrent `open` elsewhere
//! could take it, and an in-flight operation would then act on someone
//! else's file. Instead `close` atomically replaces the open file behind the
//! number with an inert `O_PATH` placeholder (`dup3`), which releases the
//! original file exactly as `close(2)` would, while the number stays ours.
//! Operations that raced with `close` reach either the original file (the
//! kernel holds a reference for the length of the syscall) or the
//! placeholder, on which I/O fails with `EBADF`; an operation that makes a
//! new descriptor from the number checks the state again afterwards
//! (`unless_closed`), so it never hands out a copy of the placeholder.
//! The number itself is released only by `Drop` or `into_raw_fd`, which
//! take the `Fd` by value or by `&mut`, so no borrow can outlive it.
//!
//! The one change a `BorrowedFd` of an `Fd` can see is therefore its open
//! file becoming the placeholder: an `O_PATH` descriptor of a file that is
//! not a directory (`/dev/null`), so I/O fails with `EBADF` and path
//! lookups relative to it fail with `ENOTDIR`. Code in this crate that
//! checks a descriptor's access mode before a call (`vmsplice`) stays sound
//! under that change, because every such call refuses `O_PATH` files.
#![expect(
    unsafe_code,
    reason = "Fd turns its atomic number into BorrowedFd and OwnedFd"
)]

use std::fmt;
use std::io;
use std::mem::ManuallyDrop;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI32, Ordering, fence};

use crate::error::{Error, Result};
use crate::sys::{self, Errno, file::DupFlags, file::FdFlags, file::OpenFlags, file::StatusFlags};

/// The state word of an [`Fd`], as an `i32`:
///
/// - `n >= 0`: open, descriptor `n`;
/// - `-1`: closed, and no number is held;
/// - `n <= -2`: closed; number `-2 - n` is still held (it names the inert
///   placeholder) until the `Fd` is dropped.
mod state {
    /// Closed, holding no number.
    pub(super) const EMPTY: i32 = -1;

    /// The state of a closed `Fd` that still holds number `fd`.
    #[inline]
    pub(super) const fn closed_holding(fd: i32) -> i32 {
        -2 - fd
    }

    /// The number a state holds, open or closed, if any.
    #[inline]
    pub(super) const fn held(s: i32) -> Option<i32> {
        if s >= 0 {
            Some(s)
        } else if s == EMPTY {
            None
        } else {
            Some(-2 - s)
        }
    }
}

/// The process-wide inert descriptor that closed `Fd`s point at: a file that
/// is not a directory (`/dev/null`, or where a sandbox lacks it, this
/// program's executable) opened with `O_PATH`, on which `read`, `write` and
/// most other calls fail with `EBADF`, and lookups relative to it with
/// `ENOTDIR`. Opened on first use and never closed.
fn placeholder() -> Result<BorrowedFd<'static>> {
    static INERT: OnceLock<OwnedFd> = OnceLock::new();
    if let Some(fd) = INERT.get() {
        return Ok(fd.as_fd());
    }
    let flags = OpenFlags::PATH | OpenFlags::NOFOLLOW | OpenFlags::CLOEXEC;
    let fd = match sys::file::openat(None, c"/dev/null", flags, 0) {
        Ok(fd) => fd,
        Err(e @ (Errno::EMFILE | Errno::ENFILE | Errno::ENOMEM)) => return Err(e.into()),
        Err(_) => sys::file::openat(
            None,
            c"/proc/self/exe",
            OpenFlags::PATH | OpenFlags::CLOEXEC,
            0,
        )?,
    };
    // If another thread won the race, its descriptor is kept and ours is
    // dropped (closed) here.
    Ok(INERT.get_or_init(|| fd).as_fd())
}

/// One owned, close-capable descriptor.
///
/// `Fd` owns a kernel descriptor and closes it on drop, like
/// [`OwnedFd`], but it can also be closed through a shared reference:
/// [`close`](Fd::close) is atomic and idempotent, so any thread holding a
/// `&Fd` may close it, any number of times. After that every operation
/// returns [`Error::Closed`] without making a syscall.
///
/// Closing releases the open file at once (a pipe's reader sees end of
/// file, an eventfd is freed), but the descriptor *number* stays reserved
/// for this `Fd`, pointing at an inert placeholder, until the `Fd` is
/// dropped. That is what makes `close(&self)` safe beside concurrent
/// operations: the number can never be reused underneath them.
/// [`raw`](Fd::raw) reports `-1` once closed; [`as_fd`](AsFd::as_fd) still
/// borrows the reserved number, on which I/O fails with `EBADF`.
///
/// `Fd` is `Send + Sync` and not `Clone`; [`dup`](Fd::dup) makes an
/// independent descriptor for the same open file.
///
/// # Examples
///
/// ```
/// use iofd::{Error, Fd};
/// use std::os::fd::OwnedFd;
///
/// let (r, w) = std::io::pipe()?;
/// let reader = Fd::from(OwnedFd::from(r));
/// let writer = Fd::from(OwnedFd::from(w));
///
/// writer.write(b"ping")?;
/// let mut buf = [0u8; 8];
/// assert_eq!(reader.read(&mut buf)?, 4);
/// assert_eq!(&buf[..4], b"ping");
///
/// writer.close()?;
/// writer.close()?; // idempotent
/// assert_eq!(writer.write(b"x"), Err(Error::Closed));
/// assert_eq!(reader.read(&mut buf)?, 0); // the writer is gone: end of file
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Fd {
    state: AtomicI32,
}

impl Fd {
    /// Takes ownership of descriptor `raw`.
    ///
    /// A negative `raw` gives an `Fd` that is already closed.
    ///
    /// # Safety
    ///
    /// - `raw` must be an open descriptor (or negative), and the caller must
    ///   own it: nothing else may close it or rely on it staying open.
    #[inline]
    pub unsafe fn from_raw(raw: RawFd) -> Fd {
        let state = if raw >= 0 { raw } else { state::EMPTY };
        Fd {
            state: AtomicI32::new(state),
        }
    }

    /// The descriptor number, or `-1` once closed. The number is borrowed:
    /// it stays owned by this `Fd`.
    #[inline]
    pub fn raw(&self) -> RawFd {
        let s = self.state.load(Ordering::Acquire);
        if s >= 0 { s } else { -1 }
    }

    /// Whether the descriptor is still open (not yet closed).
    #[inline]
    pub fn is_valid(&self) -> bool {
        self.state.load(Ordering::Acquire) >= 0
    }

    /// The open descriptor, for one operation; [`Error::Closed`] once closed.
    ///
    /// The borrow is sound even if another thread closes the `Fd` meanwhile:
    /// the number stays reserved until the `Fd` is dropped (see the type's
    /// docs).
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] once closed.
    #[inline]
    pub fn borrow(&self) -> Result<BorrowedFd<'_>> {
        let s = self.state.load(Ordering::Acquire);
        if s < 0 {
            return Err(Error::Closed);
        }
        // SAFETY: `s` is a number this `Fd` holds; it stays allocated for at
        // least as long as `&self` (the invariant in the module docs).
        Ok(unsafe { BorrowedFd::borrow_raw(s) })
    }

    /// `dup3(placeholder, fd, O_CLOEXEC)` — closes the descriptor: the open
    /// file is released at once, the number stays reserved until drop.
    ///
    /// Idempotent and atomic: of any number of concurrent or repeated calls,
    /// one does the work and every call returns `Ok(())`. After it, every
    /// operation on this `Fd` returns [`Error::Closed`].
    ///
    /// Unlike `close(2)` this cannot report a deferred write-back error of
    /// the file (NFS, say); the descriptors iofd wraps have none.
    ///
    /// # Errors
    ///
    /// - `Os(EMFILE)` (or `ENFILE`, `NoMemory`) if the process-wide
    ///   placeholder has never been opened and no descriptor is free to open
    ///   it; the `Fd` then stays open and a later `close` can succeed.
    /// - The error of `dup3` itself, which needs the process to have lowered
    ///   `RLIMIT_NOFILE` below this descriptor's number (`Os(EBADF)`): the
    ///   `Fd` is then marked closed (every operation returns `Closed`) but
    ///   its open file is released only when the `Fd` is dropped.
    ///
    /// See [dup3(2)](https://man7.org/linux/man-pages/man2/dup3.2.html) and
    /// [close(2)](https://man7.org/linux/man-pages/man2/close.2.html).
    pub fn close(&self) -> Result<()> {
        let s = self.state.load(Ordering::Acquire);
        if s < 0 {
            return Ok(());
        }
        let inert = placeholder()?;
        // The state only ever moves from open to closed, so a failed
        // exchange means another caller closed it first.
        if self
            .state
            .compare_exchange(
                s,
                state::closed_holding(s),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_err()
        {
            return Ok(());
        }
        // SAFETY: this `Fd` owns number `s` (it still holds it), and
        // `ManuallyDrop` keeps the temporary `OwnedFd` from closing it.
        // Other threads may hold `BorrowedFd`s of `s`, against `dup3`'s
        // premise that nothing borrows its target: that is sound only
        // because the new open file is the inert placeholder, the one swap
        // the module invariant allows.
        let mut held = ManuallyDrop::new(unsafe { OwnedFd::from_raw_fd(s) });
        // The state is closed before the placeholder is in: see `unless_closed`.
        fence(Ordering::SeqCst);
        sys::file::dup3(inert, &mut held, DupFlags::CLOEXEC)?;
        Ok(())
    }

    /// `read(fd, buf)` — reads up to `buf.len()` bytes.
    ///
    /// # Errors
    ///
    /// `Ok(0)` at end of file; [`Error::WouldBlock`] on an empty
    /// non-blocking descriptor; [`Error::Closed`]; the kernel's errors.
    ///
    /// See [read(2)](https://man7.org/linux/man-pages/man2/read.2.html).
    #[inline]
    pub fn read(&self, buf: &mut [u8]) -> Result<usize> {
        Ok(sys::io::read(self.borrow()?, buf)?)
    }

    /// `write(fd, buf)` — writes up to `buf.len()` bytes.
    ///
    /// # Errors
    ///
    /// [`Error::WouldBlock`] when a non-blocking descriptor is full;
    /// [`Error::Closed`]; the kernel's errors (`Os(EPIPE)` for a pipe with
    /// no reader: the process should ignore `SIGPIPE`, as Rust programs do
    /// by default).
    ///
    /// See [write(2)](https://man7.org/linux/man-pages/man2/write.2.html).
    #[inline]
    pub fn write(&self, buf: &[u8]) -> Result<usize> {
        Ok(sys::io::write(self.borrow()?, buf)?)
    }

    /// `fcntl(F_SETFL)` — switches `O_NONBLOCK` on or off.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`]; the kernel's errors.
    ///
    /// See [fcntl(2)](https://man7.org/linux/man-pages/man2/fcntl.2.html).
    pub fn set_nonblocking(&self, nonblocking: bool) -> Result<()> {
        let fd = self.borrow()?;
        let mut flags = sys::file::fcntl_getfl(fd)?;
        if flags.contains(StatusFlags::NONBLOCK) == nonblocking {
            return Ok(());
        }
        flags.set(StatusFlags::NONBLOCK, nonblocking);
        Ok(sys::file::fcntl_setfl(fd, flags)?)
    }

    /// `fcntl(F_GETFL)` — whether `O_NONBLOCK` is set.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`]; the kernel's errors.
    ///
    /// See [fcntl(2)](https://man7.org/linux/man-pages/man2/fcntl.2.html).
    pub fn is_nonblocking(&self) -> Result<bool> {
        Ok(sys::file::fcntl_getfl(self.borrow()?)?.contains(StatusFlags::NONBLOCK))
    }

    /// `fcntl(F_SETFD)` — switches close-on-exec on or off.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`]; the kernel's errors.
    ///
    /// See [fcntl(2)](https://man7.org/linux/man-pages/man2/fcntl.2.html).
    pub fn set_cloexec(&self, cloexec: bool) -> Result<()> {
        let fd = self.borrow()?;
        let mut flags = sys::file::fcntl_getfd(fd)?;
        flags.set(FdFlags::CLOEXEC, cloexec);
        Ok(sys::file::fcntl_setfd(fd, flags)?)
    }

    /// `fcntl(F_GETFD)` — whether close-on-exec is set.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`]; the kernel's errors.
    ///
    /// See [fcntl(2)](https://man7.org/linux/man-pages/man2/fcntl.2.html).
    pub fn is_cloexec(&self) -> Result<bool> {
        Ok(sys::file::fcntl_getfd(self.borrow()?)?.contains(FdFlags::CLOEXEC))
    }

    /// `fcntl(F_DUPFD_CLOEXEC, 0)` — a new, independent, close-on-exec
    /// descriptor for the same open file. Closing one does not close the
    /// other; they share the file's status flags (such as `O_NONBLOCK`) and
    /// offset, as `dup(2)` does.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`], also when a [`close`](Fd::close) ran while the
    /// copy was being made (the copy is closed again, so it can never be
    /// the placeholder); `Os(EMFILE)` when the process has no free
    /// descriptor.
    ///
    /// See [fcntl(2)](https://man7.org/linux/man-pages/man2/fcntl.2.html).
    pub fn dup(&self) -> Result<Fd> {
        let copy = sys::file::fcntl_dupfd_cloexec(self.borrow()?, 0);
        unless_closed(self, copy).map(Fd::from)
    }

    /// Converts into an [`OwnedFd`].
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] once closed (the reserved number is released).
    pub fn into_owned(self) -> Result<OwnedFd> {
        if !self.is_valid() {
            return Err(Error::Closed);
        }
        Ok(OwnedFd::from(self))
    }

    /// Releases the number held by state `s`, if any.
    fn release(s: i32) {
        if let Some(fd) = state::held(s) {
            // SAFETY: this `Fd` owns `fd` and is being consumed; nothing can
            // use the number after this.
            let _ = unsafe { sys::file::close(fd) };
        }
    }
}

impl Drop for Fd {
    fn drop(&mut self) {
        Fd::release(*self.state.get_mut());
    }
}

impl fmt::Debug for Fd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.state.load(Ordering::Acquire);
        if s >= 0 {
            f.debug_struct("Fd").field("fd", &s).finish()
        } else {
            f.debug_struct("Fd").field("closed", &true).finish()
        }
    }
}

impl AsFd for Fd {
    /// Borrows the descriptor. Once closed, this borrows the number still
    /// reserved for the `Fd` (I/O on it fails with `EBADF`), or, for an `Fd`
    /// that holds no number, the process-wide inert placeholder.
    ///
    /// # Panics
    ///
    /// Only for an `Fd` made from a negative number, when the placeholder
    /// cannot be opened because the process has no free descriptor.
    fn as_fd(&self) -> BorrowedFd<'_> {
        match state::held(self.state.load(Ordering::Acquire)) {
            // SAFETY: `fd` is held by this `Fd` until it is dropped (module
            // invariant), so it outlives `&self`.
            Some(fd) => unsafe { BorrowedFd::borrow_raw(fd) },
            None => placeholder().expect("no free descriptor for the inert placeholder"),
        }
    }
}

impl AsRawFd for Fd {
    /// The descriptor number, or `-1` once closed (as [`Fd::raw`]).
    #[inline]
    fn as_raw_fd(&self) -> RawFd {
        self.raw()
    }
}

impl IntoRawFd for Fd {
    /// Gives up ownership of the descriptor; a closed `Fd` releases its
    /// reserved number and returns `-1`.
    fn into_raw_fd(self) -> RawFd {
        let this = ManuallyDrop::new(self);
        let s = this.state.load(Ordering::Acquire);
        if s >= 0 {
            return s;
        }
        Fd::release(s);
        -1
    }
}

impl FromRawFd for Fd {
    /// As [`Fd::from_raw`].
    ///
    /// # Safety
    ///
    /// - As [`Fd::from_raw`]: `fd` must be open (or negative) and owned by
    ///   the caller.
    #[inline]
    unsafe fn from_raw_fd(fd: RawFd) -> Fd {
        // SAFETY: forwarded to the caller.
        unsafe { Fd::from_raw(fd) }
    }
}

/// What a syscall that made a new descriptor from `handle`'s returned, or
/// [`Error::Closed`] (dropping, so closing, any new descriptor) if the
/// handle was closed by the time it returned.
///
/// A `close` racing the syscall may have put the placeholder on the number
/// before the kernel looked it up, so the syscall copied the placeholder or
/// failed on it. `close` marks the state closed before its `dup3`, so a
/// state still open after the syscall proves the lookup found the real
/// file; the fences here and in `close` keep the kernel's accesses to the
/// descriptor table on their side of the state on any architecture.
///
/// # Errors
///
/// [`Error::Closed`]; else the syscall's error.
pub(crate) fn unless_closed<H: super::Handle + ?Sized, T>(
    handle: &H,
    made: std::result::Result<T, Errno>,
) -> Result<T> {
    fence(Ordering::SeqCst);
    if !handle.is_valid() {
        return Err(Error::Closed);
    }
    Ok(made?)
}

impl From<OwnedFd> for Fd {
    #[inline]
    fn from(fd: OwnedFd) -> Fd {
        // SAFETY: `into_raw_fd` hands over an open descriptor we now own.
        unsafe { Fd::from_raw(fd.into_raw_fd()) }
    }
}

impl From<Fd> for OwnedFd {
    /// Hands the descriptor over. A closed `Fd` hands over its reserved
    /// number, which names the inert placeholder (I/O fails with `EBADF`);
    /// use [`Fd::into_owned`] to get [`Error::Closed`] instead.
    ///
    /// # Panics
    ///
    /// Only for an `Fd` made from a negative number, when the placeholder
    /// cannot be duplicated because the process has no free descriptor.
    fn from(fd: Fd) -> OwnedFd {
        let this = ManuallyDrop::new(fd);
        match state::held(this.state.load(Ordering::Acquire)) {
            // SAFETY: the `Fd` owned `n` and is consumed without running its
            // destructor, so ownership moves to the `OwnedFd`.
            Some(n) => unsafe { OwnedFd::from_raw_fd(n) },
            None => placeholder()
                .and_then(|p| Ok(sys::file::fcntl_dupfd_cloexec(p, 0)?))
                .expect("no free descriptor for the inert placeholder"),
        }
    }
}

impl io::Read for &Fd {
    #[inline]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Ok(Fd::read(self, buf)?)
    }
}

impl io::Write for &Fd {
    #[inline]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(Fd::write(self, buf)?)
    }

    #[inline]
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl io::Read for Fd {
    #[inline]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        io::Read::read(&mut &*self, buf)
    }
}

impl io::Write for Fd {
    #[inline]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        io::Write::write(&mut &*self, buf)
    }

    #[inline]
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::state;

    #[test]
    fn state_encoding_round_trips() {
        for fd in [0, 1, 2, 1000, i32::MAX - 1] {
            let closed = state::closed_holding(fd);
            assert!(closed <= -2);
            assert_eq!(state::held(closed), Some(fd));
            assert_eq!(state::held(fd), Some(fd));
        }
        assert_eq!(state::held(state::EMPTY), None);
    }
}
