//! Which database a target is: the one `Driver` of the whole product, with the URL schemes
//! that name it and the analyzer's dialect that reads its SQL.

use std::fmt;
use std::str::FromStr;

use countersign_analyzer::Dialect;
use serde::Serialize;

/// A target's database driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Driver {
    Postgres,
    /// MySQL or MariaDB.
    Mysql,
    Sqlite,
}

/// A driver name the product does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown driver {0:?}; expected postgres, mysql or sqlite")]
pub struct UnknownDriver(pub String);

impl Driver {
    pub const ALL: [Driver; 3] = [Driver::Postgres, Driver::Mysql, Driver::Sqlite];

    /// The driver's name as the configuration spells it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Postgres => "postgres",
            Self::Mysql => "mysql",
            Self::Sqlite => "sqlite",
        }
    }

    /// The URL schemes of a connection to this driver, the first the one to suggest.
    pub const fn url_schemes(self) -> &'static [&'static str] {
        match self {
            Self::Postgres => &["postgres://", "postgresql://"],
            Self::Mysql => &["mysql://", "mariadb://"],
            Self::Sqlite => &["sqlite:"],
        }
    }

    /// Whether `url` is made for this driver (the scheme, in any case).
    pub fn accepts_url(self, url: &str) -> bool {
        self.url_schemes().iter().any(|scheme| {
            url.get(..scheme.len())
                .is_some_and(|start| start.eq_ignore_ascii_case(scheme))
        })
    }

    /// The analyzer's dialect for this driver's SQL.
    pub const fn dialect(self) -> Dialect {
        match self {
            Self::Postgres => Dialect::Postgres,
            Self::Mysql => Dialect::Mysql,
            Self::Sqlite => Dialect::Sqlite,
        }
    }
}

impl fmt::Display for Driver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Driver {
    type Err = UnknownDriver;

    fn from_str(s: &str) -> Result<Self, UnknownDriver> {
        match s {
            "postgres" | "postgresql" => Ok(Self::Postgres),
            "mysql" | "mariadb" => Ok(Self::Mysql),
            "sqlite" => Ok(Self::Sqlite),
            other => Err(UnknownDriver(other.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_aliases_parse() {
        for driver in Driver::ALL {
            assert_eq!(driver.as_str().parse(), Ok(driver));
        }
        assert_eq!("mariadb".parse(), Ok(Driver::Mysql));
        assert_eq!("postgresql".parse(), Ok(Driver::Postgres));
        assert_eq!(
            "oracle".parse::<Driver>(),
            Err(UnknownDriver("oracle".into()))
        );
    }

    #[test]
    fn a_url_must_be_made_for_its_driver() {
        assert!(Driver::Postgres.accepts_url("postgres://u@h/d"));
        assert!(Driver::Postgres.accepts_url("PostgreSQL://u@h/d"));
        assert!(Driver::Mysql.accepts_url("mariadb://u@h/d"));
        assert!(Driver::Sqlite.accepts_url("sqlite:///srv/shop.db"));
        assert!(!Driver::Sqlite.accepts_url("postgres://u:pw@h/d"));
        assert!(!Driver::Mysql.accepts_url("postgres://u@h/d"));
        assert!(!Driver::Postgres.accepts_url(""));
    }

    #[test]
    fn each_driver_has_its_dialect() {
        assert_eq!(Driver::Postgres.dialect(), Dialect::Postgres);
        assert_eq!(Driver::Mysql.dialect(), Dialect::Mysql);
        assert_eq!(Driver::Sqlite.dialect(), Dialect::Sqlite);
    }
}
