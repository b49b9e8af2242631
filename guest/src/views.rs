//! Task views (today, overdue, …) and task orderings, as pure functions of the tasks and
//! the current time, so they can be tested without an API.

use std::cmp::Ordering;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::entities::Task;

/// How `list_tasks` orders its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    // What each order means is said once, on `list_tasks.sort`.
    Priority,
    ScheduledOn,
    CompletedAt,
    UpdatedAt,
    CreatedAt,
}

/// A predefined task view, as offered by the `lunatask://…/{view}` resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Now,
    Today,
    Overdue,
    Next7Days,
    HighPriority,
    RecentCompletions,
    Unscheduled,
}

impl View {
    pub const ALL: [View; 7] = [
        View::Now,
        View::Today,
        View::Overdue,
        View::Next7Days,
        View::HighPriority,
        View::RecentCompletions,
        View::Unscheduled,
    ];

    pub fn name(self) -> &'static str {
        match self {
            View::Now => "now",
            View::Today => "today",
            View::Overdue => "overdue",
            View::Next7Days => "next-7-days",
            View::HighPriority => "high-priority",
            View::RecentCompletions => "recent-completions",
            View::Unscheduled => "unscheduled",
        }
    }

    pub fn parse(name: &str) -> Option<View> {
        View::ALL.into_iter().find(|v| v.name() == name)
    }

    pub fn description(self) -> &'static str {
        match self {
            View::Now => {
                "Open, unscheduled tasks that want attention now: in progress, priority 2, motivation must, or urgent & important."
            }
            View::Today => "Open tasks scheduled for today.",
            View::Overdue => "Open tasks scheduled before today, oldest first.",
            View::Next7Days => "Open tasks scheduled after today and within the next 7 days.",
            View::HighPriority => "Open tasks with priority 1 or 2.",
            View::RecentCompletions => "Tasks completed in the last 72 hours, most recent first.",
            View::Unscheduled => "Open tasks with no date, highest priority first.",
        }
    }

    /// Whether `task` is in this view; `today` is the user's local date.
    pub fn selects(self, t: &Task, today: NaiveDate, now: DateTime<Utc>) -> bool {
        let scheduled = |t: &Task| t.scheduled_on.as_deref().and_then(parse_date);
        if t.deleted_at.is_some() {
            return false;
        }
        match self {
            View::RecentCompletions => {
                t.is_completed()
                    && completed_at(t).is_some_and(|c| c <= now && now - c <= Duration::hours(72))
            }
            _ if t.is_completed() => false,
            View::Now => {
                t.scheduled_on.is_none()
                    && (t.status.as_deref() == Some("started")
                        || t.priority == Some(2)
                        || t.motivation.as_deref() == Some("must")
                        || t.eisenhower == Some(1))
            }
            View::Today => scheduled(t) == Some(today),
            View::Overdue => scheduled(t).is_some_and(|d| d < today),
            View::Next7Days => {
                scheduled(t).is_some_and(|d| d > today && d <= today + Duration::days(7))
            }
            View::HighPriority => t.priority.unwrap_or(0) >= 1,
            View::Unscheduled => t.scheduled_on.is_none(),
        }
    }

    /// The order the view's tasks come in.
    pub fn order(self) -> Sort {
        match self {
            View::Overdue => Sort::ScheduledOn,
            View::RecentCompletions => Sort::CompletedAt,
            _ => Sort::Priority,
        }
    }
}

fn parse_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

fn completed_at(t: &Task) -> Option<DateTime<Utc>> {
    t.completed_at
        .as_deref()
        .and_then(|c| DateTime::parse_from_rfc3339(c).ok())
        .map(|c| c.to_utc())
}

fn parse_time(s: &Option<String>) -> Option<DateTime<Utc>> {
    s.as_deref()
        .and_then(|c| DateTime::parse_from_rfc3339(c).ok())
        .map(|c| c.to_utc())
}

/// Sorts in place; every order ends with the id so results are stable.
pub fn sort(tasks: &mut [Task], by: Sort) {
    let priority_desc = |a: &Task, b: &Task| b.priority.unwrap_or(0).cmp(&a.priority.unwrap_or(0));
    // Unscheduled tasks come after scheduled ones.
    let scheduled_asc = |a: &Task, b: &Task| match (&a.scheduled_on, &b.scheduled_on) {
        (Some(x), Some(y)) => x.cmp(y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    };
    // Most recent first; missing times last.
    let time_desc = |x: Option<DateTime<Utc>>, y: Option<DateTime<Utc>>| match (x, y) {
        (Some(x), Some(y)) => y.cmp(&x),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    };
    tasks.sort_by(|a, b| {
        let primary = match by {
            Sort::Priority => priority_desc(a, b).then_with(|| scheduled_asc(a, b)),
            Sort::ScheduledOn => scheduled_asc(a, b).then_with(|| priority_desc(a, b)),
            Sort::CompletedAt => time_desc(completed_at(a), completed_at(b)),
            Sort::UpdatedAt => time_desc(parse_time(&a.updated_at), parse_time(&b.updated_at)),
            Sort::CreatedAt => time_desc(parse_time(&a.created_at), parse_time(&b.created_at)),
        };
        primary.then_with(|| a.id.cmp(&b.id))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: &str, f: impl FnOnce(&mut Task)) -> Task {
        let mut t: Task =
            serde_json::from_value(serde_json::json!({ "id": id, "status": "later" })).unwrap();
        f(&mut t);
        t
    }

    fn ids(tasks: &[Task]) -> Vec<&str> {
        tasks.iter().map(|t| t.id.as_str()).collect()
    }

    #[test]
    fn views_select_exactly_their_tasks() {
        let today = NaiveDate::from_ymd_opt(2024, 5, 10).unwrap();
        let now = DateTime::parse_from_rfc3339("2024-05-10T12:00:00Z")
            .unwrap()
            .to_utc();
        let tasks = [
            task("today", |t| t.scheduled_on = Some("2024-05-10".into())),
            task("today-done", |t| {
                t.scheduled_on = Some("2024-05-10".into());
                t.status = Some("completed".into());
                t.completed_at = Some("2024-05-10T08:00:00Z".into());
            }),
            task("old-done", |t| {
                t.status = Some("completed".into());
                t.completed_at = Some("2024-05-01T08:00:00Z".into());
            }),
            task("overdue", |t| t.scheduled_on = Some("2024-05-09".into())),
            task("in-7", |t| t.scheduled_on = Some("2024-05-17".into())),
            task("in-8", |t| t.scheduled_on = Some("2024-05-18".into())),
            task("urgent", |t| t.priority = Some(2)),
            task("started-scheduled", |t| {
                t.status = Some("started".into());
                t.scheduled_on = Some("2024-05-11".into());
            }),
        ];
        // As the view resources read them: the tasks selected, in the view's order.
        let view = |v: View| {
            let mut selected: Vec<Task> = tasks
                .iter()
                .filter(|t| v.selects(t, today, now))
                .cloned()
                .collect();
            sort(&mut selected, v.order());
            ids(&selected).join(",")
        };
        assert_eq!(view(View::Today), "today");
        assert_eq!(view(View::Overdue), "overdue");
        assert_eq!(view(View::Next7Days), "started-scheduled,in-7");
        assert_eq!(view(View::HighPriority), "urgent");
        assert_eq!(view(View::Now), "urgent");
        assert_eq!(view(View::RecentCompletions), "today-done");
    }
}
