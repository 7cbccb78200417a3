//! `SignalInfo`: the kernel's 128-byte `signalfd_siginfo` record, and the
//! byte view a read fills.
//!
//! # Safety
//!
//! One `unsafe` block lets the kernel fill [`SignalInfo`] records through a
//! byte view of them ([`records_as_bytes`]). It promises that `SignalInfo`
//! is `#[repr(C)]`, exactly 128 bytes, made only of integer fields with no
//! padding between or after them, which the compile-time assertions below
//! the type check field by field: so every byte of a record is initialized
//! and every byte pattern the kernel writes is a valid record.
#![expect(
    unsafe_code,
    reason = "the kernel fills SignalInfo records through a byte view"
)]

use std::fmt;
use std::mem::offset_of;

use super::Signal;

/// One signal as a signalfd reports it: the kernel's
/// `struct signalfd_siginfo`, 128 bytes, `#[repr(C)]`.
///
/// Which fields mean something depends on the signal and on
/// [`code`](SignalInfo::code), the way it was sent: `kill`,
/// `pidfd_send_signal` ([`SI_USER`](SignalInfo::SI_USER)) and `tgkill`
/// ([`SI_TKILL`](SignalInfo::SI_TKILL)) fill `pid` and `uid` with the
/// sender's; `sigqueue` ([`SI_QUEUE`](SignalInfo::SI_QUEUE)) also `int` and
/// `ptr`; `SIGCHLD` fills `pid`, `uid`, `status`, `utime` and `stime`; a
/// fault (`SIGSEGV`, `SIGBUS`) fills `addr`. The kernel zeroes the rest,
/// reserved bytes included.
///
/// # Examples
///
/// ```
/// use iofd::{Signal, SignalInfo};
///
/// assert_eq!(size_of::<SignalInfo>(), 128);
/// let mut info = SignalInfo::zeroed();
/// assert_eq!(info.signal(), None);
/// info.signo = 15;
/// assert_eq!(info.signal(), Some(Signal::TERM));
/// ```
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SignalInfo {
    /// `ssi_signo`: the signal number.
    pub signo: u32,
    /// `ssi_errno`: an error number (unused by most signals).
    pub errno: i32,
    /// `ssi_code`: how the signal was sent (`SI_USER`, `SI_TKILL`, a
    /// `CLD_*` or `SEGV_*` code, ...).
    pub code: i32,
    /// `ssi_pid`: the sender's process id.
    pub pid: u32,
    /// `ssi_uid`: the sender's real user id.
    pub uid: u32,
    /// `ssi_fd`: the descriptor (`SIGIO`).
    pub fd: i32,
    /// `ssi_tid`: the kernel timer id (POSIX timers).
    pub tid: u32,
    /// `ssi_band`: the band event (`SIGIO`).
    pub band: u32,
    /// `ssi_overrun`: the overrun count (POSIX timers).
    pub overrun: u32,
    /// `ssi_trapno`: the trap number that caused a hardware signal.
    pub trapno: u32,
    /// `ssi_status`: the exit status or signal (`SIGCHLD`).
    pub status: i32,
    /// `ssi_int`: the integer sent with `sigqueue`.
    pub int: i32,
    /// `ssi_ptr`: the pointer sent with `sigqueue`.
    pub ptr: u64,
    /// `ssi_utime`: user CPU time consumed, in clock ticks (`SIGCHLD`).
    pub utime: u64,
    /// `ssi_stime`: system CPU time consumed, in clock ticks (`SIGCHLD`).
    pub stime: u64,
    /// `ssi_addr`: the address that faulted (hardware signals).
    pub addr: u64,
    /// `ssi_addr_lsb`: the least significant bit of `addr` (`SIGBUS`).
    pub addr_lsb: u16,
    /// `__pad2`.
    pad2: u16,
    /// `ssi_syscall`: the system call number (`SIGSYS` from seccomp).
    pub syscall: i32,
    /// `ssi_call_addr`: the address of the system call instruction
    /// (`SIGSYS`).
    pub call_addr: u64,
    /// `ssi_arch`: the `AUDIT_ARCH_*` of the system call (`SIGSYS`).
    pub arch: u32,
    /// `__pad`: reserved, zero.
    pad: [u8; 28],
}

// Layout: `SignalInfo` is the kernel's record, field for field, and has no
// padding: each field starts where the one before it ends, and the last
// ends at 128. `records_as_bytes` relies on this.
const _: () = {
    assert!(size_of::<SignalInfo>() == SignalInfo::SIZE);
    assert!(SignalInfo::SIZE == 128);
    assert!(offset_of!(SignalInfo, signo) == 0);
    assert!(offset_of!(SignalInfo, errno) == 4);
    assert!(offset_of!(SignalInfo, code) == 8);
    assert!(offset_of!(SignalInfo, pid) == 12);
    assert!(offset_of!(SignalInfo, uid) == 16);
    assert!(offset_of!(SignalInfo, fd) == 20);
    assert!(offset_of!(SignalInfo, tid) == 24);
    assert!(offset_of!(SignalInfo, band) == 28);
    assert!(offset_of!(SignalInfo, overrun) == 32);
    assert!(offset_of!(SignalInfo, trapno) == 36);
    assert!(offset_of!(SignalInfo, status) == 40);
    assert!(offset_of!(SignalInfo, int) == 44);
    assert!(offset_of!(SignalInfo, ptr) == 48);
    assert!(offset_of!(SignalInfo, utime) == 56);
    assert!(offset_of!(SignalInfo, stime) == 64);
    assert!(offset_of!(SignalInfo, addr) == 72);
    assert!(offset_of!(SignalInfo, addr_lsb) == 80);
    assert!(offset_of!(SignalInfo, pad2) == 82);
    assert!(offset_of!(SignalInfo, syscall) == 84);
    assert!(offset_of!(SignalInfo, call_addr) == 88);
    assert!(offset_of!(SignalInfo, arch) == 96);
    assert!(offset_of!(SignalInfo, pad) == 100);
    assert!(100 + size_of::<[u8; 28]>() == 128);
};

/// The records of `infos` as one byte slice for the kernel to fill.
#[inline]
pub(super) fn records_as_bytes(infos: &mut [SignalInfo]) -> &mut [u8] {
    // SAFETY: `SignalInfo` is `#[repr(C)]` integer fields with no padding
    // (the layout assertions above), so all `size_of_val(infos)` bytes are
    // initialized and any bytes written make valid records; the view
    // borrows `infos` mutably for its whole life, and `u8` needs no
    // alignment.
    unsafe { std::slice::from_raw_parts_mut(infos.as_mut_ptr().cast::<u8>(), size_of_val(infos)) }
}

impl SignalInfo {
    /// The size of one record, in bytes: 128.
    pub const SIZE: usize = 128;
    /// `SI_USER` (0): sent by `kill` or `pidfd_send_signal`.
    pub const SI_USER: i32 = 0;
    /// `SI_KERNEL` (0x80): sent by the kernel.
    pub const SI_KERNEL: i32 = 0x80;
    /// `SI_QUEUE` (-1): sent by `sigqueue`.
    pub const SI_QUEUE: i32 = -1;
    /// `SI_TIMER` (-2): a POSIX timer expired.
    pub const SI_TIMER: i32 = -2;
    /// `SI_TKILL` (-6): sent by `tkill` or `tgkill`.
    pub const SI_TKILL: i32 = -6;

    /// A record of zeroes, to read into.
    #[inline]
    pub const fn zeroed() -> SignalInfo {
        SignalInfo {
            signo: 0,
            errno: 0,
            code: 0,
            pid: 0,
            uid: 0,
            fd: 0,
            tid: 0,
            band: 0,
            overrun: 0,
            trapno: 0,
            status: 0,
            int: 0,
            ptr: 0,
            utime: 0,
            stime: 0,
            addr: 0,
            addr_lsb: 0,
            pad2: 0,
            syscall: 0,
            call_addr: 0,
            arch: 0,
            pad: [0; 28],
        }
    }

    /// The record whose bytes are `bytes`, as the kernel writes it (in a
    /// buffer of a provided buffer ring, say).
    ///
    /// # Examples
    ///
    /// ```
    /// use iofd::{Signal, SignalInfo};
    ///
    /// let mut bytes = [0u8; SignalInfo::SIZE];
    /// bytes[..4].copy_from_slice(&15u32.to_ne_bytes());
    /// assert_eq!(SignalInfo::from_bytes(&bytes).signal(), Some(Signal::TERM));
    /// ```
    #[inline]
    pub fn from_bytes(bytes: &[u8; SignalInfo::SIZE]) -> SignalInfo {
        let mut info = [SignalInfo::zeroed()];
        records_as_bytes(&mut info).copy_from_slice(bytes);
        info[0]
    }

    /// The signal, or `None` when `signo` is not `1..=64` (a zeroed record).
    #[inline]
    pub fn signal(&self) -> Option<Signal> {
        i32::try_from(self.signo).ok().and_then(Signal::new)
    }
}

impl Default for SignalInfo {
    /// [`SignalInfo::zeroed`].
    #[inline]
    fn default() -> SignalInfo {
        SignalInfo::zeroed()
    }
}

impl fmt::Debug for SignalInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignalInfo")
            .field("signo", &self.signo)
            .field("errno", &self.errno)
            .field("code", &self.code)
            .field("pid", &self.pid)
            .field("uid", &self.uid)
            .field("fd", &self.fd)
            .field("tid", &self.tid)
            .field("band", &self.band)
            .field("overrun", &self.overrun)
            .field("trapno", &self.trapno)
            .field("status", &self.status)
            .field("int", &self.int)
            .field("ptr", &self.ptr)
            .field("utime", &self.utime)
            .field("stime", &self.stime)
            .field("addr", &self.addr)
            .field("addr_lsb", &self.addr_lsb)
            .field("syscall", &self.syscall)
            .field("call_addr", &self.call_addr)
            .field("arch", &self.arch)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod info_tests {
    use std::mem::offset_of;

    use super::{Signal, SignalInfo, records_as_bytes};

    /// The kernel's `struct signalfd_siginfo` as the libc crate spells it
    /// (linux-raw-sys 0.12 does not carry it).
    type Kernel = libc::signalfd_siginfo;

    #[test]
    fn layout_is_the_kernels_signalfd_siginfo() {
        assert_eq!(size_of::<SignalInfo>(), 128);
        assert_eq!(size_of::<SignalInfo>(), size_of::<Kernel>());
        assert_eq!(align_of::<SignalInfo>(), align_of::<Kernel>());
        let pairs = [
            (offset_of!(SignalInfo, signo), offset_of!(Kernel, ssi_signo)),
            (offset_of!(SignalInfo, errno), offset_of!(Kernel, ssi_errno)),
            (offset_of!(SignalInfo, code), offset_of!(Kernel, ssi_code)),
            (offset_of!(SignalInfo, pid), offset_of!(Kernel, ssi_pid)),
            (offset_of!(SignalInfo, uid), offset_of!(Kernel, ssi_uid)),
            (offset_of!(SignalInfo, fd), offset_of!(Kernel, ssi_fd)),
            (offset_of!(SignalInfo, tid), offset_of!(Kernel, ssi_tid)),
            (offset_of!(SignalInfo, band), offset_of!(Kernel, ssi_band)),
            (
                offset_of!(SignalInfo, overrun),
                offset_of!(Kernel, ssi_overrun),
            ),
            (
                offset_of!(SignalInfo, trapno),
                offset_of!(Kernel, ssi_trapno),
            ),
            (
                offset_of!(SignalInfo, status),
                offset_of!(Kernel, ssi_status),
            ),
            (offset_of!(SignalInfo, int), offset_of!(Kernel, ssi_int)),
            (offset_of!(SignalInfo, ptr), offset_of!(Kernel, ssi_ptr)),
            (offset_of!(SignalInfo, utime), offset_of!(Kernel, ssi_utime)),
            (offset_of!(SignalInfo, stime), offset_of!(Kernel, ssi_stime)),
            (offset_of!(SignalInfo, addr), offset_of!(Kernel, ssi_addr)),
            (
                offset_of!(SignalInfo, addr_lsb),
                offset_of!(Kernel, ssi_addr_lsb),
            ),
            (
                offset_of!(SignalInfo, syscall),
                offset_of!(Kernel, ssi_syscall),
            ),
            (
                offset_of!(SignalInfo, call_addr),
                offset_of!(Kernel, ssi_call_addr),
            ),
            (offset_of!(SignalInfo, arch), offset_of!(Kernel, ssi_arch)),
        ];
        for (i, (ours, theirs)) in pairs.into_iter().enumerate() {
            assert_eq!(ours, theirs, "field {i}");
        }
        // And against the uapi header's own layout (include/uapi/linux/signalfd.h).
        assert_eq!(offset_of!(SignalInfo, ptr), 48);
        assert_eq!(offset_of!(SignalInfo, addr_lsb), 80);
        assert_eq!(offset_of!(SignalInfo, syscall), 84);
        assert_eq!(offset_of!(SignalInfo, call_addr), 88);
        assert_eq!(offset_of!(SignalInfo, arch), 96);
    }

    #[test]
    fn byte_view_maps_onto_the_fields() {
        let mut infos = [SignalInfo::zeroed(); 2];
        let bytes = records_as_bytes(&mut infos);
        assert_eq!(bytes.len(), 256);
        assert!(bytes.iter().all(|&b| b == 0));
        bytes[128..132].copy_from_slice(&12u32.to_ne_bytes());
        bytes[136..140].copy_from_slice(&(-6i32).to_ne_bytes());
        bytes[128 + 84..128 + 88].copy_from_slice(&39i32.to_ne_bytes());
        bytes[128 + 96..128 + 100].copy_from_slice(&0xc000_003e_u32.to_ne_bytes());
        assert_eq!(infos[0], SignalInfo::default());
        assert_eq!(infos[1].signal(), Some(Signal::USR2));
        assert_eq!(infos[1].code, SignalInfo::SI_TKILL);
        assert_eq!(infos[1].syscall, 39);
        assert_eq!(infos[1].arch, 0xc000_003e);
    }

    #[test]
    fn signal_accepts_only_real_numbers() {
        let mut info = SignalInfo::zeroed();
        for (signo, want) in [(0, None), (1, Some(1)), (64, Some(64)), (65, None)] {
            info.signo = signo;
            assert_eq!(info.signal().map(Signal::number), want);
        }
        info.signo = u32::MAX;
        assert_eq!(info.signal(), None);
        let text = format!("{:?}", SignalInfo::zeroed());
        assert!(text.starts_with("SignalInfo { signo: 0,") && text.ends_with(".. }"));
    }
}
