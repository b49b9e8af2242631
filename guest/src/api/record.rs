//! Every write recorded in the action journal before it is sent (with, in `full` mode, the
//! prior values of an update, read first or taken from a read the call already made), and
//! settled after its answer.

use serde_json::Value;

use super::{Api, Reply, Request};
use crate::error::{Code, ToolError, WriteOutcome};
use crate::{journal, log};

impl Api<'_> {
    /// Records a write before it is sent: its id and operation, or `None` when the
    /// journal is off.
    pub(super) fn record(
        &self,
        request: &Request<'_>,
    ) -> Result<Option<(String, &'static str)>, ToolError> {
        let mode = self.journal_mode();
        if mode == journal::Mode::Off {
            return Ok(None);
        }
        let mut action = journal::describe(
            request.method.as_str(),
            &request.path,
            request.body.as_deref(),
        );
        action.undoes = self.undoes.borrow().clone();
        if mode == journal::Mode::Full && action.kind == "task" && action.operation == "update" {
            self.read_prior(&request.path, &mut action)?;
        }
        match journal::add(&action) {
            Ok(id) => {
                *self.last_action.borrow_mut() = Some(id.clone());
                Ok(Some((id, action.operation)))
            }
            Err(why) => Err(ToolError::new(
                Code::InternalError,
                format!(
                    "nothing was sent: the action journal could not record this write ({why}). \
                     LUNATASK_JOURNAL=off sends writes without recording them"
                ),
            )
            .with_outcome(WriteOutcome::NotApplied)),
        }
    }

    /// Reads the task an update is about, for the prior values of the fields it sets
    /// (what `undo` restores).
    pub(super) fn read_prior(
        &self,
        path: &str,
        action: &mut journal::Action,
    ) -> Result<(), ToolError> {
        let ahead = action
            .entity_id
            .as_ref()
            .and_then(|id| self.take_read_ahead(id));
        let task = match ahead {
            Some(task) => task,
            None => self.read_one(path)?,
        };
        Self::apply_prior(action, &task);
        Ok(())
    }

    /// The task at `path`, read for its current values; a failure refuses the update.
    pub(super) fn read_one(&self, path: &str) -> Result<serde_json::Map<String, Value>, ToolError> {
        self.send_unrecorded(Request::get(path))
            .and_then(|reply| reply.field("task"))
            .map_err(|mut e| {
                if e.code != Code::NotFound {
                    e.message = format!(
                        "nothing was sent: reading the task's current values for the action \
                         journal failed: {} (LUNATASK_JOURNAL=writes records updates without \
                         this read)",
                        e.message
                    );
                }
                e.with_outcome(WriteOutcome::NotApplied)
            })
    }

    /// Applies the task's current values to the changes as their prior values.
    pub(super) fn apply_prior(action: &mut journal::Action, task: &serde_json::Map<String, Value>) {
        for change in action.changes.iter_mut().filter(|c| !c.text) {
            change.before = Some(task.get(&change.field).cloned().unwrap_or(Value::Null));
        }
        // A status change may move completed_at on LunaTask's side (completing sets it):
        // its value before is kept too, so an undo can put it back.
        let sets = |field: &str| action.changes.iter().any(|c| c.field == field);
        if sets("status") && !sets("completed_at") {
            action.changes.push(journal::Change {
                field: "completed_at".into(),
                before: Some(task.get("completed_at").cloned().unwrap_or(Value::Null)),
                after: None,
                text: false,
            });
        }
    }

    /// Settles the recorded write `id` with what became of it. A failure to settle is
    /// logged, not reported: the write is done, and its record says `pending`.
    pub(super) fn settle(&self, id: &str, operation: &str, result: &Result<Reply, ToolError>) {
        let (outcome, entity) = match result {
            // 204 is LunaTask's answer to a create it found a duplicate of.
            Ok(reply) if operation == "create" && reply.status == 204 => {
                (journal::Outcome::Duplicate, None)
            }
            Ok(reply) if operation == "create" => {
                (journal::Outcome::Applied, journal::created_id(&reply.body))
            }
            Ok(_) => (journal::Outcome::Applied, None),
            Err(e) if e.outcome == Some(WriteOutcome::Unknown) => (journal::Outcome::Unknown, None),
            Err(_) => (journal::Outcome::Failed, None),
        };
        if let Err(why) = journal::settle(id, outcome, entity.as_deref()) {
            log::info(
                self.correlation_id,
                &format!("the action journal could not settle action {id}: {why}"),
            );
        }
    }
}
