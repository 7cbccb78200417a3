//! A signal that interrupts a ring's wait is reported as
//! `Error::Interrupted`, whether or not the enter that waited also
//! submitted. A `harness = false` binary: it owns its process, installs a
//! handler without `SA_RESTART`, and directs the signal at the waiting
//! thread with `pthread_kill` from a second thread.

#[macro_use]
mod util;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use iofd::Error;
use iofd::ring::Ring;
use iofd::ring::ops::{Nop, Timeout};

type TestResult = util::CheckResult;

/// The long wait every check starts, which the signal must cut short.
const LONG: Duration = Duration::from_secs(2);
/// When the signal comes.
const SOON: Duration = Duration::from_millis(50);

static HANDLED: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_signal(_: libc::c_int) {
    HANDLED.fetch_add(1, Ordering::Relaxed);
}

/// Installs the handler for `SIGUSR1`, without `SA_RESTART`.
fn install_handler() {
    // SAFETY: a zeroed `sigaction` is a valid start; the handler only
    // touches an atomic, which is async-signal-safe.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_signal as *const () as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        sa.sa_flags = 0;
        assert_eq!(libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()), 0);
    }
}

/// Runs `f` on this thread while another sends it `SIGUSR1` after
/// [`SOON`]; returns what `f` returned and how long it took.
fn interrupted<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    // SAFETY: `pthread_self` has no preconditions.
    let me = unsafe { libc::pthread_self() };
    let before = HANDLED.load(Ordering::Relaxed);
    let start = Instant::now();
    let killer = std::thread::spawn(move || {
        std::thread::sleep(SOON);
        // SAFETY: `me` is the test's thread, alive until it joins us.
        unsafe { libc::pthread_kill(me, libc::SIGUSR1) }
    });
    let r = f();
    let took = start.elapsed();
    assert_eq!(killer.join().expect("the signalling thread"), 0);
    assert_eq!(
        HANDLED.load(Ordering::Relaxed),
        before + 1,
        "one signal handled"
    );
    (r, took)
}

/// `Ring::wait` on a timeout it has yet to submit: the enter that waits
/// also submits it.
fn wait_that_also_submits_reports_the_signal(ring: &mut Ring) -> TestResult {
    let t = ring.push(Timeout::after(LONG))?;
    let (r, took) = interrupted(|| ring.wait(t));
    assert_eq!(r, Err(Error::Interrupted));
    assert!(took < LONG / 2, "returned after {took:?}");
    Ok(())
}

/// The same with the timeout submitted first.
fn wait_after_a_submit_reports_the_signal(ring: &mut Ring) -> TestResult {
    let t = ring.push(Timeout::after(LONG))?;
    ring.submit()?;
    let (r, took) = interrupted(|| ring.wait(t));
    assert_eq!(r, Err(Error::Interrupted));
    assert!(took < LONG / 2, "returned after {took:?}");
    Ok(())
}

/// `submit_and_wait(2)` on a batch in which one operation completes while
/// it is submitted: the kernel also swallows `EINTR` when the completion
/// queue is not empty.
fn submit_and_wait_with_one_done_reports_the_signal(ring: &mut Ring) -> TestResult {
    let nop = ring.push(Nop::new())?;
    let t = ring.push(Timeout::after(LONG))?;
    let (r, took) = interrupted(|| ring.submit_and_wait(2));
    assert_eq!(r, Err(Error::Interrupted));
    assert!(took < LONG / 2, "returned after {took:?}");
    assert_eq!(ring.wait(nop), Ok(()), "the finished one is reaped");
    ring.cancel(t)?;
    Ok(())
}

/// A scope's `wait` and `submit_and_wait_all`, both also submitting.
fn scope_waits_report_the_signal(ring: &mut Ring) -> TestResult {
    let (r, took) = interrupted(|| {
        ring.scope(|s| {
            let t = s.push(Timeout::after(LONG))?;
            s.wait(t)
        })
    });
    assert_eq!(r, Err(Error::Interrupted));
    assert!(took < LONG / 2, "returned after {took:?}");
    let (r, took) = interrupted(|| {
        ring.scope(|s| {
            let _nop = s.push(Nop::new())?;
            let _t = s.push(Timeout::after(LONG))?;
            s.submit_and_wait_all()
        })
    });
    assert_eq!(r, Err(Error::Interrupted));
    assert!(took < LONG / 2, "returned after {took:?}");
    Ok(())
}

/// Every check on a ring built by `build`.
fn all_on(build: fn() -> iofd::Result<Ring>) -> TestResult {
    type Part = fn(&mut Ring) -> TestResult;
    let parts: [Part; 4] = [
        wait_that_also_submits_reports_the_signal,
        wait_after_a_submit_reports_the_signal,
        submit_and_wait_with_one_done_reports_the_signal,
        scope_waits_report_the_signal,
    ];
    for part in parts {
        let mut ring = build()?;
        part(&mut ring)?;
        // What was cancelled is reaped by the drop.
        drop(ring);
    }
    Ok(())
}

fn a_plain_ring() -> TestResult {
    all_on(|| Ring::new(8))
}

fn a_registered_single_issuer_ring() -> TestResult {
    all_on(|| {
        Ring::builder(8)
            .single_issuer(true)
            .register_ring_fd(true)
            .build()
    })
}

fn a_defer_taskrun_ring() -> TestResult {
    all_on(|| Ring::builder(8).defer_taskrun(true).build())
}

/// The kernel answers an SQPOLL ring's enter with the count it was asked
/// to submit, and reports a signal as that count: the driver's waits pass
/// none, so that `EINTR` comes through.
fn an_sqpoll_ring() -> TestResult {
    all_on(|| Ring::builder(8).sqpoll(Duration::from_millis(20)).build())
}

fn a_registered_sqpoll_ring() -> TestResult {
    all_on(|| {
        Ring::builder(8)
            .sqpoll(Duration::from_millis(20))
            .register_ring_fd(true)
            .build()
    })
}

fn main() {
    install_handler();
    checks![
        a_plain_ring,
        a_registered_single_issuer_ring,
        a_defer_taskrun_ring,
        an_sqpoll_ring,
        a_registered_sqpoll_ring,
    ];
}
