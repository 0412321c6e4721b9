//! Writes the benchmark script (`benches/script.rs`) to standard output:
//! `cargo run --release -p countersign-analyzer --example gen_script > bench.sql`.

use std::io::Write;

#[path = "../benches/script.rs"]
mod script;

fn main() {
    let sql = script::postgres_script();
    if let Err(err) = std::io::stdout().lock().write_all(sql.as_bytes()) {
        eprintln!("gen_script: {err}");
        std::process::exit(1);
    }
}
