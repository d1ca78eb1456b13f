//! Lookups on a loaded ring: partition, primary nodes, handoff sequence.

/// A ring loaded for lookups (placeholder; filled in by the lookup work).
pub struct Ring;
