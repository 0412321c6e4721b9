//! Runs a SQL file on a PostgreSQL target as the server runs an approved revision with undo:
//! the analyzer's statements, each row's before- and after-image captured in the run's
//! transaction, the images written to a store (pending) before the commit.
//! Used by `benches/undo_vs_psql.sh`.
//!
//! ```text
//! run_with_undo analyze script.sql > analysis.json
//! run_with_undo submit script.sql analysis.json sqlite:///tmp/store.db
//! COUNTERSIGN_TARGET_URL=postgres://user@host/db \
//!     run_with_undo run script.sql analysis.json sqlite:///tmp/store.db
//! ```
//!
//! As in the server, the script is analyzed once (`analyze`) and stored with its request when
//! it is submitted (`submit`: request #1 in a new store); a run reads the stored analysis. The URL comes from the environment, never the command line.
//! `run` prints one line — outcome, rows affected, images stored, milliseconds — and exits 0
//! only if the run committed with undo.

use std::error::Error;
use std::process::ExitCode;

use countersign_analyzer::{Analysis, Dialect, analyze};
use countersign_core::policy::RiskLevel;
use countersign_core::user::Role;
use countersign_executor::{
    Driver, Images, Limits, Plan, Target, Undo, UndoMode, execute_with_undo,
};
use countersign_store::{RevisionInput, Store};

const URL_VAR: &str = "COUNTERSIGN_TARGET_URL";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<ExitCode, Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: run_with_undo analyze <script.sql> | submit|run <script.sql> \
                 <analysis.json> <store url>";
    let mode = args.next().ok_or(usage)?;
    let path = args.next().ok_or(usage)?;
    let script = std::fs::read_to_string(&path)?;
    if mode == "analyze" {
        println!(
            "{}",
            serde_json::to_string(&analyze(&script, Dialect::Postgres))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    let analysis_path = args.next().ok_or(usage)?;
    let store_url = args.next().ok_or(usage)?;
    let analysis_json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&analysis_path)?)?;
    let store = Store::open(&store_url).await?;
    if mode == "submit" {
        let author = store
            .create_user("bench", &[Role::Author], None, None)
            .await?;
        store
            .submit_request(
                &author,
                "bench",
                "bench",
                &RevisionInput {
                    intent: "benchmark",
                    sql: &script,
                    expected_rows: None,
                    reviewers: &[],
                    risk: RiskLevel::Low,
                    analysis: &analysis_json,
                    without_undo: false,
                },
            )
            .await?;
        store.close().await;
        return Ok(ExitCode::SUCCESS);
    }
    let id = 1;
    let url = std::env::var(URL_VAR).map_err(|_| format!("{URL_VAR} is not set"))?;
    let analysis: Analysis = serde_json::from_value(analysis_json)?;

    let target = Target {
        driver: Driver::Postgres,
        url: &url,
    };
    let plan = Plan {
        limits: Limits::default(),
        ..Plan::new(&script, analysis.statements.len())
    };
    let undo = Undo {
        analysis: &analysis,
        mode: UndoMode::Required,
        limit_rows: 100_000,
    };
    let report = execute_with_undo(
        target,
        plan,
        Some(undo),
        async |_identity| Ok::<(), countersign_store::StoreError>(()),
        async |images: Images| countersign_server::undo::store_pending(&store, id, images).await,
    )
    .await;
    let undo = report.undo.clone().unwrap_or_default();
    // Written before the commit; the server's record of the run then keeps them (one UPDATE).
    let kept = store.pending_images(id).await?;
    println!(
        "{} rows_affected={} images={} ms={}{}",
        report.outcome,
        report.rows_affected,
        kept,
        report.duration.as_millis(),
        report
            .error
            .as_ref()
            .map(|e| format!(" error={e}"))
            .unwrap_or_default(),
    );
    store.close().await;
    Ok(if report.is_committed() && undo.available {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
