//! The journal in an embedded SQLite database (`rusqlite`, SQLite bundled): one file,
//! `journal.sqlite3` under the state directory, private to its user (mode 600). Every
//! record is committed before the guest goes on, so an answer the client got has its record
//! however the server ends (killed included). The write-ahead log with `synchronous=NORMAL`
//! leaves the fsync to checkpoints: a power cut may lose the last moments' records, never
//! corrupt the file. `FULL` (an fsync per commit, two per write) measured +0.8 ms on every
//! write in the bench, more than the rest of the server's overhead.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::{Filter, Keep, Record, Settled, StoreError, Swap};

const FILE: &str = "journal.sqlite3";

/// How often (in one owner's actions added) the count bound is enforced.
const PRUNE_EVERY: i64 = 64;

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS actions (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        owner TEXT NOT NULL,
        at_ms INTEGER NOT NULL,
        tool TEXT NOT NULL,
        correlation_id TEXT NOT NULL,
        record TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS actions_by_owner ON actions (owner, seq);
    CREATE INDEX IF NOT EXISTS actions_by_call ON actions (owner, correlation_id);
    CREATE INDEX IF NOT EXISTS actions_by_age ON actions (owner, at_ms);
    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS owners (owner TEXT PRIMARY KEY, added INTEGER NOT NULL);
";

/// The open database. One connection, behind a lock: each statement takes microseconds,
/// far less than the API call it records.
pub struct Db {
    /// `None` for a journal in memory.
    path: Option<PathBuf>,
    connection: Mutex<Connection>,
}

impl Db {
    /// Opens (or creates) the database in `dir`, checks it is whole and writable, and fails
    /// with what to do when it is not.
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join(FILE);
        let fail = |what: &str, e: &dyn std::fmt::Display| {
            anyhow::anyhow!(
                "the action journal at {} {what}: {e}; set LUNATASK_STATE_DIR to another \
                 directory, or LUNATASK_JOURNAL=off to keep no journal",
                path.display()
            )
        };
        create_private_dir(dir).map_err(|e| fail("has no directory", &e))?;
        let connection = Connection::open(&path).map_err(|e| fail("cannot be opened", &e))?;
        restrict(&path).map_err(|e| fail("cannot be made private", &e))?;
        connection
            .busy_timeout(Duration::from_secs(5))
            .map_err(|e| fail("cannot be opened", &e))?;
        let check: String = connection
            .query_row("PRAGMA quick_check", [], |row| row.get(0))
            .map_err(|e| corrupt(&path, &e))?;
        if check != "ok" {
            return Err(corrupt(&path, &check));
        }
        connection
            .execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
            .and_then(|()| connection.execute_batch(SCHEMA))
            // A read-only file or directory passes the reads above; this write does not.
            .and_then(|()| connection.execute_batch("BEGIN IMMEDIATE; ROLLBACK;"))
            .map_err(|e| fail("cannot be written", &e))?;
        Ok(Self {
            path: Some(path),
            connection: Mutex::new(connection),
        })
    }

    /// A journal that ends with the process, for when there is no directory to keep it in.
    pub fn in_memory() -> anyhow::Result<Self> {
        let connection = Connection::open_in_memory()?;
        connection.execute_batch(SCHEMA)?;
        Ok(Self {
            path: None,
            connection: Mutex::new(connection),
        })
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding it left no half-done transaction (each one is atomic).
        self.connection
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn hash_key(&self, fresh: String) -> anyhow::Result<String> {
        let db = self.lock();
        db.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('user-hash-key', ?1)",
            params![fresh],
        )?;
        Ok(db.query_row(
            "SELECT value FROM meta WHERE key = 'user-hash-key'",
            [],
            |row| row.get(0),
        )?)
    }

    /// Adds `record`, then drops what the owner's journal no longer keeps.
    pub fn add(
        &self,
        owner: &str,
        record: &Record,
        keep: Keep,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let text = serde_json::to_string(record).map_err(store)?;
        let mut db = self.lock();
        let tx = db.transaction().map_err(store)?;
        tx.prepare_cached(
            "INSERT INTO actions (id, owner, at_ms, tool, correlation_id, record)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .map_err(store)?
        .execute(params![
            record.id,
            owner,
            record.at_ms,
            record.tool,
            record.correlation_id,
            text
        ])
        .map_err(store)?;
        tx.prepare_cached("DELETE FROM actions WHERE owner = ?1 AND at_ms < ?2")
            .map_err(store)?
            .execute(params![owner, now_ms - keep.retention_ms])
            .map_err(store)?;
        // Counting off the newest walks the owner's whole journal: done every so many of
        // the owner's adds, so a journal holds at most PRUNE_EVERY - 1 beyond its bound.
        let added: i64 = tx
            .prepare_cached(
                "INSERT INTO owners (owner, added) VALUES (?1, 1)
                 ON CONFLICT (owner) DO UPDATE SET added = added + 1 RETURNING added",
            )
            .map_err(store)?
            .query_row(params![owner], |row| row.get(0))
            .map_err(store)?;
        if added % PRUNE_EVERY == 0 {
            tx.prepare_cached(
                "DELETE FROM actions WHERE owner = ?1 AND seq <= (
                    SELECT seq FROM actions WHERE owner = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2)",
            )
            .map_err(store)?
            .execute(params![owner, keep.max_actions])
            .map_err(store)?;
        }
        tx.commit().map_err(store)
    }

    /// Records what became of the action `id`; false when there is none. Read, changed and
    /// written in one immediate transaction: another process sharing the file waits.
    pub fn settle(&self, owner: &str, id: &str, settled: &Settled) -> Result<bool, StoreError> {
        let mut db = self.lock();
        let tx = db
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(store)?;
        let text: Option<String> = tx
            .prepare_cached("SELECT record FROM actions WHERE owner = ?1 AND id = ?2")
            .map_err(store)?
            .query_row(params![owner, id], |row| row.get(0))
            .optional()
            .map_err(store)?;
        let Some(text) = text else {
            return Ok(false);
        };
        let mut record: Record = serde_json::from_str(&text).map_err(store)?;
        settled.apply(&mut record);
        let text = serde_json::to_string(&record).map_err(store)?;
        tx.prepare_cached("UPDATE actions SET record = ?3 WHERE owner = ?1 AND id = ?2")
            .map_err(store)?
            .execute(params![owner, id, text])
            .map_err(store)?;
        tx.commit().map_err(store)?;
        Ok(true)
    }

    /// Sets the action's `undone_by` to `to` if it holds `expected` (none: nothing) now.
    /// One statement, so atomic for every connection to the file, in any process.
    pub fn swap_undone_by(
        &self,
        owner: &str,
        id: &str,
        expected: Option<&str>,
        to: Option<&str>,
    ) -> Result<Swap, StoreError> {
        let db = self.lock();
        let changed = db
            .prepare_cached(
                "UPDATE actions SET record = json_set(record, '$.undone_by', ?4)
                 WHERE owner = ?1 AND id = ?2 AND json_extract(record, '$.undone_by') IS ?3",
            )
            .map_err(store)?
            .execute(params![owner, id, expected, to])
            .map_err(store)?;
        if changed == 1 {
            return Ok(Swap::Done);
        }
        let held: Option<Option<String>> = db
            .prepare_cached(
                "SELECT json_extract(record, '$.undone_by') FROM actions
                 WHERE owner = ?1 AND id = ?2",
            )
            .map_err(store)?
            .query_row(params![owner, id], |row| row.get(0))
            .optional()
            .map_err(store)?;
        Ok(match held {
            None => Swap::Missing,
            Some(by) => Swap::Held(by.unwrap_or_default()),
        })
    }

    pub fn find(&self, owner: &str, filter: &Filter) -> Result<Vec<Record>, StoreError> {
        let db = self.lock();
        let mut statement = db
            .prepare_cached(
                "SELECT record FROM actions WHERE owner = ?1
                   AND (?2 IS NULL OR id = ?2)
                   AND (?3 IS NULL OR correlation_id = ?3)
                   AND (?4 IS NULL OR tool = ?4)
                   AND (?5 IS NULL OR at_ms >= ?5)
                 ORDER BY seq DESC LIMIT ?6",
            )
            .map_err(store)?;
        let rows = statement
            .query_map(
                params![
                    owner,
                    filter.action_id,
                    filter.correlation_id,
                    filter.tool,
                    filter.since_ms,
                    filter.limit as i64
                ],
                |row| row.get::<_, String>(0),
            )
            .map_err(store)?;
        let mut out = Vec::new();
        for row in rows {
            let text = row.map_err(store)?;
            out.push(serde_json::from_str(&text).map_err(store)?);
        }
        Ok(out)
    }
}

fn store(error: impl std::fmt::Display) -> StoreError {
    StoreError(format!("SQLite: {error}"))
}

fn corrupt(path: &Path, error: &dyn std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!(
        "the action journal at {} is damaged ({error}); move the file away to start a fresh \
         journal, set LUNATASK_STATE_DIR to another directory, or LUNATASK_JOURNAL=off",
        path.display()
    )
}

/// The directory, made private (700) when this creates it.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// The file readable by its owner alone: in multi-user mode it holds the key of the users'
/// keyed hash.
fn restrict(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::Outcome;

    fn record(id: &str, at_ms: i64, correlation_id: &str) -> Record {
        Record {
            id: id.into(),
            at_ms,
            tool: "create_task".into(),
            correlation_id: correlation_id.into(),
            kind: "task".into(),
            operation: "create".into(),
            entity_id: None,
            changes: vec![],
            undoes: None,
            outcome: Outcome::Pending,
            undone_by: None,
        }
    }

    /// The ids of `owner`'s newest ten actions, newest first.
    fn ids_of(db: &Db, owner: &str) -> Vec<String> {
        let found = db.find(owner, &all(10)).unwrap();
        found.into_iter().map(|r| r.id).collect()
    }

    fn all(limit: usize) -> Filter {
        Filter {
            limit,
            ..Filter::default()
        }
    }

    #[test]
    fn keeps_the_newest_within_the_bounds_and_apart_per_owner() {
        let dir = tempdir();
        let db = Db::open(&dir).unwrap();
        let keep = Keep {
            retention_ms: 1_000,
            max_actions: 3,
        };
        // The count is enforced at every PRUNE_EVERY-th add of the owner's.
        for i in 0..PRUNE_EVERY - 1 {
            db.add(
                "a",
                &record(&format!("a{i}"), 10_000 + i, "c"),
                keep,
                10_000 + i,
            )
            .unwrap();
        }
        db.add("b", &record("b0", 10_000, "c"), keep, 10_000)
            .unwrap();
        let held = db.find("a", &all(100)).unwrap().len();
        assert_eq!(held, 63, "not yet: b's add is not a's");
        db.add("a", &record("a63", 10_063, "c"), keep, 10_063)
            .unwrap();
        assert_eq!(
            ids_of(&db, "a"),
            ["a63", "a62", "a61"],
            "newest first, at most max_actions"
        );
        // Older than the retention when the next one is added: dropped.
        db.add("a", &record("a5", 12_000, "d"), keep, 12_000)
            .unwrap();
        assert_eq!(ids_of(&db, "a"), ["a5"]);
        assert_eq!(
            db.find("b", &all(10)).unwrap().len(),
            1,
            "b's journal is its own"
        );
        let applied = Settled {
            outcome: Outcome::Applied,
            entity_id: None,
        };
        assert!(db.settle("a", "a5", &applied).unwrap());
        assert!(
            !db.settle("b", "a5", &applied).unwrap(),
            "no owner reaches another's"
        );
        assert_eq!(db.find("a", &all(1)).unwrap()[0].outcome, Outcome::Applied);
    }

    #[test]
    fn undone_by_changes_only_from_what_is_expected() {
        let db = Db::in_memory().unwrap();
        let keep = Keep {
            retention_ms: 1_000_000,
            max_actions: 100,
        };
        db.add("a", &record("x", 1, "c"), keep, 1).unwrap();
        assert_eq!(
            db.swap_undone_by("a", "x", None, Some("claim-1")).unwrap(),
            Swap::Done
        );
        assert_eq!(
            db.swap_undone_by("a", "x", None, Some("claim-2")).unwrap(),
            Swap::Held("claim-1".into()),
            "a second claim loses"
        );
        assert_eq!(
            db.swap_undone_by("a", "x", Some("claim-1"), Some("undo-1"))
                .unwrap(),
            Swap::Done
        );
        assert_eq!(
            db.find("a", &all(1)).unwrap()[0].undone_by.as_deref(),
            Some("undo-1")
        );
        assert_eq!(
            db.swap_undone_by("a", "x", Some("claim-1"), None).unwrap(),
            Swap::Held("undo-1".into()),
            "a claim that is no longer held cannot be released"
        );
        assert_eq!(
            db.swap_undone_by("b", "x", None, Some("c")).unwrap(),
            Swap::Missing
        );
    }

    #[test]
    fn a_damaged_file_stops_start_up_and_says_what_to_do() {
        let dir = tempdir();
        std::fs::write(dir.join(FILE), vec![b'x'; 8192]).unwrap();
        let error = Db::open(&dir).err().unwrap().to_string();
        assert!(
            error.contains("damaged") && error.contains("LUNATASK_STATE_DIR"),
            "{error}"
        );
    }

    #[test]
    fn the_hash_key_is_made_once_and_kept() {
        let dir = tempdir();
        assert_eq!(Db::open(&dir).unwrap().hash_key("k1".into()).unwrap(), "k1");
        assert_eq!(Db::open(&dir).unwrap().hash_key("k2".into()).unwrap(), "k1");
    }

    fn tempdir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("lunatask-journal-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
