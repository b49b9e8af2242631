//! Reading the settings: the command line and environment through clap, with the `--config`
//! file layered in under them as flags of the same names (see the module above).

use std::ffi::OsString;
use std::path::Path;

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches};

use super::{Cli, ConfigError};

/// Parses the command line and environment, layers the `--config` file under them, and
/// exits as clap does (usage, exit 2) on a bad flag. A bad file is a [`ConfigError`].
pub fn parse() -> Result<Cli, ConfigError> {
    parse_from(std::env::args_os().collect())
}

pub(crate) fn parse_from(args: Vec<OsString>) -> Result<Cli, ConfigError> {
    let matches = Cli::command()
        .try_get_matches_from(args.clone())
        .map_err(bad_value)?;
    let cli = Cli::from_arg_matches(&matches).map_err(bad_value)?;
    let Some(path) = cli.config.clone() else {
        return Ok(cli);
    };
    let file = file_args(&path, &matches)?;
    if file.is_empty() {
        return Ok(cli);
    }
    // The file's values go right after the program name, before any subcommand.
    let mut layered = args;
    layered.splice(1..1, file);
    Cli::command()
        .try_get_matches_from(layered)
        .and_then(|m| Cli::from_arg_matches(&m))
        .map_err(|e| ConfigError::FileSyntax {
            path,
            message: described(&e),
        })
}

/// A value a setting's parser refused, as a [`ConfigError`] naming every way to set it;
/// anything else (help, version, an unknown flag) exits the way clap does, with usage.
pub(crate) fn bad_value(e: clap::Error) -> ConfigError {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::InvalidValue | ErrorKind::ValueValidation => ConfigError::Setting(described(&e)),
        _ => e.exit(),
    }
}

/// clap's message without its usage lines, followed by the option's environment variable
/// and file key: a value from the environment is reported under its flag's name by clap.
pub(crate) fn described(e: &clap::Error) -> String {
    use clap::error::{ContextKind, ContextValue};
    let message = e.to_string();
    let line = message.lines().next().unwrap_or(&message);
    let line = line.trim_start_matches("error: ");
    let Some(ContextValue::String(shown)) = e.get(ContextKind::InvalidArg) else {
        return line.to_string();
    };
    let long = shown
        .trim_start_matches("--")
        .split([' ', '='])
        .next()
        .unwrap_or("");
    let command = Cli::command();
    let Some(arg) = command.get_arguments().find(|a| a.get_long() == Some(long)) else {
        return line.to_string();
    };
    let env = arg
        .get_env()
        .map(|v| format!("{}, ", v.to_string_lossy()))
        .unwrap_or_default();
    format!(
        "{line} (set by --{long}, {env}or the file key {})",
        arg.get_id()
    )
}

/// The file's keys as `--flag=value` arguments, for the settings that neither the command
/// line nor the environment set. An unknown key is an error, not ignored.
pub(crate) fn file_args(
    path: &Path,
    given: &clap::ArgMatches,
) -> Result<Vec<OsString>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::File {
        path: path.to_path_buf(),
        source,
    })?;
    let invalid = |message: String| ConfigError::FileSyntax {
        path: path.to_path_buf(),
        message,
    };
    let table: toml::Table = toml::from_str(&text).map_err(|e| invalid(e.message().into()))?;
    let command = Cli::command();
    let mut args = Vec::new();
    for (key, value) in table {
        let arg = command
            .get_arguments()
            .find(|a| a.get_id() == key.as_str() && key != "config" && a.get_long().is_some())
            .ok_or_else(|| invalid(format!("unknown key {key:?}; the keys are the long option names with underscores (see --help)")))?;
        let set_above = given
            .value_source(&key)
            .is_some_and(|source| source != ValueSource::DefaultValue);
        if set_above {
            continue;
        }
        let long = arg.get_long().expect("checked above");
        let values = match value {
            toml::Value::Array(items) => items,
            single => vec![single],
        };
        for value in values {
            let text = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(_) | toml::Value::Float(_) | toml::Value::Boolean(_) => {
                    value.to_string()
                }
                _ => {
                    return Err(invalid(format!(
                        "{key}: expected a string, number or boolean"
                    )));
                }
            };
            args.push(OsString::from(format!("--{long}={text}")));
        }
    }
    Ok(args)
}
