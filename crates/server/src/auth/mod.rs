//! Authentication: password hashing, API tokens, browser sessions and CSRF protection, and the
//! extractors that give a handler its signed-in user.

pub mod extract;
pub mod password;
pub mod secret;

pub use extract::{ApiCaller, ApiUser, MaybeSession, PageUser, RequestPageUser};
