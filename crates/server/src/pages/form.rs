//! Browser forms: the body as name/value pairs (a name may repeat, as checkboxes do), and the
//! CSRF check every state-changing form passes first.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};

use crate::auth::PageUser;
use crate::error::{ApiError, PageError};

/// An `application/x-www-form-urlencoded` body.
#[derive(Debug, Default)]
pub struct RawForm(pub Vec<(String, String)>);

impl RawForm {
    /// The first value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `name`, or "".
    pub fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or_default().to_owned()
    }

    /// Every non-blank value of `name`, in order.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(n, v)| n == name && !v.trim().is_empty())
            .map(|(_, v)| v.trim().to_owned())
            .collect()
    }

    /// Refuses the form unless it carries `user`'s session CSRF token.
    pub fn check_csrf(&self, user: &PageUser) -> Result<(), PageError> {
        user.check_csrf(self.get("csrf_token")).map_err(PageError)
    }
}

impl<S: Send + Sync> FromRequest<S> for RawForm {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &S) -> Result<Self, PageError> {
        let body = Bytes::from_request(req, state)
            .await
            .map_err(|e| PageError(ApiError::unreadable_body(e.status(), e.body_text())))?;
        Ok(RawForm(
            form_urlencoded::parse(&body)
                .map(|(n, v)| (n.into_owned(), v.into_owned()))
                .collect(),
        ))
    }
}
