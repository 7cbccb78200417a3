//! Installing a file the process holds into the ring's table of direct
//! descriptors (`Ring::install_direct`, `InstallDirect`): the slot it gets,
//! its use by index beside direct accepts, and every reference to the file
//! let go — the duplicate the kernel read, the slot when its `Direct` is
//! dropped or its result not taken — with each refusal's exact error.
//!
//! A pipe's read end sees its end only once every reference to the write
//! end is closed: installing the write end and watching the read end shows
//! that nothing keeps the file open.

use std::fs::File;
use std::io::{ErrorKind, Read};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use iofd::ring::ops::{InstallDirect, ReadCounter};
use iofd::ring::{Direct, Fixed, Ring};
use iofd::sys::Errno;
use iofd::sys::pipe::{PipeFlags, pipe2};
use iofd::{Error, EventFd, Fd};

use crate::direct::{accept_one, listener};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// How long a file that should stay open is watched.
const SHORT: Duration = Duration::from_millis(50);
/// How long a file that should close is given.
const LONG: Duration = Duration::from_secs(2);

/// A pipe: a non-blocking read end, and the write end.
fn pipe() -> Result<(File, Fd), Errno> {
    let (r, w) = pipe2(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK)?;
    Ok((File::from(r), Fd::from(w)))
}

/// Whether the read end sees its end within `within`, `ring` submitted
/// meanwhile (a dropped `Direct`'s slot is closed at the next submission).
fn sees_end(r: &mut File, ring: &mut Ring, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        ring.submit().expect("submit");
        match r.read(&mut [0u8; 1]) {
            Ok(0) => return true,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(1))
            }
            other => panic!("unexpected read: {other:?}"),
        }
    }
    false
}

#[test]
fn an_installed_eventfd_is_read_slotless_beside_direct_connections() -> TestResult {
    let mut ring = Ring::new(8)?;
    ring.register_files_sparse(4)?;
    let l = listener()?;
    let (conn, _c) = accept_one(&mut ring, &l)?;
    let efd = EventFd::new(0)?;
    let direct: Direct<EventFd> = ring.install_direct(&efd)?;
    assert_ne!(direct.index(), conn.index());
    assert_eq!(direct.ring_id(), ring.id());
    ring.push_slotless(direct.fixed().read_op(), 9)?;
    ring.submit()?;
    efd.signal(42)?;
    ring.submit_and_wait(1)?;
    let c = ring.next_completion().expect("the read");
    assert_eq!(c.tag, 9);
    assert_eq!(c.output::<ReadCounter<Fixed<EventFd>>>(), Some(Ok(42)));
    // The caller's handle is untouched: it still reads and writes.
    efd.signal(2)?;
    assert_eq!(efd.wait()?, 2);
    Ok(())
}

#[test]
fn nothing_keeps_an_installed_file_open_once_its_direct_is_dropped() -> TestResult {
    let mut ring = Ring::new(8)?;
    ring.register_files_sparse(2)?;
    let (mut r, w) = pipe()?;
    let direct = ring.install_direct(&w)?;
    drop(w);
    // The table holds the write end now: no end yet.
    assert!(
        !sees_end(&mut r, &mut ring, SHORT),
        "the slot holds the file"
    );
    drop(direct);
    assert!(
        sees_end(&mut r, &mut ring, LONG),
        "the slot and the copy are closed"
    );
    Ok(())
}

#[test]
fn an_installation_nobody_takes_closes_its_slot() -> TestResult {
    let mut ring = Ring::new(8)?;
    let files = ring.register_files_sparse(2)?;
    let (mut r, w) = pipe()?;
    let t = ring.push(InstallDirect::<Fd>::new(files, w.into()))?;
    drop(t);
    ring.wait_idle()?;
    assert!(
        sees_end(&mut r, &mut ring, LONG),
        "the untaken Direct closed the slot"
    );
    // The slot is free again: two installations fit the table of two.
    let efd = EventFd::new(0)?;
    let (a, b) = (ring.install_direct(&efd)?, ring.install_direct(&efd)?);
    assert_ne!(a.index(), b.index());
    Ok(())
}

#[test]
fn installing_needs_a_table_with_a_free_slot() -> TestResult {
    let mut ring = Ring::new(8)?;
    let efd = EventFd::new(0)?;
    assert_eq!(
        ring.install_direct(&efd).err(),
        Some(Error::InvalidParam(
            "no direct-descriptor table to install into: register one with register_files_sparse"
        ))
    );
    ring.register_files_sparse(1)?;
    let kept = ring.install_direct(&efd)?;
    assert_eq!(
        ring.install_direct(&efd).err(),
        Some(Error::Os(Errno::ENFILE))
    );
    // The slot a dropped `Direct` gives up is closed before the next
    // installation takes one, with no submission in between.
    drop(kept);
    let again = ring.install_direct(&efd)?;
    // And an idle ring sends such a close out by itself: the table has
    // room for an installation pushed as a plain operation.
    drop(again);
    ring.wait_idle()?;
    let files = ring.direct_files().expect("registered");
    let fd = efd.as_fd().try_clone_to_owned()?;
    ring.run(InstallDirect::<EventFd>::new(files, fd))?;
    Ok(())
}

#[test]
fn a_closed_handle_or_a_stale_table_is_refused() -> TestResult {
    let mut ring = Ring::new(8)?;
    let old = ring.register_files_sparse(2)?;
    let efd = EventFd::new(0)?;
    efd.close()?;
    assert_eq!(ring.install_direct(&efd).err(), Some(Error::Closed));
    ring.unregister_files()?;
    ring.register_files_sparse(2)?;
    let live = EventFd::new(0)?;
    let fd = live.as_fd().try_clone_to_owned()?;
    assert_eq!(
        ring.push(InstallDirect::<EventFd>::new(old, fd)).err(),
        Some(Error::InvalidParam(
            "the ring's file table was registered again since the operation was made"
        ))
    );
    Ok(())
}

#[test]
fn an_installation_queued_when_its_table_goes_reaches_that_table() -> TestResult {
    let mut ring = Ring::new(8)?;
    let old = ring.register_files_sparse(1)?;
    let efd = EventFd::new(0)?;
    let fd = efd.as_fd().try_clone_to_owned()?;
    let queued = ring.push(InstallDirect::<EventFd>::new(old, fd))?;
    // Dropping the table submits what was queued for it first: the file
    // goes into the old table, not into the one registered next.
    ring.unregister_files()?;
    ring.register_files_sparse(1)?;
    let stale = ring.wait(queued)?;
    drop(stale); // names the old table: closes nothing
    ring.wait_idle()?;
    let fresh = ring.install_direct(&efd)?;
    assert_eq!(fresh.index(), 0, "the new table's one slot was free");
    Ok(())
}
