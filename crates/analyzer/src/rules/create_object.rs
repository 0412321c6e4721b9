//! `create-object`: `CREATE TABLE`, `VIEW`, `INDEX`, `SEQUENCE`, `SCHEMA` and similar new
//! objects — schema changes reviewers should notice, though they touch no existing data.
//! The PostgreSQL specifics of `CREATE INDEX` are `create-index-blocking` and
//! `non-transactional`.

use sqlparser::ast::{SchemaName, Statement};

use super::{Cx, RuleInfo};
use crate::report::{Severity, StatementKind};
use crate::summary::describe;

pub(crate) const RULE: RuleInfo = RuleInfo {
    id: "create-object",
    severity: Severity::Info,
    summary: "CREATE TABLE, VIEW, INDEX, SEQUENCE, SCHEMA",
    help: "A new object does not change existing data, but it is a schema change: check its \
           name, columns, types and constraints, and whether it should exist in every \
           environment. Schema changes are better shipped through your migration process so \
           that every environment gets them.",
};

pub(crate) fn check(stmt: &Statement, cx: &mut Cx<'_>) {
    let s = |name: &dyn std::fmt::Display| super::snippet(&name.to_string(), 80);
    let message = match stmt {
        Statement::CreateTable(create) => format!("Creates table `{}`.", s(&create.name)),
        Statement::CreateVirtualTable { name, .. } => {
            format!("Creates virtual table `{}`.", s(name))
        }
        Statement::CreateView(view) => format!(
            "Creates {}view `{}`.",
            if view.materialized {
                "materialized "
            } else {
                ""
            },
            s(&view.name)
        ),
        Statement::CreateIndex(index) => format!("Creates an index on `{}`.", s(&index.table_name)),
        Statement::CreateSequence { name, .. } => format!("Creates sequence `{}`.", s(name)),
        Statement::CreateSchema { schema_name, .. } => {
            let name = match schema_name {
                SchemaName::Simple(name) | SchemaName::NamedAuthorization(name, _) => s(name),
                SchemaName::UnnamedAuthorization(owner) => s(owner),
            };
            format!("Creates schema `{name}`.")
        }
        Statement::CreateDatabase { db_name, .. } => format!("Creates database `{}`.", s(db_name)),
        Statement::CreateType { name, .. } => format!("Creates type `{}`.", s(name)),
        Statement::CreateDomain(domain) => format!("Creates domain `{}`.", s(&domain.name)),
        // `SELECT … INTO t` creates the table `t` (MySQL's `INTO @v` sets variables instead).
        Statement::Query(_) if !cx.nested => match describe(stmt) {
            (StatementKind::CreateTable, tables) => {
                let name = tables.first().map(|t| s(t)).unwrap_or_default();
                format!("Creates table `{name}` from a query (`SELECT … INTO`).")
            }
            _ => return,
        },
        _ => return,
    };
    cx.report(&RULE, None, message);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dialect::*;
    use crate::rules::testing::*;

    #[test]
    fn fires_on_new_objects() {
        for sql in [
            "CREATE TABLE t (id int)",
            "CREATE VIEW v AS SELECT 1",
            "CREATE INDEX i ON t (a)",
            "CREATE SCHEMA app",
        ] {
            assert_fires(&RULE, sql, ALL);
        }
        assert_fires(&RULE, "CREATE SEQUENCE s", &[Postgres, Generic]);
        assert_fires(&RULE, "CREATE INDEX CONCURRENTLY i ON t (a)", &[Postgres]);
        assert_fires(&RULE, "CREATE TYPE mood AS ENUM ('sad', 'ok')", &[Postgres]);
        assert_fires(&RULE, "SELECT * INTO backup FROM t", &[Postgres, Generic]);
        assert_fires(&RULE, "CREATE TABLE backup AS SELECT * FROM t", ALL);
    }

    #[test]
    fn does_not_fire_on_changes_to_existing_objects() {
        assert_silent(&RULE, "ALTER TABLE t ADD COLUMN a int", ALL);
        assert_silent(&RULE, "INSERT INTO t (a) VALUES (1)", ALL);
        assert_silent(&RULE, "CREATE ROLE bob", &[Postgres]);
        assert_silent(&RULE, "SELECT id INTO @x FROM t", &[Mysql]);
        assert_silent(&RULE, "SELECT * FROM t", ALL);
    }
}
