//! `role-management`: creating, changing or dropping database roles and users.

use sqlparser::ast::{ObjectType, Statement};

use super::{Cx, RuleInfo};
use crate::fallback::Unparsed;
use crate::report::Severity;

pub(crate) const RULE: RuleInfo = RuleInfo {
    id: "role-management",
    severity: Severity::Danger,
    summary: "CREATE/ALTER/DROP ROLE or USER",
    help: "Creating, changing or dropping database accounts decides who can connect and what \
           they can do: it can lock people and applications out, or let someone in with more \
           than they should have (a SUPERUSER, a known password). Manage accounts through your \
           access-control process, not a data edit.",
};

pub(crate) fn check(stmt: &Statement, cx: &mut Cx<'_>) {
    let what = match stmt {
        Statement::CreateRole(_) => "`CREATE ROLE` adds a database account",
        Statement::CreateUser(_) => "`CREATE USER` adds a database account",
        Statement::AlterRole { .. } => "`ALTER ROLE` changes a database account",
        Statement::AlterUser(_) => "`ALTER USER` changes a database account",
        Statement::Drop {
            object_type: ObjectType::Role | ObjectType::Group,
            ..
        } => "`DROP ROLE` removes a database account",
        Statement::Drop {
            object_type: ObjectType::User,
            ..
        } => "`DROP USER` removes a database account",
        _ => return,
    };
    cx.report(
        &RULE,
        None,
        format!("{what}: it changes who may connect and what they may do."),
    );
}

pub(crate) fn check_unparsed(unparsed: &Unparsed, cx: &mut Cx<'_>) {
    let account_statement = match (unparsed.word(0), unparsed.object()) {
        (Some("CREATE" | "ALTER" | "DROP"), Some("ROLE" | "USER" | "GROUP")) => true,
        (Some("RENAME"), _) => unparsed.word(1) == Some("USER"),
        (Some("SET"), _) => unparsed.word(1) == Some("PASSWORD"),
        _ => false,
    };
    if account_statement {
        cx.report(
            &RULE,
            None,
            "This statement manages a database account: it changes who may connect and what they may do.",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dialect::*;
    use crate::rules::testing::*;

    #[test]
    fn fires_on_role_and_user_statements() {
        for sql in [
            "CREATE ROLE bob",
            "ALTER ROLE bob SUPERUSER",
            "DROP ROLE bob",
            "CREATE USER bob",
            "ALTER USER bob WITH PASSWORD 'x'",
            "DROP USER bob",
        ] {
            assert_fires(&RULE, sql, &[Postgres, Generic]);
        }
        for sql in [
            "CREATE USER 'bob'@'%' IDENTIFIED BY 'x'",
            "DROP USER 'bob'@'%'",
            "ALTER USER 'bob'@'%' IDENTIFIED BY 'y'",
            "RENAME USER 'bob'@'%' TO 'rob'@'%'",
            "SET PASSWORD FOR 'bob'@'%' = 'x'",
        ] {
            assert_fires(&RULE, sql, &[Mysql]);
        }
    }

    #[test]
    fn does_not_fire_on_tables_named_like_accounts() {
        assert_silent(&RULE, "CREATE TABLE users (role text)", ALL);
        assert_silent(&RULE, "UPDATE users SET role = 'admin' WHERE id = 1", ALL);
        assert_silent(&RULE, "DROP TABLE user_roles", ALL);
    }
}
