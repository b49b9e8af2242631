//! The portable builds of the guest, loaded the way another Wasm runtime would: plain
//! wasmtime with WASI and wasi-http and no egress gate of ours, the token in the
//! component's environment or, for the `portable-config` builds, in the runtime's
//! `wasi:config/store`. Their exports must match the tools the host serves, their embedded
//! docs must read back as `wasm-tools component wit` reads them, and a call must reach the
//! fake with the token and the same arguments the host's world would send.

use std::collections::BTreeMap;

use lunatask_mcp_tests::{AREA, FakeApi, Fault, MISSING_ID, TOKEN};
use serde_json::{Value, json};
use wasmtime::component::types::{ComponentFunc, ComponentItem, Type};
use wasmtime::component::{Component, Linker, ResourceTable, Val};
use wasmtime::{Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_config::{WasiConfig, WasiConfigVariables};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView, default_hooks};

use crate::setup;

use lunatask_mcp_tests::{
    PORTABLE_CONFIG_DRAFT_GUEST_WASM, PORTABLE_CONFIG_GUEST_WASM, PORTABLE_GUEST_WASM,
};

struct State {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    /// What the runtime's `wasi:config/store` holds, for either version of it.
    config: Vec<(String, String)>,
    config_vars: WasiConfigVariables,
    /// Set: the runtime fails every send with this error.
    failing_sends: Option<FailingSends>,
}

/// A runtime that fails every send with one `wasi:http` error: its network policy refusing the
/// destination, as Wassette's does for an ungranted host, or one of its own limits.
struct FailingSends(SendError);

/// Makes the error a failing send answers with (the type is not `Clone`).
type SendError = fn() -> wasmtime_wasi_http::Error;

type SendResult = wasmtime_wasi_http::Result<(
    http::Response<wasmtime_wasi_http::WasiBody>,
    Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
)>;

impl wasmtime_wasi_http::WasiHttpHooks for FailingSends {
    fn send_request(
        &mut self,
        _request: http::Request<wasmtime_wasi_http::WasiBody>,
        _options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        let error = self.0();
        Box::new(async { Err(error) })
    }
}

/// Which `wasi:config/store` the runtime provides.
#[derive(Clone, Copy, Debug)]
enum ConfigStore {
    /// None: WASI and wasi-http only.
    Absent,
    /// `@0.2.0-rc.1`, by `wasmtime-wasi-config` as wasmtime 40 and later (and Wassette on
    /// them) link it.
    Rc1,
    /// `@0.2.0-draft`, as wasmtime 39 and earlier (Wassette 0.2) provide it.
    Draft,
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
            hooks: match &mut self.failing_sends {
                Some(failing) => failing,
                None => default_hooks(),
            },
        }
    }
}

/// The component and a linker with WASI and wasi-http, as a generic runtime offers them.
struct Runtime {
    engine: Engine,
    component: Component,
    linker: Linker<State>,
    failing_sends: Option<SendError>,
}

impl Runtime {
    /// The environment-only build, in a runtime without `wasi:config`.
    fn load() -> Self {
        Self::load_with(PORTABLE_GUEST_WASM, ConfigStore::Absent)
    }

    /// The component in `wasm`, in a runtime that provides `store`.
    fn load_with(wasm: &str, store: ConfigStore) -> Self {
        let engine = Engine::default();
        let component = Component::from_file(&engine, wasm).expect("the component compiles");
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).unwrap();
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).unwrap();
        match store {
            ConfigStore::Absent => {}
            ConfigStore::Rc1 => {
                wasmtime_wasi_config::add_to_linker(&mut linker, |state: &mut State| {
                    WasiConfig::from(&state.config_vars)
                })
                .unwrap()
            }
            ConfigStore::Draft => add_draft_config_store(&mut linker),
        }
        Self {
            engine,
            component,
            linker,
            failing_sends: None,
        }
    }

    /// This runtime failing every send with `error()`.
    fn failing_sends(mut self, error: SendError) -> Self {
        self.failing_sends = Some(error);
        self
    }

    /// The names of the interfaces the component imports.
    fn imports(&self) -> Vec<String> {
        self.component
            .component_type()
            .imports(&self.engine)
            .map(|(name, _)| name.to_string())
            .collect()
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
        self.call_with(env, &[], function, fields).await
    }

    /// [`Runtime::call`] with `config` in the runtime's `wasi:config/store`.
    async fn call_with(
        &self,
        env: &[(&str, impl AsRef<str>)],
        config: &[(&str, &str)],
        function: &str,
        fields: &[(&str, Val)],
    ) -> Result<Value, BTreeMap<String, Val>> {
        let mut wasi = WasiCtx::builder();
        for (k, v) in env {
            wasi.env(k, v.as_ref());
        }
        let config: Vec<(String, String)> = config
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut store = Store::new(
            &self.engine,
            State {
                wasi: wasi.build(),
                http: WasiHttpCtx::new(),
                table: ResourceTable::new(),
                config_vars: config.iter().cloned().collect(),
                config,
                failing_sends: self.failing_sends.map(FailingSends),
            },
        );
        let instance = self
            .linker
            .instantiate_async(&mut store, &self.component)
            .await
            .expect("the component instantiates with what this runtime provides");
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

/// A key that makes the draft store fail every lookup.
const STORE_FAILS: &str = "test:store-fails";

/// `wasi:config/store@0.2.0-draft` as wasmtime 39 and earlier link it, written here because
/// wasmtime 48's `wasmtime-wasi-config` provides rc.1 only; the interface is the same.
fn add_draft_config_store(linker: &mut Linker<State>) {
    let mut store = linker
        .instance("wasi:config/store@0.2.0-draft")
        .expect("a new instance");
    store
        .func_new("get", |cx, _ty, params, results| {
            let [Val::String(key)] = params else {
                wasmtime::bail!("get takes one string: {params:?}")
            };
            // A store that cannot answer (a sealed vault, say): its `upstream` error.
            if cx.data().config.iter().any(|(k, _)| k == STORE_FAILS) {
                let why = Val::String("the vault is sealed".into());
                let error = Val::Variant("upstream".into(), Some(Box::new(why)));
                results[0] = Val::Result(Err(Some(Box::new(error))));
                return Ok(());
            }
            let value = cx
                .data()
                .config
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| Box::new(Val::String(v.clone())));
            results[0] = Val::Result(Ok(Some(Box::new(Val::Option(value)))));
            Ok(())
        })
        .unwrap();
    store
        .func_new("get-all", |cx, _ty, _params, results| {
            let all = cx
                .data()
                .config
                .iter()
                .map(|(k, v)| Val::Tuple(vec![Val::String(k.clone()), Val::String(v.clone())]))
                .collect();
            results[0] = Val::Result(Ok(Some(Box::new(Val::List(all)))));
            Ok(())
        })
        .unwrap();
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

/// The message of a `tool-error`, after checking its code.
fn message_of<'e>(error: &'e BTreeMap<String, Val>, code: &str) -> &'e str {
    assert_eq!(error["code"], Val::Enum(code.into()), "{error:?}");
    match &error["message"] {
        Val::String(message) => message,
        other => panic!("a tool-error's message is a string, not {other:?}"),
    }
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
    // Batch tools are served over MCP only, where the host reports their progress (docs/architecture.md,
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
    let imports = runtime.imports();
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
    let message = message_of(&error, "authentication-error");
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

/// A record's fields or an enum's cases, each with its docs.
fn inner_docs(kind: &wit_parser::TypeDefKind) -> Vec<(&str, Option<&String>)> {
    use wit_parser::TypeDefKind;
    match kind {
        TypeDefKind::Record(record) => record
            .fields
            .iter()
            .map(|f| (f.name.as_str(), f.docs.contents.as_ref()))
            .collect(),
        TypeDefKind::Enum(cases) => cases
            .cases
            .iter()
            .map(|c| (c.name.as_str(), c.docs.contents.as_ref()))
            .collect(),
        _ => Vec::new(),
    }
}

/// Every portable build with the runtime it needs.
const BUILDS: [(&str, ConfigStore); 3] = [
    (PORTABLE_GUEST_WASM, ConfigStore::Absent),
    (PORTABLE_CONFIG_GUEST_WASM, ConfigStore::Rc1),
    (PORTABLE_CONFIG_DRAFT_GUEST_WASM, ConfigStore::Draft),
];

/// The docs each build carries, read as `wasm-tools component wit` reads them
/// (`wit_component::decode`, then the WIT printer): every export's and every record field's
/// and enum case's docs as `wit/` has them, and each tool's description as the host serves it.
#[tokio::test]
async fn every_build_carries_its_docs() {
    use wit_parser::{Resolve, TypeDefKind, WorldItem, WorldKey};

    let (_fake, host) = setup().await;
    let mut tools = host.client.list_all_tools().await.unwrap();
    tools.retain(|t| !SERVER_ONLY.contains(&t.name.as_ref()));

    let mut source = Resolve::default();
    let wit_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit");
    let (package, _) = source.push_dir(&wit_dir).unwrap();
    let portable = source.select_world(&[package], Some("portable")).unwrap();
    let documented_types: BTreeMap<&str, &TypeDefKind> = source.worlds[portable]
        .imports
        .values()
        .filter_map(|item| match item {
            WorldItem::Type { id, .. } => {
                Some((source.types[*id].name.as_deref()?, &source.types[*id].kind))
            }
            _ => None,
        })
        .collect();

    for (wasm, _) in BUILDS {
        let bytes = std::fs::read(wasm).unwrap();
        let wit_component::DecodedWasm::Component(resolve, world) =
            wit_component::decode(&bytes).expect("the component decodes with its docs")
        else {
            panic!("{wasm} is a component")
        };
        let world = &resolve.worlds[world];
        // The world's own description, and no file comment taken along as docs.
        let world_docs = world.docs.contents.as_deref().unwrap_or_default();
        assert!(
            world_docs.starts_with("The LunaTask tools"),
            "{wasm}: {world_docs}"
        );
        assert!(!world_docs.contains("GENERATED"), "{wasm}: {world_docs}");
        assert!(
            !world_docs.contains("Part of the package"),
            "{wasm}: {world_docs}"
        );
        for tool in &tools {
            let name = tool.name.replace('_', "-");
            let Some(WorldItem::Function(function)) =
                world.exports.get(&WorldKey::Name(name.clone()))
            else {
                panic!("{wasm} exports {name}")
            };
            let docs = function.docs.contents.as_deref().unwrap_or_default();
            let description = tool.description.as_deref().unwrap_or_default();
            assert!(docs.contains(description), "{wasm} {name}: {docs:?}");
        }

        // Every type's fields and cases, as the WIT source documents them.
        let mut fields_with_docs = 0;
        let mut checked = std::collections::BTreeSet::new();
        for (_, ty) in resolve.types.iter() {
            let Some(name) = ty.name.as_deref() else {
                continue;
            };
            let Some(expected) = documented_types.get(name) else {
                continue;
            };
            // An alias of a type (`type x = y`, as decoding makes them) has no fields itself.
            let got = inner_docs(&ty.kind);
            if got.is_empty() {
                continue;
            }
            assert_eq!(
                got,
                inner_docs(expected),
                "{wasm}: the fields or cases of {name}"
            );
            fields_with_docs += got.iter().filter(|(_, docs)| docs.is_some()).count();
            checked.insert(name);
        }
        let with_fields: Vec<&str> = documented_types
            .iter()
            .filter(|(_, kind)| !inner_docs(kind).is_empty())
            .map(|(name, _)| *name)
            .collect();
        assert_eq!(
            checked.into_iter().collect::<Vec<_>>(),
            with_fields,
            "{wasm}: every record and enum checked"
        );
        assert!(
            fields_with_docs > 40,
            "{wasm}: {fields_with_docs} documented fields"
        );

        // What `wasm-tools component wit` prints.
        let mut printer = wit_component::WitPrinter::default();
        let root = world.package.unwrap();
        printer.print(&resolve, root, &[]).unwrap();
        let printed = printer.output.to_string();
        assert!(
            printed.contains("/// Create a task.") && printed.contains("/// YYYY-MM-DD."),
            "{wasm}: {printed}"
        );
    }
}

#[tokio::test]
async fn config_builds_take_their_settings_from_wasi_config_alone() {
    let fake = FakeApi::start(TOKEN).await;
    let base_url = fake.base_url();
    let no_env: [(&str, &str); 0] = [];
    for (wasm, store) in &BUILDS[1..] {
        let runtime = Runtime::load_with(wasm, *store);
        let config = [
            ("LUNATASK_API_TOKEN", TOKEN),
            ("LUNATASK_BASE_URL", base_url.as_str()),
        ];
        let created = runtime
            .call_with(
                &no_env,
                &config,
                "create-task",
                &[
                    ("area-id", string(AREA)),
                    ("name", some(string("Configured"))),
                ],
            )
            .await
            .unwrap_or_else(|e| panic!("{store:?}: {e:?}"));
        assert!(created["task"]["id"].is_string(), "{store:?}: {created}");
        let post = fake.requests_to("POST /v1/tasks").pop().unwrap();
        assert_eq!(
            post.header("authorization"),
            Some(format!("bearer {TOKEN}").as_str()),
            "{store:?}"
        );

        // Lower-case keys, as Spin-style variable names must be, serve as well.
        let lower = [
            ("lunatask_api_token", TOKEN),
            ("lunatask_base_url", base_url.as_str()),
        ];
        let pinged = runtime.call_with(&no_env, &lower, "ping", &[]).await;
        assert!(pinged.is_ok(), "{store:?}: {pinged:?}");

        // Nothing anywhere: nothing sent, and the error says where the token is looked for.
        let before = fake.request_count();
        let error = runtime
            .call_with(
                &no_env,
                &[("LUNATASK_BASE_URL", base_url.as_str())],
                "ping",
                &[],
            )
            .await
            .expect_err("no token, no call");
        let message = message_of(&error, "authentication-error");
        assert!(
            message.contains("LUNATASK_API_TOKEN") && message.contains("wasi:config"),
            "{message}"
        );
        assert_eq!(fake.request_count(), before, "{store:?}");
    }
}

#[tokio::test]
async fn config_comes_before_the_environment() {
    let fake = FakeApi::start(TOKEN).await;
    let base_url = fake.base_url();
    let runtime = Runtime::load_with(PORTABLE_CONFIG_GUEST_WASM, ConfigStore::Rc1);
    let wrong_env = [
        ("LUNATASK_API_TOKEN", "env-token-wrong"),
        ("LUNATASK_BASE_URL", "http://127.0.0.1:9/v1"),
    ];

    // The configuration wins over a different environment, setting by setting.
    let config = [
        ("LUNATASK_API_TOKEN", TOKEN),
        ("LUNATASK_BASE_URL", base_url.as_str()),
    ];
    let pinged = runtime.call_with(&wrong_env, &config, "ping", &[]).await;
    assert!(pinged.is_ok(), "{pinged:?}");
    let wrong_config = [
        ("LUNATASK_API_TOKEN", "config-token-wrong"),
        ("LUNATASK_BASE_URL", base_url.as_str()),
    ];
    let env = [("LUNATASK_API_TOKEN", TOKEN)];
    let error = runtime
        .call_with(&env, &wrong_config, "ping", &[])
        .await
        .expect_err("the configuration's token is the one sent");
    assert_eq!(error["code"], Val::Enum("authentication-error".into()));
    assert!(!format!("{error:?}").contains("config-token-wrong"));

    // A setting the configuration lacks (or leaves empty) comes from the environment.
    let env = [
        ("LUNATASK_API_TOKEN", TOKEN),
        ("LUNATASK_BASE_URL", base_url.as_str()),
    ];
    let empty = [("LUNATASK_API_TOKEN", "")];
    let pinged = runtime.call_with(&env, &empty, "ping", &[]).await;
    assert!(pinged.is_ok(), "{pinged:?}");
    let sent = fake.requests_to("GET /v1/ping");
    assert!(
        sent.iter()
            .all(|r| r.header("authorization") != Some("bearer env-token-wrong")),
        "the environment's token was never sent while the configuration had one"
    );
}

#[tokio::test]
async fn a_config_build_needs_its_wasi_config_version() {
    for (wasm, store, interface) in [
        (
            PORTABLE_CONFIG_GUEST_WASM,
            ConfigStore::Absent,
            "wasi:config/store@0.2.0-rc.1",
        ),
        (
            PORTABLE_CONFIG_GUEST_WASM,
            ConfigStore::Draft,
            "wasi:config/store@0.2.0-rc.1",
        ),
        (
            PORTABLE_CONFIG_DRAFT_GUEST_WASM,
            ConfigStore::Rc1,
            "wasi:config/store@0.2.0-draft",
        ),
    ] {
        let runtime = Runtime::load_with(wasm, store);
        let imports = runtime.imports();
        assert!(imports.iter().any(|name| name == interface), "{imports:?}");
        assert!(
            imports.iter().all(|name| name.starts_with("wasi:")),
            "{imports:?}"
        );
        // The same tools as the environment build, only configured elsewhere.
        let exported: Vec<String> = runtime.functions().into_keys().collect();
        let env_build: Vec<String> = Runtime::load().functions().into_keys().collect();
        assert_eq!(exported, env_build, "{wasm}");
        let refused = runtime.linker.instantiate_pre(&runtime.component).err();
        let message = format!(
            "{:#}",
            refused.expect("instantiation fails without the import")
        );
        assert!(message.contains(interface), "{store:?}: {message}");
    }
}

#[tokio::test]
async fn a_refused_destination_names_the_runtimes_policy() {
    let (runtime, fake, env) = against_fake().await;
    let runtime = runtime.failing_sends(|| wasmtime_wasi_http::Error::HttpRequestDenied);
    let error = runtime
        .call(&env, "ping", &[])
        .await
        .expect_err("the runtime refuses every destination");
    let message = message_of(&error, "egress-denied");
    assert_eq!(error["retryable"], Val::Bool(false));
    // Worded for the runtime that refused, not for our host, and saying what to grant.
    assert!(message.contains("runtime's network policy"), "{message}");
    assert!(message.contains("LUNATASK_BASE_URL"), "{message}");
    assert!(!message.contains("configured LunaTask API"), "{message}");
    assert_eq!(fake.request_count(), 0);
}

#[tokio::test]
async fn a_runtimes_own_limits_are_named_as_the_runtimes() {
    use wasmtime_wasi_http::Error;
    let fake = FakeApi::start(TOKEN).await;
    let env = env(&fake);
    let cases: [(SendError, &str, &str); 2] = [
        (
            || Error::HttpResponseBodySize(Some(4096)),
            "upstream-error",
            "LunaTask's answer was larger than the runtime reads (4096 bytes;",
        ),
        (
            || Error::HttpRequestBodySize(None),
            "internal-error",
            "the runtime refused to send the request",
        ),
    ];
    for (error, code, says) in cases {
        let runtime = Runtime::load().failing_sends(error);
        let error = runtime.call(&env, "ping", &[]).await.expect_err(code);
        let message = message_of(&error, code);
        assert!(message.starts_with(says), "{message}");
        assert!(!message.contains("the host"), "{message}");
        assert_eq!(error["retryable"], Val::Bool(false), "{message}");
    }
    assert_eq!(fake.request_count(), 0);
}

#[tokio::test]
async fn a_failing_configuration_store_is_the_calls_error() {
    let fake = FakeApi::start(TOKEN).await;
    let runtime = Runtime::load_with(PORTABLE_CONFIG_DRAFT_GUEST_WASM, ConfigStore::Draft);
    // The environment has a token, but a store that fails is not skipped for it.
    let env = [
        ("LUNATASK_API_TOKEN", TOKEN),
        ("LUNATASK_BASE_URL", &fake.base_url()),
    ];
    let error = runtime
        .call_with(&env, &[(STORE_FAILS, "")], "ping", &[])
        .await
        .expect_err("the store's failure fails the call");
    let message = message_of(&error, "internal-error");
    assert!(
        message.contains("LUNATASK_API_TOKEN") && message.contains("the vault is sealed"),
        "{message}"
    );
    assert!(!message.contains(TOKEN), "{message}");
    assert_eq!(fake.request_count(), 0, "nothing is sent");
}
