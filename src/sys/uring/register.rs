//! `io_uring_register` opcodes with typed, safe wrappers: the opcode
//! probe and ring-descriptor registration.
//!
//! # Safety
//!
//! Each wrapper passes the kernel one live Rust struct (or array) for the
//! duration of the call; none of these opcodes keeps a pointer after it.
//! Unregistering a ring slot is `unsafe`: the slot belongs to whoever
//! registered it, as a descriptor belongs to whoever opened it.
#![expect(
    unsafe_code,
    reason = "io_uring_register takes pointers to live structs"
)]

use std::ffi::c_void;
use std::os::fd::{AsRawFd, BorrowedFd};

use super::{Errno, IoUringProbe, io_uring_register};

/// `IORING_REGISTER_PROBE`: the `io_uring_register` opcode that fills an
/// [`IoUringProbe`].
pub const IORING_REGISTER_PROBE: u32 = 8;
/// `IORING_REGISTER_RING_FDS`: registers ring descriptors in the calling
/// thread's table (16 slots), so that `io_uring_enter` can name a ring by
/// index (`IORING_ENTER_REGISTERED_RING`).
pub const IORING_REGISTER_RING_FDS: u32 = 20;
/// `IORING_UNREGISTER_RING_FDS`: frees slots of the calling thread's
/// table.
pub const IORING_UNREGISTER_RING_FDS: u32 = 21;

/// `struct io_uring_rsrc_update`: one resource update, here a ring
/// descriptor (`data`) and its slot (`offset`, `u32::MAX` for "any free").
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RsrcUpdate {
    /// The slot, or `u32::MAX` to let the kernel choose one.
    pub offset: u32,
    /// Reserved, zero.
    pub resv: u32,
    /// The descriptor to register.
    pub data: u64,
}

/// `io_uring_register(fd, IORING_REGISTER_PROBE, probe, 256)` — fills
/// `probe` with the opcodes this kernel supports. `probe` is zeroed first,
/// as the kernel requires.
///
/// # Errors
///
/// `EOPNOTSUPP` when `fd` is not an io_uring; `EBADF`; `ENOMEM`.
///
/// See [io_uring_register(2)](https://man7.org/linux/man-pages/man2/io_uring_register.2.html).
#[inline]
#[doc(alias = "io_uring_register")]
pub fn io_uring_register_probe(fd: BorrowedFd<'_>, probe: &mut IoUringProbe) -> Result<(), Errno> {
    *probe = IoUringProbe::new();
    // SAFETY: `probe` is a live, zeroed `io_uring_probe` with room for 256
    // ops, the `nr_args` passed; the kernel writes it only during the call.
    unsafe {
        io_uring_register(
            fd,
            IORING_REGISTER_PROBE,
            probe as *mut IoUringProbe as *mut c_void,
            256,
        )
    }
    .map(drop)
}

/// `io_uring_register(ring, IORING_REGISTER_RING_FDS, &update, 1)` —
/// registers io_uring descriptor `target` in a free slot of the calling
/// thread's table, through any io_uring descriptor `ring` (usually the
/// same); returns the slot. The registration belongs to the calling
/// thread: only it can enter through the slot or unregister it, and it
/// ends when the thread exits.
///
/// # Errors
///
/// `EBUSY` when the thread's 16 slots are taken; `EOPNOTSUPP` when
/// `target` or `ring` is not an io_uring; `EBADF`.
///
/// See [io_uring_register(2)](https://man7.org/linux/man-pages/man2/io_uring_register.2.html).
#[inline]
#[doc(alias = "io_uring_register")]
pub fn io_uring_register_ring_fd(
    ring: BorrowedFd<'_>,
    target: BorrowedFd<'_>,
) -> Result<u32, Errno> {
    let mut up = RsrcUpdate {
        offset: u32::MAX,
        resv: 0,
        data: target.as_raw_fd() as u64,
    };
    // SAFETY: `up` is one live `io_uring_rsrc_update` for the call (the
    // `nr_args` passed); the kernel writes the chosen slot into it and
    // keeps no pointer.
    unsafe {
        io_uring_register(
            ring,
            IORING_REGISTER_RING_FDS,
            (&mut up as *mut RsrcUpdate).cast::<c_void>(),
            1,
        )
    }?;
    Ok(up.offset)
}

/// `io_uring_register(ring, IORING_UNREGISTER_RING_FDS, &update, 1)` —
/// frees slot `index` of the calling thread's registered-ring table,
/// through any io_uring descriptor `ring`.
///
/// # Safety
///
/// - The calling thread owns the registration in slot `index`: no ring
///   still enters through it. (A ring that does would enter another ring,
///   or fail, as a closed descriptor number that was reused would; safe
///   code such as the driver's relies on its slots.)
///
/// # Errors
///
/// `EINVAL` for a slot out of range; `EOPNOTSUPP` when `ring` is not an
/// io_uring; `EBADF`. A free slot is not an error.
///
/// See [io_uring_register(2)](https://man7.org/linux/man-pages/man2/io_uring_register.2.html).
#[inline]
#[doc(alias = "io_uring_register")]
pub unsafe fn io_uring_unregister_ring_fd(ring: BorrowedFd<'_>, index: u32) -> Result<(), Errno> {
    let mut up = RsrcUpdate {
        offset: index,
        resv: 0,
        data: 0,
    };
    // SAFETY: as in `io_uring_register_ring_fd`: one live struct, no
    // pointer kept.
    unsafe {
        io_uring_register(
            ring,
            IORING_UNREGISTER_RING_FDS,
            (&mut up as *mut RsrcUpdate).cast::<c_void>(),
            1,
        )
    }
    .map(drop)
}

/// `IORING_REGISTER_SEND_MSG_RING` (Linux 6.13): runs one `MSG_RING`
/// SQE synchronously, with no ring of the caller's (`fd` is -1).
pub const IORING_REGISTER_SEND_MSG_RING: u32 = 31;
/// `IORING_OP_MSG_RING`.
const IORING_OP_MSG_RING: u8 = 40;
/// `IORING_MSG_DATA`: the `MSG_RING` command that posts a CQE.
const IORING_MSG_DATA: u64 = 0;

/// The fields of a `struct io_uring_sqe` that an `IORING_MSG_DATA`
/// message uses, in the kernel's 64-byte layout; the others stay zero.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct MsgSqe {
    opcode: u8,
    flags: u8,
    ioprio: u16,
    fd: i32,
    /// `off`: the `user_data` of the CQE posted to the target.
    off: u64,
    /// `addr`: the command, `IORING_MSG_DATA`.
    addr: u64,
    /// `len`: the `res` of the CQE posted to the target.
    len: u32,
    msg_ring_flags: u32,
    user_data: u64,
    buf_index: u16,
    personality: u16,
    file_index: u32,
    addr3: u64,
    pad: u64,
}

/// `io_uring_register(-1, IORING_REGISTER_SEND_MSG_RING, &sqe, 1)` —
/// posts a CQE with `user_data` and `res` to ring `target`'s completion
/// queue (`IORING_OP_MSG_RING` with `IORING_MSG_DATA`) and wakes its
/// waiters, without a ring of the caller's (Linux 6.13).
///
/// # Errors
///
/// `EBADF` where the kernel predates the opcode (it looks up descriptor
/// -1); `EBADFD` when `target` is not an io_uring, or one created
/// disabled and not yet enabled; `EOVERFLOW` when the target's completion
/// queue is full and the kernel cannot hold more overflow; `ENOMEM`.
///
/// See [io_uring_register(2)](https://man7.org/linux/man-pages/man2/io_uring_register.2.html).
#[inline]
#[doc(alias = "io_uring_register")]
pub fn io_uring_send_msg_ring(
    target: BorrowedFd<'_>,
    user_data: u64,
    res: u32,
) -> Result<(), Errno> {
    let mut sqe = MsgSqe {
        opcode: IORING_OP_MSG_RING,
        fd: target.as_raw_fd(),
        off: user_data,
        addr: IORING_MSG_DATA,
        len: res,
        ..MsgSqe::default()
    };
    // SAFETY: `sqe` is one live 64-byte SQE for the call (the `nr_args`
    // passed), which the kernel copies in and keeps no pointer to; the
    // descriptor it names is borrowed for the call. Descriptor -1 names no
    // ring: the kernel takes it as "no ring" for this opcode.
    let r = unsafe {
        crate::sys::syscall4(
            crate::sys::nr::IO_URING_REGISTER,
            (-1isize).into(),
            IORING_REGISTER_SEND_MSG_RING.into(),
            (&mut sqe).into(),
            1usize.into(),
        )
    };
    r.map(drop)
}

#[cfg(test)]
mod msg_tests {
    use super::MsgSqe;

    #[test]
    fn the_message_sqe_has_the_kernel_layout() {
        assert_eq!(size_of::<MsgSqe>(), 64);
        assert_eq!(std::mem::offset_of!(MsgSqe, off), 8);
        assert_eq!(std::mem::offset_of!(MsgSqe, addr), 16);
        assert_eq!(std::mem::offset_of!(MsgSqe, len), 24);
        assert_eq!(std::mem::offset_of!(MsgSqe, user_data), 32);
        assert_eq!(std::mem::offset_of!(MsgSqe, file_index), 44);
        assert_eq!(std::mem::offset_of!(MsgSqe, addr3), 48);
    }
}
