//! The echo servers' idle timeout on the async runtimes: a connection
//! with neither a read nor a write done for `--idle-ms` is closed, as
//! iofd's echo server closes it.
//!
//! Each connection has one timer, armed once and moved only when it
//! fires: an operation that completes records the time (one clock read,
//! as iofd's `reset_at` does per completion), and the timer, when it
//! fires, either finds the connection idle or is re-armed for the
//! recorded time plus the timeout. No timer is touched per operation.

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::task::Poll;
use std::time::{Duration, Instant};

/// A runtime's sleep, re-armable for a later deadline.
pub trait Rearm: Future<Output = ()> {
    fn rearm(self: Pin<&mut Self>, deadline: Instant);
}

impl Rearm for tokio::time::Sleep {
    fn rearm(self: Pin<&mut Self>, deadline: Instant) {
        self.reset(tokio::time::Instant::from_std(deadline));
    }
}

impl Rearm for monoio::time::Sleep {
    fn rearm(self: Pin<&mut Self>, deadline: Instant) {
        self.reset(monoio::time::Instant::from_std(deadline));
    }
}

/// A connection's idle timeout: its timer, and when it last did anything.
pub struct Idle<'a, S: Rearm> {
    timer: Pin<&'a mut S>,
    after: Duration,
    last: Instant,
}

impl<'a, S: Rearm> Idle<'a, S> {
    /// The timeout of a connection opened now, with `timer`, a sleep of
    /// `after`.
    pub fn new(timer: Pin<&'a mut S>, after: Duration) -> Idle<'a, S> {
        Idle {
            timer,
            after,
            last: Instant::now(),
        }
    }

    /// Runs `op`: its output, or `None` once the connection has been idle
    /// for the timeout (then `op` is dropped, and the caller closes the
    /// connection).
    pub async fn guard<F: Future>(&mut self, op: F) -> Option<F::Output> {
        let mut op = pin!(op);
        poll_fn(|cx| {
            if let Poll::Ready(out) = op.as_mut().poll(cx) {
                self.last = Instant::now();
                return Poll::Ready(Some(out));
            }
            while self.timer.as_mut().poll(cx).is_ready() {
                let due = self.last + self.after;
                if due <= Instant::now() {
                    return Poll::Ready(None);
                }
                self.timer.as_mut().rearm(due);
            }
            Poll::Pending
        })
        .await
    }
}
