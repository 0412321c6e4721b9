//! Who may do what (docs/lifecycle.md), as pure checks that return why not (HTTP 403).
//!
//! A disabled user may do nothing. Requests name people by user name, so authors and reviewers
//! are compared with [`User::name`]. Whether the request's *status* allows the action is
//! [`crate::lifecycle`]'s question; callers ask both. Reading requests and the audit trail
//! needs only a signed-in (hence enabled) user and has no check here.

use std::fmt;

use crate::user::{Role, User};

/// An action that needs permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Deed {
    Submit,
    Revise,
    Withdraw,
    Review,
    Execute,
    Rehearse,
    Revert,
    ReadImages,
    Comment,
    ManageUsers,
}

impl fmt::Display for Deed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Submit => "submit requests",
            Self::Revise => "revise this request",
            Self::Withdraw => "withdraw this request",
            Self::Review => "review this request",
            Self::Execute => "execute this request",
            Self::Rehearse => "rehearse this request",
            Self::Revert => "revert this request",
            Self::ReadImages => "read the rows this request changed",
            Self::Comment => "comment on requests",
            Self::ManageUsers => "manage users and tokens",
        })
    }
}

/// Why a user may not do something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ForbiddenReason {
    /// The user's account is disabled.
    Disabled,
    /// Only the request's author may.
    NotTheAuthor,
    /// Only the request's author or an admin may.
    NotTheAuthorOrAdmin,
    /// Nobody reviews their own request, admins included.
    OwnRequest,
    /// The user is not among the request's named reviewers.
    NotNamed,
    /// The user no longer holds the reviewer role.
    NotAReviewer,
    /// Only an admin may.
    NotAnAdmin,
    /// On a target rehearsed on itself, only a named reviewer (not the author) or an admin.
    NotANamedReviewerOrAdmin,
    /// Production rows: only the request's author, its named reviewers and admins.
    NotAuthorReviewerOrAdmin,
}

impl fmt::Display for ForbiddenReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Disabled => "your account is disabled",
            Self::NotTheAuthor => "only its author may",
            Self::NotTheAuthorOrAdmin => "only its author or an admin may",
            Self::OwnRequest => "you are its author, and nobody reviews their own request",
            Self::NotNamed => "you are not one of its named reviewers",
            Self::NotAReviewer => "you do not hold the reviewer role",
            Self::NotAnAdmin => "only an admin may",
            Self::NotANamedReviewerOrAdmin => {
                "its target is rehearsed on itself, so only a reviewer named on it or an admin \
                 may start a rehearsal (it runs unreviewed SQL)"
            }
            Self::NotAuthorReviewerOrAdmin => {
                "these are production rows: only its author, its named reviewers and admins may"
            }
        })
    }
}

/// A refusal: who may not do what, and why (HTTP 403).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("you may not {deed}: {reason}")]
pub struct Forbidden {
    pub deed: Deed,
    pub reason: ForbiddenReason,
}

fn check(
    user: &User,
    deed: Deed,
    rules: impl FnOnce() -> Result<(), ForbiddenReason>,
) -> Result<(), Forbidden> {
    let outcome = if user.disabled {
        Err(ForbiddenReason::Disabled)
    } else {
        rules()
    };
    outcome.map_err(|reason| Forbidden { deed, reason })
}

fn is_author(user: &User, author: &str) -> bool {
    user.name == author
}

fn author_or_admin(user: &User, author: &str) -> Result<(), ForbiddenReason> {
    if is_author(user, author) || user.is_admin() {
        Ok(())
    } else {
        Err(ForbiddenReason::NotTheAuthorOrAdmin)
    }
}

/// Submitting: every enabled user (everyone who can sign in is an author).
pub fn may_submit(user: &User) -> Result<(), Forbidden> {
    check(user, Deed::Submit, || Ok(()))
}

/// Revising: the request's author only.
pub fn may_revise(user: &User, author: &str) -> Result<(), Forbidden> {
    check(user, Deed::Revise, || {
        if is_author(user, author) {
            Ok(())
        } else {
            Err(ForbiddenReason::NotTheAuthor)
        }
    })
}

/// Withdrawing: the request's author or an admin.
pub fn may_withdraw(user: &User, author: &str) -> Result<(), Forbidden> {
    check(user, Deed::Withdraw, || author_or_admin(user, author))
}

/// Reviewing: a reviewer named on the request who is not its author. Being an admin neither
/// helps nor hinders. The reviewer role is required too, so that taking the role away from a
/// named reviewer stops them.
pub fn may_review(user: &User, author: &str, named_reviewers: &[String]) -> Result<(), Forbidden> {
    check(user, Deed::Review, || {
        if is_author(user, author) {
            Err(ForbiddenReason::OwnRequest)
        } else if !named_reviewers.contains(&user.name) {
            Err(ForbiddenReason::NotNamed)
        } else if !user.has_role(Role::Reviewer) {
            Err(ForbiddenReason::NotAReviewer)
        } else {
            Ok(())
        }
    })
}

/// Executing: the request's author or an admin.
pub fn may_execute(user: &User, author: &str) -> Result<(), Forbidden> {
    check(user, Deed::Execute, || author_or_admin(user, author))
}

/// Starting a rehearsal, which runs unreviewed SQL. On a target rehearsed on a copy
/// (`on_itself` false), everyone who may read the request. On one rehearsed on itself, a second
/// person who has read the SQL chooses to: a reviewer named on the request who is not its
/// author, or an admin.
pub fn may_rehearse(
    user: &User,
    author: &str,
    named_reviewers: &[String],
    on_itself: bool,
) -> Result<(), Forbidden> {
    check(user, Deed::Rehearse, || {
        let named = named_reviewers.contains(&user.name) && !is_author(user, author);
        if !on_itself || user.is_admin() || named {
            Ok(())
        } else {
            Err(ForbiddenReason::NotANamedReviewerOrAdmin)
        }
    })
}

/// Reverting an execution (a new request restoring its rows): the request's author or an
/// admin.
pub fn may_revert(user: &User, author: &str) -> Result<(), Forbidden> {
    check(user, Deed::Revert, || author_or_admin(user, author))
}

/// Reading the images of the rows an execution changed (production rows): the request's
/// author, its named reviewers and admins.
pub fn may_read_images(
    user: &User,
    author: &str,
    named_reviewers: &[String],
) -> Result<(), Forbidden> {
    check(user, Deed::ReadImages, || {
        if is_author(user, author) || named_reviewers.contains(&user.name) || user.is_admin() {
            Ok(())
        } else {
            Err(ForbiddenReason::NotAuthorReviewerOrAdmin)
        }
    })
}

/// Commenting on a request: every enabled user (everyone signed in may read it).
pub fn may_comment(user: &User) -> Result<(), Forbidden> {
    check(user, Deed::Comment, || Ok(()))
}

/// Managing users and tokens: admins.
pub fn may_manage_users(user: &User) -> Result<(), Forbidden> {
    check(user, Deed::ManageUsers, || {
        if user.is_admin() {
            Ok(())
        } else {
            Err(ForbiddenReason::NotAnAdmin)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUTHOR: &str = "alice";

    fn user(name: &str, roles: &[Role]) -> User {
        User {
            id: 1,
            name: name.into(),
            roles: roles.to_vec(),
            disabled: false,
        }
    }

    fn disabled(mut user: User) -> User {
        user.disabled = true;
        user
    }

    fn named() -> Vec<String> {
        vec!["bob".into(), "root".into()]
    }

    fn denied(deed: Deed, reason: ForbiddenReason) -> Result<(), Forbidden> {
        Err(Forbidden { deed, reason })
    }

    #[test]
    fn every_enabled_user_may_submit() {
        assert_eq!(may_submit(&user("zed", &[])), Ok(()));
        assert_eq!(
            may_submit(&disabled(user("zed", &[Role::Admin]))),
            denied(Deed::Submit, ForbiddenReason::Disabled)
        );
    }

    #[test]
    fn only_the_author_may_revise() {
        assert_eq!(may_revise(&user(AUTHOR, &[]), AUTHOR), Ok(()));
        for other in [user("bob", &[Role::Reviewer]), user("root", &[Role::Admin])] {
            assert_eq!(
                may_revise(&other, AUTHOR),
                denied(Deed::Revise, ForbiddenReason::NotTheAuthor)
            );
        }
        assert_eq!(
            may_revise(&disabled(user(AUTHOR, &[])), AUTHOR),
            denied(Deed::Revise, ForbiddenReason::Disabled)
        );
    }

    #[test]
    fn the_author_or_an_admin_may_withdraw_and_execute() {
        type Check = fn(&User, &str) -> Result<(), Forbidden>;
        let checks: [(Deed, Check); 3] = [
            (Deed::Withdraw, may_withdraw),
            (Deed::Execute, may_execute),
            (Deed::Revert, may_revert),
        ];
        for (deed, may) in checks {
            assert_eq!(may(&user(AUTHOR, &[]), AUTHOR), Ok(()));
            assert_eq!(may(&user("root", &[Role::Admin]), AUTHOR), Ok(()));
            assert_eq!(
                may(&user("bob", &[Role::Reviewer]), AUTHOR),
                denied(deed, ForbiddenReason::NotTheAuthorOrAdmin)
            );
            assert_eq!(
                may(&disabled(user(AUTHOR, &[])), AUTHOR),
                denied(deed, ForbiddenReason::Disabled)
            );
            assert_eq!(
                may(&disabled(user("root", &[Role::Admin])), AUTHOR),
                denied(deed, ForbiddenReason::Disabled)
            );
        }
    }

    #[test]
    fn production_rows_are_for_the_author_named_reviewers_and_admins() {
        for reader in [
            user(AUTHOR, &[]),
            user("bob", &[Role::Reviewer]),
            user("root", &[Role::Admin]),
        ] {
            assert_eq!(may_read_images(&reader, AUTHOR, &named()), Ok(()));
        }
        assert_eq!(
            may_read_images(&user("zed", &[Role::Reviewer]), AUTHOR, &named()),
            denied(Deed::ReadImages, ForbiddenReason::NotAuthorReviewerOrAdmin)
        );
        assert_eq!(
            may_read_images(&disabled(user("bob", &[])), AUTHOR, &named()),
            denied(Deed::ReadImages, ForbiddenReason::Disabled)
        );
    }

    #[test]
    fn a_named_reviewer_may_review() {
        assert_eq!(
            may_review(&user("bob", &[Role::Reviewer]), AUTHOR, &named()),
            Ok(())
        );
        assert_eq!(
            may_review(
                &user("root", &[Role::Reviewer, Role::Admin]),
                AUTHOR,
                &named()
            ),
            Ok(())
        );
    }

    #[test]
    fn the_author_never_reviews_even_when_named_or_admin() {
        let mut named = named();
        named.push(AUTHOR.into());
        assert_eq!(
            may_review(
                &user(AUTHOR, &[Role::Reviewer, Role::Admin]),
                AUTHOR,
                &named
            ),
            denied(Deed::Review, ForbiddenReason::OwnRequest)
        );
    }

    #[test]
    fn reviewers_and_admins_who_are_not_named_may_not_review() {
        for who in [
            user("carol", &[Role::Reviewer]),
            user("admin", &[Role::Admin, Role::Reviewer]),
        ] {
            assert_eq!(
                may_review(&who, AUTHOR, &named()),
                denied(Deed::Review, ForbiddenReason::NotNamed)
            );
        }
    }

    #[test]
    fn a_named_user_without_the_reviewer_role_may_not_review() {
        assert_eq!(
            may_review(&user("root", &[Role::Admin]), AUTHOR, &named()),
            denied(Deed::Review, ForbiddenReason::NotAReviewer)
        );
    }

    #[test]
    fn a_disabled_named_reviewer_may_not_review() {
        assert_eq!(
            may_review(&disabled(user("bob", &[Role::Reviewer])), AUTHOR, &named()),
            denied(Deed::Review, ForbiddenReason::Disabled)
        );
    }

    #[test]
    fn only_enabled_admins_manage_users() {
        assert_eq!(may_manage_users(&user("root", &[Role::Admin])), Ok(()));
        assert_eq!(
            may_manage_users(&user("bob", &[Role::Reviewer])),
            denied(Deed::ManageUsers, ForbiddenReason::NotAnAdmin)
        );
        assert_eq!(
            may_manage_users(&disabled(user("root", &[Role::Admin]))),
            denied(Deed::ManageUsers, ForbiddenReason::Disabled)
        );
    }

    #[test]
    fn every_enabled_user_may_comment() {
        assert_eq!(may_comment(&user("eve", &[Role::Author])), Ok(()));
        assert_eq!(
            may_comment(&disabled(user("eve", &[Role::Author]))),
            denied(Deed::Comment, ForbiddenReason::Disabled)
        );
    }

    #[test]
    fn refusals_are_sentences() {
        let cases = [
            (
                may_withdraw(&user("bob", &[]), AUTHOR),
                "you may not withdraw this request: only its author or an admin may",
            ),
            (
                may_review(&user(AUTHOR, &[Role::Reviewer]), AUTHOR, &named()),
                "you may not review this request: you are its author, \
                 and nobody reviews their own request",
            ),
            (
                may_manage_users(&disabled(user("root", &[Role::Admin]))),
                "you may not manage users and tokens: your account is disabled",
            ),
        ];
        for (result, message) in cases {
            assert_eq!(result.unwrap_err().to_string(), message);
        }
    }

    #[test]
    fn on_itself_only_named_reviewers_and_admins_rehearse_on_a_copy_everyone() {
        let named = vec!["bob".to_owned()];
        let alice = user("alice", &[Role::Author]);
        let bob = user("bob", &[Role::Reviewer]);
        let carol = user("carol", &[Role::Reviewer]);
        let root = user("root", &[Role::Admin]);
        for (who, on_itself, allowed) in [
            (&alice, true, false),
            (&bob, true, true),
            (&carol, true, false),
            (&root, true, true),
            (&alice, false, true),
            (&carol, false, true),
        ] {
            assert_eq!(
                may_rehearse(who, AUTHOR, &named, on_itself).is_ok(),
                allowed,
                "{} on_itself={on_itself}",
                who.name
            );
        }
        let err = may_rehearse(&alice, AUTHOR, &named, true).expect_err("author");
        assert_eq!(err.reason, ForbiddenReason::NotANamedReviewerOrAdmin);
        let mut gone = bob.clone();
        gone.disabled = true;
        assert_eq!(
            may_rehearse(&gone, AUTHOR, &named, false).map_err(|e| e.reason),
            Err(ForbiddenReason::Disabled)
        );
    }
}
