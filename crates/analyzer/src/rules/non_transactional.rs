//! `non-transactional`: statements the database refuses to run inside a transaction, which is
//! how Countersign runs every script. PostgreSQL: `CREATE`/`DROP INDEX CONCURRENTLY`,
//! `CREATE`/`DROP DATABASE`, `VACUUM`, `ALTER SYSTEM`, `REINDEX … CONCURRENTLY`,
//! `CREATE`/`DROP TABLESPACE`, `DISCARD ALL`. SQLite: `VACUUM`, `ATTACH`, `DETACH`. The
//! generic dialect takes PostgreSQL's reading, the most cautious one.

use sqlparser::ast::{DiscardObject, ObjectType, Statement};

use super::{Cx, RuleInfo};
use crate::Dialect;
use crate::fallback::Unparsed;
use crate::report::Severity;

pub(crate) const RULE: RuleInfo = RuleInfo {
    id: "non-transactional",
    severity: Severity::Error,
    summary: "Statements that cannot run inside a transaction on the dialect (PostgreSQL: \
              CREATE/DROP INDEX CONCURRENTLY, CREATE/DROP DATABASE, VACUUM, ALTER SYSTEM)",
    help: "Countersign runs each script inside one transaction so that it is checked and rolled \
           back as a whole, and the database refuses to run this statement inside a \
           transaction, so the script is refused. Run such operations through your migration \
           or maintenance process; for an index on a small table, the plain (locking) \
           CREATE INDEX is an option that does run in a transaction.",
};

pub(crate) fn check(stmt: &Statement, cx: &mut Cx<'_>) {
    let postgres = cx.dialect.is_postgres_like();
    let sqlite = matches!(cx.dialect, Dialect::Sqlite | Dialect::Generic);
    let what = match stmt {
        Statement::CreateIndex(index) if postgres && index.concurrently => {
            "CREATE INDEX CONCURRENTLY"
        }
        Statement::CreateDatabase { .. } if postgres => "CREATE DATABASE",
        Statement::Drop {
            object_type: ObjectType::Database,
            ..
        } if postgres => "DROP DATABASE",
        Statement::Vacuum(_) if postgres || sqlite => "VACUUM",
        Statement::Discard {
            object_type: DiscardObject::ALL,
        } if postgres => "DISCARD ALL",
        Statement::AttachDatabase { .. } if sqlite => "ATTACH DATABASE",
        _ => return,
    };
    report(cx, what);
}

pub(crate) fn check_unparsed(unparsed: &Unparsed, cx: &mut Cx<'_>) {
    let postgres = cx.dialect.is_postgres_like();
    let sqlite = matches!(cx.dialect, Dialect::Sqlite | Dialect::Generic);
    let concurrently = unparsed.first_of(&["CONCURRENTLY"]).is_some();
    let what = match (unparsed.word(0), unparsed.object()) {
        (Some("CREATE"), Some("INDEX")) if postgres && concurrently => "CREATE INDEX CONCURRENTLY",
        (Some("DROP"), Some("INDEX")) if postgres && concurrently => "DROP INDEX CONCURRENTLY",
        (Some("CREATE"), Some("DATABASE")) if postgres => "CREATE DATABASE",
        (Some("DROP"), Some("DATABASE")) if postgres => "DROP DATABASE",
        (Some("CREATE"), Some("TABLESPACE")) if postgres => "CREATE TABLESPACE",
        (Some("DROP"), Some("TABLESPACE")) if postgres => "DROP TABLESPACE",
        (Some("ALTER"), Some("SYSTEM")) if postgres => "ALTER SYSTEM",
        (Some("REINDEX"), _)
            if postgres
                && (concurrently || unparsed.first_of(&["DATABASE", "SYSTEM"]).is_some()) =>
        {
            "REINDEX"
        }
        (Some("DISCARD"), _) if postgres && unparsed.word(1) == Some("ALL") => "DISCARD ALL",
        (Some("VACUUM"), _) if postgres || sqlite => "VACUUM",
        (Some("ATTACH"), _) if sqlite => "ATTACH DATABASE",
        (Some("DETACH"), _) if sqlite => "DETACH DATABASE",
        _ => return,
    };
    report(cx, what);
}

fn report(cx: &mut Cx<'_>, what: &str) {
    let message = format!(
        "`{what}` cannot run inside a transaction on {}, and Countersign runs every script in one.",
        cx.dialect.display_name()
    );
    cx.report(&RULE, None, message);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::*;
    use Dialect::*;

    #[test]
    fn fires_on_postgres_non_transactional_statements() {
        for sql in [
            "CREATE INDEX CONCURRENTLY i ON t (a)",
            "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a)",
            "DROP INDEX CONCURRENTLY i",
            "DROP INDEX CONCURRENTLY IF EXISTS i",
            "CREATE DATABASE shop",
            "DROP DATABASE shop",
            "VACUUM t",
            "VACUUM FULL ANALYZE t",
            "ALTER SYSTEM SET work_mem = '1MB'",
            "REINDEX INDEX CONCURRENTLY i",
            "REINDEX DATABASE shop",
            "CREATE TABLESPACE fast LOCATION '/ssd'",
            "DISCARD ALL",
        ] {
            assert_fires(&RULE, sql, &[Postgres, Generic]);
        }
    }

    #[test]
    fn fires_on_sqlite_vacuum_and_attach() {
        for sql in [
            "VACUUM",
            "ATTACH DATABASE 'other.db' AS other",
            "DETACH DATABASE other",
        ] {
            assert_fires(&RULE, sql, &[Sqlite]);
        }
    }

    #[test]
    fn does_not_fire_on_transaction_safe_forms() {
        assert_silent(&RULE, "CREATE INDEX i ON t (a)", ALL);
        assert_silent(&RULE, "DROP INDEX i", &[Postgres, Sqlite, Generic]);
        assert_silent(&RULE, "REINDEX INDEX i", &[Postgres]);
        assert_silent(
            &RULE,
            "REFRESH MATERIALIZED VIEW CONCURRENTLY v",
            &[Postgres],
        );
        assert_silent(&RULE, "SELECT 'VACUUM' -- DROP INDEX CONCURRENTLY i", ALL);
    }

    #[test]
    fn is_dialect_specific() {
        assert_silent(&RULE, "CREATE DATABASE shop", &[Mysql, Sqlite]);
        assert_silent(&RULE, "DROP DATABASE shop", &[Mysql]);
        assert_silent(&RULE, "ATTACH DATABASE 'x' AS y", &[Postgres]);
    }
}
