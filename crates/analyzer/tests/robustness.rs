//! Hostile input: `analyze` must never panic, never overflow its stack (these tests run on the
//! default 2 MiB test thread, in debug builds) and answer in bounded time.

use std::time::{Duration, Instant};

use countersign_analyzer::{Analysis, Dialect, analyze};

/// Analyzes in every dialect and checks the result is coherent.
fn survive(sql: &str) -> Vec<Analysis> {
    Dialect::ALL
        .iter()
        .map(|&dialect| {
            let analysis = analyze(sql, dialect);
            assert!(!analysis.findings.is_empty() || !analysis.statements.is_empty());
            analysis
        })
        .collect()
}

fn has_rule(analysis: &Analysis, rule: &str) -> bool {
    analysis.findings.iter().any(|f| f.rule == rule)
}

#[test]
fn a_hundred_thousand_open_parentheses() {
    for analysis in survive(&"(".repeat(100_000)) {
        assert!(has_rule(&analysis, "parse-error"));
    }
    survive(&format!(
        "SELECT {}1{}",
        "(".repeat(100_000),
        ")".repeat(100_000)
    ));
}

#[test]
fn long_operator_chains_do_not_overflow_when_dropped_or_walked() {
    let n = 100_000;
    for sql in [
        format!("SELECT 1{}", "+1".repeat(n)),
        format!("SELECT 1{} +", "+1".repeat(n)),
        format!("SELECT x{}", "::int".repeat(n)),
        format!("SELECT x{}", " IS NULL".repeat(n)),
        format!("SELECT 1{}", " UNION SELECT 1".repeat(n / 4)),
        format!("CREATE TABLE t (a int{})", "[]".repeat(n)),
        format!("DELETE FROM t WHERE a = 1{}", " OR a = 1".repeat(n / 4)),
        format!("UPDATE t SET a = 1 WHERE {}1 = 1", "NOT NOT ".repeat(n / 4)),
    ] {
        survive(&sql);
    }
}

#[test]
fn a_megabyte_of_statements_is_analyzed_quickly() {
    let statement = "UPDATE orders SET status = 'shipped', note = 'batch 42' WHERE id = 123456;\n";
    let sql = statement.repeat(1_000_000 / statement.len());
    let started = Instant::now();
    let analysis = analyze(&sql, Dialect::Postgres);
    assert_eq!(analysis.statements.len(), 1_000_000 / statement.len());
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[test]
fn a_megabyte_in_one_statement() {
    let rows: Vec<String> = (0..40_000).map(|i| format!("({i}, 'name {i}')")).collect();
    let sql = format!("INSERT INTO t (id, name) VALUES {}", rows.join(", "));
    assert!(sql.len() > 600_000);
    let analysis = analyze(&sql, Dialect::Mysql);
    assert_eq!(analysis.statements.len(), 1);
    assert!(!has_rule(&analysis, "parse-error"));
}

#[test]
fn a_megabyte_of_garbage_on_one_line() {
    let sql = "x ; ) ( 'a' ".repeat(90_000);
    for analysis in survive(&sql) {
        assert!(has_rule(&analysis, "parse-error"));
    }
}

#[test]
fn nul_bytes_and_control_characters() {
    for sql in [
        "\0",
        "\0\0\0;\0",
        "SELECT 1\0",
        "UPDATE t SET a = '\0' WHERE id = 1",
        "\u{1}\u{2}\u{7f}\u{feff}SELECT 1",
        "\u{202e}DELETE FROM t",
        "SELECT '😀' -- 😀\n",
    ] {
        survive(sql);
    }
    let bytes: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    survive(&String::from_utf8_lossy(&bytes));
}

#[test]
fn unterminated_quotes_comments_and_blocks() {
    for sql in [
        "'",
        "\"",
        "`",
        "/*",
        "/* /* nested */",
        "$$",
        "$tag$ never closed",
        "E'\\",
        "SELECT 'abc",
        "SELECT \"abc",
        "SELECT [abc",
        "--",
        "DO $$ BEGIN",
        "CREATE PROCEDURE p() BEGIN BEGIN BEGIN",
        "COPY t FROM STDIN;\n1\t2\n",
    ] {
        survive(sql);
    }
}

#[test]
fn many_statements_that_fail_to_parse() {
    let sql = "garbage;".repeat(50_000);
    let analysis = analyze(&sql, Dialect::Postgres);
    assert_eq!(analysis.statements.len(), 50_000);
}
