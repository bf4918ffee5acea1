//! Storage: the connection, the entities and one module of queries per aggregate. Nothing here knows
//! about actix; handlers and actors call these functions.

pub mod backchannel;
pub mod clients;
pub mod domains;
pub mod entities;
pub mod environment;
pub mod events;
pub mod invites;
pub mod keys;
pub mod members;
pub mod oauth;
pub mod one_time_codes;
pub mod orgs;
pub mod passkeys;
pub mod rate_limits;
pub mod refresh_tokens;
pub mod roles;
pub mod secrets;
pub mod sessions;
pub mod users;
pub mod webhooks;

use anyhow::Context;
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use std::time::Duration;

/// The shared database handle.
#[derive(Clone, Debug)]
pub struct Db {
    conn: DatabaseConnection,
}

impl Db {
    /// Connects and tunes the backend: SQLite gets WAL, a busy timeout and foreign keys; PostgreSQL a
    /// pool sized for a few workers per core.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        if let Some(path) = sqlite_path(url)
            && let Some(parent) = std::path::Path::new(path).parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).with_context(|| {
                format!("failed to create database directory {}", parent.display())
            })?;
        }
        let mut opts = ConnectOptions::new(url.to_string());
        opts.sqlx_logging(false)
            .connect_timeout(Duration::from_secs(10))
            .acquire_timeout(Duration::from_secs(30));
        if url.starts_with("sqlite:") {
            // One writer at a time is SQLite's rule; readers run beside it under WAL.
            opts.max_connections(8).min_connections(1);
            opts.map_sqlx_sqlite_opts(|o| {
                o.journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true)
            });
        } else {
            opts.max_connections(32).min_connections(2);
        }
        let conn = Database::connect(opts)
            .await
            .with_context(|| format!("failed to connect to the database at {}", redact(url)))?;
        Ok(Self { conn })
    }

    pub fn conn(&self) -> &DatabaseConnection {
        &self.conn
    }

    pub fn backend(&self) -> DbBackend {
        self.conn.get_database_backend()
    }

    pub fn is_postgres(&self) -> bool {
        self.backend() == DbBackend::Postgres
    }

    /// Starts a transaction that will write. On SQLite it takes the write lock at `BEGIN` (IMMEDIATE),
    /// so two writers queue on the busy timeout instead of failing when one upgrades a read lock.
    pub async fn begin_write(&self) -> anyhow::Result<DatabaseTransaction> {
        let options = TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        };
        self.conn
            .begin_with_options(options)
            .await
            .context("failed to begin a transaction")
    }

    /// Runs the migrations that have not run yet.
    pub async fn migrate_up(&self) -> anyhow::Result<()> {
        use migration::MigratorTrait;
        migration::Migrator::up(&self.conn, None)
            .await
            .context("failed to run database migrations")
    }

    pub async fn close(self) {
        let _ = self.conn.close().await;
    }
}

/// The file path of a `sqlite://path?…` URL.
pub fn sqlite_path(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then_some(path)
}

/// A database URL without its password, for logs and errors.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}

/// Milliseconds since the Unix epoch: the unit of every time column.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Whether a database error is a unique-constraint violation (a lost race on insert).
pub fn is_unique_violation(err: &sea_orm::DbErr) -> bool {
    matches!(
        err.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}

/// Runs a statement on either a connection or a transaction.
pub trait Conn: ConnectionTrait {}
impl<T: ConnectionTrait> Conn for T {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_sqlite_paths() {
        assert_eq!(
            sqlite_path("sqlite://./data/portal.db?mode=rwc"),
            Some("./data/portal.db")
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://localhost/x"), None);
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    }
}
