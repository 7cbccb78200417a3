//! The README's example: an `Fd` over a pipe, closed from a shared reference.

use std::os::fd::OwnedFd;

use iofd::{Error, Fd};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (r, w) = std::io::pipe()?;
    let (reader, writer) = (Fd::from(OwnedFd::from(r)), Fd::from(OwnedFd::from(w)));

    writer.write(b"hello, kernel")?;
    let mut buf = [0u8; 32];
    let n = reader.read(&mut buf)?;
    println!("read {n} bytes: {:?}", std::str::from_utf8(&buf[..n])?);

    // Close through `&self`: atomic, idempotent, and any later operation is
    // `Error::Closed`, decided before a syscall could touch a reused number.
    writer.close()?;
    writer.close()?;
    assert_eq!(writer.write(b"late"), Err(Error::Closed));
    assert_eq!(reader.read(&mut buf)?, 0); // the pipe saw its writer go
    println!("writer closed; reader at end of file");
    Ok(())
}
