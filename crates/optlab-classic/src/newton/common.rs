//! What the smooth solvers share: the resumable state, stopping rules, metrics.

use optlab_core::config::{at_least_one, non_negative, positive};
use optlab_core::{Error, OracleCounts, Result, Status};
use optlab_linalg::{Metric, norm2};
use optlab_problems::Counted;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Stopping rules shared by every smooth solver.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stopping {
    /// Stop when `||∇f(x)||_2 <= grad_tol` (Euclidean, so methods compare fairly).
    pub grad_tol: f64,
    /// Also stop when `f - f* <= f_tol`, if the problem knows `f*` (0: off).
    pub f_tol: f64,
    /// Iteration limit.
    pub max_iters: u64,
    /// Wall-time limit in seconds (0: none).
    pub max_time_s: f64,
}

impl Stopping {
    /// Validate the shared fields.
    pub fn validate(&self) -> Result<()> {
        non_negative("grad_tol", self.grad_tol)?;
        non_negative("f_tol", self.f_tol)?;
        at_least_one("max_iters", self.max_iters)?;
        non_negative("max_time_s", self.max_time_s)
    }

    /// The driver's termination.
    pub fn termination(&self) -> optlab_core::Termination {
        optlab_core::Termination::limits(self.max_iters, self.max_time_s)
    }
}

/// State of a smooth solver: iterate, value, gradient, the adaptive parameter, counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SmoothState {
    /// Iterate.
    pub x: Vec<f64>,
    /// `f(x)`.
    pub f: f64,
    /// `∇f(x)`.
    pub g: Vec<f64>,
    /// The adaptive parameter (GRN's gamma, the gradient method's L, super-Newton's H).
    pub param: f64,
    /// Trials used by the last step.
    pub trials: u64,
    /// Regularization (or step size) of the last accepted step.
    pub last_reg: f64,
    /// Oracle counts.
    pub counts: OracleCounts,
    /// The fast gradient method's estimate-sequence point `v_k` (empty for other methods).
    #[serde(default)]
    pub v: Vec<f64>,
    /// The fast gradient method's accumulated weight `A_k` (0 for other methods).
    #[serde(default)]
    pub a_sum: f64,
}

impl SmoothState {
    /// Start at `x0`.
    pub fn start(p: &mut Counted, x0: Vec<f64>, param: f64) -> Result<Self> {
        let mut g = vec![0.0; x0.len()];
        let f = p.value_grad(&x0, &mut g);
        if !f.is_finite() || g.iter().any(|v| !v.is_finite()) {
            return Err(Error::Numerical(
                "f or ∇f is not finite at the starting point".into(),
            ));
        }
        Ok(SmoothState {
            x: x0,
            f,
            g,
            param,
            trials: 0,
            last_reg: f64::NAN,
            counts: p.counts().clone(),
            v: Vec::new(),
            a_sum: 0.0,
        })
    }

    /// All finite.
    pub fn finite(&self) -> bool {
        self.f.is_finite()
            && self.a_sum.is_finite()
            && self
                .x
                .iter()
                .chain(&self.g)
                .chain(&self.v)
                .all(|v| v.is_finite())
    }
}

/// The convergence test.
pub fn converged(s: &SmoothState, stop: &Stopping, f_star: Option<f64>) -> Option<Status> {
    let gn = norm2(&s.g);
    if gn <= stop.grad_tol {
        return Some(Status::Converged {
            criterion: format!("||grad f||_2 = {gn:.2e} <= {:.0e}", stop.grad_tol),
        });
    }
    if stop.f_tol > 0.0
        && let Some(fs) = f_star
        && s.f - fs <= stop.f_tol
    {
        return Some(Status::Converged {
            criterion: format!("f - f* = {:.2e} <= {:.0e}", s.f - fs, stop.f_tol),
        });
    }
    None
}

/// Per-step metrics (cumulative oracle counts included so plots against calls are possible).
pub fn metrics(s: &SmoothState, param_name: &str, f_star: Option<f64>) -> BTreeMap<String, f64> {
    let mut m = BTreeMap::from([
        ("f".to_string(), s.f),
        ("grad_norm".to_string(), norm2(&s.g)),
        (param_name.to_string(), s.param),
        ("trials".to_string(), s.trials as f64),
    ]);
    if s.last_reg.is_finite() {
        m.insert("reg".into(), s.last_reg);
    }
    for (k, v) in &s.counts.0 {
        m.insert(format!("{k}s"), *v as f64);
    }
    if let Some(fs) = f_star {
        m.insert("gap".into(), (s.f - fs).max(0.0));
    }
    m
}

/// The metric `B` for a solver: the problem's own when asked and available, else `I`.
pub fn metric_for(p: &Counted, use_metric: bool) -> Result<Metric> {
    match (use_metric, p.inner().metric()) {
        (true, Some(b)) => Metric::spd(b).map_err(|_| {
            Error::Numerical(format!(
                "the metric of `{}` is not positive definite",
                p.inner().name()
            ))
        }),
        (true, None) => Err(Error::config(
            "use_metric",
            format!(
                "problem `{}` has no metric; set use_metric = false",
                p.inner().name()
            ),
        )),
        (false, _) => Ok(Metric::Identity),
    }
}

/// Validate a positive parameter shared by the adaptive searches.
pub fn check_positive(field: &str, v: f64) -> Result<()> {
    positive(field, v)
}
