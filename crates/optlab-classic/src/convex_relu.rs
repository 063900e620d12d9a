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
use optlab_linalg::{fastmath, norm2};
use rand::seq::SliceRandom as _;
use serde::{Deserialize, Serialize};
use std::cell::Cell;
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

/// Diagonal scaling of the cone constraints' rows (a preconditioner of the ADMM: the same
/// program, the same optimum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ConeScaling {
    /// The paper: `(2D_i - I) X v_i >= 0` as it stands.
    #[default]
    None,
    /// Row `k` of every cone block scaled by `1/||x_k||`, the scales normalized to unit mean
    /// square (row equilibration, as OSQP and SCS do for their constraint matrices).
    RowNorm,
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
    /// Row scaling of the cone constraints (`none`: the paper; `row-norm`: row equilibration).
    /// The slacks and their duals live in the scaled rows; the reported cone violation is
    /// always the unscaled one.
    pub cone_scaling: ConeScaling,
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
    /// Evaluate the record's objective, cone violation, accuracy and neuron count every this
    /// many iterations (and at the first, and when converged; each evaluation costs a product
    /// `X [z_v, z_w]`, 2 of an iteration's 8 `n x d x P` products with the Woodbury core and
    /// `check_every = 1`). The residuals and the stopping test are every
    /// [`ConvexReluConfig::check_every`] iterations.
    pub eval_every: u64,
    /// Compute the ADMM residuals and apply the stopping test every this many iterations (and
    /// at the first). 1 (the default) is every iteration. With `k > 1` (OSQP's
    /// `check_termination`, beyond the paper) the iterations in between skip the residuals'
    /// sums and form only the one signed combination `(2D − I)(s − nu)` the next u-update
    /// needs: per half one signed `n x P` block for `G^T` instead of two (`s`, `nu`); a check
    /// iteration forms three (`s⁺ − nu⁺`, `s⁺ − s`, `nu⁺`). The iterates are the same up to
    /// rounding (`G^T (s − nu)` is one product); what changes is where the run can stop, which
    /// rows (and whether the final summary) carry residuals, and that between the checks only
    /// a non-finite slack or dual stops the run (the checks' squared sums also overflow near
    /// 1e154). Ignored (every iteration) with Anderson acceleration, which keeps `G^T s` and
    /// `G^T nu` apart, and with the gated formulation, which has no slacks.
    pub check_every: u64,
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
            cone_scaling: ConeScaling::None,
            linear_solver: LinearSolver::Auto,
            eps_abs: 1e-7,
            eps_rel: 1e-6,
            max_iters: 20_000,
            max_time_s: 0.0,
            eval_every: 1,
            check_every: 1,
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
        at_least_one("eval_every", self.eval_every)?;
        at_least_one("check_every", self.check_every)?;
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
    /// Cached `G^T s` (`v` half, `d x P`); with `check_every > 1`, `G^T (s − nu)`.
    pub gts_v: Vec<f64>,
    /// Cached `G^T s` (`w` half); with `check_every > 1`, `G^T (s − nu)`.
    pub gts_w: Vec<f64>,
    /// Cached `G^T nu` (`v` half); empty with `check_every > 1` (then the u-update reads
    /// `gts_v` alone). A state saved that way and resumed with `check_every = 1` iterates
    /// correctly, but its first dual residual compares `G^T s⁺` with `G^T (s − nu)` and is too
    /// large (it can only delay the stop by an iteration).
    pub gtn_v: Vec<f64>,
    /// Cached `G^T nu` (`w` half); empty with `check_every > 1`.
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
    /// Training objective of the ReLU network recovered from the iterate
    /// ([`ConvexReluAdmm::recover`]): the loss of `Σ_i (X v_i)_+ − (X w_i)_+` plus the same
    /// `β Σ (||v_i|| + ||w_i||)`. It equals `objective` when the cones hold, and is the value of
    /// a real network (a feasible point of the nonconvex training problem) when they do not.
    /// `None` for the gated formulation, whose model is not a ReLU network.
    pub network_objective: Option<f64>,
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
    /// `X` with the cone rows' scaling ([`ConeScaling`]): the `G` products use it.
    xg: Mat<f64>,
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
    fty: Vec<f64>,
    /// Factorizations performed (1 after construction; never more).
    pub factorizations: usize,
    /// Buffers reused by every iteration.
    work: Work,
    /// `(k, objective)` of the last evaluated row, for [`Solver::step_value`].
    last_objective: Cell<Option<(u64, f64)>>,
}

/// Buffers of one iteration, reused so that an iteration allocates nothing (squared loss).
#[derive(Default)]
struct Work {
    /// Right-hand sides of the `v` and `w` halves (`d x P`).
    rv: Vec<f64>,
    rw: Vec<f64>,
    /// The `a = v - w` and `b = v + w` coordinates (`d x P`).
    a: Vec<f64>,
    b: Vec<f64>,
    /// Over-relaxed `u` halves (`d x P`).
    vh: Vec<f64>,
    wh: Vec<f64>,
    /// `[v, w]` side by side (`d x 2P`).
    vw: Vec<f64>,
    /// `X [v, w]` (`n x 2P`), also the `n x P` product inside the Woodbury solve.
    xt: Vec<f64>,
    /// The Woodbury core's right-hand side (`n`).
    q: Vec<f64>,
    /// `D q` (`n x P`).
    qd: Vec<f64>,
    /// The Woodbury correction (`d x P`).
    corr: Vec<f64>,
    /// The signed blocks of both halves for `G^T` ([`SlackMode`]; `n x 2P` per block, at
    /// most three blocks).
    t4: Vec<f64>,
    /// `X_g^T t4` (`d x 2P` per block).
    g4: Vec<f64>,
    /// Predictions (`n`).
    yhat: Vec<f64>,
    /// Predictions of the recovered ReLU network (`n`).
    ynet: Vec<f64>,
    /// The next state, written by an iteration and swapped in when it is finite.
    next: Option<AdmmState>,
}

/// `out = lhs * rhs` into a reused column-major buffer.
fn mm_into(out: &mut Vec<f64>, lhs: MatRef<'_, f64>, rhs: MatRef<'_, f64>) {
    let (r, c) = (lhs.nrows(), rhs.ncols());
    out.resize(r * c, 0.0);
    matmul(
        MatMut::from_column_major_slice_mut(out, r, c),
        Accum::Replace,
        lhs,
        rhs,
        1.0,
        Par::Seq,
    );
}

/// Fills `out` (resized to `len`) from `f(c)`.
fn fill(out: &mut Vec<f64>, len: usize, f: impl Fn(usize) -> f64) {
    out.clear();
    out.extend((0..len).map(f));
}

/// `F^T r / rho` for the `v` half (`d x P`; block `i` is `X^T D_i r / rho`; the `w` half is its
/// negative), with `D` as the 0/1 `mask` (`n x P`, column-major).
fn ft_over_rho(xm: &Mat<f64>, mask: &[f64], r: &[f64], rho: f64) -> Vec<f64> {
    let n = r.len();
    let p = mask.len() / n.max(1);
    let dr = Mat::from_fn(n, p, |k, i| if mask[i * n + k] != 0.0 { r[k] } else { 0.0 });
    let mut out = mm(xm.transpose(), dr.as_ref());
    out.iter_mut().for_each(|v| *v *= 1.0 / rho);
    out
}

fn mr(v: &[f64], r: usize, c: usize) -> MatRef<'_, f64> {
    MatRef::from_column_major_slice(v, r, c)
}

/// `lhs * rhs` into a fresh column-major vector.
fn mm(lhs: MatRef<'_, f64>, rhs: MatRef<'_, f64>) -> Vec<f64> {
    let mut out = Vec::new();
    mm_into(&mut out, lhs, rhs);
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
        let scale: Vec<f64> = match cfg.cone_scaling {
            ConeScaling::None => vec![1.0; n],
            ConeScaling::RowNorm => {
                let inv: Vec<f64> = (0..n)
                    .map(|k| {
                        let r = norm2(&data.x[k * d..(k + 1) * d]);
                        if r > 0.0 { 1.0 / r } else { 1.0 }
                    })
                    .collect();
                let rms = (inv.iter().map(|v| v * v).sum::<f64>() / n as f64).sqrt();
                inv.iter().map(|v| v / rms).collect()
            }
        };
        let xg = Mat::from_fn(n, d, |k, j| scale[k] * xm[(k, j)]);
        let xtx = xg.transpose() * &xg;
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
            xg,
            patterns,
            sign,
            mask,
            small,
            big,
            fty,
            factorizations: 2,
            work: Work::default(),
            last_objective: Cell::new(None),
        })
    }

    /// `r <- (I + blockdiag(X^T X) + 2 Z^T Z / rho)^{-1} r` for `r` as a column-major `d x P`
    /// (`xt`, `q`, `qd`, `corr`: the Woodbury solve's buffers).
    fn solve_big(
        &self,
        r: &mut [f64],
        xt: &mut Vec<f64>,
        q: &mut Vec<f64>,
        qd: &mut Vec<f64>,
        corr: &mut Vec<f64>,
    ) {
        let (n, d, p) = self.dims();
        let cp = matches!(self.cfg.formulation, Formulation::Cp);
        match &self.big {
            BigSystem::Direct(llt) => {
                // Column-major d x P is exactly the stacked vector (v_1; ...; v_P).
                llt.solve_in_place(MatMut::from_column_major_slice_mut(r, d * p, 1));
            }
            BigSystem::Woodbury(core) => {
                // K^{-1} = M0^{-1} - M0^{-1} Z^T (rho/2 I + Z M0^{-1} Z^T)^{-1} Z M0^{-1}
                if cp {
                    self.small
                        .solve_in_place(MatMut::from_column_major_slice_mut(r, d, p));
                }
                mm_into(xt, self.xm.as_ref(), mr(r, d, p));
                q.clear();
                q.resize(n, 0.0);
                for (col, mcol) in xt.chunks(n).zip(self.mask.chunks(n)) {
                    for ((qk, x), m) in q.iter_mut().zip(col).zip(mcol) {
                        *qk += x * m;
                    }
                }
                core.solve_in_place(MatMut::from_column_major_slice_mut(q, n, 1));
                qd.clear();
                for mcol in self.mask.chunks(n) {
                    qd.extend(q.iter().zip(mcol).map(|(a, m)| a * m));
                }
                mm_into(corr, self.xm.transpose(), mr(qd, n, p));
                if cp {
                    self.small
                        .solve_in_place(MatMut::from_column_major_slice_mut(corr, d, p));
                }
                r.iter_mut().zip(corr.iter()).for_each(|(a, b)| *a -= b);
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

    /// Objective, cone violation, training accuracy and active neurons of `(v, w)`
    /// (column-major `d x P` vectors), from one product `X [v, w]`.
    pub fn evaluate(&self, v: &[f64], w: &[f64]) -> Evaluation {
        self.evaluate_with(v, w, &mut Work::default())
    }

    /// [`ConvexReluAdmm::evaluate`] in reused buffers.
    fn evaluate_with(&self, v: &[f64], w: &[f64], wk: &mut Work) -> Evaluation {
        let (n, d, p) = self.dims();
        let worst = self.forward(v, w, wk);
        let loss = |pred: &[f64]| -> f64 {
            match self.cfg.loss {
                Loss::Squared => {
                    0.5 * pred
                        .iter()
                        .zip(&self.data.y)
                        .map(|(a, b)| (a - b).powi(2))
                        .sum::<f64>()
                }
                Loss::Bce => pred
                    .iter()
                    .zip(&self.data.y)
                    .map(|(a, b)| bce(*a, *b).0)
                    .sum(),
            }
        };
        let fit = loss(&wk.yhat);
        // The recovered network's predictions from the same product `X [v, w]` (in `wk.xt`):
        // neuron `u = v_i / sqrt||v_i||` with output weight `sqrt||v_i||` gives `(X v_i)_+`.
        let net_fit = if matches!(self.cfg.formulation, Formulation::Cp) {
            let (xv, xw) = wk.xt.split_at(n * p);
            wk.ynet.clear();
            wk.ynet.resize(n, 0.0);
            for (cv, cw) in xv.chunks(n).zip(xw.chunks(n)) {
                for ((y, a), b) in wk.ynet.iter_mut().zip(cv).zip(cw) {
                    *y += a.max(0.0) - b.max(0.0);
                }
            }
            Some(loss(&wk.ynet))
        } else {
            None
        };
        let yhat = &wk.yhat;
        let correct = yhat
            .iter()
            .zip(&self.data.y)
            .filter(|(a, b)| **a != 0.0 && a.signum() == b.signum())
            .count();
        let (mut penalty, mut neurons) = (0.0, 0);
        for g in v.chunks(d).chain(w.chunks(d)) {
            let nrm = norm2(g);
            penalty += nrm;
            neurons += usize::from(nrm > 0.0);
        }
        Evaluation {
            objective: fit + self.cfg.beta * penalty,
            cone_violation: worst,
            train_accuracy: correct as f64 / n as f64,
            neurons,
            network_objective: net_fit.map(|f| f + self.cfg.beta * penalty),
        }
    }

    /// Predictions `ŷ = Σ_i D_i X (v_i − w_i)` into `wk.yhat` and the largest cone violation
    /// (0 when gated), from one product `X [v, w]` (into `wk.xt`; `wk.vw` holds `[v, w]`).
    fn forward(&self, v: &[f64], w: &[f64], wk: &mut Work) -> f64 {
        let (n, d, p) = self.dims();
        let (vw, xt, yhat) = (&mut wk.vw, &mut wk.xt, &mut wk.yhat);
        vw.clear();
        vw.extend_from_slice(v);
        vw.extend_from_slice(w);
        mm_into(xt, self.xm.as_ref(), mr(vw, d, 2 * p));
        let (xv, xw) = xt.split_at(n * p);
        yhat.clear();
        yhat.resize(n, 0.0);
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
                // Eight running maxima, so that the loop vectorizes.
                let mut lanes = [0.0f64; 8];
                let (sc, ac, bc) = (sg.chunks_exact(8), cv.chunks_exact(8), cw.chunks_exact(8));
                let tail = sc
                    .remainder()
                    .iter()
                    .zip(ac.remainder())
                    .zip(bc.remainder());
                for ((sg, a), b) in sc.zip(ac).zip(bc) {
                    for k in 0..8 {
                        let (a, b) = (-sg[k] * a[k], -sg[k] * b[k]);
                        let m = if a > b { a } else { b };
                        lanes[k] = if m > lanes[k] { m } else { lanes[k] };
                    }
                }
                for ((sg, a), b) in tail {
                    let (a, b) = (-sg * a, -sg * b);
                    let m = if a > b { a } else { b };
                    worst = if m > worst { m } else { worst };
                }
                for l in lanes {
                    worst = if l > worst { l } else { worst };
                }
            }
        }
        worst
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

    /// One ADMM iteration (the map `T` of the state), with the residuals on the iterations
    /// [`ConvexReluConfig::check_every`] checks (else the last check's, carried over): reads
    /// `s`, writes every field of `nx` but the Anderson memory. Returns false when the new
    /// state is not finite.
    fn iterate(&self, s: &AdmmState, nx: &mut AdmmState, wk: &mut Work) -> bool {
        let (n, d, p) = self.dims();
        let cp = matches!(self.cfg.formulation, Formulation::Cp);
        let (rho, beta, step, relax) = (
            self.cfg.rho,
            self.cfg.beta,
            self.cfg.dual_step,
            self.cfg.relaxation,
        );
        let dp = d * p;
        let np = n * p;
        let sigma = self.cfg.cone_weight;
        // 1. u-update through the (a, b) = (v - w, v + w) split; G^T (s - nu) is cached (as
        // G^T s and G^T nu, or as the difference, `SlackMode`).
        // BCE: the same system with the working response ŷ_k − ℓ'(ŷ_k) at the last u.
        let inner = match self.cfg.loss {
            Loss::Squared => 1,
            Loss::Bce => self.cfg.bce_inner_steps,
        };
        for it in 0..inner {
            let fty_bce;
            let fty: &[f64] = match self.cfg.loss {
                Loss::Squared => &self.fty,
                Loss::Bce => {
                    let (v, w) = if it == 0 {
                        (&s.v, &s.w)
                    } else {
                        (&nx.v, &nx.w)
                    };
                    self.forward(v, w, wk);
                    let r: Vec<f64> = wk
                        .yhat
                        .iter()
                        .zip(&self.data.y)
                        .map(|(h, y)| h - bce(*h, *y).1)
                        .collect();
                    fty_bce = ft_over_rho(&self.xm, &self.mask, &r, rho);
                    &fty_bce
                }
            };
            // F^T y / rho (the v half; the w half is its negative).
            wk.rv.clear();
            wk.rv.extend_from_slice(fty);
            let sig = if cp { sigma } else { 0.0 };
            // `G^T (s - nu)`: `gts - gtn`, or `gts` alone where `check_every > 1` keeps only
            // the difference (`gtn` empty).
            let gv = |c: usize| s.gts_v[c] - s.gtn_v.get(c).copied().unwrap_or(0.0);
            let gw = |c: usize| s.gts_w[c] - s.gtn_w.get(c).copied().unwrap_or(0.0);
            fill(&mut wk.rw, dp, |c| {
                s.zw[c] - s.lw[c] - wk.rv[c] + sig * gw(c)
            });
            for c in 0..dp {
                wk.rv[c] = wk.rv[c] + s.zv[c] - s.lv[c] + sig * gv(c);
            }
            fill(&mut wk.b, dp, |c| wk.rv[c] + wk.rw[c]);
            if cp {
                self.small
                    .solve_in_place(MatMut::from_column_major_slice_mut(&mut wk.b, d, p));
            }
            fill(&mut wk.a, dp, |c| wk.rv[c] - wk.rw[c]);
            self.solve_big(&mut wk.a, &mut wk.xt, &mut wk.q, &mut wk.qd, &mut wk.corr);
            fill(&mut nx.v, dp, |c| 0.5 * (wk.a[c] + wk.b[c]));
            fill(&mut nx.w, dp, |c| 0.5 * (wk.b[c] - wk.a[c]));
        }
        // Over-relaxation (1: plain ADMM): u_hat = relax u + (1 - relax) z_old.
        fill(&mut wk.vh, dp, |c| {
            relax * nx.v[c] + (1.0 - relax) * s.zv[c]
        });
        fill(&mut wk.wh, dp, |c| {
            relax * nx.w[c] + (1.0 - relax) * s.zw[c]
        });
        // 2. z-update (group soft threshold) and its duals.
        group_prox(&mut nx.zv, &wk.vh, &s.lv, d, beta / rho);
        group_prox(&mut nx.zw, &wk.wh, &s.lw, d, beta / rho);
        fill(&mut nx.lv, dp, |c| s.lv[c] + step * (wk.vh[c] - nx.zv[c]));
        fill(&mut nx.lw, dp, |c| s.lw[c] + step * (wk.wh[c] - nx.zw[c]));
        let mut pri2 = sqdiff(&nx.v, &nx.zv) + sqdiff(&nx.w, &nx.zw);
        let mut dual2 = rho * rho * (sqdiff(&nx.zv, &s.zv) + sqdiff(&nx.zw, &s.zw));
        let mut unorm = sq(&nx.v) + sq(&nx.w);
        let mut znorm = sq(&nx.zv) + sq(&nx.zw);
        let mut ynorm = sq(&nx.lv) + sq(&nx.lw);
        let mut check = 0.0;
        // 3.-4. slacks and their duals: G [v, w] in one product, then G^T of the signed blocks
        // of both halves (`SlackMode`) in another.
        let mode = self.slack_mode(s.k + 1);
        let mut probe = 0.0;
        if cp {
            wk.vw.clear();
            wk.vw.extend_from_slice(&nx.v);
            wk.vw.extend_from_slice(&nx.w);
            mm_into(&mut wk.xt, self.xg.as_ref(), mr(&wk.vw, d, 2 * p));
            let blocks = mode.blocks();
            // The buffers only grow: the check iterations' three blocks, then one, would
            // otherwise zero-fill two at every check.
            let (len_t, len_g) = (2 * blocks * np, 2 * blocks * dp);
            if wk.t4.len() < len_t {
                wk.t4.resize(len_t, 0.0);
            }
            if wk.g4.len() < len_g {
                wk.g4.resize(len_g, 0.0);
            }
            // Block `b` of half `h` at `(2 b + h) n P`.
            let (mut tv, mut tw): ([&mut [f64]; 3], [&mut [f64]; 3]) =
                ([&mut [], &mut [], &mut []], [&mut [], &mut [], &mut []]);
            let mut chunks = wk.t4[..len_t].chunks_mut(np);
            for b in 0..blocks {
                if let (Some(a), Some(c)) = (chunks.next(), chunks.next()) {
                    tv[b] = a;
                    tw[b] = c;
                }
            }
            let halves = [
                (&s.sv, &s.nv, &mut nx.sv, &mut nx.nv, tv),
                (&s.sw, &s.nw, &mut nx.sw, &mut nx.nw, tw),
            ];
            for (h, (sl, nu, s_new, nu_new, t)) in halves.into_iter().enumerate() {
                s_new.resize(np, 0.0);
                nu_new.resize(np, 0.0);
                let sums = slack_update(
                    mode,
                    (relax, step),
                    (&mut wk.xt[h * np..(h + 1) * np], &self.sign[..np]),
                    (&sl[..], &nu[..]),
                    (&mut s_new[..], &mut nu_new[..]),
                    t,
                );
                if mode == SlackMode::Lean {
                    probe += sums[0];
                } else {
                    pri2 += sums[0];
                    unorm += sums[1];
                    znorm += sums[2];
                    check += sums[3];
                }
            }
            matmul(
                MatMut::from_column_major_slice_mut(&mut wk.g4[..len_g], d, 2 * blocks * p),
                Accum::Replace,
                self.xg.transpose(),
                mr(&wk.t4[..len_t], n, 2 * blocks * p),
                1.0,
                Par::Seq,
            );
            let (first, rest) = wk.g4[..len_g].split_at(2 * dp);
            let (g_v, g_w) = first.split_at(dp);
            nx.gts_v.clear();
            nx.gts_v.extend_from_slice(g_v);
            nx.gts_w.clear();
            nx.gts_w.extend_from_slice(g_w);
            match mode {
                SlackMode::Full => {
                    // `first` is `G^T s⁺`, `rest` `G^T nu⁺`.
                    // Half by half, in the order the sums had before `check_every` existed,
                    // so that `check_every = 1` reports the same bits.
                    let (gtn_v, gtn_w) = rest.split_at(dp);
                    let halves = [
                        (g_v, &s.gts_v, gtn_v, &mut nx.gtn_v),
                        (g_w, &s.gts_w, gtn_w, &mut nx.gtn_w),
                    ];
                    for (gts, old, gtn, gtn_new) in halves {
                        dual2 += (rho * sigma).powi(2) * sqdiff(gts, old);
                        ynorm += sigma * sigma * sq(gtn);
                        gtn_new.clear();
                        gtn_new.extend_from_slice(gtn);
                    }
                }
                SlackMode::Lean | SlackMode::LeanCheck => {
                    // `first` is `G^T (s⁺ - nu⁺)`; with the check, `rest` is
                    // `[G^T (s⁺ - s), G^T nu⁺]`.
                    if mode == SlackMode::LeanCheck {
                        let (ds, gtn) = rest.split_at(2 * dp);
                        dual2 += (rho * sigma).powi(2) * sq(ds);
                        ynorm += sigma * sigma * sq(gtn);
                    }
                    nx.gtn_v.clear();
                    nx.gtn_w.clear();
                }
            }
        } else {
            for (dst, src) in [
                (&mut nx.sv, &s.sv),
                (&mut nx.sw, &s.sw),
                (&mut nx.nv, &s.nv),
                (&mut nx.nw, &s.nw),
                (&mut nx.gts_v, &s.gts_v),
                (&mut nx.gts_w, &s.gts_w),
                (&mut nx.gtn_v, &s.gtn_v),
                (&mut nx.gtn_w, &s.gtn_w),
            ] {
                dst.clear();
                dst.extend_from_slice(src);
            }
        }
        let m_rows = if cp { 2 * dp + 2 * n * p } else { 2 * dp };
        if mode == SlackMode::Lean {
            // No residuals this iteration: the last check's stand (it did not stop the run).
            (nx.primal, nx.dual, nx.eps_pri, nx.eps_dual) =
                (s.primal, s.dual, s.eps_pri, s.eps_dual);
        } else {
            nx.primal = pri2.sqrt();
            nx.dual = dual2.sqrt();
            nx.eps_pri = self.cfg.eps_abs * (m_rows as f64).sqrt()
                + self.cfg.eps_rel * unorm.sqrt().max(znorm.sqrt());
            nx.eps_dual =
                self.cfg.eps_abs * ((2 * dp) as f64).sqrt() + self.cfg.eps_rel * rho * ynorm.sqrt();
        }
        nx.k = s.k + 1;
        [pri2, dual2, unorm, znorm, ynorm, check, probe]
            .iter()
            .all(|v| v.is_finite())
    }

    /// How the iteration that produces iterate `k` treats the slacks ([`SlackMode`]): `Lean`
    /// between the checks of [`ConvexReluConfig::check_every`] (CP formulation, no Anderson).
    fn slack_mode(&self, k: u64) -> SlackMode {
        let every = self.cfg.check_every;
        // The gated formulation has no slacks: its residuals cost nothing extra and stay every
        // iteration.
        let gated = !matches!(self.cfg.formulation, Formulation::Cp);
        if every <= 1 || self.cfg.anderson_memory > 0 || gated {
            SlackMode::Full
        } else if k <= 1 || k.is_multiple_of(every) {
            SlackMode::LeanCheck
        } else {
            SlackMode::Lean
        }
    }

    /// Whether iterate `k` carries fresh residuals (and so can pass the stopping test).
    fn checks(&self, k: u64) -> bool {
        self.slack_mode(k) != SlackMode::Lean
    }

    /// Whether the record's row of this state carries the objective ([`ConvexReluConfig::eval_every`]).
    fn evaluates(&self, s: &AdmmState) -> bool {
        s.k <= 1 || s.k.is_multiple_of(self.cfg.eval_every) || self.converged(s).is_some()
    }

    /// The record's metrics of a state (`wk`: buffers).
    fn metrics_with(&self, s: &AdmmState, wk: &mut Work) -> BTreeMap<String, f64> {
        let e = self.evaluate_with(&s.zv, &s.zw, wk);
        self.last_objective.set(Some((s.k, e.objective)));
        let mut m = BTreeMap::new();
        m.insert("objective".into(), e.objective);
        m.insert("cone_violation".into(), e.cone_violation);
        if self.checks(s.k) {
            m.insert("primal_residual".into(), s.primal);
            m.insert("dual_residual".into(), s.dual);
        }
        m.insert("neurons".into(), e.neurons as f64);
        m.insert("train_accuracy".into(), e.train_accuracy);
        if let Some(net) = e.network_objective {
            m.insert("network_objective".into(), net);
        }
        m
    }

    fn metrics(&mut self, s: &AdmmState) -> BTreeMap<String, f64> {
        let mut wk = std::mem::take(&mut self.work);
        let m = self.metrics_with(s, &mut wk);
        self.work = wk;
        m
    }
}

/// What [`slack_update`] writes for the `G^T` product, and whether it sums the residuals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlackMode {
    /// `t = [(2D − I) s⁺, (2D − I) nu⁺]`, residual sums (`check_every = 1`, Anderson).
    Full,
    /// `t = [(2D − I)(s⁺ − nu⁺)]` only; returns `[0, 0, 0, 0]`, or NaN first when `t` is not
    /// finite.
    Lean,
    /// `t = [(2D − I)(s⁺ − nu⁺), (2D − I)(s⁺ − s), (2D − I) nu⁺]`, residual sums.
    LeanCheck,
}

impl SlackMode {
    /// Signed `n x P` blocks a half writes for the `G^T` product.
    fn blocks(self) -> usize {
        match self {
            SlackMode::Full => 2,
            SlackMode::Lean => 1,
            SlackMode::LeanCheck => 3,
        }
    }
}

/// Steps 3.–4. for one half: with `g = sign ∘ xu` (`G u`), the relaxed
/// `ĝ = relax g + (1 - relax) s`, the slack `s⁺ = max(0, ĝ + nu)` and dual
/// `nu⁺ = nu + step (ĝ - s⁺)` into `s_new`, `nu_new`, and the signed blocks of `mode` into
/// `t` (for `G^T`). With the residual sums (`Full`, `LeanCheck`) `g` is written over `xu` and
/// the return is `[||g - s⁺||², ||g||², ||s⁺||², ||nu⁺||²]` (lane sums,
/// [`optlab_linalg::dot_lanes`]). Compiled for the CPU's best instruction set.
fn slack_update(
    mode: SlackMode,
    coef: (f64, f64),
    g: (&mut [f64], &[f64]),
    old: (&[f64], &[f64]),
    new: (&mut [f64], &mut [f64]),
    t: [&mut [f64]; 3],
) -> [f64; 4] {
    /// The kernel under the CPU's best instruction set.
    struct Op<'a> {
        mode: SlackMode,
        coef: (f64, f64),
        g: (&'a mut [f64], &'a [f64]),
        old: (&'a [f64], &'a [f64]),
        new: (&'a mut [f64], &'a mut [f64]),
        t: [&'a mut [f64]; 3],
    }
    impl fastmath::pulp::WithSimd for Op<'_> {
        type Output = [f64; 4];
        #[inline(always)]
        fn with_simd<S: fastmath::pulp::Simd>(self, _simd: S) -> [f64; 4] {
            match self.mode {
                SlackMode::Full => slack_kernel::<0>(self.coef, self.g, self.old, self.new, self.t),
                SlackMode::Lean => slack_kernel::<1>(self.coef, self.g, self.old, self.new, self.t),
                SlackMode::LeanCheck => {
                    slack_kernel::<2>(self.coef, self.g, self.old, self.new, self.t)
                }
            }
        }
    }
    fastmath::dispatch(Op {
        mode,
        coef,
        g,
        old,
        new,
        t,
    })
}

/// [`slack_update`]'s body (`MODE`: 0 `Full`, 1 `Lean`, 2 `LeanCheck`): one elementwise pass,
/// then the sums.
#[inline(always)]
fn slack_kernel<const MODE: u8>(
    (relax, step): (f64, f64),
    (xu, sign): (&mut [f64], &[f64]),
    (sl, nu): (&[f64], &[f64]),
    (s_new, nu_new): (&mut [f64], &mut [f64]),
    [t0, t1, t2]: [&mut [f64]; 3],
) -> [f64; 4] {
    let m = xu.len();
    // Equal lengths up front, so that the indexed loop has no bounds checks and vectorizes.
    let (sign, sl, nu) = (&sign[..m], &sl[..m], &nu[..m]);
    let (s_new, nu_new, t0) = (&mut s_new[..m], &mut nu_new[..m], &mut t0[..m]);
    // The blocks this mode writes have length `m`, the others none.
    let len = |written: bool| if written { m } else { 0 };
    let (t1, t2) = (&mut t1[..len(MODE != 1)], &mut t2[..len(MODE == 2)]);
    // `Lean`'s finiteness probe, an or-reduction in the same pass (it vectorizes with it).
    let mut bad = false;
    for i in 0..m {
        let sg = sign[i];
        let g = xu[i] * sg;
        let gh = relax * g + (1.0 - relax) * sl[i];
        let t = gh + nu[i];
        let sp = if t > 0.0 { t } else { 0.0 };
        let np = nu[i] + step * (gh - sp);
        s_new[i] = sp;
        nu_new[i] = np;
        match MODE {
            0 => {
                xu[i] = g;
                t0[i] = sp * sg;
                t1[i] = np * sg;
            }
            1 => {
                let v = (sp - np) * sg;
                t0[i] = v;
                bad |= !v.is_finite();
            }
            _ => {
                xu[i] = g;
                t0[i] = (sp - np) * sg;
                t1[i] = (sp - sl[i]) * sg;
                t2[i] = np * sg;
            }
        }
    }
    use optlab_linalg::dot_lanes as dot;
    if MODE == 1 {
        return [if bad { f64::NAN } else { 0.0 }, 0.0, 0.0, 0.0];
    }
    [
        sqdiff(xu, s_new),
        dot(xu, xu),
        dot(s_new, s_new),
        dot(nu_new, nu_new),
    ]
}

/// The residual half of the record's metrics (rows between evaluations).
fn residuals(s: &AdmmState) -> BTreeMap<String, f64> {
    BTreeMap::from([
        ("primal_residual".to_string(), s.primal),
        ("dual_residual".to_string(), s.dual),
    ])
}

/// Swaps every field of two states but the Anderson memory.
fn swap_iterate(a: &mut AdmmState, b: &mut AdmmState) {
    use std::mem::swap;
    swap(&mut a.v, &mut b.v);
    swap(&mut a.w, &mut b.w);
    swap(&mut a.zv, &mut b.zv);
    swap(&mut a.zw, &mut b.zw);
    swap(&mut a.sv, &mut b.sv);
    swap(&mut a.sw, &mut b.sw);
    swap(&mut a.lv, &mut b.lv);
    swap(&mut a.lw, &mut b.lw);
    swap(&mut a.nv, &mut b.nv);
    swap(&mut a.nw, &mut b.nw);
    swap(&mut a.gts_v, &mut b.gts_v);
    swap(&mut a.gts_w, &mut b.gts_w);
    swap(&mut a.gtn_v, &mut b.gtn_v);
    swap(&mut a.gtn_w, &mut b.gtn_w);
    swap(&mut a.primal, &mut b.primal);
    swap(&mut a.dual, &mut b.dual);
    swap(&mut a.eps_pri, &mut b.eps_pri);
    swap(&mut a.eps_dual, &mut b.eps_dual);
    swap(&mut a.k, &mut b.k);
}

/// Group soft threshold of `u + l` (columns of length `d`) at `t`.
fn group_prox(z: &mut Vec<f64>, u: &[f64], l: &[f64], d: usize, t: f64) {
    z.clear();
    z.extend(u.iter().zip(l).map(|(a, b)| a + b));
    for g in z.chunks_mut(d) {
        let nrm = norm2(g);
        let c = if nrm > t { 1.0 - t / nrm } else { 0.0 };
        g.iter_mut().for_each(|v| *v *= c);
    }
}

impl Solver for ConvexReluAdmm {
    type State = AdmmState;

    fn init(&mut self, _ctx: &mut RunContext) -> Result<AdmmState> {
        self.last_objective.set(None);
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

    /// Plain ADMM writes the next state apart and swaps it in only when it is finite; with
    /// Anderson acceleration the extrapolation works on the state in place.
    fn transactional(&self) -> bool {
        self.cfg.anderson_memory == 0
    }

    fn step(&mut self, s: &mut AdmmState, _ctx: &mut RunContext) -> Result<StepReport> {
        let memory = self.cfg.anderson_memory as usize;
        let cp = matches!(self.cfg.formulation, Formulation::Cp);
        let bce = self.cfg.loss == Loss::Bce;
        let x = (memory > 0).then(|| s.pack(cp, bce, false));
        let mut wk = std::mem::take(&mut self.work);
        let mut nx = wk.next.take().unwrap_or_else(|| s.clone());
        let finite = self.iterate(s, &mut nx, &mut wk);
        let plain = if finite && memory == 0 {
            Some(if self.evaluates(&nx) {
                self.metrics_with(&nx, &mut wk)
            } else if self.checks(nx.k) {
                residuals(&nx)
            } else {
                BTreeMap::new()
            })
        } else {
            None
        };
        let bad_metric = plain.as_ref().and_then(|m| {
            m.iter()
                .find(|(_, v)| !v.is_finite())
                .map(|(k, _)| k.clone())
        });
        let ok = finite && bad_metric.is_none();
        if ok {
            swap_iterate(s, &mut nx);
        }
        wk.next = Some(nx);
        self.work = wk;
        if !ok {
            let what = bad_metric.unwrap_or_else(|| "ADMM iterate".into());
            return Err(Error::Numerical(format!(
                "non-finite {what} at iteration {}",
                s.k + 1
            )));
        }
        if let Some(m) = plain {
            return Ok(StepReport::go(m));
        }
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
        Ok(StepReport::go(if self.evaluates(s) {
            self.metrics(s)
        } else {
            residuals(s)
        }))
    }

    fn is_finite(&self, s: &AdmmState) -> bool {
        [&s.v, &s.w, &s.lv, &s.nv]
            .iter()
            .all(|v| optlab_linalg::all_finite(v))
    }

    fn value(&self, s: &AdmmState) -> Option<f64> {
        Some(self.objective(&s.zv, &s.zw))
    }

    /// The objective of the evaluated rows only ([`ConvexReluConfig::eval_every`]): a full
    /// evaluation is a product `X [z_v, z_w]` and passes over the predictions, a noticeable
    /// share of an iteration (BENCHMARKS §9, session 12).
    fn step_value(&self, s: &AdmmState) -> Option<f64> {
        if !self.evaluates(s) {
            return None;
        }
        match self.last_objective.get() {
            Some((k, f)) if k == s.k => Some(f),
            _ => self.value(s),
        }
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

/// The non-convex objective on the rows `xm` (column-major, `b x d`) with targets `y`: its
/// data term times `scale` plus `beta/2 ||theta||^2`, and the gradient of that.
fn net_loss_grad(
    xm: MatRef<'_, f64>,
    y: &[f64],
    theta: &[f64],
    (d, m): (usize, usize),
    beta: f64,
    scale: f64,
) -> (f64, Vec<f64>) {
    let n = y.len();
    debug_assert_eq!((xm.nrows(), xm.ncols()), (n, d));
    let (u, a) = theta.split_at(d * m);
    // z = X U (n x m, column-major).
    let z = mm(xm, mr(u, d, m));
    let mut r = vec![0.0; n];
    for (k, rk) in r.iter_mut().enumerate() {
        let yhat: f64 = (0..m).map(|j| z[j * n + k].max(0.0) * a[j]).sum();
        *rk = scale * (yhat - y[k]);
    }
    // With scale = 1 every product below is exact, so the full-batch path is unchanged.
    let f = 0.5 / scale * r.iter().map(|v| v * v).sum::<f64>() + 0.5 * beta * sq(theta);
    let gz: Vec<f64> = (0..n * m)
        .map(|c| if z[c] > 0.0 { r[c % n] * a[c / n] } else { 0.0 })
        .collect();
    let mut g = mm(xm.transpose(), mr(&gz, n, m));
    g.extend((0..m).map(|j| (0..n).map(|k| r[k] * z[j * n + k].max(0.0)).sum::<f64>()));
    g.iter_mut().zip(theta).for_each(|(gi, x)| *gi += beta * x);
    (f, g)
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
    let (d, m) = (data.d, t.width);
    let xm = data.mat();
    let mut theta = init_net_params(d, m, rng);
    let mut adam = Adam::new(theta.len(), t.lr);
    let mut best = (ReluNet::from_params(&theta, d, m), f64::INFINITY);
    for _ in 0..t.iters {
        let (f, g) = net_loss_grad(xm.as_ref(), &data.y, &theta, (d, m), beta, 1.0);
        if f < best.1 {
            best = (ReluNet::from_params(&theta, d, m), f);
        }
        adam.step(&mut theta, &g);
    }
    let last = ReluNet::from_params(&theta, d, m);
    let f = last.objective(data, beta);
    if f < best.1 { (last, f) } else { best }
}

/// Minibatch SGD settings for the non-convex baseline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SgdTraining {
    /// Neurons.
    pub width: usize,
    /// Passes over the data (each a fresh shuffle).
    pub epochs: usize,
    /// Rows per step (the last batch of an epoch may be smaller; 0 or more than `n`: one batch
    /// of all rows, i.e. full-batch gradient descent).
    pub batch: usize,
    /// Step size on the objective (the minibatch gradient is scaled to estimate the full one).
    pub lr: f64,
}

/// Train the same non-convex network by plain minibatch SGD: each step `theta -= lr * g`,
/// with `g` the gradient of `n/b` times the batch's data term plus the full regularizer (an
/// unbiased estimate of the objective's gradient). The full objective is evaluated after every
/// epoch; returns the best network among those and the start, its objective, and the epoch
/// (from 1) in which a step made the parameters non-finite, which ends the run (the best
/// network so far is still returned).
pub fn train_nonconvex_sgd(
    data: &ReluData,
    beta: f64,
    t: SgdTraining,
    rng: &mut Rng,
) -> (ReluNet, f64, Option<usize>) {
    let (n, d, m) = (data.n, data.d, t.width);
    let b = if t.batch == 0 || t.batch > n {
        n
    } else {
        t.batch
    };
    let mut theta = init_net_params(d, m, rng);
    let net0 = ReluNet::from_params(&theta, d, m);
    let f0 = net0.objective(data, beta);
    let mut best = (net0, f0);
    let mut rows: Vec<usize> = (0..n).collect();
    for epoch in 1..=t.epochs {
        rows.shuffle(rng);
        for chunk in rows.chunks(b) {
            let xb = Mat::from_fn(chunk.len(), d, |r, c| data.x[chunk[r] * d + c]);
            let yb: Vec<f64> = chunk.iter().map(|&k| data.y[k]).collect();
            let scale = n as f64 / chunk.len() as f64;
            let (_, g) = net_loss_grad(xb.as_ref(), &yb, &theta, (d, m), beta, scale);
            theta.iter_mut().zip(&g).for_each(|(x, gi)| *x -= t.lr * gi);
            if !optlab_linalg::all_finite(&theta) {
                return (best.0, best.1, Some(epoch));
            }
        }
        let net = ReluNet::from_params(&theta, d, m);
        let f = net.objective(data, beta);
        if f < best.1 {
            best = (net, f);
        }
    }
    (best.0, best.1, None)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Twelve points in 3-D, four sampled patterns, `eval_every = 1000`.
    fn small_problem() -> ConvexReluAdmm {
        let (n, d) = (12, 3);
        let x: Vec<f64> = (0..n * d)
            .map(|i| ((i * 7 % 11) as f64 - 5.0) / 5.0)
            .collect();
        let y: Vec<f64> = (0..n)
            .map(|k| if k % 3 == 0 { 1.0 } else { -1.0 })
            .collect();
        let data = ReluData::new(x, n, d, y).expect("valid data");
        let patterns = sample_patterns(&data, 4, &mut optlab_core::seed::stream(0, "p"));
        let cfg = ConvexReluConfig {
            eval_every: 1000,
            ..ConvexReluConfig::default()
        };
        ConvexReluAdmm::new(cfg, data, patterns).expect("valid problem")
    }

    /// With `eval_every`, the converged row carries the objective even off the schedule, for
    /// the plain ADMM and with Anderson acceleration.
    #[test]
    fn the_converged_row_carries_the_objective() {
        use optlab_core::driver::Driver;
        use optlab_core::record::MemoryRecorder;
        for memory in [0, 3] {
            let mut admm = small_problem();
            admm.cfg.anderson_memory = memory;
            admm.cfg.eps_abs = 1e-6;
            admm.cfg.eps_rel = 1e-5;
            let rec = MemoryRecorder::default();
            let (sum, st) = Driver::new(admm.cfg.termination())
                .run(
                    &mut admm,
                    &mut RunContext::new(0).with_recorder(rec.clone()),
                )
                .expect("run");
            assert!(
                matches!(sum.status, Status::Converged { .. }),
                "{:?}",
                sum.status
            );
            assert!(st.k > 1 && st.k % 1000 != 0, "converged at {}", st.k);
            let rows = rec.rows();
            let last = rows.last().expect("rows");
            assert_eq!(last.step, st.k);
            assert_eq!(last.get("objective"), Some(admm.objective(&st.zv, &st.zw)));
            // Rows 0 and 1, the multiples of 1000 before the end, and the converged one.
            let with: Vec<u64> = rows
                .iter()
                .filter(|r| r.get("objective").is_some())
                .map(|r| r.step)
                .collect();
            let due = 3 + (st.k / 1000) as usize;
            assert_eq!(with.len(), due, "memory {memory}: {with:?}");
        }
    }

    /// `iterate` reports a state it would make non-finite, whichever field carries the NaN, and
    /// the step leaves the old state alone (the all-or-nothing promise; rows between objective
    /// evaluations rely on that check alone).
    #[test]
    fn iterate_reports_a_non_finite_next_state() {
        // `check_every = 5`: the fourth iteration is one without residuals (`SlackMode::Lean`),
        // where only the finiteness probe and the u-part sums see the NaN.
        for check_every in [1, 5] {
            let mut admm = small_problem();
            admm.cfg.check_every = check_every;
            let mut ctx = RunContext::new(0);
            let mut s = admm.init(&mut ctx).expect("init");
            for _ in 0..3 {
                admm.step(&mut s, &mut ctx).expect("finite steps");
            }
            assert_eq!(
                admm.slack_mode(s.k + 1) == SlackMode::Lean,
                check_every == 5
            );
            let poison: [fn(&mut AdmmState); 5] = [
                |s| s.nv[0] = f64::NAN,
                |s| s.gts_v[1] = f64::INFINITY,
                |s| s.lw[0] = f64::NAN,
                |s| s.zv[2] = f64::NAN,
                |s| s.sw[3] = f64::INFINITY,
            ];
            for (i, p) in poison.iter().enumerate() {
                let mut bad = s.clone();
                p(&mut bad);
                let mut wk = Work::default();
                let mut nx = bad.clone();
                assert!(!admm.iterate(&bad, &mut nx, &mut wk), "poison {i}");
                // Through the solver (k = 3: not a row with the objective): an error, and the
                // state as it was.
                let before = bad.clone();
                let e = admm.step(&mut bad, &mut ctx);
                assert!(matches!(e, Err(Error::Numerical(_))), "poison {i}");
                let same =
                    |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
                assert!(
                    same(&before.v, &bad.v) && same(&before.nv, &bad.nv) && before.k == bad.k,
                    "poison {i}"
                );
            }
        }
    }

    fn sgd_data() -> ReluData {
        let (n, d) = (12, 3);
        let x: Vec<f64> = (0..n * d)
            .map(|i| ((i * 7 % 11) as f64 - 5.0) / 5.0 + 0.01 * i as f64)
            .collect();
        let y: Vec<f64> = (0..n)
            .map(|k| if k % 3 == 0 { 1.0 } else { -1.0 })
            .collect();
        ReluData::new(x, n, d, y).expect("valid data")
    }

    /// The minibatch loss and gradient: `scale` times the batch's data term plus the full
    /// regularizer (finite differences of `ReluNet::objective` on the batch), and over a
    /// partition into equal batches with `scale = n / b` the gradients average to the full one.
    #[test]
    fn minibatch_gradient_is_the_scaled_batch_gradient_and_unbiased() {
        let data = sgd_data();
        let (n, d, m, beta) = (data.n, data.d, 3, 0.05);
        let theta = init_net_params(d, m, &mut optlab_core::seed::stream(5, "sgd"));
        let rows_of = |rows: &[usize]| {
            let x: Vec<f64> = rows
                .iter()
                .flat_map(|&k| data.x[k * d..(k + 1) * d].to_vec())
                .collect();
            let y: Vec<f64> = rows.iter().map(|&k| data.y[k]).collect();
            ReluData::new(x, rows.len(), d, y).expect("valid rows")
        };
        let batches: [&[usize]; 3] = [&[3, 7, 0, 10], &[1, 5, 9, 11], &[2, 4, 6, 8]];
        let full = net_loss_grad(data.mat().as_ref(), &data.y, &theta, (d, m), beta, 1.0);
        assert!(
            (full.0 - ReluNet::from_params(&theta, d, m).objective(&data, beta)).abs()
                < 1e-12 * full.0
        );
        let mut mean = vec![0.0; theta.len()];
        for rows in batches {
            let bd = rows_of(rows);
            let scale = n as f64 / rows.len() as f64;
            let (f, g) = net_loss_grad(bd.mat().as_ref(), &bd.y, &theta, (d, m), beta, scale);
            let reg = 0.5 * beta * sq(&theta);
            let obj = |t: &[f64]| {
                let o = ReluNet::from_params(t, d, m).objective(&bd, beta);
                let r = 0.5 * beta * sq(t);
                scale * (o - r) + r
            };
            assert!((f - obj(&theta)).abs() < 1e-12 * f.abs().max(reg));
            for k in 0..theta.len() {
                let (mut a, mut b) = (theta.clone(), theta.clone());
                a[k] += 1e-6;
                b[k] -= 1e-6;
                let fd = (obj(&a) - obj(&b)) / 2e-6;
                assert!(
                    (fd - g[k]).abs() < 1e-6 * (1.0 + fd.abs()),
                    "entry {k}: {fd} vs {}",
                    g[k]
                );
            }
            mean.iter_mut().zip(&g).for_each(|(s, v)| *s += v / 3.0);
        }
        for (k, (a, b)) in mean.iter().zip(&full.1).enumerate() {
            assert!(
                (a - b).abs() < 1e-12 * (1.0 + b.abs()),
                "entry {k}: {a} vs {b}"
            );
        }
    }

    /// One epoch with one full batch is one gradient step from the seeded start: the result is
    /// the better of the start and `theta - lr * grad`. Runs are deterministic given the seed,
    /// and a divergent step size ends the run with the start network and the epoch.
    #[test]
    fn sgd_takes_the_gradient_step_and_survives_divergence() {
        let data = sgd_data();
        let (d, m, beta, lr) = (data.d, 3, 0.05, 0.02);
        let t0 = init_net_params(d, m, &mut optlab_core::seed::stream(9, "sgd"));
        let (f0, g0) = net_loss_grad(data.mat().as_ref(), &data.y, &t0, (d, m), beta, 1.0);
        let t1: Vec<f64> = t0.iter().zip(&g0).map(|(x, g)| x - lr * g).collect();
        let f1 = ReluNet::from_params(&t1, d, m).objective(&data, beta);
        assert!(f1 < f0, "the step descends: {f1} vs {f0}");
        let t = SgdTraining {
            width: m,
            epochs: 1,
            batch: data.n,
            lr,
        };
        let run = |t: SgdTraining| {
            train_nonconvex_sgd(&data, beta, t, &mut optlab_core::seed::stream(9, "sgd"))
        };
        let (net, f, div) = run(t);
        assert!(div.is_none());
        assert!((f - f1).abs() < 1e-12 * f1, "{f} vs {f1}");
        let want = ReluNet::from_params(&t1, d, m);
        let flat =
            |n: &ReluNet| -> Vec<f64> { n.u.iter().flatten().chain(&n.alpha).copied().collect() };
        for (a, b) in flat(&net).iter().zip(flat(&want)) {
            assert!((a - b).abs() < 1e-13, "{a} vs {b}");
        }
        // Batch 0 and a batch above n are the full batch, bit for bit.
        for batch in [0, 100] {
            let (_, fb, _) = run(SgdTraining { batch, ..t });
            assert_eq!(fb.to_bits(), f.to_bits(), "batch {batch}");
        }
        // Many epochs in batches of 4: lower still, and the same numbers twice.
        let t = SgdTraining {
            epochs: 200,
            batch: 4,
            ..t
        };
        let f200 = run(t).1;
        assert!(f200 < 0.5 * f1, "{f200} vs {f1}");
        assert_eq!(f200.to_bits(), run(t).1.to_bits());
        // Divergence: the parameters overflow within a few epochs (each epoch's network is
        // far worse than the start); the start network comes back, bit for bit.
        let (_, fd, div) = run(SgdTraining { lr: 1e6, ..t });
        let start = ReluNet::from_params(&t0, d, m).objective(&data, beta);
        assert!(matches!(div, Some(1..=5)), "{div:?}");
        assert_eq!(fd.to_bits(), start.to_bits(), "{fd} vs the start {start}");
    }

    /// One epoch in batches of 5 of 12 rows (5, 5, 2: scales 2.4, 2.4, 6) replayed by hand
    /// from the same generator: the trainer scales each batch by `n / len` and steps in the
    /// shuffled order.
    #[test]
    fn sgd_epoch_replays_the_scaled_batches() {
        let data = sgd_data();
        let (n, d, m, beta, lr) = (data.n, data.d, 3, 0.05, 0.01);
        let mut rng = optlab_core::seed::stream(4, "sgd");
        let mut theta = init_net_params(d, m, &mut rng);
        let f0 = ReluNet::from_params(&theta, d, m).objective(&data, beta);
        let mut rows: Vec<usize> = (0..n).collect();
        rows.shuffle(&mut rng);
        let mut scales = Vec::new();
        for chunk in rows.chunks(5) {
            let xb = Mat::from_fn(chunk.len(), d, |r, c| data.x[chunk[r] * d + c]);
            let yb: Vec<f64> = chunk.iter().map(|&k| data.y[k]).collect();
            let scale = n as f64 / chunk.len() as f64;
            scales.push(scale);
            let (_, g) = net_loss_grad(xb.as_ref(), &yb, &theta, (d, m), beta, scale);
            theta.iter_mut().zip(&g).for_each(|(x, gi)| *x -= lr * gi);
        }
        assert_eq!(scales, vec![2.4, 2.4, 6.0]);
        let want = ReluNet::from_params(&theta, d, m);
        let fw = want.objective(&data, beta);
        assert!(fw < f0, "the epoch descends: {fw} vs {f0}");
        let t = SgdTraining {
            width: m,
            epochs: 1,
            batch: 5,
            lr,
        };
        let (net, f, div) =
            train_nonconvex_sgd(&data, beta, t, &mut optlab_core::seed::stream(4, "sgd"));
        assert!(div.is_none());
        assert_eq!(f.to_bits(), fw.to_bits());
        for (a, b) in net.u.iter().flatten().zip(want.u.iter().flatten()) {
            assert_eq!(a.to_bits(), b.to_bits());
        }
        assert_eq!(net.alpha, want.alpha);
        // Without the n / len scaling the same epoch lands elsewhere.
        let mut unscaled = init_net_params(d, m, &mut optlab_core::seed::stream(4, "sgd"));
        for chunk in rows.chunks(5) {
            let xb = Mat::from_fn(chunk.len(), d, |r, c| data.x[chunk[r] * d + c]);
            let yb: Vec<f64> = chunk.iter().map(|&k| data.y[k]).collect();
            let (_, g) = net_loss_grad(xb.as_ref(), &yb, &unscaled, (d, m), beta, 1.0);
            unscaled
                .iter_mut()
                .zip(&g)
                .for_each(|(x, gi)| *x -= lr * gi);
        }
        let fu = ReluNet::from_params(&unscaled, d, m).objective(&data, beta);
        assert!((fu - f).abs() > 1e-6 * f, "{fu} vs {f}");
    }
}
