//! The baselines GRN is compared with (numerical-optimizers.md §1.3, "companion methods"):
//! the gradient method with Armijo-type L doubling/halving, super-universal Newton
//! (Doikov, Mishchenko, Nesterov 2024), and textbook Newton with a backtracking line search.

use super::common::{SmoothState, Stopping, check_positive, converged, metric_for, metrics};
use optlab_core::config::{at_least_one, in_unit_interval};
use optlab_core::driver::StepReport;
use optlab_core::{Error, MethodConfig, OracleCounts, Result, RunContext, Solver, Status};
use optlab_linalg::{Cholesky, Metric, dot};
use optlab_problems::{Counted, HessianKind};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

macro_rules! stopping_fields {
    ($t:ty) => {
        impl $t {
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
    };
}

/// Which baseline.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Gd(GdConfig),
    SuperNewton(SuperNewtonConfig),
    NewtonLs(NewtonLsConfig),
}

/// Gradient method: `x+ = x - B^-1 g / L`, accept iff `f(x+) <= f(x) - ||g||_*^2 / (2L)`;
/// on reject `L *= 2`, on accept `L /= 2` for the next iteration.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GdConfig {
    /// Initial L (1).
    pub l0: f64,
    /// Trials per iteration (60).
    pub max_trials: u64,
    /// Use the problem's metric B.
    pub use_metric: bool,
    /// Stop when ||∇f||_2 <= grad_tol.
    pub grad_tol: f64,
    /// Stop when f - f* <= f_tol (0 = off).
    pub f_tol: f64,
    /// Iteration limit (20000).
    pub max_iters: u64,
    /// Wall-time limit (0 = none).
    pub max_time_s: f64,
}
stopping_fields!(GdConfig);

impl Default for GdConfig {
    fn default() -> Self {
        GdConfig {
            l0: 1.0,
            max_trials: 60,
            use_metric: false,
            grad_tol: 1e-8,
            f_tol: 0.0,
            max_iters: 20_000,
            max_time_s: 0.0,
        }
    }
}

impl MethodConfig for GdConfig {
    fn validate(&self) -> Result<()> {
        check_positive("l0", self.l0)?;
        at_least_one("max_trials", self.max_trials)?;
        self.stopping().validate()
    }
}

/// Super-universal Newton: `lambda = H ||g||_*^alpha`, solve `(∇²f + lambda B) d = -g`,
/// accept iff `<∇f(x+d), -d> >= ||∇f(x+d)||_*^2 / (4 lambda)`; accept: `H = max(H/4, H_min)`,
/// reject: `H *= 4`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuperNewtonConfig {
    /// Initial H (1).
    pub h0: f64,
    /// Floor for H (1e-5).
    pub h_min: f64,
    /// Exponent alpha in [0, 1) (2/3, the super-universal choice).
    pub alpha: f64,
    /// Trials per iteration (40).
    pub max_trials: u64,
    /// Use the problem's metric B.
    pub use_metric: bool,
    /// Stop when ||∇f||_2 <= grad_tol.
    pub grad_tol: f64,
    /// Stop when f - f* <= f_tol (0 = off).
    pub f_tol: f64,
    /// Iteration limit (1000).
    pub max_iters: u64,
    /// Wall-time limit (0 = none).
    pub max_time_s: f64,
}
stopping_fields!(SuperNewtonConfig);

impl Default for SuperNewtonConfig {
    fn default() -> Self {
        SuperNewtonConfig {
            h0: 1.0,
            h_min: 1e-5,
            alpha: 2.0 / 3.0,
            max_trials: 40,
            use_metric: false,
            grad_tol: 1e-8,
            f_tol: 0.0,
            max_iters: 1000,
            max_time_s: 0.0,
        }
    }
}

impl MethodConfig for SuperNewtonConfig {
    fn validate(&self) -> Result<()> {
        check_positive("h0", self.h0)?;
        check_positive("h_min", self.h_min)?;
        in_unit_interval("alpha", self.alpha)?;
        at_least_one("max_trials", self.max_trials)?;
        self.stopping().validate()
    }
}

/// Newton with a backtracking (Armijo) line search; the Hessian is shifted by `tau I`
/// (tau doubling from 1e-8) until it is positive definite.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewtonLsConfig {
    /// Armijo constant c in f(x + t d) <= f + c t <g, d> (1e-4).
    pub c: f64,
    /// Backtracking halvings allowed (60).
    pub max_trials: u64,
    /// Stop when ||∇f||_2 <= grad_tol.
    pub grad_tol: f64,
    /// Stop when f - f* <= f_tol (0 = off).
    pub f_tol: f64,
    /// Iteration limit (1000).
    pub max_iters: u64,
    /// Wall-time limit (0 = none).
    pub max_time_s: f64,
}
stopping_fields!(NewtonLsConfig);

impl Default for NewtonLsConfig {
    fn default() -> Self {
        NewtonLsConfig {
            c: 1e-4,
            max_trials: 60,
            grad_tol: 1e-8,
            f_tol: 0.0,
            max_iters: 1000,
            max_time_s: 0.0,
        }
    }
}

impl MethodConfig for NewtonLsConfig {
    fn validate(&self) -> Result<()> {
        in_unit_interval("c", self.c)?;
        check_positive("c", self.c)?;
        at_least_one("max_trials", self.max_trials)?;
        self.stopping().validate()
    }
}

/// One of the baselines, driven by [`optlab_core::Driver`].
#[derive(Debug)]
pub struct Baseline {
    kind: Kind,
    problem: Counted,
    metric: Metric,
    f_star: Option<f64>,
    stop: Stopping,
}

impl Baseline {
    /// Gradient method.
    pub fn gd(cfg: GdConfig, problem: Counted) -> Result<Self> {
        cfg.validate()?;
        let metric = metric_for(&problem, cfg.use_metric)?;
        Ok(Self::make(Kind::Gd(cfg), problem, metric, cfg.stopping()))
    }

    /// Super-universal Newton (exact Hessian).
    pub fn super_newton(cfg: SuperNewtonConfig, problem: Counted) -> Result<Self> {
        cfg.validate()?;
        let metric = metric_for(&problem, cfg.use_metric)?;
        Ok(Self::make(
            Kind::SuperNewton(cfg),
            problem,
            metric,
            cfg.stopping(),
        ))
    }

    /// Newton with line search (exact Hessian).
    pub fn newton_ls(cfg: NewtonLsConfig, problem: Counted) -> Result<Self> {
        cfg.validate()?;
        Ok(Self::make(
            Kind::NewtonLs(cfg),
            problem,
            Metric::Identity,
            cfg.stopping(),
        ))
    }

    fn make(kind: Kind, problem: Counted, metric: Metric, stop: Stopping) -> Self {
        let f_star = problem.inner().known_minimum();
        Baseline {
            kind,
            problem,
            metric,
            f_star,
            stop,
        }
    }

    fn param_name(&self) -> &'static str {
        match self.kind {
            Kind::Gd(_) => "L",
            Kind::SuperNewton(_) => "H",
            Kind::NewtonLs(_) => "tau",
        }
    }

    fn accept(
        &mut self,
        s: &mut SmoothState,
        x: Vec<f64>,
        f: f64,
        g: Vec<f64>,
        trials: u64,
        reg: f64,
    ) {
        s.x = x;
        s.f = f;
        s.g = g;
        s.trials = trials;
        s.last_reg = reg;
        s.counts = self.problem.counts().clone();
    }

    fn exhausted(&mut self, s: &mut SmoothState, trials: u64) -> Result<StepReport> {
        s.trials = trials;
        s.counts = self.problem.counts().clone();
        Ok(StepReport {
            metrics: metrics(s, self.param_name(), self.f_star),
            stop: Some(Status::Stalled {
                reason: format!("search exhausted: {trials} trials rejected"),
            }),
        })
    }

    fn non_finite(&mut self, s: &mut SmoothState) -> Error {
        s.counts = self.problem.counts().clone();
        Error::Numerical("f or ∇f is not finite at a trial point".into())
    }
}

fn step_point(x: &[f64], d: &[f64], t: f64) -> Vec<f64> {
    x.iter().zip(d).map(|(a, b)| a + t * b).collect()
}

impl Solver for Baseline {
    type State = SmoothState;

    fn init(&mut self, _ctx: &mut RunContext) -> Result<SmoothState> {
        let x0 = self.problem.inner().x0();
        let p0 = match self.kind {
            Kind::Gd(c) => c.l0,
            Kind::SuperNewton(c) => c.h0,
            Kind::NewtonLs(_) => 0.0,
        };
        SmoothState::start(&mut self.problem, x0, p0)
    }

    fn restore(&mut self, s: &SmoothState) -> Result<()> {
        self.problem.set_counts(s.counts.clone());
        Ok(())
    }

    fn initial_metrics(&mut self, s: &SmoothState) -> BTreeMap<String, f64> {
        metrics(s, self.param_name(), self.f_star)
    }

    fn converged(&self, s: &SmoothState) -> Option<Status> {
        converged(s, &self.stop, self.f_star)
    }

    fn step(&mut self, s: &mut SmoothState, _ctx: &mut RunContext) -> Result<StepReport> {
        let n = s.x.len();
        let mut g_new = vec![0.0; n];
        match self.kind {
            Kind::Gd(cfg) => {
                let dir: Vec<f64> = self.metric.inverse_apply(&s.g).iter().map(|v| -v).collect();
                let g_dual2 = -dot(&s.g, &dir);
                for trial in 1..=cfg.max_trials {
                    let x_new = step_point(&s.x, &dir, 1.0 / s.param);
                    let f_new = self.problem.value(&x_new);
                    if f_new.is_finite() && f_new <= s.f - g_dual2 / (2.0 * s.param) {
                        let f_new = self.problem.value_grad(&x_new, &mut g_new);
                        if g_new.iter().any(|v| !v.is_finite()) {
                            return Err(self.non_finite(s));
                        }
                        let step = 1.0 / s.param;
                        s.param /= 2.0;
                        self.accept(s, x_new, f_new, g_new, trial, step);
                        return Ok(StepReport::go(metrics(s, "L", self.f_star)));
                    }
                    if !f_new.is_finite() && f_new != f64::INFINITY {
                        return Err(self.non_finite(s));
                    }
                    s.param *= 2.0;
                }
                self.exhausted(s, cfg.max_trials)
            }
            Kind::SuperNewton(cfg) => {
                let h = self.problem.hessian(&s.x, HessianKind::Exact)?;
                let g_dual = self.metric.dual_norm(&s.g);
                for trial in 1..=cfg.max_trials {
                    let lambda = s.param * g_dual.powf(cfg.alpha);
                    self.problem.add("factorization", 1);
                    let Ok(chol) = Cholesky::new(&self.metric.regularize(&h, lambda)) else {
                        s.param *= 4.0;
                        continue;
                    };
                    let d: Vec<f64> = chol.solve(&s.g).iter().map(|v| -v).collect();
                    let x_new = step_point(&s.x, &d, 1.0);
                    let f_new = self.problem.value_grad(&x_new, &mut g_new);
                    if !f_new.is_finite() || g_new.iter().any(|v| !v.is_finite()) {
                        return Err(self.non_finite(s));
                    }
                    let gn = self.metric.dual_norm(&g_new);
                    if -dot(&g_new, &d) >= gn * gn / (4.0 * lambda) {
                        s.param = (s.param / 4.0).max(cfg.h_min);
                        self.accept(s, x_new, f_new, g_new.clone(), trial, lambda);
                        return Ok(StepReport::go(metrics(s, "H", self.f_star)));
                    }
                    s.param *= 4.0;
                }
                self.exhausted(s, cfg.max_trials)
            }
            Kind::NewtonLs(cfg) => {
                let h = self.problem.hessian(&s.x, HessianKind::Exact)?;
                let mut tau = 0.0;
                let chol = loop {
                    self.problem.add("factorization", 1);
                    match Cholesky::new(&Metric::Identity.regularize(&h, tau)) {
                        Ok(c) => break c,
                        Err(_) if tau < 1e12 => tau = if tau == 0.0 { 1e-8 } else { 2.0 * tau },
                        Err(_) => return Err(Error::Numerical("Hessian shift diverged".into())),
                    }
                };
                s.param = tau;
                let d: Vec<f64> = chol.solve(&s.g).iter().map(|v| -v).collect();
                let slope = dot(&s.g, &d);
                let mut t = 1.0;
                for trial in 1..=cfg.max_trials {
                    let x_new = step_point(&s.x, &d, t);
                    let f_new = self.problem.value(&x_new);
                    if f_new.is_finite() && f_new <= s.f + cfg.c * t * slope {
                        let f_new = self.problem.value_grad(&x_new, &mut g_new);
                        if g_new.iter().any(|v| !v.is_finite()) {
                            return Err(self.non_finite(s));
                        }
                        self.accept(s, x_new, f_new, g_new, trial, t);
                        return Ok(StepReport::go(metrics(s, "tau", self.f_star)));
                    }
                    if f_new.is_nan() {
                        return Err(self.non_finite(s));
                    }
                    t /= 2.0;
                }
                self.exhausted(s, cfg.max_trials)
            }
        }
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
