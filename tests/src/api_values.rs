//! The values LunaTask documents for its enumerated fields (its API reference, Tasks and
//! People),
//! written once: the fake refuses anything else, and the guest's property tests check that
//! its validation accepts exactly these. The guest's tests include this file by path, since
//! the guest cannot depend on the tests crate.

/// A task's `status`.
pub const TASK_STATUSES: [&str; 5] = ["later", "next", "started", "waiting", "completed"];

/// A task's `motivation`.
pub const MOTIVATIONS: [&str; 4] = ["must", "should", "want", "unknown"];

/// A person's `relationship_strength`.
pub const RELATIONSHIP_STRENGTHS: [&str; 7] = [
    "family",
    "intimate-friends",
    "close-friends",
    "casual-friends",
    "acquaintances",
    "business-contacts",
    "almost-strangers",
];
