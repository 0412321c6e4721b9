//! The whole journey of an edit request in a real browser: Debian's Chromium, driven through
//! chromedriver over W3C WebDriver (by fantoccini), against a real server with a SQLite target.
//! Pages are used as a person uses them: fields found by their labels, buttons and links by
//! their words.
//!
//! Skipped, saying so, when `chromium` or `chromedriver` is not installed — unless
//! `COUNTERSIGN_TEST_BROWSER` is set (CI sets it), which makes a missing browser a failure.
//! With `COUNTERSIGN_SCREENSHOTS=1` the test also writes `docs/screenshots/*.png`.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};

use crate::common::{TestApp, config_for};
use anyhow::{Context, Result, bail, ensure};
use countersign_core::user::Role;
use countersign_store::testing::TestStore;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use sqlx::{Connection, SqliteConnection};

const PW: &str = "a long password";
const TITLE: &str = "Mark every open order paid";
const SQL: &str = "UPDATE orders\nSET status = 'paid'";
const RULE: &str = "update-without-where";
const COMMENT: &str = "Checked with finance: all three are paid.";
const DISCUSSION: &str = "<script>document.title = 'pwned'</script> Are refunds open too?";

/// How long a step waits for the page to show what it expects, and how often it looks.
const WAIT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(100);

const DESKTOP: u32 = 1280;
const PHONE: u32 = 390;
const WINDOW_HEIGHT: u32 = 900;

/// The flags this closed network needs (see the machine notes): no background traffic at all.
const CHROMIUM_ARGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
    "--lang=en-US",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_goes_from_sign_in_to_execution_in_chromium() {
    let Some(tools) = Tools::find() else {
        assert!(
            std::env::var_os("COUNTERSIGN_TEST_BROWSER").is_none(),
            "COUNTERSIGN_TEST_BROWSER is set, but chromium or chromedriver is not installed"
        );
        eprintln!("skipped: chromium/chromedriver not installed");
        return;
    };
    let started = Instant::now();
    let shop = Shop::create().await;
    let db = TestStore::sqlite().await;
    let app = TestApp::start(config_for(&db.url, &shop.target_toml(), &[])).await;
    app.add_user("alice", &[Role::Author], PW).await;
    app.add_user("bob", &[Role::Reviewer], PW).await;
    app.add_user("carol", &[Role::Reviewer], PW).await;

    let browser = Browser::launch(&tools).await.expect("start chromium");
    let shots = Screenshots::from_env();
    if let Err(err) = journey(&browser, &app, &shots).await {
        browser.fail(err).await;
    }
    browser.quit().await;

    assert_eq!(
        shop.statuses().await,
        ["paid", "paid", "paid"],
        "every order is paid after the run"
    );
    app.stop().await;
    db.cleanup().await;
    eprintln!("browser journey took {:.1?}", started.elapsed());
}

/// alice asks, bob approves, alice executes: every step through the pages.
async fn journey(b: &Browser, app: &TestApp, shots: &Screenshots) -> Result<()> {
    b.step("open the sign-in page");
    b.goto(&app.url("/")).await?;
    b.field("User name").await?;
    b.field("Password").await?;
    b.button("Sign in").await?;
    shots.take(b, "sign-in", DESKTOP).await?;

    sign_in(b, "alice").await?;

    b.step("open the new-request form");
    b.link("New request").await?.click().await?;
    b.field("Title").await?;

    b.step("fill in the new-request form");
    b.field("Title").await?.type_text(TITLE).await?;
    b.field("Intent")
        .await?
        .type_text("The bank confirmed payment of every open order in one batch.")
        .await?;
    b.field("SQL").await?.type_text(SQL).await?;
    b.choose("Target", "demo-shop").await?;
    let bob = b.field("bob").await?;
    bob.click().await?;
    ensure!(bob.is_selected().await?, "reviewer bob is not ticked");
    b.field("Expected rows").await?.type_text("3").await?;

    b.step("see the live analysis flag the statement");
    b.wait_for(&format!("the live analysis to name {RULE}"), async || {
        let out = b.try_find("//*[@id='live-analysis']").await?;
        Ok(match out {
            Some(out) => out.text().await?.contains(RULE).then_some(()),
            None => None,
        })
    })
    .await?;
    shots.take(b, "new-request", DESKTOP).await?;

    b.step("submit the request");
    b.button("Submit request").await?.click().await?;
    b.wait_for_status("pending review").await?;

    b.step("see the finding beside its line");
    let row = b
        .find(&format!(
            "//*[normalize-space() = {}]/ancestor::tr[1]",
            lit(RULE)
        ))
        .await?
        .text()
        .await?;
    ensure!(
        row.starts_with('1') && row.contains("UPDATE orders"),
        "the finding is not beside line 1: {row:?}"
    );
    shots.take(b, "request", DESKTOP).await?;

    b.step("see the request page fit a phone's width");
    b.client.set_window_size(PHONE, WINDOW_HEIGHT).await?;
    let overflow = b
        .script("return document.documentElement.scrollWidth - window.innerWidth;")
        .await?;
    ensure!(
        overflow.as_i64() == Some(0),
        "the page is {overflow} px wider than a phone"
    );
    shots.take(b, "request-phone", PHONE).await?;

    sign_out(b).await?;
    sign_in(b, "bob").await?;
    shots.take(b, "dashboard", DESKTOP).await?;
    open_from_dashboard(b, "Waiting for my review").await?;

    b.step("rehearse, and see what the SQL would change");
    b.button("Rehearse").await?.click().await?;
    b.wait_for_text("changes 3 rows").await?;
    let rehearsal = b.section("Rehearsal").await?;
    ensure!(
        rehearsal.contains("done") && rehearsal.contains("→"),
        "rehearsal: {rehearsal:?}"
    );
    shots.take(b, "rehearsal", DESKTOP).await?;

    b.step("approve with a comment");
    b.field("Comment").await?.type_text(COMMENT).await?;
    shots.take(b, "review", DESKTOP).await?;
    b.button("Approve").await?.click().await?;
    b.wait_for_status("approved").await?;

    b.step("discuss: a comment with markup is shown as text, never run");
    b.find(
        "//section[.//h2[normalize-space() = 'Discussion']]\
         //textarea[@id = //label[normalize-space() = 'Comment']/@for]",
    )
    .await?
    .type_text(DISCUSSION)
    .await?;
    b.button("Add comment").await?.click().await?;
    b.wait_for_text(DISCUSSION).await?;
    let discussion = b.section("Discussion").await?;
    ensure!(
        discussion.contains("bob") && discussion.contains(DISCUSSION),
        "discussion: {discussion:?}"
    );
    let title = b.script("return document.title;").await?;
    ensure!(title.as_str() != Some("pwned"), "the comment's script ran");

    sign_out(b).await?;
    sign_in(b, "alice").await?;
    open_from_dashboard(b, "My requests").await?;

    b.step("execute, and confirm");
    b.button("Execute").await?.click().await?;
    b.find("//h1[starts-with(normalize-space(), 'Execute #')]")
        .await?;
    shots.take(b, "confirm-execute", DESKTOP).await?;
    b.button("Execute").await?.click().await?;
    b.wait_for_status("executed").await?;

    b.step("see the run, the approval and the history");
    let execution = b.section("Execution").await?;
    ensure!(
        execution.contains("committed") && execution.contains("3 (expected 3)"),
        "execution: {execution:?}"
    );
    let reviews = b.section("Reviews").await?;
    ensure!(
        reviews.contains("bob approved revision 1") && reviews.contains(COMMENT),
        "reviews: {reviews:?}"
    );
    let history = b.section("History").await?;
    ensure!(
        history.contains("bob review.approved"),
        "history: {history:?}"
    );
    ensure!(
        execution.contains("Undo available: 3 rows"),
        "execution: {execution:?}"
    );
    shots.take(b, "request-executed", DESKTOP).await?;

    b.step("revert the run: a new request that puts the rows back, to be reviewed");
    b.button("Revert").await?.click().await?;
    b.wait_for_text("Reverts").await?;
    b.wait_for_status("pending review").await?;
    let intent = b.section("Intent").await?;
    ensure!(
        intent.contains("restore the 3 row(s)"),
        "the revert's intent: {intent:?}"
    );
    shots.take(b, "revert", DESKTOP).await?;

    b.step("read the audit trail, filtered by actor");
    b.link("Audit").await?.click().await?;
    // The Actor field is the audit page's own (the request's history names these events too).
    let actor = b.field("Actor").await?;
    b.wait_for_text("execution.finished").await?;
    actor.type_text("bob").await?;
    b.button("Filter").await?.click().await?;
    // Wait for the filtered page itself: the unfiltered one shows bob's approval too.
    let events = b
        .wait_for("the events filtered by actor", async || {
            if !b.url().await?.contains("actor=bob") {
                return Ok(None);
            }
            let text = b.page_text().await?;
            // The events follow the table's header row; the action filter's options precede it.
            Ok(text
                .split_once("Details")
                .map(|(_, rows)| rows.to_owned())
                .filter(|rows| rows.contains("review.approved")))
        })
        .await?;
    ensure!(
        !events.contains("execution.finished"),
        "the filter shows only bob's events: {events}"
    );
    b.link("Download CSV").await?;
    shots.take(b, "audit", DESKTOP).await?;
    Ok(())
}

/// Signs in on the sign-in page the browser shows.
async fn sign_in(b: &Browser, user: &str) -> Result<()> {
    b.step(format!("sign in as {user}"));
    b.field("User name").await?.type_text(user).await?;
    b.field("Password").await?.type_text(PW).await?;
    b.button("Sign in").await?.click().await?;
    b.wait_for_text(&format!("Signed in as {user}")).await?;
    b.wait_for_text("Waiting for my review").await
}

async fn sign_out(b: &Browser) -> Result<()> {
    b.step("sign out");
    b.button("Sign out").await?.click().await?;
    b.field("User name").await?;
    Ok(())
}

/// Opens the request from a section of the dashboard, by its title.
async fn open_from_dashboard(b: &Browser, section: &str) -> Result<()> {
    b.step(format!("open the request from {section:?}"));
    b.find(&format!(
        "//section[.//*[self::h1 or self::h2][normalize-space() = {}]]//a[normalize-space() = {}]",
        lit(section),
        lit(TITLE)
    ))
    .await?
    .click()
    .await?;
    b.find(&format!("//h1[contains(., {})]", lit(TITLE)))
        .await?;
    Ok(())
}

/// The target `demo-shop`: a SQLite file with three open orders.
struct Shop {
    url: String,
    _dir: tempfile::TempDir,
}

impl Shop {
    async fn create() -> Shop {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("shop.db").display());
        let mut conn = SqliteConnection::connect(&format!("{url}?mode=rwc"))
            .await
            .expect("target");
        sqlx::raw_sql(
            "CREATE TABLE orders (id INTEGER PRIMARY KEY, status TEXT NOT NULL);
             INSERT INTO orders (id, status) VALUES (1, 'open'), (2, 'open'), (3, 'open');",
        )
        .execute(&mut conn)
        .await
        .expect("orders");
        conn.close().await.expect("close");
        Shop { url, _dir: dir }
    }

    /// One approval suffices at every risk, so the risky statement needs only bob.
    fn target_toml(&self) -> String {
        format!(
            "[[target]]\nname = \"demo-shop\"\ndriver = \"sqlite\"\nurl = \"{}\"\n\
             approvals = {{ low = 1, medium = 1, high = 1 }}\n",
            self.url
        )
    }

    async fn statuses(&self) -> Vec<String> {
        let mut conn = SqliteConnection::connect(&self.url).await.expect("target");
        let statuses = sqlx::query_scalar("SELECT status FROM orders ORDER BY id")
            .fetch_all(&mut conn)
            .await
            .expect("orders");
        conn.close().await.expect("close");
        statuses
    }
}

/// Where Chromium and chromedriver are installed.
struct Tools {
    chromium: PathBuf,
    chromedriver: PathBuf,
}

impl Tools {
    fn find() -> Option<Tools> {
        Some(Tools {
            chromium: installed("chromium")?,
            chromedriver: installed("chromedriver")?,
        })
    }
}

/// `/usr/bin/NAME`, else NAME on the `PATH`.
fn installed(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::iter::once(PathBuf::from("/usr/bin"))
        .chain(std::env::split_paths(&path))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Writes the pages' pictures to `docs/screenshots/` when `COUNTERSIGN_SCREENSHOTS=1`; takes
/// (and checks) them either way, so the test behaves the same with and without.
struct Screenshots {
    dir: Option<PathBuf>,
}

impl Screenshots {
    fn from_env() -> Screenshots {
        let on = std::env::var("COUNTERSIGN_SCREENSHOTS").is_ok_and(|v| v == "1");
        Screenshots {
            dir: on.then(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots")),
        }
    }

    async fn take(&self, b: &Browser, name: &str, width: u32) -> Result<()> {
        let png = b.full_page_screenshot(width).await?;
        ensure!(png.starts_with(b"\x89PNG"), "screenshot {name} is no PNG");
        if let Some(dir) = &self.dir {
            std::fs::create_dir_all(dir)?;
            let file = dir.join(format!("{name}.png"));
            std::fs::write(&file, png).with_context(|| format!("write {}", file.display()))?;
        }
        Ok(())
    }
}

/// chromedriver on a port of its choosing; killed when dropped.
struct Chromedriver {
    child: Child,
    addr: SocketAddr,
}

impl Chromedriver {
    fn start(program: &Path) -> Result<Chromedriver> {
        let mut child = Command::new(program)
            .arg("--port=0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("start {}", program.display()))?;
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        // Reads the port it announces, then drains its output until it exits.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(port) = announced_port(&line) {
                    let _ = tx.send(port);
                }
            }
        });
        // Owned by the guard from here on, so that a failure below still stops it.
        let mut driver = Chromedriver {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let port = rx
            .recv_timeout(WAIT)
            .context("chromedriver did not announce its port")?;
        driver.addr.set_port(port);
        Ok(driver)
    }
}

/// The port of "ChromeDriver was started successfully on port 12345."
fn announced_port(line: &str) -> Option<u16> {
    let rest = line.split("started successfully on port ").nth(1)?;
    rest.trim_end_matches('.').trim().parse().ok()
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One Chromium session, driven by fantoccini. [`Browser::quit`] ends it, which quits
/// Chromium; chromedriver stops when the browser is dropped.
struct Browser {
    client: Client,
    /// The step under way, named in failures.
    step: Mutex<String>,
    _driver: Chromedriver,
    _profile: tempfile::TempDir,
}

/// An element of the current page.
struct Element(fantoccini::elements::Element);

impl Browser {
    async fn launch(tools: &Tools) -> Result<Browser> {
        let driver = Chromedriver::start(&tools.chromedriver)?;
        let profile = tempfile::tempdir()?;
        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|a| a.to_string()).collect();
        args.push(format!("--window-size={DESKTOP},{WINDOW_HEIGHT}"));
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({"binary": tools.chromium, "args": args}),
        );
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://{}", driver.addr))
            .await
            .context("new WebDriver session")?;
        Ok(Browser {
            client,
            step: Mutex::new(String::new()),
            _driver: driver,
            _profile: profile,
        })
    }

    /// Ends the WebDriver session, which quits Chromium (stopping chromedriver alone would
    /// leave it running).
    async fn quit(self) {
        if let Err(e) = self.client.clone().close().await {
            eprintln!("browser: could not end the WebDriver session: {e}");
        }
    }

    /// Names the step under way (and logs it, for the test's output).
    fn step(&self, name: impl Into<String>) {
        let name = name.into();
        eprintln!("browser: {name}");
        *self.step.lock().expect("step") = name;
    }

    /// Fails the test naming the step, with the page it was on and that page's text; the
    /// session is ended first.
    async fn fail(self, err: anyhow::Error) -> ! {
        let step = self.step.lock().expect("step").clone();
        let url = self
            .url()
            .await
            .unwrap_or_else(|e| format!("(no URL: {e:#})"));
        let text = self
            .page_text()
            .await
            .unwrap_or_else(|e| format!("(no text: {e:#})"));
        self.quit().await;
        panic!(
            "browser step {step:?} failed: {err:#}\n--- page {url} ---\n{text}\n--- end of page ---"
        );
    }

    async fn goto(&self, url: &str) -> Result<()> {
        Ok(self.client.goto(url).await?)
    }

    async fn url(&self) -> Result<String> {
        Ok(self.client.current_url().await?.to_string())
    }

    async fn script(&self, body: &str) -> Result<Value> {
        Ok(self.client.execute(body, Vec::new()).await?)
    }

    async fn page_text(&self) -> Result<String> {
        string(
            self.script("return document.body ? document.body.innerText : '';")
                .await?,
        )
    }

    /// The first element matching `xpath` now, if any.
    async fn try_find(&self, xpath: &str) -> Result<Option<Element>> {
        let found = self.client.find_all(Locator::XPath(xpath)).await?;
        Ok(found.into_iter().next().map(Element))
    }

    /// The first element matching `xpath`, waiting for it to appear.
    async fn find(&self, xpath: &str) -> Result<Element> {
        self.wait_for(&format!("an element matching {xpath}"), async || {
            self.try_find(xpath).await
        })
        .await
    }

    /// The form control labelled `label`: by `<label for>` or inside its `<label>`.
    async fn field(&self, label: &str) -> Result<Element> {
        let l = lit(label);
        self.find(&format!(
            "//*[@id = //label[normalize-space() = {l}]/@for] \
             | //label[normalize-space() = {l}]//*[self::input or self::select or self::textarea]"
        ))
        .await
    }

    async fn button(&self, words: &str) -> Result<Element> {
        self.find(&format!("//button[normalize-space() = {}]", lit(words)))
            .await
    }

    async fn link(&self, words: &str) -> Result<Element> {
        self.find(&format!("//a[normalize-space() = {}]", lit(words)))
            .await
    }

    /// Picks the option `words` of the select labelled `label`.
    async fn choose(&self, label: &str, words: &str) -> Result<()> {
        let select = self.field(label).await?;
        let xpath = format!(".//option[normalize-space() = {}]", lit(words));
        let option = select
            .0
            .find_all(Locator::XPath(&xpath))
            .await?
            .into_iter()
            .next()
            .map(Element)
            .with_context(|| format!("{label} offers no {words:?}"))?;
        option.click().await?;
        ensure!(
            option.is_selected().await?,
            "{label}: {words:?} is not selected"
        );
        Ok(())
    }

    /// The text of the section headed `heading`.
    async fn section(&self, heading: &str) -> Result<String> {
        self.find(&format!(
            "//section[.//*[self::h1 or self::h2][normalize-space() = {}]]",
            lit(heading)
        ))
        .await?
        .text()
        .await
    }

    async fn wait_for_text(&self, needle: &str) -> Result<()> {
        self.wait_for(&format!("the text {needle:?}"), async || {
            Ok(self.page_text().await?.contains(needle).then_some(()))
        })
        .await
    }

    /// Waits for the request page's status, in words.
    async fn wait_for_status(&self, words: &str) -> Result<()> {
        self.wait_for(&format!("the status {words:?}"), async || {
            Ok(match self.try_find("//*[@id='status']").await? {
                Some(status) => (status.text().await? == words).then_some(()),
                None => None,
            })
        })
        .await
    }

    /// Polls `probe` until it gives a value, for up to [`WAIT`]. Errors while the page changes
    /// (a stale element, a document mid-load) count as "not yet".
    async fn wait_for<T>(
        &self,
        what: &str,
        mut probe: impl AsyncFnMut() -> Result<Option<T>>,
    ) -> Result<T> {
        let deadline = Instant::now() + WAIT;
        let mut last_error = None;
        loop {
            match probe().await {
                Ok(Some(value)) => return Ok(value),
                Ok(None) => {}
                Err(e) => last_error = Some(e),
            }
            if Instant::now() >= deadline {
                let why = last_error.map(|e| format!(" (last error: {e:#})"));
                bail!("waited {WAIT:?} for {what}{}", why.unwrap_or_default());
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// A PNG of the whole page at `width` CSS pixels: the window grows to the page's height for
    /// the picture, then returns to the desktop size.
    async fn full_page_screenshot(&self, width: u32) -> Result<Vec<u8>> {
        self.client.set_window_size(width, WINDOW_HEIGHT).await?;
        let sizes = self
            .script(
                "return [window.outerHeight - window.innerHeight, \
                 document.documentElement.scrollHeight];",
            )
            .await?;
        let frame = sizes[0].as_u64().context("window frame height")?;
        let page = sizes[1].as_u64().context("page height")?;
        let height = u32::try_from(frame + page)?.clamp(WINDOW_HEIGHT, 8000);
        self.client.set_window_size(width, height).await?;
        let png = self.client.screenshot().await?;
        self.client.set_window_size(DESKTOP, WINDOW_HEIGHT).await?;
        Ok(png)
    }
}

impl Element {
    async fn click(&self) -> Result<()> {
        Ok(self.0.click().await?)
    }

    /// Types `text` as keystrokes; a `\n` in a textarea starts a new line.
    async fn type_text(&self, text: &str) -> Result<()> {
        Ok(self.0.send_keys(text).await?)
    }

    async fn text(&self) -> Result<String> {
        Ok(self.0.text().await?)
    }

    async fn is_selected(&self) -> Result<bool> {
        Ok(self.0.is_selected().await?)
    }
}

fn string(value: Value) -> Result<String> {
    match value {
        Value::String(s) => Ok(s),
        other => bail!("expected a string from WebDriver, got {other}"),
    }
}

/// `s` as an XPath 1.0 string literal (which has no escapes).
fn lit(s: &str) -> String {
    if !s.contains('\'') {
        format!("'{s}'")
    } else if !s.contains('"') {
        format!("\"{s}\"")
    } else {
        let parts: Vec<String> = s.split('\'').map(|p| format!("'{p}'")).collect();
        format!("concat({})", parts.join(", \"'\", "))
    }
}
