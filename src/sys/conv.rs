//! Conversions of syscall results into owned Rust types.
//!
//! # Safety
//!
//! [`owned_fd`] takes ownership of a descriptor number; it is sound only for
//! the number a descriptor-creating syscall just returned, which nothing
//! else can own yet.
#![expect(unsafe_code, reason = "owned_fd asserts ownership of a new descriptor")]

use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// Takes ownership of the descriptor a successful syscall returned.
///
/// # Safety
///
/// - `ret` must be the result of a syscall that returns a new descriptor
///   (which nothing else owns yet).
#[inline(always)]
pub(crate) unsafe fn owned_fd(ret: usize) -> OwnedFd {
    // SAFETY: the caller promises `ret` is a fresh descriptor, which is
    // open and in `0..=i32::MAX`.
    unsafe { OwnedFd::from_raw_fd(ret as RawFd) }
}
