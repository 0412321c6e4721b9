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
/// company's sign-in provider (planned single sign-on), or nobody in particular.
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

/// The fewest characters a password may have (the command line and the admin page alike).
pub const MIN_PASSWORD_CHARS: usize = 8;

/// Why a password was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidPassword {
    #[error("a password needs at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
}

/// Checks a new password: at least [`MIN_PASSWORD_CHARS`] characters.
pub fn validate_password(password: &str) -> Result<(), InvalidPassword> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(InvalidPassword::TooShort);
    }
    Ok(())
}

/// The roles to give and to take away to turn `current` into `wanted`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleChange {
    pub add: Vec<Role>,
    pub remove: Vec<Role>,
}

impl RoleChange {
    pub fn between(current: &[Role], wanted: &[Role]) -> RoleChange {
        RoleChange {
            add: Role::ALL
                .into_iter()
                .filter(|r| wanted.contains(r) && !current.contains(r))
                .collect(),
            remove: Role::ALL
                .into_iter()
                .filter(|r| current.contains(r) && !wanted.contains(r))
                .collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.remove.is_empty()
    }
}

/// Why an admin may not make a change to an account (from the admin page).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountChangeRefused {
    /// An admin who disabled themselves, or took away their own admin role, could lock
    /// everyone out of the admin page; another admin (or the command line) must do it.
    #[error("you cannot disable your own account here; ask another admin")]
    DisableSelf,
    #[error("you cannot take away your own admin role here; ask another admin")]
    DropOwnAdmin,
    #[error("{0:?} already has exactly these roles")]
    NoChange(String),
}

/// Whether `admin` may disable the user called `target`.
pub fn may_disable(admin: &User, target: &str) -> Result<(), AccountChangeRefused> {
    if admin.name == target {
        return Err(AccountChangeRefused::DisableSelf);
    }
    Ok(())
}

/// The change that gives `target` exactly the roles `wanted`, if `admin` may make it.
pub fn plan_role_change(
    admin: &User,
    target: &User,
    wanted: &[Role],
) -> Result<RoleChange, AccountChangeRefused> {
    let change = RoleChange::between(&target.roles, wanted);
    if change.is_empty() {
        return Err(AccountChangeRefused::NoChange(target.name.clone()));
    }
    if admin.name == target.name && change.remove.contains(&Role::Admin) {
        return Err(AccountChangeRefused::DropOwnAdmin);
    }
    Ok(change)
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
    fn passwords_need_eight_characters_counted_as_characters() {
        assert_eq!(validate_password("1234567"), Err(InvalidPassword::TooShort));
        assert_eq!(validate_password(""), Err(InvalidPassword::TooShort));
        assert_eq!(validate_password("12345678"), Ok(()));
        assert_eq!(validate_password("ééééééé"), Err(InvalidPassword::TooShort));
        assert_eq!(validate_password("éééééééé"), Ok(()));
    }

    fn user(name: &str, roles: &[Role]) -> User {
        User {
            id: 1,
            name: name.into(),
            roles: roles.to_vec(),
            disabled: false,
        }
    }

    #[test]
    fn a_role_change_names_what_to_add_and_remove_and_spares_the_admin_themselves() {
        let root = user("root", &[Role::Admin]);
        let dana = user("dana", &[Role::Author, Role::Reviewer]);
        assert_eq!(
            plan_role_change(&root, &dana, &[Role::Reviewer, Role::Admin]),
            Ok(RoleChange {
                add: vec![Role::Admin],
                remove: vec![Role::Author],
            })
        );
        assert_eq!(
            plan_role_change(&root, &dana, &[Role::Reviewer, Role::Author]),
            Err(AccountChangeRefused::NoChange("dana".into()))
        );
        assert_eq!(
            plan_role_change(&root, &root, &[Role::Reviewer]),
            Err(AccountChangeRefused::DropOwnAdmin)
        );
        assert!(plan_role_change(&root, &root, &[Role::Admin, Role::Reviewer]).is_ok());
        assert_eq!(
            may_disable(&root, "root"),
            Err(AccountChangeRefused::DisableSelf)
        );
        assert_eq!(may_disable(&root, "dana"), Ok(()));
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
