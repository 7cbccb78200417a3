//! `MemFd` and `MappedRegion`: names, sizes, positioned I/O, seals and
//! mappings, with every error checked.

use crate::util;

use std::os::fd::{AsFd, AsRawFd, FromRawFd, IntoRawFd, OwnedFd};

use iofd::sys::Errno;
use iofd::{Error, Handle, MappedRegion, MemFd, Prot, Seals};

const O_NONBLOCK: u32 = 0o4000;
const O_CLOEXEC: u32 = 0o2000000;
const PAGE: usize = 4096;
const RW: Prot = Prot::READ.union(Prot::WRITE);

/// The `pos:` line of the descriptor's fdinfo: its file position.
fn file_pos(m: &MemFd) -> u64 {
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", m.raw())).unwrap();
    let line = info.lines().find(|l| l.starts_with("pos:")).unwrap();
    line["pos:".len()..].trim().parse().unwrap()
}

/// Whether a mapping of the memfd named `name` is in `/proc/self/maps`.
fn is_mapped(name: &str) -> bool {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let needle = format!("/memfd:{name} ");
    maps.lines().any(|l| l.contains(&needle))
}

fn invalid_param<T>(r: iofd::Result<T>) -> Option<&'static str> {
    match r {
        Err(Error::InvalidParam(msg)) => Some(msg),
        _ => None,
    }
}

#[test]
fn names_with_nul_or_over_249_bytes_are_invalid() {
    let long = "n".repeat(250);
    let nul = Some("memfd name contains NUL");
    let too_long = Some("memfd name longer than 249 bytes");
    for (name, expected) in [
        ("a\0b", nul),
        ("\0", nul),
        ("\0".repeat(249).as_str(), nul),
        (long.as_str(), too_long),
        (&"\0".repeat(250), too_long),
    ] {
        assert_eq!(invalid_param(MemFd::new(name)), expected, "{name:?}");
        assert_eq!(
            invalid_param(MemFd::new_sealable(name)),
            expected,
            "{name:?}"
        );
        assert_eq!(
            invalid_param(MemFd::new_hugetlb(name)),
            expected,
            "{name:?}"
        );
    }

    let longest = "n".repeat(249);
    let m = MemFd::new(&longest).unwrap();
    assert_eq!(m.name(), longest);
    let m = MemFd::from(OwnedFd::from(m));
    assert_eq!(m.name(), longest);

    let m = MemFd::new("").unwrap();
    assert_eq!(m.name(), "");
    let m = MemFd::new("with space (deleted)").unwrap();
    let m = MemFd::from(OwnedFd::from(m));
    assert_eq!(m.name(), "with space (deleted)");
}

#[test]
fn memfds_are_cloexec_and_not_nonblocking() {
    for m in [
        MemFd::new("flags").unwrap(),
        MemFd::new_sealable("flags").unwrap(),
    ] {
        let flags = util::fdinfo_flags(&m);
        assert_ne!(flags & O_CLOEXEC, 0, "flags {flags:o}");
        assert_eq!(flags & O_NONBLOCK, 0, "flags {flags:o}");
        assert!(m.is_valid());
    }
}

#[test]
fn set_len_and_len() {
    let m = MemFd::new("len").unwrap();
    assert_eq!(m.len(), Ok(0));
    assert_eq!(m.is_empty(), Ok(true));
    m.set_len(10_000).unwrap();
    assert_eq!(m.len(), Ok(10_000));
    assert_eq!(m.is_empty(), Ok(false));
    m.set_len(3).unwrap();
    assert_eq!(m.len(), Ok(3));
    assert_eq!(
        m.set_len(u64::MAX),
        Err(Error::InvalidParam(Error::KERNEL_EINVAL))
    );
    assert_eq!(m.len(), Ok(3));
}

#[test]
fn read_at_and_write_at_leave_the_file_position_alone() {
    let m = MemFd::new("rw").unwrap();
    assert_eq!(m.write_at(b"hello", 100), Ok(5));
    assert_eq!(m.len(), Ok(105));
    assert_eq!(m.write_at(b"HE", 100), Ok(2));
    let mut buf = [0xffu8; 8];
    assert_eq!(m.read_at(&mut buf, 100), Ok(5));
    assert_eq!(&buf[..5], b"HEllo");
    assert_eq!(m.read_at(&mut buf, 0), Ok(8));
    assert_eq!(buf, [0; 8]); // the hole reads as zeros
    assert_eq!(m.read_at(&mut buf, 103), Ok(2));
    assert_eq!(&buf[..2], b"lo");
    assert_eq!(m.read_at(&mut buf, 105), Ok(0)); // end of file
    assert_eq!(m.read_at(&mut buf, 1 << 40), Ok(0));
    assert_eq!(m.read_at(&mut [], 0), Ok(0));
    assert_eq!(file_pos(&m), 0);

    let past = i64::MAX as u64 + 1;
    assert_eq!(
        m.read_at(&mut buf, past),
        Err(Error::InvalidParam(Error::KERNEL_EINVAL))
    );
    assert_eq!(
        m.write_at(b"x", past),
        Err(Error::InvalidParam(Error::KERNEL_EINVAL))
    );
}

#[test]
fn unsealable_memfds_carry_the_seal_seal() {
    let m = MemFd::new("unsealable").unwrap();
    assert_eq!(m.seals(), Ok(Seals::SEAL));
    assert_eq!(m.seal(Seals::GROW), Err(Error::Permission));
    assert_eq!(m.seals(), Ok(Seals::SEAL));
}

#[test]
fn seals_forbid_what_they_name_with_permission() {
    let m = MemFd::new_sealable("seals").unwrap();
    assert_eq!(m.seals(), Ok(Seals::empty()));
    m.write_at(b"0123456789", 0).unwrap();

    m.seal(Seals::GROW).unwrap();
    assert_eq!(m.set_len(11), Err(Error::Permission));
    assert_eq!(m.write_at(b"x", 10), Err(Error::Permission));
    assert_eq!(m.write_at(b"ab", 9), Err(Error::Permission));
    m.set_len(8).unwrap(); // shrinking is still allowed

    m.seal(Seals::SHRINK).unwrap();
    assert_eq!(m.set_len(7), Err(Error::Permission));
    m.set_len(8).unwrap(); // the same size is no change
    assert_eq!(m.write_at(b"AB", 0), Ok(2)); // writing in place is allowed

    m.seal(Seals::WRITE).unwrap();
    assert_eq!(m.write_at(b"x", 0), Err(Error::Permission));
    m.seal(Seals::WRITE).unwrap(); // already set: not an error
    assert_eq!(m.seals(), Ok(Seals::GROW | Seals::SHRINK | Seals::WRITE));

    let mut buf = [0u8; 8];
    assert_eq!(m.read_at(&mut buf, 0), Ok(8));
    assert_eq!(&buf, b"AB234567");

    m.seal(Seals::SEAL).unwrap();
    assert_eq!(m.seal(Seals::FUTURE_WRITE), Err(Error::Permission));
    assert_eq!(m.seal(Seals::SEAL), Err(Error::Permission));
}

#[test]
fn unknown_seal_bits_are_invalid() {
    let m = MemFd::new_sealable("bits").unwrap();
    assert_eq!(
        m.seal(Seals::from_bits_retain(0x1000)),
        Err(Error::InvalidParam(Error::KERNEL_EINVAL))
    );
}

#[test]
fn write_seal_is_busy_while_a_writable_mapping_exists() {
    let m = MemFd::new_sealable("busy").unwrap();
    m.set_len(PAGE as u64).unwrap();
    // SAFETY: nothing else writes this memfd while the region is in use.
    let region = unsafe { m.map(PAGE, RW) }.unwrap();
    assert_eq!(m.seal(Seals::WRITE), Err(Error::Os(Errno::EBUSY)));
    drop(region);
    m.seal(Seals::WRITE).unwrap();
    // A writable shared mapping of a write-sealed file is refused.
    // SAFETY: as above.
    let r = unsafe { m.map(PAGE, RW) };
    assert_eq!(r.err(), Some(Error::Permission));
    // A read-only one is fine.
    // SAFETY: the WRITE seal keeps the contents unchanged.
    let region = unsafe { m.map(PAGE, Prot::READ) }.unwrap();
    assert_eq!(region.as_slice(), &[0; PAGE][..]);
}

#[test]
fn write_seal_is_busy_while_even_a_read_only_shared_mapping_exists() {
    let m = MemFd::new_sealable("busy-ro").unwrap();
    m.set_len(PAGE as u64).unwrap();
    // SAFETY: nothing writes this memfd while the region lives.
    let region = unsafe { m.map(PAGE, Prot::READ) }.unwrap();
    assert_eq!(m.seal(Seals::WRITE), Err(Error::Os(Errno::EBUSY)));
    assert_eq!(m.seals(), Ok(Seals::empty()));
    // Other seals are not affected.
    m.seal(Seals::GROW).unwrap();
    drop(region);
    assert_eq!(m.seal(Seals::WRITE), Ok(()));
    assert_eq!(m.seals(), Ok(Seals::GROW | Seals::WRITE));
}

/// The permissions column (`r--s`, `r--p`) of the first mapping of the
/// memfd named `name` in `/proc/self/maps`.
fn map_perms(name: &str) -> Option<String> {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let needle = format!("/memfd:{name} ");
    let line = maps.lines().find(|l| l.contains(&needle))?;
    line.split_whitespace().nth(1).map(str::to_owned)
}

#[test]
fn map_sealed_is_private_and_map_is_shared() {
    let name = "private-9c1e";
    let m = MemFd::new_sealable(name).unwrap();
    m.write_at(b"sealed", 0).unwrap();
    m.seal(Seals::WRITE | Seals::SHRINK).unwrap();
    let region = m.map_sealed().unwrap();
    assert_eq!(map_perms(name).as_deref(), Some("r--p"));
    drop(region);
    assert_eq!(map_perms(name), None);

    let name = "shared-9c1e";
    let m = MemFd::new(name).unwrap();
    m.set_len(1).unwrap();
    // SAFETY: nothing writes the memfd while the region lives.
    let region = unsafe { m.map(1, Prot::READ) }.unwrap();
    assert_eq!(map_perms(name).as_deref(), Some("r--s"));
    drop(region);
}

#[test]
fn future_write_seal_keeps_existing_writable_mappings_working() {
    let m = MemFd::new_sealable("future").unwrap();
    m.set_len(PAGE as u64).unwrap();
    // SAFETY: only this region writes the memfd; no slice of it is alive
    // while `read_at` reads.
    let mut region = unsafe { m.map(PAGE, RW) }.unwrap();
    m.seal(Seals::FUTURE_WRITE).unwrap();
    assert_eq!(m.write_at(b"x", 0), Err(Error::Permission));
    // SAFETY: as above.
    assert_eq!(unsafe { m.map(PAGE, RW) }.err(), Some(Error::Permission));
    region.as_mut_slice().unwrap()[0] = b'y';
    let mut buf = [0u8; 1];
    m.read_at(&mut buf, 0).unwrap();
    assert_eq!(&buf, b"y");
    // That is why FUTURE_WRITE does not make `map_sealed` safe.
    m.seal(Seals::SHRINK).unwrap();
    assert_eq!(
        invalid_param(m.map_sealed()),
        Some("map_sealed needs the WRITE and SHRINK seals")
    );
}

#[test]
fn mappings_are_shared_both_ways() {
    let m = MemFd::new("shared").unwrap();
    m.set_len(2 * PAGE as u64).unwrap();
    // SAFETY: in this test only one party writes at a time, and no slice is
    // alive across another party's write.
    let mut region = unsafe { m.map(2 * PAGE, RW) }.unwrap();
    assert_eq!(region.len(), 2 * PAGE);
    assert!(!region.is_empty());
    assert_eq!(region.prot(), RW);

    region.as_mut_slice().unwrap()[10..15].copy_from_slice(b"hello");
    let mut buf = [0u8; 5];
    assert_eq!(m.read_at(&mut buf, 10), Ok(5));
    assert_eq!(&buf, b"hello");

    m.write_at(b"world", PAGE as u64 + 1).unwrap();
    assert_eq!(&region.as_slice()[PAGE + 1..PAGE + 6], b"world");

    // map_at sees the second page at its start.
    // SAFETY: as above.
    let second = unsafe { m.map_at(PAGE, Prot::READ, PAGE as u64) }.unwrap();
    assert_eq!(&second.as_slice()[1..6], b"world");
    assert_eq!(second.len(), PAGE);
    assert_eq!(second.as_ptr(), second.as_slice().as_ptr());

    // A length that is not a whole number of pages is fine.
    // SAFETY: as above.
    let short = unsafe { m.map(15, Prot::READ) }.unwrap();
    assert_eq!(&short.as_slice()[10..], b"hello");
    region.unmap().unwrap();
    second.unmap().unwrap();
}

#[test]
fn map_rejects_bad_parameters_before_the_kernel() {
    let m = MemFd::new("badmap").unwrap();
    m.set_len(2 * PAGE as u64).unwrap();
    // SAFETY: every call below fails; nothing is mapped.
    unsafe {
        assert_eq!(
            invalid_param(m.map_at(PAGE, Prot::READ, 100)),
            Some("mapping offset is not page-aligned")
        );
        assert_eq!(
            invalid_param(m.map(0, Prot::READ)),
            Some("mapping length is zero")
        );
        assert_eq!(
            invalid_param(m.map_at(0, Prot::READ, 0)),
            Some("mapping length is zero")
        );
        assert_eq!(
            invalid_param(m.map(PAGE, Prot::WRITE)),
            Some("a mapped region must be readable")
        );
        assert_eq!(
            invalid_param(m.map(PAGE, Prot::NONE)),
            Some("a mapped region must be readable")
        );
        let past = Some("mapping extends past the end of the file");
        assert_eq!(invalid_param(m.map(2 * PAGE + 1, Prot::READ)), past);
        assert_eq!(
            invalid_param(m.map_at(PAGE, Prot::READ, 2 * PAGE as u64)),
            past
        );
        assert_eq!(invalid_param(m.map_at(1, Prot::READ, !4095)), past);
        assert_eq!(invalid_param(m.map(usize::MAX, Prot::READ)), past);
    }
}

#[test]
fn as_mut_slice_needs_a_writable_mapping() {
    let m = MemFd::new("ro").unwrap();
    m.set_len(PAGE as u64).unwrap();
    // SAFETY: nothing writes this memfd while the region lives.
    let mut region = unsafe { m.map(PAGE, Prot::READ) }.unwrap();
    assert_eq!(
        region.as_mut_slice().err(),
        Some(Error::InvalidParam("region is not mapped writable"))
    );
}

#[test]
fn map_sealed_needs_write_and_shrink_seals() {
    let needs = Some("map_sealed needs the WRITE and SHRINK seals");
    let unsealable = MemFd::new("nosealing").unwrap();
    assert_eq!(invalid_param(unsealable.map_sealed()), needs);

    let m = MemFd::new_sealable("sealed").unwrap();
    m.write_at(b"immutable", 0).unwrap();
    assert_eq!(invalid_param(m.map_sealed()), needs);
    m.seal(Seals::WRITE).unwrap();
    assert_eq!(invalid_param(m.map_sealed()), needs);
    let m2 = MemFd::new_sealable("sealed-shrink-only").unwrap();
    m2.seal(Seals::SHRINK).unwrap();
    assert_eq!(invalid_param(m2.map_sealed()), needs);
    m.seal(Seals::SHRINK).unwrap();

    let mut region = m.map_sealed().unwrap();
    assert_eq!(region.as_slice(), b"immutable");
    assert_eq!(region.prot(), Prot::READ);
    assert_eq!(
        invalid_param(region.as_mut_slice()),
        Some("region is not mapped writable")
    );

    // The file may still grow; the region keeps the size it was made with.
    m.set_len(100).unwrap();
    assert_eq!(region.len(), 9);
    assert_eq!(m.map_sealed().unwrap().len(), 100);
    region.unmap().unwrap();
}

#[test]
fn map_sealed_of_an_empty_file_is_an_empty_region() {
    let m = MemFd::new_sealable("empty").unwrap();
    m.seal(Seals::WRITE | Seals::SHRINK).unwrap();
    let region = m.map_sealed().unwrap();
    assert!(region.is_empty());
    assert_eq!(region.len(), 0);
    assert_eq!(region.as_slice(), b"");
    assert!(!region.as_ptr().is_null());
    region.unmap().unwrap();
}

#[test]
fn region_outlives_its_memfd_and_unmaps_on_drop() {
    let name = "outlives-7f3a";
    let m = MemFd::new(name).unwrap();
    m.write_at(b"still here", 0).unwrap();
    // SAFETY: nothing writes the memfd after this point.
    let region = unsafe { m.map(10, Prot::READ) }.unwrap();
    drop(m);
    assert_eq!(region.as_slice(), b"still here");
    assert!(is_mapped(name));
    drop(region);
    assert!(!is_mapped(name));

    let name = "unmap-7f3a";
    let m = MemFd::new(name).unwrap();
    m.set_len(1).unwrap();
    // SAFETY: nothing writes the memfd.
    let region = unsafe { m.map(1, Prot::READ) }.unwrap();
    assert!(is_mapped(name));
    assert_eq!(region.unmap(), Ok(()));
    assert!(!is_mapped(name));
}

#[test]
fn every_operation_after_close_is_closed() {
    let m = MemFd::new_sealable("closed").unwrap();
    m.set_len(PAGE as u64).unwrap();
    m.close().unwrap();
    m.close().unwrap(); // idempotent
    assert!(!m.is_valid());
    assert_eq!(m.raw(), -1);
    assert_eq!(Handle::raw(&m), -1);
    let mut buf = [0u8; 4];
    assert_eq!(m.set_len(1), Err(Error::Closed));
    assert_eq!(m.len(), Err(Error::Closed));
    assert_eq!(m.is_empty(), Err(Error::Closed));
    assert_eq!(m.read_at(&mut buf, 0), Err(Error::Closed));
    assert_eq!(m.write_at(&buf, 0), Err(Error::Closed));
    assert_eq!(m.seal(Seals::WRITE), Err(Error::Closed));
    assert_eq!(m.seals(), Err(Error::Closed));
    // SAFETY: the handle is closed; nothing is mapped.
    unsafe {
        assert_eq!(m.map(PAGE, Prot::READ).err(), Some(Error::Closed));
        assert_eq!(m.map_at(PAGE, Prot::READ, 0).err(), Some(Error::Closed));
    }
    assert_eq!(m.map_sealed().err(), Some(Error::Closed));
    assert_eq!(m.name(), "closed"); // cached, no syscall
}

#[test]
fn conversions_round_trip_and_rebuild_the_name() {
    let m = MemFd::new_sealable("convert").unwrap();
    m.write_at(b"abc", 0).unwrap();

    let m = MemFd::from(OwnedFd::from(m));
    assert_eq!(m.name(), "convert");
    assert_eq!(m.len(), Ok(3));

    let raw = m.into_raw_fd();
    // SAFETY: `raw` came from `into_raw_fd` and is owned by nobody else.
    let m = unsafe { MemFd::from_raw_fd(raw) };
    assert_eq!(m.name(), "convert");
    assert_eq!(m.as_raw_fd(), raw);
    m.seal(Seals::GROW).unwrap(); // still sealable: the same file

    // A descriptor that is not a memfd rebuilds an empty name.
    let (r, _w) = std::io::pipe().unwrap();
    let not_memfd = MemFd::from(OwnedFd::from(r));
    assert_eq!(not_memfd.name(), "");
}

#[test]
fn from_raw_fd_of_a_negative_number_is_a_closed_handle() {
    // SAFETY: a negative number owns nothing; the handle is born closed.
    let m = unsafe { MemFd::from_raw_fd(-1) };
    assert!(!m.is_valid());
    assert_eq!(m.name(), "");
    assert_eq!(m.len(), Err(Error::Closed));
    assert_eq!(m.map_sealed().err(), Some(Error::Closed));
}

#[test]
fn hugetlb_memfd() {
    let m = match MemFd::new_hugetlb("huge") {
        Ok(m) => m,
        Err(e) => {
            println!("skipped: memfd_create(MFD_HUGETLB) refused: {e}");
            return;
        }
    };
    assert_eq!(m.name(), "huge");
    assert_ne!(util::fdinfo_flags(&m) & O_CLOEXEC, 0);
    let dup = m.as_fd().try_clone_to_owned().unwrap();
    assert_eq!(MemFd::from(dup).name(), "huge");
    const HUGE: usize = 2 << 20;
    // Sizes must be whole huge pages.
    assert_eq!(
        m.set_len(4096),
        Err(Error::InvalidParam(Error::KERNEL_EINVAL))
    );
    if let Err(e) = m.set_len(HUGE as u64) {
        println!("skipped: ftruncate of a hugetlb memfd refused: {e}");
        return;
    }
    assert_eq!(m.len(), Ok(HUGE as u64));
    // hugetlbfs has no write(): write through a mapping instead.
    assert_eq!(
        m.write_at(b"x", 0),
        Err(Error::InvalidParam(Error::KERNEL_EINVAL))
    );
    // Mapping lengths must be whole huge pages: the kernel would map whole
    // huge pages, which the region's `munmap(ptr, len)` could not remove.
    let not_whole = Some("mapping length is not a multiple of the huge page size");
    // SAFETY: every call fails; nothing is mapped.
    unsafe {
        assert_eq!(invalid_param(m.map(PAGE, Prot::READ)), not_whole);
        assert_eq!(invalid_param(m.map(HUGE - 1, RW)), not_whole);
        assert_eq!(invalid_param(m.map(1, Prot::READ)), not_whole);
        assert_eq!(
            invalid_param(m.map(HUGE + PAGE, Prot::READ)),
            Some("mapping extends past the end of the file")
        );
    }
    m.set_len(2 * HUGE as u64).unwrap();
    // SAFETY: as above.
    unsafe {
        assert_eq!(
            invalid_param(m.map_at(HUGE + PAGE, Prot::READ, PAGE as u64)),
            not_whole
        );
        // Mapping offsets must be whole huge pages: the kernel says so.
        let r = m.map_at(HUGE, Prot::READ, PAGE as u64);
        assert_eq!(r.err(), Some(Error::InvalidParam(Error::KERNEL_EINVAL)));
    }
    // SAFETY: nothing else writes this memfd while the region lives.
    let mut region = match unsafe { m.map(HUGE, RW) } {
        Ok(r) => r,
        Err(Error::NoMemory) => {
            println!("skipped mapping: no huge pages reserved (vm.nr_hugepages is 0)");
            return;
        }
        Err(e) => panic!("map of a hugetlb memfd: {e}"),
    };
    assert_eq!(region.len(), HUGE);
    region.as_mut_slice().unwrap()[..4].copy_from_slice(b"huge");
    let mut buf = [0u8; 4];
    assert_eq!(m.read_at(&mut buf, 0), Ok(4));
    assert_eq!(&buf, b"huge");
    assert!(is_mapped("huge"));
    assert_eq!(region.unmap(), Ok(()));
    assert!(!is_mapped("huge"));
}

#[test]
fn sealed_hugetlb_memfd_maps_whole_huge_pages() {
    use iofd::sys::mem::{MemFdFlags, memfd_create};

    const HUGE: usize = 2 << 20;
    let flags = MemFdFlags::CLOEXEC | MemFdFlags::ALLOW_SEALING | MemFdFlags::HUGETLB;
    let m = match memfd_create(c"sealed-huge-5b2d", flags) {
        Ok(fd) => MemFd::from(fd),
        Err(e) => {
            println!("skipped: memfd_create(MFD_HUGETLB | MFD_ALLOW_SEALING) refused: {e:?}");
            return;
        }
    };
    assert_eq!(m.name(), "sealed-huge-5b2d");
    m.set_len(HUGE as u64).unwrap();
    m.seal(Seals::WRITE | Seals::SHRINK).unwrap();
    // The size is whole huge pages (ftruncate allows no other), so the
    // mapping is made; only the empty pool can refuse it. A size that is
    // not whole huge pages (possible only through fallocate, which needs
    // pages from the pool) would be refused with "file size is not a
    // multiple of the huge page size".
    match m.map_sealed() {
        Ok(region) => {
            assert_eq!(region.len(), HUGE);
            assert_eq!(region.as_slice()[..4], [0; 4]);
            assert_eq!(region.unmap(), Ok(()));
            assert!(!is_mapped("sealed-huge-5b2d"));
        }
        Err(Error::NoMemory) => {
            println!("skipped mapping: no huge pages reserved (vm.nr_hugepages is 0)");
        }
        Err(e) => panic!("map_sealed of a hugetlb memfd: {e}"),
    }
}

#[test]
fn debug_send_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<MemFd>();
    assert_send_sync::<MappedRegion>();
    let m = MemFd::new("dbg").unwrap();
    m.set_len(1).unwrap();
    assert!(format!("{m:?}").contains("dbg"));
    // SAFETY: nothing writes the memfd.
    let region = unsafe { m.map(1, Prot::READ) }.unwrap();
    let dbg = format!("{region:?}");
    assert!(
        dbg.contains("MappedRegion") && dbg.contains("len: 1"),
        "{dbg}"
    );
}
