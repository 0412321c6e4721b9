//! `World`: a running server over a fresh store with its cast — alice (author), bob and carol
//! (reviewers), root (admin) — a token for each, and the API as each of them. Modules add the
//! users and steps of their own concern beside it.

use std::collections::HashMap;

use countersign_core::user::Role;
use countersign_store::testing::TestStore;
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use super::{TestApp, config_for};

/// Every user's password in a world.
pub const PW: &str = "a long password";

pub struct World {
    pub app: TestApp,
    /// The store, when the world made it (and so removes it when done).
    pub db: Option<TestStore>,
    tokens: HashMap<String, String>,
}

impl World {
    /// A server over a fresh SQLite store, with `targets` (TOML) configured.
    pub async fn new(targets: &str) -> World {
        World::on(TestStore::sqlite().await, targets).await
    }

    /// A server over `db`, with `targets` configured.
    pub async fn on(db: TestStore, targets: &str) -> World {
        let app = TestApp::start(config_for(&db.url, targets, &[])).await;
        let mut w = World::with_app(app).await;
        w.db = Some(db);
        w
    }

    /// The cast on an app started elsewhere (whose store the caller removes).
    pub async fn with_app(app: TestApp) -> World {
        let mut w = World {
            app,
            db: None,
            tokens: HashMap::new(),
        };
        w.add("alice", &[Role::Author]).await;
        w.add("bob", &[Role::Reviewer]).await;
        w.add("carol", &[Role::Reviewer]).await;
        w.add("root", &[Role::Admin]).await;
        w
    }

    /// Adds a user with password [`PW`] and a token.
    pub async fn add(&mut self, name: &str, roles: &[Role]) {
        let user = self.app.add_user(name, roles, PW).await;
        let token = self.app.token_for(&user).await;
        self.tokens.insert(name.to_owned(), token);
    }

    /// `who`'s API token.
    pub fn token(&self, who: &str) -> &str {
        &self.tokens[who]
    }

    pub fn store_url(&self) -> &str {
        &self.app.config.store.url
    }

    /// An API call as `who`, with an optional JSON body.
    pub async fn send(
        &self,
        who: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Response {
        let mut req = TestApp::client()
            .request(method, self.app.url(path))
            .bearer_auth(self.token(who));
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.expect("request")
    }

    pub async fn post(&self, who: &str, path: &str, body: Value) -> Response {
        self.send(who, Method::POST, path, Some(body)).await
    }

    /// `GET path` as `who`, asserting 200; the JSON body.
    pub async fn get(&self, who: &str, path: &str) -> Value {
        let res = self.send(who, Method::GET, path, None).await;
        assert_eq!(res.status(), StatusCode::OK, "GET {path}");
        res.json().await.expect("json")
    }

    /// Submits `body` as alice, asserting 201; the request.
    pub async fn submit(&self, body: Value) -> Value {
        let res = self.post("alice", "/api/v1/requests", body).await;
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        assert_eq!(status, StatusCode::CREATED, "{text}");
        serde_json::from_str(&text).expect("json")
    }

    pub async fn review(
        &self,
        who: &str,
        id: i64,
        decision: &str,
        comment: &str,
        revision: i64,
    ) -> Response {
        self.post(
            who,
            &format!("/api/v1/requests/{id}/reviews"),
            json!({"decision": decision, "comment": comment, "revision": revision}),
        )
        .await
    }

    /// A run of approved request `id` claimed by alice and begun on its target (its identity
    /// recorded: a marker nobody will find), then its server gone: the next start settles it
    /// as `unknown` (`execution.reconciled`).
    pub async fn orphan_run(&self, id: i64) {
        let alice = self.app.store.user_by_name("alice").await.unwrap().unwrap();
        self.app
            .store
            .claim_execution(id, &alice, 1, Some(1), None, None)
            .await
            .expect("claim");
        let identity = countersign_core::request::RunIdentity {
            txid: None,
            session: None,
            marker: Some("a-run-nobody-can-find".into()),
        };
        self.app
            .store
            .record_identity(id, &identity)
            .await
            .expect("identity");
    }

    /// Submits `sql` to `target` and has bob (and carol, if a second approval is needed)
    /// approve it; returns its id.
    pub async fn approved(&self, target: &str, sql: &str, expected_rows: Option<i64>) -> i64 {
        let request = self
            .submit(
                json!({"title": "t", "intent": "a test edit", "sql": sql, "target": target,
                "reviewers": ["bob", "carol"], "expected_rows": expected_rows}),
            )
            .await;
        let id = request["id"].as_i64().expect("id");
        for who in ["bob", "carol"] {
            let res = self.review(who, id, "approve", "", 1).await;
            if res.status() == StatusCode::CONFLICT {
                break; // already approved by the first (low risk needs one)
            }
            assert_eq!(res.status(), StatusCode::OK);
        }
        id
    }

    /// `POST /requests/{id}/execute` as `who`: the status and the JSON body.
    pub async fn execute(&self, who: &str, id: i64) -> (StatusCode, Value) {
        let res = self
            .post(who, &format!("/api/v1/requests/{id}/execute"), json!({}))
            .await;
        let status = res.status();
        (status, res.json().await.expect("json"))
    }

    /// Stops the server and removes the store the world made.
    pub async fn done(self) {
        self.app.stop().await;
        if let Some(db) = self.db {
            db.cleanup().await;
        }
    }
}
