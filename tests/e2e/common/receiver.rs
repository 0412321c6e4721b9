//! A real webhook receiver for the notification tests: axum on 127.0.0.1, recording every
//! request it gets (headers and body) and answering as the test tells it: 200, 500, or not at
//! all for a while (hang).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::Value;

/// How the receiver answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Ok,
    /// 500 until then.
    FailUntil(Instant),
    /// 500 always.
    Fail,
    /// No answer for this long, then 200.
    Hang(Duration),
}

/// One request the receiver got, and what it answered.
#[derive(Debug, Clone)]
pub struct Hit {
    pub headers: HeaderMap,
    pub body: Bytes,
    pub answered: StatusCode,
    /// When it arrived.
    pub at: Instant,
}

impl Hit {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    pub fn delivery(&self) -> &str {
        self.header("x-countersign-delivery")
    }
}

#[derive(Clone, Default)]
struct Shared {
    hits: Arc<Mutex<Vec<Hit>>>,
    /// The delivery id of every request as it arrives, before any answer.
    arrived: Arc<Mutex<Vec<String>>>,
    mode: Arc<Mutex<Option<Mode>>>,
}

pub struct Receiver {
    /// The URL to configure, with a path that stands for a secret.
    pub url: String,
    shared: Shared,
    handle: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub async fn start(mode: Mode) -> Receiver {
        let shared = Shared::default();
        *shared.mode.lock().unwrap() = Some(mode);
        let app = Router::new()
            .route("/hook/{secret}", post(receive))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let handle = tokio::spawn(async move {
            axum::serve(listener, app).await.ok();
        });
        Receiver {
            url: format!("http://{addr}/hook/T0SECRET-{}", super::unique("path")),
            shared,
            handle,
        }
    }

    pub fn set(&self, mode: Mode) {
        *self.shared.mode.lock().unwrap() = Some(mode);
    }

    /// The delivery ids of the requests that arrived, answered or not.
    pub fn arrived(&self) -> Vec<String> {
        self.shared.arrived.lock().unwrap().clone()
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.shared.hits.lock().unwrap().clone()
    }

    /// The requests answered 200.
    pub fn delivered(&self) -> Vec<Hit> {
        self.hits()
            .into_iter()
            .filter(|h| h.answered == StatusCode::OK)
            .collect()
    }

    /// Waits up to `within` until `n` requests were answered 200; returns them.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Hit> {
        let end = Instant::now() + within;
        loop {
            let got = self.delivered();
            if got.len() >= n || Instant::now() > end {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

async fn receive(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let at = Instant::now();
    let id = headers
        .get("x-countersign-delivery")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    s.arrived.lock().unwrap().push(id);
    let mode = s.mode.lock().unwrap().unwrap_or(Mode::Ok);
    let answered = match mode {
        Mode::Ok => StatusCode::OK,
        Mode::Fail => StatusCode::INTERNAL_SERVER_ERROR,
        Mode::FailUntil(t) if Instant::now() < t => StatusCode::INTERNAL_SERVER_ERROR,
        Mode::FailUntil(_) => StatusCode::OK,
        Mode::Hang(d) => {
            tokio::time::sleep(d).await;
            // Recorded as not delivered: the sender gave up waiting long before.
            s.hits.lock().unwrap().push(Hit {
                headers,
                body,
                answered: StatusCode::GATEWAY_TIMEOUT,
                at,
            });
            return StatusCode::OK;
        }
    };
    s.hits.lock().unwrap().push(Hit {
        headers,
        body,
        answered,
        at,
    });
    answered
}
