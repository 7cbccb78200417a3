//! The ring as an event loop: dispatch by tag, a table that grows, owned
//! buffers, raw SQEs with their results, multishot results one by one.

use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use io_uring::opcode;
use iofd::ring::ops::{Nop, Timeout, TimeoutResult};
use iofd::ring::{Fixed, Ring};
use iofd::{Error, EventFd, MemFd};

use super::completions;

const MS: Duration = Duration::from_millis(1);

#[test]
fn tags_come_in_completion_order_across_mixed_ops() {
    let mut ring = Ring::new(16).unwrap();
    let efd = Arc::new(EventFd::new(0).unwrap());
    let mut late = ring.push_tagged(Timeout::after(40 * MS), 1).unwrap();
    let mut read = ring.push_tagged(efd.read_op_shared(), 2).unwrap();
    let mut early = ring.push_tagged(Timeout::after(10 * MS), 3).unwrap();
    let mut nop = ring.push_tagged(Nop::new(), 4).unwrap();
    // Untagged operations are never announced.
    let plain = ring.push(Nop::new()).unwrap();
    let first = completions(&mut ring, 1);
    assert_eq!(first.iter().map(|c| c.tag).collect::<Vec<_>>(), [4]);
    assert_eq!(first[0].user_data, nop.user_data());
    std::thread::sleep(20 * MS);
    efd.signal(9).unwrap();
    let rest = completions(&mut ring, 3);
    let tags: Vec<u64> = rest.iter().map(|c| c.tag).collect();
    assert_eq!(tags, [3, 2, 1], "the early timeout, the read, the late one");
    // Each announced result is there to take, O(1), by its token.
    assert_eq!(ring.take(&mut nop), Some(Ok(())));
    assert_eq!(ring.take(&mut early), Some(Ok(TimeoutResult::Fired)));
    assert_eq!(ring.take(&mut read), Some(Ok(9)));
    assert_eq!(ring.take(&mut late), Some(Ok(TimeoutResult::Fired)));
    assert_eq!(ring.wait(plain), Ok(()));
    assert_eq!(ring.next_completion(), None);
}

#[test]
fn a_result_taken_by_token_is_not_announced_again() {
    let mut ring = Ring::new(8).unwrap();
    let a = ring.push_tagged(Nop::new(), 10).unwrap();
    let b = ring.push_tagged(Nop::new(), 11).unwrap();
    ring.submit_and_wait(2).unwrap();
    // Taken before its announcement is popped: skipped.
    assert_eq!(ring.wait(a), Ok(()));
    let c = ring.next_completion().expect("b's result");
    assert_eq!((c.tag, c.user_data), (11, b.user_data()));
    assert_eq!(ring.next_completion(), None);
    assert_eq!(ring.wait(b), Ok(()));
}

#[test]
fn every_multishot_result_is_announced_and_taken_in_order() {
    let mut ring = Ring::new(8).unwrap();
    let mut every = ring.push_tagged(Timeout::every(MS), 5).unwrap();
    ring.submit().unwrap();
    // Taken late: many shots reaped before the first is taken.
    std::thread::sleep(30 * MS);
    ring.submit_and_wait(1).unwrap();
    let mut announced = 0;
    while let Some(c) = ring.next_completion() {
        assert_eq!(c.tag, 5);
        announced += 1;
        assert_eq!(ring.take(&mut every), Some(Ok(TimeoutResult::Fired)));
    }
    assert!(announced >= 10, "{announced} shots");
    assert_eq!(ring.take(&mut every), None, "each taken once");
    ring.cancel(every).unwrap();
}

#[test]
fn a_raw_sqe_result_comes_with_its_tag() {
    let mut ring = Ring::new(8).unwrap();
    let typed = ring.push_tagged(Nop::new(), 1).unwrap();
    let entry = opcode::Nop::new().build();
    // SAFETY: a NOP touches no memory and no descriptor.
    let mut raw = unsafe { ring.push_raw_tagged(&entry, 2) }.unwrap();
    // A raw SQE that fails: a read of descriptor -1.
    let bad = opcode::Read::new(io_uring::types::Fd(-1), std::ptr::null_mut(), 0).build();
    // SAFETY: the read names no descriptor and no memory (length 0).
    let mut failed = unsafe { ring.push_raw_tagged(&bad, 3) }.unwrap();
    let tags: Vec<u64> = completions(&mut ring, 3).iter().map(|c| c.tag).collect();
    assert_eq!(tags, [1, 2, 3]);
    let cqe = ring.take(&mut raw).unwrap().unwrap();
    assert_eq!((cqe.res, cqe.more()), (0, false));
    let cqe = ring.take(&mut failed).unwrap().unwrap();
    assert_eq!(cqe.result(), Err(Error::Os(iofd::sys::Errno::EBADF)));
    assert_eq!(ring.wait(typed), Ok(()));
    assert_eq!(ring.stale_completions(), 0, "no raw CQE thrown away");
    // An SQE that would post no CQE on success would hold its slot for
    // ever (and the ring's drop with it): refused, with nothing queued.
    let quiet = opcode::Nop::new()
        .build()
        .flags(io_uring::squeue::Flags::SKIP_SUCCESS | io_uring::squeue::Flags::ASYNC);
    // SAFETY: as the first NOP.
    let refused = unsafe { ring.push_raw_tagged(&quiet, 4) }.map(drop);
    assert_eq!(
        refused,
        Err(Error::InvalidParam(
            "a raw SQE pushed with a token must post its CQE: no IOSQE_CQE_SKIP_SUCCESS"
        ))
    );
    assert_eq!(ring.in_flight(), 0);
    ring.wait_idle().unwrap();
}

#[test]
fn the_table_grows_to_100k_in_flight_and_back() {
    const N: usize = 100_000;
    let mut ring = Ring::new(256).unwrap();
    let start = ring.capacity();
    assert!(start < N);
    let tokens: Vec<_> = (0..N)
        .map(|i| ring.push_tagged(Nop::new(), i as u64).unwrap())
        .collect();
    assert!(ring.capacity() >= N, "grown to {}", ring.capacity());
    let mut seen = vec![false; N];
    for c in completions(&mut ring, N) {
        assert!(!seen[c.tag as usize], "tag {} announced twice", c.tag);
        seen[c.tag as usize] = true;
    }
    for t in tokens {
        assert_eq!(ring.wait(t), Ok(()));
    }
    assert_eq!((ring.in_flight(), ring.stale_completions()), (0, 0));
    // Back: every slot is free again and reused, none leaked.
    let again: Vec<_> = (0..N).map(|_| ring.push(Nop::new()).unwrap()).collect();
    let keys = again.iter().map(|t| t.user_data().key() as usize).max();
    assert!(keys < Some(ring.capacity()), "no growth the second time");
    for t in again {
        assert_eq!(ring.wait(t), Ok(()));
    }
}

#[test]
fn a_small_op_costs_at_most_64_bytes_of_table() {
    const N: usize = 10_000;
    let mut ring = Ring::new(64).unwrap();
    let before = ring.table_bytes();
    let tokens: Vec<_> = (0..N).map(|_| ring.push(Nop::new()).unwrap()).collect();
    let per_op = (ring.table_bytes() - before) as f64 / N as f64;
    println!("{per_op:.1} bytes of table per NOP in flight");
    assert!(per_op <= 64.0, "{per_op}");
    let timers: Vec<_> = (0..N)
        .map(|_| ring.push(Timeout::after(Duration::from_secs(60))).unwrap())
        .collect();
    let per_op = (ring.table_bytes() - before) as f64 / (2 * N) as f64;
    assert!(per_op <= 64.0, "{per_op} with timeouts");
    for t in timers {
        ring.cancel(t).unwrap();
    }
    for t in tokens {
        assert_eq!(ring.wait(t), Ok(()));
    }
}

#[test]
fn a_counter_read_costs_its_slot_and_a_kept_handle_only() {
    const N: usize = 10_000;
    let efd = Arc::new(EventFd::new(0).unwrap());
    // By registered file: the slot, nothing else.
    let mut ring = Ring::new(64).unwrap();
    ring.register_files(&[efd.as_fd()]).unwrap();
    let before = ring.table_bytes();
    let fixed = Fixed::<EventFd>::new(0);
    let reads: Vec<_> = (0..N)
        .map(|_| ring.push(fixed.read_op()).unwrap())
        .collect();
    ring.submit().unwrap();
    let per_op = (ring.table_bytes() - before) as f64 / N as f64;
    println!("{per_op:.1} bytes of table per fixed-file counter read in flight");
    assert!(per_op <= 64.0, "{per_op}");
    assert_eq!(ring.cancel_fixed(fixed), Ok(N as u32));
    drop(reads);
    ring.wait_idle().unwrap();
    // By `Arc`: the slot, and the kept handle's 16 bytes beside it.
    let mut ring = Ring::new(64).unwrap();
    let before = ring.table_bytes();
    let reads: Vec<_> = (0..N)
        .map(|_| ring.push(efd.read_op_shared()).unwrap())
        .collect();
    let per_op = (ring.table_bytes() - before) as f64 / N as f64;
    println!("{per_op:.1} bytes of table per shared-handle counter read in flight");
    assert!(per_op <= 80.0, "{per_op}");
    for t in reads {
        ring.cancel(t).unwrap();
    }
    ring.wait_idle().unwrap();
}

#[test]
fn a_table_at_its_max_reports_it_by_name() {
    let mut ring = Ring::builder(8).max_capacity(200).build().unwrap();
    let tokens: Vec<_> = (0..200).map(|_| ring.push(Nop::new()).unwrap()).collect();
    assert_eq!(ring.push(Nop::new()).map(|_| ()), Err(Error::TableFull));
    for t in tokens {
        assert_eq!(ring.wait(t), Ok(()));
    }
    assert!(ring.push(Nop::new()).is_ok());
}

#[test]
fn owned_buffers_of_1_mib_go_through_push() {
    const MIB: usize = 1 << 20;
    let mut ring = Ring::new(8).unwrap();
    let mem = Arc::new(MemFd::new("owned").unwrap());
    let data: Vec<u8> = (0..MIB).map(|i| (i % 251) as u8).collect();
    let w = ring
        .push(mem.write_at_op_shared(0).with_buf(data.clone()))
        .unwrap();
    let (n, back) = ring.wait(w).unwrap();
    assert_eq!(n, Ok(MIB));
    assert_eq!(back, data, "the buffer comes back");
    // Into a Vec's spare capacity, and into a boxed slice.
    let r = ring
        .push(mem.read_at_op_shared(0).with_buf(Vec::with_capacity(MIB)))
        .unwrap();
    let (n, got) = ring.wait(r).unwrap();
    assert_eq!(n, Ok(MIB));
    assert_eq!(got, data);
    let boxed = vec![0u8; MIB].into_boxed_slice();
    let r = ring.push(mem.read_at_op_shared(1).with_buf(boxed)).unwrap();
    let (n, got) = ring.wait(r).unwrap();
    assert_eq!(n, Ok(MIB - 1));
    assert_eq!(&got[..MIB - 1], &data[1..]);
}

#[test]
fn an_owned_buffer_comes_back_with_an_error() {
    let mut ring = Ring::new(8).unwrap();
    let (rd, _wr) = iofd::sys::pipe::pipe2(iofd::sys::pipe::PipeFlags::CLOEXEC).unwrap();
    let rd = Arc::new(iofd::Fd::from(rd));
    // Writing to a pipe's read end: EBADF from the kernel, the buffer back.
    let t = ring
        .push(rd.write_at_op_shared(0).with_buf(vec![1u8; 16]))
        .unwrap();
    let (n, buf) = ring.wait(t).unwrap();
    assert_eq!(n, Err(Error::Os(iofd::sys::Errno::EBADF)));
    assert_eq!(buf, vec![1u8; 16]);
    // Refused before anything is queued: the buffer goes with the op.
    let bad = ring.push(rd.read_at_op_shared(u64::MAX).with_buf(vec![0u8; 4]));
    assert_eq!(
        bad.map(|_| ()),
        Err(Error::InvalidParam(Error::KERNEL_EINVAL))
    );
    assert_eq!(ring.in_flight(), 0);
}

#[test]
fn a_three_op_chain_whose_middle_fails() {
    use iofd::ring::ops::Cancel;
    use iofd::ring::{Link, UserData};
    let mut ring = Ring::new(8).unwrap();
    let efd = Arc::new(EventFd::new(0).unwrap());
    let mem = Arc::new(MemFd::new("chain").unwrap());
    // Soft: the third never runs.
    let (a, b, c) = ring
        .push_chain_tagged(
            (
                efd.signal_op_shared(1),
                Cancel::new(UserData::from_raw(12345)),
                mem.write_at_op_shared(0).with_buf(vec![9u8; 64]),
            ),
            Link::Soft,
            7,
        )
        .unwrap();
    let tags: Vec<u64> = completions(&mut ring, 3).iter().map(|c| c.tag).collect();
    assert_eq!(
        tags,
        [7, 7, 7],
        "every member announced under the chain's tag"
    );
    assert_eq!(ring.wait(a), Ok(()));
    assert_eq!(ring.wait(b), Err(Error::Os(iofd::sys::Errno::ENOENT)));
    let (n, buf) = ring.wait(c).unwrap();
    assert_eq!(n, Err(Error::Os(iofd::sys::Errno::ECANCELED)));
    assert_eq!(buf, vec![9u8; 64], "a cancelled member's buffer comes back");
    assert_eq!(mem.len().unwrap(), 0, "the write never ran");
    // Hard: the third runs all the same.
    let (a, b, c) = ring
        .push_chain(
            (
                efd.signal_op_shared(1),
                Cancel::new(UserData::from_raw(12345)),
                mem.write_at_op_shared(0).with_buf(vec![9u8; 64]),
            ),
            Link::Hard,
        )
        .unwrap();
    assert_eq!(ring.wait(a), Ok(()));
    assert_eq!(ring.wait(b), Err(Error::Os(iofd::sys::Errno::ENOENT)));
    assert_eq!(ring.wait(c).unwrap().0, Ok(64));
    assert_eq!(efd.wait(), Ok(2));
}

#[test]
fn a_drained_op_waits_for_everything_before_it() {
    use iofd::ring::SqeFlags;
    let mut ring = Ring::new(8).unwrap();
    let timer = ring.push_tagged(Timeout::after(20 * MS), 1).unwrap();
    let nop = ring
        .push_flagged(Nop::new(), Some(2), SqeFlags::DRAIN)
        .unwrap();
    let asynced = ring
        .push_flagged(Nop::new(), Some(3), SqeFlags::ASYNC)
        .unwrap();
    let tags: Vec<u64> = completions(&mut ring, 3).iter().map(|c| c.tag).collect();
    assert_eq!(tags, [1, 2, 3], "the drained NOP, and all after it, wait");
    assert_eq!(ring.wait(timer), Ok(TimeoutResult::Fired));
    assert_eq!(ring.wait(nop), Ok(()));
    assert_eq!(ring.wait(asynced), Ok(()));
}

#[test]
fn cancel_keep_lets_the_owner_take_the_end_of_every_kind_of_stream() {
    let mut ring = Ring::new(8).unwrap();
    let efd = Arc::new(EventFd::new(0).unwrap());
    // A read that found nothing and was re-armed behind a poll.
    let read = ring.push_tagged(efd.read_op_shared(), 1).unwrap();
    let every = ring.push_tagged(Timeout::every(MS), 2).unwrap();
    ring.submit().unwrap();
    std::thread::sleep(5 * MS);
    ring.reap().unwrap();
    ring.cancel_keep(&read).unwrap();
    ring.cancel_keep(&every).unwrap();
    while ring.in_flight() > 0 {
        ring.submit_and_wait(1).unwrap();
    }
    assert_eq!(ring.wait(read), Err(Error::Os(iofd::sys::Errno::ECANCELED)));
    let mut every = every;
    let mut last = None;
    while let Some(r) = ring.take(&mut every) {
        last = Some(r);
    }
    assert_eq!(last, Some(Ok(TimeoutResult::Cancelled)));
    assert!(every.is_done());
    // A signal that raced with nothing: still in the counter.
    efd.signal(3).unwrap();
    assert_eq!(efd.wait(), Ok(3));
}

#[test]
fn wait_idle_waits_out_every_operation_without_spinning_on_results() {
    let mut ring = Ring::new(8).unwrap();
    let done = ring.push_tagged(Nop::new(), 1).unwrap();
    let timer = ring
        .push(Timeout::after(Duration::from_millis(30)))
        .unwrap();
    let start = Instant::now();
    let enters_before = ring.enters();
    ring.wait_idle().unwrap();
    assert!(start.elapsed() >= Duration::from_millis(30));
    assert_eq!(ring.in_flight(), 0);
    // The NOP's result waited untaken all along, and the wait slept rather
    // than spun on it.
    assert!(
        ring.enters() - enters_before < 10,
        "{}",
        ring.enters() - enters_before
    );
    assert_eq!(ring.next_completion().map(|c| c.tag), Some(1));
    ring.wait(done).unwrap();
    ring.wait(timer).unwrap();
}
