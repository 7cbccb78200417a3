//! Direct descriptors: files the kernel installs straight into the ring's
//! fixed-file table, never in the process's descriptor table.
//!
//! [`Ring::register_files_sparse`] registers a table of empty slots and
//! returns its [`DirectFiles`] name; a direct accept
//! ([`TcpListener::accept_direct_op`](crate::TcpListener::accept_direct_op))
//! has the kernel pick a free slot (`IORING_FILE_INDEX_ALLOC`) and install
//! the new connection there. Its result is a [`Direct`]: the owner of that
//! slot, as an [`OwnedFd`](std::os::fd::OwnedFd) owns a descriptor. It
//! names the file for the stream's operations ([`Direct::fixed`]) and,
//! when dropped, has the ring close the slot — at the ring's next
//! submission, from whichever thread it was dropped on — so a connection
//! nobody takes, or that a server forgets to close, is closed all the same.
//! [`Direct::close_op`] closes it on the ring instead, in the same
//! submission as other work.
//!
//! Why a server wants this: no descriptor-table lookup and reference count
//! per operation (the fixed-file path), no `close` syscall per connection,
//! and no process-wide descriptor limit on connections, only the table's
//! size. The cost: the file exists only in this ring, so it cannot be
//! handed to a syscall, another ring or another process.
//!
//! A slot is named by `(ring, table registration, index)`: registering a
//! new table (or unregistering it) makes every earlier [`Direct`] and
//! [`DirectFiles`] stale, and a stale one is refused at push and closes
//! nothing when dropped, so it can never close a slot of the new table.
//!
//! # Safety
//!
//! The one SQE built here closes a slot of the ring's own table and
//! touches no memory.
#![expect(unsafe_code, reason = "closes a slot of the ring's own file table")]

use std::fmt;
use std::marker::PhantomData;

use super::builder::io_error;
use super::driver::Ring;
use super::ops::{Close, Fixed, InstallDirect};
use super::orphans::{self, Posted};
use super::user_data::UserData;
use crate::Handle;
use crate::error::{Error, Result};
use crate::fd::unless_closed;
use crate::sys::file::fcntl_dupfd_cloexec;

/// The largest table [`Ring::register_files_sparse`] asks for: the
/// kernel's own limit (`IORING_MAX_FIXED_FILES`).
pub const MAX_DIRECT_FILES: u32 = 1 << 20;

/// A ring's table of direct descriptors, as registered by
/// [`Ring::register_files_sparse`]: what a direct accept is made with. A
/// copyable name, not an owner: the ring owns the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirectFiles {
    ring: u32,
    epoch: u32,
    slots: u32,
}

impl DirectFiles {
    /// The [`Ring::id`] of the ring the table belongs to.
    pub fn ring_id(self) -> u32 {
        self.ring
    }

    /// How many slots the table has.
    pub fn slots(self) -> u32 {
        self.slots
    }

    /// Which registration of the ring's file table this is.
    pub(crate) fn epoch(self) -> u32 {
        self.epoch
    }
}

/// The owner of one slot of a ring's table of direct descriptors, holding
/// a file of type `S` (a [`TcpStream`](crate::TcpStream), say): the result
/// of a direct accept. Its operations are those of [`Fixed<S>`], made with
/// [`fixed`](Direct::fixed) and pushed on the same ring.
///
/// Dropping it closes the slot: its ring queues the close
/// (`IORING_OP_CLOSE` on the slot) when it next submits, behind what was
/// pushed before. [`Ring::wait_idle`] sends it out even with nothing else
/// to submit, and [`Ring::install_direct`] queues it ahead of its own
/// operation. [`close_op`](Direct::close_op)
/// does the same as an operation of your own, and
/// [`into_index`](Direct::into_index) gives the slot up to the caller,
/// who then closes it (with [`Close::fixed`]).
///
/// A stale `Direct` (its table was unregistered or registered again)
/// closes nothing.
pub struct Direct<S> {
    index: u32,
    ring: u32,
    epoch: u32,
    _file: PhantomData<fn() -> S>,
}

impl<S> Direct<S> {
    /// Takes ownership of slot `index` of table `files`.
    pub(crate) fn new(files: DirectFiles, index: u32) -> Direct<S> {
        Direct {
            index,
            ring: files.ring,
            epoch: files.epoch,
            _file: PhantomData,
        }
    }

    /// Takes ownership of slot `index` of registration `epoch` of ring
    /// `ring`'s table (a file another ring sent).
    pub(crate) fn from_parts(ring: u32, epoch: u32, index: u32) -> Direct<S> {
        Direct {
            index,
            ring,
            epoch,
            _file: PhantomData,
        }
    }

    /// Which registration of its ring's file table the slot belongs to.
    pub(crate) fn epoch(&self) -> u32 {
        self.epoch
    }

    /// The slot's index in the ring's fixed-file table.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// The [`Ring::id`] of the ring whose table holds the file.
    pub fn ring_id(&self) -> u32 {
        self.ring
    }

    /// The file as a [`Fixed`], whose operations name it by index. Push
    /// them on this `Direct`'s ring: on another, the index names another
    /// ring's file (or none, `Os(EBADF)`).
    pub fn fixed(&self) -> Fixed<S> {
        Fixed::new(self.index)
    }

    /// Gives the slot up without closing it and returns its index: the
    /// caller now closes it ([`Close::fixed`]), or it stays open until the
    /// table is unregistered or the ring dropped.
    pub fn into_index(self) -> u32 {
        let index = self.index;
        std::mem::forget(self);
        index
    }

    /// An operation that closes the slot (`IORING_OP_CLOSE`), to push on
    /// the `Direct`'s ring. If it is dropped without being pushed, or its
    /// push fails, the slot is closed as if the `Direct` had been dropped.
    #[doc(alias = "IORING_OP_CLOSE")]
    pub fn close_op(self) -> Close {
        let (ring, epoch) = (self.ring, self.epoch);
        Close::direct(ring, epoch, self.into_index())
    }
}

impl<S> Drop for Direct<S> {
    fn drop(&mut self) {
        release(self.ring, self.epoch, self.index);
    }
}

impl<S> fmt::Debug for Direct<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Direct")
            .field("index", &self.index)
            .field("ring", &self.ring)
            .finish()
    }
}

/// Has ring `ring` close slot `index` of its table registration `epoch` at
/// its next submission; nothing if the ring is gone (its table went with
/// it).
pub(crate) fn release(ring: u32, epoch: u32, index: u32) {
    orphans::post(ring, UserData::WAKE, Posted::CloseSlot { index, epoch });
}

impl Ring {
    /// `IORING_REGISTER_FILES2` with `IORING_RSRC_REGISTER_SPARSE` —
    /// registers a fixed-file table of `slots` empty slots, for direct
    /// descriptors (see [`Direct`]), and returns its name. Operations can
    /// still name slots by index ([`Fixed`]), and registering a table this
    /// way replaces [`register_files`](Ring::register_files), not adds to
    /// it: a ring has one table.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParam`] for 0 slots or more than
    /// [`MAX_DIRECT_FILES`]; `Os(EBUSY)` when a table is registered
    /// already; `Os(EMFILE)` when `slots` exceeds the process's
    /// `RLIMIT_NOFILE` (the kernel counts the table against it).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Read;
    /// use std::sync::Arc;
    /// use iofd::ring::Ring;
    /// use iofd::TcpListener;
    ///
    /// let mut ring = Ring::new(8)?;
    /// let files = ring.register_files_sparse(64)?;
    /// let listener = Arc::new(TcpListener::bind("127.0.0.1:0".parse().unwrap())?);
    /// let accept = ring.push(listener.accept_direct_op_shared(files))?;
    /// let mut client = std::net::TcpStream::connect(listener.local_addr()?).unwrap();
    /// let conn = ring.wait(accept)?; // a Direct<TcpStream>: no descriptor
    /// let send = ring.push(conn.fixed().send_op(b"hi".to_vec()))?;
    /// ring.wait(send)?;
    /// drop(conn); // the slot is closed at the ring's next submission
    /// ring.submit()?;
    /// let mut got = Vec::new();
    /// client.read_to_end(&mut got).unwrap();
    /// assert_eq!(got, b"hi");
    /// # Ok::<(), iofd::Error>(())
    /// ```
    pub fn register_files_sparse(&mut self, slots: u32) -> Result<DirectFiles> {
        if slots == 0 || slots > MAX_DIRECT_FILES {
            return Err(Error::InvalidParam(
                "a direct-descriptor table has 1 to 1,048,576 slots",
            ));
        }
        self.uring
            .submitter()
            .register_files_sparse(slots)
            .map_err(|e| io_error(&e))?;
        self.files_epoch = self.files_epoch.wrapping_add(1);
        self.direct_slots = slots;
        self.mail_files_epoch();
        Ok(self.direct_files().expect("registered just now"))
    }

    /// Installs `handle`'s file into a free slot of the ring's table of
    /// direct descriptors ([`InstallDirect`]), and returns the slot's
    /// owner. The handle stays the caller's: the table holds the file
    /// too, until the [`Direct`] is dropped (or closed). This is how a ring
    /// whose one file table holds direct connections
    /// ([`register_files_sparse`](Ring::register_files_sparse)) names an
    /// eventfd, a timerfd or a listener by index as well: for a
    /// [`Fixed`] file's slotless counter reads
    /// ([`push_slotless`](Ring::push_slotless)), say.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParam`] when no direct-descriptor table is
    /// registered; [`Error::Closed`] for a closed handle; `Os(ENFILE)` when
    /// the table has no free slot; `Os(EMFILE)`
    /// when the process cannot duplicate the descriptor for the kernel to
    /// read; errors of [`run`](Ring::run).
    ///
    /// # Examples
    ///
    /// ```
    /// use iofd::EventFd;
    /// use iofd::ring::ops::ReadCounter;
    /// use iofd::ring::{Fixed, Ring};
    ///
    /// let mut ring = Ring::new(8)?;
    /// ring.register_files_sparse(1024)?; // for direct accepts, say
    /// let efd = EventFd::new(0)?;
    /// let direct = ring.install_direct(&efd)?;
    /// ring.push_slotless(direct.fixed().read_op(), 7)?;
    /// efd.signal(5)?;
    /// ring.submit_and_wait(1)?;
    /// let c = ring.next_completion().expect("the read");
    /// assert_eq!(c.tag, 7);
    /// assert_eq!(c.output::<ReadCounter<Fixed<EventFd>>>(), Some(Ok(5)));
    /// # Ok::<(), iofd::Error>(())
    /// ```
    #[doc(alias("IORING_OP_FILES_UPDATE", "IORING_FILE_INDEX_ALLOC"))]
    pub fn install_direct<H: Handle + 'static>(&mut self, handle: &H) -> Result<Direct<H>> {
        let files = self.direct_files().ok_or(Error::InvalidParam(
            "no direct-descriptor table to install into: register one with register_files_sparse",
        ))?;
        // Slots given up by dropped `Direct`s are closed first, so that a
        // table they filled has room again.
        self.take_posted();
        // The operation owns a descriptor of its own, open until its final
        // CQE, whatever becomes of `handle` meanwhile; never a copy of the
        // placeholder a closed handle has behind its number.
        let fd = unless_closed(handle, fcntl_dupfd_cloexec(handle.as_fd(), 0))?;
        self.run(InstallDirect::new(files, fd))
    }

    /// The table of direct descriptors registered with
    /// [`register_files_sparse`](Ring::register_files_sparse), if one is.
    pub fn direct_files(&self) -> Option<DirectFiles> {
        (self.direct_slots > 0).then_some(DirectFiles {
            ring: self.id,
            epoch: self.files_epoch,
            slots: self.direct_slots,
        })
    }

    /// Refuses an operation made for a file table this ring no longer
    /// has (see [`Op::files_epoch`](super::Op::files_epoch)).
    #[inline]
    pub(crate) fn check_files_epoch(&self, epoch: Option<u32>) -> Result<()> {
        match epoch {
            Some(e) if e != self.files_epoch => Err(Error::InvalidParam(
                "the ring's file table was registered again since the operation was made",
            )),
            _ => Ok(()),
        }
    }

    /// Forgets the registered table: every earlier [`Direct`] and
    /// [`DirectFiles`] is stale from now on.
    pub(crate) fn files_changed(&mut self) {
        self.files_epoch = self.files_epoch.wrapping_add(1);
        self.direct_slots = 0;
        self.mail_files_epoch();
    }

    /// Closes slot `index` of table registration `epoch`, posted by a
    /// dropped [`Direct`], unless the table has changed since.
    pub(super) fn close_released_slot(&mut self, index: u32, epoch: u32) {
        if epoch != self.files_epoch {
            return;
        }
        let sqe = io_uring::opcode::Close::new(io_uring::types::Fixed(index))
            .build()
            .user_data(UserData::WAKE.raw());
        // SAFETY: closing a slot of the ring's own table touches no
        // memory; its CQE carries a reserved tag, which the table consumes.
        // A push that fails (the ring cannot submit) leaves the slot open
        // until the table goes: nothing is freed early.
        let _ = unsafe { self.push_entry(&sqe) };
    }
}
