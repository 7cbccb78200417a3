//! Reads into a provided buffer ring ([`BufRing`]): the kernel picks the
//! buffer when data comes, and the result is a [`ProvidedBuf`] owning it.
//!
//! # Safety
//!
//! Each `unsafe impl Op` below builds a read with `IOSQE_BUFFER_SELECT`
//! from a descriptor the operation holds: the kernel writes only into a
//! buffer it takes from the group's ring, memory that the group's shared
//! state owns and that the operation's storage keeps alive (`prepare`
//! stores a strong reference there, released by `output` with the final
//! CQE). Group ids are unique in the process (see the `bufring` module),
//! so whichever ring the operation is pushed on, the buffer it gets is one
//! of its own group's, or none (`ENOBUFS`).
#![expect(
    unsafe_code,
    reason = "implements the unsafe Op trait for buffer-ring reads"
)]

use std::fmt;
use std::sync::Arc;

use io_uring::{opcode, squeue};

use super::socket::on_target;
use super::{CURRENT_POSITION, Fixed, OpHandle, Opts, check_target, op_setters, target};
use crate::error::{Error, Result};
use crate::fd::{EventFd, SignalFd, SignalInfo, TimerFd};
use crate::ring::Opcode;
use crate::ring::bufring::{Inner, take_raw};
use crate::ring::op::Op;
use crate::ring::{BufRing, Cqe, ProvidedBuf};
use crate::sys::Errno;

/// One read into a buffer the kernel picks from a [`BufRing`]:
/// `IORING_OP_READ` with `IOSQE_BUFFER_SELECT`. Waits — the driver re-arms
/// it behind a poll — until the file has data; the result is the buffer
/// with what was read, or `Os(ENOBUFS)` when every buffer of the group is
/// held.
///
/// # What it relies on from the driver
///
/// Its `Output` owns a buffer, and its storage a reference to the group,
/// so it relies on the driver calling [`Op::output`] exactly once for
/// every CQE of the operation, in order, whether the result is taken or
/// discarded (token dropped, operation cancelled, ring dropped), the last
/// call being the one whose CQE lacks `IORING_CQE_F_MORE`; a `-EAGAIN`
/// the driver re-arms after is not a CQE of the operation. `output`
/// releases the storage's reference on that last CQE; a result nobody
/// takes is dropped, which gives its buffer back.
#[doc(alias = "IORING_OP_READ")]
pub struct ReadProvided<H> {
    handle: H,
    bufs: BufRing,
    /// The shortest read the file takes (an eventfd's 8 bytes).
    min: u32,
    opts: Opts,
}

/// A multishot read into buffers the kernel picks from a [`BufRing`]:
/// `IORING_OP_READ_MULTISHOT` (Linux 6.7). Each time the file has data the
/// kernel reads it into a fresh buffer and posts a CQE; the operation runs
/// until it is cancelled, fails, or the group runs out of buffers
/// (`Os(ENOBUFS)`, its final result), or, with a buffer of data as its
/// final result, when the completion queue is full (the
/// [`ring`](crate::ring) module's "Multishot operations are streams").
/// Each result is a [`ProvidedBuf`].
///
/// It relies on the driver as [`ReadProvided`] does, for every one of its
/// CQEs.
#[doc(alias = "IORING_OP_READ_MULTISHOT")]
pub struct ReadMultishot<H> {
    handle: H,
    bufs: BufRing,
    min: u32,
    opts: Opts,
}

op_setters!(ReadProvided);
op_setters!(ReadMultishot);

/// What a read from a buffer group keeps while in flight: a strong
/// reference to the group, for `output` to hand each buffer out with. It
/// cannot be made outside the driver (push the operation with
/// [`Ring::push`](crate::ring::Ring::push) or a scope's `push`).
#[derive(Clone, Copy)]
pub struct ProvidedStorage {
    ring: *const Inner,
}

impl fmt::Debug for ProvidedStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProvidedStorage").finish_non_exhaustive()
    }
}

impl<H: fmt::Debug> fmt::Debug for ReadProvided<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadProvided")
            .field("handle", &self.handle)
            .field("bufs", &self.bufs)
            .field("opts", &self.opts)
            .finish()
    }
}

impl<H: fmt::Debug> fmt::Debug for ReadMultishot<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadMultishot")
            .field("handle", &self.handle)
            .field("bufs", &self.bufs)
            .field("opts", &self.opts)
            .finish()
    }
}

/// The shortest read an eventfd or timerfd takes: its 8-byte counter.
const COUNTER: u32 = 8;
/// The shortest read a signalfd takes: one record.
const RECORD: u32 = SignalInfo::SIZE as u32;

/// Adds the provided-buffer read methods to a handle type and to
/// [`Fixed`] files of it; reads need buffers of at least `$min` bytes.
macro_rules! provided_methods {
    ($handle:ident, $min:expr) => {
        impl $handle {
            /// An operation that reads once into a buffer the kernel
            /// picks from `bufs` ([`ReadProvided`]).
            #[doc(alias = "IORING_OP_READ")]
            pub fn read_provided_op(&self, bufs: &BufRing) -> ReadProvided<&$handle> {
                ReadProvided::new(self, bufs, $min)
            }

            /// [`read_provided_op`](Self::read_provided_op) for a shared
            /// handle, which the operation keeps open until it completes.
            #[doc(alias = "IORING_OP_READ")]
            pub fn read_provided_op_shared(
                self: &Arc<Self>,
                bufs: &BufRing,
            ) -> ReadProvided<Arc<$handle>> {
                ReadProvided::new(Arc::clone(self), bufs, $min)
            }

            /// An operation that reads every time there is data, each time
            /// into a buffer the kernel picks from `bufs`
            /// ([`ReadMultishot`]).
            #[doc(alias = "IORING_OP_READ_MULTISHOT")]
            pub fn read_multishot_op(&self, bufs: &BufRing) -> ReadMultishot<&$handle> {
                ReadMultishot::new(self, bufs, $min)
            }

            /// [`read_multishot_op`](Self::read_multishot_op) for a shared
            /// handle, which the operation keeps open until its final CQE.
            #[doc(alias = "IORING_OP_READ_MULTISHOT")]
            pub fn read_multishot_op_shared(
                self: &Arc<Self>,
                bufs: &BufRing,
            ) -> ReadMultishot<Arc<$handle>> {
                ReadMultishot::new(Arc::clone(self), bufs, $min)
            }
        }

        impl Fixed<$handle> {
            /// The handle's `read_provided_op` on the registered file.
            #[doc(alias = "IORING_OP_READ")]
            pub fn read_provided_op(self, bufs: &BufRing) -> ReadProvided<Fixed<$handle>> {
                ReadProvided::new(self, bufs, $min)
            }

            /// The handle's `read_multishot_op` on the registered file.
            #[doc(alias = "IORING_OP_READ_MULTISHOT")]
            pub fn read_multishot_op(self, bufs: &BufRing) -> ReadMultishot<Fixed<$handle>> {
                ReadMultishot::new(self, bufs, $min)
            }
        }
    };
}

provided_methods!(EventFd, COUNTER);
provided_methods!(TimerFd, COUNTER);
provided_methods!(SignalFd, RECORD);

impl<H> ReadProvided<H> {
    fn new(handle: H, bufs: &BufRing, min: u32) -> ReadProvided<H> {
        ReadProvided {
            handle,
            bufs: bufs.clone(),
            min,
            opts: Opts::DEFAULT,
        }
    }
}

impl<H> ReadMultishot<H> {
    fn new(handle: H, bufs: &BufRing, min: u32) -> ReadMultishot<H> {
        ReadMultishot {
            handle,
            bufs: bufs.clone(),
            min,
            opts: Opts::DEFAULT,
        }
    }
}

impl ProvidedBuf {
    /// The whole [`SignalInfo`] records a signalfd read delivered.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use iofd::{SigSet, Signal, SignalFd};
    /// use iofd::ring::Ring;
    ///
    /// let mut ring = Ring::new(4)?;
    /// let bufs = ring.register_buf_ring(3, 2, 4 * 128)?;
    /// let sfd = Arc::new(SignalFd::new(&SigSet::from(Signal::USR1))?);
    /// let token = ring.push(sfd.read_provided_op_shared(&bufs))?;
    /// let buf = ring.wait(token)?;
    /// for info in buf.signals() {
    ///     println!("signal {:?} from {}", info.signal(), info.pid);
    /// }
    /// # Ok::<(), iofd::Error>(())
    /// ```
    pub fn signals(&self) -> impl Iterator<Item = SignalInfo> + '_ {
        self.chunks_exact(SignalInfo::SIZE)
            .filter_map(|record| record.try_into().ok().map(SignalInfo::from_bytes))
    }
}

/// `InvalidParam` when `bufs`'s buffers cannot hold a read of `min` bytes
/// (which the kernel would refuse with `EINVAL`).
#[inline]
pub(super) fn check_len(bufs: &BufRing, min: u32) -> Result<()> {
    if bufs.buf_len() < min {
        Err(Error::InvalidParam(
            "the group's buffers are shorter than one record of the file",
        ))
    } else {
        Ok(())
    }
}

/// Stores a strong reference to `bufs`'s group in `storage`.
///
/// # Safety
///
/// - `storage` is valid for writes of a `ProvidedStorage`.
#[inline]
pub(super) unsafe fn store(bufs: &BufRing, storage: *mut ProvidedStorage) {
    // SAFETY: the caller's promise. The reference is released by `output`
    // on the final CQE (or leaked if the driver never submits the SQE).
    unsafe {
        storage.write(ProvidedStorage {
            ring: bufs.to_raw(),
        });
    }
}

/// The result of a CQE of a read from a buffer group: the buffer it names,
/// or its error (a buffer that came with an error goes back at once).
///
/// # Safety
///
/// - `storage` holds what [`store`] put there, and its reference has not
///   been released: the driver calls `output` once per CQE and the CQE
///   without `IORING_CQE_F_MORE` last, which releases it.
#[inline]
pub(super) unsafe fn provided_output(
    cqe: Cqe,
    storage: *const ProvidedStorage,
) -> Result<ProvidedBuf> {
    // SAFETY: the caller's promise: `storage` was filled by `store`, and the
    // kernel is done with it (it never reads or writes it anyway).
    let ring = unsafe { (*storage).ring };
    // SAFETY: the reference is live (the caller's promise), and is released
    // exactly once: with the final CQE, after which no call comes.
    let buf = unsafe { take_raw(ring, cqe, !cqe.more()) };
    match (cqe.result(), buf) {
        (Err(e), _) => Err(e),
        (Ok(_), Some(buf)) => Ok(buf),
        // Success without a buffer of the group: not something the kernel
        // posts for a buffer-select read.
        (Ok(_), None) => Err(Error::Os(Errno::EIO)),
    }
}

/// A CQE of a buffer-group operation that carries no buffer (a multishot
/// recv's end of stream): its result, with the group's reference released
/// if it is the final CQE.
///
/// # Safety
///
/// - As [`provided_output`].
#[inline]
pub(super) unsafe fn provided_end(cqe: Cqe, storage: *const ProvidedStorage) -> Result<()> {
    // SAFETY: as in `provided_output`.
    let ring = unsafe { (*storage).ring };
    // SAFETY: as in `provided_output`; a buffer, if the CQE named one
    // after all, goes back on drop.
    drop(unsafe { take_raw(ring, cqe, !cqe.more()) });
    cqe.result().map(drop)
}

// SAFETY: see the module's `# Safety`: the SQE reads from a descriptor the
// operation holds into a buffer of the group, whose memory the storage
// keeps alive until the final CQE; it touches nothing else.
unsafe impl<H: OpHandle> Op for ReadProvided<H> {
    type Storage = ProvidedStorage;
    type Output = ProvidedBuf;
    const CODE: Opcode = Opcode::READ;
    const NAME: &'static str = "provided-buffer read (IORING_OP_READ)";

    #[inline]
    fn check(&self) -> Result<()> {
        check_target(&self.handle, self.opts.fixed)?;
        check_len(&self.bufs, self.min)
    }

    #[inline]
    unsafe fn prepare(&self, storage: *mut ProvidedStorage) {
        // SAFETY: forwarded from the caller.
        unsafe { store(&self.bufs, storage) }
    }

    #[inline]
    fn entry(&self, _storage: *mut ProvidedStorage) -> squeue::Entry {
        let (len, group) = (self.bufs.buf_len(), self.bufs.group());
        let null = std::ptr::null_mut();
        let entry = on_target!(target(&self.handle, self.opts.fixed), |f| {
            opcode::Read::new(f, null, len)
                .offset(CURRENT_POSITION)
                .buf_group(group)
                .build()
        });
        entry.flags(squeue::Flags::BUFFER_SELECT)
    }

    super::handle_methods!(rearm(IN); keep);

    #[inline]
    unsafe fn output(cqe: Cqe, storage: *const ProvidedStorage) -> Result<ProvidedBuf> {
        // SAFETY: forwarded: the driver's contract (see the type's docs).
        unsafe { provided_output(cqe, storage) }
    }
}

// SAFETY: as for `ReadProvided`, for each shot: every one reads into a
// buffer of the group, whose memory the storage keeps alive until the
// final CQE.
unsafe impl<H: OpHandle> Op for ReadMultishot<H> {
    type Storage = ProvidedStorage;
    type Output = ProvidedBuf;
    const CODE: Opcode = Opcode::READ_MULTISHOT;
    const NAME: &'static str = "multishot read (IORING_OP_READ_MULTISHOT)";

    #[inline]
    fn check(&self) -> Result<()> {
        check_target(&self.handle, self.opts.fixed)?;
        check_len(&self.bufs, self.min)
    }

    #[inline]
    unsafe fn prepare(&self, storage: *mut ProvidedStorage) {
        // SAFETY: forwarded from the caller.
        unsafe { store(&self.bufs, storage) }
    }

    #[inline]
    fn entry(&self, _storage: *mut ProvidedStorage) -> squeue::Entry {
        // A length of 0: each shot may fill its whole buffer.
        let group = self.bufs.group();
        on_target!(target(&self.handle, self.opts.fixed), |f| {
            opcode::ReadMulti::new(f, 0, group)
                .offset(CURRENT_POSITION)
                .build()
        })
    }

    super::handle_methods!(keep);

    #[inline]
    unsafe fn output(cqe: Cqe, storage: *const ProvidedStorage) -> Result<ProvidedBuf> {
        // SAFETY: forwarded: the driver's contract (see `ReadProvided`).
        unsafe { provided_output(cqe, storage) }
    }
}
