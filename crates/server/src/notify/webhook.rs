//! Webhooks: a generic one gets the event's JSON with `X-Countersign-Event`,
//! `X-Countersign-Delivery` (the same on every retry) and, with a key,
//! `X-Countersign-Signature: sha256=<hex HMAC-SHA256 of the body>`; a Slack incoming webhook
//! gets `{text, blocks}`. Anything but a 2xx answer, a timeout or a connection error is tried
//! again; error texts never carry the URL.

use hmac::{KeyInit, Mac};
use secrecy::ExposeSecret;
use sha2::Sha256;

use super::SendError;
use crate::config::notify::{ChannelConfig, ChannelKind};
use countersign_store::outbox::Delivery;

/// `sha256=<hex>` of `body` under `key`.
pub fn signature(key: &[u8], body: &[u8]) -> String {
    let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Sends one delivery to `channel`.
pub async fn send(
    client: &reqwest::Client,
    channel: &ChannelConfig,
    delivery: &Delivery,
) -> Result<(), SendError> {
    let body = delivery.payload["body"].as_str().unwrap_or("{}").to_owned();
    let event = delivery.payload["event"].as_str().unwrap_or_default();
    let mut req = client
        .post(channel.url.expose())
        .header(reqwest::header::CONTENT_TYPE, "application/json");
    if channel.kind == ChannelKind::Webhook {
        req = req
            .header("X-Countersign-Event", event)
            .header("X-Countersign-Delivery", delivery.delivery.as_str());
        if let Some(key) = &channel.secret {
            req = req.header(
                "X-Countersign-Signature",
                signature(key.expose_secret().as_bytes(), body.as_bytes()),
            );
        }
    }
    match req.body(body).send().await {
        Ok(res) if res.status().is_success() => Ok(()),
        Ok(res) => Err(SendError::retry(format!(
            "the receiver answered HTTP {}",
            res.status().as_u16()
        ))),
        Err(e) if e.is_timeout() => Err(SendError::retry("the receiver did not answer in time")),
        Err(e) => Err(SendError::retry(format!(
            "cannot reach the receiver: {}",
            e.without_url()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_rfc_4231_hmac_sha256() {
        // RFC 4231, test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
