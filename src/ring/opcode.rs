//! `Opcode`: an io_uring opcode as a type, for [`Op::CODE`](super::Op::CODE)
//! and [`Ring::is_supported`](super::Ring::is_supported).

/// An io_uring opcode (`IORING_OP_*`): what [`Op::CODE`](super::Op::CODE)
/// names and [`Ring::is_supported`](super::Ring::is_supported) probes.
///
/// The constants name the opcodes the crate's own operations use; any
/// other is made from the io-uring crate's `CODE` of it
/// ([`Opcode::new`]`(opcode::Fsync::CODE)`). A number the kernel does not
/// know is simply not supported: probing it answers `false`, and an
/// operation naming it is refused with
/// [`Error::Unsupported`](crate::Error::Unsupported).
///
/// # Examples
///
/// ```
/// use iofd::ring::io_uring::opcode;
/// use iofd::ring::{Opcode, Ring};
///
/// let ring = Ring::new(4)?;
/// assert!(ring.is_supported(Opcode::NOP));
/// assert_eq!(Opcode::new(opcode::Read::CODE), Opcode::READ);
/// # Ok::<(), iofd::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Opcode(u8);

impl Opcode {
    /// `IORING_OP_NOP`.
    pub const NOP: Opcode = Opcode(io_uring::opcode::Nop::CODE);
    /// `IORING_OP_READ`.
    pub const READ: Opcode = Opcode(io_uring::opcode::Read::CODE);
    /// `IORING_OP_WRITE`.
    pub const WRITE: Opcode = Opcode(io_uring::opcode::Write::CODE);
    /// `IORING_OP_READ_FIXED`.
    pub const READ_FIXED: Opcode = Opcode(io_uring::opcode::ReadFixed::CODE);
    /// `IORING_OP_WRITE_FIXED`.
    pub const WRITE_FIXED: Opcode = Opcode(io_uring::opcode::WriteFixed::CODE);
    /// `IORING_OP_READ_MULTISHOT`.
    pub const READ_MULTISHOT: Opcode = Opcode(io_uring::opcode::ReadMulti::CODE);
    /// `IORING_OP_POLL_ADD`.
    pub const POLL_ADD: Opcode = Opcode(io_uring::opcode::PollAdd::CODE);
    /// `IORING_OP_ASYNC_CANCEL`.
    pub const ASYNC_CANCEL: Opcode = Opcode(io_uring::opcode::AsyncCancel::CODE);
    /// `IORING_OP_TIMEOUT`.
    pub const TIMEOUT: Opcode = Opcode(io_uring::opcode::Timeout::CODE);
    /// `IORING_OP_LINK_TIMEOUT`.
    pub const LINK_TIMEOUT: Opcode = Opcode(io_uring::opcode::LinkTimeout::CODE);
    /// `IORING_OP_TIMEOUT_REMOVE`, which also updates a timeout.
    pub const TIMEOUT_REMOVE: Opcode = Opcode(io_uring::opcode::TimeoutRemove::CODE);
    /// `IORING_OP_ACCEPT`, one-shot or multishot.
    pub const ACCEPT: Opcode = Opcode(io_uring::opcode::Accept::CODE);
    /// `IORING_OP_CONNECT`.
    pub const CONNECT: Opcode = Opcode(io_uring::opcode::Connect::CODE);
    /// `IORING_OP_SHUTDOWN`.
    pub const SHUTDOWN: Opcode = Opcode(io_uring::opcode::Shutdown::CODE);
    /// `IORING_OP_FILES_UPDATE`.
    pub const FILES_UPDATE: Opcode = Opcode(io_uring::opcode::FilesUpdate::CODE);
    /// `IORING_OP_CLOSE`.
    pub const CLOSE: Opcode = Opcode(io_uring::opcode::Close::CODE);
    /// `IORING_OP_OPENAT`.
    pub const OPENAT: Opcode = Opcode(io_uring::opcode::OpenAt::CODE);
    /// `IORING_OP_SEND`.
    pub const SEND: Opcode = Opcode(io_uring::opcode::Send::CODE);
    /// `IORING_OP_RECV`, one-shot or multishot.
    pub const RECV: Opcode = Opcode(io_uring::opcode::Recv::CODE);
    /// `IORING_OP_SENDMSG`.
    pub const SENDMSG: Opcode = Opcode(io_uring::opcode::SendMsg::CODE);
    /// `IORING_OP_RECVMSG`.
    pub const RECVMSG: Opcode = Opcode(io_uring::opcode::RecvMsg::CODE);
    /// `IORING_OP_SEND_ZC`.
    pub const SEND_ZC: Opcode = Opcode(io_uring::opcode::SendZc::CODE);
    /// `IORING_OP_MSG_RING`.
    pub const MSG_RING: Opcode = Opcode(io_uring::opcode::MsgRingData::CODE);
    /// `IORING_OP_WAITID` (Linux 6.7).
    pub const WAITID: Opcode = Opcode(io_uring::opcode::WaitId::CODE);

    /// The opcode numbered `code`: the io-uring crate's `opcode::*::CODE`,
    /// for an opcode without a constant here.
    #[inline]
    pub const fn new(code: u8) -> Opcode {
        Opcode(code)
    }

    /// The opcode's number, as the SQE carries it.
    #[inline]
    pub const fn code(self) -> u8 {
        self.0
    }
}
