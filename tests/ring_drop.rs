//! Dropping a ring with operations in flight cancels and reaps them before
//! anything is freed: handles kept by driver-owned operations are released,
//! and no descriptor leaks. A `harness = false` binary, so that counting
//! `/proc/self/fd` sees only this binary's own descriptors.

#[macro_use]
mod util;

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use iofd::ring::ops::Nop;
use iofd::ring::{Notify, Ring, RingBuilder};
use iofd::{Error, EventFd, MemFd, PidFd, Signal, TimerFd};

type TestResult = util::CheckResult;

/// Reaps a child through its pidfd, polling for at most 10 s.
fn reap(p: &PidFd) -> TestResult {
    let deadline = Instant::now() + Duration::from_secs(10);
    while p.try_wait()?.is_none() {
        if Instant::now() > deadline {
            return Err("child did not exit within 10 s".into());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok(())
}

/// Those of `flavours` the kernel can build, each skipped with a note
/// otherwise.
fn available<const N: usize>(
    flavours: [(&'static str, RingBuilder); N],
) -> Vec<(&'static str, RingBuilder)> {
    let mut v = Vec::new();
    for (name, b) in flavours {
        match b.clone().build() {
            Ok(_) => v.push((name, b)),
            Err(e) => println!("note: {name} not available here ({e}); skipped"),
        }
    }
    v
}

/// The ring flavours to drop: default, and with the task-run flags when
/// the kernel has them.
fn builders() -> Vec<(&'static str, RingBuilder)> {
    let mut v = vec![("default", Ring::builder(8))];
    v.extend(available([
        ("coop_taskrun", Ring::builder(8).coop_taskrun(true)),
        ("defer_taskrun", Ring::builder(8).defer_taskrun(true)),
        ("sqpoll", Ring::builder(8).sqpoll(Duration::from_millis(20))),
    ]));
    v
}

fn armed_driver_owned_reads_release_their_handles() -> TestResult {
    for (name, b) in builders() {
        let efd = Arc::new(EventFd::new(0)?);
        let timer = Arc::new(TimerFd::new()?);
        let mut ring = b.build()?;
        let mut tokens = Vec::new();
        for _ in 0..4 {
            tokens.push(ring.push(efd.read_op_shared())?);
        }
        let t = ring.push(timer.expirations_op_shared())?;
        ring.submit()?;
        ring.reap()?;
        // One more, queued but never submitted.
        let queued = ring.push(efd.read_op_shared())?;
        assert_eq!(ring.in_flight(), 6, "{name}");
        assert_eq!(Arc::strong_count(&efd), 6, "{name}");
        assert_eq!(Arc::strong_count(&timer), 2, "{name}");
        drop(ring);
        assert_eq!(
            Arc::strong_count(&efd),
            1,
            "{name}: released after the drop"
        );
        assert_eq!(Arc::strong_count(&timer), 1, "{name}");
        // The tokens outlive the ring and borrow nothing.
        drop((tokens, t, queued));
        // The cancelled reads took nothing.
        efd.signal(3)?;
        assert_eq!(efd.wait(), Ok(3), "{name}");
    }
    Ok(())
}

fn untaken_results_and_dropped_tokens_are_released() -> TestResult {
    let efd = Arc::new(EventFd::new(1)?);
    let never = Arc::new(EventFd::new(0)?);
    let mut ring = Ring::new(8)?;
    let done = ring.push(efd.read_op_shared())?;
    let _nop = ring.push(Nop::new())?;
    // A token dropped while its operation is in flight keeps its slot.
    drop(ring.push(never.read_op_shared())?);
    ring.submit_and_wait(2)?;
    assert_eq!(ring.in_flight(), 1);
    assert_eq!(
        Arc::strong_count(&efd),
        1,
        "the completed read let go at its CQE"
    );
    assert_eq!(
        Arc::strong_count(&never),
        2,
        "the orphaned read is still armed"
    );
    drop(ring);
    assert_eq!(Arc::strong_count(&never), 1);
    drop(done);
    Ok(())
}

fn armed_pidfd_operations_are_cancelled() -> TestResult {
    let child = Command::new("sleep").arg("30").spawn()?;
    let p = Arc::new(PidFd::open(child.id())?);
    drop(child); // reaped through the pidfd only
    let mut ring = Ring::new(8)?;
    let _exit = ring.push(p.exit_op_shared())?;
    let _wait = ring.push(p.wait_op_shared())?;
    ring.submit()?;
    assert_eq!(ring.in_flight(), 2);
    drop(ring);
    assert_eq!(Arc::strong_count(&p), 1);
    // The cancelled waitid reaped nothing.
    assert_eq!(p.try_wait(), Ok(None));
    p.send_signal(Signal::KILL)?;
    reap(&p)
}

fn dropping_an_overflowed_ring() -> TestResult {
    let efd = Arc::new(EventFd::new_semaphore(0)?);
    let mut ring = Ring::builder(8).cq_entries(8).capacity(512).build()?;
    let mut tokens = Vec::new();
    for _ in 0..500 {
        tokens.push(ring.push(efd.read_op_shared())?);
    }
    ring.submit()?;
    ring.reap()?;
    ring.submit()?;
    // Half of them complete, overflowing the 8-entry completion queue.
    efd.signal(250)?;
    drop(ring);
    assert_eq!(Arc::strong_count(&efd), 1);
    // Exactly 250 reads completed; the counter kept nothing back.
    assert_eq!(efd.wait(), Err(Error::WouldBlock));
    drop(tokens);
    Ok(())
}

fn a_ring_dropped_on_another_thread_cancels_its_operations() -> TestResult {
    let efd = Arc::new(EventFd::new(0)?);
    let mut ring = Ring::new(8)?;
    let _t = ring.push(efd.read_op_shared())?;
    ring.submit()?;
    std::thread::spawn(move || drop(ring))
        .join()
        .map_err(|_| "the dropping thread panicked")?;
    assert_eq!(Arc::strong_count(&efd), 1);
    efd.signal(1)?;
    assert_eq!(efd.wait(), Ok(1), "the cancelled read took nothing");
    Ok(())
}

fn rings_registered_here_and_dropped_elsewhere_free_their_slots() -> TestResult {
    // A thread has 16 ring registration slots, and only it can free one.
    // Forty rings registered here and dropped on other threads: each build
    // here first unregisters the rings dropped since, so none runs out.
    for i in 0..40 {
        let ring = Ring::builder(4)
            .register_ring_fd(true)
            .build()
            .map_err(|e| {
                format!("build {i}: {e} (the slots of rings dropped elsewhere were never freed)")
            })?;
        assert!(ring.ring_fd_registered());
        std::thread::spawn(move || drop(ring))
            .join()
            .map_err(|_| "the dropping thread panicked")?;
    }
    Ok(())
}

/// Single-issuer setups, when the kernel has them.
fn single_issuer_builders() -> Vec<(&'static str, RingBuilder)> {
    available([
        ("single_issuer", Ring::builder(8).single_issuer(true)),
        ("defer_taskrun", Ring::builder(8).defer_taskrun(true)),
    ])
}

/// A single-issuer ring with armed reads, moved to another thread and
/// dropped there, where the kernel refuses every enter (`EEXIST`): it goes
/// back to its thread, which drains it the next time it builds a ring.
fn a_single_issuer_ring_dropped_elsewhere_goes_back_to_its_thread() -> TestResult {
    for (name, b) in single_issuer_builders() {
        let shared = Arc::new(EventFd::new(0)?);
        let fds = util::fd_count();
        for _ in 0..100 {
            let fresh = Arc::new(EventFd::new(0)?);
            let mut ring = b.clone().build()?;
            let _a = ring.push(shared.read_op_shared())?;
            let _b = ring.push(fresh.read_op_shared())?;
            ring.submit()?;
            std::thread::spawn(move || drop(ring))
                .join()
                .map_err(|_| "the dropping thread panicked")?;
        }
        // The last ring is still held for this thread; building one
        // drains it.
        assert!(
            Arc::strong_count(&shared) <= 2,
            "{name}: at most the last one held"
        );
        drop(b.clone().build()?);
        assert_eq!(Arc::strong_count(&shared), 1, "{name}: every read released");
        assert_eq!(util::fd_count(), fds, "{name}: no descriptor leaked");
        // The cancelled reads took nothing.
        shared.signal(2)?;
        assert_eq!(shared.wait(), Ok(2), "{name}");
    }
    Ok(())
}

/// A single-issuer ring whose issuing thread exits before it is dropped
/// elsewhere: the kernel ended its operations as the thread exited, and
/// the ring is freed once the thread is gone.
fn a_single_issuer_ring_outliving_its_thread_is_freed() -> TestResult {
    for (name, b) in single_issuer_builders() {
        let efd = Arc::new(EventFd::new(0)?);
        let ring = {
            let efd = Arc::clone(&efd);
            std::thread::spawn(move || -> iofd::Result<Ring> {
                let mut ring = b.build()?;
                let _t = ring.push(efd.read_op_shared())?;
                ring.submit()?;
                Ok(ring)
            })
            .join()
            .map_err(|_| "the issuing thread panicked")??
        };
        drop(ring);
        // The thread may still be leaving: any ring built or dropped here
        // frees it once it is gone.
        let deadline = Instant::now() + Duration::from_secs(5);
        while Arc::strong_count(&efd) > 1 {
            if Instant::now() > deadline {
                return Err(format!("{name}: the ring was never freed").into());
            }
            std::thread::sleep(Duration::from_millis(1));
            drop(Ring::new(2)?);
        }
        efd.signal(4)?;
        assert_eq!(efd.wait(), Ok(4), "{name}: the read was cancelled");
    }
    Ok(())
}

/// An eventfd read forced onto an io_uring worker (`IOSQE_ASYNC`), which
/// blocks in it when the eventfd is blocking.
struct AsyncRead(Arc<EventFd>);

// SAFETY: the SQE reads 8 bytes into the `u64` storage from a descriptor
// kept open by the `Arc`, which the driver holds until the final CQE.
unsafe impl iofd::ring::Op for AsyncRead {
    type Storage = u64;
    type Output = u64;
    const CODE: iofd::ring::Opcode = iofd::ring::Opcode::READ;
    const NAME: &'static str = "eventfd read on a worker";

    fn entry(&self, storage: *mut u64) -> iofd::ring::io_uring::squeue::Entry {
        use iofd::ring::io_uring::{opcode, squeue, types};
        use std::os::fd::AsRawFd;
        opcode::Read::new(types::Fd(self.0.as_raw_fd()), storage.cast(), 8)
            .offset(u64::MAX)
            .build()
            .flags(squeue::Flags::ASYNC)
    }

    fn into_keep(self) -> Option<Arc<dyn std::os::fd::AsFd + Send + Sync>> {
        Some(self.0)
    }

    unsafe fn output(cqe: iofd::ring::Cqe, storage: *const u64) -> iofd::Result<u64> {
        cqe.result()?;
        // SAFETY: the kernel wrote the counter and is done.
        Ok(unsafe { storage.read() })
    }
}

/// A single-issuer ring whose issuer exits while one of its reads blocks
/// on an io_uring worker (`iou-wrk-<tid>`, a thread of this process that
/// shares its memory): the ring is freed only once the thread and its
/// workers are gone. The kernel ends the worker's read as the issuer
/// exits (here it takes nothing from the counter afterwards).
fn a_ring_whose_issuer_left_a_worker_read_is_freed() -> TestResult {
    for (name, b) in single_issuer_builders() {
        // A blocking eventfd, so that the worker's read waits in it.
        let raw = iofd::sys::event::eventfd2(0, iofd::sys::event::EventFdFlags::CLOEXEC)?;
        let efd = Arc::new(EventFd::from(raw));
        let ring = {
            let efd = Arc::clone(&efd);
            std::thread::spawn(move || -> iofd::Result<Ring> {
                let mut ring = b.build()?;
                let _t = ring.push(AsyncRead(efd))?;
                ring.submit()?;
                Ok(ring)
            })
            .join()
            .map_err(|_| "the issuing thread panicked")??
        };
        drop(ring);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Arc::strong_count(&efd) > 1 {
            if Instant::now() > deadline {
                return Err(format!("{name}: the ring was never freed").into());
            }
            std::thread::sleep(Duration::from_millis(1));
            drop(Ring::new(2)?);
        }
        // Nothing reads the counter any more (the check itself must not
        // block, should something have taken it).
        efd.signal(7)?;
        let mut buf = [0u8; 8];
        let fd = std::os::fd::AsFd::as_fd(&*efd);
        let mut poll = [iofd::sys::poll::PollFd::new(
            fd,
            iofd::sys::poll::Events::IN,
        )];
        assert_eq!(
            iofd::sys::poll::ppoll(&mut poll, Some(Duration::ZERO))?,
            1,
            "{name}"
        );
        let n = iofd::sys::io::read(fd, &mut buf)?;
        let v = u64::from_ne_bytes(buf);
        assert_eq!((n, v), (8, 7), "{name}");
    }
    Ok(())
}

/// A single-issuer ring handed back to a thread that then exits without
/// building another ring: the thread drains it on its way out.
fn a_thread_drains_what_was_handed_back_to_it_as_it_exits() -> TestResult {
    for (name, b) in single_issuer_builders() {
        let efd = Arc::new(EventFd::new(0)?);
        let (to_worker, from_main) = std::sync::mpsc::channel::<()>();
        let (to_main, from_worker) = std::sync::mpsc::channel::<Ring>();
        let worker = {
            let efd = Arc::clone(&efd);
            std::thread::spawn(move || -> iofd::Result<()> {
                let mut ring = b.build()?;
                let _t = ring.push(efd.read_op_shared())?;
                ring.submit()?;
                to_main.send(ring).expect("main is waiting");
                // Main drops it while this thread is alive.
                from_main.recv().expect("main's word");
                Ok(())
            })
        };
        drop(from_worker.recv()?);
        // Ours, the worker's, and the read's, held for the worker.
        assert_eq!(Arc::strong_count(&efd), 3, "{name}: held for the worker");
        to_worker.send(())?;
        worker.join().map_err(|_| "the worker panicked")??;
        assert_eq!(Arc::strong_count(&efd), 1, "{name}: drained as it exited");
        efd.signal(1)?;
        assert_eq!(efd.wait(), Ok(1), "{name}: the read was cancelled");
    }
    Ok(())
}

fn no_descriptor_leaks_over_many_cycles() -> TestResult {
    // Warm up once (the inert placeholder, lazily opened statics).
    one_cycle(0)?;
    let before = util::fd_count();
    for i in 0..200 {
        one_cycle(i)?;
    }
    let after = util::fd_count();
    assert_eq!(
        before, after,
        "descriptors before and after 200 ring cycles"
    );
    Ok(())
}

/// A ring with a bit of everything in flight, dropped.
fn one_cycle(i: usize) -> TestResult {
    let notify = EventFd::new(0)?;
    let efd = Arc::new(EventFd::new(0)?);
    let timer = Arc::new(TimerFd::new()?);
    timer.arm(Duration::from_secs(60), Duration::ZERO)?;
    let mem = MemFd::new("ring_drop")?;
    let mut ring = Ring::new(8)?;
    if i.is_multiple_of(2) {
        ring.register_eventfd(&notify, Notify::All)?;
    }
    let _a = ring.push(efd.read_op_shared())?;
    let _b = ring.push(timer.expirations_op_shared())?;
    let _c = ring.push(Nop::new())?;
    let mut buf = [0u8; 16];
    let mut v = 0u64;
    let r: Result<(), Error> = ring.scope(|s| {
        let _ = s.push_into(mem.read_at_op(0), &mut buf)?;
        let _ = s.push_into(efd.read_op(), &mut v)?;
        s.submit()?;
        Err(Error::WouldBlock)
    });
    assert_eq!(r, Err(Error::WouldBlock));
    ring.submit()?;
    drop(ring);
    assert_eq!(Arc::strong_count(&efd), 1);
    assert_eq!(Arc::strong_count(&timer), 1);
    Ok(())
}

/// Twenty thousand reads armed on one eventfd all end with their ring, and
/// with their scope beside driver-owned ones that go on (how long that
/// takes is `cargo bench --bench ring -- drop`).
fn twenty_thousand_armed_reads_end_with_the_ring_and_the_scope() -> TestResult {
    const N: usize = 20_000;
    for (name, b) in builders() {
        let efd = Arc::new(EventFd::new(0)?);
        let mut ring = b.capacity(N + 1).build()?;
        let mut tokens = Vec::with_capacity(N);
        for _ in 0..N / 2 {
            tokens.push(ring.push(efd.read_op_shared())?);
        }
        let mut bufs = vec![0u64; N / 2];
        let r: Result<(), Error> = ring.scope(|s| {
            for buf in bufs.iter_mut() {
                let _ = s.push_into(efd.read_op(), buf)?;
            }
            s.submit()?;
            Ok(())
        });
        r?;
        assert_eq!(
            ring.in_flight(),
            N / 2,
            "{name}: the driver-owned reads go on"
        );
        assert!(bufs.iter().all(|&v| v == 0), "{name}");
        assert_eq!(Arc::strong_count(&efd), N / 2 + 1, "{name}");
        drop(ring);
        assert_eq!(
            Arc::strong_count(&efd),
            1,
            "{name}: released after the drop"
        );
        drop(tokens);
        efd.signal(3)?;
        assert_eq!(
            efd.wait(),
            Ok(3),
            "{name}: the cancelled reads took nothing"
        );
    }
    Ok(())
}

/// A build that fails for the table's memory closes the ring it set up.
fn a_build_that_fails_for_memory_leaks_no_ring() -> TestResult {
    let policy = std::fs::read_to_string("/proc/sys/vm/overcommit_memory").unwrap_or_default();
    if policy.trim() == "1" {
        println!("note: vm.overcommit_memory = 1 grants any allocation; skipped");
        return Ok(());
    }
    let before = util::fd_count();
    for _ in 0..20 {
        let huge = u32::MAX as usize - 1;
        let r = Ring::builder(4).capacity(huge).max_capacity(huge).build();
        assert!(matches!(r, Err(Error::NoMemory)), "{:?}", r.err());
    }
    assert_eq!(util::fd_count(), before, "no ring descriptor left open");
    Ok(())
}

/// Results that own a descriptor (an `OpenAt`'s `Fd`) and nobody takes —
/// a token dropped after completion or in flight, a ring dropped with
/// results pending — are closed: the descriptor count comes back.
fn untaken_descriptors_are_closed() -> TestResult {
    use iofd::ring::ops::OpenAt;
    use iofd::sys::file::OpenFlags;
    let path = c"/proc/self/stat";
    let before = util::fd_count();
    let mut ring = Ring::new(16)?;
    // Taken: the descriptor is the caller's, and works.
    let t = ring.push(OpenAt::new(path, OpenFlags::empty()))?;
    let fd = ring.wait(t)?;
    assert!(fd.read(&mut [0u8; 8])? > 0);
    drop(fd);
    // Completed, then dropped untaken.
    let done: Vec<_> = (0..10)
        .map(|_| ring.push(OpenAt::new(path, OpenFlags::empty())))
        .collect::<Result<_, _>>()?;
    ring.submit_and_wait(10)?;
    drop(done);
    ring.submit()?;
    // Dropped before they were even submitted.
    for _ in 0..10 {
        drop(ring.push(OpenAt::new(path, OpenFlags::empty()))?);
    }
    while ring.in_flight() > 0 {
        ring.submit_and_wait(1)?;
    }
    // Pending in a ring that is dropped.
    for _ in 0..10 {
        std::mem::forget(ring.push(OpenAt::new(path, OpenFlags::empty()))?);
    }
    ring.submit_and_wait(10)?;
    drop(ring);
    assert_eq!(util::fd_count(), before, "every untaken descriptor closed");
    // A failed open owns nothing.
    let mut ring = Ring::new(4)?;
    let t = ring.push(OpenAt::new(c"/nonexistent/iofd", OpenFlags::empty()))?;
    assert_eq!(
        ring.wait(t).map(drop),
        Err(Error::Os(iofd::sys::Errno::ENOENT))
    );
    drop(ring);
    assert_eq!(util::fd_count(), before);
    Ok(())
}

/// Threads of this process whose name starts with `prefix`.
fn threads_named(prefix: &str) -> usize {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return usize::MAX;
    };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.starts_with(prefix))
        .count()
}

/// SQPOLL rings dropped with reads in flight and SQEs never handed over
/// leave no descriptor, and their pollers (`iou-sqp-*`) exit.
fn sqpoll_rings_leave_no_descriptor_and_no_poller() -> TestResult {
    let efd = Arc::new(EventFd::new(0)?);
    let before = util::fd_count();
    for i in 0..50 {
        let mut ring = Ring::builder(8)
            .sqpoll(Duration::from_millis(10))
            .register_ring_fd(i % 2 == 0)
            .build()?;
        let _armed = ring.push(efd.read_op_shared())?;
        ring.submit()?;
        let _queued = ring.push(efd.read_op_shared())?;
        drop(ring);
        assert_eq!(Arc::strong_count(&efd), 1);
    }
    assert_eq!(
        util::fd_count(),
        before,
        "descriptors after 50 SQPOLL rings"
    );
    // A poller exits once the kernel has torn its ring down, after the
    // close returns.
    let deadline = Instant::now() + Duration::from_secs(10);
    while threads_named("iou-sqp-") > 0 {
        if Instant::now() > deadline {
            return Err(format!("{} pollers left", threads_named("iou-sqp-")).into());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    efd.signal(2)?;
    assert_eq!(efd.wait(), Ok(2), "every read was cancelled");
    Ok(())
}

fn main() {
    checks![
        untaken_descriptors_are_closed,
        armed_driver_owned_reads_release_their_handles,
        untaken_results_and_dropped_tokens_are_released,
        armed_pidfd_operations_are_cancelled,
        dropping_an_overflowed_ring,
        a_ring_dropped_on_another_thread_cancels_its_operations,
        rings_registered_here_and_dropped_elsewhere_free_their_slots,
        a_single_issuer_ring_dropped_elsewhere_goes_back_to_its_thread,
        a_single_issuer_ring_outliving_its_thread_is_freed,
        a_ring_whose_issuer_left_a_worker_read_is_freed,
        a_thread_drains_what_was_handed_back_to_it_as_it_exits,
        twenty_thousand_armed_reads_end_with_the_ring_and_the_scope,
        a_build_that_fails_for_memory_leaks_no_ring,
        no_descriptor_leaks_over_many_cycles,
        sqpoll_rings_leave_no_descriptor_and_no_poller,
    ];
}
