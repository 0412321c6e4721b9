//! Large scripts (issue 18): SQL up to `server.max_sql_bytes` (4 MiB by default) goes through
//! the API and the pages — submitted, reviewed, executed — and the request page shows it a
//! window of lines at a time, findings beside their lines, instead of one page of 90,000 rows.

use crate::common::{Backend, PW, World, error_code, hidden_csrf};
use reqwest::{StatusCode, header};
use serde_json::json;

const MIB: usize = 1024 * 1024;

/// Single-row updates of `table` (rows 1..=100) up to just under `bytes`, with one UPDATE
/// without WHERE (a finding) at statement `flagged`; returns the script and its line count.
fn script(table: &str, bytes: usize, flagged: usize) -> (String, usize) {
    let mut sql = String::with_capacity(bytes);
    let mut lines = 0;
    loop {
        let line = if lines + 1 == flagged {
            format!("UPDATE {table} SET v = v + 1;\n")
        } else {
            format!(
                "UPDATE {table} SET v = v + 1 WHERE id = {};\n",
                lines % 100 + 1
            )
        };
        if sql.len() + line.len() > bytes {
            return (sql, lines);
        }
        sql.push_str(&line);
        lines += 1;
    }
}

#[tokio::test]
async fn a_4_mib_script_is_submitted_reviewed_executed_and_paged() {
    let b = Backend::sqlite();
    b.create_accounts(100).await;
    let w = World::new(&b.target_toml("")).await;
    let (sql, lines) = script(&b.table, 4 * MIB, 60_000);
    assert!(
        sql.len() > 4 * MIB - 100 && lines > 60_000,
        "{} bytes",
        sql.len()
    );

    // Through the API: 4 MiB is accepted, one byte more is not.
    let body = |sql: &str| {
        json!({"title": "Big fix", "intent": "a large generated fix", "sql": sql,
               "target": b.name, "reviewers": ["bob", "carol"]})
    };
    let too_big = format!("{sql}{}", "-".repeat(4 * MIB - sql.len() + 1));
    let res = w.post("alice", "/api/v1/requests", body(&too_big)).await;
    assert_eq!(
        error_code(res).await,
        (StatusCode::BAD_REQUEST, "bad_request".into())
    );
    let request = w.submit(body(&sql)).await;
    let id = request["id"].as_i64().expect("id");
    assert_eq!(request["sql"].as_str().map(str::len), Some(sql.len()));
    assert_eq!(
        request["analysis"]["statements"].as_array().map(Vec::len),
        Some(lines)
    );

    // The request page: one window of lines, with the way to the others and to the finding.
    let mut bob = w.app.sign_in("bob", PW).await;
    let path = format!("/requests/{id}");
    let page = bob.page(&path).await;
    assert!(page.len() < 512 * 1024, "the page is {} bytes", page.len());
    assert!(
        page.contains(&format!("Lines 1–500 of {}", lines + 1)),
        "the window is named"
    );
    assert!(page.contains(&format!("href=\"{path}?lines=501#sql\">Next lines</a>")));
    assert!(page.contains(&format!(
        "href=\"{path}?lines=59501#sql\">lines 59501–60000 (1)</a>"
    )));
    assert!(
        !page.contains("update-without-where</code>"),
        "the finding is not in this window"
    );
    let window = bob.page(&format!("{path}?lines=59501")).await;
    assert!(window.contains(&format!("Lines 59501–60000 of {}", lines + 1)));
    let row = window
        .split("<tr id=\"L60000\"")
        .nth(1)
        .expect("line 60000 is shown");
    let row = &row[..row.find("</tr>").expect("row end")];
    assert!(
        row.contains("update-without-where"),
        "the finding is beside its line: {row}"
    );

    // Reviewed through the page, executed through the API.
    for who in ["bob", "carol"] {
        let mut reviewer = w.app.sign_in(who, PW).await;
        let csrf = hidden_csrf(&reviewer.page(&path).await).expect("csrf");
        let res = reviewer
            .post_form(
                &format!("{path}/review"),
                &[
                    ("csrf_token", &csrf),
                    ("decision", "approve"),
                    ("revision", "1"),
                    ("comment", ""),
                ],
            )
            .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{who}");
        let _ = reviewer.absorb(res).await;
    }
    let (status, run) = w.execute("alice", id).await;
    assert_eq!(status, StatusCode::OK, "{run}");
    assert_eq!(run["status"], "executed", "{run}");
    assert_eq!(run["execution"]["outcome"], "committed");
    // Every row got one update per statement naming it, and one from the statement without WHERE.
    let values = b.values().await;
    assert_eq!(values.iter().sum::<i64>(), (lines - 1 + 100) as i64);

    // Through the page's form: a 4 MiB script URL-encoded is a larger body, still accepted.
    let mut alice = w.app.sign_in("alice", PW).await;
    let csrf = hidden_csrf(&alice.page("/requests/new").await).expect("csrf");
    let target = b.name.to_owned();
    let res = alice
        .post_form(
            "/requests",
            &[
                ("csrf_token", csrf.as_str()),
                ("title", "Big fix again"),
                ("intent", "the same, through the form"),
                ("sql", sql.as_str()),
                ("target", target.as_str()),
                ("reviewers", "bob"),
                ("expected_rows", ""),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let location = res.headers()[header::LOCATION]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert_eq!(location, format!("/requests/{}", id + 1));
    w.done().await;
}

#[tokio::test]
async fn max_sql_bytes_sets_the_limit() {
    let w = World::new(
        "[server]\nmax_sql_bytes = \"1KiB\"\n[[target]]\nname = \"shop\"\ndriver = \"sqlite\"\nurl = \"sqlite://unused.db\"\n",
    )
    .await;
    let body = |sql: String| json!({"title": "t", "intent": "i", "sql": sql, "target": "shop", "reviewers": ["bob"]});
    let res = w
        .post(
            "alice",
            "/api/v1/requests",
            body(format!("SELECT 1;{}", " ".repeat(1100))),
        )
        .await;
    let status = res.status();
    let text = res.text().await.expect("body");
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.contains("at most 1024 bytes (1 KiB)"), "{text}");
    let res = w
        .post("alice", "/api/v1/analyze", json!({"sql": "x".repeat(1025)}))
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    w.submit(body("SELECT 1;".into())).await;
    w.done().await;
}
