//! Every tool's arguments: the input contract a model reads in `tools/list`, in one place so
//! that their descriptions are written (and kept short, see the context budget in the
//! README) side by side. The handlers that take them live with their entity's tools.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::validate::{
    Date, Eisenhower, Email, Id, Limit, Minutes, Motivation, Offset, Priority,
    RelationshipStrength, SourceText, TaskStatus, Timestamp, present,
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
        /// The area (list) the task goes in.
        pub area_id: Id,
        /// A goal within that area.
        pub goal_id: Option<Id>,
        /// Write-only.
        pub name: Option<String>,
        /// Markdown. Write-only.
        pub note: Option<String>,
        /// Default later. "started" is shown as "In progress".
        pub status: Option<TaskStatus>,
        /// Default unknown.
        pub motivation: Option<Motivation>,
        /// 0 none (default), 1 urgent & important, 2 urgent only, 3 important only, 4 neither.
        pub eisenhower: Option<Eisenhower>,
        /// Estimated minutes.
        pub estimate: Option<Minutes>,
        /// -2 lowest, -1 low, 0 normal (default), 1 high, 2 highest.
        pub priority: Option<Priority>,
        /// The day it is scheduled for, YYYY-MM-DD.
        pub scheduled_on: Option<Date>,
        /// ISO-8601 timestamp.
        pub completed_at: Option<Timestamp>,
        /// An external system; give with source_id.
        pub source: Option<SourceText>,
        /// The id in that system; give with source.
        pub source_id: Option<SourceText>,
    }
}

args! {
    /// Arguments of `update_task`.
    pub struct UpdateTaskArgs {
        /// The task to change.
        #[serde(skip_serializing)]
        pub task_id: Id,
        /// Move the task to another area.
        pub area_id: Option<Id>,
        /// Move the task to this goal.
        // `null` is also accepted as "clear", as before `clear` existed.
        #[serde(default, deserialize_with = "present")]
        pub goal_id: Option<Option<Id>>,
        /// Write-only.
        pub name: Option<String>,
        /// Markdown, replacing the old note. Write-only.
        pub note: Option<String>,
        pub status: Option<TaskStatus>,
        pub motivation: Option<Motivation>,
        /// 0..4, as in create_task.
        pub eisenhower: Option<Eisenhower>,
        /// Whole minutes.
        #[serde(default, deserialize_with = "present")]
        pub estimate: Option<Option<Minutes>>,
        pub priority: Option<Priority>,
        /// YYYY-MM-DD.
        #[serde(default, deserialize_with = "present")]
        pub scheduled_on: Option<Option<Date>>,
        /// ISO-8601 timestamp.
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
        /// Only tasks scheduled on or after this date.
        pub scheduled_from: Option<Date>,
        /// Only tasks scheduled on or before this date.
        pub scheduled_to: Option<Date>,
        /// Only tasks completed at or after this time.
        pub completed_since: Option<Timestamp>,
        /// Only tasks linked to this external system.
        pub source: Option<SourceText>,
        /// Only tasks with this external id.
        pub source_id: Option<SourceText>,
        /// At most this many tasks (default 30).
        pub limit: Option<Limit>,
        /// Skip this many matching tasks (for the next page).
        pub offset: Option<Offset>,
        /// Default priority (highest first, then soonest scheduled); scheduled_on is soonest
        /// first, unscheduled last; the other dates newest first.
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
        /// The notebook to put the note in.
        pub notebook_id: Option<Id>,
        /// Title. Write-only.
        pub name: Option<String>,
        /// Markdown body. Write-only.
        pub content: Option<String>,
        /// The note's date, YYYY-MM-DD.
        pub date_on: Option<Date>,
        /// An external system; give with source_id.
        pub source: Option<SourceText>,
        /// The id in that system; give with source.
        pub source_id: Option<SourceText>,
    }
}

args! {
    /// Arguments of `update_note`.
    pub struct UpdateNoteArgs {
        /// The note to change.
        #[serde(skip_serializing)]
        pub note_id: Id,
        /// New title. Write-only.
        pub name: Option<String>,
        /// New Markdown body, replacing the whole note. Write-only.
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
        /// Title. Write-only.
        pub name: Option<String>,
        /// Markdown body. Write-only.
        pub content: Option<String>,
    }
}

// People

args! {
    /// Arguments of `create_person`.
    pub struct CreatePersonArgs {
        /// Write-only.
        pub first_name: Option<String>,
        /// Write-only.
        pub last_name: Option<String>,
        /// Default casual-friends.
        pub relationship_strength: Option<RelationshipStrength>,
        /// An external system; give with source_id.
        pub source: Option<SourceText>,
        /// The id in that system; give with source.
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
        /// Only people linked to this external system.
        pub source: Option<SourceText>,
        /// Only people with this external id.
        pub source_id: Option<SourceText>,
        pub relationship_strength: Option<RelationshipStrength>,
        /// At most this many people (default 30).
        pub limit: Option<Limit>,
        /// Skip this many matching people (for the next page).
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
        /// Markdown. Write-only.
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
