//! Helpers shared by the integration tests.
#![allow(
    dead_code,
    unused_macros,
    reason = "each test binary uses a different subset"
)]

use std::os::fd::{AsFd, AsRawFd};

/// A descriptor number this process never opens (far past its limit), for
/// tests that want the kernel's `EBADF`.
pub fn not_open() -> std::os::fd::BorrowedFd<'static> {
    // SAFETY: the wrappers under test only hand the number to the kernel,
    // which answers EBADF; nothing dereferences or closes it, and this
    // process never opens descriptor 900000.
    unsafe { std::os::fd::BorrowedFd::borrow_raw(900_000) }
}

/// The number of descriptors open in this process (`/proc/self/fd`, less
/// the one used to read it).
pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("read /proc/self/fd")
        .count()
        - 1
}

/// Whether descriptor `fd` is open in this process.
pub fn is_open(fd: std::os::fd::RawFd) -> bool {
    std::path::Path::new(&format!("/proc/self/fd/{fd}")).exists()
}

/// The `flags:` line of `/proc/self/fdinfo/<fd>`, in octal as printed.
pub fn fdinfo_flags(fd: &impl AsFd) -> u32 {
    let raw = fd.as_fd().as_raw_fd();
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{raw}")).expect("fdinfo");
    let line = info
        .lines()
        .find(|l| l.starts_with("flags:"))
        .expect("flags line");
    u32::from_str_radix(line["flags:".len()..].trim(), 8).expect("octal flags")
}

/// What a check of a `harness = false` test binary returns.
pub type CheckResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// A named check of a `harness = false` test binary.
pub type Check = (&'static str, fn() -> CheckResult);

/// Runs the checks of a `harness = false` test binary, named by their
/// functions' names (so none can be listed under a wrong name), through
/// [`run_checks`]: `checks![first_check, second_check]`.
macro_rules! checks {
    ($($check:ident),+ $(,)?) => {
        $crate::util::run_checks(&[
            $((stringify!($check), $check as fn() -> $crate::util::CheckResult)),+
        ])
    };
}

/// Runs the named checks of a `harness = false` test binary in order, each
/// isolated from the others' panics, prints one line per check and the
/// closing `N passed, M failed` line, and exits non-zero if any failed.
pub fn run_checks(checks: &[Check]) {
    let (mut passed, mut failed) = (0, 0);
    for &(name, check) in checks {
        match std::panic::catch_unwind(check) {
            Ok(Ok(())) => {
                passed += 1;
                println!("test {name} ... ok");
            }
            Ok(Err(e)) => {
                failed += 1;
                println!("test {name} ... FAILED: {e}");
            }
            Err(_) => {
                failed += 1;
                println!("test {name} ... FAILED (panicked)");
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
}

/// A global allocator that counts allocations (and reallocations) and
/// otherwise forwards to the system allocator. A test binary installs it
/// with `#[global_allocator] static GLOBAL: util::Counting = util::Counting;`
/// and reads [`allocations`].
pub struct Counting;

static ALLOCATIONS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Allocations counted so far in this process.
pub fn allocations() -> usize {
    ALLOCATIONS.load(std::sync::atomic::Ordering::Relaxed)
}

static LIVE: std::sync::atomic::AtomicIsize = std::sync::atomic::AtomicIsize::new(0);

/// Bytes allocated and not yet freed in this process.
pub fn live_bytes() -> isize {
    LIVE.load(std::sync::atomic::Ordering::Relaxed)
}

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        LIVE.fetch_add(layout.size() as isize, std::sync::atomic::Ordering::Relaxed);
        // SAFETY: the caller's layout contract, forwarded.
        unsafe { std::alloc::System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        LIVE.fetch_sub(layout.size() as isize, std::sync::atomic::Ordering::Relaxed);
        // SAFETY: the caller's contract, forwarded.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            std::sync::atomic::Ordering::Relaxed,
        );
        // SAFETY: the caller's contract, forwarded.
        unsafe { std::alloc::System.realloc(ptr, layout, new_size) }
    }
}

/// Races `a` against `b` on every item, each pair started together by two
/// threads in lockstep, and returns what both returned for each item.
///
/// `b` starts `i % 16` spin hints late on item `i`, so the rounds sweep the
/// offsets at which a check-then-act window can be hit.
pub fn race_each<T: Sync, A: Send, B: Send>(
    items: &[T],
    a: impl Fn(&T) -> A + Sync,
    b: impl Fn(&T) -> B + Sync,
) -> Vec<(A, B)> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let arrived = AtomicUsize::new(0);
    // Both threads arrive before round `i` starts; spinning gives way to
    // the scheduler when the other thread is not running.
    let meet = |i: usize| {
        arrived.fetch_add(1, Ordering::AcqRel);
        let mut spins = 0u32;
        while arrived.load(Ordering::Acquire) < 2 * (i + 1) {
            spins += 1;
            if spins.is_multiple_of(256) {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
    };
    std::thread::scope(|s| {
        let other = s.spawn(|| {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                meet(i);
                for _ in 0..i % 16 {
                    std::hint::spin_loop();
                }
                out.push(b(item));
            }
            out
        });
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            meet(i);
            out.push(a(item));
        }
        out.into_iter()
            .zip(other.join().expect("racing thread"))
            .collect()
    })
}
