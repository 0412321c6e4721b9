//! The checks on what people type: a new request, an edit of one, and a review.
//!
//! Only what can be decided from the input alone is here. Whether the reviewers and the target
//! exist, and whether the reviewers hold the reviewer role, the server checks with the store.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Deserializer};

use crate::request::ReviewDecision;
use crate::user::{InvalidUserName, validate_user_name};

/// The largest SQL text accepted, in bytes, unless the server says otherwise
/// (`server.max_sql_bytes`): 4 MiB.
pub const DEFAULT_MAX_SQL_BYTES: usize = 4 * 1024 * 1024;

/// The default limit under its former name, for code that has no server configuration at hand;
/// the server's limit is `server.max_sql_bytes`.
pub const MAX_SQL_BYTES: usize = DEFAULT_MAX_SQL_BYTES;

/// The longest title accepted, in characters.
pub const MAX_TITLE_CHARS: usize = 200;

/// The first character of `text` that no input may hold: NUL and every other control
/// character (C0, DEL, C1), except tab, line feed and carriage return when `multiline`. Such
/// characters forge log lines and terminal output, and PostgreSQL cannot store NUL at all.
pub fn forbidden_char(text: &str, multiline: bool) -> Option<char> {
    text.chars()
        .find(|&c| c.is_control() && !(multiline && matches!(c, '\t' | '\n' | '\r')))
}

/// What an author submits: the body of `POST /api/v1/requests`, and the full content of a
/// revision once an edit is applied. Unknown fields are refused, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRequest {
    pub title: String,
    pub intent: String,
    pub sql: String,
    pub target: String,
    pub reviewers: Vec<String>,
    #[serde(default)]
    pub expected_rows: Option<i64>,
    /// Run without undo where the target requires it (design §11): reviewers see "This
    /// change cannot be undone".
    #[serde(default)]
    pub without_undo: bool,
}

/// One thing wrong with a request; [`FieldError::field`] names the input it is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    #[error("the title is missing: give the request a short title")]
    TitleMissing,
    #[error("the title is {chars} characters long; at most {MAX_TITLE_CHARS} are allowed")]
    TitleTooLong { chars: usize },
    #[error("the intent is missing: say why this change is needed and what it should do")]
    IntentMissing,
    #[error("the SQL is empty: write the statements to run")]
    SqlMissing,
    #[error(
        "the SQL is {bytes} bytes long; at most {max} bytes ({} KiB) are allowed",
        max / 1024
    )]
    SqlTooLarge { bytes: usize, max: usize },
    #[error("the target is missing: choose the database to change")]
    TargetMissing,
    #[error("no reviewer is named: name at least one")]
    NoReviewers,
    #[error("reviewer {name:?} is not a valid user name: {problem}")]
    InvalidReviewer {
        name: String,
        problem: InvalidUserName,
    },
    #[error("reviewer {name:?} is named more than once")]
    DuplicateReviewer { name: String },
    #[error("you are named as a reviewer, but nobody reviews their own request: name others")]
    AuthorAsReviewer,
    #[error("the expected rows cannot be negative, and {value} is")]
    NegativeExpectedRows { value: i64 },
    #[error("{field}: control characters are not allowed (found U+{:04X})", u32::from(*found))]
    ControlCharacter { field: &'static str, found: char },
}

impl FieldError {
    /// The input the error is about, as named in the API (`title`, `sql`, `reviewers` …).
    pub fn field(&self) -> &'static str {
        match self {
            Self::TitleMissing | Self::TitleTooLong { .. } => "title",
            Self::IntentMissing => "intent",
            Self::SqlMissing | Self::SqlTooLarge { .. } => "sql",
            Self::TargetMissing => "target",
            Self::NoReviewers
            | Self::InvalidReviewer { .. }
            | Self::DuplicateReviewer { .. }
            | Self::AuthorAsReviewer => "reviewers",
            Self::NegativeExpectedRows { .. } => "expected_rows",
            Self::ControlCharacter { field, .. } => field,
        }
    }
}

/// Everything wrong with a request, in field order (HTTP 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", ErrorList(errors))]
pub struct InvalidRequest {
    pub errors: Vec<FieldError>,
}

struct ErrorList<'a>(&'a [FieldError]);

impl fmt::Display for ErrorList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl NewRequest {
    /// Checks the request as `author` submits or revises it, reporting every problem at once,
    /// with SQL of at most [`DEFAULT_MAX_SQL_BYTES`].
    pub fn validate(&self, author: &str) -> Result<(), InvalidRequest> {
        self.validate_with_limit(author, DEFAULT_MAX_SQL_BYTES)
    }

    /// [`NewRequest::validate`] with SQL of at most `max_sql_bytes` (the server's setting).
    pub fn validate_with_limit(
        &self,
        author: &str,
        max_sql_bytes: usize,
    ) -> Result<(), InvalidRequest> {
        let mut errors = Vec::new();

        // Titles keep line breaks: existing requests and exports have them, and they are shown
        // escaped. Every other control character is refused.
        for (field, text, multiline) in [
            ("title", &self.title, true),
            ("intent", &self.intent, true),
            ("sql", &self.sql, true),
            ("target", &self.target, false),
        ] {
            if let Some(found) = forbidden_char(text, multiline) {
                errors.push(FieldError::ControlCharacter { field, found });
            }
        }

        if self.title.trim().is_empty() {
            errors.push(FieldError::TitleMissing);
        } else {
            let chars = self.title.chars().count();
            if chars > MAX_TITLE_CHARS {
                errors.push(FieldError::TitleTooLong { chars });
            }
        }

        if self.intent.trim().is_empty() {
            errors.push(FieldError::IntentMissing);
        }

        if self.sql.trim().is_empty() {
            errors.push(FieldError::SqlMissing);
        } else if self.sql.len() > max_sql_bytes {
            errors.push(FieldError::SqlTooLarge {
                bytes: self.sql.len(),
                max: max_sql_bytes,
            });
        }

        if self.target.trim().is_empty() {
            errors.push(FieldError::TargetMissing);
        }

        errors.extend(reviewer_errors(&self.reviewers, author));

        if let Some(value) = self.expected_rows.filter(|&rows| rows < 0) {
            errors.push(FieldError::NegativeExpectedRows { value });
        }

        if errors.is_empty() {
            Ok(())
        } else {
            Err(InvalidRequest { errors })
        }
    }
}

fn reviewer_errors(reviewers: &[String], author: &str) -> Vec<FieldError> {
    if reviewers.is_empty() {
        return vec![FieldError::NoReviewers];
    }
    let mut errors = Vec::new();
    let mut seen = BTreeSet::new();
    let mut repeated = BTreeSet::new();
    for name in reviewers {
        if !seen.insert(name) {
            if repeated.insert(name) {
                errors.push(FieldError::DuplicateReviewer { name: name.clone() });
            }
        } else if let Err(problem) = validate_user_name(name) {
            errors.push(FieldError::InvalidReviewer {
                name: name.clone(),
                problem,
            });
        } else if name == author {
            errors.push(FieldError::AuthorAsReviewer);
        }
    }
    errors
}

/// An edit of a request: the body of `PUT /api/v1/requests/{id}`, where every field is
/// optional. For `expected_rows`, an absent field keeps the current value and `null` clears
/// it. The target cannot be changed: a `target` field, like any unknown one, is refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestEdit {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub intent: Option<String>,
    #[serde(default)]
    pub sql: Option<String>,
    #[serde(default)]
    pub reviewers: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    pub expected_rows: Option<Option<i64>>,
    #[serde(default)]
    pub without_undo: Option<bool>,
}

/// A request with an edit applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edited {
    /// The request's content after the edit; still to be [validated](NewRequest::validate).
    pub request: NewRequest,
    /// Whether the edit changes the SQL, the intent, the set of reviewers or the expected
    /// rows, and so makes a new revision that voids every review (docs/lifecycle.md). A change
    /// of title alone does not.
    pub new_revision: bool,
}

impl RequestEdit {
    /// Applies the edit to the request's current content.
    pub fn apply(self, current: &NewRequest) -> Edited {
        let request = NewRequest {
            title: self.title.unwrap_or_else(|| current.title.clone()),
            intent: self.intent.unwrap_or_else(|| current.intent.clone()),
            sql: self.sql.unwrap_or_else(|| current.sql.clone()),
            target: current.target.clone(),
            reviewers: self.reviewers.unwrap_or_else(|| current.reviewers.clone()),
            expected_rows: self.expected_rows.unwrap_or(current.expected_rows),
            without_undo: self.without_undo.unwrap_or(current.without_undo),
        };
        let new_revision = request.sql != current.sql
            || request.intent != current.intent
            || request.expected_rows != current.expected_rows
            || request.without_undo != current.without_undo
            || !same_set(&request.reviewers, &current.reviewers);
        Edited {
            request,
            new_revision,
        }
    }
}

fn same_set(a: &[String], b: &[String]) -> bool {
    let mut a: Vec<&String> = a.iter().collect();
    let mut b: Vec<&String> = b.iter().collect();
    a.sort_unstable();
    a.dedup();
    b.sort_unstable();
    b.dedup();
    a == b
}

/// Deserializes a field that is present (possibly `null`) as `Some`; with `#[serde(default)]`
/// an absent one stays `None`.
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// A reviewer's decision as posted: the body of `POST /api/v1/requests/{id}/reviews`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewReview {
    pub decision: ReviewDecision,
    #[serde(default)]
    pub comment: String,
    /// The revision the reviewer read.
    pub revision: i64,
}

/// Why a review cannot be recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReviewRefused {
    /// The request changed since the reviewer read it (HTTP 409).
    #[error(
        "you reviewed revision {reviewed}, but the request is now at revision {current}: \
         read the new revision and review it"
    )]
    StaleRevision { reviewed: i64, current: i64 },
    /// A rejection without a comment (HTTP 400).
    #[error("a rejection needs a comment: say what is wrong and what would make it right")]
    CommentRequired,
    /// A comment holding NUL or another control character (HTTP 400).
    #[error("comment: control characters are not allowed (found U+{:04X})", u32::from(*.0))]
    ControlCharacter(char),
}

impl NewReview {
    /// Checks the review against the request's current revision.
    pub fn validate(&self, current_revision: i64) -> Result<(), ReviewRefused> {
        if self.revision != current_revision {
            return Err(ReviewRefused::StaleRevision {
                reviewed: self.revision,
                current: current_revision,
            });
        }
        if self.decision == ReviewDecision::Reject && self.comment.trim().is_empty() {
            return Err(ReviewRefused::CommentRequired);
        }
        if let Some(c) = forbidden_char(&self.comment, true) {
            return Err(ReviewRefused::ControlCharacter(c));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUTHOR: &str = "alice";

    #[test]
    fn control_characters_are_refused_in_every_text_field_but_line_breaks_except_in_the_target() {
        let mut r = valid();
        r.title = "Fix\0it".into();
        r.sql = "UPDATE t SET a = '\0' WHERE id = 1".into();
        r.intent = "Why:\n\tbecause\r\n".into();
        let errors = r.validate(AUTHOR).expect_err("refused").errors;
        let fields: Vec<&str> = errors.iter().map(FieldError::field).collect();
        assert_eq!(fields, ["title", "sql"]);
        assert!(errors[0].to_string().contains("U+0000"), "{}", errors[0]);
        let mut r = valid();
        r.title = "Back\u{8}space".into();
        r.target = "shop\u{1b}".into();
        let fields: Vec<&str> = r
            .validate(AUTHOR)
            .expect_err("refused")
            .errors
            .iter()
            .map(FieldError::field)
            .collect();
        assert_eq!(fields, ["title", "target"]);
        let review = NewReview {
            decision: ReviewDecision::Approve,
            comment: "ok\u{7}".into(),
            revision: 1,
        };
        assert_eq!(
            review.validate(1),
            Err(ReviewRefused::ControlCharacter('\u{7}'))
        );
    }

    #[test]
    fn unknown_fields_are_refused_by_name() {
        let e = serde_json::from_str::<RequestEdit>(r#"{"target": "other"}"#).expect_err("refused");
        assert!(e.to_string().contains("unknown field `target`"), "{e}");
        let e = serde_json::from_str::<NewReview>(
            r#"{"decision": "approve", "revision": 1, "as": "bob"}"#,
        )
        .expect_err("refused");
        assert!(e.to_string().contains("unknown field `as`"), "{e}");
    }

    fn valid() -> NewRequest {
        NewRequest {
            title: "Fix order 42's status".into(),
            intent: "Order 42 was paid but stuck in pending; mark it paid.".into(),
            sql: "UPDATE orders SET status = 'paid' WHERE id = 42".into(),
            target: "production".into(),
            reviewers: vec!["bob".into(), "carol".into()],
            expected_rows: Some(1),
            without_undo: false,
        }
    }

    fn errors_of(request: &NewRequest) -> Vec<FieldError> {
        request.validate(AUTHOR).unwrap_err().errors
    }

    #[test]
    fn a_complete_request_is_valid() {
        assert_eq!(valid().validate(AUTHOR), Ok(()));
        let no_expectation = NewRequest {
            expected_rows: None,
            ..valid()
        };
        assert_eq!(no_expectation.validate(AUTHOR), Ok(()));
        let zero = NewRequest {
            expected_rows: Some(0),
            ..valid()
        };
        assert_eq!(zero.validate(AUTHOR), Ok(()));
    }

    #[test]
    fn blank_title_intent_sql_and_target_are_each_reported() {
        let blank = NewRequest {
            title: " ".into(),
            intent: "\n\t".into(),
            sql: "  ".into(),
            target: String::new(),
            ..valid()
        };
        assert_eq!(
            errors_of(&blank),
            [
                FieldError::TitleMissing,
                FieldError::IntentMissing,
                FieldError::SqlMissing,
                FieldError::TargetMissing,
            ]
        );
    }

    #[test]
    fn the_intent_message_says_what_to_write() {
        let err = NewRequest {
            intent: String::new(),
            ..valid()
        }
        .validate(AUTHOR)
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the intent is missing: say why this change is needed and what it should do"
        );
        assert_eq!(err.errors[0].field(), "intent");
    }

    #[test]
    fn titles_are_limited_in_characters_not_bytes() {
        let at_limit = NewRequest {
            title: "é".repeat(MAX_TITLE_CHARS),
            ..valid()
        };
        assert_eq!(at_limit.validate(AUTHOR), Ok(()));
        let over = NewRequest {
            title: "x".repeat(MAX_TITLE_CHARS + 1),
            ..valid()
        };
        assert_eq!(errors_of(&over), [FieldError::TitleTooLong { chars: 201 }]);
        assert_eq!(
            errors_of(&over)[0].to_string(),
            "the title is 201 characters long; at most 200 are allowed"
        );
    }

    #[test]
    fn sql_is_limited_to_4_mib_unless_the_server_says_otherwise() {
        let at_limit = NewRequest {
            sql: "x".repeat(DEFAULT_MAX_SQL_BYTES),
            ..valid()
        };
        assert_eq!(at_limit.validate(AUTHOR), Ok(()));
        let over = NewRequest {
            sql: "x".repeat(DEFAULT_MAX_SQL_BYTES + 1),
            ..valid()
        };
        let errors = errors_of(&over);
        assert_eq!(
            errors,
            [FieldError::SqlTooLarge {
                bytes: 4_194_305,
                max: DEFAULT_MAX_SQL_BYTES
            }]
        );
        assert_eq!(
            errors[0].to_string(),
            "the SQL is 4194305 bytes long; at most 4194304 bytes (4096 KiB) are allowed"
        );
        assert_eq!(errors[0].field(), "sql");
        let small = NewRequest {
            sql: "x".repeat(1025),
            ..valid()
        };
        let errors = small.validate_with_limit(AUTHOR, 1024).unwrap_err().errors;
        assert_eq!(
            errors[0].to_string(),
            "the SQL is 1025 bytes long; at most 1024 bytes (1 KiB) are allowed"
        );
    }

    #[test]
    fn at_least_one_reviewer_is_needed() {
        let none = NewRequest {
            reviewers: vec![],
            ..valid()
        };
        assert_eq!(errors_of(&none), [FieldError::NoReviewers]);
    }

    #[test]
    fn the_author_is_not_a_reviewer() {
        let own = NewRequest {
            reviewers: vec!["bob".into(), AUTHOR.into(), AUTHOR.into()],
            ..valid()
        };
        assert_eq!(
            errors_of(&own),
            [
                FieldError::AuthorAsReviewer,
                FieldError::DuplicateReviewer {
                    name: AUTHOR.into()
                }
            ]
        );
    }

    #[test]
    fn a_reviewer_is_named_once() {
        let twice = NewRequest {
            reviewers: vec!["bob".into(), "carol".into(), "bob".into(), "bob".into()],
            ..valid()
        };
        assert_eq!(
            errors_of(&twice),
            [FieldError::DuplicateReviewer { name: "bob".into() }]
        );
        assert_eq!(
            errors_of(&twice)[0].to_string(),
            r#"reviewer "bob" is named more than once"#
        );
    }

    #[test]
    fn reviewer_names_must_be_user_names() {
        let bad = NewRequest {
            reviewers: vec!["".into(), "Bob".into()],
            ..valid()
        };
        assert_eq!(
            errors_of(&bad),
            [
                FieldError::InvalidReviewer {
                    name: "".into(),
                    problem: InvalidUserName::Empty
                },
                FieldError::InvalidReviewer {
                    name: "Bob".into(),
                    problem: InvalidUserName::BadCharacter
                },
            ]
        );
    }

    #[test]
    fn expected_rows_are_not_negative() {
        let negative = NewRequest {
            expected_rows: Some(-1),
            ..valid()
        };
        assert_eq!(
            errors_of(&negative),
            [FieldError::NegativeExpectedRows { value: -1 }]
        );
        assert_eq!(errors_of(&negative)[0].field(), "expected_rows");
    }

    #[test]
    fn every_problem_is_reported_at_once_in_one_sentence() {
        let bad = NewRequest {
            title: String::new(),
            reviewers: vec![],
            expected_rows: Some(-5),
            ..valid()
        };
        let err = bad.validate(AUTHOR).unwrap_err();
        let fields: Vec<_> = err.errors.iter().map(FieldError::field).collect();
        assert_eq!(fields, ["title", "reviewers", "expected_rows"]);
        assert_eq!(
            err.to_string(),
            "the title is missing: give the request a short title; \
             no reviewer is named: name at least one; \
             the expected rows cannot be negative, and -5 is"
        );
    }

    #[test]
    fn new_requests_deserialize_from_the_api_body() {
        let request: NewRequest = serde_json::from_str(
            r#"{"title":"t","intent":"i","sql":"s","target":"p","reviewers":["bob"]}"#,
        )
        .unwrap();
        assert_eq!(request.expected_rows, None);
        assert_eq!(request.reviewers, ["bob"]);
    }

    fn edit(json: &str) -> RequestEdit {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn an_edit_changes_only_the_fields_it_names() {
        let edited = edit(r#"{"sql": "DELETE FROM t WHERE id = 1"}"#).apply(&valid());
        assert_eq!(
            edited.request,
            NewRequest {
                sql: "DELETE FROM t WHERE id = 1".into(),
                ..valid()
            }
        );
        assert!(edited.new_revision);
    }

    #[test]
    fn expected_rows_are_kept_when_absent_and_cleared_by_null() {
        assert_eq!(edit("{}").expected_rows, None);
        assert_eq!(edit(r#"{"expected_rows": null}"#).expected_rows, Some(None));
        assert_eq!(edit(r#"{"expected_rows": 3}"#).expected_rows, Some(Some(3)));

        let kept = edit("{}").apply(&valid());
        assert_eq!(kept.request, valid());
        assert!(!kept.new_revision);

        let cleared = edit(r#"{"expected_rows": null}"#).apply(&valid());
        assert_eq!(cleared.request.expected_rows, None);
        assert!(cleared.new_revision);
    }

    #[test]
    fn sql_intent_reviewers_and_expected_rows_make_a_revision_but_a_title_does_not() {
        let makes_revision = [
            r#"{"sql": "UPDATE orders SET status = 'paid' WHERE id = 43"}"#,
            r#"{"intent": "another reason"}"#,
            r#"{"reviewers": ["bob"]}"#,
            r#"{"expected_rows": 2}"#,
        ];
        for json in makes_revision {
            assert!(edit(json).apply(&valid()).new_revision, "{json}");
        }
        let unchanged = [
            r#"{"title": "A better title"}"#,
            r#"{"reviewers": ["carol", "bob"]}"#,
            r#"{"sql": "UPDATE orders SET status = 'paid' WHERE id = 42", "expected_rows": 1}"#,
        ];
        for json in unchanged {
            assert!(!edit(json).apply(&valid()).new_revision, "{json}");
        }
    }

    fn review(decision: ReviewDecision, comment: &str, revision: i64) -> NewReview {
        NewReview {
            decision,
            comment: comment.into(),
            revision,
        }
    }

    #[test]
    fn a_review_of_the_current_revision_is_accepted() {
        assert_eq!(review(ReviewDecision::Approve, "", 2).validate(2), Ok(()));
        assert_eq!(
            review(ReviewDecision::Reject, "wrong table", 2).validate(2),
            Ok(())
        );
    }

    #[test]
    fn a_rejection_needs_a_comment() {
        assert_eq!(
            review(ReviewDecision::Reject, "  ", 2).validate(2),
            Err(ReviewRefused::CommentRequired)
        );
    }

    #[test]
    fn a_review_of_an_older_revision_is_stale() {
        let err = review(ReviewDecision::Approve, "", 1)
            .validate(2)
            .unwrap_err();
        assert_eq!(
            err,
            ReviewRefused::StaleRevision {
                reviewed: 1,
                current: 2
            }
        );
        assert_eq!(
            err.to_string(),
            "you reviewed revision 1, but the request is now at revision 2: \
             read the new revision and review it"
        );
    }

    #[test]
    fn reviews_deserialize_from_the_api_body() {
        let review: NewReview =
            serde_json::from_str(r#"{"decision": "reject", "comment": "no", "revision": 3}"#)
                .unwrap();
        assert_eq!(review.decision, ReviewDecision::Reject);
        assert!(
            serde_json::from_str::<NewReview>(r#"{"decision": "maybe", "revision": 3}"#).is_err()
        );
    }
}
