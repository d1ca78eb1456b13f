//! The SQLite broker shared by the account and container servers.
