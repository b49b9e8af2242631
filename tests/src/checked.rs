//! Every answer the tests receive, checked as a validating client checks it: a transport
//! wrapper that validates each `tools/call` result against the `outputSchema` the server
//! published for that tool (as the official Python and TypeScript SDKs do, refusing the
//! answer when it does not fit), and each error result against the error envelope agents
//! branch on. A result that does not fit reaches the test as a protocol error naming the
//! tool and what is wrong, so no test can pass on an answer a real client would refuse.
//!
//! The schemas come from the server itself: from any `tools/list` the client asked for,
//! or, when a call is answered before the client listed the tools, from a `tools/list` of
//! the wrapper's own on the same connection (its answer is not passed on).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use rmcp::RoleClient;
use rmcp::model::{ErrorData, JsonRpcError, RequestId};
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use serde_json::{Value, json};

/// The id of the wrapper's own `tools/list` (a client's ids are numbers).
const OWN_LIST_ID: &str = "lunatask-mcp-tests/output-schemas";

/// A client transport whose `tools/call` answers are checked against their schemas.
pub struct Checked<T> {
    inner: T,
    /// The tool each `tools/call` in flight was for, by request id.
    calls: HashMap<RequestId, String>,
    /// The `tools/list` requests the client sent, by request id.
    lists: Vec<RequestId>,
    /// Each tool's compiled output schema, once a `tools/list` was answered.
    schemas: Option<HashMap<String, Arc<jsonschema::Validator>>>,
    /// Whether the wrapper's own `tools/list` is in flight.
    listing: bool,
    /// Call answers waiting for the schemas.
    held: Vec<(String, RxJsonRpcMessage<RoleClient>)>,
    /// Messages checked and ready for the client, in order.
    ready: VecDeque<RxJsonRpcMessage<RoleClient>>,
}

impl<T> Checked<T> {
    pub fn new(inner: T) -> Self {
        Self {
            inner,
            calls: HashMap::new(),
            lists: Vec::new(),
            schemas: None,
            listing: false,
            held: Vec::new(),
            ready: VecDeque::new(),
        }
    }
}

impl<T: Transport<RoleClient>> Transport<RoleClient> for Checked<T> {
    type Error = T::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleClient>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        if let TxJsonRpcMessage::<RoleClient>::Request(request) = &item {
            let sent = serde_json::to_value(&request.request).unwrap_or_default();
            match sent["method"].as_str() {
                Some("tools/call") => {
                    let name = sent["params"]["name"].as_str().unwrap_or_default();
                    self.calls.insert(request.id.clone(), name.to_string());
                }
                Some("tools/list") => self.lists.push(request.id.clone()),
                _ => {}
            }
        }
        self.inner.send(item)
    }

    // Cancel-safe, as rmcp's service loop needs: the only await is the inner receive, and
    // every state change happens between awaits.
    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleClient>> {
        loop {
            if let Some(message) = self.ready.pop_front() {
                return Some(message);
            }
            let message = self.inner.receive().await?;
            self.take(message);
        }
    }

    fn close(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.inner.close()
    }
}

impl<T: Transport<RoleClient>> Checked<T> {
    /// Sorts one received message: checked and queued, held for the schemas, or (the
    /// wrapper's own list) consumed.
    fn take(&mut self, message: RxJsonRpcMessage<RoleClient>) {
        let (id, body) = match &message {
            RxJsonRpcMessage::<RoleClient>::Response(response) => (
                Some(response.id.clone()),
                serde_json::to_value(&response.result).ok(),
            ),
            RxJsonRpcMessage::<RoleClient>::Error(error) => (error.id.clone(), None),
            _ => (None, None),
        };
        let Some(id) = id else {
            self.ready.push_back(message);
            return;
        };
        if id == RequestId::String(OWN_LIST_ID.into()) {
            self.listing = false;
            self.learn(body.as_ref());
            self.release();
            return;
        }
        if let Some(at) = self.lists.iter().position(|l| *l == id) {
            self.lists.remove(at);
            self.learn(body.as_ref());
            self.ready.push_back(message);
            self.release();
            return;
        }
        let Some(tool) = self.calls.remove(&id) else {
            self.ready.push_back(message);
            return;
        };
        if body.is_none() || self.schemas.is_some() {
            let checked = self.check(&tool, message);
            self.ready.push_back(checked);
            return;
        }
        self.held.push((tool, message));
        if !self.listing {
            self.listing = true;
            let list: TxJsonRpcMessage<RoleClient> = serde_json::from_value(
                json!({ "jsonrpc": "2.0", "id": OWN_LIST_ID, "method": "tools/list" }),
            )
            .expect("a tools/list request");
            // The send future is 'static: run it beside the receive loop.
            tokio::spawn(self.inner.send(list));
        }
    }

    /// Keeps the output schemas of a `tools/list` answer (an error answer: none).
    fn learn(&mut self, body: Option<&Value>) {
        let mut schemas = self.schemas.take().unwrap_or_default();
        let tools = body.and_then(|b| b["tools"].as_array()).cloned();
        for tool in tools.unwrap_or_default() {
            let (Some(name), Some(schema)) = (tool["name"].as_str(), tool.get("outputSchema"))
            else {
                continue;
            };
            let validator = jsonschema::options()
                .with_draft(jsonschema::Draft::Draft202012)
                .should_validate_formats(true)
                .build(schema)
                .unwrap_or_else(|e| panic!("{name}'s outputSchema does not compile: {e}"));
            schemas.insert(name.to_string(), Arc::new(validator));
        }
        self.schemas = Some(schemas);
    }

    /// Checks the held answers now that the schemas are known.
    fn release(&mut self) {
        if self.schemas.is_none() {
            return;
        }
        for (tool, message) in std::mem::take(&mut self.held) {
            let checked = self.check(&tool, message);
            self.ready.push_back(checked);
        }
    }

    /// `message` as it is when it fits what `tool` publishes, else a protocol error saying
    /// why.
    fn check(
        &self,
        tool: &str,
        message: RxJsonRpcMessage<RoleClient>,
    ) -> RxJsonRpcMessage<RoleClient> {
        let RxJsonRpcMessage::<RoleClient>::Response(response) = &message else {
            return message;
        };
        let body = serde_json::to_value(&response.result).unwrap_or_default();
        let schema = self.schemas.as_ref().and_then(|s| s.get(tool));
        match misfit(&body, schema.map(|s| &**s)) {
            None => message,
            Some(why) => RxJsonRpcMessage::<RoleClient>::Error(JsonRpcError::new(
                Some(response.id.clone()),
                ErrorData::internal_error(
                    format!("the answer of {tool} is one a validating client refuses: {why}"),
                    Some(body),
                ),
            )),
        }
    }
}

/// What is wrong with a `tools/call` result, if anything: a success must carry
/// `structuredContent` that fits the tool's `outputSchema`; an error must be the envelope
/// `{"error": {code, message, retryable, correlation_id, ...}}` as text (and, should it
/// ever carry `structuredContent`, fit the schema too).
pub fn misfit(result: &Value, schema: Option<&jsonschema::Validator>) -> Option<String> {
    let is_error = result["isError"].as_bool() == Some(true);
    let structured = result.get("structuredContent");
    if let (Some(schema), Some(structured)) = (schema, structured) {
        let errors: Vec<String> = schema
            .iter_errors(structured)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        if !errors.is_empty() {
            return Some(format!(
                "structuredContent breaks the outputSchema: {errors:?}"
            ));
        }
    }
    if is_error {
        return misfit_error(result);
    }
    if schema.is_some() && structured.is_none() {
        return Some(
            "a success without structuredContent, though an outputSchema is published".into(),
        );
    }
    None
}

fn misfit_error(result: &Value) -> Option<String> {
    let text = result["content"][0]["text"].as_str().unwrap_or_default();
    let Ok(envelope) = serde_json::from_str::<Value>(text) else {
        return Some(format!("an error result whose text is not JSON: {text:?}"));
    };
    let error = &envelope["error"];
    let fits = error["code"].is_string()
        && error["message"].is_string()
        && error["retryable"].is_boolean()
        && error["correlation_id"].is_string();
    (!fits).then(|| format!("an error result outside the error envelope: {envelope}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validator(schema: Value) -> jsonschema::Validator {
        jsonschema::validator_for(&schema).unwrap()
    }

    #[test]
    fn a_success_that_breaks_its_schema_is_named() {
        let schema = validator(json!({"type": "object", "required": ["before"]}));
        let result = json!({"content": [], "structuredContent": {"after": 1}});
        let why = misfit(&result, Some(&schema)).expect("refused");
        assert!(why.contains("before"), "{why}");
    }

    #[test]
    fn a_success_without_structured_content_is_refused_when_a_schema_is_published() {
        let schema = validator(json!({"type": "object"}));
        assert!(misfit(&json!({"content": []}), Some(&schema)).is_some());
        assert!(misfit(&json!({"content": []}), None).is_none());
    }

    #[test]
    fn an_error_must_be_the_envelope() {
        let good = json!({"isError": true, "content": [{"type": "text", "text":
            r#"{"error":{"code":"not_found","message":"m","retryable":false,"correlation_id":"c"}}"#}]});
        assert_eq!(misfit(&good, None), None);
        let bad = json!({"isError": true, "content": [{"type": "text", "text": "boom"}]});
        assert!(misfit(&bad, None).is_some());
    }
}
