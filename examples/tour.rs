//! A tour of iofd: what each layer does, shown step by step.
//!
//! Run: `cargo run --release --example tour`.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::sync::Arc;
use std::time::Instant;

use iofd::sys::{self, Errno};
use iofd::{Error, Fd};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn section(title: &str) {
    println!("\n== {title}");
}

fn syscall_core() -> Result<()> {
    section("the syscall core: inline asm, one errno decode, typed wrappers");
    let pid = sys::process::getpid();
    println!(
        "getpid() = {pid}, getppid() = {}, gettid() = {}",
        sys::process::getppid(),
        sys::process::gettid()
    );
    // SAFETY: getppid takes no arguments and touches no memory.
    let raw = unsafe { sys::syscall0(sys::nr::GETPPID) }?;
    println!("syscall0(GETPPID) = {raw} (the raw entry point agrees)");

    let mono = sys::time::clock_gettime(sys::time::ClockId::Monotonic)?;
    println!("clock_gettime(MONOTONIC) = {}.{:09} s", mono.sec, mono.nsec);

    // SAFETY: the wrapper only hands the number to the kernel, which
    // answers EBADF for a descriptor this process never opened.
    let nowhere = unsafe { BorrowedFd::borrow_raw(900_000) };
    let err = sys::io::read(nowhere, &mut [0u8; 1]).expect_err("not open");
    println!(
        "read(900000) -> Err({}) = \"{}\"",
        err.name(),
        err.description()
    );
    println!(
        "  as iofd::Error: {:?}; as io::Error: {}",
        Error::from(err),
        std::io::Error::from(err)
    );
    assert_eq!(err, Errno::EBADF);
    Ok(())
}

fn eventfd_counter() -> Result<()> {
    section("an eventfd: a kernel counter that wakes pollers");
    use sys::event::{EventFdFlags, eventfd2};
    let fd = Fd::from(eventfd2(0, EventFdFlags::CLOEXEC | EventFdFlags::NONBLOCK)?);
    println!(
        "eventfd2(0, CLOEXEC|NONBLOCK) -> {fd:?}, non-blocking: {}, close-on-exec: {}",
        fd.is_nonblocking()?,
        fd.is_cloexec()?
    );
    for n in [1u64, 2, 39] {
        fd.write(&n.to_ne_bytes())?;
    }
    let mut v = [0u8; 8];
    fd.read(&mut v)?;
    println!(
        "signalled 1 + 2 + 39, one read takes the sum: {}",
        u64::from_ne_bytes(v)
    );
    println!("read again: {:?} (the counter is zero)", fd.read(&mut v));
    Ok(())
}

fn pipes() -> Result<()> {
    section("pipes: pipe2, tee and splice move data without copying it through user space");
    use sys::pipe::{PipeFlags, SpliceFlags, pipe2, splice, tee};
    let (r1, w1) = pipe2(PipeFlags::CLOEXEC)?;
    let (r2, w2) = pipe2(PipeFlags::CLOEXEC)?;
    let (r3, w3) = pipe2(PipeFlags::CLOEXEC)?;
    sys::io::writev(w1.as_fd(), &[IoSlice::new(b"zero-"), IoSlice::new(b"copy")])?;
    let teed = tee(r1.as_fd(), w2.as_fd(), 64, SpliceFlags::empty())?;
    let spliced = splice(r1.as_fd(), None, w3.as_fd(), None, 64, SpliceFlags::empty())?;
    let (mut a, mut b) = ([0u8; 9], [0u8; 9]);
    sys::io::readv(r2.as_fd(), &mut [IoSliceMut::new(&mut a)])?;
    sys::io::read(r3.as_fd(), &mut b)?;
    println!(
        "tee copied {teed} bytes to a second pipe ({:?}), splice moved {spliced} to a third ({:?})",
        std::str::from_utf8(&a)?,
        std::str::from_utf8(&b)?
    );
    Ok(())
}

fn memfd_and_mmap() -> Result<()> {
    section("a memfd: anonymous memory with a descriptor, sealable, mappable");
    use sys::file::{Seals, fcntl_add_seals, fcntl_get_seals, fstat, ftruncate};
    use sys::mem::{MapFlags, MemFdFlags, Prot, memfd_create, mmap, munmap};
    let fd = memfd_create(c"tour", MemFdFlags::CLOEXEC | MemFdFlags::ALLOW_SEALING)?;
    ftruncate(fd.as_fd(), 4096)?;
    sys::io::pwritev(fd.as_fd(), &[IoSlice::new(b"written with pwritev")], 100)?;
    // SAFETY: a fresh shared read-only mapping of a file only this function
    // writes to; it is unmapped below before `fd` is dropped, and the slice
    // made from it does not outlive the mapping.
    unsafe {
        let p = mmap(
            std::ptr::null_mut(),
            4096,
            Prot::READ,
            MapFlags::SHARED,
            Some(fd.as_fd()),
            0,
        )?;
        let bytes = std::slice::from_raw_parts(p.as_ptr().cast::<u8>().add(100), 20);
        println!(
            "memfd of {} bytes, read through mmap: {:?}",
            fstat(fd.as_fd())?.size,
            std::str::from_utf8(bytes)?
        );
        munmap(p.as_ptr(), 4096)?;
    }
    fcntl_add_seals(fd.as_fd(), Seals::SHRINK | Seals::GROW)?;
    println!(
        "sealed {:?}; ftruncate now: {:?}",
        fcntl_get_seals(fd.as_fd())?,
        ftruncate(fd.as_fd(), 1).map_err(Error::from)
    );
    Ok(())
}

fn closing() -> Result<()> {
    section("Fd: close from any thread, atomically, once");
    use sys::pipe::{PipeFlags, pipe2};
    let (r, w) = pipe2(PipeFlags::CLOEXEC)?;
    let (reader, writer) = (Fd::from(r), Arc::new(Fd::from(w)));
    let number = writer.as_fd().as_raw_fd();
    let closers: Vec<_> = (0..8)
        .map(|_| {
            let w = Arc::clone(&writer);
            std::thread::spawn(move || w.close())
        })
        .collect();
    let results: Vec<_> = closers
        .into_iter()
        .map(|t| t.join().expect("thread"))
        .collect();
    println!("8 threads called close(): {:?}", results);
    println!(
        "writer now: {writer:?}, raw() = {}, write -> {:?}",
        writer.raw(),
        writer.write(b"x")
    );
    println!(
        "reader sees end of file: read -> {:?}",
        reader.read(&mut [0u8; 1])
    );
    println!(
        "descriptor {number} stays reserved (pointing at an inert O_PATH file) until drop: read on it -> {:?}",
        sys::io::read(writer.as_fd(), &mut [0u8; 1])
    );
    Ok(())
}

fn handles() -> Result<()> {
    section("handles: one owned kernel object each, non-blocking and close-on-exec");
    use iofd::{
        Clock, EventFd, MemFd, PidFd, Seals, SigSet, Signal, SignalFd, SignalInfo, TimerFd,
    };
    use std::time::Duration;

    // EventFd: a counter; a semaphore hands it out one unit at a time.
    let sem = EventFd::new_semaphore(0)?;
    sem.signal(3)?;
    let taken = [sem.wait()?, sem.wait()?, sem.wait()?];
    println!(
        "EventFd (semaphore): signal(3), then waits took {taken:?}, next wait -> {:?}",
        sem.wait()
    );

    // TimerFd: a periodic kernel timer, read late, counts every period.
    let timer = TimerFd::new()?;
    timer.arm(Duration::from_millis(2), Duration::from_millis(2))?;
    std::thread::sleep(Duration::from_millis(21));
    let (remaining, interval) = timer.get_time()?;
    println!(
        "TimerFd ({:?}): 2 ms period read after 21 ms -> {} expirations; next in {remaining:?}, every {interval:?}",
        timer.clock(),
        timer.expirations()?
    );
    let deadline = Clock::Monotonic.now()? + Duration::from_millis(1);
    timer.arm_at(deadline, Duration::ZERO)?;
    std::thread::sleep(Duration::from_millis(3));
    println!(
        "TimerFd: absolute deadline 1 ms ahead -> {} expiration",
        timer.expirations()?
    );
    timer.disarm()?;

    // SignalFd: a signal blocked in this thread and sent to it is read as a
    // 128-byte record instead of running a handler. (A thread-directed
    // signal, so no other thread can receive it.)
    let mask: SigSet = [Signal::USR1].into_iter().collect();
    let old = mask.block_thread()?;
    let sfd = SignalFd::new(&mask)?;
    sys::process::tgkill(
        sys::process::getpid(),
        sys::process::gettid(),
        Signal::USR1.number(),
    )?;
    let mut info = SignalInfo::zeroed();
    sfd.read_into(&mut info)?;
    println!(
        "SignalFd: read {:?} from pid {} (code {}); queue now empty -> {:?}",
        info.signal(),
        info.pid,
        info.code,
        sfd.read_info().map(|i| i.signo)
    );
    old.set_thread_mask()?;

    // PidFd: a stable handle on a child, signalled and reaped through it.
    let child = std::process::Command::new("sleep").arg("10").spawn()?;
    let pidfd = PidFd::open(child.id())?;
    println!(
        "PidFd: child {} running, try_wait -> {:?}",
        pidfd.pid(),
        pidfd.try_wait()?
    );
    pidfd.send_signal(Signal::TERM)?;
    let status = loop {
        if let Some(status) = pidfd.try_wait()? {
            break status;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    println!("PidFd: sent SIGTERM, reaped through the pidfd: {status}");

    // MemFd: anonymous memory with a name, sealed, then mapped safely.
    let mem = MemFd::new_sealable("tour")?;
    mem.write_at(b"sealed and shared", 0)?;
    mem.seal(Seals::WRITE | Seals::SHRINK | Seals::GROW)?;
    let region = mem.map_sealed()?;
    println!(
        "MemFd \"{}\": {} bytes sealed {:?}; map_sealed reads {:?}; write_at now -> {:?}",
        mem.name(),
        mem.len()?,
        mem.seals()?,
        std::str::from_utf8(region.as_slice())?,
        mem.write_at(b"x", 0)
    );
    drop(mem);
    println!(
        "MappedRegion outlives its MemFd: still reads {:?}",
        std::str::from_utf8(&region.as_slice()[..6])?
    );
    Ok(())
}

fn ring_batch() -> Result<()> {
    section("the ring: a batch of mixed handle operations, results in caller storage");
    use iofd::ring::Ring;
    use iofd::{EventFd, MemFd, PidFd, SigSet, Signal, SignalFd, SignalInfo, TimerFd};
    use std::time::Duration;

    let mut ring = Ring::new(32)?;
    let efds = [EventFd::new(11)?, EventFd::new(22)?, EventFd::new(33)?];
    let timer = TimerFd::new()?;
    timer.arm(Duration::from_millis(5), Duration::ZERO)?;
    let mem = MemFd::new("tour-ring")?;
    mem.write_at(b"read at an offset through io_uring", 0)?;
    let mask: SigSet = [Signal::USR2].into_iter().collect();
    let old = mask.block_thread()?;
    let sfd = SignalFd::new(&mask)?;
    let child = std::process::Command::new("sh")
        .args(["-c", "exit 7"])
        .spawn()?;
    let pidfd = PidFd::open(child.id())?;

    // Caller-owned storage, filled by the kernel; borrowed by the scope.
    let mut counters = [0u64; 3];
    let mut expirations = 0u64;
    let mut bytes = [0u8; 16];
    let mut info = SignalInfo::zeroed();
    let start = Instant::now();
    let (status, n) = ring.scope(|s| -> iofd::Result<_> {
        for (efd, c) in efds.iter().zip(counters.iter_mut()) {
            let _ = s.push_into(efd.read_op(), c)?;
        }
        let _ = s.push_into(timer.expirations_op(), &mut expirations)?;
        let read = s.push_into(mem.read_at_op(18), &mut bytes)?;
        let _ = s.push_into(sfd.read_op(), &mut info)?;
        let wait = s.push(pidfd.wait_op())?;
        s.submit()?; // one io_uring_enter submits all seven
        sys::process::tgkill(
            sys::process::getpid(),
            sys::process::gettid(),
            Signal::USR2.number(),
        )?;
        let n = s.wait(read)?;
        let status = s.wait(wait)?;
        s.submit_and_wait_all()?;
        Ok((status, n))
    })?;
    old.set_thread_mask()?;
    println!("eventfd counters read through the ring: {counters:?}");
    println!(
        "timerfd: {expirations} expiration; memfd read_at(18): {:?}",
        std::str::from_utf8(&bytes[..n])?
    );
    println!(
        "signalfd: {:?} from pid {}; child reaped through IORING_OP_WAITID: {status}",
        info.signal(),
        info.pid
    );
    println!(
        "7 operations, one batch, {:?} (the timer's 5 ms dominates); {} in flight after the scope, {} stale completions",
        start.elapsed(),
        ring.in_flight(),
        ring.stale_completions()
    );

    // Driver-owned reads of a registered file: named by a typed index, so
    // the ring keeps nothing per read (no reference count), and the result
    // waits in the read's own table slot.
    let efd = EventFd::new(0)?;
    ring.register_files(&[efd.as_fd()])?;
    let fixed = iofd::ring::Fixed::<EventFd>::new(0);
    let read = ring.push(fixed.read_op())?;
    let signal = ring.push(fixed.signal_op(42))?;
    ring.wait(signal)?;
    println!(
        "fixed file 0: read {} after a signal through the same index",
        ring.wait(read)?
    );
    ring.unregister_files()?;
    Ok(())
}

fn ring_timers() -> Result<()> {
    section("timers on the ring: no descriptor per timer");
    use iofd::ring::ops::{LinkTimeoutResult, Nop, Timeout, TimeoutResult};
    use iofd::ring::{Ring, WheelTimers};
    use iofd::{Clock, EventFd};
    use std::time::Duration;

    let ms = Duration::from_millis(1);
    let mut ring = Ring::builder(256).capacity(20_000).build()?;

    // One-shot, absolute, periodic, completion-count: all typed results.
    let start = Instant::now();
    let once = ring.push(Timeout::after(3 * ms))?;
    let deadline = Clock::Monotonic.now()? + 4 * ms;
    let at = ring.push(Timeout::at(Clock::Monotonic, deadline))?;
    let mut every = ring.push(Timeout::every(2 * ms).shots(3))?;
    let count = ring.push(Timeout::after(Duration::from_secs(60)).completions(2))?;
    // Timers firing do not count as completions; two nops do.
    let nops = [ring.push(Nop::new())?, ring.push(Nop::new())?];
    for nop in nops {
        ring.wait(nop)?;
    }
    let (once, at, count) = (ring.wait(once)?, ring.wait(at)?, ring.wait(count)?);
    // Take the shots that have come, then wait for more: `submit_and_wait`
    // does not sleep while any result waits in the table to be taken.
    let mut shots = 0;
    loop {
        while let Some(r) = ring.take(&mut every) {
            assert_eq!(r?, TimeoutResult::Fired);
            shots += 1;
        }
        if every.is_done() {
            break;
        }
        ring.submit_and_wait(1)?;
    }
    println!(
        "after(3 ms): {once:?}; at(monotonic + 4 ms): {at:?}; every(2 ms) x3: {shots} shots; after(60 s) or 2 completions: {count:?} — {:?} in all",
        start.elapsed()
    );

    // Move one, remove another.
    let moved = ring.push(Timeout::after(Duration::from_secs(60)))?;
    let removed = ring.push(Timeout::after(Duration::from_secs(60)))?;
    let update = ring.update_timeout(&moved, 2 * ms)?;
    let remove = ring.remove_timeout(&removed)?;
    ring.wait(update)?;
    ring.wait(remove)?;
    println!(
        "a 60 s timeout moved to 2 ms: {:?}; another removed: {:?}",
        ring.wait(moved)?,
        ring.wait(removed)?
    );

    // A deadline on an operation: read this eventfd or give up after 10 ms.
    let efd = Arc::new(EventFd::new(0)?);
    let (read, limit) = ring.push_with_timeout(efd.read_op_shared(), Timeout::after(10 * ms))?;
    let outcome = ring.wait(limit)?;
    let read = ring.wait(read);
    assert_eq!(outcome, LinkTimeoutResult::Expired);
    println!("read an idle eventfd with a 10 ms deadline: timeout {outcome:?}, read {read:?}");

    // 10,000 kernel timers on one ring, then 10,000 wheel timers on one
    // ring timeout.
    let t = Instant::now();
    let mut tokens: Vec<_> = (0..10_000)
        .map(|_| ring.push(Timeout::after(ms)))
        .collect::<iofd::Result<_>>()?;
    while ring.in_flight() > 0 {
        ring.submit_and_wait(1)?;
    }
    for token in &mut tokens {
        assert_eq!(ring.take(token).transpose()?, Some(TimeoutResult::Fired));
    }
    let kernel = t.elapsed();
    let mut wheel = WheelTimers::with_capacity(10_000);
    let t = Instant::now();
    for i in 0..10_000u32 {
        wheel.arm(ms, i);
    }
    let mut fired = 0;
    while fired < 10_000 {
        wheel.schedule(&mut ring)?;
        ring.submit_and_wait(1)?;
        fired += wheel.expire(&mut ring, |_, _| {})?;
    }
    println!(
        "10,000 ring timeouts armed and fired in {kernel:?}; 10,000 wheel timers in {:?} (see BENCHMARKS.md)",
        t.elapsed()
    );
    Ok(())
}

fn uring_probe() -> Result<()> {
    section("io_uring: the raw syscalls");
    use sys::uring::{IoUringParams, IoUringProbe, io_uring_register_probe, io_uring_setup};
    let mut params = IoUringParams::default();
    let ring = io_uring_setup(8, &mut params)?;
    let mut probe = IoUringProbe::new();
    io_uring_register_probe(ring.as_fd(), &mut probe)?;
    let supported = (0..=probe.last_op())
        .filter(|&op| probe.is_supported(op))
        .count();
    println!(
        "io_uring_setup(8): {} SQ entries, {} CQ entries; the kernel supports {supported} opcodes (last {})",
        params.sq_entries,
        params.cq_entries,
        probe.last_op()
    );
    Ok(())
}

fn cost() -> Result<()> {
    section("what a syscall costs here");
    let n = 200_000;
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(sys::process::getppid());
    }
    let per = t.elapsed().as_nanos() as f64 / n as f64;
    println!(
        "getppid through the asm core: {per:.0} ns per call ({n} calls; see BENCHMARKS.md for rivals)"
    );
    Ok(())
}

fn ring_event_loop() -> Result<()> {
    use iofd::MemFd;
    use iofd::ring::Ring;
    use iofd::ring::ops::{PollFlags, PollMultishot, Timeout, TimeoutResult};
    use std::time::Duration;
    section("the ring as an event loop: dispatch by tag, streams, owned buffers");
    let mut ring = Ring::new(64)?;
    // Owner 0: a 1 ms ticker (a multishot timeout); owner 1: a doorbell
    // (a multishot poll of an eventfd); owner 2: a 1 MiB write that owns
    // its buffer.
    let bell = Arc::new(iofd::EventFd::new(0)?);
    let mut ticker = ring.push_tagged(Timeout::every(Duration::from_millis(1)), 0)?;
    let mut doorbell = ring.push_tagged(PollMultishot::new(Arc::clone(&bell), PollFlags::IN), 1)?;
    let mem = Arc::new(MemFd::new("tour")?);
    let mut write =
        Some(ring.push_tagged(mem.write_at_op_shared(0).with_buf(vec![7u8; 1 << 20]), 2)?);
    let (mut ticks, mut rung) = (0, false);
    while !rung {
        ring.submit_and_wait(1)?;
        while let Some(c) = ring.next_completion() {
            match c.tag {
                0 => {
                    if let Some(Ok(TimeoutResult::Fired)) = ring.take(&mut ticker) {
                        ticks += 1;
                        if ticks == 5 {
                            bell.signal(1)?;
                        }
                    }
                }
                1 => {
                    if let Some(events) = ring.take(&mut doorbell) {
                        println!("tick {ticks}: the doorbell rang ({:?})", events?);
                        rung = true;
                    }
                }
                _ => {
                    if let Some(t) = write.as_mut()
                        && let Some(r) = ring.take(t)
                    {
                        let (n, buf) = r?;
                        println!(
                            "wrote {} bytes; the {}-byte buffer came back",
                            n?,
                            buf.len()
                        );
                        write = None;
                    }
                }
            }
        }
    }
    ring.cancel(ticker)?;
    ring.cancel(doorbell)?;
    println!(
        "{} enters, table: {} slots, {} bytes",
        ring.enters(),
        ring.capacity(),
        ring.table_bytes()
    );
    Ok(())
}

fn ring_slotless() -> Result<()> {
    use iofd::EventFd;
    use iofd::ring::ops::ReadCounter;
    use iofd::ring::{Fixed, Ring};
    section("slotless operations: no token, the result with its completion");
    let mut ring = Ring::new(16)?;
    // Four owners, each with a registered eventfd and one counter read
    // in flight under its index: no token, the count comes with the tag.
    let efds = (0..4)
        .map(|_| EventFd::new(0))
        .collect::<iofd::Result<Vec<_>>>()?;
    ring.register_files(&efds.iter().map(AsFd::as_fd).collect::<Vec<_>>())?;
    for owner in 0..4u32 {
        ring.push_slotless(Fixed::<EventFd>::new(owner).read_op(), owner.into())?;
    }
    efds[1].signal(10)?;
    efds[3].signal(30)?;
    let mut seen = 0;
    while seen < 2 {
        ring.submit_and_wait(1)?;
        while let Some(c) = ring.next_completion() {
            let count = c
                .output::<ReadCounter<Fixed<EventFd>>>()
                .expect("slotless")?;
            println!("owner {} read {count}", c.tag);
            seen += 1;
        }
    }
    // The quiet owners leave: their reads are ended by their files.
    let ended = ring.cancel_fixed(Fixed::<EventFd>::new(0))?
        + ring.cancel_fixed(Fixed::<EventFd>::new(2))?;
    ring.wait_idle()?;
    while ring.next_completion().is_some() {}
    println!(
        "{ended} quiet reads cancelled by file; {} in flight",
        ring.in_flight()
    );
    Ok(())
}

fn main() -> Result<()> {
    println!("iofd tour — Linux x86_64, iofd's syscalls through its own inline asm, not libc");
    syscall_core()?;
    eventfd_counter()?;
    pipes()?;
    memfd_and_mmap()?;
    closing()?;
    handles()?;
    uring_probe()?;
    ring_batch()?;
    ring_timers()?;
    ring_event_loop()?;
    ring_slotless()?;
    cost()?;
    println!("\ntour complete");
    Ok(())
}
