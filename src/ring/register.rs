//! What a ring registers with the kernel: its own descriptor, fixed
//! files, an eventfd to signal on completions.

use std::os::fd::{AsFd, AsRawFd};

use super::builder::io_error;
use super::driver::Ring;
use super::orphans::{self, thread_key};
use crate::error::{Error, Result};
use crate::fd::EventFd;

/// Which completions wake a registered eventfd.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notify {
    /// Every completion (`IORING_REGISTER_EVENTFD`).
    All,
    /// Only completions posted by the kernel's io-wq worker threads
    /// (`IORING_REGISTER_EVENTFD_ASYNC`): the kernel signals only when
    /// `io_wq_current_is_worker()`. Operations that complete inline *or*
    /// after waiting on a poll (a read armed before its data, a pidfd
    /// poll, run as task work in the submitter) do not signal it; only
    /// those punted to a worker (blocking files, `IOSQE_ASYNC`) do.
    AsyncOnly,
}

impl Ring {
    /// Registers the ring descriptor for this thread; returns its index.
    pub(super) fn register_ring_fd(&self) -> Result<u32> {
        orphans::register_ring_fd(self.as_fd())
    }

    /// The thread that registered the ring descriptor, if one did.
    #[cfg(test)]
    pub(crate) fn registered_by(&self) -> Option<u64> {
        self.registered.map(|(_, thread)| thread)
    }

    /// Whether `io_uring_enter` goes through a registered ring index (on
    /// the thread that registered it).
    pub fn ring_fd_registered(&self) -> bool {
        matches!(self.registered, Some((_, t)) if t == thread_key())
    }

    /// `IORING_REGISTER_FILES` — registers descriptors as the ring's fixed
    /// files, indexed from 0 in the order given; an operation made with
    /// `.fixed(index)` then names the file by index, which spares the
    /// kernel a descriptor lookup and reference count per operation. The
    /// ring holds its own reference to each file until
    /// [`unregister_files`](Ring::unregister_files) or drop.
    ///
    /// # Errors
    ///
    /// `Os(EBUSY)` when files are already registered; `Os(EBADF)`;
    /// [`Error::InvalidParam`] for an empty list.
    pub fn register_files(&mut self, fds: &[std::os::fd::BorrowedFd<'_>]) -> Result<()> {
        if fds.is_empty() {
            return Err(Error::InvalidParam("no descriptors to register"));
        }
        let raw: Vec<i32> = fds.iter().map(|fd| fd.as_raw_fd()).collect();
        self.uring
            .submitter()
            .register_files(&raw)
            .map_err(|e| io_error(&e))?;
        self.files_changed();
        Ok(())
    }

    /// `IORING_UNREGISTER_FILES` — drops the fixed-file table (closing
    /// the direct descriptors in it: every [`Direct`](super::Direct) of the
    /// table is stale from now on).
    ///
    /// What is queued is submitted first, so that operations made for this
    /// table reach it (an installation, a slot's close) rather than a
    /// table registered later. A direct accept still waiting for its
    /// connection is not ended: should a later table be registered, it
    /// installs the connection there under a stale `Direct`, which closes
    /// nothing. Cancel such accepts before dropping their table.
    ///
    /// # Errors
    ///
    /// `Os(ENXIO)` when none is registered; errors of the submission.
    pub fn unregister_files(&mut self) -> Result<()> {
        self.submit_queued()?;
        self.uring
            .submitter()
            .unregister_files()
            .map_err(|e| io_error(&e))?;
        // Files that came for mailboxes went with the table.
        self.mail_files_unregistered();
        self.files_changed();
        Ok(())
    }

    /// Registers `efd` to be signalled when completions arrive, so that an
    /// `epoll` or tokio loop can sleep on it and reap when it fires. The
    /// kernel keeps its own reference to the eventfd.
    ///
    /// # Errors
    ///
    /// `Os(EBUSY)` when an eventfd is already registered; [`Error::Closed`].
    ///
    /// See [io_uring_register(2)](https://man7.org/linux/man-pages/man2/io_uring_register.2.html).
    pub fn register_eventfd(&mut self, efd: &EventFd, notify: Notify) -> Result<()> {
        let fd = efd.as_fd().as_raw_fd();
        if !efd.is_valid() {
            return Err(Error::Closed);
        }
        let sub = self.uring.submitter();
        let r = match notify {
            Notify::All => sub.register_eventfd(fd),
            Notify::AsyncOnly => sub.register_eventfd_async(fd),
        };
        r.map_err(|e| io_error(&e))?;
        self.eventfd = Some(notify);
        Ok(())
    }

    /// Unregisters the eventfd.
    ///
    /// # Errors
    ///
    /// `Os(ENXIO)` when none is registered.
    pub fn unregister_eventfd(&mut self) -> Result<()> {
        self.uring
            .submitter()
            .unregister_eventfd()
            .map_err(|e| io_error(&e))?;
        self.eventfd = None;
        Ok(())
    }

    /// Which completions signal the registered eventfd, if one is.
    pub fn registered_eventfd(&self) -> Option<Notify> {
        self.eventfd
    }

    /// Switches eventfd notifications off or on at run time
    /// (`IORING_CQ_EVENTFD_DISABLED`), without unregistering.
    pub fn set_eventfd_enabled(&mut self, on: bool) {
        self.queues.set_eventfd_disabled(!on);
    }

    /// Whether eventfd notifications are on.
    pub fn eventfd_enabled(&mut self) -> bool {
        !self.queues.eventfd_disabled()
    }
}
