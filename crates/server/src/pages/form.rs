//! Browser forms: the body as name/value pairs (a name may repeat, as checkboxes do), taken
//! only through [`SignedForm`], which checks the CSRF token before a handler runs — so a page
//! handler cannot forget the check.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::response::{IntoResponse, Response};

use crate::AppState;
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
    fn check_csrf(&self, user: &PageUser) -> Result<(), PageError> {
        user.check_csrf(self.get("csrf_token")).map_err(PageError)
    }

    async fn from_body(req: Request, state: &AppState) -> Result<Self, PageError> {
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

/// A form posted by the signed-in user, whose CSRF token matched their session: the only way
/// a page handler gets a form body.
pub struct SignedForm {
    pub me: PageUser,
    pub form: RawForm,
}

impl FromRequest<AppState> for SignedForm {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let me = PageUser::from_request_parts(&mut parts, state).await?;
        let form = RawForm::from_body(Request::from_parts(parts, body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        form.check_csrf(&me).map_err(IntoResponse::into_response)?;
        Ok(SignedForm { me, form })
    }
}
