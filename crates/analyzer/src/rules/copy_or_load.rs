//! `copy-or-load`: bulk data movement between tables and files — PostgreSQL `COPY`,
//! MySQL `LOAD DATA` (and `LOAD XML`).

use sqlparser::ast::{CopySource, CopyTarget, Statement};

use super::{Cx, RuleInfo};
use crate::fallback::Unparsed;
use crate::report::Severity;

pub(crate) const RULE: RuleInfo = RuleInfo {
    id: "copy-or-load",
    severity: Severity::Danger,
    summary: "COPY (PostgreSQL), LOAD DATA (MySQL)",
    help: "COPY and LOAD DATA move bulk data between tables and files: the rows they load are \
           not in the text the reviewers read, the files live on a server, and file access \
           needs high privileges (and COPY … TO a file writes on the database server). Put the \
           rows in the script as INSERT … (columns) VALUES …, or load them through your \
           bulk-import process.",
};

pub(crate) fn check(stmt: &Statement, cx: &mut Cx<'_>) {
    let message = match stmt {
        Statement::Copy {
            source, to, target, ..
        } => {
            let table = match source {
                CopySource::Table { table_name, .. } => {
                    format!("`{}`", super::snippet(table_name, 80))
                }
                CopySource::Query(_) => "a query".into(),
            };
            let place = match target {
                CopyTarget::Stdin | CopyTarget::Stdout => "data outside the statement",
                CopyTarget::File { .. } => "a file on the database server",
                CopyTarget::Program { .. } => "a program run on the database server",
            };
            if *to {
                format!("`COPY` writes {table} to {place}.")
            } else {
                format!("`COPY` loads rows into {table} from {place}: they are not visible as SQL.")
            }
        }
        Statement::LoadData { table_name, .. } => format!(
            "`LOAD DATA` loads rows into `{}` from a file: they are not visible as SQL.",
            super::snippet(table_name, 80)
        ),
        Statement::Load { .. } => "`LOAD` loads code or data from outside the script.".into(),
        _ => return,
    };
    cx.report(&RULE, None, message);
}

pub(crate) fn check_unparsed(unparsed: &Unparsed, cx: &mut Cx<'_>) {
    let message = match (unparsed.word(0), unparsed.word(1)) {
        (Some("COPY"), _) => "`COPY` moves rows between a table and data outside the statement.",
        (Some("LOAD"), Some("DATA" | "XML")) => {
            "`LOAD DATA` loads rows from a file: they are not visible as SQL."
        }
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
    fn fires_on_copy() {
        assert_fires(
            &RULE,
            "COPY orders FROM '/tmp/orders.csv'",
            &[Postgres, Generic],
        );
        assert_fires(&RULE, "COPY orders TO '/tmp/orders.csv'", &[Postgres]);
        assert_fires(&RULE, "COPY orders FROM STDIN;\n1\t2\n\\.\n", &[Postgres]);
        assert_fires(
            &RULE,
            "COPY (SELECT * FROM t) TO PROGRAM 'curl x'",
            &[Postgres],
        );
    }

    #[test]
    fn fires_on_mysql_load_data() {
        assert_fires(
            &RULE,
            "LOAD DATA INFILE '/tmp/x.csv' INTO TABLE t",
            &[Mysql],
        );
        assert_fires(
            &RULE,
            "LOAD DATA LOCAL INFILE 'x.csv' INTO TABLE t",
            &[Mysql],
        );
    }

    #[test]
    fn does_not_fire_on_inserts_or_mentions() {
        assert_silent(&RULE, "INSERT INTO t (a) VALUES (1)", ALL);
        assert_silent(&RULE, "SELECT 'COPY t FROM x' -- LOAD DATA", ALL);
    }
}
