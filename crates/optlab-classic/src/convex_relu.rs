//! Global optimization of two-layer ReLU networks through their convex reformulation
//! (Pilanci & Ergen 2020), solved by the ADMM of Bai, Gautam & Sojoudi (SIMODS 2023).
//!
//! With activation patterns `D_i = diag(1[X h_i >= 0])`, the convex program (CP) is
//!
//! ```text
//! min 1/2 ||sum_i D_i X (v_i - w_i) - y||^2 + beta sum_i (||v_i|| + ||w_i||)
//! s.t. (2 D_i - I) X v_i >= 0,  (2 D_i - I) X w_i >= 0.
//! ```
//!
//! ADMM splits `u = (v, w)` from a group-sparse copy `z` and the cone constraints `G u` from a
//! nonnegative slack `s` (scaled duals `lambda`, `nu`, penalty `rho`):
//!
//! 1. `(I + F^T F / rho + G^T G) u = F^T y / rho + z - lambda + G^T (s - nu)`,
//! 2. `z_g = (1 - (beta/rho) / ||u_g + lambda_g||)_+ (u_g + lambda_g)` per neuron,
//! 3. `s = max(0, G u + nu)`,
//! 4. `lambda += u - z`, `nu += G u - s`.
//!
//! The system matrix never changes: `G^T G = blockdiag(X^T X)` (because `(2D_i - I)^2 = I`)
//! and `F^T F = [A, -A; -A, A]` with `A_ij = X^T D_i D_j X`, so in the coordinates
//! `a = v - w`, `b = v + w` it splits into `(I + X^T X) b = r_v + r_w` (one `d x d` factor
//! shared by all neurons) and `(I + blockdiag(X^T X) + 2A/rho) a = r_v - r_w` (one `dP x dP`
//! factor). Both are factored once; an iteration costs `O(n d P + (d P)^2)`.
//!
//! `formulation = "gated"` drops the cone constraints (the gated-ReLU relaxation: a group
//! lasso on the same features), the unconstrained sampled convex program.

use crate::anderson::{Anderson, AndersonState};
use optlab_core::config::{at_least_one, non_negative, positive};
use optlab_core::driver::{Solver, StepReport, Termination};
use optlab_core::seed::{Rng, normal};
use optlab_core::{Error, MethodConfig, OracleCounts, Result, RunContext, Status};
use optlab_linalg::faer::linalg::matmul::matmul;
use optlab_linalg::faer::linalg::solvers::{Llt, Solve as _};
use optlab_linalg::faer::{Accum, Mat, MatMut, MatRef, Par, Side};
use optlab_linalg::norm2;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Data of a convex ReLU training problem: `X` (`n x d`, a bias column included when wanted),
/// targets `y` and the activation patterns.
#[derive(Debug, Clone, PartialEq)]
pub struct ReluData {
    /// Rows.
    pub n: usize,
    /// Features.
    pub d: usize,
    /// Row-major `n x d`.
    pub x: Vec<f64>,
    /// Targets (±1 for binary tasks).
    pub y: Vec<f64>,
}

impl ReluData {
    /// Validated data: shapes agree, values finite.
    pub fn new(x: Vec<f64>, n: usize, d: usize, y: Vec<f64>) -> Result<Self> {
        if n == 0 || d == 0 || x.len() != n * d || y.len() != n {
            return Err(Error::data(
                "convex-relu",
                0,
                format!(
                    "shape mismatch: {} features and {} targets for {n} x {d}",
                    x.len(),
                    y.len()
                ),
            ));
        }
        if let Some(k) = x.iter().position(|v| !v.is_finite()) {
            return Err(Error::data(
                "convex-relu",
                k / d + 1,
                format!(
                    "feature column {}: non-finite value in row {}",
                    k % d,
                    k / d + 1
                ),
            ));
        }
        if let Some(k) = y.iter().position(|v| !v.is_finite()) {
            return Err(Error::data(
                "convex-relu",
                k + 1,
                format!("target of row {} is not finite", k + 1),
            ));
        }
        Ok(ReluData { n, d, x, y })
    }

    /// Binary targets: every label must be `-1` or `+1`; the error names the first row that
    /// is not.
    pub fn binary(x: Vec<f64>, n: usize, d: usize, y: Vec<f64>) -> Result<Self> {
        if let Some(k) = y.iter().position(|v| *v != 1.0 && *v != -1.0) {
            return Err(Error::data(
                "convex-relu",
                k + 1,
                format!(
                    "label {} in row {} is not binary (expected -1 or +1)",
                    y[k],
                    k + 1
                ),
            ));
        }
        Self::new(x, n, d, y)
    }

    fn mat(&self) -> Mat<f64> {
        Mat::from_fn(self.n, self.d, |i, j| self.x[i * self.d + j])
    }
}

/// Activation patterns `1[X h >= 0]` for `count` Gaussian directions `h`, deduplicated, with
/// all-zero patterns dropped (they contribute nothing).
pub fn sample_patterns(data: &ReluData, count: usize, rng: &mut Rng) -> Vec<Vec<bool>> {
    let mut out: Vec<Vec<bool>> = Vec::new();
    for _ in 0..count {
        let h: Vec<f64> = (0..data.d).map(|_| normal(rng)).collect();
        let p: Vec<bool> = data
            .x
            .chunks(data.d)
            .map(|r| r.iter().zip(&h).map(|(a, b)| a * b).sum::<f64>() >= 0.0)
            .collect();
        if p.iter().any(|b| *b) && !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

/// Every distinct nonzero activation pattern of 2-D data (no bias): the pattern of `h` only
/// changes when `h` crosses a direction orthogonal to some `x_k`, so evaluating it between
/// consecutive critical angles enumerates them all (at most `2n`).
pub fn enumerate_patterns_2d(data: &ReluData) -> Result<Vec<Vec<bool>>> {
    if data.d != 2 {
        return Err(Error::config("patterns", "exact enumeration needs d = 2"));
    }
    let tau = std::f64::consts::TAU;
    let mut angles: Vec<f64> = Vec::new();
    for r in data.x.chunks(2) {
        // h ⟂ x_k at angle(x_k) ± π/2.
        let a = r[1].atan2(r[0]);
        for s in [0.5, -0.5] {
            angles.push((a + s * std::f64::consts::PI).rem_euclid(tau));
        }
    }
    angles.sort_by(f64::total_cmp);
    let mut out: Vec<Vec<bool>> = Vec::new();
    for k in 0..angles.len() {
        let next = if k + 1 < angles.len() {
            angles[k + 1]
        } else {
            angles[0] + tau
        };
        let mid = 0.5 * (angles[k] + next);
        let h = [mid.cos(), mid.sin()];
        let p: Vec<bool> = data
            .x
            .chunks(2)
            .map(|r| r[0] * h[0] + r[1] * h[1] >= 0.0)
            .collect();
        if p.iter().any(|b| *b) && !out.contains(&p) {
            out.push(p);
        }
    }
    Ok(out)
}

/// Which convex program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Formulation {
    /// The ReLU program with its cone constraints (exact when all patterns are enumerated).
    #[default]
    Cp,
    /// Gated-ReLU relaxation: no cone constraints (group lasso).
    Gated,
}

/// Training loss of the convex program (labels ±1 for `bce`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Loss {
    /// `½ ||ŷ − y||²` (sum convention): the u-update is one solve of the factored system.
    #[default]
    Squared,
    /// Binary cross-entropy on `ŷ` as the logit of `2ŷ` (`Σ log(1 + e^{2ŷ}) − 2 y01 ŷ`,
    /// `y01 = (1 + y)/2`; the convention of the authors' cvxpy code). The u-update has no
    /// closed form; the approximate u-step is one majorization step: the loss's curvature is at
    /// most 1, so `ℓ(Fu) <= ½||Fu − (ŷ_k − ℓ'(ŷ_k))||² + const` and the step solves the *same*
    /// factored system as the squared loss with the working response `ŷ_k − ℓ'(ŷ_k)`.
    Bce,
}

/// `log(1 + e^t)` without overflow.
fn softplus(t: f64) -> f64 {
    t.max(0.0) + (-t.abs()).exp().ln_1p()
}

/// BCE loss of one prediction `yhat` for a label `y = ±1`, and its derivative in `yhat`.
fn bce(yhat: f64, y: f64) -> (f64, f64) {
    let y01 = 0.5 * (1.0 + y);
    let t = 2.0 * yhat;
    let sig = 1.0 / (1.0 + (-t).exp());
    (softplus(t) - 2.0 * y01 * yhat, 2.0 * sig - 2.0 * y01)
}

/// Solver of the fixed linear system of the u-update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LinearSolver {
    /// The smaller of the two factorizations (`n` vs `dP`).
    #[default]
    Auto,
    /// Cholesky of `I + blockdiag(X^T X) + 2A/rho` (`dP x dP`): `O((dP)^2)` per iteration.
    Direct,
    /// Woodbury through an `n x n` Cholesky: `O(n d P + n^2)` per iteration.
    Woodbury,
}

/// The factored system.
enum BigSystem {
    Direct(Llt<f64>),
    Woodbury(Llt<f64>),
}

/// ADMM settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConvexReluConfig {
    /// Weight decay `beta` (group-lasso weight of the CP).
    pub beta: f64,
    /// Sampled patterns before deduplication (0: enumerate all; 2-D data only).
    pub patterns: usize,
    /// `cp` or `gated`.
    pub formulation: Formulation,
    /// `squared` or `bce` (binary labels ±1; approximate u-step).
    pub loss: Loss,
    /// BCE only: majorization steps per u-update (each one solve of the factored system).
    pub bce_inner_steps: u64,
    /// ADMM penalty.
    pub rho: f64,
    /// Dual step (scaled duals; 1 is standard ADMM).
    pub dual_step: f64,
    /// Over-relaxation in [1, 2) (1: the paper's plain ADMM).
    pub relaxation: f64,
    /// Anderson acceleration memory (0: off, the paper's plain ADMM). Beyond the paper:
    /// type-II Anderson extrapolation of the ADMM state `(z, lambda, s, nu)` with a safeguard
    /// that rejects an extrapolation whose fixed-point residual grew (`crate::anderson`).
    pub anderson_memory: u64,
    /// Penalty of the cone constraints relative to `rho` (1: the paper's single penalty).
    pub cone_weight: f64,
    /// How the fixed u-system is solved: `direct` (the paper's `dP x dP` Cholesky),
    /// `woodbury` (an `n x n` Cholesky of `rho/2 I + H ∘ D D^T`), or `auto` (the smaller).
    pub linear_solver: LinearSolver,
    /// Absolute residual tolerance.
    pub eps_abs: f64,
    /// Relative residual tolerance.
    pub eps_rel: f64,
    /// Iteration limit.
    pub max_iters: u64,
    /// Wall-time limit in seconds (0: none).
    pub max_time_s: f64,
}

impl Default for ConvexReluConfig {
    fn default() -> Self {
        ConvexReluConfig {
            beta: 1e-3,
            patterns: 50,
            formulation: Formulation::Cp,
            loss: Loss::Squared,
            bce_inner_steps: 1,
            rho: 1e-3,
            dual_step: 1.0,
            relaxation: 1.0,
            anderson_memory: 0,
            cone_weight: 1.0,
            linear_solver: LinearSolver::Auto,
            eps_abs: 1e-7,
            eps_rel: 1e-6,
            max_iters: 20_000,
            max_time_s: 0.0,
        }
    }
}

impl MethodConfig for ConvexReluConfig {
    fn validate(&self) -> Result<()> {
        positive("beta", self.beta)?;
        positive("rho", self.rho)?;
        positive("cone_weight", self.cone_weight)?;
        positive("eps_abs", self.eps_abs)?;
        non_negative("eps_rel", self.eps_rel)?;
        if !(self.dual_step > 0.0 && self.dual_step < 2.0) {
            return Err(Error::config("dual_step", "must lie in (0, 2)"));
        }
        if !(1.0..2.0).contains(&self.relaxation) {
            return Err(Error::config("relaxation", "must lie in [1, 2)"));
        }
        at_least_one("bce_inner_steps", self.bce_inner_steps)?;
        at_least_one("max_iters", self.max_iters)
    }
}

impl ConvexReluConfig {
    /// The driver's limits.
    pub fn termination(&self) -> Termination {
        Termination::limits(self.max_iters, self.max_time_s)
    }
}

/// Resumable ADMM state; matrices are column-major `d x P` (`v`, `w`, `z_*`, `lambda_*`) and
/// `n x P` (`s_*`, `nu_*`), flattened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdmmState {
    /// `u = (v, w)`.
    pub v: Vec<f64>,
    /// Second half of `u`.
    pub w: Vec<f64>,
    /// Group-sparse copy of `v`.
    pub zv: Vec<f64>,
    /// Group-sparse copy of `w`.
    pub zw: Vec<f64>,
    /// Slack of the `v` cones.
    pub sv: Vec<f64>,
    /// Slack of the `w` cones.
    pub sw: Vec<f64>,
    /// Scaled dual of `v = z_v`.
    pub lv: Vec<f64>,
    /// Scaled dual of `w = z_w`.
    pub lw: Vec<f64>,
    /// Scaled dual of the `v` cones.
    pub nv: Vec<f64>,
    /// Scaled dual of the `w` cones.
    pub nw: Vec<f64>,
    /// Cached `G^T s` (`v` half, `d x P`).
    pub gts_v: Vec<f64>,
    /// Cached `G^T s` (`w` half).
    pub gts_w: Vec<f64>,
    /// Cached `G^T nu` (`v` half).
    pub gtn_v: Vec<f64>,
    /// Cached `G^T nu` (`w` half).
    pub gtn_w: Vec<f64>,
    /// Primal residual of the last iteration.
    pub primal: f64,
    /// Dual residual of the last iteration.
    pub dual: f64,
    /// Primal tolerance of the last iteration.
    pub eps_pri: f64,
    /// Dual tolerance of the last iteration.
    pub eps_dual: f64,
    /// Iterations.
    pub k: u64,
    /// Anderson acceleration memory (empty when off).
    #[serde(default)]
    pub anderson: AndersonState,
}

impl AdmmState {
    /// What Anderson acceleration extrapolates, and how many of them (the first) make up the
    /// iterate of the ADMM map: `(z, lambda)` of both halves, with the CP also the slacks and
    /// their duals `(s, nu)`, and with the BCE loss also `u = (v, w)` (its u-step starts from
    /// the last `u`). The rest are passengers linear in the iterate: the cached `G^T s`,
    /// `G^T nu`. (With the squared loss `u` is an output only and is not extrapolated.)
    fn accelerated(&mut self, cp: bool, bce: bool) -> (Vec<&mut Vec<f64>>, usize) {
        let mut v: Vec<&mut Vec<f64>> =
            vec![&mut self.zv, &mut self.zw, &mut self.lv, &mut self.lw];
        if cp {
            v.extend([&mut self.sv, &mut self.sw, &mut self.nv, &mut self.nw]);
        }
        if bce {
            v.extend([&mut self.v, &mut self.w]);
        }
        let core = v.len();
        if cp {
            v.extend([
                &mut self.gts_v,
                &mut self.gts_w,
                &mut self.gtn_v,
                &mut self.gtn_w,
            ]);
        }
        (v, core)
    }

    /// The accelerated vectors, concatenated (`passengers`: all of them, else the iterate).
    fn pack(&mut self, cp: bool, bce: bool, passengers: bool) -> Vec<f64> {
        let (fields, core) = self.accelerated(cp, bce);
        let take = if passengers { fields.len() } else { core };
        let mut out = Vec::new();
        for f in &fields[..take] {
            out.extend_from_slice(f);
        }
        out
    }

    /// Inverse of [`AdmmState::pack`] with passengers.
    fn unpack(&mut self, cp: bool, bce: bool, x: &[f64]) {
        let mut at = 0;
        for f in self.accelerated(cp, bce).0 {
            let len = f.len();
            f.copy_from_slice(&x[at..at + len]);
            at += len;
        }
    }
}

/// What [`ConvexReluAdmm::evaluate`] measures of a CP point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evaluation {
    /// CP objective.
    pub objective: f64,
    /// Largest cone violation (0 for the gated formulation).
    pub cone_violation: f64,
    /// Training accuracy of the sign of the CP prediction.
    pub train_accuracy: f64,
    /// Groups with nonzero norm.
    pub neurons: usize,
}

/// A two-layer ReLU network `x -> sum_j (x^T u_j)_+ alpha_j`.
#[derive(Debug, Clone, PartialEq)]
pub struct ReluNet {
    /// Input weights, one vector of length `d` per neuron.
    pub u: Vec<Vec<f64>>,
    /// Output weights.
    pub alpha: Vec<f64>,
}

impl ReluNet {
    /// The network of neuron-major parameters `[u_1, ..., u_m, alpha]`.
    pub fn from_params(theta: &[f64], d: usize, m: usize) -> Self {
        let (u, a) = theta.split_at(d * m);
        ReluNet {
            u: u.chunks(d).map(<[f64]>::to_vec).collect(),
            alpha: a.to_vec(),
        }
    }

    /// Predictions on row-major `x` (`d` columns).
    pub fn predict(&self, x: &[f64], d: usize) -> Vec<f64> {
        x.chunks(d)
            .map(|r| {
                self.u
                    .iter()
                    .zip(&self.alpha)
                    .map(|(u, a)| r.iter().zip(u).map(|(p, q)| p * q).sum::<f64>().max(0.0) * a)
                    .sum()
            })
            .collect()
    }

    /// `1/2 ||yhat - y||^2 + beta/2 sum_j (||u_j||^2 + alpha_j^2)`.
    pub fn objective(&self, data: &ReluData, beta: f64) -> f64 {
        let yhat = self.predict(&data.x, data.d);
        let fit: f64 = yhat
            .iter()
            .zip(&data.y)
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f64>();
        let reg: f64 = self
            .u
            .iter()
            .zip(&self.alpha)
            .map(|(u, a)| u.iter().map(|v| v * v).sum::<f64>() + a * a)
            .sum();
        0.5 * fit + 0.5 * beta * reg
    }
}

/// The ADMM solver of the convex program.
pub struct ConvexReluAdmm {
    cfg: ConvexReluConfig,
    data: ReluData,
    xm: Mat<f64>,
    /// `P` patterns, each of length `n`.
    patterns: Vec<Vec<bool>>,
    /// `(2D - I)` signs, `n x P` column-major.
    sign: Vec<f64>,
    /// `D` as 0/1, `n x P` column-major.
    mask: Vec<f64>,
    /// `I + X^T X`.
    small: Llt<f64>,
    /// `I + blockdiag(X^T X) + 2A/rho` (`dP x dP`) or its Woodbury core (`n x n`).
    big: BigSystem,
    /// `F^T y / rho` for the `v` half (`d x P`; the `w` half is its negative).
    fty: Mat<f64>,
    /// Factorizations performed (1 after construction; never more).
    pub factorizations: usize,
}

/// `F^T r / rho` for the `v` half (`d x P`; block `i` is `X^T D_i r / rho`; the `w` half is its
/// negative), with `D` as the 0/1 `mask` (`n x P`, column-major).
fn ft_over_rho(xm: &Mat<f64>, mask: &[f64], r: &[f64], rho: f64) -> Mat<f64> {
    let n = r.len();
    let p = mask.len() / n.max(1);
    let dr = Mat::from_fn(n, p, |k, i| if mask[i * n + k] != 0.0 { r[k] } else { 0.0 });
    (xm.transpose() * &dr) * (1.0 / rho)
}

fn mr(v: &[f64], r: usize, c: usize) -> MatRef<'_, f64> {
    MatRef::from_column_major_slice(v, r, c)
}

/// `lhs * rhs` into a fresh column-major vector.
fn mm(lhs: MatRef<'_, f64>, rhs: MatRef<'_, f64>) -> Vec<f64> {
    let (r, c) = (lhs.nrows(), rhs.ncols());
    let mut out = vec![0.0; r * c];
    matmul(
        MatMut::from_column_major_slice_mut(&mut out, r, c),
        Accum::Replace,
        lhs,
        rhs,
        1.0,
        Par::Seq,
    );
    out
}

use optlab_linalg::sqdist_lanes as sqdiff;

fn sq(a: &[f64]) -> f64 {
    optlab_linalg::dot_lanes(a, a)
}

impl ConvexReluAdmm {
    /// ADMM on given patterns (factorizes once).
    pub fn new(cfg: ConvexReluConfig, data: ReluData, patterns: Vec<Vec<bool>>) -> Result<Self> {
        cfg.validate()?;
        let (n, d, p) = (data.n, data.d, patterns.len());
        if p == 0 {
            return Err(Error::config("patterns", "no nonzero activation pattern"));
        }
        if let Some(k) = patterns.iter().position(|q| q.len() != n) {
            return Err(Error::config(
                "patterns",
                format!("pattern {k} has the wrong length"),
            ));
        }
        if cfg.loss == Loss::Bce
            && let Some(k) = data.y.iter().position(|v| *v != 1.0 && *v != -1.0)
        {
            return Err(Error::config(
                "loss",
                format!("bce needs labels ±1; row {k} has y = {}", data.y[k]),
            ));
        }
        let xm = data.mat();
        let sign: Vec<f64> = (0..n * p)
            .map(|c| if patterns[c / n][c % n] { 1.0 } else { -1.0 })
            .collect();
        let mask: Vec<f64> = sign.iter().map(|v| 0.5 * (v + 1.0)).collect();
        let xtx = xm.transpose() * &xm;
        let sigma = if matches!(cfg.formulation, Formulation::Cp) {
            cfg.cone_weight
        } else {
            0.0
        };
        let small_m = Mat::from_fn(d, d, |i, j| {
            sigma * xtx[(i, j)] + f64::from(u8::from(i == j))
        });
        let small = small_m
            .llt(Side::Lower)
            .map_err(|_| Error::Numerical("I + X^T X is not positive definite".into()))?;
        let cp = matches!(cfg.formulation, Formulation::Cp);
        let woodbury = match cfg.linear_solver {
            LinearSolver::Auto => n < d * p,
            LinearSolver::Direct => false,
            LinearSolver::Woodbury => true,
        };
        let big = if woodbury {
            // rho/2 I + H ∘ (D D^T) with H = X M0^{-1} X^T (M0 = I + X^T X, or I when gated).
            let mut mx = xm.transpose().to_owned();
            if cp {
                small.solve_in_place(mx.as_mut());
            }
            let h = &xm * &mx;
            let dm = Mat::from_fn(n, p, |k, i| if patterns[i][k] { 1.0 } else { 0.0 });
            let c = &dm * dm.transpose();
            let core = Mat::from_fn(n, n, |k, l| {
                h[(k, l)] * c[(k, l)] + if k == l { 0.5 * cfg.rho } else { 0.0 }
            });
            BigSystem::Woodbury(core.llt(Side::Lower).map_err(|_| {
                Error::Numerical("the ADMM Woodbury core is not positive definite".into())
            })?)
        } else {
            // Z = [D_1 X, ..., D_P X] (n x dP); A = Z^T Z.
            let z = Mat::from_fn(n, d * p, |k, col| {
                let (i, j) = (col / d, col % d);
                if patterns[i][k] { xm[(k, j)] } else { 0.0 }
            });
            let mut big_m = z.transpose() * &z;
            let c2 = 2.0 / cfg.rho;
            for a in 0..d * p {
                for b in 0..d * p {
                    big_m[(a, b)] *= c2;
                }
            }
            for i in 0..p {
                for a in 0..d {
                    big_m[(i * d + a, i * d + a)] += 1.0;
                    if cp {
                        for b in 0..d {
                            big_m[(i * d + a, i * d + b)] += sigma * xtx[(a, b)];
                        }
                    }
                }
            }
            BigSystem::Direct(big_m.llt(Side::Lower).map_err(|_| {
                Error::Numerical("the ADMM system matrix is not positive definite".into())
            })?)
        };
        let fty = ft_over_rho(&xm, &mask, &data.y, cfg.rho);
        Ok(ConvexReluAdmm {
            cfg,
            data,
            xm,
            patterns,
            sign,
            mask,
            small,
            big,
            fty,
            factorizations: 2,
        })
    }

    /// `(I + blockdiag(X^T X) + 2 Z^T Z / rho)^{-1} r` for `r` as a column-major `d x P`.
    fn solve_big(&self, mut r: Vec<f64>) -> Vec<f64> {
        let (n, d, p) = self.dims();
        let cp = matches!(self.cfg.formulation, Formulation::Cp);
        match &self.big {
            BigSystem::Direct(llt) => {
                // Column-major d x P is exactly the stacked vector (v_1; ...; v_P).
                llt.solve_in_place(MatMut::from_column_major_slice_mut(&mut r, d * p, 1));
                r
            }
            BigSystem::Woodbury(core) => {
                // K^{-1} = M0^{-1} - M0^{-1} Z^T (rho/2 I + Z M0^{-1} Z^T)^{-1} Z M0^{-1}
                if cp {
                    self.small
                        .solve_in_place(MatMut::from_column_major_slice_mut(&mut r, d, p));
                }
                let xt = mm(self.xm.as_ref(), mr(&r, d, p));
                let mut q = vec![0.0; n];
                for (col, mcol) in xt.chunks(n).zip(self.mask.chunks(n)) {
                    for k in 0..n {
                        q[k] += col[k] * mcol[k];
                    }
                }
                core.solve_in_place(MatMut::from_column_major_slice_mut(&mut q, n, 1));
                let qd: Vec<f64> = (0..n * p).map(|c| q[c % n] * self.mask[c]).collect();
                let mut corr = mm(self.xm.transpose(), mr(&qd, n, p));
                if cp {
                    self.small
                        .solve_in_place(MatMut::from_column_major_slice_mut(&mut corr, d, p));
                }
                r.iter_mut().zip(&corr).for_each(|(a, b)| *a -= b);
                r
            }
        }
    }

    /// True when the u-system is solved through the `n x n` Woodbury core.
    pub fn uses_woodbury(&self) -> bool {
        matches!(self.big, BigSystem::Woodbury(_))
    }

    /// Patterns in use.
    pub fn patterns(&self) -> &[Vec<bool>] {
        &self.patterns
    }

    /// The data.
    pub fn data(&self) -> &ReluData {
        &self.data
    }

    fn dims(&self) -> (usize, usize, usize) {
        (self.data.n, self.data.d, self.patterns.len())
    }

    /// `(2D_i - I) X m_i` for all `i` (`m` is `d x P` column-major; result `n x P`).
    fn cone(&self, m: &[f64]) -> Vec<f64> {
        let (_, d, p) = self.dims();
        let mut g = mm(self.xm.as_ref(), mr(m, d, p));
        g.iter_mut().zip(&self.sign).for_each(|(a, b)| *a *= b);
        g
    }

    /// `X^T (2D_i - I) t_i` for all `i` (`t` is `n x P`; result `d x P`).
    fn cone_t(&self, t: &[f64]) -> Vec<f64> {
        let (n, _, p) = self.dims();
        let st: Vec<f64> = t.iter().zip(&self.sign).map(|(a, b)| a * b).collect();
        mm(self.xm.transpose(), mr(&st, n, p))
    }

    /// Objective, cone violation, training accuracy and active neurons of `(v, w)`
    /// (column-major `d x P` vectors), from one product `X [v, w]`.
    pub fn evaluate(&self, v: &[f64], w: &[f64]) -> Evaluation {
        let (n, d, _) = self.dims();
        let (yhat, worst) = self.forward(v, w);
        let fit: f64 = match self.cfg.loss {
            Loss::Squared => {
                0.5 * yhat
                    .iter()
                    .zip(&self.data.y)
                    .map(|(a, b)| (a - b).powi(2))
                    .sum::<f64>()
            }
            Loss::Bce => yhat
                .iter()
                .zip(&self.data.y)
                .map(|(a, b)| bce(*a, *b).0)
                .sum(),
        };
        let correct = yhat
            .iter()
            .zip(&self.data.y)
            .filter(|(a, b)| **a != 0.0 && a.signum() == b.signum())
            .count();
        let norms: Vec<f64> = v.chunks(d).chain(w.chunks(d)).map(norm2).collect();
        Evaluation {
            objective: fit + self.cfg.beta * norms.iter().sum::<f64>(),
            cone_violation: worst,
            train_accuracy: correct as f64 / n as f64,
            neurons: norms.iter().filter(|v| **v > 0.0).count(),
        }
    }

    /// Predictions `ŷ = Σ_i D_i X (v_i − w_i)` and the largest cone violation (0 when gated),
    /// from one product `X [v, w]`.
    fn forward(&self, v: &[f64], w: &[f64]) -> (Vec<f64>, f64) {
        let (n, d, p) = self.dims();
        let mut both = v.to_vec();
        both.extend_from_slice(w);
        let xz = mm(self.xm.as_ref(), mr(&both, d, 2 * p));
        let (xv, xw) = xz.split_at(n * p);
        let mut yhat = vec![0.0; n];
        let mut worst: f64 = 0.0;
        let cp = matches!(self.cfg.formulation, Formulation::Cp);
        // Column by column (no index arithmetic; the same summation order as row-major
        // accumulation over the patterns).
        let cols = xv
            .chunks(n)
            .zip(xw.chunks(n))
            .zip(self.mask.chunks(n).zip(self.sign.chunks(n)));
        for ((cv, cw), (mk, sg)) in cols {
            for (((y, m), a), b) in yhat.iter_mut().zip(mk).zip(cv).zip(cw) {
                *y += m * (a - b);
            }
            if cp {
                for ((sg, a), b) in sg.iter().zip(cv).zip(cw) {
                    let (a, b) = (-sg * a, -sg * b);
                    let m = if a > b { a } else { b };
                    worst = if m > worst { m } else { worst };
                }
            }
        }
        (yhat, worst)
    }

    /// CP objective of `(v, w)` (column-major `d x P` vectors).
    pub fn objective(&self, v: &[f64], w: &[f64]) -> f64 {
        self.evaluate(v, w).objective
    }

    /// Largest cone violation `max(0, -min (2D_i - I) X m_i)` over both halves.
    pub fn cone_violation(&self, v: &[f64], w: &[f64]) -> f64 {
        self.evaluate(v, w).cone_violation
    }

    /// The ReLU network of a CP solution: `u = v_i / sqrt(||v_i||)`, `alpha = sqrt(||v_i||)`
    /// (and `-sqrt(||w_i||)` for `w`), for every group with norm above `tol`.
    pub fn recover(&self, v: &[f64], w: &[f64], tol: f64) -> ReluNet {
        let d = self.data.d;
        let mut net = ReluNet {
            u: Vec::new(),
            alpha: Vec::new(),
        };
        for (half, sign) in [(v, 1.0), (w, -1.0)] {
            for g in half.chunks(d) {
                let nrm = norm2(g);
                if nrm > tol {
                    let s = nrm.sqrt();
                    net.u.push(g.iter().map(|x| x / s).collect());
                    net.alpha.push(sign * s);
                }
            }
        }
        net
    }

    /// One ADMM iteration (the map `T` of the state), residuals included.
    fn iterate(&mut self, s: &mut AdmmState) {
        let (n, d, p) = self.dims();
        let cp = matches!(self.cfg.formulation, Formulation::Cp);
        let (rho, beta, step, relax) = (
            self.cfg.rho,
            self.cfg.beta,
            self.cfg.dual_step,
            self.cfg.relaxation,
        );
        let dp = d * p;
        let sigma = self.cfg.cone_weight;
        // 1. u-update through the (a, b) = (v - w, v + w) split; G^T s and G^T nu are cached.
        // BCE: the same system with the working response ŷ_k − ℓ'(ŷ_k) at the last u.
        let inner = match self.cfg.loss {
            Loss::Squared => 1,
            Loss::Bce => self.cfg.bce_inner_steps,
        };
        let (mut v, mut w) = (s.v.clone(), s.w.clone());
        for _ in 0..inner {
            let fty_bce;
            let fty = match self.cfg.loss {
                Loss::Squared => self.fty.as_ref(),
                Loss::Bce => {
                    let (yhat, _) = self.forward(&v, &w);
                    let r: Vec<f64> = yhat
                        .iter()
                        .zip(&self.data.y)
                        .map(|(h, y)| h - bce(*h, *y).1)
                        .collect();
                    fty_bce = ft_over_rho(&self.xm, &self.mask, &r, rho);
                    fty_bce.as_ref()
                }
            };
            let mut rv = vec![0.0; dp];
            let mut rw = vec![0.0; dp];
            for c in 0..dp {
                let f = fty[(c % d, c / d)];
                rv[c] = f + s.zv[c] - s.lv[c];
                rw[c] = s.zw[c] - s.lw[c] - f;
                if cp {
                    rv[c] += sigma * (s.gts_v[c] - s.gtn_v[c]);
                    rw[c] += sigma * (s.gts_w[c] - s.gtn_w[c]);
                }
            }
            let mut b: Vec<f64> = rv.iter().zip(&rw).map(|(x, y)| x + y).collect();
            if cp {
                self.small
                    .solve_in_place(MatMut::from_column_major_slice_mut(&mut b, d, p));
            }
            let a = self.solve_big(rv.iter().zip(&rw).map(|(x, y)| x - y).collect());
            v = a.iter().zip(&b).map(|(x, y)| 0.5 * (x + y)).collect();
            w = a.iter().zip(&b).map(|(x, y)| 0.5 * (y - x)).collect();
        }
        // Over-relaxation (1: plain ADMM): u_hat = relax u + (1 - relax) z_old.
        let vh: Vec<f64> = v
            .iter()
            .zip(&s.zv)
            .map(|(x, z)| relax * x + (1.0 - relax) * z)
            .collect();
        let wh: Vec<f64> = w
            .iter()
            .zip(&s.zw)
            .map(|(x, z)| relax * x + (1.0 - relax) * z)
            .collect();
        // 2. z-update (group soft threshold) and its duals.
        let zv_new = group_prox(&vh, &s.lv, d, beta / rho);
        let zw_new = group_prox(&wh, &s.lw, d, beta / rho);
        for c in 0..dp {
            s.lv[c] += step * (vh[c] - zv_new[c]);
            s.lw[c] += step * (wh[c] - zw_new[c]);
        }
        let mut pri2 = sqdiff(&v, &zv_new) + sqdiff(&w, &zw_new);
        let mut dual2 = rho * rho * (sqdiff(&zv_new, &s.zv) + sqdiff(&zw_new, &s.zw));
        let mut unorm = sq(&v) + sq(&w);
        let mut znorm = sq(&zv_new) + sq(&zw_new);
        let mut ynorm = sq(&s.lv) + sq(&s.lw);
        // 3.-4. slacks and their duals, per half.
        if cp {
            let halves = [
                (&v, &mut s.sv, &mut s.nv, &mut s.gts_v, &mut s.gtn_v),
                (&w, &mut s.sw, &mut s.nw, &mut s.gts_w, &mut s.gtn_w),
            ];
            for (u, sl, nu, gts, gtn) in halves {
                let g = self.cone(u);
                let mut s_new = vec![0.0; n * p];
                for (((sn, nc), gc), sc) in
                    s_new.iter_mut().zip(nu.iter_mut()).zip(&g).zip(sl.iter())
                {
                    let gh = relax * gc + (1.0 - relax) * sc;
                    let t = gh + *nc;
                    *sn = if t > 0.0 { t } else { 0.0 };
                    *nc += step * (gh - *sn);
                }
                pri2 += sqdiff(&g, &s_new);
                unorm += sq(&g);
                znorm += sq(&s_new);
                let gts_new = self.cone_t(&s_new);
                let gtn_new = self.cone_t(nu);
                dual2 += (rho * sigma).powi(2) * sqdiff(&gts_new, gts);
                ynorm += sigma * sigma * sq(&gtn_new);
                *sl = s_new;
                *gts = gts_new;
                *gtn = gtn_new;
            }
        }
        let m_rows = if cp { 2 * dp + 2 * n * p } else { 2 * dp };
        s.primal = pri2.sqrt();
        s.dual = dual2.sqrt();
        s.eps_pri = self.cfg.eps_abs * (m_rows as f64).sqrt()
            + self.cfg.eps_rel * unorm.sqrt().max(znorm.sqrt());
        s.eps_dual =
            self.cfg.eps_abs * ((2 * dp) as f64).sqrt() + self.cfg.eps_rel * rho * ynorm.sqrt();
        s.v = v;
        s.w = w;
        s.zv = zv_new;
        s.zw = zw_new;
        s.k += 1;
    }

    fn metrics(&self, s: &AdmmState) -> BTreeMap<String, f64> {
        let e = self.evaluate(&s.zv, &s.zw);
        let mut m = BTreeMap::new();
        m.insert("objective".into(), e.objective);
        m.insert("cone_violation".into(), e.cone_violation);
        m.insert("primal_residual".into(), s.primal);
        m.insert("dual_residual".into(), s.dual);
        m.insert("neurons".into(), e.neurons as f64);
        m.insert("train_accuracy".into(), e.train_accuracy);
        m
    }
}

/// Group soft threshold of `u + l` (columns of length `d`) at `t`.
fn group_prox(u: &[f64], l: &[f64], d: usize, t: f64) -> Vec<f64> {
    let mut z: Vec<f64> = u.iter().zip(l).map(|(a, b)| a + b).collect();
    for g in z.chunks_mut(d) {
        let nrm = norm2(g);
        let c = if nrm > t { 1.0 - t / nrm } else { 0.0 };
        g.iter_mut().for_each(|v| *v *= c);
    }
    z
}

impl Solver for ConvexReluAdmm {
    type State = AdmmState;

    fn init(&mut self, _ctx: &mut RunContext) -> Result<AdmmState> {
        let (n, d, p) = self.dims();
        let z = |r: usize| vec![0.0; r * p];
        Ok(AdmmState {
            v: z(d),
            w: z(d),
            zv: z(d),
            zw: z(d),
            sv: z(n),
            sw: z(n),
            lv: z(d),
            lw: z(d),
            nv: z(n),
            nw: z(n),
            gts_v: z(d),
            gts_w: z(d),
            gtn_v: z(d),
            gtn_w: z(d),
            primal: f64::MAX,
            dual: f64::MAX,
            eps_pri: 0.0,
            eps_dual: 0.0,
            k: 0,
            anderson: AndersonState::default(),
        })
    }

    fn initial_metrics(&mut self, s: &AdmmState) -> BTreeMap<String, f64> {
        let mut m = self.metrics(s);
        m.remove("primal_residual");
        m.remove("dual_residual");
        m
    }

    fn converged(&self, s: &AdmmState) -> Option<Status> {
        (s.k > 0 && s.primal <= s.eps_pri && s.dual <= s.eps_dual).then(|| Status::Converged {
            criterion: format!(
                "ADMM residuals primal {:.1e} <= {:.1e}, dual {:.1e} <= {:.1e}",
                s.primal, s.eps_pri, s.dual, s.eps_dual
            ),
        })
    }

    fn step(&mut self, s: &mut AdmmState, _ctx: &mut RunContext) -> Result<StepReport> {
        let memory = self.cfg.anderson_memory as usize;
        let cp = matches!(self.cfg.formulation, Formulation::Cp);
        let bce = self.cfg.loss == Loss::Bce;
        let x = (memory > 0).then(|| s.pack(cp, bce, false));
        self.iterate(s);
        if let Some(x) = x
            && self.converged(s).is_none()
        {
            let tx = s.pack(cp, bce, true);
            let acc = Anderson {
                memory,
                core: x.len(),
                reg: 1e-10,
            };
            let mut mem = std::mem::take(&mut s.anderson);
            let (next, _) = acc.next(&mut mem, &x, tx);
            s.anderson = mem;
            s.unpack(cp, bce, &next);
        }
        Ok(StepReport::go(self.metrics(s)))
    }

    fn is_finite(&self, s: &AdmmState) -> bool {
        s.v.iter()
            .chain(&s.w)
            .chain(&s.lv)
            .chain(&s.nv)
            .all(|v| v.is_finite())
    }

    fn value(&self, s: &AdmmState) -> Option<f64> {
        Some(self.objective(&s.zv, &s.zw))
    }

    fn counts(&self, s: &AdmmState) -> OracleCounts {
        let mut c = OracleCounts::default();
        c.add("admm_iters", s.k);
        c.add("factorizations", self.factorizations as u64);
        c
    }

    fn extra(&mut self, s: &AdmmState) -> BTreeMap<String, f64> {
        let mut m = self.metrics(s);
        m.insert("patterns".into(), self.patterns.len() as f64);
        m
    }
}

/// Full-batch Adam settings for the non-convex baseline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NetTraining {
    /// Neurons.
    pub width: usize,
    /// Iterations.
    pub iters: usize,
    /// Adam step size.
    pub lr: f64,
}

/// Train the non-convex network `1/2 ||sum_j (X u_j)_+ alpha_j - y||^2 + beta/2 sum_j
/// (||u_j||^2 + alpha_j^2)` by full-batch Adam from a seeded Gaussian start (the baseline the
/// convex program is compared with). Returns the best network seen and its objective.
pub fn train_nonconvex(
    data: &ReluData,
    beta: f64,
    t: NetTraining,
    rng: &mut Rng,
) -> (ReluNet, f64) {
    let (n, d, m) = (data.n, data.d, t.width);
    let xm = data.mat();
    let du = d * m;
    let mut theta = init_net_params(d, m, rng);
    let mut adam = Adam::new(theta.len(), t.lr);
    let mut best = (ReluNet::from_params(&theta, d, m), f64::INFINITY);
    for _ in 0..t.iters {
        let (u, a) = theta.split_at(du);
        // z = X U (n x m, column-major).
        let z = mm(xm.as_ref(), mr(u, d, m));
        let mut r = vec![0.0; n];
        for (k, rk) in r.iter_mut().enumerate() {
            let yhat: f64 = (0..m).map(|j| z[j * n + k].max(0.0) * a[j]).sum();
            *rk = yhat - data.y[k];
        }
        let f = 0.5 * r.iter().map(|v| v * v).sum::<f64>() + 0.5 * beta * sq(&theta);
        if f < best.1 {
            best = (ReluNet::from_params(&theta, d, m), f);
        }
        let gz: Vec<f64> = (0..n * m)
            .map(|c| if z[c] > 0.0 { r[c % n] * a[c / n] } else { 0.0 })
            .collect();
        let mut g = mm(xm.transpose(), mr(&gz, n, m));
        g.extend((0..m).map(|j| (0..n).map(|k| r[k] * z[j * n + k].max(0.0)).sum::<f64>()));
        g.iter_mut().zip(&theta).for_each(|(gi, x)| *gi += beta * x);
        adam.step(&mut theta, &g);
    }
    let last = ReluNet::from_params(&theta, d, m);
    let f = last.objective(data, beta);
    if f < best.1 { (last, f) } else { best }
}

/// Parameters of a `width`-neuron network, neuron-major `[u_1, ..., u_m, alpha]`, drawn
/// `N(0, 1/d)` and `N(0, 1/m)`.
pub(crate) fn init_net_params(d: usize, m: usize, rng: &mut Rng) -> Vec<f64> {
    let mut theta: Vec<f64> = (0..d * m)
        .map(|_| normal(rng) / (d as f64).sqrt())
        .collect();
    theta.extend((0..m).map(|_| normal(rng) / (m as f64).sqrt()));
    theta
}

/// Adam (Kingma & Ba; 0.9, 0.999, 1e-8) on a flat parameter vector: the optimizer of the
/// non-convex baselines.
pub(crate) struct Adam {
    lr: f64,
    m: Vec<f64>,
    v: Vec<f64>,
    t: i32,
}

impl Adam {
    pub(crate) fn new(n: usize, lr: f64) -> Self {
        Adam {
            lr,
            m: vec![0.0; n],
            v: vec![0.0; n],
            t: 0,
        }
    }

    pub(crate) fn step(&mut self, x: &mut [f64], g: &[f64]) {
        let (b1, b2, eps) = (0.9, 0.999, 1e-8);
        self.t += 1;
        let (c1, c2) = (1.0 - f64::powi(b1, self.t), 1.0 - f64::powi(b2, self.t));
        for ((xi, gi), (mi, vi)) in x.iter_mut().zip(g).zip(self.m.iter_mut().zip(&mut self.v)) {
            *mi = b1 * *mi + (1.0 - b1) * gi;
            *vi = b2 * *vi + (1.0 - b2) * gi * gi;
            *xi -= self.lr * (*mi / c1) / ((*vi / c2).sqrt() + eps);
        }
    }
}

/// Problem names for the CLI.
pub const PROBLEMS: &[&str] = &["relu-breast-cancer", "relu-digits", "relu-toy-2d"];

/// `[problem]` options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReluProblemSpec {
    /// One of [`PROBLEMS`].
    pub name: String,
    /// `relu-digits`: the two digit classes (first -> +1, second -> -1).
    #[serde(default = "default_classes")]
    pub classes: [usize; 2],
    /// `relu-toy-2d`: samples.
    #[serde(default = "default_toy_n")]
    pub n: usize,
    /// `relu-toy-2d`: data seed.
    #[serde(default)]
    pub seed: u64,
}

fn default_classes() -> [usize; 2] {
    [3, 8]
}

fn default_toy_n() -> usize {
    40
}

/// Default `[problem]` table.
pub fn default_problem(name: &str) -> Result<toml::Table> {
    if !PROBLEMS.contains(&name) {
        return Err(Error::config(
            "problem.name",
            format!(
                "unknown convex-ReLU problem `{name}` (known: {})",
                PROBLEMS.join(", ")
            ),
        ));
    }
    optlab_core::registry::to_table(&ReluProblemSpec {
        name: name.into(),
        classes: default_classes(),
        n: default_toy_n(),
        seed: 0,
    })
}

/// Standardized features plus a ones column, ±1 labels (`positive` -> +1).
fn binary_task(
    ds: &optlab_problems::data::Dataset,
    positive: usize,
    negative: usize,
) -> Result<ReluData> {
    let idx: Vec<usize> = (0..ds.len())
        .filter(|&i| ds.y[i] == positive || ds.y[i] == negative)
        .collect();
    let mut sub = ds.subset(&idx);
    sub.standardize();
    let d = sub.n_features + 1;
    let mut x = Vec::with_capacity(idx.len() * d);
    for i in 0..sub.len() {
        x.extend_from_slice(sub.row(i));
        x.push(1.0);
    }
    let y = sub
        .y
        .iter()
        .map(|&c| if c == positive { 1.0 } else { -1.0 })
        .collect();
    ReluData::binary(x, sub.len(), d, y)
}

/// 2-D data (no bias) labelled by a 3-neuron ReLU teacher plus noise.
pub fn toy_2d(n: usize, seed: u64) -> Result<ReluData> {
    let mut rng = optlab_core::seed::stream(seed, "relu-toy-2d");
    let x: Vec<f64> = (0..2 * n).map(|_| normal(&mut rng)).collect();
    let teacher = ReluNet {
        u: vec![vec![-1.9, -0.8], vec![-0.5, -1.2], vec![-1.5, 0.04]],
        alpha: vec![1.0, -1.0, 0.5],
    };
    let y: Vec<f64> = teacher
        .predict(&x, 2)
        .into_iter()
        .map(|v| v + 0.05 * normal(&mut rng))
        .collect();
    ReluData::new(x, n, 2, y)
}

/// Build a problem's data from its table.
pub fn build_problem(table: &toml::Table) -> Result<ReluData> {
    let spec: ReluProblemSpec = optlab_core::registry::from_table("problem", table)?;
    match spec.name.as_str() {
        "relu-breast-cancer" => binary_task(&optlab_problems::data::breast_cancer()?, 1, 0),
        "relu-digits" => {
            let [a, b] = spec.classes;
            if a == b || a > 9 || b > 9 {
                return Err(Error::config(
                    "problem.classes",
                    "two different digits in 0..=9",
                ));
            }
            binary_task(&optlab_problems::data::digits()?, a, b)
        }
        "relu-toy-2d" => {
            if spec.n < 3 {
                return Err(Error::config("problem.n", "needs at least 3 samples"));
            }
            toy_2d(spec.n, spec.seed)
        }
        other => Err(Error::config(
            "problem.name",
            format!(
                "unknown convex-ReLU problem `{other}` (known: {})",
                PROBLEMS.join(", ")
            ),
        )),
    }
}

/// The patterns a config asks for: `patterns` Gaussian samples (stream `patterns`), or all of
/// them for 2-D data when `patterns = 0`.
pub fn patterns_for(cfg: &ConvexReluConfig, data: &ReluData, seed: u64) -> Result<Vec<Vec<bool>>> {
    if cfg.patterns == 0 {
        enumerate_patterns_2d(data)
    } else {
        Ok(sample_patterns(
            data,
            cfg.patterns,
            &mut optlab_core::seed::stream(seed, "patterns"),
        ))
    }
}
