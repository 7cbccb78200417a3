//! The group's bookkeeping without a kernel: decoding CQEs into buffers,
//! and returns written at the tail.

use super::*;

/// `IORING_CQE_F_BUFFER` naming buffer `bid`.
fn named(bid: u16) -> u32 {
    Cqe::F_BUFFER | u32::from(bid) << Cqe::BUFFER_SHIFT
}

/// An unregistered group of 4 buffers of 16 bytes.
fn group(id: u16) -> BufRing {
    BufRing {
        inner: Arc::new(Inner::new(Some(id), 4, 16).expect("allocate")),
    }
}

/// Entry `index` of the ring as (addr, len, bid).
fn entry(ring: &BufRing, index: u16) -> (u64, u32, u16) {
    let e = ring
        .inner
        .ring
        .ptr
        .as_ptr()
        .cast::<RawEntry>()
        .wrapping_add(usize::from(index));
    // SAFETY: callers pass `index` < `entries`, inside the ring block; the
    // ring is not registered, and no return runs while the test reads.
    unsafe { ((*e).addr, (*e).len, (*e).bid) }
}

#[test]
fn a_cqe_without_f_buffer_names_no_buffer() {
    let ring = group(65_100);
    assert!(ring.take(Cqe { res: 8, flags: 0 }).is_none());
    assert!(
        ring.take(Cqe {
            res: -105,
            flags: 0
        })
        .is_none()
    );
    assert_eq!(ring.available(), 4);
}

#[test]
fn an_id_out_of_range_is_not_trusted() {
    let ring = group(65_101);
    for bid in [4, 5, 255, u16::MAX] {
        assert!(
            ring.take(Cqe {
                res: 8,
                flags: named(bid)
            })
            .is_none(),
            "{bid}"
        );
    }
    assert_eq!(ring.available(), 4);
}

#[test]
fn a_buffer_is_never_handed_out_twice() {
    let ring = group(65_102);
    let buf = ring
        .take(Cqe {
            res: 3,
            flags: named(1),
        })
        .expect("bid 1");
    assert_eq!((buf.bid(), buf.len()), (1, 3));
    assert!(
        ring.take(Cqe {
            res: 3,
            flags: named(1)
        })
        .is_none()
    );
    assert_eq!(ring.available(), 3);
    drop(buf);
    assert_eq!(ring.available(), 4);
    assert!(
        ring.take(Cqe {
            res: 3,
            flags: named(1)
        })
        .is_some()
    );
}

#[test]
fn the_length_is_clamped_to_the_buffer() {
    let ring = group(65_103);
    let long = ring
        .take(Cqe {
            res: 1000,
            flags: named(0),
        })
        .expect("bid 0");
    assert_eq!(long.len(), 16);
    let failed = ring
        .take(Cqe {
            res: -5,
            flags: named(2),
        })
        .expect("bid 2");
    assert!(failed.is_empty());
}

#[test]
fn a_return_is_written_at_the_tail_and_published() {
    let ring = group(65_104);
    for bid in 0..4 {
        assert_eq!(entry(&ring, bid), (ring.inner.buf_ptr(bid) as u64, 16, bid));
    }
    assert_eq!(ring.inner.tail_atomic().load(Ordering::Acquire), 4);
    let mut buf = ring
        .take(Cqe {
            res: 2,
            flags: named(2),
        })
        .expect("bid 2");
    buf.copy_from_slice(b"hi");
    assert_eq!(&buf[..], b"hi");
    drop(buf);
    // Tail 4 is entry 0: it now holds buffer 2, and the tail (entry 0's
    // reserved field) moved on untouched by the entry's write.
    assert_eq!(entry(&ring, 0), (ring.inner.buf_ptr(2) as u64, 16, 2));
    assert_eq!(ring.inner.tail_atomic().load(Ordering::Acquire), 5);
}

#[test]
fn take_raw_releases_the_reference_only_when_asked() {
    let ring = group(65_105);
    let raw = ring.to_raw();
    assert_eq!(Arc::strong_count(&ring.inner), 2);
    // SAFETY: `raw` came from `to_raw` and its reference is still held.
    let shot = unsafe {
        take_raw(
            raw,
            Cqe {
                res: 1,
                flags: named(0),
            },
            false,
        )
    };
    assert_eq!(Arc::strong_count(&ring.inner), 3, "the buffer's own");
    drop(shot);
    assert_eq!(Arc::strong_count(&ring.inner), 2);
    // SAFETY: as above; `raw` is not used after this releasing call.
    let last = unsafe {
        take_raw(
            raw,
            Cqe {
                res: -125,
                flags: 0,
            },
            true,
        )
    };
    assert!(last.is_none());
    assert_eq!(Arc::strong_count(&ring.inner), 1);
}

#[test]
fn concurrent_returns_publish_every_buffer_once() {
    const N: u16 = 64;
    let ring = BufRing {
        inner: Arc::new(Inner::new(Some(65_106), N, 8).expect("allocate")),
    };
    let mut held: Vec<ProvidedBuf> = (0..N)
        .map(|bid| {
            ring.take(Cqe {
                res: 8,
                flags: named(bid),
            })
            .expect("free")
        })
        .collect();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let part: Vec<ProvidedBuf> = held.drain(..usize::from(N) / 4).collect();
            std::thread::spawn(move || drop(part))
        })
        .collect();
    for t in threads {
        t.join().expect("dropping thread");
    }
    assert_eq!(ring.available(), N);
    assert_eq!(ring.inner.tail_atomic().load(Ordering::Acquire), 2 * N);
    // The returns filled the ring's entries once round, each buffer once.
    let mut bids: Vec<u16> = (0..N).map(|i| entry(&ring, i).2).collect();
    bids.sort_unstable();
    assert_eq!(bids, (0..N).collect::<Vec<_>>());
}
