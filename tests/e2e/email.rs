//! Email notifications through a real SMTP server (aiosmtpd, started by the harness): each
//! event reaches exactly the people it names who have an address, as plain text and HTML with a
//! link to the request; a recipient the server refuses is dead-lettered with the reason and the
//! others are unaffected; `countersign user add --email` and `user email` set addresses.
//! Mail goes over TLS when the server speaks it — STARTTLS on `smtp://`, TLS from the start on
//! `smtps://` — trusting a private CA named by `[smtp] ca_file`; a certificate nobody trusts
//! sends nothing and dead-letters the message with the reason.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::Duration;

use countersign_core::user::Role;
use countersign_store::testing::TestStore;
use reqwest::StatusCode;
use serde_json::json;

use crate::common::smtp::{Mail, ServerTls, SmtpServer, TlsFiles};
use crate::common::{Backend, TestApp, World, config_for, write_config};

const OUTBOX: &str = "[outbox]\npoll_every = \"50ms\"\ntimeout = \"2s\"\nretry_first = \"200ms\"\n";

/// Who got mail about which event.
fn by_event(mails: &[Mail]) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for m in mails {
        out.entry(m.event()).or_default().insert(m.to.clone());
    }
    out
}

/// A world over a fresh store whose mail goes to `smtp`, with target `b` (`target_extra` in its
/// table) and `env` besides `SMTP_URL`.
async fn mail_world(
    smtp: &SmtpServer,
    b: &Backend,
    target_extra: &str,
    env: &[(&str, &str)],
) -> World {
    let db = TestStore::sqlite().await;
    let toml = format!(
        "{}[smtp]\nurl_env = \"SMTP_URL\"\nfrom = \"Countersign <cs@example.com>\"\n{OUTBOX}",
        b.target_toml(target_extra)
    );
    let mut vars = vec![("SMTP_URL", smtp.url.as_str())];
    vars.extend_from_slice(env);
    let app = TestApp::start(config_for(&db.url, &toml, &vars)).await;
    let mut w = World::with_app(app).await;
    w.db = Some(db);
    w
}

/// Gives each of `names` the address `NAME@example.com`.
async fn give_addresses(w: &World, names: &[&str]) {
    for who in names {
        w.app
            .store
            .set_email(who, Some(&format!("{who}@example.com")))
            .await
            .expect("email");
    }
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| format!("{n}@example.com")).collect()
}

#[tokio::test]
async fn each_event_reaches_exactly_the_people_it_names_by_email() {
    let Some(smtp) = SmtpServer::start() else {
        return;
    };
    let b = Backend::sqlite();
    b.create_accounts(1).await;
    let mut w = mail_world(&smtp, &b, "", &[]).await;
    w.add("dave", &[Role::Reviewer]).await;
    w.add("erin", &[Role::Author]).await;
    for (who, address) in [
        ("alice", "alice@example.com"),
        ("bob", "bob@example.com"),
        ("root", "root@example.com"),
        ("dave", "refused-dave@example.com"),
        ("erin", "erin@example.com"),
    ] {
        w.app
            .store
            .set_email(who, Some(address))
            .await
            .expect("email");
    }
    // carol has no address.
    let sql = format!("UPDATE {} SET v = v + 1 WHERE id = 1", b.table);
    let r = w
        .submit(
            json!({"title": "Fix one row", "intent": "a test edit", "sql": sql,
            "target": b.name, "reviewers": ["bob", "carol", "dave"], "expected_rows": 1}),
        )
        .await;
    let id = r["id"].as_i64().unwrap();
    let res = w
        .post(
            "erin",
            &format!("/api/v1/requests/{id}/comments"),
            json!({"text": "Is <this> safe?"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(
        w.review("bob", id, "approve", "", 1).await.status(),
        StatusCode::OK
    );
    let (status, _) = w.execute("alice", id).await;
    assert_eq!(status, StatusCode::OK);

    // submitted: bob; comment, approved ×2, finished: alice and bob — 1 + 4 × 2 = 9.
    let mails = smtp.wait_for(9, Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mails_all = smtp.mails();
    assert_eq!(mails.len(), 9, "{:?}", by_event(&mails));
    assert_eq!(mails_all.len(), 9, "nothing twice");
    let got = by_event(&mails_all);
    assert_eq!(
        got["request.submitted"],
        set(&["bob"]),
        "the named reviewers"
    );
    for event in [
        "comment.added",
        "review.approved",
        "request.approved",
        "execution.finished",
    ] {
        assert_eq!(
            got[event],
            set(&["alice", "bob"]),
            "{event}: the author and the reviewers"
        );
    }
    let mail = mails_all
        .iter()
        .find(|m| m.event() == "comment.added")
        .unwrap();
    assert!(
        mail.raw.contains(&format!("/requests/{id}")),
        "a link to the request"
    );
    assert!(
        mail.raw.contains("text/plain") && mail.raw.contains("text/html"),
        "plain text and HTML"
    );
    assert!(
        mail.raw.contains("&lt;this&gt;") || mail.raw.contains("&#60;this&#62;"),
        "HTML escaped"
    );
    assert!(
        mail.raw.contains("Is <this> safe?"),
        "the comment in the text part"
    );
    assert!(
        mail.header("Subject")
            .is_some_and(|s| s.contains("erin commented")),
        "{mail:?}"
    );
    assert!(
        mail.header("Message-ID")
            .is_some_and(|s| s.contains("@countersign"))
    );

    // The refused recipient: dead at once with the reason, and nobody else affected.
    let dead = w.app.store.dead_deliveries(20).await.expect("dead");
    assert_eq!(dead.len(), 5, "dave's five messages");
    assert!(
        dead.iter()
            .all(|d| d.recipient.as_deref() == Some("refused-dave@example.com"))
    );
    let error = dead[0].last_error.clone().unwrap_or_default();
    assert!(error.contains("no such user"), "{error}");
    assert!(!error.contains("smtp://"), "no URL in the error");
    w.done().await;
}

#[tokio::test]
async fn an_expired_approval_is_mailed_to_the_admins_and_the_author() {
    let Some(smtp) = SmtpServer::start() else {
        return;
    };
    let b = Backend::sqlite();
    b.create_accounts(1).await;
    let env = [("COUNTERSIGN_SERVER_EXPIRE_APPROVALS_EVERY", "1s")];
    let w = mail_world(&smtp, &b, "approval_ttl = \"1s\"", &env).await;
    give_addresses(&w, &["alice", "bob", "carol", "root"]).await;
    let sql = format!("UPDATE {} SET v = v + 1 WHERE id = 1", b.table);
    let id = w.approved(b.name, &sql, Some(1)).await;
    let mut expired = Vec::new();
    for _ in 0..150 {
        expired = smtp
            .mails()
            .into_iter()
            .filter(|m| m.event() == "approval.expired")
            .collect();
        if expired.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let to: BTreeSet<String> = expired.iter().map(|m| m.to.clone()).collect();
    assert_eq!(to, set(&["alice", "root"]), "the admins and the author");
    assert!(expired[0].raw.contains(&format!("/requests/{id}")));
    w.done().await;
}

#[tokio::test]
async fn the_cli_sets_email_addresses() {
    let dir = tempfile::tempdir().unwrap();
    let store_url = format!("sqlite://{}", dir.path().join("cs.db").display());
    let config = write_config(dir.path(), &store_url, "");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_countersign"))
            .args(args)
            .arg("--config")
            .arg(&config)
            .output()
            .expect("run countersign")
    };
    let out = run(&[
        "user",
        "add",
        "bob",
        "--role",
        "reviewer",
        "--email",
        "bob@example.com",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&[
        "user",
        "add",
        "eve",
        "--role",
        "author",
        "--email",
        "not an address",
    ]);
    assert!(!out.status.success(), "a bad address is refused");
    let out = run(&["user", "email", "bob", "robert@example.com"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&["user", "email", "nobody", "x@example.com"]);
    assert!(!out.status.success(), "an unknown user");
    let store = countersign_store::Store::open(&store_url).await.unwrap();
    let emails = store.emails().await.unwrap();
    assert_eq!(
        emails.get("bob").map(String::as_str),
        Some("robert@example.com")
    );
    assert!(!emails.contains_key("eve"));
    store.close().await;
}

#[tokio::test]
async fn an_admin_sets_an_email_address_on_the_admin_page() {
    let w = World::new("").await;
    let mut root = w.app.sign_in("root", crate::common::PW).await;
    let html = root.page("/admin").await;
    assert!(html.contains("<label for=\"email-bob\">Email</label>"));
    let csrf = crate::common::hidden_csrf(&html).expect("csrf");
    let res = root
        .post_form(
            "/admin/users/bob/email",
            &[("csrf_token", &csrf), ("email", "bob@example.com")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let res = root
        .post_form(
            "/admin/users/bob/email",
            &[("csrf_token", &csrf), ("email", "no address")],
        )
        .await;
    // Refused: the admin page again, the reason on bob's line, the address as typed.
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let refused = res.text().await.unwrap();
    assert!(
        refused.contains("<h2>Add a user</h2>"),
        "the admin page: {refused}"
    );
    let line = refused
        .split("<tr id=\"user-bob\">")
        .nth(1)
        .and_then(|rest| rest.split("</tr>").next())
        .expect("bob's line");
    assert!(
        line.contains("role=\"alert\">&#34;no address&#34; is not an email address")
            || line.contains("role=\"alert\">&quot;no address&quot; is not an email address"),
        "the reason on bob's line: {line}"
    );
    assert!(line.contains("<details open>"), "bob's forms open: {line}");
    assert!(
        line.contains("value=\"no address\""),
        "the address as typed: {line}"
    );
    let res = root
        .post_form(
            "/admin/users/nobody/email",
            &[("csrf_token", &csrf), ("email", "x@example.com")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let page = res.text().await.unwrap();
    assert!(
        page.contains("there is no user called") && page.contains("<h2>Add a user</h2>"),
        "{page}"
    );
    let html = root.page("/admin").await;
    assert!(html.contains("bob@example.com"), "shown on the page");
    assert_eq!(
        w.app
            .store
            .emails()
            .await
            .unwrap()
            .get("bob")
            .map(String::as_str),
        Some("bob@example.com")
    );
    let mut bob = w.app.sign_in("bob", crate::common::PW).await;
    let page = bob.page("/").await;
    let csrf = crate::common::hidden_csrf(&page).expect("csrf");
    let res = bob
        .post_form(
            "/admin/users/bob/email",
            &[("csrf_token", &csrf), ("email", "x@example.com")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "admins only");
    w.done().await;
}

/// A rejection and a revision by email: `review.rejected` to the author and the reviewers,
/// `request.revised` to the named reviewers only.
#[tokio::test]
async fn a_rejection_and_a_revision_are_mailed_to_the_people_they_name() {
    let Some(smtp) = SmtpServer::start() else {
        return;
    };
    let b = Backend::sqlite();
    b.create_accounts(1).await;
    let w = mail_world(&smtp, &b, "", &[]).await;
    give_addresses(&w, &["alice", "bob", "carol", "root"]).await;
    let sql = format!("UPDATE {} SET v = v + 1 WHERE id = 1", b.table);
    let r = w
        .submit(
            json!({"title": "Fix one row", "intent": "a test edit", "sql": sql,
            "target": b.name, "reviewers": ["bob", "carol"], "expected_rows": 1}),
        )
        .await;
    let id = r["id"].as_i64().unwrap();
    assert_eq!(
        w.review("bob", id, "reject", "wrong row", 1).await.status(),
        StatusCode::OK
    );
    let revised = format!("UPDATE {} SET v = v + 2 WHERE id = 1", b.table);
    let res = w
        .send(
            "alice",
            reqwest::Method::PUT,
            &format!("/api/v1/requests/{id}"),
            Some(json!({"sql": revised})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    // submitted: bob, carol; rejected: alice, bob, carol; revised: bob, carol — 7.
    let mails = smtp.wait_for(7, Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let all = smtp.mails();
    assert_eq!(mails.len(), 7, "{:?}", by_event(&mails));
    assert_eq!(all.len(), 7, "nothing twice");
    let got = by_event(&all);
    assert_eq!(got["request.submitted"], set(&["bob", "carol"]));
    assert_eq!(got["review.rejected"], set(&["alice", "bob", "carol"]));
    assert_eq!(
        got["request.revised"],
        set(&["bob", "carol"]),
        "the named reviewers"
    );
    w.done().await;
}

/// A run whose target nobody can ask any more (its target left the configuration while the
/// run was open) is settled as `unknown` after a restart, and `execution.reconciled` with that
/// outcome is mailed to the admins and the author.
#[tokio::test]
async fn a_run_nothing_can_tell_about_is_mailed_to_the_admins_and_the_author() {
    let Some(smtp) = SmtpServer::start() else {
        return;
    };
    let b = Backend::sqlite();
    b.create_accounts(1).await;
    let db = TestStore::sqlite().await;
    let smtp_toml = format!("[smtp]\nurl_env = \"SMTP_URL\"\n{OUTBOX}");
    let toml = format!("{}{smtp_toml}", b.target_toml(""));
    let app = TestApp::start(config_for(&db.url, &toml, &[("SMTP_URL", &smtp.url)])).await;
    let w = World::with_app(app).await;
    give_addresses(&w, &["alice", "bob", "carol", "root"]).await;
    let sql = format!("UPDATE {} SET v = v + 1 WHERE id = 1", b.table);
    let id = w.approved(b.name, &sql, Some(1)).await;
    w.orphan_run(id).await;
    w.done().await;

    // Restarted without that target: nothing can tell what became of the run.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let other = format!(
        "[[target]]\nname = \"elsewhere\"\ndriver = \"sqlite\"\nurl = \"{}\"\n{smtp_toml}",
        b.url
    );
    let env = [
        ("SMTP_URL", smtp.url.as_str()),
        ("COUNTERSIGN_SERVER_RECONCILE_AFTER", "1s"),
    ];
    let app = TestApp::start(config_for(&db.url, &other, &env)).await;
    let mut reconciled = Vec::new();
    for _ in 0..150 {
        reconciled = smtp
            .mails()
            .into_iter()
            .filter(|m| m.event() == "execution.reconciled")
            .collect();
        if reconciled.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let to: BTreeSet<String> = reconciled.iter().map(|m| m.to.clone()).collect();
    assert_eq!(to, set(&["alice", "root"]), "the admins and the author");
    let record = app.store.request(id).await.unwrap().unwrap();
    assert_eq!(
        record.execution.and_then(|e| e.outcome).map(|o| o.as_str()),
        Some("unknown")
    );
    app.stop().await;
    db.cleanup().await;
}

/// A world whose mail goes to `smtp_url` (`smtp_extra` in its `[smtp]`, `outbox` its `[outbox]`),
/// `env` besides `SMTP_URL`, with bob's address set; submits a request naming bob, which mails
/// him `request.submitted`.
async fn mail_bob(smtp_url: &str, smtp_extra: &str, outbox: &str, env: &[(&str, &str)]) -> World {
    let b = Backend::sqlite();
    b.create_accounts(1).await;
    let db = TestStore::sqlite().await;
    let toml = format!(
        "{}[smtp]\nurl_env = \"SMTP_URL\"\n{smtp_extra}\n{outbox}",
        b.target_toml("")
    );
    let mut vars = vec![("SMTP_URL", smtp_url)];
    vars.extend_from_slice(env);
    let app = TestApp::start(config_for(&db.url, &toml, &vars)).await;
    let mut w = World::with_app(app).await;
    w.db = Some(db);
    give_addresses(&w, &["bob"]).await;
    let sql = format!("UPDATE {} SET v = v + 1 WHERE id = 1", b.table);
    w.submit(
        json!({"title": "Over TLS", "intent": "a test edit", "sql": sql,
        "target": b.name, "reviewers": ["bob"], "expected_rows": 1}),
    )
    .await;
    w
}

/// `smtp://` to a server that offers STARTTLS: the mail goes over TLS, its certificate checked
/// against the private CA named by `[smtp] ca_file`.
#[tokio::test]
async fn starttls_is_used_when_offered_and_the_private_ca_is_trusted() {
    let Some(files) = TlsFiles::generate() else {
        return;
    };
    let Some(smtp) = SmtpServer::start_tls(ServerTls::StartTls, &files) else {
        return;
    };
    assert!(smtp.url.starts_with("smtp://"), "{}", smtp.url);
    let ca = format!("ca_file = \"{}\"", files.ca.display());
    let w = mail_bob(&smtp.url, &ca, OUTBOX, &[]).await;
    let mails = smtp.wait_for(1, Duration::from_secs(15)).await;
    assert_eq!(mails.len(), 1, "{:?}", w.app.store.dead_deliveries(5).await);
    assert_eq!(mails[0].to, "bob@example.com");
    assert_eq!(mails[0].event(), "request.submitted");
    assert!(
        mails[0].tls().starts_with("starttls TLSv1."),
        "delivered after STARTTLS: {}",
        mails[0].tls()
    );
    w.done().await;
}

/// `smtps://`: TLS from the first byte; the CA given as `COUNTERSIGN_SMTP_CA_FILE`.
#[tokio::test]
async fn smtps_speaks_tls_from_the_start_with_the_ca_from_the_environment() {
    let Some(files) = TlsFiles::generate() else {
        return;
    };
    let Some(smtp) = SmtpServer::start_tls(ServerTls::Implicit, &files) else {
        return;
    };
    assert!(smtp.url.starts_with("smtps://"), "{}", smtp.url);
    let ca = files.ca.display().to_string();
    let env = [("COUNTERSIGN_SMTP_CA_FILE", ca.as_str())];
    let w = mail_bob(&smtp.url, "", OUTBOX, &env).await;
    let mails = smtp.wait_for(1, Duration::from_secs(15)).await;
    assert_eq!(mails.len(), 1, "{:?}", w.app.store.dead_deliveries(5).await);
    assert_eq!(mails[0].to, "bob@example.com");
    assert!(
        mails[0].tls().starts_with("implicit TLSv1."),
        "delivered over implicit TLS: {}",
        mails[0].tls()
    );
    w.done().await;
}

/// A server whose certificate no trusted CA signed: nothing is sent (not even in the clear
/// after a failed STARTTLS), the message is retried and then dead with a reason that names the
/// certificate and holds none of the URL's secrets.
#[tokio::test]
async fn an_untrusted_certificate_sends_nothing_and_dead_letters_with_the_reason() {
    let Some(files) = TlsFiles::generate() else {
        return;
    };
    for mode in [ServerTls::StartTls, ServerTls::Implicit] {
        let Some(smtp) = SmtpServer::start_tls(mode, &files) else {
            return;
        };
        let (scheme, host) = smtp.url.split_once("://").unwrap();
        let url = format!("{scheme}://mailer:TLS-PA55WORD@{host}");
        let outbox = format!("{OUTBOX}give_up_after = \"2s\"\n");
        let w = mail_bob(&url, "", &outbox, &[]).await;
        let mut dead = Vec::new();
        for _ in 0..100 {
            dead = w.app.store.dead_deliveries(5).await.expect("dead");
            if !dead.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(dead.len(), 1, "{mode:?}: bob's message is dead");
        assert!(dead[0].attempts > 1, "{mode:?}: it was retried first");
        let error = dead[0].last_error.clone().unwrap_or_default();
        assert!(error.contains("gave up after"), "{mode:?}: {error}");
        assert!(
            error.to_ascii_lowercase().contains("certificate"),
            "{mode:?}: the reason names the certificate: {error}"
        );
        assert!(
            error.contains("ca_file"),
            "{mode:?}: and what to do: {error}"
        );
        for secret in ["TLS-PA55WORD", "mailer:", url.as_str()] {
            assert!(!error.contains(secret), "{mode:?}: {secret} in {error}");
        }
        assert!(smtp.mails().is_empty(), "{mode:?}: no mail");
        w.done().await;
    }
}
