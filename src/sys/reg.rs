//! Typed syscall arguments and returns, one type per register position.
//!
//! The asm stubs take an [`ArgReg<'a, Num>`] for each argument register and
//! give back a `RetReg` for `rax`, as rustix's `linux_raw` backend does:
//!
//! - a pointer argument stays a pointer all the way into the `asm!` operand,
//!   so the kernel's access is made through a pointer with its provenance,
//!   never through an integer cast back into one;
//! - an argument borrowed from a reference or a [`BorrowedFd`] carries that
//!   borrow's lifetime `'a`, so it cannot outlive the memory or descriptor it
//!   names;
//! - the position marker (`A0` .. `A5`) makes each stub parameter its own
//!   type, and an `ArgReg` is neither `Clone` nor `Copy`: one value is made
//!   for one register of one call.
//!
//! Integers become arguments with the same bits `as usize` would give
//! (signed types sign-extend, unsigned ones zero-extend), so a wrapper's
//! register contents do not change with the type it is written in.
//!
//! Nothing here is `unsafe`: building an argument is safe, and what the
//! kernel does with it is the caller's promise at the `unsafe` syscall.

use core::ffi::c_void;
use core::fmt;
use core::marker::PhantomData;
use core::ptr;
use std::os::fd::{AsRawFd, BorrowedFd};

use super::Errno;
use super::errno::decode;

mod sealed {
    pub trait Sealed {}
}

/// A register position: implemented by [`A0`] .. [`A5`] only.
pub trait ArgNumber: sealed::Sealed {}

macro_rules! arg_numbers {
    ($($name:ident: $reg:literal, $pos:literal;)*) => {$(
        #[doc = concat!("The ", $pos, " syscall argument (`", $reg, "` on x86_64).")]
        #[derive(Debug)]
        pub struct $name(());
        impl sealed::Sealed for $name {}
        impl ArgNumber for $name {}
    )*};
}

arg_numbers! {
    A0: "rdi", "first";
    A1: "rsi", "second";
    A2: "rdx", "third";
    A3: "r10", "fourth";
    A4: "r8", "fifth";
    A5: "r9", "sixth";
}

/// One syscall argument for register position `Num`, valid for `'a`.
///
/// Built with `From`: from a raw pointer (kept as a pointer), a reference
/// or `Option` of one (a pointer carrying the borrow's lifetime; `None` is
/// `NULL`), a [`BorrowedFd`] (its number, for as long as the borrow), or any
/// primitive integer (its `as usize` bits).
///
/// # Examples
///
/// ```
/// use iofd::sys::{self, ArgReg, A1, Errno};
/// use iofd::sys::event::{EventFdFlags, eventfd2};
/// use std::os::fd::AsFd;
///
/// let efd = eventfd2(5, EventFdFlags::NONBLOCK)?;
/// let mut counter = 0u64;
/// let buf: ArgReg<'_, A1> = (&mut counter).into();
/// // SAFETY: `buf` points at 8 writable bytes, live for the call.
/// let n = unsafe { sys::syscall3(sys::nr::READ, efd.as_fd().into(), buf, 8usize.into()) }?;
/// assert_eq!((n, counter), (8, 5));
/// # Ok::<(), Errno>(())
/// ```
///
/// An argument made from a reference cannot outlive it:
///
/// ```compile_fail
/// use iofd::sys::{A0, ArgReg};
///
/// let arg: ArgReg<'_, A0> = {
///     let counter = 0u64;
///     (&counter).into()
/// };
/// drop(arg);
/// ```
#[repr(transparent)]
#[must_use = "an argument does nothing until it is passed to a syscall"]
pub struct ArgReg<'a, Num: ArgNumber> {
    raw: *mut c_void,
    _borrow: PhantomData<(&'a (), Num)>,
}

impl<Num: ArgNumber> ArgReg<'_, Num> {
    /// The register's contents, as the `asm!` operand takes them.
    #[inline(always)]
    pub(crate) fn into_asm(self) -> *mut c_void {
        self.raw
    }

    /// A null pointer argument.
    pub const NULL: Self = Self::from_usize(0);

    /// An argument that is a plain number, with no provenance.
    #[inline(always)]
    const fn from_usize(value: usize) -> Self {
        ArgReg {
            raw: ptr::without_provenance_mut(value),
            _borrow: PhantomData,
        }
    }
}

impl<Num: ArgNumber> fmt::Debug for ArgReg<'_, Num> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ArgReg").field(&self.raw).finish()
    }
}

macro_rules! from_integers {
    ($($t:ty),*) => {$(
        impl<Num: ArgNumber> From<$t> for ArgReg<'_, Num> {
            #[doc = concat!("The `", stringify!($t), "`'s `as usize` bits.")]
            #[inline(always)]
            fn from(value: $t) -> Self {
                Self::from_usize(value as usize)
            }
        }
    )*};
}

from_integers!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize);

impl<Num: ArgNumber, T> From<*const T> for ArgReg<'_, Num> {
    /// The pointer, provenance kept.
    #[inline(always)]
    fn from(p: *const T) -> Self {
        ArgReg {
            raw: p.cast::<c_void>().cast_mut(),
            _borrow: PhantomData,
        }
    }
}

impl<Num: ArgNumber, T> From<*mut T> for ArgReg<'_, Num> {
    /// The pointer, provenance kept.
    #[inline(always)]
    fn from(p: *mut T) -> Self {
        ArgReg {
            raw: p.cast::<c_void>(),
            _borrow: PhantomData,
        }
    }
}

impl<'a, Num: ArgNumber, T> From<&'a T> for ArgReg<'a, Num> {
    /// A pointer to `*r`, for reads only, valid while the borrow lasts.
    #[inline(always)]
    fn from(r: &'a T) -> Self {
        ptr::from_ref(r).into()
    }
}

impl<'a, Num: ArgNumber, T> From<&'a mut T> for ArgReg<'a, Num> {
    /// A pointer to `*r`, for reads and writes, valid while the borrow lasts.
    #[inline(always)]
    fn from(r: &'a mut T) -> Self {
        ptr::from_mut(r).into()
    }
}

impl<'a, Num: ArgNumber, T> From<Option<&'a T>> for ArgReg<'a, Num> {
    /// A pointer to the value, or `NULL` for `None`.
    #[inline(always)]
    fn from(r: Option<&'a T>) -> Self {
        r.map_or(ptr::null(), ptr::from_ref).into()
    }
}

impl<'a, Num: ArgNumber, T> From<Option<&'a mut T>> for ArgReg<'a, Num> {
    /// A pointer to the value, or `NULL` for `None`.
    #[inline(always)]
    fn from(r: Option<&'a mut T>) -> Self {
        r.map_or(ptr::null_mut(), ptr::from_mut).into()
    }
}

impl<'a, Num: ArgNumber> From<BorrowedFd<'a>> for ArgReg<'a, Num> {
    /// The descriptor's number, for as long as it is borrowed.
    #[inline(always)]
    fn from(fd: BorrowedFd<'a>) -> Self {
        fd.as_raw_fd().into()
    }
}

/// A syscall's raw `rax` on return, kept as a pointer until decoded, so a
/// call that returns an address (`mmap`) hands out the kernel's pointer
/// itself.
#[repr(transparent)]
#[must_use = "a syscall's result must be decoded"]
pub(crate) struct RetReg(*mut c_void);

impl RetReg {
    /// Wraps the `asm!` output.
    #[inline(always)]
    pub(crate) const fn from_asm(raw: *mut c_void) -> Self {
        RetReg(raw)
    }

    /// The result of a call that cannot fail (`getpid`), as a number.
    #[inline(always)]
    pub(crate) fn into_usize(self) -> usize {
        self.0.addr()
    }

    /// Splits `-errno` from success, through the crate's one decode.
    #[inline(always)]
    pub(crate) fn decode(self) -> Result<usize, Errno> {
        decode(self.0.addr())
    }

    /// As [`decode`](Self::decode), keeping a successful result as the
    /// pointer the kernel returned.
    #[inline(always)]
    pub(crate) fn decode_ptr(self) -> Result<*mut c_void, Errno> {
        decode(self.0.addr()).map(|_| self.0)
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;

    use super::*;

    fn bits<Num: ArgNumber>(arg: ArgReg<'_, Num>) -> usize {
        arg.into_asm().addr()
    }

    #[test]
    fn integers_keep_their_as_usize_bits() {
        assert_eq!(bits::<A0>((-1i32).into()), usize::MAX);
        assert_eq!(bits::<A0>((-100isize).into()), -100isize as usize);
        assert_eq!(bits::<A1>(u32::MAX.into()), 0xffff_ffff);
        assert_eq!(bits::<A2>(u64::MAX.into()), usize::MAX);
        assert_eq!(bits::<A3>(7u8.into()), 7);
        assert_eq!(bits::<A4>(ArgReg::NULL), 0);
    }

    #[test]
    fn pointers_and_references_keep_their_address() {
        let mut value = 5u64;
        let addr = ptr::from_mut(&mut value).addr();
        assert_eq!(bits::<A0>((&raw mut value).into()), addr);
        assert_eq!(bits::<A1>((&raw const value).into()), addr);
        assert_eq!(bits::<A2>((&value).into()), addr);
        assert_eq!(bits::<A3>((&mut value).into()), addr);
        assert_eq!(bits::<A4>(Some(&value).into()), addr);
        assert_eq!(bits::<A5>(None::<&u64>.into()), 0);
        assert_eq!(bits::<A5>(None::<&mut u64>.into()), 0);
    }

    #[test]
    fn a_descriptor_is_its_number() {
        let stdin = std::io::stdin();
        assert_eq!(bits::<A0>(stdin.as_fd().into()), 0);
    }

    #[test]
    fn a_return_decodes_once() {
        let ok = RetReg::from_asm(ptr::without_provenance_mut(3));
        assert_eq!(ok.decode(), Ok(3));
        let err = RetReg::from_asm(ptr::without_provenance_mut(-9isize as usize));
        assert_eq!(err.decode_ptr(), Err(Errno::EBADF));
        let mut byte = 0u8;
        let p = ptr::from_mut(&mut byte).cast::<c_void>();
        assert_eq!(RetReg::from_asm(p).decode_ptr(), Ok(p));
        assert_eq!(RetReg::from_asm(p).into_usize(), p.addr());
    }
}
