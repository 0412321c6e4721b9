//! Users and their roles: what a user name may look like and which roles exist.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A role a user can hold; a user can hold several.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Submits, revises and withdraws edit requests (everyone who can sign in may author).
    Author,
    /// May be named as a reviewer and approve or reject requests.
    Reviewer,
    /// Manages users and tokens; may withdraw and execute any request.
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Author, Role::Reviewer, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Author => "author",
            Role::Reviewer => "reviewer",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is not one of `author`, `reviewer`, `admin`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}: expected author, reviewer or admin")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

/// Why a user name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidUserName {
    #[error("a user name cannot be empty")]
    Empty,
    #[error("a user name is at most 64 characters")]
    TooLong,
    #[error(
        "a user name may contain only lower-case letters, digits, '.', '_' and '-', \
         and must start with a letter or digit"
    )]
    BadCharacter,
    #[error(
        "{0:?} is reserved: the audit trail and sign-in use it for something other than a person"
    )]
    Reserved(String),
}

/// Names no user may take: they stand for the system itself (events without an actor), the
/// sign-in provider (contract §13), or nobody in particular.
pub const RESERVED_USER_NAMES: [&str; 5] =
    ["system", "countersign", "oidc", "anonymous", "unknown"];

/// The longest user name, in characters.
pub const MAX_USER_NAME_CHARS: usize = 64;

/// Checks a user name: 1–64 characters of `[a-z0-9._-]`, starting with a letter or digit, and
/// not one of the [`RESERVED_USER_NAMES`].
/// User names appear in audit exports and URLs, so they are kept plain.
pub fn validate_user_name(name: &str) -> Result<(), InvalidUserName> {
    if name.is_empty() {
        return Err(InvalidUserName::Empty);
    }
    if name.len() > MAX_USER_NAME_CHARS {
        return Err(InvalidUserName::TooLong);
    }
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let rest_ok = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    if !(first_ok && rest_ok) {
        return Err(InvalidUserName::BadCharacter);
    }
    if RESERVED_USER_NAMES.contains(&name) {
        return Err(InvalidUserName::Reserved(name.to_owned()));
    }
    Ok(())
}

/// A user as the rest of the system sees it (never with a password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub roles: Vec<Role>,
    pub disabled: bool,
}

impl User {
    pub fn has_role(&self, role: Role) -> bool {
        // Everyone who can sign in may author (docs/lifecycle.md).
        role == Role::Author || self.roles.contains(&role)
    }

    pub fn is_admin(&self) -> bool {
        self.roles.contains(&Role::Admin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_through_their_names() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert_eq!("root".parse::<Role>(), Err(UnknownRole("root".to_owned())));
    }

    #[test]
    fn user_names_are_plain() {
        assert_eq!(validate_user_name("alice"), Ok(()));
        assert_eq!(validate_user_name("a.b_c-1"), Ok(()));
        assert_eq!(validate_user_name(""), Err(InvalidUserName::Empty));
        assert_eq!(
            validate_user_name("Alice"),
            Err(InvalidUserName::BadCharacter)
        );
        assert_eq!(
            validate_user_name("-alice"),
            Err(InvalidUserName::BadCharacter)
        );
        assert_eq!(
            validate_user_name("a b"),
            Err(InvalidUserName::BadCharacter)
        );
        assert_eq!(
            validate_user_name(&"a".repeat(65)),
            Err(InvalidUserName::TooLong)
        );
        for name in ["system", "oidc", "countersign", "anonymous"] {
            assert_eq!(
                validate_user_name(name),
                Err(InvalidUserName::Reserved(name.to_owned()))
            );
        }
        assert_eq!(validate_user_name("admin"), Ok(()), "the demo's admin");
        assert_eq!(validate_user_name("systems"), Ok(()));
    }

    #[test]
    fn everyone_may_author_but_other_roles_are_explicit() {
        let u = User {
            id: 1,
            name: "x".into(),
            roles: vec![Role::Reviewer],
            disabled: false,
        };
        assert!(u.has_role(Role::Author));
        assert!(u.has_role(Role::Reviewer));
        assert!(!u.has_role(Role::Admin));
        assert!(!u.is_admin());
    }
}
