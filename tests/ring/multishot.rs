//! Multishot operations as streams: every CQE delivered once, in order,
//! even when taken late; the end of a stream told apart from a cancel, and
//! a stream the kernel ends when the completion queue is full.

use std::sync::Arc;
use std::time::{Duration, Instant};

use iofd::ring::ops::{PollFlags, PollMultishot};
use iofd::ring::{Ring, Token};
use iofd::sys::Errno;
use iofd::{Error, EventFd, TimerFd};

/// Takes every result `token` has now; `Err` ends the stream.
fn take_all<O: iofd::ring::Op>(
    ring: &mut Ring,
    token: &mut Token<O>,
    out: &mut Vec<iofd::Result<O::Output>>,
) where
    O::Storage: Sized,
{
    while let Some(r) = ring.take(token) {
        out.push(r);
    }
}

#[test]
fn a_multishot_timerfd_read_delivers_a_thousand_expirations_taken_late() {
    let mut ring = Ring::new(64).unwrap();
    let bufs = ring.register_buf_ring(41, 256, 8).unwrap();
    let timer = Arc::new(TimerFd::new().unwrap());
    let period = Duration::from_micros(200);
    timer.arm(period, period).unwrap();
    let mut stream = ring.push(timer.read_multishot_op_shared(&bufs)).unwrap();
    let (mut expirations, mut results, mut late_rounds) = (0u64, 0usize, 0);
    let deadline = Instant::now() + Duration::from_secs(20);
    while expirations < 1000 {
        assert!(Instant::now() < deadline, "{expirations} expirations");
        // Late: many expirations are read and reaped before any is taken.
        std::thread::sleep(Duration::from_millis(4));
        ring.submit_and_wait(1).unwrap();
        let mut got = Vec::new();
        take_all(&mut ring, &mut stream, &mut got);
        if got.len() >= 10 {
            late_rounds += 1;
        }
        for r in got {
            let buf = r.expect("every shot is a buffer");
            let n = buf.counter().expect("8 bytes");
            assert!(n >= 1, "an expiration count");
            expirations += n;
            results += 1;
        }
        assert!(!stream.is_done(), "the stream runs on");
    }
    timer.disarm().unwrap();
    ring.cancel(stream).unwrap();
    while ring.in_flight() > 0 {
        ring.submit_and_wait(1).unwrap();
    }
    assert!(late_rounds > 0, "some rounds took ten or more late");
    assert_eq!(bufs.available(), 256, "every buffer back");
    assert_eq!(ring.stale_completions(), 0);
    println!("{expirations} expirations in {results} results");
}

#[test]
fn a_multishot_eventfd_read_loses_no_signal() {
    const N: u64 = 1000;
    let mut ring = Ring::new(64).unwrap();
    let bufs = ring.register_buf_ring(42, 64, 8).unwrap();
    let efd = Arc::new(EventFd::new(0).unwrap());
    let mut stream = ring.push(efd.read_multishot_op_shared(&bufs)).unwrap();
    ring.submit().unwrap();
    let (mut sum, mut got) = (0u64, Vec::new());
    for i in 1..=N {
        efd.signal(i).unwrap();
        if i % 16 == 0 {
            ring.submit_and_wait(1).unwrap();
            take_all(&mut ring, &mut stream, &mut got);
            for r in got.drain(..) {
                sum += r.unwrap().counter().unwrap();
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while sum < N * (N + 1) / 2 {
        assert!(Instant::now() < deadline, "{sum}");
        ring.submit_and_wait(1).unwrap();
        take_all(&mut ring, &mut stream, &mut got);
        for r in got.drain(..) {
            sum += r.unwrap().counter().unwrap();
        }
    }
    assert_eq!(sum, N * (N + 1) / 2, "every signal counted once");
    ring.cancel(stream).unwrap();
}

#[test]
fn a_stream_that_ends_by_itself_is_told_from_a_cancelled_one() {
    let mut ring = Ring::new(16).unwrap();
    // Two buffers, never returned: the kernel ends the stream itself.
    let bufs = ring.register_buf_ring(43, 2, 8).unwrap();
    let efd = Arc::new(EventFd::new(0).unwrap());
    let mut stream = ring.push(efd.read_multishot_op_shared(&bufs)).unwrap();
    ring.submit().unwrap();
    let mut held = Vec::new();
    let mut end = None;
    let deadline = Instant::now() + Duration::from_secs(10);
    while end.is_none() {
        assert!(Instant::now() < deadline);
        efd.signal(1).unwrap();
        ring.submit_and_wait(1).unwrap();
        while let Some(r) = ring.take(&mut stream) {
            match r {
                Ok(buf) => held.push(buf),
                Err(e) => end = Some(e),
            }
        }
    }
    assert_eq!(end, Some(Error::Os(Errno::ENOBUFS)), "ended by the kernel");
    assert!(stream.is_done());
    assert_eq!(held.len(), 2);
    drop(held);
    assert_eq!(bufs.available(), 2);

    // A multishot poll cancelled mid-stream ends with ECANCELED.
    let mut polls = ring
        .push(PollMultishot::new(Arc::clone(&efd), PollFlags::IN))
        .unwrap();
    ring.submit().unwrap();
    let mut events = Vec::new();
    for _ in 0..3 {
        efd.signal(1).unwrap();
        ring.submit_and_wait(1).unwrap();
        take_all(&mut ring, &mut polls, &mut events);
    }
    assert!(!events.is_empty());
    assert!(events.iter().all(|e| e == &Ok(PollFlags::IN)), "{events:?}");
    assert!(!polls.is_done(), "a multishot poll runs until cancelled");
    // Cancelled, but its owner still takes the end of the stream.
    let ud = polls.user_data();
    let cancel = ring.push(iofd::ring::ops::Cancel::new(ud)).unwrap();
    assert_eq!(ring.wait(cancel), Ok(()));
    let mut rest = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !polls.is_done() {
        assert!(Instant::now() < deadline);
        ring.submit_and_wait(1).unwrap();
        take_all(&mut ring, &mut polls, &mut rest);
    }
    assert_eq!(rest.last(), Some(&Err(Error::Os(Errno::ECANCELED))));
}

#[test]
fn a_dropped_stream_gives_its_buffers_back() {
    let mut ring = Ring::new(16).unwrap();
    let bufs = ring.register_buf_ring(44, 8, 8).unwrap();
    let efd = Arc::new(EventFd::new(0).unwrap());
    let stream = ring.push(efd.read_multishot_op_shared(&bufs)).unwrap();
    ring.submit().unwrap();
    for _ in 0..3 {
        efd.signal(1).unwrap();
        ring.submit_and_wait(1).unwrap();
    }
    // Results waiting, untaken: the token goes, and with it those results
    // and the stream (cancelled by the drop of the ring below).
    drop(stream);
    ring.submit().unwrap();
    assert_eq!(bufs.available(), 8, "untaken results let their buffers go");
    drop(ring);
    assert_eq!(Arc::strong_count(&efd), 1);
}

#[test]
fn a_full_completion_queue_ends_a_stream_with_an_ordinary_last_result() {
    // Two completion entries: the third signal finds the queue full, and
    // the kernel ends the poll with that readiness as its final result.
    let mut ring = Ring::builder(2).cq_entries(2).build().unwrap();
    assert_eq!(ring.cq_entries(), 2);
    let efd = Arc::new(EventFd::new(0).unwrap());
    let mut polls = ring
        .push(PollMultishot::new(Arc::clone(&efd), PollFlags::IN))
        .unwrap();
    ring.submit().unwrap();
    for _ in 0..3 {
        efd.signal(1).unwrap();
        efd.wait().unwrap(); // read, so the next signal wakes the poll anew
    }
    let mut events = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !polls.is_done() {
        assert!(Instant::now() < deadline, "the stream must end: {events:?}");
        ring.submit_and_wait(1).unwrap();
        take_all(&mut ring, &mut polls, &mut events);
    }
    assert_eq!(
        events,
        vec![Ok(PollFlags::IN); 3],
        "none lost, the last final"
    );
    assert_eq!(ring.in_flight(), 0);
    // Its token is spent: a cancel that keeps it says so by name.
    assert_eq!(
        ring.cancel_keep(&polls),
        Err(Error::InvalidParam(
            "the token is spent: its operation ended and its final result was taken"
        ))
    );
}
