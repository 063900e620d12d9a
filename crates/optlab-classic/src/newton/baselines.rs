//! The baselines GRN is compared with (numerical-optimizers.md §1.3, "companion methods"):
//! the gradient method and the fast gradient method with Armijo-type L doubling/halving,
//! cubic Newton with an adaptive H (Nesterov–Polyak), super-universal Newton (Doikov,
//! Mishchenko, Nesterov 2024), and textbook Newton with a backtracking line search.

use super::common::{SmoothState, Stopping, check_positive, converged, metric_for, metrics};
use optlab_core::config::{at_least_one, in_unit_interval};
use optlab_core::driver::StepReport;
use optlab_core::{Error, MethodConfig, OracleCounts, Result, RunContext, Solver, Status};
use optlab_linalg::faer::Mat;
use optlab_linalg::{Cholesky, Metric, dot, matvec};
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
    CubicNewton(CubicNewtonConfig),
    Fgm(FgmConfig),
}

/// Fast gradient method (Nesterov's estimate sequences, "similar triangles" form) with the
/// same L doubling/halving: `a = (1 + sqrt(1 + 4 A L)) / (2L)`, `y = (a v + A x)/(a + A)`,
/// `T = y - B^-1 ∇f(y) / L`, accept iff `f(T) <= f(y) + <∇f(y), T - y> + L/2 ||T - y||_B²`
/// (then `L = max(L/2, L_min)`, else `L *= 2`); `v = T + (A/a)(T - x)`, `A += a`, `x = T`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FgmConfig {
    /// Initial L (1).
    pub l0: f64,
    /// Floor for L (1e-5, the reference code's).
    pub l_min: f64,
    /// Trials per iteration (30).
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
stopping_fields!(FgmConfig);

impl Default for FgmConfig {
    fn default() -> Self {
        FgmConfig {
            l0: 1.0,
            l_min: 1e-5,
            max_trials: 30,
            use_metric: false,
            grad_tol: 1e-8,
            f_tol: 0.0,
            max_iters: 20_000,
            max_time_s: 0.0,
        }
    }
}

impl MethodConfig for FgmConfig {
    fn validate(&self) -> Result<()> {
        check_positive("l0", self.l0)?;
        check_positive("l_min", self.l_min)?;
        at_least_one("max_trials", self.max_trials)?;
        self.stopping().validate()
    }
}

/// Cubic Newton (Nesterov–Polyak) with an adaptive H: the step minimizes the model
/// `m(h) = <g, h> + ½<∇²f h, h> + (H/6)||h||_B³` (found by Newton on the secular equation
/// `r = ||(∇²f + (H/2) r B)^-1 g||_B`), accepted iff `f(x + h) <= f(x) + m(h)`; accept:
/// `H = max(H/2, H_min)`, reject: `H *= 2`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CubicNewtonConfig {
    /// Initial H (1).
    pub h0: f64,
    /// Floor for H (1e-5).
    pub h_min: f64,
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
stopping_fields!(CubicNewtonConfig);

impl Default for CubicNewtonConfig {
    fn default() -> Self {
        CubicNewtonConfig {
            h0: 1.0,
            h_min: 1e-5,
            max_trials: 40,
            use_metric: false,
            grad_tol: 1e-8,
            f_tol: 0.0,
            max_iters: 1000,
            max_time_s: 0.0,
        }
    }
}

impl MethodConfig for CubicNewtonConfig {
    fn validate(&self) -> Result<()> {
        check_positive("h0", self.h0)?;
        check_positive("h_min", self.h_min)?;
        at_least_one("max_trials", self.max_trials)?;
        self.stopping().validate()
    }
}

/// The minimizer `h` of `<g, h> + ½<A h, h> + (M/3)||h||_B³` (global, also for an indefinite
/// `A`) and the model's value there: `h = -(A + M r B)^-1 g` with `r = ||h||_B` the root of
/// `φ(r) = r - ||(A + M r B)^-1 g||_B`, increasing and concave where `A + M r B` is positive
/// definite. `r` is doubled from 1 (and while the shifted matrix is not positive definite)
/// until `φ(r) >= 0`; then safeguarded Newton: Newton steps inside the bracket
/// `(lo, hi)` (`φ(hi) >= 0`, `lo` infeasible or `φ(lo) < 0`), bisection when a step leaves
/// it or lands where the shifted matrix is not positive definite. Returns the step, the model
/// value and the number of Cholesky factorizations. In the "hard case" (`g` orthogonal to the
/// eigenvector of `A`'s smallest eigenvalue, `φ` has no root where the shift is positive
/// definite) the bracket closes at the feasibility boundary and the step there is returned: a
/// step along which the model decreases, not its global minimizer (no eigenvector component is
/// added). `None` if 100 doublings find no `r` with `φ(r) >= 0`, or if 100 Newton/bisection
/// steps (or more than 200 factorizations) do not settle.
pub fn cubic_step(
    g: &[f64],
    a: &Mat<f64>,
    m: f64,
    metric: &Metric,
) -> Option<(Vec<f64>, f64, u64)> {
    let n = g.len();
    if g.iter().all(|v| *v == 0.0) {
        return Some((vec![0.0; n], 0.0, 0));
    }
    let facts = std::cell::Cell::new(0u64);
    // The factor, the step `t`, `B t` and `||t||_B` at `r`.
    let solve = |r: f64| -> Option<(Cholesky, Vec<f64>, Vec<f64>, f64)> {
        facts.set(facts.get() + 1);
        let chol = Cholesky::new(&metric.regularize(a, m * r)).ok()?;
        let t: Vec<f64> = chol.solve(g).iter().map(|v| -v).collect();
        let bt = metric.apply(&t);
        let tn = dot(&t, &bt).max(0.0).sqrt();
        Some((chol, t, bt, tn))
    };
    let model = |t: &[f64], tn: f64| dot(g, t) + 0.5 * dot(&matvec(a, t), t) + m * tn.powi(3) / 3.0;
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    let mut cur = None;
    for _ in 0..100 {
        match solve(hi) {
            Some((chol, t, bt, tn)) if hi - tn >= 0.0 => {
                cur = Some((hi, chol, t, bt, tn));
                break;
            }
            _ => {
                lo = hi;
                hi *= 2.0;
            }
        }
    }
    let (mut r, mut chol, mut t, mut bt, mut tn) = cur?;
    for _ in 0..100 {
        let phi = r - tn;
        if phi.abs() <= 1e-13 * r || hi - lo <= 1e-15 * hi {
            let v = model(&t, tn);
            return Some((t, v, facts.get()));
        }
        let dphi = 1.0 + m / tn * dot(&chol.solve(&bt), &bt);
        let newton = r - phi / dphi;
        let mut next = if newton > lo && newton < hi {
            newton
        } else {
            0.5 * (lo + hi)
        };
        loop {
            match solve(next) {
                Some((c, tt, btt, ttn)) => {
                    if next - ttn >= 0.0 {
                        hi = next;
                    } else {
                        lo = next;
                    }
                    (r, chol, t, bt, tn) = (next, c, tt, btt, ttn);
                    break;
                }
                None => {
                    // Not positive definite: the root lies to the right.
                    lo = next;
                    next = 0.5 * (lo + hi);
                    if facts.get() > 200 {
                        return None;
                    }
                }
            }
        }
    }
    None
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

    /// Cubic Newton with adaptive H (exact Hessian).
    pub fn cubic_newton(cfg: CubicNewtonConfig, problem: Counted) -> Result<Self> {
        cfg.validate()?;
        let metric = metric_for(&problem, cfg.use_metric)?;
        Ok(Self::make(
            Kind::CubicNewton(cfg),
            problem,
            metric,
            cfg.stopping(),
        ))
    }

    /// Fast gradient method.
    pub fn fgm(cfg: FgmConfig, problem: Counted) -> Result<Self> {
        cfg.validate()?;
        let metric = metric_for(&problem, cfg.use_metric)?;
        Ok(Self::make(Kind::Fgm(cfg), problem, metric, cfg.stopping()))
    }

    /// The driver's limits (the config's stopping rules).
    pub fn termination(&self) -> optlab_core::Termination {
        self.stop.termination()
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
            Kind::Gd(_) | Kind::Fgm(_) => "L",
            Kind::SuperNewton(_) | Kind::CubicNewton(_) => "H",
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

    /// `f(x)` and `∇f(x)` into `g`; a non-finite value or gradient is the run's
    /// `NumericalFailure` (the last iterate kept).
    fn value_grad_finite(&mut self, s: &mut SmoothState, x: &[f64], g: &mut [f64]) -> Result<f64> {
        let f = self.problem.value_grad(x, g);
        if !f.is_finite() || g.iter().any(|v| !v.is_finite()) {
            return Err(self.non_finite(s));
        }
        Ok(f)
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
            Kind::Fgm(c) => c.l0,
            Kind::SuperNewton(c) => c.h0,
            Kind::CubicNewton(c) => c.h0,
            Kind::NewtonLs(_) => 0.0,
        };
        let mut s = SmoothState::start(&mut self.problem, x0, p0)?;
        if matches!(self.kind, Kind::Fgm(_)) {
            s.v = s.x.clone();
        }
        Ok(s)
    }

    fn restore(&mut self, s: &SmoothState) -> Result<()> {
        if matches!(self.kind, Kind::Fgm(_)) && s.v.len() != s.x.len() {
            return Err(Error::Checkpoint(format!(
                "fast gradient method: the checkpoint's `v` has {} entries, `x` has {} (a \
                 checkpoint of another method?)",
                s.v.len(),
                s.x.len()
            )));
        }
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
                    let f_new = self.value_grad_finite(s, &x_new, &mut g_new)?;
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
            Kind::CubicNewton(cfg) => {
                let h = self.problem.hessian(&s.x, HessianKind::Exact)?;
                for trial in 1..=cfg.max_trials {
                    let Some((d, model, facts)) = cubic_step(&s.g, &h, s.param / 2.0, &self.metric)
                    else {
                        return Err(Error::Numerical(
                            "cubic Newton: the secular equation has no root found (hard case)"
                                .into(),
                        ));
                    };
                    self.problem.add("factorization", facts);
                    let x_new = step_point(&s.x, &d, 1.0);
                    let f_new = self.problem.value(&x_new);
                    if f_new.is_nan() {
                        return Err(self.non_finite(s));
                    }
                    if f_new <= s.f + model {
                        let f_new = self.value_grad_finite(s, &x_new, &mut g_new)?;
                        let used = s.param;
                        s.param = (s.param / 2.0).max(cfg.h_min);
                        self.accept(s, x_new, f_new, g_new, trial, used);
                        return Ok(StepReport::go(metrics(s, "H", self.f_star)));
                    }
                    s.param *= 2.0;
                }
                self.exhausted(s, cfg.max_trials)
            }
            Kind::Fgm(cfg) => {
                let mut g_y = vec![0.0; n];
                for trial in 1..=cfg.max_trials {
                    let l = s.param;
                    let a = (1.0 + (1.0 + 4.0 * s.a_sum * l).sqrt()) / (2.0 * l);
                    let y: Vec<f64> =
                        s.v.iter()
                            .zip(&s.x)
                            .map(|(v, x)| (a * v + s.a_sum * x) / (a + s.a_sum))
                            .collect();
                    let f_y = self.value_grad_finite(s, &y, &mut g_y)?;
                    let dir = self.metric.inverse_apply(&g_y);
                    let t = step_point(&y, &dir, -1.0 / l);
                    let f_t = self.problem.value(&t);
                    if f_t.is_nan() {
                        return Err(self.non_finite(s));
                    }
                    let dt: Vec<f64> = t.iter().zip(&y).map(|(a, b)| a - b).collect();
                    let bound = f_y + dot(&g_y, &dt) + 0.5 * l * dot(&dt, &self.metric.apply(&dt));
                    if f_t <= bound {
                        let f_t = self.value_grad_finite(s, &t, &mut g_new)?;
                        s.param = (l / 2.0).max(cfg.l_min);
                        let ratio = s.a_sum / a;
                        s.v = t
                            .iter()
                            .zip(&s.x)
                            .map(|(tj, xj)| tj + ratio * (tj - xj))
                            .collect();
                        s.a_sum += a;
                        self.accept(s, t, f_t, g_new, trial, 1.0 / l);
                        return Ok(StepReport::go(metrics(s, "L", self.f_star)));
                    }
                    s.param *= 2.0;
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
