//! The `portable` world (`wit/portable.wit`, generated from the tool registry): one typed
//! export per tool, for Wasm runtimes that turn a component's exports into MCP tools.
//!
//! Each export turns its typed record back into the JSON arguments the `server` world takes
//! and runs the very same tool, so validation, retries and errors are identical. What
//! differs is configuration: nobody hands this world a call context or adds the token, so
//! both come from the component's settings: its environment, and in the `portable-config`
//! builds (`wit/portable-config.wit`) first the runtime's `wasi:config/store`.

/// The world this build binds: one `generate!` per world, since the macro takes a literal.
macro_rules! bind {
    ($world:tt) => {
        wit_bindgen::generate!({
            path: "../wit",
            world: $world,
            // The typed records become JSON arguments through serde.
            additional_derives: [serde::Serialize],
            // `wasi:config/store` too: no crate we use binds it.
            generate_all,
        });
    };
}

#[allow(
    unsafe_code,
    reason = "the generated canonical-ABI glue is unsafe by nature"
)]
#[allow(
    clippy::too_many_arguments,
    reason = "the generated glue flattens each record into its fields"
)]
mod bindings {
    #[cfg(all(feature = "portable-config", feature = "portable-config-draft"))]
    compile_error!("choose one of the features portable-config and portable-config-draft");

    #[cfg(not(any(feature = "portable-config", feature = "portable-config-draft")))]
    bind!("portable");
    #[cfg(feature = "portable-config")]
    bind!("portable-config");
    #[cfg(all(feature = "portable-config-draft", not(feature = "portable-config")))]
    bind!("portable-config-draft");

    #[cfg(target_arch = "wasm32")]
    use super::Component;
    #[cfg(target_arch = "wasm32")]
    export!(Component);
}

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{Code, ToolError};
use crate::{Context, ids, schema, tools};
use bindings::{ErrorCode, WriteOutcome};

/// The environment variable holding the API token.
pub const TOKEN_VAR: &str = "LUNATASK_API_TOKEN";
const BASE_URL_VAR: &str = "LUNATASK_BASE_URL";
const MAX_RETRIES_VAR: &str = "LUNATASK_MAX_RETRIES";
const DEFAULT_BASE_URL: &str = "https://api.lunatask.app/v1";

#[cfg_attr(
    not(target_arch = "wasm32"),
    allow(dead_code, reason = "exported only in wasm")
)]
struct Component;

/// One export per tool, each a call of [`run`] with the tool's name.
macro_rules! exports {
    ($($function:ident($args:ident) => $tool:literal,)*) => {
        impl bindings::Guest for Component {
            fn ping() -> Result<String, bindings::ToolError> {
                run("ping", Value::Object(Map::new()))
            }
            $(
                fn $function(args: bindings::$args) -> Result<String, bindings::ToolError> {
                    match arguments($tool, &args) {
                        Ok(arguments) => run($tool, arguments),
                        Err(error) => Err(tool_error(error, &ids::uuid_v4())),
                    }
                }
            )*
        }
    };
}

exports! {
    create_task(CreateTaskArgs) => "create_task",
    update_task(UpdateTaskArgs) => "update_task",
    delete_task(DeleteTaskArgs) => "delete_task",
    get_task(GetTaskArgs) => "get_task",
    list_tasks(ListTasksArgs) => "list_tasks",
    create_note(CreateNoteArgs) => "create_note",
    update_note(UpdateNoteArgs) => "update_note",
    delete_note(DeleteNoteArgs) => "delete_note",
    create_journal_entry(CreateJournalEntryArgs) => "create_journal_entry",
    create_person(CreatePersonArgs) => "create_person",
    delete_person(DeletePersonArgs) => "delete_person",
    get_person(GetPersonArgs) => "get_person",
    list_people(ListPeopleArgs) => "list_people",
    create_person_timeline_note(CreatePersonTimelineNoteArgs) => "create_person_timeline_note",
    track_habit(TrackHabitArgs) => "track_habit",
}

/// Runs the tool `name` exactly as the `server` world would, configured from its settings.
#[cfg_attr(
    not(target_arch = "wasm32"),
    allow(dead_code, reason = "reached only from the wasm exports")
)]
fn run(name: &str, arguments: Value) -> Result<String, bindings::ToolError> {
    let context = match context_from(setting) {
        Ok(context) => context,
        Err(error) => return Err(tool_error(error, &ids::uuid_v4())),
    };
    let answer = tools::call(name, &arguments.to_string(), &context);
    match answer.outcome {
        Ok(text) => Ok(text),
        Err(error) => Err(tool_error(error, &answer.correlation_id)),
    }
}

/// Where this build looks for its settings, as errors name it.
#[cfg(not(any(feature = "portable-config", feature = "portable-config-draft")))]
pub const SETTINGS_FROM: &str = "this component's environment";
#[cfg(any(feature = "portable-config", feature = "portable-config-draft"))]
pub const SETTINGS_FROM: &str =
    "the runtime's configuration (wasi:config/store) or this component's environment";

/// The setting `name` from the environment. An empty value counts as unset.
#[cfg_attr(
    not(target_arch = "wasm32"),
    allow(dead_code, reason = "reached only from the wasm exports")
)]
#[cfg(not(any(feature = "portable-config", feature = "portable-config-draft")))]
fn setting(name: &str) -> Result<Option<String>, ToolError> {
    Ok(std::env::var(name).ok().filter(|v| !v.is_empty()))
}

/// The setting `name` from the runtime's `wasi:config/store`, under its own name or in lower
/// case (Spin-style variable names must be lower case), and only then from the environment:
/// the configuration is what the runtime grants this component, the environment may be
/// inherited from the runtime's own process. An empty value counts as unset.
#[cfg_attr(
    not(target_arch = "wasm32"),
    allow(dead_code, reason = "reached only from the wasm exports")
)]
#[cfg(any(feature = "portable-config", feature = "portable-config-draft"))]
fn setting(name: &str) -> Result<Option<String>, ToolError> {
    // wit-bindgen puts the version in the module's name, as wit/ holds both versions.
    #[cfg(all(feature = "portable-config-draft", not(feature = "portable-config")))]
    use bindings::wasi::config0_2_0_draft::store;
    #[cfg(feature = "portable-config")]
    use bindings::wasi::config0_2_0_rc_1::store;
    let lower = name.to_ascii_lowercase();
    for key in [name, lower.as_str()] {
        match store::get(key) {
            Ok(Some(value)) if !value.is_empty() => return Ok(Some(value)),
            Ok(_) => {}
            Err(store::Error::Upstream(why) | store::Error::Io(why)) => {
                return Err(ToolError::new(
                    Code::InternalError,
                    format!(
                        "the runtime's configuration (wasi:config/store) failed to read {key}: {why}"
                    ),
                ));
            }
        }
    }
    Ok(std::env::var(name).ok().filter(|v| !v.is_empty()))
}

/// The call context, from the settings `setting` reads.
pub fn context_from(
    setting: impl Fn(&str) -> Result<Option<String>, ToolError>,
) -> Result<Context, ToolError> {
    let token = setting(TOKEN_VAR)?
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| {
            ToolError::new(
                Code::AuthenticationError,
                format!(
                    "{TOKEN_VAR} is not set in {SETTINGS_FROM}; the portable component sends \
                     the LunaTask access token itself"
                ),
            )
        })?;
    let base_url = setting(BASE_URL_VAR)?.unwrap_or_else(|| DEFAULT_BASE_URL.to_string());
    check_base_url(&base_url)?;
    // The portable world's own defaults: no host hands it settings. They match the host's
    // (host/src/settings.rs), where the server world's defaults live.
    let mut context = Context {
        base_url,
        deadline_ms: 60_000,
        max_retries: 3,
        retry_base_delay_ms: 1_000,
        retry_max_delay_ms: 30_000,
        utc_offset_minutes: 0,
        correlation_id: None,
        token: None,
    };
    if let Some(retries) = setting(MAX_RETRIES_VAR)? {
        context.max_retries = retries.trim().parse().map_err(|_| {
            ToolError::validation(
                MAX_RETRIES_VAR,
                format!("must be a whole number of retries, not {retries:?}"),
            )
        })?;
    }
    context.token = Some(token);
    Ok(context)
}

/// The token goes wherever the base URL points, so it must not travel in the clear: https,
/// or http to a loopback address only (a local proxy or test server).
fn check_base_url(url: &str) -> Result<(), ToolError> {
    let refuse = |why: &str| {
        Err(ToolError::validation(
            BASE_URL_VAR,
            format!("{url:?} {why}"),
        ))
    };
    if url.starts_with("https://") {
        return Ok(());
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return refuse("must start with https://");
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback {
        Ok(())
    } else {
        refuse("must use https; plain http is allowed only for loopback addresses")
    }
}

/// The tool's JSON arguments from its typed record: absent options are left out, enum
/// cases become the values the tool's schema lists, and `clear` sets fields to null.
pub fn arguments(tool: &str, record: &impl Serialize) -> Result<Value, ToolError> {
    let schema: Value = tools::all()
        .iter()
        .find(|t| t.name == tool)
        .map(|t| serde_json::from_str(&t.typed_input_schema()))
        .transpose()
        .map_err(|e| ToolError::internal(format!("unreadable schema of {tool}: {e}")))?
        .ok_or_else(|| ToolError::internal(format!("no tool named {tool}")))?;
    let properties = schema["properties"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let Value::Object(fields) = serde_json::to_value(record)
        .map_err(|e| ToolError::internal(format!("could not encode the arguments: {e}")))?
    else {
        return Err(ToolError::internal("the arguments are not a record"));
    };

    let mut arguments = Map::new();
    let mut cleared = Vec::new();
    for (field, value) in fields {
        if field == "clear" {
            cleared = value.as_array().cloned().unwrap_or_default();
            continue;
        }
        if value.is_null() {
            continue;
        }
        let value = match (&value, schema::enumeration(&properties[&field])) {
            (Value::String(case), Some(found)) => {
                let values: Vec<String> = found.cases.into_iter().map(|c| c.value).collect();
                Value::from(case_value(case, &values)?)
            }
            _ => value,
        };
        arguments.insert(field, value);
    }
    for case in cleared {
        let case = case.as_str().unwrap_or_default();
        let names: Vec<String> = properties.keys().cloned().collect();
        let field = case_value(case, &names)?;
        if arguments.contains_key(&field) {
            return Err(ToolError::validation(
                &field,
                "is both set and cleared; give a value or list it in clear, not both",
            ));
        }
        arguments.insert(field, Value::Null);
    }
    Ok(Value::Object(arguments))
}

/// The value whose WIT case serde wrote as `case`: `scheduled_on` is the WIT case
/// `scheduled-on`, which Rust spells `ScheduledOn`. Compared without separators or case.
fn case_value(case: &str, values: &[String]) -> Result<String, ToolError> {
    let squash = |s: &str| {
        s.chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .collect::<String>()
    };
    values
        .iter()
        .find(|v| squash(v) == squash(case))
        .cloned()
        .ok_or_else(|| ToolError::internal(format!("no schema value for the WIT case {case}")))
}

#[cfg_attr(
    not(target_arch = "wasm32"),
    allow(dead_code, reason = "reached only from the wasm exports")
)]
fn tool_error(error: ToolError, correlation_id: &str) -> bindings::ToolError {
    use bindings::ToolError;
    crate::to_wit_error!(error, ToolError, ErrorCode, WriteOutcome, correlation_id: correlation_id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn env<'a>(
        pairs: &'a [(&'a str, &'a str)],
    ) -> impl Fn(&str) -> Result<Option<String>, ToolError> + 'a {
        move |name| {
            Ok(pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string()))
        }
    }

    #[test]
    fn records_become_the_tools_json_arguments() {
        let args = bindings::UpdateTaskArgs {
            area_id: None,
            completed_at: None,
            eisenhower: Some(2),
            estimate: None,
            goal_id: None,
            motivation: Some(bindings::Motivation::Must),
            name: Some("n".into()),
            note: None,
            priority: Some(-1),
            scheduled_on: None,
            status: Some(bindings::Status::Started),
            task_id: "t".into(),
            clear: vec![
                bindings::UpdateTaskClearable::GoalId,
                bindings::UpdateTaskClearable::ScheduledOn,
            ],
        };
        assert_eq!(
            arguments("update_task", &args).unwrap(),
            json!({
                "task_id": "t", "eisenhower": 2, "motivation": "must", "name": "n",
                "priority": -1, "status": "started", "goal_id": null, "scheduled_on": null,
            })
        );
        let sorted = bindings::ListTasksArgs {
            area_id: None,
            completed_since: None,
            goal_id: None,
            limit: Some(3),
            min_priority: None,
            offset: Some(6),
            scheduled_from: None,
            scheduled_to: None,
            sort: Some(bindings::Sort::ScheduledOn),
            source: None,
            source_id: None,
            status: Some(bindings::ListTasksStatus::Open),
        };
        assert_eq!(
            arguments("list_tasks", &sorted).unwrap(),
            json!({ "limit": 3, "offset": 6, "sort": "scheduled_on", "status": "open" })
        );
    }

    #[test]
    fn a_field_cannot_be_set_and_cleared() {
        let args = bindings::UpdateTaskArgs {
            area_id: None,
            completed_at: None,
            eisenhower: None,
            estimate: Some(5),
            goal_id: None,
            motivation: None,
            name: None,
            note: None,
            priority: None,
            scheduled_on: None,
            status: None,
            task_id: "t".into(),
            clear: vec![bindings::UpdateTaskClearable::Estimate],
        };
        let error = arguments("update_task", &args).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("estimate"));
    }

    #[test]
    fn configuration_comes_from_the_environment() {
        let error = context_from(env(&[])).unwrap_err();
        assert_eq!(error.code, Code::AuthenticationError);
        assert!(error.message.contains(TOKEN_VAR));

        let context = context_from(env(&[(TOKEN_VAR, "secret")])).unwrap();
        assert_eq!(context.base_url, DEFAULT_BASE_URL);
        assert_eq!(context.token.as_deref(), Some("secret"));
        assert!(!format!("{context:?}").contains("secret"));

        let local = env(&[(TOKEN_VAR, "t"), (BASE_URL_VAR, "http://127.0.0.1:9/v1")]);
        assert!(context_from(local).is_ok());
        for bad in ["http://api.lunatask.app/v1", "ftp://x", "api.lunatask.app"] {
            let error = context_from(env(&[(TOKEN_VAR, "t"), (BASE_URL_VAR, bad)])).unwrap_err();
            assert_eq!(error.field.as_deref(), Some(BASE_URL_VAR), "{bad}");
        }
        let error = context_from(env(&[(TOKEN_VAR, "t"), (MAX_RETRIES_VAR, "many")])).unwrap_err();
        assert_eq!(error.field.as_deref(), Some(MAX_RETRIES_VAR));

        // A store that fails is the call's error, not a setting silently skipped.
        let failing = |name: &str| -> Result<Option<String>, ToolError> {
            Err(ToolError::new(
                Code::InternalError,
                format!("cannot read {name}"),
            ))
        };
        let error = context_from(failing).unwrap_err();
        assert_eq!(error.code, Code::InternalError);
        assert!(error.message.contains(TOKEN_VAR), "{}", error.message);
    }
}
