//! No descriptor leaks from any handle: thousands of create/close/drop
//! cycles, failed constructors included, leave the process's descriptor
//! count unchanged. A `harness = false` binary, so nothing else opens
//! descriptors meanwhile.

mod util;

use std::os::fd::{IntoRawFd, OwnedFd};
use std::time::Duration;

use iofd::{Error, EventFd, MemFd, PidFd, Prot, Seals, SigSet, Signal, SignalFd, TimerFd};

fn cycle(child_pid: u32) {
    // EventFd: dropped open, closed then dropped, through OwnedFd.
    drop(EventFd::new(1).expect("eventfd"));
    let e = EventFd::new_semaphore(3).expect("eventfd");
    e.close().expect("close");
    drop(e);
    let e = EventFd::new(0).expect("eventfd");
    drop(EventFd::from(OwnedFd::from(e)));

    // TimerFd: armed when dropped, and closed while armed.
    let t = TimerFd::new().expect("timerfd");
    t.arm(Duration::from_secs(60), Duration::ZERO).expect("arm");
    drop(t);
    let t = TimerFd::new_boottime().expect("timerfd");
    t.close().expect("close");
    assert_eq!(t.arm(Duration::ZERO, Duration::ZERO), Err(Error::Closed));
    assert_eq!(t.into_raw_fd(), -1);

    // SignalFd, with a mask change.
    let mut mask = SigSet::empty();
    mask.add(Signal::new(45).expect("rt"));
    let mut s = SignalFd::new(&mask).expect("signalfd");
    mask.add(Signal::new(46).expect("rt"));
    s.set_mask(&mask).expect("set_mask");
    drop(s);

    // PidFd of a live child, and of a pid that does not exist (fails).
    let p = PidFd::open(child_pid).expect("pidfd");
    p.close().expect("close");
    drop(p);
    assert!(PidFd::open(4_000_000).is_err());
    assert!(matches!(PidFd::open(0), Err(Error::InvalidParam(_))));

    // MemFd with a mapping that outlives it, and failed constructors.
    let m = MemFd::new_sealable("leak").expect("memfd");
    m.set_len(4096).expect("set_len");
    m.seal(Seals::SHRINK | Seals::GROW | Seals::WRITE)
        .expect("seal");
    let region = m.map_sealed().expect("map_sealed");
    drop(m);
    drop(region);
    assert!(MemFd::new("bad\0name").is_err());
    assert!(MemFd::new(&"n".repeat(300)).is_err());
    let m = MemFd::new("unsafe-map").expect("memfd");
    m.set_len(4096).expect("set_len");
    // SAFETY: nothing else maps or writes this fresh memfd.
    let r = unsafe { m.map(4096, Prot::READ | Prot::WRITE) }.expect("map");
    m.close().expect("close");
    r.unmap().expect("unmap");
}

fn main() {
    let mut child = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .expect("spawn sleep");
    // The first close opens the process-wide placeholder once; do it before
    // the baseline.
    cycle(child.id());
    let before = util::fd_count();
    for _ in 0..2_000 {
        cycle(child.id());
    }
    let after = util::fd_count();
    child.kill().expect("kill");
    child.wait().expect("wait");
    assert_eq!(before, after, "descriptors leaked");
    println!("handle_leaks: 2000 cycles of every handle, {before} descriptors before and after");
    println!("1 passed, 0 failed");
}
