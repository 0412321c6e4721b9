//! Runs `analyze` once on the 4 MiB script of the `analyze_4mib` bench (the bench's script
//! repeated up to 4 MiB, cut at a line) and prints its statement and finding counts: a
//! target for a profiler, e.g. `valgrind --tool=callgrind`, that does only that work.
//! `cargo run --release -p countersign-analyzer --example analyze_4mib`.

use countersign_analyzer::{Dialect, analyze};

#[path = "../benches/script.rs"]
mod script;

fn main() {
    let one = script::postgres_script();
    let limit = 4 * 1024 * 1024;
    let mut sql = String::with_capacity(limit);
    'fill: loop {
        for line in one.split_inclusive('\n') {
            if sql.len() + line.len() > limit {
                break 'fill;
            }
            sql.push_str(line);
        }
    }
    let analysis = analyze(&sql, Dialect::Postgres);
    println!(
        "{} bytes: {} statements, {} findings",
        sql.len(),
        analysis.statements.len(),
        analysis.findings.len()
    );
}
