//! The echo server on tokio-uring: a thread per listener, each running a
//! tokio-uring runtime (256 entries, its default and iofd's) with its own
//! `SO_REUSEPORT` listener; a task per connection that reads into an owned
//! 4 KiB buffer and writes it all back before reading again; the idle
//! timeout of [`peers::idle`] (on tokio's timer, which tokio-uring runs
//! under).
//!
//! Run: `cargo run --release -p peers --bin echo_tokio_uring -- [--addr
//! ADDR] [--threads N] [--idle-ms MS]`.

use std::io;
use std::net::Shutdown;
use std::os::fd::AsRawFd;
use std::pin::pin;
use std::time::Duration;

use peers::args::{Config, Kind};
use peers::idle::Idle;
use peers::server::{self, ACCEPT_BACKOFF, Start};
use tokio_uring::net::{TcpListener, TcpStream};

const NAME: &str = "echo_tokio_uring";

fn main() {
    server::main(NAME, Kind::Echo, worker)
}

fn worker(start: Start, cfg: &Config) -> io::Result<()> {
    let idle = cfg.idle.unwrap_or(Duration::MAX);
    tokio_uring::builder()
        .entries(peers::RING_ENTRIES)
        .uring_builder(tokio_uring::uring_builder().setup_cqsize(peers::CQ_ENTRIES))
        .start(async move {
            let listener = TcpListener::from_std(start.listener);
            start.ready.done();
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => drop(tokio_uring::spawn(echo(stream, idle))),
                    Err(e) => {
                        server::accept_failed(NAME, &e);
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                    }
                }
            }
        })
}

/// Echoes until the peer closes, an error, or `idle` without any
/// progress (then the socket is shut, which ends the operation in
/// flight, before it is dropped).
async fn echo(stream: TcpStream, idle: Duration) {
    let _ = stream.set_nodelay(true);
    let fd = stream.as_raw_fd();
    let timer = pin!(tokio::time::sleep(idle));
    let mut idle = Idle::new(timer, idle);
    let mut buf = Vec::with_capacity(peers::READ_LEN);
    loop {
        let Some((r, read)) = idle.guard(stream.read(buf)).await else {
            return server::shutdown(fd, Shutdown::Both);
        };
        if !matches!(r, Ok(n) if n > 0) {
            return;
        }
        let Some((r, mut written)) = idle.guard(stream.write_all(read)).await else {
            return server::shutdown(fd, Shutdown::Both);
        };
        if r.is_err() {
            return;
        }
        written.clear();
        buf = written;
    }
}
