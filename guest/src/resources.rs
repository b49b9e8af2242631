//! MCP resources: single tasks and people, task views, metrics and a discovery document.
//! `lunatask://metrics` is described here with the rest but read by the host, whose
//! counters it shows.
//!
//! Many MCP clients show resources to the user rather than to the agent, so every resource
//! here is also reachable through a tool; resources add nothing a tool cannot do.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use crate::api::{Api, wall_now_unix};
use crate::bindings::{Resource, ResourceContents, ResourceError, ResourceTemplate};
use crate::effect::Effect;
use crate::entities::Task;
use crate::error::ToolError;
use crate::journal::Filter;
use crate::tools::entity::TASKS;
use crate::tools::{Top, actions, people, tasks};
use crate::validate::{Id, Limit, parse_args};
use crate::views::{self, View};
use crate::{Context, log};

const JSON: &str = "application/json";
const DISCOVERY: &str = "lunatask://discovery";
const METRICS: &str = "lunatask://metrics";
const ACTIONS: &str = "lunatask://actions";

pub fn list() -> Vec<Resource> {
    let mut out = vec![
        resource(
            DISCOVERY,
            "discovery",
            "What this server offers",
            "The resource templates and task views this server serves, with what each view selects.",
        ),
        resource(
            METRICS,
            "metrics",
            "Request metrics",
            "Requests to LunaTask per endpoint and status class: counts, retries, rate-limit waits, latency histogram and success rate.",
        ),
        resource(
            ACTIONS,
            "actions",
            "Action journal",
            "What this server's tools changed, newest first, as list_actions answers; filter with ?since=, &tool=, &correlation_id=, &limit=.",
        ),
    ];
    out.extend(View::ALL.iter().map(|v| Resource {
        uri: format!("lunatask://global/{}", v.name()),
        name: format!("global-{}", v.name()),
        title: format!("Tasks: {}", v.name()),
        description: v.description().to_string(),
        mime_type: JSON.to_string(),
    }));
    out
}

fn resource(uri: &str, name: &str, title: &str, description: &str) -> Resource {
    Resource {
        uri: uri.into(),
        name: name.into(),
        title: title.into(),
        description: description.into(),
        mime_type: JSON.into(),
    }
}

pub fn templates() -> Vec<ResourceTemplate> {
    let views = View::ALL.map(View::name).join(", ");
    vec![
        template(
            "lunatask://tasks/{task_id}",
            "task",
            "A task",
            "One task by id, as get_task returns it.".into(),
        ),
        template(
            "lunatask://people/{person_id}",
            "person",
            "A person",
            "One person by id, as get_person returns it.".into(),
        ),
        template(
            "lunatask://actions/{action_id}",
            "action",
            "An action",
            "One action of the journal by id, as list_actions shows it.".into(),
        ),
        template(
            "lunatask://area/{area_id}/{view}",
            "area-view",
            "An area's task view",
            format!("The tasks of one area in a view: {views}."),
        ),
        template(
            "lunatask://global/{view}",
            "global-view",
            "A task view across all areas",
            format!("All tasks in a view: {views}."),
        ),
    ]
}

fn template(uri_template: &str, name: &str, title: &str, description: String) -> ResourceTemplate {
    ResourceTemplate {
        uri_template: uri_template.into(),
        name: name.into(),
        title: title.into(),
        description,
        mime_type: JSON.into(),
    }
}

/// What a `lunatask://` URI names.
#[derive(Debug, PartialEq)]
enum Target {
    Discovery,
    Task(String),
    Person(String),
    View {
        area_id: Option<String>,
        view: View,
    },
    /// The journal, with `list_actions`' arguments from the query (as JSON).
    Actions(String),
    Action(String),
}

/// `list_actions`' arguments from a query such as `since=2026-12-01&limit=5`.
fn actions_query(query: &str, uri: &str) -> Result<String, String> {
    let mut args = serde_json::Map::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_encoding::percent_decode_str(value)
            .decode_utf8()
            .map_err(|_| format!("{key} in {uri:?} is not UTF-8"))?;
        let value = match (key, value.parse::<u64>()) {
            ("limit", Ok(n)) => Value::from(n),
            _ => Value::from(value.into_owned()),
        };
        args.insert(key.to_string(), value);
    }
    let args = Value::Object(args).to_string();
    parse_args::<crate::tools::args::ListActionsArgs>(&args)
        .map(|_| args)
        .map_err(|e| format!("{uri:?}: {}", e.message))
}

fn parse(uri: &str) -> Result<Target, String> {
    let rest = uri
        .strip_prefix("lunatask://")
        .ok_or_else(|| format!("{uri:?} is not a lunatask:// URI"))?;
    if let Some(query) = rest.strip_prefix("actions?") {
        return actions_query(query, uri).map(Target::Actions);
    }
    let parts: Vec<&str> = rest.split('/').collect();
    let id = |raw: &str, what: &str| -> Result<String, String> {
        Id::try_from(raw.to_string())
            .map(|id| id.to_string())
            .map_err(|e| format!("{what} in {uri:?}: {e}"))
    };
    let view = |raw: &str| {
        View::parse(raw).ok_or_else(|| {
            format!(
                "no view {raw:?}; views are {}",
                View::ALL.map(View::name).join(", ")
            )
        })
    };
    match parts.as_slice() {
        ["discovery"] => Ok(Target::Discovery),
        ["actions"] => Ok(Target::Actions("{}".into())),
        ["actions", action_id] => Ok(Target::Action(id(action_id, "action_id")?)),
        ["tasks", task_id] => Ok(Target::Task(id(task_id, "task_id")?)),
        ["people", person_id] => Ok(Target::Person(id(person_id, "person_id")?)),
        ["global", name] => Ok(Target::View {
            area_id: None,
            view: view(name)?,
        }),
        ["area", area_id, name] => Ok(Target::View {
            area_id: Some(id(area_id, "area_id")?),
            view: view(name)?,
        }),
        _ => Err(format!(
            "no resource {uri:?}; see {DISCOVERY} for what exists"
        )),
    }
}

pub fn read(uri: &str, ctx: &Context) -> Result<ResourceContents, ResourceError> {
    let target = parse(uri).map_err(ResourceError::NotFound)?;
    let correlation_id = ctx.correlation_id();
    let api = Api::new(ctx, &correlation_id, Effect::Read);
    let value = match target {
        Target::Discovery => Ok(discovery()),
        Target::Task(task_id) => {
            let args = json!({ "task_id": task_id }).to_string();
            parse_args(&args)
                .and_then(|a| tasks::get_task(&api, a))
                .and_then(to_value)
        }
        Target::Person(person_id) => {
            let args = json!({ "person_id": person_id }).to_string();
            parse_args(&args)
                .and_then(|a| people::get_person(&api, a))
                .and_then(to_value)
        }
        Target::View { area_id, view } => read_view(&api, ctx, area_id, view),
        Target::Actions(args) => parse_args(&args)
            .and_then(|a| actions::list_actions(&api, a))
            .and_then(to_value),
        Target::Action(action_id) => read_action(&api, action_id),
    };
    match value {
        Ok(value) => Ok(ResourceContents {
            uri: uri.to_string(),
            mime_type: JSON.to_string(),
            // serde_json writes a `Value` straight to bytes; `Display` goes through fmt.
            text: serde_json::to_string(&value).unwrap_or_default(),
        }),
        Err(error) => {
            log::info(
                &correlation_id,
                &format!("resource read failed: {:?}", error.code),
            );
            Err(ResourceError::Failed(error.into()))
        }
    }
}

/// One action: the entry itself, or not found.
fn read_action(api: &Api, action_id: String) -> Result<Value, ToolError> {
    let filter = Filter {
        action_id: Some(action_id.clone()),
        limit: 1,
        ..Filter::default()
    };
    let mut found = actions::read(api, &filter)?;
    match found.actions.pop() {
        Some(entry) => to_value(entry),
        None => Err(ToolError::new(
            crate::error::Code::NotFound,
            format!("the action journal has no action {action_id}"),
        )),
    }
}

fn to_value<T: serde::Serialize>(value: T) -> Result<Value, ToolError> {
    serde_json::to_value(value).map_err(|e| ToolError::internal(e.to_string()))
}

fn read_view(
    api: &Api,
    ctx: &Context,
    area_id: Option<String>,
    view: View,
) -> Result<Value, ToolError> {
    let mut one = read_views(api, ctx, area_id, &[view])?;
    Ok(one.pop().unwrap_or_default())
}

/// `views` of the account (or of one area), from one pass over its task list: a prompt
/// that embeds three views reads the account once, not three times.
pub fn read_views(
    api: &Api,
    ctx: &Context,
    area_id: Option<String>,
    views: &[View],
) -> Result<Vec<Value>, ToolError> {
    let now = DateTime::<Utc>::from_timestamp(wall_now_unix(), 0).unwrap_or_default();
    let today = (now + Duration::minutes(i64::from(ctx.utc_offset_minutes))).date_naive();
    // Only the first of each view's tasks are kept as the account's list streams in: a view
    // can select thousands on a big account (unscheduled ones, say), more than any reader
    // wants at once, and memory must follow the answer, not the account.
    let limit = Limit(VIEW_LIMIT as u32);
    let mut tops: Vec<_> = views
        .iter()
        .map(|&view| {
            Top::for_page(None, Some(limit), move |tasks: &mut Vec<Task>| {
                views::sort(tasks, view.order())
            })
        })
        .collect();
    TASKS.each(api, None, None, |t: Task| {
        if area_id.is_some() && t.area_id != area_id {
            return;
        }
        let selecting: Vec<usize> = (0..views.len())
            .filter(|&i| views[i].selects(&t, today, now))
            .collect();
        // A task in several views is kept in each.
        if let Some((&last, rest)) = selecting.split_last() {
            for &i in rest {
                tops[i].push(t.clone());
            }
            tops[last].push(t);
        }
    })?;
    let answers = views.iter().zip(tops).map(|(view, top)| {
        let count = top.total;
        let selected = top.into_sorted();
        let mut out = json!({
            "view": view.name(),
            "area_id": area_id,
            "today": today.to_string(),
            "count": count,
            "tasks": selected,
        });
        if count > VIEW_LIMIT {
            out["hint"] = format!(
                "the first {VIEW_LIMIT} of {count} shown, in the view's order; list_tasks pages \
                 through all of them with its filters"
            )
            .into();
        }
        out
    });
    Ok(answers.collect())
}

/// The most tasks a view answers; `count` counts them all.
const VIEW_LIMIT: usize = 100;

fn discovery() -> Value {
    json!({
        "resources": list().iter().map(|r| json!({ "uri": r.uri, "description": r.description })).collect::<Vec<_>>(),
        "templates": templates().iter().map(|t| json!({ "uriTemplate": t.uri_template, "description": t.description })).collect::<Vec<_>>(),
        "views": View::ALL.iter().map(|v| json!({ "name": v.name(), "description": v.description() })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0b5d5a9e-7c1b-4f0e-9d1a-2f4b6c8d0e12";

    #[test]
    fn uris_parse_to_exactly_what_exists() {
        assert_eq!(
            parse(&format!("lunatask://tasks/{ID}")),
            Ok(Target::Task(ID.into()))
        );
        assert_eq!(
            parse(&format!("lunatask://area/{ID}/next-7-days")),
            Ok(Target::View {
                area_id: Some(ID.into()),
                view: View::Next7Days
            })
        );
        for bad in [
            "lunatask://tasks/../ping".to_string(),
            "lunatask://global/tomorrow".to_string(),
            format!("lunatask://area/{ID}"),
            "lunatask://tasks/x%2Fy".to_string(),
            "https://example.com/".to_string(),
        ] {
            assert!(parse(&bad).is_err(), "{bad}");
        }
    }
}
