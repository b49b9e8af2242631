//! People tools: create, delete, get, list, and notes on a person's timeline.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Map;

use super::create::{Outcome, SourceKey, create};
use super::{Effect, Page, Tool, not_found_names, page, put};
use crate::api::{Api, Method, segment};
use crate::entities::{Person, TimelineNote};
use crate::error::ToolError;
use crate::retry::Replay;
use crate::validate::{
    Date, Email, Id, Limit, Offset, RelationshipStrength, SourceText, source_pair,
};

pub fn tools() -> Vec<Tool> {
    vec![
        Tool::new(
            "create_person",
            "Add a person",
            "Adds a person. first_name and last_name are write-only. email, phone and birthday \
             need those custom fields defined in the LunaTask app, else validation_error; the \
             free plan limits people (subscription_required). With source and source_id, a person \
             that has them gives outcome \"duplicate\" and nothing is created. Safe to retry.",
            Effect::Create,
            create_person,
        ),
        Tool::new(
            "delete_person",
            "Delete a person",
            "Deletes a person; an already deleted one gives not_found.",
            Effect::Delete,
            delete_person,
        ),
        Tool::new(
            "get_person",
            "Get a person",
            "Reads one person by id: relationship, dates, sources (never names).",
            Effect::Read,
            get_person,
        ),
        Tool::new(
            "list_people",
            "List people",
            "Lists people matching the filters, ordered by id; at most limit (default 30), and \
             total counts every match. Names are never returned.",
            Effect::Read,
            list_people,
        ),
        Tool::new(
            "create_person_timeline_note",
            "Add a note to a person's timeline",
            "Adds a note to a person's timeline; date_on defaults to today. content is Markdown \
             and write-only. LunaTask cannot detect duplicates, so after an ambiguous failure it \
             is not re-sent and the outcome is \"unknown\".",
            Effect::Append,
            create_person_timeline_note,
        ),
    ]
}

/// Arguments of `create_person`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateArgs {
    /// Write-only.
    pub first_name: Option<String>,
    /// Write-only.
    pub last_name: Option<String>,
    /// Default casual-friends.
    pub relationship_strength: Option<RelationshipStrength>,
    /// An external system; give with source_id.
    pub source: Option<SourceText>,
    /// The id in that system; give with source.
    pub source_id: Option<SourceText>,
    pub email: Option<Email>,
    pub phone: Option<String>,
    /// YYYY-MM-DD.
    pub birthday: Option<Date>,
}

/// The result of `create_person`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PersonCreated {
    /// "created", or "duplicate" when a person already had this source/source_id.
    pub outcome: Outcome,
    /// The new person, or the existing one for a duplicate (absent if it could not be found).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub person: Option<Person>,
    /// The source/source_id the person carries (this server's own when none was given).
    pub source: SourceKey,
}

fn create_person(api: &Api, args: CreateArgs) -> Result<PersonCreated, ToolError> {
    let caller_key = source_pair(&args.source, &args.source_id)?;
    let mut body = Map::new();
    put(&mut body, "first_name", &args.first_name);
    put(&mut body, "last_name", &args.last_name);
    put(
        &mut body,
        "relationship_strength",
        &args.relationship_strength,
    );
    put(&mut body, "email", &args.email);
    put(&mut body, "phone", &args.phone);
    put(&mut body, "birthday", &args.birthday);
    let created = create(api, "/people", "person", body, caller_key, |api, key| {
        let people: Vec<Person> = api.get(
            "/people",
            &[("source", &key.source), ("source_id", &key.source_id)],
            "people",
        )?;
        Ok(people
            .into_iter()
            .find(|p| p.has_source(&key.source, &key.source_id)))
    })?;
    Ok(PersonCreated {
        outcome: created.outcome,
        person: created.entity,
        source: created.key,
    })
}

/// Arguments naming one person.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonIdArgs {
    pub person_id: Id,
}

/// The result of `delete_person`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PersonDeleted {
    pub deleted: bool,
    /// The deleted person (with deleted_at), when LunaTask returned it.
    pub person: Option<Person>,
}

fn delete_person(api: &Api, args: PersonIdArgs) -> Result<PersonDeleted, ToolError> {
    let path = format!("/people/{}", segment(args.person_id.as_str()));
    let reply = api
        .send(Method::Delete, &path, &[], None, Replay::Safe)
        .map_err(|e| not_found_names(e, "person", &args.person_id))?;
    let person = if reply.body.is_empty() {
        None
    } else {
        Some(reply.field("person")?)
    };
    Ok(PersonDeleted {
        deleted: true,
        person,
    })
}

/// A single person.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PersonResult {
    pub person: Person,
}

pub fn get_person(api: &Api, args: PersonIdArgs) -> Result<PersonResult, ToolError> {
    let path = format!("/people/{}", segment(args.person_id.as_str()));
    let person = api
        .get(&path, &[], "person")
        .map_err(|e| not_found_names(e, "person", &args.person_id))?;
    Ok(PersonResult { person })
}

/// Arguments of `list_people`. Every filter is optional.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListArgs {
    /// Only people linked to this external system.
    pub source: Option<SourceText>,
    /// Only people with this external id.
    pub source_id: Option<SourceText>,
    pub relationship_strength: Option<RelationshipStrength>,
    /// At most this many people (default 30).
    pub limit: Option<Limit>,
    /// Skip this many matching people (for the next page).
    pub offset: Option<Offset>,
}

/// The result of `list_people`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PeopleList {
    pub people: Vec<Person>,
    #[serde(flatten)]
    pub page: Page,
}

fn list_people(api: &Api, args: ListArgs) -> Result<PeopleList, ToolError> {
    let mut query: Vec<(&str, &str)> = Vec::new();
    if let Some(source) = &args.source {
        query.push(("source", source.as_str()));
    }
    if let Some(source_id) = &args.source_id {
        query.push(("source_id", source_id.as_str()));
    }
    let people: Vec<Person> = api.get("/people", &query, "people")?;
    let strength = args
        .relationship_strength
        .map(|s| serde_json::to_value(s).unwrap_or_default());
    let mut matching: Vec<Person> = people
        .into_iter()
        .filter(|p| {
            let source_ok = (args.source.is_none() && args.source_id.is_none())
                || p.sources.iter().any(|s| {
                    args.source
                        .as_ref()
                        .is_none_or(|want| s.source.as_deref() == Some(want.as_str()))
                        && args
                            .source_id
                            .as_ref()
                            .is_none_or(|want| s.source_id.as_deref() == Some(want.as_str()))
                });
            let strength_ok = strength
                .as_ref()
                .is_none_or(|want| p.relationship_strength.as_deref() == want.as_str());
            source_ok && strength_ok
        })
        .collect();
    matching.sort_by(|a, b| a.id.cmp(&b.id));
    let page = page(
        &mut matching,
        args.offset,
        args.limit,
        "relationship_strength or source/source_id",
    );
    Ok(PeopleList {
        people: matching,
        page,
    })
}

/// Arguments of `create_person_timeline_note`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TimelineArgs {
    /// The person the note is about.
    pub person_id: Id,
    /// The note's day, YYYY-MM-DD; LunaTask defaults to today.
    pub date_on: Option<Date>,
    /// Markdown. Write-only.
    pub content: Option<String>,
}

/// The result of `create_person_timeline_note`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TimelineCreated {
    pub person_timeline_note: TimelineNote,
}

fn create_person_timeline_note(
    api: &Api,
    args: TimelineArgs,
) -> Result<TimelineCreated, ToolError> {
    let mut body = Map::new();
    put(&mut body, "person_id", &Some(&args.person_id));
    put(&mut body, "date_on", &args.date_on);
    put(&mut body, "content", &args.content);
    let reply = api
        .send(
            Method::Post,
            "/person_timeline_notes",
            &[],
            Some(&body.into()),
            Replay::OnlyIfNotDelivered,
        )
        .map_err(|e| not_found_names(e, "person", &args.person_id))?;
    Ok(TimelineCreated {
        person_timeline_note: reply.field("person_timeline_note")?,
    })
}
