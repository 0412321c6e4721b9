//! The harness of the end-to-end tests: a real server on a real port over a fresh store, a
//! browser-like client that keeps its cookies, and helpers to make users and tokens.

mod backend;
mod process;
pub mod receiver;
pub mod smtp;
mod world;
pub use backend::{Backend, unique};
pub use process::{free_addr, spawn_server, wait_up, write_config};
pub use world::{PW, World};

use std::net::SocketAddr;
use std::path::Path;

use countersign_core::user::{Role, User};
use countersign_server::AppState;
use countersign_server::auth::{password, secret};
use countersign_server::config::{self, Config};
use countersign_store::Store;
use countersign_store::testing::TestStore;
use reqwest::{Response, StatusCode, header};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running server. Stop it with [`TestApp::stop`].
pub struct TestApp {
    pub base: String,
    pub store: Store,
    pub config: Config,
    shutdown: oneshot::Sender<()>,
    handle: JoinHandle<std::io::Result<()>>,
}

/// A configuration over `store_url` with the given extra TOML (targets, server keys).
pub fn config_for(store_url: &str, extra_toml: &str, env: &[(&str, &str)]) -> Config {
    let text = format!("[store]\nurl = \"{store_url}\"\n{extra_toml}");
    Config::from_toml(&text, Path::new("test.toml"), &config::env_from(env)).expect("test config")
}

impl TestApp {
    /// Serves `config` on 127.0.0.1 (a free port) over a new handle on its store.
    pub async fn start(config: Config) -> TestApp {
        TestApp::start_with(config, |state| state).await
    }

    /// [`TestApp::start`], with the state changed by `adjust` first (e.g. its hash limiter).
    pub async fn start_with(config: Config, adjust: impl FnOnce(AppState) -> AppState) -> TestApp {
        let store = Store::open(&config.store.url).await.expect("store");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr: SocketAddr = listener.local_addr().expect("addr");
        let (shutdown, rx) = oneshot::channel::<()>();
        let state = adjust(AppState::new(store.clone(), config.clone()));
        let handle = tokio::spawn(countersign_server::serve(listener, state, async {
            let _ = rx.await;
        }));
        TestApp {
            base: format!("http://{addr}"),
            store,
            config,
            shutdown,
            handle,
        }
    }

    /// Shuts the server down gracefully and waits for it.
    pub async fn stop(self) {
        let _ = self.shutdown.send(());
        self.handle.await.expect("server task").expect("server");
        self.store.close().await;
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Creates a user with a password.
    pub async fn add_user(&self, name: &str, roles: &[Role], pw: &str) -> User {
        let hash = password::hash(pw).expect("hash");
        self.store
            .create_user(name, roles, Some(&hash), None)
            .await
            .expect("create user")
    }

    /// Creates an API token for `user` as `countersign token create` does.
    pub async fn token_for(&self, user: &User) -> String {
        let token = secret::new_token();
        self.store
            .create_token(user, &secret::hash(&token), None)
            .await
            .expect("token");
        token
    }

    /// A client that does not follow redirects, so tests see them.
    pub fn client() -> reqwest::Client {
        countersign_server::notify::install_tls();
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
    }

    /// Signs in through the sign-in page, as a browser would.
    pub async fn sign_in(&self, name: &str, pw: &str) -> Browser {
        let mut b = Browser::new(self.base.clone());
        let page = b.get("/login").await;
        assert_eq!(page.status(), StatusCode::OK);
        let html = b.absorb(page).await;
        let csrf = hidden_csrf(&html).expect("sign-in form has a CSRF token");
        let res = b
            .post_form(
                "/login",
                &[("username", name), ("password", pw), ("csrf_token", &csrf)],
            )
            .await;
        assert_eq!(
            res.status(),
            StatusCode::SEE_OTHER,
            "sign-in of {name} should redirect"
        );
        b.absorb(res).await;
        assert!(
            b.cookie("countersign_session").is_some(),
            "signed in: a session cookie"
        );
        b
    }
}

/// The value of the first hidden `csrf_token` field of a page.
pub fn hidden_csrf(html: &str) -> Option<String> {
    let at = html.find("name=\"csrf_token\" value=\"")? + "name=\"csrf_token\" value=\"".len();
    let end = html[at..].find('"')?;
    Some(html[at..at + end].to_owned())
}

/// A minimal browser: keeps cookies by name, never follows redirects.
pub struct Browser {
    base: String,
    client: reqwest::Client,
    cookies: Vec<(String, String)>,
}

impl Browser {
    pub fn new(base: String) -> Browser {
        Browser {
            base,
            client: TestApp::client(),
            cookies: Vec::new(),
        }
    }

    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn set_cookie(&mut self, name: &str, value: &str) {
        self.cookies.retain(|(n, _)| n != name);
        self.cookies.push((name.to_owned(), value.to_owned()));
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Takes the response's cookies (an empty value removes one) and returns its body.
    pub async fn absorb(&mut self, res: Response) -> String {
        for v in res.headers().get_all(header::SET_COOKIE) {
            let text = v.to_str().expect("ascii cookie");
            let pair = text.split(';').next().unwrap_or("");
            if let Some((n, v)) = pair.split_once('=') {
                self.cookies.retain(|(name, _)| name != n);
                if !v.is_empty() {
                    self.cookies.push((n.to_owned(), v.to_owned()));
                }
            }
        }
        res.text().await.expect("body")
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(format!("{}{path}", self.base))
            .header(header::COOKIE, self.cookie_header())
            .send()
            .await
            .expect("GET")
    }

    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> Response {
        self.client
            .post(format!("{}{path}", self.base))
            .header(header::COOKIE, self.cookie_header())
            .form(form)
            .send()
            .await
            .expect("POST")
    }

    /// A page's body, asserting it answered 200.
    pub async fn page(&mut self, path: &str) -> String {
        let res = self.get(path).await;
        assert_eq!(res.status(), StatusCode::OK, "GET {path}");
        self.absorb(res).await
    }
}

/// Starts an app over a fresh SQLite store; returns it with the store's guard.
pub async fn sqlite_app(extra_toml: &str, env: &[(&str, &str)]) -> (TestApp, TestStore) {
    let db = TestStore::sqlite().await;
    let app = TestApp::start(config_for(&db.url, extra_toml, env)).await;
    (app, db)
}

/// The JSON error body's code, asserting the contract's shape.
pub async fn error_code(res: Response) -> (StatusCode, String) {
    let status = res.status();
    let body: serde_json::Value = res.json().await.expect("JSON error body");
    let code = body["error"]["code"]
        .as_str()
        .expect("error.code")
        .to_owned();
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "error.message: {body}"
    );
    (status, code)
}
