//! `sys::uring`: the raw io_uring syscalls, driving a ring mapped by hand.

use std::ffi::c_void;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use iofd::sys::Errno;
use iofd::sys::event::{EventFdFlags, eventfd_read, eventfd2};
use iofd::sys::mem::{MapFlags, Prot, mmap, munmap};
use iofd::sys::uring::{
    EnterFlags, Features, IORING_OFF_CQ_RING, IORING_OFF_SQ_RING, IORING_OFF_SQES, IoUringParams,
    IoUringProbe, SetupFlags, io_uring_enter, io_uring_register, io_uring_register_probe,
    io_uring_register_ring_fd, io_uring_setup, io_uring_unregister_ring_fd,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const IORING_OP_NOP: u8 = 0;
const IORING_OP_READ: u8 = 22;
const IORING_REGISTER_EVENTFD: u32 = 4;
const IORING_UNREGISTER_EVENTFD: u32 = 5;

/// Whether this kernel lets us make rings; prints why not when it does not.
fn io_uring_available() -> bool {
    match io_uring_setup(1, &mut IoUringParams::default()) {
        Ok(_) => true,
        Err(e @ (Errno::ENOSYS | Errno::EPERM)) => {
            eprintln!("skipped: io_uring unavailable here ({e})");
            false
        }
        Err(e) => panic!("io_uring_setup(1): {e}"),
    }
}

/// A descriptor number this process never opens.
fn never_open() -> BorrowedFd<'static> {
    // SAFETY: the wrappers only hand the number to the kernel, which reports
    // EBADF; nothing is ever read through or closed via it.
    unsafe { BorrowedFd::borrow_raw(900_000) }
}

/// `struct io_uring_sqe`, as far as a NOP needs it.
#[repr(C)]
#[derive(Default)]
struct Sqe {
    opcode: u8,
    flags: u8,
    ioprio: u16,
    fd: i32,
    off: u64,
    addr: u64,
    len: u32,
    op_flags: u32,
    user_data: u64,
    buf_index: u16,
    personality: u16,
    splice_fd_in: i32,
    addr3: u64,
    pad: u64,
}

/// `struct io_uring_cqe` without the CQE32 tail.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
struct Cqe {
    user_data: u64,
    res: i32,
    flags: u32,
}

/// One `mmap` of a ring region, unmapped on drop.
struct Mapping {
    ptr: NonNull<c_void>,
    len: usize,
}

impl Mapping {
    fn new(ring: BorrowedFd<'_>, len: usize, offset: u64) -> Result<Mapping, Errno> {
        // SAFETY: not FIXED, so nothing is replaced; the ring memory is only
        // reached through raw pointers and atomics.
        let ptr = unsafe {
            mmap(
                ptr::null_mut(),
                len,
                Prot::READ | Prot::WRITE,
                MapFlags::SHARED | MapFlags::POPULATE,
                Some(ring),
                offset,
            )
        }?;
        Ok(Mapping { ptr, len })
    }

    /// A pointer to a `T` at byte `offset`, checked to lie in the mapping.
    fn at<T>(&self, offset: u32) -> *mut T {
        let offset = offset as usize;
        assert!(
            offset + size_of::<T>() <= self.len,
            "{offset} past {}",
            self.len
        );
        // SAFETY: in bounds, checked above.
        unsafe { self.ptr.as_ptr().cast::<u8>().add(offset).cast() }
    }

    /// The ring index (`head`/`tail`) at byte `offset`, shared with the
    /// kernel.
    fn atomic(&self, offset: u32) -> &AtomicU32 {
        let p = self.at::<u32>(offset);
        assert!(p.is_aligned());
        // SAFETY: in bounds and aligned; the kernel only accesses it
        // atomically, and it lives as long as `self`.
        unsafe { AtomicU32::from_ptr(p) }
    }

    /// A `u32` the kernel set at setup and never changes (mask, entries).
    fn constant(&self, offset: u32) -> u32 {
        // SAFETY: in bounds (checked in `at`), aligned, initialised by the
        // kernel before setup returned.
        unsafe { self.at::<u32>(offset).read() }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: this struct owns the mapping, and every reference into it
        // borrows `self`.
        let r = unsafe { munmap(self.ptr.as_ptr(), self.len) };
        assert_eq!(r, Ok(()));
    }
}

/// A ring mapped by hand: SQ ring, CQ ring (unless `SINGLE_MMAP` shares
/// the SQ mapping) and SQE array.
struct Ring {
    sq: Mapping,
    cq: Option<Mapping>,
    sqes: Mapping,
    params: IoUringParams,
    fd: OwnedFd,
}

impl Ring {
    fn new(entries: u32) -> Result<Ring, Errno> {
        let mut params = IoUringParams::default();
        let fd = io_uring_setup(entries, &mut params)?;
        let sq_len = (params.sq_off.array + params.sq_entries * 4) as usize;
        let cq_len = (params.cq_off.cqes as usize) + params.cq_entries as usize * size_of::<Cqe>();
        let (sq, cq) = if params.features.contains(Features::SINGLE_MMAP) {
            (
                Mapping::new(fd.as_fd(), sq_len.max(cq_len), IORING_OFF_SQ_RING)?,
                None,
            )
        } else {
            let sq = Mapping::new(fd.as_fd(), sq_len, IORING_OFF_SQ_RING)?;
            (
                sq,
                Some(Mapping::new(fd.as_fd(), cq_len, IORING_OFF_CQ_RING)?),
            )
        };
        let sqes_len = params.sq_entries as usize * size_of::<Sqe>();
        let sqes = Mapping::new(fd.as_fd(), sqes_len, IORING_OFF_SQES)?;
        Ok(Ring {
            sq,
            cq,
            sqes,
            params,
            fd,
        })
    }

    fn cq(&self) -> &Mapping {
        self.cq.as_ref().unwrap_or(&self.sq)
    }

    /// Queues one NOP SQE carrying `user_data`.
    fn push_nop(&self, user_data: u64) {
        let off = &self.params.sq_off;
        let tail = self.sq.atomic(off.tail);
        // We are the only producer: our own last store is the current tail.
        let t = tail.load(Ordering::Relaxed);
        let head = self.sq.atomic(off.head).load(Ordering::Acquire);
        assert!(
            t.wrapping_sub(head) < self.sq.constant(off.ring_entries),
            "SQ full"
        );
        let idx = t & self.sq.constant(off.ring_mask);
        let sqe = Sqe {
            opcode: IORING_OP_NOP,
            user_data,
            ..Sqe::default()
        };
        // SAFETY: `idx` is below sq_entries, so the slot lies in `sqes` (and
        // `at` checks it); the kernel reads it only after the tail store.
        unsafe {
            self.sqes
                .at::<Sqe>(idx * size_of::<Sqe>() as u32)
                .write(sqe)
        };
        // SAFETY: the index array has sq_entries `u32`s (checked in `at`).
        unsafe { self.sq.at::<u32>(off.array + idx * 4).write(idx) };
        // Publish the SQE and its index before the kernel sees the new tail.
        tail.store(t.wrapping_add(1), Ordering::Release);
    }

    /// Takes the next CQE, if the kernel has posted one.
    fn pop_cqe(&self) -> Option<Cqe> {
        let off = &self.params.cq_off;
        let cq = self.cq();
        let head = cq.atomic(off.head);
        let h = head.load(Ordering::Relaxed);
        // Acquire: the CQE contents are visible once the tail shows them.
        if cq.atomic(off.tail).load(Ordering::Acquire) == h {
            return None;
        }
        let idx = h & cq.constant(off.ring_mask);
        // SAFETY: `idx` is below cq_entries, so the CQE lies in the mapping
        // (checked in `at`); the kernel does not rewrite it until we move
        // the head past it.
        let cqe = unsafe {
            cq.at::<Cqe>(off.cqes + idx * size_of::<Cqe>() as u32)
                .read()
        };
        // Release: we are done reading the slot before the kernel may reuse it.
        head.store(h.wrapping_add(1), Ordering::Release);
        Some(cqe)
    }

    /// Submits what is queued and waits for `min_complete` completions.
    fn submit_and_wait(&self, to_submit: u32, min_complete: u32) -> Result<u32, Errno> {
        // SAFETY: only NOPs are ever queued on these rings: they carry no
        // pointers. No extended argument is passed.
        unsafe {
            io_uring_enter(
                self.fd.as_fd(),
                to_submit,
                min_complete,
                EnterFlags::GETEVENTS,
                ptr::null(),
                0,
            )
        }
    }
}

#[test]
fn nop_round_trips_through_hand_mapped_rings() -> TestResult {
    if !io_uring_available() {
        return Ok(());
    }
    let ring = Ring::new(8)?;
    assert_eq!(ring.params.sq_entries, 8);
    assert_eq!(ring.params.cq_entries, 16);
    assert!(ring.pop_cqe().is_none());

    ring.push_nop(0x1234);
    assert_eq!(ring.submit_and_wait(1, 1)?, 1);
    let cqe = ring.pop_cqe().ok_or("no CQE after waiting for one")?;
    assert_eq!(cqe.user_data, 0x1234);
    assert_eq!(cqe.res, 0);
    assert_eq!(cqe.flags, 0);
    assert!(ring.pop_cqe().is_none());

    // The head moved: a second round uses the next slots.
    ring.push_nop(0x5678);
    ring.push_nop(0x9abc);
    assert_eq!(ring.submit_and_wait(2, 2)?, 2);
    let mut seen = [
        ring.pop_cqe().ok_or("missing")?,
        ring.pop_cqe().ok_or("missing")?,
    ]
    .map(|c| (c.user_data, c.res));
    seen.sort_unstable();
    assert_eq!(seen, [(0x5678, 0), (0x9abc, 0)]);
    Ok(())
}

#[test]
fn setup_with_zero_entries_is_einval() {
    if !io_uring_available() {
        return;
    }
    let err = io_uring_setup(0, &mut IoUringParams::default()).unwrap_err();
    assert_eq!(err, Errno::EINVAL);
}

#[test]
fn setup_with_unknown_flags_is_einval() {
    if !io_uring_available() {
        return;
    }
    let mut params = IoUringParams::default();
    params.flags = SetupFlags::from_bits_retain(1 << 31);
    assert_eq!(io_uring_setup(8, &mut params).unwrap_err(), Errno::EINVAL);
}

#[test]
fn setup_refuses_no_mmap() {
    let mut params = IoUringParams::default();
    params.flags = SetupFlags::NO_MMAP;
    assert_eq!(io_uring_setup(8, &mut params).unwrap_err(), Errno::EINVAL);
}

#[test]
fn enter_on_an_eventfd_is_eopnotsupp() -> TestResult {
    let efd = eventfd2(0, EventFdFlags::CLOEXEC)?;
    // SAFETY: nothing is submitted (the fd is no ring) and no argument is
    // passed.
    let r = unsafe { io_uring_enter(efd.as_fd(), 1, 1, EnterFlags::GETEVENTS, ptr::null(), 0) };
    assert_eq!(r, Err(Errno::EOPNOTSUPP));
    // SAFETY: as above.
    let r = unsafe { io_uring_enter(never_open(), 0, 0, EnterFlags::empty(), ptr::null(), 0) };
    assert_eq!(r, Err(Errno::EBADF));
    Ok(())
}

#[test]
fn probe_reports_nop_and_read() -> TestResult {
    if !io_uring_available() {
        return Ok(());
    }
    let ring = io_uring_setup(4, &mut IoUringParams::default())?;
    let mut probe = IoUringProbe::new();
    io_uring_register_probe(ring.as_fd(), &mut probe)?;
    assert!(probe.is_supported(IORING_OP_NOP));
    assert!(probe.is_supported(IORING_OP_READ));
    assert!(probe.last_op() >= IORING_OP_READ);
    assert_eq!(probe.ops().len(), usize::from(probe.last_op()) + 1);
    assert_eq!(probe.ops()[usize::from(IORING_OP_READ)].op, IORING_OP_READ);
    if let Some(past) = probe.last_op().checked_add(1) {
        assert!(!probe.is_supported(past));
    }
    assert!(!probe.is_supported(u8::MAX));

    // A reused probe is zeroed again before the call, as the kernel requires.
    io_uring_register_probe(ring.as_fd(), &mut probe)?;
    assert!(probe.is_supported(IORING_OP_NOP));
    Ok(())
}

#[test]
fn probe_on_an_eventfd_is_eopnotsupp() -> TestResult {
    let efd = eventfd2(0, EventFdFlags::CLOEXEC)?;
    let mut probe = IoUringProbe::new();
    assert_eq!(
        io_uring_register_probe(efd.as_fd(), &mut probe),
        Err(Errno::EOPNOTSUPP)
    );
    assert_eq!(
        io_uring_register_probe(never_open(), &mut probe),
        Err(Errno::EBADF)
    );
    Ok(())
}

#[test]
fn ring_fds_register_per_thread_and_unregister() -> TestResult {
    if !io_uring_available() {
        return Ok(());
    }
    // A fresh thread: its 16 slots are all free.
    std::thread::spawn(|| -> Result<(), Errno> {
        let ring = io_uring_setup(4, &mut IoUringParams::default())?;
        let mut slots = Vec::new();
        for _ in 0..16 {
            slots.push(io_uring_register_ring_fd(ring.as_fd(), ring.as_fd())?);
        }
        slots.sort_unstable();
        assert_eq!(slots, (0..16).collect::<Vec<u32>>());
        assert_eq!(
            io_uring_register_ring_fd(ring.as_fd(), ring.as_fd()),
            Err(Errno::EBUSY)
        );
        // SAFETY: the slots are this test's own; no ring enters through them.
        unsafe { io_uring_unregister_ring_fd(ring.as_fd(), 3) }?;
        assert_eq!(io_uring_register_ring_fd(ring.as_fd(), ring.as_fd())?, 3);
        let efd = eventfd2(0, EventFdFlags::CLOEXEC)?;
        // SAFETY: the slots are this test's own; no ring enters through them.
        unsafe { io_uring_unregister_ring_fd(ring.as_fd(), 3) }?;
        assert_eq!(
            io_uring_register_ring_fd(ring.as_fd(), efd.as_fd()),
            Err(Errno::EOPNOTSUPP),
            "an eventfd is no ring"
        );
        assert_eq!(
            io_uring_register_ring_fd(efd.as_fd(), ring.as_fd()),
            Err(Errno::EOPNOTSUPP)
        );
        assert_eq!(
            // SAFETY: out of range: nothing is unregistered.
            unsafe { io_uring_unregister_ring_fd(ring.as_fd(), 16) },
            Err(Errno::EINVAL)
        );
        Ok(())
    })
    .join()
    .expect("the thread")?;
    Ok(())
}

#[test]
fn register_with_a_bogus_opcode_is_einval() -> TestResult {
    if !io_uring_available() {
        return Ok(());
    }
    let ring = io_uring_setup(4, &mut IoUringParams::default())?;
    // SAFETY: the kernel rejects the opcode before reading `arg`.
    let r = unsafe { io_uring_register(ring.as_fd(), 9999, ptr::null_mut(), 0) };
    assert_eq!(r, Err(Errno::EINVAL));
    Ok(())
}

#[test]
fn registered_eventfd_is_signalled_by_a_completion() -> TestResult {
    if !io_uring_available() {
        return Ok(());
    }
    let ring = Ring::new(4)?;
    let efd = eventfd2(0, EventFdFlags::CLOEXEC | EventFdFlags::NONBLOCK)?;
    let mut raw = efd.as_raw_fd();
    // SAFETY: `raw` is one live `i32` descriptor, read during the call; the
    // kernel takes its own reference to the eventfd, not to `raw`.
    let r = unsafe {
        io_uring_register(
            ring.fd.as_fd(),
            IORING_REGISTER_EVENTFD,
            (&raw mut raw).cast(),
            1,
        )
    };
    assert_eq!(r, Ok(0));

    ring.push_nop(7);
    assert_eq!(ring.submit_and_wait(1, 1)?, 1);
    assert_eq!(ring.pop_cqe().map(|c| c.user_data), Some(7));
    let deadline = Instant::now() + Duration::from_secs(2);
    let count = loop {
        match eventfd_read(efd.as_fd()) {
            Err(Errno::EAGAIN) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(1));
            }
            other => break other?,
        }
    };
    assert_eq!(count, 1);

    // SAFETY: UNREGISTER_EVENTFD takes no argument.
    let r = unsafe {
        io_uring_register(
            ring.fd.as_fd(),
            IORING_UNREGISTER_EVENTFD,
            ptr::null_mut(),
            0,
        )
    };
    assert_eq!(r, Ok(0));
    // Unregistering twice: nothing is registered any more.
    // SAFETY: as above.
    let r = unsafe {
        io_uring_register(
            ring.fd.as_fd(),
            IORING_UNREGISTER_EVENTFD,
            ptr::null_mut(),
            0,
        )
    };
    assert_eq!(r, Err(Errno::ENXIO));
    Ok(())
}

#[test]
fn setup_refuses_registered_fd_only() {
    let mut params = IoUringParams::default();
    params.flags = SetupFlags::REGISTERED_FD_ONLY;
    assert_eq!(io_uring_setup(8, &mut params).unwrap_err(), Errno::EINVAL);
}

#[test]
fn enter_refuses_a_registered_ring_index() -> TestResult {
    let mut params = IoUringParams::default();
    let ring = io_uring_setup(8, &mut params)?;
    // SAFETY: refused before the call; nothing is submitted.
    let r = unsafe {
        io_uring_enter(
            ring.as_fd(),
            0,
            0,
            EnterFlags::REGISTERED_RING,
            ptr::null(),
            0,
        )
    };
    assert_eq!(r, Err(Errno::EINVAL));
    Ok(())
}
