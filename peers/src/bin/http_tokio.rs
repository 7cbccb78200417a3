//! The plaintext HTTP server on tokio (epoll): a thread per listener,
//! each running a current-thread runtime with its own `SO_REUSEPORT`
//! listener; a task per connection that reads into a 4 KiB buffer, answers
//! every request the read completes ([`peers::http`], iofd's parser and
//! responses) into one output buffer, and writes it all before reading
//! again.
//!
//! Run: `cargo run --release -p peers --bin http_tokio -- [--addr ADDR]
//! [--threads N]`.

use std::io;

use peers::args::{Config, Kind};
use peers::http::{Session, with_date};
use peers::server::{self, ACCEPT_BACKOFF, Start};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const NAME: &str = "http_tokio";

fn main() {
    server::main(NAME, Kind::Http, worker)
}

fn worker(start: Start, _: &Config) -> io::Result<()> {
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
                Ok((stream, _)) => drop(tokio::spawn(serve(stream))),
                Err(e) => {
                    server::accept_failed(NAME, &e);
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
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
    let mut buf = vec![0u8; peers::READ_LEN];
    let mut out = Vec::new();
    let mut session = Session::new();
    while !session.is_last() {
        let n = match stream.read(&mut buf).await {
            Ok(n) if n > 0 => n,
            _ => return,
        };
        with_date(|date| session.on_data(&buf[..n], date, &mut out));
        if !out.is_empty() {
            if stream.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
    }
    if stream.shutdown().await.is_ok() {
        while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
    }
}
