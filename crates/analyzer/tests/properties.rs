//! Properties that hold for any input: `analyze` never panics, its statements and findings are
//! coherent with the text, and words in comments or strings never change a verdict.

use countersign_analyzer::{Analysis, Dialect, Risk, Severity, analyze, rules};
use proptest::prelude::*;

fn dialect() -> impl Strategy<Value = Dialect> {
    prop::sample::select(Dialect::ALL.to_vec())
}

/// Text made of SQL's own pieces, so that the parser gets past the first token.
fn sql_shaped() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "SELECT",
        "UPDATE",
        "DELETE",
        "INSERT",
        "INTO",
        "FROM",
        "WHERE",
        "SET",
        "VALUES",
        "WITH",
        "AS",
        "AND",
        "OR",
        "NOT",
        "NULL",
        "TRUE",
        "CREATE",
        "DROP",
        "ALTER",
        "TABLE",
        "INDEX",
        "CONCURRENTLY",
        "TRUNCATE",
        "GRANT",
        "BEGIN",
        "COMMIT",
        "END",
        "CASE",
        "WHEN",
        "THEN",
        "LIMIT",
        "ORDER",
        "BY",
        "JOIN",
        "ON",
        "USING",
        "DO",
        "t",
        "id",
        "a.b",
        "\"q\"",
        "`b`",
        "1",
        "0",
        "'s'",
        "'it''s'",
        "$$x$$",
        "(",
        ")",
        ",",
        ";",
        "=",
        "+",
        "::",
        "*",
        ".",
        "-- c\n",
        "/* c */",
        "/*",
        "/*!",
        "/*!50000",
        "/*M!",
        "*/",
        "'",
        "\n",
        "\0",
        "é",
        "?",
        "$1",
        "@v",
        "[",
        "]",
    ]);
    prop::collection::vec(piece, 0..60).prop_map(|pieces| pieces.join(" "))
}

/// The byte offset of a 1-based line and character column, as the analyzer counts them.
fn offset_of(text: &str, line: u64, column: u64) -> Option<usize> {
    let line_start = if line == 1 {
        0
    } else {
        text.match_indices('\n')
            .nth(usize::try_from(line).ok()? - 2)?
            .0
            + 1
    };
    let rest = text.get(line_start..)?;
    let skip = usize::try_from(column).ok()? - 1;
    Some(line_start + rest.char_indices().nth(skip).map_or(rest.len(), |(i, _)| i))
}

fn check_coherent(sql: &str, analysis: &Analysis) -> Result<(), TestCaseError> {
    for (i, statement) in analysis.statements.iter().enumerate() {
        prop_assert_eq!(statement.index, i);
        prop_assert!(statement.line >= 1 && statement.column >= 1);
        let at = offset_of(sql, statement.line, statement.column);
        prop_assert!(at.is_some(), "statement {} starts outside the text", i);
        let starts_here = at
            .and_then(|at| sql.get(at..))
            .is_some_and(|rest| rest.starts_with(&statement.sql));
        prop_assert!(
            starts_here,
            "statement {} text {:?} is not at its position",
            i,
            statement.sql
        );
    }
    let statements = analysis.statements.len().max(1);
    for finding in &analysis.findings {
        prop_assert!(finding.statement < statements);
        prop_assert!(finding.line >= 1 && finding.column >= 1);
        let rule = rules().iter().find(|r| r.id == finding.rule);
        prop_assert!(rule.is_some_and(|r| r.severity == finding.severity));
    }
    let empty = analysis.findings.iter().any(|f| f.rule == "empty-script");
    prop_assert_eq!(empty, analysis.statements.is_empty());
    let expected_risk = if analysis
        .findings
        .iter()
        .any(|f| f.severity == Severity::Danger)
    {
        Risk::High
    } else if analysis
        .findings
        .iter()
        .any(|f| f.severity == Severity::Warning)
    {
        Risk::Medium
    } else {
        Risk::Low
    };
    prop_assert_eq!(analysis.risk, expected_risk);
    Ok(())
}

/// 256 cases by default, to keep `cargo test` fast; `PROPTEST_CASES` asks for more.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(256);
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_text_gives_a_coherent_analysis(sql in any::<String>(), dialect in dialect()) {
        let analysis = analyze(&sql, dialect);
        check_coherent(&sql, &analysis)?;
    }

    #[test]
    fn sql_shaped_text_gives_a_coherent_analysis(sql in sql_shaped(), dialect in dialect()) {
        let analysis = analyze(&sql, dialect);
        check_coherent(&sql, &analysis)?;
    }

    #[test]
    fn words_in_comments_and_strings_change_nothing(
        comment in "[ -~&&[^*/\n]]{0,40}",
        text in "[ -~&&[^'\\\\]]{0,40}",
        dialect in dialect(),
    ) {
        let plain = analyze("UPDATE orders SET note = 'x'", dialect);
        let dressed = analyze(
            &format!("UPDATE orders /* {comment} */ SET note = '{text}' -- {comment}"),
            dialect,
        );
        let rules = |a: &Analysis| a.findings.iter().map(|f| f.rule.clone()).collect::<Vec<_>>();
        prop_assert_eq!(rules(&plain), rules(&dressed));
    }
}
