//! The domain of Countersign: users and roles, edit requests and their lifecycle, reviews,
//! policy, and the audit hash chain — as plain types and pure functions returning typed errors.
//! Nothing here does I/O.

pub mod audit;
pub mod comment;
pub mod driver;
pub mod email;
pub mod lifecycle;
pub mod mask;
mod names;
pub mod permission;
pub mod policy;
pub mod request;
pub mod throttle;
pub mod timestamp;
pub mod timestamp_serde;
pub mod user;
pub mod validation;

pub use names::UnknownName;
