//! Hypergradient methods for `min_x Φ(x) = F(x, y*(x))`, `y*(x) = argmin_y f(x, y)` with a
//! strongly convex lower level: BO-REP and its two baselines, sharing one state and loop so
//! that their oracle counts are comparable.
//!
//! Every method estimates `∇Φ(x) = ∇_x F - ∇²_xy f [∇²_yy f]⁻¹ ∇_y F` from first-order
//! oracles and Hessian/Jacobian-vector products; they differ in how they track `y*(x)`, how
//! they approximate `z = [∇²_yy f]⁻¹ ∇_y F`, and how they step:
//!
//! | | lower level | linear system | upper step |
//! |---|---|---|---|
//! | BO-REP | `N` SGD steps every `I` iterations (after an initial refinement) | one projected SGD step on `z` per iteration | normalized momentum, fixed length `eta` |
//! | StocBiO | `N` SGD steps every iteration | `Q`-term Neumann series | SGD, step `alpha` |
//! | AID-CG | `N` gradient steps every iteration | `K` conjugate-gradient iterations (warm start) | GD, step `alpha` |
//!
//! Oracle counts: `upper_grad` (one call returns `∇_x F` and `∇_y F`), `lower_grad`, `hvp`
//! (`∇²_yy f v`), `jvp` (`∇²_xy f v`); `oracle_calls` is their sum.

use super::{axpy, step_rng};
use optlab_core::config::{at_least_one, in_unit_interval, non_negative, positive};
use optlab_core::driver::{Solver, StepReport, Termination};
use optlab_core::{Error, MethodConfig, OracleCounts, Result, RunContext, Status};
use optlab_linalg::{dot, norm2};
use optlab_problems::bilevel::{Bilevel, Sample, check_dims, draw};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// BO-REP settings. Defaults: the official code's data-cleaning settings (interval 2, 10
/// lower-level steps per refresh, step sizes 5e-2, momentum 0.9, `nu` 1e-2).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BoRepConfig {
    /// Upper-level step length `eta` (`||x_{t+1} - x_t|| = eta` when `normalize`).
    pub eta: f64,
    /// Lower-level SGD step `gamma`.
    pub gamma: f64,
    /// Step `nu` of the `z` update.
    pub nu: f64,
    /// Momentum `beta` in `[0, 1)`.
    pub beta: f64,
    /// Lower-level refresh period `I`.
    pub period: u64,
    /// Lower-level SGD steps per refresh `N`.
    pub lower_steps: u64,
    /// Lower-level SGD steps of the initialization refinement.
    pub init_steps: u64,
    /// Radius `R` of the ball `z` is projected onto (0: no projection, as in the official
    /// code; the paper projects with a radius from its constants).
    pub z_radius: f64,
    /// Normalized upper step (the paper). `false` is the unnormalized ablation
    /// `x -= eta m` (TTSA/momentum-SGD-like), for comparisons at equal step sizes.
    pub normalize: bool,
    /// Mini-batch of upper-level rows (0: all).
    pub batch_upper: usize,
    /// Mini-batch of lower-level rows (0: all).
    pub batch_lower: usize,
    /// Iterations.
    pub max_iter: u64,
    /// Stop when the oracle calls reach this (0: no budget).
    pub max_oracle_calls: u64,
    /// Evaluate the exact objective and the problem's figures every this many iterations.
    pub eval_every: u64,
    /// Wall-time limit in seconds (0: none).
    pub max_time_s: f64,
}

impl Default for BoRepConfig {
    fn default() -> Self {
        BoRepConfig {
            eta: 0.05,
            gamma: 0.05,
            nu: 0.01,
            beta: 0.9,
            period: 2,
            lower_steps: 10,
            init_steps: 100,
            z_radius: 0.0,
            normalize: true,
            batch_upper: 0,
            batch_lower: 0,
            max_iter: 1000,
            max_oracle_calls: 0,
            eval_every: 1,
            max_time_s: 0.0,
        }
    }
}

impl MethodConfig for BoRepConfig {
    fn validate(&self) -> Result<()> {
        positive("eta", self.eta)?;
        positive("gamma", self.gamma)?;
        positive("nu", self.nu)?;
        in_unit_interval("beta", self.beta)?;
        at_least_one("period", self.period)?;
        at_least_one("lower_steps", self.lower_steps)?;
        non_negative("z_radius", self.z_radius)?;
        validate_run(self.max_iter, self.eval_every, self.max_time_s)
    }
}

/// The run limits every hypergradient method shares.
fn validate_run(max_iter: u64, eval_every: u64, max_time_s: f64) -> Result<()> {
    at_least_one("max_iter", max_iter)?;
    at_least_one("eval_every", eval_every)?;
    non_negative("max_time_s", max_time_s)
}

/// StocBiO-style settings (Ji, Yang, Liang 2021): lower level re-solved by `N` SGD steps
/// every iteration (warm start), Neumann-series hypergradient, plain SGD upper step.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StocBioConfig {
    /// Upper-level step `alpha`.
    pub alpha: f64,
    /// Lower-level SGD step.
    pub gamma: f64,
    /// Lower-level SGD steps per iteration `N`.
    pub lower_steps: u64,
    /// Neumann-series terms `Q` (`Q - 1` Hessian-vector products per iteration).
    pub neumann_steps: u64,
    /// Neumann step `eta_n` (needs `eta_n L < 1`).
    pub neumann_eta: f64,
    /// Mini-batch of upper-level rows (0: all).
    pub batch_upper: usize,
    /// Mini-batch of lower-level rows (0: all).
    pub batch_lower: usize,
    /// Iterations.
    pub max_iter: u64,
    /// Stop when the oracle calls reach this (0: no budget).
    pub max_oracle_calls: u64,
    /// Evaluate the exact objective and the problem's figures every this many iterations.
    pub eval_every: u64,
    /// Wall-time limit in seconds (0: none).
    pub max_time_s: f64,
}

impl Default for StocBioConfig {
    fn default() -> Self {
        StocBioConfig {
            alpha: 0.05,
            gamma: 0.05,
            lower_steps: 10,
            neumann_steps: 10,
            neumann_eta: 0.05,
            batch_upper: 0,
            batch_lower: 0,
            max_iter: 1000,
            max_oracle_calls: 0,
            eval_every: 1,
            max_time_s: 0.0,
        }
    }
}

impl MethodConfig for StocBioConfig {
    fn validate(&self) -> Result<()> {
        positive("alpha", self.alpha)?;
        positive("gamma", self.gamma)?;
        positive("neumann_eta", self.neumann_eta)?;
        at_least_one("lower_steps", self.lower_steps)?;
        at_least_one("neumann_steps", self.neumann_steps)?;
        validate_run(self.max_iter, self.eval_every, self.max_time_s)
    }
}

/// AID-CG settings: approximate implicit differentiation, deterministic (full-batch) oracles.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AidCgConfig {
    /// Upper-level step `alpha`.
    pub alpha: f64,
    /// Lower-level gradient step.
    pub gamma: f64,
    /// Lower-level gradient steps per iteration `N` (warm start).
    pub lower_steps: u64,
    /// Conjugate-gradient iterations `K` per iteration (warm start from the previous solve).
    pub cg_steps: u64,
    /// Iterations.
    pub max_iter: u64,
    /// Stop when the oracle calls reach this (0: no budget).
    pub max_oracle_calls: u64,
    /// Evaluate the exact objective and the problem's figures every this many iterations.
    pub eval_every: u64,
    /// Wall-time limit in seconds (0: none).
    pub max_time_s: f64,
}

impl Default for AidCgConfig {
    fn default() -> Self {
        AidCgConfig {
            alpha: 0.05,
            gamma: 0.05,
            lower_steps: 10,
            cg_steps: 10,
            max_iter: 1000,
            max_oracle_calls: 0,
            eval_every: 1,
            max_time_s: 0.0,
        }
    }
}

impl MethodConfig for AidCgConfig {
    fn validate(&self) -> Result<()> {
        positive("alpha", self.alpha)?;
        positive("gamma", self.gamma)?;
        at_least_one("lower_steps", self.lower_steps)?;
        at_least_one("cg_steps", self.cg_steps)?;
        validate_run(self.max_iter, self.eval_every, self.max_time_s)
    }
}

/// Which hypergradient method.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scheme {
    /// BO-REP.
    BoRep(BoRepConfig),
    /// StocBiO-style.
    StocBio(StocBioConfig),
    /// AID with conjugate gradients.
    AidCg(AidCgConfig),
}

impl Scheme {
    fn validate(&self) -> Result<()> {
        match self {
            Scheme::BoRep(c) => c.validate(),
            Scheme::StocBio(c) => c.validate(),
            Scheme::AidCg(c) => c.validate(),
        }
    }

    /// `(max_iter, max_time_s, max_oracle_calls, eval_every, batch_upper, batch_lower)`.
    fn common(&self) -> (u64, f64, u64, u64, usize, usize) {
        match *self {
            Scheme::BoRep(c) => (
                c.max_iter,
                c.max_time_s,
                c.max_oracle_calls,
                c.eval_every,
                c.batch_upper,
                c.batch_lower,
            ),
            Scheme::StocBio(c) => (
                c.max_iter,
                c.max_time_s,
                c.max_oracle_calls,
                c.eval_every,
                c.batch_upper,
                c.batch_lower,
            ),
            Scheme::AidCg(c) => (
                c.max_iter,
                c.max_time_s,
                c.max_oracle_calls,
                c.eval_every,
                0,
                0,
            ),
        }
    }

    /// The driver's limits.
    pub fn termination(&self) -> Termination {
        let (max_iter, max_time_s, ..) = self.common();
        Termination::limits(max_iter, max_time_s)
    }
}

/// Resumable state of a hypergradient method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HypergradState {
    /// Upper-level variable.
    pub x: Vec<f64>,
    /// Lower-level variable.
    pub y: Vec<f64>,
    /// Linear-system variable (`z` of BO-REP, the CG solution of AID, the last Neumann
    /// vector of StocBiO).
    pub z: Vec<f64>,
    /// Momentum (BO-REP).
    pub m: Vec<f64>,
    /// The last hypergradient estimate `h_t`.
    pub h: Vec<f64>,
    /// Iterations done.
    pub t: u64,
    /// Oracle calls.
    pub calls: OracleCounts,
    /// Data rows touched by all oracle calls (a per-sample-gradient measure of work; 0 on
    /// problems without data).
    pub samples: u64,
    /// Exact upper objective `F(x, y)` at the last evaluation.
    pub upper: f64,
    /// Norm of the last hypergradient estimate.
    pub hg_norm: f64,
    /// Run seed (the per-step streams derive from it).
    pub seed: u64,
}

/// BO-REP, StocBiO or AID-CG on a bilevel problem.
pub struct HypergradSolver {
    scheme: Scheme,
    problem: Box<dyn Bilevel>,
}

const SALT_LOWER: u64 = 0x10;
const SALT_UPPER: u64 = 0x20;
const SALT_INIT: u64 = 0x30;

impl HypergradSolver {
    /// A solver; the problem must not have lower-level constraints (use LV-HBA for those).
    pub fn new(scheme: Scheme, problem: Box<dyn Bilevel>) -> Result<Self> {
        scheme.validate()?;
        if problem.n_constraints() > 0 {
            return Err(Error::Mismatch {
                method: "hypergradient methods".into(),
                problem: problem.name(),
                reason: "the lower level has constraints; the implicit hypergradient needs an \
                         unconstrained, strongly convex lower level (use lv-hba)"
                    .into(),
            });
        }
        Ok(HypergradSolver { scheme, problem })
    }

    /// The problem.
    pub fn problem(&self) -> &dyn Bilevel {
        self.problem.as_ref()
    }

    fn batches(&self) -> (usize, usize) {
        let (.., bu, bl) = self.scheme.common();
        (bu, bl)
    }

    /// `steps` lower-level (stochastic) gradient steps on `y`, counted.
    fn lower_sgd(&self, s: &mut HypergradState, steps: u64, gamma: f64, salt: u64) -> Result<()> {
        let (_, bl) = self.batches();
        for k in 0..steps {
            let mut rng = step_rng(s.seed, s.t, salt ^ (k << 8));
            let sample = self.lower_sample(&mut rng, bl);
            let (_, _, gy) = self.problem.lower(&s.x, &s.y, &sample)?;
            axpy(&mut s.y, -gamma, &gy);
            self.problem.project_y(&mut s.y)?;
            s.calls.add("lower_grad", 1);
            s.samples += self.rows_of(&sample, false);
        }
        Ok(())
    }

    /// A lower-level sample: a mini-batch for the stochastic methods, all rows for AID-CG
    /// (still a stochastic call on problems with oracle noise).
    fn lower_sample(&self, rng: &mut optlab_core::seed::Rng, batch: usize) -> Sample {
        draw(rng, self.problem.n_lower(), batch)
    }

    fn upper_sample(&self, rng: &mut optlab_core::seed::Rng) -> Sample {
        draw(rng, self.problem.n_upper(), self.batches().0)
    }

    /// Rows of a level (`upper`: the upper level's data) a sample touches.
    fn rows_of(&self, sample: &Sample, upper: bool) -> u64 {
        let n = if upper {
            self.problem.n_upper()
        } else {
            self.problem.n_lower()
        };
        sample.n_rows(n) as u64
    }

    fn budget_left(&self, s: &HypergradState) -> bool {
        let (_, _, budget, ..) = self.scheme.common();
        budget == 0 || s.calls.total() < budget
    }

    fn metrics(&mut self, s: &mut HypergradState, full: bool) -> Result<BTreeMap<String, f64>> {
        let mut m = BTreeMap::new();
        if full {
            s.upper = self.problem.upper_value(&s.x, &s.y, &Sample::Exact)?;
            m.extend(self.problem.evaluate(&s.x, &s.y)?);
            m.insert("upper".into(), s.upper);
        }
        m.insert("oracle_calls".into(), s.calls.total() as f64);
        m.insert("samples".into(), s.samples as f64);
        m.insert("hypergrad_est_norm".into(), s.hg_norm);
        Ok(m)
    }
}

impl Solver for HypergradSolver {
    type State = HypergradState;

    fn init(&mut self, ctx: &mut RunContext) -> Result<HypergradState> {
        let (x, y) = self.problem.start();
        check_dims(self.problem.as_ref(), &x, &y)?;
        let (n, m) = (x.len(), y.len());
        let mut s = HypergradState {
            x,
            y,
            z: vec![0.0; m],
            m: vec![0.0; n],
            h: vec![0.0; n],
            t: 0,
            calls: OracleCounts::default(),
            samples: 0,
            upper: f64::NAN,
            hg_norm: 0.0,
            seed: ctx.seed(),
        };
        if let Scheme::BoRep(c) = self.scheme {
            // Initialization refinement: an accurate y*(x_0) before the first upper step.
            self.lower_sgd(&mut s, c.init_steps, c.gamma, SALT_INIT)?;
        }
        s.upper = self.problem.upper_value(&s.x, &s.y, &Sample::Exact)?;
        Ok(s)
    }

    fn initial_metrics(&mut self, s: &HypergradState) -> BTreeMap<String, f64> {
        let mut s = s.clone();
        self.metrics(&mut s, true).unwrap_or_default()
    }

    fn converged(&self, s: &HypergradState) -> Option<Status> {
        (!self.budget_left(s)).then_some(Status::MaxEvaluations)
    }

    fn step(&mut self, s: &mut HypergradState, _ctx: &mut RunContext) -> Result<StepReport> {
        let mut rng = step_rng(s.seed, s.t, SALT_UPPER);
        let p = self.problem.as_ref();
        let hg = match self.scheme {
            Scheme::BoRep(c) => {
                if s.t.is_multiple_of(c.period) {
                    self.lower_sgd(s, c.lower_steps, c.gamma, SALT_LOWER)?;
                }
                let su = self.upper_sample(&mut rng);
                let sl = self.lower_sample(&mut rng, self.batches().1);
                let (_, gx, gy) = p.upper(&s.x, &s.y, &su)?;
                let hz = p.lower_hvp_yy(&s.x, &s.y, &s.z, &sl)?;
                s.calls.add("upper_grad", 1);
                s.calls.add("hvp", 1);
                s.samples += self.rows_of(&su, true) + self.rows_of(&sl, false);
                // z <- Proj_R(z - nu (H z - ∇_y F)).
                for ((z, h), g) in s.z.iter_mut().zip(&hz).zip(&gy) {
                    *z -= c.nu * (h - g);
                }
                let nz = norm2(&s.z);
                if c.z_radius > 0.0 && nz > c.z_radius {
                    s.z.iter_mut().for_each(|v| *v *= c.z_radius / nz);
                }
                let sj = self.lower_sample(&mut rng, self.batches().1);
                let jz = p.lower_jvp_xy(&s.x, &s.y, &s.z, &sj)?;
                s.calls.add("jvp", 1);
                s.samples += self.rows_of(&sj, false);
                let h: Vec<f64> = gx.iter().zip(&jz).map(|(a, b)| a - b).collect();
                s.m.iter_mut()
                    .zip(&h)
                    .for_each(|(m, h)| *m = c.beta * *m + (1.0 - c.beta) * h);
                let nm = norm2(&s.m);
                if c.normalize {
                    if nm > 0.0 {
                        axpy(&mut s.x, -c.eta / nm, &s.m);
                    }
                } else {
                    axpy(&mut s.x, -c.eta, &s.m);
                }
                h
            }
            Scheme::StocBio(c) => {
                self.lower_sgd(s, c.lower_steps, c.gamma, SALT_LOWER)?;
                let su = self.upper_sample(&mut rng);
                let (_, gx, gy) = p.upper(&s.x, &s.y, &su)?;
                s.calls.add("upper_grad", 1);
                s.samples += self.rows_of(&su, true);
                // v = eta_n Σ_{q=0}^{Q-1} (I - eta_n H)^q ∇_y F, each product on a fresh sample.
                let mut term = gy.clone();
                let mut v = gy;
                for _ in 1..c.neumann_steps {
                    let sl = self.lower_sample(&mut rng, self.batches().1);
                    let ht = p.lower_hvp_yy(&s.x, &s.y, &term, &sl)?;
                    s.calls.add("hvp", 1);
                    s.samples += self.rows_of(&sl, false);
                    axpy(&mut term, -c.neumann_eta, &ht);
                    axpy(&mut v, 1.0, &term);
                }
                v.iter_mut().for_each(|a| *a *= c.neumann_eta);
                let sj = self.lower_sample(&mut rng, self.batches().1);
                let jv = p.lower_jvp_xy(&s.x, &s.y, &v, &sj)?;
                s.calls.add("jvp", 1);
                s.samples += self.rows_of(&sj, false);
                s.z = v;
                let h: Vec<f64> = gx.iter().zip(&jv).map(|(a, b)| a - b).collect();
                axpy(&mut s.x, -c.alpha, &h);
                h
            }
            Scheme::AidCg(c) => {
                self.lower_sgd(s, c.lower_steps, c.gamma, SALT_LOWER)?;
                // One full-batch sample for the upper gradients and one for the whole CG solve
                // (CG needs a fixed linear system).
                let su = self.upper_sample(&mut rng);
                let e = self.lower_sample(&mut rng, 0);
                let (_, gx, gy) = p.upper(&s.x, &s.y, &su)?;
                s.calls.add("upper_grad", 1);
                s.samples += self.rows_of(&su, true) + self.rows_of(&e, false);
                // CG on H v = ∇_y F, warm-started from the previous solution.
                let hv = p.lower_hvp_yy(&s.x, &s.y, &s.z, &e)?;
                s.calls.add("hvp", 1);
                let mut r: Vec<f64> = gy.iter().zip(&hv).map(|(a, b)| a - b).collect();
                let mut d = r.clone();
                let mut rr = dot(&r, &r);
                for _ in 0..c.cg_steps {
                    if rr <= 1e-30 {
                        break;
                    }
                    let hd = p.lower_hvp_yy(&s.x, &s.y, &d, &e)?;
                    s.calls.add("hvp", 1);
                    s.samples += self.rows_of(&e, false);
                    let dhd = dot(&d, &hd);
                    if dhd <= 0.0 {
                        return Err(Error::Numerical(format!(
                            "conjugate gradients met non-positive curvature dᵀHd = {dhd:.3e}: \
                             the lower level is not strongly convex here"
                        )));
                    }
                    let a = rr / dhd;
                    axpy(&mut s.z, a, &d);
                    axpy(&mut r, -a, &hd);
                    let rr_new = dot(&r, &r);
                    let b = rr_new / rr;
                    rr = rr_new;
                    d.iter_mut().zip(&r).for_each(|(di, ri)| *di = ri + b * *di);
                }
                let jv = p.lower_jvp_xy(&s.x, &s.y, &s.z, &e)?;
                s.calls.add("jvp", 1);
                s.samples += self.rows_of(&e, false);
                let h: Vec<f64> = gx.iter().zip(&jv).map(|(a, b)| a - b).collect();
                axpy(&mut s.x, -c.alpha, &h);
                h
            }
        };
        s.hg_norm = norm2(&hg);
        s.h = hg;
        s.t += 1;
        let (.., every, _, _) = self.scheme.common();
        let full = s.t.is_multiple_of(every);
        Ok(StepReport::go(self.metrics(s, full)?))
    }

    fn is_finite(&self, s: &HypergradState) -> bool {
        s.x.iter()
            .chain(&s.y)
            .chain(&s.z)
            .chain(&s.m)
            .all(|v| v.is_finite())
            && s.upper.is_finite()
    }

    fn value(&self, s: &HypergradState) -> Option<f64> {
        Some(s.upper)
    }

    fn counts(&self, s: &HypergradState) -> OracleCounts {
        s.calls.clone()
    }

    fn extra(&mut self, s: &HypergradState) -> BTreeMap<String, f64> {
        let mut s = s.clone();
        let mut m = self.metrics(&mut s, true).unwrap_or_default();
        if let Some(Ok(g)) = self.problem.hypergradient(&s.x) {
            m.insert("hypergrad_norm".into(), norm2(&g));
        }
        m
    }
}
