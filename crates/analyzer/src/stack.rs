//! Stack safety for syntax trees of any depth.
//!
//! `sqlparser` limits its own recursion, but some constructs are built by loops rather than
//! recursion and nest without bound: `1+1+1…`, `x::int::int…`, `a IS NULL IS NULL…`,
//! `SELECT 1 UNION SELECT 1…`, `int[][]…`. Each level costs a stack frame when the tree is
//! dropped (and when it is walked), so a long enough chain overflows any fixed stack — the
//! default 2 MiB of a test or tokio thread overflows near 20,000 levels.
//!
//! Such a chain never crosses a `;` token, so its depth is bounded by the longest run of tokens
//! between two `;`. Scripts whose runs are all short (every realistic one) are analyzed on the
//! caller's stack; others on a scoped thread whose stack is sized for their longest run.
//! A run longer than [`MAX_RUN_TOKENS`] is refused rather than given an unbounded stack.

use sqlparser::tokenizer::{Token, TokenWithSpan};

/// Runs up to this many tokens are analyzed on the caller's stack. At the ~170 bytes per
/// level measured for the worst chains (debug build), that is under 0.5 MiB.
const IN_PLACE_TOKENS: usize = 2_048;

/// Stack budget per token of the longest run: three times the worst measured cost per level,
/// for frames that differ by build profile.
const BYTES_PER_TOKEN: usize = 512;

/// Stack for everything that does not depend on the input's depth.
const BASE_STACK: usize = 4 << 20;

/// The longest run of tokens the analyzer accepts (about 512 MiB of reserved stack, a
/// statement of several megabytes).
pub(crate) const MAX_RUN_TOKENS: usize = 1_000_000;

/// The longest run of non-whitespace tokens not interrupted by a `;`.
pub(crate) fn longest_run(tokens: &[TokenWithSpan]) -> usize {
    let mut longest = 0;
    let mut run = 0;
    for token in tokens {
        match token.token {
            Token::SemiColon => run = 0,
            Token::Whitespace(_) => {}
            _ => {
                run += 1;
                longest = longest.max(run);
            }
        }
    }
    longest
}

/// Runs `work` with a stack deep enough for trees built from runs of `run_tokens` tokens.
/// `None` if a thread with such a stack cannot be had (the system is out of resources).
pub(crate) fn with_stack_for<R: Send>(
    run_tokens: usize,
    work: impl FnOnce() -> R + Send,
) -> Option<R> {
    if run_tokens <= IN_PLACE_TOKENS {
        return Some(work());
    }
    let stack = BASE_STACK.saturating_add(run_tokens.saturating_mul(BYTES_PER_TOKEN));
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("countersign-analyzer".into())
            .stack_size(stack)
            .spawn_scoped(scope, work)
            .ok()?
            .join()
            .ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlparser::dialect::GenericDialect;
    use sqlparser::tokenizer::Tokenizer;

    fn run_of(sql: &str) -> usize {
        let tokens = Tokenizer::new(&GenericDialect {}, sql)
            .tokenize_with_location()
            .unwrap();
        longest_run(&tokens)
    }

    #[test]
    fn runs_are_cut_by_semicolons_and_ignore_whitespace() {
        assert_eq!(run_of(""), 0);
        assert_eq!(run_of("select 1; select a , b"), 4);
        assert_eq!(run_of("a b c ;;; d"), 3);
    }

    #[test]
    fn small_runs_stay_on_the_callers_thread() {
        let here = std::thread::current().id();
        assert_eq!(
            with_stack_for(10, || std::thread::current().id()),
            Some(here)
        );
        assert_ne!(
            with_stack_for(100_000, || std::thread::current().id()),
            Some(here)
        );
    }
}
