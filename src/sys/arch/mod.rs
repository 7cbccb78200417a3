//! Architecture selection: the raw `syscall` stubs and the syscall numbers.
//!
//! Only x86_64 is built and tested, so only x86_64 is claimed; any other
//! target stops at compile time rather than pretending.

#[cfg(target_arch = "x86_64")]
mod x86_64;
#[cfg(target_arch = "x86_64")]
pub mod x86_64_nr;
#[cfg(target_arch = "x86_64")]
pub(crate) use self::x86_64::*;
#[cfg(target_arch = "x86_64")]
pub use self::x86_64_nr as nr;

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
compile_error!("iofd supports Linux on x86_64 only: no other target is built and tested");
