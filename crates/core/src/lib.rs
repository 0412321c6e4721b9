//! The domain of Countersign: users and roles, edit requests and their lifecycle, reviews,
//! policy, and the audit hash chain — as plain types and pure functions returning typed errors.
//! Nothing here does I/O.

pub mod timestamp;
pub mod user;
