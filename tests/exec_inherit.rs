//! No handle is inherited by an exec'd child: every handle, from every
//! constructor, is created close-on-exec. A positive control (a descriptor
//! with close-on-exec switched off) must reach the child, proving the
//! check sees inherited descriptors. A `harness = false` binary, so no
//! other test's descriptors (created without the flag by std internals)
//! muddy the check.

use std::os::fd::{AsFd, AsRawFd, RawFd};

use iofd::{Clock, EventFd, Fd, MemFd, PidFd, SigSet, Signal, SignalFd, TimerFd};

/// The numbers among `numbers` that an exec'd `sh` holds open.
fn held_by_exec_child(numbers: &[RawFd]) -> Vec<RawFd> {
    let script = numbers
        .iter()
        .map(|n| format!("[ -e /proc/self/fd/{n} ] && echo {n};"))
        .collect::<String>();
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{script} true"))
        .output()
        .expect("sh");
    assert!(out.status.success(), "sh failed: {out:?}");
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .split_whitespace()
        .map(|n| n.parse().expect("a number"))
        .collect()
}

fn main() {
    let mut sleeper = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .expect("spawn");
    let mut mask = SigSet::empty();
    mask.add(Signal::new(48).expect("rt"));

    let e = EventFd::new(0).expect("eventfd");
    let e_sem = EventFd::new_semaphore(1).expect("eventfd semaphore");
    let t = TimerFd::new().expect("timerfd");
    let t_real = TimerFd::new_realtime().expect("timerfd realtime");
    let t_boot = TimerFd::new_boottime().expect("timerfd boottime");
    let t_clock = TimerFd::with_clock(Clock::Boottime).expect("timerfd with_clock");
    let s = SignalFd::new(&mask).expect("signalfd");
    let p = PidFd::open(sleeper.id()).expect("pidfd");
    let p_blocking = PidFd::open_blocking(sleeper.id()).expect("pidfd blocking");
    let me = PidFd::open(std::process::id()).expect("pidfd of self");
    let got = me.get_fd(e.as_raw_fd()).expect("pidfd_getfd");
    let m = MemFd::new("inherit").expect("memfd");
    let m_sealable = MemFd::new_sealable("inherit-sealable").expect("memfd sealable");
    let m_huge = MemFd::new_hugetlb("inherit-huge").ok();
    let dup = Fd::from(e.as_fd().try_clone_to_owned().expect("dup"))
        .dup()
        .expect("Fd::dup");

    let mut numbers = vec![
        e.as_raw_fd(),
        e_sem.as_raw_fd(),
        t.as_raw_fd(),
        t_real.as_raw_fd(),
        t_boot.as_raw_fd(),
        t_clock.as_raw_fd(),
        s.as_raw_fd(),
        p.as_raw_fd(),
        p_blocking.as_raw_fd(),
        me.as_raw_fd(),
        got.as_raw_fd(),
        m.as_raw_fd(),
        m_sealable.as_raw_fd(),
        dup.as_raw_fd(),
    ];
    match &m_huge {
        Some(h) => numbers.push(h.as_raw_fd()),
        None => println!("exec_inherit: MemFd::new_hugetlb refused; not checked"),
    }

    // Positive control: the same kind of descriptor, close-on-exec cleared,
    // must be seen by the child.
    let control = e_sem.as_fd();
    let control = Fd::from(control.try_clone_to_owned().expect("dup"));
    control.set_cloexec(false).expect("set_cloexec");
    assert_eq!(control.is_cloexec(), Ok(false));
    let control_raw = control.as_raw_fd();
    assert!(!numbers.contains(&control_raw));

    let mut asked = numbers.clone();
    asked.push(control_raw);
    let held = held_by_exec_child(&asked);

    sleeper.kill().expect("kill");
    sleeper.wait().expect("wait");

    assert_eq!(
        held,
        vec![control_raw],
        "the child must hold the control {control_raw} and none of {numbers:?}"
    );
    println!(
        "exec_inherit: none of {} handles {numbers:?} reached the exec'd child; \
         the control {control_raw} did",
        numbers.len()
    );
    println!("2 passed, 0 failed");
}
