//! Runs `analyze` once on the 4 MiB script of the `analyze_4mib` bench (the bench's script
//! repeated up to 4 MiB, cut at a line) and prints its statement and finding counts: a
//! target for a profiler, e.g. `valgrind --tool=callgrind`, that does only that work.
//! `cargo run --release -p countersign-analyzer --example analyze_4mib`.

use countersign_analyzer::{Dialect, analyze};

#[path = "../benches/script.rs"]
mod script;

fn main() {
    let sql = script::postgres_script_4mib();
    let analysis = analyze(&sql, Dialect::Postgres);
    println!(
        "{} bytes: {} statements, {} findings",
        sql.len(),
        analysis.statements.len(),
        analysis.findings.len()
    );
}
