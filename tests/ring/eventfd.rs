//! A registered eventfd: signalled on completions (all, or async-only),
//! switched off and on at run time, unregistered, and slept on by another
//! loop that wakes and reaps.

use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use io_uring::{opcode, squeue};
use iofd::ring::ops::Nop;
use iofd::ring::{Notify, Ring, UserData};
use iofd::sys::Errno;
use iofd::sys::poll::{
    EpollEvent, EpollFlags, EpollOp, Events, PollFd, epoll_create1, epoll_ctl, epoll_wait, ppoll,
};
use iofd::{Error, EventFd};

/// Sleeps in `ppoll` (at most 5 s in all) until `efd` is readable, then
/// takes and returns its count. `EINTR` is retried: on a ring without
/// `COOP_TASKRUN` the kernel interrupts the sleeping submitter to run
/// completion work.
fn wait_signalled(efd: &EventFd) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match efd.wait() {
            Ok(n) => return n,
            Err(Error::WouldBlock) => {}
            Err(e) => panic!("eventfd read: {e}"),
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "the eventfd was not signalled within 5 s");
        let mut fds = [PollFd::new(efd.as_fd(), Events::IN)];
        match ppoll(&mut fds, Some(left)) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => panic!("ppoll: {e}"),
        }
    }
}

/// Runs a NOP to completion on `ring`.
fn nop(ring: &mut Ring) {
    let t = ring.push(Nop::new()).unwrap();
    assert_eq!(ring.wait(t), Ok(()));
}

/// Runs a NOP forced onto an io-wq worker (`IOSQE_ASYNC`): an asynchronous
/// completion. Its tag is the driver's reserved wake-up, which the table
/// consumes.
fn async_nop(ring: &mut Ring) {
    let entry = opcode::Nop::new()
        .build()
        .flags(squeue::Flags::ASYNC)
        .user_data(UserData::WAKE.raw());
    // SAFETY: a NOP touches no memory and no descriptor; WAKE names no
    // operation.
    unsafe { ring.push_raw(&entry) }.unwrap();
    ring.submit_and_wait(1).unwrap();
}

#[test]
fn all_completions_signal_the_eventfd() {
    let mut ring = Ring::new(8).unwrap();
    let notify = EventFd::new(0).unwrap();
    assert_eq!(ring.registered_eventfd(), None);
    ring.register_eventfd(&notify, Notify::All).unwrap();
    assert_eq!(ring.registered_eventfd(), Some(Notify::All));
    assert_eq!(notify.wait(), Err(Error::WouldBlock));
    nop(&mut ring);
    assert!(notify.wait().unwrap() >= 1);
    // An armed read completing later signals too.
    let target = Arc::new(EventFd::new(0).unwrap());
    let token = ring.push(target.read_op_shared()).unwrap();
    ring.submit().unwrap();
    assert_eq!(notify.wait(), Err(Error::WouldBlock));
    target.signal(4).unwrap();
    assert!(wait_signalled(&notify) >= 1);
    assert_eq!(ring.wait(token), Ok(4));
    ring.unregister_eventfd().unwrap();
}

#[test]
fn async_only_skips_inline_completions() {
    let mut ring = Ring::new(8).unwrap();
    let notify = EventFd::new(0).unwrap();
    ring.register_eventfd(&notify, Notify::AsyncOnly).unwrap();
    assert_eq!(ring.registered_eventfd(), Some(Notify::AsyncOnly));
    nop(&mut ring);
    let ready = EventFd::new(1).unwrap();
    let r = ring.scope(|s| {
        let t = s.push(ready.read_op())?;
        s.wait(t)
    });
    assert_eq!(r, Ok(1));
    assert_eq!(
        notify.wait(),
        Err(Error::WouldBlock),
        "inline completions are silent"
    );
    // Nor does a read armed on poll and completed later by task work in
    // this thread: the kernel's "async" means "posted by an io-wq worker"
    // (`io_wq_current_is_worker()`), not "after submission returned".
    let target = Arc::new(EventFd::new(0).unwrap());
    let token = ring.push(target.read_op_shared()).unwrap();
    ring.submit().unwrap();
    target.signal(4).unwrap();
    assert_eq!(ring.wait(token), Ok(4));
    assert_eq!(
        notify.wait(),
        Err(Error::WouldBlock),
        "poll-driven completions are silent"
    );
    // A completion from an io-wq worker signals it.
    async_nop(&mut ring);
    assert!(wait_signalled(&notify) >= 1);
    assert_eq!(ring.stale_completions(), 0);
}

#[test]
fn notifications_switch_off_and_on() {
    let mut ring = Ring::new(8).unwrap();
    let notify = EventFd::new(0).unwrap();
    ring.register_eventfd(&notify, Notify::All).unwrap();
    assert!(ring.eventfd_enabled());
    ring.set_eventfd_enabled(false);
    assert!(!ring.eventfd_enabled());
    nop(&mut ring);
    async_nop(&mut ring);
    assert_eq!(notify.wait(), Err(Error::WouldBlock), "switched off");
    ring.set_eventfd_enabled(true);
    assert!(ring.eventfd_enabled());
    nop(&mut ring);
    assert!(notify.wait().unwrap() >= 1);
    // Idempotent either way.
    ring.set_eventfd_enabled(true);
    assert!(ring.eventfd_enabled());
    ring.set_eventfd_enabled(false);
    ring.set_eventfd_enabled(false);
    assert!(!ring.eventfd_enabled());
}

#[test]
fn unregister_and_register_errors() {
    let mut ring = Ring::new(8).unwrap();
    let notify = EventFd::new(0).unwrap();
    let other = EventFd::new(0).unwrap();
    assert_eq!(
        ring.unregister_eventfd(),
        Err(Error::Os(Errno::ENXIO)),
        "none registered"
    );
    ring.register_eventfd(&notify, Notify::All).unwrap();
    assert_eq!(
        ring.register_eventfd(&other, Notify::AsyncOnly),
        Err(Error::Os(Errno::EBUSY))
    );
    assert_eq!(ring.registered_eventfd(), Some(Notify::All), "unchanged");
    ring.unregister_eventfd().unwrap();
    assert_eq!(ring.registered_eventfd(), None);
    assert_eq!(ring.unregister_eventfd(), Err(Error::Os(Errno::ENXIO)));
    nop(&mut ring);
    assert_eq!(notify.wait(), Err(Error::WouldBlock), "no longer signalled");

    // Registered again, and another one after unregistering.
    ring.register_eventfd(&other, Notify::All).unwrap();
    nop(&mut ring);
    assert!(other.wait().unwrap() >= 1);
    assert_eq!(notify.wait(), Err(Error::WouldBlock));

    // A closed handle is refused before any syscall.
    ring.unregister_eventfd().unwrap();
    notify.close().unwrap();
    assert_eq!(
        ring.register_eventfd(&notify, Notify::All),
        Err(Error::Closed)
    );
    assert_eq!(ring.registered_eventfd(), None);
}

#[test]
fn the_kernel_keeps_its_own_reference() {
    let mut ring = Ring::new(8).unwrap();
    let notify = EventFd::new(0).unwrap();
    let twin = notify.dup_for_test();
    ring.register_eventfd(&notify, Notify::All).unwrap();
    drop(notify);
    // The registration still signals the same counter, seen through a
    // duplicate of the descriptor.
    nop(&mut ring);
    assert!(twin.wait().unwrap() >= 1);
}

/// `EventFd` has no `dup`; rebuild one from a duplicate of its descriptor.
trait DupForTest {
    fn dup_for_test(&self) -> EventFd;
}

impl DupForTest for EventFd {
    fn dup_for_test(&self) -> EventFd {
        EventFd::from(self.as_fd().try_clone_to_owned().unwrap())
    }
}

#[test]
fn another_loop_sleeps_on_the_eventfd_wakes_and_reaps() {
    let notify = Arc::new(EventFd::new(0).unwrap());
    let target = Arc::new(EventFd::new(0).unwrap());
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let loop_thread = {
        let notify = Arc::clone(&notify);
        let target = Arc::clone(&target);
        std::thread::spawn(move || {
            let mut ring = Ring::new(8).unwrap();
            ring.register_eventfd(&notify, Notify::All).unwrap();
            let mut token = ring.push(target.read_op_shared()).unwrap();
            ring.submit().unwrap();
            ready_tx.send(()).unwrap();
            let mut wakeups = 0;
            loop {
                // Sleep until the ring says something completed...
                wait_signalled(&notify);
                wakeups += 1;
                // ...then reap and look.
                ring.reap().unwrap();
                if let Some(r) = ring.take(&mut token) {
                    return (r, wakeups);
                }
                assert!(wakeups < 100, "woken without a result");
            }
        })
    };
    ready_rx.recv().unwrap();
    std::thread::sleep(Duration::from_millis(10));
    target.signal(77).unwrap();
    let (r, wakeups) = loop_thread.join().unwrap();
    assert_eq!(r, Ok(77));
    assert!(wakeups >= 1);
    assert_eq!(
        Arc::strong_count(&target),
        1,
        "the ring (and its slot) is gone"
    );
}

#[test]
fn an_epoll_loop_on_a_coop_taskrun_ring_wakes_for_each_batch() {
    let mut ring = Ring::builder(8).coop_taskrun(true).build().unwrap();
    let notify = EventFd::new(0).unwrap();
    ring.register_eventfd(&notify, Notify::All).unwrap();
    let ep = epoll_create1(EpollFlags::CLOEXEC).unwrap();
    epoll_ctl(
        ep.as_fd(),
        EpollOp::Add,
        notify.as_fd(),
        EpollEvent::new(Events::IN, 7),
    )
    .unwrap();

    let sources: Vec<Arc<EventFd>> = (0..3).map(|_| Arc::new(EventFd::new(0).unwrap())).collect();
    let mut tokens: Vec<_> = sources
        .iter()
        .map(|e| ring.push(e.read_op_shared()).unwrap())
        .collect();
    ring.submit().unwrap();

    // Another thread signals the sources one at a time.
    let signaller = {
        let sources = sources.clone();
        std::thread::spawn(move || {
            for (i, efd) in sources.iter().enumerate() {
                std::thread::sleep(Duration::from_millis(3));
                efd.signal(100 + i as u64).unwrap();
            }
        })
    };
    let mut results = vec![None; 3];
    let mut events = [EpollEvent::default(); 4];
    let deadline = Instant::now() + Duration::from_secs(5);
    while results.iter().any(Option::is_none) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "results missing after 5 s: {results:?}");
        let n = match epoll_wait(ep.as_fd(), &mut events, Some(left)) {
            Ok(n) => n,
            Err(Errno::EINTR) => continue,
            Err(e) => panic!("epoll_wait: {e}"),
        };
        for ev in &events[..n] {
            assert_eq!(ev.data(), 7);
            // Woken: clear the notification, then reap the ring.
            let _ = notify.wait();
            ring.reap().unwrap();
            for (t, slot) in tokens.iter_mut().zip(results.iter_mut()) {
                if let Some(r) = ring.take(t) {
                    *slot = Some(r.unwrap());
                }
            }
        }
    }
    signaller.join().unwrap();
    assert_eq!(results, [Some(100), Some(101), Some(102)]);
    assert_eq!(ring.in_flight(), 0);
}
