//! Email through SMTP with `lettre`: the message (plain text and HTML from the askama
//! templates `web/templates/email/`), and its sending. `smtp://` uses STARTTLS when the server
//! offers it (`?tls=required`: only then), `smtps://` TLS from the start; the server's
//! certificate must chain to the system's roots or to `[smtp] ca_file`, else nothing is sent. The message id carries the delivery id, the same on
//! every retry. A refusal the server calls permanent (5xx: no such recipient) is not retried.

use askama::Template;
use countersign_store::outbox::{Audience, Delivery, OutboxEvent};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde_json::{Value, json};

use super::SendError;
use super::plan::headline;
use crate::config::notify::SmtpConfig;

#[derive(Template)]
#[template(path = "email/notification.txt")]
struct TextMail<'a> {
    headline: &'a str,
    id: i64,
    title: &'a str,
    target: &'a str,
    status: &'a str,
    event: &'a str,
    actor: Option<&'a str>,
    comment: Option<&'a str>,
    url: &'a str,
}

#[derive(Template)]
#[template(path = "email/notification.html")]
struct HtmlMail<'a> {
    headline: &'a str,
    id: i64,
    title: &'a str,
    target: &'a str,
    status: &'a str,
    event: &'a str,
    actor: Option<&'a str>,
    comment: Option<&'a str>,
    url: &'a str,
}

/// `{subject, text, html}` for `event`.
pub fn render(event: &OutboxEvent, audience: &Audience, url: &str) -> Value {
    let headline = headline(event, audience);
    let comment = (event.event == "comment.added")
        .then(|| event.details["text"].as_str())
        .flatten();
    let text = TextMail {
        headline: &headline,
        id: event.request_id,
        title: &audience.title,
        target: &audience.target,
        status: audience.status.as_str(),
        event: &event.event,
        actor: event.actor.as_deref(),
        comment,
        url,
    };
    let html = HtmlMail {
        headline: &headline,
        id: event.request_id,
        title: &audience.title,
        target: &audience.target,
        status: audience.status.as_str(),
        event: &event.event,
        actor: event.actor.as_deref(),
        comment,
        url,
    };
    json!({
        "subject": format!("[Countersign] {headline}"),
        "text": text.render().unwrap_or_else(|e| format!("{headline}\n\n{url}\n({e})")),
        "html": html.render().unwrap_or_default(),
    })
}

/// The transport for `smtp`: built per dispatcher, reused for every message. The server's
/// certificate is checked against the system's roots and `[smtp] ca_file`.
pub fn transport(
    smtp: &SmtpConfig,
    timeout: std::time::Duration,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let url = smtp.url.expose();
    let builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
        .map_err(|_| "the SMTP URL cannot be read (check SMTP_URL)".to_owned())?;
    let host = host_of(url);
    let params = || -> Result<TlsParameters, String> {
        let mut params = TlsParameters::builder(host.clone());
        if let Some(ca) = &smtp.ca {
            let cert = Certificate::from_pem(&ca.pem)
                .map_err(|_| format!("smtp.ca_file {:?} is not PEM certificates", ca.path))?;
            params = params.add_root_certificate(cert);
        }
        params
            .build()
            .map_err(|_| format!("cannot set up TLS for {host:?}"))
    };
    let builder = match (url.split_once("://").map(|(s, _)| s), tls_query(url)) {
        // TLS from the start.
        (Some("smtps"), _) => builder.tls(Tls::Wrapper(params()?)),
        // STARTTLS, and nothing without it.
        (Some("smtp"), Some("required")) => builder.tls(Tls::Required(params()?)),
        // STARTTLS when the server offers it.
        (Some("smtp"), None | Some("opportunistic")) => builder.tls(Tls::Opportunistic(params()?)),
        _ => builder,
    };
    Ok(builder.timeout(Some(timeout)).build())
}

/// What a failed attempt says: a certificate nobody trusts in words that say what to do.
fn failure(error: &str) -> String {
    const UNTRUSTED: &str = "invalid peer certificate: ";
    match error.find(UNTRUSTED) {
        Some(i) => format!(
            "SMTP: the server's TLS certificate is not trusted ({}); if a private CA signed \
             it, name that CA in [smtp] ca_file",
            &error[i + UNTRUSTED.len()..]
        ),
        None => format!("SMTP: {error}"),
    }
}

/// The `tls=` of an SMTP URL's query, if it has one.
fn tls_query(url: &str) -> Option<&str> {
    let (_, query) = url.split_once('?')?;
    query.split('&').find_map(|pair| pair.strip_prefix("tls="))
}

/// The host of an `smtp://user:pass@host:port` URL.
fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    host_port
        .rsplit_once(':')
        .map_or(host_port, |(h, _)| h)
        .to_owned()
}

/// Sends one email delivery.
pub async fn send(
    transport: &AsyncSmtpTransport<Tokio1Executor>,
    from: &str,
    delivery: &Delivery,
) -> Result<(), SendError> {
    let to: Mailbox = delivery
        .recipient
        .as_deref()
        .unwrap_or_default()
        .parse()
        .map_err(|_| SendError::permanent("the recipient's address is not an email address"))?;
    let from: Mailbox = from
        .parse()
        .map_err(|_| SendError::permanent("smtp.from is not an address"))?;
    let p = &delivery.payload;
    let message = Message::builder()
        .from(from)
        .to(to)
        .subject(p["subject"].as_str().unwrap_or("[Countersign]"))
        .message_id(Some(format!("<{}@countersign>", delivery.delivery)))
        .multipart(MultiPart::alternative_plain_html(
            p["text"].as_str().unwrap_or_default().to_owned(),
            p["html"].as_str().unwrap_or_default().to_owned(),
        ))
        .map_err(|e| SendError::permanent(format!("cannot build the message: {e}")))?;
    match transport.send(message).await {
        Ok(_) => Ok(()),
        Err(e) if e.is_permanent() => Err(SendError::permanent(format!("SMTP refused: {e}"))),
        Err(e) => Err(SendError::retry(failure(&e.to_string()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_names_the_host_and_the_tls_mode() {
        assert_eq!(
            host_of("smtp://u:p@mail.example.com:587"),
            "mail.example.com"
        );
        assert_eq!(host_of("smtps://127.0.0.1:465/helo.example"), "127.0.0.1");
        assert_eq!(tls_query("smtp://h:25?tls=required"), Some("required"));
        assert_eq!(
            tls_query("smtp://h:25?a=b&tls=opportunistic"),
            Some("opportunistic")
        );
        assert_eq!(tls_query("smtp://h:25"), None);
    }

    #[test]
    fn an_untrusted_certificate_says_what_to_do() {
        let said = failure("Connection error: invalid peer certificate: UnknownIssuer");
        assert!(said.contains("not trusted (UnknownIssuer)"), "{said}");
        assert!(said.contains("[smtp] ca_file"), "{said}");
        assert_eq!(failure("timed out"), "SMTP: timed out");
    }
}
