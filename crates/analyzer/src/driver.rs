//! From text to [`Analysis`]: tokenize once, parse one statement at a time, run every rule over
//! each statement in one walk, keep its findings and summary, drop its syntax tree, go on.
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
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer, TokenizerError};

use crate::Dialect;
use crate::executable::{Comments, Prepared};
use crate::fallback::Unparsed;
use crate::mysql_forms;
use crate::report::{Analysis, Finding, Risk, Statement, StatementKind};
use crate::rules::{
    self, Cx, ScriptState, empty_script, executable_comment, implicit_commit_mixed,
    multiple_statements, parse_error,
};
use crate::source::{Pos, Source};
use crate::stack::{self, MAX_RUN_TOKENS};
use crate::walk::walk;

/// The most tokens reserved before tokenizing; longer scripts grow the vector as usual.
const MAX_RESERVED_TOKENS: usize = 4 << 20;

/// Analyzes a whole script. Never panics; see the crate documentation.
pub(crate) fn analyze(sql: &str, dialect: Dialect) -> Analysis {
    // About one token (whitespace included) per three bytes of SQL: reserving that up front
    // saves the copies of a growing vector. Untouched capacity costs no memory.
    let mut tokens = Vec::with_capacity((sql.len() / 3).min(MAX_RESERVED_TOKENS));
    let prepared = Prepared::new(sql, dialect);
    // Literals stay as written (no unescaping): the rules compare and quote them the way the
    // reviewer reads them, and it saves copying every string that has an escape.
    let tokenizer_error = Tokenizer::new(dialect.parser_dialect(), &prepared.text)
        .with_unescape(false)
        .tokenize_with_location_into_buf(&mut tokens)
        .err();
    let comments = prepared.expand(&mut tokens);
    drop(prepared);
    if dialect == Dialect::Mysql {
        mysql_forms::double_quoted_strings(&mut tokens);
    }
    let broken_tail = tokenizer_error.map(|error| {
        let tail = tokens.split_off(end_of_last_complete_statement(&tokens));
        BrokenTail {
            tokens: tail,
            error,
        }
    });

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
    stack::with_stack_for(longest_run, || {
        Driver::new(sql, dialect, comments).run(tokens, broken_tail)
    })
    .unwrap_or_else(|| {
        refused(
            sql,
            dialect,
            "The analyzer could not get the memory it needs to check this script.".into(),
        )
    })
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
    fn new(sql: &'a str, dialect: Dialect, comments: Comments) -> Self {
        Driver {
            dialect,
            source: Source::new(sql),
            statements: Vec::new(),
            findings: Vec::new(),
            script: ScriptState::default(),
            comments,
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

    fn run(mut self, tokens: Vec<TokenWithSpan>, broken_tail: Option<BrokenTail>) -> Analysis {
        let mut parser =
            Parser::new(self.dialect.parser_dialect()).with_tokens_with_locations(tokens);
        loop {
            while parser.consume_token(&Token::SemiColon) {}
            let first = parser.peek_token_ref();
            if first.token == Token::EOF {
                break;
            }
            let start = Pos::from_location(first.span.start).unwrap_or(Pos::START);
            let start_index = next_non_whitespace(&parser, parser.index());

            match parser.parse_statement() {
                Ok(stmt) => {
                    let next = parser.peek_token_ref();
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
                    self.failed(&mut parser, start_index, error_index, start, failure);
                }
                Err(error) => {
                    let error_index = parser.get_current_index();
                    self.failed(&mut parser, start_index, error_index, start, error.into());
                }
            }
        }
        if let Some(tail) = broken_tail {
            self.broken(tail);
        }
        self.finish()
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
    fn failed(
        &mut self,
        parser: &mut Parser<'_>,
        start_index: usize,
        error_index: usize,
        start: Pos,
        failure: Failure,
    ) {
        // A routine or trigger body (MySQL, SQLite) holds `;`s of its own: end such a
        // statement at the `;` after the `END` that closes its body.
        let leading = Unparsed::new(
            (start_index..)
                .map(|i| parser.token_at(i))
                .take_while(|t| t.token != Token::EOF),
            self.dialect,
        );
        let blocks = leading.word(0) == Some("CREATE")
            && matches!(
                leading.object(),
                Some("PROCEDURE" | "FUNCTION" | "TRIGGER" | "EVENT")
            );
        let stop = resynchronise(parser, start_index, error_index.max(start_index), blocks);
        let end = last_token_end(parser, start_index, stop).unwrap_or(start);
        if self.dialect == Dialect::Mysql && leading.word(0) == Some("UPDATE") {
            let statement = (start_index..stop).map(|i| parser.token_at(i));
            if let Some(repaired) = mysql_forms::multi_table_update(statement)
                && let Some(stmt) = parse_whole(self.dialect, repaired)
            {
                seek(parser, stop);
                self.note_commit(false);
                self.parsed(&stmt, start, end);
                return;
            }
        }
        let unparsed = Unparsed::new(
            (start_index..stop).map(|i| parser.token_at(i)),
            self.dialect,
        );
        seek(parser, stop);
        self.unparsed(&unparsed, start, end, failure);
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
