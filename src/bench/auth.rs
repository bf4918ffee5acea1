//! `portal bench auth`: token and sign-in throughput over real HTTP against an in-process server on
//! port 0 (fresh SQLite database in a temporary directory unless `--database-url` is given), with N
//! concurrent clients, next to bare argon2 verifications on this machine. Run it in a release build.

use crate::config::Settings;
use crate::crypto::{self, Passwords};
use crate::startup::Application;
use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Concurrent HTTP clients.
    #[arg(long, default_value_t = 16)]
    pub clients: usize,
    /// Seconds to run each measurement.
    #[arg(long, default_value_t = 5)]
    pub seconds: u64,
    /// Database to run against (it gets Portal's tables and demo data); default: a temporary SQLite file.
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
}

/// One measured operation.
struct Measured {
    name: &'static str,
    ok: u64,
    errors: u64,
    elapsed: Duration,
    latencies_us: Vec<u64>,
}

impl Measured {
    fn per_second(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let mut v = self.latencies_us.clone();
        v.sort_unstable();
        let i = ((v.len() as f64 - 1.0) * p).round() as usize;
        v[i] as f64 / 1000.0
    }
}

/// Runs one worker per entry of `workers` until the deadline; each call of a worker's step is one
/// request, `Ok` when it succeeded.
async fn measure<S, F, Fut>(name: &'static str, workers: Vec<S>, seconds: u64, step: F) -> Measured
where
    F: Fn(&mut S) -> Fut + Copy,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let runs = workers.into_iter().map(|mut w| async move {
        let (mut ok, mut errors, mut lat) = (0u64, 0u64, Vec::new());
        while Instant::now() < deadline {
            let t = Instant::now();
            match step(&mut w).await {
                Ok(()) => {
                    ok += 1;
                    lat.push(t.elapsed().as_micros() as u64);
                }
                Err(err) => {
                    if errors == 0 {
                        eprintln!("{name}: {err:#}");
                    }
                    errors += 1;
                }
            }
        }
        (ok, errors, lat)
    });
    let results = futures_util::future::join_all(runs).await;
    let elapsed = start.elapsed();
    let mut m = Measured {
        name,
        ok: 0,
        errors: 0,
        elapsed,
        latencies_us: Vec::new(),
    };
    for (ok, errors, lat) in results {
        m.ok += ok;
        m.errors += errors;
        m.latencies_us.extend(lat);
    }
    m
}

fn http_client(cookies: bool) -> anyhow::Result<reqwest::Client> {
    let mut b = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
    if cookies {
        b = b.cookie_store(true);
    }
    Ok(b.build()?)
}

fn form_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].replace("&amp;", "&"))
}

fn location(res: &reqwest::Response) -> anyhow::Result<String> {
    Ok(res
        .headers()
        .get("location")
        .context("no Location header")?
        .to_str()?
        .to_string())
}

struct Bench {
    base: String,
    client_secret: String,
    password: String,
}

impl Bench {
    async fn client_credentials(&self, http: &reqwest::Client) -> anyhow::Result<()> {
        let res = http
            .post(format!("{}/oauth/token", self.base))
            .basic_auth(crate::demo::CLIENT_ID, Some(&self.client_secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await?;
        if !res.status().is_success() {
            bail!("client_credentials answered {}", res.status());
        }
        res.bytes().await?;
        Ok(())
    }

    /// A browser that has the login form's CSRF token.
    async fn login_form(&self) -> anyhow::Result<(reqwest::Client, String)> {
        let browser = http_client(true)?;
        let page = browser
            .get(format!("{}/a/auth/login", self.base))
            .send()
            .await?
            .text()
            .await?;
        let csrf = form_value(&page, "csrf").context("login page has no CSRF field")?;
        Ok((browser, csrf))
    }

    async fn password_login(&self, browser: &reqwest::Client, csrf: &str) -> anyhow::Result<()> {
        let res = browser
            .post(format!("{}/a/auth/login", self.base))
            .form(&[
                ("csrf", csrf),
                ("email", "admin@acme.test"),
                ("password", self.password.as_str()),
            ])
            .send()
            .await?;
        if res.status().as_u16() != 303 {
            bail!("login answered {}", res.status());
        }
        Ok(())
    }

    /// Signs in through the code flow with `offline_access` and returns a refresh token.
    async fn refresh_token(&self) -> anyhow::Result<String> {
        let (browser, _) = self.login_form().await?;
        let verifier = crypto::random_token(32);
        let challenge = URL_SAFE_NO_PAD.encode(crypto::sha256(verifier.as_bytes()));
        let redirect = format!("{}/demo/callback", self.base);
        let res = browser
            .get(format!("{}/oauth/authorize", self.base))
            .query(&[
                ("response_type", "code"),
                ("client_id", crate::demo::CLIENT_ID),
                ("redirect_uri", &redirect),
                ("scope", "openid email offline_access"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ])
            .send()
            .await?;
        let login = format!("{}{}", self.base, location(&res)?);
        let page = browser.get(&login).send().await?.text().await?;
        let csrf = form_value(&page, "csrf").context("csrf")?;
        let request = form_value(&page, "request").context("request")?;
        let res = browser
            .post(format!("{}/a/auth/login", self.base))
            .form(&[
                ("csrf", csrf.as_str()),
                ("email", "admin@acme.test"),
                ("password", self.password.as_str()),
                ("request", request.as_str()),
            ])
            .send()
            .await?;
        let back = url::Url::parse(&location(&res)?)?;
        let code = back
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .context("no code")?;
        let tokens: serde_json::Value = browser
            .post(format!("{}/oauth/token", self.base))
            .basic_auth(crate::demo::CLIENT_ID, Some(&self.client_secret))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", redirect.as_str()),
                ("code_verifier", verifier.as_str()),
            ])
            .send()
            .await?
            .json()
            .await?;
        tokens["refresh_token"]
            .as_str()
            .map(str::to_string)
            .context("no refresh token")
    }

    async fn refresh(&self, http: &reqwest::Client, token: &RefCell<String>) -> anyhow::Result<()> {
        let current = token.borrow().clone();
        let res = http
            .post(format!("{}/oauth/token", self.base))
            .basic_auth(crate::demo::CLIENT_ID, Some(&self.client_secret))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", current.as_str()),
            ])
            .send()
            .await?;
        if !res.status().is_success() {
            bail!("refresh answered {}", res.status());
        }
        let body: serde_json::Value = res.json().await?;
        *token.borrow_mut() = body["refresh_token"]
            .as_str()
            .context("no rotated refresh token")?
            .to_string();
        Ok(())
    }
}

/// Bare argon2id verifications on one thread per core, for `seconds`.
fn argon2_baseline(seconds: u64) -> anyhow::Result<Measured> {
    let hash = Passwords::hash_blocking("correct-horse-battery-staple")?;
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let hash = hash.clone();
            std::thread::spawn(move || {
                let mut lat = Vec::new();
                while Instant::now() < deadline {
                    let t = Instant::now();
                    if Passwords::verify_blocking(&hash, "correct-horse-battery-staple") {
                        lat.push(t.elapsed().as_micros() as u64);
                    }
                }
                lat
            })
        })
        .collect();
    let mut latencies_us = Vec::new();
    for h in handles {
        latencies_us.extend(
            h.join()
                .map_err(|_| anyhow::anyhow!("argon2 thread panicked"))?,
        );
    }
    Ok(Measured {
        name: "argon2id verify (bare, all cores)",
        ok: latencies_us.len() as u64,
        errors: 0,
        elapsed: start.elapsed(),
        latencies_us,
    })
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    if cfg!(debug_assertions) {
        eprintln!(
            "warning: this is a debug build; run `cargo run --release -- bench auth` for real figures"
        );
    }
    let dir = std::env::temp_dir().join(format!("portal-bench-{}", uuid::Uuid::new_v4().simple()));
    let password = crypto::random_token(18);
    let client_secret = crypto::random_token(32);
    let settings = Settings {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.clone(),
        database_url: args.database_url.clone(),
        demo: true,
        demo_password: Some(password.clone()),
        demo_client_secret: Some(client_secret.clone()),
        ..Settings::default()
    };
    let backend = if settings.effective_database_url().starts_with("postgres") {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let app = Application::build(settings).await?;
    let bench = Bench {
        base: app.public_url().as_str().trim_end_matches('/').to_string(),
        client_secret,
        password,
    };
    let handle = app.server_handle();
    actix_web::rt::spawn(app.run_until_stopped());
    let n = args.clients.max(1);
    let b = &bench;

    let shared = http_client(false)?;
    let workers = (0..n).map(|_| shared.clone()).collect();
    let cc = measure("client_credentials grant", workers, args.seconds, |http| {
        let http = http.clone();
        async move { b.client_credentials(&http).await }
    })
    .await;

    let mut workers = Vec::with_capacity(n);
    for _ in 0..n {
        let token = Rc::new(RefCell::new(b.refresh_token().await?));
        workers.push((shared.clone(), token));
    }
    // Each worker keeps its own rotating token; the steps run on this one thread.
    let refresh = measure(
        "refresh_token grant (rotating)",
        workers,
        args.seconds,
        |w| {
            let (http, token) = (w.0.clone(), w.1.clone());
            async move { b.refresh(&http, &token).await }
        },
    )
    .await;

    let mut workers = Vec::with_capacity(n);
    for _ in 0..n {
        workers.push(b.login_form().await?);
    }
    let logins = measure("password login (form POST)", workers, args.seconds, |w| {
        let (browser, csrf) = (w.0.clone(), w.1.clone());
        async move { b.password_login(&browser, &csrf).await }
    })
    .await;

    handle.stop(true).await;
    let argon = tokio::task::spawn_blocking(move || argon2_baseline(args.seconds)).await??;
    let _ = std::fs::remove_dir_all(&dir);

    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    println!();
    println!(
        "Portal auth benchmark: {n} concurrent clients, {} s per row, {backend}, {cores} cores, over HTTP on 127.0.0.1",
        args.seconds
    );
    println!();
    println!("| operation | per second | ok | errors | p50 ms | p99 ms |");
    println!("|---|---:|---:|---:|---:|---:|");
    for m in [&cc, &refresh, &logins, &argon] {
        println!(
            "| {} | {:.0} | {} | {} | {:.1} | {:.1} |",
            m.name,
            m.per_second(),
            m.ok,
            m.errors,
            m.percentile_ms(0.5),
            m.percentile_ms(0.99)
        );
    }
    println!();
    Ok(())
}
