//! The plaintext HTTP server on the raw io-uring crate: [`peers::raw`]'s
//! event loop (a ring per thread, multishot accept, multishot recv into a
//! provided buffer ring, batched sends, one `submit_and_wait` per turn),
//! with requests parsed straight from the provided buffer by
//! [`peers::http`] (iofd's parser and responses), every response of a
//! turn batched into the connection's one send, and the date read once
//! per turn.
//!
//! Run: `cargo run --release -p peers --bin http_raw -- [--addr ADDR]
//! [--threads N]`.

use peers::args::Kind;
use peers::http::{DateCache, Session};
use peers::raw::{self, Protocol};
use peers::server;

struct Http(Session);

impl Protocol for Http {
    type Shared = DateCache;
    const MAX_OUT: usize = peers::HTTP_MAX_OUT;

    fn shared() -> DateCache {
        DateCache::new()
    }

    fn turn(date: &mut DateCache) {
        date.refresh();
    }

    fn open() -> Http {
        Http(Session::new())
    }

    fn on_data(&mut self, date: &DateCache, data: &[u8], out: &mut Vec<u8>) {
        self.0.on_data(data, date.get(), out);
    }

    fn is_last(&self) -> bool {
        self.0.is_last()
    }
}

fn main() {
    server::main("http_raw", Kind::Http, |start, _| {
        raw::run::<Http>("http_raw", start, None)
    })
}
