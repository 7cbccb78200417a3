//! The plaintext HTTP server on monoio (its io_uring driver): a thread
//! per listener, each running a monoio runtime (256 entries, as iofd's
//! rings) with its own `SO_REUSEPORT` listener; a task per connection that
//! reads into an owned 4 KiB buffer, answers every request the read
//! completes ([`peers::http`], iofd's parser and responses) into one
//! output buffer, and writes it all before reading again.
//!
//! Run: `cargo run --release -p peers --bin http_monoio -- [--addr ADDR]
//! [--threads N]`.

use std::io;
use std::net::Shutdown;
use std::os::fd::AsRawFd;

use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::{TcpListener, TcpStream};
use monoio::{IoUringDriver, RuntimeBuilder};
use peers::args::{Config, Kind};
use peers::http::{Session, with_date};
use peers::server::{self, ACCEPT_BACKOFF, Start};

const NAME: &str = "http_monoio";

fn main() {
    server::main(NAME, Kind::Http, worker)
}

fn worker(start: Start, _: &Config) -> io::Result<()> {
    let mut rt = RuntimeBuilder::<IoUringDriver>::new()
        .with_entries(peers::RING_ENTRIES)
        .uring_builder(
            io_uring_06::IoUring::builder()
                .setup_cqsize(peers::CQ_ENTRIES)
                .clone(),
        )
        .enable_timer()
        .build()?;
    rt.block_on(async move {
        let listener = TcpListener::from_std(start.listener)?;
        start.ready.done();
        loop {
            match listener.accept().await {
                Ok((stream, _)) => drop(monoio::spawn(serve(stream))),
                Err(e) => {
                    server::accept_failed(NAME, &e);
                    monoio::time::sleep(ACCEPT_BACKOFF).await;
                }
            }
        }
    })
}

/// Serves requests until the peer closes, an error, or a response that
/// ends the connection (then the write side is shut and what the peer
/// still sends is read and dropped until it closes).
async fn serve(mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut buf = Vec::with_capacity(peers::READ_LEN);
    let mut out = Vec::new();
    let mut session = Session::new();
    loop {
        let (r, mut read) = stream.read(buf).await;
        if !matches!(r, Ok(n) if n > 0) {
            return;
        }
        with_date(|date| session.on_data(&read, date, &mut out));
        read.clear();
        buf = read;
        if !out.is_empty() {
            let (r, mut written) = stream.write_all(out).await;
            if r.is_err() {
                return;
            }
            written.clear();
            out = written;
        }
        if session.is_last() {
            break;
        }
    }
    // As iofd's server: a plain `shutdown(2)`, not a ring operation.
    server::shutdown(stream.as_raw_fd(), Shutdown::Write);
    loop {
        let (r, mut read) = stream.read(buf).await;
        if !matches!(r, Ok(n) if n > 0) {
            return;
        }
        read.clear();
        buf = read;
    }
}
