//! A floor for the NOP loop of `loop_ab`: the least a table of tagged,
//! generation-checked operations costs beside the raw slab loop, with
//! none of iofd's generality (no multishot, re-arm, scope, side record,
//! growth or error path).
//!
//! It keeps iofd's shape and nothing more: each CQE is recorded in its
//! 56-byte slot when the round's enter returns, with the tag queued on a
//! FIFO of `(user_data, tag)`; each dispatch pops the FIFO and checks the
//! slot's generation and stage; each owner holds a 16-byte token (slot,
//! generation, ring id, taken flag), takes its result through it (the
//! slot goes back on the free list) and pushes its next NOP into a slot
//! from that list. The counts of live and completed slots are kept, as
//! the table keeps them.
//!
//! With [`FloorLoop::keep`], an owner keeps its slot for its whole life,
//! as the raw loop keeps its slab key: the next NOP goes into the same
//! slot under the next generation, with no free and no allocation. That
//! is the structural change the event loop's notes name as the way to
//! the ≤ 1.05× bar; this measures what it could give before anyone
//! builds it.
//!
//! With [`FloorLoop::slotless`], an operation whose whole result is its
//! CQE (a NOP, a poll, a cancel) takes no slot: its `user_data` is its
//! tag with a marker bit, and the reap queues the tag with the result,
//! which the dispatch hands out. No token, no take. This measures an API
//! for such operations before anyone designs one.

use std::hint::black_box;

use io_uring::{IoUring, opcode};

/// Slots in the model's table, as the bench's rings have.
const SLOTS: usize = 256;
/// "No slot".
const NONE: u32 = u32::MAX;

/// A slot's stage.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Life {
    Vacant,
    InFlight,
    Completed,
}

/// A slot laid out as iofd's (56 bytes, inline storage first).
#[derive(Clone, Copy)]
#[repr(C)]
struct Slot {
    storage: [u64; 3],
    tag: u64,
    res: i32,
    flags: u32,
    generation: u32,
    next: u32,
    extra: u32,
    life: Life,
    tagged: bool,
    remake: u16,
}

const _: () = assert!(size_of::<Slot>() == 56);

/// An owner's token, laid out as iofd's `Token` (16 bytes).
#[derive(Clone, Copy)]
struct Token {
    ud: u64,
    ring: u32,
    done: bool,
}

/// The ring id every token of the model carries.
const RING: u32 = 7;
/// Marks a slotless operation's `user_data`.
const SLOTLESS: u64 = 1 << 63;

/// How an owner's operations use the table.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// A slot per operation, freed by the take.
    Free,
    /// One slot per owner for life.
    Keep,
    /// No slot: the result comes with the completion.
    Slotless,
}

/// The model's table: slots, free list, counts and dispatch FIFO.
struct Table {
    slots: Vec<Slot>,
    free: u32,
    live: usize,
    completed: usize,
    fifo: Vec<(u64, u64)>,
    head: usize,
    len: usize,
}

/// The key and generation of a `user_data`.
fn split(ud: u64) -> (usize, u32) {
    ((ud as u32) as usize, (ud >> 32) as u32)
}

impl Table {
    fn new() -> Table {
        let vacant = Slot {
            storage: [0; 3],
            tag: 0,
            res: 0,
            flags: 0,
            generation: 0,
            next: NONE,
            extra: NONE,
            life: Life::Vacant,
            tagged: false,
            remake: 0,
        };
        let mut slots = vec![vacant; SLOTS];
        for (i, s) in slots.iter_mut().enumerate() {
            s.next = if i + 1 < SLOTS { i as u32 + 1 } else { NONE };
        }
        Table {
            slots,
            free: 0,
            live: 0,
            completed: 0,
            fifo: vec![(0, 0); SLOTS],
            head: 0,
            len: 0,
        }
    }

    /// Takes a slot off the free list for an operation tagged `tag`.
    #[inline(always)]
    fn alloc(&mut self, tag: u64) -> u64 {
        let key = self.free;
        let s = &mut self.slots[key as usize];
        self.free = s.next;
        s.generation = (s.generation + 1) & 0x7fff_ffff;
        s.life = Life::InFlight;
        s.tagged = true;
        s.extra = NONE;
        s.tag = tag;
        self.live += 1;
        (u64::from(s.generation) << 32) | u64::from(key)
    }

    /// Records a CQE in its slot, and queues the slot's tag; a slotless
    /// operation's tag is queued with its result in place of the slot.
    #[inline(always)]
    fn complete(&mut self, ud: u64, res: i32, flags: u32) {
        if ud & SLOTLESS != 0 {
            let at = (self.head + self.len) & (self.fifo.len() - 1);
            self.fifo[at] = (SLOTLESS | u64::from(res as u32), ud & !SLOTLESS);
            self.len += 1;
            return;
        }
        let (key, generation) = split(ud);
        let s = &mut self.slots[key];
        assert!(
            s.generation == generation
                && s.life == Life::InFlight
                && s.extra == NONE
                && !io_uring::cqueue::more(flags),
            "the model has no general path"
        );
        s.res = res;
        s.flags = flags;
        s.life = Life::Completed;
        self.completed += 1;
        if s.tagged {
            let at = (self.head + self.len) & (self.fifo.len() - 1);
            self.fifo[at] = (ud, s.tag);
            self.len += 1;
        }
    }

    /// Pops the next tag with a result to take, with a slotless
    /// operation's result.
    #[inline(always)]
    fn next(&mut self) -> Option<(u64, Option<i32>)> {
        while self.len > 0 {
            let (ud, tag) = self.fifo[self.head];
            self.head = (self.head + 1) & (self.fifo.len() - 1);
            self.len -= 1;
            if ud & SLOTLESS != 0 {
                return Some((tag, Some(ud as u32 as i32)));
            }
            let (key, generation) = split(ud);
            let s = &self.slots[key];
            if s.generation == generation && s.life == Life::Completed {
                return Some((tag, None));
            }
        }
        None
    }

    /// Checks `token` against its slot, and returns the slot's key and
    /// result.
    #[inline(always)]
    fn result(&self, token: Token) -> (usize, i32) {
        assert!(token.ring == RING && !token.done, "a token of this ring");
        let (key, generation) = split(token.ud);
        let s = &self.slots[key];
        assert!(
            s.generation == generation && s.life == Life::Completed && s.extra == NONE,
            "a plain final result"
        );
        (key, s.res)
    }

    /// Takes `token`'s result and frees its slot.
    #[inline(always)]
    fn take(&mut self, token: Token) -> i32 {
        let (key, res) = self.result(token);
        let s = &mut self.slots[key];
        s.life = Life::Vacant;
        s.next = self.free;
        self.free = key as u32;
        self.live -= 1;
        self.completed -= 1;
        res
    }

    /// Takes `token`'s result and makes its slot the home of the owner's
    /// next operation: the next generation, in flight again.
    #[inline(always)]
    fn take_keep(&mut self, token: Token) -> (i32, u64) {
        let (key, res) = self.result(token);
        let s = &mut self.slots[key];
        s.generation = (s.generation + 1) & 0x7fff_ffff;
        s.life = Life::InFlight;
        self.completed -= 1;
        (res, (u64::from(s.generation) << 32) | key as u64)
    }
}

/// The model's loop: `n` owners with one NOP each in flight, on the raw
/// crate's queues (as `RawLoop`'s, behind `&mut self`).
pub struct FloorLoop {
    n: usize,
    shape: Shape,
    submitter: io_uring::Submitter<'static>,
    sq: io_uring::SubmissionQueue<'static>,
    cq: io_uring::CompletionQueue<'static>,
    table: Table,
    owners: Vec<Option<Token>>,
}

impl FloorLoop {
    /// Owners that take and free a slot for each NOP.
    pub fn new(n: usize) -> FloorLoop {
        FloorLoop::with(n, Shape::Free)
    }

    /// Owners that each keep one slot for life.
    pub fn keep(n: usize) -> FloorLoop {
        FloorLoop::with(n, Shape::Keep)
    }

    /// Owners whose NOPs take no slot.
    pub fn slotless(n: usize) -> FloorLoop {
        FloorLoop::with(n, Shape::Slotless)
    }

    fn with(n: usize, shape: Shape) -> FloorLoop {
        assert!(n <= SLOTS / 2, "room for a round and its successors");
        // Leaked, as `RawLoop`'s: the queues borrow it for the loop's life.
        let raw: &'static mut IoUring = Box::leak(Box::new(IoUring::new(256).expect("io_uring")));
        let (mut submitter, mut sq, cq) = raw.split();
        submitter.register_ring_fd().expect("register ring fd");
        let mut table = Table::new();
        let mut owners = Vec::with_capacity(n);
        for i in 0..n {
            let ud = if shape == Shape::Slotless {
                SLOTLESS | i as u64
            } else {
                table.alloc(i as u64)
            };
            // SAFETY: a NOP points at nothing.
            unsafe { sq.push(&opcode::Nop::new().build().user_data(ud)) }.expect("room");
            owners.push(Some(Token {
                ud,
                ring: RING,
                done: false,
            }));
        }
        sq.sync();
        FloorLoop {
            n,
            shape,
            submitter,
            sq,
            cq,
            table,
            owners,
        }
    }

    /// One round: submit, wait, record every CQE, then dispatch each tag
    /// to its owner, which takes its result and pushes its next NOP.
    #[inline(never)]
    pub fn round(&mut self) {
        self.submitter.submit_and_wait(self.n).expect("submit");
        self.cq.sync();
        for cqe in self.cq.by_ref() {
            self.table
                .complete(cqe.user_data(), cqe.result(), cqe.flags());
        }
        let mut done = 0;
        while let Some((tag, result)) = self.table.next() {
            let owner = &mut self.owners[tag as usize];
            if let Some(res) = result {
                // A slotless NOP: its owner holds no token.
                black_box(&*owner);
                assert!(black_box(res) >= 0);
                let next = opcode::Nop::new().build().user_data(SLOTLESS | tag);
                // SAFETY: a NOP points at nothing.
                unsafe { self.sq.push(&next) }.expect("room");
                done += 1;
                continue;
            }
            let token = owner.take().expect("an operation in flight");
            let ud = if self.shape == Shape::Keep {
                let (res, ud) = self.table.take_keep(token);
                assert!(black_box(res) >= 0);
                ud
            } else {
                assert!(black_box(self.table.take(token)) >= 0);
                self.table.alloc(tag)
            };
            // SAFETY: a NOP points at nothing.
            unsafe { self.sq.push(&opcode::Nop::new().build().user_data(ud)) }.expect("room");
            *owner = Some(Token {
                ud,
                ring: RING,
                done: false,
            });
            done += 1;
        }
        assert_eq!(done, self.n);
        self.sq.sync();
    }

    /// Lets the last round's NOPs finish, and gives the registered ring
    /// descriptor back.
    pub fn finish(mut self) {
        self.submitter.submit_and_wait(self.n).expect("submit");
        self.submitter.unregister_ring_fd().expect("unregister");
        let slots = if self.shape == Shape::Slotless {
            0
        } else {
            self.n
        };
        assert_eq!(self.table.live, slots);
    }
}
