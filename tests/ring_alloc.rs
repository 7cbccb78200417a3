//! Zero heap allocations per ring operation in steady state, counted by a
//! global allocator. A `harness = false` binary: the counter is
//! process-wide.

mod util;

use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::Duration;

use iofd::ring::ops::{LinkTimeoutResult, Nop, Timeout, TimeoutResult};
use iofd::ring::{Fixed, Ring, WheelTimers};
use iofd::{EventFd, MemFd};

#[global_allocator]
static GLOBAL: util::Counting = util::Counting;

/// Runs `f` (which does `ops` operations) 200 times after a warm-up and
/// returns the allocations per operation.
fn per_op(name: &str, ops: usize, mut f: impl FnMut()) -> f64 {
    f();
    let before = util::allocations();
    for _ in 0..200 {
        f();
    }
    let n = util::allocations() - before;
    let per = n as f64 / (200 * ops) as f64;
    println!("{name:<40} {n} allocations in {} operations", 200 * ops);
    per
}

fn main() {
    let mut ring = Ring::new(64).expect("ring");
    let mut tokens = Vec::with_capacity(32);
    let mut total = 0.0;

    total += per_op("driver-owned NOPs, batches of 32", 32, || {
        for _ in 0..32 {
            tokens.push(ring.push(Nop::new()).expect("push"));
        }
        ring.submit_and_wait(32).expect("submit");
        for t in tokens.drain(..) {
            ring.wait(t).expect("nop");
        }
    });

    let efd = Arc::new(EventFd::new_semaphore(u32::MAX).expect("eventfd"));
    let mut reads = Vec::with_capacity(32);
    total += per_op("driver-owned eventfd reads (Arc handle)", 32, || {
        for _ in 0..32 {
            reads.push(ring.push(efd.read_op_shared()).expect("push"));
        }
        ring.submit_and_wait(32).expect("submit");
        for t in reads.drain(..) {
            assert_eq!(ring.wait(t).expect("read"), 1);
        }
    });

    let registered = EventFd::new_semaphore(u32::MAX).expect("eventfd");
    let mut fixed_ring = Ring::new(64).expect("ring");
    fixed_ring
        .register_files(&[registered.as_fd()])
        .expect("files");
    let fixed = Fixed::<EventFd>::new(0);
    let mut fixed_reads = Vec::with_capacity(32);
    total += per_op("driver-owned eventfd reads (fixed file)", 32, || {
        for _ in 0..32 {
            fixed_reads.push(fixed_ring.push(fixed.read_op()).expect("push"));
        }
        fixed_ring.submit_and_wait(32).expect("submit");
        for t in fixed_reads.drain(..) {
            assert_eq!(fixed_ring.wait(t).expect("read"), 1);
        }
    });

    let armed = Arc::new(EventFd::new(0).expect("eventfd"));
    total += per_op("armed read, re-armed on EAGAIN", 1, || {
        let t = ring.push(armed.read_op_shared()).expect("push");
        ring.submit().expect("arm");
        armed.signal(3).expect("signal");
        assert_eq!(ring.wait(t).expect("read"), 3);
    });

    let plain = EventFd::new_semaphore(u32::MAX).expect("eventfd");
    let mem = MemFd::new("alloc").expect("memfd");
    mem.set_len(4096).expect("len");
    let mut counters = [0u64; 16];
    let mut bytes = [0u8; 64];
    total += per_op("scoped reads into caller storage", 17, || {
        ring.scope(|s| {
            for c in counters.iter_mut() {
                let _ = s.push_into(plain.read_op(), c).expect("push");
            }
            let _ = s.push_into(mem.read_at_op(0), &mut bytes).expect("push");
            s.submit_and_wait_all()
        })
        .expect("scope");
    });

    let mut timers = Vec::with_capacity(32);
    total += per_op("ring timeouts, with a deadline-linked read", 33, || {
        for _ in 0..32 {
            timers.push(ring.push(Timeout::after(Duration::ZERO)).expect("push"));
        }
        let (read, deadline) = ring
            .push_with_timeout(efd.read_op_shared(), Timeout::after(Duration::from_secs(1)))
            .expect("push");
        ring.submit_and_wait(32).expect("submit");
        for t in timers.drain(..) {
            assert_eq!(ring.wait(t).expect("timer"), TimeoutResult::Fired);
        }
        assert_eq!(ring.wait(read).expect("read"), 1);
        assert_eq!(
            ring.wait(deadline).expect("deadline"),
            LinkTimeoutResult::Disarmed
        );
    });

    let mut wheel = WheelTimers::with_capacity(1000);
    total += per_op("wheel timers armed and fired", 1000, || {
        for i in 0..1000u32 {
            wheel.arm(Duration::ZERO, i);
        }
        let mut fired = 0;
        while fired < 1000 {
            wheel.schedule(&mut ring).expect("schedule");
            ring.submit_and_wait(1).expect("wait");
            fired += wheel.expire(&mut ring, |_, _| {}).expect("expire");
        }
    });

    // An event loop: tagged operations dispatched and pushed again.
    let mut owners: Vec<Option<iofd::ring::Token<Nop>>> = (0..32)
        .map(|i| Some(ring.push_tagged(Nop::new(), i).expect("push")))
        .collect();
    total += per_op("tagged NOPs dispatched by tag, 32 owners", 32, || {
        ring.submit_and_wait(32).expect("wait");
        while let Some(c) = ring.next_completion() {
            let owner = &mut owners[c.tag as usize];
            if let Some(mut t) = owner.take() {
                ring.take(&mut t).expect("announced").expect("nop");
            }
            *owner = Some(ring.push_tagged(Nop::new(), c.tag).expect("push"));
        }
    });
    for t in owners.into_iter().flatten() {
        ring.wait(t).expect("nop");
    }

    // Tokens dropped untaken: each posts its operation for the ring to
    // let go, through a process-wide list and the ring's own buffer.
    total += per_op("NOPs whose tokens are dropped, 32 a batch", 32, || {
        for _ in 0..32 {
            drop(ring.push(Nop::new()).expect("push"));
        }
        ring.wait_idle().expect("idle");
    });

    // Slotless operations: NOPs with no slot, counter reads lent one.
    let counted = EventFd::new_semaphore(u32::MAX).expect("eventfd");
    let mut slotless_ring = Ring::new(128).expect("ring");
    slotless_ring
        .register_files(&[counted.as_fd()])
        .expect("files");
    let counter = Fixed::<EventFd>::new(0);
    total += per_op("slotless NOPs and counter reads, 32 each", 64, || {
        for tag in 0..32 {
            slotless_ring.push_slotless(Nop::new(), tag).expect("nop");
            slotless_ring
                .push_slotless(counter.read_op(), tag)
                .expect("read");
        }
        slotless_ring.submit_and_wait(64).expect("wait");
        let mut n = 0;
        while let Some(c) = slotless_ring.next_completion() {
            assert!(c.is_slotless());
            n += 1;
        }
        assert_eq!(n, 64);
    });

    assert_eq!(total, 0.0, "steady-state ring operations allocated");
    untaken_owned_buffers_are_freed(&mut ring);
    println!("10 passed, 0 failed");
}

/// A token dropped with its owned buffer's result untaken, detached or
/// cancelled operations, and a ring dropped with results pending: every
/// buffer is freed (live bytes back to where they were).
fn untaken_owned_buffers_are_freed(ring: &mut Ring) {
    const MIB: usize = 1 << 20;
    let mem = Arc::new(MemFd::new("owned").expect("memfd"));
    mem.write_at(&[1u8; 64], 0).expect("write");
    let efd = Arc::new(EventFd::new(0).expect("eventfd"));
    // Warm up the table's pools.
    let t = ring
        .push(mem.read_at_op_shared(0).with_buf(Vec::with_capacity(MIB)))
        .expect("push");
    drop(ring.wait(t).expect("read"));
    let before = util::live_bytes();
    // Completed, then the token dropped untaken.
    let t = ring
        .push(mem.read_at_op_shared(0).with_buf(Vec::with_capacity(MIB)))
        .expect("push");
    ring.submit_and_wait(1).expect("wait");
    drop(t);
    ring.submit().expect("submit");
    // Dropped in flight, completing later.
    let (rd, wr) = iofd::sys::pipe::pipe2(iofd::sys::pipe::PipeFlags::CLOEXEC).expect("pipe");
    let (rd, wr) = (Arc::new(iofd::Fd::from(rd)), iofd::Fd::from(wr));
    let t = ring
        .push(rd.read_at_op_shared(0).with_buf(vec![0u8; MIB]))
        .expect("push");
    ring.submit().expect("submit");
    drop(t);
    wr.write(b"x").expect("write");
    // Cancelled while armed.
    let t = ring
        .push(rd.read_at_op_shared(0).with_buf(vec![0u8; MIB]))
        .expect("push");
    ring.submit().expect("submit");
    ring.cancel(t).expect("cancel");
    while ring.in_flight() > 0 {
        ring.submit_and_wait(1).expect("wait");
    }
    let leaked = util::live_bytes() - before;
    println!("owned buffers left untaken: {leaked} bytes still live");
    assert!(leaked < MIB as isize / 2, "{leaked} bytes leaked");
    // A ring dropped with a result pending frees it too.
    let mut other = Ring::new(8).expect("ring");
    let t = other
        .push(mem.read_at_op_shared(0).with_buf(Vec::with_capacity(MIB)))
        .expect("push");
    other.submit_and_wait(1).expect("wait");
    std::mem::forget(t); // not even a detach: the ring's drop must free it
    let with_ring = util::live_bytes();
    drop(other);
    assert!(
        with_ring - util::live_bytes() >= MIB as isize,
        "freed with the ring"
    );
    drop(efd);
}
