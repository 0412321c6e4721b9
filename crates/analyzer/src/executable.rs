//! MySQL's executable comments: `/*! … */`, `/*!50000 … */`, and MariaDB's `/*M! … */`,
//! `/*M!100100 … */`. The server runs their text as code although they look like comments, so
//! on the MySQL dialect their inner text is analyzed in place, as tokens of the statement; on
//! every other dialect they stay comments.
//!
//! `sqlparser` expands `/*! … */` itself on its MySQL and generic grammars, but places the
//! inner tokens a few columns too early, drops the closing `*/` from the statement's text and
//! does not know MariaDB's `/*M!`. So the analyzer takes the expansion over:
//! - [`Prepared`] rewrites each `/*!` into `/*` and a marker character of the same length
//!   before tokenizing, so that `sqlparser` sees a plain comment (columns do not move);
//! - [`Prepared::expand`] replaces each executable comment token by the tokens of its inner
//!   text, placed where they are in the submitted text, restores the `!` in strings that
//!   happened to contain `/*!`, and remembers where each executable comment is;
//! - [`Comments`] tells the driver which executable comments a statement holds, and widens the
//!   statement's text to the whole comment when the statement holds all of it, so that the text
//!   the executor runs keeps both `/*!` and `*/`.
//!
//! A `;` inside an executable comment ends a statement, as it does on the server.

use std::borrow::Cow;

use sqlparser::tokenizer::{Location, Span, Token, TokenWithSpan, Tokenizer, Whitespace};

use crate::Dialect;
use crate::source::Pos;

/// The text to tokenize, with `/*!` neutralised where the analyzer expands comments itself.
pub(crate) struct Prepared<'a> {
    pub text: Cow<'a, str>,
    /// The character that replaced the `!` of `/*!`, if any was replaced.
    mark: Option<char>,
    /// Whether executable comments run as code on this dialect.
    runs: bool,
    dialect: Dialect,
}

/// Characters tried as the marker, in order: control characters no script normally holds.
const MARKS: [char; 6] = ['\u{1}', '\u{2}', '\u{3}', '\u{4}', '\u{5}', '\u{6}'];

impl<'a> Prepared<'a> {
    /// Prepares `sql` for tokenizing as `dialect`. Borrows it unchanged unless it holds `/*!`
    /// and the dialect's tokenizer would expand it.
    pub fn new(sql: &'a str, dialect: Dialect) -> Self {
        let runs = dialect == Dialect::Mysql;
        let expands = matches!(dialect, Dialect::Mysql | Dialect::Generic);
        let mut prepared = Prepared {
            text: Cow::Borrowed(sql),
            mark: None,
            runs,
            dialect,
        };
        if !expands || !sql.contains("/*!") {
            return prepared;
        }
        // A marker the text does not already hold; without one, `sqlparser`'s own expansion
        // stays (its positions are a little off, its reading the same).
        if let Some(mark) = MARKS.into_iter().find(|&m| !sql.contains(m)) {
            prepared.text = Cow::Owned(sql.replace("/*!", &format!("/*{mark}")));
            prepared.mark = Some(mark);
        }
        prepared
    }

    /// Whether [`Prepared::expand`] has anything to do: the text holds executable comments
    /// (or strings that look like them).
    pub fn has_work(&self) -> bool {
        self.mark.is_some() || (self.runs && self.text.contains("/*M!"))
    }

    /// Replaces every executable comment in `tokens` by its inner tokens (on the MySQL dialect)
    /// and restores the text of strings the marker touched. Returns where the comments are.
    pub fn expand(&self, tokens: &mut Vec<TokenWithSpan>) -> Comments {
        let mut comments = Comments::default();
        if !self.has_work() {
            return comments;
        }
        let mut expanded = Vec::with_capacity(tokens.len() + 16);
        for mut token in tokens.drain(..) {
            if let Token::Whitespace(Whitespace::MultiLineComment(text)) = &token.token
                && self.runs
                && let Some((prefix, inner)) = self.inner_text(text)
            {
                let open = Pos::from_location(token.span.start).unwrap_or(Pos::START);
                let close_end = Pos::from_location(token.span.end).unwrap_or(open);
                let first = expanded.len();
                let base = Location::new(open.line, open.column + 2 + prefix);
                match Tokenizer::new(self.dialect.parser_dialect(), inner)
                    .with_unescape(false)
                    .tokenize_with_location()
                {
                    Ok(inner_tokens) => {
                        expanded.extend(inner_tokens.into_iter().map(|mut t| {
                            t.span = Span::new(shift(t.span.start, base), shift(t.span.end, base));
                            self.restore(&mut t.token);
                            t
                        }));
                    }
                    // Text the tokenizer cannot read (an unterminated string): the server
                    // refuses it too; keep it a comment, but still say it is code.
                    Err(_) => expanded.push(token.clone()),
                }
                let mut inner = expanded[first..]
                    .iter()
                    .filter(|t| !matches!(t.token, Token::Whitespace(_)));
                let first_pos = inner
                    .clone()
                    .next()
                    .and_then(|t| Pos::from_location(t.span.start));
                let last_end = inner
                    .next_back()
                    .and_then(|t| Pos::from_location(t.span.end));
                if let (Some(first), Some(last_end)) = (first_pos, last_end) {
                    comments.regions.push(Region {
                        open,
                        close_end,
                        first,
                        last_end,
                    });
                } else if expanded.len() > first && expanded[first].span == token.span {
                    // The unreadable comment: it is its own single token.
                    comments.regions.push(Region {
                        open,
                        close_end,
                        first: open,
                        last_end: close_end,
                    });
                }
                continue;
            }
            self.restore(&mut token.token);
            expanded.push(token);
        }
        *tokens = expanded;
        comments
    }

    /// The length of an executable comment's prefix (`!`, `M!`, then version digits) in
    /// characters, and its inner text; `None` for an ordinary comment.
    fn inner_text<'t>(&self, comment: &'t str) -> Option<(u64, &'t str)> {
        let rest = match self.mark {
            Some(mark) if comment.starts_with(mark) => &comment[mark.len_utf8()..],
            _ => comment.strip_prefix("M!")?,
        };
        let inner = rest.trim_start_matches(|c: char| c.is_ascii_digit());
        let prefix = comment.len() - inner.len();
        Some((prefix as u64, inner))
    }

    /// Puts the `!` back where the marker replaced it inside a string or quoted name.
    fn restore(&self, token: &mut Token) {
        let Some(mark) = self.mark else {
            return;
        };
        let text = match token {
            Token::SingleQuotedString(s)
            | Token::DoubleQuotedString(s)
            | Token::NationalStringLiteral(s)
            | Token::EscapedStringLiteral(s)
            | Token::HexStringLiteral(s)
            | Token::SingleQuotedByteStringLiteral(s)
            | Token::DoubleQuotedByteStringLiteral(s) => s,
            Token::DollarQuotedString(s) => &mut s.value,
            Token::Word(word) if word.quote_style.is_some() => &mut word.value,
            _ => return,
        };
        if text.contains(mark) {
            *text = text.replace(mark, "!");
        }
    }
}

/// A location of the inner text (from 1:1) moved to where that text starts, `base`.
fn shift(location: Location, base: Location) -> Location {
    match location.line {
        0 => location,
        1 => Location::new(base.line, base.column + location.column - 1),
        line => Location::new(base.line + line - 1, location.column),
    }
}

/// One executable comment whose inner text holds tokens.
#[derive(Debug, Clone, Copy)]
struct Region {
    /// Where `/*!` starts.
    open: Pos,
    /// Just past the closing `*/`.
    close_end: Pos,
    /// Where its first inner token starts.
    first: Pos,
    /// Where its last inner token ends.
    last_end: Pos,
}

/// The executable comments of a script, in order, read by the driver statement by statement.
#[derive(Debug, Default)]
pub(crate) struct Comments {
    regions: Vec<Region>,
    /// The first region the statements have not passed yet.
    next: usize,
}

/// A statement's extent once executable comments are accounted for.
pub(crate) struct Extent {
    pub start: Pos,
    pub end: Pos,
    /// Where each executable comment the statement holds (part of) starts, or the statement's
    /// start for one opened in the statement before.
    pub comments: Vec<Pos>,
}

impl Comments {
    /// Adds the comments of the next part of the script.
    pub fn append(&mut self, more: Comments) {
        self.regions.extend(more.regions);
    }

    /// The statement from `start` to `end` (its first and last token), widened to take in
    /// whole executable comments it holds all the tokens of, and the comments it touches.
    /// Statements must be asked for in order.
    pub fn statement(&mut self, start: Pos, end: Pos) -> Extent {
        let mut extent = Extent {
            start,
            end,
            comments: Vec::new(),
        };
        while self
            .regions
            .get(self.next)
            .is_some_and(|r| r.last_end <= start)
        {
            self.next += 1;
        }
        for region in self.regions[self.next..]
            .iter()
            .take_while(|r| r.first < end)
        {
            if region.first >= start && region.last_end <= end {
                extent.start = extent.start.min(region.open);
                extent.end = extent.end.max(region.close_end);
            }
            extent.comments.push(region.open.max(extent.start));
        }
        extent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lex(sql: &str, dialect: Dialect) -> (Vec<TokenWithSpan>, Comments) {
        let prepared = Prepared::new(sql, dialect);
        let mut tokens = Tokenizer::new(dialect.parser_dialect(), &prepared.text)
            .with_unescape(false)
            .tokenize_with_location()
            .unwrap();
        let comments = prepared.expand(&mut tokens);
        (tokens, comments)
    }

    fn words(tokens: &[TokenWithSpan]) -> Vec<(String, u64, u64)> {
        tokens
            .iter()
            .filter(|t| !matches!(t.token, Token::Whitespace(_)))
            .map(|t| (t.token.to_string(), t.span.start.line, t.span.start.column))
            .collect()
    }

    #[test]
    fn inner_tokens_sit_where_they_are_written() {
        let (tokens, comments) = lex("SELECT /*!50000 a, */ b", Dialect::Mysql);
        assert_eq!(
            words(&tokens),
            [
                ("SELECT".into(), 1, 1),
                ("a".into(), 1, 17),
                (",".into(), 1, 18),
                ("b".into(), 1, 23)
            ]
        );
        assert_eq!(comments.regions.len(), 1);
        let (tokens, _) = lex("x /*M!100100 y\n z */", Dialect::Mysql);
        assert_eq!(
            words(&tokens),
            [("x".into(), 1, 1), ("y".into(), 1, 14), ("z".into(), 2, 2)]
        );
    }

    #[test]
    fn they_stay_comments_on_other_dialects() {
        for dialect in [Dialect::Postgres, Dialect::Sqlite, Dialect::Generic] {
            let (tokens, comments) = lex("SELECT /*! a, */ /*M! c, */ b", dialect);
            assert_eq!(
                words(&tokens),
                [("SELECT".into(), 1, 1), ("b".into(), 1, 29)],
                "{dialect}"
            );
            assert!(comments.regions.is_empty());
        }
    }

    #[test]
    fn strings_holding_the_opener_keep_their_text() {
        let (tokens, comments) = lex("SELECT '/*!', \"/*!x\", `/*!`", Dialect::Mysql);
        let texts: Vec<_> = words(&tokens).into_iter().map(|w| w.0).collect();
        assert_eq!(texts, ["SELECT", "'/*!'", ",", "\"/*!x\"", ",", "`/*!`"]);
        assert!(comments.regions.is_empty());
    }

    #[test]
    fn statements_take_in_whole_comments_only() {
        let pos = |line, column| Pos { line, column };
        let (_, mut comments) = lex("SELECT 1 /*! ; DELETE FROM t */", Dialect::Mysql);
        // `SELECT 1` holds none of the comment's tokens, `DELETE FROM t` only some.
        assert!(comments.statement(pos(1, 1), pos(1, 9)).comments.is_empty());
        let second = comments.statement(pos(1, 16), pos(1, 29));
        assert_eq!((second.start, second.end), (pos(1, 16), pos(1, 29)));
        assert_eq!(second.comments, [pos(1, 16)]);

        let (_, mut comments) = lex("/*!50000 DELETE FROM t */", Dialect::Mysql);
        let whole = comments.statement(pos(1, 10), pos(1, 23));
        assert_eq!((whole.start, whole.end), (pos(1, 1), pos(1, 26)));
        assert_eq!(whole.comments, [pos(1, 1)]);
    }
}
