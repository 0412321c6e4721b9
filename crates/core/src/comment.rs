//! A comment in a request's discussion (design §12): plain text of 1 to 10,000 characters,
//! tabs and line breaks allowed, no other control character. Pages escape it like any text.

use serde::Deserialize;

use crate::validation::forbidden_char;

/// The most characters a comment may have.
pub const MAX_COMMENT_CHARS: usize = 10_000;

/// The body of `POST /api/v1/requests/{id}/comments`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewComment {
    pub text: String,
}

/// Why a comment is refused (HTTP 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommentRefused {
    #[error("text: say something (a comment is 1 to 10,000 characters)")]
    Empty,
    #[error("text: at most 10,000 characters (this one has {0})")]
    TooLong(usize),
    #[error("text: control characters are not allowed (found U+{:04X})", u32::from(*.0))]
    ControlCharacter(char),
}

impl NewComment {
    pub fn validate(&self) -> Result<(), CommentRefused> {
        if self.text.trim().is_empty() {
            return Err(CommentRefused::Empty);
        }
        let chars = self.text.chars().count();
        if chars > MAX_COMMENT_CHARS {
            return Err(CommentRefused::TooLong(chars));
        }
        if let Some(c) = forbidden_char(&self.text, true) {
            return Err(CommentRefused::ControlCharacter(c));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comment(text: &str) -> Result<(), CommentRefused> {
        NewComment { text: text.into() }.validate()
    }

    #[test]
    fn one_to_ten_thousand_characters_of_plain_text() {
        assert_eq!(comment("x"), Ok(()));
        assert_eq!(comment("two\nlines\tand a tab"), Ok(()));
        assert_eq!(
            comment(&"é".repeat(MAX_COMMENT_CHARS)),
            Ok(()),
            "characters, not bytes"
        );
        assert_eq!(comment(""), Err(CommentRefused::Empty));
        assert_eq!(comment(" \n "), Err(CommentRefused::Empty));
        assert_eq!(
            comment(&"x".repeat(MAX_COMMENT_CHARS + 1)),
            Err(CommentRefused::TooLong(MAX_COMMENT_CHARS + 1))
        );
        assert_eq!(
            comment("a\u{7}"),
            Err(CommentRefused::ControlCharacter('\u{7}'))
        );
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(serde_json::from_str::<NewComment>(r#"{"text": "x", "author": "eve"}"#).is_err());
    }
}
