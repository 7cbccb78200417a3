//! Group ids taken in the process: one [`BufRing`](super::BufRing) per
//! id, whatever ring it is registered on (see the parent module for why).

use std::sync::{Mutex, PoisonError};

use crate::error::{Error, Result};
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
}
