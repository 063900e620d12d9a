//! DAG structure learning on linear SEMs: scores, acyclicity functions, NOTEARS (the
//! continuous baseline) and TOPO (topological swaps).

pub mod acyclic;
pub mod lbfgs;
pub mod notears;
pub mod score;
pub mod topo;

pub use notears::{Notears, NotearsConfig, NotearsState};
pub use score::{Score, ScoreKind};
pub use topo::{CandidateRule, Topo, TopoConfig, TopoInit, TopoState, order_from_weights};

use optlab_core::Result;
use optlab_problems::dag::{Accuracy, DagProblem, count_accuracy, is_dag, support};
use std::collections::BTreeMap;

/// What a structure-learning method produced, measured the same way for every method.
#[derive(Debug, Clone, PartialEq)]
pub struct DagReport {
    /// `Q` of the thresholded output.
    pub score: f64,
    /// `Q` of the unthresholded output.
    pub score_raw: f64,
    /// Least squares `1/(2n) ||X - XW||_F^2` of the thresholded output (the common yardstick).
    pub ls: f64,
    /// Least squares of the thresholded output's support refit ([`Score::refit`]: every node
    /// regressed on its kept parents); `None` when a node's kept parents are collinear.
    pub ls_refit: Option<f64>,
    /// The thresholded output is acyclic.
    pub is_dag: bool,
    /// Accuracy against the true graph, when known.
    pub accuracy: Option<Accuracy>,
}

impl DagReport {
    /// As metrics: `score`, `score_raw`, `ls`, `ls_refit` (when defined), `is_dag`, `shd`, `tpr`,
    /// `fdr`, `fpr`, `nnz`.
    pub fn metrics(&self) -> BTreeMap<String, f64> {
        let mut m = BTreeMap::new();
        m.insert("score".into(), self.score);
        m.insert("score_raw".into(), self.score_raw);
        m.insert("ls".into(), self.ls);
        if let Some(v) = self.ls_refit {
            m.insert("ls_refit".into(), v);
        }
        m.insert("is_dag".into(), f64::from(u8::from(self.is_dag)));
        if let Some(a) = &self.accuracy {
            m.insert("shd".into(), a.shd as f64);
            m.insert("tpr".into(), a.tpr);
            m.insert("fdr".into(), a.fdr);
            m.insert("fpr".into(), a.fpr);
            m.insert("nnz".into(), a.nnz as f64);
        }
        m
    }
}

/// `w` with every entry `|w_ij| < t` set to 0 (the papers' edge threshold).
pub fn threshold(w: Vec<f64>, t: f64) -> Vec<f64> {
    w.into_iter()
        .map(|v| if v.abs() < t { 0.0 } else { v })
        .collect()
}

/// Measure a thresholded output `w` (and its raw version) on a problem.
pub fn evaluate(w: &[f64], raw: &[f64], problem: &DagProblem, score: &Score) -> Result<DagReport> {
    let d = problem.data.d;
    let b = support(w, f64::MIN_POSITIVE);
    let ls = score.fit_as(ScoreKind::Ls, w).0;
    let ls_refit = score
        .refit(w)
        .ok()
        .map(|r| score.fit_as(ScoreKind::Ls, &r).0);
    // The likelihood scores' log det is undefined for some cyclic W: report the fit term then.
    let value = |w: &[f64]| match score.value_grad(w) {
        Ok((f, _)) => f,
        Err(_) => score.fit(w).0,
    };
    Ok(DagReport {
        score: value(w),
        score_raw: value(raw),
        ls,
        ls_refit,
        is_dag: is_dag(&b, d),
        accuracy: problem.truth.as_ref().map(|t| count_accuracy(t, &b, d)),
    })
}
