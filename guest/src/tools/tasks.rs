//! Task handlers: create, update, delete, get and list (with filters LunaTask lacks).

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Map, Value};

use super::Page;
use super::args::{CreateTaskArgs, ListTasksArgs, StatusFilter, TaskClearable, UpdateTaskArgs};
use super::create::create;
use super::entity::{Query, TASKS, changes_of};
use crate::api::Api;
use crate::entities::{Linked, Task};
use crate::error::ToolError;
use crate::validate::{Id, SourceText};
use crate::views::{self, Sort};

entity_io! {
    TASKS => Task, task by task_id:
        TaskIdArgs, TaskResult, TaskDeleted, TaskCreated;
    duplicate when "an open task in the area"; get: get_task, delete: delete_task;
}

pub(super) fn create_task(api: &Api, args: CreateTaskArgs) -> Result<TaskCreated, ToolError> {
    let same = duplicate_of(&args);
    let sources = (&args.source, &args.source_id);
    Ok(create(api, &TASKS, &args, sources, Some(&same))?.into())
}

/// Which existing task a create of `args` with the same source pair is a duplicate of:
/// the API de-duplicates against open tasks in the same area only.
pub(super) fn duplicate_of(args: &CreateTaskArgs) -> impl Fn(&Task) -> bool + '_ {
    |t: &Task| t.area_id.as_deref() == Some(args.area_id.as_str()) && !t.is_completed()
}

impl UpdateTaskArgs {
    /// Folds `clear` into the fields it names, as `Some(None)`; a field both set and
    /// cleared is refused.
    pub(crate) fn with_clears_applied(mut self) -> Result<Self, ToolError> {
        fn clear<T>(field: &mut Option<Option<T>>, name: &str) -> Result<(), ToolError> {
            if matches!(field, Some(Some(_))) {
                return Err(ToolError::validation(
                    name,
                    "is both set and listed in clear; give a value or clear it, not both",
                ));
            }
            *field = Some(None);
            Ok(())
        }
        for field in self.clear.take().unwrap_or_default() {
            match field {
                TaskClearable::GoalId => clear(&mut self.goal_id, "goal_id")?,
                TaskClearable::Estimate => clear(&mut self.estimate, "estimate")?,
                TaskClearable::ScheduledOn => clear(&mut self.scheduled_on, "scheduled_on")?,
                TaskClearable::CompletedAt => clear(&mut self.completed_at, "completed_at")?,
            }
        }
        Ok(self)
    }
}

pub(super) fn update_task(api: &Api, args: UpdateTaskArgs) -> Result<TaskResult, ToolError> {
    let (task_id, changes) = changes_to(args)?;
    Ok(TaskResult {
        task: TASKS.update(api, &task_id, &changes)?,
    })
}

/// The task an update names and the fields it sends; refused, sending nothing, when it
/// sets and clears one field or changes none.
pub(super) fn changes_to(args: UpdateTaskArgs) -> Result<(Id, Map<String, Value>), ToolError> {
    let args = args.with_clears_applied()?;
    let changes = changes_of(&args, &["task_id", "clear"])?;
    Ok((args.task_id, changes))
}

/// The result of `list_tasks`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TaskList {
    pub tasks: Vec<Task>,
    #[serde(flatten)]
    pub page: Page,
}

pub(super) fn list_tasks(api: &Api, args: ListTasksArgs) -> Result<TaskList, ToolError> {
    if let (Some(from), Some(to)) = (&args.scheduled_from, &args.scheduled_to)
        && from > to
    {
        return Err(ToolError::validation(
            "scheduled_to",
            format!("scheduled_to ({to}) is before scheduled_from ({from})"),
        ));
    }
    let by = args.sort.unwrap_or(Sort::Priority);
    let query = Query::new(&args.source, &args.source_id, args.offset, args.limit);
    let narrow = "status, area_id, scheduled_from/scheduled_to or completed_since";
    let (tasks, page) = TASKS.page(
        api,
        query,
        narrow,
        |t| matches(t, &args),
        |tasks| views::sort(tasks, by),
    )?;
    Ok(TaskList { tasks, page })
}

/// Whether `task` passes every filter in `args`.
pub fn matches(task: &Task, args: &ListTasksArgs) -> bool {
    let eq = |want: &Option<Id>, have: &Option<String>| match want {
        Some(want) => have.as_deref() == Some(want.as_str()),
        None => true,
    };
    let status_ok = match args.status {
        None => true,
        Some(StatusFilter::Open) => !task.is_completed(),
        Some(status) => task.status.as_deref() == Some(status_name(status)),
    };
    let scheduled = task.scheduled_on.as_deref();
    let from_ok = args
        .scheduled_from
        .as_ref()
        .is_none_or(|from| scheduled.is_some_and(|s| s >= from.as_str()));
    let to_ok = args
        .scheduled_to
        .as_ref()
        .is_none_or(|to| scheduled.is_some_and(|s| s <= to.as_str()));
    let completed_ok = args.completed_since.as_ref().is_none_or(|since| {
        task.completed_at
            .as_deref()
            .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
            .is_some_and(|c| c.to_utc() >= since.utc())
    });
    let source_ok = task.links_to(
        args.source.as_ref().map(SourceText::as_str),
        args.source_id.as_ref().map(SourceText::as_str),
    );
    eq(&args.area_id, &task.area_id)
        && eq(&args.goal_id, &task.goal_id)
        && status_ok
        && args
            .min_priority
            .is_none_or(|min| task.priority.unwrap_or(0) >= i64::from(min))
        && from_ok
        && to_ok
        && completed_ok
        && source_ok
}

fn status_name(status: StatusFilter) -> &'static str {
    match status {
        StatusFilter::Open => "open",
        StatusFilter::Later => "later",
        StatusFilter::Next => "next",
        StatusFilter::Started => "started",
        StatusFilter::Waiting => "waiting",
        StatusFilter::Completed => "completed",
    }
}
