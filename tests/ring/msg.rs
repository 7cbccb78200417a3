//! Messages between rings (`IORING_OP_MSG_RING`): values and direct
//! descriptors delivered through the receiver's dispatch, from rings and
//! from threads without one; what senders see once the receiver is gone;
//! and the bad input refused.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use iofd::ring::{Mailbox, Message, Ring, Sender};
use iofd::sys::Errno;
use iofd::{Error, TcpStream};

use super::direct::{accept_one, closed, listener};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Posting without a ring needs Linux 6.13: skip, saying so, before.
macro_rules! require_sync_post {
    ($sender:expr) => {
        match $sender.post(0) {
            Err(Error::Unsupported(what)) => {
                eprintln!("skipped: the kernel lacks {what}");
                return Ok(());
            }
            other => other?,
        }
    };
}

/// Takes the one message waiting in `mailbox`, which `c` announced.
fn take<F>(ring: &mut Ring, mailbox: &mut Mailbox<F>) -> Result<Message<F>, Error> {
    match ring.receive(mailbox) {
        Some(m) => m,
        None => panic!("a message was announced but none waits"),
    }
}

/// Waits on `ring` until `mailbox` has `n` messages announced; returns
/// their values in order.
fn receive_values(ring: &mut Ring, mailbox: &mut Mailbox, n: usize) -> Result<Vec<u32>, Error> {
    let mut got = Vec::with_capacity(n);
    while got.len() < n {
        ring.submit_and_wait(1)?;
        while let Some(c) = ring.next_completion() {
            assert!(mailbox.is_for(&c));
            match ring.receive_value(mailbox) {
                Some(v) => got.push(v?),
                None => panic!("a message was announced but none waits"),
            }
        }
    }
    Ok(got)
}

#[test]
fn a_message_reaches_another_threads_ring_through_its_dispatch() -> TestResult {
    let (tx, rx) = mpsc::channel::<Sender>();
    let receiver = thread::spawn(move || -> Result<(u64, u32), Error> {
        let mut ring = Ring::new(8)?;
        let mut mailbox = ring.mailbox::<()>(99)?;
        tx.send(mailbox.sender()).unwrap();
        ring.submit_and_wait(1)?;
        let c = ring.next_completion().expect("the message");
        assert!(mailbox.is_for(&c));
        let Message::Data(v) = take(&mut ring, &mut mailbox)? else {
            panic!("a value was sent");
        };
        assert!(ring.receive(&mut mailbox).is_none());
        Ok((c.tag, v))
    });
    let sender = rx.recv()?;
    let mut ring = Ring::new(8)?;
    let t = ring.push(sender.message_op(0xdead_beef))?;
    ring.wait(t)?;
    assert_eq!(receiver.join().unwrap()?, (99, 0xdead_beef));
    Ok(())
}

#[test]
fn many_senders_lose_and_double_nothing() -> TestResult {
    const THREADS: u32 = 4;
    const EACH: u32 = 2000;
    let mut ring = Ring::new(64)?;
    let mut mailbox = ring.mailbox::<()>(1)?;
    require_sync_post!(mailbox.sender());
    let mut senders = Vec::new();
    for t in 0..THREADS {
        let sender = mailbox.sender();
        senders.push(thread::spawn(move || -> Result<(), Error> {
            if t % 2 == 0 {
                // Without a ring.
                for i in 0..EACH {
                    sender.post(t << 16 | i)?;
                }
            } else {
                // From a ring of its own, in batches.
                let mut ring = Ring::new(32)?;
                let mut tokens = Vec::new();
                for i in 0..EACH {
                    tokens.push(ring.push(sender.message_op(t << 16 | i))?);
                    if tokens.len() == 16 {
                        for tok in tokens.drain(..) {
                            ring.wait(tok)?;
                        }
                    }
                }
                for tok in tokens {
                    ring.wait(tok)?;
                }
            }
            Ok(())
        }));
    }
    // The probe's 0, then every sender's values.
    let got = receive_values(&mut ring, &mut mailbox, 1 + (THREADS * EACH) as usize)?;
    for s in senders {
        s.join().unwrap()?;
    }
    assert_eq!(got[0], 0);
    let unique: HashSet<u32> = got[1..].iter().copied().collect();
    assert_eq!(
        unique.len(),
        (THREADS * EACH) as usize,
        "no message doubled"
    );
    for t in 0..THREADS {
        // Each sender's messages come in the order it sent them.
        let mine: Vec<u32> = got[1..]
            .iter()
            .filter(|&&v| v >> 16 == t)
            .map(|&v| v & 0xffff)
            .collect();
        assert_eq!(mine, (0..EACH).collect::<Vec<_>>());
    }
    ring.submit()?;
    assert!(ring.receive(&mut mailbox).is_none());
    assert_eq!(ring.stale_completions(), 0);
    Ok(())
}

/// Two rings, each with a two-slot table of direct descriptors: a
/// sender's and a receiver's.
fn two_rings_with_tables() -> Result<(Ring, Ring), Error> {
    let mut a = Ring::new(8)?;
    a.register_files_sparse(2)?;
    let mut b = Ring::new(8)?;
    b.register_files_sparse(2)?;
    Ok((a, b))
}

#[test]
fn a_connection_handed_to_another_threads_ring_echoes_there() -> TestResult {
    let (tx, rx) = mpsc::channel::<Sender<TcpStream>>();
    let worker = thread::spawn(move || -> Result<(), Error> {
        let mut ring = Ring::new(8)?;
        ring.register_files_sparse(4)?;
        let mut mailbox = ring.mailbox::<TcpStream>(5)?;
        tx.send(mailbox.sender()).unwrap();
        let conn = loop {
            ring.submit_and_wait(1)?;
            if let Some(c) = ring.next_completion() {
                assert_eq!(c.tag, 5);
                match take(&mut ring, &mut mailbox)? {
                    Message::File(conn) => break conn,
                    Message::Data(v) => panic!("a file was sent, not {v}"),
                }
            }
        };
        assert_eq!(conn.ring_id(), ring.id());
        let t = ring.push(conn.fixed().recv_op(vec![0u8; 8]))?;
        let (n, buf) = ring.wait(t)?;
        let t = ring.push(conn.fixed().send_op(buf[..n?].to_vec()))?;
        let (sent, _) = ring.wait(t)?;
        assert_eq!(sent, Ok(1));
        ring.close_mailbox(mailbox);
        Ok(())
    });
    let sender = rx.recv()?;
    let mut ring = Ring::new(8)?;
    ring.register_files_sparse(4)?;
    let l = listener()?;
    let (conn, mut c) = accept_one(&mut ring, &l)?;
    let index = conn.index();
    let t = ring.send_file(&sender, conn)?;
    ring.wait(t)?;
    c.write_all(b"x")?;
    let mut echo = [0u8; 1];
    c.read_exact(&mut echo)?;
    assert_eq!(&echo, b"x");
    worker.join().unwrap()?;
    // The sender's slot was closed by the send: its index is free again,
    // and the worker's drop closed the connection.
    let (again, _c2) = accept_one(&mut ring, &l)?;
    assert_eq!(again.index(), index);
    assert!(closed(&mut c));
    Ok(())
}

#[test]
fn a_dropped_ring_refuses_messages_with_closed() -> TestResult {
    let mut target = Ring::new(8)?;
    let handle = target.handle()?;
    let mailbox = target.mailbox::<TcpStream>(0)?;
    let sender = mailbox.sender();
    assert!(!handle.is_closed() && !sender.is_closed());
    assert_eq!(handle.ring_id(), target.id());
    drop(mailbox);
    drop(target);
    assert!(handle.is_closed() && sender.is_closed());
    assert_eq!(handle.wake(), Err(Error::Closed));
    assert_eq!(sender.post(1), Err(Error::Closed));
    let mut ring = Ring::new(8)?;
    assert_eq!(ring.push(sender.message_op(1)).err(), Some(Error::Closed));
    ring.register_files_sparse(2)?;
    let l = listener()?;
    let (conn, mut c) = accept_one(&mut ring, &l)?;
    assert_eq!(ring.send_file(&sender, conn).err(), Some(Error::Closed));
    // The refused file is closed, not leaked.
    ring.submit()?;
    assert!(closed(&mut c));
    assert_eq!(ring.in_flight(), 0);
    Ok(())
}

#[test]
fn a_closed_mailbox_frees_its_slot_and_drops_what_comes_late() -> TestResult {
    let mut ring = Ring::new(8)?;
    let mailbox = ring.mailbox::<()>(3)?;
    assert_eq!(ring.in_flight(), 1);
    let sender = mailbox.sender();
    // On its way when the mailbox closes.
    let mut other = Ring::new(8)?;
    let t = other.push(sender.message_op(7))?;
    other.wait(t)?;
    ring.close_mailbox(mailbox);
    assert_eq!(ring.in_flight(), 0);
    assert_eq!(sender.post(8), Err(Error::Closed));
    ring.submit()?;
    ring.reap()?;
    assert_eq!(ring.next_completion(), None);
    // A mailbox dropped without its ring: freed at the next submission.
    let mailbox = ring.mailbox::<()>(4)?;
    let sender = mailbox.sender();
    let t = other.push(sender.message_op(9))?;
    other.wait(t)?;
    drop(mailbox);
    assert!(sender.is_closed());
    ring.submit()?;
    assert_eq!(ring.in_flight(), 0);
    ring.reap()?;
    assert_eq!(ring.next_completion(), None);
    assert_eq!(ring.stale_completions(), 2, "the late messages were stale");
    Ok(())
}

#[test]
fn a_file_for_a_closed_mailbox_is_closed() -> TestResult {
    let (mut a, mut b) = two_rings_with_tables()?;
    let mailbox = b.mailbox::<TcpStream>(0)?;
    let sender = mailbox.sender();
    let l = listener()?;
    let (conn, mut c) = accept_one(&mut a, &l)?;
    let t = a.send_file(&sender, conn)?;
    a.wait(t)?; // in b's table, its CQE not reaped yet
    b.close_mailbox(mailbox);
    b.reap()?; // the message is stale: its file is closed...
    b.submit()?; // ...at this submission
    assert!(closed(&mut c));
    Ok(())
}

#[test]
fn untaken_files_are_closed_with_the_mailbox() -> TestResult {
    let (mut a, mut b) = two_rings_with_tables()?;
    let mut mailbox = b.mailbox::<TcpStream>(0)?;
    let l = listener()?;
    let (conn, mut c) = accept_one(&mut a, &l)?;
    let t = a.send_file(&mailbox.sender(), conn)?;
    a.wait(t)?;
    b.submit_and_wait(1)?;
    assert!(b.next_completion().is_some());
    // Announced, not taken: closing the mailbox closes the file.
    b.close_mailbox(mailbox);
    b.submit()?;
    assert!(closed(&mut c));
    // And files lost with an unregistered table are reported as closed.
    mailbox = b.mailbox::<TcpStream>(1)?;
    let (conn, mut c) = accept_one(&mut a, &l)?;
    let t = a.send_file(&mailbox.sender(), conn)?;
    a.wait(t)?;
    b.unregister_files()?;
    assert_eq!(b.next_completion().map(|c| c.tag), Some(1));
    assert_eq!(
        b.receive(&mut mailbox).map(|m| m.err()),
        Some(Some(Error::Closed))
    );
    assert!(closed(&mut c));
    Ok(())
}

#[test]
fn a_send_that_fails_still_closes_the_source_slot() -> TestResult {
    let mut a = Ring::new(8)?;
    a.register_files_sparse(2)?;
    let mut b = Ring::new(8)?; // no file table: as good as a full one
    let mailbox = b.mailbox::<TcpStream>(0)?;
    let l = listener()?;
    let (conn, mut c) = accept_one(&mut a, &l)?;
    let t = a.send_file(&mailbox.sender(), conn)?;
    assert_eq!(a.wait(t), Err(Error::Os(Errno::ENFILE)));
    assert!(closed(&mut c));
    // A full table: ENFILE.
    b.register_files_sparse(1)?;
    let (first, _c1) = accept_one(&mut a, &l)?;
    let t = a.send_file(&mailbox.sender(), first)?;
    a.wait(t)?;
    let (second, mut c2) = accept_one(&mut a, &l)?;
    let t = a.send_file(&mailbox.sender(), second)?;
    assert_eq!(a.wait(t), Err(Error::Os(Errno::ENFILE)));
    assert!(closed(&mut c2));
    assert_eq!(a.in_flight(), 0);
    Ok(())
}

#[test]
fn bad_input_is_refused_exactly() -> TestResult {
    let (mut a, mut b) = two_rings_with_tables()?;
    let own = a.mailbox::<TcpStream>(0)?;
    let mut theirs = b.mailbox::<TcpStream>(0)?;
    let l = listener()?;
    let (conn, mut c) = accept_one(&mut a, &l)?;
    assert_eq!(
        a.send_file(&own.sender(), conn).err(),
        Some(Error::InvalidParam(
            "a file cannot be sent to a mailbox of its own ring"
        ))
    );
    a.submit()?;
    assert!(closed(&mut c), "a refused Direct is closed");
    let (conn, _c) = accept_one(&mut a, &l)?;
    assert_eq!(
        b.send_file(&theirs.sender(), conn).err(),
        Some(Error::InvalidParam("the Direct belongs to another ring"))
    );
    let (conn, _c) = accept_one(&mut a, &l)?;
    a.unregister_files()?;
    a.register_files_sparse(2)?;
    assert_eq!(
        a.send_file(&theirs.sender(), conn).err(),
        Some(Error::InvalidParam(
            "the Direct belongs to an earlier file table of the ring"
        ))
    );
    assert_eq!(
        a.receive(&mut theirs).map(|m| m.err()),
        Some(Some(Error::InvalidParam(
            "the mailbox belongs to another ring"
        )))
    );
    // A mailbox closed by the wrong ring stays its own ring's to close.
    let t = a.push(theirs.sender().message_op(1))?;
    a.close_mailbox(theirs);
    a.wait(t)?;
    b.submit()?;
    assert_eq!(b.in_flight(), 0);
    Ok(())
}

#[test]
fn a_plain_thread_wakes_a_ring_blocked_in_submit_and_wait() -> TestResult {
    let mut ring = Ring::new(8)?;
    let handle = ring.handle()?;
    let mut mailbox = ring.mailbox::<()>(11)?;
    require_sync_post!(mailbox.sender());
    assert_eq!(receive_values(&mut ring, &mut mailbox, 1)?, [0]);
    // A bare wake: the wait returns, nothing is announced.
    let waker = thread::spawn(move || {
        thread::sleep(Duration::from_millis(50));
        handle.wake()
    });
    let start = Instant::now();
    ring.submit_and_wait(1)?;
    assert!(start.elapsed() >= Duration::from_millis(40));
    waker.join().unwrap()?;
    assert_eq!(ring.next_completion(), None);
    // A post: the wait returns with the message.
    let sender = mailbox.sender();
    let poster = thread::spawn(move || {
        thread::sleep(Duration::from_millis(50));
        sender.post(12)
    });
    assert_eq!(receive_values(&mut ring, &mut mailbox, 1)?, [12]);
    poster.join().unwrap()?;
    Ok(())
}

#[test]
fn a_defer_taskrun_ring_receives_on_its_own_thread() -> TestResult {
    let (tx, rx) = mpsc::channel::<Sender>();
    let receiver = thread::spawn(move || -> Result<Vec<u32>, Error> {
        let mut ring = Ring::builder(8)
            .single_issuer(true)
            .defer_taskrun(true)
            .build()?;
        let mut mailbox = ring.mailbox::<()>(0)?;
        tx.send(mailbox.sender()).unwrap();
        receive_values(&mut ring, &mut mailbox, 4)
    });
    let sender = rx.recv()?;
    let mut ring = Ring::new(8)?;
    for v in [1, 2, 3] {
        let t = ring.push(sender.message_op(v))?;
        ring.wait(t)?;
    }
    // And from a thread without a ring, where the kernel can.
    let last = match sender.post(4) {
        Err(Error::Unsupported(_)) => {
            let t = ring.push(sender.message_op(4))?;
            ring.wait(t)
        }
        posted => posted,
    };
    last?;
    assert_eq!(receiver.join().unwrap()?, [1, 2, 3, 4]);
    Ok(())
}

#[test]
fn a_dropped_ring_with_a_mailbox_drains() -> TestResult {
    let mut ring = Ring::new(8)?;
    let mailbox = ring.mailbox::<()>(0)?;
    let sender = mailbox.sender();
    let mut other = Ring::new(8)?;
    let t = other.push(sender.message_op(1))?;
    other.wait(t)?;
    // A mailbox with an untaken message, still open: the drop ends it.
    // (The mailbox outlives the ring, rather than being forgotten, which
    // would leak its shared address on purpose.)
    drop(ring);
    assert_eq!(sender.post(2), Err(Error::Closed));
    drop(mailbox);
    Ok(())
}

#[test]
fn a_file_in_a_dropped_rings_table_is_closed_while_senders_live() -> TestResult {
    let (mut a, mut b) = two_rings_with_tables()?;
    let mailbox = b.mailbox::<TcpStream>(0)?;
    let sender = mailbox.sender();
    let handle = b.handle()?;
    let l = listener()?;
    let (conn, mut c) = accept_one(&mut a, &l)?;
    let t = a.send_file(&sender, conn)?;
    a.wait(t)?;
    // In b's table, never taken; b goes while its sender and handle keep
    // its kernel object alive.
    drop(mailbox);
    drop(b);
    assert!(closed(&mut c));
    assert!(handle.is_closed());
    Ok(())
}
