//! `grant-revoke`: `GRANT` and `REVOKE` of privileges or roles.

use sqlparser::ast::Statement;

use super::{Cx, RuleInfo};
use crate::fallback::Unparsed;
use crate::report::Severity;

pub(crate) const RULE: RuleInfo = RuleInfo {
    id: "grant-revoke",
    severity: Severity::Danger,
    summary: "GRANT, REVOKE",
    help: "Privileges decide who may read and change data. Granting or revoking them in a data \
           edit changes security outside the process meant for it, and a too-broad grant is \
           easy to miss in review. Manage privileges through your access-control process \
           (infrastructure code, a DBA ticket); if it must happen here, name exactly who gains \
           or loses what in the intent.",
};

pub(crate) fn check(stmt: &Statement, cx: &mut Cx<'_>) {
    let message = match stmt {
        Statement::Grant(_) | Statement::GrantRole(_) => {
            "`GRANT` gives privileges: it changes who may read or change data."
        }
        Statement::Revoke(_) | Statement::RevokeRole(_) | Statement::Deny(_) => {
            "`REVOKE` takes privileges away: it can break the applications that rely on them."
        }
        Statement::AlterDefaultPrivileges(_) => {
            "`ALTER DEFAULT PRIVILEGES` changes the privileges of every object created later."
        }
        _ => return,
    };
    cx.report(&RULE, None, message);
}

pub(crate) fn check_unparsed(unparsed: &Unparsed, cx: &mut Cx<'_>) {
    match unparsed.word(0) {
        Some("GRANT") => cx.report(&RULE, None, "`GRANT` gives privileges."),
        Some("REVOKE") => cx.report(&RULE, None, "`REVOKE` takes privileges away."),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dialect::*;
    use crate::rules::testing::*;

    #[test]
    fn fires_on_grant_and_revoke() {
        assert_fires(&RULE, "GRANT SELECT ON orders TO bob", ALL);
        assert_fires(&RULE, "REVOKE SELECT ON orders FROM bob", ALL);
        assert_fires(&RULE, "GRANT admin TO bob", &[Postgres]);
        assert_fires(&RULE, "REVOKE admin FROM bob", &[Postgres]);
        assert_fires(
            &RULE,
            "GRANT ALL PRIVILEGES ON shop.* TO 'bob'@'%'",
            &[Mysql],
        );
    }

    #[test]
    fn does_not_fire_on_mentions() {
        assert_silent(&RULE, "UPDATE t SET note = 'GRANT ALL' WHERE id = 1", ALL);
        assert_silent(&RULE, "SELECT grant_id FROM grants", ALL);
    }
}
