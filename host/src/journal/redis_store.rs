//! The journal in the Redis the replicas share: per owner, a hash of records by id and a
//! sorted set of their ids by time, so a user sees the same journal on every replica. Both
//! keys expire after the retention, so an owner who stops calling leaves nothing behind.

use redis::AsyncCommands;
use redis::aio::ConnectionManager;

use super::{Filter, Keep, Record, StoreError};

const PREFIX: &str = "lunatask-mcp:journal";

/// How many ids a read takes from the sorted set at a time while filtering.
const PAGE: isize = 200;

pub struct Shared {
    connection: ConnectionManager,
}

fn keys(owner: &str) -> (String, String) {
    (
        format!("{PREFIX}:records:{owner}"),
        format!("{PREFIX}:order:{owner}"),
    )
}

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
        let (records, order) = keys(owner);
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
                .query_async(&mut c)
                .await
                .map_err(store)?;
        }
        Ok(())
    }

    /// Read, changed, written back. Two replicas settling the same action at once cannot
    /// happen (one call settles its own); an undo marking it races only with another undo
    /// of the same action, and either mark is true.
    pub async fn update(
        &self,
        owner: &str,
        id: &str,
        change: impl FnOnce(&mut Record),
    ) -> Result<bool, StoreError> {
        let (records, _) = keys(owner);
        let mut c = self.connection.clone();
        let text: Option<String> = c.hget(&records, id).await.map_err(store)?;
        let Some(text) = text else {
            return Ok(false);
        };
        let mut record: Record = serde_json::from_str(&text).map_err(store)?;
        change(&mut record);
        let text = serde_json::to_string(&record).map_err(store)?;
        let () = c.hset(&records, id, text).await.map_err(store)?;
        Ok(true)
    }

    pub async fn find(&self, owner: &str, filter: &Filter) -> Result<Vec<Record>, StoreError> {
        let (records, order) = keys(owner);
        let mut c = self.connection.clone();
        if let Some(id) = &filter.action_id {
            let text: Option<String> = c.hget(&records, id).await.map_err(store)?;
            return text
                .map(|t| serde_json::from_str::<Record>(&t).map_err(store))
                .transpose()
                .map(|r| r.into_iter().filter(|r| filter.admits(r)).collect());
        }
        let mut out = Vec::new();
        let mut start = 0;
        while out.len() < filter.limit {
            let ids: Vec<String> = c
                .zrevrange(&order, start, start + PAGE - 1)
                .await
                .map_err(store)?;
            if ids.is_empty() {
                break;
            }
            let texts: Vec<Option<String>> = redis::cmd("HMGET")
                .arg(&records)
                .arg(&ids)
                .query_async(&mut c)
                .await
                .map_err(store)?;
            for text in texts.into_iter().flatten() {
                let record: Record = serde_json::from_str(&text).map_err(store)?;
                if filter.since_ms.is_some_and(|since| record.at_ms < since) {
                    return Ok(out);
                }
                if filter.admits(&record) && out.len() < filter.limit {
                    out.push(record);
                }
            }
            start += PAGE;
        }
        Ok(out)
    }
}
