//! Method descriptors for the CLI's explicit registry, and the resolved run specification.

use crate::context::RunContext;
use crate::error::{Error, Result};
use crate::summary::Summary;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

/// A fully resolved run: written as `config.toml` in the run directory; `optlab run --config`
/// on it reproduces the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSpec {
    /// Registered method name (`optlab list`).
    pub method: String,
    /// Run seed; every random stream derives from it.
    pub seed: u64,
    /// Thread count used by every parallel kernel.
    pub threads: usize,
    /// Checkpoint every this many steps (0: only when the run stops).
    #[serde(default)]
    pub checkpoint_every: u64,
    /// The method's configuration (its `Config`, all fields resolved).
    pub config: toml::Table,
    /// The problem: `name = "..."` plus the problem's options.
    pub problem: toml::Table,
}

/// One registered method.
#[derive(Clone, Copy)]
pub struct MethodInfo {
    /// CLI name, e.g. `"lion"`.
    pub name: &'static str,
    /// One line.
    pub summary: &'static str,
    /// The paper (or "baseline").
    pub reference: &'static str,
    /// Problems this method runs on; the first is the default.
    pub problems: &'static [&'static str],
    /// The default config as TOML, with comments (`optlab describe`).
    pub describe: fn() -> String,
    /// The default config as a table (resolved into the run spec).
    pub default_config: fn() -> Result<toml::Table>,
    /// The default options of a problem (including `name`).
    pub default_problem: fn(&str) -> Result<toml::Table>,
    /// Run it.
    pub run: fn(&RunSpec, &mut RunContext) -> Result<Summary>,
}

impl std::fmt::Debug for MethodInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MethodInfo")
            .field("name", &self.name)
            .finish()
    }
}

/// Decode a table into `T`, naming the section in the error (`config: unknown field ...`).
pub fn from_table<T: DeserializeOwned>(section: &str, table: &toml::Table) -> Result<T> {
    T::deserialize(toml::Value::Table(table.clone()))
        .map_err(|e| Error::config(section, e.to_string().trim().to_string()))
}

/// Encode `value` as a table.
pub fn to_table<T: Serialize>(value: &T) -> Result<toml::Table> {
    match toml::Value::try_from(value) {
        Ok(toml::Value::Table(t)) => Ok(t),
        Ok(_) => Err(Error::Other("config did not serialize to a table".into())),
        Err(e) => Err(Error::Other(format!("config serialization: {e}"))),
    }
}

/// The `name` entry of a problem table.
pub fn problem_name(problem: &toml::Table) -> Result<&str> {
    match problem.get("name") {
        Some(toml::Value::String(s)) => Ok(s),
        Some(_) => Err(Error::config("problem.name", "must be a string")),
        None => Err(Error::config("problem.name", "missing")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, Serialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct C {
        lr: f64,
    }

    #[test]
    fn unknown_keys_are_named() {
        let t: toml::Table = toml::from_str("lr = 0.1\nlearning_rate = 2").unwrap();
        let e = from_table::<C>("config", &t).unwrap_err().to_string();
        assert!(e.contains("config") && e.contains("learning_rate"), "{e}");
        let t: toml::Table = toml::from_str("lr = 0.1").unwrap();
        assert_eq!(from_table::<C>("config", &t).unwrap(), C { lr: 0.1 });
        assert_eq!(
            to_table(&C { lr: 0.5 }).unwrap(),
            toml::from_str("lr = 0.5").unwrap()
        );
    }
}
