//! MySQL/MariaDB text that `sqlparser` 0.64 rejects, read the way the server reads it.
//!
//! Two token-level repairs let the parser take a statement it would refuse, so every rule
//! judges its syntax tree:
//! - [`double_quoted_strings`]: under MySQL's default `sql_mode` (which the system pins, see
//!   `lexing-setting`) `"…"` is a string, but the grammar accepts only `'…'` where a literal
//!   must be a string (`COMMENT "…"`);
//! - [`multi_table_update`]: the comma form of a multi-table `UPDATE t1, t2 SET …` means
//!   `UPDATE t1 CROSS JOIN t2 SET …`, which the grammar accepts.
//!
//! Other statements are recognised in full from their tokens by [`Shape`], so that they are
//! not a `parse-error` while the keyword-level rules (`fallback.rs`) judge them:
//! `CREATE PROCEDURE`/`FUNCTION`/`TRIGGER`/`EVENT`, `GRANT … TO`, `REVOKE … FROM`,
//! `DROP EVENT`/`SERVER`/`TABLESPACE`, and `ALTER TABLE` whose actions are all known and
//! include one the grammar lacks (`TRUNCATE PARTITION`, `DROP PARTITION`, `CONVERT TO
//! CHARACTER SET`, `ALTER CHECK`, `COMMENT`, table options, partition maintenance).
//!
//! `ALTER TABLE … DROP PARTITION` removes the partition and every row in it: it is reported
//! as `truncate` (danger) though its kind stays `alter_table`, because it also changes the
//! table's definition; `TRUNCATE PARTITION` is of kind `truncate`.

use sqlparser::keywords::Keyword;
use sqlparser::tokenizer::{Token, TokenWithSpan, Whitespace};

/// Turns MySQL's double-quoted strings into the single-quoted strings the grammar expects.
pub(crate) fn double_quoted_strings(tokens: &mut [TokenWithSpan]) {
    for token in tokens {
        if let Token::DoubleQuotedString(text) = &mut token.token {
            token.token = Token::SingleQuotedString(std::mem::take(text));
        }
    }
}

/// `UPDATE t1, t2 SET …` as `UPDATE t1 CROSS JOIN t2 SET …`, or `None` where the statement
/// is not an `UPDATE` with a comma in its table list.
pub(crate) fn multi_table_update<'t>(
    tokens: impl IntoIterator<Item = &'t TokenWithSpan>,
) -> Option<Vec<TokenWithSpan>> {
    let mut repaired = Vec::new();
    let mut state = UpdateScan::Start;
    let mut depth = 0usize;
    let mut commas = 0usize;
    for token in tokens {
        let word = match &token.token {
            Token::Word(word) if word.quote_style.is_none() => Some(word.keyword),
            _ => None,
        };
        if matches!(token.token, Token::Whitespace(_)) {
            repaired.push(token.clone());
            continue;
        }
        match (state, &token.token) {
            (UpdateScan::Start, _) if word == Some(Keyword::UPDATE) => {
                state = UpdateScan::Tables;
            }
            (UpdateScan::Start, _) => return None,
            (UpdateScan::Tables, Token::LParen) => depth += 1,
            (UpdateScan::Tables, Token::RParen) => depth = depth.saturating_sub(1),
            (UpdateScan::Tables, _) if depth == 0 && word == Some(Keyword::SET) => {
                state = UpdateScan::Rest;
            }
            (UpdateScan::Tables, Token::Comma) if depth == 0 => {
                commas += 1;
                let at = token.span;
                let space = || TokenWithSpan::new(Token::Whitespace(Whitespace::Space), at);
                repaired.push(space());
                repaired.push(TokenWithSpan::new(Token::make_keyword("CROSS"), at));
                repaired.push(TokenWithSpan::new(Token::Whitespace(Whitespace::Space), at));
                repaired.push(TokenWithSpan::new(Token::make_keyword("JOIN"), at));
                continue;
            }
            _ => {}
        }
        repaired.push(token.clone());
    }
    (state == UpdateScan::Rest && commas > 0).then_some(repaired)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UpdateScan {
    Start,
    Tables,
    Rest,
}

/// What one action of an `ALTER TABLE` does, as its leading words tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AlterAction {
    /// `TRUNCATE PARTITION`: empties partitions.
    TruncatePartition,
    /// `DROP PARTITION`: removes partitions and their rows.
    DropPartition,
    /// `DROP [COLUMN] c`.
    DropColumn,
    /// `RENAME …`, `CHANGE [COLUMN] a b …`.
    Rename,
    /// A form the grammar lacks that changes only the definition or storage
    /// (`CONVERT TO CHARACTER SET`, `ALTER CHECK`, `COMMENT`, table options, …).
    MysqlOnly,
    /// Another known form (`ADD`, `MODIFY`, `ALTER COLUMN`, `DROP INDEX`, …).
    Other,
}

impl AlterAction {
    /// The action that starts with `words` (upper-cased unquoted words, `None` for anything
    /// else), or `None` where it is not known.
    fn of(words: &[Option<String>]) -> Option<AlterAction> {
        let w = |i: usize| words.get(i).and_then(|w| w.as_deref());
        use AlterAction::*;
        Some(match (w(0)?, w(1)) {
            ("TRUNCATE", Some("PARTITION")) => TruncatePartition,
            ("DROP", Some("PARTITION")) => DropPartition,
            (
                "DROP",
                Some("INDEX" | "KEY" | "PRIMARY" | "FOREIGN" | "CHECK" | "CONSTRAINT" | "DEFAULT"),
            ) => Other,
            ("DROP", _) => DropColumn,
            ("RENAME" | "CHANGE", _) => Rename,
            ("CONVERT", Some("TO"))
            | ("ALTER", Some("CHECK" | "CONSTRAINT"))
            | ("DEFAULT", Some("CHARACTER" | "CHARSET" | "COLLATE"))
            | ("CHARACTER", Some("SET"))
            | (
                "COMMENT" | "CHARSET" | "COLLATE" | "ENGINE" | "AUTO_INCREMENT" | "ROW_FORMAT"
                | "KEY_BLOCK_SIZE" | "STATS_PERSISTENT" | "STATS_AUTO_RECALC" | "PACK_KEYS"
                | "CHECKSUM" | "COMPRESSION" | "ENCRYPTION" | "AVG_ROW_LENGTH" | "MAX_ROWS"
                | "MIN_ROWS" | "ALGORITHM" | "LOCK" | "FORCE",
                _,
            )
            | (
                "ADD" | "COALESCE" | "REORGANIZE" | "REBUILD" | "ANALYZE" | "CHECK" | "OPTIMIZE"
                | "REPAIR",
                Some("PARTITION"),
            )
            | ("REMOVE", Some("PARTITIONING"))
            | ("ENABLE" | "DISABLE", Some("KEYS"))
            | ("ORDER", Some("BY")) => MysqlOnly,
            ("ADD" | "MODIFY" | "ALTER", _) => Other,
            _ => return None,
        })
    }
}

/// How many words of each `ALTER TABLE` action are kept, and how many actions.
const ACTION_WORDS: usize = 3;
const MAX_ACTIONS: usize = 64;

/// The shape of a whole MySQL statement the parser rejected, read token by token alongside
/// `Unparsed`'s leading words.
#[derive(Debug, Default)]
pub(crate) struct Shape {
    scan: Scan,
    depth: usize,
    /// The words of each `ALTER TABLE` action.
    actions: Vec<Vec<Option<String>>>,
    /// Whether a `GRANT` has reached its `TO`, a `REVOKE` its `FROM`.
    grantee: bool,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Scan {
    #[default]
    Start,
    Alter,
    AlterTable,
    Name,
    NameDot,
    Actions,
    Grant,
    Revoke,
    /// Nothing more to learn.
    Done,
}

impl Shape {
    /// Whether more tokens can still change the shape.
    pub fn wants_more(&self) -> bool {
        self.scan != Scan::Done
    }

    /// Takes the next non-whitespace token.
    pub fn next(&mut self, token: &Token) {
        let word = match token {
            Token::Word(word) if word.quote_style.is_none() => {
                Some(word.value.to_ascii_uppercase())
            }
            _ => None,
        };
        let is = |w: &str| word.as_deref() == Some(w);
        self.scan = match self.scan {
            Scan::Start if is("ALTER") => Scan::Alter,
            Scan::Start if is("GRANT") => Scan::Grant,
            Scan::Start if is("REVOKE") => Scan::Revoke,
            Scan::Alter if is("TABLE") => Scan::AlterTable,
            Scan::Alter if is("ONLINE") || is("IGNORE") => Scan::Alter,
            Scan::AlterTable if matches!(token, Token::Word(_)) => Scan::Name,
            Scan::Name if *token == Token::Period => Scan::NameDot,
            Scan::NameDot if matches!(token, Token::Word(_)) => Scan::Name,
            Scan::Name => {
                self.actions.push(Vec::new());
                self.action(token, word)
            }
            Scan::Actions => self.action(token, word),
            Scan::Grant | Scan::Revoke => match token {
                Token::LParen => {
                    self.depth += 1;
                    self.scan
                }
                Token::RParen => {
                    self.depth = self.depth.saturating_sub(1);
                    self.scan
                }
                _ if self.depth == 0
                    && ((self.scan == Scan::Grant && is("TO"))
                        || (self.scan == Scan::Revoke && is("FROM"))) =>
                {
                    self.grantee = true;
                    Scan::Done
                }
                _ => self.scan,
            },
            _ => Scan::Done,
        };
    }

    fn action(&mut self, token: &Token, word: Option<String>) -> Scan {
        match token {
            Token::LParen => self.depth += 1,
            Token::RParen => self.depth = self.depth.saturating_sub(1),
            // `DROP PARTITION p0, p1`: a partition action names a list, and comes last.
            Token::Comma
                if self.depth == 0
                    && self.actions.last().is_some_and(|action| {
                        action.get(1).and_then(|w| w.as_deref()) == Some("PARTITION")
                    }) => {}
            Token::Comma if self.depth == 0 => {
                if self.actions.len() >= MAX_ACTIONS {
                    self.actions.clear();
                    return Scan::Done;
                }
                self.actions.push(Vec::new());
                return Scan::Actions;
            }
            _ => {}
        }
        let at_top = self.depth == 0 || *token == Token::LParen && self.depth == 1;
        if at_top
            && let Some(action) = self.actions.last_mut()
            && action.len() < ACTION_WORDS
        {
            action.push(word);
        }
        Scan::Actions
    }

    /// The actions of an `ALTER TABLE`, each `None` where it is not known; empty for other
    /// statements.
    pub fn alter_actions(&self) -> impl Iterator<Item = Option<AlterAction>> + '_ {
        self.actions.iter().map(|words| AlterAction::of(words))
    }

    /// Whether a `GRANT` names its grantees (`TO`), a `REVOKE` whom it takes from (`FROM`).
    pub fn has_grantee(&self) -> bool {
        self.grantee
    }

    /// Whether this is an `ALTER TABLE` whose every action is known and one of them is a
    /// form the grammar lacks.
    pub fn is_known_alter_table(&self) -> bool {
        let mut special = false;
        for action in self.alter_actions() {
            match action {
                None => return false,
                Some(
                    AlterAction::TruncatePartition
                    | AlterAction::DropPartition
                    | AlterAction::MysqlOnly,
                ) => special = true,
                Some(_) => {}
            }
        }
        special
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::StatementKind;
    use crate::{Dialect, analyze};
    use sqlparser::tokenizer::Tokenizer;

    fn tokens(sql: &str) -> Vec<TokenWithSpan> {
        Tokenizer::new(Dialect::Mysql.parser_dialect(), sql)
            .tokenize_with_location()
            .unwrap()
    }

    fn shape(sql: &str) -> Shape {
        let mut shape = Shape::default();
        for token in tokens(sql) {
            if !matches!(token.token, Token::Whitespace(_)) {
                shape.next(&token.token);
            }
        }
        shape
    }

    #[test]
    fn comma_updates_become_cross_joins() {
        let repaired = multi_table_update(&tokens("UPDATE t1, t2 AS b SET t1.a = b.b")).unwrap();
        let text: String = repaired.iter().map(|t| t.token.to_string()).collect();
        assert_eq!(text, "UPDATE t1 CROSS JOIN t2 AS b SET t1.a = b.b");
        assert!(multi_table_update(&tokens("UPDATE t1 SET a = (1, 2)")).is_none());
        assert!(multi_table_update(&tokens("DELETE FROM t1, t2")).is_none());
    }

    /// The kind and the rules of `sql` analyzed as MySQL.
    fn analyzed(sql: &str) -> (StatementKind, Vec<String>) {
        let analysis = analyze(sql, Dialect::Mysql);
        assert_eq!(analysis.statements.len(), 1, "{sql}");
        let rules = analysis.findings.into_iter().map(|f| f.rule).collect();
        (analysis.statements[0].kind, rules)
    }

    #[test]
    fn none_of_these_mysql_forms_is_a_parse_error() {
        use StatementKind::*;
        let cases: &[(&str, StatementKind, &[&str])] = &[
            (
                "UPDATE t1, t2 SET t1.a = t2.b WHERE t1.id = t2.id",
                Update,
                &["update-with-join"],
            ),
            (
                "UPDATE t1, t2 SET t1.a = t2.b",
                Update,
                &["update-with-join", "update-without-where"],
            ),
            (
                "UPDATE t1 AS a, t2 SET a.x = 1 WHERE 1 = 1",
                Update,
                &["update-with-join", "where-always-true"],
            ),
            (
                "ALTER TABLE t TRUNCATE PARTITION p0",
                Truncate,
                &["truncate", "ddl-implicit-commit"],
            ),
            (
                "ALTER TABLE t DROP PARTITION p0, p1",
                AlterTable,
                &["truncate", "ddl-implicit-commit"],
            ),
            (
                "ALTER TABLE t CONVERT TO CHARACTER SET utf8mb4",
                AlterTable,
                &["alter-table", "ddl-implicit-commit"],
            ),
            (
                "ALTER TABLE t ALTER CHECK c ENFORCED",
                AlterTable,
                &["alter-table"],
            ),
            (
                "ALTER TABLE t DROP c, CONVERT TO CHARACTER SET utf8mb4",
                AlterTable,
                &["alter-table", "drop-column"],
            ),
            (
                "ALTER TABLE t CHANGE a b int, ENGINE = InnoDB",
                AlterTable,
                &["rename"],
            ),
            (
                "CREATE TABLE t (a int) DEFAULT COLLATE = utf8mb4_bin",
                CreateTable,
                &["create-object"],
            ),
            (
                "CREATE TABLE t (a int COMMENT \"x\") COMMENT \"y\"",
                CreateTable,
                &["create-object"],
            ),
            ("ALTER TABLE t COMMENT \"hi\"", AlterTable, &["alter-table"]),
            (
                "CREATE PROCEDURE p() BEGIN UPDATE t SET a = 1; END",
                CreateProcedure,
                &["procedural-code", "ddl-implicit-commit"],
            ),
            (
                "CREATE FUNCTION f() RETURNS INT RETURN 1",
                CreateFunction,
                &["procedural-code"],
            ),
            ("GRANT SUPER ON *.* TO u", Grant, &["grant-revoke"]),
            (
                "GRANT ALTER, CREATE, DROP ON db.* TO u",
                Grant,
                &["grant-revoke"],
            ),
            ("REVOKE SUPER ON *.* FROM u", Revoke, &["grant-revoke"]),
            ("DROP EVENT e", DropOther, &["drop-other"]),
            ("DROP EVENT IF EXISTS db.e", DropOther, &["drop-other"]),
        ];
        for (sql, kind, rules) in cases {
            let (found_kind, found_rules) = analyzed(sql);
            assert_eq!(found_kind, *kind, "{sql}");
            assert!(
                !found_rules.iter().any(|r| r == "parse-error"),
                "{sql}: {found_rules:?}"
            );
            for rule in *rules {
                assert!(
                    found_rules.iter().any(|r| r == rule),
                    "{sql}: {found_rules:?}"
                );
            }
        }
    }

    #[test]
    fn double_quoted_strings_are_strings_on_mysql_only() {
        let (_, rules) = analyzed("DELETE FROM t WHERE id = \"id\"");
        assert!(!rules.iter().any(|r| r == "where-always-true"), "{rules:?}");
        let (_, rules) = analyzed("DELETE FROM t WHERE 'a' = \"a\"");
        assert!(rules.iter().any(|r| r == "where-always-true"), "{rules:?}");
        let postgres = analyze("DELETE FROM t WHERE 'a' = \"a\"", Dialect::Postgres);
        assert!(
            !postgres
                .findings
                .iter()
                .any(|f| f.rule == "where-always-true")
        );
    }

    #[test]
    fn broken_statements_of_these_forms_stay_parse_errors() {
        for sql in [
            "UPDATE t1, t2 SET",
            "UPDATE t1, t2 SET a = 1 garbage",
            "ALTER TABLE t ADD COLUMN (",
            "ALTER TABLE t CONVERT TO CHARACTER SET x, FROB",
            "GRANT SUPER ON *.*",
            "DROP EVENT e f g",
        ] {
            let (_, rules) = analyzed(sql);
            assert!(rules.iter().any(|r| r == "parse-error"), "{sql}: {rules:?}");
        }
    }

    #[test]
    fn alter_table_actions_are_read_one_by_one() {
        let s = shape("ALTER TABLE db.t ADD COLUMN (a int, b int), DROP c, DROP PARTITION p0, p1");
        let actions: Vec<_> = s.alter_actions().collect();
        assert_eq!(
            actions,
            [
                Some(AlterAction::Other),
                Some(AlterAction::DropColumn),
                Some(AlterAction::DropPartition)
            ]
        );
        assert!(s.is_known_alter_table());
        assert!(!shape("ALTER TABLE t ADD COLUMN a int").is_known_alter_table());
        assert!(!shape("ALTER TABLE t CONVERT TO CHARACTER SET x, FROB").is_known_alter_table());
        assert!(shape("GRANT SUPER ON *.* TO u").has_grantee());
        assert!(!shape("GRANT SUPER ON *.*").has_grantee());
    }
}
