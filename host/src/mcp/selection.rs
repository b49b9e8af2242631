//! Which tools are offered. The server's settings (`--read-only`, `--tools`,
//! `--exclude-tools`) choose from the component's catalog once, at start-up, where a name
//! that is not a tool stops the server. Over HTTP a request may narrow that further with
//! `X-MCP-Readonly: true` and `X-MCP-Tools: a,b`, never widen it: each is one more rule,
//! and a tool is offered only if every rule allows it.

use std::collections::BTreeSet;

use ::http::HeaderMap;
use rmcp::model::Tool;

use crate::settings::Settings;

/// One constraint on the tools offered, and the setting or header that made it.
#[derive(Debug, Clone)]
enum Rule {
    ReadOnly(&'static str),
    /// The request's OAuth grant holds `lunatask:read` only.
    ReadGrant,
    Only(BTreeSet<String>, &'static str),
    Except(BTreeSet<String>, &'static str),
}

/// The tools a server, or one request to it, offers.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    rules: Vec<Rule>,
}

/// Why a tool is not offered: the message for the agent and what would change it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub message: String,
    pub setting: &'static str,
}

impl Selection {
    /// The server's selection, its names checked against `tools` (the whole catalog).
    pub fn from_settings(settings: &Settings, tools: &[Tool]) -> Result<Self, String> {
        let mut rules = Vec::new();
        if settings.read_only {
            rules.push(Rule::ReadOnly("LUNATASK_READ_ONLY"));
        }
        if let Some(only) = &settings.tools {
            rules.push(Rule::Only(
                known(only, tools, "LUNATASK_TOOLS")?,
                "LUNATASK_TOOLS",
            ));
        }
        if !settings.exclude_tools.is_empty() {
            let except = known(&settings.exclude_tools, tools, "LUNATASK_EXCLUDE_TOOLS")?;
            rules.push(Rule::Except(except, "LUNATASK_EXCLUDE_TOOLS"));
        }
        Ok(Self { rules })
    }

    /// This selection narrowed by a request's `X-MCP-Readonly` and `X-MCP-Tools` headers.
    /// A header that cannot be read is an error naming it, not ignored: a client that asked
    /// for less must not silently get more.
    pub fn narrowed_by(&self, headers: &HeaderMap, tools: &[Tool]) -> Result<Self, String> {
        let mut narrowed = self.clone();
        if let Some(value) = header(headers, READ_ONLY_HEADER)? {
            match value.to_ascii_lowercase().as_str() {
                "true" => narrowed.rules.push(Rule::ReadOnly(READ_ONLY_HEADER)),
                "false" => {}
                _ => {
                    return Err(format!(
                        "{READ_ONLY_HEADER} is {value:?}; it is true or false"
                    ));
                }
            }
        }
        if let Some(value) = header(headers, TOOLS_HEADER)? {
            let names: Vec<String> = value.split(',').map(|n| n.trim().to_string()).collect();
            if names.iter().any(String::is_empty) {
                return Err(format!("{TOOLS_HEADER} has an empty tool name: {value:?}"));
            }
            let only = known(&names, tools, TOOLS_HEADER)?;
            narrowed.rules.push(Rule::Only(only, TOOLS_HEADER));
        }
        Ok(narrowed)
    }

    /// This selection for a request whose OAuth grant only reads.
    pub fn for_read_grant(&self) -> Self {
        let mut narrowed = self.clone();
        narrowed.rules.push(Rule::ReadGrant);
        narrowed
    }

    /// Why `tool` is not offered, or `None` when it is.
    pub fn refusal(&self, tool: &Tool) -> Option<Refusal> {
        let name = tool.name.as_ref();
        self.rules.iter().find_map(|rule| match rule {
            Rule::ReadOnly(setting) if !reads_only(tool) => Some(Refusal {
                message: format!(
                    "{name} changes data, and this server offers only the tools that read \
                     ({setting} is set)"
                ),
                setting,
            }),
            Rule::ReadGrant if !reads_only(tool) => Some(Refusal {
                message: format!(
                    "{name} changes data, and this sign-in granted reading only \
                     ({READ_SCOPE}); sign in again and allow changes ({WRITE_SCOPE}) to use it"
                ),
                setting: WRITE_SCOPE,
            }),
            Rule::Only(names, setting) if !names.contains(name) => Some(Refusal {
                message: format!("{name} is not among the tools {setting} offers"),
                setting,
            }),
            Rule::Except(names, setting) if names.contains(name) => Some(Refusal {
                message: format!("{name} is withheld by {setting}"),
                setting,
            }),
            _ => None,
        })
    }

    /// The tools of `tools` this selection offers, in their order.
    pub fn offered(&self, tools: &[Tool]) -> Vec<Tool> {
        tools
            .iter()
            .filter(|t| self.refusal(t).is_none())
            .cloned()
            .collect()
    }
}

/// The OAuth scope of a grant that runs the reading tools only.
pub const READ_SCOPE: &str = "lunatask:read";
/// The OAuth scope of a grant that may also run the tools that write.
pub const WRITE_SCOPE: &str = "lunatask:write";

/// Marks a request whose grant holds [`READ_SCOPE`] only: its selection narrows to the
/// reading tools. Set by the front door from the request's OAuth grant.
#[derive(Debug, Clone, Copy)]
pub struct ReadOnlyGrant;

/// The header that makes one request's view of the server read-only.
pub const READ_ONLY_HEADER: &str = "x-mcp-readonly";
/// The header that narrows one request's view of the server to the tools it names.
pub const TOOLS_HEADER: &str = "x-mcp-tools";

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, String> {
    headers
        .get(name)
        .map(|v| {
            v.to_str()
                .map_err(|_| format!("{name} is not readable text"))
        })
        .transpose()
}

/// Whether the tool only reads, as its annotations say.
fn reads_only(tool: &Tool) -> bool {
    tool.annotations.as_ref().and_then(|a| a.read_only_hint) == Some(true)
}

/// `names` as a set, each checked to be a tool of `tools`.
fn known(names: &[String], tools: &[Tool], setting: &str) -> Result<BTreeSet<String>, String> {
    let unknown: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|n| !tools.iter().any(|t| t.name == *n))
        .collect();
    if unknown.is_empty() {
        return Ok(names.iter().cloned().collect());
    }
    let all: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    Err(format!(
        "{setting} names {} that {} no tool of this server: {}; the tools are {}",
        unknown.len(),
        if unknown.len() == 1 { "is" } else { "are" },
        unknown.join(", "),
        all.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rmcp::model::ToolAnnotations;

    use super::*;

    fn tool(name: &'static str, read_only: bool) -> Tool {
        Tool::new(name, "", Arc::new(Default::default()))
            .with_annotations(ToolAnnotations::new().read_only(read_only))
    }

    fn catalog() -> Vec<Tool> {
        vec![
            tool("ping", true),
            tool("get_task", true),
            tool("create_task", false),
        ]
    }

    fn names(tools: &[Tool]) -> Vec<&str> {
        tools.iter().map(|t| t.name.as_ref()).collect()
    }

    #[test]
    fn headers_narrow_and_never_widen() {
        let server = Selection {
            rules: vec![Rule::Except(
                ["ping".to_string()].into(),
                "LUNATASK_EXCLUDE_TOOLS",
            )],
        };
        let mut headers = HeaderMap::new();
        headers.insert(TOOLS_HEADER, "ping, create_task".parse().unwrap());
        let request = server.narrowed_by(&headers, &catalog()).unwrap();
        assert_eq!(names(&request.offered(&catalog())), ["create_task"]);
        headers.insert(READ_ONLY_HEADER, "TRUE".parse().unwrap());
        let request = server.narrowed_by(&headers, &catalog()).unwrap();
        assert!(request.offered(&catalog()).is_empty());
        let refusal = request.refusal(&catalog()[0]).unwrap();
        assert_eq!(refusal.setting, "LUNATASK_EXCLUDE_TOOLS");
    }

    #[test]
    fn unreadable_headers_and_unknown_names_are_refused() {
        let mut headers = HeaderMap::new();
        headers.insert(READ_ONLY_HEADER, "yes".parse().unwrap());
        let error = Selection::default()
            .narrowed_by(&headers, &catalog())
            .unwrap_err();
        assert!(error.contains("x-mcp-readonly"), "{error}");
        let mut headers = HeaderMap::new();
        headers.insert(TOOLS_HEADER, "ping,,get_task".parse().unwrap());
        assert!(
            Selection::default()
                .narrowed_by(&headers, &catalog())
                .is_err()
        );
        headers.insert(TOOLS_HEADER, "pong".parse().unwrap());
        let error = Selection::default()
            .narrowed_by(&headers, &catalog())
            .unwrap_err();
        assert!(
            error.contains("pong") && error.contains("get_task"),
            "{error}"
        );
    }
}
