//! `executable-comment`: a MySQL/MariaDB executable comment (`/*! … */`, `/*!50000 … */`,
//! `/*M! … */`) in a statement. The server runs its text as code, though a reviewer reads it
//! as a comment. The driver analyzes that text in place (see `executable.rs`), so the other
//! rules judge it too; this rule makes sure the reviewer knows the comment is code.

use super::{Cx, RuleInfo};
use crate::report::Severity;
use crate::source::Pos;

pub(crate) const RULE: RuleInfo = RuleInfo {
    id: "executable-comment",
    severity: Severity::Danger,
    summary: "A MySQL executable comment (/*! … */, /*M! … */): the server runs its text as code",
    help: "MySQL and MariaDB run the text of `/*! … */` (and `/*!50000 … */`, MariaDB's \
           `/*M! … */`) as part of the statement, although editors, diff views and reviewers \
           show it as a comment: a WHERE condition, a whole statement, or a `;` and a second \
           statement can hide there. The analyzer reads it as code, but write the edit without \
           executable comments so that what reviewers read is what runs.",
};

/// Reports an executable comment that starts at `at`.
pub(crate) fn report(cx: &mut Cx<'_>, at: Pos) {
    cx.report(
        &RULE,
        Some(at),
        "This statement contains a MySQL executable comment `/*! … */`: the server runs its \
         text as code, though it looks like a comment.",
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dialect::*;
    use crate::analyze;
    use crate::report::{Risk, StatementKind};
    use crate::rules::testing::*;

    fn rules_of(sql: &str) -> Vec<String> {
        analyze(sql, Mysql)
            .findings
            .into_iter()
            .map(|f| f.rule)
            .collect()
    }

    #[test]
    fn fires_on_every_form_on_mysql() {
        for sql in [
            "UPDATE accounts SET status = 'z' WHERE /*M! id > 0 OR */ id = 1",
            "UPDATE accounts SET status = 'z' WHERE /*M!100100 id > 0 OR */ id = 1",
            "UPDATE t SET a = 1 WHERE /*! id > 0 OR */ id = 1",
            "UPDATE t SET a = 1 WHERE /*!50000 id > 0 OR */ id = 1",
            "/*!40101 SET NAMES utf8mb4 */",
        ] {
            assert_fires(&RULE, sql, &[Mysql]);
        }
        let analysis = analyze(
            "UPDATE accounts SET status = 'z' WHERE /*M! id > 0 OR */ id = 1",
            Mysql,
        );
        assert_eq!(analysis.risk, Risk::High);
        let found = hits(&RULE, "UPDATE t SET a = 1\nWHERE /*! 1 */ id = 1", Mysql);
        assert_eq!((found[0].line, found[0].column), (2, 7));
    }

    #[test]
    fn its_text_is_judged_as_code() {
        let rules = rules_of("UPDATE t SET a=1 /*! WHERE 1=1 */");
        assert!(rules.contains(&"where-always-true".to_owned()), "{rules:?}");
        assert!(
            !rules.contains(&"update-without-where".to_owned()),
            "{rules:?}"
        );
        let rules = rules_of("/*!50000 DELETE FROM t */");
        assert!(
            rules.contains(&"delete-without-where".to_owned()),
            "{rules:?}"
        );
        assert!(rules.contains(&RULE.id.to_owned()), "{rules:?}");
    }

    #[test]
    fn statements_split_where_the_server_splits_them() {
        let analysis = analyze("SELECT 1 /*! ; DELETE FROM t */", Mysql);
        let kinds: Vec<_> = analysis.statements.iter().map(|s| s.kind).collect();
        assert_eq!(kinds, [StatementKind::Select, StatementKind::Delete]);
        assert_eq!(analysis.statements[0].sql, "SELECT 1");
        assert_eq!(analysis.statements[1].sql, "DELETE FROM t");
        let found: Vec<_> = analysis
            .findings
            .iter()
            .filter(|f| f.rule == RULE.id)
            .map(|f| f.statement)
            .collect();
        assert_eq!(found, [1]);
        assert!(
            analysis
                .findings
                .iter()
                .any(|f| f.rule == "delete-without-where" && f.statement == 1)
        );
    }

    #[test]
    fn a_statement_keeps_the_whole_comment_in_its_text() {
        let analysis = analyze(
            "UPDATE t SET a=1 /*! WHERE id = 2 */; /*!50000 DELETE FROM t */",
            Mysql,
        );
        assert_eq!(
            analysis.statements[0].sql,
            "UPDATE t SET a=1 /*! WHERE id = 2 */"
        );
        assert_eq!(analysis.statements[1].sql, "/*!50000 DELETE FROM t */");
        assert_eq!(
            (analysis.statements[1].line, analysis.statements[1].column),
            (1, 39)
        );
    }

    #[test]
    fn does_not_fire_on_comments_strings_or_other_dialects() {
        assert_silent(
            &RULE,
            "UPDATE t SET a = 1 WHERE /* id > 0 OR */ id = 1",
            ALL,
        );
        assert_silent(&RULE, "UPDATE t SET a = 1 WHERE /*+ hint */ id = 1", ALL);
        assert_silent(&RULE, "UPDATE t SET a = '/*! x */' WHERE id = 1", ALL);
        assert_silent(&RULE, "UPDATE t SET a = 1 WHERE id = 1 -- /*! x */", ALL);
        assert_silent(&RULE, "UPDATE t SET a=1 /*!*/ WHERE id = 1", &[Mysql]);
        for dialect in [Postgres, Sqlite, Generic] {
            let sql = "UPDATE t SET a=1 /*! WHERE 1=1 */";
            assert_silent(&RULE, sql, &[dialect]);
            let found = analyze(sql, dialect);
            assert!(
                found
                    .findings
                    .iter()
                    .any(|f| f.rule == "update-without-where"),
                "{dialect}: {found:#?}"
            );
        }
    }
}
