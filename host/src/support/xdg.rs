//! Base directories from the environment, read as the XDG Base Directory specification
//! says: a variable that is unset, empty or not an absolute path counts as unset. Launchers
//! and service managers start servers with `HOME=` or odd relative values; taking those
//! as paths would create our files in whatever directory the client was launched from.
//! Hand-written: the crates that find these directories fall back to the password
//! database when `HOME` is unusable, and here "none" must stay none (an in-memory journal,
//! no component cache), as docs/configuration.md promises.

use std::ffi::OsString;
use std::path::PathBuf;

/// `$<var>`, else `$HOME/<under_home>`, each only when set to an absolute path.
pub fn base_dir(var: &str, under_home: &str) -> Option<PathBuf> {
    absolute(std::env::var_os(var))
        .or_else(|| absolute(std::env::var_os("HOME")).map(|home| home.join(under_home)))
}

fn absolute(value: Option<OsString>) -> Option<PathBuf> {
    value.map(PathBuf::from).filter(|p| p.is_absolute())
}

/// A directory setting's value: an absolute path, never one resolved against the
/// directory the server happened to be started in.
pub fn absolute_dir(value: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(value);
    if path.is_absolute() {
        Ok(path)
    } else {
        Err(format!(
            "{value:?} is not an absolute path; give the full path (it would otherwise be \
             taken from whatever directory the client started the server in)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_relative_values_count_as_unset() {
        assert_eq!(absolute(Some("".into())), None);
        assert_eq!(absolute(Some(".local/state".into())), None);
        assert_eq!(absolute(None), None);
        assert_eq!(
            absolute(Some("/srv/x".into())),
            Some(PathBuf::from("/srv/x"))
        );
    }

    #[test]
    fn a_relative_directory_setting_is_refused() {
        assert!(absolute_dir("state").unwrap_err().contains("absolute"));
        assert_eq!(
            absolute_dir("/var/lib/x").unwrap(),
            PathBuf::from("/var/lib/x")
        );
    }
}
