//! The dashboard counts the requests waiting for me — in its title and, like every page, in its
//! navigation — all of them, and only those I have yet to review on their current revision.

use countersign_core::user::Role;
use serde_json::json;

use crate::common::{PW, World};

fn title(html: &str) -> &str {
    let start = html.find("<title>").expect("title") + "<title>".len();
    &html[start..start + html[start..].find("</title>").expect("end")]
}

#[tokio::test]
async fn the_count_waiting_for_me_is_in_the_title_and_the_navigation() {
    let w =
        World::new("[[target]]\nname = \"lite\"\ndriver = \"sqlite\"\nurl = \"sqlite::memory:\"\n")
            .await;
    let mut bob = w.app.sign_in("bob", PW).await;
    let html = bob.page("/").await;
    assert_eq!(
        title(&html),
        "Dashboard · Countersign",
        "nothing waiting: no number"
    );
    assert!(html.contains("Waiting for me: 0"));
    let mut ids = Vec::new();
    for i in 0..3 {
        let r = w
            .submit(json!({"title": format!("t{i}"), "intent": "a test edit",
                "sql": "UPDATE t SET v = 1 WHERE id = 1", "target": "lite",
                "reviewers": if i == 2 { json!(["carol"]) } else { json!(["bob", "carol"]) }}))
            .await;
        ids.push(r["id"].as_i64().unwrap());
    }
    let html = bob.page("/").await;
    assert_eq!(title(&html), "(2) Dashboard · Countersign");
    let nav = &html[html.find("<header").unwrap()..html.find("</header>").unwrap()];
    assert!(nav.contains("Waiting for me: 2"), "{nav}");
    // Reviewed by bob: no longer waiting for him.
    w.review("bob", ids[0], "reject", "no", 1).await;
    let html = bob.page("/").await;
    assert_eq!(title(&html), "(1) Dashboard · Countersign");
    let mut carol = w.app.sign_in("carol", PW).await;
    assert_eq!(title(&carol.page("/").await), "(2) Dashboard · Countersign");
    // Every page's navigation says it, not only the dashboard's.
    let nav_of = |html: &str| {
        html[html.find("<header").unwrap()..html.find("</header>").unwrap()].to_owned()
    };
    for path in [
        format!("/requests/{}", ids[1]),
        "/requests/new".to_owned(),
        "/audit".to_owned(),
    ] {
        let html = bob.page(&path).await;
        assert!(
            nav_of(&html).contains("Waiting for me: 1"),
            "{path}: {}",
            nav_of(&html)
        );
        let html = carol.page(&path).await;
        assert!(
            nav_of(&html).contains("Waiting for me: 2"),
            "{path}: {}",
            nav_of(&html)
        );
    }
    w.app
        .add_user("ada", &[Role::Admin, Role::Reviewer], PW)
        .await;
    let mut ada = w.app.sign_in("ada", PW).await;
    assert!(
        nav_of(&ada.page("/admin").await).contains("Waiting for me: 0"),
        "the admin page too"
    );
    w.done().await;
}
