//! The submitted text and its positions: turns the tokenizer's 1-based line and column
//! (counted in characters, lines ended by `\n`) into byte offsets, to cut each statement's text.
//!
//! Statements are cut in order, so lookups are served from a cursor that only moves forward;
//! the cost over a whole script is linear in its length, even when it is all on one line.
//! Columns are counted over the bytes where the text is ASCII (one byte a character), and
//! character by character only where it is not.

use sqlparser::tokenizer::Location;

/// A position in the text: 1-based line and column, as in findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Pos {
    pub line: u64,
    pub column: u64,
}

impl Pos {
    /// The very start of the text.
    pub const START: Pos = Pos { line: 1, column: 1 };

    /// A tokenizer location, or `None` where it is empty (sqlparser's "unknown", 0:0).
    pub fn from_location(location: Location) -> Option<Pos> {
        (location.line > 0 && location.column > 0).then_some(Pos {
            line: location.line,
            column: location.column,
        })
    }
}

/// The script's text with an index of where each line starts.
pub(crate) struct Source<'a> {
    text: &'a str,
    /// Byte offset of the start of each line; `line_starts[0] == 0`.
    line_starts: Vec<usize>,
    /// The last position resolved, and its byte offset.
    cursor: (Pos, usize),
}

impl<'a> Source<'a> {
    pub fn new(text: &'a str) -> Self {
        let mut line_starts = vec![0];
        // `match_indices` of a `char` searches a word at a time, not byte by byte.
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Source {
            text,
            line_starts,
            cursor: (Pos::START, 0),
        }
    }

    pub fn text(&self) -> &'a str {
        self.text
    }

    /// The byte offset of `pos`, clamped to the text (a column past the end of its line gives
    /// the line's end, a line past the last gives the text's end).
    pub fn offset(&mut self, pos: Pos) -> usize {
        let line_index = usize::try_from(pos.line.saturating_sub(1)).unwrap_or(usize::MAX);
        let Some(&line_start) = self.line_starts.get(line_index) else {
            return self.text.len();
        };
        // The line's end: its `\n`, or the end of the text.
        let line_end = self
            .line_starts
            .get(line_index + 1)
            .map_or(self.text.len(), |next| next - 1);
        let (cursor_pos, cursor_offset) = self.cursor;
        let (from_column, from_offset) = if cursor_pos.line == pos.line && cursor_pos <= pos {
            (cursor_pos.column, cursor_offset)
        } else {
            (1, line_start)
        };
        let rest = self.text.get(from_offset..line_end).unwrap_or_default();
        // Column 0 (unknown) is read as column 1.
        let column = pos.column.max(1);
        let offset = from_offset + skip_columns(rest, column.saturating_sub(from_column));
        self.cursor = (
            Pos {
                line: pos.line,
                column,
            },
            offset,
        );
        offset
    }

    /// The text from `start` (inclusive) to `end` (exclusive), or an empty string where the
    /// positions are out of order.
    pub fn slice(&mut self, start: Pos, end: Pos) -> &'a str {
        let from = self.offset(start);
        let to = self.offset(end);
        self.text.get(from..to).unwrap_or_default()
    }

    /// The position just past the last non-whitespace character of the text.
    pub fn end_of_content(&self) -> Pos {
        let trimmed = self.text.trim_end();
        let line = self
            .line_starts
            .partition_point(|&start| start <= trimmed.len())
            .max(1);
        let line_start = self.line_starts.get(line - 1).copied().unwrap_or(0);
        let columns = trimmed.get(line_start..).map_or(0, |s| s.chars().count());
        Pos {
            line: line as u64,
            column: columns as u64 + 1,
        }
    }
}

/// The byte offset in `text` of the character `columns` characters from its start, or the
/// text's length where it has fewer characters than that.
pub(crate) fn skip_columns(text: &str, columns: u64) -> usize {
    let columns = usize::try_from(columns).unwrap_or(usize::MAX);
    match text.as_bytes().get(..columns) {
        // ASCII: one byte a character.
        Some(prefix) if prefix.is_ascii() => columns,
        _ => text
            .char_indices()
            .nth(columns)
            .map_or(text.len(), |(i, _)| i),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The offset of `pos` found without an index or a cursor: a walk over the characters.
    fn offset_by_walking(text: &str, pos: Pos) -> usize {
        let mut rest = text;
        for _ in 1..pos.line {
            match rest.find('\n') {
                Some(i) => rest = &rest[i + 1..],
                None => return text.len(),
            }
        }
        let line_start = text.len() - rest.len();
        for (column, (i, c)) in (1..).zip(rest.char_indices()) {
            if column >= pos.column || c == '\n' {
                return line_start + i;
            }
        }
        text.len()
    }

    proptest! {
        #[test]
        fn offsets_are_those_of_a_walk_over_the_characters(
            text in "[ab\né;]{0,40}",
            positions in prop::collection::vec((0u64..8, 0u64..12), 1..8),
        ) {
            let mut source = Source::new(&text);
            for (line, column) in positions {
                let pos = Pos { line, column };
                prop_assert_eq!(source.offset(pos), offset_by_walking(&text, pos), "{:?}", pos);
            }
        }
    }

    fn pos(line: u64, column: u64) -> Pos {
        Pos { line, column }
    }

    #[test]
    fn offsets_count_columns_in_characters() {
        let mut source = Source::new("é1\nab;c\n");
        assert_eq!(source.offset(pos(1, 1)), 0);
        assert_eq!(source.offset(pos(1, 2)), 2);
        assert_eq!(source.offset(pos(2, 3)), 6);
        assert_eq!(source.slice(pos(2, 1), pos(2, 3)), "ab");
    }

    #[test]
    fn positions_out_of_range_are_clamped() {
        let mut source = Source::new("abc\nde");
        assert_eq!(source.offset(pos(1, 99)), 3);
        assert_eq!(source.offset(pos(9, 1)), 6);
        assert_eq!(source.offset(pos(0, 0)), 0);
        assert_eq!(source.slice(pos(2, 2), pos(1, 1)), "");
    }

    #[test]
    fn lookups_behind_the_cursor_still_work() {
        let mut source = Source::new("select 1; select 2;");
        assert_eq!(source.offset(pos(1, 11)), 10);
        assert_eq!(source.offset(pos(1, 1)), 0);
        assert_eq!(source.slice(pos(1, 11), pos(1, 19)), "select 2");
    }

    #[test]
    fn columns_past_ascii_count_characters() {
        assert_eq!(skip_columns("abc", 2), 2);
        assert_eq!(skip_columns("abc", 9), 3);
        assert_eq!(skip_columns("aé b", 3), 4);
        assert_eq!(skip_columns("aé b", 9), 5);
        let mut source = Source::new("x = 'é'; y\nab");
        assert_eq!(source.slice(pos(1, 1), pos(1, 8)), "x = 'é'");
        assert_eq!(source.slice(pos(1, 10), pos(1, 99)), "y");
        assert_eq!(source.slice(pos(2, 1), pos(2, 3)), "ab");
    }

    #[test]
    fn end_of_content_skips_trailing_whitespace() {
        assert_eq!(Source::new("ab\ncd  \n\n").end_of_content(), pos(2, 3));
        assert_eq!(Source::new("").end_of_content(), pos(1, 1));
    }
}
