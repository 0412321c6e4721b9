//! `docs/rules.md` is generated from the rule catalogue in code; this test fails when the
//! committed file is stale, and writes the fresh one for the commit (rust-analyzer's way).

use std::path::Path;

#[test]
fn docs_rules_md_is_generated_from_the_catalogue() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/rules.md");
    let fresh = countersign_analyzer::catalogue::markdown();
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != fresh {
        std::fs::write(&path, &fresh).expect("write docs/rules.md");
        panic!(
            "docs/rules.md was stale and has been regenerated from the rule catalogue; \
             review and commit it"
        );
    }
}
