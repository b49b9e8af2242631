//! A secret (the LunaTask access token, or the token HTTP clients present): redacted in `Debug`, zeroized on drop, and read only where
//! the egress gate builds the `Authorization` header.

use std::path::Path;

use secrecy::{ExposeSecret, SecretString};

/// A token. There is deliberately no `Display` and `Debug` prints a placeholder.
#[derive(Clone)]
pub struct Secret(SecretString);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// Why a token file gave no token.
#[derive(Debug, thiserror::Error)]
pub enum SecretFileError {
    #[error("the token file {path} could not be read: {source}")]
    Unreadable {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("the token file {0} is empty")]
    Empty(std::path::PathBuf),
}

impl Secret {
    pub fn new(token: String) -> Self {
        Self(SecretString::from(token))
    }

    /// Reads the first line of `path`; warns when other users may read the file.
    pub fn from_file(path: &Path) -> Result<Self, SecretFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| SecretFileError::Unreadable {
            path: path.to_path_buf(),
            source,
        })?;
        warn_if_shared(path);
        let token = text.lines().next().unwrap_or("").trim().to_string();
        // Wipe the file's contents from memory now rather than whenever the allocator reuses it.
        drop(SecretString::from(text));
        if token.is_empty() {
            return Err(SecretFileError::Empty(path.to_path_buf()));
        }
        Ok(Self::new(token))
    }

    /// Compares a presented token in constant time (for HTTP endpoint auth).
    pub fn matches(&self, presented: &str) -> bool {
        let ours = self.0.expose_secret().as_bytes();
        let theirs = presented.as_bytes();
        ours.len() == theirs.len()
            && ours
                .iter()
                .zip(theirs)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }

    /// The token itself, for the one place that must search answers for it
    /// ([`crate::support::redact::Redactor`]).
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

#[cfg(unix)]
fn warn_if_shared(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            path = %path.display(),
            mode = format!("{:o}", meta.permissions().mode() & 0o777),
            "the token file can be read by other users; restrict it with chmod 600"
        );
    }
}

#[cfg(not(unix))]
fn warn_if_shared(_: &Path) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_token() {
        let token = Secret::new("tok-very-secret".into());
        assert!(!format!("{token:?}").contains("very-secret"));
    }
}
