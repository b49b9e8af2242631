//! `track_habit`. Tracking cannot be de-duplicated by LunaTask, so it is never blindly
//! replayed after a lost answer.

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::json;

use super::args::TrackHabitArgs;
use super::entity::name_not_found;
use crate::api::{Api, Request, segment};
use crate::error::ToolError;

/// The result of `track_habit`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Tracked {
    pub tracked: bool,
    pub habit_id: String,
    pub performed_on: String,
}

pub(super) fn track_habit(api: &Api, args: TrackHabitArgs) -> Result<Tracked, ToolError> {
    let path = format!("/habits/{}/track", segment(args.habit_id.as_str()));
    let body = json!({ "performed_on": args.performed_on });
    api.send(Request::post(path).json(&body))
        .map_err(|e| name_not_found(e, "habit", &args.habit_id))?;
    Ok(Tracked {
        tracked: true,
        habit_id: args.habit_id.to_string(),
        performed_on: args.performed_on.to_string(),
    })
}
