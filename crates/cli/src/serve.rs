//! `countersign serve`: opens (and migrates) the store, then serves until SIGTERM or Ctrl-C.

use anyhow::Context;
use countersign_server::{AppState, Config};
use countersign_store::Store;
use tokio::net::TcpListener;

pub async fn run(config: Config) -> anyhow::Result<()> {
    let store = Store::open(&config.store.url).await?;
    let listener = TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.server.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, targets = config.targets.len(), "serving");
    let state = AppState::new(store.clone(), config);
    countersign_server::serve(listener, state, countersign_server::shutdown_signal()).await?;
    store.close().await;
    Ok(())
}
