//! Task tools: create, update, delete, get and list (with filters LunaTask lacks).

use schemars::JsonSchema;
use serde::Serialize;

use super::args::{CreateTaskArgs, ListTasksArgs, StatusFilter, TaskClearable, UpdateTaskArgs};
use super::create::create;
use super::entity::{Query, TASKS, body_of, changes_of};
use super::{Effect, Page, Tool};
use crate::api::Api;
use crate::entities::{Linked, Task};
use crate::error::ToolError;
use crate::validate::{Id, SourceText, source_pair};
use crate::views::{self, Sort};

pub fn tools() -> Vec<Tool> {
    vec![
        Tool::new(
            "create_task",
            "Create a task",
            "Creates a task in an area (area_id is copied from the LunaTask app: area settings, \
             Copy area ID; the API cannot list areas). name and note are write-only; note is \
             Markdown. With source and source_id, an open task in that area that has them is \
             returned with outcome \"duplicate\" and nothing is created. Safe to retry.",
            Effect::Create,
            create_task,
        ),
        Tool::new(
            "update_task",
            "Update a task",
            "Changes only the given fields of a task; at least one is required. To clear \
             goal_id, estimate, scheduled_on or completed_at, list it in clear. note replaces \
             the whole note. Setting status completed completes the task.",
            Effect::Update,
            update_task,
        ),
        Tool::new(
            "delete_task",
            "Delete a task",
            "Deletes a task; an already deleted one gives not_found.",
            Effect::Delete,
            delete_task,
        ),
        Tool::new(
            "get_task",
            "Get a task",
            "Reads one task by id: status, priority, dates, area, goal, sources (never its name \
             or note).",
            Effect::Read,
            get_task,
        ),
        Tool::new(
            "list_tasks",
            "List tasks",
            "Lists tasks matching every filter given, sorted by sort; at most limit (default \
             30), and total counts every match. Names and notes are never returned.",
            Effect::Read,
            list_tasks,
        ),
    ]
}

entity_io! {
    TASKS => Task, task by task_id:
        TaskIdArgs, TaskResult, TaskDeleted, TaskCreated;
    duplicate when "an open task in the area"; get: get_task, delete: delete_task;
}

fn create_task(api: &Api, args: CreateTaskArgs) -> Result<TaskCreated, ToolError> {
    let caller_key = source_pair(&args.source, &args.source_id)?;
    let area_id = args.area_id.to_string();
    let created = create(api, &TASKS, body_of(&args)?, caller_key, |api, key| {
        // The API de-duplicates against open tasks in the same area only.
        Ok(TASKS
            .list::<Task>(api, Some(&key.source), Some(&key.source_id))?
            .into_iter()
            .find(|t| t.area_id.as_deref() == Some(area_id.as_str()) && !t.is_completed()))
    })?;
    Ok(created.into())
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

fn update_task(api: &Api, args: UpdateTaskArgs) -> Result<TaskResult, ToolError> {
    let args = args.with_clears_applied()?;
    let changes = changes_of(&args, &["task_id", "clear"])?;
    Ok(TaskResult {
        task: TASKS.update(api, &args.task_id, &changes)?,
    })
}

/// The result of `list_tasks`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TaskList {
    pub tasks: Vec<Task>,
    #[serde(flatten)]
    pub page: Page,
}

fn list_tasks(api: &Api, args: ListTasksArgs) -> Result<TaskList, ToolError> {
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
