//! Fills the store at STORE_URL (migrated, with the users `alice`, `frank`, `bob`, `carol` and
//! `dave`) with COUNT edit requests by bulk SQL — the fixture of `benches/load.sh`. What each
//! request looks like (authors, targets, statuses, reviewers, one audit event each; hashes that do
//! not chain) is `countersign_store::testing::Fill`'s; every revision carries the analyzer's real
//! report of one single-row UPDATE, so the request page renders as it would.
//!
//! ```text
//! cargo run --release -p countersign --example store_fill -- sqlite://bench.db 1000000
//! ```

use std::process::ExitCode;
use std::time::Instant;

use countersign_analyzer::{Dialect, analyze};
use countersign_store::Store;
use countersign_store::testing::Fill;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(url), Some(Ok(count))) = (args.first(), args.get(1).map(|n| n.parse::<i64>())) else {
        eprintln!("usage: store_fill STORE_URL COUNT");
        return ExitCode::from(2);
    };
    let analysis = analyze(
        "UPDATE orders SET status = 'paid' WHERE id = 1;",
        Dialect::Postgres,
    );
    let analysis = match serde_json::to_string(&analysis) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("store_fill: {e}");
            return ExitCode::FAILURE;
        }
    };
    let started = Instant::now();
    let filled = async {
        let store = Store::connect(url).await?;
        store
            .fill_requests(&Fill {
                requests: count,
                analysis: &analysis,
            })
            .await?;
        store.close().await;
        Ok::<_, countersign_store::StoreError>(())
    };
    match filled.await {
        Ok(()) => {
            eprintln!(
                "store_fill: {count} requests in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("store_fill: {e}");
            ExitCode::FAILURE
        }
    }
}
