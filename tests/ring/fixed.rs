//! Registered buffers: checked out of their pool, moved through fixed
//! reads and writes and handed back, kept to the ring that registered
//! them.

use std::sync::Arc;

use iofd::ring::Ring;
use iofd::sys::Errno;
use iofd::{Error, MemFd, UnixStream};

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[test]
fn fixed_writes_and_reads_round_trip_through_a_file() -> TestResult {
    let mut ring = Ring::new(8)?;
    let bufs = ring.register_buffers(2, 8192)?;
    assert_eq!(
        (bufs.count(), bufs.buf_len(), bufs.available()),
        (2, 8192, 2)
    );
    let mem = Arc::new(MemFd::new("fixed")?);
    let mut buf = bufs.take().expect("free");
    let data: Vec<u8> = (0..8192).map(|i| (i % 253) as u8).collect();
    buf.fill_from(&data)?;
    let (n, buf) = ring.run(mem.write_fixed_op_shared(4096, buf))?;
    assert_eq!(n?, 8192);
    assert_eq!(bufs.available(), 1);
    drop(buf);
    assert_eq!(bufs.available(), 2, "a dropped buffer goes back");
    let (n, back) = ring.run(mem.read_fixed_op_shared(4096, bufs.take().expect("free")))?;
    assert_eq!(n?, 8192);
    assert_eq!(&back[..], &data[..]);
    Ok(())
}

#[test]
fn fixed_buffers_over_a_stream() -> TestResult {
    let mut ring = Ring::new(8)?;
    let bufs = ring.register_buffers(2, 64)?;
    let (a, b) = UnixStream::pair()?;
    let (a, b) = (Arc::new(a), Arc::new(b));
    let recv = ring.push(b.read_fixed_op_shared(bufs.take().expect("free")))?;
    let mut out = bufs.take().expect("free");
    out.fill_from(b"fixed over a socket")?;
    let (n, _) = ring.run(a.write_fixed_op_shared(out))?;
    assert_eq!(n?, 19);
    let (n, got) = ring.wait(recv)?;
    assert_eq!(&got[..n?], b"fixed over a socket");
    Ok(())
}

#[test]
fn a_buffer_of_another_ring_is_refused() -> TestResult {
    let mut a = Ring::new(4)?;
    let mut b = Ring::new(4)?;
    let bufs = a.register_buffers(1, 64)?;
    b.register_buffers(1, 64)?;
    let mem = Arc::new(MemFd::new("other")?);
    let r = b.push(mem.read_fixed_op_shared(0, bufs.take().expect("free")));
    assert_eq!(
        r.err(),
        Some(Error::InvalidParam(
            "the operation's registered resources belong to another ring"
        ))
    );
    assert_eq!(
        bufs.available(),
        1,
        "the refused operation gave its buffer back"
    );
    assert_eq!(b.in_flight(), 0);
    Ok(())
}

#[test]
fn registration_errors() -> TestResult {
    let mut ring = Ring::new(4)?;
    assert_eq!(
        ring.register_buffers(0, 64).err(),
        Some(Error::InvalidParam(
            "registered buffers need a count and a length"
        ))
    );
    let bufs = ring.register_buffers(1, 64)?;
    assert_eq!(
        ring.register_buffers(1, 64).err(),
        Some(Error::Os(Errno::EBUSY))
    );
    let held = bufs.take().expect("free");
    assert!(bufs.take().is_none(), "all checked out");
    let mut held = held;
    assert_eq!(
        held.fill_from(&[0; 65]).err(),
        Some(Error::InvalidParam("a length past the buffer's capacity"))
    );
    assert_eq!(
        held.set_len(65).err(),
        Some(Error::InvalidParam("a length past the buffer's capacity"))
    );
    Ok(())
}

#[test]
fn a_dropped_token_gives_its_buffer_back_when_the_read_ends() -> TestResult {
    let mut ring = Ring::new(4)?;
    let bufs = ring.register_buffers(1, 64)?;
    let (a, b) = UnixStream::pair()?;
    let t = ring.push(Arc::new(b).read_fixed_op_shared(bufs.take().expect("free")))?;
    ring.submit()?;
    drop(t);
    assert_eq!(bufs.available(), 0, "the read in flight owns it");
    a.write(b"x")?;
    for _ in 0..200 {
        ring.submit_and_wait(0)?;
        if bufs.available() == 1 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert_eq!(bufs.available(), 1);
    Ok(())
}
