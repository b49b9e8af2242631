//! The requests every kind of entity shares, written once: get, update, delete and list by
//! source, each at the kind's path and reading the kind's key, and each naming the kind
//! and id when LunaTask has no such entity (its 404 says neither).

use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::{Page, Top, page};
use crate::api::{Api, Request, segment};
use crate::entities::Linked;
use crate::error::{Code, ToolError};
use crate::validate::{Id, Limit, Offset, SourceText};

/// Declares, once for every kind, the types of the tools each kind has and the handlers
/// that need nothing but the kind: `$Ids` names one (`{"task_id"}`), `$One` holds one
/// (`{"task"}`), `$Deleted` answers `delete` (`{"deleted", "task"}`) and `$Created` a create
/// (`{"outcome", "task", "source"}`, from [`Created`](super::create::Created); `$scope` says
/// where LunaTask looks for a duplicate), and the `get` (for kinds the API can read back)
/// and `delete` handlers. The field names are the
/// kind's own because agents read them.
macro_rules! entity_io {
    (
        $kind:path => $Entity:ty, $field:ident by $id:ident:
            $Ids:ident, $One:ident, $Deleted:ident, $Created:ident;
        duplicate when $scope:literal; $(get: $get:ident,)? delete: $delete:ident;
    ) => {
        args! {
            /// Arguments naming one record.
            pub struct $Ids {
                pub $id: $crate::validate::Id,
            }
        }

        /// One record.
        #[derive(Debug, serde::Serialize, schemars::JsonSchema)]
        pub struct $One {
            pub $field: $Entity,
        }

        /// The result of a delete.
        #[derive(Debug, serde::Serialize, schemars::JsonSchema)]
        pub struct $Deleted {
            pub deleted: bool,
            /// The deleted record (with deleted_at), when LunaTask returned it.
            pub $field: Option<$Entity>,
        }

        /// The result of a create.
        #[derive(Debug, serde::Serialize, schemars::JsonSchema)]
        pub struct $Created {
            #[doc = concat!("\"created\", or \"duplicate\" when ", $scope, " already had this source/source_id.")]
            pub outcome: $crate::tools::create::CreateOutcome,
            /// The new record; for a duplicate, the existing one if it could be looked up.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub $field: Option<$Entity>,
            /// The source/source_id the record carries (this server's own when none was given).
            pub source: $crate::tools::create::SourceKey,
        }

        impl From<$crate::tools::create::Created<$Entity>> for $Created {
            fn from(created: $crate::tools::create::Created<$Entity>) -> Self {
                Self {
                    outcome: created.outcome,
                    $field: created.entity,
                    source: created.key,
                }
            }
        }

        $(
            pub fn $get(
                api: &$crate::api::Api,
                args: $Ids,
            ) -> Result<$One, $crate::error::ToolError> {
                Ok($One {
                    $field: $kind.get(api, &args.$id)?,
                })
            }
        )?

        pub fn $delete(
            api: &$crate::api::Api,
            args: $Ids,
        ) -> Result<$Deleted, $crate::error::ToolError> {
            Ok($Deleted {
                deleted: true,
                $field: $kind.delete(api, &args.$id)?,
            })
        }
    };
}

/// Where LunaTask serves one kind of entity, and what its answers call it.
pub struct Kind {
    /// The kind as a person says it, for messages: "task".
    pub noun: &'static str,
    /// The collection's path: "/tasks".
    pub path: &'static str,
    /// The key one entity is answered under: "task".
    pub one: &'static str,
    /// The key a list is answered under: "tasks".
    pub many: &'static str,
}

pub const TASKS: Kind = Kind {
    noun: "task",
    path: "/tasks",
    one: "task",
    many: "tasks",
};

pub const NOTES: Kind = Kind {
    noun: "note",
    path: "/notes",
    one: "note",
    many: "notes",
};

pub const PEOPLE: Kind = Kind {
    noun: "person",
    path: "/people",
    one: "person",
    many: "people",
};

impl Kind {
    /// The path of one entity, its id escaped as a path segment.
    pub fn path_of(&self, id: &Id) -> String {
        format!("{}/{}", self.path, segment(id.as_str()))
    }

    pub fn get<T: DeserializeOwned>(&self, api: &Api, id: &Id) -> Result<T, ToolError> {
        api.send(Request::get(self.path_of(id)))
            .and_then(|reply| reply.field(self.one))
            .map_err(|e| self.not_found(e, id))
    }

    /// PUTs `changes` (only the fields to change, `null` for those to clear).
    pub fn update<T: DeserializeOwned>(
        &self,
        api: &Api,
        id: &Id,
        changes: &Map<String, Value>,
    ) -> Result<T, ToolError> {
        api.send(Request::put(self.path_of(id)).json(changes))
            .and_then(|reply| reply.field(self.one))
            .map_err(|e| self.not_found(e, id))
    }

    /// Deletes; the deleted entity when LunaTask returns it (with `deleted_at`).
    pub fn delete<T: DeserializeOwned>(&self, api: &Api, id: &Id) -> Result<Option<T>, ToolError> {
        let reply = api
            .send(Request::delete(self.path_of(id)))
            .map_err(|e| self.not_found(e, id))?;
        if reply.body.is_empty() {
            Ok(None)
        } else {
            reply.field(self.one).map(Some)
        }
    }

    /// Hands `each` every entity of this kind, narrowed to a source and source id where
    /// given, as the list streams in. Filtered again here: correct whether or not the API
    /// applied the query.
    pub fn each<T: DeserializeOwned + Linked>(
        &self,
        api: &Api,
        source: Option<&str>,
        source_id: Option<&str>,
        mut each: impl FnMut(T),
    ) -> Result<(), ToolError> {
        let request = Request::get(self.path)
            .query_opt("source", source)
            .query_opt("source_id", source_id);
        api.each(request, self.many, |e: T| {
            if e.links_to(source, source_id) {
                each(e);
            }
        })
    }

    /// One page of the entities `keep` accepts, in `sort`'s order, as the list streams in:
    /// only the matches that can still reach the page are held, so memory follows the
    /// page, not the account. `narrow` names the filters a hint suggests for the rest.
    pub fn page<T: DeserializeOwned + Linked>(
        &self,
        api: &Api,
        query: Query<'_>,
        narrow: &str,
        keep: impl Fn(&T) -> bool,
        sort: impl Fn(&mut Vec<T>),
    ) -> Result<(Vec<T>, Page), ToolError> {
        let mut top = Top::for_page(query.offset, query.limit, sort);
        let source = query.source.map(SourceText::as_str);
        let source_id = query.source_id.map(SourceText::as_str);
        self.each(api, source, source_id, |e: T| {
            if keep(&e) {
                top.push(e);
            }
        })?;
        let total = top.total;
        let mut items = top.into_sorted();
        let page = page(&mut items, total, query.offset, query.limit, narrow);
        Ok((items, page))
    }

    /// [`Kind::each`], collected.
    pub fn list<T: DeserializeOwned + Linked>(
        &self,
        api: &Api,
        source: Option<&str>,
        source_id: Option<&str>,
    ) -> Result<Vec<T>, ToolError> {
        let mut all = Vec::new();
        self.each(api, source, source_id, |e| all.push(e))?;
        Ok(all)
    }

    /// Names the kind and id of the entity LunaTask did not find.
    pub fn not_found(&self, error: ToolError, id: &Id) -> ToolError {
        name_not_found(error, self.noun, id)
    }
}

/// What a list tool asks of a kind: the source filter (which LunaTask applies too) and
/// the page.
pub struct Query<'a> {
    source: Option<&'a SourceText>,
    source_id: Option<&'a SourceText>,
    offset: Option<Offset>,
    limit: Option<Limit>,
}

impl<'a> Query<'a> {
    pub fn new(
        source: &'a Option<SourceText>,
        source_id: &'a Option<SourceText>,
        offset: Option<Offset>,
        limit: Option<Limit>,
    ) -> Self {
        Self {
            source: source.as_ref(),
            source_id: source_id.as_ref(),
            offset,
            limit,
        }
    }
}

/// Names what LunaTask did not find: a `noun` with this id (its 404 says neither).
pub fn name_not_found(mut error: ToolError, noun: &str, id: &Id) -> ToolError {
    if error.code == Code::NotFound {
        error.message = format!(
            "LunaTask has no {noun} with id {id} (404): it may have been deleted; check the id."
        );
    }
    error
}

/// A request body from typed arguments: their fields as JSON, leaving out the ones not
/// given (each such field is `skip_serializing_if = "Option::is_none"`).
pub fn body_of(args: &impl Serialize) -> Result<Map<String, Value>, ToolError> {
    match serde_json::to_value(args) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ToolError::internal("arguments did not make a JSON object")),
        Err(e) => Err(ToolError::internal(format!(
            "could not encode the request: {e}"
        ))),
    }
}

/// An update's changes; refused when empty (an empty update is a mistake, not a no-op),
/// naming the fields that could be given, read from the arguments' own schema.
pub fn changes_of<A: Serialize + JsonSchema>(
    args: &A,
    not_changes: &[&str],
) -> Result<Map<String, Value>, ToolError> {
    let body = body_of(args)?;
    if !body.is_empty() {
        return Ok(body);
    }
    let schema = schemars::schema_for!(A);
    let names: Vec<&str> = schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().map(String::as_str).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .filter(|name| !not_changes.contains(name))
        .collect();
    Err(ToolError::validation(
        "",
        format!(
            "nothing to update: give at least one of {}",
            names.join(", ")
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::args;
    use crate::validate::parse_args;

    const ID: &str = "0b5d5a9e-7c1b-4f0e-9d1a-2f4b6c8d0e12";

    #[test]
    fn an_update_sends_only_the_fields_given_and_refuses_none() {
        let args: args::UpdateTaskArgs = parse_args(&format!(
            r#"{{"task_id":"{ID}","priority":2,"clear":["estimate"]}}"#
        ))
        .unwrap();
        let body = body_of(&args.with_clears_applied().unwrap()).unwrap();
        assert_eq!(
            Value::Object(body),
            serde_json::json!({ "priority": 2, "estimate": null }),
            "the path id and clear are not fields; a cleared field is null"
        );
        let empty: args::UpdateNoteArgs = parse_args(&format!(r#"{{"note_id":"{ID}"}}"#)).unwrap();
        let error = changes_of(&empty, &["note_id"]).unwrap_err();
        assert!(error.message.contains("nothing to update"), "{error:?}");
        assert!(error.message.contains("content") && !error.message.contains("note_id"));
    }
}
