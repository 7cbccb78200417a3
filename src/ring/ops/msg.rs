//! Messages between rings (`IORING_OP_MSG_RING`): a value or a direct
//! descriptor sent to another ring's [`Mailbox`](crate::ring::Mailbox),
//! and the mailbox's own (never submitted) operation, whose results are
//! the messages.
//!
//! # Safety
//!
//! A message's SQE names the target ring's descriptor, which the
//! operation keeps open until its CQE (its `into_keep`), and touches no
//! memory. The mailbox's operation is never submitted: its storage is
//! written by the driver alone, before any message can come.
#![expect(
    unsafe_code,
    reason = "implements the unsafe Op trait for ring messages"
)]

use std::fmt;
use std::marker::PhantomData;
use std::os::fd::{AsFd, AsRawFd};
use std::sync::Arc;

use io_uring::{opcode, squeue, types};

use crate::error::{Error, Result};
use crate::ring::Opcode;
use crate::ring::msg::{Address, Message};
use crate::ring::op::{Op, cqe_error, cqe_unit};
use crate::ring::table::{MAIL_FILE, MAIL_LOST};
use crate::ring::{Cqe, Direct};
use crate::sys::Errno;

/// Sends a `u32` to a [`Mailbox`](crate::ring::Mailbox) from this ring
/// (`IORING_OP_MSG_RING` with `IORING_MSG_DATA`): made by
/// [`Sender::message_op`](crate::ring::Sender::message_op). The target
/// ring sees [`Message::Data`] through its dispatch; this operation's
/// result says whether the kernel posted it.
///
/// Errors: [`Error::Closed`] at push when the mailbox or its ring is
/// gone; from the kernel, `Os(EOVERFLOW)` when the target's completion
/// queue overflowed and the kernel could not hold the message,
/// `Os(EOWNERDEAD)` when the target is a `DEFER_TASKRUN` ring whose
/// thread has exited, `Os(ENOMEM)`.
#[doc(alias("IORING_OP_MSG_RING", "IORING_MSG_DATA"))]
pub struct SendMessage {
    pub(crate) to: Arc<Address>,
    pub(crate) payload: u32,
}

impl fmt::Debug for SendMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendMessage")
            .field("ring", &self.to.ring.id)
            .field("payload", &self.payload)
            .finish()
    }
}

// SAFETY: the SQE names the target ring's descriptor, which `into_keep`
// keeps open until the CQE, and touches no memory: the kernel posts a CQE
// to that ring.
unsafe impl Op for SendMessage {
    type Storage = ();
    type Output = ();
    const CODE: Opcode = Opcode::MSG_RING;
    const NAME: &'static str = "ring message (IORING_OP_MSG_RING)";

    fn check(&self) -> Result<()> {
        self.to.check()
    }

    fn entry(&self, _storage: *mut ()) -> squeue::Entry {
        opcode::MsgRingData::new(
            types::Fd(self.to.ring.fd.as_raw_fd()),
            self.payload as i32,
            self.to.mailbox.mail(false).raw(),
            None,
        )
        .build()
    }

    fn into_keep(self) -> Option<Arc<dyn AsFd + Send + Sync>> {
        Some(Arc::clone(&self.to.ring) as Arc<dyn AsFd + Send + Sync>)
    }

    unsafe fn output(cqe: Cqe, _storage: *const ()) -> Result<()> {
        cqe_unit(cqe)
    }
}

/// Sends a direct descriptor to another ring's
/// [`Mailbox`](crate::ring::Mailbox) (`IORING_OP_MSG_RING` with
/// `IORING_MSG_SEND_FD`), pushed by [`Ring::send_file`](crate::ring::Ring::send_file),
/// which links the close of the source slot behind it. Its result says
/// whether the file reached the target's table.
#[doc(alias("IORING_OP_MSG_RING", "IORING_MSG_SEND_FD"))]
pub struct SendFile {
    pub(crate) to: Arc<Address>,
    pub(crate) index: u32,
}

impl fmt::Debug for SendFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendFile")
            .field("ring", &self.to.ring.id)
            .field("index", &self.index)
            .finish()
    }
}

// SAFETY: the SQE names the target ring's descriptor, kept open by
// `into_keep`, and a slot of this ring's file table, whose file the
// kernel takes a reference to; it touches no memory. It closes nothing:
// the source slot's close is a separate SQE the driver links behind it.
unsafe impl Op for SendFile {
    type Storage = ();
    type Output = ();
    const CODE: Opcode = Opcode::MSG_RING;
    const NAME: &'static str = "file message (IORING_OP_MSG_RING, IORING_MSG_SEND_FD)";

    fn check(&self) -> Result<()> {
        self.to.check()
    }

    fn entry(&self, _storage: *mut ()) -> squeue::Entry {
        opcode::MsgRingSendFd::new(
            types::Fd(self.to.ring.fd.as_raw_fd()),
            types::Fixed(self.index),
            types::DestinationSlot::auto_target(),
            self.to.mailbox.mail(true).raw(),
        )
        .build()
    }

    fn into_keep(self) -> Option<Arc<dyn AsFd + Send + Sync>> {
        Some(Arc::clone(&self.to.ring) as Arc<dyn AsFd + Send + Sync>)
    }

    unsafe fn output(cqe: Cqe, _storage: *const ()) -> Result<()> {
        if cqe.res == -Errno::EINVAL.raw() {
            // Every field the kernel checks is right by construction (no
            // length, another ring, no personality): only a kernel without
            // the command refuses it.
            return Err(Error::Unsupported(NO_SEND_FD));
        }
        cqe_unit(cqe)
    }
}

/// The error where the kernel has `IORING_OP_MSG_RING` but not its file
/// command.
const NO_SEND_FD: &str = "IORING_MSG_SEND_FD (Linux 6.0)";

/// What a mailbox's slot stores: enough to name the direct slots its
/// files arrive in.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MailState {
    /// The ring's [`Ring::id`](crate::ring::Ring::id).
    pub(crate) ring: u32,
    /// The registration of the ring's file table the files go into,
    /// updated by the ring when it changes.
    pub(crate) epoch: u32,
}

/// A mailbox's operation: never submitted, its results are the messages
/// other rings post with its tag. Not constructible outside the crate.
pub(crate) struct Receive<F> {
    _file: PhantomData<fn() -> F>,
}

// SAFETY: never pushed (the driver claims a slot for it and submits
// nothing); `entry` builds a NOP, which touches nothing, should anything
// build it. `output` reads only the `MailState` the driver wrote.
unsafe impl<F> Op for Receive<F> {
    type Storage = MailState;
    type Output = Message<F>;
    const CODE: Opcode = Opcode::MSG_RING;
    const NAME: &'static str = "ring messages (IORING_OP_MSG_RING)";

    fn entry(&self, _storage: *mut MailState) -> squeue::Entry {
        opcode::Nop::new().build()
    }

    unsafe fn output(cqe: Cqe, storage: *const MailState) -> Result<Message<F>> {
        if cqe.flags & Cqe::F_MORE == 0 {
            // Not a message (the table marks each as a shot): the
            // cancelled result a closing mailbox discards.
            return Err(cqe_error(cqe.res.min(-1)));
        }
        if cqe.flags & MAIL_FILE == 0 {
            // The sender's `u32`, which the kernel carries as `res`.
            return Ok(Message::Data(cqe.res as u32));
        }
        if cqe.flags & MAIL_LOST != 0 || cqe.res < 0 {
            return Err(Error::Closed);
        }
        // SAFETY: the caller's promise: `storage` is this mailbox's
        // `MailState`, written by the driver when it opened the mailbox.
        let state = unsafe { storage.read() };
        Ok(Message::File(Direct::from_parts(
            state.ring,
            state.epoch,
            cqe.res as u32,
        )))
    }
}
