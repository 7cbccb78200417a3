//! Slotless operations (`Ring::push_slotless`): results that come whole
//! with their completions, with no table slot and no token.

use std::os::fd::AsFd;

use iofd::ring::ops::{Nop, Poll, PollFlags, PollMultishot, PollTarget};
use iofd::ring::{Completion, Ring, SLOTLESS_TAGS};

use super::completions;
use iofd::sys::Errno;
use iofd::{Error, EventFd};

#[test]
fn nops_take_no_slot_and_come_in_order() {
    // A table of four slots holds a hundred slotless NOPs in flight.
    let mut ring = Ring::builder(128).max_capacity(4).build().unwrap();
    let bytes = ring.table_bytes();
    for tag in 0..100 {
        ring.push_slotless(Nop::new(), tag).unwrap();
    }
    assert_eq!((ring.in_flight(), ring.slotless_in_flight()), (100, 100));
    let got = completions(&mut ring, 100);
    assert_eq!(
        got.iter().map(|c| c.tag).collect::<Vec<_>>(),
        (0..100).collect::<Vec<_>>()
    );
    for c in &got {
        assert_eq!(c.output::<Nop>(), Some(Ok(())));
        assert!(c.cqe.is_some_and(|cqe| !cqe.more()));
    }
    assert_eq!((ring.in_flight(), ring.slotless_in_flight()), (0, 0));
    assert_eq!(ring.next_completion(), None);
    assert_eq!(ring.table_bytes(), bytes, "the table did not grow");
    super::assert_every_slot_free(&mut ring);
}

#[test]
fn slotless_and_tokened_results_share_one_order() {
    let mut ring = Ring::new(16).unwrap();
    let mut first = ring.push_tagged(Nop::new(), 1).unwrap();
    ring.push_slotless(Nop::new(), 2).unwrap();
    let mut third = ring.push_tagged(Nop::new(), 3).unwrap();
    let got = completions(&mut ring, 3);
    assert_eq!(got.iter().map(|c| c.tag).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(
        got.iter().map(Completion::is_slotless).collect::<Vec<_>>(),
        [false, true, false]
    );
    assert_eq!(format!("{:?}", got[1].user_data), "UserData::Slotless(2)");
    // A tokened operation's result waits in its slot, for its token.
    assert_eq!((got[0].cqe, got[0].output::<Nop>()), (None, None));
    assert_eq!(got[0].user_data, first.user_data());
    assert_eq!(ring.take(&mut first), Some(Ok(())));
    assert_eq!(got[1].output::<Nop>(), Some(Ok(())));
    assert_eq!(ring.take(&mut third), Some(Ok(())));
    // Two slotless completions under one tag carry the same user_data.
    ring.push_slotless(Nop::new(), 2).unwrap();
    let again = completions(&mut ring, 1);
    assert_eq!(again[0].user_data, got[1].user_data);
}

#[test]
fn a_multishot_poll_streams_until_cancelled_by_tag() {
    let mut ring = Ring::new(8).unwrap();
    let efd = EventFd::new(0).unwrap();
    ring.register_files(&[efd.as_fd()]).unwrap();
    let poll = || PollMultishot::new(PollTarget::fixed(0), PollFlags::IN);
    ring.push_slotless(poll(), 5).unwrap();
    ring.submit().unwrap();
    let mut shots = 0;
    for _ in 0..3 {
        efd.signal(1).unwrap();
        let c = &completions(&mut ring, 1)[0];
        assert_eq!(c.tag, 5);
        assert_eq!(
            c.output::<PollMultishot<PollTarget>>(),
            Some(Ok(PollFlags::IN))
        );
        assert!(c.cqe.unwrap().more(), "the stream goes on");
        efd.wait().unwrap();
        shots += 1;
    }
    assert_eq!((shots, ring.slotless_in_flight()), (3, 1));
    ring.cancel_slotless(5).unwrap();
    ring.wait_idle().unwrap();
    let end = ring.next_completion().expect("the stream's final result");
    assert_eq!(end.tag, 5);
    assert_eq!(
        end.output::<PollMultishot<PollTarget>>(),
        Some(Err(Error::Os(Errno::ECANCELED)))
    );
    assert!(!end.cqe.unwrap().more());
    assert_eq!((ring.in_flight(), ring.next_completion()), (0, None));
}

#[test]
fn a_cancel_ends_every_operation_under_its_tag_and_no_other() {
    let mut ring = Ring::new(8).unwrap();
    let efd = EventFd::new(0).unwrap();
    ring.register_files(&[efd.as_fd()]).unwrap();
    for tag in [1, 1, 2] {
        let poll = PollMultishot::new(PollTarget::fixed(0), PollFlags::IN);
        ring.push_slotless(poll, tag).unwrap();
    }
    ring.submit().unwrap();
    ring.cancel_slotless(1).unwrap();
    let ended = completions(&mut ring, 2);
    assert!(
        ended
            .iter()
            .all(|c| c.tag == 1 && c.cqe.unwrap().res == -Errno::ECANCELED.raw())
    );
    assert_eq!(ring.slotless_in_flight(), 1, "tag 2 still polls");
    // Nothing in flight under a tag: the cancel finds nothing.
    ring.cancel_slotless(3).unwrap();
    ring.submit().unwrap();
    ring.cancel_slotless(2).unwrap();
    ring.wait_idle().unwrap();
    let last = ring.next_completion().unwrap();
    assert_eq!(last.tag, 2);
    assert_eq!(
        ring.next_completion(),
        None,
        "a cancel's own result is not announced"
    );
}

#[test]
fn waiting_with_results_queued_does_not_block() {
    let mut ring = Ring::new(8).unwrap();
    ring.push_slotless(Nop::new(), 1).unwrap();
    ring.push_slotless(Nop::new(), 2).unwrap();
    ring.submit_and_wait(2).unwrap();
    assert_eq!(ring.next_completion().map(|c| c.tag), Some(1));
    // Nothing is in flight, and a result waits: the wait returns at once.
    assert_eq!(ring.in_flight(), 0);
    ring.submit_and_wait(1).unwrap();
    assert_eq!(ring.next_completion().map(|c| c.tag), Some(2));
}

#[test]
fn a_ring_drops_with_a_slotless_stream_in_flight() {
    let efd = EventFd::new(0).unwrap();
    for _ in 0..10 {
        let mut ring = Ring::new(8).unwrap();
        ring.register_files(&[efd.as_fd()]).unwrap();
        let poll = PollMultishot::new(PollTarget::fixed(0), PollFlags::IN);
        ring.push_slotless(poll, 1).unwrap();
        ring.push_slotless(Nop::new(), 2).unwrap();
        ring.submit().unwrap();
        // Nothing of theirs is in the kernel's hands: no drain waits.
        drop(ring);
    }
}

#[test]
fn refusals() {
    let mut ring = Ring::new(8).unwrap();
    let tag_error = Err(Error::InvalidParam(
        "a slotless operation's tag must be below SLOTLESS_TAGS (2^30)",
    ));
    assert_eq!(SLOTLESS_TAGS, 1 << 30);
    assert_eq!(ring.push_slotless(Nop::new(), SLOTLESS_TAGS), tag_error);
    assert_eq!(ring.push_slotless(Nop::new(), u64::MAX), tag_error);
    assert_eq!(ring.cancel_slotless(SLOTLESS_TAGS), tag_error);
    assert_eq!(ring.in_flight(), 0, "nothing was queued");
    ring.push_slotless(Nop::new(), SLOTLESS_TAGS - 1).unwrap();
    assert_eq!(completions(&mut ring, 1)[0].tag, SLOTLESS_TAGS - 1);

    let mut disabled = Ring::builder(8).r_disabled(true).build().unwrap();
    assert_eq!(
        disabled.push_slotless(Nop::new(), 1),
        Err(Error::RingDisabled)
    );
    assert_eq!(disabled.in_flight(), 0);
}

#[test]
fn any_tag_of_a_tokened_operation_stays_its_own_beside_slotless_ones() {
    // Tokened operations take any u64 as a tag, top bits included.
    let mut ring = Ring::new(16).unwrap();
    let tags = [u64::MAX, 1 << 63, (1 << 63) | 5, u64::from(u32::MAX) << 32];
    let mut tokens = Vec::new();
    for (i, &tag) in tags.iter().enumerate() {
        tokens.push(ring.push_tagged(Nop::new(), tag).unwrap());
        ring.push_slotless(Nop::new(), i as u64).unwrap();
    }
    let got = completions(&mut ring, 8);
    for (i, &tag) in tags.iter().enumerate() {
        let (tokened, slotless) = (&got[2 * i], &got[2 * i + 1]);
        assert_eq!((tokened.tag, tokened.cqe), (tag, None));
        assert_eq!(tokened.user_data, tokens[i].user_data());
        assert_eq!(
            (slotless.tag, slotless.output::<Nop>()),
            (i as u64, Some(Ok(())))
        );
    }
    for mut t in tokens {
        assert_eq!(ring.take(&mut t), Some(Ok(())));
    }
}

#[test]
fn a_result_and_flags_come_through_unchanged() {
    // A poll's result is the events, its flags say whether more follow:
    // every bit of both comes out as the kernel gave it.
    let mut ring = Ring::new(8).unwrap();
    let efd = EventFd::new(1).unwrap();
    ring.register_files(&[efd.as_fd()]).unwrap();
    let all = PollFlags::IN | PollFlags::OUT;
    ring.push_slotless(Poll::new(PollTarget::fixed(0), all), SLOTLESS_TAGS - 1)
        .unwrap();
    let c = completions(&mut ring, 1)[0];
    assert_eq!(c.tag, SLOTLESS_TAGS - 1);
    assert_eq!(c.output::<Poll<PollTarget>>(), Some(Ok(all)));
    assert_eq!(
        c.cqe.map(|cqe| (cqe.res, cqe.more())),
        Some((all.bits() as i32, false))
    );
    // A negative result keeps its sign.
    let bad = Poll::new(PollTarget::fixed(5), PollFlags::IN);
    ring.push_slotless(bad, 3).unwrap();
    let c = completions(&mut ring, 1)[0];
    assert_eq!(
        c.output::<Poll<PollTarget>>(),
        Some(Err(Error::Os(Errno::EBADF)))
    );
}
