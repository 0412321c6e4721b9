//! A user's email address (design §12), as `countersign user add --email`, `user email` and the
//! admin page take it: one `@`, something on each side, no spaces or control characters, at
//! most 254 characters. Whether mail arrives is the SMTP server's to say.

/// The longest address SMTP carries.
pub const MAX_EMAIL_CHARS: usize = 254;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an email address such as bob@example.com")]
pub struct InvalidEmail(pub String);

/// `address`, trimmed, if it is one.
pub fn validate_email(address: &str) -> Result<String, InvalidEmail> {
    let a = address.trim();
    let ok = a.chars().count() <= MAX_EMAIL_CHARS
        && !a
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';'))
        && matches!(a.split_once('@'), Some((local, domain))
            if !local.is_empty() && !domain.is_empty() && !domain.contains('@'));
    if ok {
        Ok(a.to_owned())
    } else {
        Err(InvalidEmail(a.chars().take(80).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_checked() {
        assert_eq!(
            validate_email(" bob@example.com "),
            Ok("bob@example.com".into())
        );
        for bad in [
            "",
            "bob",
            "@example.com",
            "bob@",
            "a@b@c",
            "bob @x.org",
            "b\u{7}@x.org",
            "Bob <b@x.org>",
        ] {
            assert!(validate_email(bad).is_err(), "{bad:?}");
        }
    }
}
