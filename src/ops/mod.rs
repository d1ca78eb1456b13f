//! Operator tools' logic that is not tied to a server: drive auditing.

pub mod drive_audit;
