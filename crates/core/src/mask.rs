//! Masked columns: a target's `mask_columns` (`table.column`, `*` a wildcard, e.g.
//! `customers.email`, `*.password*`), which columns they cover, and what a masked value shows.
//! Pure: whoever shows or stores row values (a rehearsal's samples, undo images) asks here.

/// What a masked value shows, everywhere.
pub const MASKED: &str = "••••";

/// The patterns of a target's `mask_columns`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Masks {
    patterns: Vec<(String, String)>,
}

impl Masks {
    /// Patterns as the configuration spells them: `table.column`, either part with `*`
    /// wildcards; a pattern without a `.` is a column of any table. Matching ignores ASCII
    /// case, as SQL names mostly do.
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Self {
        let patterns = patterns
            .iter()
            .map(|pattern| {
                let pattern = pattern.as_ref().trim().to_ascii_lowercase();
                match pattern.rsplit_once('.') {
                    Some((table, column)) => (table.to_owned(), column.to_owned()),
                    None => ("*".to_owned(), pattern),
                }
            })
            .collect();
        Self { patterns }
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether `column` of `table` is masked. `table` may be qualified (`shop.customers`):
    /// a pattern's table part matches the name as given or its last part.
    pub fn covers(&self, table: &str, column: &str) -> bool {
        let table = table.to_ascii_lowercase();
        let bare = table.rsplit('.').next().unwrap_or(&table).to_owned();
        let column = column.to_ascii_lowercase();
        self.patterns
            .iter()
            .any(|(t, c)| glob(c, &column) && (glob(t, &table) || glob(t, &bare)))
    }
}

/// `*`-wildcard match of `pattern` against all of `text`.
fn glob(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_table_and_column_with_wildcards() {
        let masks = Masks::new(&["customers.email", "*.password*", "ssn"]);
        assert!(masks.covers("customers", "email"));
        assert!(masks.covers("shop.customers", "EMAIL"));
        assert!(!masks.covers("orders", "email"));
        assert!(masks.covers("users", "password_hash"));
        assert!(masks.covers("public.users", "password"));
        assert!(!masks.covers("users", "old_password"));
        assert!(masks.covers("anything", "ssn"));
        assert!(!masks.covers("customers", "name"));
        assert!(Masks::new::<&str>(&[]).is_empty());
    }

    #[test]
    fn glob_is_anchored_at_both_ends() {
        assert!(glob("a*c", "abc"));
        assert!(glob("a*c", "ac"));
        assert!(!glob("a*c", "abcd"));
        assert!(glob("*", ""));
        assert!(glob("*pass*", "my_password"));
        assert!(!glob("pass", "password"));
        assert!(glob("a*b*a", "aba"));
        assert!(!glob("ab*ba", "aba"));
    }
}
