//! How times and statuses look on every page.

use countersign_core::request::RequestStatus;
use countersign_core::timestamp;

/// A time as the pages show it: the one fixed RFC 3339 form, as in the audit trail.
pub trait Stamp {
    fn stamp(&self) -> String;
}

impl Stamp for time::OffsetDateTime {
    fn stamp(&self) -> String {
        timestamp::format(*self)
    }
}

/// The CSS class of a status: its colour on every page.
pub fn status_class(status: RequestStatus) -> &'static str {
    match status {
        RequestStatus::PendingReview => "status pending",
        RequestStatus::Approved => "status approved",
        RequestStatus::Rejected | RequestStatus::Failed => "status bad",
        RequestStatus::Withdrawn => "status quiet",
        RequestStatus::Executing => "status running",
        RequestStatus::Executed => "status done",
    }
}
