//! MCP sessions over HTTP, bounded: at most `max` at once, and each forgotten once idle.
//!
//! rmcp's `LocalSessionManager` ends an idle session's worker after its keep-alive, but keeps
//! the session's handle in its map until a `DELETE` that an abandoning client never sends:
//! abandoned sessions pile up for the life of the process. This wrapper remembers when each
//! session was last used, removes the expired ones before a new session is made, and refuses
//! a new session beyond the cap. Everything else is rmcp's.
//!
//! A pruner also runs on its own, so that a flood of abandoned sessions is forgotten even
//! when no new session comes, and then hands the memory they held back to the system:
//! glibc's malloc keeps freed memory in its arenas (measured: 4,000 abandoned sessions took
//! RSS from 55 to 248 MB, unchanged after they expired; `malloc_trim` brought it to 35 MB).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::Stream;
use futures::future::Either;
use futures::stream;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};

use crate::front::replay::Replay;
use rmcp::transport::streamable_http_server::session::local::{
    LocalSessionManager, LocalSessionManagerError, SessionConfig,
};
use rmcp::transport::streamable_http_server::session::{
    ServerSseMessage, SessionId, SessionManager,
};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionsError {
    #[error(
        "{0} MCP sessions are open, the most LUNATASK_MCP_MAX_SESSIONS allows; close one (DELETE) \
         or wait for an idle one to expire"
    )]
    Full(usize),
    #[error(transparent)]
    Local(#[from] LocalSessionManagerError),
}

pub struct Sessions {
    inner: LocalSessionManager,
    /// Request streams' events, kept for resumption after the answer.
    replay: Arc<Replay>,
    max: usize,
    idle: Duration,
    last_used: Mutex<HashMap<SessionId, Instant>>,
    /// In multi-user mode, the keyed hash of the token that opened each session: a request
    /// with another token on it is refused.
    owners: Mutex<HashMap<SessionId, Arc<str>>>,
}

impl Sessions {
    pub fn new(max: usize, idle: Duration) -> Self {
        let mut config = SessionConfig::default();
        config.keep_alive = Some(idle);
        let mut inner = LocalSessionManager::default();
        inner.session_config = config;
        Self {
            inner,
            replay: Arc::default(),
            max,
            idle,
            last_used: Mutex::new(HashMap::new()),
            owners: Mutex::new(HashMap::new()),
        }
    }

    /// The keyed hash of the token that opened session `id`, when one is recorded.
    pub fn owner(&self, id: &str) -> Option<Arc<str>> {
        let owners = self.owners.lock().unwrap_or_else(|e| e.into_inner());
        owners.get(id).cloned()
    }

    /// Records that the token with keyed hash `key` opened session `id`; the first record
    /// stands.
    pub fn own(&self, id: &str, key: Arc<str>) {
        let mut owners = self.owners.lock().unwrap_or_else(|e| e.into_inner());
        owners.entry(SessionId::from(id)).or_insert(key);
    }

    fn disown(&self, id: &SessionId) {
        let mut owners = self.owners.lock().unwrap_or_else(|e| e.into_inner());
        owners.remove(id);
    }

    fn touch(&self, id: &SessionId) {
        if let Ok(mut seen) = self.last_used.lock()
            && let Some(at) = seen.get_mut(id)
        {
            *at = Instant::now();
        }
    }

    /// How many sessions are open.
    pub async fn open(&self) -> usize {
        self.inner.sessions.read().await.len()
    }

    /// Whether a new session fits (after forgetting the expired ones); when not, how long
    /// until the first open one expires unless used.
    pub async fn room(&self) -> Result<(), Duration> {
        self.prune().await;
        if self.open().await < self.max {
            return Ok(());
        }
        let seen = self.last_used.lock().unwrap_or_else(|e| e.into_inner());
        let soonest = seen
            .values()
            .map(|at| self.idle.saturating_sub(at.elapsed()))
            .min();
        Err(soonest.unwrap_or(self.idle).max(Duration::from_secs(1)))
    }

    /// Closes the least recently used sessions of the caller whose keyed hash is `owner`
    /// beyond `cap`, never `keep` (the one just opened).
    pub async fn keep_within(&self, owner: &Arc<str>, cap: usize, keep: &str) {
        let beyond: Vec<SessionId> = {
            let owners = self.owners.lock().unwrap_or_else(|e| e.into_inner());
            let seen = self.last_used.lock().unwrap_or_else(|e| e.into_inner());
            let mut theirs: Vec<(Instant, &SessionId)> = owners
                .iter()
                .filter(|(id, key)| *key == owner && id.as_ref() != keep)
                .map(|(id, _)| (seen.get(id).copied().unwrap_or_else(Instant::now), id))
                .collect();
            // Newest first: the ones past the cap (less the new one) are the oldest.
            theirs.sort_by_key(|(at, _)| std::cmp::Reverse(*at));
            theirs
                .into_iter()
                .skip(cap.saturating_sub(1))
                .map(|(_, id)| id.clone())
                .collect()
        };
        for id in beyond {
            tracing::info!(
                "closed a caller's least recently used session: LUNATASK_MCP_USER_MAX_SESSIONS reached"
            );
            let _ = self.close_session(&id).await;
        }
    }

    /// Prunes every so often, for as long as the server runs, and gives the memory of the
    /// sessions it ended back to the system.
    pub async fn keep_pruned(self: Arc<Self>) {
        let every = (self.idle / 4).clamp(Duration::from_millis(250), Duration::from_secs(30));
        let mut pruned_last_time = false;
        loop {
            tokio::time::sleep(every).await;
            let pruned = self.prune().await > 0;
            // The ended sessions' tasks free what they held as they finish, some after the
            // prune: a second trim, a tick after the last prune, gives that back too.
            if pruned || pruned_last_time {
                let _ = tokio::task::spawn_blocking(return_freed_memory).await;
            }
            pruned_last_time = pruned;
        }
    }

    /// Closes the sessions unused for longer than the idle timeout (their workers have
    /// ended already) and forgets them; returns how many.
    async fn prune(&self) -> usize {
        let expired: Vec<SessionId> = match self.last_used.lock() {
            Ok(mut seen) => {
                let expired: Vec<SessionId> = seen
                    .iter()
                    .filter(|(_, at)| at.elapsed() > self.idle)
                    .map(|(id, _)| id.clone())
                    .collect();
                for id in &expired {
                    seen.remove(id);
                }
                expired
            }
            Err(_) => Vec::new(),
        };
        let count = expired.len();
        for id in expired {
            self.disown(&id);
            self.replay.forget(&id);
            let _ = self.inner.close_session(&id).await;
        }
        count
    }
}

/// Returns the heap memory that is free but still held by the allocator to the system.
/// The host's only `unsafe`: a plain C call with no arguments to get wrong.
#[allow(unsafe_code, reason = "glibc's malloc_trim has no safe wrapper")]
fn return_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` only walks glibc's own heap, under glibc's own locks.
    unsafe {
        libc::malloc_trim(0);
    }
}

impl SessionManager for Sessions {
    type Error = SessionsError;
    type Transport = <LocalSessionManager as SessionManager>::Transport;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        self.prune().await;
        let open = self.inner.sessions.read().await.len();
        if open >= self.max {
            tracing::warn!(
                open,
                "new MCP session refused: LUNATASK_MCP_MAX_SESSIONS reached"
            );
            return Err(SessionsError::Full(open));
        }
        let (id, transport) = self.inner.create_session().await?;
        if let Ok(mut seen) = self.last_used.lock() {
            seen.insert(id.clone(), Instant::now());
        }
        Ok((id, transport))
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        self.touch(id);
        Ok(self.inner.initialize_session(id, message).await?)
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        Ok(self.inner.has_session(id).await?)
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        if let Ok(mut seen) = self.last_used.lock() {
            seen.remove(id);
        }
        self.replay.forget(id);
        self.disown(id);
        Ok(self.inner.close_session(id).await?)
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.touch(id);
        let stream = self.inner.create_stream(id, message).await?;
        Ok(self.replay.tee(id, stream))
    }

    async fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<(), Self::Error> {
        self.touch(id);
        Ok(self.inner.accept_message(id, message).await?)
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.touch(id);
        Ok(self.inner.create_standalone_stream(id).await?)
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.touch(id);
        // A request that has answered: rmcp has forgotten it, the replay has not.
        if let Some(missed) = self.replay.after(id, &last_event_id) {
            return Ok(Either::Left(stream::iter(missed)));
        }
        let stream = self.inner.resume(id, last_event_id).await?;
        Ok(Either::Right(self.replay.tee(id, stream)))
    }
}
