//! The echo server on the raw io-uring crate: [`peers::raw`]'s event loop
//! (a ring per thread, multishot accept, multishot recv into a provided
//! buffer ring, batched sends, one `submit_and_wait` per turn), with the
//! bytes received copied to the connection's output as iofd's echo server
//! copies them, and the idle timeout on the loop's tick.
//!
//! Run: `cargo run --release -p peers --bin echo_raw -- [--addr ADDR]
//! [--threads N] [--idle-ms MS]`.

use peers::args::Kind;
use peers::raw::{self, Protocol};
use peers::server;

struct Echo;

impl Protocol for Echo {
    type Shared = ();
    const MAX_OUT: usize = peers::ECHO_MAX_PENDING;

    fn shared() {}

    fn turn((): &mut ()) {}

    fn open() -> Echo {
        Echo
    }

    fn on_data(&mut self, (): &(), data: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(data);
    }

    fn is_last(&self) -> bool {
        false
    }
}

fn main() {
    server::main("echo_raw", Kind::Echo, |start, cfg| {
        raw::run::<Echo>("echo_raw", start, cfg.idle)
    })
}
