//! `portal bench members`: the members widget of a 10,000-member organization over real HTTP
//! against an in-process server (fresh SQLite database unless `--database-url` is given): the first
//! page and a search, each the full request (session, permission checks, count, rows, render),
//! one request at a time so the figures are latencies. Run it in a release build.

use crate::config::Settings;
use crate::crypto;
use crate::db::entities::{membership, user};
use crate::db::{self, now_ms};
use crate::domain::ids;
use crate::startup::Application;
use anyhow::{Context, bail};
use sea_orm::{ActiveValue::Set, EntityTrait};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, clap::Args)]
pub struct MembersBench {
    /// Members to add to the organization.
    #[arg(long, default_value_t = 10_000)]
    pub members: usize,
    /// Requests per measurement.
    #[arg(long, default_value_t = 200)]
    pub requests: usize,
    /// Database to run against (it gets Portal's tables and demo data); default: a temporary SQLite file.
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
}

fn form_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].replace("&amp;", "&"))
}

/// Adds `n` members (users and active memberships) to the organization in batches.
async fn populate(db: &db::Db, org_id: &str, n: usize) -> anyhow::Result<()> {
    let role = db::roles::find_by_name(db.conn(), crate::domain::RoleName::MEMBER)
        .await?
        .context("member role")?;
    let now = now_ms();
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let mut users = Vec::with_capacity(chunk.len());
        let mut members = Vec::with_capacity(chunk.len());
        for i in chunk {
            let user_id = ids::new_id(ids::USER);
            users.push(user::ActiveModel {
                id: Set(user_id.clone()),
                environment_id: Set(db::environment::DEFAULT_ENVIRONMENT.into()),
                email: Set(format!("person{i:05}@bench.example")),
                email_verified: Set(true),
                name: Set(format!("Person {i:05}")),
                given_name: Set(Some("Person".into())),
                family_name: Set(Some(format!("{i:05}"))),
                password_hash: Set(None),
                external_id: Set(None),
                disabled: Set(false),
                created_at: Set(now),
                updated_at: Set(now),
            });
            members.push(membership::ActiveModel {
                id: Set(ids::new_id(ids::MEMBERSHIP)),
                organization_id: Set(org_id.into()),
                user_id: Set(user_id),
                role_id: Set(role.id.clone()),
                status: Set(db::members::ACTIVE.into()),
                created_at: Set(now),
                updated_at: Set(now),
            });
        }
        let tx = db.begin_write().await?;
        user::Entity::insert_many(users)
            .exec_without_returning(&tx)
            .await?;
        membership::Entity::insert_many(members)
            .exec_without_returning(&tx)
            .await?;
        tx.commit().await?;
    }
    Ok(())
}

struct Figures {
    name: &'static str,
    latencies: Vec<Duration>,
}

impl Figures {
    fn ms(&self, p: f64) -> f64 {
        let mut v = self.latencies.clone();
        v.sort_unstable();
        let i = ((v.len() as f64 - 1.0) * p).round() as usize;
        v[i].as_secs_f64() * 1000.0
    }

    fn print(&self) {
        let mean = self.latencies.iter().sum::<Duration>().as_secs_f64() * 1000.0
            / self.latencies.len().max(1) as f64;
        println!(
            "{:<34} {:>5} requests   mean {:>7.2} ms   p50 {:>7.2} ms   p95 {:>7.2} ms   max {:>7.2} ms",
            self.name,
            self.latencies.len(),
            mean,
            self.ms(0.5),
            self.ms(0.95),
            self.ms(1.0)
        );
    }
}

async fn measure(
    name: &'static str,
    http: &reqwest::Client,
    url: &str,
    expect: &str,
    n: usize,
) -> anyhow::Result<Figures> {
    let mut latencies = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let res = http.get(url).send().await?;
        if res.status() != 200 {
            bail!("{name}: {url} answered {}", res.status());
        }
        let body = res.text().await?;
        latencies.push(t.elapsed());
        if !body.contains(expect) {
            bail!("{name}: the page does not show {expect}");
        }
    }
    Ok(Figures { name, latencies })
}

pub async fn run(args: MembersBench) -> anyhow::Result<()> {
    if cfg!(debug_assertions) {
        eprintln!(
            "warning: this is a debug build; run `cargo run --release -- bench members` for real figures"
        );
    }
    let dir = std::env::temp_dir().join(format!("portal-bench-{}", uuid::Uuid::new_v4().simple()));
    let password = crypto::random_token(18);
    let settings = Settings {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.clone(),
        database_url: args.database_url.clone(),
        demo: true,
        demo_password: Some(password.clone()),
        ..Settings::default()
    };
    let backend = if settings.effective_database_url().starts_with("postgres") {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let app = Application::build(settings).await?;
    let base = app.public_url().as_str().trim_end_matches('/').to_string();
    let state = app.state().clone();
    let handle = app.server_handle();
    actix_web::rt::spawn(app.run_until_stopped());

    let org = db::orgs::find_by_external_id(state.db.conn(), "acme")
        .await?
        .context("demo organization")?;
    let t = Instant::now();
    populate(&state.db, &org.id, args.members).await?;
    println!(
        "added {} members to one organization in {:.1} s ({backend})",
        args.members,
        t.elapsed().as_secs_f64()
    );

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()?;
    let page = http
        .get(format!("{base}/a/auth/login"))
        .send()
        .await?
        .text()
        .await?;
    let csrf = form_value(&page, "csrf").context("login form")?;
    let res = http
        .post(format!("{base}/a/auth/login"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", "admin@acme.test"),
            ("password", password.as_str()),
        ])
        .send()
        .await?;
    if res.status() != 303 {
        bail!("sign-in answered {}", res.status());
    }
    let n = args.requests.max(1);
    let total = format!("{} members", args.members + 2);
    // Warm up connections and caches before measuring.
    measure(
        "warm-up",
        &http,
        &format!("{base}/ui/organization/members"),
        &total,
        5,
    )
    .await?;
    let first = measure(
        "members widget, first page",
        &http,
        &format!("{base}/ui/organization/members"),
        &total,
        n,
    )
    .await?;
    let search = measure(
        "members widget, search \"person 0421\"",
        &http,
        &format!("{base}/ui/organization/members?q=person+0421"),
        "person04217@bench.example",
        n,
    )
    .await?;
    let by_mail = measure(
        "members widget, search by email",
        &http,
        &format!("{base}/ui/organization/members?q=person09999%40bench"),
        "person09999@bench.example",
        n,
    )
    .await?;
    println!();
    for f in [&first, &search, &by_mail] {
        f.print();
    }
    handle.stop(true).await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
