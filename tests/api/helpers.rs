//! The test harness: every test spawns the real server on port 0 with a fresh database (a SQLite file
//! in a temporary directory, or a new PostgreSQL database when `PORTAL_TEST_DATABASE_URL` is set), and
//! talks to it over HTTP and WebSocket like a browser or an integrator would.

use futures_util::{SinkExt, StreamExt};
use portal::config::Settings;
use portal::startup::Application;
use reqwest::header::LOCATION;
use reqwest::redirect::Policy;
use serde_json::Value;
use std::sync::{Arc, Once};
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

pub const PASSWORD: &str = "correct-horse-battery-staple";
pub const CLIENT_SECRET: &str = "demo-client-secret-for-tests-0123456789";
/// How long a test waits for something that should happen at once.
pub const DEADLINE: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generates `sqlite` and `postgres` tests for an `async fn(Backend)` scenario.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[actix_web::test]
                async fn sqlite() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
                #[actix_web::test]
                async fn postgres() {
                    super::$name($crate::helpers::Backend::Postgres).await
                }
            }
        )*
    };
}

fn init_once() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        portal::startup::install_crypto_provider();
        if std::env::var("TEST_LOG").is_ok() {
            portal::telemetry::init("info,portal=debug");
        }
    });
}

/// The PostgreSQL server for tests, or `None` (with the reason printed) when none is configured.
/// In CI a missing server is a failure, not a skip.
pub fn postgres_base_url() -> Option<String> {
    match std::env::var("PORTAL_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            panic!(
                "CI=true but PORTAL_TEST_DATABASE_URL is not set: PostgreSQL tests must run in CI"
            )
        }
        _ => {
            // Written past the test harness's output capture, so the skip is visible.
            use std::io::Write;
            let test = std::thread::current()
                .name()
                .unwrap_or("a test")
                .to_string();
            let _ = writeln!(
                std::io::stderr(),
                "skipping {test}: PORTAL_TEST_DATABASE_URL is not set (it passes without running)"
            );
            None
        }
    }
}

/// A fresh, empty database for one test.
pub struct TestDatabase {
    pub url: String,
    postgres: Option<(String, String)>,
    _dir: tempfile::TempDir,
}

impl TestDatabase {
    pub async fn create(backend: Backend) -> Option<Self> {
        init_once();
        let dir = tempfile::tempdir().expect("temporary directory");
        match backend {
            Backend::Sqlite => Some(Self {
                url: format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("portal.db").display()
                ),
                postgres: None,
                _dir: dir,
            }),
            Backend::Postgres => {
                let base = postgres_base_url()?;
                let name = format!("portal_test_{}", uuid::Uuid::new_v4().simple());
                let admin = sea_orm::Database::connect(&base)
                    .await
                    .expect("connect to PostgreSQL");
                use sea_orm::ConnectionTrait;
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create test database");
                let _ = admin.close().await;
                let mut url = url::Url::parse(&base).expect("PORTAL_TEST_DATABASE_URL is a URL");
                url.set_path(&format!("/{name}"));
                Some(Self {
                    url: url.to_string(),
                    postgres: Some((base, name)),
                    _dir: dir,
                })
            }
        }
    }

    pub fn data_dir(&self) -> std::path::PathBuf {
        self._dir.path().to_path_buf()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Best effort: drop the per-test PostgreSQL database from a thread with its own runtime.
        if let Some((base, name)) = self.postgres.take() {
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                if let Ok(rt) = rt {
                    rt.block_on(async {
                        if let Ok(admin) = sea_orm::Database::connect(&base).await {
                            use sea_orm::ConnectionTrait;
                            let _ = admin
                                .execute_unprepared(&format!(
                                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                                ))
                                .await;
                            let _ = admin.close().await;
                        }
                    });
                }
            })
            .join();
        }
    }
}

pub struct TestApp {
    pub base: String,
    pub app_state: portal::state::AppState,
    pub settings: Settings,
    /// `None` only after [`TestApp::stop`].
    db: Option<TestDatabase>,
    handle: actix_web::dev::ServerHandle,
}

impl TestApp {
    /// A running server with the demo seed, or `None` when the backend is not available here.
    pub async fn spawn(backend: Backend) -> Option<Self> {
        let db = TestDatabase::create(backend).await?;
        Some(Self::spawn_on(db).await)
    }

    /// A running server whose settings `adjust` changes first (e.g. `smtp_url` pointing at a sink).
    pub async fn spawn_with(backend: Backend, adjust: impl FnOnce(&mut Settings)) -> Option<Self> {
        let db = TestDatabase::create(backend).await?;
        Some(Self::spawn_on_with(db, adjust).await)
    }

    pub async fn spawn_on(db: TestDatabase) -> Self {
        Self::spawn_on_with(db, |_| {}).await
    }

    pub async fn spawn_on_with(db: TestDatabase, adjust: impl FnOnce(&mut Settings)) -> Self {
        let mut settings = Settings {
            listen: "127.0.0.1:0".into(),
            data_dir: db.data_dir(),
            database_url: Some(db.url.clone()),
            demo: true,
            demo_password: Some(PASSWORD.into()),
            demo_client_secret: Some(CLIENT_SECRET.into()),
            workers: 1,
            ..Settings::default()
        };
        adjust(&mut settings);
        let app = Application::build(settings.clone())
            .await
            .expect("server builds");
        let base = app.public_url().as_str().trim_end_matches('/').to_string();
        let app_state = app.state().clone();
        let handle = app.server_handle();
        actix_web::rt::spawn(app.run_until_stopped());
        Self {
            base,
            app_state,
            settings,
            db: Some(db),
            handle,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stops this node (its server and its background workers that keep a schedule) and hands back
    /// its database, so a test can start another node on it as after a restart.
    pub async fn stop(mut self) -> TestDatabase {
        self.app_state.domains.stop();
        self.handle.stop(true).await;
        self.db.take().expect("the database of a running app")
    }

    pub fn conn(&self) -> &sea_orm::DatabaseConnection {
        self.app_state.db.conn()
    }

    /// A plain HTTP client that does not follow redirects.
    pub fn http(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(Policy::none())
            .build()
            .expect("client")
    }

    /// A browser-like client with its own cookie jar.
    pub fn browser(&self) -> Browser {
        let jar = Arc::new(reqwest::cookie::Jar::default());
        let client = reqwest::Client::builder()
            .redirect(Policy::none())
            .cookie_provider(jar.clone())
            .build()
            .expect("client");
        Browser {
            client,
            jar,
            base: self.base.clone(),
        }
    }

    /// A management API token from `client_credentials`.
    pub async fn api_token(&self) -> String {
        let res = self
            .http()
            .post(self.url("/oauth/token"))
            .basic_auth("demo-app", Some(CLIENT_SECRET))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .expect("token request");
        assert_eq!(res.status(), 200, "client_credentials grant");
        let body: Value = res.json().await.expect("token json");
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    }

    /// The id of a demo organization by name ("Acme", "Globex"), via the API.
    pub async fn org_id(&self, name: &str) -> String {
        let token = self.api_token().await;
        let body: Value = self
            .http()
            .get(self.url("/api/v1/organizations"))
            .bearer_auth(token)
            .send()
            .await
            .expect("list orgs")
            .json()
            .await
            .expect("orgs json");
        body["data"]
            .as_array()
            .expect("data")
            .iter()
            .find(|o| o["name"] == name)
            .and_then(|o| o["id"].as_str())
            .unwrap_or_else(|| panic!("organization {name} exists"))
            .to_string()
    }

    /// `POST /api/v1/organizations/{org}/users`.
    pub async fn add_member(&self, org_id: &str, body: Value) -> reqwest::Response {
        let token = self.api_token().await;
        self.http()
            .post(self.url(&format!("/api/v1/organizations/{org_id}/users")))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("add member")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // The stop command is sent now; its workers wind down on their own.
        drop(self.handle.stop(false));
    }
}

pub struct Browser {
    pub client: reqwest::Client,
    pub jar: Arc<reqwest::cookie::Jar>,
    pub base: String,
}

pub fn location(res: &reqwest::Response) -> String {
    res.headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// The value of `<input name="{name}" value="…">` in a page.
pub fn form_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(
        html[start..end]
            .replace("&amp;", "&")
            .replace("&quot;", "\""),
    )
}

impl Browser {
    pub fn abs(&self, path_or_url: &str) -> String {
        if path_or_url.starts_with("http") {
            path_or_url.to_string()
        } else {
            format!("{}{path_or_url}", self.base)
        }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.abs(path)).send().await.expect("GET")
    }

    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(self.abs(path))
            .form(form)
            .send()
            .await
            .expect("POST")
    }

    /// Follows redirects by hand (so each hop can be inspected) until a non-redirect answer.
    pub async fn follow(&self, mut res: reqwest::Response) -> (reqwest::Response, String) {
        let mut url = res.url().to_string();
        for _ in 0..10 {
            if !res.status().is_redirection() {
                break;
            }
            url = self.abs(&location(&res));
            res = self.client.get(&url).send().await.expect("GET redirect");
        }
        (res, url)
    }

    /// Submits the sign-in form at `login_url` (a page from `/a/auth/login`) and returns the answer.
    pub async fn submit_login(
        &self,
        login_url: &str,
        email: &str,
        password: &str,
    ) -> reqwest::Response {
        let page = self.get(login_url).await.text().await.expect("login page");
        let csrf = form_value(&page, "csrf").expect("csrf field");
        let mut form = vec![
            ("csrf", csrf),
            ("email", email.to_string()),
            ("password", password.to_string()),
        ];
        if let Some(request) = form_value(&page, "request") {
            form.push(("request", request));
        }
        let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.post_form("/a/auth/login", &pairs).await
    }

    /// Signs in through the demo app, the way a person would, and returns the final page's body.
    pub async fn sign_in_via_demo(&self, email: &str, password: &str) -> String {
        let (login_page, login_url) = self.follow(self.get("/demo/login").await).await;
        assert!(
            login_url.contains("/a/auth/login?request="),
            "landed on {login_url}"
        );
        drop(login_page);
        let res = self.submit_login(&login_url, email, password).await;
        assert_eq!(res.status(), 303, "sign-in should redirect");
        let (page, _) = self.follow(res).await;
        page.text().await.expect("callback page")
    }

    /// The `Cookie` header this browser would send to Portal.
    pub fn cookie_header(&self) -> String {
        use reqwest::cookie::CookieStore;
        let url = url::Url::parse(&self.base).expect("base");
        self.jar
            .cookies(&url)
            .and_then(|v| v.to_str().ok().map(str::to_string))
            .unwrap_or_default()
    }

    /// Opens `/ui/live` for a widget as this browser (cookie and same-site Origin).
    pub async fn open_socket(&self, widget: &str, after: i64) -> Socket {
        self.open_socket_with_origin(widget, after, &self.base.clone())
            .await
            .expect("socket opens")
    }

    pub async fn open_socket_with_origin(
        &self,
        widget: &str,
        after: i64,
        origin: &str,
    ) -> Result<Socket, tokio_tungstenite::tungstenite::Error> {
        let ws_url = format!(
            "{}/ui/live?widget={widget}&after={after}",
            self.base.replacen("http", "ws", 1)
        );
        let mut req = ws_url.into_client_request()?;
        let headers = req.headers_mut();
        headers.insert(
            "cookie",
            self.cookie_header().parse().expect("cookie header"),
        );
        headers.insert("origin", origin.parse().expect("origin header"));
        let (stream, _) = tokio_tungstenite::connect_async(req).await?;
        Ok(Socket { stream })
    }
}

/// A widget socket as a test sees it.
pub struct Socket {
    stream: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl Socket {
    /// The next JSON frame, waiting at most [`DEADLINE`].
    pub async fn next_frame(&mut self) -> Value {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .expect("a frame arrives before the deadline")
                .expect("socket stays open")
                .expect("frame is readable");
            if let tokio_tungstenite::tungstenite::Message::Text(text) = msg {
                let frame: Value = serde_json::from_str(&text).expect("frame is JSON");
                let _ = self
                    .stream
                    .send(tokio_tungstenite::tungstenite::Message::text(
                        serde_json::json!({ "ack": frame["seq"] }).to_string(),
                    ))
                    .await;
                return frame;
            }
        }
    }
}

impl Socket {
    /// Sends a text message (as the page does with its acknowledgements).
    pub async fn send_text(&mut self, text: &str) {
        let _ = self
            .stream
            .send(tokio_tungstenite::tungstenite::Message::text(
                text.to_string(),
            ))
            .await;
    }

    /// The close code of [`Socket::closed`].
    pub async fn close_code(&mut self) -> Option<u16> {
        self.closed().await.map(|(code, _)| code)
    }

    /// Waits for the server to close the socket (skipping any frames before) and returns the close
    /// code and reason; `None` when the connection ended without a close frame.
    pub async fn closed(&mut self) -> Option<(u16, String)> {
        use tokio_tungstenite::tungstenite::Message;
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .expect("the socket closes before the deadline");
            match msg {
                Some(Ok(Message::Close(frame))) => {
                    return frame.map(|f| (u16::from(f.code), f.reason.to_string()));
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    }
}

/// Skips a test that needs something this machine lacks: prints why (past the output capture) and
/// returns `None`. Under `CI=true` a missing prerequisite fails the test instead.
pub fn skip_or_fail<T>(reason: &str) -> Option<T> {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("CI=true and a test prerequisite is missing: {reason}");
    }
    use std::io::Write;
    let test = std::thread::current()
        .name()
        .unwrap_or("a test")
        .to_string();
    let _ = writeln!(
        std::io::stderr(),
        "skipping {test}: {reason} (it passes without running)"
    );
    None
}

/// A Python interpreter with the third-party peers of `tests/support/requirements.txt` (SMTP sink,
/// OIDC client, Standard Webhooks verifier, DNS server, SCIM client). `PORTAL_TEST_PYTHON` names one;
/// otherwise a virtualenv is made once under the target directory.
pub fn python() -> Option<std::path::PathBuf> {
    use std::path::{Path, PathBuf};
    use std::process::Command;
    static PYTHON: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    let found = PYTHON.get_or_init(|| {
        if let Ok(p) = std::env::var("PORTAL_TEST_PYTHON")
            && !p.is_empty()
        {
            return Ok(PathBuf::from(p));
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let target = std::env::var("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| root.join("target"));
        let venv = target.join("test-venv");
        let requirements = root.join("tests/support/requirements.txt");
        let wanted = std::fs::read_to_string(&requirements)
            .map_err(|e| format!("read requirements: {e}"))?;
        let stamp = venv.join("requirements.stamp");
        let python = venv.join("bin/python");
        if std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str())
            && python.exists()
        {
            return Ok(python);
        }
        let run = |cmd: &mut Command| -> Result<(), String> {
            let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
            if out.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "{cmd:?} failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                ))
            }
        };
        run(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
        run(Command::new(&python)
            .args(["-m", "pip", "install", "-q", "-r"])
            .arg(&requirements))?;
        std::fs::write(&stamp, wanted).map_err(|e| format!("write stamp: {e}"))?;
        Ok(python)
    });
    match found {
        Ok(p) => Some(p.clone()),
        Err(e) => skip_or_fail(&format!("no Python with the test peers ({e})")),
    }
}
