//! What a request concerns, read from its API path: shared by the request path (error
//! messages name it, and the hints for a rejected request fit it) and the action journal
//! (its kind of a write).

/// What a request concerns, read from its path: error messages name it, and the hints for
/// a rejected request are the ones that fit it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Task,
    Note,
    JournalEntry,
    Person,
    TimelineNote,
    HabitTracking,
    /// `/ping` and anything unknown.
    Other,
}

impl Subject {
    /// The subject of an API path such as `/tasks/{id}` or `/habits/{id}/track`.
    pub fn of_path(path: &str) -> Self {
        let path = path.split('?').next().unwrap_or("");
        let mut segments = path.trim_start_matches('/').split('/');
        match segments.next().unwrap_or("") {
            "tasks" => Subject::Task,
            "notes" => Subject::Note,
            "journal_entries" => Subject::JournalEntry,
            "people" => Subject::Person,
            "person_timeline_notes" => Subject::TimelineNote,
            "habits" => Subject::HabitTracking,
            _ => Subject::Other,
        }
    }

    /// The subject as the action journal names its kind, e.g. "timeline-note".
    pub fn kind(self) -> &'static str {
        match self {
            Subject::Task => "task",
            Subject::Note => "note",
            Subject::JournalEntry => "journal-entry",
            Subject::Person => "person",
            Subject::TimelineNote => "timeline-note",
            Subject::HabitTracking => "habit",
            Subject::Other => "other",
        }
    }

    /// The subject in words, e.g. "task".
    pub fn noun(self) -> &'static str {
        match self {
            Subject::Task => "task",
            Subject::Note => "note",
            Subject::JournalEntry => "journal entry",
            Subject::Person => "person",
            Subject::TimelineNote => "timeline note",
            Subject::HabitTracking => "habit tracking",
            Subject::Other => "entity",
        }
    }

    /// What to check when LunaTask rejects a request about this subject (400 or 422).
    pub fn rejection_hint(self, status: u16) -> &'static str {
        match (self, status) {
            (Subject::Person, 422) => {
                "For a person's email, phone or birthday, define that custom field in the \
                 LunaTask app first."
            }
            (Subject::Person, _) => "Check relationship_strength and birthday (YYYY-MM-DD).",
            (Subject::Task, _) => {
                "Check area_id and goal_id (copy them from the LunaTask app) and the values of \
                 the fields LunaTask names."
            }
            (Subject::Note, _) => {
                "Check notebook_id (copy it from the LunaTask app) and date_on (YYYY-MM-DD)."
            }
            (Subject::JournalEntry, _) => "Check date_on (YYYY-MM-DD).",
            (Subject::TimelineNote, _) => "Check person_id and date_on (YYYY-MM-DD).",
            (Subject::HabitTracking, _) => {
                "Check habit_id (copy it from the LunaTask app) and performed_on (YYYY-MM-DD)."
            }
            (Subject::Other, _) => "Check the arguments.",
        }
    }
}
