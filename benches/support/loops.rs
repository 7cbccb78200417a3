//! The server-shaped loops of `ring_loop` and `loop_ab`, on each side:
//! N owners with one operation each in flight, every completion dispatched
//! to its owner, which takes its result and pushes its next operation.
//!
//! - iofd's loop (`iofd`, [`SlotlessLoop`]) is the one its docs give for
//!   NOPs and counter reads: each operation is pushed with
//!   [`Ring::push_slotless`] under its owner's index, and its result comes
//!   out of [`Ring::next_completion`] with that index (a NOP takes no
//!   slot; a read is lent one for its flight). No token, no take.
//! - iofd's tokened loop (`iofd_tokened`, [`TokenedLoop`]) is the general
//!   path every operation has: [`Ring::push_tagged`] returns a token, the
//!   completion names the owner, and the owner takes its result with the
//!   token.
//! - The raw side (`raw_slab`) is the io-uring crate with a `slab::Slab`
//!   of owners keyed by `user_data`, walking the completion queue and
//!   pushing into the submission queue split from it.
//!
//! Reads are of a semaphore eventfd loaded with 2^32 - 1 units (each
//! completes at once with 1), all sides by fixed file with a registered
//! ring fd.

use std::hint::black_box;
use std::os::fd::{AsFd, AsRawFd};

use io_uring::{IoUring, opcode, squeue, types};
use iofd::EventFd;
use iofd::ring::ops::{Nop, ReadCounter};
use iofd::ring::{Fixed, Op, Ring, Slotless, Token};
use slab::Slab;

/// What the owners issue.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// A NOP.
    Nop,
    /// An 8-byte read of a ready eventfd.
    Read,
}

/// An owner in the raw loop: what it read last.
struct RawOwner {
    value: u64,
}

/// The raw crate's loop: `n` owners in a slab, one operation each.
pub struct RawLoop {
    n: usize,
    kind: Kind,
    submitter: io_uring::Submitter<'static>,
    sq: io_uring::SubmissionQueue<'static>,
    cq: io_uring::CompletionQueue<'static>,
    owners: Slab<RawOwner>,
    _efd: EventFd,
}

impl RawLoop {
    /// `n` owners with their first operations queued. The ring is leaked:
    /// the queues borrow it for the loop's life.
    pub fn new(n: usize, kind: Kind) -> RawLoop {
        let efd = EventFd::new_semaphore(u32::MAX).expect("eventfd");
        let raw: &'static mut IoUring = Box::leak(Box::new(IoUring::new(256).expect("io_uring")));
        raw.submitter()
            .register_files(&[efd.as_raw_fd()])
            .expect("files");
        let (mut submitter, sq, cq) = raw.split();
        submitter.register_ring_fd().expect("register ring fd");
        let mut l = RawLoop {
            n,
            kind,
            submitter,
            sq,
            cq,
            owners: Slab::with_capacity(n),
            _efd: efd,
        };
        for _ in 0..n {
            let key = l.owners.insert(RawOwner { value: 0 });
            let e = l.entry(key);
            // SAFETY: the owner's `value` lives in the slab, which is not
            // resized (capacity `n`) and outlives every read.
            unsafe { l.sq.push(&e) }.expect("room");
        }
        l.sq.sync();
        l
    }

    fn entry(&mut self, key: usize) -> squeue::Entry {
        match self.kind {
            Kind::Nop => opcode::Nop::new().build().user_data(key as u64),
            Kind::Read => {
                let buf = (&mut self.owners[key].value as *mut u64).cast();
                opcode::Read::new(types::Fixed(0), buf, 8)
                    .offset(u64::MAX)
                    .build()
                    .user_data(key as u64)
            }
        }
    }

    /// One round: submit, wait for the `n` completions, dispatch each.
    #[inline(never)]
    pub fn round(&mut self) {
        self.submitter.submit_and_wait(self.n).expect("submit");
        self.cq.sync();
        let mut done = 0;
        while let Some(cqe) = self.cq.next() {
            let key = cqe.user_data() as usize;
            black_box(self.owners[key].value);
            assert!(cqe.result() >= 0);
            let e = self.entry(key);
            // SAFETY: as in `new`.
            unsafe { self.sq.push(&e) }.expect("room");
            done += 1;
        }
        assert_eq!(done, self.n);
        self.sq.sync();
    }

    /// Lets the last round's operations finish.
    pub fn finish(mut self) {
        self.submitter.submit_and_wait(self.n).expect("submit");
        self.submitter.unregister_ring_fd().expect("unregister");
    }
}

/// iofd's ring for a loop: room for a round and its successors, the ring
/// fd registered, and `efd` as fixed file 0 (as the raw loop has them).
fn iofd_ring(efd: &EventFd) -> Ring {
    let mut ring = Ring::builder(256)
        .register_ring_fd(true)
        .build()
        .expect("ring");
    ring.register_files(&[efd.as_fd()]).expect("files");
    ring
}

/// A semaphore eventfd loaded with 2^32 - 1 units, and reads of it as
/// fixed file 0: each completes at once with 1.
fn ready_reads() -> (EventFd, impl Fn() -> ReadCounter<Fixed<EventFd>>) {
    let efd = EventFd::new_semaphore(u32::MAX).expect("eventfd");
    let fixed = Fixed::<EventFd>::new(0);
    (efd, move || fixed.read_op())
}

/// iofd's tokened loop: `n` owners, each with one operation from `make`
/// in flight and its token.
pub struct TokenedLoop<O: Op, F> {
    ring: Ring,
    owners: Vec<Option<Token<O>>>,
    make: F,
    _efd: EventFd,
}

/// A tokened loop of NOPs.
pub fn tokened_nops(n: usize) -> TokenedLoop<Nop, impl Fn() -> Nop> {
    TokenedLoop::new(n, EventFd::new(0).expect("eventfd"), Nop::new)
}

/// A tokened loop of ready reads of a registered eventfd.
pub fn tokened_reads(
    n: usize,
) -> TokenedLoop<ReadCounter<Fixed<EventFd>>, impl Fn() -> ReadCounter<Fixed<EventFd>>> {
    let (efd, make) = ready_reads();
    TokenedLoop::new(n, efd, make)
}

impl<O: Op + 'static, F: Fn() -> O> TokenedLoop<O, F>
where
    O::Storage: Sized,
{
    fn new(n: usize, efd: EventFd, make: F) -> TokenedLoop<O, F> {
        let mut ring = iofd_ring(&efd);
        let owners = (0..n)
            .map(|i| Some(ring.push_tagged(make(), i as u64).expect("push")))
            .collect();
        TokenedLoop {
            ring,
            owners,
            make,
            _efd: efd,
        }
    }

    /// One round: submit, wait for the `n` completions, dispatch each.
    #[inline(never)]
    pub fn round(&mut self) {
        let n = self.owners.len();
        self.ring.submit_and_wait(n).expect("submit");
        let mut done = 0;
        while let Some(c) = self.ring.next_completion() {
            let owner = &mut self.owners[c.tag as usize];
            if let Some(mut t) = owner.take() {
                black_box(self.ring.take(&mut t).expect("a result").expect("op"));
            }
            *owner = Some(self.ring.push_tagged((self.make)(), c.tag).expect("push"));
            done += 1;
        }
        assert_eq!(done, n);
    }

    /// Lets the last round's operations finish.
    pub fn finish(mut self) {
        let n = self.owners.len();
        self.ring.submit_and_wait(n).expect("submit");
    }
}

/// iofd's loop of slotless operations ([`Ring::push_slotless`]): each
/// owner's operation carries its tag and no token, and its result comes
/// with its completion ([`Completion::output`](iofd::ring::Completion::output)).
/// A NOP takes no slot; a read is lent one for its flight.
pub struct SlotlessLoop<O, F> {
    ring: Ring,
    /// What each owner saw last.
    owners: Vec<u64>,
    make: F,
    _efd: EventFd,
    _op: std::marker::PhantomData<O>,
}

/// A slotless loop of NOPs.
pub fn slotless_nops(n: usize) -> SlotlessLoop<Nop, impl Fn() -> Nop> {
    SlotlessLoop::new(n, EventFd::new(0).expect("eventfd"), Nop::new)
}

/// A slotless loop of ready reads of a registered eventfd.
pub fn slotless_reads(
    n: usize,
) -> SlotlessLoop<ReadCounter<Fixed<EventFd>>, impl Fn() -> ReadCounter<Fixed<EventFd>>> {
    let (efd, make) = ready_reads();
    SlotlessLoop::new(n, efd, make)
}

impl<O: Slotless<Output: SlotlessOutput>, F: Fn() -> O> SlotlessLoop<O, F> {
    /// `n` owners with their first operations queued.
    fn new(n: usize, efd: EventFd, make: F) -> SlotlessLoop<O, F> {
        let mut ring = iofd_ring(&efd);
        for tag in 0..n as u64 {
            ring.push_slotless(make(), tag).expect("push");
        }
        SlotlessLoop {
            ring,
            owners: vec![0; n],
            make,
            _efd: efd,
            _op: std::marker::PhantomData,
        }
    }

    /// One round: submit, wait for the `n` completions, dispatch each.
    #[inline(never)]
    pub fn round(&mut self) {
        let n = self.owners.len();
        self.ring.submit_and_wait(n).expect("submit");
        let mut done = 0;
        while let Some(c) = self.ring.next_completion() {
            let out = c.output::<O>().expect("a slotless result").expect("op");
            self.owners[c.tag as usize] = black_box(out.value());
            self.ring.push_slotless((self.make)(), c.tag).expect("push");
            done += 1;
        }
        assert_eq!(done, n);
    }

    /// Lets the last round's operations finish.
    pub fn finish(mut self) {
        let n = self.owners.len();
        self.ring.submit_and_wait(n).expect("submit");
    }
}

/// A slotless result an owner keeps: a NOP's `()`, a read's counter.
pub trait SlotlessOutput {
    /// The value kept.
    fn value(self) -> u64;
}

impl SlotlessOutput for () {
    fn value(self) -> u64 {
        0
    }
}

impl SlotlessOutput for u64 {
    fn value(self) -> u64 {
        self
    }
}
