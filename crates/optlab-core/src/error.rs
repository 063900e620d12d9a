//! Errors shared by all optlab crates.

use thiserror::Error;

/// Result alias used across optlab's libraries.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong before or during a run, with enough context to act on it.
#[derive(Debug, Error)]
pub enum Error {
    /// A configuration value is invalid; `field` is the dotted key as written in the config.
    #[error("invalid config field `{field}`: {reason}")]
    InvalidConfig { field: String, reason: String },
    /// Input data is malformed; `line` is 1-based (0 when the whole input is at fault).
    #[error("{source_name}: line {line}: {reason}")]
    Data {
        source_name: String,
        line: usize,
        reason: String,
    },
    /// The method cannot run on the given problem.
    #[error("method `{method}` cannot run on problem `{problem}`: {reason}")]
    Mismatch {
        method: String,
        problem: String,
        reason: String,
    },
    /// A checkpoint could not be read or does not belong to this run.
    #[error("checkpoint: {0}")]
    Checkpoint(String),
    /// A numerical routine failed in a way the method cannot recover from.
    #[error("numerical error: {0}")]
    Numerical(String),
    /// I/O failure with the path involved.
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// Anything else, described.
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// Shorthand for [`Error::InvalidConfig`].
    pub fn config(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidConfig {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// Shorthand for [`Error::Data`].
    pub fn data(source_name: impl Into<String>, line: usize, reason: impl Into<String>) -> Self {
        Error::Data {
            source_name: source_name.into(),
            line,
            reason: reason.into(),
        }
    }

    /// Shorthand for [`Error::Io`].
    pub fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }
}
