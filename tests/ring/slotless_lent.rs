//! Slotless operations with storage: counter reads and writes of
//! registered files, lent a table slot for their flight, their 8 bytes
//! handed out with their completions.

use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::time::Duration;

use iofd::ring::io_uring::squeue;
use iofd::ring::ops::{CancelFixed, Nop, ReadCounter, WriteCounter};
use iofd::ring::{Cqe, Fixed, Op, Opcode, Ring, SLOTLESS_TAGS, Slotless};
use iofd::sys::Errno;
use iofd::{Error, EventFd};

use super::completions;

type Read = ReadCounter<Fixed<EventFd>>;

#[test]
fn counter_reads_come_with_their_values_in_completion_order() {
    let mut ring = Ring::new(16).unwrap();
    let efds: Vec<EventFd> = (0..3).map(|_| EventFd::new(0).unwrap()).collect();
    let fds: Vec<_> = efds.iter().map(AsFd::as_fd).collect();
    ring.register_files(&fds).unwrap();
    for (i, efd) in efds.iter().enumerate() {
        efd.signal(10 + i as u64).unwrap();
    }
    let bytes = ring.table_bytes();
    let mut nop = ring.push_tagged(Nop::new(), 100).unwrap();
    for i in 0..3u32 {
        ring.push_slotless(Fixed::<EventFd>::new(i).read_op(), u64::from(i))
            .unwrap();
    }
    assert_eq!((ring.in_flight(), ring.slotless_in_flight()), (4, 3));
    let got = completions(&mut ring, 4);
    assert_eq!(
        got.iter().map(|c| c.tag).collect::<Vec<_>>(),
        [100, 0, 1, 2]
    );
    assert_eq!(got[0].output::<Read>(), None, "a tokened result");
    assert_eq!(ring.take(&mut nop), Some(Ok(())));
    for c in &got[1..] {
        assert!(c.is_slotless());
        assert_eq!(c.cqe.map(|cqe| cqe.res), Some(8));
        assert_eq!(c.output::<Read>(), Some(Ok(10 + c.tag)));
    }
    assert_eq!((ring.in_flight(), ring.slotless_in_flight()), (0, 0));
    assert_eq!(ring.table_bytes(), bytes, "the table did not grow");
    super::assert_every_slot_free(&mut ring);
}

#[test]
fn a_read_waits_for_its_counter_until_its_file_is_cancelled() {
    // On Linux 6.18 the kernel holds a read of a zero eventfd until the
    // eventfd is signalled; the slot stays lent meanwhile.
    let mut ring = Ring::new(8).unwrap();
    let (efd, other) = (EventFd::new(0).unwrap(), EventFd::new(0).unwrap());
    ring.register_files(&[efd.as_fd(), other.as_fd()]).unwrap();
    let read = |i| Fixed::<EventFd>::new(i).read_op();
    ring.push_slotless(read(0), 3).unwrap();
    ring.submit().unwrap();
    assert_eq!(ring.reap(), Ok(0));
    efd.signal(4).unwrap();
    let c = &completions(&mut ring, 1)[0];
    assert_eq!((c.tag, c.output::<Read>()), (3, Some(Ok(4))));

    // Two reads on file 0 and one on file 1; cancelling file 0 ends
    // its two and leaves the other.
    ring.push_slotless(read(0), 1).unwrap();
    ring.push_slotless(read(0), 2).unwrap();
    ring.push_slotless(read(1), 5).unwrap();
    ring.submit().unwrap();
    assert_eq!(ring.cancel_fixed(Fixed::<EventFd>::new(0)), Ok(2));
    let mut got = completions(&mut ring, 2);
    got.sort_by_key(|c| c.tag);
    for (c, tag) in got.iter().zip([1, 2]) {
        assert_eq!(c.tag, tag);
        assert_eq!(c.output::<Read>(), Some(Err(Error::Os(Errno::ECANCELED))));
    }
    assert_eq!((ring.in_flight(), ring.slotless_in_flight()), (1, 1));
    other.signal(6).unwrap();
    let c = &completions(&mut ring, 1)[0];
    assert_eq!((c.tag, c.output::<Read>()), (5, Some(Ok(6))));
    assert_eq!(ring.in_flight(), 0);
    // Nothing left on the file.
    assert_eq!(ring.cancel_fixed(Fixed::<EventFd>::new(0)), Ok(0));
}

/// A ring with a slotless read of a zero eventfd (fixed file 0, tag 1)
/// submitted and waiting.
fn a_waiting_read() -> (Ring, EventFd) {
    let mut ring = Ring::new(8).unwrap();
    let efd = EventFd::new(0).unwrap();
    ring.register_files(&[efd.as_fd()]).unwrap();
    ring.push_slotless(Fixed::<EventFd>::new(0).read_op(), 1)
        .unwrap();
    ring.submit().unwrap();
    (ring, efd)
}

#[test]
fn a_cancel_by_file_says_when_the_index_holds_none() {
    let (mut ring, efd) = a_waiting_read();
    ring.unregister_files().unwrap();
    // The read runs on, on a file no index names: the cancel says so.
    assert_eq!(
        ring.cancel_fixed(Fixed::<EventFd>::new(0)),
        Err(Error::Os(Errno::EBADF))
    );
    assert_eq!(ring.in_flight(), 1);
    // Its count still comes, under its tag.
    efd.signal(9).unwrap();
    let c = &completions(&mut ring, 1)[0];
    assert_eq!((c.tag, c.output::<Read>()), (1, Some(Ok(9))));
}

#[test]
fn a_cancel_by_file_can_go_without_waiting() {
    let (mut ring, _efd) = a_waiting_read();
    ring.push_slotless(CancelFixed::new(Fixed::<EventFd>::new(0)), 2)
        .unwrap();
    let mut got = completions(&mut ring, 2);
    got.sort_by_key(|c| c.tag);
    assert_eq!(
        got[0].output::<Read>(),
        Some(Err(Error::Os(Errno::ECANCELED)))
    );
    assert_eq!(got[1].output::<CancelFixed>(), Some(Ok(1)));
}

/// A counter read whose `ring_bound` panics.
struct Panicky(ReadCounter<Fixed<EventFd>>);

// SAFETY: forwards to the counter read, whose promises it keeps; only
// `ring_bound` differs, and it panics before anything is submitted.
unsafe impl Op for Panicky {
    type Storage = u64;
    type Output = u64;
    const CODE: Opcode = Opcode::READ;
    const NAME: &'static str = "panicky read";

    fn ring_bound(&self) -> Option<u32> {
        panic!("ring_bound")
    }

    fn entry(&self, storage: *mut u64) -> squeue::Entry {
        self.0.entry(storage)
    }

    unsafe fn output(cqe: Cqe, storage: *const u64) -> iofd::Result<u64> {
        // SAFETY: forwarded to the caller.
        unsafe { Read::output(cqe, storage) }
    }
}

// SAFETY: as `ReadCounter<Fixed<_>>`'s.
unsafe impl Slotless for Panicky {}

#[test]
fn a_panic_in_the_operations_own_code_frees_its_slot() {
    // In a thread: a slot left claimed would keep the ring's drop
    // cancelling for ever.
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        let mut ring = Ring::builder(8).max_capacity(2).build().unwrap();
        let efd = EventFd::new(5).unwrap();
        ring.register_files(&[efd.as_fd()]).unwrap();
        let op = || Panicky(Fixed::<EventFd>::new(0).read_op());
        for _ in 0..3 {
            let lent = catch_unwind(AssertUnwindSafe(|| ring.push_slotless(op(), 1)));
            assert!(lent.is_err(), "the panic came through");
            let tokened = catch_unwind(AssertUnwindSafe(|| ring.push(op()).map(drop)));
            assert!(tokened.is_err());
        }
        let counts = (ring.in_flight(), ring.slotless_in_flight());
        if counts == (0, 0) {
            super::assert_every_slot_free(&mut ring);
        }
        done.send(counts).unwrap();
    });
    let counts = finished
        .recv_timeout(Duration::from_secs(10))
        .expect("the checks ran");
    assert_eq!(counts, (0, 0), "no slot left claimed");
}

#[test]
fn a_counter_write_lands() {
    let mut ring = Ring::new(8).unwrap();
    let efd = EventFd::new(0).unwrap();
    ring.register_files(&[efd.as_fd()]).unwrap();
    let write = Fixed::<EventFd>::new(0).signal_op(42);
    ring.push_slotless(write, 9).unwrap();
    let c = &completions(&mut ring, 1)[0];
    assert_eq!(c.output::<WriteCounter<Fixed<EventFd>>>(), Some(Ok(())));
    assert_eq!(efd.wait(), Ok(42));
    // Refused before any slot is lent.
    let max = Fixed::<EventFd>::new(0).signal_op(u64::MAX);
    assert!(matches!(
        ring.push_slotless(max, 9),
        Err(Error::InvalidParam(_))
    ));
    assert_eq!(ring.in_flight(), 0);
    super::assert_every_slot_free(&mut ring);
}

#[test]
fn lent_slots_count_against_the_tables_maximum() {
    let mut ring = Ring::builder(16).max_capacity(4).build().unwrap();
    let efd = EventFd::new_semaphore(100).unwrap();
    ring.register_files(&[efd.as_fd()]).unwrap();
    let read = || Fixed::<EventFd>::new(0).read_op();
    for tag in 0..4 {
        ring.push_slotless(read(), tag).unwrap();
    }
    // Not yet submitted, so a reap frees nothing.
    assert_eq!(ring.push_slotless(read(), 4), Err(Error::TableFull));
    assert_eq!(
        ring.push_slotless(Nop::new(), 4),
        Ok(()),
        "a NOP needs none"
    );
    assert_eq!((ring.in_flight(), ring.slotless_in_flight()), (5, 5));
    let got = completions(&mut ring, 5);
    assert!(
        got.iter()
            .all(|c| c.output::<Read>() != Some(Err(Error::WouldBlock)))
    );
    // The slots came back with the results.
    for tag in 0..4 {
        ring.push_slotless(read(), tag).unwrap();
    }
    assert_eq!(completions(&mut ring, 4).len(), 4);
    assert_eq!(efd.wait(), Ok(1), "8 of 100 read, one at a time");
}

#[test]
fn a_ring_drops_with_a_lent_read_waiting_in_the_kernel() {
    // A blocking socket with nothing to read: the kernel holds the read,
    // and its storage, until the drop's drain cancels it.
    let (a, _b) = UnixStream::pair().unwrap();
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        let mut ring = Ring::new(8).unwrap();
        ring.register_files(&[a.as_fd()]).unwrap();
        ring.push_slotless(Fixed::<EventFd>::new(0).read_op(), 1)
            .unwrap();
        ring.submit().unwrap();
        assert_eq!(ring.reap(), Ok(0), "the read waits");
        assert_eq!((ring.in_flight(), ring.slotless_in_flight()), (1, 1));
        drop(ring);
        done.send(()).unwrap();
    });
    finished
        .recv_timeout(Duration::from_secs(10))
        .expect("the drop cancelled the read and returned");
}

#[test]
fn decoding_as_another_operation_is_sound() {
    let mut ring = Ring::new(8).unwrap();
    let efd = EventFd::new(0).unwrap();
    ring.register_files(&[efd.as_fd()]).unwrap();
    efd.signal(6).unwrap();
    ring.push_slotless(Fixed::<EventFd>::new(0).read_op(), 1)
        .unwrap();
    ring.push_slotless(Nop::new(), 2).unwrap();
    let got = completions(&mut ring, 2);
    // A read decoded as a NOP: its result is 8 bytes, no error.
    assert_eq!(got[0].output::<Nop>(), Some(Ok(())));
    // A NOP decoded as a read: no 8 bytes came.
    assert_eq!(got[1].output::<Read>(), Some(Err(Error::Os(Errno::EIO))));
}

#[test]
fn refusals_lend_no_slot() {
    let mut ring = Ring::new(8).unwrap();
    let tag_error = Err(Error::InvalidParam(
        "a slotless operation's tag must be below SLOTLESS_TAGS (2^30)",
    ));
    let read = || Fixed::<EventFd>::new(0).read_op();
    assert_eq!(ring.push_slotless(read(), SLOTLESS_TAGS), tag_error);
    assert_eq!(ring.in_flight(), 0);

    let mut disabled = Ring::builder(8).r_disabled(true).build().unwrap();
    assert_eq!(disabled.push_slotless(read(), 1), Err(Error::RingDisabled));
    assert_eq!(
        (disabled.in_flight(), disabled.slotless_in_flight()),
        (0, 0)
    );
}
