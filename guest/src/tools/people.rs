//! People tools: create, delete, get, list, and notes on a person's timeline.

use schemars::JsonSchema;
use serde::Serialize;

use super::args::{CreatePersonArgs, ListPeopleArgs, TimelineNoteArgs};
use super::create::create;
use super::entity::{PEOPLE, Query, body_of};
use super::{Effect, Page, Tool};
use crate::api::{Api, Request};
use crate::entities::{Person, TimelineNote};
use crate::error::ToolError;
use crate::validate::source_pair;

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

entity_io! {
    PEOPLE => Person, person by person_id:
        PersonIdArgs, PersonResult, PersonDeleted, PersonCreated;
    duplicate when "a person"; get: get_person, delete: delete_person;
}

fn create_person(api: &Api, args: CreatePersonArgs) -> Result<PersonCreated, ToolError> {
    let caller_key = source_pair(&args.source, &args.source_id)?;
    let created = create(api, &PEOPLE, body_of(&args)?, caller_key, |api, key| {
        Ok(PEOPLE
            .list::<Person>(api, Some(&key.source), Some(&key.source_id))?
            .into_iter()
            .next())
    })?;
    Ok(created.into())
}

/// The result of `list_people`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PeopleList {
    pub people: Vec<Person>,
    #[serde(flatten)]
    pub page: Page,
}

fn list_people(api: &Api, args: ListPeopleArgs) -> Result<PeopleList, ToolError> {
    let strength = args
        .relationship_strength
        .map(|s| serde_json::to_value(s).unwrap_or_default());
    let query = Query::new(&args.source, &args.source_id, args.offset, args.limit);
    let narrow = "relationship_strength or source/source_id";
    let keep = |person: &Person| {
        strength
            .as_ref()
            .is_none_or(|want| person.relationship_strength.as_deref() == want.as_str())
    };
    let (people, page) = PEOPLE.page(api, query, narrow, keep, |people| {
        people.sort_by(|a, b| a.id.cmp(&b.id))
    })?;
    Ok(PeopleList { people, page })
}

/// The result of `create_person_timeline_note`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TimelineCreated {
    pub person_timeline_note: TimelineNote,
}

fn create_person_timeline_note(
    api: &Api,
    args: TimelineNoteArgs,
) -> Result<TimelineCreated, ToolError> {
    let reply = api
        .send(Request::post("/person_timeline_notes").json(&args))
        .map_err(|e| PEOPLE.not_found(e, &args.person_id))?;
    Ok(TimelineCreated {
        person_timeline_note: reply.field("person_timeline_note")?,
    })
}
