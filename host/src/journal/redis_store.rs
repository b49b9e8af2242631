//! The journal in the Redis the replicas share, so a user sees the same journal on every
//! replica. Per owner: a hash of records by id and a sorted set of their ids by time, plus
//! two hashes for what is recorded after the record: how each action settled, and which
//! undo took it back. Those two are written whole, never read, changed and written back,
//! so that replicas cannot overwrite each other; claiming an action for an undo is one Lua
//! script (set only if it holds what is expected), so of concurrent undos exactly one goes
//! on. Every key expires after the retention, so an owner who stops calling leaves nothing.

use redis::AsyncCommands;
use redis::aio::ConnectionManager;

use super::{Filter, Keep, Record, Settled, StoreError, Swap};

const PREFIX: &str = "lunatask-mcp:journal";

/// How many ids a read takes from the sorted set at a time while filtering.
const PAGE: isize = 200;

pub struct Shared {
    connection: ConnectionManager,
}

/// An owner's keys.
struct Keys {
    records: String,
    order: String,
    settled: String,
    undone: String,
}

fn keys(owner: &str) -> Keys {
    Keys {
        records: format!("{PREFIX}:records:{owner}"),
        order: format!("{PREFIX}:order:{owner}"),
        settled: format!("{PREFIX}:settled:{owner}"),
        undone: format!("{PREFIX}:undone:{owner}"),
    }
}

/// Sets an action's `undone_by` (KEYS[1], field ARGV[1]) to ARGV[3] if it holds ARGV[2] now
/// (an empty string: nothing, and setting it empty removes it), when the action exists
/// (KEYS[2]). Answers {0, ''} for no action, {1, ''} when set, {2, held} when it held
/// another.
const SWAP_UNDONE_BY: &str = r"
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 then return {0, ''} end
local held = redis.call('HGET', KEYS[1], ARGV[1]) or ''
if held ~= ARGV[2] then return {2, held} end
if ARGV[3] == '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
  redis.call('EXPIRE', KEYS[1], ARGV[4])
end
return {1, ''}
";

fn store(error: impl std::fmt::Display) -> StoreError {
    StoreError(format!("Redis: {error}"))
}

impl Shared {
    pub fn new(connection: ConnectionManager) -> Self {
        Self { connection }
    }

    pub async fn add(
        &self,
        owner: &str,
        record: &Record,
        keep: Keep,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let Keys {
            records,
            order,
            settled,
            undone,
        } = keys(owner);
        let text = serde_json::to_string(record).map_err(store)?;
        let ttl_s = keep.retention_ms / 1000;
        let mut c = self.connection.clone();
        let () = redis::pipe()
            .atomic()
            .hset(&records, &record.id, text)
            .ignore()
            .zadd(&order, &record.id, record.at_ms)
            .ignore()
            .expire(&records, ttl_s)
            .ignore()
            .expire(&order, ttl_s)
            .ignore()
            .query_async(&mut c)
            .await
            .map_err(store)?;
        // What the journal no longer keeps: older than the retention, or beyond the count.
        let old: Vec<String> = c
            .zrangebyscore(&order, "-inf", now_ms - keep.retention_ms - 1)
            .await
            .map_err(store)?;
        let beyond: Vec<String> = c
            .zrevrange(&order, keep.max_actions as isize, -1)
            .await
            .map_err(store)?;
        let gone: Vec<String> = old.into_iter().chain(beyond).collect();
        if !gone.is_empty() {
            let () = redis::pipe()
                .atomic()
                .zrem(&order, &gone)
                .ignore()
                .hdel(&records, &gone)
                .ignore()
                .hdel(&settled, &gone)
                .ignore()
                .hdel(&undone, &gone)
                .ignore()
                .query_async(&mut c)
                .await
                .map_err(store)?;
        }
        Ok(())
    }

    /// Records what became of the action `id`: one write of its own field, which only the
    /// call that made the action makes. False when there is no such action.
    pub async fn settle(
        &self,
        owner: &str,
        id: &str,
        settled: &Settled,
        keep: Keep,
    ) -> Result<bool, StoreError> {
        let keys = keys(owner);
        let text = serde_json::to_string(settled).map_err(store)?;
        let mut c = self.connection.clone();
        let (exists,): (bool,) = redis::pipe()
            .atomic()
            .hexists(&keys.records, id)
            .hset(&keys.settled, id, text)
            .ignore()
            .expire(&keys.settled, keep.retention_ms / 1000)
            .ignore()
            .query_async(&mut c)
            .await
            .map_err(store)?;
        Ok(exists)
    }

    /// Sets the action's `undone_by` to `to` if it holds `expected` now, atomically.
    pub async fn swap_undone_by(
        &self,
        owner: &str,
        id: &str,
        expected: Option<&str>,
        to: Option<&str>,
        keep: Keep,
    ) -> Result<Swap, StoreError> {
        let keys = keys(owner);
        let mut c = self.connection.clone();
        let answer: (u8, Option<String>) = redis::Script::new(SWAP_UNDONE_BY)
            .key(&keys.undone)
            .key(&keys.records)
            .arg(id)
            .arg(expected.unwrap_or_default())
            .arg(to.unwrap_or_default())
            .arg(keep.retention_ms / 1000)
            .invoke_async(&mut c)
            .await
            .map_err(store)?;
        Ok(match answer {
            (1, _) => Swap::Done,
            (2, held) => Swap::Held(held.unwrap_or_default()),
            _ => Swap::Missing,
        })
    }

    /// `records` as the owner's journal holds them now: with how each settled and which
    /// undo took it back, from their own hashes.
    async fn completed(
        &self,
        keys: &Keys,
        mut records: Vec<Record>,
    ) -> Result<Vec<Record>, StoreError> {
        if records.is_empty() {
            return Ok(records);
        }
        let ids: Vec<&str> = records.iter().map(|r| r.id.as_str()).collect();
        let mut c = self.connection.clone();
        let (settled, undone): (Vec<Option<String>>, Vec<Option<String>>) = redis::pipe()
            .cmd("HMGET")
            .arg(&keys.settled)
            .arg(&ids)
            .cmd("HMGET")
            .arg(&keys.undone)
            .arg(&ids)
            .query_async(&mut c)
            .await
            .map_err(store)?;
        for ((record, settled), undone) in records.iter_mut().zip(settled).zip(undone) {
            if let Some(text) = settled {
                serde_json::from_str::<Settled>(&text)
                    .map_err(store)?
                    .apply(record);
            }
            if undone.is_some() {
                record.undone_by = undone;
            }
        }
        Ok(records)
    }

    pub async fn find(&self, owner: &str, filter: &Filter) -> Result<Vec<Record>, StoreError> {
        let keys = keys(owner);
        let mut c = self.connection.clone();
        if let Some(id) = &filter.action_id {
            let text: Option<String> = c.hget(&keys.records, id).await.map_err(store)?;
            let found = text
                .map(|t| serde_json::from_str::<Record>(&t).map_err(store))
                .transpose()?;
            let found = self.completed(&keys, found.into_iter().collect()).await?;
            return Ok(found.into_iter().filter(|r| filter.admits(r)).collect());
        }
        let mut out = Vec::new();
        let mut start = 0;
        'pages: while out.len() < filter.limit {
            let ids: Vec<String> = c
                .zrevrange(&keys.order, start, start + PAGE - 1)
                .await
                .map_err(store)?;
            if ids.is_empty() {
                break;
            }
            let texts: Vec<Option<String>> = redis::cmd("HMGET")
                .arg(&keys.records)
                .arg(&ids)
                .query_async(&mut c)
                .await
                .map_err(store)?;
            for text in texts.into_iter().flatten() {
                let record: Record = serde_json::from_str(&text).map_err(store)?;
                if filter.since_ms.is_some_and(|since| record.at_ms < since) {
                    break 'pages;
                }
                if filter.admits(&record) && out.len() < filter.limit {
                    out.push(record);
                }
            }
            start += PAGE;
        }
        self.completed(&keys, out).await
    }
}
