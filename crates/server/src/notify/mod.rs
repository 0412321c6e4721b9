//! Telling people (design §12): who hears of which event (`plan`), what a webhook, a Slack
//! message and an email say (`webhook`, `email`), and the dispatcher every instance runs over
//! the store's outbox (`dispatch`). The outbox rows themselves are written by the store, in the
//! transaction of the change (`countersign_store::outbox`).

pub mod dispatch;
pub mod email;
pub mod plan;
pub mod webhook;

/// Installs ring as the process's TLS provider (what sqlx uses too), once: reqwest and lettre
/// take it from there. Anything in the process that builds an HTTP client calls it first
/// (the dispatcher; the tests' clients).
pub fn install_tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Middleware: once a request that may change something (any method but GET and HEAD) has
/// been answered, its change — and the outbox rows written with it — is committed: the
/// dispatcher is woken to send them at once.
pub async fn wake_after_change(
    axum::extract::State(state): axum::extract::State<crate::AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let changes = !matches!(
        *request.method(),
        axum::http::Method::GET | axum::http::Method::HEAD
    );
    let response = next.run(request).await;
    if changes && (response.status().is_success() || response.status().is_redirection()) {
        state.wake_dispatcher();
    }
    response
}

/// Why one attempt failed; `permanent` ones are not tried again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    pub message: String,
    pub permanent: bool,
}

impl SendError {
    pub fn retry(message: impl Into<String>) -> SendError {
        SendError {
            message: message.into(),
            permanent: false,
        }
    }

    pub fn permanent(message: impl Into<String>) -> SendError {
        SendError {
            message: message.into(),
            permanent: true,
        }
    }
}

/// `text` with every secret in `secrets` replaced: error texts are shown on `/admin` and
/// logged.
pub fn scrub(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_owned();
    let mut secrets: Vec<&String> = secrets.iter().collect();
    // Longest first: a URL before the password inside it.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for s in secrets {
        out = out.replace(s.as_str(), "[withheld]");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_removes_urls_and_their_parts() {
        let secrets = vec![
            "https://hooks.example.com/T1/B2/sekrit".to_owned(),
            "/T1/B2/sekrit".to_owned(),
            "pa55word".to_owned(),
        ];
        assert_eq!(
            scrub(
                "POST https://hooks.example.com/T1/B2/sekrit failed; login pa55word refused",
                &secrets
            ),
            "POST [withheld] failed; login [withheld] refused"
        );
    }
}
