//! The uniform result of a run (scipy's `OptimizeResult` idea).

use crate::oracle::OracleCounts;
use crate::status::Status;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Final report of one run; written as `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Why the run stopped.
    pub status: Status,
    /// Steps completed (iterations or epochs).
    pub iterations: u64,
    /// Objective (or training loss) at the final state.
    pub final_value: Option<f64>,
    /// Best objective seen: the minimum over the initial state's value, the steps' values the
    /// solver reports (`Solver::step_value`, which may skip steps) and the final state's value.
    pub best_value: Option<f64>,
    /// Oracle calls by kind.
    pub counts: OracleCounts,
    /// Wall time in seconds, summed over resumed segments.
    pub wall_time_s: f64,
    /// Method-specific final figures (test accuracy, gradient norm, ...).
    pub extra: BTreeMap<String, f64>,
}
