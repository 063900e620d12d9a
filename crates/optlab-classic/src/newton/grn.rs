//! Gradient-regularized Newton with approximate Hessians and an adaptive search for the
//! gradient-normalized smoothness gamma.
//!
//! Semenov, Jaggi, Doikov, "Gradient-Normalized Smoothness for Optimization with Approximate
//! Hessians" (arXiv 2506.13710, ICLR 2026), Algorithm 1 (numerical-optimizers.md §1.3). Per
//! iteration, with `H_k` exact or approximate (computed once) and the metric `B`:
//!
//! ```text
//! repeat:  lambda_k = ||g_k||_* / (gamma_k + eps)
//!          solve (H_k + lambda_k B) delta = -g_k           (Cholesky)
//!          accept iff f(x_k) - f(x_k + delta) >= ||∇f(x_k + delta)||_*^2 / (8 lambda_k)
//!          accept: gamma_{k+1} = max(2 gamma_k, gamma_min); reject: gamma_k /= 2
//! ```
//!
//! Deviations from the official code (epfml/grad-norm-smooth), both safeguards the paper
//! does not need: when all `max_trials` trials fail, the official code applies the last trial
//! step anyway; here the iterate is kept and the run stops with status `Stalled("search
//! exhausted")`. When the Cholesky factorization fails (indefinite `H`, e.g. the exact
//! Rosenbrock Hessian), the official code reuses a stale step; here the trial counts as
//! rejected (gamma halves, so lambda grows until `H + lambda B` is positive definite).

use super::common::{SmoothState, Stopping, check_positive, converged, metric_for, metrics};
use optlab_core::config::at_least_one;
use optlab_core::driver::StepReport;
use optlab_core::{Error, MethodConfig, OracleCounts, Result, RunContext, Solver, Status};
use optlab_linalg::{Cholesky, Metric};
use optlab_problems::{Counted, HessianKind};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// GRN configuration. Defaults are the paper's / official code's (§1.3).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrnConfig {
    /// Curvature matrix: `exact`, `gauss-newton`, `fisher` or `bohning`.
    pub hessian: HessianKind,
    /// Initial gamma (1).
    pub gamma0: f64,
    /// Floor for gamma after an accepted step (1e-9).
    pub gamma_min: f64,
    /// eps in lambda = ||g||_* / (gamma + eps) (1e-8).
    pub eps: f64,
    /// Trials per iteration before the search is declared exhausted (40).
    pub max_trials: u64,
    /// Use the problem's metric B (LogSumExp: sum a_i a_i^T) instead of I.
    pub use_metric: bool,
    /// Stop when ||∇f||_2 <= grad_tol.
    pub grad_tol: f64,
    /// Stop when f - f* <= f_tol (if f* is known; 0 = off).
    pub f_tol: f64,
    /// Iteration limit (1000).
    pub max_iters: u64,
    /// Wall-time limit in seconds (0 = none).
    pub max_time_s: f64,
}

impl Default for GrnConfig {
    fn default() -> Self {
        GrnConfig {
            hessian: HessianKind::Exact,
            gamma0: 1.0,
            gamma_min: 1e-9,
            eps: 1e-8,
            max_trials: 40,
            use_metric: false,
            grad_tol: 1e-8,
            f_tol: 0.0,
            max_iters: 1000,
            max_time_s: 0.0,
        }
    }
}

impl GrnConfig {
    /// The shared stopping rules.
    pub fn stopping(&self) -> Stopping {
        Stopping {
            grad_tol: self.grad_tol,
            f_tol: self.f_tol,
            max_iters: self.max_iters,
            max_time_s: self.max_time_s,
        }
    }
}

impl MethodConfig for GrnConfig {
    fn validate(&self) -> Result<()> {
        check_positive("gamma0", self.gamma0)?;
        check_positive("gamma_min", self.gamma_min)?;
        check_positive("eps", self.eps)?;
        at_least_one("max_trials", self.max_trials)?;
        self.stopping().validate()
    }
}

/// The solver.
#[derive(Debug)]
pub struct Grn {
    cfg: GrnConfig,
    problem: Counted,
    metric: Metric,
    f_star: Option<f64>,
}

impl Grn {
    /// Check the config against the problem.
    pub fn new(cfg: GrnConfig, problem: Counted) -> Result<Self> {
        cfg.validate()?;
        if !problem.inner().hessian_kinds().contains(&cfg.hessian) {
            return Err(optlab_problems::oracle::unsupported(
                problem.inner().name(),
                cfg.hessian,
            ));
        }
        let metric = metric_for(&problem, cfg.use_metric)?;
        let f_star = problem.inner().known_minimum();
        Ok(Grn {
            cfg,
            problem,
            metric,
            f_star,
        })
    }
}

impl Solver for Grn {
    type State = SmoothState;

    fn init(&mut self, _ctx: &mut RunContext) -> Result<SmoothState> {
        let x0 = self.problem.inner().x0();
        SmoothState::start(&mut self.problem, x0, self.cfg.gamma0)
    }

    fn restore(&mut self, s: &SmoothState) -> Result<()> {
        self.problem.set_counts(s.counts.clone());
        Ok(())
    }

    fn initial_metrics(&mut self, s: &SmoothState) -> BTreeMap<String, f64> {
        metrics(s, "gamma", self.f_star)
    }

    fn converged(&self, s: &SmoothState) -> Option<Status> {
        converged(s, &self.cfg.stopping(), self.f_star)
    }

    fn step(&mut self, s: &mut SmoothState, _ctx: &mut RunContext) -> Result<StepReport> {
        let h = self.problem.hessian(&s.x, self.cfg.hessian)?;
        let g_dual = self.metric.dual_norm(&s.g);
        let n = s.x.len();
        let mut g_new = vec![0.0; n];
        let mut x_new = vec![0.0; n];
        for trial in 1..=self.cfg.max_trials {
            let lambda = g_dual / (s.param + self.cfg.eps);
            let reg = self.metric.regularize(&h, lambda);
            self.problem.add("factorization", 1);
            let Ok(chol) = Cholesky::new(&reg) else {
                s.param /= 2.0;
                continue;
            };
            let delta = chol.solve(&s.g);
            for i in 0..n {
                x_new[i] = s.x[i] - delta[i];
            }
            let f_new = self.problem.value_grad(&x_new, &mut g_new);
            if !f_new.is_finite() || g_new.iter().any(|v| !v.is_finite()) {
                s.counts = self.problem.counts().clone();
                return Err(Error::Numerical(format!(
                    "f or ∇f is not finite at a trial point (trial {trial})"
                )));
            }
            let gn_dual = self.metric.dual_norm(&g_new);
            if s.f - f_new >= gn_dual * gn_dual / (8.0 * lambda) {
                s.x.copy_from_slice(&x_new);
                s.g.copy_from_slice(&g_new);
                s.f = f_new;
                s.param = (2.0 * s.param).max(self.cfg.gamma_min);
                s.trials = trial;
                s.last_reg = lambda;
                s.counts = self.problem.counts().clone();
                return Ok(StepReport::go(metrics(s, "gamma", self.f_star)));
            }
            s.param /= 2.0;
        }
        s.trials = self.cfg.max_trials;
        s.counts = self.problem.counts().clone();
        Ok(StepReport {
            metrics: metrics(s, "gamma", self.f_star),
            stop: Some(Status::Stalled {
                reason: format!("search exhausted: {} trials rejected", self.cfg.max_trials),
            }),
        })
    }

    fn is_finite(&self, s: &SmoothState) -> bool {
        s.finite()
    }

    fn value(&self, s: &SmoothState) -> Option<f64> {
        Some(s.f)
    }

    fn counts(&self, s: &SmoothState) -> OracleCounts {
        s.counts.clone()
    }

    fn extra(&mut self, s: &SmoothState) -> BTreeMap<String, f64> {
        let mut m = BTreeMap::from([("grad_norm".to_string(), optlab_linalg::norm2(&s.g))]);
        if let Some(fs) = self.f_star {
            m.insert("gap".into(), s.f - fs);
        }
        m
    }
}
