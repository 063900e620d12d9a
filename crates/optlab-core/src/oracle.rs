//! Oracle-call counters.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Number of calls per oracle kind (`"value"`, `"grad"`, `"hessian"`, `"factorization"`, ...).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OracleCounts(pub BTreeMap<String, u64>);

impl OracleCounts {
    /// Add `n` calls of `kind`.
    pub fn add(&mut self, kind: &str, n: u64) {
        *self.0.entry(kind.to_string()).or_insert(0) += n;
    }

    /// Calls of `kind` so far (0 if never called).
    pub fn get(&self, kind: &str) -> u64 {
        self.0.get(kind).copied().unwrap_or(0)
    }

    /// Sum over all kinds.
    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }
}
