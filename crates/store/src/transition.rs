//! The source statuses the store's compare-and-set writes bind, taken from `core::lifecycle`:
//! the store never writes its own copy of the state machine.

use countersign_core::lifecycle::ActionKind;

/// The one status `kind` may start from (`core::lifecycle`), as a compare-and-set binds it.
pub(crate) fn only_source(kind: ActionKind) -> &'static str {
    match kind.allowed_from() {
        [status] => status.as_str(),
        // An action with several sources is bound to the status its caller saw instead; an
        // empty string matches no row, so a mistake here refuses rather than allows.
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_source_actions_bind_their_one_status() {
        assert_eq!(only_source(ActionKind::Review), "pending_review");
        assert_eq!(only_source(ActionKind::ClaimExecution), "approved");
        assert_eq!(only_source(ActionKind::FinishExecution), "executing");
        assert_eq!(
            only_source(ActionKind::Withdraw),
            "",
            "several sources: none bound"
        );
    }
}
