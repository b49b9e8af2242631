//! No import cycles in the host or the guest: dependencies between modules go one way, so
//! the folders can show the layers. A module is a file (`oauth/token.rs` is
//! `oauth::token`, `oauth/mod.rs` is `oauth`); an edge is a `crate::` path in code (not in a
//! comment, not in the file's `#[cfg(test)]` tail), to the longest module its path names. `super::` paths are a
//! module's own family and are not counted. Hand-written: the cycle checkers on crates.io
//! work on Cargo packages, not on the modules inside one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`, with its module path.
fn modules(dir: &Path) -> BTreeMap<String, PathBuf> {
    let mut found = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(at) = stack.pop() {
        for entry in std::fs::read_dir(&at).unwrap().map(Result::unwrap) {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(dir).unwrap().with_extension("");
            let mut parts: Vec<String> = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if matches!(
                parts.last().map(String::as_str),
                Some("mod" | "main" | "lib")
            ) {
                parts.pop();
            }
            found.insert(parts.join("::"), path);
        }
    }
    found
}

/// The source's code: without its `#[cfg(test)]` tail (the unit tests, by convention at the
/// end) and without comment lines (a doc link is not a dependency).
fn code_of(source: &str) -> String {
    let code = match source.find("#[cfg(test)]\nmod tests") {
        Some(at) => &source[..at],
        None => source,
    };
    code.lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every path that follows `crate::`, with `{…}` groups expanded: `crate::a::{b, c::d}` is
/// `a::b` and `a::c::d`.
fn crate_paths(source: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let mut rest = source;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().last();
        rest = &rest[at + "crate::".len()..];
        // `$crate::` and `lunatask_crate::` are not ours.
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        let (expanded, used) = expand(rest);
        paths.extend(expanded);
        rest = &rest[used..];
    }
    paths
}

/// The paths a `use` tree at the start of `text` names, and how many bytes it took.
fn expand(text: &str) -> (Vec<String>, usize) {
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut prefix = String::new();
    loop {
        if text[i..].starts_with('{') {
            let mut out = Vec::new();
            i += 1;
            loop {
                while i < bytes.len() && (bytes[i] as char).is_whitespace() {
                    i += 1;
                }
                if i >= bytes.len() || bytes[i] == b'}' {
                    return (out, i + 1);
                }
                let (inner, used) = expand(&text[i..]);
                out.extend(inner.into_iter().map(|p| format!("{prefix}{p}")));
                i += used;
                while i < bytes.len() && (bytes[i] == b',' || (bytes[i] as char).is_whitespace()) {
                    i += 1;
                }
            }
        }
        let start = i;
        while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
            i += 1;
        }
        prefix.push_str(&text[start..i]);
        if text[i..].starts_with("::") {
            i += 2;
            prefix.push_str("::");
            continue;
        }
        return (vec![prefix], i);
    }
}

/// The module a path names: its longest prefix that is a module.
fn target(path: &str, modules: &BTreeMap<String, PathBuf>) -> Option<String> {
    let parts: Vec<&str> = path.split("::").collect();
    (1..=parts.len())
        .rev()
        .map(|n| parts[..n].join("::"))
        .find(|candidate| modules.contains_key(candidate))
}

/// The module graph's cycles: each strongly connected component of more than one module.
fn cycles(dir: &Path) -> Vec<Vec<String>> {
    let modules = modules(dir);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (name, path) in &modules {
        let source = std::fs::read_to_string(path).unwrap();
        for used in crate_paths(&code_of(&source)) {
            if let Some(to) = target(&used, &modules).filter(|to| to != name) {
                edges.entry(name.clone()).or_default().insert(to);
            }
        }
    }
    strongly_connected(&modules.keys().cloned().collect::<Vec<_>>(), &edges)
        .into_iter()
        .filter(|component| component.len() > 1)
        .collect()
}

/// Tarjan's algorithm, iteratively small enough to write out: the components of `nodes`.
fn strongly_connected(
    nodes: &[String],
    edges: &BTreeMap<String, BTreeSet<String>>,
) -> Vec<Vec<String>> {
    struct State<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<String, usize>,
        low: BTreeMap<String, usize>,
        stack: Vec<String>,
        on_stack: BTreeSet<String>,
        out: Vec<Vec<String>>,
    }
    fn visit(node: &str, state: &mut State<'_>) {
        let n = state.index.len();
        state.index.insert(node.to_string(), n);
        state.low.insert(node.to_string(), n);
        state.stack.push(node.to_string());
        state.on_stack.insert(node.to_string());
        let next: Vec<String> = state
            .edges
            .get(node)
            .map(|e| e.iter().cloned().collect())
            .unwrap_or_default();
        for to in next {
            if !state.index.contains_key(&to) {
                visit(&to, state);
                let low = state.low[node].min(state.low[&to]);
                state.low.insert(node.to_string(), low);
            } else if state.on_stack.contains(&to) {
                let low = state.low[node].min(state.index[&to]);
                state.low.insert(node.to_string(), low);
            }
        }
        if state.low[node] == state.index[node] {
            let mut component = Vec::new();
            while let Some(top) = state.stack.pop() {
                state.on_stack.remove(&top);
                let done = top == node;
                component.push(top);
                if done {
                    break;
                }
            }
            component.sort();
            state.out.push(component);
        }
    }
    let mut state = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for node in nodes {
        if !state.index.contains_key(node) {
            visit(node, &mut state);
        }
    }
    state.out
}

fn source_dir(krate: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(krate)
        .join("src")
}

#[test]
fn the_host_has_no_import_cycle() {
    let found = cycles(&source_dir("host"));
    assert!(found.is_empty(), "import cycles in host/src: {found:?}");
}

#[test]
fn the_guest_has_no_import_cycle() {
    let found = cycles(&source_dir("guest"));
    assert!(found.is_empty(), "import cycles in guest/src: {found:?}");
}

#[test]
fn the_checker_finds_a_cycle_and_reads_use_groups() {
    let paths = crate_paths(
        "use crate::a::{b, c::{d, e}};\nuse crate::{h, i::j};\nlet x = crate::f::g(); $crate::no",
    );
    assert_eq!(paths, ["a::b", "a::c::d", "a::c::e", "h", "i::j", "f::g"]);
    let nodes: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
    let mut edges = BTreeMap::new();
    edges.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    edges.insert("b".to_string(), BTreeSet::from(["a".to_string()]));
    edges.insert("c".to_string(), BTreeSet::from(["a".to_string()]));
    let found: Vec<Vec<String>> = strongly_connected(&nodes, &edges)
        .into_iter()
        .filter(|c| c.len() > 1)
        .collect();
    assert_eq!(found, [vec!["a".to_string(), "b".to_string()]]);
}
