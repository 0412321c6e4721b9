//! The store's error type: what went wrong, in words a caller can show or map to a status.

/// An error from the store. Messages never contain a connection URL.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the store URL must start with sqlite: or postgres:")]
    UnsupportedUrl,
    #[error("cannot open the store: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("cannot bring the store's schema up to date: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// The row changed since the caller read it (a status or revision it expected is gone).
    #[error("{0}")]
    Conflict(Conflict),
    #[error("{0} not found")]
    NotFound(String),
    #[error("the store holds a value it cannot read: {0}")]
    Corrupt(String),
    /// A read running apart from its caller (the audit trail's read ahead) ended without an
    /// answer: the runtime shut down or the task panicked.
    #[error("a read of the store stopped before it answered: {0}")]
    ReadStopped(String),
    #[error("store error: {0}")]
    Database(#[from] sqlx::Error),
}

/// Which compare-and-set found the row other than its caller saw it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    /// A new revision, a review or a status change came first.
    #[error(
        "request #{0} changed meanwhile (a new revision, a review, or a status change); reload \
         it and try again"
    )]
    ChangedMeanwhile(i64),
    /// An execute call found the request no longer approved (it runs, or ran, already).
    #[error("request #{0} is not approved (it may be running or have run already)")]
    NotApproved(i64),
    /// An execute call found the approval older than the target's `approval_ttl`.
    #[error(
        "the approval of request #{0} has expired (the target's approval_ttl); it goes back to \
         review and needs approving again"
    )]
    ApprovalExpired(i64),
    /// A run's end found the request no longer executing (another instance settled it).
    #[error("request #{0} is not executing")]
    NotExecuting(i64),
    /// A reviewer's second review of the same revision (it would count twice toward approval).
    #[error("{reviewer} has already reviewed revision {revision} of request #{request}")]
    AlreadyReviewed {
        reviewer: String,
        revision: i64,
        request: i64,
    },
    /// A revoke of a token that is revoked already.
    #[error("token {0} is already revoked")]
    AlreadyRevoked(i64),
}

impl StoreError {
    /// Maps a unique-constraint violation to [`StoreError::AlreadyExists`] naming `what`.
    pub(crate) fn unique(err: sqlx::Error, what: impl FnOnce() -> String) -> StoreError {
        match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::AlreadyExists(what())
            }
            _ => StoreError::Database(err),
        }
    }
}
