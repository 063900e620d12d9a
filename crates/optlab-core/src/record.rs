//! Metric rows and recorders.

use crate::error::Result;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// One logged row: the step and named scalar values (objective, gradient norm, lr, ...).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// The step (iteration, epoch) this row belongs to; 0 is the initial point.
    pub step: u64,
    /// Named values. Every scheduled hyperparameter is recorded here too.
    #[serde(flatten)]
    pub values: BTreeMap<String, f64>,
}

impl Metrics {
    /// A row for `step` with no values yet.
    pub fn new(step: u64) -> Self {
        Metrics {
            step,
            values: BTreeMap::new(),
        }
    }

    /// Builder-style insert.
    pub fn with(mut self, name: &str, value: f64) -> Self {
        self.values.insert(name.to_string(), value);
        self
    }

    /// Insert a value.
    pub fn set(&mut self, name: &str, value: f64) {
        self.values.insert(name.to_string(), value);
    }

    /// Look a value up.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.values.get(name).copied()
    }

    /// True when every value is finite.
    pub fn all_finite(&self) -> bool {
        self.values.values().all(|v| v.is_finite())
    }
}

/// Where metric rows go (a run directory's `metrics.jsonl`, memory in tests, ...).
pub trait Recorder: Send {
    /// Record one row; implementations flush so that a crash loses nothing already recorded.
    fn record(&mut self, row: &Metrics) -> Result<()>;
}

/// Keeps rows in memory; clones share the same buffer (handy in tests).
#[derive(Debug, Clone, Default)]
pub struct MemoryRecorder {
    rows: Arc<Mutex<Vec<Metrics>>>,
}

impl MemoryRecorder {
    /// An empty recorder.
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of all rows recorded so far.
    pub fn rows(&self) -> Vec<Metrics> {
        match self.rows.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }
}

impl Recorder for MemoryRecorder {
    fn record(&mut self, row: &Metrics) -> Result<()> {
        match self.rows.lock() {
            Ok(mut g) => g.push(row.clone()),
            Err(p) => p.into_inner().push(row.clone()),
        }
        Ok(())
    }
}

/// Discards everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NullRecorder;

impl Recorder for NullRecorder {
    fn record(&mut self, _row: &Metrics) -> Result<()> {
        Ok(())
    }
}
