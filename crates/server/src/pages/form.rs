//! Browser forms, taken only through [`SignedForm`], which checks the CSRF token before a
//! handler runs — so a page handler cannot forget the check. The body is read by
//! `serde_html_form` (what axum-extra's `Form` reads with): into a page's own typed form, or
//! into [`RawForm`]'s name/value pairs.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::auth::PageUser;
use crate::error::{ApiError, PageError};

/// An `application/x-www-form-urlencoded` body as name/value pairs (a name may repeat, as
/// checkboxes do), for forms with no fields of their own to type.
#[derive(Debug, Default, Deserialize)]
#[serde(transparent)]
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
}

/// The field every signed form carries besides its own.
#[derive(Deserialize)]
struct Csrf {
    csrf_token: Option<String>,
}

/// A form posted by the signed-in user, whose CSRF token matched their session: the only way
/// a page handler gets a form body. `T` is the form's fields (unknown ones, such as the token
/// itself, are ignored); a body that does not read as `T` is a 400 naming the field.
pub struct SignedForm<T = RawForm> {
    pub me: PageUser,
    pub form: T,
}

impl<T: DeserializeOwned> FromRequest<AppState> for SignedForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let me = PageUser::from_request_parts(&mut parts, state).await?;
        let body = Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(|e| PageError(ApiError::unreadable_body(e.status(), e.body_text())))
            .map_err(IntoResponse::into_response)?;
        let refuse = |e: ApiError| PageError(e).into_response();
        let csrf: Csrf = serde_html_form::from_bytes(&body)
            .map_err(|e| refuse(ApiError::bad_request(format!("unreadable form: {e}"))))?;
        me.check_csrf(csrf.csrf_token.as_deref()).map_err(refuse)?;
        let form = serde_html_form::from_bytes(&body)
            .map_err(|e| refuse(ApiError::bad_request(format!("unreadable form: {e}"))))?;
        Ok(SignedForm { me, form })
    }
}
