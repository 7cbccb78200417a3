//! Rivals to iofd's example servers: the same TCP echo server
//! (`examples/echo_server.rs`) and plaintext HTTP/1.1 server
//! (`examples/http_server/`) written again on **tokio** (epoll),
//! **monoio** and **tokio-uring** (io_uring runtimes), and on the **raw
//! io-uring crate**, so that a server on iofd can be measured against its
//! peers under the same load.
//!
//! Each rival is a binary, `echo_<peer>` and `http_<peer>`, with iofd's
//! options (`--addr ADDR`, `--threads N`, and for echo `--idle-ms MS`) and
//! its start line (`listening on ADDR`). What they all share lives here,
//! so that the rivals differ only in how they do I/O:
//!
//! - [`args`]: the command line, parsed as iofd's examples parse it;
//! - [`server`]: one `SO_REUSEPORT` listener per thread, the start line,
//!   and the exit on SIGINT or SIGTERM;
//! - [`http`]: the HTTP parser and responses, iofd's byte for byte;
//! - [`idle`]: the echo servers' idle timeout, for the async runtimes;
//! - [`raw`]: the event loop of the raw io-uring servers.
//!
//! Unlike iofd's examples, the rivals stop by exiting: on SIGINT or
//! SIGTERM the process exits 0 at once and the kernel closes its sockets.

pub mod args;
pub mod http;
pub mod idle;
pub mod raw;
pub mod server;

/// The size of one read: of each async server's read buffer, and of each
/// provided buffer of the raw servers (iofd's examples read 4 KiB at a
/// time too).
pub const READ_LEN: usize = 4096;

/// Submission-queue entries of every io_uring server's ring (iofd's,
/// raw, monoio, tokio-uring).
pub const RING_ENTRIES: u32 = 256;

/// Completion-queue entries of every io_uring server's ring: room for a
/// completion from each of a thousand connections' recv and send at once,
/// so that a run with 1,000 connections does not live in the kernel's
/// overflow list (whose flushes made those runs swing by 40%).
pub const CQ_ENTRIES: u32 = 4096;

/// Received bytes an echo connection may hold unsent before it stops
/// reading (iofd's `MAX_PENDING`).
pub const ECHO_MAX_PENDING: usize = 1 << 20;

/// Response bytes an HTTP connection may hold unsent before it stops
/// reading (iofd's `MAX_OUT`).
pub const HTTP_MAX_OUT: usize = 256 << 10;
