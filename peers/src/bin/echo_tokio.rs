//! The echo server on tokio (epoll): a thread per listener, each running
//! a current-thread runtime with its own `SO_REUSEPORT` listener; a task
//! per connection that reads into a 4 KiB buffer and writes it all back
//! before reading again; the idle timeout of [`peers::idle`].
//!
//! Run: `cargo run --release -p peers --bin echo_tokio -- [--addr ADDR]
//! [--threads N] [--idle-ms MS]`.

use std::io;
use std::pin::pin;
use std::time::Duration;

use peers::args::{Config, Kind};
use peers::idle::Idle;
use peers::server::{self, ACCEPT_BACKOFF, Start};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const NAME: &str = "echo_tokio";

fn main() {
    server::main(NAME, Kind::Echo, worker)
}

fn worker(start: Start, cfg: &Config) -> io::Result<()> {
    let idle = cfg.idle.unwrap_or(Duration::MAX);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()?;
    start.listener.set_nonblocking(true)?;
    rt.block_on(async move {
        let listener = TcpListener::from_std(start.listener)?;
        start.ready.done();
        loop {
            match listener.accept().await {
                Ok((stream, _)) => drop(tokio::spawn(echo(stream, idle))),
                Err(e) => {
                    server::accept_failed(NAME, &e);
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            }
        }
    })
}

/// Echoes until the peer closes, an error, or `idle` without any
/// progress.
async fn echo(mut stream: TcpStream, idle: Duration) {
    let _ = stream.set_nodelay(true);
    let mut buf = vec![0u8; peers::READ_LEN];
    let timer = pin!(tokio::time::sleep(idle));
    let mut idle = Idle::new(timer, idle);
    loop {
        let n = match idle.guard(stream.read(&mut buf)).await {
            Some(Ok(n)) if n > 0 => n,
            _ => return,
        };
        if !matches!(idle.guard(stream.write_all(&buf[..n])).await, Some(Ok(()))) {
            return;
        }
    }
}
