//! The browser suite: scenarios that drive Debian's headless Chromium through chromedriver (W3C
//! WebDriver, with the `fantoccini` client) against a spawned server, the way a person uses Portal.
//! Each scenario starts its own chromedriver on a free port; each browser context is its own
//! WebDriver session with a fresh profile directory, so contexts share no cookies. Every screen a
//! scenario visits is saved as a PNG under `target/screenshots/<scenario>/NN-<context>-<name>.png`.
//!
//! Without `chromium` and `chromedriver` on this machine the scenarios skip with a printed reason;
//! under `CI=true` they fail. They run on SQLite only: what they prove is the page in a browser,
//! and every server path they touch is covered on both backends by the HTTP-level tests. At most
//! [`BROWSER_SLOTS`] browsers run at once in the whole test process, since CI has two cores.

mod branding;
mod invites;
mod keyboard;
mod live;
mod navigation;
mod passkeys;
mod sessions;

use crate::helpers::{PASSWORD, TestApp, skip_or_fail};
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::elements::{Element, ElementRef};
use fantoccini::key::Key;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long a browser step may take on a loaded two-core machine before the scenario fails.
pub const BROWSER_DEADLINE: Duration = Duration::from_secs(30);
/// How often a wait looks at the page again.
const POLL: Duration = Duration::from_millis(50);
/// Browsers that may run at once in the test process.
const BROWSER_SLOTS: usize = 3;
/// The flags every browser starts with (plus its own `--user-data-dir`).
const CHROMIUM_FLAGS: [&str; 9] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    // Containers often have a tiny /dev/shm; Chromium then crashes without this.
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
];
/// The key under which WebDriver serializes a DOM element.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

fn slots() -> Arc<Semaphore> {
    static SLOTS: std::sync::OnceLock<Arc<Semaphore>> = std::sync::OnceLock::new();
    SLOTS
        .get_or_init(|| Arc::new(Semaphore::new(BROWSER_SLOTS)))
        .clone()
}

/// An executable on `PATH` (or the path in `env_var`), if there is one.
fn find_program(env_var: &str, names: &[&str]) -> Option<PathBuf> {
    if let Ok(p) = std::env::var(env_var)
        && !p.is_empty()
    {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

/// `target/` of this checkout (or `CARGO_TARGET_DIR`).
fn target_dir() -> PathBuf {
    std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}

/// One chromedriver process, in its own process group so that the browsers it starts die with it.
struct Chromedriver {
    url: String,
    pid: u32,
    _child: tokio::process::Child,
}

impl Chromedriver {
    async fn start(program: &Path) -> Self {
        let mut child = tokio::process::Command::new(program)
            .arg("--port=0")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .expect("start chromedriver");
        let pid = child.id().expect("chromedriver pid");
        let stdout = child.stdout.take().expect("chromedriver stdout");
        let mut lines = BufReader::new(stdout).lines();
        // "ChromeDriver was started successfully on port 12345."
        let port = tokio::time::timeout(BROWSER_DEADLINE, async {
            while let Some(line) = lines.next_line().await.expect("read chromedriver output") {
                if let Some(rest) = line.split("on port ").nth(1)
                    && line.contains("started successfully")
                {
                    return rest.trim_end_matches('.').trim().parse::<u16>().ok();
                }
            }
            None
        })
        .await
        .expect("chromedriver starts before the deadline")
        .expect("chromedriver says which port it listens on");
        // Keep reading its output so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let until = tokio::time::Instant::now() + BROWSER_DEADLINE;
        loop {
            let ready = http
                .get(format!("{url}/status"))
                .send()
                .await
                .ok()
                .map(|r| r.json::<Value>());
            if let Some(body) = ready
                && let Ok(body) = body.await
                && body["value"]["ready"] == true
            {
                break;
            }
            assert!(
                tokio::time::Instant::now() < until,
                "chromedriver at {url} was not ready before the deadline"
            );
            tokio::time::sleep(POLL).await;
        }
        Self {
            url,
            pid,
            _child: child,
        }
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        // The whole group: chromedriver and every browser it started (a scenario that failed
        // half-way never closed its sessions).
        if let Ok(group) = i32::try_from(self.pid) {
            // SAFETY: kill(2) with a negative pid signals that process group; no memory is shared.
            unsafe {
                libc::kill(-group, libc::SIGKILL);
            }
        }
    }
}

/// One scenario: its server, its chromedriver, its screenshot folder and its browser slots.
pub struct Scenario {
    pub app: TestApp,
    driver: Chromedriver,
    chromium: PathBuf,
    shots: Arc<Shots>,
    _slots: OwnedSemaphorePermit,
}

/// Where a scenario's screenshots go, numbered in the order they were taken.
struct Shots {
    dir: PathBuf,
    next: AtomicUsize,
}

impl Scenario {
    /// Starts a scenario named `name` on `app` that uses up to `browsers` browser contexts at
    /// once, or `None` (skip, or fail under CI) when Chromium or chromedriver is missing here.
    pub async fn start(name: &'static str, app: TestApp, browsers: usize) -> Option<Self> {
        let chromium = find_program("PORTAL_TEST_CHROMIUM", &["chromium", "chromium-browser"]);
        let chromedriver = find_program("PORTAL_TEST_CHROMEDRIVER", &["chromedriver"]);
        let (Some(chromium), Some(chromedriver)) = (chromium, chromedriver) else {
            return skip_or_fail(
                "chromium and chromedriver are not installed (apt-get install chromium chromium-driver)",
            );
        };
        let slots = slots()
            .acquire_many_owned(browsers.min(BROWSER_SLOTS) as u32)
            .await
            .expect("browser slots");
        let dir = target_dir().join("screenshots").join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("screenshot folder");
        let driver = Chromedriver::start(&chromedriver).await;
        Some(Self {
            app,
            driver,
            chromium,
            shots: Arc::new(Shots {
                dir,
                next: AtomicUsize::new(1),
            }),
            _slots: slots,
        })
    }

    /// A new browser context (its own session and profile), called `context` in screenshot names.
    pub async fn browser(&self, context: &str) -> Browser {
        let profile = tempfile::tempdir().expect("profile directory");
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|f| f.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({ "binary": self.chromium, "args": args }),
        );
        caps.insert("unhandledPromptBehavior".into(), json!("dismiss"));
        // Test peers serve https from loopback with self-signed certificates (the branding logo).
        caps.insert("acceptInsecureCerts".into(), json!(true));
        let client = tokio::time::timeout(
            BROWSER_DEADLINE,
            ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(caps)
                .connect(&self.driver.url),
        )
        .await
        .expect("the browser starts before the deadline")
        .expect("a WebDriver session");
        Browser {
            client,
            base: self.app.base.clone(),
            context: context.to_string(),
            shots: self.shots.clone(),
            _profile: profile,
        }
    }

    /// A browser signed in through the demo app as `email` (see [`Browser::sign_in_via_demo`]).
    pub async fn signed_in(&self, context: &str, email: &str) -> Browser {
        let browser = self.browser(context).await;
        browser.sign_in_via_demo(email, PASSWORD).await;
        browser
    }
}

/// One browser context, with small steps that read like what a person does.
pub struct Browser {
    pub client: Client,
    base: String,
    context: String,
    shots: Arc<Shots>,
    _profile: tempfile::TempDir,
}

/// A WebDriver command chromedriver knows beyond fantoccini's, such as the WebAuthn extension's.
#[derive(Debug)]
pub struct SessionCommand {
    pub method: reqwest::Method,
    /// The path after `/session/{id}/`.
    pub path: String,
    pub body: Option<Value>,
}

impl WebDriverCompatibleCommand for SessionCommand {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/{}",
            session_id.unwrap_or_default(),
            self.path
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (reqwest::Method, Option<String>) {
        (
            self.method.clone(),
            self.body.as_ref().map(|b| b.to_string()),
        )
    }
}

impl Browser {
    fn abs(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        }
    }

    /// Opens `path` (on Portal unless it is a full URL) and waits for the page to load.
    pub async fn goto(&self, path: &str) {
        let url = self.abs(path);
        self.client
            .goto(&url)
            .await
            .unwrap_or_else(|e| panic!("[{}] open {url}: {e}", self.context));
    }

    /// The path (and query) of the page the browser shows.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("current URL");
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        }
    }

    /// Runs `script` in the page and returns what it returns.
    pub async fn script(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("[{}] script failed: {e}\n{script}", self.context))
    }

    /// The page's visible text.
    pub async fn text(&self) -> String {
        self.script(
            "return document.body ? document.body.innerText : '';",
            vec![],
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_string()
    }

    /// Saves a PNG of the whole page (beyond the viewport, through chromedriver's DevTools
    /// passthrough) as `NN-<context>-<name>.png`.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let n = self.shots.next.fetch_add(1, Ordering::SeqCst);
        let path = self
            .shots
            .dir
            .join(format!("{n:02}-{}-{name}.png", self.context));
        let png = match self.full_page_png().await {
            Some(png) => png,
            None => self
                .client
                .screenshot()
                .await
                .unwrap_or_else(|e| panic!("[{}] screenshot {name}: {e}", self.context)),
        };
        std::fs::write(&path, png).expect("write screenshot");
        path
    }

    async fn full_page_png(&self) -> Option<Vec<u8>> {
        use base64::Engine;
        let cdp = |cmd: &str, params: Value| {
            self.client.issue_cmd(SessionCommand {
                method: reqwest::Method::POST,
                path: "goog/cdp/execute".into(),
                body: Some(json!({ "cmd": cmd, "params": params })),
            })
        };
        let metrics = cdp("Page.getLayoutMetrics", json!({})).await.ok()?;
        let size = &metrics["cssContentSize"];
        let (width, height) = (size["width"].as_f64()?, size["height"].as_f64()?);
        let shot = cdp(
            "Page.captureScreenshot",
            json!({
                "format": "png",
                "captureBeyondViewport": true,
                "clip": { "x": 0, "y": 0, "width": width, "height": height.min(8000.0), "scale": 1 },
            }),
        )
        .await
        .ok()?;
        base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str()?)
            .ok()
    }

    /// Waits until `check` gives a value, or fails with `what` and where the browser is (and a
    /// screenshot of it).
    pub async fn wait_for<T, F, Fut>(&self, what: &str, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let until = tokio::time::Instant::now() + BROWSER_DEADLINE;
        loop {
            if let Some(found) = check().await {
                return found;
            }
            if tokio::time::Instant::now() >= until {
                let shot = self.screenshot("timeout").await;
                let url = self.path().await;
                let text = self.text().await;
                panic!(
                    "[{}] waited {BROWSER_DEADLINE:?} for {what}; at {url} ({}), the page says:\n{text}",
                    self.context,
                    shot.display()
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until `check` holds (see [`Browser::wait_for`]).
    pub async fn wait_until<F, Fut>(&self, what: &str, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        self.wait_for(what, || {
            let fut = check();
            async move { fut.await.then_some(()) }
        })
        .await
    }

    /// Waits until the page's text contains `text`.
    pub async fn wait_text(&self, text: &str) {
        self.wait_until(&format!("the text {text:?}"), || async {
            self.text().await.contains(text)
        })
        .await;
    }

    /// Waits until the browser is on a page whose path starts with `prefix`.
    pub async fn wait_path(&self, prefix: &str) {
        self.wait_until(&format!("a page under {prefix}"), || async {
            self.path().await.starts_with(prefix)
        })
        .await;
    }

    /// Waits until `script` (a function body) returns true.
    pub async fn wait_script(&self, what: &str, script: &str, args: Vec<Value>) {
        self.wait_until(what, || async {
            // A script may run while a page is being replaced; that is "not yet".
            self.client
                .execute(script, args.clone())
                .await
                .is_ok_and(|v| v == Value::Bool(true))
        })
        .await;
    }

    /// The element a script returned, if it returned one.
    fn element(&self, value: &Value) -> Option<Element> {
        let id = value.get(ELEMENT_KEY)?.as_str()?;
        Some(Element::from_element_id(
            self.client.clone(),
            ElementRef::from(id.to_string()),
        ))
    }

    /// The form control whose `<label>` reads `label`, waiting for it to appear.
    pub async fn field(&self, label: &str) -> Element {
        const FIND: &str = r#"
            const want = arguments[0];
            for (const l of document.querySelectorAll("label")) {
                if (l.innerText.trim() === want && l.control) return l.control;
            }
            return null;"#;
        self.wait_for(&format!("a field labelled {label:?}"), || async {
            let v = self
                .client
                .execute(FIND, vec![json!(label)])
                .await
                .unwrap_or(Value::Null);
            self.element(&v)
        })
        .await
    }

    /// Types `text` into the field labelled `label` (clearing it first), as a person would.
    pub async fn fill(&self, label: &str, text: &str) {
        let field = self.field(label).await;
        field.clear().await.expect("clear the field");
        field
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("[{}] type into {label:?}: {e}", self.context));
    }

    /// The visible button (or link styled as one, or link) whose text is `text`.
    async fn clickable(&self, text: &str, selector: &str) -> Element {
        const FIND: &str = r#"
            const [want, selector] = arguments;
            for (const b of document.querySelectorAll(selector)) {
                const label = (b.innerText || b.value || "").replace(/\s+/g, " ").trim();
                if (label === want && b.getClientRects().length > 0) return b;
            }
            return null;"#;
        self.wait_for(&format!("a {selector} reading {text:?}"), || async {
            let v = self
                .client
                .execute(FIND, vec![json!(text), json!(selector)])
                .await
                .unwrap_or(Value::Null);
            self.element(&v)
        })
        .await
    }

    /// Clicks the button reading `text`.
    pub async fn click_button(&self, text: &str) {
        self.clickable(text, "button, input[type=submit]")
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("[{}] click {text:?}: {e}", self.context));
    }

    /// Clicks the link reading `text`.
    pub async fn click_link(&self, text: &str) {
        self.clickable(text, "a[href]")
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("[{}] click link {text:?}: {e}", self.context));
    }

    /// Clicks the element matching `selector` whose text is `text` (a `<summary>`, say).
    pub async fn click_text(&self, selector: &str, text: &str) {
        self.clickable(text, selector)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("[{}] click {selector} {text:?}: {e}", self.context));
    }

    /// Presses keys on the keyboard (WebDriver key actions: down and up for each).
    pub async fn press(&self, keys: &[Key]) {
        let mut actions = KeyActions::new("keyboard".into());
        for key in keys {
            let value: char = (*key).into();
            actions = actions
                .then(KeyAction::Down { value })
                .then(KeyAction::Up { value });
        }
        self.client
            .perform_actions(actions)
            .await
            .unwrap_or_else(|e| panic!("[{}] press {keys:?}: {e}", self.context));
    }

    /// Selects everything in the focused field (Control+A), so what is typed next replaces it.
    pub async fn select_all(&self) {
        let control: char = Key::Control.into();
        let actions = KeyActions::new("keyboard".into())
            .then(KeyAction::Down { value: control })
            .then(KeyAction::Down { value: 'a' })
            .then(KeyAction::Up { value: 'a' })
            .then(KeyAction::Up { value: control });
        self.client
            .perform_actions(actions)
            .await
            .unwrap_or_else(|e| panic!("[{}] select all: {e}", self.context));
    }

    /// Types `text` through the keyboard into whatever has focus.
    pub async fn type_text(&self, text: &str) {
        let mut actions = KeyActions::new("keyboard".into());
        for value in text.chars() {
            actions = actions
                .then(KeyAction::Down { value })
                .then(KeyAction::Up { value });
        }
        self.client
            .perform_actions(actions)
            .await
            .unwrap_or_else(|e| panic!("[{}] type {text:?}: {e}", self.context));
    }

    /// A short description of the focused element (`tag#id[name]` and its text), for assertions.
    pub async fn focused(&self) -> Value {
        self.script(
            r#"const e = document.activeElement;
               if (!e || e === document.body) return null;
               const label = e.labels && e.labels.length ? e.labels[0].innerText.trim() : null;
               return { tag: e.tagName.toLowerCase(), id: e.id || null, name: e.getAttribute("name"),
                        type: e.getAttribute("type"), label: label,
                        text: (e.innerText || e.value || "").replace(/\s+/g, " ").trim() };"#,
            vec![],
        )
        .await
    }

    /// Presses Tab until the focused element matches `matches` (at most `limit` presses; none if
    /// it already has focus), so a test reaches a control the way a keyboard user does.
    pub async fn tab_to(&self, what: &str, limit: usize, matches: impl Fn(&Value) -> bool) {
        if matches(&self.focused().await) {
            return;
        }
        for _ in 0..limit {
            self.press(&[Key::Tab]).await;
            if matches(&self.focused().await) {
                return;
            }
        }
        let shot = self.screenshot("tab-not-reached").await;
        panic!(
            "[{}] {limit} Tab presses never reached {what} on {} ({})",
            self.context,
            self.path().await,
            shot.display()
        );
    }

    /// Marks the current document, so a test can tell later that the page was not reloaded.
    pub async fn mark_page(&self) {
        self.script(
            "window.__portalTestMark = 'still-here'; return true;",
            vec![],
        )
        .await;
    }

    /// Whether the document marked by [`Browser::mark_page`] is still the one shown.
    pub async fn page_is_marked(&self) -> bool {
        self.script("return window.__portalTestMark === 'still-here';", vec![])
            .await
            == Value::Bool(true)
    }

    /// Waits until the page's live socket says it is connected.
    pub async fn wait_live(&self) {
        self.wait_script(
            "the live socket to connect",
            r#"const s = document.querySelector("[data-live-status]");
               return !!s && s.getAttribute("data-state") === "live";"#,
            vec![],
        )
        .await;
    }

    /// A computed style property of the first element matching `selector`.
    pub async fn computed_style(&self, selector: &str, property: &str) -> String {
        self.script(
            r#"const e = document.querySelector(arguments[0]);
               return e ? getComputedStyle(e).getPropertyValue(arguments[1]) : null;"#,
            vec![json!(selector), json!(property)],
        )
        .await
        .as_str()
        .unwrap_or_else(|| panic!("[{}] no element matches {selector}", self.context))
        .to_string()
    }

    /// Sends a WebDriver command of an extension (such as WebAuthn) to this session.
    pub async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        self.client
            .issue_cmd(SessionCommand {
                method,
                path: path.to_string(),
                body,
            })
            .await
            .unwrap_or_else(|e| panic!("[{}] {path}: {e}", self.context))
    }

    /// Signs in through the demo integrator app and the hosted login, as a person would, with a
    /// screenshot of each screen; ends on the demo app's signed-in page.
    pub async fn sign_in_via_demo(&self, email: &str, password: &str) {
        self.goto("/demo/").await;
        self.wait_text("Demo app").await;
        self.screenshot("demo-app").await;
        self.click_link("Sign in").await;
        self.wait_path("/a/auth/login").await;
        self.wait_text("Password").await;
        self.screenshot("hosted-login").await;
        self.fill("Email", email).await;
        self.fill("Password", password).await;
        self.click_button("Sign in").await;
        self.wait_text(&format!("Signed in as {email}")).await;
        self.screenshot("demo-signed-in").await;
    }

    /// Ends this context's session (its browser closes).
    pub async fn close(self) {
        let _ = self.client.close().await;
    }
}
