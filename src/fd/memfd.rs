//! `MemFd` (placeholder, being written).

use super::{Fd, handle_impls};

/// Placeholder.
#[derive(Debug)]
pub struct MemFd {
    fd: Fd,
}

impl MemFd {
    fn from_fd(fd: Fd) -> MemFd {
        MemFd { fd }
    }
}

handle_impls!(MemFd, MemFd::from_fd);

/// Placeholder.
#[derive(Debug)]
pub struct MappedRegion;
