//! Starting and reaping a child, `/bin/true`: std's `Command::spawn` +
//! `Child::wait` (which uses `posix_spawn`, a `vfork`-style clone, when no
//! `pre_exec` hook is set), the same plus `PidFd::open` (a pidfd after the
//! fact, with the inherited signal mask), and `PidFd::spawn` + a ring wait
//! by pidfd (a `pre_exec` hook resetting 62 dispositions and the mask,
//! which makes std fork instead). The gap is the price of the clean
//! signal state.
//!
//! Run: `cargo bench --bench spawn`.

use std::process::Command;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use iofd::PidFd;
use iofd::ring::Ring;

fn spawn_and_reap(c: &mut Criterion) {
    let mut g = c.benchmark_group("spawn_true");
    g.bench_function("std_spawn_wait", |b| {
        b.iter(|| {
            let status = Command::new("/bin/true")
                .spawn()
                .expect("spawn")
                .wait()
                .expect("wait");
            assert!(status.success());
        });
    });
    g.bench_function("std_spawn_pidfd_open_wait", |b| {
        b.iter(|| {
            let mut child = Command::new("/bin/true").spawn().expect("spawn");
            let pidfd = PidFd::open(child.id()).expect("pidfd");
            assert!(child.wait().expect("wait").success());
            drop(pidfd);
        });
    });
    let mut ring = Ring::new(8).expect("ring");
    g.bench_function("iofd_spawn_ring_wait", |b| {
        b.iter(|| {
            let (_child, pidfd) = PidFd::spawn(&mut Command::new("/bin/true")).expect("spawn");
            let status = ring.run(Arc::new(pidfd).wait_op_shared()).expect("wait");
            assert!(status.success());
        });
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = spawn_and_reap
}
criterion_main!(benches);
