//! The SQL dialects the analyzer understands, and how each maps onto a `sqlparser` dialect.
//!
//! A [`Dialect`] names the database a script is written for. Its lower-case name (`postgres`,
//! `mysql`, `sqlite`, `generic`) is what users type, what the API and the CLI accept, and what
//! analyses store; MariaDB scripts use `mysql`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sqlparser::dialect as sp;

/// The database family a script is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    /// PostgreSQL.
    #[serde(alias = "postgresql", alias = "pg")]
    Postgres,
    /// MySQL and MariaDB.
    #[serde(alias = "mariadb")]
    Mysql,
    /// SQLite.
    Sqlite,
    /// No particular database: a permissive grammar, and only the rules that hold everywhere
    /// plus the cautious reading of the dialect-specific ones.
    Generic,
}

impl Dialect {
    /// Every dialect, in the order they are documented.
    pub const ALL: [Dialect; 4] = [
        Dialect::Postgres,
        Dialect::Mysql,
        Dialect::Sqlite,
        Dialect::Generic,
    ];

    /// The canonical lower-case name (`postgres`, `mysql`, `sqlite`, `generic`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Dialect::Postgres => "postgres",
            Dialect::Mysql => "mysql",
            Dialect::Sqlite => "sqlite",
            Dialect::Generic => "generic",
        }
    }

    /// The name people use for the database in messages (`PostgreSQL`, `MySQL/MariaDB`, …).
    pub const fn display_name(self) -> &'static str {
        match self {
            Dialect::Postgres => "PostgreSQL",
            Dialect::Mysql => "MySQL/MariaDB",
            Dialect::Sqlite => "SQLite",
            Dialect::Generic => "generic SQL",
        }
    }

    /// The `sqlparser` grammar used for this dialect.
    pub fn parser_dialect(self) -> &'static dyn sp::Dialect {
        static POSTGRES: sp::PostgreSqlDialect = sp::PostgreSqlDialect {};
        static MYSQL: sp::MySqlDialect = sp::MySqlDialect {};
        static SQLITE: sp::SQLiteDialect = sp::SQLiteDialect {};
        static GENERIC: sp::GenericDialect = sp::GenericDialect {};
        match self {
            Dialect::Postgres => &POSTGRES,
            Dialect::Mysql => &MYSQL,
            Dialect::Sqlite => &SQLITE,
            Dialect::Generic => &GENERIC,
        }
    }

    /// Whether PostgreSQL's behaviour applies: PostgreSQL itself, and the generic dialect,
    /// which assumes the most cautious reading.
    pub(crate) fn is_postgres_like(self) -> bool {
        matches!(self, Dialect::Postgres | Dialect::Generic)
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing an unknown dialect name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownDialect(pub String);

impl fmt::Display for UnknownDialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown SQL dialect `{}` (expected postgres, mysql, sqlite or generic)",
            self.0
        )
    }
}

impl std::error::Error for UnknownDialect {}

impl FromStr for Dialect {
    type Err = UnknownDialect;

    /// Accepts the canonical names case-insensitively, plus `postgresql`, `pg` and `mariadb`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "postgres" | "postgresql" | "pg" => Ok(Dialect::Postgres),
            "mysql" | "mariadb" => Ok(Dialect::Mysql),
            "sqlite" => Ok(Dialect::Sqlite),
            "generic" => Ok(Dialect::Generic),
            _ => Err(UnknownDialect(s.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_from_str_display_and_serde() {
        for dialect in Dialect::ALL {
            assert_eq!(dialect.to_string().parse::<Dialect>(), Ok(dialect));
            let json = serde_json::to_string(&dialect).unwrap();
            assert_eq!(json, format!("\"{}\"", dialect.as_str()));
            assert_eq!(serde_json::from_str::<Dialect>(&json).unwrap(), dialect);
        }
    }

    #[test]
    fn aliases_are_accepted() {
        assert_eq!("PostgreSQL".parse(), Ok(Dialect::Postgres));
        assert_eq!("mariadb".parse(), Ok(Dialect::Mysql));
        assert_eq!(
            serde_json::from_str::<Dialect>("\"mariadb\"").unwrap(),
            Dialect::Mysql
        );
    }

    #[test]
    fn unknown_names_are_rejected_with_the_choices() {
        let err = "oracle".parse::<Dialect>().unwrap_err();
        assert!(
            err.to_string()
                .contains("postgres, mysql, sqlite or generic")
        );
    }
}
