//! Batch tools: many task creates or updates in one call. Every item is checked before
//! anything is sent; then each goes out on its own (through the host's shared rate limit),
//! with its own idempotency key, and gets its own result. A batch succeeds as a whole only
//! if every item did; when one fails, the error still carries every item's result, so an
//! agent knows exactly what is done.

use schemars::JsonSchema;
use serde::Serialize;

use super::args::{CreateTasksArgs, UpdateTasksArgs};
use super::create::{Key, OWN_SOURCE, SourceKey, create_keyed};
use super::entity::{TASKS, body_of};
use super::tasks::{changes_to, duplicate_of};
use crate::api::Api;
use crate::entities::Task;
use crate::error::{Code, ToolError, WriteOutcome};
use crate::{ids, log};

/// The most items one batch takes: enough for a project's tasks, few enough that a batch at
/// the default rate limit (60 a minute, 10 at once) ends well within the call timeout.
pub const MAX_ITEMS: usize = 50;

/// What became of one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    /// The task was created (once, even if a lost answer made this call send it again).
    Created,
    /// Nothing was created: a task with this item's source pair already exists (an earlier
    /// call with this batch_id, or the item's own source/source_id).
    Duplicate,
    /// The task was changed.
    Updated,
    /// The item failed; `error` says why.
    Failed,
    /// The item was not sent: an earlier item's failure stopped the batch.
    NotAttempted,
}

impl ItemStatus {
    /// As the result spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ItemStatus::Created => "created",
            ItemStatus::Duplicate => "duplicate",
            ItemStatus::Updated => "updated",
            ItemStatus::Failed => "failed",
            ItemStatus::NotAttempted => "not_attempted",
        }
    }
}

/// One item's result, in the order given.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ItemResult {
    /// The item's place in the list, from 0.
    pub index: usize,
    pub status: ItemStatus,
    /// The task created, found as the duplicate, or updated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    /// For creates: the source pair the task carries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceKey>,
    /// Why the item failed or was not sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ItemError>,
}

/// An item's failure, as a single call's error object would say it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ItemError {
    /// The stable error code, e.g. not_found.
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    pub retryable: bool,
    /// not_applied, or unknown when the item's write may have been applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
}

impl From<&ToolError> for ItemError {
    fn from(e: &ToolError) -> Self {
        Self {
            code: e.code.as_str().to_string(),
            message: e.message.clone(),
            http_status: e.http_status,
            retryable: e.retryable,
            outcome: e.outcome.map(|o| {
                match o {
                    WriteOutcome::NotApplied => "not_applied",
                    WriteOutcome::Unknown => "unknown",
                }
                .to_string()
            }),
        }
    }
}

/// The result of `create_tasks`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TasksCreated {
    /// Names this batch: calling create_tasks again with it (and the same tasks) creates
    /// nothing twice.
    pub batch_id: String,
    pub items: Vec<ItemResult>,
}

/// The result of `update_tasks`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TasksUpdated {
    pub items: Vec<ItemResult>,
}

pub(super) fn create_tasks(api: &Api, args: CreateTasksArgs) -> Result<TasksCreated, ToolError> {
    check_count(args.tasks.len())?;
    let (batch_id, given) = match &args.batch_id {
        Some(id) => (id.to_string(), true),
        None => (ids::uuid_v4(), false),
    };
    // Every key and body first: an item that cannot be sent stops the batch before any is.
    let mut prepared = Vec::with_capacity(args.tasks.len());
    for (index, task) in args.tasks.iter().enumerate() {
        let key = Key::from_pair(&task.source, &task.source_id).map_err(|e| at(index, e))?;
        let key = match key {
            Key::Ours(_) => item_key(&batch_id, index, given),
            caller => caller,
        };
        prepared.push((key, body_of(task).map_err(|e| at(index, e))?));
    }
    let total = prepared.len();
    let mut items = Vec::with_capacity(total);
    let mut stop: Option<usize> = None;
    for (index, ((key, body), task)) in prepared.into_iter().zip(&args.tasks).enumerate() {
        if let Some(failed) = stop {
            items.push(not_attempted(index, failed));
            continue;
        }
        let same = duplicate_of(task);
        let item = match create_keyed(api, &TASKS, body, key, Some(&same)) {
            Ok(created) => ItemResult {
                index,
                status: match created.outcome {
                    super::create::CreateOutcome::Created => ItemStatus::Created,
                    super::create::CreateOutcome::Duplicate => ItemStatus::Duplicate,
                },
                task_id: created.entity.map(|t: Task| t.id),
                source: Some(created.key),
                error: None,
            },
            Err(error) => {
                stop = stops_batch(&error).then_some(index);
                failed(index, &error)
            }
        };
        log::progress(
            index + 1,
            total,
            &format!("task {index}: {}", item.status.as_str()),
        );
        items.push(item);
    }
    let hint = format!(
        "calling create_tasks again with batch_id {batch_id:?} and the same tasks creates \
         none of them twice"
    );
    finish(items, &hint).map(|items| TasksCreated { batch_id, items })
}

pub(super) fn update_tasks(api: &Api, args: UpdateTasksArgs) -> Result<TasksUpdated, ToolError> {
    check_count(args.tasks.len())?;
    let mut prepared = Vec::with_capacity(args.tasks.len());
    for (index, task) in args.tasks.into_iter().enumerate() {
        prepared.push(changes_to(task).map_err(|e| at(index, e))?);
    }
    let total = prepared.len();
    // The journal's prior values for every item, in one read rather than one per item.
    let ids: Vec<&str> = prepared.iter().map(|(id, _)| id.as_str()).collect();
    api.read_ahead(&ids);
    let mut items = Vec::with_capacity(total);
    let mut stop: Option<usize> = None;
    for (index, (task_id, changes)) in prepared.into_iter().enumerate() {
        if let Some(failed) = stop {
            items.push(not_attempted(index, failed));
            continue;
        }
        let item = match TASKS.update::<Task>(api, &task_id, &changes) {
            Ok(task) => ItemResult {
                index,
                status: ItemStatus::Updated,
                task_id: Some(task.id),
                source: None,
                error: None,
            },
            Err(error) => {
                stop = stops_batch(&error).then_some(index);
                ItemResult {
                    task_id: Some(task_id.to_string()),
                    ..failed(index, &error)
                }
            }
        };
        log::progress(
            index + 1,
            total,
            &format!("task {index}: {}", item.status.as_str()),
        );
        items.push(item);
    }
    let hint = "updates are safe to send again: call update_tasks with the failed items";
    finish(items, hint).map(|items| TasksUpdated { items })
}

fn check_count(count: usize) -> Result<(), ToolError> {
    if (1..=MAX_ITEMS).contains(&count) {
        return Ok(());
    }
    Err(ToolError::validation(
        "tasks",
        format!("takes 1 to {MAX_ITEMS} tasks, not {count}; split a longer list into batches"),
    ))
}

/// The key of item `index` without a source pair of its own: derived from the batch id,
/// so that the same batch sent again carries the same keys. A batch id the caller chose
/// makes a found record a duplicate (the caller may have sent it before); one we made up
/// is this call's alone.
fn item_key(batch_id: &str, index: usize, given: bool) -> Key {
    let key = SourceKey {
        source: OWN_SOURCE.to_string(),
        source_id: format!("{batch_id}-{index}"),
    };
    if given {
        Key::Caller(key)
    } else {
        Key::Ours(key)
    }
}

/// An item's validation error, named by its place: `tasks[3].priority`.
fn at(index: usize, error: ToolError) -> ToolError {
    let field = match &error.field {
        Some(field) => format!("tasks[{index}].{field}"),
        None => format!("tasks[{index}]"),
    };
    ToolError {
        field: Some(field),
        message: format!("tasks[{index}]: {}", error.message),
        ..error
    }
}

/// Whether a failure means the next items would fail too (the token, the plan, the rate
/// limit, the network or the deadline), so they are better not sent.
fn stops_batch(error: &ToolError) -> bool {
    !matches!(
        error.code,
        Code::ValidationError | Code::NotFound | Code::UpstreamError
    )
}

fn failed(index: usize, error: &ToolError) -> ItemResult {
    ItemResult {
        index,
        status: ItemStatus::Failed,
        task_id: None,
        source: None,
        error: Some(error.into()),
    }
}

fn not_attempted(index: usize, failed: usize) -> ItemResult {
    ItemResult {
        index,
        status: ItemStatus::NotAttempted,
        task_id: None,
        source: None,
        error: Some(ItemError {
            code: "not_attempted".into(),
            message: format!("not sent: task {failed} failed in a way the rest would too"),
            http_status: None,
            retryable: true,
            outcome: Some("not_applied".into()),
        }),
    }
}

/// The items, or when any failed, an error that carries them all: its code is the first
/// failure's, and its message counts what is done and says how to retry safely.
fn finish(items: Vec<ItemResult>, hint: &str) -> Result<Vec<ItemResult>, ToolError> {
    let failures: Vec<&ItemResult> = items
        .iter()
        .filter(|i| matches!(i.status, ItemStatus::Failed | ItemStatus::NotAttempted))
        .collect();
    let Some(first) = failures.first() else {
        return Ok(items);
    };
    let first_error = first.error.as_ref();
    let code = items
        .iter()
        .find(|i| i.status == ItemStatus::Failed)
        .and_then(|i| i.error.as_ref())
        .and_then(|e| Code::ALL.into_iter().find(|c| c.as_str() == e.code))
        .unwrap_or(Code::InternalError);
    let done = items.len() - failures.len();
    let message = format!(
        "{} of {} items failed and {done} succeeded (see items); the first, task {}: {}. {hint}",
        failures.len(),
        items.len(),
        first.index,
        first_error.map_or("", |e| e.message.as_str()),
    );
    let retryable = failures
        .iter()
        .any(|i| i.error.as_ref().is_some_and(|e| e.retryable));
    let mut error = ToolError::new(code, message).retryable(retryable);
    error.items = Some(serde_json::to_string(&items).unwrap_or_default());
    Err(error)
}
