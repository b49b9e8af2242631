//! People handlers: create, delete, get, list, and notes on a person's timeline.

use schemars::JsonSchema;
use serde::Serialize;

use super::Page;
use super::args::{CreatePersonArgs, ListPeopleArgs, TimelineNoteArgs};
use super::create::create;
use super::entity::{PEOPLE, Query};
use crate::api::{Api, Request};
use crate::entities::{Person, TimelineNote};
use crate::error::ToolError;

entity_io! {
    PEOPLE => Person, person by person_id:
        PersonIdArgs, PersonResult, PersonDeleted, PersonCreated;
    duplicate when "a person"; get: get_person, delete: delete_person;
}

pub(super) fn create_person(api: &Api, args: CreatePersonArgs) -> Result<PersonCreated, ToolError> {
    // Any person with the pair is the duplicate.
    let same = |_: &Person| true;
    let sources = (&args.source, &args.source_id);
    Ok(create(api, &PEOPLE, &args, sources, Some(&same))?.into())
}

/// The result of `list_people`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PeopleList {
    pub people: Vec<Person>,
    #[serde(flatten)]
    pub page: Page,
}

pub(super) fn list_people(api: &Api, args: ListPeopleArgs) -> Result<PeopleList, ToolError> {
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

pub(super) fn create_person_timeline_note(
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
