//! The catalog: every tool as `tools/list` shows it (name, title, description, effect) and
//! the handler that runs it, in the order listed. One place, so that what the model reads
//! is written side by side and kept within the context budget (see docs/performance.md); the
//! arguments' schemas are in [`args`](super::args), the handlers with their entity.

use super::{Effect, Tool, actions, batch, habits, journal, notes, people, ping, tasks};

/// Every tool, in the order `tools/list` shows them.
pub fn all() -> Vec<Tool> {
    vec![
        Tool::new(
            "ping",
            "Check the LunaTask connection",
            "Checks the LunaTask API is reachable and accepts the token (else \
             authentication_error).",
            Effect::Read,
            ping::run,
        ),
        Tool::new(
            "create_task",
            "Create a task",
            "Creates a task in an area (area_id: in the LunaTask app, area settings, Copy area \
             ID). name and note (Markdown) are write-only. With source and source_id, an open \
             task in that area having them is returned with outcome \"duplicate\" and nothing \
             is created. Safe to retry.",
            Effect::Create,
            tasks::create_task,
        ),
        Tool::new(
            "update_task",
            "Update a task",
            "Changes only the given fields of a task (at least one). To clear goal_id, \
             estimate, scheduled_on or completed_at, list it in clear. note replaces the whole \
             note; name and note are write-only.",
            Effect::Update,
            tasks::update_task,
        ),
        Tool::new(
            "delete_task",
            "Delete a task",
            "Deletes a task; an already deleted one gives not_found.",
            Effect::Delete,
            tasks::delete_task,
        ),
        Tool::new(
            "get_task",
            "Get a task",
            "Reads one task by id: status, priority, dates, area, goal, sources (never its name \
             or note).",
            Effect::Read,
            tasks::get_task,
        ),
        Tool::new(
            "list_tasks",
            "List tasks",
            "Lists tasks matching every filter given, sorted by sort; at most limit (default \
             30), and total counts every match. Names and notes are never returned.",
            Effect::Read,
            tasks::list_tasks,
        ),
        Tool::new(
            "create_tasks",
            "Create many tasks",
            "Creates 1 to 50 tasks as create_task would, all checked first, then sent one by \
             one under the rate limit, with progress. If any fails, the error's \
             items say what became of each.",
            Effect::Create,
            batch::create_tasks,
        )
        .server_only(),
        Tool::new(
            "update_tasks",
            "Update many tasks",
            "Applies 1 to 50 updates as update_task would, all checked first, then sent one \
             by one with progress. If any fails, the error's items say what became of each.",
            Effect::Update,
            batch::update_tasks,
        )
        .server_only(),
        Tool::new(
            "create_note",
            "Create a note",
            "Creates a note, optionally in a notebook (notebook_id is copied from the LunaTask \
             app; the API cannot list notebooks). name and content (Markdown; an extra empty line is a line holding a \
             backslash and a space) are write-only. With source and source_id, a note in that \
             notebook having them gives outcome \"duplicate\" and nothing is created. Safe to \
             retry.",
            Effect::Create,
            notes::create_note,
        ),
        Tool::new(
            "update_note",
            "Update a note",
            "Changes the given fields of a note; at least one is required. content replaces the \
             whole note; name and content are write-only.",
            Effect::Update,
            notes::update_note,
        ),
        Tool::new(
            "delete_note",
            "Delete a note",
            "Deletes a note; an already deleted one gives not_found.",
            Effect::Delete,
            notes::delete_note,
        ),
        Tool::new(
            "create_journal_entry",
            "Write a journal entry",
            "Adds a journal entry for date_on; name and content (Markdown) are write-only. Not \
             re-sent after a failure that may have arrived (LunaTask cannot detect duplicates): \
             the outcome is then \"unknown\"; check the app first.",
            Effect::Append,
            journal::create_journal_entry,
        ),
        Tool::new(
            "create_person",
            "Add a person",
            "Adds a person; first_name and last_name are write-only. email, phone and birthday \
             need those custom fields defined in the app (else validation_error); the free plan \
             limits people (subscription_required). With source and source_id, a person having them gives outcome \
             \"duplicate\" and nothing is created. Safe to retry.",
            Effect::Create,
            people::create_person,
        ),
        Tool::new(
            "delete_person",
            "Delete a person",
            "Deletes a person; an already deleted one gives not_found.",
            Effect::Delete,
            people::delete_person,
        ),
        Tool::new(
            "get_person",
            "Get a person",
            "Reads one person by id: relationship, dates, sources (never names).",
            Effect::Read,
            people::get_person,
        ),
        Tool::new(
            "list_people",
            "List people",
            "Lists people matching the filters, ordered by id; at most limit (default 30), and \
             total counts every match. Names are never returned.",
            Effect::Read,
            people::list_people,
        ),
        Tool::new(
            "create_person_timeline_note",
            "Add a note to a person's timeline",
            "Adds a note to a person's timeline (date_on defaults to today); content is \
             write-only Markdown. Not re-sent after an ambiguous failure: the outcome is then \
             \"unknown\".",
            Effect::Append,
            people::create_person_timeline_note,
        ),
        Tool::new(
            "track_habit",
            "Track a habit",
            "Records that a habit was performed on a day (habit_id is copied from the LunaTask \
             app; the API cannot list habits). Not re-sent after an ambiguous failure: the outcome is then \"unknown\".",
            Effect::Append,
            habits::track_habit,
        ),
        Tool::new(
            "list_actions",
            "List actions",
            "What the tools changed, newest first, with prior values; never user text.",
            Effect::Read,
            actions::list_actions,
        )
        .server_only(),
        Tool::new(
            "undo",
            "Undo an action",
            "Takes back action_id or all of a correlation_id (from list_actions): a create is \
             deleted, an update_task restored unless changed since. Deletes and appends cannot \
             be undone.",
            Effect::Update,
            actions::undo,
        )
        .server_only(),
    ]
}
