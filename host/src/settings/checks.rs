//! The checks one setting's parser cannot make (several settings together, the mode's
//! requirements), and the secrets read into the validated [`Config`].

use super::limits::max_connections;
use super::origins::AllowedHost;
use super::{Config, ConfigError, Secrets, Settings};
use crate::support::secret::Secret;

impl Settings {
    pub fn memory_limit_bytes(&self) -> usize {
        self.memory_limit_mib as usize * 1024 * 1024
    }

    pub fn max_message_bytes(&self) -> usize {
        self.max_message_bytes as usize
    }

    /// The checks that involve more than one setting.
    fn check_together(&self) -> Result<(), ConfigError> {
        if self.retry_max_delay < self.retry_base_delay {
            return Err(ConfigError::Invalid {
                name: "LUNATASK_RETRY_MAX_DELAY",
                reason: "must be at least LUNATASK_RETRY_BASE_DELAY".into(),
            });
        }
        // At least one message's worth, so that any call the transport accepts can be
        // admitted when nothing else is in progress.
        if self.max_pending_bytes < self.max_message_bytes {
            return Err(ConfigError::Invalid {
                name: "LUNATASK_MAX_PENDING_BYTES",
                reason: format!(
                    "{} is less than LUNATASK_MAX_MESSAGE_BYTES ({}): one largest call could \
                     never be admitted",
                    self.max_pending_bytes, self.max_message_bytes
                ),
            });
        }
        Ok(())
    }
}

impl Config {
    /// Checks what one setting's parser cannot and reads the secrets: LUNATASK_API_TOKEN
    /// (else the token file) and LUNATASK_MCP_AUTH_TOKEN.
    pub fn resolve(settings: Settings, secrets: Secrets) -> Result<Self, ConfigError> {
        settings.check_together()?;
        if settings.redis_url.is_some() && !settings.multi_user {
            return Err(ConfigError::Invalid {
                name: "LUNATASK_REDIS_URL",
                reason: "shares the per-user limits of LUNATASK_MCP_MULTI_USER; set that too, \
                         or unset it (one account's server has one limit, in its memory)"
                    .into(),
            });
        }
        if settings.multi_user {
            check_multi_user(&settings, &secrets)?;
        }
        check_oauth(&settings)?;
        let token = match (
            secrets.api_token.filter(|t| !t.trim().is_empty()),
            &settings.token_file,
        ) {
            (Some(token), _) => Some(Secret::new(token.trim().to_string())),
            (None, Some(path)) => Some(Secret::from_file(path)?),
            // Started all the same: a desktop client shows only "disconnected" for a server
            // that exits, so every call says instead what to set (see `Egress::send`).
            (None, None) => None,
        };
        Ok(Self {
            http_max_connections: max_connections(settings.http_max_connections)?,
            http_auth: endpoint_token("LUNATASK_MCP_AUTH_TOKEN", secrets.http_auth_token)?,
            metrics_auth: endpoint_token("LUNATASK_MCP_METRICS_TOKEN", secrets.metrics_token)?,
            token,
            settings,
        })
    }
}

/// Multi-user mode serves Streamable HTTP only, and holds no token of its own: one there
/// would be a token some request could use without bringing it.
fn check_multi_user(settings: &Settings, secrets: &Secrets) -> Result<(), ConfigError> {
    let invalid = |name, reason: &str| {
        Err(ConfigError::Invalid {
            name,
            reason: reason.into(),
        })
    };
    if settings.http.is_none() {
        return invalid(
            "LUNATASK_MCP_MULTI_USER",
            "needs Streamable HTTP: set LUNATASK_MCP_HTTP (--http) to the address to serve",
        );
    }
    if secrets.api_token.is_some() || settings.token_file.is_some() {
        return invalid(
            "LUNATASK_API_TOKEN",
            "is set (or LUNATASK_TOKEN_FILE) with LUNATASK_MCP_MULTI_USER: a multi-user server \
             holds no token, each request brings its caller's own; unset it",
        );
    }
    if secrets.http_auth_token.is_some() {
        return invalid(
            "LUNATASK_MCP_AUTH_TOKEN",
            "is set with LUNATASK_MCP_MULTI_USER, where the bearer of every request is its \
             caller's LunaTask token; unset it",
        );
    }
    Ok(())
}

/// OAuth signs people in to a multi-user server, at the URL its clients use, which the
/// Host guard must let through.
fn check_oauth(settings: &Settings) -> Result<(), ConfigError> {
    let invalid = |name, reason: String| Err(ConfigError::Invalid { name, reason });
    if !settings.oauth {
        for (set, name) in [
            (settings.public_url.is_some(), "LUNATASK_MCP_PUBLIC_URL"),
            (
                settings.sealing_key_file.is_some(),
                "LUNATASK_MCP_SEALING_KEY_FILE",
            ),
            (
                settings.previous_sealing_key_file.is_some(),
                "LUNATASK_MCP_PREVIOUS_SEALING_KEY_FILE",
            ),
        ] {
            if set {
                return invalid(
                    name,
                    "is an OAuth setting; set LUNATASK_MCP_OAUTH=true too, or unset it".into(),
                );
            }
        }
        return Ok(());
    }
    if !settings.multi_user {
        return invalid(
            "LUNATASK_MCP_OAUTH",
            "signs many people in, each with their own LunaTask account: set \
             LUNATASK_MCP_MULTI_USER=true (and LUNATASK_MCP_HTTP) too"
                .into(),
        );
    }
    let Some(public) = &settings.public_url else {
        return invalid(
            "LUNATASK_MCP_PUBLIC_URL",
            "is required with LUNATASK_MCP_OAUTH: the URL clients reach this server at, such \
             as https://mcp.example.com (the issuer and every OAuth endpoint are under it)"
                .into(),
        );
    };
    let allowed =
        AllowedHost::parse(&public.host).is_ok_and(|host| settings.allowed_hosts.contains(&host));
    if !allowed {
        return invalid(
            "LUNATASK_MCP_ALLOWED_HOSTS",
            format!(
                "does not include {}, the host of LUNATASK_MCP_PUBLIC_URL: requests to it \
                 would be refused; add it",
                public.host
            ),
        );
    }
    if settings.previous_sealing_key_file.is_some() && settings.sealing_key_file.is_none() {
        return invalid(
            "LUNATASK_MCP_PREVIOUS_SEALING_KEY_FILE",
            "keeps an old key readable beside the current one: set \
             LUNATASK_MCP_SEALING_KEY_FILE too"
                .into(),
        );
    }
    if settings.oauth_refresh_token_ttl < settings.oauth_access_token_ttl {
        return invalid(
            "LUNATASK_MCP_OAUTH_REFRESH_TOKEN_TTL",
            "is shorter than LUNATASK_MCP_OAUTH_ACCESS_TOKEN_TTL; a refresh token must \
             outlive the access token it renews"
                .into(),
        );
    }
    Ok(())
}

/// LUNATASK_MCP_AUTH_TOKEN or LUNATASK_MCP_METRICS_TOKEN (`name`): unset serves without that
/// check; set, it must be a token. An empty or blank value is refused rather than read as
/// "no auth", which it would silently be.
pub(crate) fn endpoint_token(
    name: &'static str,
    raw: Option<String>,
) -> Result<Option<Secret>, ConfigError> {
    match raw {
        None => Ok(None),
        Some(t) if t.trim().is_empty() => Err(ConfigError::Invalid {
            name,
            reason: "is set but empty: set it to the token HTTP clients must present, or unset \
                     it to serve without that check"
                .into(),
        }),
        Some(t) => Ok(Some(Secret::new(t.trim().to_string()))),
    }
}
