//! The executor: runs one approved revision on its target (PostgreSQL, MySQL/MariaDB, SQLite) in one
//! transaction, with timeouts and the row-count guard, and reconciles runs a crash interrupted.
//! It knows nothing of HTTP or users.
