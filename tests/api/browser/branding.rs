//! Branding set through the management API is what the browser renders: the primary colour is the
//! computed background of the primary buttons (with the contrasting text colour Portal chose), and
//! the logo, served over https by a test peer, loads on the hosted screens.

use super::Scenario;
use crate::helpers::{Backend, DEADLINE, TestApp, python};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, BufReader};

/// `tests/support/https_image.py`: a PNG at `/logo.png` over https (self-signed, which the
/// browser sessions accept), reporting every request.
struct HttpsImage {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
    _child: tokio::process::Child,
}

impl HttpsImage {
    async fn start() -> Option<Self> {
        let python = python()?;
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/https_image.py");
        let mut child = tokio::process::Command::new(python)
            .arg(script)
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start the image server");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(DEADLINE, lines.next_line())
            .await
            .expect("the image server starts before the deadline")
            .expect("read its output")
            .expect("it says it is ready");
        let ready: Value = serde_json::from_str(&ready).expect("ready line is JSON");
        let port = ready["ready"].as_u64().expect("port") as u16;
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Ok(v) = serde_json::from_str::<Value>(&line)
                    && let Some(path) = v["get"].as_str()
                {
                    seen.lock().expect("lock").push(path.to_string());
                }
            }
        });
        Some(Self {
            port,
            requests,
            _child: child,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }

    fn fetched(&self, path: &str) -> usize {
        self.requests
            .lock()
            .expect("lock")
            .iter()
            .filter(|p| p.split('?').next() == Some(path))
            .count()
    }
}

/// `#rrggbb` as the browser reports a computed colour.
fn rgb(hex: &str) -> String {
    let c = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex");
    format!("rgb({}, {}, {})", c(1), c(3), c(5))
}

#[actix_web::test]
async fn the_primary_colour_set_through_the_api_colours_the_primary_button_and_the_logo_shows() {
    let Some(image) = HttpsImage::start().await else {
        return;
    };
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    let token = app.api_token().await;
    let res = app
        .http()
        .patch(app.url("/api/v1/branding"))
        .bearer_auth(&token)
        .json(&json!({
            "name": "Acme Identity",
            "primary_color": "#E11D48",
            "logo_url": image.url("/logo.png"),
        }))
        .send()
        .await
        .expect("update branding");
    assert_eq!(res.status(), 200);
    let branding: Value = res.json().await.expect("branding json");
    assert_eq!(branding["primary_color"], "#e11d48");
    let text = branding["primary_text_color"]
        .as_str()
        .expect("a text colour")
        .to_string();
    let Some(s) = Scenario::start("branding", app, 1).await else {
        return;
    };
    let browser = s.browser("visitor").await;

    // The demo app's primary button.
    browser.goto("/demo/").await;
    browser.wait_text("Demo app").await;
    assert_eq!(
        browser
            .computed_style("a.button.primary", "background-color")
            .await,
        rgb("#e11d48")
    );
    browser.screenshot("demo-app").await;

    // The hosted login: the logo loads, the primary button wears the colour.
    browser.click_link("Sign in").await;
    browser.wait_path("/a/auth/login").await;
    browser
        .wait_script(
            "the logo to load",
            "const i = document.querySelector('img.logo'); return !!i && i.complete && i.naturalWidth === 120;",
            vec![],
        )
        .await;
    assert!(
        image.fetched("/logo.png") >= 1,
        "the browser fetched the logo"
    );
    let alt = browser
        .script("return document.querySelector('img.logo').alt;", vec![])
        .await;
    assert_eq!(alt, "Acme Identity logo");
    assert_eq!(
        browser
            .computed_style("button.primary", "background-color")
            .await,
        rgb("#e11d48"),
        "the primary button is the brand colour"
    );
    assert_eq!(
        browser.computed_style("button.primary", "color").await,
        rgb(&text),
        "its text is the contrasting colour Portal chose"
    );
    browser.screenshot("hosted-login").await;

    // Signed in, the widgets wear it too: the current navigation item.
    browser.fill("Email", "admin@acme.test").await;
    browser.fill("Password", crate::helpers::PASSWORD).await;
    browser.click_button("Sign in").await;
    browser.wait_text("Signed in as admin@acme.test").await;
    browser.click_link("Open the widgets").await;
    browser.wait_path("/ui/organization/").await;
    assert_eq!(
        browser
            .computed_style("nav a[aria-current=page]", "background-color")
            .await,
        rgb("#e11d48")
    );
    browser.screenshot("widgets").await;

    // A new colour shows on the next page (the stylesheet's address changes with the branding).
    let res = s
        .app
        .http()
        .patch(s.app.url("/api/v1/branding"))
        .bearer_auth(&token)
        .json(&json!({ "primary_color": "#0f766e" }))
        .send()
        .await
        .expect("update branding");
    assert_eq!(res.status(), 200);
    browser.goto("/ui/").await;
    browser.wait_path("/ui/organization/").await;
    assert_eq!(
        browser
            .computed_style("nav a[aria-current=page]", "background-color")
            .await,
        rgb("#0f766e")
    );
    browser.screenshot("widgets-recoloured").await;
    browser.close().await;
}
