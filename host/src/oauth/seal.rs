//! Sealing: every OAuth artefact this server hands out (client ids, consent requests, codes,
//! access and refresh tokens) is a PASETO v4.local token, authenticated encryption under the
//! sealing key, with its expiry inside. So any replica with the key reads any of them,
//! nothing secret is stored anywhere in clear, and one kind can never pass for another: each
//! is sealed with its own implicit assertion.

use std::path::Path;
use std::time::Duration;

use pasetors::claims::{Claims, ClaimsValidationRules};
use pasetors::keys::SymmetricKey;
use pasetors::token::UntrustedToken;
use pasetors::version4::V4;
use pasetors::{Local, local};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

/// The shortest key file accepted.
const MIN_KEY_BYTES: usize = 32;

/// What a sealed token is; part of what is authenticated, so a code cannot be presented as
/// an access token, nor a refresh token as a client id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Client,
    Consent,
    Code,
    Access,
    Refresh,
}

impl Kind {
    fn assertion(self) -> &'static [u8] {
        match self {
            Kind::Client => b"lunatask-mcp oauth client",
            Kind::Consent => b"lunatask-mcp oauth consent",
            Kind::Code => b"lunatask-mcp oauth code",
            Kind::Access => b"lunatask-mcp oauth access",
            Kind::Refresh => b"lunatask-mcp oauth refresh",
        }
    }
}

/// Why a key file was refused.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{setting} {path}: {source}")]
    Unreadable {
        setting: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error(
        "{setting} {path} holds {len} bytes; a sealing key is at least {MIN_KEY_BYTES} random \
         bytes (head -c 32 /dev/urandom > FILE)"
    )]
    TooShort {
        setting: &'static str,
        path: String,
        len: usize,
    },
    #[error(
        "{setting} {path} can be read by others (mode {mode:o}); it seals every token this \
         server issues: chmod 600 it"
    )]
    Shared {
        setting: &'static str,
        path: String,
        mode: u32,
    },
}

/// The sealing keys: the current one seals and reads, the previous one (during a rotation)
/// only reads.
pub struct Sealer {
    current: SymmetricKey<V4>,
    previous: Option<SymmetricKey<V4>>,
}

impl Sealer {
    /// Keys from the files, or (no file) a random key that ends with the process.
    pub fn load(current: Option<&Path>, previous: Option<&Path>) -> Result<Self, KeyError> {
        let current = match current {
            Some(path) => key_from_file(path, "LUNATASK_MCP_SEALING_KEY_FILE")?,
            None => {
                tracing::warn!(
                    "no LUNATASK_MCP_SEALING_KEY_FILE: OAuth tokens are sealed with a key made \
                     at start-up, so they end with this process and no other replica can read \
                     them; every client must sign in again after a restart"
                );
                random_key()
            }
        };
        let previous = previous
            .map(|path| key_from_file(path, "LUNATASK_MCP_PREVIOUS_SEALING_KEY_FILE"))
            .transpose()?;
        Ok(Self { current, previous })
    }

    /// Seals `body` as a token of `kind`, valid for `ttl` (or, with `None`, until the key
    /// changes).
    pub fn seal<T: Serialize>(
        &self,
        kind: Kind,
        body: &T,
        ttl: Option<Duration>,
    ) -> anyhow::Result<String> {
        let mut claims = Claims::new()?;
        match ttl {
            Some(ttl) => claims.set_expires_in(&ttl)?,
            None => claims.non_expiring(),
        }
        claims.add_additional("b", serde_json::to_value(body)?)?;
        Ok(local::encrypt(
            &self.current,
            &claims,
            None,
            Some(kind.assertion()),
        )?)
    }

    /// The body of a token of `kind` that one of the keys sealed and that has not expired;
    /// `None` for anything else (tampered, expired, another kind, not a token at all).
    pub fn open<T: DeserializeOwned>(&self, kind: Kind, token: &str) -> Option<T> {
        let untrusted = UntrustedToken::<Local, V4>::try_from(token).ok()?;
        let mut rules = ClaimsValidationRules::new();
        if kind == Kind::Client {
            rules.allow_non_expiring();
        }
        let keys = std::iter::once(&self.current).chain(self.previous.as_ref());
        keys.filter_map(|key| {
            local::decrypt(key, &untrusted, &rules, None, Some(kind.assertion())).ok()
        })
        .find_map(|trusted| {
            let body = trusted.payload_claims()?.get_claim("b")?.clone();
            serde_json::from_value(body).ok()
        })
    }
}

fn random_key() -> SymmetricKey<V4> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("system randomness");
    SymmetricKey::<V4>::from(&bytes).expect("32 bytes is a v4 key")
}

/// The key a file's bytes make: SHA-256 over them, so a file of any length from 32 bytes
/// (raw or hex) gives one 32-byte key.
fn key_from_file(path: &Path, setting: &'static str) -> Result<SymmetricKey<V4>, KeyError> {
    let shown = path.display().to_string();
    let unreadable = |source| KeyError::Unreadable {
        setting,
        path: shown.clone(),
        source,
    };
    let bytes = std::fs::read(path).map_err(unreadable)?;
    check_private(path, setting).map_err(unreadable)??;
    if bytes.len() < MIN_KEY_BYTES {
        return Err(KeyError::TooShort {
            setting,
            path: shown,
            len: bytes.len(),
        });
    }
    let digest = Sha256::new()
        .chain_update(b"lunatask-mcp sealing key\0")
        .chain_update(&bytes)
        .finalize();
    Ok(SymmetricKey::<V4>::from(digest.as_slice()).expect("32 bytes is a v4 key"))
}

#[cfg(unix)]
fn check_private(path: &Path, setting: &'static str) -> std::io::Result<Result<(), KeyError>> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
    Ok(if mode & 0o077 != 0 {
        Err(KeyError::Shared {
            setting,
            path: path.display().to_string(),
            mode,
        })
    } else {
        Ok(())
    })
}

#[cfg(not(unix))]
fn check_private(_: &Path, _: &'static str) -> std::io::Result<Result<(), KeyError>> {
    Ok(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_sealer() -> Sealer {
        Sealer {
            current: random_key(),
            previous: None,
        }
    }

    #[test]
    fn a_sealed_body_opens_only_as_its_own_kind_and_shows_nothing() {
        let sealer = new_sealer();
        let token = sealer
            .seal(
                Kind::Access,
                &"lt-secret-token",
                Some(Duration::from_secs(60)),
            )
            .unwrap();
        assert!(token.starts_with("v4.local."));
        assert!(!token.contains("lt-secret-token"));
        assert_eq!(
            sealer.open::<String>(Kind::Access, &token).as_deref(),
            Some("lt-secret-token")
        );
        assert_eq!(sealer.open::<String>(Kind::Refresh, &token), None);
        assert_eq!(new_sealer().open::<String>(Kind::Access, &token), None);
        let mut tampered = token.clone().into_bytes();
        let last = tampered.len() - 5;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert_eq!(sealer.open::<String>(Kind::Access, &tampered), None);
    }

    #[test]
    fn the_previous_key_still_opens_what_it_sealed() {
        let old = new_sealer();
        let token = old
            .seal(Kind::Refresh, &7, Some(Duration::from_secs(60)))
            .unwrap();
        let rotated = Sealer {
            current: random_key(),
            previous: Some(old.current),
        };
        assert_eq!(rotated.open::<i32>(Kind::Refresh, &token), Some(7));
    }

    #[test]
    fn a_key_file_must_be_long_and_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("seal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("key");
        std::fs::write(&path, [7u8; 16]).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let short = key_from_file(&path, "S").err().unwrap().to_string();
        assert!(short.contains("16 bytes"), "{short}");
        std::fs::write(&path, [7u8; 32]).unwrap();
        assert!(key_from_file(&path, "S").is_ok());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let shared = key_from_file(&path, "S").err().unwrap().to_string();
        assert!(shared.contains("chmod 600"), "{shared}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
