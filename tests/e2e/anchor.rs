//! Signed checkpoints of the audit trail: `audit keygen`, the server's checkpoints, and
//! `audit verify --public-key` catching what the hash chain alone cannot — a trail rewritten
//! with recomputed hashes, or cut short, by someone with write access to the store.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::{TestApp, config_for};
use countersign_core::audit::{AuditEntry, AuditEvent, GENESIS_HASH};
use countersign_core::user::Role;
use futures_util::TryStreamExt;
use sqlx::{Connection, SqliteConnection};

const BIN: &str = env!("CARGO_BIN_EXE_countersign");
const KEY_ENV: &str = "CS_TEST_AUDIT_KEY";

struct Trail {
    dir: tempfile::TempDir,
    private: String,
    public: String,
}

impl Trail {
    fn new() -> Trail {
        let out = Command::new(BIN)
            .args(["audit", "keygen"])
            .output()
            .expect("keygen");
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).expect("utf-8");
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name))
                .expect("a key line")
                .trim()
                .to_owned()
        };
        let trail = Trail {
            dir: tempfile::tempdir().expect("tempdir"),
            private: field("private:"),
            public: field("public:"),
        };
        std::fs::write(
            trail.config(),
            format!("[store]\nurl = \"{}\"\n{}", trail.url(), AUDIT),
        )
        .expect("config");
        trail
    }

    fn url(&self) -> String {
        format!("sqlite://{}", self.dir.path().join("store.db").display())
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("countersign.toml")
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .arg("--config")
            .arg(self.config())
            .env(KEY_ENV, &self.private)
            .output()
            .expect("run")
    }

    /// Serves with the key, makes `users` events, waits for a checkpoint, stops (which signs
    /// the head once more).
    async fn fill(&self, users: usize) {
        let config = config_for(&self.url(), AUDIT, &[(KEY_ENV, &self.private)]);
        let app = TestApp::start(config).await;
        for n in 0..users {
            app.add_user(&format!("user{n}"), &[Role::Author], "a long password")
                .await;
        }
        for _ in 0..50 {
            if app.store.last_checkpoint_seq().await.expect("read") > 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(
            app.store.last_checkpoint_seq().await.expect("read") >= 3,
            "a checkpoint every 3 events"
        );
        app.stop().await;
    }

    async fn sqlite(&self) -> SqliteConnection {
        SqliteConnection::connect(&self.url()).await.expect("open")
    }
}

const AUDIT: &str = "[audit]\nsigning_key_env = \"CS_TEST_AUDIT_KEY\"\ncheckpoint_every = 3\n";

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// What someone with write access to the store can do: replace the whole trail with `events`
/// re-sealed into a valid chain, and move the head to its end.
async fn rewrite(conn: &mut SqliteConnection, events: Vec<AuditEvent>) {
    for sql in [
        "DROP TRIGGER audit_events_no_update",
        "DROP TRIGGER audit_events_no_delete",
        "DELETE FROM audit_events",
    ] {
        sqlx::query(sql).execute(&mut *conn).await.expect(sql);
    }
    let mut prev = GENESIS_HASH.to_owned();
    for e in events {
        let sealed = AuditEntry {
            seq: e.seq,
            at: e.at,
            actor: e.actor,
            action: e.action,
            request_id: e.request_id,
            revision: e.revision,
            details: e.details,
        }
        .seal(&prev);
        sqlx::query(
            "INSERT INTO audit_events (seq, at, actor, action, request_id, revision, details, prev_hash, hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(sealed.seq)
        .bind(countersign_core::timestamp::format(sealed.at))
        .bind(&sealed.actor)
        .bind(&sealed.action)
        .bind(sealed.request_id)
        .bind(sealed.revision)
        .bind(sealed.details.to_string())
        .bind(&sealed.prev_hash)
        .bind(&sealed.hash)
        .execute(&mut *conn)
        .await
        .expect("insert");
        sqlx::query("UPDATE audit_head SET seq = $1, hash = $2")
            .bind(sealed.seq)
            .bind(&sealed.hash)
            .execute(&mut *conn)
            .await
            .expect("head");
        prev = sealed.hash;
    }
}

async fn events(trail: &Trail) -> Vec<AuditEvent> {
    let store = countersign_store::Store::open(&trail.url())
        .await
        .expect("store");
    let all = store
        .audit_events(&countersign_store::audit::AuditFilter::default())
        .try_collect()
        .await
        .expect("events");
    store.close().await;
    all
}

#[tokio::test]
async fn the_server_signs_checkpoints_that_verify_with_the_public_key_only() {
    let trail = Trail::new();
    trail.fill(7).await;
    let ok = trail.run(&["audit", "verify", "--public-key", &trail.public]);
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(
        text(&ok).contains("signed checkpoints valid, the last at event #7"),
        "{}",
        text(&ok)
    );
    let other = Trail::new();
    let wrong = trail.run(&["audit", "verify", "--public-key", &other.public]);
    assert!(!wrong.status.success());
    assert!(
        text(&wrong).contains("not signed by this key"),
        "{}",
        text(&wrong)
    );
}

#[tokio::test]
async fn a_trail_rewritten_with_recomputed_hashes_passes_the_chain_but_not_the_checkpoints() {
    let trail = Trail::new();
    trail.fill(7).await;
    let mut all = events(&trail).await;
    all[1].details["user"] = serde_json::json!("mallory");
    rewrite(&mut trail.sqlite().await, all).await;
    let chain = trail.run(&["audit", "verify"]);
    assert!(
        chain.status.success(),
        "the chain alone cannot tell: {}",
        text(&chain)
    );
    let signed = trail.run(&["audit", "verify", "--public-key", &trail.public]);
    assert!(!signed.status.success());
    assert!(text(&signed).contains("rewritten"), "{}", text(&signed));
}

#[tokio::test]
async fn a_trail_cut_short_before_its_last_checkpoint_fails() {
    let trail = Trail::new();
    trail.fill(7).await;
    let mut all = events(&trail).await;
    all.truncate(4);
    rewrite(&mut trail.sqlite().await, all).await;
    assert!(
        trail.run(&["audit", "verify"]).status.success(),
        "the chain alone cannot tell"
    );
    let signed = trail.run(&["audit", "verify", "--public-key", &trail.public]);
    assert!(!signed.status.success());
    assert!(
        text(&signed).contains("removed from its end"),
        "{}",
        text(&signed)
    );
}

#[tokio::test]
async fn exports_end_with_a_signed_trailer_and_a_truncated_export_fails() {
    let trail = Trail::new();
    trail.fill(4).await;
    let file = trail.dir.path().join("audit.jsonl");
    let out = trail.run(&[
        "audit",
        "export",
        "--format",
        "jsonl",
        "--output",
        file.to_str().expect("path"),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let verify = |path: &Path, key: bool| {
        let mut args = vec!["audit", "verify", "--file", path.to_str().expect("path")];
        if key {
            args.extend(["--public-key", trail.public.as_str()]);
        }
        trail.run(&args)
    };
    let whole = std::fs::read_to_string(&file).expect("read");
    assert!(
        whole
            .lines()
            .last()
            .expect("a line")
            .starts_with("{\"checkpoint\":"),
        "{whole}"
    );
    assert!(
        verify(&file, true).status.success(),
        "{}",
        text(&verify(&file, true))
    );
    assert!(
        verify(&file, false).status.success(),
        "the trailer is no obstacle without a key"
    );

    let lines: Vec<&str> = whole.lines().collect();
    let cut = trail.dir.path().join("cut.jsonl");
    // The last event gone, the trailer kept.
    let mut kept: Vec<&str> = lines[..lines.len() - 2].to_vec();
    kept.push(lines[lines.len() - 1]);
    std::fs::write(&cut, kept.join("\n") + "\n").expect("write");
    let res = verify(&cut, true);
    assert!(!res.status.success(), "{}", text(&res));
    // Cut anywhere, trailer and all.
    std::fs::write(&cut, lines[..lines.len() - 2].join("\n") + "\n").expect("write");
    let res = verify(&cut, true);
    assert!(!res.status.success());
    assert!(text(&res).contains("no signed trailer"), "{}", text(&res));
    assert!(
        verify(&cut, false).status.success(),
        "without a key a cut export looks whole"
    );
}

#[tokio::test]
async fn the_admin_page_says_what_the_trail_is_evidence_against() {
    let trail = Trail::new();
    let config = config_for(&trail.url(), AUDIT, &[(KEY_ENV, &trail.private)]);
    let app = TestApp::start(config).await;
    app.add_user("root", &[Role::Admin], "a long password")
        .await;
    let mut b = app.sign_in("root", "a long password").await;
    let page = b.page("/admin").await;
    assert!(page.contains(&trail.public), "{page}");
    app.stop().await;

    let db = countersign_store::testing::TestStore::sqlite().await;
    let app = TestApp::start(config_for(&db.url, "", &[])).await;
    app.add_user("root", &[Role::Admin], "a long password")
        .await;
    let mut b = app.sign_in("root", "a long password").await;
    let page = b.page("/admin").await;
    assert!(
        page.contains("tamper-evident only against people without write access to the store"),
        "{page}"
    );
    app.stop().await;
    db.cleanup().await;
}

#[tokio::test]
async fn the_api_export_ends_with_the_same_signed_trailer() {
    let trail = Trail::new();
    let config = config_for(&trail.url(), AUDIT, &[(KEY_ENV, &trail.private)]);
    let app = TestApp::start(config).await;
    let root = app
        .add_user("root", &[Role::Admin], "a long password")
        .await;
    let token = app.token_for(&root).await;
    let body = TestApp::client()
        .get(app.url("/api/v1/audit?format=jsonl"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("GET")
        .text()
        .await
        .expect("body");
    app.stop().await;
    assert!(
        body.lines()
            .last()
            .expect("a line")
            .starts_with("{\"checkpoint\":"),
        "{body}"
    );
    let file = trail.dir.path().join("api.jsonl");
    std::fs::write(&file, &body).expect("write");
    let path = file.to_str().expect("path");
    let ok = trail.run(&[
        "audit",
        "verify",
        "--file",
        path,
        "--public-key",
        &trail.public,
    ]);
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(text(&ok).contains("signed trailer valid"), "{}", text(&ok));
}

impl Trail {
    /// [`Trail::fill`] with `audit.checkpoint_sink = sink`; returns the stored checkpoints.
    async fn fill_with_sink(
        &self,
        sink: &str,
        users: usize,
    ) -> Vec<countersign_store::CheckpointRecord> {
        let extra = format!("{AUDIT}checkpoint_sink = \"{sink}\"\n");
        let config = config_for(&self.url(), &extra, &[(KEY_ENV, &self.private)]);
        assert!(config.audit.checkpoint_sink.is_some());
        let app = TestApp::start(config).await;
        let before = app.store.list_users().await.expect("users").len();
        for n in before..before + users {
            app.add_user(&format!("user{n}"), &[Role::Author], "a long password")
                .await;
        }
        for _ in 0..50 {
            if app.store.last_checkpoint_seq().await.expect("read") > 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        // The server keeps serving whatever becomes of the sink.
        let health = TestApp::client()
            .get(app.url("/healthz"))
            .send()
            .await
            .expect("GET");
        assert_eq!(health.status(), reqwest::StatusCode::OK);
        let (head, _) = app.store.audit_head().await.expect("head");
        app.stop().await;
        let store = countersign_store::Store::open(&self.url())
            .await
            .expect("store");
        let stored = store.checkpoints().await.expect("checkpoints");
        store.close().await;
        assert_eq!(
            stored.last().map(|c| c.seq),
            Some(head),
            "the head at shutdown is checkpointed"
        );
        stored
    }
}

/// Checks that `sent` are the stored checkpoints, in order, each verifying with `public`.
fn assert_sent_verify(
    sent: &[countersign_server::checkpoint_sink::SentCheckpoint],
    stored: &[countersign_store::CheckpointRecord],
    public: &str,
) {
    use countersign_server::anchor::PublicKey;
    let key = PublicKey::parse(public).expect("public key");
    assert_eq!(
        sent.iter().map(|s| (s.seq, &s.hash)).collect::<Vec<_>>(),
        stored.iter().map(|c| (c.seq, &c.hash)).collect::<Vec<_>>(),
        "every stored checkpoint is sent, once, in order"
    );
    for s in sent {
        assert!(key.signed(&s.checkpoint()), "{s:?} verifies");
        assert_eq!(s.public_key, public);
        countersign_core::timestamp::parse(&s.signed_at).expect("signed_at is a time");
        let forged = countersign_server::anchor::Checkpoint {
            seq: s.seq + 1,
            ..s.checkpoint()
        };
        assert!(!key.signed(&forged), "a line with another seq does not");
    }
    let other = PublicKey::parse(&Trail::new().public).expect("other key");
    assert!(sent.iter().all(|s| !other.signed(&s.checkpoint())));
}

#[tokio::test]
async fn checkpoints_are_appended_to_the_file_sink_as_json_lines_that_verify_with_the_public_key() {
    let trail = Trail::new();
    let file = trail.dir.path().join("sink").join("checkpoints.jsonl");
    std::fs::create_dir(file.parent().expect("dir")).expect("mkdir");
    std::fs::write(&file, "").expect("an existing file is appended to");
    let stored = trail
        .fill_with_sink(&format!("file:{}", file.display()), 7)
        .await;
    let text = std::fs::read_to_string(&file).expect("the sink file");
    let sent: Vec<countersign_server::checkpoint_sink::SentCheckpoint> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON checkpoint a line"))
        .collect();
    assert!(text.ends_with('\n'), "{text}");
    assert_sent_verify(&sent, &stored, &trail.public);

    // A second server appends to the same file.
    let more = trail
        .fill_with_sink(&format!("file:{}", file.display()), 0)
        .await;
    assert_eq!(more.len(), stored.len(), "nothing new: nothing sent");
    let again = std::fs::read_to_string(&file).expect("the sink file");
    assert_eq!(again, text);
}

#[tokio::test]
async fn checkpoints_are_sent_to_the_syslog_socket_as_rfc_3164_messages_that_verify() {
    use std::os::unix::net::UnixDatagram;
    let trail = Trail::new();
    let path = trail.dir.path().join("log.sock");
    let socket = UnixDatagram::bind(&path).expect("bind the syslog socket");
    socket
        .set_read_timeout(Some(std::time::Duration::from_millis(500)))
        .expect("timeout");
    let stored = trail
        .fill_with_sink(&format!("syslog:{}", path.display()), 7)
        .await;
    let mut sent = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n) = socket.recv(&mut buf) {
        let message = std::str::from_utf8(&buf[..n]).expect("utf-8").to_owned();
        assert!(
            message.starts_with("<37>"),
            "facility auth, notice: {message}"
        );
        let (head, line) = message.split_once(": ").expect("tag: message");
        let tag = format!(" countersign[{}]", std::process::id());
        assert!(head.ends_with(&tag), "{head}");
        assert_eq!(
            head.len(),
            "<37>Dec  5 06:30:01".len() + tag.len(),
            "{head}"
        );
        assert!(!line.contains('\n'));
        sent.push(serde_json::from_str(line).expect("a JSON checkpoint"));
    }
    assert_sent_verify(&sent, &stored, &trail.public);
}

#[tokio::test]
async fn a_sink_that_cannot_be_reached_keeps_neither_checkpoints_nor_the_server_from_working() {
    let trail = Trail::new();
    let gone = trail.dir.path().join("no-such-dir");
    // A file in a directory that does not exist, and a socket nobody listens on.
    for sink in [
        format!("file:{}", gone.join("checkpoints.jsonl").display()),
        format!("syslog:{}", gone.join("log.sock").display()),
    ] {
        let stored = trail.fill_with_sink(&sink, 4).await;
        assert!(!stored.is_empty(), "{sink}: checkpoints are stored");
    }
    let ok = trail.run(&["audit", "verify", "--public-key", &trail.public]);
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(!gone.exists());
}
