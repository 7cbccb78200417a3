//! `EventFd` (placeholder, being written).

use super::{Fd, handle_impls};

/// Placeholder.
#[derive(Debug)]
pub struct EventFd {
    fd: Fd,
}

impl EventFd {
    fn from_fd(fd: Fd) -> EventFd {
        EventFd { fd }
    }
}

handle_impls!(EventFd, EventFd::from_fd);
