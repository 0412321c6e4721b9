//! The submitted text and its positions: turns the tokenizer's 1-based line and column
//! (counted in characters, lines ended by `\n`) into byte offsets, to cut each statement's text.
//!
//! Statements are cut in order, so lookups are served from a cursor that only moves forward;
//! the cost over a whole script is linear in its length, even when it is all on one line.

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
        line_starts.extend(
            text.bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'\n')
                .map(|(i, _)| i + 1),
        );
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
        let Some(&line_start) = usize::try_from(pos.line.saturating_sub(1))
            .ok()
            .and_then(|i| self.line_starts.get(i))
        else {
            return self.text.len();
        };
        let (cursor_pos, cursor_offset) = self.cursor;
        let (from_column, from_offset) = if cursor_pos.line == pos.line && cursor_pos <= pos {
            (cursor_pos.column, cursor_offset)
        } else {
            (1, line_start)
        };
        let mut offset = from_offset;
        let mut column = from_column;
        let rest = self.text.get(from_offset..).unwrap_or_default();
        for (i, c) in rest.char_indices() {
            if column >= pos.column || c == '\n' {
                offset = from_offset + i;
                break;
            }
            column += 1;
            offset = from_offset + i + c.len_utf8();
        }
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn end_of_content_skips_trailing_whitespace() {
        assert_eq!(Source::new("ab\ncd  \n\n").end_of_content(), pos(2, 3));
        assert_eq!(Source::new("").end_of_content(), pos(1, 1));
    }
}
