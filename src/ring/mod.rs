//! The ring driver (planned): typed handle operations batched through
//! io_uring into caller-owned storage, indexed by a slab-backed,
//! generation-checked completion table.
//!
//! This module is empty until the driver lands; see `DESIGN.md`.
