//! The catalog: every tool as `tools/list` shows it (name, title, description, effect) and
//! the handler that runs it, in the order listed. One place, so that what the model reads
//! is written side by side and kept within the context budget (see the README); the
//! arguments' schemas are in [`args`](super::args), the handlers with their entity.

use super::{Effect, Tool, batch, habits, journal, notes, people, ping, tasks};

/// Every tool, in the order `tools/list` shows them.
pub fn all() -> Vec<Tool> {
    vec![
        Tool::new(
            "ping",
            "Check the LunaTask connection",
            "Checks that the LunaTask API is reachable and accepts the token; a bad token gives \
             authentication_error. Use it to diagnose failures.",
            Effect::Read,
            ping::run,
        ),
        Tool::new(
            "create_task",
            "Create a task",
            "Creates a task in an area (area_id is copied from the LunaTask app: area settings, \
             Copy area ID; the API cannot list areas). name and note are write-only; note is \
             Markdown. With source and source_id, an open task in that area that has them is \
             returned with outcome \"duplicate\" and nothing is created. Safe to retry.",
            Effect::Create,
            tasks::create_task,
        ),
        Tool::new(
            "update_task",
            "Update a task",
            "Changes only the given fields of a task; at least one is required. To clear \
             goal_id, estimate, scheduled_on or completed_at, list it in clear. note replaces \
             the whole note; name and note are write-only. Setting status completed completes the task.",
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
            "Creates 1 to 50 tasks as create_task would, all checked before any is sent, then \
             sent one by one under the rate limit (50 take about a minute; progress is shown). \
             If any fails, the error's items say what became of each.",
            Effect::Create,
            batch::create_tasks,
        )
        .server_only(),
        Tool::new(
            "update_tasks",
            "Update many tasks",
            "Applies 1 to 50 updates as update_task would (complete, reschedule, move...), all \
             checked first, then sent one by one with progress. If any fails, the error's \
             items say what became of each.",
            Effect::Update,
            batch::update_tasks,
        )
        .server_only(),
        Tool::new(
            "create_note",
            "Create a note",
            "Creates a note, optionally in a notebook (notebook_id is copied from the LunaTask \
             app; the API cannot list notebooks). name and content are write-only; content is \
             Markdown (an extra empty line is a line holding a backslash and a space). With \
             source and source_id, a note in that notebook that has them gives outcome \
             \"duplicate\" (without note: notes cannot be read) and nothing is created. Safe to \
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
            "Adds a journal entry for date_on. name and content are write-only; content is \
             Markdown. LunaTask cannot detect duplicate entries, so an entry that may have \
             arrived is never re-sent: a failure mid-request has outcome \"unknown\"; check the \
             journal in the app before calling again.",
            Effect::Append,
            journal::create_journal_entry,
        ),
        Tool::new(
            "create_person",
            "Add a person",
            "Adds a person. first_name and last_name are write-only. email, phone and birthday \
             need those custom fields defined in the LunaTask app, else validation_error; the \
             free plan limits people (subscription_required). With source and source_id, a person \
             that has them gives outcome \"duplicate\" and nothing is created. Safe to retry.",
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
            "Adds a note to a person's timeline; date_on defaults to today. content is Markdown \
             and write-only. LunaTask cannot detect duplicates, so after an ambiguous failure it \
             is not re-sent and the outcome is \"unknown\".",
            Effect::Append,
            people::create_person_timeline_note,
        ),
        Tool::new(
            "track_habit",
            "Track a habit",
            "Records that a habit was performed on a day (habit_id is copied from the LunaTask \
             app; the API cannot list habits). Not re-sent after an ambiguous failure: the \
             outcome is then \"unknown\"; check the app first.",
            Effect::Append,
            habits::track_habit,
        ),
    ]
}
