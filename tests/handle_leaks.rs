//! No descriptor leaks from any handle: thousands of create/close/drop
//! cycles, failed constructors included (bad parameters, and no free
//! descriptor under a lowered `RLIMIT_NOFILE`), leave the process's
//! descriptor count unchanged. A `harness = false` binary, so nothing else
//! opens descriptors meanwhile (and the lowered limit hurts no one).

mod util;

use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd};
use std::time::Duration;

use iofd::sys::Errno;
use iofd::sys::resource::{Resource, Rlimit, prlimit};
use iofd::{Error, EventFd, MemFd, PidFd, Prot, Seals, SigSet, Signal, SignalFd, TimerFd};

/// Runs `f` with `RLIMIT_NOFILE` lowered to the lowest free descriptor
/// number, so that no descriptor can be opened, and restores the limit
/// afterwards (also when `f` panics).
fn with_no_free_descriptor<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(Rlimit);
    impl Drop for Restore {
        fn drop(&mut self) {
            prlimit(Resource::Nofile, Some(&self.0)).expect("restore RLIMIT_NOFILE");
        }
    }
    // Descriptors are allocated lowest first: this number is the lowest
    // free one, and every number below it is taken.
    let lowest = std::fs::File::open("/dev/null")
        .expect("open /dev/null")
        .as_raw_fd();
    let old = prlimit(Resource::Nofile, None).expect("read RLIMIT_NOFILE");
    let low = Rlimit {
        cur: u64::try_from(lowest).expect("a descriptor number"),
        max: old.max,
    };
    prlimit(Resource::Nofile, Some(&low)).expect("lower RLIMIT_NOFILE");
    let _restore = Restore(old);
    f()
}

/// Every constructor (and `PidFd::get_fd`) fails with `Os(EMFILE)` when no
/// descriptor is free, and leaks nothing.
fn out_of_descriptors(child_pid: u32) {
    let mut mask = SigSet::empty();
    mask.add(Signal::new(45).expect("rt"));
    let me = PidFd::open(std::process::id()).expect("pidfd of self");
    let target = me.raw();
    let emfile = Some(Error::Os(Errno::EMFILE));
    with_no_free_descriptor(|| {
        assert_eq!(EventFd::new(0).err(), emfile);
        assert_eq!(EventFd::new_semaphore(1).err(), emfile);
        assert_eq!(TimerFd::new().err(), emfile);
        assert_eq!(TimerFd::new_realtime().err(), emfile);
        assert_eq!(TimerFd::new_boottime().err(), emfile);
        assert_eq!(SignalFd::new(&mask).err(), emfile);
        assert_eq!(PidFd::open(child_pid).err(), emfile);
        assert_eq!(PidFd::open_blocking(child_pid).err(), emfile);
        assert_eq!(me.get_fd(target).err(), emfile);
        assert_eq!(MemFd::new("emfile").err(), emfile);
        assert_eq!(MemFd::new_sealable("emfile").err(), emfile);
        assert_eq!(MemFd::new_hugetlb("emfile").err(), emfile);
    });
}

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
    assert_eq!(PidFd::open(4_000_000).err(), Some(Error::Os(Errno::ESRCH)));
    assert_eq!(
        PidFd::open(0).err(),
        Some(Error::InvalidParam("pid 0 names no process"))
    );
    assert_eq!(
        PidFd::open_blocking(u32::MAX).err(),
        Some(Error::InvalidParam("pid above i32::MAX"))
    );

    // MemFd with a mapping that outlives it, and failed constructors.
    let m = MemFd::new_sealable("leak").expect("memfd");
    m.set_len(4096).expect("set_len");
    m.seal(Seals::SHRINK | Seals::GROW | Seals::WRITE)
        .expect("seal");
    let region = m.map_sealed().expect("map_sealed");
    drop(m);
    drop(region);
    assert_eq!(
        MemFd::new("bad\0name").err(),
        Some(Error::InvalidParam("memfd name contains NUL"))
    );
    assert_eq!(
        MemFd::new(&"n".repeat(300)).err(),
        Some(Error::InvalidParam("memfd name longer than 249 bytes"))
    );
    let m = MemFd::new("unsafe-map").expect("memfd");
    m.set_len(4096).expect("set_len");
    // SAFETY: nothing else maps or writes this fresh memfd.
    let r = unsafe { m.map(4096, Prot::READ | Prot::WRITE) }.expect("map");
    m.close().expect("close");
    r.unmap().expect("unmap");

    out_of_descriptors(child_pid);
}

fn main() {
    let mut child = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .expect("spawn sleep");
    let original_limit = prlimit(Resource::Nofile, None).expect("read RLIMIT_NOFILE");
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
    let limit = prlimit(Resource::Nofile, None).expect("read RLIMIT_NOFILE");
    assert_eq!(limit, original_limit, "RLIMIT_NOFILE restored");
    println!("handle_leaks: 2000 cycles of every handle, {before} descriptors before and after");
    println!("1 passed, 0 failed");
}
