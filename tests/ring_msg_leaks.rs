//! Messages between rings lose no descriptor: handles, mailboxes and
//! connections handed between rings, a thousand times over, with the
//! receiver dropped before or after its senders. A `harness = false`
//! binary, so that counting `/proc/self/fd` sees only this binary's own
//! descriptors.

#[macro_use]
mod util;

use std::net::TcpStream as StdStream;
use std::sync::Arc;

use iofd::ring::{Message, Ring};
use iofd::{TcpListener, TcpStream};

use util::{CheckResult, fd_count};

/// A ring's handle duplicates its descriptor once; it is closed with the
/// last of the ring, its handles and its senders, in either order.
fn handles_close_the_duplicate_with_the_last_holder() -> CheckResult {
    let before = fd_count();
    for senders_last in [false, true] {
        let mut ring = Ring::new(8)?;
        let with_ring = fd_count();
        let h1 = ring.handle()?;
        let h2 = ring.handle()?;
        let mailbox = ring.mailbox::<()>(0)?;
        let sender = mailbox.sender();
        assert_eq!(fd_count(), with_ring + 1, "one duplicate for all");
        if senders_last {
            drop(mailbox);
            drop(ring);
            assert_eq!(fd_count(), before + 1, "the senders keep it");
            drop((h1, h2, sender));
        } else {
            drop((h1, h2, sender, mailbox));
            assert_eq!(fd_count(), with_ring + 1);
            drop(ring);
        }
        assert_eq!(fd_count(), before);
    }
    Ok(())
}

/// 1,000 connections accepted on one ring, handed to another and closed
/// there, some taken and some left in a mailbox that is then closed. Both
/// tables have 8 slots: a slot leaked on either side would fill one and
/// fail an accept or a send (`ENFILE`) long before the end.
fn a_thousand_handed_connections_leave_the_descriptor_count_unchanged() -> CheckResult {
    const N: usize = 1_000;
    let l = Arc::new(TcpListener::bind("127.0.0.1:0".parse()?)?);
    let addr = l.local_addr()?;
    let before = fd_count();
    {
        let mut a = Ring::new(16)?;
        let files = a.register_files_sparse(8)?;
        let mut b = Ring::new(16)?;
        b.register_files_sparse(8)?;
        let mut mailbox = b.mailbox::<TcpStream>(0)?;
        for i in 0..N {
            let accept = a.push(l.accept_direct_op_shared(files))?;
            a.submit()?;
            let client = StdStream::connect(addr)?;
            let conn = a.wait(accept)?;
            let sent = a.send_file(&mailbox.sender(), conn)?;
            a.wait(sent)?;
            if i % 10 == 9 {
                // Left untaken: closing the mailbox closes it.
                b.reap()?;
                b.close_mailbox(mailbox);
                mailbox = b.mailbox(0)?;
            } else {
                b.submit_and_wait(1)?;
                match b.receive(&mut mailbox) {
                    Some(Ok(Message::File(conn))) => drop(conn),
                    other => return Err(format!("no file: {other:?}").into()),
                }
            }
            b.submit()?;
            drop(client);
        }
        b.close_mailbox(mailbox);
    }
    assert_eq!(fd_count(), before, "descriptors after {N} connections");
    Ok(())
}

fn main() {
    checks![
        handles_close_the_duplicate_with_the_last_holder,
        a_thousand_handed_connections_leave_the_descriptor_count_unchanged,
    ];
}
