//! `TimerFd` (placeholder, being written).

use super::{Fd, handle_impls};

/// Placeholder.
#[derive(Debug)]
pub struct TimerFd {
    fd: Fd,
}

impl TimerFd {
    fn from_fd(fd: Fd) -> TimerFd {
        TimerFd { fd }
    }
}

handle_impls!(TimerFd, TimerFd::from_fd);

/// Placeholder.
#[derive(Debug, Clone, Copy)]
pub enum Clock {
    /// Placeholder.
    Monotonic,
}
