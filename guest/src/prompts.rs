//! MCP prompts: the workflows people use LunaTask for, which clients offer as commands.
//! Each is a request to the model and the task views it needs, read when the prompt is
//! got, so the model starts from the account as it is.
//!
//! LunaTask encrypts names and notes end to end: the views hold ids, statuses, priorities
//! and dates, never what a task says. Each prompt tells the model so, and to ask the user.

use crate::api::Api;
use crate::bindings::{Prompt, PromptArgument, PromptContent, PromptError, ResourceContents};
use crate::effect::Effect;
use crate::error::ToolError;
use crate::validate::{Id, parse_args};
use crate::views::View;
use crate::{Context, resources};

/// One prompt: what `prompts/list` shows, what it asks, and the views it embeds.
struct Workflow {
    name: &'static str,
    title: &'static str,
    description: &'static str,
    ask: &'static str,
    views: &'static [View],
}

const WORKFLOWS: [Workflow; 3] = [
    Workflow {
        name: "plan_day",
        title: "Plan my day",
        description: "Plans the day from the tasks scheduled today, those overdue, and the \
                      unscheduled ones that want attention now.",
        ask: "Help me plan my day. Below are my open tasks scheduled for today, those overdue, \
              and unscheduled ones that want attention now. Suggest an order for the day, say \
              which overdue tasks to reschedule or drop, and offer to make the changes \
              (update_task or update_tasks).",
        views: &[View::Today, View::Overdue, View::Now],
    },
    Workflow {
        name: "weekly_review",
        title: "Weekly review",
        description: "Reviews what was completed recently, what is overdue and what the next \
                      seven days hold.",
        ask: "Let's do my weekly review. Below are the tasks I completed recently, those \
              overdue, and those scheduled for the next seven days. Summarise what got done, \
              point out what slipped and how the coming week looks, and suggest what to \
              reschedule so the week is realistic.",
        views: &[View::RecentCompletions, View::Overdue, View::Next7Days],
    },
    Workflow {
        name: "triage_unscheduled",
        title: "Triage tasks without a date",
        description: "Goes through the open tasks that have no date and proposes when to do \
                      each, or whether to drop it.",
        ask: "Help me triage my tasks that have no date. Below are my open unscheduled tasks, \
              highest priority first. For each, propose a day to schedule it, a status, or \
              deleting it, and after I agree apply the changes with update_tasks.",
        views: &[View::Unscheduled],
    },
];

/// Said with every prompt, since no view can show what a task is called.
const ENCRYPTED: &str = "LunaTask encrypts task names and notes end to end, so the tasks below \
    show ids, statuses, priorities and dates only. Refer to a task by its id and details, and \
    ask me when you need to know what one is.";

const AREA_ID: &str = "area_id";

/// A prompt's arguments; strict like a tool's, so a misspelt one is refused, not ignored.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PromptArgs {
    /// Only this area's tasks (an area id from the LunaTask app).
    area_id: Option<Id>,
}

pub fn list() -> Vec<Prompt> {
    WORKFLOWS
        .iter()
        .map(|w| Prompt {
            name: w.name.into(),
            title: w.title.into(),
            description: w.description.into(),
            arguments: vec![PromptArgument {
                name: AREA_ID.into(),
                description: "Only this area's tasks: an area id, copied from the LunaTask app \
                              (area settings, Copy area ID). Without it, every area."
                    .into(),
                required: false,
            }],
        })
        .collect()
}

/// The messages of the prompt `name`: what it asks, then each view it embeds.
pub fn get(name: &str, arguments: &str, ctx: &Context) -> Result<Vec<PromptContent>, PromptError> {
    let Some(workflow) = WORKFLOWS.iter().find(|w| w.name == name) else {
        let names: Vec<&str> = WORKFLOWS.iter().map(|w| w.name).collect();
        return Err(PromptError::NotFound(format!(
            "there is no prompt named {name:?}; the prompts are {}",
            names.join(", ")
        )));
    };
    let args: PromptArgs = parse_args(arguments).map_err(failed)?;
    let scope = match &args.area_id {
        Some(area) => format!("lunatask://area/{area}"),
        None => "lunatask://global".to_string(),
    };
    let mut messages = vec![PromptContent::Text(format!(
        "{}\n\n{ENCRYPTED}",
        workflow.ask
    ))];
    // Every view the prompt embeds, from one read of the account.
    let correlation_id = ctx.correlation_id();
    let api = Api::new(ctx, &correlation_id, Effect::Read);
    let area = args.area_id.as_ref().map(ToString::to_string);
    let answers = resources::read_views(&api, ctx, area, workflow.views).map_err(failed)?;
    for (view, answer) in workflow.views.iter().zip(answers) {
        messages.push(PromptContent::Embedded(ResourceContents {
            uri: format!("{scope}/{}", view.name()),
            mime_type: "application/json".into(),
            text: answer.to_string(),
        }));
    }
    Ok(messages)
}

fn failed(error: ToolError) -> PromptError {
    PromptError::Failed(error.into())
}
