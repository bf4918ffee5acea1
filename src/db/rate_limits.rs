//! Rate-limit counters in the database, so every node sees the same counts: a fixed window per key
//! plus exponential back-off. Exceeding the limit blocks the key for `block_ms`, doubling with each
//! further block (a "strike") up to `max_block_ms`; a block starts a fresh window when it ends, and
//! strikes are forgiven after a whole quiet window.

use super::entities::rate_limit;
use super::{Conn, Db};
use anyhow::Context;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QuerySelect, sea_query::OnConflict,
};

/// The rule for one kind of attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Attempts allowed per window.
    pub limit: i32,
    pub window_ms: i64,
    /// The first block; each further strike doubles it.
    pub block_ms: i64,
    pub max_block_ms: i64,
}

/// A key's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    pub count: i32,
    pub strikes: i32,
    pub window_start: i64,
    pub blocked_until: Option<i64>,
}

/// Milliseconds until `counter` is unblocked at `now`, if it is blocked.
pub fn remaining(counter: &Counter, now: i64) -> Option<i64> {
    counter.blocked_until.filter(|b| *b > now).map(|b| b - now)
}

/// The counters after one more attempt at `now`, and how long the caller must wait if this attempt
/// is refused. Pure, so the arithmetic is tested on its own.
pub fn step(current: Option<Counter>, policy: &Policy, now: i64) -> (Counter, Option<i64>) {
    let mut c = current.unwrap_or(Counter {
        count: 0,
        strikes: 0,
        window_start: now,
        blocked_until: None,
    });
    if let Some(wait) = remaining(&c, now) {
        return (c, Some(wait));
    }
    if now - c.window_start >= policy.window_ms {
        // Strikes are forgiven once a full window has passed since the last block ended.
        if c.blocked_until.is_none_or(|b| now >= b + policy.window_ms) {
            c.strikes = 0;
        }
        c.count = 0;
        c.window_start = now;
    }
    c.count += 1;
    if c.count <= policy.limit {
        return (c, None);
    }
    c.strikes += 1;
    let factor = 1i64 << (c.strikes - 1).clamp(0, 20);
    let block = policy
        .block_ms
        .saturating_mul(factor)
        .min(policy.max_block_ms);
    let until = now + block;
    c.blocked_until = Some(until);
    // The next window begins when the block ends, with the full allowance again.
    c.count = 0;
    c.window_start = until;
    (c, Some(block))
}

impl From<rate_limit::Model> for Counter {
    fn from(m: rate_limit::Model) -> Self {
        Self {
            count: m.count,
            strikes: m.strikes,
            window_start: m.window_start,
            blocked_until: m.blocked_until,
        }
    }
}

/// The longest wait among `keys` at `now`, if any of them is blocked.
pub async fn blocked_for(db: &impl Conn, keys: &[String], now: i64) -> anyhow::Result<Option<i64>> {
    let rows = rate_limit::Entity::find()
        .filter(rate_limit::Column::Key.is_in(keys.iter().cloned()))
        .all(db)
        .await
        .context("failed to read rate limits")?;
    Ok(rows
        .into_iter()
        .filter_map(|r| remaining(&Counter::from(r), now))
        .max())
}

/// Counts one attempt against `key`; returns how long to wait when the attempt is refused. The row
/// is read and written under a lock (`FOR UPDATE` on PostgreSQL, the write lock on SQLite), so
/// concurrent attempts on several nodes are all counted.
pub async fn hit(db: &Db, key: &str, policy: &Policy, now: i64) -> anyhow::Result<Option<i64>> {
    let tx = db.begin_write().await?;
    rate_limit::Entity::insert(rate_limit::ActiveModel {
        key: Set(key.into()),
        count: Set(0),
        strikes: Set(0),
        window_start: Set(now),
        blocked_until: Set(None),
    })
    .on_conflict(
        OnConflict::column(rate_limit::Column::Key)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(&tx)
    .await
    .context("failed to create a rate limit counter")?;
    let row = rate_limit::Entity::find_by_id(key)
        .lock_exclusive()
        .one(&tx)
        .await
        .context("failed to read a rate limit counter")?;
    let (next, wait) = step(row.map(Counter::from), policy, now);
    rate_limit::Entity::update(rate_limit::ActiveModel {
        key: Set(key.into()),
        count: Set(next.count),
        strikes: Set(next.strikes),
        window_start: Set(next.window_start),
        blocked_until: Set(next.blocked_until),
    })
    .exec(&tx)
    .await
    .context("failed to update a rate limit counter")?;
    tx.commit().await.context("failed to commit a rate limit")?;
    Ok(wait)
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: Policy = Policy {
        limit: 3,
        window_ms: 1_000,
        block_ms: 100,
        max_block_ms: 350,
    };

    fn run(attempts: &[i64]) -> Vec<Option<i64>> {
        let mut c = None;
        attempts
            .iter()
            .map(|t| {
                let (next, wait) = step(c, &P, *t);
                c = Some(next);
                wait
            })
            .collect()
    }

    #[test]
    fn allows_the_limit_then_blocks() {
        assert_eq!(
            run(&[0, 1, 2, 3, 50]),
            vec![None, None, None, Some(100), Some(53)]
        );
    }

    #[test]
    fn blocks_double_and_are_capped() {
        // Block 1 ends at 103; three more attempts pass, the fourth doubles the block.
        let waits = run(&[0, 1, 2, 3, 103, 104, 105, 106, 306, 307, 308, 309]);
        assert_eq!(waits[3], Some(100));
        assert_eq!(&waits[4..7], &[None, None, None]);
        assert_eq!(waits[7], Some(200));
        assert_eq!(waits[11], Some(350), "capped at max_block_ms");
    }

    #[test]
    fn a_new_window_resets_the_count_and_a_quiet_one_the_strikes() {
        assert_eq!(run(&[0, 1, 2, 1_000, 1_001, 1_002]), vec![None; 6]);
        let mut c = None;
        for t in [0, 1, 2, 3] {
            c = Some(step(c, &P, t).0);
        }
        assert_eq!(c.unwrap().strikes, 1);
        // Block ended at 103; a window later the strike is forgiven.
        let (after, wait) = step(c, &P, 103 + 1_000 + 1_000);
        assert_eq!((after.strikes, wait), (0, None));
    }
}
