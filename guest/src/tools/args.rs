//! Every tool's arguments: the input contract a model reads in `tools/list`, in one place so
//! that their descriptions are written (and kept short, see the context budget in
//! docs/performance.md) side by side. The handlers that take them live with their entity's tools.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::validate::{
    Date, Eisenhower, Email, Id, Limit, Minutes, Motivation, Offset, Priority,
    RelationshipStrength, Since, SourceText, TaskStatus, Timestamp, present,
};
use crate::views::Sort;

// The connection

args! {
    /// No arguments.
    pub struct PingArgs {}
}

// Tasks

args! {
    /// Arguments of `create_task`.
    pub struct CreateTaskArgs {
        pub area_id: Id,
        /// A goal within that area.
        pub goal_id: Option<Id>,
        pub name: Option<String>,
                pub note: Option<String>,
        /// Default later. "started" is shown as "In progress".
        pub status: Option<TaskStatus>,
        /// Default unknown.
        pub motivation: Option<Motivation>,
        /// 0 none (default), 1 urgent & important, 2 urgent only, 3 important only, 4 neither.
        pub eisenhower: Option<Eisenhower>,
        /// Minutes.
        pub estimate: Option<Minutes>,
        /// -2 lowest, -1 low, 0 normal (default), 1 high, 2 highest.
        pub priority: Option<Priority>,
        /// YYYY-MM-DD.
        pub scheduled_on: Option<Date>,
        pub completed_at: Option<Timestamp>,
        pub source: Option<SourceText>,
        pub source_id: Option<SourceText>,
    }
}

args! {
    /// Arguments of `update_task`.
    pub struct UpdateTaskArgs {
        #[serde(skip_serializing)]
        pub task_id: Id,
        /// Another area.
        pub area_id: Option<Id>,
        /// Another goal.
        // `null` is also accepted as "clear", as before `clear` existed.
        #[serde(default, deserialize_with = "present")]
        pub goal_id: Option<Option<Id>>,
        pub name: Option<String>,
        pub note: Option<String>,
        pub status: Option<TaskStatus>,
        pub motivation: Option<Motivation>,
        pub eisenhower: Option<Eisenhower>,
        /// Whole minutes.
        #[serde(default, deserialize_with = "present")]
        pub estimate: Option<Option<Minutes>>,
        pub priority: Option<Priority>,
        /// YYYY-MM-DD.
        #[serde(default, deserialize_with = "present")]
        pub scheduled_on: Option<Option<Date>>,
        #[serde(default, deserialize_with = "present")]
        pub completed_at: Option<Option<Timestamp>>,
        /// Fields to clear.
        #[serde(skip_serializing)]
        pub clear: Option<Vec<TaskClearable>>,
    }
}

args! {
    /// Arguments of `list_tasks`. Every filter is optional.
    #[derive(Default)]
    pub struct ListTasksArgs {
        pub area_id: Option<Id>,
        pub goal_id: Option<Id>,
        /// A status, or "open" for every status but completed.
        pub status: Option<StatusFilter>,
        /// Only tasks with at least this priority.
        pub min_priority: Option<Priority>,
        /// Scheduled on or after this date.
        pub scheduled_from: Option<Date>,
        /// Scheduled on or before this date.
        pub scheduled_to: Option<Date>,
        /// Completed at or after this time.
        pub completed_since: Option<Timestamp>,
        pub source: Option<SourceText>,
        pub source_id: Option<SourceText>,
        pub limit: Option<Limit>,
        /// For the next page.
        pub offset: Option<Offset>,
        /// Default priority, then soonest scheduled; scheduled_on soonest first, other dates
        /// newest first.
        pub sort: Option<Sort>,
    }
}

/// The fields of a task that `update_task` can clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskClearable {
    GoalId,
    Estimate,
    ScheduledOn,
    CompletedAt,
}

/// Task statuses, plus "open" for all but completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StatusFilter {
    Open,
    Later,
    Next,
    Started,
    Waiting,
    Completed,
}

// Notes

args! {
    /// Arguments of `create_note`. Every field is optional.
    pub struct CreateNoteArgs {
        pub notebook_id: Option<Id>,
        pub name: Option<String>,
        /// Markdown body.
        pub content: Option<String>,
        /// YYYY-MM-DD.
        pub date_on: Option<Date>,
        pub source: Option<SourceText>,
        pub source_id: Option<SourceText>,
    }
}

args! {
    /// Arguments of `update_note`.
    pub struct UpdateNoteArgs {
        /// The note to change.
        #[serde(skip_serializing)]
        pub note_id: Id,
        /// New title.
        pub name: Option<String>,
        /// New Markdown body.
        pub content: Option<String>,
        /// Move the note to this notebook.
        pub notebook_id: Option<Id>,
        /// New date, YYYY-MM-DD.
        pub date_on: Option<Date>,
    }
}

// The journal

args! {
    /// Arguments of `create_journal_entry`.
    pub struct JournalEntryArgs {
        /// The day of the entry, YYYY-MM-DD.
        pub date_on: Date,
        pub name: Option<String>,
        /// Markdown body.
        pub content: Option<String>,
    }
}

// People

args! {
    /// Arguments of `create_person`.
    pub struct CreatePersonArgs {
        pub first_name: Option<String>,
        pub last_name: Option<String>,
        /// Default casual-friends.
        pub relationship_strength: Option<RelationshipStrength>,
        pub source: Option<SourceText>,
        pub source_id: Option<SourceText>,
        pub email: Option<Email>,
        pub phone: Option<String>,
        /// YYYY-MM-DD.
        pub birthday: Option<Date>,
    }
}

args! {
    /// Arguments of `list_people`. Every filter is optional.
    pub struct ListPeopleArgs {
        pub source: Option<SourceText>,
        pub source_id: Option<SourceText>,
        pub relationship_strength: Option<RelationshipStrength>,
        pub limit: Option<Limit>,
        /// For the next page.
        pub offset: Option<Offset>,
    }
}

args! {
    /// Arguments of `create_person_timeline_note`.
    pub struct TimelineNoteArgs {
        /// The person the note is about.
        pub person_id: Id,
        /// The note's day, YYYY-MM-DD; LunaTask defaults to today.
        pub date_on: Option<Date>,
                pub content: Option<String>,
    }
}

// Habits

args! {
    /// Arguments of `track_habit`.
    pub struct TrackHabitArgs {
        /// The habit's id.
        pub habit_id: Id,
        /// The day it was performed, YYYY-MM-DD.
        pub performed_on: Date,
    }
}

// Batches

args! {
    /// Arguments of `create_tasks`.
    pub struct CreateTasksArgs {
        /// 1 to 50 tasks, each an object of create_task's arguments.
        #[schemars(schema_with = "objects")]
        pub tasks: Vec<CreateTaskArgs>,
        /// An earlier call's batch_id, to retry it creating nothing twice.
        pub batch_id: Option<SourceText>,
    }
}

args! {
    /// Arguments of `update_tasks`.
    pub struct UpdateTasksArgs {
        /// 1 to 50 updates, each an object of update_task's arguments.
        #[schemars(schema_with = "objects")]
        pub tasks: Vec<UpdateTaskArgs>,
    }
}

/// A batch's items as the schema shows them: objects, whose fields are those of the single
/// tool the description names. Repeating that tool's whole schema would double what every
/// model's context pays for it; the items are validated as strictly either way.
fn objects(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "type": "array", "items": { "type": "object" } })
}

// The action journal

args! {
    /// Arguments of `list_actions`.
    pub struct ListActionsArgs {
        /// A date or timestamp.
        pub since: Option<Since>,
        pub tool: Option<SourceText>,
        pub correlation_id: Option<Id>,
        /// Default 30.
        pub limit: Option<Limit>,
    }
}

args! {
    /// Arguments of `undo`: exactly one of them.
    pub struct UndoArgs {
        pub action_id: Option<Id>,
        pub correlation_id: Option<Id>,
    }
}
