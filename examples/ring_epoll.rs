//! A ring joined to an epoll loop through a registered eventfd.
//!
//! The loop thread owns the ring and sleeps in `epoll_wait` on two things:
//! the ring's registered eventfd (completions arrived) and a pipe (a
//! control channel). Worker threads signal eventfds whose reads are armed
//! on the ring; each completion wakes the loop, which reaps the ring and
//! re-arms the read. Run: `cargo run --example ring_epoll`.

use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::Duration;

use iofd::ring::{Notify, Ring, Token, ops::ReadCounter};
use iofd::sys::poll::{
    EpollEvent, EpollFlags, EpollOp, Events, epoll_create1, epoll_ctl, epoll_wait,
};
use iofd::{EventFd, Fd};

const RING: u64 = 1;
const CONTROL: u64 = 2;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sources: Vec<Arc<EventFd>> = (0..3)
        .map(|_| EventFd::new(0).map(Arc::new))
        .collect::<Result<_, _>>()?;
    let (control_r, control_w) = std::io::pipe()?;
    let control_r = Fd::from(std::os::fd::OwnedFd::from(control_r));
    let control_w = Fd::from(std::os::fd::OwnedFd::from(control_w));

    // Workers: each signals its eventfd a few times, then the last one
    // tells the loop to stop through the control pipe.
    let workers: Vec<_> = sources
        .iter()
        .enumerate()
        .map(|(i, efd)| {
            let efd = Arc::clone(efd);
            std::thread::spawn(move || {
                for n in 1..=3u64 {
                    std::thread::sleep(Duration::from_millis(5 * (i as u64 + 1)));
                    efd.signal(n * 10 + i as u64).expect("signal");
                }
            })
        })
        .collect();

    // COOP_TASKRUN: without it the kernel interrupts this thread's blocking
    // epoll_wait (EINTR) to run io_uring completion work.
    let mut ring = Ring::builder(16).coop_taskrun(true).build()?;
    let notify = EventFd::new(0)?;
    ring.register_eventfd(&notify, Notify::All)?;

    let ep = epoll_create1(EpollFlags::CLOEXEC)?;
    epoll_ctl(
        ep.as_fd(),
        EpollOp::Add,
        notify.as_fd(),
        EpollEvent::new(Events::IN, RING),
    )?;
    epoll_ctl(
        ep.as_fd(),
        EpollOp::Add,
        control_r.as_fd(),
        EpollEvent::new(Events::IN, CONTROL),
    )?;

    // One driver-owned read armed per source.
    let mut tokens: Vec<Token<ReadCounter<Arc<EventFd>>>> = sources
        .iter()
        .map(|efd| ring.push(efd.read_op_shared()))
        .collect::<Result<_, _>>()?;
    ring.submit()?;

    let mut received = 0;
    let mut wakeups = 0;
    let mut events = [EpollEvent::default(); 8];
    'outer: loop {
        let n = match epoll_wait(ep.as_fd(), &mut events, Some(Duration::from_secs(10))) {
            Ok(n) => n,
            Err(iofd::sys::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        };
        if n == 0 {
            return Err("no event for 10 s".into());
        }
        for ev in &events[..n] {
            match ev.data() {
                RING => {
                    wakeups += 1;
                    let _ = notify.wait(); // reset the notification counter
                    ring.reap()?;
                    for (i, token) in tokens.iter_mut().enumerate() {
                        if let Some(value) = ring.take(token) {
                            println!("source {i}: read {} through the ring", value?);
                            received += 1;
                            *token = ring.push(sources[i].read_op_shared())?;
                        }
                    }
                    ring.submit()?;
                    if received == 9 {
                        control_w.write(b"x")?;
                    }
                }
                CONTROL => break 'outer,
                _ => unreachable!("only two tags are registered"),
            }
        }
    }
    for w in workers {
        w.join().map_err(|_| "worker panicked")?;
    }
    println!(
        "{received} completions in {wakeups} epoll wake-ups; dropping the ring cancels the 3 reads still armed"
    );
    Ok(())
}
