//! From text to [`Analysis`]: tokenize (a large script a window at a time), parse one
//! statement at a time, run every rule over each statement in one walk, keep its findings and
//! summary, drop its syntax tree, go on.
//!
//! Statement boundaries and positions come from the token stream, which is exact (sqlparser's
//! AST spans are not: see `docs/rules.md`). Where a statement cannot be parsed, the
//! driver records a `parse-error` and resynchronises at the next `;` outside parentheses, so
//! the statements after it are still analyzed; the token stream knows which `;` are inside
//! strings or comments. Where the text cannot even be tokenized (an unterminated string or
//! comment), everything up to the last such `;` before the fault is analyzed as usual and the
//! rest is one broken statement.

use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Location, Span, Token, TokenWithSpan, Tokenizer, TokenizerError};

use crate::Dialect;
use crate::executable::{Comments, Prepared};
use crate::fallback::Unparsed;
use crate::mysql_forms;
use crate::report::{Analysis, Finding, Risk, Statement, StatementKind};
use crate::rules::{
    self, Cx, ScriptState, empty_script, executable_comment, implicit_commit_mixed,
    multiple_statements, parse_error,
};
use crate::source::{Pos, Source, skip_columns};
use crate::stack::{self, MAX_RUN_TOKENS};
use crate::walk::walk;

/// The most tokens reserved before tokenizing; longer scripts grow the vector as usual.
const MAX_RESERVED_TOKENS: usize = 4 << 20;

/// Scripts longer than this (in bytes) are tokenized a window at a time.
const WINDOWED_ABOVE: usize = 256 << 10;

/// The size of a window, in bytes: large enough that the cost of starting a tokenizer and a
/// parser per window does not show, small enough that its tokens are a small part of the
/// memory of a large script.
const WINDOW: usize = 64 << 10;

/// Analyzes a whole script. Never panics; see the crate documentation.
pub(crate) fn analyze(sql: &str, dialect: Dialect) -> Analysis {
    // `COPY … FROM STDIN` data runs on after its `;`, so a window could cut it.
    let windowed = sql.len() > WINDOWED_ABOVE && !mentions_stdin(sql);
    analyze_in_windows(sql, dialect, if windowed { WINDOW } else { usize::MAX })
}

/// Whether `sql` holds `stdin`, in any case, anywhere. The text is lower-cased a piece at a
/// time into a buffer, so that the search is `str::contains`'s, which tests many bytes at once.
fn mentions_stdin(sql: &str) -> bool {
    const PIECE: usize = 64 << 10;
    let mut lower = String::with_capacity(PIECE + 8);
    let mut start = 0;
    while start < sql.len() {
        let end = sql.ceil_char_boundary(start + PIECE);
        // From 4 bytes before the piece, so that a `stdin` across its start is found too.
        let from = sql.floor_char_boundary(start.saturating_sub(4));
        lower.clear();
        lower.push_str(&sql[from..end]);
        lower.make_ascii_lowercase();
        if lower.contains("stdin") {
            return true;
        }
        start = end;
    }
    false
}

/// Analyzes a script, tokenizing it `window` bytes at a time. The statements of a window are
/// analyzed up to the last one that ends (at a `;`) inside it; the next window starts where
/// the first statement that runs into the window's cut starts. Boundaries are the parser's
/// own, and every token before a `;` token of a window is a token of the whole text (a cut
/// through a string, a comment or a quoted name only ever drops what follows its start), so
/// the analysis is the same as of the whole text at once; memory holds one window's tokens
/// instead of the whole script's. A window in which no statement ends is doubled until one
/// does or it reaches the end of the text.
fn analyze_in_windows(sql: &str, dialect: Dialect, window: usize) -> Analysis {
    let prepared = Prepared::new(sql, dialect);
    // An executable comment can hold a `;`, so a statement can start inside one: a script
    // that has them is read whole.
    let window = if prepared.has_work() {
        usize::MAX
    } else {
        window.max(1)
    };
    let text: &str = &prepared.text;
    let mut driver = Driver::new(sql, dialect);
    let mut offset = 0usize;
    let mut origin = Location::new(1, 1);
    let mut length = window;
    loop {
        let end = text.ceil_char_boundary(offset.saturating_add(length));
        let chunk = &text[offset..end];
        let last = end == text.len();
        // About one token (whitespace included) per three bytes of SQL: reserving that up
        // front saves the copies of a growing vector. Untouched capacity costs no memory.
        let mut tokens = Vec::with_capacity((chunk.len() / 3).min(MAX_RESERVED_TOKENS));
        // Literals stay as written (no unescaping): the rules compare and quote them the way
        // the reviewer reads them, and it saves copying every string that has an escape.
        // Each token is placed in the whole text as it is read.
        let tokenizer_error = Tokenizer::new(dialect.parser_dialect(), chunk)
            .with_unescape(false)
            .tokenize_with_location_into_buf_with_mapper(&mut tokens, |mut token| {
                token.span = Span::new(
                    shift(token.span.start, origin),
                    shift(token.span.end, origin),
                );
                token
            })
            .err();
        driver.comments.append(prepared.expand(&mut tokens));
        if dialect == Dialect::Mysql {
            mysql_forms::double_quoted_strings(&mut tokens);
        }
        // Where the tokens resume after a window that is not the last: just past its last
        // `;` if nothing follows it but whitespace.
        let resume = if last {
            None
        } else {
            tokens
                .iter()
                .rfind(|t| !matches!(t.token, Token::Whitespace(_)))
                .filter(|t| t.token == Token::SemiColon)
                .map(|t| t.span.end)
        };
        let broken_tail = match tokenizer_error {
            Some(mut error) if last => {
                let tail = tokens.split_off(end_of_last_complete_statement(&tokens));
                error.location = shift(error.location, origin);
                Some(BrokenTail {
                    tokens: tail,
                    error,
                })
            }
            _ => None,
        };
        let longest_run = stack::longest_run(&tokens);
        if longest_run > MAX_RUN_TOKENS {
            return refused(
                sql,
                dialect,
                format!(
                    "The script has a statement of more than {MAX_RUN_TOKENS} tokens, too large \
                     for the analyzer to check: split it into smaller statements."
                ),
            );
        }
        let recorded = driver.statements.len();
        let ran = stack::with_stack_for(longest_run, || {
            let deferred = driver.run(tokens, last);
            if let Some(tail) = broken_tail {
                driver.broken(tail);
            }
            deferred
        });
        let Some(deferred) = ran else {
            return refused(
                sql,
                dialect,
                "The analyzer could not get the memory it needs to check this script.".into(),
            );
        };
        if last {
            return driver.finish();
        }
        match deferred.or(resume) {
            Some(next) if driver.statements.len() > recorded => {
                let within = unshift(next, origin);
                offset += byte_offset(chunk, within);
                origin = next;
                length = window;
            }
            // No statement ended inside the window.
            _ => length = length.saturating_mul(2),
        }
    }
}

/// A location in a window that starts at `origin`, as a location in the whole text (the same
/// location where `origin` is the text's start).
fn shift(location: Location, origin: Location) -> Location {
    match location.line {
        0 => location,
        1 => Location::new(origin.line, origin.column + location.column - 1),
        line => Location::new(origin.line + line - 1, location.column),
    }
}

/// A location in the whole text, as a location in the window that starts at `origin`.
fn unshift(location: Location, origin: Location) -> Location {
    if location.line == origin.line {
        Location::new(1, location.column.saturating_sub(origin.column) + 1)
    } else {
        Location::new(
            location.line.saturating_sub(origin.line) + 1,
            location.column,
        )
    }
}

/// The byte offset in `text` of a tokenizer location in it (lines ended by `\n`, columns
/// counted in characters), or the end of the text. A column past a line's `\n` gives the start
/// of the next line; line 0 gives the start of the text.
fn byte_offset(text: &str, location: Location) -> usize {
    if location.line == 0 {
        return 0;
    }
    let mut line_start = 0;
    for _ in 1..location.line {
        match text[line_start..].find('\n') {
            Some(i) => line_start += i + 1,
            None => return text.len(),
        }
    }
    let line = &text[line_start..];
    // The line with its `\n`, which is a column too.
    let line = &line[..line.find('\n').map_or(line.len(), |i| i + 1)];
    line_start + skip_columns(line, location.column.saturating_sub(1))
}

/// The part of the text after the last complete statement, which the tokenizer could not read.
struct BrokenTail {
    tokens: Vec<TokenWithSpan>,
    error: TokenizerError,
}

/// Why a statement could not be parsed, and where.
struct Failure {
    detail: String,
    at: Option<Pos>,
}

impl From<ParserError> for Failure {
    fn from(error: ParserError) -> Self {
        match error {
            ParserError::ParserError(message) | ParserError::TokenizerError(message) => {
                Failure::from_message(&message)
            }
            ParserError::RecursionLimitExceeded => Failure {
                detail: "it is nested too deeply (more than 50 levels)".into(),
                at: None,
            },
        }
    }
}

impl Failure {
    /// Splits sqlparser's `"<message> at Line: N, Column: M"` into message and position.
    fn from_message(message: &str) -> Failure {
        let parsed = message
            .rsplit_once(" at Line: ")
            .and_then(|(detail, position)| {
                let (line, column) = position.split_once(", Column: ")?;
                let at = Pos {
                    line: line.trim().parse().ok()?,
                    column: column.trim().parse().ok()?,
                };
                Some((detail, at))
            });
        match parsed {
            Some((detail, at)) => Failure {
                detail: detail.to_owned(),
                at: Some(at),
            },
            None => Failure {
                detail: message.to_owned(),
                at: None,
            },
        }
    }
}

struct Driver<'a> {
    dialect: Dialect,
    source: Source<'a>,
    statements: Vec<Statement>,
    findings: Vec<Finding>,
    script: ScriptState,
    /// The script's MySQL executable comments, which widen the statements that hold them.
    comments: Comments,
    /// On MySQL, the statements the server commits implicitly (index and start)…
    committing: Vec<(usize, Pos)>,
    /// … and whether there is any other statement.
    others: bool,
}

impl<'a> Driver<'a> {
    fn new(sql: &'a str, dialect: Dialect) -> Self {
        Driver {
            dialect,
            source: Source::new(sql),
            statements: Vec::new(),
            findings: Vec::new(),
            script: ScriptState::default(),
            comments: Comments::default(),
            committing: Vec::new(),
            others: false,
        }
    }

    /// The statement from `start` to `end` widened to the executable comments it holds whole,
    /// with an `executable-comment` finding for each comment it holds any of.
    fn extent(&mut self, start: Pos, end: Pos) -> (Pos, Pos) {
        let extent = self.comments.statement(start, end);
        let mut cx = Cx {
            dialect: self.dialect,
            statement: self.statements.len(),
            start: extent.start,
            anchor: extent.start,
            nested: false,
            script: &self.script,
            findings: &mut self.findings,
        };
        for at in extent.comments {
            executable_comment::report(&mut cx, at);
        }
        (extent.start, extent.end)
    }

    /// Analyzes the statements of `tokens`. Unless they are the `last` of the script, the
    /// statement that runs into their end is not analyzed: its start is returned, to be read
    /// again with the tokens that follow.
    fn run(&mut self, tokens: Vec<TokenWithSpan>, last: bool) -> Option<Location> {
        // A statement that does not parse can have made the parser read a token or two past
        // its `;`: unless these are the last tokens, such a statement is read again with the
        // next ones if its `;` is their last.
        let guard = if last {
            usize::MAX
        } else {
            tokens
                .iter()
                .rposition(|t| t.token == Token::SemiColon)
                .unwrap_or(0)
        };
        let mut parser =
            Parser::new(self.dialect.parser_dialect()).with_tokens_with_locations(tokens);
        loop {
            while parser.consume_token(&Token::SemiColon) {}
            let first = parser.peek_token_ref();
            if first.token == Token::EOF {
                return None;
            }
            let location = first.span.start;
            let start = Pos::from_location(location).unwrap_or(Pos::START);
            let start_index = next_non_whitespace(&parser, parser.index());

            let recorded = match parser.parse_statement() {
                Ok(stmt) => {
                    let next = parser.peek_token_ref();
                    if next.token == Token::EOF && !last {
                        return Some(location);
                    }
                    if matches!(next.token, Token::SemiColon | Token::EOF) {
                        let end = last_token_end(&parser, start_index, parser.index());
                        if self.dialect == Dialect::Mysql {
                            let leading = Unparsed::new(
                                (start_index..parser.index()).map(|i| parser.token_at(i)),
                                self.dialect,
                            );
                            self.note_commit(leading.commits_implicitly());
                        }
                        self.parsed(&stmt, start, end.unwrap_or(start));
                        continue;
                    }
                    let failure = Failure {
                        detail: format!("Expected: end of statement, found: {}", next.token),
                        at: Pos::from_location(next.span.start),
                    };
                    let error_index = next_non_whitespace(&parser, parser.index());
                    drop(stmt);
                    self.failed(&mut parser, start_index, error_index, start, failure, guard)
                }
                Err(error) => {
                    let error_index = parser.get_current_index();
                    self.failed(
                        &mut parser,
                        start_index,
                        error_index,
                        start,
                        error.into(),
                        guard,
                    )
                }
            };
            if !recorded {
                return Some(location);
            }
        }
    }

    /// Notes whether the statement about to be recorded commits implicitly on MySQL.
    fn note_commit(&mut self, commits: bool) {
        if commits {
            // Its start is filled in when it is recorded.
            self.committing.push((self.statements.len(), Pos::START));
        } else {
            self.others = true;
        }
    }

    /// Records a statement that parsed, and runs every rule over it.
    fn parsed(&mut self, stmt: &sqlparser::ast::Statement, start: Pos, end: Pos) {
        let (start, end) = self.extent(start, end);
        let index = self.statements.len();
        let (kind, mut tables) = crate::summary::describe(stmt);
        let cx = Cx {
            dialect: self.dialect,
            statement: index,
            start,
            anchor: start,
            nested: false,
            script: &self.script,
            findings: &mut self.findings,
        };
        let kind = walk(stmt, kind, cx, &mut tables);
        if let Some(created) = crate::summary::created_table(stmt) {
            self.script.created_tables.insert(created.to_lowercase());
        }
        self.push_statement(kind, tables, start, end);
    }

    /// Records a statement that did not parse, moves the parser past it, and runs the rules
    /// that can judge it from its leading keywords.
    /// Records nothing and returns `false` where the statement ends at or after the token at
    /// `guard` (see `run`).
    fn failed(
        &mut self,
        parser: &mut Parser<'_>,
        start_index: usize,
        error_index: usize,
        start: Pos,
        failure: Failure,
        guard: usize,
    ) -> bool {
        // A routine or trigger body (MySQL, SQLite) holds `;`s of its own: end such a
        // statement at the `;` after the `END` that closes its body. Its kind shows before
        // the first `;`.
        let leading = Unparsed::new(
            (start_index..)
                .map(|i| parser.token_at(i))
                .take_while(|t| !matches!(t.token, Token::EOF | Token::SemiColon)),
            self.dialect,
        );
        let blocks = leading.word(0) == Some("CREATE")
            && matches!(
                leading.object(),
                Some("PROCEDURE" | "FUNCTION" | "TRIGGER" | "EVENT")
            );
        let stop = resynchronise(parser, start_index, error_index.max(start_index), blocks);
        if stop >= guard {
            return false;
        }
        let end = last_token_end(parser, start_index, stop).unwrap_or(start);
        if self.dialect == Dialect::Mysql && leading.word(0) == Some("UPDATE") {
            let statement = (start_index..stop).map(|i| parser.token_at(i));
            if let Some(repaired) = mysql_forms::multi_table_update(statement)
                && let Some(stmt) = parse_whole(self.dialect, repaired)
            {
                seek(parser, stop);
                self.note_commit(false);
                self.parsed(&stmt, start, end);
                return true;
            }
        }
        let unparsed = Unparsed::new(
            (start_index..stop).map(|i| parser.token_at(i)),
            self.dialect,
        );
        seek(parser, stop);
        self.unparsed(&unparsed, start, end, failure);
        true
    }

    /// Records the broken end of a script the tokenizer could not read.
    fn broken(&mut self, tail: BrokenTail) {
        let first = tail
            .tokens
            .iter()
            .find(|t| !matches!(t.token, Token::Whitespace(_)));
        let error_at = Pos::from_location(tail.error.location);
        let start = first
            .and_then(|t| Pos::from_location(t.span.start))
            .or(error_at)
            .unwrap_or(Pos::START);
        let end = self.source.end_of_content().max(start);
        let unparsed = Unparsed::new(&tail.tokens, self.dialect);
        let failure = Failure {
            detail: tail.error.message,
            at: error_at,
        };
        self.unparsed(&unparsed, start, end, failure);
    }

    fn unparsed(&mut self, unparsed: &Unparsed, start: Pos, end: Pos, failure: Failure) {
        if self.dialect == Dialect::Mysql {
            self.note_commit(unparsed.commits_implicitly());
        }
        let (start, end) = self.extent(start, end);
        let index = self.statements.len();
        let mut cx = Cx {
            dialect: self.dialect,
            statement: index,
            start,
            anchor: start,
            nested: false,
            script: &self.script,
            findings: &mut self.findings,
        };
        if !unparsed.is_known() {
            parse_error::report(&mut cx, &failure.detail, failure.at);
        }
        rules::check_unparsed(unparsed, &mut cx);
        self.push_statement(unparsed.kind(), Vec::new(), start, end);
    }

    fn push_statement(&mut self, kind: StatementKind, tables: Vec<String>, start: Pos, end: Pos) {
        if let Some(last) = self.committing.last_mut()
            && last.0 == self.statements.len()
        {
            last.1 = start;
        }
        let sql = self.source.slice(start, end).to_owned();
        self.statements.push(Statement {
            index: self.statements.len(),
            kind,
            tables,
            line: start.line,
            column: start.column,
            sql,
        });
    }

    fn finish(mut self) -> Analysis {
        match self.statements.as_slice() {
            [] => empty_script::report(&mut self.findings, self.source.text()),
            [_] => {}
            [first, ..] => multiple_statements::report(
                &mut self.findings,
                self.statements.len(),
                Pos {
                    line: first.line,
                    column: first.column,
                },
            ),
        }
        implicit_commit_mixed::report(&mut self.findings, &self.committing, self.others);
        self.findings
            .sort_by_key(|f| (f.statement, f.line, f.column));
        Analysis {
            dialect: self.dialect,
            risk: Risk::of(&self.findings),
            statements: self.statements,
            findings: self.findings,
        }
    }
}

/// The analysis of a script the analyzer refuses to parse at all.
fn refused(sql: &str, dialect: Dialect, detail: String) -> Analysis {
    let mut source = Source::new(sql);
    let end = source.end_of_content();
    let mut findings = Vec::new();
    let statement = Statement {
        index: 0,
        kind: StatementKind::Other,
        tables: Vec::new(),
        line: 1,
        column: 1,
        sql: source.slice(Pos::START, end).to_owned(),
    };
    let mut cx = Cx {
        dialect,
        statement: 0,
        start: Pos::START,
        anchor: Pos::START,
        nested: false,
        script: &ScriptState::default(),
        findings: &mut findings,
    };
    parse_error::report_unchecked(&mut cx, detail);
    Analysis {
        dialect,
        risk: Risk::of(&findings),
        statements: vec![statement],
        findings,
    }
}

/// The one statement `tokens` make up, if they parse as exactly one.
fn parse_whole(dialect: Dialect, tokens: Vec<TokenWithSpan>) -> Option<sqlparser::ast::Statement> {
    let mut parser = Parser::new(dialect.parser_dialect()).with_tokens_with_locations(tokens);
    let stmt = parser.parse_statement().ok()?;
    while parser.consume_token(&Token::SemiColon) {}
    (parser.peek_token_ref().token == Token::EOF).then_some(stmt)
}

/// The index of the first non-whitespace token at or after `from`.
fn next_non_whitespace(parser: &Parser<'_>, from: usize) -> usize {
    let mut i = from;
    while matches!(parser.token_at(i).token, Token::Whitespace(_)) {
        i += 1;
    }
    i
}

/// Where the last non-whitespace token before `stop` (and at or after `from`) ends: the end of
/// a statement's text, without the comments that follow it.
fn last_token_end(parser: &Parser<'_>, from: usize, stop: usize) -> Option<Pos> {
    (from..stop)
        .rev()
        .map(|i| parser.token_at(i))
        .find(|t| !matches!(t.token, Token::Whitespace(_)))
        .and_then(|t| Pos::from_location(t.span.end))
}

/// Where a statement that failed to parse ends: the first `;` at or after `error_index` that
/// is outside parentheses (counted from the statement's start) and, with `blocks`, outside
/// `BEGIN`/`CASE` … `END` blocks; else the end of the tokens.
fn resynchronise(
    parser: &Parser<'_>,
    start_index: usize,
    error_index: usize,
    blocks: bool,
) -> usize {
    let mut parens = 0usize;
    let mut block = 0usize;
    let mut i = start_index;
    loop {
        match &parser.token_at(i).token {
            Token::EOF => return i,
            Token::LParen | Token::LBracket | Token::LBrace => parens += 1,
            Token::RParen | Token::RBracket | Token::RBrace => parens = parens.saturating_sub(1),
            Token::SemiColon if parens == 0 && block == 0 && i >= error_index => return i,
            Token::Word(word) if blocks && word.quote_style.is_none() => match word.keyword {
                Keyword::BEGIN | Keyword::CASE => block += 1,
                // `END IF`, `END LOOP`, … close blocks that were not counted.
                Keyword::END if !closes_uncounted_block(parser, i) => {
                    block = block.saturating_sub(1);
                }
                _ => {}
            },
            _ => {}
        }
        i += 1;
    }
}

/// Whether the `END` at `index` is followed by `IF`, `LOOP`, `WHILE` or `REPEAT`.
fn closes_uncounted_block(parser: &Parser<'_>, index: usize) -> bool {
    let next = next_non_whitespace(parser, index + 1);
    matches!(
        &parser.token_at(next).token,
        Token::Word(word) if ["IF", "LOOP", "WHILE", "REPEAT"]
            .iter()
            .any(|w| word.quote_style.is_none() && word.value.eq_ignore_ascii_case(w))
    )
}

/// Moves the parser so that its next token is the one at `target`, a non-whitespace token or
/// the end of the tokens.
fn seek(parser: &mut Parser<'_>, target: usize) {
    while parser.index() < target {
        parser.next_token_no_skip();
    }
    while parser.index() > target {
        parser.prev_token();
    }
}

/// The index just past the last `;` outside parentheses, or 0: where the statement that the
/// tokenizer could not finish begins.
fn end_of_last_complete_statement(tokens: &[TokenWithSpan]) -> usize {
    let mut depth = 0usize;
    let mut end = 0;
    for (i, token) in tokens.iter().enumerate() {
        match token.token {
            Token::LParen | Token::LBracket | Token::LBrace => depth += 1,
            Token::RParen | Token::RBracket | Token::RBrace => depth = depth.saturating_sub(1),
            Token::SemiColon if depth == 0 => end = i + 1,
            _ => {}
        }
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// SQL-shaped text: statements, blocks, strings, comments and executable comments.
    fn sql_shaped() -> impl Strategy<Value = String> {
        let piece = prop::sample::select(vec![
            "SELECT",
            "UPDATE",
            "DELETE",
            "FROM",
            "WHERE",
            "SET",
            "t",
            "a",
            "1",
            "=",
            ",",
            "(",
            ")",
            ";",
            ";",
            ";",
            "BEGIN",
            "END",
            "CASE",
            "WHEN",
            "THEN",
            "IF",
            "CREATE",
            "PROCEDURE",
            "p()",
            "TRIGGER",
            "'s;'",
            "'",
            "\"d;\"",
            "`b;`",
            "$$x;$$",
            "-- c;\n",
            "/* c; */",
            "/*",
            "/*! x; */",
            "/*!50000",
            "*/",
            "/*M!",
            "\n",
            "é",
            "COPY",
            "GRANT",
            "ALTER",
            "TABLE",
            "TRUNCATE",
            "PARTITION",
            "p0",
            "WORK",
            "E'\\';'",
            "DO",
            "$$",
            "[",
            "]",
            "::",
            "'it''s;'",
            "\0",
            "?",
            "$1",
            "@v",
            "# c;\n",
            "INSERT",
            "INTO",
            "VALUES",
            "FUNCTION",
            "RETURNS",
            "RETURN",
            "LOOP",
            "STDIN",
            "x'0a'",
        ]);
        prop::collection::vec(piece, 0..120).prop_map(|pieces| pieces.join(" "))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn windows_give_the_same_analysis_as_the_whole_text(
            sql in sql_shaped(),
            window in 1usize..160,
            dialect in prop::sample::select(Dialect::ALL.to_vec()),
        ) {
            let whole = analyze_in_windows(&sql, dialect, usize::MAX);
            let windowed = analyze_in_windows(&sql, dialect, window);
            prop_assert_eq!(whole, windowed);
        }
    }

    /// `byte_offset` as first written: a walk over every character up to the location.
    fn byte_offset_by_walking(text: &str, location: Location) -> usize {
        let (mut line, mut column) = (1, 1);
        for (i, c) in text.char_indices() {
            if (line, column) >= (location.line, location.column) {
                return i;
            }
            if c == '\n' {
                line += 1;
                column = 1;
            } else {
                column += 1;
            }
        }
        text.len()
    }

    proptest! {
        #[test]
        fn byte_offsets_are_those_of_a_walk_over_the_characters(
            text in "[ab\né;]{0,40}",
            line in 0u64..8,
            column in 0u64..12,
        ) {
            let location = Location::new(line, column);
            prop_assert_eq!(
                byte_offset(&text, location),
                byte_offset_by_walking(&text, location)
            );
        }

        #[test]
        fn stdin_is_found_in_any_case(text in "[sStTdDiInN;é]{0,24}") {
            let found = text.as_bytes().windows(5).any(|w| w.eq_ignore_ascii_case(b"stdin"));
            prop_assert_eq!(mentions_stdin(&text), found);
        }
    }

    #[test]
    fn stdin_is_found_across_the_cut_between_two_pieces() {
        for at in (64 << 10) - 6..(64 << 10) + 2 {
            let mut sql = "é".repeat(at / 2);
            sql.truncate(sql.floor_char_boundary(at));
            sql.push_str(&" ".repeat(at - sql.len()));
            sql.push_str("StdIn;");
            assert!(mentions_stdin(&sql), "{at}");
            assert!(!mentions_stdin(&sql.replace("StdIn", "Stdi n")), "{at}");
        }
    }

    #[test]
    fn a_large_script_is_read_in_windows_like_a_small_one() {
        let statement = "UPDATE orders SET note = 'a;b' /* ; */ WHERE id = 1;\n\
                         CREATE TRIGGER tr AFTER INSERT ON t BEGIN UPDATE u SET n = 1; END;\n";
        let sql = statement.repeat(WINDOWED_ABOVE / statement.len() + 10);
        for dialect in Dialect::ALL {
            assert_eq!(
                analyze(&sql, dialect),
                analyze_in_windows(&sql, dialect, usize::MAX),
                "{dialect}"
            );
        }
    }
}
