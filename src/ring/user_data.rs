//! `UserData`: the 64-bit tag every SQE carries and its CQE returns.

use std::fmt;

/// The `user_data` of an SQE: which completion-table slot the operation
/// owns, and which *generation* of that slot.
///
/// A slot is reused once its operation has completed and been taken. A CQE
/// that arrives late — for an operation whose slot has since been freed and
/// reused — carries the old generation, so the table recognises it as stale
/// and drops it instead of delivering it to the slot's new owner (the same
/// reason tokio's I/O driver tags its tokens with a generation).
///
/// Layout, from the least significant bit:
///
/// | bits | field |
/// |---|---|
/// | 0..32 | slot key ([`KEY_BITS`](UserData::KEY_BITS)) |
/// | 32..63 | generation ([`GEN_BITS`](UserData::GEN_BITS)) |
/// | 63 | the auxiliary flag: the CQE belongs to the `POLL_ADD` half of a re-armed read, not to the read itself |
///
/// A message for a [`Mailbox`](super::Mailbox) (`IORING_OP_MSG_RING`,
/// posted by another ring or thread) carries the mailbox's tag with bit 31
/// of the key set — table keys stay below 2^31 — and, when it brings a
/// file, the auxiliary flag: no operation's tag looks like it.
///
/// Values whose generation field is all ones are reserved for the driver's
/// own requests ([`CANCEL`](UserData::CANCEL), [`WAKE`](UserData::WAKE)):
/// generations of real slots never reach it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct UserData(u64);

impl UserData {
    /// Bits of the slot key.
    pub const KEY_BITS: u32 = 32;
    /// Bits of the generation.
    pub const GEN_BITS: u32 = 31;
    /// The largest generation a slot uses; the next wraps to 0.
    pub const MAX_GEN: u32 = (1 << Self::GEN_BITS) - 2;
    const KEY_MASK: u64 = (1 << Self::KEY_BITS) - 1;
    const GEN_MASK: u64 = (1 << Self::GEN_BITS) - 1;
    const AUX: u64 = 1 << 63;
    const RESERVED_GEN: u64 = Self::GEN_MASK;
    /// The reserved generation, which no slot ever has.
    pub(crate) const RESERVED: u32 = Self::RESERVED_GEN as u32;

    /// The CQEs of the driver's own `ASYNC_CANCEL` requests, which are
    /// consumed and never delivered.
    pub const CANCEL: UserData = UserData((Self::RESERVED_GEN << Self::KEY_BITS) | 1);
    /// A tag for requests pushed with [`Ring::push_raw`](super::Ring::push_raw)
    /// whose CQE nobody takes (a `NOP` that only wakes a waiter): the table
    /// consumes it and never delivers or counts it.
    pub const WAKE: UserData = UserData((Self::RESERVED_GEN << Self::KEY_BITS) | 2);

    /// The tag of the driver's cancel request for slot `key`: reserved,
    /// and carrying the key (with the auxiliary flag, which no other
    /// reserved value has), so that a cancel that found nothing can be
    /// sent again while the operation runs on (see
    /// [`cancelled_key`](UserData::cancelled_key)).
    #[inline]
    pub(crate) const fn cancel_of(key: u32) -> UserData {
        UserData((Self::RESERVED_GEN << Self::KEY_BITS) | Self::AUX | key as u64)
    }

    /// The slot key a [`cancel_of`](UserData::cancel_of) tag names.
    #[inline]
    pub(crate) const fn cancelled_key(self) -> Option<u32> {
        if self.is_reserved() && self.is_aux() {
            Some(self.key())
        } else {
            None
        }
    }

    /// Bit 31 of the key: set in messages for a mailbox.
    const MAIL: u64 = 1 << 31;

    /// Marks a slotless operation's `user_data` (with the reserved
    /// generation, no auxiliary flag and no mail bit): the key's bit 30.
    /// The tag takes the 30 bits below it.
    pub(crate) const SLOTLESS: u64 = 1 << 30;

    /// A slotless operation's `user_data` for `tag` (below
    /// [`SLOTLESS`](UserData::SLOTLESS)).
    #[inline(always)]
    pub(crate) const fn slotless(tag: u64) -> UserData {
        UserData((Self::RESERVED_GEN << Self::KEY_BITS) | Self::SLOTLESS | tag)
    }

    /// The tag of a slotless operation's `user_data`, or `None` for any
    /// other.
    #[inline(always)]
    pub(crate) const fn slotless_tag(self) -> Option<u64> {
        if self.0 & !(Self::SLOTLESS - 1) == Self::slotless(0).0 {
            Some(self.0 & (Self::SLOTLESS - 1))
        } else {
            None
        }
    }

    /// The tag a message for mailbox `self` carries: the mailbox's key
    /// with bit 31 set, its generation, and the auxiliary flag when the
    /// message brings a file (`IORING_MSG_SEND_FD`).
    #[inline]
    pub(crate) const fn mail(self, file: bool) -> UserData {
        let ud = UserData(self.0 | Self::MAIL);
        if file { ud.aux() } else { ud }
    }

    /// For a message's tag ([`mail`](UserData::mail)): the mailbox it is
    /// for, and whether it brings a file.
    #[inline]
    pub(crate) const fn mail_target(self) -> Option<(UserData, bool)> {
        if self.is_reserved() || self.0 & Self::MAIL == 0 {
            return None;
        }
        Some((UserData(self.0 & !(Self::MAIL | Self::AUX)), self.is_aux()))
    }

    /// The tag of slot `key` at generation `generation`.
    #[inline]
    pub(crate) const fn new(key: u32, generation: u32) -> UserData {
        UserData(((generation as u64 & Self::GEN_MASK) << Self::KEY_BITS) | key as u64)
    }

    /// The same tag with the auxiliary flag set.
    #[inline]
    pub(crate) const fn aux(self) -> UserData {
        UserData(self.0 | Self::AUX)
    }

    /// The raw 64-bit value, as written into the SQE.
    #[inline]
    pub const fn raw(self) -> u64 {
        self.0
    }

    /// The tag a CQE carried.
    #[inline]
    pub const fn from_raw(raw: u64) -> UserData {
        UserData(raw)
    }

    /// The slot key.
    #[inline]
    pub const fn key(self) -> u32 {
        (self.0 & Self::KEY_MASK) as u32
    }

    /// The slot generation.
    #[inline]
    pub const fn generation(self) -> u32 {
        ((self.0 >> Self::KEY_BITS) & Self::GEN_MASK) as u32
    }

    /// The upper 32 bits: the generation, plus the auxiliary flag (so a
    /// tag equals a slot's generation here only when it is not auxiliary).
    #[inline]
    pub(crate) const fn upper(self) -> u32 {
        (self.0 >> Self::KEY_BITS) as u32
    }

    /// Whether the auxiliary flag is set.
    #[inline]
    pub const fn is_aux(self) -> bool {
        self.0 & Self::AUX != 0
    }

    /// Whether this is one of the driver's reserved values.
    #[inline]
    pub const fn is_reserved(self) -> bool {
        (self.0 >> Self::KEY_BITS) & Self::GEN_MASK == Self::RESERVED_GEN
    }

    /// The generation after `generation`, wrapping before the reserved one.
    #[inline]
    pub(crate) const fn next_gen(generation: u32) -> u32 {
        if generation >= Self::MAX_GEN {
            0
        } else {
            generation + 1
        }
    }
}

impl fmt::Debug for UserData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == UserData::CANCEL {
            f.write_str("UserData::CANCEL")
        } else if *self == UserData::WAKE {
            f.write_str("UserData::WAKE")
        } else if let Some(tag) = self.slotless_tag() {
            f.debug_tuple("UserData::Slotless").field(&tag).finish()
        } else {
            f.debug_struct("UserData")
                .field("key", &self.key())
                .field("generation", &self.generation())
                .field("aux", &self.is_aux())
                .finish()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::UserData;

    #[test]
    fn packs_and_unpacks() {
        for (key, generation) in [(0, 0), (1, 1), (u32::MAX, UserData::MAX_GEN), (7, 12345)] {
            let ud = UserData::new(key, generation);
            assert_eq!(ud.key(), key);
            assert_eq!(ud.generation(), generation);
            assert!(!ud.is_aux());
            assert!(!ud.is_reserved());
            let aux = ud.aux();
            assert!(aux.is_aux());
            assert_eq!((aux.key(), aux.generation()), (key, generation));
            assert_eq!(UserData::from_raw(ud.raw()), ud);
        }
    }

    #[test]
    fn reserved_values_never_collide_with_slots() {
        assert!(UserData::CANCEL.is_reserved());
        assert!(UserData::WAKE.is_reserved());
        assert_eq!(UserData::CANCEL.cancelled_key(), None);
        assert_eq!(UserData::WAKE.cancelled_key(), None);
        assert_eq!(UserData::new(7, 3).aux().cancelled_key(), None);
        let c = UserData::cancel_of(u32::MAX);
        assert!(c.is_reserved());
        assert_eq!(c.cancelled_key(), Some(u32::MAX));
        assert_ne!(UserData::CANCEL, UserData::WAKE);
        let mut generation = UserData::MAX_GEN - 2;
        for _ in 0..5 {
            generation = UserData::next_gen(generation);
            assert!(!UserData::new(1, generation).is_reserved());
        }
        assert_eq!(UserData::next_gen(UserData::MAX_GEN), 0);
    }

    #[test]
    fn mail_tags_name_their_mailbox() {
        let mailbox = UserData::new((1 << 31) - 1, 77);
        assert_eq!(mailbox.mail_target(), None);
        assert_eq!(mailbox.mail(false).mail_target(), Some((mailbox, false)));
        assert_eq!(mailbox.mail(true).mail_target(), Some((mailbox, true)));
        assert!(!mailbox.mail(true).is_reserved());
        assert_eq!(mailbox.mail(true).cancelled_key(), None);
        assert_eq!(UserData::cancel_of(u32::MAX).mail_target(), None);
        assert_eq!(UserData::WAKE.mail_target(), None);
    }
}
