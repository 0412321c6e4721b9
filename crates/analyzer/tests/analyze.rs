//! End-to-end behaviour of `analyze`: statement boundaries, positions and texts, recovery
//! after statements that do not parse, kinds and tables, risk, and the JSON shape.

use countersign_analyzer::{Analysis, Dialect, Risk, Severity, StatementKind, analyze, rules};

fn rules_of(analysis: &Analysis) -> Vec<(usize, &str)> {
    analysis
        .findings
        .iter()
        .map(|f| (f.statement, f.rule.as_str()))
        .collect()
}

#[test]
fn acceptance_update_with_where_in_a_comment() {
    for dialect in Dialect::ALL {
        let analysis = analyze("UPDATE orders SET status = 'x' -- WHERE id = 1", dialect);
        assert_eq!(analysis.risk, Risk::High);
        let finding = &analysis.findings[0];
        assert_eq!(finding.rule, "update-without-where");
        assert_eq!((finding.line, finding.column), (1, 1));
        assert_eq!(analysis.statements[0].sql, "UPDATE orders SET status = 'x'");
    }
}

#[test]
fn statements_carry_their_position_and_own_text() {
    let sql = "-- header\r\n  UPDATE t SET a = 'é;' WHERE id = 1; /* ; */ DELETE FROM u\r\nWHERE id = 2 ;\n\n\tSELECT 1";
    let analysis = analyze(sql, Dialect::Postgres);
    let summary: Vec<_> = analysis
        .statements
        .iter()
        .map(|s| (s.index, s.kind, s.line, s.column, s.sql.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            (
                0,
                StatementKind::Update,
                2,
                3,
                "UPDATE t SET a = 'é;' WHERE id = 1"
            ),
            (
                1,
                StatementKind::Delete,
                2,
                47,
                "DELETE FROM u\r\nWHERE id = 2"
            ),
            (2, StatementKind::Select, 5, 2, "SELECT 1"),
        ]
    );
}

#[test]
fn a_statement_text_ends_at_its_last_token() {
    for dialect in Dialect::ALL {
        let analysis = analyze("SELECT 1 /* x */ ; SELECT 2 -- y\n", dialect);
        let texts: Vec<_> = analysis.statements.iter().map(|s| s.sql.as_str()).collect();
        assert_eq!(texts, ["SELECT 1", "SELECT 2"], "{dialect}");
    }
}

#[test]
fn statements_after_one_that_does_not_parse_are_still_analyzed() {
    let sql = "UPDATE t SET a = 1 WHERE id = 1;\nthis is not sql;\nDELETE FROM t;";
    let analysis = analyze(sql, Dialect::Postgres);
    assert_eq!(analysis.statements.len(), 3);
    assert_eq!(analysis.statements[1].sql, "this is not sql");
    assert_eq!(analysis.statements[1].kind, StatementKind::Other);
    assert_eq!(
        rules_of(&analysis),
        [
            (0, "multiple-statements"),
            (1, "parse-error"),
            (2, "delete-without-where")
        ]
    );
    let parse_error = &analysis.findings[1];
    assert_eq!((parse_error.line, parse_error.column), (2, 1));
}

#[test]
fn recovery_skips_semicolons_in_strings_comments_and_parentheses() {
    let sql = "UPDATE t SET a = (1; DELETE FROM t WHERE x = ';'); DELETE FROM u";
    let analysis = analyze(sql, Dialect::Postgres);
    assert_eq!(analysis.statements.len(), 2);
    assert_eq!(
        analysis.statements[0].sql,
        "UPDATE t SET a = (1; DELETE FROM t WHERE x = ';')"
    );
    assert_eq!(
        rules_of(&analysis)[1..],
        [(0, "parse-error"), (1, "delete-without-where")]
    );
}

#[test]
fn unbalanced_parentheses_swallow_the_rest_rather_than_guess() {
    let analysis = analyze(
        "UPDATE t SET a = (1; DELETE FROM u; DELETE FROM v",
        Dialect::Postgres,
    );
    assert_eq!(analysis.statements.len(), 1);
    assert_eq!(rules_of(&analysis), [(0, "parse-error")]);
}

#[test]
fn a_routine_body_that_does_not_parse_ends_at_its_end() {
    let sql = "CREATE PROCEDURE p() BEGIN IF 1 THEN UPDATE t SET a = 1; END IF; COMMIT; END;\nDELETE FROM u;";
    let analysis = analyze(sql, Dialect::Mysql);
    assert_eq!(analysis.statements.len(), 2, "{:#?}", analysis.statements);
    assert!(analysis.statements[0].sql.ends_with("COMMIT; END"));
    let rules = rules_of(&analysis);
    assert!(rules.contains(&(0, "procedural-code")), "{rules:?}");
    assert!(
        !rules.iter().any(|(_, r)| *r == "transaction-control"),
        "{rules:?}"
    );
    assert!(rules.contains(&(1, "delete-without-where")), "{rules:?}");
}

#[test]
fn text_the_tokenizer_cannot_finish_is_one_broken_statement_at_the_end() {
    let sql = "DELETE FROM t;\nUPDATE u SET a = 'never closed;\nDROP TABLE v;";
    let analysis = analyze(sql, Dialect::Postgres);
    assert_eq!(analysis.statements.len(), 2);
    assert_eq!(analysis.statements[1].kind, StatementKind::Update);
    assert_eq!(
        analysis.statements[1].sql,
        "UPDATE u SET a = 'never closed;\nDROP TABLE v;"
    );
    let rules = rules_of(&analysis);
    assert!(rules.contains(&(0, "delete-without-where")), "{rules:?}");
    assert!(rules.contains(&(1, "parse-error")), "{rules:?}");
    let parse_error = analysis.findings.iter().find(|f| f.rule == "parse-error");
    assert!(parse_error.is_some_and(|f| f.message.contains("Unterminated string")));
}

#[test]
fn a_broken_statement_is_never_analyzed_as_its_valid_prefix() {
    let analysis = analyze("DELETE FROM t /* the rest was cut", Dialect::Postgres);
    assert_eq!(rules_of(&analysis), [(0, "parse-error")]);
}

#[test]
fn empty_and_comment_only_scripts_are_refused() {
    for sql in ["", "  \n", "-- just a note", "/* x */ ;; -- y"] {
        let analysis = analyze(sql, Dialect::Generic);
        assert!(analysis.statements.is_empty());
        assert_eq!(rules_of(&analysis), [(0, "empty-script")]);
        assert!(analysis.has_errors());
    }
}

#[test]
fn kinds_and_tables() {
    let cases: &[(&str, StatementKind, &[&str])] = &[
        (
            "UPDATE a SET x = b.x FROM b WHERE a.id = b.id",
            StatementKind::Update,
            &["a", "b"],
        ),
        (
            "DELETE FROM app.t WHERE id IN (SELECT id FROM u)",
            StatementKind::Delete,
            &["app.t", "u"],
        ),
        (
            "INSERT INTO t (a) SELECT a FROM u",
            StatementKind::Insert,
            &["t", "u"],
        ),
        (
            "WITH c AS (SELECT 1) SELECT * FROM c JOIN t ON true",
            StatementKind::Select,
            &["t"],
        ),
        (
            "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
            StatementKind::Delete,
            &["t"],
        ),
        (
            "CREATE TABLE t (id int)",
            StatementKind::CreateTable,
            &["t"],
        ),
        (
            "ALTER TABLE t ADD COLUMN a int",
            StatementKind::AlterTable,
            &["t"],
        ),
        ("DROP TABLE a, b", StatementKind::DropTable, &["a", "b"]),
        ("TRUNCATE t", StatementKind::Truncate, &["t"]),
        (
            "CREATE INDEX i ON t (a)",
            StatementKind::CreateIndex,
            &["t"],
        ),
        ("GRANT SELECT ON t TO bob", StatementKind::Grant, &[]),
        ("BEGIN", StatementKind::Begin, &[]),
        ("SET search_path = app", StatementKind::Set, &[]),
        (
            "ALTER SYSTEM SET work_mem = '1MB'",
            StatementKind::AlterSystem,
            &[],
        ),
        ("COMMENT ON TABLE t IS 'x'", StatementKind::Other, &[]),
    ];
    for (sql, kind, tables) in cases {
        let analysis = analyze(sql, Dialect::Postgres);
        let statement = &analysis.statements[0];
        assert_eq!(statement.kind, *kind, "{sql}");
        assert_eq!(statement.tables, *tables, "{sql}");
    }
}

#[test]
fn risk_follows_the_most_serious_finding() {
    let risk = |sql| analyze(sql, Dialect::Postgres).risk;
    assert_eq!(risk("SELECT 1"), Risk::Low);
    assert_eq!(risk("UPDATE t SET a = 1 WHERE id = 1"), Risk::Low);
    assert_eq!(risk("INSERT INTO t VALUES (1)"), Risk::Medium);
    assert_eq!(risk("DELETE FROM t"), Risk::High);
    let refused = analyze("BEGIN", Dialect::Postgres);
    assert_eq!((refused.risk, refused.has_errors()), (Risk::Low, true));
    assert_eq!(refused.max_severity(), Some(Severity::Error));
}

#[test]
fn findings_are_ordered_by_statement_then_position() {
    let analysis = analyze(
        "SELECT pg_sleep(1), pg_cancel_backend(2); DELETE FROM t; DROP TABLE u",
        Dialect::Postgres,
    );
    let keys: Vec<_> = analysis
        .findings
        .iter()
        .map(|f| (f.statement, f.line, f.column))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
}

#[test]
fn every_finding_names_a_catalogued_rule_and_round_trips_through_json() {
    let sql = "BEGIN; UPDATE t SET a = 1; DELETE FROM t WHERE 1 = 1; TRUNCATE t; DROP TABLE t; \
               ALTER TABLE t DROP COLUMN a, ADD COLUMN b int; GRANT ALL ON t TO x; \
               CREATE ROLE r; SELECT pg_sleep(1); COPY t FROM '/x'; CALL p(); \
               ALTER TABLE t RENAME TO u; DROP VIEW v; CREATE INDEX i ON t (a); \
               SET session_replication_role = replica; LOCK TABLE t; \
               INSERT INTO t VALUES (1); INSERT INTO t (a) SELECT 1; \
               UPDATE t SET a = 1 FROM u WHERE t.id = u.id; garbage";
    let analysis = analyze(sql, Dialect::Postgres);
    for finding in &analysis.findings {
        let rule = rules().iter().find(|r| r.id == finding.rule);
        assert!(rule.is_some_and(|r| r.severity == finding.severity && r.help == finding.help));
    }
    let json = serde_json::to_string(&analysis).unwrap();
    let back: Analysis = serde_json::from_str(&json).unwrap();
    assert_eq!(back, analysis);
}
