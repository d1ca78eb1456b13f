//! Bytes ↔ `RingData`: the `*.ring.gz` formats v1 and v2, over `impl Read` / `impl Write`.
