//! `track_habit`. Tracking cannot be de-duplicated by LunaTask, so it is never blindly
//! replayed after a lost answer.

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::json;

use super::args::TrackHabitArgs;
use super::entity::name_not_found;
use super::{Effect, Tool};
use crate::api::{Api, Request, segment};
use crate::error::ToolError;

pub fn tools() -> Vec<Tool> {
    vec![Tool::new(
        "track_habit",
        "Track a habit",
        "Records that a habit was performed on a day (habit_id is copied from the LunaTask \
         app; the API cannot list habits). Not re-sent after an ambiguous failure: the \
         outcome is then \"unknown\"; check the app first.",
        Effect::Append,
        track_habit,
    )]
}

/// The result of `track_habit`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Tracked {
    pub tracked: bool,
    pub habit_id: String,
    pub performed_on: String,
}

fn track_habit(api: &Api, args: TrackHabitArgs) -> Result<Tracked, ToolError> {
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
