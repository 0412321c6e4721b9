//! Who hears of which event (design §12), and what each delivery carries, rendered once when
//! the outbox event is expanded so that every retry sends the same bytes:
//!
//! - `request.submitted`, `request.revised` → the named reviewers;
//! - `review.approved`, `review.rejected`, `request.approved`, `comment.added`,
//!   `execution.finished` → the author and the reviewers;
//! - `execution.reconciled` (outcome `unknown`), `approval.expired` → the admins and the author.
//!
//! Email goes to those of them who have an address; each webhook gets every event it
//! subscribes to (its `events` and `targets`).

use countersign_core::timestamp;
use countersign_store::outbox::{Audience, NewDelivery, OutboxEvent, Person};
use serde_json::{Value, json};

use crate::config::Config;
use crate::config::notify::ChannelKind;

/// The channel name of email deliveries.
pub const EMAIL: &str = "email";

/// A fresh delivery id: what receivers deduplicate on.
pub fn new_delivery_id() -> String {
    let bytes: [u8; 16] = rand::random();
    let h = hex::encode(bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// The people `event` names, each once, in the order the rules list them.
pub fn people<'a>(event: &str, audience: &'a Audience) -> Vec<&'a Person> {
    let mut out: Vec<&Person> = Vec::new();
    let mut add = |p: &'a Person| {
        if !out.iter().any(|q| q.name == p.name) {
            out.push(p);
        }
    };
    match event {
        "request.submitted" | "request.revised" => audience.reviewers.iter().for_each(&mut add),
        "review.approved" | "review.rejected" | "request.approved" | "comment.added"
        | "execution.finished" => {
            add(&audience.author);
            audience.reviewers.iter().for_each(&mut add);
        }
        "execution.reconciled" | "approval.expired" => {
            audience.admins.iter().for_each(&mut add);
            add(&audience.author);
        }
        _ => {}
    }
    out
}

/// The page of request `id`.
pub fn request_url(config: &Config, id: i64) -> String {
    let base = match &config.server.public_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => format!("http://{}", config.server.listen),
    };
    format!("{base}/requests/{id}")
}

/// What an event says in one line, for Slack and email subjects.
pub fn headline(event: &OutboxEvent, audience: &Audience) -> String {
    let who = event.actor.as_deref().unwrap_or("Countersign");
    let what = match event.event.as_str() {
        "request.submitted" => format!("{who} asks for your review"),
        "request.revised" => format!("{who} revised it; it needs your review again"),
        "review.approved" => format!("{who} approved it"),
        "review.rejected" => format!("{who} rejected it"),
        "request.approved" => "it is approved and may be executed".to_owned(),
        "comment.added" => format!("{who} commented"),
        "execution.finished" => format!(
            "it was executed: {}",
            event.details["outcome"].as_str().unwrap_or("finished")
        ),
        "execution.reconciled" => {
            "the server stopped during its run and the target cannot say whether it committed"
                .to_owned()
        }
        "approval.expired" => "its approval expired; it needs approving again".to_owned(),
        other => other.to_owned(),
    };
    format!("#{} {}: {what}", event.request_id, audience.title)
}

/// The deliveries `event` makes under `config`.
pub fn plan(config: &Config, event: &OutboxEvent, audience: &Audience) -> Vec<NewDelivery> {
    let url = request_url(config, event.request_id);
    let mut out = Vec::new();
    if config.notify.smtp.is_some() {
        let mail = super::email::render(event, audience, &url);
        for person in people(&event.event, audience) {
            if let Some(address) = &person.email {
                out.push(NewDelivery {
                    delivery: new_delivery_id(),
                    channel: EMAIL.to_owned(),
                    recipient: Some(address.clone()),
                    payload: mail.clone(),
                });
            }
        }
    }
    for channel in &config.notify.channels {
        if !channel.wants(&event.event, &audience.target) {
            continue;
        }
        let delivery = new_delivery_id();
        let body = match channel.kind {
            ChannelKind::Webhook => webhook_body(event, audience, &delivery, &url),
            ChannelKind::Slack => slack_body(event, audience, &url),
        };
        out.push(NewDelivery {
            delivery,
            channel: channel.name.clone(),
            recipient: None,
            // The body as text: the bytes signed and sent are the same on every attempt.
            payload: json!({ "event": event.event, "body": body.to_string() }),
        });
    }
    out
}

/// A generic webhook's body: `{event, delivery, at, actor, request: {id, title, target, status,
/// url}}`.
pub fn webhook_body(event: &OutboxEvent, audience: &Audience, delivery: &str, url: &str) -> Value {
    json!({
        "event": event.event,
        "delivery": delivery,
        "at": timestamp::format(event.at),
        "actor": event.actor,
        "request": {
            "id": event.request_id,
            "title": audience.title,
            "target": audience.target,
            "status": audience.status,
            "url": url,
        },
    })
}

/// A Slack incoming webhook's body: `{text, blocks}` with a link to the request page.
pub fn slack_body(event: &OutboxEvent, audience: &Audience, url: &str) -> Value {
    let line = headline(event, audience);
    json!({
        "text": format!("{line} {url}"),
        "blocks": [
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": format!("<{url}|{}>", slack_escape(&line))},
            },
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": format!(
                    "{} · target {}", event.event, slack_escape(&audience.target)
                )}],
            },
        ],
    })
}

/// Slack's three control characters in mrkdwn.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use countersign_core::request::RequestStatus;

    use super::*;

    fn person(name: &str) -> Person {
        Person {
            name: name.to_owned(),
            email: None,
        }
    }

    #[test]
    fn each_event_names_exactly_its_people() {
        let audience = Audience {
            title: "t".into(),
            target: "shop".into(),
            status: RequestStatus::Approved,
            author: person("alice"),
            reviewers: vec![person("bob"), person("carol")],
            // An admin who is also the author is told once.
            admins: vec![person("alice"), person("root")],
        };
        let names = |event: &str| -> Vec<String> {
            people(event, &audience)
                .into_iter()
                .map(|p| p.name.clone())
                .collect()
        };
        for event in ["request.submitted", "request.revised"] {
            assert_eq!(names(event), ["bob", "carol"], "{event}");
        }
        for event in [
            "review.approved",
            "review.rejected",
            "request.approved",
            "comment.added",
            "execution.finished",
        ] {
            assert_eq!(names(event), ["alice", "bob", "carol"], "{event}");
        }
        for event in ["execution.reconciled", "approval.expired"] {
            assert_eq!(names(event), ["alice", "root"], "{event}");
        }
        assert!(names("user.login").is_empty());
    }
}
