//! `TimerWheel`: a hierarchical timing wheel for very many coarse timers,
//! with millisecond ticks, O(1) arm and cancel, and one kernel timeout for
//! the whole wheel.

use std::fmt;
use std::iter::FusedIterator;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use slab::Slab;

mod lists;

use lists::list_for;

/// Bits of a tick each level resolves.
const SLOT_BITS: u32 = 6;
/// Slots per level.
const SLOTS: usize = 1 << SLOT_BITS;
const SLOT_MASK: u64 = SLOTS as u64 - 1;
/// Levels needed for every `u64` deadline: `ceil(64 / 6)`.
const LEVELS: usize = 64_usize.div_ceil(SLOT_BITS as usize);
/// The list of timers whose deadline has been reached, after the slots.
const DUE: usize = LEVELS * SLOTS;
const LISTS: usize = DUE + 1;
/// The null link.
const NIL: usize = usize::MAX;

/// A list of nodes: its first and last slab keys.
#[derive(Clone, Copy)]
struct List {
    head: usize,
    tail: usize,
}

impl List {
    const EMPTY: List = List {
        head: NIL,
        tail: NIL,
    };
}

/// One armed timer.
struct Node<T> {
    /// The deadline, in ticks.
    deadline: u64,
    /// Which arming this is; names it in its key.
    generation: u64,
    prev: usize,
    next: usize,
    value: T,
}

/// Names one armed timer of a [`TimerWheel`].
///
/// A key holds its wheel's identity, the timer's slab slot and the
/// generation of that arming. Once the timer has fired or been cancelled
/// its slot is reused by later timers, but never with the same generation
/// (a 64-bit count of armings), so a stale key can neither cancel nor read
/// the slot's new timer — the reason tokio's slab keys carry a generation
/// too. Another wheel's key names nothing: every wheel of the process has
/// its own identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimerKey {
    index: usize,
    generation: u64,
    wheel: u64,
}

/// The identity of the next wheel built.
static NEXT_WHEEL: AtomicU64 = AtomicU64::new(0);

/// A hierarchical timing wheel: very many coarse timers, each carrying a
/// value `T`, delivered in deadline order once the wheel's clock reaches
/// them.
///
/// Time is counted in *ticks* of one millisecond since the wheel's origin
/// (the `Instant` it was built with). The tick-based methods (`arm`,
/// `advance`, `expire`, `poll`) take `u64` ticks; their `_at` twins take
/// `Instant`s and round a deadline *up* and a present time *down* to a
/// tick, so a timer never fires before its `Instant` either.
///
/// The guarantees, whatever the sequence of calls:
///
/// - **Never early**: a timer is delivered only by a call whose `now` is at
///   or after its deadline; a deadline at or before the wheel's clock is
///   due at once.
/// - **Never lost, exactly once**: each armed timer is delivered once, or
///   returned once by [`cancel`](TimerWheel::cancel), never both.
/// - **In order**: timers are delivered by deadline (the wheel's clock, for
///   a deadline already past when armed), and in arming order within a
///   tick.
///
/// # Wheel or ring timeouts?
///
/// - **Ring timeouts** (one `IORING_OP_TIMEOUT` per timer) are kernel
///   hrtimers: nanosecond deadlines on a chosen clock, each completing on
///   its own, linkable to an operation. They cost an SQE, a kernel timer
///   and a CQE each (about 1 µs of CPU per armed and fired timer here).
///   Choose them for precise timers, for few timers, and for deadlines on
///   a single operation (link timeouts).
/// - **The wheel** keeps its timers in user space: arming, resetting and
///   cancelling one is a few list operations with no syscall, and the whole
///   wheel needs one ring timeout, armed at
///   [`next_deadline`](TimerWheel::next_deadline). Deadlines are rounded up
///   to a whole millisecond and delivered when the driver next advances the
///   wheel, so a timer is late by that rounding plus the driver's wake-up
///   latency, and never early. Choose it for very
///   many coarse timers that are mostly cancelled or pushed back before
///   they fire: an idle timeout or keep-alive per connection, retransmit
///   and lease timers.
///
/// # Layout
///
/// Eleven levels of 64 slots: a slot of level `L` spans `64^L` ticks, so
/// level 0 holds single ticks, level 1 spans of 64 ms, level 2 of about
/// 4 s, level 3 of about 4.4 min, and the top level (16 slots used) spans
/// the rest of `u64`. Every `u64` deadline has a place, so there is no
/// overflow list to rescan; an empty level costs one bitmap word that the
/// search skips.
///
/// A timer due in `d` ticks sits at the level of the highest bit in which
/// its deadline differs from the wheel's clock. When the clock reaches a
/// slot of level `L > 0`, the slot's timers cascade to lower levels (or
/// fire, if their deadline is that very tick): a timer moves at most
/// `log64(d)` times in its life, twice for a 30 s idle timeout, and once
/// it is cancelled or reset it costs nothing more.
///
/// Timers are nodes of one `slab::Slab`, linked into an intrusive doubly
/// linked list per slot (previous and next slab keys), so arming appends a
/// node and cancelling unlinks it, both in constant time. A timer costs
/// its value plus 40 bytes (deadline, generation, two links, the slab's
/// entry tag); the wheel itself about 11 KiB of list heads. Freed nodes are
/// reused: once the slab has grown to the largest number of timers armed at
/// once (or was built [`with_capacity`](TimerWheel::with_capacity) for it),
/// arming allocates nothing.
///
/// # Examples
///
/// An idle timeout per connection, pushed back on activity:
///
/// ```
/// use std::time::{Duration, Instant};
///
/// use iofd::ring::TimerWheel;
///
/// let start = Instant::now();
/// let mut wheel = TimerWheel::with_capacity(start, 1024);
/// let idle = Duration::from_secs(30);
/// let a = wheel.arm_at(start + idle, "connection a");
/// let b = wheel.arm_at(start + idle, "connection b");
///
/// // Activity on `b` at 10 s pushes its timeout back to 40 s.
/// assert!(wheel.reset_at(b, start + Duration::from_secs(10) + idle));
///
/// // A driver sleeps (one ring timeout) until the next deadline ...
/// assert!(wheel.next_deadline().is_some_and(|tick| tick <= 30_000));
/// // ... and then delivers what is due.
/// let fired: Vec<_> = wheel.advance_at(start + idle).collect();
/// assert_eq!(fired, [(a, "connection a")]);
/// assert_eq!(wheel.cancel(a), None); // already fired
/// assert_eq!(wheel.cancel(b), Some("connection b"));
/// assert!(wheel.is_empty());
/// ```
pub struct TimerWheel<T> {
    nodes: Slab<Node<T>>,
    /// The slots, level by level, then the due list.
    lists: Box<[List; LISTS]>,
    /// Per level, a bit per non-empty slot.
    occupied: [u64; LEVELS],
    /// The wheel's clock: every timer due at or before it has been moved to
    /// the due list; every other timer sits in the slot its deadline and
    /// this clock select.
    elapsed: u64,
    next_generation: u64,
    origin: Instant,
    /// This wheel's identity, stamped on its keys.
    id: u64,
}

impl<T> TimerWheel<T> {
    /// An empty wheel whose tick 0 is `origin`; its slab grows as timers
    /// are armed.
    pub fn new(origin: Instant) -> TimerWheel<T> {
        TimerWheel::with_capacity(origin, 0)
    }

    /// An empty wheel whose tick 0 is `origin`, with room for `capacity`
    /// timers armed at once before its slab allocates.
    pub fn with_capacity(origin: Instant, capacity: usize) -> TimerWheel<T> {
        TimerWheel {
            nodes: Slab::with_capacity(capacity),
            lists: Box::new([List::EMPTY; LISTS]),
            occupied: [0; LEVELS],
            elapsed: 0,
            next_generation: 0,
            origin,
            id: NEXT_WHEEL.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// The `Instant` of tick 0.
    pub fn origin(&self) -> Instant {
        self.origin
    }

    /// The wheel's clock: the latest tick it has been advanced to.
    #[inline]
    pub fn now(&self) -> u64 {
        self.elapsed
    }

    /// How many timers are armed (including those due but not yet
    /// delivered).
    #[inline]
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether no timer is armed.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// How many timers can be armed at once before the slab reallocates.
    pub fn capacity(&self) -> usize {
        self.nodes.capacity()
    }

    /// Makes room for `additional` more timers than are armed now.
    ///
    /// # Panics
    ///
    /// If the new capacity overflows `usize`, as `Vec::reserve` does.
    pub fn reserve(&mut self, additional: usize) {
        self.nodes.reserve(additional);
    }

    /// The tick of a deadline: milliseconds from the origin, rounded up
    /// (0 for an `Instant` before the origin, `u64::MAX` past the range).
    pub fn deadline_tick(&self, deadline: Instant) -> u64 {
        let since = deadline.saturating_duration_since(self.origin);
        let ceil = since.as_millis() + u128::from(!since.subsec_nanos().is_multiple_of(1_000_000));
        u64::try_from(ceil).unwrap_or(u64::MAX)
    }

    /// The tick of a present time: milliseconds from the origin, rounded
    /// down (0 for an `Instant` before the origin, `u64::MAX` past the
    /// range).
    pub fn tick_at(&self, now: Instant) -> u64 {
        let since = now.saturating_duration_since(self.origin);
        u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
    }

    /// The `Instant` at which `tick` begins, or `None` if `Instant` cannot
    /// represent it.
    pub fn instant_of(&self, tick: u64) -> Option<Instant> {
        self.origin.checked_add(Duration::from_millis(tick))
    }

    /// Arms a timer carrying `value`, due at tick `deadline`.
    ///
    /// A deadline at or before [`now`](TimerWheel::now) is due at once: the
    /// next `advance`, `expire` or `poll` delivers it. Constant time; no
    /// allocation unless more timers are armed than
    /// [`capacity`](TimerWheel::capacity).
    #[inline]
    pub fn arm(&mut self, deadline: u64, value: T) -> TimerKey {
        let generation = self.next_generation;
        self.next_generation = generation.wrapping_add(1);
        let index = self.nodes.insert(Node {
            deadline,
            generation,
            prev: NIL,
            next: NIL,
            value,
        });
        self.link_back(list_for(self.elapsed, deadline), index);
        TimerKey {
            index,
            generation,
            wheel: self.id,
        }
    }

    /// Arms a timer carrying `value`, due at `deadline` rounded up to a
    /// tick ([`deadline_tick`](TimerWheel::deadline_tick)); otherwise as
    /// [`arm`](TimerWheel::arm).
    #[inline]
    pub fn arm_at(&mut self, deadline: Instant, value: T) -> TimerKey {
        let tick = self.deadline_tick(deadline);
        self.arm(tick, value)
    }

    /// Disarms the timer `key` names and returns its value, or `None` if it
    /// has already been delivered or cancelled (or the key is stale).
    /// Constant time.
    #[inline]
    pub fn cancel(&mut self, key: TimerKey) -> Option<T> {
        let deadline = self.live(key)?.deadline;
        self.unlink(list_for(self.elapsed, deadline), key.index);
        self.nodes.try_remove(key.index).map(|node| node.value)
    }

    /// Moves the timer `key` names to tick `deadline`, keeping its key and
    /// value; it then orders as if armed now. Returns `false` (and does
    /// nothing) if the timer has already been delivered or cancelled.
    /// Constant time.
    #[inline]
    pub fn reset(&mut self, key: TimerKey, deadline: u64) -> bool {
        let Some(old) = self.live(key).map(|node| node.deadline) else {
            return false;
        };
        self.unlink(list_for(self.elapsed, old), key.index);
        if let Some(node) = self.nodes.get_mut(key.index) {
            node.deadline = deadline;
        }
        self.link_back(list_for(self.elapsed, deadline), key.index);
        true
    }

    /// [`reset`](TimerWheel::reset) to `deadline` rounded up to a tick.
    #[inline]
    pub fn reset_at(&mut self, key: TimerKey, deadline: Instant) -> bool {
        let tick = self.deadline_tick(deadline);
        self.reset(key, tick)
    }

    /// Whether `key` names a timer still armed.
    pub fn contains(&self, key: TimerKey) -> bool {
        self.live(key).is_some()
    }

    /// The deadline tick of the timer `key` names, if still armed.
    pub fn deadline(&self, key: TimerKey) -> Option<u64> {
        self.live(key).map(|node| node.deadline)
    }

    /// The value of the timer `key` names, if still armed.
    pub fn get(&self, key: TimerKey) -> Option<&T> {
        self.live(key).map(|node| &node.value)
    }

    /// The value of the timer `key` names, mutably, if still armed.
    pub fn get_mut(&mut self, key: TimerKey) -> Option<&mut T> {
        if key.wheel != self.id {
            return None;
        }
        match self.nodes.get_mut(key.index) {
            Some(node) if node.generation == key.generation => Some(&mut node.value),
            _ => None,
        }
    }

    /// Disarms every timer, dropping their values; the clock stays.
    pub fn clear(&mut self) {
        self.nodes.clear();
        *self.lists = [List::EMPTY; LISTS];
        self.occupied = [0; LEVELS];
    }

    /// The tick a driver should wake at: the earliest tick at which a timer
    /// may be due, or `None` if none is armed.
    ///
    /// It is never later than the earliest deadline. When a timer is
    /// already due it is [`now`](TimerWheel::now) (deliver without
    /// waiting); otherwise it is after `now`, and may be the start of a
    /// coarser slot holding the earliest timer, at which advancing
    /// cascades that slot and delivers nothing yet — a few wake-ups per
    /// timer at most, one per level it descends.
    #[inline]
    pub fn next_deadline(&self) -> Option<u64> {
        if self.lists[DUE].head != NIL {
            return Some(self.elapsed);
        }
        self.next_expiration().map(|(_, _, start)| start)
    }

    /// [`next_deadline`](TimerWheel::next_deadline) as an `Instant`, or
    /// `None` if no timer is armed or `Instant` cannot represent the tick.
    pub fn next_deadline_at(&self) -> Option<Instant> {
        self.next_deadline().and_then(|tick| self.instant_of(tick))
    }

    /// How long a driver should sleep from `now`: the time until
    /// [`next_deadline_at`](TimerWheel::next_deadline_at), zero if it has
    /// passed, `None` if no timer is armed (or the next tick lies beyond
    /// what `Instant` can represent).
    pub fn timeout(&self, now: Instant) -> Option<Duration> {
        self.next_deadline_at()
            .map(|at| at.saturating_duration_since(now))
    }

    /// Advances the clock to `now` and delivers one due timer: the one with
    /// the earliest deadline, if it is at or before `now`.
    ///
    /// A `now` before the wheel's clock delivers nothing: the clock never
    /// runs backwards.
    #[inline]
    pub fn poll(&mut self, now: u64) -> Option<(TimerKey, T)> {
        if now < self.elapsed {
            return None;
        }
        loop {
            let head = self.lists[DUE].head;
            if head != NIL {
                self.unlink(DUE, head);
                let node = self.nodes.try_remove(head)?;
                let key = TimerKey {
                    index: head,
                    generation: node.generation,
                    wheel: self.id,
                };
                return Some((key, node.value));
            }
            match self.next_expiration() {
                Some((level, slot, start)) if start <= now => self.cascade(level, slot, start),
                _ => {
                    self.elapsed = now;
                    return None;
                }
            }
        }
    }

    /// [`poll`](TimerWheel::poll) at `now` rounded down to a tick.
    #[inline]
    pub fn poll_at(&mut self, now: Instant) -> Option<(TimerKey, T)> {
        let tick = self.tick_at(now);
        self.poll(tick)
    }

    /// Advances the clock to `now`, delivering every timer due at or before
    /// it to `f`, in deadline order; returns how many were delivered.
    #[inline]
    pub fn expire(&mut self, now: u64, mut f: impl FnMut(TimerKey, T)) -> usize {
        let mut n = 0;
        while let Some((key, value)) = self.poll(now) {
            f(key, value);
            n += 1;
        }
        n
    }

    /// [`expire`](TimerWheel::expire) at `now` rounded down to a tick.
    #[inline]
    pub fn expire_at(&mut self, now: Instant, f: impl FnMut(TimerKey, T)) -> usize {
        let tick = self.tick_at(now);
        self.expire(tick, f)
    }

    /// An iterator that advances the clock to `now` and yields every timer
    /// due at or before it, in deadline order.
    ///
    /// It is lazy: the clock moves as it is consumed. Dropped early, it
    /// leaves the timers it has not yielded armed and due.
    #[inline]
    pub fn advance(&mut self, now: u64) -> Expired<'_, T> {
        Expired { wheel: self, now }
    }

    /// [`advance`](TimerWheel::advance) to `now` rounded down to a tick.
    #[inline]
    pub fn advance_at(&mut self, now: Instant) -> Expired<'_, T> {
        let tick = self.tick_at(now);
        self.advance(tick)
    }

    /// The node `key` names, if it is still the same arming.
    #[inline]
    fn live(&self, key: TimerKey) -> Option<&Node<T>> {
        if key.wheel != self.id {
            return None;
        }
        self.nodes
            .get(key.index)
            .filter(|node| node.generation == key.generation)
    }
}

impl<T> fmt::Debug for TimerWheel<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerWheel")
            .field("now", &self.elapsed)
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .field("next_deadline", &self.next_deadline())
            .finish_non_exhaustive()
    }
}

/// The timers a [`TimerWheel::advance`] delivers, in deadline order, as
/// `(key, value)` pairs.
#[must_use = "the wheel advances only as the iterator is consumed"]
pub struct Expired<'a, T> {
    wheel: &'a mut TimerWheel<T>,
    now: u64,
}

impl<T> Iterator for Expired<'_, T> {
    type Item = (TimerKey, T);

    #[inline]
    fn next(&mut self) -> Option<(TimerKey, T)> {
        self.wheel.poll(self.now)
    }
}

impl<T> FusedIterator for Expired<'_, T> {}

impl<T> fmt::Debug for Expired<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Expired")
            .field("now", &self.now)
            .field("wheel", &self.wheel)
            .finish()
    }
}
