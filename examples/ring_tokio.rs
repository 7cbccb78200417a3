//! A ring joined to tokio: `AsyncFd` waits on the ring's registered
//! eventfd, so an io_uring driver and tokio tasks share one thread.
//!
//! Run: `cargo run --example ring_tokio`.

use std::sync::Arc;
use std::time::Duration;

use iofd::ring::{Notify, Ring};
use iofd::{EventFd, TimerFd};
use tokio::io::unix::AsyncFd;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut ring = Ring::new(8)?;
    // SAFETY: the AsyncFd owns the EventFd and this program never closes it
    // through `get_ref()`, so its descriptor stays open, names the same
    // eventfd, and `as_raw_fd` returns the same number until the AsyncFd
    // is dropped.
    let notify = unsafe { AsyncFd::register(EventFd::new(0)?) }.map_err(|e| e.into_parts().1)?;
    ring.register_eventfd(notify.get_ref(), Notify::All)?;

    // A timer and a counter, both read through the ring.
    let timer = Arc::new(TimerFd::new()?);
    timer.arm(Duration::from_millis(20), Duration::ZERO)?;
    let counter = Arc::new(EventFd::new(0)?);
    let mut t_timer = ring.push(timer.expirations_op_shared())?;
    let mut t_counter = ring.push(counter.read_op_shared())?;
    ring.submit()?;

    // A tokio task signals the counter meanwhile.
    let c = Arc::clone(&counter);
    let task = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(5)).await;
        c.signal(5).expect("signal");
    });

    let mut done = 0;
    while done < 2 {
        // Sleep in tokio until the ring has completions.
        let mut guard = notify.readable().await?;
        let _ = guard.get_inner().wait(); // reset the notification counter
        guard.clear_ready();
        ring.reap()?;
        if let Some(v) = ring.take(&mut t_counter) {
            println!("counter read through the ring: {}", v?);
            done += 1;
        }
        if let Some(v) = ring.take(&mut t_timer) {
            println!("timer expired {} time(s), read through the ring", v?);
            done += 1;
        }
    }
    task.await?;
    println!("tokio woke on the registered eventfd and reaped both completions");
    Ok(())
}
