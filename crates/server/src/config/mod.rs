//! Configuration: `countersign.toml` (docs/configuration.md) with every key overridable from `COUNTERSIGN_*`
//! environment variables, validated into a [`Config`] with clear errors.
//!
//! Target URLs are secrets: they come preferably from the environment variable a target names in
//! `url_env`, are held in a [`SecretUrl`] whose `Debug` and `Display` print nothing of them, and
//! never appear in an error message.
//!
//! Environment overrides: `COUNTERSIGN_SERVER_LISTEN`, `COUNTERSIGN_SERVER_PUBLIC_URL`,
//! `COUNTERSIGN_SERVER_RECONCILE_AFTER`, `COUNTERSIGN_SERVER_SESSION_IDLE`,
//! `COUNTERSIGN_SERVER_SESSION_MAX`, `COUNTERSIGN_SERVER_MAX_CONNECTIONS`,
//! `COUNTERSIGN_SERVER_HEADER_READ_TIMEOUT`, `COUNTERSIGN_SERVER_MAX_SQL_BYTES`,
//! `COUNTERSIGN_AUDIT_SIGNING_KEY_ENV`,
//! `COUNTERSIGN_AUDIT_CHECKPOINT_SINK`, `COUNTERSIGN_STORE_URL`, and for a target named in the file, `COUNTERSIGN_TARGET_<NAME>_<KEY>`
//! with `<NAME>` upper-cased and every character other than a letter or digit turned into `_`
//! (`demo-shop` → `DEMO_SHOP`) and `<KEY>` one of `DRIVER`, `URL`, `URL_ENV`, `STATEMENT_TIMEOUT`,
//! `LOCK_TIMEOUT`, `BLOCKED_RULES` (comma-separated), `APPROVALS_LOW`, `APPROVALS_MEDIUM`,
//! `APPROVALS_HIGH`, `ALLOW_UNCOUNTED`, `REHEARSE`, `REHEARSAL_TIMEOUT`,
//! `REHEARSAL_CONCURRENCY`, `REHEARSAL_SAMPLES`, `REHEARSE_FUNCTIONS`, `MASK_COLUMNS`
//! (comma-separated).

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use countersign_core::policy::Policy;
use secrecy::{ExposeSecret, SecretString};

pub mod notify;
mod raw;

/// The file read when `--config` is not given, if it exists.
pub const DEFAULT_CONFIG_FILE: &str = "countersign.toml";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_STORE_URL: &str = "sqlite://countersign.db";
pub const DEFAULT_RECONCILE_AFTER: Duration = Duration::from_secs(5);
/// `server.expire_approvals_every` when not given.
pub const DEFAULT_EXPIRE_APPROVALS_EVERY: Duration = Duration::from_secs(30);
/// The most connections served at once (`server.max_connections`); more wait to be accepted.
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
/// A client must send a request's headers within this time (`server.header_read_timeout`).
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest SQL text accepted (`server.max_sql_bytes`): 4 MiB.
pub use countersign_core::validation::DEFAULT_MAX_SQL_BYTES;
/// A browser session unused for this long ends (`server.session_idle`).
pub const DEFAULT_SESSION_IDLE: Duration = Duration::from_secs(12 * 3600);
/// A browser session ends this long after sign-in, used or not (`server.session_max`).
pub const DEFAULT_SESSION_MAX: Duration = Duration::from_secs(7 * 24 * 3600);

/// A configuration that failed to load. Messages name the file, target and key at fault, and
/// never carry a URL or the value of an environment variable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {message}")]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
    #[error("target {target:?}: unknown driver {driver:?}; expected postgres, mysql or sqlite")]
    UnknownDriver { target: String, driver: String },
    #[error("target {target:?}: the environment variable {var} named by url_env is not set")]
    MissingEnv { target: String, var: String },
    #[error("target {target:?}: give the connection as url_env (preferred) or url")]
    MissingUrl { target: String },
    #[error("target {target:?}: give url_env or url, not both")]
    BothUrls { target: String },
    #[error("target {target:?}: its URL does not start with {expected}")]
    UrlDriverMismatch {
        target: String,
        expected: &'static str,
    },
    #[error("target {0:?} is configured twice; target names must be unique")]
    DuplicateTarget(String),
    #[error("a target needs a name")]
    EmptyTargetName,
    #[error("{key}: {value:?} is not a duration (examples: 30s, 5m, 500ms)")]
    BadDuration { key: String, value: String },
    #[error(
        "target {target:?}: {key}: {rule:?} is not a rule id{}",
        closest.map(|c| format!("; did you mean {c:?}?")).unwrap_or_default()
    )]
    UnknownRule {
        target: String,
        key: &'static str,
        rule: String,
        closest: Option<&'static str>,
    },
}

pub use countersign_core::driver::Driver;

/// A connection URL that only the server may see: held by `secrecy` (zeroed when dropped, never
/// printed by accident); its `Debug` and `Display` are redacted.
#[derive(Clone)]
pub struct SecretUrl(SecretString);

impl SecretUrl {
    pub fn new(url: impl Into<String>) -> SecretUrl {
        SecretUrl(SecretString::from(url.into()))
    }

    /// The URL itself, for the code that connects and for nothing else.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl PartialEq for SecretUrl {
    fn eq(&self, other: &SecretUrl) -> bool {
        self.expose() == other.expose()
    }
}

impl Eq for SecretUrl {}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretUrl(..)")
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[connection URL withheld]")
    }
}

/// A database that Countersign may change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetConfig {
    pub name: String,
    pub driver: Driver,
    pub url: SecretUrl,
    pub policy: Policy,
    pub rehearsal: RehearsalConfig,
    pub undo: UndoConfig,
    /// `approval_ttl`: an approval not executed within it expires (default: never).
    pub approval_ttl: Option<Duration>,
}

/// `undo_limit_rows` when not given.
pub const DEFAULT_UNDO_LIMIT_ROWS: u64 = 100_000;
/// `undo_retention` when not given: 90 days.
pub const DEFAULT_UNDO_RETENTION: Duration = Duration::from_secs(90 * 24 * 3600);

/// Whether a target's executions capture images for undo (`undo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UndoSetting {
    /// `"required"` (the default): a run whose images cannot be captured changes nothing,
    /// unless its request was submitted `without_undo`.
    Required,
    /// `"optional"`: images where possible; otherwise the run goes ahead and says why not.
    Optional,
    /// `"off"`: no images.
    Off,
}

impl UndoSetting {
    pub const fn as_str(self) -> &'static str {
        match self {
            UndoSetting::Required => "required",
            UndoSetting::Optional => "optional",
            UndoSetting::Off => "off",
        }
    }
}

/// How a target's executions can be undone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UndoConfig {
    pub setting: UndoSetting,
    /// `undo_limit_rows`: the most rows one execution keeps images of.
    pub limit_rows: u64,
    /// `undo_retention`: how long images are kept after an execution.
    pub retention: Duration,
}

impl Default for UndoConfig {
    fn default() -> UndoConfig {
        UndoConfig {
            setting: UndoSetting::Required,
            limit_rows: DEFAULT_UNDO_LIMIT_ROWS,
            retention: DEFAULT_UNDO_RETENTION,
        }
    }
}

/// `rehearsal_timeout` when not given.
pub const DEFAULT_REHEARSAL_TIMEOUT: Duration = Duration::from_secs(10);
/// `rehearsal_concurrency` when not given.
pub const DEFAULT_REHEARSAL_CONCURRENCY: u32 = 2;

/// Where a target's requests are rehearsed (`rehearse`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RehearseOn {
    /// `"self"` (the default): on the target, in a transaction always rolled back; started
    /// only by a named reviewer or an admin.
    Itself,
    /// `"off"`: never.
    Off,
    /// The name of another target, a copy: started after every submit and revise.
    Copy(String),
}

/// How a target's requests are rehearsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RehearsalConfig {
    pub on: RehearseOn,
    /// `rehearsal_timeout`: the longest a rehearsal may take.
    pub timeout: Duration,
    /// `rehearsal_concurrency`: how many rehearse at once on this target; the rest wait.
    pub concurrency: u32,
    /// `rehearsal_samples`: whether row values are sampled (false: counts only).
    pub samples: bool,
    /// `rehearse_functions`: whether statements calling functions the analyzer cannot see
    /// into are run.
    pub allow_functions: bool,
    /// `mask_columns`: `table.column` patterns (`*` a wildcard) shown as `••••`.
    pub mask_columns: Vec<String>,
}

impl Default for RehearsalConfig {
    fn default() -> RehearsalConfig {
        RehearsalConfig {
            on: RehearseOn::Itself,
            timeout: DEFAULT_REHEARSAL_TIMEOUT,
            concurrency: DEFAULT_REHEARSAL_CONCURRENCY,
            samples: true,
            allow_functions: false,
            mask_columns: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// The address people use to reach the server; `https://…` makes session cookies `Secure`.
    pub public_url: Option<String>,
    /// An execution whose heartbeat is older than this belongs to a server that died, and is
    /// reconciled (default 5 s; a live run beats every second).
    pub reconcile_after: Duration,
    /// A session unused for this long ends (default 12 h).
    pub session_idle: Duration,
    /// A session ends this long after sign-in however much it is used (default 7 days).
    pub session_max: Duration,
    /// Connections served at once; further ones wait to be accepted (default 512).
    pub max_connections: usize,
    /// A connection that has not sent a request's headers within this time is closed, and so
    /// is an idle kept-alive one (default 10 s).
    pub header_read_timeout: Duration,
    /// The largest SQL text a request (or `/api/v1/analyze`) may carry, in bytes (default
    /// 4 MiB); request bodies may be three times as large (a URL-encoded form) plus 1 MiB.
    pub max_sql_bytes: usize,
    /// How often the expiry pass moves approvals older than their target's `approval_ttl`
    /// back to review (default 30 s). The execute claim refuses them without it.
    pub expire_approvals_every: Duration,
}

impl ServerConfig {
    /// The largest request body accepted: room for SQL of [`ServerConfig::max_sql_bytes`] as
    /// a URL-encoded form (each byte at most three) or JSON (at most two), and the other fields.
    pub fn body_limit(&self) -> usize {
        self.max_sql_bytes.saturating_mul(3).saturating_add(1 << 20)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    pub url: String,
}

/// Events between two signed checkpoints of the audit trail (`audit.checkpoint_every`).
pub const DEFAULT_CHECKPOINT_EVERY: i64 = 1000;

/// `[audit]`: signing checkpoints of the trail (see [`crate::anchor`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditConfig {
    /// The key read from the environment variable `signing_key_env` names; `None`: no signing.
    pub signing_key: Option<crate::anchor::AuditKey>,
    /// A checkpoint is signed once this many events followed the last one (default 1000).
    pub checkpoint_every: i64,
    /// Where each checkpoint is also sent (`audit.checkpoint_sink`); `None`: only stored.
    pub checkpoint_sink: Option<crate::checkpoint_sink::CheckpointSink>,
}

/// The whole, validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub server: ServerConfig,
    pub store: StoreConfig,
    pub audit: AuditConfig,
    pub targets: Vec<TargetConfig>,
    /// `[smtp]`, `[[notify]]`, `[outbox]`: where people are told.
    pub notify: notify::NotifyConfig,
}

impl Config {
    /// Loads the configuration from `path` (or `countersign.toml` if it exists, or the built-in
    /// defaults), then applies `COUNTERSIGN_*` overrides read through `env`.
    pub fn load(
        path: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let (text, path) = read_config_text(path)?;
        Config::from_toml(&text, &path, env)
    }

    /// The store's configuration alone, for commands that touch nothing but the store (`user`,
    /// `token`, `audit`, `migrate`): the file must still parse, but targets are not resolved,
    /// so their secrets need not be in the environment.
    pub fn load_store(
        path: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<StoreConfig, ConfigError> {
        let (text, path) = read_config_text(path)?;
        raw::parse(&text, &path)?.resolve_store(env)
    }

    /// The `[audit]` configuration alone (for `audit export`), targets unresolved.
    pub fn load_audit(
        path: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<AuditConfig, ConfigError> {
        let (text, path) = read_config_text(path)?;
        raw::parse(&text, &path)?.resolve_audit(env)
    }

    /// Parses and validates configuration text; `path` is only used in messages.
    pub fn from_toml(
        text: &str,
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        raw::parse(text, path)?.resolve(env)
    }

    /// Session cookies carry `Secure` when people reach the server over https.
    pub fn secure_cookies(&self) -> bool {
        self.server
            .public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
    }

    pub fn target(&self, name: &str) -> Option<&TargetConfig> {
        self.targets.iter().find(|t| t.name == name)
    }
}

/// The process environment, for [`Config::load`].
pub fn process_env(key: &str) -> Option<String> {
    std::env::var(key).ok()
}

/// The text of the file at `path`, or of `countersign.toml` if it exists, or nothing; and the
/// path to name in messages.
fn read_config_text(path: Option<&Path>) -> Result<(String, PathBuf), ConfigError> {
    Ok(match path {
        Some(p) => (read(p)?, p.to_path_buf()),
        None if Path::new(DEFAULT_CONFIG_FILE).exists() => {
            let p = PathBuf::from(DEFAULT_CONFIG_FILE);
            (read(&p)?, p)
        }
        None => (String::new(), PathBuf::from(DEFAULT_CONFIG_FILE)),
    })
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// A fixed environment for tests and for callers that build one (e.g. the demo).
pub fn env_from(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |k| map.get(k).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use countersign_core::policy::Approvals;

    const SECRET: &str = "postgres://app:hunter2-SECRET@db.internal:5432/prod";

    fn load(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_toml(text, Path::new("countersign.toml"), &env_from(env))
    }

    const FULL: &str = r#"
[server]
listen = "127.0.0.1:9000"
public_url = "https://countersign.example.com"

[store]
url = "sqlite://countersign.db"

[[target]]
name = "production"
driver = "postgres"
url_env = "PRODUCTION_DATABASE_URL"
approvals = { low = 1, medium = 1, high = 3 }
statement_timeout = "30s"
lock_timeout = "5s"
blocked_rules = ["drop-database"]

[[target]]
name = "shop"
driver = "sqlite"
url = "sqlite:///srv/shop.db?mode=rwc"
"#;

    #[test]
    fn the_contract_example_loads() {
        let c = load(FULL, &[("PRODUCTION_DATABASE_URL", SECRET)]).expect("valid");
        assert_eq!(c.server.listen.to_string(), "127.0.0.1:9000");
        assert!(c.secure_cookies());
        let prod = c.target("production").expect("production");
        assert_eq!(prod.driver, Driver::Postgres);
        assert_eq!(prod.url.expose(), SECRET);
        assert_eq!(prod.policy.approvals.high, 3);
        assert_eq!(prod.policy.statement_timeout, Some(Duration::from_secs(30)));
        assert_eq!(prod.policy.lock_timeout, Some(Duration::from_secs(5)));
        assert_eq!(prod.policy.blocked_rules, vec!["drop-database".to_owned()]);
        let shop = c.target("shop").expect("shop");
        assert_eq!(shop.policy.approvals, Approvals::default());
        let partial = FULL.replace("{ low = 1, medium = 1, high = 3 }", "{ high = 3 }");
        let c = load(&partial, &[("PRODUCTION_DATABASE_URL", SECRET)]).expect("valid");
        let approvals = c.target("production").expect("production").policy.approvals;
        assert_eq!((approvals.low, approvals.medium, approvals.high), (1, 1, 3));
        assert_eq!(shop.policy.statement_timeout, None);
    }

    #[test]
    fn max_sql_bytes_is_a_size_from_the_file_or_the_environment() {
        let c = load("", &[]).expect("defaults");
        assert_eq!(c.server.max_sql_bytes, 4 * 1024 * 1024);
        assert_eq!(c.server.body_limit(), 13 * 1024 * 1024);
        let sized = |toml: &str, env: &[(&str, &str)]| {
            load(&format!("[server]\n{toml}"), env).map(|c| c.server.max_sql_bytes)
        };
        assert_eq!(sized("max_sql_bytes = 65536", &[]).ok(), Some(65536));
        assert_eq!(sized("max_sql_bytes = \"8MiB\"", &[]).ok(), Some(8 << 20));
        assert_eq!(
            sized("max_sql_bytes = \"512 KiB\"", &[]).ok(),
            Some(512 << 10)
        );
        assert_eq!(
            sized(
                "max_sql_bytes = 65536",
                &[("COUNTERSIGN_SERVER_MAX_SQL_BYTES", "1MiB")]
            )
            .ok(),
            Some(1 << 20)
        );
        for bad in [
            "max_sql_bytes = \"4 megs\"",
            "max_sql_bytes = 10",
            "max_sql_bytes = \"1GiB\"",
        ] {
            let err = sized(bad, &[]).expect_err(bad).to_string();
            assert!(err.contains("server.max_sql_bytes"), "{bad}: {err}");
        }
        let err = sized("", &[("COUNTERSIGN_SERVER_MAX_SQL_BYTES", "lots")]).unwrap_err();
        assert!(
            err.to_string().contains("COUNTERSIGN_SERVER_MAX_SQL_BYTES"),
            "{err}"
        );
    }

    #[test]
    fn no_file_means_the_defaults() {
        let c = load("", &[]).expect("defaults");
        assert_eq!(c.server.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.store.url, DEFAULT_STORE_URL);
        assert!(c.targets.is_empty());
        assert!(!c.secure_cookies());
    }

    #[test]
    fn environment_overrides_every_kind_of_key() {
        let c = load(
            FULL,
            &[
                ("PRODUCTION_DATABASE_URL", SECRET),
                ("COUNTERSIGN_SERVER_LISTEN", "0.0.0.0:7000"),
                ("COUNTERSIGN_SERVER_PUBLIC_URL", "http://localhost:7000"),
                ("COUNTERSIGN_STORE_URL", "postgres://store/cs"),
                ("COUNTERSIGN_TARGET_PRODUCTION_STATEMENT_TIMEOUT", "1m"),
                ("COUNTERSIGN_TARGET_PRODUCTION_APPROVALS_HIGH", "4"),
                (
                    "COUNTERSIGN_TARGET_PRODUCTION_BLOCKED_RULES",
                    "truncate, drop-table",
                ),
                ("COUNTERSIGN_TARGET_SHOP_URL", "sqlite://other.db"),
            ],
        )
        .expect("valid");
        assert_eq!(c.server.listen.to_string(), "0.0.0.0:7000");
        assert!(!c.secure_cookies());
        assert_eq!(c.store.url, "postgres://store/cs");
        let prod = c.target("production").expect("production");
        assert_eq!(prod.policy.statement_timeout, Some(Duration::from_secs(60)));
        assert_eq!(prod.policy.approvals.high, 4);
        assert_eq!(prod.policy.blocked_rules, ["truncate", "drop-table"]);
        assert_eq!(
            c.target("shop").expect("shop").url.expose(),
            "sqlite://other.db"
        );
    }

    #[test]
    fn a_missing_environment_variable_is_named_and_nothing_else_leaks() {
        let err = load(FULL, &[]).expect_err("PRODUCTION_DATABASE_URL unset");
        assert!(matches!(err, ConfigError::MissingEnv { .. }));
        assert_eq!(
            err.to_string(),
            "target \"production\": the environment variable PRODUCTION_DATABASE_URL named by url_env is not set"
        );
    }

    #[test]
    fn an_unknown_driver_is_refused_by_name() {
        let text = FULL.replace("driver = \"postgres\"", "driver = \"oracle\"");
        let err = load(&text, &[("PRODUCTION_DATABASE_URL", SECRET)]).expect_err("oracle");
        assert_eq!(
            err.to_string(),
            "target \"production\": unknown driver \"oracle\"; expected postgres, mysql or sqlite"
        );
    }

    #[test]
    fn a_duplicate_target_is_refused() {
        let text = format!(
            "{FULL}\n[[target]]\nname = \"shop\"\ndriver = \"sqlite\"\nurl = \"sqlite://x.db\"\n"
        );
        let err = load(&text, &[("PRODUCTION_DATABASE_URL", SECRET)]).expect_err("dup");
        assert_eq!(
            err.to_string(),
            "target \"shop\" is configured twice; target names must be unique"
        );
    }

    #[test]
    fn a_malformed_duration_is_refused_with_examples() {
        let text = FULL.replace("\"30s\"", "\"30 parsecs\"");
        let err = load(&text, &[("PRODUCTION_DATABASE_URL", SECRET)]).expect_err("bad duration");
        assert_eq!(
            err.to_string(),
            "target \"production\": statement_timeout: \"30 parsecs\" is not a duration (examples: 30s, 5m, 500ms)"
        );
    }

    #[test]
    fn url_problems_never_print_the_url() {
        // A URL of the wrong kind for its driver.
        let mysql_url = "mysql://root:hunter2-SECRET@db/x";
        let err = load(FULL, &[("PRODUCTION_DATABASE_URL", mysql_url)]).expect_err("mismatch");
        assert!(matches!(err, ConfigError::UrlDriverMismatch { .. }));
        assert!(!err.to_string().contains("SECRET"), "{err}");
        assert!(!format!("{err:?}").contains("SECRET"), "{err:?}");

        // A syntax error on the very line that holds a URL.
        let broken = "[[target]]\nname = \"x\"\ndriver = \"postgres\"\nurl = \"postgres://u:hunter2-SECRET@h/db\" oops\n";
        let err = load(broken, &[]).expect_err("syntax");
        let text = err.to_string();
        assert!(text.starts_with("countersign.toml:4:"), "{text}");
        assert!(!text.contains("SECRET"), "{text}");

        // Both forms at once.
        let both = "[[target]]\nname = \"x\"\ndriver = \"sqlite\"\nurl = \"sqlite://a.db\"\nurl_env = \"X\"\n";
        assert!(matches!(load(both, &[]), Err(ConfigError::BothUrls { .. })));
    }

    #[test]
    fn a_loaded_config_never_prints_its_urls() {
        let c = load(FULL, &[("PRODUCTION_DATABASE_URL", SECRET)]).expect("valid");
        let debug = format!("{c:?}");
        assert!(!debug.contains("SECRET"), "{debug}");
        let prod = c.target("production").expect("production");
        assert_eq!(prod.url.to_string(), "[connection URL withheld]");
        let json = serde_json::to_string(&prod.policy).expect("json");
        assert!(!json.contains("SECRET"));
    }

    #[test]
    fn unknown_keys_are_refused_so_typos_do_not_pass_silently() {
        let err = load("[server]\nlisten_addr = \"x\"\n", &[]).expect_err("typo");
        let text = err.to_string();
        assert!(text.contains("listen_addr"), "{text}");
        assert!(text.starts_with("countersign.toml:2:1:"), "{text}");
    }

    #[test]
    fn bad_listen_and_store_values_are_refused() {
        let err = load("[server]\nlisten = \"localhost\"\n", &[]).expect_err("no port");
        assert!(err.to_string().starts_with("server.listen:"), "{err}");
        let err = load("[store]\nurl = \"mysql://x\"\n", &[]).expect_err("mysql store");
        assert!(err.to_string().starts_with("store.url:"), "{err}");
        let err = load(
            FULL,
            &[
                ("PRODUCTION_DATABASE_URL", SECRET),
                ("COUNTERSIGN_TARGET_PRODUCTION_APPROVALS_LOW", "many"),
            ],
        )
        .expect_err("approvals");
        assert_eq!(
            err.to_string(),
            "COUNTERSIGN_TARGET_PRODUCTION_APPROVALS_LOW: \"many\" is not a whole number"
        );
        let zero = FULL.replace("low = 1,", "low = 0,");
        let err = load(&zero, &[("PRODUCTION_DATABASE_URL", SECRET)]).expect_err("zero");
        assert!(
            err.to_string()
                .starts_with("target \"production\": approvals.low is 0"),
            "{err}"
        );
    }

    #[test]
    fn a_misspelled_blocked_rule_is_an_error_naming_the_closest_rule() {
        let text = FULL.replace("\"drop-database\"", "\"drop-databse\"");
        let error = load(&text, &[("PRODUCTION_DATABASE_URL", SECRET)]).expect_err("refused");
        assert_eq!(
            error.to_string(),
            "target \"production\": blocked_rules: \"drop-databse\" is not a rule id; did you \
             mean \"drop-database\"?"
        );
        let text = FULL.replace("\"drop-database\"", "\"no-such-thing-at-all\"");
        let error = load(&text, &[("PRODUCTION_DATABASE_URL", SECRET)]).expect_err("refused");
        assert_eq!(
            error.to_string(),
            "target \"production\": blocked_rules: \"no-such-thing-at-all\" is not a rule id"
        );
    }

    #[test]
    fn session_lifetimes_default_to_12_hours_idle_and_7_days_in_all() {
        let c = load("", &[]).expect("defaults");
        assert_eq!(c.server.session_idle, Duration::from_secs(12 * 3600));
        assert_eq!(c.server.session_max, Duration::from_secs(7 * 24 * 3600));
        let c = load(
            "[server]\nsession_idle = \"30m\"\nsession_max = \"1d\"\n",
            &[("COUNTERSIGN_SERVER_SESSION_MAX", "2d")],
        )
        .expect("set");
        assert_eq!(c.server.session_idle, Duration::from_secs(1800));
        assert_eq!(c.server.session_max, Duration::from_secs(2 * 24 * 3600));
        let e = load("[server]\nsession_idle = \"soon\"\n", &[]).expect_err("bad");
        assert!(e.to_string().contains("server.session_idle"), "{e}");
        let e = load("[server]\nsession_max = \"0s\"\n", &[]).expect_err("zero");
        assert!(e.to_string().contains("server.session_max"), "{e}");
    }

    #[test]
    fn the_audit_signing_key_comes_from_the_environment_and_is_never_echoed() {
        let key = crate::anchor::AuditKey::generate();
        let text = "[audit]\nsigning_key_env = \"AUDIT_KEY\"\ncheckpoint_every = 10\n";
        let c = load(text, &[("AUDIT_KEY", &key.private_base64())]).expect("config");
        assert_eq!(
            c.audit.signing_key.as_ref().map(|k| k.public()),
            Some(key.public())
        );
        assert_eq!(c.audit.checkpoint_every, 10);
        assert!(!format!("{c:?}").contains(&key.private_base64()));
        let e = load(text, &[]).expect_err("unset");
        assert!(e.to_string().contains("AUDIT_KEY"), "{e}");
        let e = load(text, &[("AUDIT_KEY", "not-a-key-SECRET")]).expect_err("bad");
        assert!(!e.to_string().contains("SECRET"), "{e}");
        assert_eq!(load("", &[]).expect("default").audit.signing_key, None);
    }

    #[test]
    fn the_checkpoint_sink_is_a_file_or_syslog_and_anything_else_names_the_key() {
        use crate::checkpoint_sink::CheckpointSink;
        let key = crate::anchor::AuditKey::generate();
        let key = key.private_base64();
        let with = |sink: &str| {
            format!("[audit]\nsigning_key_env = \"AUDIT_KEY\"\ncheckpoint_sink = \"{sink}\"\n")
        };
        let sink = |text: &str, env: &[(&str, &str)]| {
            let mut env = env.to_vec();
            env.push(("AUDIT_KEY", &key));
            load(text, &env).map(|c| c.audit.checkpoint_sink)
        };
        assert_eq!(
            sink(&with("file:/var/log/cs/checkpoints.jsonl"), &[]).expect("file"),
            Some(CheckpointSink::File("/var/log/cs/checkpoints.jsonl".into()))
        );
        assert_eq!(
            sink(&with("syslog"), &[]).expect("syslog"),
            Some(CheckpointSink::Syslog("/dev/log".into()))
        );
        assert_eq!(
            sink(&with("syslog:/run/cs.sock"), &[]).expect("socket"),
            Some(CheckpointSink::Syslog("/run/cs.sock".into()))
        );
        assert_eq!(
            sink(
                &with("syslog"),
                &[("COUNTERSIGN_AUDIT_CHECKPOINT_SINK", "file:/tmp/c.jsonl")]
            )
            .expect("the environment wins"),
            Some(CheckpointSink::File("/tmp/c.jsonl".into()))
        );
        let plain = "[audit]\nsigning_key_env = \"AUDIT_KEY\"\n";
        assert_eq!(sink(plain, &[]).expect("none"), None);
        for bad in ["", "file:", "syslog:", "/var/log/c.jsonl", "udp://logs:514"] {
            let e = sink(&with(bad), &[]).expect_err(bad);
            assert!(
                e.to_string()
                    .starts_with("audit.checkpoint_sink: expected file:/path"),
                "{bad:?}: {e}"
            );
        }
        let e = sink(
            plain,
            &[("COUNTERSIGN_AUDIT_CHECKPOINT_SINK", "kafka:SECRET-topic")],
        )
        .expect_err("bad from the environment");
        assert!(e.to_string().starts_with("audit.checkpoint_sink:"), "{e}");
        assert!(!e.to_string().contains("SECRET"), "never the value: {e}");
        let e = load("[audit]\ncheckpoint_sink = \"syslog\"\n", &[]).expect_err("no key");
        assert!(
            e.to_string()
                .starts_with("audit.checkpoint_sink: needs audit.signing_key_env"),
            "{e}"
        );
    }

    /// Two PostgreSQL targets and a SQLite one; `extra` goes into production's table.
    fn rehearsal_config(extra: &str) -> String {
        format!(
            "[[target]]\nname = \"production\"\ndriver = \"postgres\"\n\
             url = \"postgres://app@db/prod\"\n{extra}\n\
             [[target]]\nname = \"staging\"\ndriver = \"postgres\"\n\
             url = \"postgres://app@db/staging\"\n\
             [[target]]\nname = \"shop\"\ndriver = \"sqlite\"\nurl = \"sqlite://shop.db\"\n"
        )
    }

    #[test]
    fn rehearsal_defaults_to_self_10s_two_at_once_with_samples() {
        let c = load(&rehearsal_config(""), &[]).expect("valid");
        let r = &c.target("production").expect("production").rehearsal;
        assert_eq!(r, &RehearsalConfig::default());
        assert_eq!(r.on, RehearseOn::Itself);
        assert_eq!(r.timeout, Duration::from_secs(10));
        assert_eq!(r.concurrency, 2);
        assert!(r.samples && !r.allow_functions && r.mask_columns.is_empty());
    }

    #[test]
    fn undo_is_required_by_default_and_read_from_the_file_and_the_environment() {
        let c = load(&rehearsal_config(""), &[]).expect("valid");
        let u = &c.target("production").expect("production").undo;
        assert_eq!(u, &UndoConfig::default());
        assert_eq!(u.setting, UndoSetting::Required);
        assert_eq!(u.limit_rows, 100_000);
        assert_eq!(u.retention, Duration::from_secs(90 * 24 * 3600));

        let text =
            rehearsal_config("undo = \"optional\"\nundo_limit_rows = 50\nundo_retention = \"7d\"");
        let c = load(&text, &[]).expect("valid");
        let u = &c.target("production").expect("production").undo;
        assert_eq!(u.setting, UndoSetting::Optional);
        assert_eq!(u.limit_rows, 50);
        assert_eq!(u.retention, Duration::from_secs(7 * 24 * 3600));

        let c = load(
            &rehearsal_config(""),
            &[
                ("COUNTERSIGN_TARGET_PRODUCTION_UNDO", "off"),
                ("COUNTERSIGN_TARGET_PRODUCTION_UNDO_LIMIT_ROWS", "9"),
                ("COUNTERSIGN_TARGET_PRODUCTION_UNDO_RETENTION", "1h"),
            ],
        )
        .expect("valid");
        let u = &c.target("production").expect("production").undo;
        assert_eq!(u.setting, UndoSetting::Off);
        assert_eq!(u.limit_rows, 9);
        assert_eq!(u.retention, Duration::from_secs(3600));

        for (extra, key) in [
            ("undo = \"sometimes\"", "undo"),
            ("undo_limit_rows = 0", "undo_limit_rows"),
            ("undo_retention = \"forever\"", "undo_retention"),
        ] {
            let e = load(&rehearsal_config(extra), &[]).expect_err(extra);
            assert!(
                e.to_string()
                    .contains(&format!("target \"production\": {key}")),
                "{extra}: {e}"
            );
        }
    }

    #[test]
    fn rehearsal_keys_are_read_from_the_file_and_the_environment() {
        let text = rehearsal_config(
            "rehearse = \"staging\"\nrehearsal_timeout = \"3s\"\nrehearsal_concurrency = 4\n\
             rehearsal_samples = false\nrehearse_functions = true\n\
             mask_columns = [\"customers.email\", \"*.password*\"]",
        );
        let c = load(&text, &[]).expect("valid");
        let r = &c.target("production").expect("production").rehearsal;
        assert_eq!(r.on, RehearseOn::Copy("staging".into()));
        assert_eq!(r.timeout, Duration::from_secs(3));
        assert_eq!(r.concurrency, 4);
        assert!(!r.samples && r.allow_functions);
        assert_eq!(r.mask_columns, ["customers.email", "*.password*"]);

        let c = load(
            &rehearsal_config(""),
            &[
                ("COUNTERSIGN_TARGET_PRODUCTION_REHEARSE", "off"),
                ("COUNTERSIGN_TARGET_PRODUCTION_REHEARSAL_CONCURRENCY", "1"),
                ("COUNTERSIGN_TARGET_PRODUCTION_REHEARSAL_SAMPLES", "false"),
                ("COUNTERSIGN_TARGET_PRODUCTION_MASK_COLUMNS", "a.b, *.token"),
            ],
        )
        .expect("valid");
        let r = &c.target("production").expect("production").rehearsal;
        assert_eq!(r.on, RehearseOn::Off);
        assert_eq!(r.concurrency, 1);
        assert!(!r.samples);
        assert_eq!(r.mask_columns, ["a.b", "*.token"]);
    }

    #[test]
    fn bad_rehearsal_keys_are_errors_naming_the_target_and_key() {
        for (extra, key, words) in [
            (
                "rehearse = \"stagin\"",
                "rehearse",
                "targets: production, staging, shop",
            ),
            ("rehearse = \"production\"", "rehearse", "say \"self\""),
            ("rehearse = \"shop\"", "rehearse", "same SQL"),
            ("rehearse = \"\"", "rehearse", "\"off\""),
            (
                "rehearsal_concurrency = 0",
                "rehearsal_concurrency",
                "at least 1",
            ),
            ("rehearsal_timeout = \"soon\"", "rehearsal_timeout", "soon"),
            (
                "rehearsal_timeout = \"0s\"",
                "rehearsal_timeout",
                "some time",
            ),
            (
                "mask_columns = [\"customers.\"]",
                "mask_columns",
                "customers.",
            ),
            // A wrong type is the TOML reader's to report, by line and column.
            (
                "rehearsal_samples = \"no\"",
                "countersign.toml:5",
                "expected a boolean",
            ),
        ] {
            let e = load(&rehearsal_config(extra), &[]).expect_err(extra);
            let text = e.to_string();
            assert!(text.contains(key), "{extra}: {text}");
            assert!(text.contains(words), "{extra}: {text}");
        }
        let e = load(
            &rehearsal_config(""),
            &[("COUNTERSIGN_TARGET_PRODUCTION_REHEARSAL_SAMPLES", "maybe")],
        )
        .expect_err("bad bool");
        assert!(e.to_string().contains("REHEARSAL_SAMPLES"), "{e}");
    }
}
