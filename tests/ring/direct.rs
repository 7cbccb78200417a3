//! Direct descriptors: accepting into the ring's fixed-file table
//! (`IORING_FILE_INDEX_ALLOC`), using the slot, and closing it — by
//! `Direct`'s drop (on this thread or another), by a close operation, or
//! because nobody took the result — with the stale and foreign cases
//! refused.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream as StdStream};
use std::sync::Arc;
use std::time::Duration;

use iofd::ring::{Direct, MAX_DIRECT_FILES, Ring};
use iofd::sys::Errno;
use iofd::{Error, TcpListener, TcpStream};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A listener on a port the kernel picks (also `msg`'s).
pub(crate) fn listener() -> Result<Arc<TcpListener>, Error> {
    Ok(Arc::new(TcpListener::bind("127.0.0.1:0".parse().unwrap())?))
}

/// A client connected to `addr`, whose reads give up after two seconds.
fn client(addr: SocketAddr) -> std::io::Result<StdStream> {
    let c = StdStream::connect(addr)?;
    c.set_read_timeout(Some(Duration::from_secs(2)))?;
    Ok(c)
}

/// Whether the server closed `c`'s connection: its read sees the end.
pub(crate) fn closed(c: &mut StdStream) -> bool {
    let mut buf = [0u8; 16];
    matches!(c.read(&mut buf), Ok(0))
}

/// One connection accepted into `ring`'s table.
pub(crate) fn accept_one(
    ring: &mut Ring,
    l: &Arc<TcpListener>,
) -> Result<(Direct<TcpStream>, StdStream), Box<dyn std::error::Error>> {
    let files = ring.direct_files().expect("a table is registered");
    let t = ring.push(l.accept_direct_op_shared(files))?;
    ring.submit()?;
    let c = client(l.local_addr()?)?;
    Ok((ring.wait(t)?, c))
}

#[test]
fn a_direct_connection_echoes_through_its_slot() -> TestResult {
    let mut ring = Ring::new(8)?;
    ring.register_files_sparse(4)?;
    let l = listener()?;
    let (conn, mut c) = accept_one(&mut ring, &l)?;
    assert!(conn.index() < 4);
    assert_eq!(conn.ring_id(), ring.id());
    c.write_all(b"ping")?;
    let tok = ring.push(conn.fixed().recv_op(vec![0u8; 16]))?;
    let (n, buf) = ring.wait(tok)?;
    assert_eq!(&buf[..n?], b"ping");
    let tok = ring.push(conn.fixed().send_op(b"pong".to_vec()))?;
    let (sent, _) = ring.wait(tok)?;
    assert_eq!(sent, Ok(4));
    let mut got = [0u8; 4];
    c.read_exact(&mut got)?;
    assert_eq!(&got, b"pong");
    Ok(())
}

#[test]
fn dropping_a_direct_closes_its_slot_at_the_next_submission() -> TestResult {
    let mut ring = Ring::new(8)?;
    ring.register_files_sparse(1)?;
    let l = listener()?;
    let (conn, mut c) = accept_one(&mut ring, &l)?;
    drop(conn);
    ring.submit()?;
    assert!(closed(&mut c));
    // The one slot is free again: a second connection fits.
    let (again, _c2) = accept_one(&mut ring, &l)?;
    assert_eq!(again.index(), 0);
    Ok(())
}

#[test]
fn a_direct_dropped_on_another_thread_is_closed_by_its_ring() -> TestResult {
    let mut ring = Ring::new(8)?;
    ring.register_files_sparse(2)?;
    let l = listener()?;
    let (conn, mut c) = accept_one(&mut ring, &l)?;
    std::thread::spawn(move || drop(conn)).join().unwrap();
    ring.submit()?;
    assert!(closed(&mut c));
    Ok(())
}

#[test]
fn a_direct_connection_nobody_takes_is_closed() -> TestResult {
    let mut ring = Ring::new(8)?;
    let files = ring.register_files_sparse(1)?;
    let l = listener()?;
    // Its token dropped once the result is in the table...
    let t = ring.push_tagged(l.accept_direct_op_shared(files), 1)?;
    ring.submit()?;
    let mut c = client(l.local_addr()?)?;
    while ring.next_completion().is_none() {
        ring.submit_and_wait(1)?;
    }
    drop(t);
    ring.submit()?;
    assert!(closed(&mut c));
    // ...and before it comes: the slot was given back each time.
    let t = ring.push(l.accept_direct_op_shared(files))?;
    ring.submit()?;
    drop(t);
    let mut c = client(l.local_addr()?)?;
    ring.wait_idle()?;
    ring.submit()?;
    assert!(closed(&mut c));
    let (again, _c) = accept_one(&mut ring, &l)?;
    assert_eq!(again.index(), 0);
    Ok(())
}

#[test]
fn a_close_op_closes_the_slot_and_an_unpushed_one_too() -> TestResult {
    let mut ring = Ring::new(8)?;
    ring.register_files_sparse(2)?;
    let l = listener()?;
    let (conn, mut c) = accept_one(&mut ring, &l)?;
    let tok = ring.push(conn.close_op())?;

    let closed_op = ring.wait(tok)?;
    assert!(!closed_op.left_open());
    assert!(closed(&mut c));

    let (conn, mut c) = accept_one(&mut ring, &l)?;
    drop(conn.close_op()); // never pushed: closed as the Direct would be
    ring.submit()?;
    assert!(closed(&mut c));
    Ok(())
}

#[test]
fn into_index_gives_the_slot_up_to_the_caller() -> TestResult {
    let mut ring = Ring::new(8)?;
    ring.register_files_sparse(2)?;
    let l = listener()?;
    let (conn, mut c) = accept_one(&mut ring, &l)?;
    let index = conn.into_index();
    ring.submit()?;
    c.set_read_timeout(Some(Duration::from_millis(50)))?;
    let mut buf = [0u8; 1];
    assert!(c.read(&mut buf).is_err(), "still open: nobody closed it");
    let tok = ring.push(iofd::ring::ops::Close::fixed(index))?;

    ring.wait(tok)?;
    c.set_read_timeout(Some(Duration::from_secs(2)))?;
    assert!(closed(&mut c));
    Ok(())
}

#[test]
fn a_multishot_direct_accept_fills_the_table_then_reports_enfile() -> TestResult {
    const SLOTS: u32 = 8;
    let mut ring = Ring::new(32)?;
    let files = ring.register_files_sparse(SLOTS)?;
    let l = listener()?;
    let mut t = ring.push(l.accept_direct_multi_op_shared(files))?;
    ring.submit()?;
    let clients: Vec<StdStream> = (0..=SLOTS)
        .map(|_| client(l.local_addr().unwrap()).unwrap())
        .collect();
    let mut conns = Vec::new();
    let mut end = None;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while end.is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "{} accepted",
            conns.len()
        );
        ring.submit_and_wait(1)?;
        while let Some(r) = ring.take(&mut t) {
            match r {
                Ok(conn) => conns.push(conn),
                Err(e) => end = Some(e),
            }
        }
    }
    assert_eq!(end, Some(Error::Os(Errno::ENFILE)));
    assert!(t.is_done());
    let mut seen: Vec<u32> = conns.iter().map(Direct::index).collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..SLOTS).collect::<Vec<_>>());
    drop(clients);
    Ok(())
}

#[test]
fn a_stale_table_is_refused_and_its_directs_close_nothing() -> TestResult {
    let mut ring = Ring::new(8)?;
    let old = ring.register_files_sparse(1)?;
    let l = listener()?;
    let (stale, _c) = accept_one(&mut ring, &l)?;
    ring.unregister_files()?;
    assert_eq!(ring.direct_files(), None);
    let files = ring.register_files_sparse(1)?;
    assert_ne!(files, old);
    assert_eq!(
        ring.push(l.accept_direct_op_shared(old)).err(),
        Some(Error::InvalidParam(
            "the ring's file table was registered again since the operation was made"
        ))
    );
    let (fresh, mut c) = accept_one(&mut ring, &l)?;
    assert_eq!(fresh.index(), stale.index());
    drop(stale); // names slot 0 of the old table: must not close `fresh`
    ring.submit()?;
    c.set_read_timeout(Some(Duration::from_millis(50)))?;
    let mut buf = [0u8; 1];
    assert!(c.read(&mut buf).is_err(), "the new slot stays open");
    Ok(())
}

#[test]
fn a_direct_accept_for_another_ring_is_refused() -> TestResult {
    let mut a = Ring::new(8)?;
    let mut b = Ring::new(8)?;
    let files = a.register_files_sparse(1)?;
    b.register_files_sparse(1)?;
    let l = listener()?;
    assert_eq!(
        b.push(l.accept_direct_op_shared(files)).err(),
        Some(Error::InvalidParam(
            "the operation's registered resources belong to another ring"
        ))
    );
    Ok(())
}

#[test]
fn bad_table_sizes_and_a_second_table_are_refused() -> TestResult {
    let mut ring = Ring::new(8)?;
    let size_err = Some(Error::InvalidParam(
        "a direct-descriptor table has 1 to 1,048,576 slots",
    ));
    assert_eq!(ring.register_files_sparse(0).err(), size_err);
    assert_eq!(
        ring.register_files_sparse(MAX_DIRECT_FILES + 1).err(),
        size_err
    );
    ring.register_files_sparse(4)?;
    assert_eq!(
        ring.register_files_sparse(4).err(),
        Some(Error::Os(Errno::EBUSY))
    );
    Ok(())
}

#[test]
fn a_direct_outliving_its_ring_is_harmless() -> TestResult {
    let mut ring = Ring::new(8)?;
    ring.register_files_sparse(1)?;
    let l = listener()?;
    let (conn, mut c) = accept_one(&mut ring, &l)?;
    drop(ring); // the table, and the connection in it, go with the ring
    // (The ring's teardown can interrupt the first read: task work.)
    let mut buf = [0u8; 1];
    let r = loop {
        match c.read(&mut buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            r => break r,
        }
    };
    assert!(matches!(r, Ok(0)), "{r:?}");
    drop(conn);
    Ok(())
}

#[test]
fn ten_thousand_direct_cycles_in_a_table_of_four_leak_no_slot() -> TestResult {
    let mut ring = Ring::new(16)?;
    let files = ring.register_files_sparse(4)?;
    let l = listener()?;
    for _ in 0..10_000 {
        let t = ring.push(l.accept_direct_op_shared(files))?;
        ring.submit()?;
        let c = StdStream::connect(l.local_addr()?)?;
        let conn = ring.wait(t)?;
        drop(conn);
        drop(c);
    }
    Ok(())
}
