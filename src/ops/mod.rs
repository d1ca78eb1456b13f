//! Operator tools' logic that is not tied to a server: drive auditing and
//! the dispersion sampling tools.

pub mod dispersion;
pub mod drive_audit;
