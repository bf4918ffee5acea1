//! The `portal` command line.

use crate::config::{Overrides, Settings};
use crate::db::{self, Db};
use crate::startup::{self, Application};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "portal",
    version,
    about = "Self-hosted identity portal: hosted login, OIDC and live admin widgets"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Manage the token signing keys.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Measure throughput on this machine (use a release build).
    Bench {
        #[command(subcommand)]
        target: BenchTarget,
    },
    /// Manage the database schema.
    Migrate {
        #[command(subcommand)]
        action: MigrateAction,
        #[command(flatten)]
        common: CommonArgs,
    },
}

#[derive(Debug, Args)]
pub struct CommonArgs {
    /// TOML settings file.
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// Directory for the embedded database and local state [default: ./portal-data].
    #[arg(long, value_name = "DIR", global = true)]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Seed demo organizations and serve the demo integrator app at /demo/.
    #[arg(long)]
    pub demo: bool,
    /// Address to listen on [default: 127.0.0.1:8080]; port 0 picks a free port.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Clone, Copy, Subcommand)]
pub enum KeysAction {
    /// Publish a new signing key now; it starts signing after the publish delay (10 minutes), and
    /// the current key is retired once every token it signed has expired.
    Rotate,
    /// List the stored keys and their status.
    List,
}

#[derive(Debug, Clone, Subcommand)]
pub enum BenchTarget {
    /// client_credentials and refresh grants, password logins and bare argon2 verifications per second.
    Auth(crate::bench::auth::BenchArgs),
    /// Webhook deliveries per second to a loopback receiver, through the real fan-out and dispatcher.
    Webhooks(crate::bench::webhooks::WebhookBench),
    /// Commit-to-receive latency and deliveries per second to N live sockets, next to a bare
    /// broadcast loop feeding the same sockets; RSS per idle socket.
    Live(crate::bench::live::LiveBench),
    /// The client side of `bench live`, run by it in a child process.
    #[command(hide = true)]
    LiveClients(crate::bench::live::LiveClients),
    /// Members widget latency (first page and searches) in a 10,000-member organization.
    Members(crate::bench::members::MembersBench),
}

#[derive(Debug, Clone, Copy, Subcommand)]
pub enum MigrateAction {
    /// Apply all pending migrations.
    Up,
    /// Roll back every migration (drops Portal's tables).
    Down,
    /// List migrations and whether each is applied.
    Status,
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => {
            let settings = Settings::load(&Overrides {
                config_file: args.common.config,
                listen: args.listen,
                data_dir: args.common.data_dir,
                demo: args.demo,
            })?;
            crate::telemetry::init(&settings.log);
            actix_web::rt::System::new().block_on(serve(settings))
        }
        Command::Keys { action, common } => {
            let settings = Settings::load(&Overrides {
                config_file: common.config,
                data_dir: common.data_dir,
                ..Overrides::default()
            })?;
            crate::telemetry::init(&settings.log);
            actix_web::rt::System::new().block_on(keys(settings, action))
        }
        Command::Bench {
            target: BenchTarget::Auth(args),
        } => {
            crate::telemetry::init("warn");
            startup::install_crypto_provider();
            actix_web::rt::System::new().block_on(crate::bench::auth::run(args))
        }
        Command::Bench {
            target: BenchTarget::Webhooks(args),
        } => {
            crate::telemetry::init("warn");
            actix_web::rt::System::new().block_on(crate::bench::webhooks::run(args))
        }
        Command::Bench {
            target: BenchTarget::Live(args),
        } => {
            crate::telemetry::init("warn");
            actix_web::rt::System::new().block_on(crate::bench::live::run(args))
        }
        Command::Bench {
            target: BenchTarget::LiveClients(args),
        } => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?
            .block_on(crate::bench::live::run_clients(args)),
        Command::Bench {
            target: BenchTarget::Members(args),
        } => {
            crate::telemetry::init("warn");
            startup::install_crypto_provider();
            actix_web::rt::System::new().block_on(crate::bench::members::run(args))
        }
        Command::Migrate { action, common } => {
            let settings = Settings::load(&Overrides {
                config_file: common.config,
                data_dir: common.data_dir,
                ..Overrides::default()
            })?;
            crate::telemetry::init(&settings.log);
            actix_web::rt::System::new().block_on(migrate(settings, action))
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    startup::install_crypto_provider();
    let app = Application::build(settings).await?;
    println!("Portal is running at {}", app.public_url());
    if let Some(demo) = app.demo_credentials() {
        let base = app.public_url().as_str().trim_end_matches('/');
        println!();
        println!("  Demo app:      {base}/demo/");
        println!("  Widgets:       {base}/ui/");
        println!("  Sign in as:    admin@acme.test, member@acme.test or admin@globex.test");
        println!("  Password:      {}", demo.password);
        println!(
            "  Client:        {} / {}",
            crate::demo::CLIENT_ID,
            demo.client_secret
        );
        println!();
    }
    let handle = app.server_handle();
    actix_web::rt::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
        handle.stop(true).await;
    });
    app.run_until_stopped().await?;
    Ok(())
}

async fn keys(settings: Settings, action: KeysAction) -> anyhow::Result<()> {
    let db = Db::connect(&settings.effective_database_url()).await?;
    db.migrate_up().await?;
    crate::db::environment::ensure_default(db.conn()).await?;
    let when = |ms: i64| crate::db::events::rfc3339(ms);
    match action {
        KeysAction::Rotate => match crate::keys::rotate(&db).await? {
            crate::keys::Rotation::Published { kid, signs_from } => println!(
                "published signing key {kid}; it signs from {} (every running node picks it up within a minute)",
                when(signs_from)
            ),
            crate::keys::Rotation::AlreadyPending { kid, signs_from } => println!(
                "key {kid} from an earlier rotation is still waiting; it signs from {}",
                when(signs_from)
            ),
        },
        KeysAction::List => {
            for k in crate::db::keys::all(db.conn()).await? {
                println!(
                    "{:<40} {:<8} created {}  activated {}  retire at {}",
                    k.kid,
                    k.status,
                    when(k.created_at),
                    k.activated_at.map(when).unwrap_or_else(|| "-".into()),
                    k.retire_at.map(when).unwrap_or_else(|| "-".into()),
                );
            }
        }
    }
    db.close().await;
    Ok(())
}

async fn migrate(settings: Settings, action: MigrateAction) -> anyhow::Result<()> {
    use migration::MigratorTrait;
    let url = settings.effective_database_url();
    let db = Db::connect(&url).await?;
    match action {
        MigrateAction::Up => {
            migration::Migrator::up(db.conn(), None).await?;
            println!("migrations applied to {}", db::redact(&url));
        }
        MigrateAction::Down => {
            migration::Migrator::down(db.conn(), None).await?;
            println!("migrations rolled back on {}", db::redact(&url));
        }
        MigrateAction::Status => {
            for m in migration::Migrator::get_migration_with_status(db.conn()).await? {
                println!(
                    "{:<8} {}",
                    format!("{:?}", m.status()).to_lowercase(),
                    m.name()
                );
            }
        }
    }
    db.close().await;
    Ok(())
}
