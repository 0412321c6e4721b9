//! The configuration as written: the TOML's shape (`Raw*`, unknown keys refused), the
//! `COUNTERSIGN_*` overrides applied to it, and its resolution into the validated types of
//! [`super`], with errors that name the key and never a secret.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use countersign_core::policy::{Approvals, Policy};
use serde::Deserialize;

use super::*;

/// Parses configuration text; `path` is only used in messages.
pub(super) fn parse(text: &str, path: &Path) -> Result<RawConfig, ConfigError> {
    toml::from_str(text).map_err(|e| syntax_error(text, path, &e))
}

/// Refuses a rule id the analyzer's catalogue does not have, naming the closest one: a
/// misspelled id in `blocked_rules` would otherwise block nothing.
fn check_rule_ids(target: &str, key: &'static str, ids: &[String]) -> Result<(), ConfigError> {
    for id in ids {
        if countersign_analyzer::rule(id).is_some() {
            continue;
        }
        let closest = countersign_analyzer::rules()
            .iter()
            .map(|rule| (strsim::levenshtein(id, rule.id), rule.id))
            .min()
            .filter(|(distance, _)| *distance <= id.len().max(3) / 2)
            .map(|(_, rule)| rule);
        return Err(ConfigError::UnknownRule {
            target: target.to_owned(),
            key,
            rule: id.clone(),
            closest,
        });
    }
    Ok(())
}

/// `approvals = { … }` as written: every level optional, defaulting to the contract's 1/1/2.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApprovals {
    low: Option<u32>,
    medium: Option<u32>,
    high: Option<u32>,
}

impl RawApprovals {
    fn resolve(self) -> Approvals {
        let d = Approvals::default();
        Approvals {
            low: self.low.unwrap_or(d.low),
            medium: self.medium.unwrap_or(d.medium),
            high: self.high.unwrap_or(d.high),
        }
    }
}

/// toml's own rendering quotes the offending line, which may hold a URL; keep only its message
/// and turn the byte offset into a line and column.
fn syntax_error(text: &str, path: &Path, err: &toml::de::Error) -> ConfigError {
    let offset = err.span().map(|s| s.start).unwrap_or(0).min(text.len());
    let before = &text[..text.floor_char_boundary(offset)];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    ConfigError::Syntax {
        path: path.to_path_buf(),
        line,
        column,
        message: err.message().trim().to_owned(),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    #[serde(default)]
    server: RawServer,
    #[serde(default)]
    store: RawStore,
    #[serde(default)]
    audit: RawAudit,
    #[serde(default)]
    target: Vec<RawTarget>,
    smtp: Option<super::notify::RawSmtp>,
    #[serde(default)]
    notify: Vec<super::notify::RawNotify>,
    outbox: Option<super::notify::RawOutbox>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAudit {
    signing_key_env: Option<String>,
    checkpoint_every: Option<i64>,
    checkpoint_sink: Option<String>,
}

impl RawAudit {
    fn resolve(mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<AuditConfig, ConfigError> {
        override_string(
            env,
            "COUNTERSIGN_AUDIT_SIGNING_KEY_ENV",
            &mut self.signing_key_env,
        );
        let signing_key = match self.signing_key_env {
            None => None,
            Some(var) => {
                let text = env(&var).filter(|v| !v.trim().is_empty()).ok_or_else(|| {
                    ConfigError::Invalid {
                        key: "audit.signing_key_env".into(),
                        message: format!("the environment variable {var} is not set"),
                    }
                })?;
                Some(
                    crate::anchor::AuditKey::parse(&text).map_err(|e| ConfigError::Invalid {
                        key: format!("audit.signing_key_env ({var})"),
                        message: e.to_string(),
                    })?,
                )
            }
        };
        let checkpoint_every = self.checkpoint_every.unwrap_or(DEFAULT_CHECKPOINT_EVERY);
        if checkpoint_every < 1 {
            return Err(ConfigError::Invalid {
                key: "audit.checkpoint_every".into(),
                message: "at least 1".into(),
            });
        }
        override_string(
            env,
            "COUNTERSIGN_AUDIT_CHECKPOINT_SINK",
            &mut self.checkpoint_sink,
        );
        let checkpoint_sink = self
            .checkpoint_sink
            .map(|text| {
                crate::checkpoint_sink::CheckpointSink::parse(&text).map_err(|e| {
                    ConfigError::Invalid {
                        key: "audit.checkpoint_sink".into(),
                        message: e.to_string(),
                    }
                })
            })
            .transpose()?;
        if checkpoint_sink.is_some() && signing_key.is_none() {
            return Err(ConfigError::Invalid {
                key: "audit.checkpoint_sink".into(),
                message: "needs audit.signing_key_env: without a key no checkpoints are made"
                    .into(),
            });
        }
        Ok(AuditConfig {
            signing_key,
            checkpoint_every,
            checkpoint_sink,
        })
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: Option<String>,
    public_url: Option<String>,
    reconcile_after: Option<String>,
    session_idle: Option<String>,
    session_max: Option<String>,
    max_connections: Option<usize>,
    header_read_timeout: Option<String>,
    max_sql_bytes: Option<RawSize>,
    expire_approvals_every: Option<String>,
}

/// A size in the file: a number of bytes, or text such as `"4MiB"`, `"512KiB"`, `"1000000"`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawSize {
    Bytes(u64),
    Text(String),
}

/// `"4MiB"`, `"512 KiB"`, `"2048B"` or `"1000"` → bytes.
fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => return None,
    };
    number.parse::<u64>().ok()?.checked_mul(scale)
}

/// The bounds of `server.max_sql_bytes`: a script must fit a page of text, and a body of three
/// times the limit (URL-encoded form) must still fit memory comfortably.
const MIN_SQL_BYTES: u64 = 1 << 10;
const LARGEST_SQL_LIMIT: u64 = 256 << 20;

fn max_sql_bytes(
    env: &dyn Fn(&str) -> Option<String>,
    value: Option<RawSize>,
) -> Result<usize, ConfigError> {
    let (key, value) = match env("COUNTERSIGN_SERVER_MAX_SQL_BYTES") {
        Some(v) => ("COUNTERSIGN_SERVER_MAX_SQL_BYTES", Some(RawSize::Text(v))),
        None => ("server.max_sql_bytes", value),
    };
    let bytes = match value {
        None => return Ok(DEFAULT_MAX_SQL_BYTES),
        Some(RawSize::Bytes(n)) => n,
        Some(RawSize::Text(text)) => parse_size(&text).ok_or_else(|| ConfigError::Invalid {
            key: key.into(),
            message: format!("{text:?} is not a size such as 4194304, \"4MiB\" or \"512KiB\""),
        })?,
    };
    if !(MIN_SQL_BYTES..=LARGEST_SQL_LIMIT).contains(&bytes) {
        return Err(ConfigError::Invalid {
            key: key.into(),
            message: format!("{bytes} bytes: between 1KiB and 256MiB, please"),
        });
    }
    usize::try_from(bytes).map_err(|_| ConfigError::Invalid {
        key: key.into(),
        message: format!("{bytes} bytes is more than this machine can address"),
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    #[serde(default)]
    name: String,
    #[serde(default)]
    driver: String,
    url: Option<String>,
    url_env: Option<String>,
    approvals: Option<RawApprovals>,
    #[serde(default)]
    blocked_rules: Vec<String>,
    #[serde(default)]
    allow_uncounted: bool,
    statement_timeout: Option<String>,
    lock_timeout: Option<String>,
    rehearse: Option<String>,
    rehearsal_timeout: Option<String>,
    rehearsal_concurrency: Option<u32>,
    rehearsal_samples: Option<bool>,
    #[serde(default)]
    rehearse_functions: bool,
    #[serde(default)]
    mask_columns: Vec<String>,
    undo: Option<String>,
    undo_limit_rows: Option<u64>,
    undo_retention: Option<String>,
    approval_ttl: Option<String>,
}

impl RawConfig {
    /// The store's configuration alone (targets unresolved).
    pub(super) fn resolve_store(
        self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<StoreConfig, ConfigError> {
        self.store.resolve(env)
    }

    /// The `[audit]` configuration alone (targets unresolved).
    pub(super) fn resolve_audit(
        self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<AuditConfig, ConfigError> {
        self.audit.resolve(env)
    }

    /// The whole configuration, validated.
    pub(super) fn resolve(
        mut self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        override_string(env, "COUNTERSIGN_SERVER_LISTEN", &mut self.server.listen);
        override_string(
            env,
            "COUNTERSIGN_SERVER_PUBLIC_URL",
            &mut self.server.public_url,
        );
        override_string(
            env,
            "COUNTERSIGN_SERVER_RECONCILE_AFTER",
            &mut self.server.reconcile_after,
        );
        override_string(
            env,
            "COUNTERSIGN_SERVER_SESSION_IDLE",
            &mut self.server.session_idle,
        );
        override_string(
            env,
            "COUNTERSIGN_SERVER_SESSION_MAX",
            &mut self.server.session_max,
        );
        let reconcile_after = server_duration(
            "reconcile_after",
            self.server.reconcile_after,
            DEFAULT_RECONCILE_AFTER,
        )?;
        let session_idle = server_duration(
            "session_idle",
            self.server.session_idle,
            DEFAULT_SESSION_IDLE,
        )?;
        let session_max =
            server_duration("session_max", self.server.session_max, DEFAULT_SESSION_MAX)?;
        override_string(
            env,
            "COUNTERSIGN_SERVER_HEADER_READ_TIMEOUT",
            &mut self.server.header_read_timeout,
        );
        let header_read_timeout = server_duration(
            "header_read_timeout",
            self.server.header_read_timeout,
            DEFAULT_HEADER_READ_TIMEOUT,
        )?;
        override_string(
            env,
            "COUNTERSIGN_SERVER_EXPIRE_APPROVALS_EVERY",
            &mut self.server.expire_approvals_every,
        );
        let expire_approvals_every = server_duration(
            "expire_approvals_every",
            self.server.expire_approvals_every,
            DEFAULT_EXPIRE_APPROVALS_EVERY,
        )?;
        let max_connections = match env("COUNTERSIGN_SERVER_MAX_CONNECTIONS") {
            Some(v) => Some(v.trim().parse().map_err(|_| ConfigError::Invalid {
                key: "COUNTERSIGN_SERVER_MAX_CONNECTIONS".into(),
                message: format!("{v:?} is not a whole number"),
            })?),
            None => self.server.max_connections,
        }
        .unwrap_or(DEFAULT_MAX_CONNECTIONS);
        if max_connections == 0 {
            return Err(ConfigError::Invalid {
                key: "server.max_connections".into(),
                message: "at least one connection must be served".into(),
            });
        }
        for (key, d) in [
            ("session_idle", session_idle),
            ("session_max", session_max),
            ("header_read_timeout", header_read_timeout),
            ("expire_approvals_every", expire_approvals_every),
        ] {
            if d < Duration::from_secs(1) {
                return Err(ConfigError::Invalid {
                    key: format!("server.{key}"),
                    message: "at least one second, please".into(),
                });
            }
        }

        let max_sql_bytes = max_sql_bytes(env, self.server.max_sql_bytes)?;

        let listen_text = self.server.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
        let listen = listen_text.parse().map_err(|_| ConfigError::Invalid {
            key: "server.listen".into(),
            message: format!("{listen_text:?} is not an address such as 127.0.0.1:8080"),
        })?;
        let store = self.store.resolve(env)?;
        let audit = self.audit.resolve(env)?;

        let mut seen = HashSet::new();
        let mut targets = Vec::with_capacity(self.target.len());
        for mut raw in self.target {
            if raw.name.trim().is_empty() {
                return Err(ConfigError::EmptyTargetName);
            }
            if !seen.insert(raw.name.clone()) {
                return Err(ConfigError::DuplicateTarget(raw.name));
            }
            raw.apply_env(env)?;
            targets.push(raw.resolve(env)?);
        }
        check_rehearsal_targets(&targets)?;
        let notify = super::notify::resolve(self.smtp, self.notify, self.outbox, env)?;
        Ok(Config {
            notify,
            server: ServerConfig {
                listen,
                public_url: self.server.public_url,
                reconcile_after,
                session_idle,
                session_max,
                max_connections,
                header_read_timeout,
                max_sql_bytes,
                expire_approvals_every,
            },
            store,
            audit,
            targets,
        })
    }
}

impl RawStore {
    fn resolve(mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<StoreConfig, ConfigError> {
        override_string(env, "COUNTERSIGN_STORE_URL", &mut self.url);
        let url = self.url.unwrap_or_else(|| DEFAULT_STORE_URL.to_owned());
        if !["sqlite:", "postgres://", "postgresql://"]
            .iter()
            .any(|s| url.starts_with(s))
        {
            return Err(ConfigError::Invalid {
                key: "store.url".into(),
                message: "the store must be sqlite:… or postgres://…".into(),
            });
        }
        Ok(StoreConfig { url })
    }
}

impl RawTarget {
    fn env_prefix(&self) -> String {
        let name: String = self
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect();
        format!("COUNTERSIGN_TARGET_{name}_")
    }

    fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let p = self.env_prefix();
        if let Some(v) = env(&format!("{p}DRIVER")) {
            self.driver = v;
        }
        override_string(env, &format!("{p}URL"), &mut self.url);
        override_string(env, &format!("{p}URL_ENV"), &mut self.url_env);
        override_string(
            env,
            &format!("{p}STATEMENT_TIMEOUT"),
            &mut self.statement_timeout,
        );
        override_string(env, &format!("{p}LOCK_TIMEOUT"), &mut self.lock_timeout);
        override_string(env, &format!("{p}REHEARSE"), &mut self.rehearse);
        override_string(
            env,
            &format!("{p}REHEARSAL_TIMEOUT"),
            &mut self.rehearsal_timeout,
        );
        if let Some(v) = env_bool(env, &format!("{p}ALLOW_UNCOUNTED"))? {
            self.allow_uncounted = v;
        }
        if let Some(v) = env_bool(env, &format!("{p}REHEARSAL_SAMPLES"))? {
            self.rehearsal_samples = Some(v);
        }
        if let Some(v) = env_bool(env, &format!("{p}REHEARSE_FUNCTIONS"))? {
            self.rehearse_functions = v;
        }
        let var = format!("{p}REHEARSAL_CONCURRENCY");
        if let Some(v) = env(&var) {
            self.rehearsal_concurrency =
                Some(v.trim().parse().map_err(|_| ConfigError::Invalid {
                    key: var.clone(),
                    message: format!("{v:?} is not a whole number"),
                })?);
        }
        override_string(env, &format!("{p}UNDO"), &mut self.undo);
        override_string(env, &format!("{p}UNDO_RETENTION"), &mut self.undo_retention);
        override_string(env, &format!("{p}APPROVAL_TTL"), &mut self.approval_ttl);
        let var = format!("{p}UNDO_LIMIT_ROWS");
        if let Some(v) = env(&var) {
            self.undo_limit_rows = Some(v.trim().parse().map_err(|_| ConfigError::Invalid {
                key: var.clone(),
                message: format!("{v:?} is not a whole number"),
            })?);
        }
        if let Some(v) = env(&format!("{p}MASK_COLUMNS")) {
            self.mask_columns = comma_list(&v);
        }
        if let Some(v) = env(&format!("{p}BLOCKED_RULES")) {
            self.blocked_rules = comma_list(&v);
        }
        let mut approvals = self.approvals.unwrap_or_default();
        for (key, slot) in [
            ("LOW", &mut approvals.low),
            ("MEDIUM", &mut approvals.medium),
            ("HIGH", &mut approvals.high),
        ] {
            let var = format!("{p}APPROVALS_{key}");
            if let Some(v) = env(&var) {
                *slot = Some(v.trim().parse().map_err(|_| ConfigError::Invalid {
                    key: var.clone(),
                    message: format!("{v:?} is not a whole number"),
                })?);
            }
        }
        self.approvals = Some(approvals);
        Ok(())
    }

    fn resolve(self, env: &dyn Fn(&str) -> Option<String>) -> Result<TargetConfig, ConfigError> {
        let target = self.name;
        let driver: Driver = self
            .driver
            .parse()
            .map_err(|_| ConfigError::UnknownDriver {
                target: target.clone(),
                driver: self.driver.clone(),
            })?;
        let url = match (self.url, self.url_env) {
            (Some(_), Some(_)) => return Err(ConfigError::BothUrls { target }),
            (None, None) => return Err(ConfigError::MissingUrl { target }),
            (Some(url), None) => url,
            (None, Some(var)) => match env(&var) {
                Some(url) if !url.trim().is_empty() => url,
                _ => return Err(ConfigError::MissingEnv { target, var }),
            },
        };
        if !driver.accepts_url(&url) {
            return Err(ConfigError::UrlDriverMismatch {
                target,
                expected: driver.url_schemes()[0],
            });
        }
        let duration = |key: &str, value: Option<String>| -> Result<_, ConfigError> {
            value
                .map(|v| {
                    humantime::parse_duration(v.trim()).map_err(|_| ConfigError::BadDuration {
                        key: format!("target {target:?}: {key}"),
                        value: v,
                    })
                })
                .transpose()
        };
        check_rule_ids(&target, "blocked_rules", &self.blocked_rules)?;
        let policy = Policy {
            approvals: self.approvals.unwrap_or_default().resolve(),
            blocked_rules: self.blocked_rules,
            allow_uncounted: self.allow_uncounted,
            statement_timeout: duration("statement_timeout", self.statement_timeout)?,
            lock_timeout: duration("lock_timeout", self.lock_timeout)?,
        };
        policy.validate().map_err(|e| ConfigError::Invalid {
            key: format!("target {target:?}"),
            message: e.to_string(),
        })?;
        let on = match self.rehearse.as_deref().map(str::trim) {
            None | Some("self") => RehearseOn::Itself,
            Some("off") => RehearseOn::Off,
            Some("") => {
                return Err(ConfigError::Invalid {
                    key: format!("target {target:?}: rehearse"),
                    message: "say \"self\", \"off\" or the name of another target".into(),
                });
            }
            Some(other) => RehearseOn::Copy(other.to_owned()),
        };
        let concurrency = self
            .rehearsal_concurrency
            .unwrap_or(DEFAULT_REHEARSAL_CONCURRENCY);
        if concurrency == 0 {
            return Err(ConfigError::Invalid {
                key: format!("target {target:?}: rehearsal_concurrency"),
                message: "at least 1 rehearsal must be able to run".into(),
            });
        }
        let timeout = duration("rehearsal_timeout", self.rehearsal_timeout)?
            .unwrap_or(DEFAULT_REHEARSAL_TIMEOUT);
        if timeout.is_zero() {
            return Err(ConfigError::Invalid {
                key: format!("target {target:?}: rehearsal_timeout"),
                message: "a rehearsal needs some time".into(),
            });
        }
        if let Some(bad) = self.mask_columns.iter().find(|m| {
            let m = m.trim();
            m.is_empty() || m.starts_with('.') || m.ends_with('.')
        }) {
            return Err(ConfigError::Invalid {
                key: format!("target {target:?}: mask_columns"),
                message: format!("{bad:?} is not `table.column` or `column` (`*` a wildcard)"),
            });
        }
        let setting = match self.undo.as_deref().map(str::trim) {
            None | Some("required") => UndoSetting::Required,
            Some("optional") => UndoSetting::Optional,
            Some("off") => UndoSetting::Off,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    key: format!("target {target:?}: undo"),
                    message: format!("{other:?}: say \"required\", \"optional\" or \"off\""),
                });
            }
        };
        let limit_rows = self.undo_limit_rows.unwrap_or(DEFAULT_UNDO_LIMIT_ROWS);
        if limit_rows == 0 {
            return Err(ConfigError::Invalid {
                key: format!("target {target:?}: undo_limit_rows"),
                message: "at least 1 row (or say undo = \"off\")".into(),
            });
        }
        let retention =
            duration("undo_retention", self.undo_retention)?.unwrap_or(DEFAULT_UNDO_RETENTION);
        let approval_ttl = duration("approval_ttl", self.approval_ttl)?;
        if approval_ttl.is_some_and(|ttl| ttl < Duration::from_secs(1)) {
            return Err(ConfigError::Invalid {
                key: format!("target {target:?}: approval_ttl"),
                message: "at least one second, please (or leave it out: approvals never expire)"
                    .into(),
            });
        }
        let undo = UndoConfig {
            setting,
            limit_rows,
            retention,
        };
        Ok(TargetConfig {
            name: target,
            driver,
            url: SecretUrl::new(url),
            policy,
            undo,
            approval_ttl,
            rehearsal: RehearsalConfig {
                on,
                timeout,
                concurrency,
                samples: self.rehearsal_samples.unwrap_or(true),
                allow_functions: self.rehearse_functions,
                mask_columns: self.mask_columns,
            },
        })
    }
}

/// Each target rehearsed on a copy names another target of the same driver, which itself
/// rehearses nowhere else (a copy is rehearsed on, not through).
fn check_rehearsal_targets(targets: &[TargetConfig]) -> Result<(), ConfigError> {
    for t in targets {
        let RehearseOn::Copy(copy) = &t.rehearsal.on else {
            continue;
        };
        let key = format!("target {:?}: rehearse", t.name);
        let refuse = |message: String| {
            Err(ConfigError::Invalid {
                key: key.clone(),
                message,
            })
        };
        match targets.iter().find(|c| &c.name == copy) {
            None => {
                let known: Vec<&str> = targets.iter().map(|c| c.name.as_str()).collect();
                return refuse(format!(
                    "{copy:?} is not \"self\", \"off\" or a target (targets: {})",
                    known.join(", ")
                ));
            }
            Some(c) if c.name == t.name => {
                return refuse(format!("{copy:?} is this target; say \"self\""));
            }
            Some(c) if c.driver != t.driver => {
                return refuse(format!(
                    "{copy:?} is a {} target, this one {}: a copy runs the same SQL",
                    c.driver, t.driver
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// A comma-separated list, blanks dropped.
fn comma_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A `true`/`false` (or `1`/`0`) environment variable, if set.
fn env_bool(env: &dyn Fn(&str) -> Option<String>, var: &str) -> Result<Option<bool>, ConfigError> {
    match env(var) {
        None => Ok(None),
        Some(v) => match v.trim() {
            "true" | "1" => Ok(Some(true)),
            "false" | "0" => Ok(Some(false)),
            _ => Err(ConfigError::Invalid {
                key: var.to_owned(),
                message: format!("{v:?} is not true or false"),
            }),
        },
    }
}

/// The `[server]` duration `key`, or `default` when it is not given.
fn server_duration(
    key: &str,
    value: Option<String>,
    default: Duration,
) -> Result<Duration, ConfigError> {
    match value {
        Some(v) => humantime::parse_duration(v.trim()).map_err(|_| ConfigError::BadDuration {
            key: format!("server.{key}"),
            value: v,
        }),
        None => Ok(default),
    }
}

fn override_string(env: &dyn Fn(&str) -> Option<String>, key: &str, slot: &mut Option<String>) {
    if let Some(v) = env(key) {
        *slot = Some(v);
    }
}
