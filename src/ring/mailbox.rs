//! The ring's side of messaging: its handle, its mailboxes, and files
//! sent to other rings (see the [`msg`](super::msg) module).
//!
//! # Safety
//!
//! A mailbox's slot is never submitted: its storage, a `MailState`, is
//! written and read by the driver alone. A file's send is a message SQE
//! and a close of the same slot, linked, which touch no memory.
#![expect(
    unsafe_code,
    reason = "a mailbox keeps its state in a slot the kernel never writes"
)]

use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use io_uring::{opcode, squeue, types};

use super::driver::Ring;
use super::msg::{Address, Mailbox, Message, RingHandle, Sender, Target};
use super::op::Token;
use super::ops::{MailState, Receive, SendFile};
use super::orphans::{self, Posted};
use super::submit::{Rearming, build, discard_of, keep};
use super::{Direct, UserData};
use crate::error::{Error, Result};
use crate::sys::file::fcntl_dupfd_cloexec;

/// A ring's messaging state: its handle, once made, and its open
/// mailboxes.
#[derive(Default)]
pub(crate) struct Mail {
    target: Option<Arc<Target>>,
    boxes: Vec<(UserData, Arc<Address>)>,
}

impl Mail {
    /// Marks the ring and its mailboxes closed: the ring is being dropped.
    pub(crate) fn shut(&self) {
        if let Some(t) = &self.target {
            t.open.store(false, Ordering::Release);
        }
        for (_, a) in &self.boxes {
            a.open.store(false, Ordering::Release);
        }
    }

    /// Whether another ring or thread may hold the ring's descriptor.
    pub(crate) fn shared(&self) -> bool {
        self.target.is_some()
    }
}

impl Ring {
    /// This ring's [`RingHandle`], for other threads: the first call
    /// duplicates the ring's descriptor (`fcntl(F_DUPFD_CLOEXEC)`), later
    /// ones share it.
    ///
    /// # Errors
    ///
    /// `Os(EMFILE)` when the process has no descriptor to spare.
    pub fn handle(&mut self) -> Result<RingHandle> {
        self.target().map(RingHandle)
    }

    fn target(&mut self) -> Result<Arc<Target>> {
        if let Some(t) = &self.mail.target {
            return Ok(Arc::clone(t));
        }
        let fd = fcntl_dupfd_cloexec(self.as_fd(), 0)?;
        let t = Arc::new(Target {
            fd,
            id: self.id,
            open: AtomicBool::new(true),
        });
        self.mail.target = Some(Arc::clone(&t));
        Ok(t)
    }

    /// Opens a [`Mailbox`] whose messages are announced by
    /// [`next_completion`](Ring::next_completion) under `tag`; `F` is the
    /// kind of file it receives (`()` for values only).
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] when the kernel lacks `IORING_OP_MSG_RING`;
    /// [`Error::TableFull`] or [`Error::NoMemory`] as for a push; the
    /// errors of [`handle`](Ring::handle).
    pub fn mailbox<F>(&mut self, tag: u64) -> Result<Mailbox<F>> {
        self.check::<Receive<F>>()?;
        let target = self.target()?;
        self.mail
            .boxes
            .try_reserve(1)
            .map_err(|_| Error::NoMemory)?;
        let ud = self.alloc(false, Some(tag))?;
        let storage = self.table.storage_ptr(ud, false).cast::<MailState>();
        // SAFETY: the slot's inline storage (24 bytes, 8-aligned) holds a
        // `MailState`; the slot is never submitted, so nothing but the
        // driver touches it.
        unsafe {
            storage.write(MailState {
                ring: self.id,
                epoch: self.files_epoch,
            });
        }
        if let Some(discard) = discard_of::<Receive<F>>()
            && !self.table.set_discard(ud, discard, storage.cast::<u8>())
        {
            self.table.remove(ud);
            return Err(Error::NoMemory);
        }
        let address = Arc::new(Address {
            ring: target,
            mailbox: ud,
            open: AtomicBool::new(true),
        });
        self.mail.boxes.push((ud, Arc::clone(&address)));
        Ok(Mailbox {
            token: Token::new(ud, self.id),
            address,
        })
    }

    /// Takes the oldest message of `mailbox` not yet taken: `None` when
    /// there is none (messages arrive as the ring reaps). Files that came
    /// before the ring's file table was unregistered went with it: they
    /// are reported as [`Error::Closed`] in their turn.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParam`] for a mailbox of another ring;
    /// [`Error::Closed`] for a file lost with the table.
    pub fn receive<F>(&mut self, mailbox: &mut Mailbox<F>) -> Option<Result<Message<F>>> {
        if mailbox.token.ring != self.id {
            return Some(Err(Error::InvalidParam(
                "the mailbox belongs to another ring",
            )));
        }
        self.take(&mut mailbox.token)
    }

    /// [`receive`](Ring::receive) for a mailbox of values only
    /// (`Mailbox<()>`): the value itself, with no file case to match.
    ///
    /// # Errors
    ///
    /// As [`receive`](Ring::receive).
    ///
    /// # Examples
    ///
    /// ```
    /// use iofd::ring::Ring;
    ///
    /// let (mut a, mut b) = (Ring::new(8)?, Ring::new(8)?);
    /// let mut jobs = b.mailbox::<()>(1)?;
    /// a.run(jobs.sender().message_op(17))?;
    /// b.submit_and_wait(1)?;
    /// assert!(b.next_completion().is_some_and(|c| jobs.is_for(&c)));
    /// assert_eq!(b.receive_value(&mut jobs), Some(Ok(17)));
    /// # Ok::<(), iofd::Error>(())
    /// ```
    pub fn receive_value(&mut self, mailbox: &mut Mailbox<()>) -> Option<Result<u32>> {
        self.receive(mailbox).map(|m| match m? {
            Message::Data(v) => Ok(v),
            // `send_file` to a `Mailbox<()>` takes a `Direct<()>`, which
            // nothing makes: not reached, and not a panic if it were.
            Message::File(_) => Err(Error::InvalidParam("a file came to a mailbox of values")),
        })
    }

    /// Closes `mailbox`: its slot is freed, messages not taken dropped
    /// (files closed), and its senders get [`Error::Closed`]. Messages
    /// already on their way are counted stale when they come. A mailbox of
    /// another ring is closed by that ring at its next submission.
    pub fn close_mailbox<F>(&mut self, mut mailbox: Mailbox<F>) {
        if mailbox.token.ring == self.id {
            mailbox.token.done = true;
            self.remove_mailbox(mailbox.token.ud);
        }
    }

    /// Frees mailbox `ud`'s slot, if it is one of this ring's open
    /// mailboxes; `false` otherwise.
    fn remove_mailbox(&mut self, ud: UserData) -> bool {
        let Some(at) = self.mail.boxes.iter().position(|(m, _)| *m == ud) else {
            return false;
        };
        let (_, address) = self.mail.boxes.swap_remove(at);
        address.open.store(false, Ordering::Release);
        self.table.remove(ud);
        true
    }

    /// A token or mailbox was dropped without the ring: a mailbox is
    /// closed, an operation detached.
    pub(super) fn detach_posted(&mut self, ud: UserData) {
        if self.mail.boxes.is_empty() || !self.remove_mailbox(ud) {
            self.table.abandon(ud);
        }
    }

    /// Closes every mailbox: the ring is being dropped, and a mailbox,
    /// never submitted, would never end by itself.
    pub(super) fn close_mailboxes(&mut self) {
        while let Some(&(ud, _)) = self.mail.boxes.last() {
            self.remove_mailbox(ud);
        }
    }

    /// A file came for a mailbox that is gone: slot `index` of the
    /// current table is closed at the next submission.
    #[cold]
    pub(super) fn close_mailed_file(&mut self, index: u32) {
        orphans::post(
            self.id,
            UserData::WAKE,
            Posted::CloseSlot {
                index,
                epoch: self.files_epoch,
            },
        );
    }

    /// The file table was unregistered: files that came for mailboxes
    /// before it (all reaped now) are lost.
    pub(super) fn mail_files_unregistered(&mut self) {
        if self.mail.boxes.is_empty() {
            return;
        }
        // Every file the kernel installed in the table it just dropped
        // was posted before the unregister returned: reaped here, they
        // are marked with the table's end. (Held panics stay held.)
        let _ = self.reap_passes(false, true);
        for i in 0..self.mail.boxes.len() {
            let ud = self.mail.boxes[i].0;
            self.table.lose_mailed_files(ud);
        }
    }

    /// The file table changed: files that come from now on go into
    /// registration `files_epoch`.
    pub(super) fn mail_files_epoch(&mut self) {
        for i in 0..self.mail.boxes.len() {
            let ud = self.mail.boxes[i].0;
            let storage = self.table.storage_ptr(ud, false).cast::<MailState>();
            // SAFETY: an open mailbox's slot holds its `MailState`, which
            // only the driver touches (the slot is never submitted).
            unsafe { (*storage).epoch = self.files_epoch };
        }
    }

    /// `IORING_OP_MSG_RING` with `IORING_MSG_SEND_FD` — sends the file in
    /// direct slot `file` of this ring to `to`'s mailbox on another ring,
    /// which receives it as [`Message::File`] in a slot of its own table
    /// (the kernel picks a free one). This ring's slot is closed after the
    /// send whatever its result (a close linked with `IOSQE_IO_HARDLINK`):
    /// the file lives on only in the receiver's table, or, if the send
    /// fails, nowhere.
    ///
    /// # Errors
    ///
    /// At push: [`Error::InvalidParam`] for a `Direct` of another ring or
    /// of an earlier file table, or a mailbox of this ring (the kernel
    /// sends no file to its own ring); [`Error::Closed`] when the mailbox
    /// was closed or its ring dropped; as [`push`](Ring::push). The
    /// `Direct` is then dropped, closing its slot. The operation's result:
    /// `Os(ENFILE)` when the receiver's table is full or it has none,
    /// [`Error::Unsupported`]`("IORING_MSG_SEND_FD (Linux 6.0)")` on a
    /// kernel without the command, `Os(EOWNERDEAD)` when it is a `DEFER_TASKRUN` ring
    /// whose thread has exited, `Os(ECANCELED)` when cancelled, and
    /// `Os(EOVERFLOW)` when the receiver's completion queue was full and
    /// the kernel had no memory to hold the message: it has installed the
    /// file but could not say so (its own limit, per its source), so the
    /// slot stays taken until the receiver's table goes.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use std::sync::Arc;
    /// use iofd::{TcpListener, TcpStream};
    /// use iofd::ring::{Message, Ring};
    ///
    /// let (mut a, mut b) = (Ring::new(8)?, Ring::new(8)?);
    /// let files = a.register_files_sparse(4)?;
    /// b.register_files_sparse(4)?;
    /// let mut mailbox = b.mailbox::<TcpStream>(0)?;
    /// let listener = Arc::new(TcpListener::bind("127.0.0.1:0".parse().unwrap())?);
    /// let accept = a.push(listener.accept_direct_op_shared(files))?;
    /// let mut client = std::net::TcpStream::connect(listener.local_addr()?).unwrap();
    /// let conn = a.wait(accept)?;
    /// let sent = a.send_file(&mailbox.sender(), conn)?;
    /// a.wait(sent)?; // in b's table now; a's slot is closed
    /// b.submit_and_wait(1)?;
    /// let Some(Ok(Message::File(conn))) = b.receive(&mut mailbox) else { panic!() };
    /// let echo = b.push(conn.fixed().send_op(b"hi".to_vec()))?;
    /// b.wait(echo)?;
    /// let mut got = [0u8; 2];
    /// client.read_exact(&mut got).unwrap();
    /// assert_eq!(&got, b"hi");
    /// # Ok::<(), iofd::Error>(())
    /// ```
    #[doc(alias("IORING_OP_MSG_RING", "IORING_MSG_SEND_FD"))]
    pub fn send_file<F>(&mut self, to: &Sender<F>, file: Direct<F>) -> Result<Token<SendFile>> {
        self.send_file_inner(to, file, None)
    }

    /// [`send_file`](Ring::send_file), with the result announced by
    /// [`next_completion`](Ring::next_completion) under `tag`.
    ///
    /// # Errors
    ///
    /// As [`send_file`](Ring::send_file).
    #[doc(alias("IORING_OP_MSG_RING", "IORING_MSG_SEND_FD"))]
    pub fn send_file_tagged<F>(
        &mut self,
        to: &Sender<F>,
        file: Direct<F>,
        tag: u64,
    ) -> Result<Token<SendFile>> {
        self.send_file_inner(to, file, Some(tag))
    }

    fn send_file_inner<F>(
        &mut self,
        to: &Sender<F>,
        file: Direct<F>,
        tag: Option<u64>,
    ) -> Result<Token<SendFile>> {
        if file.ring_id() != self.id {
            return Err(Error::InvalidParam("the Direct belongs to another ring"));
        }
        if file.epoch() != self.files_epoch {
            return Err(Error::InvalidParam(
                "the Direct belongs to an earlier file table of the ring",
            ));
        }
        if to.to.ring.id == self.id {
            return Err(Error::InvalidParam(
                "a file cannot be sent to a mailbox of its own ring",
            ));
        }
        let op = SendFile {
            to: Arc::clone(&to.to),
            index: file.index(),
        };
        let ud = self.alloc(false, tag)?;
        let storage = std::ptr::NonNull::<()>::dangling().as_ptr();
        // SAFETY: a zero-sized storage: the SQE touches no memory.
        let entry = unsafe {
            build(
                &mut self.table,
                &self.supported,
                &op,
                ud,
                storage,
                Rearming::Never,
                None,
            )
        }?;
        let close = opcode::Close::new(types::Fixed(file.index()))
            .build()
            .flags(squeue::Flags::SKIP_SUCCESS)
            .user_data(UserData::WAKE.raw());
        let pair = [entry.flags(squeue::Flags::IO_HARDLINK), close];
        // SAFETY: the message names the target ring, kept open by the
        // operation (`keep` below), and a slot of this ring's table; the
        // close names the same slot, which the `Direct` gives up to it
        // once both are queued; its CQE (only on failure) carries a
        // reserved tag. Both go in together, so the link is never split.
        if let Err(e) = unsafe { self.push_linked(&pair) } {
            self.table.remove(ud);
            return Err(e);
        }
        // The linked close owns the slot now.
        let _ = file.into_index();
        keep(&mut self.table, ud, op);
        Ok(Token::new(ud, self.id))
    }
}
