//! The raw io_uring syscalls: `io_uring_setup`, `io_uring_enter`,
//! `io_uring_register`, with the kernel's setup and probe structs.
//!
//! The ring driver builds on the io-uring crate, which maps the rings and
//! lays out SQEs and CQEs; these wrappers complete the syscall core and let
//! tests and tools talk to the kernel directly.
//!
//! # Safety
//!
//! `io_uring_setup` and [`io_uring_register_probe`] pass the kernel only
//! live Rust structs, used for the duration of the call; setup refuses
//! [`SetupFlags::NO_MMAP`], the one flag that makes the kernel keep user
//! pointers from [`IoUringParams`]. `io_uring_enter` and
//! `io_uring_register` are `unsafe fn`: submitted SQEs and registered
//! resources carry pointers the kernel keeps and uses after the call.
#![expect(
    unsafe_code,
    reason = "io_uring setup and enter share memory with the kernel"
)]

use std::ffi::c_void;
use std::os::fd::{BorrowedFd, OwnedFd};

use bitflags::bitflags;

use super::{A0, ArgReg, Errno, nr, owned_fd, syscall2, syscall4, syscall6};

mod register;

pub use register::{
    IORING_REGISTER_PROBE, IORING_REGISTER_RING_FDS, IORING_UNREGISTER_RING_FDS, RsrcUpdate,
    io_uring_register_probe, io_uring_register_ring_fd, io_uring_unregister_ring_fd,
};
pub use register::{IORING_REGISTER_SEND_MSG_RING, io_uring_send_msg_ring};

/// `IORING_OFF_SQ_RING`: the `mmap` offset of the submission ring (and of
/// both rings with [`Features::SINGLE_MMAP`]).
pub const IORING_OFF_SQ_RING: u64 = 0;
/// `IORING_OFF_CQ_RING`: the `mmap` offset of the completion ring.
pub const IORING_OFF_CQ_RING: u64 = 0x800_0000;
/// `IORING_OFF_SQES`: the `mmap` offset of the SQE array.
pub const IORING_OFF_SQES: u64 = 0x1000_0000;
/// `IO_URING_OP_SUPPORTED`: the [`IoUringProbeOp::flags`] bit of a
/// supported opcode.
pub const IO_URING_OP_SUPPORTED: u16 = 1;

/// `IORING_SQ_NEED_WAKEUP`, in the submission ring's flags: the SQPOLL
/// thread sleeps.
pub const IORING_SQ_NEED_WAKEUP: u32 = 1 << 0;
/// `IORING_SQ_CQ_OVERFLOW`, in the submission ring's flags: completions
/// wait in the kernel's overflow list.
pub const IORING_SQ_CQ_OVERFLOW: u32 = 1 << 1;
/// `IORING_SQ_TASKRUN`, in the submission ring's flags: completion work
/// waits to be run.
pub const IORING_SQ_TASKRUN: u32 = 1 << 2;
/// `IORING_CQ_EVENTFD_DISABLED`, in the completion ring's flags: the
/// registered eventfd is not signalled.
pub const IORING_CQ_EVENTFD_DISABLED: u32 = 1 << 0;

/// `IORING_TIMEOUT_ABS`: a timeout's `timespec` is a deadline.
pub const IORING_TIMEOUT_ABS: u32 = 1 << 0;
/// `IORING_TIMEOUT_UPDATE`: a timeout removal updates it instead.
pub const IORING_TIMEOUT_UPDATE: u32 = 1 << 1;
/// `IORING_TIMEOUT_BOOTTIME`: the timeout runs on `CLOCK_BOOTTIME`.
pub const IORING_TIMEOUT_BOOTTIME: u32 = 1 << 2;
/// `IORING_TIMEOUT_REALTIME`: the timeout runs on `CLOCK_REALTIME`.
pub const IORING_TIMEOUT_REALTIME: u32 = 1 << 3;
/// `IORING_LINK_TIMEOUT_UPDATE`: a timeout removal updates a link
/// timeout.
pub const IORING_LINK_TIMEOUT_UPDATE: u32 = 1 << 4;
/// `IORING_TIMEOUT_MULTISHOT` (Linux 6.4): the timeout fires every period.
pub const IORING_TIMEOUT_MULTISHOT: u32 = 1 << 6;

bitflags! {
    /// Flags of `io_uring_setup` (`IORING_SETUP_*`), in
    /// [`IoUringParams::flags`].
    #[repr(transparent)]
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct SetupFlags: u32 {
        /// `IORING_SETUP_IOPOLL`: busy-poll for completions (O_DIRECT only).
        const IOPOLL = 1 << 0;
        /// `IORING_SETUP_SQPOLL`: a kernel thread polls the submission queue.
        const SQPOLL = 1 << 1;
        /// `IORING_SETUP_SQ_AFF`: pin the SQPOLL thread to `sq_thread_cpu`.
        const SQ_AFF = 1 << 2;
        /// `IORING_SETUP_CQSIZE`: the completion queue has `cq_entries`.
        const CQSIZE = 1 << 3;
        /// `IORING_SETUP_CLAMP`: clamp oversized entry counts instead of
        /// failing.
        const CLAMP = 1 << 4;
        /// `IORING_SETUP_ATTACH_WQ`: share the async worker pool of `wq_fd`.
        const ATTACH_WQ = 1 << 5;
        /// `IORING_SETUP_R_DISABLED`: start disabled, until
        /// `IORING_REGISTER_ENABLE_RINGS`.
        const R_DISABLED = 1 << 6;
        /// `IORING_SETUP_SUBMIT_ALL`: keep submitting after a failed SQE.
        const SUBMIT_ALL = 1 << 7;
        /// `IORING_SETUP_COOP_TASKRUN`: run completion work only on kernel
        /// entry, without interrupting the task.
        const COOP_TASKRUN = 1 << 8;
        /// `IORING_SETUP_TASKRUN_FLAG`: set `IORING_SQ_TASKRUN` when
        /// completion work is pending.
        const TASKRUN_FLAG = 1 << 9;
        /// `IORING_SETUP_SQE128`: 128-byte SQEs.
        const SQE128 = 1 << 10;
        /// `IORING_SETUP_CQE32`: 32-byte CQEs.
        const CQE32 = 1 << 11;
        /// `IORING_SETUP_SINGLE_ISSUER`: only one task submits.
        const SINGLE_ISSUER = 1 << 12;
        /// `IORING_SETUP_DEFER_TASKRUN`: run completion work only when the
        /// issuer waits for events.
        const DEFER_TASKRUN = 1 << 13;
        /// `IORING_SETUP_NO_MMAP`: the rings live in memory the application
        /// provides (refused by [`io_uring_setup`]).
        const NO_MMAP = 1 << 14;
        /// `IORING_SETUP_REGISTERED_FD_ONLY`: return a registered ring
        /// index, not a descriptor (needs `NO_MMAP`).
        const REGISTERED_FD_ONLY = 1 << 15;
        /// `IORING_SETUP_NO_SQARRAY`: no SQ index array; SQEs are consumed
        /// in ring order.
        const NO_SQARRAY = 1 << 16;
        /// `IORING_SETUP_HYBRID_IOPOLL`: sleep before polling (with
        /// `IOPOLL`).
        const HYBRID_IOPOLL = 1 << 17;
    }
}

bitflags! {
    /// Flags of `io_uring_enter` (`IORING_ENTER_*`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct EnterFlags: u32 {
        /// `IORING_ENTER_GETEVENTS`: wait for `min_complete` completions.
        const GETEVENTS = 1 << 0;
        /// `IORING_ENTER_SQ_WAKEUP`: wake the SQPOLL thread.
        const SQ_WAKEUP = 1 << 1;
        /// `IORING_ENTER_SQ_WAIT`: wait for free submission queue space.
        const SQ_WAIT = 1 << 2;
        /// `IORING_ENTER_EXT_ARG`: `arg` is a `struct
        /// io_uring_getevents_arg`.
        const EXT_ARG = 1 << 3;
        /// `IORING_ENTER_REGISTERED_RING`: `fd` is a registered ring index.
        const REGISTERED_RING = 1 << 4;
        /// `IORING_ENTER_ABS_TIMER`: the wait timeout is absolute.
        const ABS_TIMER = 1 << 5;
        /// `IORING_ENTER_EXT_ARG_REG`: `arg` is an offset into a registered
        /// wait region.
        const EXT_ARG_REG = 1 << 6;
        /// `IORING_ENTER_NO_IOWAIT`: do not count the wait as iowait.
        const NO_IOWAIT = 1 << 7;
    }
}

bitflags! {
    /// Features the kernel reports in [`IoUringParams::features`]
    /// (`IORING_FEAT_*`).
    #[repr(transparent)]
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct Features: u32 {
        /// `IORING_FEAT_SINGLE_MMAP`: one `mmap` maps both rings.
        const SINGLE_MMAP = 1 << 0;
        /// `IORING_FEAT_NODROP`: completions are never dropped on overflow.
        const NODROP = 1 << 1;
        /// `IORING_FEAT_SUBMIT_STABLE`: SQE data is consumed at submission.
        const SUBMIT_STABLE = 1 << 2;
        /// `IORING_FEAT_RW_CUR_POS`: offset -1 means the file position.
        const RW_CUR_POS = 1 << 3;
        /// `IORING_FEAT_CUR_PERSONALITY`: requests run with the submitter's
        /// credentials.
        const CUR_PERSONALITY = 1 << 4;
        /// `IORING_FEAT_FAST_POLL`: internal poll instead of worker threads.
        const FAST_POLL = 1 << 5;
        /// `IORING_FEAT_POLL_32BITS`: 32-bit poll masks.
        const POLL_32BITS = 1 << 6;
        /// `IORING_FEAT_SQPOLL_NONFIXED`: SQPOLL works without fixed files.
        const SQPOLL_NONFIXED = 1 << 7;
        /// `IORING_FEAT_EXT_ARG`: `IORING_ENTER_EXT_ARG` is supported.
        const EXT_ARG = 1 << 8;
        /// `IORING_FEAT_NATIVE_WORKERS`: async workers are native threads.
        const NATIVE_WORKERS = 1 << 9;
        /// `IORING_FEAT_RSRC_TAGS`: registered resources can carry tags.
        const RSRC_TAGS = 1 << 10;
        /// `IORING_FEAT_CQE_SKIP`: `IOSQE_CQE_SKIP_SUCCESS` is supported.
        const CQE_SKIP = 1 << 11;
        /// `IORING_FEAT_LINKED_FILE`: linked requests resolve files late.
        const LINKED_FILE = 1 << 12;
        /// `IORING_FEAT_REG_REG_RING`: the ring fd can be registered with
        /// itself.
        const REG_REG_RING = 1 << 13;
        /// `IORING_FEAT_RECVSEND_BUNDLE`: bundled sends and receives.
        const RECVSEND_BUNDLE = 1 << 14;
        /// `IORING_FEAT_MIN_TIMEOUT`: a minimum wait timeout is supported.
        const MIN_TIMEOUT = 1 << 15;
        /// `IORING_FEAT_RW_ATTR`: read/write attributes are supported.
        const RW_ATTR = 1 << 16;
        /// `IORING_FEAT_NO_IOWAIT`: `IORING_ENTER_NO_IOWAIT` is supported.
        const NO_IOWAIT = 1 << 17;
    }
}

/// `struct io_sqring_offsets`: where the submission ring's fields lie in
/// its mapping, filled in by `io_uring_setup`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SqRingOffsets {
    /// Offset of the head index (`u32`, advanced by the kernel).
    pub head: u32,
    /// Offset of the tail index (`u32`, advanced by the application).
    pub tail: u32,
    /// Offset of the index mask (`u32`).
    pub ring_mask: u32,
    /// Offset of the entry count (`u32`).
    pub ring_entries: u32,
    /// Offset of the ring flags (`u32`, `IORING_SQ_*`).
    pub flags: u32,
    /// Offset of the dropped-SQE counter (`u32`).
    pub dropped: u32,
    /// Offset of the SQE index array (`u32` per entry).
    pub array: u32,
    resv1: u32,
    /// The ring's user address, with `IORING_SETUP_NO_MMAP`.
    pub user_addr: u64,
}

/// `struct io_cqring_offsets`: where the completion ring's fields lie in
/// its mapping, filled in by `io_uring_setup`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CqRingOffsets {
    /// Offset of the head index (`u32`, advanced by the application).
    pub head: u32,
    /// Offset of the tail index (`u32`, advanced by the kernel).
    pub tail: u32,
    /// Offset of the index mask (`u32`).
    pub ring_mask: u32,
    /// Offset of the entry count (`u32`).
    pub ring_entries: u32,
    /// Offset of the overflow counter (`u32`).
    pub overflow: u32,
    /// Offset of the CQE array.
    pub cqes: u32,
    /// Offset of the ring flags (`u32`, `IORING_CQ_*`).
    pub flags: u32,
    resv1: u32,
    /// The ring's user address, with `IORING_SETUP_NO_MMAP`.
    pub user_addr: u64,
}

/// `struct io_uring_params`: what `io_uring_setup` is asked for and what it
/// reports back. Start from [`IoUringParams::default()`] (all zero, as the
/// kernel requires of the reserved fields).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IoUringParams {
    /// Out: the submission queue's size (entries rounded up to a power of 2).
    pub sq_entries: u32,
    /// In with [`SetupFlags::CQSIZE`], out always: the completion queue's
    /// size.
    pub cq_entries: u32,
    /// In: the setup flags.
    pub flags: SetupFlags,
    /// In with [`SetupFlags::SQ_AFF`]: the CPU of the SQPOLL thread.
    pub sq_thread_cpu: u32,
    /// In with [`SetupFlags::SQPOLL`]: the SQPOLL thread's idle time, ms.
    pub sq_thread_idle: u32,
    /// Out: the features of this kernel.
    pub features: Features,
    /// In with [`SetupFlags::ATTACH_WQ`]: the ring whose workers to share.
    pub wq_fd: u32,
    resv: [u32; 3],
    /// Out: the submission ring's layout.
    pub sq_off: SqRingOffsets,
    /// Out: the completion ring's layout.
    pub cq_off: CqRingOffsets,
}

impl Default for SetupFlags {
    #[inline]
    fn default() -> SetupFlags {
        SetupFlags::empty()
    }
}

impl Default for Features {
    #[inline]
    fn default() -> Features {
        Features::empty()
    }
}

/// `struct io_uring_probe_op`: one opcode's entry in an [`IoUringProbe`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IoUringProbeOp {
    /// The opcode (`IORING_OP_*`) this entry describes.
    pub op: u8,
    resv: u8,
    /// [`IO_URING_OP_SUPPORTED`] when the kernel supports the opcode.
    pub flags: u16,
    resv2: u32,
}

/// `struct io_uring_probe` with room for all 256 possible opcodes, so the
/// kernel can never write past it. Fill it with
/// [`io_uring_register_probe`].
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoUringProbe {
    last_op: u8,
    ops_len: u8,
    resv: u16,
    resv2: [u32; 3],
    ops: [IoUringProbeOp; 256],
}

impl IoUringProbe {
    /// An empty probe: nothing supported until the kernel fills it.
    #[inline]
    pub const fn new() -> IoUringProbe {
        const ZERO: IoUringProbeOp = IoUringProbeOp {
            op: 0,
            resv: 0,
            flags: 0,
            resv2: 0,
        };
        IoUringProbe {
            last_op: 0,
            ops_len: 0,
            resv: 0,
            resv2: [0; 3],
            ops: [ZERO; 256],
        }
    }

    /// The highest opcode the kernel knows (`last_op`).
    #[inline]
    pub fn last_op(&self) -> u8 {
        self.last_op
    }

    /// The entries the kernel filled in, indexed by opcode.
    #[inline]
    pub fn ops(&self) -> &[IoUringProbeOp] {
        &self.ops[..usize::from(self.ops_len)]
    }

    /// Whether the kernel supports opcode `op`; `false` for opcodes it does
    /// not know and for an unfilled probe.
    #[inline]
    pub fn is_supported(&self, op: u8) -> bool {
        op < self.ops_len && self.ops[usize::from(op)].flags & IO_URING_OP_SUPPORTED != 0
    }
}

impl Default for IoUringProbe {
    #[inline]
    fn default() -> IoUringProbe {
        IoUringProbe::new()
    }
}

/// `io_uring_setup(entries, params)` — creates a ring with at least
/// `entries` submission slots and fills `params` with its sizes, features
/// and ring offsets for `mmap`.
///
/// [`SetupFlags::NO_MMAP`] and [`SetupFlags::REGISTERED_FD_ONLY`] are
/// refused with `EINVAL` before the call: with the first the kernel keeps
/// the user addresses in `params` and writes to them for the ring's life,
/// which a safe call cannot vouch for; with the second it returns a
/// registered ring index, not a descriptor an `OwnedFd` could own.
///
/// # Errors
///
/// `EINVAL` for `entries` of 0 or past 32768 (without `CLAMP`), unknown or
/// inconsistent flags, or nonzero reserved fields; `EFAULT`; `EMFILE`;
/// `ENOMEM`; `EPERM` when io_uring is disabled (`kernel.io_uring_disabled`)
/// or `SQPOLL` lacks privilege; `ENOSYS` without io_uring support.
///
/// See [io_uring_setup(2)](https://man7.org/linux/man-pages/man2/io_uring_setup.2.html).
#[inline]
pub fn io_uring_setup(entries: u32, params: &mut IoUringParams) -> Result<OwnedFd, Errno> {
    if params
        .flags
        .intersects(SetupFlags::NO_MMAP | SetupFlags::REGISTERED_FD_ONLY)
    {
        return Err(Errno::EINVAL);
    }
    // SAFETY: `params` is a live `io_uring_params`, read and written only
    // during the call (without NO_MMAP the kernel keeps no pointer from it);
    // the call returns a new descriptor.
    unsafe {
        let r = syscall2(nr::IO_URING_SETUP, entries.into(), params.into())?;
        Ok(owned_fd(r))
    }
}

/// `io_uring_enter(fd, to_submit, min_complete, flags, arg, argsz)` —
/// submits up to `to_submit` SQEs from the ring's submission queue and, with
/// [`EnterFlags::GETEVENTS`], waits for `min_complete` completions; returns
/// how many SQEs were consumed.
///
/// # Safety
///
/// - Every SQE submitted must carry only pointers (buffers, iovecs, socket
///   addresses, timespecs, ...) valid for what its operation reads and
///   writes until that operation's CQE has been reaped, and descriptors
///   that stay open that long.
/// - No SQE may do what safe Rust could not: close, replace or install over
///   a descriptor the caller does not own (`IORING_OP_CLOSE`, fixed-file
///   installs), or change memory Rust holds (`IORING_OP_MADVISE` with
///   `MADV_DONTNEED`, a read into borrowed memory, ...).
/// - `arg` must be null, or valid for `argsz` bytes of what `flags` says it
///   is: a signal mask of `argsz` (8) bytes to wait with, or with
///   [`EnterFlags::EXT_ARG`] a `struct io_uring_getevents_arg` whose own
///   pointers are valid, for the duration of the call.
/// - `flags` must not hold [`EnterFlags::REGISTERED_RING`]: `fd` is a
///   borrowed descriptor, not a registered ring index. (It is refused with
///   `EINVAL` before the call.)
///
/// # Errors
///
/// `EOPNOTSUPP` when `fd` is not an io_uring; `EBADF`; `EINVAL` for bad
/// flags or `arg`; `EAGAIN`/`EBUSY` when completions must be reaped first;
/// `EINTR`; `ETIME` when an `EXT_ARG` wait timed out; `EBADFD` for a
/// disabled ring; `EEXIST` from a task other than the single issuer.
///
/// See [io_uring_enter(2)](https://man7.org/linux/man-pages/man2/io_uring_enter.2.html).
#[inline]
pub unsafe fn io_uring_enter(
    fd: BorrowedFd<'_>,
    to_submit: u32,
    min_complete: u32,
    flags: EnterFlags,
    arg: *const c_void,
    argsz: usize,
) -> Result<u32, Errno> {
    if flags.contains(EnterFlags::REGISTERED_RING) {
        return Err(Errno::EINVAL);
    }
    // SAFETY: the caller vouches for the submitted SQEs and for `arg`.
    unsafe { enter(fd.into(), to_submit, min_complete, flags, arg, argsz) }
}

/// `io_uring_enter(index, to_submit, min_complete, flags |
/// IORING_ENTER_REGISTERED_RING, arg, argsz)` — [`io_uring_enter`] through
/// a ring descriptor registered with `IORING_REGISTER_RING_FDS`, which
/// spares the kernel the descriptor lookup on every call.
///
/// # Safety
///
/// - As [`io_uring_enter`], for the SQEs and `arg`.
/// - `index` is a ring index this thread registered (ring registrations are
///   per thread) and has not unregistered.
///
/// # Errors
///
/// As [`io_uring_enter`]; `EINVAL` or `EBADF` for an index that is not
/// registered.
///
/// See [io_uring_enter(2)](https://man7.org/linux/man-pages/man2/io_uring_enter.2.html).
#[inline]
#[doc(alias = "io_uring_enter")]
pub unsafe fn io_uring_enter_registered(
    index: u32,
    to_submit: u32,
    min_complete: u32,
    flags: EnterFlags,
    arg: *const c_void,
    argsz: usize,
) -> Result<u32, Errno> {
    let flags = flags | EnterFlags::REGISTERED_RING;
    // SAFETY: the caller vouches for the SQEs, `arg` and the index.
    unsafe { enter(index.into(), to_submit, min_complete, flags, arg, argsz) }
}

/// The `io_uring_enter` syscall itself, for a descriptor or (with
/// `REGISTERED_RING` in `flags`) a registered ring index.
///
/// # Safety
///
/// - As [`io_uring_enter`] or [`io_uring_enter_registered`], whichever
///   `ring` and `flags` make this call.
#[inline(always)]
unsafe fn enter(
    ring: ArgReg<'_, A0>,
    to_submit: u32,
    min_complete: u32,
    flags: EnterFlags,
    arg: *const c_void,
    argsz: usize,
) -> Result<u32, Errno> {
    // SAFETY: forwarded to the caller.
    let r = unsafe {
        syscall6(
            nr::IO_URING_ENTER,
            ring,
            to_submit.into(),
            min_complete.into(),
            flags.bits().into(),
            arg.into(),
            argsz.into(),
        )
    }?;
    Ok(r as u32)
}

/// `io_uring_register(fd, opcode, arg, nr_args)` — registers resources
/// (buffers, files, an eventfd, ...) with a ring, or queries or changes it,
/// as `opcode` (`IORING_REGISTER_*`) says; returns the opcode's result.
///
/// # Safety
///
/// - `arg` must be valid for what `opcode` reads and writes with `nr_args`
///   entries, for the duration of the call.
/// - Memory registered for the ring's life (fixed buffers, provided buffer
///   rings, wait regions) must stay valid and unused by Rust until it is
///   unregistered or the ring is gone: the kernel writes into it later.
///
/// # Errors
///
/// `EINVAL` for an unknown `opcode` or bad arguments; `EOPNOTSUPP` when
/// `fd` is not an io_uring; `EBADF`; `EBUSY`; `EFAULT`; `ENOMEM`; and the
/// opcode's own errors.
///
/// See [io_uring_register(2)](https://man7.org/linux/man-pages/man2/io_uring_register.2.html).
#[inline]
pub unsafe fn io_uring_register(
    fd: BorrowedFd<'_>,
    opcode: u32,
    arg: *mut c_void,
    nr_args: u32,
) -> Result<u32, Errno> {
    // SAFETY: the caller vouches for `arg` and for registered memory.
    let r = unsafe {
        syscall4(
            nr::IO_URING_REGISTER,
            fd.into(),
            opcode.into(),
            arg.into(),
            nr_args.into(),
        )
    }?;
    Ok(r as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::offset_of;

    #[test]
    fn structs_have_the_kernel_layout() {
        assert_eq!(size_of::<SqRingOffsets>(), 40);
        assert_eq!(offset_of!(SqRingOffsets, array), 24);
        assert_eq!(offset_of!(SqRingOffsets, user_addr), 32);
        assert_eq!(size_of::<CqRingOffsets>(), 40);
        assert_eq!(offset_of!(CqRingOffsets, cqes), 20);
        assert_eq!(offset_of!(CqRingOffsets, user_addr), 32);
        assert_eq!(size_of::<IoUringParams>(), 120);
        assert_eq!(offset_of!(IoUringParams, flags), 8);
        assert_eq!(offset_of!(IoUringParams, features), 20);
        assert_eq!(offset_of!(IoUringParams, wq_fd), 24);
        assert_eq!(offset_of!(IoUringParams, sq_off), 40);
        assert_eq!(offset_of!(IoUringParams, cq_off), 80);
        assert_eq!(size_of::<IoUringProbeOp>(), 8);
        assert_eq!(offset_of!(IoUringProbeOp, flags), 2);
        assert_eq!(offset_of!(IoUringProbe, ops), 16);
        assert_eq!(size_of::<IoUringProbe>(), 16 + 256 * 8);
    }

    #[test]
    fn an_empty_probe_supports_nothing() {
        let p = IoUringProbe::new();
        assert!(p.ops().is_empty());
        assert!(!p.is_supported(0));
        assert!(!p.is_supported(255));
    }
}
