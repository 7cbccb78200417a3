//! `PidFd` (placeholder, being written).

use super::{Fd, handle_impls};

/// Placeholder.
#[derive(Debug)]
pub struct PidFd {
    fd: Fd,
}

impl PidFd {
    fn from_fd(fd: Fd) -> PidFd {
        PidFd { fd }
    }
}

handle_impls!(PidFd, PidFd::from_fd);
