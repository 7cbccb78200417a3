//! `sys::pipe`: pipe2, splice, tee, vmsplice against real pipes and files.

use std::fs::{File, OpenOptions};
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use iofd::sys::Errno;
use iofd::sys::file::{FdFlags, StatusFlags, fcntl_getfd, fcntl_getfl};
use iofd::sys::io::{read, write};
use iofd::sys::pipe::{PipeFlags, SpliceFlags, pipe2, splice, tee, vmsplice, vmsplice_read};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A temporary file removed on drop, under a name no other test uses.
struct TempFile {
    path: PathBuf,
    file: File,
}

impl TempFile {
    fn new(contents: &[u8]) -> std::io::Result<TempFile> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("iofd-sys-pipe-{}-{n}", std::process::id()));
        std::fs::write(&path, contents)?;
        let file = OpenOptions::new().read(true).write(true).open(&path)?;
        Ok(TempFile { path, file })
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Reads everything currently in a non-blocking pipe.
fn drain(fd: BorrowedFd<'_>) -> Result<Vec<u8>, Errno> {
    let mut out = Vec::new();
    let mut buf = [0u8; 256];
    loop {
        match read(fd, &mut buf) {
            Ok(0) | Err(Errno::EAGAIN) => return Ok(out),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => return Err(e),
        }
    }
}

#[test]
fn pipe2_round_trip_and_flags() -> TestResult {
    let (r, w) = pipe2(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK)?;
    assert_eq!(write(w.as_fd(), b"ping")?, 4);
    let mut buf = [0u8; 8];
    assert_eq!(read(r.as_fd(), &mut buf)?, 4);
    assert_eq!(&buf[..4], b"ping");
    assert_eq!(read(r.as_fd(), &mut buf), Err(Errno::EAGAIN));
    for fd in [r.as_fd(), w.as_fd()] {
        assert!(fcntl_getfl(fd)?.contains(StatusFlags::NONBLOCK));
        assert!(fcntl_getfd(fd)?.contains(FdFlags::CLOEXEC));
    }
    assert!(fcntl_getfl(w.as_fd())?.contains(StatusFlags::WRONLY));
    Ok(())
}

#[test]
fn pipe2_without_flags_blocks_and_keeps_exec() -> TestResult {
    let (r, w) = pipe2(PipeFlags::empty())?;
    assert!(!fcntl_getfl(r.as_fd())?.contains(StatusFlags::NONBLOCK));
    assert!(!fcntl_getfd(w.as_fd())?.contains(FdFlags::CLOEXEC));
    Ok(())
}

#[test]
fn pipe2_direct_keeps_packets() -> TestResult {
    let (r, w) = pipe2(PipeFlags::DIRECT | PipeFlags::NONBLOCK | PipeFlags::CLOEXEC)?;
    write(w.as_fd(), b"one")?;
    write(w.as_fd(), b"two")?;
    let mut buf = [0u8; 16];
    assert_eq!(read(r.as_fd(), &mut buf)?, 3);
    assert_eq!(&buf[..3], b"one");
    Ok(())
}

#[test]
fn pipe2_rejects_unknown_flags() {
    // O_WRONLY is not a pipe2 flag.
    let err = pipe2(PipeFlags::from_bits_retain(0o1)).unwrap_err();
    assert_eq!(err, Errno::EINVAL);
}

#[test]
fn splice_pipe_to_pipe() -> TestResult {
    let (r1, w1) = pipe2(PipeFlags::NONBLOCK | PipeFlags::CLOEXEC)?;
    let (r2, w2) = pipe2(PipeFlags::NONBLOCK | PipeFlags::CLOEXEC)?;
    write(w1.as_fd(), b"through")?;
    let n = splice(
        r1.as_fd(),
        None,
        w2.as_fd(),
        None,
        64,
        SpliceFlags::NONBLOCK,
    )?;
    assert_eq!(n, 7);
    assert_eq!(drain(r2.as_fd())?, b"through");
    assert_eq!(drain(r1.as_fd())?, b"");
    // Nothing left to move from an empty pipe that still has a writer.
    let err = splice(
        r1.as_fd(),
        None,
        w2.as_fd(),
        None,
        64,
        SpliceFlags::NONBLOCK,
    );
    assert_eq!(err, Err(Errno::EAGAIN));
    Ok(())
}

#[test]
fn splice_file_offsets_in_and_out() -> TestResult {
    let tmp = TempFile::new(b"hello world")?;
    let (r, w) = pipe2(PipeFlags::NONBLOCK | PipeFlags::CLOEXEC)?;

    // File -> pipe at offset 6: the offset advances, the file position does not.
    let mut off_in = 6u64;
    let n = splice(
        tmp.file.as_fd(),
        Some(&mut off_in),
        w.as_fd(),
        None,
        5,
        SpliceFlags::empty(),
    )?;
    assert_eq!(n, 5);
    assert_eq!(off_in, 11);

    // Pipe -> file at offset 12.
    let mut off_out = 12u64;
    let n = splice(
        r.as_fd(),
        None,
        tmp.file.as_fd(),
        Some(&mut off_out),
        5,
        SpliceFlags::MORE,
    )?;
    assert_eq!(n, 5);
    assert_eq!(off_out, 17);
    assert_eq!(std::fs::read(&tmp.path)?, b"hello world\0world");

    // With no offset the file position is used: still 0, so "hello".
    let n = splice(
        tmp.file.as_fd(),
        None,
        w.as_fd(),
        None,
        5,
        SpliceFlags::empty(),
    )?;
    assert_eq!(n, 5);
    assert_eq!(drain(r.as_fd())?, b"hello");
    Ok(())
}

#[test]
fn splice_between_two_non_pipes_is_einval() -> TestResult {
    let a = TempFile::new(b"abc")?;
    let b = TempFile::new(b"")?;
    let err = splice(
        a.file.as_fd(),
        None,
        b.file.as_fd(),
        None,
        3,
        SpliceFlags::empty(),
    );
    assert_eq!(err, Err(Errno::EINVAL));
    Ok(())
}

#[test]
fn splice_offset_on_a_pipe_is_espipe() -> TestResult {
    let tmp = TempFile::new(b"abc")?;
    let (r, w) = pipe2(PipeFlags::NONBLOCK | PipeFlags::CLOEXEC)?;
    write(w.as_fd(), b"x")?;
    let mut off = 0u64;
    let err = splice(
        r.as_fd(),
        Some(&mut off),
        tmp.file.as_fd(),
        None,
        1,
        SpliceFlags::empty(),
    );
    assert_eq!(err, Err(Errno::ESPIPE));
    Ok(())
}

#[test]
fn splice_unknown_flag_is_einval() -> TestResult {
    let (r1, _w1) = pipe2(PipeFlags::NONBLOCK | PipeFlags::CLOEXEC)?;
    let (_r2, w2) = pipe2(PipeFlags::NONBLOCK | PipeFlags::CLOEXEC)?;
    let bad = SpliceFlags::from_bits_retain(0x100);
    assert_eq!(
        splice(r1.as_fd(), None, w2.as_fd(), None, 1, bad),
        Err(Errno::EINVAL)
    );
    Ok(())
}

#[test]
fn tee_duplicates_without_consuming() -> TestResult {
    let (r1, w1) = pipe2(PipeFlags::NONBLOCK | PipeFlags::CLOEXEC)?;
    let (r2, w2) = pipe2(PipeFlags::NONBLOCK | PipeFlags::CLOEXEC)?;
    write(w1.as_fd(), b"twice")?;
    assert_eq!(tee(r1.as_fd(), w2.as_fd(), 64, SpliceFlags::NONBLOCK)?, 5);
    assert_eq!(drain(r1.as_fd())?, b"twice");
    assert_eq!(drain(r2.as_fd())?, b"twice");
    Ok(())
}

#[test]
fn tee_on_a_non_pipe_is_einval() -> TestResult {
    let tmp = TempFile::new(b"abc")?;
    let (r, w) = pipe2(PipeFlags::NONBLOCK | PipeFlags::CLOEXEC)?;
    write(w.as_fd(), b"x")?;
    assert_eq!(
        tee(r.as_fd(), tmp.file.as_fd(), 1, SpliceFlags::empty()),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        tee(tmp.file.as_fd(), w.as_fd(), 1, SpliceFlags::empty()),
        Err(Errno::EINVAL)
    );
    Ok(())
}

#[test]
fn vmsplice_round_trip() -> TestResult {
    let (r, w) = pipe2(PipeFlags::NONBLOCK | PipeFlags::CLOEXEC)?;
    let a = b"gather".to_vec();
    let b = b"ed".to_vec();
    let n = vmsplice(
        w.as_fd(),
        &[IoSlice::new(&a), IoSlice::new(&b)],
        SpliceFlags::NONBLOCK,
    )?;
    assert_eq!(n, 8);
    assert_eq!(drain(r.as_fd())?, b"gathered");
    assert_eq!(vmsplice(w.as_fd(), &[], SpliceFlags::empty())?, 0);
    Ok(())
}

#[test]
fn vmsplice_on_a_non_pipe_is_ebadf() -> TestResult {
    let null = OpenOptions::new().write(true).open("/dev/null")?;
    let err = vmsplice(null.as_fd(), &[IoSlice::new(b"x")], SpliceFlags::empty());
    assert_eq!(err, Err(Errno::EBADF));
    Ok(())
}

#[test]
fn vmsplice_refuses_a_read_end_and_gift() -> TestResult {
    let (r, w) = pipe2(PipeFlags::NONBLOCK | PipeFlags::CLOEXEC)?;
    // On a read end the kernel would write into the shared buffer: refused.
    let err = vmsplice(r.as_fd(), &[IoSlice::new(b"x")], SpliceFlags::empty());
    assert_eq!(err, Err(Errno::EBADF));
    let err = vmsplice(w.as_fd(), &[IoSlice::new(b"x")], SpliceFlags::GIFT);
    assert_eq!(err, Err(Errno::EINVAL));
    assert_eq!(drain(r.as_fd())?, b"");
    Ok(())
}

#[test]
fn vmsplice_full_pipe_is_eagain() -> TestResult {
    let (_r, w) = pipe2(PipeFlags::NONBLOCK | PipeFlags::CLOEXEC)?;
    let chunk = vec![7u8; 4096];
    let err = loop {
        match vmsplice(w.as_fd(), &[IoSlice::new(&chunk)], SpliceFlags::NONBLOCK) {
            Ok(_) => continue,
            Err(e) => break e,
        }
    };
    assert_eq!(err, Errno::EAGAIN);
    Ok(())
}

#[test]
fn vmsplice_read_copies_out_of_a_pipe() -> TestResult {
    let (r, w) = pipe2(PipeFlags::NONBLOCK | PipeFlags::CLOEXEC)?;
    write(w.as_fd(), b"scattered")?;
    let (mut a, mut b) = ([0u8; 4], [0u8; 16]);
    let mut bufs = [IoSliceMut::new(&mut a), IoSliceMut::new(&mut b)];
    assert_eq!(
        vmsplice_read(r.as_fd(), &mut bufs, SpliceFlags::NONBLOCK)?,
        9
    );
    assert_eq!(&a, b"scat");
    assert_eq!(&b[..5], b"tered");
    let mut bufs = [IoSliceMut::new(&mut a)];
    let err = vmsplice_read(r.as_fd(), &mut bufs, SpliceFlags::NONBLOCK);
    assert_eq!(err, Err(Errno::EAGAIN));
    Ok(())
}

#[test]
fn vmsplice_read_refuses_a_write_end() -> TestResult {
    let (_r, w) = pipe2(PipeFlags::NONBLOCK | PipeFlags::CLOEXEC)?;
    let mut a = [0u8; 4];
    let err = vmsplice_read(
        w.as_fd(),
        &mut [IoSliceMut::new(&mut a)],
        SpliceFlags::empty(),
    );
    assert_eq!(err, Err(Errno::EBADF));
    Ok(())
}

#[test]
fn vmsplice_gift_hands_whole_pages_to_the_pipe() -> TestResult {
    use iofd::sys::mem::{MapFlags, Prot, mmap, munmap};
    use iofd::sys::pipe::vmsplice_gift;
    const PAGE: usize = 4096;
    let (r, w) = pipe2(PipeFlags::CLOEXEC)?;
    // SAFETY: a fresh private anonymous page (not FIXED, so nothing is
    // replaced), written once through a raw pointer before it is gifted.
    let page = unsafe {
        let p = mmap(
            std::ptr::null_mut(),
            PAGE,
            Prot::READ | Prot::WRITE,
            MapFlags::PRIVATE | MapFlags::ANONYMOUS,
            None,
            0,
        )?;
        p.as_ptr().cast::<u8>().write_bytes(b'g', PAGE);
        p
    };
    // SAFETY: a whole, page-aligned page; `w` is a write end; the page is
    // never written again and is unmapped below without being touched.
    let n = unsafe {
        let slice = std::slice::from_raw_parts(page.as_ptr().cast::<u8>(), PAGE);
        vmsplice_gift(w.as_fd(), &[IoSlice::new(slice)], SpliceFlags::empty())?
    };
    // SAFETY: the mapping is owned here and no reference into it remains.
    unsafe { munmap(page.as_ptr(), PAGE) }?;
    assert_eq!(n, PAGE);
    drop(w);
    let got = drain(r.as_fd())?;
    assert_eq!(got.len(), PAGE);
    assert!(got.iter().all(|&b| b == b'g'));
    Ok(())
}
