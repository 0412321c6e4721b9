//! Refusing characters that have no business in what people type: NUL and the other control
//! characters, with a 400 that names the field (never a 500 from a store that cannot hold them,
//! never a forged log line).

use countersign_core::validation::forbidden_char;

use crate::error::ApiError;

/// A one-line input (a title, a user name, a filter): no control character at all.
pub fn refuse_control_chars(field: &str, text: &str) -> Result<(), ApiError> {
    check(field, text, false)
}

/// A multi-line input (SQL, an intent, a comment): tabs and line breaks are fine.
pub fn refuse_control_chars_multiline(field: &str, text: &str) -> Result<(), ApiError> {
    check(field, text, true)
}

fn check(field: &str, text: &str, multiline: bool) -> Result<(), ApiError> {
    match forbidden_char(text, multiline) {
        None => Ok(()),
        Some(c) => Err(ApiError::bad_request(format!(
            "{field}: control characters are not allowed (found U+{:04X})",
            u32::from(c)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_refused_naming_the_field() {
        let e = refuse_control_chars("title", "a\0b").expect_err("NUL");
        assert_eq!(e.status, axum::http::StatusCode::BAD_REQUEST);
        assert!(e.message.starts_with("title:"), "{}", e.message);
        assert!(e.message.contains("U+0000"), "{}", e.message);
        assert!(refuse_control_chars("username", "eve\nINFO forged").is_err());
        assert!(refuse_control_chars("username", "eve\u{1b}[2J").is_err());
        assert!(refuse_control_chars("username", "eve\u{85}").is_err());
        assert!(refuse_control_chars("title", "Ünïcode is fine — 🙂").is_ok());
        assert!(refuse_control_chars("title", "tab\there").is_err());
        assert!(refuse_control_chars_multiline("sql", "SELECT 1;\r\n\tSELECT 2").is_ok());
        assert!(refuse_control_chars_multiline("sql", "SELECT '\0'").is_err());
        assert!(refuse_control_chars_multiline("sql", "SELECT '\u{7f}'").is_err());
    }
}
