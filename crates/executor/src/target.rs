//! What the executor is told about a target: its driver, its secret URL and the limits of its
//! policy.

use std::fmt;
use std::time::Duration;

pub use countersign_core::driver::Driver;

/// A database to run on. The URL carries credentials that only the server may know: the
/// executor never logs it, `Debug` redacts it, and every message that leaves the executor is
/// passed through [`crate::scrub`].
#[derive(Clone, Copy)]
pub struct Target<'a> {
    pub driver: Driver,
    /// The connection URL, e.g. `postgres://user:secret@host:5432/db`,
    /// `mysql://user:secret@host/db`, `sqlite:///abs/path.db?mode=rw`.
    pub url: &'a str,
}

impl fmt::Debug for Target<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("driver", &self.driver)
            .field("url", &format_args!("[redacted]"))
            .finish()
    }
}

/// The bounds a target's policy puts on every run. `None` leaves the database's own default
/// in force (see the crate documentation for what each driver does with these).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// The longest any one statement may run.
    pub statement_timeout: Option<Duration>,
    /// The longest any one statement may wait for a lock.
    pub lock_timeout: Option<Duration>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_url() {
        let target = Target {
            driver: Driver::Postgres,
            url: "postgres://app:hunter2@db.internal:5432/prod",
        };
        let shown = format!("{target:?}");
        assert!(shown.contains("Postgres"));
        assert!(!shown.contains("hunter2"));
        assert!(!shown.contains("db.internal"));
    }
}
