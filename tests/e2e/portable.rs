//! The `portable` build of the guest, loaded the way another Wasm runtime would: plain
//! wasmtime with WASI and wasi-http and no egress gate of ours, the token in the
//! component's environment. Its exports must match the tools the host serves, and a call
//! must reach the fake with the token and the same arguments the host's world would send.

use std::collections::BTreeMap;

use lunatask_mcp_tests::{AREA, FakeApi, Fault, MISSING_ID, TOKEN};
use serde_json::{Value, json};
use wasmtime::component::types::{ComponentFunc, ComponentItem, Type};
use wasmtime::component::{Component, Linker, ResourceTable, Val};
use wasmtime::{Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView, default_hooks};

use crate::setup;

const PORTABLE_GUEST_WASM: &str = lunatask_mcp_tests::PORTABLE_GUEST_WASM;

struct State {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for State {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: default_hooks(),
        }
    }
}

/// The component and a linker with WASI and wasi-http, as a generic runtime offers them.
struct Runtime {
    engine: Engine,
    component: Component,
    linker: Linker<State>,
}

impl Runtime {
    fn load() -> Self {
        let engine = Engine::default();
        let component = Component::from_file(&engine, PORTABLE_GUEST_WASM)
            .expect("the portable component compiles");
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).unwrap();
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).unwrap();
        Self {
            engine,
            component,
            linker,
        }
    }

    /// The exported functions by name.
    fn functions(&self) -> BTreeMap<String, ComponentFunc> {
        self.component
            .component_type()
            .exports(&self.engine)
            .filter_map(|(name, item)| match item.ty {
                ComponentItem::ComponentFunc(f) => Some((name.to_string(), f)),
                _ => None,
            })
            .collect()
    }

    /// Calls `function` in a fresh instance whose environment is `env`, with one record
    /// argument built from `fields` (every field not given is `none`).
    async fn call(
        &self,
        env: &[(&str, impl AsRef<str>)],
        function: &str,
        fields: &[(&str, Val)],
    ) -> Result<Value, BTreeMap<String, Val>> {
        let mut wasi = WasiCtx::builder();
        for (k, v) in env {
            wasi.env(k, v.as_ref());
        }
        let mut store = Store::new(
            &self.engine,
            State {
                wasi: wasi.build(),
                http: WasiHttpCtx::new(),
                table: ResourceTable::new(),
            },
        );
        let instance = self
            .linker
            .instantiate_async(&mut store, &self.component)
            .await
            .expect("the portable component instantiates with WASI and wasi-http only");
        let func = instance
            .get_func(&mut store, function)
            .unwrap_or_else(|| panic!("no export {function}"));
        let params: Vec<Val> = func
            .ty(&store)
            .params()
            .map(|(_, ty)| record(&ty, fields))
            .collect();
        let mut results = vec![Val::Bool(false)];
        func.call_async(&mut store, &params, &mut results)
            .await
            .expect("the call returns");
        match results.remove(0) {
            Val::Result(Ok(Some(text))) => match *text {
                Val::String(text) => Ok(serde_json::from_str(&text).expect("JSON result")),
                other => panic!("ok is not a string: {other:?}"),
            },
            Val::Result(Err(Some(error))) => match *error {
                Val::Record(fields) => Err(fields.into_iter().collect()),
                other => panic!("err is not a record: {other:?}"),
            },
            other => panic!("not a result: {other:?}"),
        }
    }
}

/// A record of type `ty` with the `given` fields and `none` (or an empty list) elsewhere.
fn record(ty: &Type, given: &[(&str, Val)]) -> Val {
    let Type::Record(record) = ty else {
        panic!("the parameter is not a record: {ty:?}")
    };
    Val::Record(
        record
            .fields()
            .map(|field| {
                let value = given
                    .iter()
                    .find(|(name, _)| *name == field.name)
                    .map(|(_, v)| v.clone())
                    .unwrap_or(match field.ty {
                        Type::List(_) => Val::List(vec![]),
                        _ => Val::Option(None),
                    });
                (field.name.to_string(), value)
            })
            .collect(),
    )
}

fn some(value: Val) -> Val {
    Val::Option(Some(Box::new(value)))
}

fn string(s: &str) -> Val {
    Val::String(s.to_string())
}

fn env(fake: &FakeApi) -> [(&'static str, String); 2] {
    [
        ("LUNATASK_API_TOKEN", TOKEN.to_string()),
        ("LUNATASK_BASE_URL", fake.base_url()),
    ]
}

/// The component loaded, a fake API, and the environment that points the component at it.
async fn against_fake() -> (Runtime, FakeApi, [(&'static str, String); 2]) {
    let fake = FakeApi::start(TOKEN).await;
    let env = env(&fake);
    (Runtime::load(), fake, env)
}

/// The tools the portable world does not export.
const SERVER_ONLY: [&str; 4] = ["create_tasks", "update_tasks", "list_actions", "undo"];

#[tokio::test]
async fn exports_are_one_typed_function_per_served_tool() {
    let runtime = Runtime::load();
    let functions = runtime.functions();
    let (_fake, host) = setup().await;
    let mut tools = host.client.list_all_tools().await.unwrap();
    // Batch tools are served over MCP only, where the host reports their progress (README,
    // "Two components").
    tools.retain(|t| !SERVER_ONLY.contains(&t.name.as_ref()));

    let served: Vec<String> = tools.iter().map(|t| t.name.replace('_', "-")).collect();
    let exported: Vec<String> = functions.keys().cloned().collect();
    let mut sorted = served.clone();
    sorted.sort();
    assert_eq!(exported, sorted, "one export per tool the host serves");

    for tool in &tools {
        let function = &functions[&tool.name.replace('_', "-")];
        let mut properties = tool
            .input_schema
            .get("properties")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        // The tool's list of fields to clear; the record's `clear` is checked against it.
        let schema_clear = properties.remove("clear");
        let required: Vec<&str> = tool
            .input_schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let params: Vec<(&str, Type)> = function.params().collect();
        if properties.is_empty() {
            assert!(params.is_empty(), "{} takes no arguments", tool.name);
        } else {
            let [("args", Type::Record(record))] = params.as_slice() else {
                panic!("{} takes one record `args`: {params:?}", tool.name)
            };
            let mut fields = BTreeMap::new();
            for field in record.fields() {
                fields.insert(field.name.replace('-', "_"), field.ty);
            }
            let clear = fields.remove("clear");
            let names: Vec<&String> = fields.keys().collect();
            let expected: Vec<&String> = properties.keys().collect();
            assert_eq!(
                names, expected,
                "{}: record fields = schema properties",
                tool.name
            );
            for (name, ty) in &fields {
                let optional = matches!(ty, Type::Option(_));
                assert_eq!(
                    optional,
                    !required.contains(&name.as_str()),
                    "{}.{name}: option<> exactly when not required",
                    tool.name
                );
                let schema = &properties[name];
                if let Some(values) = schema["enum"].as_array() {
                    let Type::Option(inner) = ty else {
                        panic!("{}.{name} is optional", tool.name)
                    };
                    let Type::Enum(cases) = inner.ty() else {
                        panic!("{}.{name} is an enum", tool.name)
                    };
                    let values: Vec<String> = values
                        .iter()
                        .filter_map(Value::as_str)
                        .map(|v| v.replace('_', "-"))
                        .collect();
                    assert_eq!(cases.names().collect::<Vec<_>>(), values);
                }
            }
            // The fields the tool's `clear` lists are the record's `clear` cases.
            assert_eq!(clear.is_some(), schema_clear.is_some(), "{}", tool.name);
            if let (Some(Type::List(list)), Some(schema_clear)) = (&clear, &schema_clear) {
                let Type::Enum(cases) = list.ty() else {
                    panic!("{}.clear lists enum cases", tool.name)
                };
                let mut expected: Vec<String> = schema_clear["items"]["enum"]
                    .as_array()
                    .expect("clear lists its fields")
                    .iter()
                    .filter_map(Value::as_str)
                    .map(|v| v.replace('_', "-"))
                    .collect();
                expected.sort();
                let mut cases: Vec<&str> = cases.names().collect();
                cases.sort();
                assert_eq!(cases, expected, "{}", tool.name);
            }
        }
        let results: Vec<Type> = function.results().collect();
        let [Type::Result(result)] = results.as_slice() else {
            panic!("{} returns a result", tool.name)
        };
        assert!(matches!(result.ok(), Some(Type::String)));
        let Some(Type::Record(error)) = result.err() else {
            panic!("{} fails with a record", tool.name)
        };
        let error_fields: Vec<&str> = error.fields().map(|f| f.name).collect();
        assert_eq!(
            error_fields,
            [
                "code",
                "message",
                "field",
                "http-status",
                "retryable",
                "outcome",
                "correlation-id"
            ]
        );
    }

    // Only WASI: no interface of ours that another runtime could not provide.
    let imports: Vec<String> = runtime
        .component
        .component_type()
        .imports(&runtime.engine)
        .map(|(name, _)| name.to_string())
        .collect();
    assert!(
        imports.iter().all(|name| name.starts_with("wasi:")),
        "{imports:?}"
    );
    assert!(
        imports
            .iter()
            .any(|n| n.starts_with("wasi:http/outgoing-handler"))
    );
}

#[tokio::test]
async fn calls_reach_the_api_with_the_token_from_the_environment() {
    let (runtime, fake, env) = against_fake().await;

    let created = runtime
        .call(
            &env,
            "create-task",
            &[
                ("area-id", string(AREA)),
                ("name", some(string("Portable"))),
                ("status", some(Val::Enum("started".into()))),
                ("priority", some(Val::S32(-1))),
            ],
        )
        .await
        .expect("create-task succeeds");
    let task_id = created["task"]["id"].as_str().unwrap().to_string();
    assert_eq!(created["task"]["status"], "started");

    let sent = fake.requests_to("POST /v1/tasks");
    let [post] = sent.as_slice() else {
        panic!("one POST: {sent:?}")
    };
    assert_eq!(
        post.header("authorization"),
        Some(format!("bearer {TOKEN}").as_str())
    );
    let body = post.body.clone().unwrap();
    assert_eq!(body["name"], "Portable");
    assert_eq!(body["priority"], -1);
    assert_eq!(body["status"], "started");
    assert!(body.get("goal_id").is_none(), "absent options are left out");

    // `clear` sends null for a field; a set field goes as given.
    fake.with(|s| s.tasks.get_mut(&task_id).unwrap()["goal_id"] = json!(MISSING_ID));
    runtime
        .call(
            &env,
            "update-task",
            &[
                ("task-id", string(&task_id)),
                ("estimate", some(Val::U32(30))),
                ("clear", Val::List(vec![Val::Enum("goal-id".into())])),
            ],
        )
        .await
        .expect("update-task succeeds");
    let put = fake.requests_to("PUT /v1/tasks/").pop().unwrap();
    assert_eq!(put.body, Some(json!({ "estimate": 30, "goal_id": null })));
}

#[tokio::test]
async fn errors_are_typed_and_nothing_is_sent_for_bad_input() {
    let (runtime, fake, env) = against_fake().await;

    let error = runtime
        .call(&env, "create-task", &[("area-id", string("not-an-id"))])
        .await
        .expect_err("an invalid id is refused");
    assert_eq!(error["code"], Val::Enum("validation-error".into()));
    assert_eq!(error["field"], some(string("area_id")));
    assert_eq!(error["retryable"], Val::Bool(false));

    let error = runtime
        .call(&env, "get-task", &[("task-id", string(MISSING_ID))])
        .await
        .expect_err("a missing task is not found");
    assert_eq!(error["code"], Val::Enum("not-found".into()));
    assert_eq!(error["http-status"], some(Val::U16(404)));

    // Without a token nothing is sent, and the error names the variable to set.
    let before = fake.request_count();
    let base = [("LUNATASK_BASE_URL", env[1].1.as_str())];
    let error = runtime
        .call(&base, "ping", &[])
        .await
        .expect_err("no token, no call");
    assert_eq!(error["code"], Val::Enum("authentication-error".into()));
    let Val::String(message) = &error["message"] else {
        panic!()
    };
    assert!(message.contains("LUNATASK_API_TOKEN"), "{message}");

    // A wrong token is LunaTask's 401, and the token never shows in the error.
    let wrong = [("LUNATASK_API_TOKEN", "wrong-token"), base[0]];
    let error = runtime.call(&wrong, "ping", &[]).await.unwrap_err();
    assert_eq!(error["code"], Val::Enum("authentication-error".into()));
    assert!(!format!("{error:?}").contains("wrong-token"));
    assert_eq!(
        fake.request_count(),
        before + 1,
        "only the call with a token was sent"
    );

    // An answer that echoes the token back loses it before the agent sees it, on success
    // and on error: here no host of ours stands between the component and the API.
    let echo = json!({ "status": "error", "message": format!("you sent bearer {TOKEN}") });
    for status in [200, 400, 404] {
        fake.inject(
            Some("GET /v1/ping"),
            1,
            Fault::Status {
                status,
                headers: Vec::new(),
                body: Some(echo.clone()),
            },
        );
        let seen = format!("{:?}", runtime.call(&env, "ping", &[]).await);
        assert!(!seen.contains(TOKEN), "{status}: {seen}");
        assert!(seen.contains("bearer [redacted]"), "{status}: {seen}");
    }
}
