//! No handle is inherited by an exec'd child: every handle is created
//! close-on-exec. A `harness = false` binary, so no other test's
//! descriptors (created without the flag by std internals) muddy the check.

use std::os::fd::AsRawFd;

use iofd::{EventFd, MemFd, PidFd, SigSet, Signal, SignalFd, TimerFd};

fn main() {
    let mut sleeper = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .expect("spawn");
    let mut mask = SigSet::empty();
    mask.add(Signal::new(48).expect("rt"));
    let e = EventFd::new(0).expect("eventfd");
    let t = TimerFd::new().expect("timerfd");
    let s = SignalFd::new(&mask).expect("signalfd");
    let p = PidFd::open(sleeper.id()).expect("pidfd");
    let m = MemFd::new("inherit").expect("memfd");
    let numbers = [
        e.as_raw_fd(),
        t.as_raw_fd(),
        s.as_raw_fd(),
        p.as_raw_fd(),
        m.as_raw_fd(),
    ];

    // The child lists which of those numbers it holds.
    let script = numbers
        .iter()
        .map(|n| format!("[ -e /proc/self/fd/{n} ] && echo {n};"))
        .collect::<String>();
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{script} true"))
        .output()
        .expect("sh");
    let inherited = String::from_utf8_lossy(&out.stdout).into_owned();
    sleeper.kill().expect("kill");
    sleeper.wait().expect("wait");
    assert!(out.status.success());
    assert_eq!(inherited.trim(), "", "inherited descriptors: {inherited}");
    println!("exec_inherit: none of {numbers:?} reached the exec'd child");
    println!("1 passed, 0 failed");
}
