//! `[smtp]`, `[[notify]]` and `[outbox]` (design §12): where people are told, and how hard the
//! outbox tries. Secrets (the SMTP URL, webhook URLs and keys) come from the environment
//! variables the file names, are held as [`SecretUrl`] / `SecretString`, and are never echoed
//! in an error.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

use super::{ConfigError, SecretUrl};

/// Every event a `[[notify]]` may subscribe to.
pub use countersign_store::outbox::EVENTS;

/// What `[[notify]]` sends to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelKind {
    /// A Slack incoming webhook: `{text, blocks}`.
    Slack,
    /// A generic webhook: the event as JSON, signed with HMAC-SHA256 when a key is given.
    Webhook,
}

/// One `[[notify]]`: a webhook and the events and targets it hears of.
#[derive(Debug, Clone)]
pub struct ChannelConfig {
    /// `name`, or `slack-1`, `webhook-2` … by position: what `/admin` and the store call it.
    pub name: String,
    pub kind: ChannelKind,
    pub url: SecretUrl,
    /// The HMAC-SHA256 key (generic webhooks).
    pub secret: Option<SecretString>,
    /// `None`: every event.
    pub events: Option<Vec<String>>,
    /// `None`: every target.
    pub targets: Option<Vec<String>>,
}

impl PartialEq for ChannelConfig {
    fn eq(&self, other: &ChannelConfig) -> bool {
        use secrecy::ExposeSecret;
        self.name == other.name
            && self.kind == other.kind
            && self.url == other.url
            && self.secret.as_ref().map(|s| s.expose_secret())
                == other.secret.as_ref().map(|s| s.expose_secret())
            && self.events == other.events
            && self.targets == other.targets
    }
}

impl Eq for ChannelConfig {}

impl ChannelConfig {
    /// Whether this channel hears of `event` on `target`.
    pub fn wants(&self, event: &str, target: &str) -> bool {
        self.events
            .as_ref()
            .is_none_or(|e| e.iter().any(|x| x == event))
            && self
                .targets
                .as_ref()
                .is_none_or(|t| t.iter().any(|x| x == target))
    }
}

/// `[smtp]`: where email goes out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpConfig {
    /// `smtp://user:pass@host:port` (STARTTLS when offered) or `smtps://…` (TLS).
    pub url: SecretUrl,
    /// `from`, e.g. `Countersign <countersign@example.com>`.
    pub from: String,
    /// `ca_file`: certificates (PEM) trusted for the server's TLS besides the system's, e.g. a
    /// company's private CA.
    pub ca: Option<CaFile>,
}

/// `[smtp] ca_file`, read and checked at start-up.
#[derive(Clone, PartialEq, Eq)]
pub struct CaFile {
    /// As configured (for messages).
    pub path: PathBuf,
    /// The file's text: one or more PEM certificates, each usable as a trust anchor.
    pub pem: Vec<u8>,
}

impl std::fmt::Debug for CaFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaFile").field("path", &self.path).finish()
    }
}

impl CaFile {
    /// Reads `path` and checks that it holds at least one PEM certificate and that each can be
    /// a trust anchor. The error says what is wrong with the file, never its contents.
    pub fn read(path: &str) -> Result<CaFile, String> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let pem = std::fs::read(path).map_err(|e| format!("cannot read {path:?}: {e}"))?;
        let certs = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| format!("{path:?} is not PEM certificates"))?;
        if certs.is_empty() {
            return Err(format!(
                "{path:?} holds no certificate (expected PEM: -----BEGIN CERTIFICATE-----)"
            ));
        }
        let mut roots = rustls::RootCertStore::empty();
        for (i, cert) in certs.into_iter().enumerate() {
            roots
                .add(cert)
                .map_err(|e| format!("certificate {} in {path:?} cannot be trusted: {e}", i + 1))?;
        }
        Ok(CaFile {
            path: PathBuf::from(path),
            pem,
        })
    }
}

/// `[outbox]`: how deliveries are tried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxConfig {
    /// How often each instance looks for due messages (default 500 ms).
    pub poll_every: Duration,
    /// The longest one attempt may take (default 10 s); a receiver that hangs is left then.
    pub timeout: Duration,
    /// The wait after the first failure, doubled after each (default 5 s) …
    pub retry_first: Duration,
    /// … up to this (default 1 h).
    pub retry_max: Duration,
    /// A message still failing this long after it was written is dead (default 24 h).
    pub give_up_after: Duration,
}

impl Default for OutboxConfig {
    fn default() -> OutboxConfig {
        OutboxConfig {
            poll_every: Duration::from_millis(500),
            timeout: Duration::from_secs(10),
            retry_first: Duration::from_secs(5),
            retry_max: Duration::from_secs(3600),
            give_up_after: Duration::from_secs(24 * 3600),
        }
    }
}

impl OutboxConfig {
    /// How long a claimed message is held: longer than an attempt can take, so that no two
    /// instances send it at once; after it, a crashed instance's messages are sent again.
    pub fn lease(&self) -> Duration {
        self.timeout * 2 + Duration::from_secs(5)
    }
}

/// Everything about telling people.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotifyConfig {
    pub smtp: Option<SmtpConfig>,
    pub channels: Vec<ChannelConfig>,
    pub outbox: OutboxConfig,
}

impl NotifyConfig {
    pub fn channel(&self, name: &str) -> Option<&ChannelConfig> {
        self.channels.iter().find(|c| c.name == name)
    }

    /// Every secret, so that error texts can be scrubbed of them.
    pub fn secrets(&self) -> Vec<String> {
        use secrecy::ExposeSecret;
        let mut all = Vec::new();
        if let Some(smtp) = &self.smtp {
            all.extend(url_secrets(smtp.url.expose()));
        }
        for c in &self.channels {
            all.extend(url_secrets(c.url.expose()));
            if let Some(s) = &c.secret {
                all.push(s.expose_secret().to_owned());
            }
        }
        all.retain(|s| s.len() >= 4);
        all
    }
}

/// A URL and the parts of it that are secret on their own (its password, its path).
fn url_secrets(url: &str) -> Vec<String> {
    let mut out = vec![url.to_owned()];
    if let Some((_, rest)) = url.split_once("://") {
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if let Some((userinfo, _)) = authority.rsplit_once('@') {
            out.push(userinfo.to_owned());
            if let Some((_, password)) = userinfo.split_once(':') {
                out.push(password.to_owned());
            }
        }
        if path.len() > 1 {
            out.push(path.to_owned());
        }
    }
    out
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSmtp {
    url_env: Option<String>,
    from: Option<String>,
    ca_file: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNotify {
    name: Option<String>,
    #[serde(default)]
    kind: String,
    url_env: Option<String>,
    secret_env: Option<String>,
    events: Option<Vec<String>>,
    targets: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOutbox {
    poll_every: Option<String>,
    timeout: Option<String>,
    retry_first: Option<String>,
    retry_max: Option<String>,
    give_up_after: Option<String>,
}

/// The validated `[smtp]`, `[[notify]]` and `[outbox]`.
pub(super) fn resolve(
    smtp: Option<RawSmtp>,
    notify: Vec<RawNotify>,
    outbox: Option<RawOutbox>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<NotifyConfig, ConfigError> {
    let secret_from = |key: &str, var: &str| -> Result<String, ConfigError> {
        match env(var) {
            Some(v) if !v.trim().is_empty() => Ok(v.trim().to_owned()),
            _ => Err(ConfigError::Invalid {
                key: key.to_owned(),
                message: format!("the environment variable {var} is not set"),
            }),
        }
    };
    // `COUNTERSIGN_SMTP_URL_ENV`, `…_FROM`, `…_CA_FILE`: any of them makes an `[smtp]`.
    let env_smtp = [
        "COUNTERSIGN_SMTP_URL_ENV",
        "COUNTERSIGN_SMTP_FROM",
        "COUNTERSIGN_SMTP_CA_FILE",
    ]
    .iter()
    .any(|v| env(v).is_some());
    let smtp = match smtp {
        None if env_smtp => Some(RawSmtp::default()),
        other => other,
    };
    let smtp = match smtp {
        None => None,
        Some(mut raw) => {
            for (var, slot) in [
                ("COUNTERSIGN_SMTP_URL_ENV", &mut raw.url_env),
                ("COUNTERSIGN_SMTP_FROM", &mut raw.from),
                ("COUNTERSIGN_SMTP_CA_FILE", &mut raw.ca_file),
            ] {
                if let Some(v) = env(var) {
                    *slot = Some(v);
                }
            }
            let var = raw.url_env.ok_or_else(|| ConfigError::Invalid {
                key: "smtp.url_env".into(),
                message: "name the environment variable that holds the SMTP URL".into(),
            })?;
            let url = secret_from("smtp.url_env", &var)?;
            if !(url.starts_with("smtp://") || url.starts_with("smtps://")) {
                return Err(ConfigError::Invalid {
                    key: "smtp.url_env".into(),
                    message: format!("{var} must hold an smtp:// or smtps:// URL"),
                });
            }
            let from = raw
                .from
                .unwrap_or_else(|| "Countersign <countersign@localhost>".into());
            if from.parse::<lettre::message::Mailbox>().is_err() {
                return Err(ConfigError::Invalid {
                    key: "smtp.from".into(),
                    message: format!(
                        "{from:?} is not an address such as Countersign <cs@example.com>"
                    ),
                });
            }
            let ca = match raw.ca_file.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(path) => Some(CaFile::read(path).map_err(|message| ConfigError::Invalid {
                    key: "smtp.ca_file".into(),
                    message,
                })?),
            };
            Some(SmtpConfig {
                url: SecretUrl::new(url),
                from,
                ca,
            })
        }
    };
    let mut channels: Vec<ChannelConfig> = Vec::with_capacity(notify.len());
    for (i, raw) in notify.into_iter().enumerate() {
        let key = format!("notify[{}]", i + 1);
        let kind = match raw.kind.trim() {
            "slack" => ChannelKind::Slack,
            "webhook" => ChannelKind::Webhook,
            other => {
                return Err(ConfigError::Invalid {
                    key: format!("{key}.kind"),
                    message: format!("{other:?}: say \"slack\" or \"webhook\""),
                });
            }
        };
        let var = raw.url_env.ok_or_else(|| ConfigError::Invalid {
            key: format!("{key}.url_env"),
            message: "name the environment variable that holds the webhook's URL".into(),
        })?;
        let url = secret_from(&format!("{key}.url_env"), &var)?;
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(ConfigError::Invalid {
                key: format!("{key}.url_env"),
                message: format!("{var} must hold an http:// or https:// URL"),
            });
        }
        let secret = match (kind, raw.secret_env) {
            (ChannelKind::Slack, Some(_)) => {
                return Err(ConfigError::Invalid {
                    key: format!("{key}.secret_env"),
                    message: "Slack webhooks are not signed; secret_env is for kind = \"webhook\""
                        .into(),
                });
            }
            (_, Some(var)) => Some(SecretString::from(secret_from(
                &format!("{key}.secret_env"),
                &var,
            )?)),
            (_, None) => None,
        };
        if let Some(bad) = raw
            .events
            .iter()
            .flatten()
            .find(|e| !EVENTS.contains(&e.as_str()))
        {
            return Err(ConfigError::Invalid {
                key: format!("{key}.events"),
                message: format!("{bad:?} is not an event; say one of {}", EVENTS.join(", ")),
            });
        }
        let name = raw.name.unwrap_or_else(|| {
            let kind = match kind {
                ChannelKind::Slack => "slack",
                ChannelKind::Webhook => "webhook",
            };
            format!("{kind}-{}", i + 1)
        });
        if name == "email" || channels.iter().any(|c| c.name == name) {
            return Err(ConfigError::Invalid {
                key: format!("{key}.name"),
                message: format!("{name:?} is taken"),
            });
        }
        channels.push(ChannelConfig {
            name,
            kind,
            url: SecretUrl::new(url),
            secret,
            events: raw.events,
            targets: raw.targets,
        });
    }
    let raw = outbox.unwrap_or_default();
    let defaults = OutboxConfig::default();
    let duration = |key: &str, value: Option<String>, default: Duration| match value {
        Some(v) => humantime::parse_duration(v.trim()).map_err(|_| ConfigError::BadDuration {
            key: format!("outbox.{key}"),
            value: v,
        }),
        None => Ok(default),
    };
    let outbox = OutboxConfig {
        poll_every: duration("poll_every", raw.poll_every, defaults.poll_every)?,
        timeout: duration("timeout", raw.timeout, defaults.timeout)?,
        retry_first: duration("retry_first", raw.retry_first, defaults.retry_first)?,
        retry_max: duration("retry_max", raw.retry_max, defaults.retry_max)?,
        give_up_after: duration("give_up_after", raw.give_up_after, defaults.give_up_after)?,
    };
    for (key, d) in [
        ("poll_every", outbox.poll_every),
        ("timeout", outbox.timeout),
        ("retry_first", outbox.retry_first),
    ] {
        if d.is_zero() {
            return Err(ConfigError::Invalid {
                key: format!("outbox.{key}"),
                message: "more than zero, please".into(),
            });
        }
    }
    Ok(NotifyConfig {
        smtp,
        channels,
        outbox,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::{Config, env_from};

    /// A CA certificate made for this test alone (its key thrown away).
    const CA_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBnTCCAUOgAwIBAgIUChWCuBs2cJk3UgpW/8dPLzaWUlkwCgYIKoZIzj0EAwIw
IzEhMB8GA1UEAwwYQ291bnRlcnNpZ24gdW5pdC10ZXN0IENBMCAXDTI2MTIwNTEw
MjkzM1oYDzIxMjYxMTExMTAyOTMzWjAjMSEwHwYDVQQDDBhDb3VudGVyc2lnbiB1
bml0LXRlc3QgQ0EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAATHaXK8HoNWznb2
grD7q9xxM1W2Gxny3G+bXMhpHLwCKvOF5MLaAI3HFcNLp1At8rL2imIa+oDD0TaV
yOl4RneKo1MwUTAdBgNVHQ4EFgQUZ1mvIoGbtRiyIjsVhPzfP28+vAQwHwYDVR0j
BBgwFoAUZ1mvIoGbtRiyIjsVhPzfP28+vAQwDwYDVR0TAQH/BAUwAwEB/zAKBggq
hkjOPQQDAgNIADBFAiBDWBiTsnVqNEUWt5Q6csGcKkXpKZCkcS7pmSQZkSRVqwIh
AMS788JOk4wWfBHt9Q3951bgbDpBA5j8VL4nT9htlyVK
-----END CERTIFICATE-----\n";

    /// The test's directory, removed when dropped.
    struct Dir(std::path::PathBuf);

    impl Dir {
        fn new() -> Dir {
            let dir =
                std::env::temp_dir().join(format!("countersign-notify-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            Dir(dir)
        }

        /// A file named `name` holding `text`.
        fn file(&self, name: &str, text: &str) -> std::path::PathBuf {
            let path = self.0.join(name);
            std::fs::write(&path, text).unwrap();
            path
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn load(toml: &str, env: &[(&str, &str)]) -> Result<Config, String> {
        Config::from_toml(toml, Path::new("countersign.toml"), &env_from(env))
            .map_err(|e| e.to_string())
    }

    const URL: (&str, &str) = ("SMTP_URL", "smtp://mailer:SMTP-SECRET@mail.internal:587");

    #[test]
    fn ca_file_is_read_and_checked_at_start_up_from_the_file_or_the_environment() {
        let dir = Dir::new();
        let good = dir.file("good.pem", CA_PEM);
        let toml = |ca: &str| format!("[smtp]\nurl_env = \"SMTP_URL\"\nca_file = \"{ca}\"\n");
        let c = load(&toml(&good.display().to_string()), &[URL]).expect("valid");
        let ca = c.notify.smtp.expect("smtp").ca.expect("ca");
        assert_eq!(ca.path, good);
        assert_eq!(ca.pem, CA_PEM.as_bytes());
        assert!(
            !format!("{ca:?}").contains("BEGIN"),
            "Debug shows the path only"
        );

        let no_ca = "[smtp]\nurl_env = \"SMTP_URL\"\n";
        assert_eq!(load(no_ca, &[URL]).unwrap().notify.smtp.unwrap().ca, None);
        let from_env = load(
            no_ca,
            &[
                URL,
                ("COUNTERSIGN_SMTP_CA_FILE", &good.display().to_string()),
            ],
        )
        .expect("valid");
        assert!(
            from_env.notify.smtp.unwrap().ca.is_some(),
            "COUNTERSIGN_SMTP_CA_FILE"
        );
        let only_env = load(
            "",
            &[
                URL,
                ("COUNTERSIGN_SMTP_URL_ENV", "SMTP_URL"),
                ("COUNTERSIGN_SMTP_CA_FILE", &good.display().to_string()),
            ],
        )
        .expect("[smtp] from the environment alone");
        assert!(only_env.notify.smtp.unwrap().ca.is_some());

        let refused = |path: &str, says: &str| {
            let e = load(&toml(path), &[URL]).expect_err(path);
            assert!(e.starts_with("smtp.ca_file: "), "the key is named: {e}");
            assert!(e.contains(path) && e.contains(says), "{path}: {e}");
            assert!(!e.contains("SECRET"), "no secret: {e}");
        };
        refused("/nonexistent/ca.pem", "cannot read");
        let not_pem = dir.file("not.pem", "SMTP-SECRET is not a certificate\n");
        refused(&not_pem.display().to_string(), "holds no certificate");
        let bad = dir.file(
            "bad.pem",
            "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
        );
        refused(&bad.display().to_string(), "is not PEM");
        let junk = dir.file(
            "junk.pem",
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        );
        refused(&junk.display().to_string(), "cannot be trusted");
    }
}
