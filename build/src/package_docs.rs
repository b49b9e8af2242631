//! For `tests/build.rs` and `xtask`: puts a
//! world's WIT documentation into a built component as its `package-docs` custom section,
//! which `wit-component` (so `wasm-tools component wit`) and runtimes such as Wassette read.
//!
//! Written here because nothing in the toolchain does it for a component: the linker
//! (`wasm-component-ld`) drops the docs when it makes the component, and `wit-component`
//! writes the section only when it encodes a WIT package. The section must describe the
//! component as it decodes, a world `root` in a package `root:component` (the names
//! `wit-parser` gives a component, which carries neither): docs keyed by our own world's
//! name make decoding fail with "missing world". So the docs of our world are copied, by
//! name, onto the decoded world, and the section is extracted from that.

use std::path::Path;

use anyhow::{Context, Result, bail};
use wit_component::DecodedWasm;
use wit_parser::{PackageMetadata, Resolve, TypeDefKind, TypeOwner, WorldId, WorldItem};

/// `component` with the docs of `world` (a world of the package in `wit_dir`) embedded.
pub fn embed(component: &[u8], wit_dir: &Path, world: &str) -> Result<Vec<u8>> {
    if has_package_docs(component)? {
        bail!(
            "the component already carries a {} section",
            PackageMetadata::SECTION_NAME
        );
    }
    let mut source = Resolve::default();
    let (package, _) = source
        .push_dir(wit_dir)
        .with_context(|| format!("reading the WIT in {}", wit_dir.display()))?;
    let from = source.select_world(&[package], Some(world))?;

    let DecodedWasm::Component(mut decoded, to) = wit_component::decode(component)? else {
        bail!("expected a component, found a WIT package");
    };
    copy_docs(&source, from, &mut decoded, to)?;
    let root = decoded.worlds[to]
        .package
        .context("the decoded world belongs to no package")?;
    let data = PackageMetadata::extract(&decoded, root).encode()?;

    let mut out = component.to_vec();
    wasm_encoder::ComponentSection::append_to_component(
        &wasm_encoder::CustomSection {
            name: PackageMetadata::SECTION_NAME.into(),
            data: data.into(),
        },
        &mut out,
    );
    Ok(out)
}

/// Whether `component` has a top-level `package-docs` section already (a second one would
/// make it undecodable).
fn has_package_docs(component: &[u8]) -> Result<bool> {
    let mut depth = 0usize;
    for payload in wasmparser::Parser::new(0).parse_all(component) {
        match payload? {
            wasmparser::Payload::ModuleSection { .. }
            | wasmparser::Payload::ComponentSection { .. } => depth += 1,
            wasmparser::Payload::End(_) => depth = depth.saturating_sub(1),
            wasmparser::Payload::CustomSection(section)
                if depth == 0 && section.name() == PackageMetadata::SECTION_NAME =>
            {
                return Ok(true);
            }
            _ => {}
        }
    }
    Ok(false)
}

/// Copies the docs of world `from` in `source` onto world `to` in `target`: the world's, its
/// exported functions' and the types it defines (with their fields and cases), matched by
/// name. An export the source world lacks is an error: the component is not of that world.
fn copy_docs(source: &Resolve, from: WorldId, target: &mut Resolve, to: WorldId) -> Result<()> {
    let from_world = &source.worlds[from];
    target.worlds[to].docs = from_world.docs.clone();

    let keys: Vec<_> = target.worlds[to].exports.keys().cloned().collect();
    for key in keys {
        let name = target.name_world_key(&key);
        let Some(WorldItem::Function(function)) = target.worlds[to].exports.get_mut(&key) else {
            continue;
        };
        let Some(WorldItem::Function(documented)) = from_world.exports.get(&key) else {
            bail!(
                "the component exports {name}, which world {} does not",
                from_world.name
            );
        };
        function.docs = documented.docs.clone();
    }

    let types: Vec<_> = target
        .types
        .iter()
        .filter(|(_, ty)| ty.owner == TypeOwner::World(to))
        .filter_map(|(id, ty)| Some((id, ty.name.clone()?)))
        .collect();
    // The source world's types through its items, not their owner: a world that includes
    // another (`portable-config` includes `portable`) holds types that world defined.
    let documented_types: Vec<_> = from_world
        .imports
        .values()
        .filter_map(|item| match item {
            WorldItem::Type { id, .. } => Some(&source.types[*id]),
            _ => None,
        })
        .collect();
    for (id, name) in types {
        let Some(documented) = documented_types
            .iter()
            .find(|ty| ty.name.as_deref() == Some(&name))
        else {
            continue;
        };
        let ty = &mut target.types[id];
        ty.docs = documented.docs.clone();
        copy_inner_docs(&documented.kind, &mut ty.kind);
    }
    Ok(())
}

/// The docs of a record's fields, an enum's or a variant's cases, or flags, by name.
fn copy_inner_docs(from: &TypeDefKind, to: &mut TypeDefKind) {
    /// Each item of `$to` gets the docs of the item of `$from` with its name.
    macro_rules! by_name {
        ($from:expr, $to:expr) => {
            for item in &mut $to {
                item.docs = $from
                    .iter()
                    .find(|documented| documented.name == item.name)
                    .map(|documented| documented.docs.clone())
                    .unwrap_or_default();
            }
        };
    }
    match (from, to) {
        (TypeDefKind::Record(from), TypeDefKind::Record(to)) => by_name!(from.fields, to.fields),
        (TypeDefKind::Enum(from), TypeDefKind::Enum(to)) => by_name!(from.cases, to.cases),
        (TypeDefKind::Variant(from), TypeDefKind::Variant(to)) => by_name!(from.cases, to.cases),
        (TypeDefKind::Flags(from), TypeDefKind::Flags(to)) => by_name!(from.flags, to.flags),
        _ => {}
    }
}
