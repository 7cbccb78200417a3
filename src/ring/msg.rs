//! Messages between rings and threads (`IORING_OP_MSG_RING`): a
//! thread-per-core server runs one [`Ring`](super::Ring) per thread and hands work
//! between them; threads without a ring wake a ring's loop.
//!
//! # The pieces
//!
//! - [`Ring::handle`](super::Ring::handle) gives a [`RingHandle`]: a name for the ring that is
//!   `Clone + Send + Sync` (an `Arc`), which [`RingHandle::wake`] uses to
//!   wake the ring from any thread.
//! - [`Ring::mailbox`](super::Ring::mailbox) opens a [`Mailbox`] under a tag of the caller's: a
//!   slot of the completion table that is never submitted, like a
//!   multishot operation that never ends by itself. Each message another
//!   ring or thread posts to it is one more result of that slot: announced
//!   by [`Ring::next_completion`](super::Ring::next_completion) under the mailbox's tag, in the order
//!   the kernel posted them, and taken with [`Ring::receive`](super::Ring::receive) as a
//!   [`Message`].
//! - [`Mailbox::sender`] gives a [`Sender`] (`Clone + Send + Sync`) that
//!   posts to it: [`Sender::post`] from any thread, with no ring of its
//!   own (`IORING_REGISTER_SEND_MSG_RING`, one syscall, Linux 6.13);
//!   [`Sender::message_op`] as an operation of another ring's batch
//!   (`IORING_OP_MSG_RING`); and [`Ring::send_file`](super::Ring::send_file) hands a
//!   [`Direct`] descriptor over (`IORING_MSG_SEND_FD`), which the
//!   receiver takes as a [`Direct`] of its own table.
//!
//! A message's CQE carries the mailbox's slot and generation in its
//! `user_data` (see [`UserData`]): a message for a mailbox that was
//! closed is counted stale ([`Ring::stale_completions`](super::Ring::stale_completions)) and dropped,
//! never delivered to whatever took its slot since, and a file in it is
//! closed.
//!
//! # Which to use
//!
//! - To hand work to another ring's loop: a [`Mailbox`] per loop (or per
//!   kind of message), and [`Sender::message_op`] pushed with the
//!   sender's other work, in the same submission: no syscall of its own.
//! - To wake a ring from a thread without one: [`Sender::post`] when the
//!   loop should see why it was woken (a tag and a value through its
//!   dispatch), [`RingHandle::wake`] when the loop only needs to stop
//!   waiting (it looks at its own queues then). Both are one
//!   `io_uring_register` call that posts a CQE to the ring straight away.
//!   That is cheaper than the registered-eventfd route, which needs a
//!   read or poll of the eventfd armed on the ring and re-armed after each
//!   wake, and it is seen in the ring's own dispatch. Where the kernel
//!   predates Linux 6.13, both report
//!   [`Error::Unsupported`]`("IORING_REGISTER_SEND_MSG_RING (Linux 6.13)")`:
//!   use an [`EventFd`](crate::EventFd) with a
//!   [`PollMultishot`](super::ops::PollMultishot) armed on the ring then.
//! - To hand a connection to another ring: accept it into a direct slot
//!   ([`TcpListener::accept_direct_op`](crate::TcpListener::accept_direct_op))
//!   and [`Ring::send_file`](super::Ring::send_file) it; the receiver's [`Direct`] is a slot of
//!   its own table, and the sender's slot is closed.
//!
//! # What a message carries, and in what order
//!
//! A value is a `u32`: the kernel posts a message as a completion whose
//! 32-bit result is the value, and its 64-bit `user_data` is the driver's,
//! naming the mailbox (that is how a message for a closed mailbox is told
//! apart). To hand over more, keep the payload where both threads reach it
//! (a queue, a slab behind a lock) and send its index, or send a wake and
//! let the receiver drain the queue.
//!
//! Values from one sender arrive in the order sent: [`Sender::post`]
//! posts before it returns, and the [`Sender::message_op`]s one ring
//! submits are posted as the kernel issues them, in queue order. A file
//! ([`Ring::send_file`](super::Ring::send_file)) may overtake or be
//! overtaken: when the receiver's ring is busy the kernel retries it from
//! a worker thread.
//!
//! A mailbox's tag is a tag like [`Ring::push_tagged`](super::Ring::push_tagged)'s,
//! in the same space: the loop tells its mailboxes from its operations by
//! the tags it chose (or with [`Mailbox::is_for`]).
//!
//! # When the receiver goes away
//!
//! A [`RingHandle`] holds a duplicate of the ring's descriptor, so the
//! kernel object stays alive — and its descriptor number never names
//! another file — for as long as any handle, sender or message in flight
//! does. Dropping the ring (or closing a mailbox) marks it closed first:
//! every send after that returns [`Error::Closed`], which is what a
//! message to a dropped ring or closed mailbox gives. A send that races
//! with the drop (checked just before) may be accepted by the kernel and
//! is then dropped with the ring, as a channel drops what was sent just
//! before its receiver went. A file sent in that window lands in the
//! dropped ring's table, which the drop unregisters: closed all the same.
//! What the kernel keeps of a dropped ring (its queues, a few pages) is
//! freed with the last handle.
//!
//! # Examples
//!
//! A thread with no ring wakes a ring blocked in `submit_and_wait`, and
//! the loop sees the message under the mailbox's tag:
//!
//! ```
//! use iofd::ring::{Message, Ring};
//!
//! let mut ring = Ring::new(8)?;
//! let mut mailbox = ring.mailbox::<()>(7)?;
//! let sender = mailbox.sender();
//! let poster = std::thread::spawn(move || sender.post(42));
//! ring.submit_and_wait(1)?; // blocks until the message comes
//! let c = ring.next_completion().expect("the message");
//! assert_eq!(c.tag, 7);
//! match ring.receive(&mut mailbox) {
//!     Some(Ok(Message::Data(v))) => assert_eq!(v, 42),
//!     other => panic!("{other:?}"),
//! }
//! poster.join().expect("the posting thread")?;
//! ring.close_mailbox(mailbox);
//! assert_eq!(ring.in_flight(), 0);
//! # Ok::<(), iofd::Error>(())
//! ```

use std::fmt;
use std::marker::PhantomData;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::op::Token;
use super::ops::{Receive, SendMessage};
use super::{Direct, UserData};
use crate::error::{Error, Result};
use crate::sys::Errno;
use crate::sys::uring::io_uring_send_msg_ring;

/// The error of a send where the kernel has no
/// `IORING_REGISTER_SEND_MSG_RING`.
const NO_SYNC_MSG: &str = "IORING_REGISTER_SEND_MSG_RING (Linux 6.13)";

/// A ring as its senders know it: a duplicate of its descriptor, which
/// keeps the kernel object alive, and whether the ring is still there.
pub(crate) struct Target {
    pub(crate) fd: OwnedFd,
    pub(crate) id: u32,
    pub(crate) open: AtomicBool,
}

impl Target {
    #[inline]
    fn check(&self) -> Result<()> {
        if self.open.load(Ordering::Acquire) {
            Ok(())
        } else {
            Err(Error::Closed)
        }
    }
}

impl AsFd for Target {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Where a [`Sender`] posts: a mailbox of a ring.
pub(crate) struct Address {
    pub(crate) ring: Arc<Target>,
    pub(crate) mailbox: UserData,
    pub(crate) open: AtomicBool,
}

impl Address {
    /// [`Error::Closed`] once the mailbox is closed or its ring dropped.
    #[inline]
    pub(crate) fn check(&self) -> Result<()> {
        if self.open.load(Ordering::Acquire) {
            self.ring.check()
        } else {
            Err(Error::Closed)
        }
    }
}

/// The error of a message posted without a ring.
fn sync_error(e: Errno) -> Error {
    if e == Errno::EBADF {
        // The kernel looked descriptor -1 up: it predates the opcode.
        Error::Unsupported(NO_SYNC_MSG)
    } else {
        Error::from(e)
    }
}

/// A ring's name for other threads: made by [`Ring::handle`](super::Ring::handle). Cheap to
/// clone (an `Arc`), `Send` and `Sync`.
///
/// It keeps the ring's kernel object alive (a duplicate descriptor), so
/// it never names another file, even after the ring is dropped; see the
/// [module docs](self) for what happens then.
#[derive(Clone)]
pub struct RingHandle(pub(crate) Arc<Target>);

impl RingHandle {
    /// The [`Ring::id`](super::Ring::id) of the ring.
    pub fn ring_id(&self) -> u32 {
        self.0.id
    }

    /// Whether the ring has been dropped.
    pub fn is_closed(&self) -> bool {
        !self.0.open.load(Ordering::Acquire)
    }

    /// `io_uring_register(-1, IORING_REGISTER_SEND_MSG_RING, ..)` — posts
    /// a completion that the ring consumes itself (tagged
    /// [`UserData::WAKE`]): a [`submit_and_wait`](super::Ring::submit_and_wait)
    /// blocked on the ring returns, and nothing is announced by
    /// [`next_completion`](super::Ring::next_completion). From any thread, with
    /// no ring of its own; one syscall. To tell the loop why, post to a
    /// [`Mailbox`] instead ([`Sender::post`]).
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] when the ring has been dropped;
    /// [`Error::Unsupported`] before Linux 6.13; `Os(EOVERFLOW)` when the
    /// ring's completion queue is full and the kernel cannot hold more.
    pub fn wake(&self) -> Result<()> {
        self.0.check()?;
        io_uring_send_msg_ring(self.0.fd.as_fd(), UserData::WAKE.raw(), 0).map_err(sync_error)
    }
}

impl fmt::Debug for RingHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RingHandle")
            .field("ring", &self.0.id)
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// One message a [`Mailbox`] received: what [`Ring::receive`](super::Ring::receive) gives.
pub enum Message<F> {
    /// A value posted with [`Sender::post`] or [`Sender::message_op`].
    Data(u32),
    /// A file sent with [`Ring::send_file`](super::Ring::send_file), now in a slot of this ring's
    /// table of direct descriptors.
    File(Direct<F>),
}

impl<F> fmt::Debug for Message<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Message::Data(v) => f.debug_tuple("Data").field(v).finish(),
            Message::File(d) => f.debug_tuple("File").field(d).finish(),
        }
    }
}

/// A ring's receiving end for messages from other rings and threads,
/// opened by [`Ring::mailbox`](super::Ring::mailbox); `F` is the kind of file it receives
/// ([`TcpStream`](crate::TcpStream), say; `()` for values only).
///
/// It holds one slot of the ring's table while open, and counts in
/// [`Ring::in_flight`](super::Ring::in_flight) (a loop that waits for that to reach 0 closes its
/// mailboxes first). Close it with [`Ring::close_mailbox`](super::Ring::close_mailbox); a mailbox
/// dropped without its ring is closed by the ring at its next
/// submission. Messages not yet taken are dropped with it (files
/// closed), and senders get [`Error::Closed`] from then on.
pub struct Mailbox<F = ()> {
    pub(crate) token: Token<Receive<F>>,
    pub(crate) address: Arc<Address>,
}

impl<F> Mailbox<F> {
    /// A sender for this mailbox, for any thread.
    pub fn sender(&self) -> Sender<F> {
        Sender {
            to: Arc::clone(&self.address),
            _file: PhantomData,
        }
    }

    /// Whether `c` announces a message for this mailbox.
    pub fn is_for(&self, c: &super::Completion) -> bool {
        self.token.is_for(c)
    }

    /// The [`Ring::id`](super::Ring::id) of the ring it belongs to.
    pub fn ring_id(&self) -> u32 {
        self.address.ring.id
    }
}

impl<F> Drop for Mailbox<F> {
    /// Senders see [`Error::Closed`] from now on; the ring frees the slot
    /// (its token's drop tells it).
    fn drop(&mut self) {
        self.address.open.store(false, Ordering::Release);
    }
}

impl<F> fmt::Debug for Mailbox<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailbox")
            .field("ring", &self.address.ring.id)
            .field("user_data", &self.address.mailbox)
            .finish()
    }
}

/// Posts to one [`Mailbox`], from any thread: cheap to clone (an `Arc`),
/// `Send` and `Sync`. Made by [`Mailbox::sender`].
pub struct Sender<F = ()> {
    pub(crate) to: Arc<Address>,
    _file: PhantomData<fn(F) -> F>,
}

impl<F> Clone for Sender<F> {
    fn clone(&self) -> Self {
        Sender {
            to: Arc::clone(&self.to),
            _file: PhantomData,
        }
    }
}

impl<F> Sender<F> {
    /// `io_uring_register(-1, IORING_REGISTER_SEND_MSG_RING, ..)` — posts
    /// `value` to the mailbox now, from a thread with or without a ring:
    /// the receiving ring wakes if it waits, and sees [`Message::Data`]
    /// under the mailbox's tag. One syscall.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] when the mailbox was closed or its ring dropped;
    /// [`Error::Unsupported`] before Linux 6.13; `Os(EOVERFLOW)` when the
    /// receiver's completion queue is full and the kernel cannot hold
    /// more; [`Error::NoMemory`].
    pub fn post(&self, value: u32) -> Result<()> {
        self.to.check()?;
        io_uring_send_msg_ring(
            self.to.ring.fd.as_fd(),
            self.to.mailbox.mail(false).raw(),
            value,
        )
        .map_err(sync_error)
    }

    /// An operation that posts `value` to the mailbox from the ring it is
    /// pushed on (`IORING_OP_MSG_RING`), in that ring's batch: no syscall
    /// of its own. Its result says whether the kernel posted the message
    /// (see [`SendMessage`] for its errors).
    ///
    /// # Examples
    ///
    /// A worker's ring hands a job number to another's:
    ///
    /// ```
    /// use iofd::ring::{Message, Ring};
    ///
    /// let (mut a, mut b) = (Ring::new(8)?, Ring::new(8)?);
    /// let mut jobs = b.mailbox::<()>(1)?;
    /// let to_b = jobs.sender();
    /// let sent = a.push(to_b.message_op(17))?;
    /// a.wait(sent)?; // posted to b's completion queue
    /// b.submit_and_wait(1)?;
    /// assert!(jobs.is_for(&b.next_completion().expect("announced")));
    /// assert!(matches!(b.receive(&mut jobs), Some(Ok(Message::Data(17)))));
    /// # Ok::<(), iofd::Error>(())
    /// ```
    #[doc(alias("IORING_OP_MSG_RING", "IORING_MSG_DATA"))]
    pub fn message_op(&self, value: u32) -> SendMessage {
        SendMessage {
            to: Arc::clone(&self.to),
            payload: value,
        }
    }

    /// The [`Ring::id`](super::Ring::id) of the receiving ring.
    pub fn ring_id(&self) -> u32 {
        self.to.ring.id
    }

    /// Whether the mailbox was closed or its ring dropped: sends fail
    /// with [`Error::Closed`].
    pub fn is_closed(&self) -> bool {
        self.to.check().is_err()
    }
}

impl<F> fmt::Debug for Sender<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("ring", &self.to.ring.id)
            .field("closed", &self.is_closed())
            .finish()
    }
}
