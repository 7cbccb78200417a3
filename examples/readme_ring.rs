//! The README's ring example: three eventfd counters read in one batch,
//! straight into the caller's array.

use iofd::EventFd;
use iofd::ring::Ring;

fn main() -> iofd::Result<()> {
    let mut ring = Ring::new(16)?;
    let efds = [EventFd::new(1)?, EventFd::new(2)?, EventFd::new(3)?];
    let mut values = [0u64; 3];
    ring.scope(|s| {
        for (efd, v) in efds.iter().zip(values.iter_mut()) {
            let _ = s.push_into(efd.read_op(), v)?; // the kernel writes into `values`
        }
        s.submit_and_wait_all() // one io_uring_enter for the batch
    })?;
    assert_eq!(values, [1, 2, 3]);
    println!("read {values:?} through one io_uring_enter");
    Ok(())
}
