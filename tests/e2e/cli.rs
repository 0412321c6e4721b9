//! The `countersign` binary as a user runs it: users, tokens, migrations and configuration errors.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use countersign_server::auth::{password, secret};
use countersign_store::Store;

const BIN: &str = env!("CARGO_BIN_EXE_countersign");

/// A directory with a `countersign.toml` whose store is a SQLite file inside it.
struct Workspace {
    dir: tempfile::TempDir,
}

impl Workspace {
    fn new() -> Workspace {
        let dir = tempfile::tempdir().expect("tempdir");
        let ws = Workspace { dir };
        ws.write_config("");
        ws
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("countersign.toml")
    }

    fn store_url(&self) -> String {
        format!("sqlite://{}", self.dir.path().join("store.db").display())
    }

    fn write_config(&self, extra: &str) {
        let text = format!("[store]\nurl = \"{}\"\n{extra}", self.store_url());
        std::fs::write(self.config(), text).expect("write config");
    }

    /// Runs `countersign ARGS --config FILE` with `stdin`, in the workspace directory.
    fn run(&self, args: &[&str], stdin: &str) -> Output {
        run_in(self.dir.path(), args, Some(&self.config()), stdin, &[])
    }

    /// Runs `countersign ARGS` with no input, asserting it succeeds; returns its output.
    fn ok(&self, args: &[&str]) -> Output {
        let out = self.run(args, "");
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        out
    }

    async fn store(&self) -> Store {
        Store::open(&self.store_url()).await.expect("store")
    }
}

fn run_in(
    dir: &Path,
    args: &[&str],
    config: Option<&Path>,
    stdin: &str,
    env: &[(&str, &str)],
) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(c) = config {
        cmd.arg("--config").arg(c);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn countersign");
    let written = child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes());
    // A command that refuses its arguments exits without reading its input.
    if let Err(e) = written {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "write stdin: {e}");
    }
    child.wait_with_output().expect("wait")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test]
async fn user_add_reads_the_password_from_stdin_and_stores_only_a_hash() {
    let ws = Workspace::new();
    let out = ws.run(
        &[
            "user",
            "add",
            "alice",
            "--role",
            "author",
            "--role",
            "reviewer",
            "--password-stdin",
        ],
        "s3cret-pass\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("added user alice (author, reviewer)"),
        "{}",
        stdout(&out)
    );
    let store = ws.store().await;
    let c = store
        .credentials("alice")
        .await
        .expect("read")
        .expect("alice");
    let hash = c.password_hash.expect("a password hash");
    assert_ne!(hash, "s3cret-pass");
    assert!(
        password::verify("s3cret-pass", &hash),
        "the trailing newline is not part of the password"
    );
    assert!(!password::verify("s3cret-pass\n", &hash));
    store.close().await;
}

#[tokio::test]
async fn user_add_refuses_bad_names_roles_short_passwords_and_duplicates() {
    let ws = Workspace::new();
    let bad_role = ws.run(
        &["user", "add", "bob", "--role", "root", "--password-stdin"],
        "long enough\n",
    );
    assert!(!bad_role.status.success());
    assert!(stderr(&bad_role).contains("root"), "{}", stderr(&bad_role));
    let bad_name = ws.run(
        &[
            "user",
            "add",
            "Bob Smith",
            "--role",
            "author",
            "--password-stdin",
        ],
        "long enough\n",
    );
    assert!(!bad_name.status.success());
    assert!(
        stderr(&bad_name).contains("user name"),
        "{}",
        stderr(&bad_name)
    );
    let short = ws.run(
        &["user", "add", "bob", "--role", "author", "--password-stdin"],
        "short\n",
    );
    assert!(!short.status.success());
    assert!(
        stderr(&short).contains("at least 8 characters"),
        "{}",
        stderr(&short)
    );
    assert!(
        ws.run(
            &["user", "add", "bob", "--role", "author", "--password-stdin"],
            "long enough\n"
        )
        .status
        .success()
    );
    let dup = ws.run(
        &["user", "add", "bob", "--role", "author", "--password-stdin"],
        "long enough\n",
    );
    assert!(!dup.status.success());
    assert!(stderr(&dup).contains("already exists"), "{}", stderr(&dup));
}

#[tokio::test]
async fn token_create_prints_the_token_alone_on_the_last_line_once() {
    let ws = Workspace::new();
    assert!(
        ws.run(&["user", "add", "alice", "--role", "author"], "")
            .status
            .success()
    );
    let out = ws.run(&["token", "create", "alice"], "");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let token = text.lines().last().expect("a last line").to_owned();
    assert!(token.starts_with(secret::TOKEN_PREFIX), "{text}");
    assert!(
        token.len() >= secret::TOKEN_PREFIX.len() + 43,
        "at least 256 bits: {token}"
    );
    let store = ws.store().await;
    let user = store
        .user_by_token_hash(&secret::hash(&token))
        .await
        .expect("read");
    assert_eq!(user.map(|u| u.name), Some("alice".to_owned()));
    let db = std::fs::read(ws.dir.path().join("store.db")).expect("store file");
    let raw = String::from_utf8_lossy(&db);
    assert!(!raw.contains(&token), "the token itself is not stored");
    store.close().await;

    let second = ws.run(&["token", "create", "alice"], "");
    assert_ne!(
        stdout(&second).lines().last(),
        Some(token.as_str()),
        "a new token each time"
    );
}

#[tokio::test]
async fn a_disabled_user_gets_no_token_and_their_password_can_be_changed_by_admins() {
    let ws = Workspace::new();
    assert!(
        ws.run(
            &[
                "user",
                "add",
                "bob",
                "--role",
                "reviewer",
                "--password-stdin"
            ],
            "first password\n"
        )
        .status
        .success()
    );
    let out = ws.run(
        &["user", "passwd", "bob", "--password-stdin"],
        "second password\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let store = ws.store().await;
    let hash = store
        .credentials("bob")
        .await
        .expect("read")
        .expect("bob")
        .password_hash
        .expect("hash");
    assert!(password::verify("second password", &hash));
    store.close().await;
    assert!(ws.run(&["user", "disable", "bob"], "").status.success());
    let out = ws.run(&["token", "create", "bob"], "");
    assert!(!out.status.success());
    assert!(stderr(&out).contains("disabled"), "{}", stderr(&out));
    let missing = ws.run(&["user", "disable", "nobody"], "");
    assert!(!missing.status.success());
    assert!(
        stderr(&missing).contains("not found"),
        "{}",
        stderr(&missing)
    );

    // Enabled again, bob gets a token; enabling an active user says so and changes nothing.
    let out = ws.run(&["user", "enable", "bob"], "");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("enabled user bob"),
        "{}",
        stdout(&out)
    );
    assert!(ws.run(&["token", "create", "bob"], "").status.success());
    let again = ws.run(&["user", "enable", "bob"], "");
    assert!(again.status.success());
    assert!(
        stdout(&again).contains("not disabled"),
        "{}",
        stdout(&again)
    );
    assert!(!ws.run(&["user", "enable", "nobody"], "").status.success());
}

#[test]
fn config_is_a_global_option_before_or_after_the_subcommand() {
    let ws = Workspace::new();
    let before = Command::new(BIN)
        .arg("--config")
        .arg(ws.config())
        .arg("migrate")
        .output()
        .expect("run");
    assert!(before.status.success(), "{}", stderr(&before));
    assert!(stdout(&before).contains("up to date"));
    let after = ws.run(&["migrate"], "");
    assert!(after.status.success(), "{}", stderr(&after));
}

#[test]
fn configuration_errors_are_clear_and_print_no_secret() {
    let ws = Workspace::new();
    ws.write_config(
        "[[target]]\nname = \"prod\"\ndriver = \"postgres\"\nurl_env = \"PROD_DB_URL\"\n",
    );
    let out = ws.run(&["migrate"], "");
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("PROD_DB_URL") && err.contains("not set"),
        "{err}"
    );

    ws.write_config(
        "[[target]]\nname = \"prod\"\ndriver = \"postgres\"\nurl_env = \"PROD_DB_URL\"\n",
    );
    let out = run_in(
        ws.dir.path(),
        &["migrate"],
        Some(&ws.config()),
        "",
        &[("PROD_DB_URL", "mysql://u:hunter2-SECRET@h/db")],
    );
    assert!(!out.status.success());
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(all.contains("prod"), "{all}");
    assert!(!all.contains("SECRET"), "a secret leaked: {all}");

    ws.write_config("[[target]]\nname = \"prod\"\ndriver = \"oracle\"\nurl = \"oracle://x\"\n");
    let out = ws.run(&["migrate"], "");
    assert!(
        stderr(&out).contains("unknown driver \"oracle\""),
        "{}",
        stderr(&out)
    );

    let missing = run_in(
        ws.dir.path(),
        &["migrate"],
        Some(Path::new("/nonexistent/cs.toml")),
        "",
        &[],
    );
    assert!(!missing.status.success());
    assert!(
        stderr(&missing).contains("/nonexistent/cs.toml"),
        "{}",
        stderr(&missing)
    );
}

/// `countersign demo` prints its users and their passwords, serves, and each demo user can sign in.
#[tokio::test]
async fn the_demo_serves_and_its_users_can_sign_in() {
    use std::io::{BufRead, BufReader};

    let dir = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("free port")
        .local_addr()
        .expect("addr")
        .port();
    let listen = format!("127.0.0.1:{port}");
    let mut child = Command::new(BIN)
        .args(["demo", "--listen", &listen])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn demo");
    let mut passwords = std::collections::HashMap::new();
    let reader = BufReader::new(child.stdout.take().expect("stdout"));
    for line in reader.lines() {
        let line = line.expect("line");
        let words: Vec<&str> = line.split_whitespace().collect();
        if let [name, pw, ..] = words[..]
            && ["alice", "bob", "carol", "admin"].contains(&name)
        {
            passwords.insert(name.to_owned(), pw.to_owned());
        }
        if line.starts_with("Open http://") {
            break;
        }
    }
    assert_eq!(passwords.len(), 4, "four demo users printed: {passwords:?}");
    let shop = dir.path().join("countersign-demo/demo-shop.db");
    assert!(shop.exists(), "the demo target exists");

    let base = format!("http://{listen}");
    countersign_server::notify::install_tls();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let mut up = false;
    for _ in 0..100 {
        if client.get(format!("{base}/healthz")).send().await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(up, "the demo answers on {base}");
    // Nobody but its owner reads the demo's store, target, configuration or passwords.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let demo = dir.path().join("countersign-demo");
        let mode =
            |p: &std::path::Path| p.metadata().expect("metadata").permissions().mode() & 0o777;
        assert_eq!(mode(&demo), 0o700, "the demo directory");
        let mut files = 0;
        for entry in std::fs::read_dir(&demo).expect("read dir") {
            let path = entry.expect("entry").path();
            assert_eq!(mode(&path), 0o600, "{}", path.display());
            files += 1;
        }
        assert!(
            files >= 4,
            "store, target, configuration, credentials: {files}"
        );
    }
    for (name, pw) in &passwords {
        let res = client
            .get(format!("{base}/login"))
            .send()
            .await
            .expect("GET /login");
        let cookie = res.headers()[reqwest::header::SET_COOKIE]
            .to_str()
            .expect("ascii")
            .split(';')
            .next()
            .expect("pair")
            .to_owned();
        let html = res.text().await.expect("body");
        let csrf = crate::common::hidden_csrf(&html).expect("csrf field");
        let res = client
            .post(format!("{base}/login"))
            .header(reqwest::header::COOKIE, cookie)
            .form(&[
                ("username", name.as_str()),
                ("password", pw.as_str()),
                ("csrf_token", csrf.as_str()),
            ])
            .send()
            .await
            .expect("POST /login");
        assert_eq!(
            res.status(),
            reqwest::StatusCode::SEE_OTHER,
            "{name} signs in"
        );
    }
    // The sample data is there: hundreds of rows.
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&format!(
        "sqlite://{}",
        shop.display()
    ))
    .await
    .expect("shop");
    let orders: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM orders")
        .fetch_one(&mut conn)
        .await
        .expect("count");
    assert!(orders >= 100, "{orders} orders");
    // SIGTERM: a graceful stop.
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let status = child.wait().expect("wait");
    assert!(
        status.success(),
        "the demo stops cleanly on SIGTERM: {status:?}"
    );
}

/// `countersign check` as a pre-commit hook runs it.
fn check(args: &[&str], stdin: &str) -> Output {
    let dir = tempfile::tempdir().expect("tempdir");
    run_in(dir.path(), &[&["check"], args].concat(), None, stdin, &[])
}

#[test]
fn check_finds_an_update_whose_where_is_only_a_comment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("fix.sql");
    std::fs::write(&file, "UPDATE orders SET status = 'x' -- WHERE id = 1\n").expect("write");
    let path = file.to_str().expect("utf-8 path");
    let out = check(&["--dialect", "postgres", path], "");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with(&format!("{path}:1:1: danger[update-without-where] ")),
        "{text}"
    );

    let out = check(&["--format", "json", path], "");
    assert_eq!(out.status.code(), Some(2));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json["files"][0]["path"], path);
    assert_eq!(json["files"][0]["risk"], "high");
    assert_eq!(
        json["files"][0]["findings"][0]["rule"],
        "update-without-where"
    );
    assert_eq!(json["files"][0]["findings"][0]["line"], 1);
}

#[test]
fn check_exit_codes_follow_the_worst_finding() {
    let clean = check(&["-"], "UPDATE orders SET status = 'paid' WHERE id = 42;\n");
    assert_eq!(clean.status.code(), Some(0), "{}", stdout(&clean));
    let warning = check(
        &["--dialect", "postgres", "-"],
        "ALTER TABLE orders ADD COLUMN note text;\n",
    );
    assert_eq!(warning.status.code(), Some(1), "{}", stdout(&warning));
    let error = check(&["-"], "BEGIN;\n");
    assert_eq!(error.status.code(), Some(2), "{}", stdout(&error));
    let unreadable = check(&["/nonexistent/x.sql"], "");
    assert_eq!(unreadable.status.code(), Some(3));
    assert!(
        stderr(&unreadable).contains("/nonexistent/x.sql"),
        "{}",
        stderr(&unreadable)
    );
    let bad_dialect = check(&["--dialect", "oracle", "-"], "");
    assert!(!bad_dialect.status.success());
}

/// The rule ids of `countersign check --format json` on one input, in order.
fn check_rules(dialect: &str, sql: &str) -> (Option<i32>, Vec<String>, serde_json::Value) {
    let out = check(&["--dialect", dialect, "--format", "json", "-"], sql);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let file = json["files"][0].clone();
    let rules = file["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| f["rule"].as_str().unwrap_or_default().to_owned())
        .collect();
    (out.status.code(), rules, file)
}

#[test]
fn check_reads_mysql_executable_comments_as_code() {
    let sql = "UPDATE accounts SET status = 'z' WHERE /*M! id > 0 OR */ id = 1;\n";
    let out = check(&["--dialect", "mysql", "-"], sql);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(
        stdout(&out).contains(":1:40: danger[executable-comment] "),
        "{}",
        stdout(&out)
    );
    let (code, rules, file) = check_rules("mysql", "SELECT 1 /*! ; DELETE FROM t */;\n");
    assert_eq!(code, Some(2));
    assert!(
        rules.contains(&"delete-without-where".to_owned()),
        "{rules:?}"
    );
    assert_eq!(file["statements"][1]["kind"], "delete");
    let (_, rules, _) = check_rules("postgres", sql);
    assert!(
        !rules.contains(&"executable-comment".to_owned()),
        "{rules:?}"
    );
}

#[test]
fn check_refuses_lexing_settings_and_mixed_implicit_commits() {
    for (dialect, sql) in [
        ("mysql", "SET @@session.sql_mode = 'ANSI_QUOTES';\n"),
        ("postgres", "SET standard_conforming_strings = off;\n"),
    ] {
        let (code, rules, _) = check_rules(dialect, sql);
        assert_eq!(code, Some(2), "{sql}");
        assert_eq!(rules, ["lexing-setting"], "{sql}");
    }
    let mixed = "ALTER TABLE t ADD COLUMN a int;\nUPDATE t SET a = 1 WHERE id = 1;\n";
    let out = check(&["--dialect", "mysql", "-"], mixed);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(
        stdout(&out).contains(":1:1: error[implicit-commit-mixed] "),
        "{}",
        stdout(&out)
    );
    let (code, rules, _) = check_rules("mysql", "ALTER TABLE t ADD COLUMN a int;\n");
    assert_eq!(code, Some(1), "{rules:?}");
    assert!(!rules.contains(&"implicit-commit-mixed".to_owned()));
}

#[test]
fn check_finds_writes_anywhere_and_nearly_always_true_conditions() {
    let (code, rules, file) = check_rules(
        "postgres",
        "SELECT * FROM (WITH u AS (UPDATE accounts SET status = 'x' RETURNING 1) SELECT 1) s;\n",
    );
    assert_eq!(code, Some(2));
    assert!(
        rules.contains(&"update-without-where".to_owned()),
        "{rules:?}"
    );
    assert_eq!(file["statements"][0]["kind"], "update");

    let (code, rules, file) = check_rules("postgres", "SELECT archive_old_orders(30);\n");
    assert_eq!(code, Some(1), "{rules:?}");
    assert_eq!(rules, ["calls-unknown-function"]);
    assert_eq!(file["statements"][0]["kind"], "call");

    let (code, rules, _) = check_rules("postgres", "DELETE FROM t WHERE id IS NOT NULL;\n");
    assert_eq!(code, Some(1), "{rules:?}");
    assert_eq!(rules, ["where-nearly-always-true"]);

    let (code, rules, _) = check_rules("mysql", "UPDATE t SET a = 1 WHERE 1 ^ 2;\n");
    assert_eq!(code, Some(2), "{rules:?}");
    assert!(rules.contains(&"where-always-true".to_owned()), "{rules:?}");
}

#[test]
fn check_reads_mysql_forms_the_parser_lacks() {
    for (sql, rule) in [
        (
            "UPDATE t1, t2 SET t1.a = t2.b WHERE t1.id = t2.id;\n",
            "update-with-join",
        ),
        ("ALTER TABLE t TRUNCATE PARTITION p0;\n", "truncate"),
        ("GRANT SUPER ON *.* TO u;\n", "grant-revoke"),
        ("CREATE TABLE t (a int COMMENT \"x\");\n", "create-object"),
    ] {
        let (_, rules, _) = check_rules("mysql", sql);
        assert!(
            !rules.contains(&"parse-error".to_owned()),
            "{sql}: {rules:?}"
        );
        assert!(rules.contains(&rule.to_owned()), "{sql}: {rules:?}");
    }
}

/// Whether `b`'s session still opens the dashboard (a signed-out visitor is sent to /login).
async fn still_signed_in(b: &crate::common::Browser) -> bool {
    b.get("/").await.status() == reqwest::StatusCode::OK
}

// Several worker threads: the CLI runs as a blocking child process while this test's own server
// (in-process) goes on — on one thread, a server task caught mid-transaction (the dispatcher,
// woken by the sign-in just before) would hold the store's write lock until the CLI gave up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_password_new_roles_or_disabling_end_the_users_sessions() {
    use countersign_core::user::Role;
    let ws = Workspace::new();
    let app =
        crate::common::TestApp::start(crate::common::config_for(&ws.store_url(), "", &[])).await;
    app.add_user("eve", &[Role::Author], "eve's password").await;
    app.add_user("bob", &[Role::Author], "bob's password").await;
    let bob = app.sign_in("bob", "bob's password").await;

    let eve = app.sign_in("eve", "eve's password").await;
    assert!(still_signed_in(&eve).await);
    let out = ws.run(
        &["user", "passwd", "eve", "--password-stdin"],
        "a new password\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!still_signed_in(&eve).await, "passwd ends eve's session");

    let eve = app.sign_in("eve", "a new password").await;
    let out = ws.run(&["user", "role", "eve", "--add", "reviewer"], "");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("eve now has roles: author, reviewer"),
        "{}",
        stdout(&out)
    );
    assert!(
        !still_signed_in(&eve).await,
        "a role change ends eve's session"
    );

    let eve = app.sign_in("eve", "a new password").await;
    ws.ok(&["user", "disable", "eve"]);
    assert!(!still_signed_in(&eve).await, "disabling ends eve's session");

    assert!(still_signed_in(&bob).await, "bob's session is not eve's");
    app.stop().await;
}

#[tokio::test]
async fn user_role_and_user_list_show_and_change_roles() {
    let ws = Workspace::new();
    ws.ok(&["user", "add", "dana", "--role", "author"]);
    let out = ws.run(
        &[
            "user",
            "role",
            "dana",
            "--add",
            "reviewer,admin",
            "--remove",
            "author",
        ],
        "",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = ws.run(&["user", "role", "dana", "--remove", "admin"], "");
    assert!(out.status.success(), "{}", stderr(&out));
    ws.ok(&["user", "disable", "dana"]);
    ws.ok(&["user", "add", "erin", "--role", "admin"]);
    let list = stdout(&ws.run(&["user", "list"], ""));
    assert_eq!(
        list.lines().collect::<Vec<_>>(),
        ["dana\treviewer\tdisabled", "erin\tadmin\tactive"],
        "{list}"
    );
    let nothing = ws.run(&["user", "role", "erin"], "");
    assert!(!nothing.status.success());
    assert!(
        stderr(&nothing).contains("--add or --remove"),
        "{}",
        stderr(&nothing)
    );
    let missing = ws.run(&["user", "role", "nobody", "--add", "admin"], "");
    assert!(
        stderr(&missing).contains("not found"),
        "{}",
        stderr(&missing)
    );
    let store = ws.store().await;
    let changes = store
        .list_users()
        .await
        .expect("users")
        .into_iter()
        .find(|u| u.name == "dana")
        .expect("dana");
    assert_eq!(changes.roles, [countersign_core::user::Role::Reviewer]);
    store.close().await;
}

#[tokio::test]
async fn tokens_can_expire_be_listed_with_their_last_use_and_be_revoked() {
    let ws = Workspace::new();
    ws.ok(&["user", "add", "ci", "--role", "author"]);
    let out = ws.run(&["token", "create", "ci", "--expires", "90d"], "");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("until 20"), "{}", stderr(&out));
    let token = stdout(&out).lines().last().expect("token").to_owned();
    let forever = stdout(&ws.run(&["token", "create", "ci"], ""))
        .lines()
        .last()
        .expect("token")
        .to_owned();
    let bad = ws.run(&["token", "create", "ci", "--expires", "soon"], "");
    assert!(!bad.status.success());

    let store = ws.store().await;
    assert!(token_works(&store, &token).await);
    store.close().await;

    let list = stdout(&ws.run(&["token", "list", "ci"], ""));
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines[0], "ID\tCREATED\tLAST USED\tEXPIRES\tSTATE", "{list}");
    assert_eq!(lines.len(), 3, "{list}");
    let newest: Vec<&str> = lines[1].split('\t').collect();
    let oldest: Vec<&str> = lines[2].split('\t').collect();
    assert_eq!(
        (newest[2], newest[3], newest[4]),
        ("never", "never", "active"),
        "{list}"
    );
    assert!(oldest[2].starts_with("20"), "the use is noted: {list}");
    assert!(oldest[3].starts_with("20"), "it expires: {list}");
    assert!(
        !list.contains(&token) && !list.contains(&forever),
        "never the token itself"
    );

    let out = ws.run(&["token", "revoke", oldest[0]], "");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(&format!("revoked token {} of ci", oldest[0])));
    let again = ws.run(&["token", "revoke", oldest[0]], "");
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("already revoked"),
        "{}",
        stderr(&again)
    );
    let store = ws.store().await;
    assert!(!token_works(&store, &token).await);
    assert!(token_works(&store, &forever).await);
    store.close().await;
    assert!(stdout(&ws.run(&["token", "list", "ci"], "")).contains("\trevoked"));
}

/// Whether `token` lets its user in, as the server would check it.
async fn token_works(store: &Store, token: &str) -> bool {
    store
        .user_by_token_hash(&secret::hash(token))
        .await
        .expect("read")
        .is_some()
}

#[test]
fn user_add_and_token_create_need_no_target_secret_but_refuse_reserved_names() {
    let ws = Workspace::new();
    ws.write_config(
        "[[target]]\nname = \"prod\"\ndriver = \"postgres\"\nurl_env = \"PROD_DB_URL_NOT_SET\"\n",
    );
    let out = ws.run(&["user", "add", "ci", "--role", "author"], "");
    assert!(out.status.success(), "{}", stderr(&out));
    let out = ws.run(&["token", "create", "ci"], "");
    assert!(out.status.success(), "{}", stderr(&out));
    ws.ok(&["token", "list", "ci"]);
    ws.ok(&["user", "list"]);
    for name in ["system", "oidc", "countersign"] {
        let out = ws.run(&["user", "add", name, "--role", "admin"], "");
        assert!(!out.status.success(), "{name} was added");
        assert!(stderr(&out).contains("reserved"), "{}", stderr(&out));
    }
    // The file must still be valid.
    ws.write_config("[[target]]\nname = \"prod\"\ndriver = \"postgres\"\nbogus = 1\n");
    let out = ws.run(&["user", "list"], "");
    assert!(!out.status.success());
    assert!(stderr(&out).contains("bogus"), "{}", stderr(&out));
}

/// `countersign serve` caps glibc's malloc arenas at one unless told otherwise: started without
/// `MALLOC_ARENA_MAX`, the serving process (the same pid, after its `exec`) has it set to 1;
/// started with a value, it keeps that value.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[tokio::test]
async fn the_server_runs_with_one_malloc_arena_unless_told_otherwise() {
    use crate::common::{free_addr, wait_up, write_config};
    let dir = tempfile::tempdir().expect("tempdir");
    let store = format!("sqlite://{}", dir.path().join("store.db").display());
    let config = write_config(dir.path(), &store, "");
    for (given, expected) in [(None, "1"), (Some("4"), "4")] {
        let addr = free_addr();
        let mut cmd = Command::new(BIN);
        cmd.args(["serve", "--config"])
            .arg(&config)
            .env("COUNTERSIGN_SERVER_LISTEN", &addr)
            .env_remove("MALLOC_ARENA_MAX")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(value) = given {
            cmd.env("MALLOC_ARENA_MAX", value);
        }
        let mut server = cmd.spawn().expect("spawn countersign serve");
        wait_up(&format!("http://{addr}")).await;
        let environ = std::fs::read(format!("/proc/{}/environ", server.id()))
            .expect("the server's environment");
        let vars: Vec<&[u8]> = environ.split(|b| *b == 0).collect();
        let wanted = format!("MALLOC_ARENA_MAX={expected}");
        assert!(
            vars.contains(&wanted.as_bytes()),
            "{given:?}: {:?}",
            String::from_utf8_lossy(&environ)
        );
        server.kill().ok();
        server.wait().ok();
    }
}

/// Commands that touch only the store (`user`, `token`) need none of the secrets `[smtp]` and
/// `[[notify]]` name, nor a readable `ca_file`; `migrate` checks the whole file, as `serve`
/// will, naming the key and never the value.
#[test]
fn user_and_token_commands_need_no_notification_secret_but_migrate_checks_them() {
    let ws = Workspace::new();
    ws.write_config(
        "[smtp]\nurl_env = \"CS_TEST_SMTP_URL_NOT_SET\"\nca_file = \"/nonexistent/ca.pem\"\n\
         [[notify]]\nkind = \"webhook\"\nurl_env = \"CS_TEST_HOOK_URL_NOT_SET\"\n\
         secret_env = \"CS_TEST_HOOK_KEY_NOT_SET\"\n",
    );
    ws.ok(&[
        "user",
        "add",
        "ci",
        "--role",
        "author",
        "--email",
        "ci@example.com",
    ]);
    ws.ok(&["user", "email", "ci", "ci2@example.com"]);
    ws.ok(&["token", "create", "ci"]);
    ws.ok(&["token", "list", "ci"]);
    ws.ok(&["user", "list"]);

    let out = ws.run(&["migrate"], "");
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("smtp.url_env") && err.contains("CS_TEST_SMTP_URL_NOT_SET"),
        "{err}"
    );
    let secret_env = [
        (
            "CS_TEST_SMTP_URL_NOT_SET",
            "smtp://mailer:SMTP-SECRET@127.0.0.1:2525",
        ),
        (
            "CS_TEST_HOOK_URL_NOT_SET",
            "https://hooks.example.com/HOOK-SECRET",
        ),
        ("CS_TEST_HOOK_KEY_NOT_SET", "KEY-SECRET"),
    ];
    let migrate = || {
        run_in(
            ws.dir.path(),
            &["migrate"],
            Some(&ws.config()),
            "",
            &secret_env,
        )
    };
    let out = migrate();
    assert!(!out.status.success());
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        all.contains("smtp.ca_file") && all.contains("/nonexistent/ca.pem"),
        "an unreadable ca_file is named: {all}"
    );
    assert!(!all.contains("SECRET"), "a secret leaked: {all}");

    std::fs::write(ws.dir.path().join("ca.pem"), "not a certificate\n").unwrap();
    let text = std::fs::read_to_string(ws.config()).unwrap();
    std::fs::write(ws.config(), text.replace("/nonexistent/ca.pem", "ca.pem")).unwrap();
    let out = migrate();
    assert!(!out.status.success());
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        all.contains("smtp.ca_file") && all.contains("no certificate"),
        "a file without a certificate is refused: {all}"
    );
    assert!(!all.contains("SECRET"), "a secret leaked: {all}");
}
