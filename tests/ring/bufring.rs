//! Provided buffer rings: registration and its errors, reads the kernel
//! gives a buffer of the group, and buffers going back to the ring when
//! dropped — in order, on other threads, after the ring is gone.
//!
//! A group id is taken in the whole process while its `BufRing` lives, and
//! the tests run on several threads: each test uses its own ids.

use std::sync::Arc;
use std::time::Duration;

use iofd::ring::{BufRing, ProvidedBuf, Ring};
use iofd::sys::Errno;
use iofd::sys::process::{getpid, gettid, tgkill};
use iofd::{Error, EventFd, SigSet, Signal, SignalFd, SignalInfo, TimerFd};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Signals `efd` with `value` and reads it back through `bufs`.
fn read_counter(ring: &mut Ring, efd: &Arc<EventFd>, bufs: &BufRing, value: u64) -> ProvidedBuf {
    efd.signal(value).expect("signal");
    let token = ring.push(efd.read_provided_op_shared(bufs)).expect("push");
    ring.wait(token).expect("provided read")
}

#[test]
fn register_reports_the_group_it_made() -> TestResult {
    let mut ring = Ring::new(4)?;
    let bufs = ring.register_buf_ring(10, 8, 64)?;
    assert_eq!(bufs.group(), 10);
    assert_eq!(bufs.entries(), 8);
    assert_eq!(bufs.buf_len(), 64);
    assert_eq!(bufs.available(), 8);
    let big = ring.register_buf_ring(11, 32768, 1)?;
    assert_eq!(big.entries(), 32768);
    assert_eq!(big.available(), 32768);
    Ok(())
}

#[test]
fn a_group_registered_twice_is_eexist() -> TestResult {
    let mut ring = Ring::new(4)?;
    let bufs = ring.register_buf_ring(20, 4, 64)?;
    assert_eq!(
        ring.register_buf_ring(20, 4, 64).unwrap_err(),
        Error::Os(Errno::EEXIST)
    );
    // On another ring too: the id is taken in the process.
    let mut other = Ring::new(4)?;
    assert_eq!(
        other.register_buf_ring(20, 2, 8).unwrap_err(),
        Error::Os(Errno::EEXIST)
    );
    // Free again once unregistered and its last reference is gone.
    ring.unregister_buf_ring(&bufs)?;
    drop(bufs);
    let again = other.register_buf_ring(20, 2, 8)?;
    assert_eq!(again.entries(), 2);
    Ok(())
}

#[test]
fn bad_arguments_are_refused_before_the_kernel() -> TestResult {
    let mut ring = Ring::new(4)?;
    let entries =
        Error::InvalidParam("a buffer ring's entries must be a power of two from 1 to 32768");
    for n in [0, 3, 6, 100, 32767, 65535] {
        assert_eq!(
            ring.register_buf_ring(30, n, 64).unwrap_err(),
            entries,
            "{n}"
        );
    }
    assert_eq!(
        ring.register_buf_ring(30, 4, 0).unwrap_err(),
        Error::InvalidParam("a provided buffer must be at least one byte long")
    );
    // None of those took the id.
    ring.register_buf_ring(30, 1, 1)?;
    Ok(())
}

#[test]
fn a_provided_read_of_an_eventfd_delivers_its_counter() -> TestResult {
    let mut ring = Ring::new(4)?;
    let bufs = ring.register_buf_ring(40, 4, 64)?;
    let efd = Arc::new(EventFd::new(0)?);
    let buf = read_counter(&mut ring, &efd, &bufs, 42);
    assert_eq!(buf.len(), 8);
    assert!(!buf.is_empty());
    assert_eq!(&buf[..], &42u64.to_ne_bytes());
    assert_eq!(buf.counter(), Some(42));
    assert_eq!(buf.group(), 40);
    assert_eq!(buf.bid(), 0, "the kernel takes the ring's first entry");
    assert_eq!(bufs.available(), 3);
    drop(buf);
    assert_eq!(bufs.available(), 4);
    Ok(())
}

#[test]
fn a_provided_read_armed_before_the_data_waits_for_it() -> TestResult {
    let mut ring = Ring::new(4)?;
    let bufs = ring.register_buf_ring(41, 2, 16)?;
    let efd = Arc::new(EventFd::new(0)?);
    let token = ring.push(efd.read_provided_op_shared(&bufs))?;
    ring.submit()?;
    std::thread::sleep(Duration::from_millis(5));
    ring.reap()?;
    // Nothing to read yet: no buffer taken.
    assert_eq!(bufs.available(), 2);
    efd.signal(7)?;
    let buf = ring.wait(token)?;
    assert_eq!(buf.counter(), Some(7));
    drop(buf);
    // Waiting took no buffer: both serve again.
    let (a, b) = (
        read_counter(&mut ring, &efd, &bufs, 1),
        read_counter(&mut ring, &efd, &bufs, 2),
    );
    assert_ne!(a.bid(), b.bid());
    Ok(())
}

#[test]
fn a_provided_read_of_a_timerfd_delivers_its_expirations() -> TestResult {
    let mut ring = Ring::new(4)?;
    let bufs = ring.register_buf_ring(42, 2, 8)?;
    let timer = Arc::new(TimerFd::new()?);
    timer.arm(Duration::from_millis(1), Duration::ZERO)?;
    let token = ring.push(timer.read_provided_op_shared(&bufs))?;
    let buf = ring.wait(token)?;
    assert_eq!(buf.len(), 8);
    assert_eq!(buf.counter(), Some(1));
    Ok(())
}

#[test]
fn a_provided_read_of_a_signalfd_delivers_records() -> TestResult {
    // A thread of its own, which blocks the signal and is its only target.
    std::thread::spawn(|| -> Result<(), Error> {
        let mask = SigSet::from(Signal::USR2);
        mask.block_thread()?;
        let sfd = Arc::new(SignalFd::new(&mask)?);
        let mut ring = Ring::new(4)?;
        let bufs = ring.register_buf_ring(43, 2, 4 * 128)?;
        tgkill(getpid(), gettid(), Signal::USR2.number())?;
        let token = ring.push(sfd.read_provided_op_shared(&bufs))?;
        let buf = ring.wait(token)?;
        assert_eq!(buf.len(), SignalInfo::SIZE);
        let infos: Vec<SignalInfo> = buf.signals().collect();
        assert_eq!(infos.len(), 1);
        assert_eq!(infos[0].signal(), Some(Signal::USR2));
        assert_eq!(infos[0].code, SignalInfo::SI_TKILL);
        assert_eq!(infos[0].pid, getpid());
        // Buffers too short for one record are refused before the kernel.
        let short = ring.register_buf_ring(44, 1, 127)?;
        assert_eq!(
            ring.push(sfd.read_provided_op_shared(&short)).unwrap_err(),
            Error::InvalidParam("the group's buffers are shorter than one record of the file")
        );
        Ok(())
    })
    .join()
    .expect("signal thread")?;
    Ok(())
}

#[test]
fn two_buffers_serve_a_hundred_reads() -> TestResult {
    let mut ring = Ring::new(4)?;
    let bufs = ring.register_buf_ring(50, 2, 8)?;
    let efd = Arc::new(EventFd::new(0)?);
    for i in 0..100u64 {
        let buf = read_counter(&mut ring, &efd, &bufs, i + 1);
        assert_eq!(buf.counter(), Some(i + 1));
        // Returned at the tail, taken from the head: the two alternate.
        assert_eq!(u64::from(buf.bid()), i % 2);
    }
    assert_eq!(bufs.available(), 2);
    Ok(())
}

#[test]
fn a_read_with_every_buffer_held_is_enobufs() -> TestResult {
    let mut ring = Ring::new(4)?;
    let bufs = ring.register_buf_ring(60, 2, 8)?;
    let efd = Arc::new(EventFd::new(0)?);
    let a = read_counter(&mut ring, &efd, &bufs, 1);
    let b = read_counter(&mut ring, &efd, &bufs, 2);
    assert_eq!(bufs.available(), 0);
    efd.signal(3)?;
    let token = ring.push(efd.read_provided_op_shared(&bufs))?;
    assert_eq!(ring.wait(token).unwrap_err(), Error::Os(Errno::ENOBUFS));
    // The counter was not read; one buffer back is enough to read it.
    drop(a);
    let token = ring.push(efd.read_provided_op_shared(&bufs))?;
    assert_eq!(ring.wait(token)?.counter(), Some(3));
    drop(b);
    Ok(())
}

#[test]
fn a_buffer_dropped_on_another_thread_goes_back() -> TestResult {
    let mut ring = Ring::new(4)?;
    let bufs = ring.register_buf_ring(70, 1, 8)?;
    let efd = Arc::new(EventFd::new(0)?);
    let buf = read_counter(&mut ring, &efd, &bufs, 5);
    let seen = std::thread::spawn(move || buf.counter())
        .join()
        .expect("thread");
    assert_eq!(seen, Some(5));
    // The ring's only buffer is back.
    assert_eq!(read_counter(&mut ring, &efd, &bufs, 6).counter(), Some(6));
    Ok(())
}

#[test]
fn a_buffer_outlives_its_ring() -> TestResult {
    let mut ring = Ring::new(4)?;
    let bufs = ring.register_buf_ring(80, 2, 8)?;
    let efd = Arc::new(EventFd::new(0)?);
    let buf = read_counter(&mut ring, &efd, &bufs, 9);
    drop(ring);
    assert_eq!(buf.counter(), Some(9));
    assert_eq!(bufs.available(), 1);
    drop(buf);
    assert_eq!(bufs.available(), 2);
    // And when its handle goes first.
    let mut ring = Ring::new(4)?;
    let bufs = ring.register_buf_ring(81, 2, 8)?;
    let buf = read_counter(&mut ring, &efd, &bufs, 10);
    drop(bufs);
    drop(ring);
    assert_eq!(buf.counter(), Some(10));
    Ok(())
}

#[test]
fn concurrent_returns_keep_the_ring_whole() -> TestResult {
    const N: u16 = 64;
    let mut ring = Ring::new(8)?;
    let bufs = ring.register_buf_ring(90, N, 8)?;
    let efd = Arc::new(EventFd::new(0)?);
    for round in 0..4 {
        let mut held: Vec<ProvidedBuf> = (0..N)
            .map(|i| read_counter(&mut ring, &efd, &bufs, u64::from(i) + 1))
            .collect();
        let mut bids: Vec<u16> = held.iter().map(ProvidedBuf::bid).collect();
        bids.sort_unstable();
        assert_eq!(bids, (0..N).collect::<Vec<_>>(), "round {round}");
        assert_eq!(bufs.available(), 0);
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let part: Vec<ProvidedBuf> = held.drain(..usize::from(N) / 4).collect();
                std::thread::spawn(move || part.into_iter().for_each(drop))
            })
            .collect();
        for t in threads {
            t.join().expect("dropping thread");
        }
        assert_eq!(bufs.available(), N);
    }
    Ok(())
}

#[test]
fn unregistered_groups_give_no_buffers() -> TestResult {
    let mut ring = Ring::new(4)?;
    let bufs = ring.register_buf_ring(100, 2, 8)?;
    let efd = Arc::new(EventFd::new(0)?);
    let held = read_counter(&mut ring, &efd, &bufs, 1);
    ring.unregister_buf_ring(&bufs)?;
    efd.signal(2)?;
    let token = ring.push(efd.read_provided_op_shared(&bufs))?;
    assert_eq!(ring.wait(token).unwrap_err(), Error::Os(Errno::ENOBUFS));
    // A buffer taken before still reads, and goes back harmlessly.
    assert_eq!(held.counter(), Some(1));
    drop(held);
    let not_here = Error::InvalidParam("the buffer ring is not registered on this ring");
    assert_eq!(ring.unregister_buf_ring(&bufs).unwrap_err(), not_here);
    let mut other = Ring::new(4)?;
    let theirs = other.register_buf_ring(101, 1, 8)?;
    assert_eq!(ring.unregister_buf_ring(&theirs).unwrap_err(), not_here);
    Ok(())
}

#[test]
fn reads_still_armed_end_with_their_ring() -> TestResult {
    let mut ring = Ring::new(4)?;
    let bufs = ring.register_buf_ring(105, 2, 8)?;
    let efd = Arc::new(EventFd::new(0)?);
    let cancelled = ring.push(efd.read_provided_op_shared(&bufs))?;
    let _dropped = ring.push(efd.read_provided_op_shared(&bufs))?;
    ring.submit()?;
    ring.cancel(cancelled)?;
    drop(ring);
    // Nothing was read, nothing is held, the group still answers.
    assert_eq!(bufs.available(), 2);
    assert_eq!(efd.wait().unwrap_err(), Error::WouldBlock);
    Ok(())
}

#[test]
fn a_provided_read_of_a_closed_handle_is_refused() -> TestResult {
    let mut ring = Ring::new(4)?;
    let bufs = ring.register_buf_ring(110, 1, 8)?;
    let efd = Arc::new(EventFd::new(0)?);
    efd.close()?;
    assert_eq!(
        ring.push(efd.read_provided_op_shared(&bufs)).unwrap_err(),
        Error::Closed
    );
    assert_eq!(
        ring.push(efd.read_multishot_op_shared(&bufs)).unwrap_err(),
        Error::Closed
    );
    assert_eq!(bufs.available(), 1);
    Ok(())
}

#[test]
fn a_multishot_read_is_accepted_and_gives_its_first_shot() -> TestResult {
    let mut ring = Ring::new(4)?;
    if !ring.is_supported(iofd::ring::Opcode::READ_MULTISHOT) {
        println!("skipped: the kernel lacks IORING_OP_READ_MULTISHOT (6.7)");
        return Ok(());
    }
    let bufs = ring.register_buf_ring(120, 4, 8)?;
    let efd = Arc::new(EventFd::new(0)?);
    efd.signal(4)?;
    let mut token = ring.push(efd.read_multishot_op_shared(&bufs))?;
    ring.submit_and_wait(1)?;
    let buf = ring.take(&mut token).expect("a first shot")?;
    assert_eq!(buf.counter(), Some(4));
    assert!(!token.is_done(), "a multishot read goes on");
    drop(buf);
    ring.cancel(token)?;
    Ok(())
}

#[test]
fn a_single_issuer_ring_registers_only_on_its_thread() -> TestResult {
    let ring = Ring::builder(4).single_issuer(true).build()?;
    let (refused, ring) = std::thread::spawn(move || {
        let mut ring = ring;
        (ring.register_buf_ring(130, 2, 8).err(), ring)
    })
    .join()
    .expect("thread");
    // The kernel would answer EEXIST, as for a group it has.
    assert_eq!(
        refused,
        Some(Error::InvalidParam(
            "a single-issuer ring takes registrations only from the thread that built it"
        ))
    );
    let mut ring = ring;
    let bufs = ring.register_buf_ring(130, 2, 8)?;
    ring.unregister_buf_ring(&bufs)?;
    Ok(())
}
