//! `drop-other`: `DROP` of an index, view, sequence, type, function, trigger or any other
//! object that is not a table, schema, database or account (those have their own rules).

use sqlparser::ast::{ObjectType, Statement};

use super::{Cx, RuleInfo, name_list, name_pos};
use crate::fallback::Unparsed;
use crate::report::Severity;

pub(crate) const RULE: RuleInfo = RuleInfo {
    id: "drop-other",
    severity: Severity::Warning,
    summary: "DROP of an index, view, sequence, type, function or other object",
    help: "Dropping an index, view, sequence, type, function or trigger breaks whatever depends \
           on it: queries that become slow without the index, code that calls the function or \
           reads the view, rules no longer enforced by a trigger. CASCADE silently drops \
           dependent objects too. Check what uses the object and say in the intent why it is \
           safe to remove.",
};

pub(crate) fn check(stmt: &Statement, cx: &mut Cx<'_>) {
    let (what, message_names, at) = match stmt {
        Statement::Drop {
            object_type, names, ..
        } => {
            let what = match object_type {
                ObjectType::Table
                | ObjectType::Schema
                | ObjectType::Database
                | ObjectType::Role
                | ObjectType::Group
                | ObjectType::User => return,
                other => other.to_string(),
            };
            (what, name_list(names), names.first().and_then(name_pos))
        }
        Statement::DropFunction(drop) => (
            "FUNCTION".into(),
            name_list(drop.func_desc.iter().map(|f| &f.name)),
            None,
        ),
        Statement::DropProcedure { proc_desc, .. } => (
            "PROCEDURE".into(),
            name_list(proc_desc.iter().map(|f| &f.name)),
            None,
        ),
        Statement::DropTrigger(drop) => ("TRIGGER".into(), name_list([&drop.trigger_name]), None),
        Statement::DropDomain(drop) => ("DOMAIN".into(), name_list([&drop.name]), None),
        Statement::DropExtension(drop) => ("EXTENSION".into(), name_list(&drop.names), None),
        Statement::DropPolicy(drop) => ("POLICY".into(), name_list([&drop.name]), None),
        Statement::DropOperator(_)
        | Statement::DropOperatorFamily(_)
        | Statement::DropOperatorClass(_)
        | Statement::DropRule(_)
        | Statement::DropSecret { .. }
        | Statement::DropConnector { .. } => ("object".into(), String::new(), None),
        _ => return,
    };
    let message = if message_names.is_empty() {
        "This DROP removes a database object.".to_owned()
    } else {
        format!("`DROP {what}` removes {message_names}.")
    };
    cx.report(&RULE, at, message);
}

pub(crate) fn check_unparsed(unparsed: &Unparsed, cx: &mut Cx<'_>) {
    if unparsed.word(0) != Some("DROP") {
        return;
    }
    match unparsed.object() {
        Some("TABLE" | "SCHEMA" | "DATABASE" | "ROLE" | "USER" | "GROUP") => {}
        Some(object) => {
            let message = format!("`DROP {object}` removes a database object.");
            cx.report(&RULE, None, message);
        }
        None => cx.report(&RULE, None, "This DROP removes a database object."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dialect::*;
    use crate::rules::testing::*;

    #[test]
    fn fires_on_drops_of_other_objects() {
        for sql in [
            "DROP INDEX i",
            "DROP VIEW v",
            "DROP MATERIALIZED VIEW v",
            "DROP SEQUENCE s",
            "DROP TYPE mood",
            "DROP FUNCTION f",
            "DROP TRIGGER tr ON t",
            "DROP EXTENSION pgcrypto",
            "DROP INDEX CONCURRENTLY i",
        ] {
            assert_fires(&RULE, sql, &[Postgres]);
        }
        assert_fires(&RULE, "DROP INDEX i ON t", &[Mysql]);
        assert_fires(&RULE, "DROP VIEW v", ALL);
    }

    #[test]
    fn leaves_tables_schemas_databases_and_accounts_to_their_rules() {
        for sql in [
            "DROP TABLE t",
            "DROP SCHEMA s",
            "DROP DATABASE d",
            "DROP ROLE r",
            "DROP USER u",
        ] {
            assert_silent(&RULE, sql, &[Postgres, Generic]);
        }
    }
}
