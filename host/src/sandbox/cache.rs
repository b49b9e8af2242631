//! The compiled-component cache: native code from an earlier start, keyed by the component
//! and the engine, read only from a directory nobody else can write.

use std::path::{Path, PathBuf};
use std::time::Instant;

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Compiles `wasm`, or loads the native code cached by an earlier start. The cache key
/// covers the component bytes and the engine's compatibility hash (wasmtime version and
/// compilation settings), so any change recompiles.
pub fn load_component(
    engine: &Engine,
    wasm: &[u8],
    cache_dir: Option<&Path>,
) -> anyhow::Result<Component> {
    let Some(dir) = cache_dir.map(Path::to_path_buf).or_else(default_cache_dir) else {
        return Ok(Component::new(engine, wasm)?);
    };
    let mut hasher = Sha256::new();
    hasher.update(wasm);
    std::hash::Hash::hash(
        &engine.precompile_compatibility_hash(),
        &mut HashToDigest(&mut hasher),
    );
    let key = hex::encode(&hasher.finalize()[..16]);
    let path = dir.join(format!("guest-{key}.cwasm"));
    if let Some(component) = deserialize_cached(engine, &path) {
        tracing::debug!(path = %path.display(), "loaded the cached component");
        return Ok(component);
    }
    let started = Instant::now();
    let component = Component::new(engine, wasm)?;
    tracing::debug!(
        ms = started.elapsed().as_millis() as u64,
        "compiled the component"
    );
    if let Err(e) = store_cached(&component, &dir, &path) {
        tracing::debug!(error = %e, "could not cache the compiled component");
    }
    Ok(component)
}

struct HashToDigest<'a>(&'a mut Sha256);

impl std::hash::Hasher for HashToDigest<'_> {
    fn finish(&self) -> u64 {
        0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

#[allow(
    unsafe_code,
    reason = "deserializing native code we compiled and wrote ourselves"
)]
fn deserialize_cached(engine: &Engine, path: &Path) -> Option<Component> {
    if !cache_file_is_private(path) {
        return None;
    }
    // SAFETY: the file is ours (created by `store_cached` in a directory only this user
    // can write, checked above) and wasmtime verifies the header against this engine.
    unsafe { Component::deserialize_file(engine, path) }.ok()
}

#[cfg(unix)]
fn cache_file_is_private(path: &Path) -> bool {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let (Ok(file), Some(dir)) = (std::fs::metadata(path), path.parent()) else {
        return false;
    };
    let Ok(dir) = std::fs::metadata(dir) else {
        return false;
    };
    // Same owner as us, and nobody else may write the file or its folder.
    let uid = current_uid();
    file.uid() == uid
        && dir.uid() == uid
        && file.permissions().mode() & 0o022 == 0
        && dir.permissions().mode() & 0o022 == 0
}

#[cfg(not(unix))]
fn cache_file_is_private(_: &Path) -> bool {
    true
}

/// The current user's id: the owner of this process's /proc entry (no unsafe libc call).
#[cfg(unix)]
fn current_uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(u32::MAX)
}

fn store_cached(component: &Component, dir: &Path, path: &Path) -> anyhow::Result<()> {
    create_private_dir(dir)?;
    let bytes = component.serialize()?;
    let tmp = dir.join(format!(".tmp-{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

/// `$XDG_CACHE_HOME/lunatask-mcp`, else `~/.cache/lunatask-mcp`; with neither usable, no
/// cache (said once: every start then compiles the component).
fn default_cache_dir() -> Option<PathBuf> {
    let base = crate::support::xdg::base_dir("XDG_CACHE_HOME", ".cache");
    if base.is_none() {
        tracing::info!(
            "the compiled component is not cached: neither XDG_CACHE_HOME nor HOME is an \
             absolute path; set LUNATASK_CACHE_DIR to cache it"
        );
    }
    Some(base?.join("lunatask-mcp"))
}
