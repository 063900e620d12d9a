//! AdaSketch-Newton (Hong, Na, Mahoney, Kolar, ICML 2023): Newton–KKT steps for
//! `min f(x) s.t. c(x) = 0`, solved inexactly by randomized iterative sketching under an
//! adaptive accuracy condition, globalized by the exact augmented Lagrangian merit
//! `L_η = f + λ^T c + η1/2 ||c||² + η2/2 ||∇_x L||²` with penalty updates and Armijo search.
//! The exact-KKT-solve variants (dense and sparse LU) are the deterministic baselines.
//!
//! Differences from the official Julia code, each a documented choice (`docs/methods/adasketch.md`):
//! the merit gradient uses the Lagrangian Hessian as in the paper (the code's objective-Hessian
//! term is `merit_hessian = "objective"`); the first sketch residual is `K·0 - b = -b` (the code
//! starts from `+b`); `||K||` and `||B||` are Frobenius norms as in the code; eigenvalue tests
//! are first attempted by a Cholesky certificate and only then by a dense eigen-solve.

use super::sketch::{RowSampling, SketchKind, SketchRun, SketchSystem};
use optlab_core::config::{at_least_one, in_unit_interval, non_negative, positive};
use optlab_core::{
    Error, MethodConfig, OracleCounts, Result, RunContext, Solver, Status, StepReport, seed::Rng,
};
use optlab_linalg::Csr;
use optlab_linalg::sparse::{dense_lu_solve, min_eigenvalue, null_space_basis};
use optlab_problems::constrained::{CountedEq, kkt_residual, lagrangian_gradient};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// How the Newton–KKT system is solved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InnerSolver {
    /// Randomized Kaczmarz (AdaSketch-Newton RK).
    Kaczmarz,
    /// Gaussian vector sketch (AdaSketch-Newton GV).
    Gaussian,
    /// Row-block Kaczmarz with `block_size` rows.
    Block,
    /// Exact solve by dense LU (deterministic baseline).
    ExactDense,
    /// Exact solve by sparse LU (deterministic baseline).
    ExactSparse,
}

impl InnerSolver {
    fn sketch(self) -> Option<SketchKind> {
        match self {
            InnerSolver::Kaczmarz => Some(SketchKind::Kaczmarz),
            InnerSolver::Gaussian => Some(SketchKind::Gaussian),
            InnerSolver::Block => Some(SketchKind::Block),
            InnerSolver::ExactDense | InnerSolver::ExactSparse => None,
        }
    }
}

/// Which Hessian multiplies `∇_x L` in the merit gradient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MeritHessian {
    /// `∇²_x L` — the paper's (correct) formula.
    Lagrangian,
    /// `∇² f` — what the official code computes (differs for nonlinear constraints).
    Objective,
}

/// AdaSketch-Newton settings. Defaults are the official `Param.jl` values, except `kkt_tol`
/// (1e-6 here; the code stops at 1e-4).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdaSketchConfig {
    /// Inner solver.
    pub solver: InnerSolver,
    /// Rows per step for `solver = "block"`.
    pub block_size: usize,
    /// Row sampling of the Kaczmarz and block sketches.
    pub row_sampling: RowSampling,
    /// Initial merit penalty on `||c||²`.
    pub eta1: f64,
    /// Initial merit penalty on `||∇_x L||²`.
    pub eta2: f64,
    /// Initial accuracy parameter δ.
    pub delta: f64,
    /// Hessian-modification shift ξ_B.
    pub xi_b: f64,
    /// Armijo constant β (must be < 1/2).
    pub beta: f64,
    /// Penalty growth ν > 1.
    pub nu: f64,
    /// Accuracy factor θ in `||K|| Ψ ||r|| <= θ δ ||b||`.
    pub theta: f64,
    /// Superlinear variant: sharpen the accuracy condition with `θ_k = θ min(1, KKT_k^sharpen)`.
    pub superlinear: bool,
    /// Exponent of the sharpening sequence (superlinear variant).
    pub sharpen: f64,
    /// Merit-gradient Hessian (`"objective"` reproduces the official code).
    pub merit_hessian: MeritHessian,
    /// Stop when `||(∇_x L, c)||_2 <= kkt_tol`.
    pub kkt_tol: f64,
    /// Outer iteration limit.
    pub max_iters: u64,
    /// Sketch steps per Newton step (cap).
    pub max_inner: u64,
    /// Halvings of the unit step before status Stalled.
    pub max_backtracks: u32,
    /// `λ_min(G G^T)` below this: status Singular.
    pub singular_tol: f64,
    /// Reduced-Hessian eigenvalue below this triggers the Hessian modification.
    pub reduced_hessian_tol: f64,
    /// Wall-time limit in seconds (0: none).
    pub max_time_s: f64,
    /// Beyond the paper: start each sketch solve from the least-squares fit to the new system
    /// over the last `warm_start` directions (`z0 = P a`, `a = argmin ||K P a - b||`; the
    /// directions as solved, before the line search) instead of from 0, when that starts below
    /// `||b||`. 0 (off) reproduces the paper. Sketch solvers only (ignored by the exact ones).
    pub warm_start: usize,
}

impl Default for AdaSketchConfig {
    fn default() -> Self {
        AdaSketchConfig {
            solver: InnerSolver::Kaczmarz,
            block_size: 8,
            row_sampling: RowSampling::Uniform,
            eta1: 1.0,
            eta2: 0.1,
            delta: 0.1,
            xi_b: 0.1,
            beta: 0.1,
            nu: 1.5,
            theta: 1.0,
            superlinear: false,
            sharpen: 0.5,
            merit_hessian: MeritHessian::Lagrangian,
            kkt_tol: 1e-6,
            max_iters: 10_000,
            max_inner: 100_000,
            max_backtracks: 60,
            singular_tol: 1e-2,
            reduced_hessian_tol: 1e-6,
            max_time_s: 0.0,
            warm_start: 0,
        }
    }
}

impl MethodConfig for AdaSketchConfig {
    fn validate(&self) -> Result<()> {
        positive("eta1", self.eta1)?;
        positive("eta2", self.eta2)?;
        positive("delta", self.delta)?;
        positive("xi_b", self.xi_b)?;
        in_unit_interval("beta", self.beta)?;
        if self.beta >= 0.5 {
            return Err(Error::config(
                "beta",
                "must be below 0.5 (the merit analysis needs it)",
            ));
        }
        if self.nu.is_nan() || self.nu <= 1.0 {
            return Err(Error::config("nu", format!("must be > 1, got {}", self.nu)));
        }
        positive("theta", self.theta)?;
        if self.theta > 1.0 {
            return Err(Error::config("theta", "must be in (0, 1]"));
        }
        non_negative("sharpen", self.sharpen)?;
        positive("kkt_tol", self.kkt_tol)?;
        at_least_one("max_iters", self.max_iters)?;
        at_least_one("max_inner", self.max_inner)?;
        at_least_one("block_size", self.block_size as u64)?;
        at_least_one("max_backtracks", u64::from(self.max_backtracks))?;
        non_negative("singular_tol", self.singular_tol)?;
        non_negative("reduced_hessian_tol", self.reduced_hessian_tol)?;
        non_negative("max_time_s", self.max_time_s)
    }
}

impl AdaSketchConfig {
    /// The driver's termination.
    pub fn termination(&self) -> optlab_core::Termination {
        optlab_core::Termination::limits(self.max_iters, self.max_time_s)
    }
}

/// Resumable state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EqState {
    /// Primal iterate.
    pub x: Vec<f64>,
    /// Multipliers.
    pub lambda: Vec<f64>,
    /// `f(x)`.
    pub f: f64,
    /// `c(x)`.
    pub c: Vec<f64>,
    /// `∇_x L(x, λ)`.
    pub grad_l: Vec<f64>,
    /// `||(∇_x L, c)||_2`.
    pub kkt: f64,
    /// Merit penalties and accuracy parameter.
    pub eta1: f64,
    /// Merit penalty on `||∇_x L||²`.
    pub eta2: f64,
    /// Accuracy parameter δ.
    pub delta: f64,
    /// Sketch randomness.
    pub rng: Rng,
    /// Oracle counts.
    pub counts: OracleCounts,
    /// Last accepted step size.
    pub alpha: f64,
    /// Sketch steps in the last Newton step.
    pub inner_iters: u64,
    /// Sketch steps so far.
    pub inner_total: u64,
    /// Inner-solver flops so far (sketches and dense LU; 0 for sparse LU).
    pub flops: u64,
    /// Penalty updates in the last step.
    pub eta_updates: u32,
    /// Whether the last step modified the Hessian.
    pub modified: bool,
    /// `min(λ_min(G G^T), 1)` at the last step.
    pub xi_g: f64,
    /// Whether the last inner solve met its accuracy condition.
    pub inner_ok: bool,
    /// Descent test of the last step: `∇L_η^T Δ + η2/2 ||b||²` (≤ 0 when it holds).
    pub descent_gap: f64,
    /// The last Newton–KKT directions `(Δx, Δλ)`, newest first (kept for `warm_start`).
    #[serde(default)]
    pub last_dirs: Vec<Vec<f64>>,
}

/// The solver.
#[derive(Debug)]
pub struct AdaSketch {
    cfg: AdaSketchConfig,
    problem: CountedEq,
    f_star: Option<f64>,
    x_star: Option<Vec<f64>>,
}

struct Eval {
    f: f64,
    c: Vec<f64>,
    grad_l: Vec<f64>,
}

impl AdaSketch {
    /// Check the config.
    pub fn new(cfg: AdaSketchConfig, problem: CountedEq) -> Result<Self> {
        cfg.validate()?;
        let f_star = problem.inner().known_minimum();
        let x_star = problem.inner().known_solution();
        Ok(AdaSketch {
            cfg,
            problem,
            f_star,
            x_star,
        })
    }

    /// The wrapped problem.
    pub fn problem(&self) -> &CountedEq {
        &self.problem
    }

    fn eval(&mut self, x: &[f64], lambda: &[f64]) -> Result<Eval> {
        let f = self.problem.value(x)?;
        let c = self.problem.constraints(x)?;
        let g = self.problem.gradient(x)?;
        let jac = self.problem.jacobian(x)?;
        Ok(Eval {
            f,
            c,
            grad_l: lagrangian_gradient(&g, &jac, lambda),
        })
    }

    fn merit(&self, e: &Eval, lambda: &[f64], eta1: f64, eta2: f64) -> f64 {
        merit_value(e.f, &e.c, &e.grad_l, lambda, eta1, eta2)
    }

    fn metrics(&self, s: &EqState) -> BTreeMap<String, f64> {
        let cviol = s.c.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        let mut m = BTreeMap::from([
            ("f".to_string(), s.f),
            ("kkt".to_string(), s.kkt),
            ("cviol".to_string(), cviol),
            ("alpha".to_string(), s.alpha),
            ("inner_iters".to_string(), s.inner_iters as f64),
            ("inner_total".to_string(), s.inner_total as f64),
            ("eta1".to_string(), s.eta1),
            ("eta2".to_string(), s.eta2),
            ("delta".to_string(), s.delta),
            ("eta_updates".to_string(), f64::from(s.eta_updates)),
            ("modified".to_string(), f64::from(u8::from(s.modified))),
            ("xi_g".to_string(), s.xi_g),
            ("inner_ok".to_string(), f64::from(u8::from(s.inner_ok))),
            ("descent_gap".to_string(), s.descent_gap),
        ]);
        if self.cfg.solver != InnerSolver::ExactSparse {
            m.insert("flops".into(), s.flops as f64);
        }
        for (k, v) in &s.counts.0 {
            m.insert(format!("{k}_calls"), *v as f64);
        }
        if let Some(fs) = self.f_star {
            m.insert("f_err".into(), (s.f - fs).abs());
        }
        if let Some(xs) = &self.x_star {
            let e =
                s.x.iter()
                    .zip(xs)
                    .map(|(a, b)| (a - b).powi(2))
                    .sum::<f64>()
                    .sqrt();
            m.insert("x_err".into(), e);
        }
        m
    }

    fn stuck(&self, s: &EqState, jac: &Csr, reason: String) -> Status {
        let cn = optlab_linalg::norm2(&s.c);
        let jtc = optlab_linalg::norm2(&jac.mul_t(&s.c));
        if cn > self.cfg.kkt_tol && jtc <= 1e-8 * cn.max(1.0) {
            Status::Infeasible
        } else {
            Status::Stalled { reason }
        }
    }
}

/// The exact augmented Lagrangian `L_η = f + λ^T c + η1/2 ||c||² + η2/2 ||∇_x L||²`.
pub fn merit_value(f: f64, c: &[f64], grad_l: &[f64], lambda: &[f64], eta1: f64, eta2: f64) -> f64 {
    let lc: f64 = lambda.iter().zip(c).map(|(a, b)| a * b).sum();
    let cc: f64 = c.iter().map(|v| v * v).sum();
    let gg: f64 = grad_l.iter().map(|v| v * v).sum();
    f + lc + 0.5 * eta1 * cc + 0.5 * eta2 * gg
}

/// `∇L_η = (∇_x L + η2 H ∇_x L + η1 G^T c, c + η2 G ∇_x L)`, with `H = ∇²_x L` for the paper's
/// formula (pass `∇² f` to reproduce the official code).
pub fn merit_gradient(
    grad_l: &[f64],
    hess: &Csr,
    jac: &Csr,
    c: &[f64],
    eta1: f64,
    eta2: f64,
) -> Vec<f64> {
    let h_gl = hess.mul(grad_l);
    let jt_c = jac.mul_t(c);
    let j_gl = jac.mul(grad_l);
    let mut g: Vec<f64> = (0..grad_l.len())
        .map(|i| grad_l[i] + eta2 * h_gl[i] + eta1 * jt_c[i])
        .collect();
    g.extend((0..c.len()).map(|i| c[i] + eta2 * j_gl[i]));
    g
}

fn psi_upsilon(norm_b: f64, norm_g: f64, norm_h: f64, xi_g: f64, xi_b: f64) -> (f64, f64) {
    let psi = 20.0 * norm_b.powi(2).max(1.0) / (xi_g.min(1.0) * xi_b.min(1.0));
    let ups = norm_g.max(norm_h).max(1.0);
    (psi, ups)
}

fn delta_trial(beta: f64, eta1: f64, eta2: f64, ups: f64, psi: f64) -> f64 {
    (0.5 - beta) * eta2 / ((1.0 + eta1 + eta2) * ups * ups * psi * psi)
}

/// Floor of the accuracy parameter δ (official code).
pub const DELTA_FLOOR: f64 = 1e-6;

impl Solver for AdaSketch {
    type State = EqState;

    fn init(&mut self, ctx: &mut RunContext) -> Result<EqState> {
        let x = self.problem.inner().x0();
        let lambda = self.problem.inner().lambda0();
        let e = self.eval(&x, &lambda)?;
        let kkt = kkt_residual(&e.grad_l, &e.c);
        Ok(EqState {
            x,
            lambda,
            f: e.f,
            c: e.c,
            grad_l: e.grad_l,
            kkt,
            eta1: self.cfg.eta1,
            eta2: self.cfg.eta2,
            delta: self.cfg.delta,
            rng: ctx.rng("sketch"),
            counts: self.problem.counts().clone(),
            alpha: 0.0,
            inner_iters: 0,
            inner_total: 0,
            flops: 0,
            eta_updates: 0,
            modified: false,
            xi_g: 0.0,
            inner_ok: true,
            descent_gap: 0.0,
            last_dirs: Vec::new(),
        })
    }

    fn restore(&mut self, s: &EqState) -> Result<()> {
        self.problem.set_counts(s.counts.clone());
        Ok(())
    }

    fn initial_metrics(&mut self, s: &EqState) -> BTreeMap<String, f64> {
        let mut m = self.metrics(s);
        for k in [
            "alpha",
            "xi_g",
            "descent_gap",
            "inner_ok",
            "modified",
            "eta_updates",
        ] {
            m.remove(k);
        }
        m
    }

    fn converged(&self, s: &EqState) -> Option<Status> {
        (s.kkt <= self.cfg.kkt_tol).then(|| Status::Converged {
            criterion: format!(
                "||(grad_x L, c)||_2 = {:.2e} <= {:.0e}",
                s.kkt, self.cfg.kkt_tol
            ),
        })
    }

    fn step(&mut self, s: &mut EqState, _ctx: &mut RunContext) -> Result<StepReport> {
        let cfg = self.cfg;
        let (n, m) = (s.x.len(), s.c.len());
        let jac = self.problem.jacobian(&s.x)?;
        let hess = self.problem.lagrangian_hessian(&s.x, &s.lambda)?;

        // 1. Singularity guard: xi_G = lambda_min(G G^T), needed only up to min(., 1).
        let ggt = jac.gram_rows();
        let xi_g = if m == 0 || ggt.certifies_min_eig_above(1.0) {
            1.0
        } else {
            min_eigenvalue(&ggt.to_dense()).unwrap_or(0.0)
        };
        s.xi_g = xi_g.min(1.0);
        if xi_g < cfg.singular_tol {
            s.counts = self.problem.counts().clone();
            return Ok(StepReport {
                metrics: self.metrics(s),
                stop: Some(Status::Singular {
                    reason: format!(
                        "lambda_min(G G^T) = {xi_g:.2e} < {:.0e}: constraint Jacobian is rank deficient",
                        cfg.singular_tol
                    ),
                }),
            });
        }

        // 2. Hessian modification on the null space of G.
        let norm_h = hess.frobenius();
        let mut modified = false;
        if m < n && !hess.certifies_min_eig_above(cfg.reduced_hessian_tol) {
            let z = null_space_basis(&jac.to_dense());
            let hz = hess.to_dense() * &z;
            let reduced = z.transpose() * &hz;
            let lmin = min_eigenvalue(&reduced).unwrap_or(f64::NEG_INFINITY);
            modified = lmin < cfg.reduced_hessian_tol;
        }
        let b_mat = if modified {
            Cow::Owned(hess.shifted(cfg.xi_b + norm_h))
        } else {
            Cow::Borrowed(&hess)
        };
        s.modified = modified;

        // 3. Constants.
        let norm_b = b_mat.frobenius();
        let norm_g = jac.frobenius();
        let (psi, ups) = psi_upsilon(norm_b, norm_g, norm_h, xi_g, cfg.xi_b);
        s.delta = s
            .delta
            .min(delta_trial(cfg.beta, s.eta1, s.eta2, ups, psi))
            .max(DELTA_FLOOR);

        // 4. Newton–KKT system K z = b.
        let k = Csr::kkt(&b_mat, &jac).map_err(|e| Error::Other(e.to_string()))?;
        let rhs: Vec<f64> = s.grad_l.iter().chain(&s.c).map(|v| -v).collect();
        let b_norm = optlab_linalg::norm2(&rhs);
        let norm_k = k.frobenius();
        let theta = if cfg.superlinear {
            cfg.theta * s.kkt.powf(cfg.sharpen).min(1.0)
        } else {
            cfg.theta
        };

        // Merit gradient pieces that do not depend on the penalties.
        let h_merit = match cfg.merit_hessian {
            MeritHessian::Lagrangian => Cow::Borrowed(&hess),
            MeritHessian::Objective => {
                Cow::Owned(self.problem.lagrangian_hessian(&s.x, &vec![0.0; m])?)
            }
        };
        let (gl0, c0) = (s.grad_l.clone(), s.c.clone());
        let merit_grad =
            |eta1: f64, eta2: f64| merit_gradient(&gl0, &h_merit, &jac, &c0, eta1, eta2);

        // 5–6. Inner solve, penalty updates until the direction is a merit descent direction.
        let system = SketchSystem::new(&k, &rhs, cfg.row_sampling);
        let warm = cfg.warm_start > 0 && cfg.solver.sketch().is_some();
        let mut run: SketchRun = if warm && !s.last_dirs.is_empty() {
            system.start_along(&s.last_dirs)
        } else {
            system.start()
        };
        let mut dir: Vec<f64>;
        let mut inner_ok = true;
        let mut eta_updates = 0u32;
        let exact = match cfg.solver {
            InnerSolver::ExactDense => {
                let dim = (n + m) as u64;
                s.flops += 2 * dim * dim * dim / 3 + 2 * dim * dim;
                dense_lu_solve(&k.to_dense(), &rhs)
            }
            InnerSolver::ExactSparse => k.sparse_lu_solve(&rhs),
            _ => None,
        };
        if cfg.solver.sketch().is_none() && exact.is_none() {
            s.counts = self.problem.counts().clone();
            return Ok(StepReport {
                metrics: self.metrics(s),
                stop: Some(Status::Singular {
                    reason: "the KKT matrix is singular (LU failed)".into(),
                }),
            });
        }
        loop {
            if let Some(kind) = cfg.solver.sketch() {
                let tol = theta * s.delta * b_norm / (norm_k * psi);
                inner_ok = system.solve(
                    &mut run,
                    kind,
                    cfg.block_size,
                    &mut s.rng,
                    tol,
                    cfg.max_inner,
                );
                dir = run.z.clone();
            } else {
                dir = exact.clone().unwrap_or_default();
            }
            let gm = merit_grad(s.eta1, s.eta2);
            let dd: f64 = gm.iter().zip(&dir).map(|(a, b)| a * b).sum();
            if dd <= -0.5 * s.eta2 * b_norm * b_norm {
                break;
            }
            if s.eta1 > 1e8 || s.eta2 < 1e-8 {
                break;
            }
            s.eta1 *= cfg.nu * cfg.nu;
            s.eta2 /= cfg.nu;
            eta_updates += 1;
            let dt = delta_trial(cfg.beta, s.eta1, s.eta2, ups, psi);
            s.delta = (s.delta / cfg.nu.powi(4)).min(dt).max(DELTA_FLOOR);
        }
        if warm {
            s.last_dirs.insert(0, dir.clone());
            s.last_dirs.truncate(cfg.warm_start);
        }
        s.inner_iters = run.iters;
        s.inner_total += run.iters;
        if cfg.solver.sketch().is_some() {
            s.flops += run.flops;
        }
        s.eta_updates = eta_updates;
        s.inner_ok = inner_ok;

        // 7. Armijo backtracking on the exact augmented Lagrangian.
        let gm = merit_grad(s.eta1, s.eta2);
        let dd: f64 = gm.iter().zip(&dir).map(|(a, b)| a * b).sum();
        s.descent_gap = dd + 0.5 * s.eta2 * b_norm * b_norm;
        let merit0 = merit_value(s.f, &s.c, &s.grad_l, &s.lambda, s.eta1, s.eta2);
        // Below this, a change of the merit cannot be told apart from its rounding (see the
        // loop).
        let resolution = 4.0 * f64::EPSILON * merit0.abs();
        let mut alpha = 1.0;
        let mut xt = vec![0.0; n];
        let mut lt = vec![0.0; m];
        let mut floor = None;
        for _ in 0..=cfg.max_backtracks {
            if alpha < 1.0 && alpha * dd.abs() <= resolution {
                // The unit step was rejected and even the decrease the linear model predicts
                // (α|∇L_ηᵀz|, 1/β times what Armijo asks) is below the merit's floating-point
                // resolution: further halvings could only be accepted by rounding luck. Stop
                // honestly, keeping the current iterate.
                floor = Some(format!(
                    "line search halved the step to {alpha:.1e}: the merit decrease the linear \
                     model predicts ({:.2e}) is below the merit's floating-point resolution \
                     ({resolution:.2e}) at KKT residual {:.2e}",
                    alpha * dd.abs(),
                    s.kkt
                ));
                break;
            }
            for i in 0..n {
                xt[i] = s.x[i] + alpha * dir[i];
            }
            for i in 0..m {
                lt[i] = s.lambda[i] + alpha * dir[n + i];
            }
            let e = match self.eval(&xt, &lt) {
                Ok(e) => e,
                // A non-finite trial value: shrink the step (the merit is +inf there).
                Err(Error::Numerical(_)) => {
                    alpha *= 0.5;
                    continue;
                }
                Err(other) => return Err(other),
            };
            let mt = self.merit(&e, &lt, s.eta1, s.eta2);
            if mt <= merit0 + alpha * cfg.beta * dd {
                s.x.copy_from_slice(&xt);
                s.lambda.copy_from_slice(&lt);
                s.f = e.f;
                s.c = e.c;
                s.grad_l = e.grad_l;
                s.kkt = kkt_residual(&s.grad_l, &s.c);
                s.alpha = alpha;
                s.counts = self.problem.counts().clone();
                return Ok(StepReport::go(self.metrics(s)));
            }
            alpha *= 0.5;
        }
        s.counts = self.problem.counts().clone();
        let status = match floor {
            Some(reason) => Status::Stalled { reason },
            None => self.stuck(
                s,
                &jac,
                format!(
                    "line search failed after {} halvings (directional derivative {dd:.2e})",
                    cfg.max_backtracks
                ),
            ),
        };
        Ok(StepReport {
            metrics: self.metrics(s),
            stop: Some(status),
        })
    }

    fn is_finite(&self, s: &EqState) -> bool {
        s.f.is_finite()
            && s.x
                .iter()
                .chain(&s.lambda)
                .chain(&s.c)
                .chain(&s.grad_l)
                .all(|v| v.is_finite())
    }

    fn value(&self, s: &EqState) -> Option<f64> {
        Some(s.f)
    }

    fn counts(&self, s: &EqState) -> OracleCounts {
        s.counts.clone()
    }

    fn extra(&mut self, s: &EqState) -> BTreeMap<String, f64> {
        let mut m = self.metrics(s);
        m.retain(|k, v| {
            v.is_finite()
                && matches!(
                    k.as_str(),
                    "kkt" | "cviol" | "f_err" | "x_err" | "inner_total" | "flops" | "eta1" | "eta2"
                )
        });
        m
    }
}
