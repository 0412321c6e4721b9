//! Recognition of statements the parser rejects, from their leading keywords.
//!
//! `sqlparser` 0.64 cannot parse several statements that matter most to a reviewer —
//! `DROP INDEX CONCURRENTLY`, `ALTER SYSTEM`, `DO` blocks, MySQL's `LOAD DATA` and
//! `CREATE USER 'u'@'h'`, `CREATE PROCEDURE`, `VACUUM FULL`, `REINDEX`. Such a statement is
//! still a `parse-error`, but its leading keywords, read from the token stream (which knows
//! what is a comment or a string), say enough for the rules that depend only on them: a
//! `DROP INDEX CONCURRENTLY` must still be refused as non-transactional.
//!
//! A PostgreSQL `DO` block (its grammar is a string and an optional language), a short
//! `DROP INDEX CONCURRENTLY` and the MySQL
//! forms of `mysql_forms.rs` (routines, `GRANT`, `DROP EVENT`, `ALTER TABLE … TRUNCATE
//! PARTITION` and other table options) are recognised in full: they are not a parse error.

use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

use crate::Dialect;
use crate::executable::Prepared;
use crate::mysql_forms::{AlterAction, Shape};
use crate::report::StatementKind;

/// How many leading tokens are kept: enough for `CREATE DEFINER = `u`@`h` PROCEDURE`.
const LEADING: usize = 16;

/// A statement the parser rejected, as far as its leading tokens tell.
#[derive(Debug)]
pub(crate) struct Unparsed {
    pub dialect: Dialect,
    /// The first non-whitespace tokens: unquoted words upper-cased, anything else `None`.
    words: Vec<Option<String>>,
    /// Whether the statement is exactly `DO [LANGUAGE l] 'code' [LANGUAGE l]`.
    do_block: bool,
    /// On MySQL, the shape of the whole statement (see `mysql_forms.rs`).
    mysql: Option<Shape>,
}

impl Unparsed {
    /// Reads the statement made of `tokens` (whitespace included).
    pub fn new<'t>(tokens: impl IntoIterator<Item = &'t TokenWithSpan>, dialect: Dialect) -> Self {
        let mut words = Vec::with_capacity(LEADING);
        let mut shape = DoShape::Start;
        let mut mysql = (dialect == Dialect::Mysql).then(Shape::default);
        for token in tokens {
            if matches!(token.token, Token::Whitespace(_)) {
                continue;
            }
            shape = shape.next(&token.token);
            let mysql_wants_more = match &mut mysql {
                Some(mysql) if mysql.wants_more() => {
                    mysql.next(&token.token);
                    true
                }
                _ => false,
            };
            if words.len() < LEADING {
                words.push(match &token.token {
                    Token::Word(word) if word.quote_style.is_none() => {
                        Some(word.value.to_ascii_uppercase())
                    }
                    _ => None,
                });
            } else if shape == DoShape::Invalid && !mysql_wants_more {
                break;
            }
        }
        Unparsed {
            dialect,
            words,
            do_block: dialect.is_postgres_like() && shape.is_complete(),
            mysql,
        }
    }

    /// The `i`-th leading token, if it is an unquoted word.
    pub fn word(&self, i: usize) -> Option<&str> {
        self.words.get(i).and_then(|w| w.as_deref())
    }

    /// How many leading tokens are known (at most 16).
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// Whether the statement starts with these words.
    pub fn starts_with(&self, words: &[&str]) -> bool {
        words.len() <= self.words.len()
            && words
                .iter()
                .enumerate()
                .all(|(i, expected)| self.word(i) == Some(*expected))
    }

    /// The first of `candidates` among the leading words after the first one.
    pub fn first_of(&self, candidates: &[&str]) -> Option<&str> {
        (1..self.words.len())
            .filter_map(|i| self.word(i))
            .find(|word| candidates.contains(word))
    }

    /// Whether the fallback knows this statement in full, so that it is no parse error: a
    /// complete PostgreSQL `DO` block, or one of the MySQL forms of `mysql_forms.rs`.
    pub fn is_known(&self) -> bool {
        if self.is_do_block() {
            return true;
        }
        // PostgreSQL `DROP INDEX CONCURRENTLY [IF EXISTS] name, …`: refused all the same by
        // `non-transactional`, but not unreadable.
        if self.dialect.is_postgres_like()
            && self.starts_with(&["DROP", "INDEX", "CONCURRENTLY"])
            && self.words.len() < LEADING
        {
            return true;
        }
        let Some(mysql) = &self.mysql else {
            return false;
        };
        match (self.word(0), self.object()) {
            (Some("CREATE"), Some("PROCEDURE" | "FUNCTION" | "TRIGGER" | "EVENT")) => true,
            (Some("GRANT" | "REVOKE"), _) => mysql.has_grantee(),
            (Some("DROP"), _) => {
                let name_at = if self.starts_with(&["DROP", "EVENT", "IF", "EXISTS"])
                    || self.starts_with(&["DROP", "SERVER", "IF", "EXISTS"])
                {
                    4
                } else {
                    2
                };
                // `DROP EVENT [IF EXISTS] name` or `… schema.name`.
                matches!(self.word(1), Some("EVENT" | "SERVER" | "TABLESPACE"))
                    && (self.words.len() == name_at + 1
                        || self.words.len() == name_at + 3 && self.word(name_at + 1).is_none())
            }
            (Some("ALTER"), Some("TABLE")) => mysql.is_known_alter_table(),
            _ => false,
        }
    }

    /// The actions of a MySQL `ALTER TABLE` (each `None` where it is not known); none for
    /// other statements and dialects.
    pub fn alter_actions(&self) -> impl Iterator<Item = Option<AlterAction>> + '_ {
        self.mysql.iter().flat_map(Shape::alter_actions)
    }

    /// Whether this is a complete PostgreSQL `DO` block.
    pub fn is_do_block(&self) -> bool {
        self.do_block
    }

    /// The object type a `CREATE`, `ALTER` or `DROP` names.
    pub fn object(&self) -> Option<&str> {
        self.first_of(&OBJECT_WORDS)
    }

    /// Whether MySQL/MariaDB commits the open transaction implicitly before running this
    /// statement: DDL (`CREATE`, `ALTER`, `DROP` — except of a `TEMPORARY` table — `RENAME`,
    /// `TRUNCATE`), account statements (`GRANT`, `REVOKE`, `CREATE USER`, …), `LOCK TABLES`,
    /// `UNLOCK TABLES`, and the administrative table statements (`ANALYZE`, `CHECK`,
    /// `OPTIMIZE`, `REPAIR TABLE`, `CACHE INDEX`, `LOAD INDEX INTO CACHE`, `FLUSH`, `RESET`,
    /// `INSTALL`/`UNINSTALL PLUGIN`). Transaction control (`BEGIN`, `COMMIT`) is left out: it
    /// is the system's own business, refused by `transaction-control`; `LOAD DATA` commits
    /// only into NDB tables, so it is not counted either.
    pub fn commits_implicitly(&self) -> bool {
        let temporary = || self.first_of(&["TEMPORARY"]).is_some();
        match self.word(0) {
            Some("CREATE" | "DROP") => !temporary(),
            Some(
                "ALTER" | "RENAME" | "TRUNCATE" | "GRANT" | "REVOKE" | "LOCK" | "UNLOCK" | "FLUSH"
                | "INSTALL" | "UNINSTALL",
            ) => true,
            Some("ANALYZE" | "CHECK" | "OPTIMIZE" | "REPAIR") => {
                matches!(
                    self.word(1),
                    Some("TABLE" | "TABLES" | "NO_WRITE_TO_BINLOG" | "LOCAL")
                )
            }
            Some("CACHE") => self.word(1) == Some("INDEX"),
            Some("LOAD") => self.word(1) == Some("INDEX"),
            Some("RESET") => self.word(1) != Some("PERSIST"),
            _ => false,
        }
    }

    /// The statement's kind, as far as its leading words tell.
    pub fn kind(&self) -> StatementKind {
        use StatementKind as K;
        let Some(first) = self.word(0) else {
            return K::Other;
        };
        match (first, self.object()) {
            ("DO", _) if self.dialect != Dialect::Mysql => K::Do,
            ("SELECT", _) => K::Select,
            ("INSERT" | "REPLACE", _) => K::Insert,
            ("UPDATE", _) => K::Update,
            ("DELETE", _) => K::Delete,
            ("MERGE", _) => K::Merge,
            ("CREATE", Some("TABLE")) => K::CreateTable,
            ("CREATE", Some("VIEW")) => K::CreateView,
            ("CREATE", Some("INDEX")) => K::CreateIndex,
            ("CREATE", Some("SEQUENCE")) => K::CreateSequence,
            ("CREATE", Some("SCHEMA")) => K::CreateSchema,
            ("CREATE", Some("DATABASE")) => K::CreateDatabase,
            ("CREATE", Some("FUNCTION")) => K::CreateFunction,
            ("CREATE", Some("PROCEDURE")) => K::CreateProcedure,
            ("CREATE", Some("TRIGGER")) => K::CreateTrigger,
            ("CREATE", Some("ROLE")) => K::CreateRole,
            ("CREATE", Some("USER")) => K::CreateUser,
            ("CREATE", _) => K::CreateOther,
            ("ALTER", Some("SYSTEM")) => K::AlterSystem,
            ("ALTER", Some("TABLE"))
                if self.alter_actions().count() > 0
                    && self
                        .alter_actions()
                        .all(|a| a == Some(AlterAction::TruncatePartition)) =>
            {
                K::Truncate
            }
            ("ALTER", Some("TABLE")) => K::AlterTable,
            ("ALTER", Some("ROLE")) => K::AlterRole,
            ("ALTER", Some("USER")) => K::AlterUser,
            ("ALTER", _) => K::AlterOther,
            ("DROP", Some("TABLE")) => K::DropTable,
            ("DROP", Some("VIEW")) => K::DropView,
            ("DROP", Some("INDEX")) => K::DropIndex,
            ("DROP", Some("SCHEMA")) => K::DropSchema,
            ("DROP", Some("DATABASE")) => K::DropDatabase,
            ("DROP", Some("ROLE")) => K::DropRole,
            ("DROP", Some("USER")) => K::DropUser,
            ("DROP", _) => K::DropOther,
            ("RENAME", _) => K::Rename,
            ("TRUNCATE", _) => K::Truncate,
            ("GRANT", _) => K::Grant,
            ("REVOKE", _) => K::Revoke,
            ("BEGIN" | "START", _) => K::Begin,
            ("COMMIT" | "END", _) => K::Commit,
            ("ROLLBACK" | "ABORT", _) => K::Rollback,
            ("SAVEPOINT", _) => K::Savepoint,
            ("RELEASE", _) => K::ReleaseSavepoint,
            ("SET" | "RESET" | "PRAGMA", _) => K::Set,
            ("LOCK" | "UNLOCK", _) => K::Lock,
            ("COPY", _) => K::Copy,
            ("LOAD", _) => K::Load,
            ("CALL" | "EXECUTE", _) => K::Call,
            ("VACUUM", _) => K::Vacuum,
            ("EXPLAIN", _) => K::Explain,
            ("SHOW", _) => K::Show,
            _ => K::Other,
        }
    }
}

/// The leading words of one statement's text, read as `dialect` (MySQL's executable comments
/// included). Text the tokenizer cannot read is read as far as it can be.
pub(crate) fn leading_words(sql: &str, dialect: Dialect) -> Unparsed {
    let prepared = Prepared::new(sql, dialect);
    let mut tokens = Vec::new();
    // An error leaves the tokens read before it, which is all the leading words need.
    let _ = Tokenizer::new(dialect.parser_dialect(), &prepared.text)
        .with_unescape(false)
        .tokenize_with_location_into_buf(&mut tokens);
    prepared.expand(&mut tokens);
    let statement = tokens
        .iter()
        .take_while(|t| t.token != Token::SemiColon)
        .take(4 * LEADING);
    Unparsed::new(statement, dialect)
}

/// Words that name what a `CREATE`, `ALTER` or `DROP` acts on. The first one found wins, so
/// `CREATE TABLE t (user int)` is a table.
const OBJECT_WORDS: [&str; 18] = [
    "TABLE",
    "VIEW",
    "INDEX",
    "SEQUENCE",
    "SCHEMA",
    "DATABASE",
    "FUNCTION",
    "PROCEDURE",
    "TRIGGER",
    "EVENT",
    "ROLE",
    "USER",
    "GROUP",
    "TABLESPACE",
    "EXTENSION",
    "TYPE",
    "DOMAIN",
    "SYSTEM",
];

/// Progress through `DO [LANGUAGE l] 'code' [LANGUAGE l]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DoShape {
    Start,
    Do,
    Language,
    LanguageNamed,
    Code,
    CodeLanguage,
    Complete,
    Invalid,
}

impl DoShape {
    fn next(self, token: &Token) -> DoShape {
        let is_word = |w: &str| matches!(token, Token::Word(word) if word.quote_style.is_none() && word.value.eq_ignore_ascii_case(w));
        let is_name = matches!(token, Token::Word(_));
        let is_code = matches!(
            token,
            Token::SingleQuotedString(_)
                | Token::DollarQuotedString(_)
                | Token::EscapedStringLiteral(_)
        );
        match self {
            DoShape::Start if is_word("DO") => DoShape::Do,
            DoShape::Do if is_word("LANGUAGE") => DoShape::Language,
            DoShape::Do | DoShape::LanguageNamed if is_code => DoShape::Code,
            DoShape::Language if is_name => DoShape::LanguageNamed,
            DoShape::Code if is_word("LANGUAGE") => DoShape::CodeLanguage,
            DoShape::CodeLanguage if is_name => DoShape::Complete,
            _ => DoShape::Invalid,
        }
    }

    fn is_complete(self) -> bool {
        matches!(self, DoShape::Code | DoShape::Complete)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unparsed(sql: &str, dialect: Dialect) -> Unparsed {
        let tokens = Tokenizer::new(dialect.parser_dialect(), sql)
            .tokenize_with_location()
            .unwrap();
        Unparsed::new(&tokens, dialect)
    }

    #[test]
    fn leading_words_skip_comments_and_keep_strings_apart() {
        let u = unparsed(
            "/* DROP */ DROP -- TABLE\n INDEX CONCURRENTLY 'x'",
            Dialect::Postgres,
        );
        assert!(u.starts_with(&["DROP", "INDEX", "CONCURRENTLY"]));
        assert_eq!(u.word(3), None);
        assert_eq!(u.kind(), StatementKind::DropIndex);
    }

    #[test]
    fn object_is_the_first_object_word() {
        let u = unparsed(
            "CREATE DEFINER=`root`@`%` PROCEDURE p() BEGIN SELECT user; END",
            Dialect::Mysql,
        );
        assert_eq!(u.object(), Some("PROCEDURE"));
        assert_eq!(u.kind(), StatementKind::CreateProcedure);
        assert_eq!(
            unparsed("CREATE TABLE t (user int", Dialect::Mysql).kind(),
            StatementKind::CreateTable
        );
    }

    #[test]
    fn do_blocks_are_recognised_in_full_on_postgres_only() {
        for sql in [
            "DO $$ BEGIN PERFORM 1; END $$",
            "DO LANGUAGE plpgsql $$ BEGIN END $$",
            "DO 'BEGIN END' LANGUAGE plpgsql",
        ] {
            assert!(unparsed(sql, Dialect::Postgres).is_do_block(), "{sql}");
        }
        for sql in ["DO $$ x $$ garbage", "DO", "DO 1", "DO $$ x $$ LANGUAGE"] {
            assert!(!unparsed(sql, Dialect::Postgres).is_do_block(), "{sql}");
        }
        assert!(!unparsed("DO $$ x $$", Dialect::Mysql).is_do_block());
    }

    #[test]
    fn short_drop_index_concurrently_is_known_on_postgres() {
        let sql = "DROP INDEX CONCURRENTLY IF EXISTS \"i\", app.j";
        assert!(unparsed(sql, Dialect::Postgres).is_known());
        assert!(!unparsed(sql, Dialect::Mysql).is_known());
        assert!(!unparsed("DROP INDEX i ON t garbage", Dialect::Postgres).is_known());
    }
}
