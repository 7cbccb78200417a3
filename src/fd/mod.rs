//! Owned descriptor handles: [`Fd`], the close-capable cell every handle
//! wraps.

#[expect(
    clippy::module_inception,
    reason = "one file per handle: the Fd cell lives in fd/fd.rs"
)]
mod fd;

pub use fd::Fd;
