//! LV-HBA: the proximal Lagrangian value-function reformulation of a bilevel problem with
//! lower-level constraints, solved by a single-loop, Hessian-free method.
//!
//! With `v_γ(x, y, z) = min_θ max_{λ ∈ Λ} f(x, θ) + λᵀg(x, θ) + ||θ - y||²/(2γ1) - ||λ - z||²/(2γ2)`
//! the method minimizes the penalty `F/c_k + f - v_γ` over `(x, y) ∈ C`, `z ∈ Z`, with
//! `c_k = c0 (k + 1)^p`. Per iteration:
//! 1. one projected descent–ascent step on the inner saddle `(θ, λ)`;
//! 2. `d_x = ∇_x F/c_k + ∇_x f(x, y) - ∇_x f(x, θ) - ∇_x g(x, θ)ᵀλ`,
//!    `d_y = ∇_y F/c_k + ∇_y f(x, y) - (y - θ)/γ1`, `(x, y) <- Proj_C((x, y) - α d)`;
//! 3. `z <- Proj_Z(z + β (λ - z)/γ2)`.
//!
//! `Λ = Z = [0, r]^p` for inequality constraints, `[-r, r]^p` for equalities (the toy's
//! coupled equality constraint needs unsigned multipliers). The official SVM scripts never
//! change the hyper-parameters (their update of `C` is discarded), never update `z` and do
//! not project `λ`: that behaviour is available as `variant = "svm-script"`.

use optlab_core::config::{at_least_one, non_negative, positive};
use optlab_core::driver::{Solver, StepReport, Termination};
use optlab_core::{Error, MethodConfig, OracleCounts, Result, RunContext};
use optlab_problems::bilevel::{Bilevel, ConstraintKind, Sample, check_dims};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Which update rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LvHbaVariant {
    /// The paper's method.
    Paper,
    /// The official SVM scripts' behaviour: `x` and `z` never move, `λ` is not projected.
    SvmScript,
}

/// LV-HBA settings. Defaults: the official toy ("LLC") script.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LvHbaConfig {
    /// Step `alpha` of the `(x, y)` update.
    pub alpha: f64,
    /// Step `beta` of the `z` update.
    pub beta: f64,
    /// Step `eta` of the inner descent–ascent on `(θ, λ)`.
    pub eta: f64,
    /// Proximal parameter `γ1` (a divisor: the term is `(θ - y)/γ1`).
    pub gamma1: f64,
    /// Proximal parameter `γ2` (a divisor: the term is `(λ - z)/γ2`).
    pub gamma2: f64,
    /// Multiplier bound `r`.
    pub r: f64,
    /// Penalty schedule `c_k = c0 (k + 1)^p`.
    pub c0: f64,
    /// Exponent `p`: the theory needs `(0, 1/2)`; the official SVM script uses 1/2.
    pub p: f64,
    /// Initial value of every multiplier `λ`.
    pub lambda0: f64,
    /// Initial value of every entry of `z` (the toy script: -1; the SVM script: 1).
    pub z0: f64,
    /// `paper` or `svm-script`.
    pub variant: LvHbaVariant,
    /// Iterations.
    pub max_iter: u64,
    /// Evaluate the problem's figures every this many iterations.
    pub eval_every: u64,
    /// Wall-time limit in seconds (0: none).
    pub max_time_s: f64,
}

impl Default for LvHbaConfig {
    fn default() -> Self {
        LvHbaConfig {
            alpha: 0.008,
            beta: 0.02,
            eta: 0.01,
            gamma1: 10.0,
            gamma2: 10.0,
            r: 1000.0,
            c0: 0.025,
            p: 0.3,
            lambda0: 1.0,
            z0: -1.0,
            variant: LvHbaVariant::Paper,
            max_iter: 1500,
            eval_every: 1,
            max_time_s: 0.0,
        }
    }
}

impl MethodConfig for LvHbaConfig {
    fn validate(&self) -> Result<()> {
        positive("alpha", self.alpha)?;
        positive("beta", self.beta)?;
        positive("eta", self.eta)?;
        positive("gamma1", self.gamma1)?;
        positive("gamma2", self.gamma2)?;
        positive("r", self.r)?;
        positive("c0", self.c0)?;
        if !(self.p > 0.0 && self.p <= 0.5) {
            return Err(Error::config(
                "p",
                format!("must be in (0, 1/2], got {}", self.p),
            ));
        }
        for (f, v) in [("lambda0", self.lambda0), ("z0", self.z0)] {
            if !v.is_finite() {
                return Err(Error::config(f, "must be finite"));
            }
        }
        at_least_one("max_iter", self.max_iter)?;
        at_least_one("eval_every", self.eval_every)?;
        non_negative("max_time_s", self.max_time_s)
    }
}

impl LvHbaConfig {
    /// The driver's limits.
    pub fn termination(&self) -> Termination {
        Termination::limits(self.max_iter, self.max_time_s)
    }
}

/// Resumable LV-HBA state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LvHbaState {
    /// Upper-level variable.
    pub x: Vec<f64>,
    /// Lower-level variable.
    pub y: Vec<f64>,
    /// Inner primal variable `θ`.
    pub theta: Vec<f64>,
    /// Inner multipliers `λ`.
    pub lam: Vec<f64>,
    /// Multiplier anchor `z`.
    pub z: Vec<f64>,
    /// Iterations done.
    pub k: u64,
    /// Oracle calls.
    pub calls: OracleCounts,
    /// `F(x, y)` at the last iteration.
    pub upper: f64,
}

/// The LV-HBA solver.
pub struct LvHba {
    cfg: LvHbaConfig,
    problem: Box<dyn Bilevel>,
}

impl LvHba {
    /// LV-HBA on a problem.
    pub fn new(cfg: LvHbaConfig, problem: Box<dyn Bilevel>) -> Result<Self> {
        cfg.validate()?;
        if cfg.variant == LvHbaVariant::SvmScript && problem.constraints_depend_on_x() {
            return Err(Error::Mismatch {
                method: "lv-hba (variant = \"svm-script\")".into(),
                problem: problem.name(),
                reason: "the script's frozen x needs constraints in y only (a product set C); \
                         this problem's constraints couple x and y"
                    .into(),
            });
        }
        Ok(LvHba { cfg, problem })
    }

    /// The problem.
    pub fn problem(&self) -> &dyn Bilevel {
        self.problem.as_ref()
    }

    fn clip_multipliers(&self, lam: &mut [f64]) {
        let lo = match self.problem.constraint_kind() {
            ConstraintKind::Inequality => 0.0,
            ConstraintKind::Equality => -self.cfg.r,
        };
        lam.iter_mut().for_each(|l| *l = l.clamp(lo, self.cfg.r));
    }

    /// The inner saddle objective at `(θ, λ)`: an estimate of `v_γ(x, y, z)` (exact when
    /// `(θ, λ)` is the saddle point).
    pub fn value_function_estimate(&self, s: &LvHbaState) -> Result<f64> {
        Ok(self.value_function(&s.x, &s.y, &s.z, &s.theta, &s.lam)?.0)
    }

    /// The inner saddle point `(θ*, λ*)` of `v_γ(x, y, z)` by `iters` projected
    /// descent–ascent steps of size `eta` from `(y, z)`.
    pub fn solve_saddle(
        &self,
        x: &[f64],
        y: &[f64],
        z: &[f64],
        iters: usize,
        eta: f64,
    ) -> Result<(Vec<f64>, Vec<f64>)> {
        let c = self.cfg;
        let p = self.problem.as_ref();
        check_dims(p, x, y)?;
        if z.len() != p.n_constraints() {
            return Err(Error::Other(format!(
                "z has length {}, the problem has {} constraints",
                z.len(),
                p.n_constraints()
            )));
        }
        let (mut theta, mut lam) = (y.to_vec(), z.to_vec());
        for _ in 0..iters {
            let (_, _, fy) = p.lower(x, &theta, &Sample::Exact)?;
            let g = p.constraints(x, &theta)?;
            let (_, jy) = p.constraint_vjp(x, &theta, &lam)?;
            for i in 0..theta.len() {
                theta[i] -= eta * (fy[i] + jy[i] + (theta[i] - y[i]) / c.gamma1);
            }
            p.project_y(&mut theta)?;
            for j in 0..lam.len() {
                lam[j] += eta * (g[j] - (lam[j] - z[j]) / c.gamma2);
            }
            self.clip_multipliers(&mut lam);
        }
        Ok((theta, lam))
    }

    /// `v_γ(x, y, z)` and its gradients `(∇_x v, ∇_y v, ∇_z v)` given the inner saddle point
    /// `(θ*, λ*)` (Danskin: `∇_x v = ∇_x f(x, θ*) + ∇_x g(x, θ*)ᵀλ*`, `∇_y v = (y - θ*)/γ1`,
    /// `∇_z v = (λ* - z)/γ2`).
    #[allow(clippy::type_complexity)]
    pub fn value_function(
        &self,
        x: &[f64],
        y: &[f64],
        z: &[f64],
        theta: &[f64],
        lam: &[f64],
    ) -> Result<(f64, Vec<f64>, Vec<f64>, Vec<f64>)> {
        let c = self.cfg;
        let p = self.problem.as_ref();
        let (f, fx, _) = p.lower(x, theta, &Sample::Exact)?;
        let g = p.constraints(x, theta)?;
        let (jx, _) = p.constraint_vjp(x, theta, lam)?;
        let lg: f64 = lam.iter().zip(&g).map(|(a, b)| a * b).sum();
        let dy: f64 = theta.iter().zip(y).map(|(a, b)| (a - b) * (a - b)).sum();
        let dz: f64 = lam.iter().zip(z).map(|(a, b)| (a - b) * (a - b)).sum();
        let v = f + lg + dy / (2.0 * c.gamma1) - dz / (2.0 * c.gamma2);
        let gx = fx.iter().zip(&jx).map(|(a, b)| a + b).collect();
        let gy = y
            .iter()
            .zip(theta)
            .map(|(a, b)| (a - b) / c.gamma1)
            .collect();
        let gz = lam.iter().zip(z).map(|(a, b)| (a - b) / c.gamma2).collect();
        Ok((v, gx, gy, gz))
    }

    fn metrics(&self, s: &LvHbaState, full: bool) -> Result<BTreeMap<String, f64>> {
        let mut m = BTreeMap::new();
        m.insert("upper".into(), s.upper);
        m.insert("oracle_calls".into(), s.calls.total() as f64);
        let d: Vec<f64> = s.theta.iter().zip(&s.y).map(|(a, b)| a - b).collect();
        m.insert("theta_minus_y".into(), optlab_linalg::norm2(&d));
        m.insert(
            "lambda_max".into(),
            s.lam.iter().fold(0.0_f64, |a, v| a.max(v.abs())),
        );
        m.insert(
            "z_mean".into(),
            s.z.iter().sum::<f64>() / s.z.len().max(1) as f64,
        );
        if full {
            let e = Sample::Exact;
            let (f, ..) = self.problem.lower(&s.x, &s.y, &e)?;
            m.insert("lower".into(), f);
            m.insert("ll_gap".into(), f - self.value_function_estimate(s)?);
            let g = self.problem.constraints(&s.x, &s.y)?;
            let viol = match self.problem.constraint_kind() {
                ConstraintKind::Inequality => g.iter().fold(0.0_f64, |a, v| a.max(*v)),
                ConstraintKind::Equality => g.iter().fold(0.0_f64, |a, v| a.max(v.abs())),
            };
            m.insert("violation".into(), viol);
            m.extend(self.problem.evaluate(&s.x, &s.y)?);
        }
        Ok(m)
    }
}

impl Solver for LvHba {
    type State = LvHbaState;

    fn init(&mut self, _ctx: &mut RunContext) -> Result<LvHbaState> {
        let (mut x, mut y) = self.problem.start();
        check_dims(self.problem.as_ref(), &x, &y)?;
        self.problem.project_joint(&mut x, &mut y)?;
        let p = self.problem.n_constraints();
        let mut calls = OracleCounts::default();
        calls.add("projection", 1);
        let upper = self.problem.upper_value(&x, &y, &Sample::Exact)?;
        // λ0 and z0 start inside Λ and Z (the script variant leaves λ unprojected).
        let mut lam = vec![self.cfg.lambda0; p];
        let mut z = vec![self.cfg.z0; p];
        self.clip_multipliers(&mut z);
        if self.cfg.variant == LvHbaVariant::Paper {
            self.clip_multipliers(&mut lam);
        }
        Ok(LvHbaState {
            theta: y.clone(),
            x,
            y,
            lam,
            z,
            k: 0,
            calls,
            upper,
        })
    }

    fn initial_metrics(&mut self, s: &LvHbaState) -> BTreeMap<String, f64> {
        self.metrics(s, true).unwrap_or_default()
    }

    fn step(&mut self, s: &mut LvHbaState, _ctx: &mut RunContext) -> Result<StepReport> {
        let c = self.cfg;
        let p = self.problem.as_ref();
        let e = Sample::Exact;
        let script = c.variant == LvHbaVariant::SvmScript;
        // 1. Inner saddle step at (x, θ, λ).
        let (_, _, fy_theta) = p.lower(&s.x, &s.theta, &e)?;
        let g_theta = p.constraints(&s.x, &s.theta)?;
        let (_, jy_lam) = p.constraint_vjp(&s.x, &s.theta, &s.lam)?;
        s.calls.add("lower_grad", 1);
        s.calls.add("constraint", 2);
        for i in 0..s.theta.len() {
            s.theta[i] -= c.eta * (fy_theta[i] + jy_lam[i] + (s.theta[i] - s.y[i]) / c.gamma1);
        }
        p.project_y(&mut s.theta)?;
        for j in 0..s.lam.len() {
            s.lam[j] += c.eta * (g_theta[j] - (s.lam[j] - s.z[j]) / c.gamma2);
        }
        if !script {
            self.clip_multipliers(&mut s.lam);
        }
        // 2. Outer step on (x, y) with the new (θ, λ).
        let ck = c.c0 * ((s.k + 1) as f64).powf(c.p);
        let (_, ux, uy) = p.upper(&s.x, &s.y, &e)?;
        let (_, lx, ly) = p.lower(&s.x, &s.y, &e)?;
        let (_, lx_theta, _) = p.lower(&s.x, &s.theta, &e)?;
        let (jx_lam, _) = p.constraint_vjp(&s.x, &s.theta, &s.lam)?;
        s.calls.add("upper_grad", 1);
        s.calls.add("lower_grad", 2);
        s.calls.add("constraint", 1);
        let x_old = s.x.clone();
        if !script {
            for i in 0..s.x.len() {
                s.x[i] -= c.alpha * (ux[i] / ck + lx[i] - lx_theta[i] - jx_lam[i]);
            }
        }
        for i in 0..s.y.len() {
            s.y[i] -= c.alpha * (uy[i] / ck + ly[i] - (s.y[i] - s.theta[i]) / c.gamma1);
        }
        p.project_joint(&mut s.x, &mut s.y)?;
        s.calls.add("projection", 1);
        if script {
            s.x = x_old;
        } else {
            // 3. z ascent on v (descent on the penalty), projected like the multipliers.
            for j in 0..s.z.len() {
                s.z[j] += c.beta * (s.lam[j] - s.z[j]) / c.gamma2;
            }
            self.clip_multipliers(&mut s.z);
        }
        s.k += 1;
        s.upper = p.upper_value(&s.x, &s.y, &e)?;
        let full = s.k.is_multiple_of(c.eval_every);
        Ok(StepReport::go(self.metrics(s, full)?))
    }

    fn is_finite(&self, s: &LvHbaState) -> bool {
        s.x.iter()
            .chain(&s.y)
            .chain(&s.theta)
            .chain(&s.lam)
            .chain(&s.z)
            .all(|v| v.is_finite())
            && s.upper.is_finite()
    }

    fn value(&self, s: &LvHbaState) -> Option<f64> {
        Some(s.upper)
    }

    fn counts(&self, s: &LvHbaState) -> OracleCounts {
        s.calls.clone()
    }

    fn extra(&mut self, s: &LvHbaState) -> BTreeMap<String, f64> {
        self.metrics(s, true).unwrap_or_default()
    }
}
