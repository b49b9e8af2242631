//! `ping`: checks that LunaTask is reachable and accepts the token.

use schemars::JsonSchema;
use serde::Serialize;

use super::args::PingArgs;
use crate::api::Api;
use crate::error::ToolError;

/// LunaTask's answer to a ping.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Pong {
    /// Always true: a failed ping is an error result instead.
    pub ok: bool,
    /// What LunaTask answered, normally "pong".
    pub message: String,
}

pub(super) fn run(api: &Api, _: PingArgs) -> Result<Pong, ToolError> {
    let message: String = api.get("/ping", &[], "message")?;
    Ok(Pong { ok: true, message })
}
