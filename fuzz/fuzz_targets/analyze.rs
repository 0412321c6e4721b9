//! Fuzzes `analyze`: any text, in any dialect, must give an answer without panicking,
//! overflowing the stack or hanging, and that answer must be coherent.
#![no_main]

use countersign_analyzer::{Dialect, analyze};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the dialect; the rest is the script.
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(sql) = std::str::from_utf8(rest) else {
        return;
    };
    let dialect = Dialect::ALL[usize::from(selector) % Dialect::ALL.len()];
    let analysis = analyze(sql, dialect);

    let statements = analysis.statements.len().max(1);
    for finding in &analysis.findings {
        assert!(finding.statement < statements);
        assert!(finding.line >= 1 && finding.column >= 1);
    }
    for (index, statement) in analysis.statements.iter().enumerate() {
        assert_eq!(statement.index, index);
        assert!(sql.contains(statement.sql.as_str()));
    }
    assert_eq!(
        analysis.statements.is_empty(),
        analysis.findings.iter().any(|f| f.rule == "empty-script")
    );
});
