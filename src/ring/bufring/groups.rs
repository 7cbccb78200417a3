//! Group ids taken in the process: one [`BufRing`](super::BufRing) per
//! id, whatever ring it is registered on (see the parent module for why).

use std::sync::{Mutex, PoisonError};

use crate::error::{Error, Result};
use crate::ring::Ring;
use crate::sys::Errno;

/// The group ids taken in this process, one bit each.
static GROUPS: Mutex<[u64; 1024]> = Mutex::new([0; 1024]);

/// Group id `group`, taken in the process until the value is dropped.
pub(super) struct Reservation(u16);

impl Reservation {
    /// Takes `group`, or `Os(EEXIST)` when a live [`BufRing`](super::BufRing) has it.
    pub(super) fn take(group: u16) -> Result<Reservation> {
        let mut groups = GROUPS.lock().unwrap_or_else(PoisonError::into_inner);
        let (word, bit) = (usize::from(group / 64), 1u64 << (group % 64));
        if groups[word] & bit != 0 {
            return Err(Error::Os(Errno::EEXIST));
        }
        groups[word] |= bit;
        Ok(Reservation(group))
    }

    /// Takes the highest free id (ids picked by hand tend to be small),
    /// or `Os(EEXIST)` when all 65,536 are taken.
    pub(super) fn take_any() -> Result<Reservation> {
        let mut groups = GROUPS.lock().unwrap_or_else(PoisonError::into_inner);
        for word in (0..groups.len()).rev() {
            let free = !groups[word];
            if free != 0 {
                let bit = 63 - free.leading_zeros();
                groups[word] |= 1 << bit;
                return Ok(Reservation((word * 64) as u16 + bit as u16));
            }
        }
        Err(Error::Os(Errno::EEXIST))
    }

    /// The id taken.
    pub(super) fn id(&self) -> u16 {
        self.0
    }
}

impl Ring {
    /// [`register_buf_ring`](Ring::register_buf_ring) under a group id no
    /// other live [`BufRing`](super::BufRing) of the process has, picked
    /// by the call (the highest free one): for code — a library, a worker
    /// started on each thread — that cannot coordinate ids by hand. The id
    /// is [`BufRing::group`](super::BufRing::group).
    ///
    /// # Errors
    ///
    /// As [`register_buf_ring`](Ring::register_buf_ring); `Os(EEXIST)`
    /// only when every id is taken.
    ///
    /// # Examples
    ///
    /// ```
    /// use iofd::ring::Ring;
    ///
    /// let mut a = Ring::new(4)?;
    /// let mut b = Ring::new(4)?;
    /// let x = a.register_buf_ring_any(8, 4096)?;
    /// let y = b.register_buf_ring_any(8, 4096)?;
    /// assert_ne!(x.group(), y.group());
    /// # Ok::<(), iofd::Error>(())
    /// ```
    pub fn register_buf_ring_any(&mut self, entries: u16, buf_len: u32) -> Result<super::BufRing> {
        self.register_group(None, entries, buf_len)
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut groups = GROUPS.lock().unwrap_or_else(PoisonError::into_inner);
        groups[usize::from(self.0 / 64)] &= !(1u64 << (self.0 % 64));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_taken_once_until_released() {
        let first = Reservation::take(65_001).expect("free id");
        assert_eq!(
            Reservation::take(65_001).err(),
            Some(Error::Os(Errno::EEXIST))
        );
        let other = Reservation::take(65_002).expect("another id");
        drop(first);
        let again = Reservation::take(65_001).expect("released");
        drop((again, other));
    }

    #[test]
    fn any_id_is_a_free_one_and_taken_until_released() {
        let a = Reservation::take_any().expect("a free id");
        let b = Reservation::take_any().expect("another");
        assert_ne!(a.id(), b.id());
        assert_eq!(
            Reservation::take(a.id()).err(),
            Some(Error::Os(Errno::EEXIST))
        );
        let id = b.id();
        drop(b);
        let again = Reservation::take(id).expect("released");
        drop((a, again));
    }
}
