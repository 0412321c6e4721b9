//! Countersign's HTTP server (axum): the JSON API under `/api/v1`, the HTML pages, sign-in,
//! sessions and CSRF. Handlers are thin: parse, call the domain and the store, render.

pub mod anchor;
pub mod api;
pub mod audit;
pub mod auth;
pub mod checkpoint_sink;
pub mod comments;
pub mod config;
pub mod error;
pub mod execution;
pub mod expiry;
pub mod hygiene;
pub mod notify;
pub mod pages;
pub mod rehearsal;
pub mod stoppable;
pub mod text;
pub mod undo;
pub mod views;
pub mod workflow;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use countersign_store::Store;
use tokio::net::TcpListener;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

pub use config::Config;

/// What every handler can reach: the store, the configuration and the password hashers.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub config: Arc<Config>,
    /// Bounds the argon2 computations running at once (one per core by default).
    pub hashers: Arc<auth::password::HashLimiter>,
    /// Where rehearsals take their turns: per target, and one per request.
    pub rehearsals: Arc<rehearsal::RehearsalSlots>,
    /// Wakes this instance's dispatcher: after every change made through this instance (a
    /// change's notifications are in the outbox once it answers), so they leave at once rather
    /// than at the next poll. Other instances' changes are found by polling.
    pub outbox_wake: Arc<tokio::sync::Notify>,
    /// The request pages' data, kept while their requests do not change.
    pub page_cache: Arc<pages::requests::PageCache>,
}

impl AppState {
    pub fn new(store: Store, config: Config) -> AppState {
        AppState {
            store,
            hashers: Arc::new(auth::password::HashLimiter::per_core()),
            rehearsals: Arc::new(rehearsal::RehearsalSlots::new(&config)),
            config: Arc::new(config),
            outbox_wake: Arc::new(tokio::sync::Notify::new()),
            page_cache: Arc::default(),
        }
    }

    /// Tells the dispatcher that the outbox may hold something new (committed).
    pub fn wake_dispatcher(&self) {
        self.outbox_wake.notify_one();
    }

    /// The same state with another bound on password hashing (tests, benchmarks).
    pub fn with_hashers(mut self, hashers: auth::password::HashLimiter) -> AppState {
        self.hashers = Arc::new(hashers);
        self
    }
}

/// The whole application: pages, API and static files, with security headers on every answer
/// (and HSTS when `public_url` is https).
pub fn router(state: AppState) -> Router {
    let hsts = state.config.secure_cookies();
    // SQL is limited by validation (`server.max_sql_bytes`); a body may hold it encoded.
    let body_limit = state.config.server.body_limit();
    let app = Router::new()
        .merge(pages::routes())
        .nest("/api/v1", api::routes())
        .route("/healthz", axum::routing::get(api::healthz))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            notify::wake_after_change,
        ))
        .layer(axum::middleware::from_fn(
            hygiene::refuse_control_chars_in_query,
        ))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                 form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            ),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        .layer(axum::middleware::from_fn(hygiene::no_store_by_default))
        .layer(TraceLayer::new_for_http())
        .with_state(state);
    if hsts {
        app.layer(SetResponseHeaderLayer::overriding(
            header::STRICT_TRANSPORT_SECURITY,
            hygiene::HSTS,
        ))
    } else {
        app
    }
}

/// Serves until `shutdown` completes, then finishes the requests in flight.
///
/// At most `server.max_connections` connections are served at once; the next ones stay in the
/// listen queue until one ends. A connection must send each request's headers within
/// `server.header_read_timeout` (an idle kept-alive one too), so slow or silent clients cannot
/// hold the slots (slowloris). Each request carries the client's address as
/// `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let max_connections = state.config.server.max_connections;
    let header_timeout = state.config.server.header_read_timeout;
    let reconciler = state.spawn_reconciler();
    state.settle_interrupted_rehearsals().await;
    let rehearsal_settler = state.spawn_rehearsal_settler();
    let checkpointer = state.spawn_checkpointer();
    let pruner = state.spawn_image_pruner();
    let expiry_pass = state.spawn_expiry_pass();
    let dispatcher = state.spawn_dispatcher();
    let closing = state.clone();
    let app = router(state);
    let slots = Arc::new(tokio::sync::Semaphore::new(max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait a moment rather than spin.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = hyper::service::service_fn(
            move |mut req: axum::http::Request<hyper::body::Incoming>| {
                req.extensions_mut()
                    .insert(axum::extract::ConnectInfo(addr));
                tower::Service::call(&mut app.clone(), req)
            },
        );
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(header_timeout)
            .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    tracing::info!("finishing the requests in flight");
    graceful.shutdown().await;
    reconciler.abort();
    rehearsal_settler.abort();
    pruner.abort();
    expiry_pass.abort();
    dispatcher.stop().await;
    if let Some(checkpointer) = checkpointer {
        checkpointer.stop().await;
        // The last word: the head as it is at shutdown, signed.
        if let Err(e) = closing.checkpoint(1).await {
            tracing::warn!(error = ?e.to_string(), "cannot checkpoint the audit trail at shutdown");
        }
    }
    Ok(())
}

/// Completes on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("shutting down: finishing requests in flight");
}
