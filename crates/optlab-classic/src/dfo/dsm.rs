//! Covering direct search (cDSM, Audet–Bouchet–Bourdin) with optional directional-attack
//! steps (Bouchet & Vidal, *Optimization by Directional Attacks: Solving Problems with Neural
//! Network Surrogates*, 2025).
//!
//! Minimizes a black box (maximization problems are negated by their adapters). One iteration:
//! 1. **attack** (hybrid only): a directional attack from the incumbent at radii
//!    `r_atk·{1.2, 1, 0.8}`; success multiplies `r_atk` by 1.3 (≤ `r_atk_max`) and the poll
//!    radius by 1.1, failure divides `r_atk` by 1.3;
//! 2. **covering**: one point uniform in the ball of radius `r_cover` around the incumbent
//!    (radius `r_cover U^{1/n}`, uniform direction — the reference code's `(U r)^{1/n}` is
//!    not uniform for `r ≠ 1`);
//! 3. **search** (if covering failed): one random point at distance
//!    `min(r_cover √(s + 1), r_max)` (s = searches so far); success doubles the poll radius;
//! 4. **poll** (if search failed): the `n + 1` directions of a random Householder basis
//!    `H = I - 2 u u^T` and `-Σ H_j` (a positive spanning set; `poll_2n`: `±H_j`), scaled to
//!    ∞-norm `r_dsm`, opportunistic, ordered by cosine with the last successful step;
//!    success doubles `r_dsm`, failure halves it.
//!
//! The search step first tries the minimizer of a least-squares quadratic model of the
//! nearest cached evaluations (NOMAD's quadratic-model search, on by default there too; a
//! nonconvex model is minimized over a box, [`box_model_minimizer`]), then
//! also tries the last successful displacement doubled (NOMAD's
//! "speculative search") after a search or poll success.
//!
//! Trial points are clamped into the bounds. Constraints `c(x) <= 0`: extreme barrier
//! (infeasible = +∞) or a progressive barrier on `h = Σ max(c_i, 0)²`.

use super::attack::{AttackKind, SurrogateProblem, attack_step};
use optlab_core::config::{at_least_one, non_negative, positive};
use optlab_core::seed::Rng;
use optlab_core::{
    Error, MethodConfig, OracleCounts, Result, RunContext, Solver, Status, StepReport,
};
use optlab_problems::blackbox::{BlackBox, Evaluator};
use rand::Rng as _;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Constraint handling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Barrier {
    /// Infeasible points are rejected (`f = +∞`).
    Extreme,
    /// Infeasible points are accepted when they reduce the violation `h` without increasing
    /// `f`, under a threshold `h_max` that shrinks to the incumbent's `h`.
    Progressive,
}

/// Which steps run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DsmMode {
    /// Covering + search + poll.
    Cdsm,
    /// Attack step, then covering + search + poll (needs a surrogate).
    Hybrid,
    /// Attack steps only (needs a surrogate).
    AttackOnly,
}

/// cDSM settings (defaults from the reference code where it has them).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DsmConfig {
    /// Steps.
    pub mode: DsmMode,
    /// Initial poll radius (∞-norm), relative to the box width when the problem has bounds.
    pub r0: f64,
    /// Covering radius, relative like `r0`.
    pub r_cover: f64,
    /// Smallest poll radius: below it (and below `r_atk_min` for attacks) the run converged.
    pub r_min: f64,
    /// Largest poll radius (relative).
    pub r_max: f64,
    /// Search step before the poll (speculative + one random point).
    pub search: bool,
    /// Quadratic-model search (least-squares model of nearby evaluated points, minimized in
    /// their ∞-ball), as NOMAD's default `QUAD_MODEL_SEARCH`.
    pub model_search: bool,
    /// Poll with the maximal positive basis `±H_j` (2n directions) instead of `n + 1`.
    pub poll_2n: bool,
    /// Constraint handling.
    pub barrier: Barrier,
    /// Attack operator (hybrid and attack-only).
    pub attack: AttackKind,
    /// PGD inner steps.
    pub pgd_steps: u32,
    /// Initial attack radius (relative), bounds `[r_atk_min, r_atk_max]`.
    pub r_atk: f64,
    /// Smallest attack radius.
    pub r_atk_min: f64,
    /// Largest attack radius.
    pub r_atk_max: f64,
    /// Iteration limit.
    pub max_iters: u64,
    /// Budget of black-box evaluations (network forward calls for surrogate problems; a VJP
    /// counts as one more call); 0: none.
    pub max_evals: u64,
    /// Wall-time limit (0: none).
    pub max_time_s: f64,
}

impl Default for DsmConfig {
    fn default() -> Self {
        DsmConfig {
            mode: DsmMode::Cdsm,
            r0: 0.1,
            r_cover: 0.1,
            r_min: 1e-6,
            r_max: 1.0,
            search: true,
            poll_2n: false,
            model_search: true,
            barrier: Barrier::Extreme,
            attack: AttackKind::Fgsm,
            pgd_steps: 10,
            r_atk: 0.1,
            r_atk_min: 1e-6,
            r_atk_max: 1.0,
            max_iters: 100_000,
            max_evals: 2000,
            max_time_s: 0.0,
        }
    }
}

impl MethodConfig for DsmConfig {
    fn validate(&self) -> Result<()> {
        positive("r0", self.r0)?;
        non_negative("r_cover", self.r_cover)?;
        positive("r_min", self.r_min)?;
        positive("r_max", self.r_max)?;
        if self.r_min > self.r0 || self.r0 > self.r_max {
            return Err(Error::config(
                "r0",
                format!(
                    "need r_min <= r0 <= r_max, got {} <= {} <= {}",
                    self.r_min, self.r0, self.r_max
                ),
            ));
        }
        positive("r_atk", self.r_atk)?;
        positive("r_atk_min", self.r_atk_min)?;
        positive("r_atk_max", self.r_atk_max)?;
        at_least_one("pgd_steps", u64::from(self.pgd_steps))?;
        at_least_one("max_iters", self.max_iters)?;
        non_negative("max_time_s", self.max_time_s)
    }
}

impl DsmConfig {
    /// The driver's termination.
    pub fn termination(&self) -> optlab_core::Termination {
        optlab_core::Termination::limits(self.max_iters, self.max_time_s)
    }
}

/// Resumable state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DsmState {
    /// Incumbent.
    pub x: Vec<f64>,
    /// Its objective (+∞ if failed).
    pub f: f64,
    /// Its constraint violation.
    pub h: f64,
    /// Best feasible value so far.
    pub best_f: f64,
    /// Poll radius (absolute, ∞-norm).
    pub r_dsm: f64,
    /// Attack radius (absolute).
    pub r_atk: f64,
    /// Progressive-barrier threshold.
    pub h_max: f64,
    /// Searches so far.
    pub searches: u64,
    /// Evaluations, failed evaluations, VJP calls.
    pub evals: u64,
    /// Failed evaluations.
    pub failed: u64,
    /// Surrogate vector–Jacobian products.
    pub vjps: u64,
    /// Randomness.
    pub rng: Rng,
    /// Which step improved last: 0 none, 1 attack, 2 covering, 3 search, 4 poll.
    pub last_success: u8,
    /// The last successful displacement (speculative search and poll ordering).
    pub last_step: Vec<f64>,
    /// Recent feasible evaluations `(x, f)` for the quadratic-model search (at most
    /// [`CACHE`]).
    pub cache: Vec<(Vec<f64>, f64)>,
}

/// How far (in units of the sample radius) the model minimizer may lie from the incumbent.
pub const MODEL_REACH: f64 = 10.0;

/// Points kept for the model search.
pub const CACHE: usize = 400;

/// Minimizer of a least-squares quadratic model of the cached points nearest to `center`
/// (scaled coordinates `z = (x - center)/ρ`, minimized over `||z||_∞ <= 1`); `None` when
/// there are too few points or the fit is singular.
pub fn quadratic_model_point(cache: &[(Vec<f64>, f64)], center: &[f64]) -> Option<Vec<f64>> {
    let n = center.len();
    let p = (n + 1) * (n + 2) / 2;
    if cache.len() < p + 1 || n > 20 {
        return None;
    }
    let dist = |x: &[f64]| {
        x.iter()
            .zip(center)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max)
    };
    let mut idx: Vec<usize> = (0..cache.len()).collect();
    idx.sort_by(|&a, &b| dist(&cache[a].0).total_cmp(&dist(&cache[b].0)));
    let take = (2 * p).min(cache.len());
    let pts: Vec<&(Vec<f64>, f64)> = idx[..take].iter().map(|&i| &cache[i]).collect();
    let rho = pts.iter().map(|(x, _)| dist(x)).fold(0.0, f64::max);
    if rho <= 0.0 || !rho.is_finite() {
        return None;
    }
    let f0 = pts.iter().map(|(_, f)| *f).fold(f64::INFINITY, f64::min);
    let basis = |z: &[f64]| -> Vec<f64> {
        let mut b = Vec::with_capacity(p);
        b.push(1.0);
        b.extend_from_slice(z);
        for i in 0..n {
            for j in i..n {
                b.push(if i == j {
                    0.5 * z[i] * z[i]
                } else {
                    z[i] * z[j]
                });
            }
        }
        b
    };
    // Normal equations with a small ridge.
    let mut ata = optlab_linalg::faer::Mat::<f64>::zeros(p, p);
    let mut atb = vec![0.0; p];
    for (x, f) in &pts {
        let z: Vec<f64> = x.iter().zip(center).map(|(a, c)| (a - c) / rho).collect();
        let b = basis(&z);
        for i in 0..p {
            atb[i] += b[i] * (f - f0);
            for j in 0..p {
                ata[(i, j)] += b[i] * b[j];
            }
        }
    }
    for i in 0..p {
        ata[(i, i)] += 1e-10 * (1.0 + ata[(i, i)]);
    }
    let coef = optlab_linalg::sparse::dense_lu_solve(&ata, &atb)?;
    let g: Vec<f64> = coef[1..=n].to_vec();
    let mut h = optlab_linalg::faer::Mat::<f64>::zeros(n, n);
    let mut k = n + 1;
    for i in 0..n {
        for j in i..n {
            h[(i, j)] = coef[k];
            h[(j, i)] = coef[k];
            k += 1;
        }
    }
    // A convex model: its minimizer, clamped to the reach. Otherwise (indefinite or singular
    // `H`, common in curved valleys): the model minimized over the box `||z||_inf <= reach` by
    // projected gradient from the incumbent (NOMAD also minimizes its model over a box).
    let zc: Vec<f64> = match optlab_linalg::Cholesky::new(&h) {
        Ok(ch) => {
            let neg_g: Vec<f64> = g.iter().map(|v| -v).collect();
            ch.solve(&neg_g)
                .iter()
                .map(|v| v.clamp(-MODEL_REACH, MODEL_REACH))
                .collect()
        }
        Err(_) => box_model_minimizer(&g, &h, MODEL_REACH),
    };
    zc.iter()
        .all(|v| v.is_finite())
        .then(|| center.iter().zip(&zc).map(|(c, v)| c + rho * v).collect())
}

/// A local minimizer of `g·z + ½ zᵀHz` over `||z||_inf <= reach` by projected gradient from
/// `z = 0` (step `1/L`, `L` the largest absolute row sum of `H`, a bound on its norm; at most
/// 500 sweeps, until no coordinate moves by more than 1e-10).
pub fn box_model_minimizer(g: &[f64], h: &optlab_linalg::faer::Mat<f64>, reach: f64) -> Vec<f64> {
    let n = g.len();
    let lip = (0..n)
        .map(|i| (0..n).map(|j| h[(i, j)].abs()).sum::<f64>())
        .fold(0.0f64, f64::max)
        .max(1e-12);
    let mut z = vec![0.0; n];
    for _ in 0..500 {
        let grad: Vec<f64> = (0..n)
            .map(|i| g[i] + (0..n).map(|j| h[(i, j)] * z[j]).sum::<f64>())
            .collect();
        let mut moved = 0.0f64;
        for (zi, gi) in z.iter_mut().zip(&grad) {
            let new = (*zi - gi / lip).clamp(-reach, reach);
            moved = moved.max((new - *zi).abs());
            *zi = new;
        }
        if moved < 1e-10 {
            break;
        }
    }
    z
}

/// The solver (cDSM, hybrid, or attack-only).
pub struct Dsm {
    cfg: DsmConfig,
    problem: Box<dyn BlackBox>,
    surrogate: Option<Box<dyn SurrogateProblem>>,
    x0: Vec<f64>,
    scale: f64,
}

impl std::fmt::Debug for Dsm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dsm")
            .field("cfg", &self.cfg)
            .field("problem", &self.problem.name())
            .finish()
    }
}

/// A standard Gaussian vector of `R^n` and its norm (its direction is uniform on the sphere).
fn gaussian_direction(n: usize, rng: &mut Rng) -> (Vec<f64>, f64) {
    let u: Vec<f64> = (0..n).map(|_| optlab_core::seed::normal(rng)).collect();
    let nu = u.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-300);
    (u, nu)
}

/// `base + rad * dir`.
fn offset(base: &[f64], dir: &[f64], rad: f64) -> Vec<f64> {
    base.iter().zip(dir).map(|(a, b)| a + rad * b).collect()
}

/// Positive spanning set: the columns of `H = I - 2 u u^T` (u a random unit vector) and
/// `-Σ_j H_j`, each scaled to ∞-norm 1.
pub fn householder_poll(n: usize, rng: &mut Rng) -> Vec<Vec<f64>> {
    let (mut u, nu) = gaussian_direction(n, rng);
    u.iter_mut().for_each(|v| *v /= nu);
    let mut dirs: Vec<Vec<f64>> = (0..n)
        .map(|j| {
            (0..n)
                .map(|i| f64::from(u8::from(i == j)) - 2.0 * u[i] * u[j])
                .collect()
        })
        .collect();
    let neg: Vec<f64> = (0..n)
        .map(|i| -dirs.iter().map(|d| d[i]).sum::<f64>())
        .collect();
    dirs.push(neg);
    for d in &mut dirs {
        let m = d.iter().fold(0.0f64, |a, v| a.max(v.abs())).max(1e-300);
        d.iter_mut().for_each(|v| *v /= m);
    }
    dirs
}

impl Dsm {
    /// cDSM on a black box, from `x0`.
    pub fn new(cfg: DsmConfig, problem: Box<dyn BlackBox>, x0: Vec<f64>) -> Result<Self> {
        if cfg.mode != DsmMode::Cdsm {
            return Err(Error::config(
                "mode",
                "hybrid and attack-only need a surrogate (use Dsm::with_surrogate)",
            ));
        }
        Self::build(cfg, problem, None, x0)
    }

    /// Any mode on a surrogate problem `f(Φ(x))`.
    pub fn with_surrogate(
        cfg: DsmConfig,
        problem: Box<dyn SurrogateProblem>,
        x0: Vec<f64>,
    ) -> Result<Self> {
        Self::build(cfg, problem.black_box(), Some(problem), x0)
    }

    /// Validate and set the radius scale (the widest side of the box, or 1).
    fn build(
        cfg: DsmConfig,
        problem: Box<dyn BlackBox>,
        surrogate: Option<Box<dyn SurrogateProblem>>,
        x0: Vec<f64>,
    ) -> Result<Self> {
        cfg.validate()?;
        if x0.len() != problem.dim() {
            return Err(Error::config(
                "x0",
                format!(
                    "has {} entries, the problem has dimension {}",
                    x0.len(),
                    problem.dim()
                ),
            ));
        }
        if x0.iter().any(|v| !v.is_finite()) {
            return Err(Error::config("x0", "not finite"));
        }
        let scale = problem.bounds().map_or(1.0, |b| {
            b.lower()
                .iter()
                .zip(b.upper())
                .map(|(l, u)| u - l)
                .fold(0.0, f64::max)
        });
        Ok(Dsm {
            cfg,
            problem,
            surrogate,
            x0,
            scale,
        })
    }

    fn clamp(&self, x: &mut [f64]) {
        if let Some(b) = self.problem.bounds() {
            b.project(x);
        }
    }

    /// Try `y`: evaluate and accept if it improves the incumbent under the barrier.
    fn try_point(&self, s: &mut DsmState, mut y: Vec<f64>) -> bool {
        if !self.budget_left(s) {
            return false;
        }
        self.clamp(&mut y);
        let mut ev = Evaluator::new(self.problem.as_ref(), None);
        let e = ev.eval(&y);
        s.evals += 1;
        s.failed += u64::from(e.failed);
        if e.failed {
            return false;
        }
        if self.cfg.model_search && e.h == 0.0 {
            if s.cache.len() >= CACHE {
                s.cache.remove(0);
            }
            s.cache.push((y.clone(), e.f));
        }
        let better = match self.cfg.barrier {
            Barrier::Extreme => e.h == 0.0 && e.f < s.f,
            // Feasible points win over infeasible incumbents and compare by f; an infeasible
            // point is accepted only while the incumbent is infeasible, if it strictly
            // reduces the violation under the threshold h_max.
            Barrier::Progressive => {
                if e.h == 0.0 {
                    s.h > 0.0 || e.f < s.f
                } else {
                    s.h > 0.0 && e.h < s.h && e.h <= s.h_max
                }
            }
        };
        if better {
            s.last_step = y.iter().zip(&s.x).map(|(a, b)| a - b).collect();
            s.x = y;
            s.f = e.f;
            s.h = e.h;
            if e.h == 0.0 && e.f < s.best_f {
                s.best_f = e.f;
            }
            s.h_max = s.h_max.min(e.h);
        }
        better
    }

    /// Record a successful step `code` (unless an attack already succeeded this iteration),
    /// doubling the poll radius (up to `r_max`) when `grow`.
    fn success(&self, s: &mut DsmState, code: u8, grow: bool) -> StepReport {
        if grow {
            s.r_dsm = (2.0 * s.r_dsm).min(self.cfg.r_max * self.scale);
        }
        if s.last_success == 0 {
            s.last_success = code;
        }
        StepReport::go(self.metrics(s))
    }

    /// Network calls (forward evaluations plus VJPs) left under the budget.
    fn budget_left(&self, s: &DsmState) -> bool {
        self.cfg.max_evals == 0 || s.evals + s.vjps < self.cfg.max_evals
    }

    fn metrics(&self, s: &DsmState) -> BTreeMap<String, f64> {
        let mut m = BTreeMap::from([
            ("f".to_string(), s.f),
            ("best_f".to_string(), s.best_f),
            ("h".to_string(), s.h),
            ("r_dsm".to_string(), s.r_dsm),
            ("evals".to_string(), s.evals as f64),
            ("failed_evals".to_string(), s.failed as f64),
            ("vjps".to_string(), s.vjps as f64),
            ("network_calls".to_string(), (s.evals + s.vjps) as f64),
            ("last_success".to_string(), f64::from(s.last_success)),
        ]);
        if self.surrogate.is_some() {
            m.insert("r_atk".into(), s.r_atk);
        }
        if let Some(fs) = self.problem.known_minimum() {
            m.insert("gap".into(), (s.best_f - fs).max(0.0));
        }
        m.retain(|_, v| v.is_finite());
        m
    }
}

impl Solver for Dsm {
    type State = DsmState;

    fn init(&mut self, ctx: &mut RunContext) -> Result<DsmState> {
        let mut x = self.x0.clone();
        self.clamp(&mut x);
        let mut ev = Evaluator::new(self.problem.as_ref(), None);
        let e = ev.eval(&x);
        let (f, h) = if e.failed {
            (f64::INFINITY, f64::INFINITY)
        } else {
            (e.f, e.h)
        };
        let cache = if self.cfg.model_search && h == 0.0 && f.is_finite() {
            vec![(x.clone(), f)]
        } else {
            Vec::new()
        };
        if self.cfg.barrier == Barrier::Extreme && h > 0.0 && h.is_finite() {
            return Err(Error::config(
                "x0",
                format!(
                    "infeasible start (violation {h:.3e}) under the extreme barrier; use barrier = \"progressive\""
                ),
            ));
        }
        Ok(DsmState {
            best_f: if h == 0.0 { f } else { f64::INFINITY },
            x,
            f,
            h,
            r_dsm: self.cfg.r0 * self.scale,
            r_atk: self.cfg.r_atk * self.scale,
            h_max: if h.is_finite() { h } else { f64::INFINITY },
            searches: 0,
            evals: 1,
            failed: u64::from(e.failed),
            vjps: 0,
            rng: ctx.rng("dsm"),
            last_success: 0,
            last_step: Vec::new(),
            cache,
        })
    }

    fn initial_metrics(&mut self, s: &DsmState) -> BTreeMap<String, f64> {
        self.metrics(s)
    }

    fn converged(&self, s: &DsmState) -> Option<Status> {
        let r_min = self.cfg.r_min * self.scale;
        let atk_done = self.surrogate.is_none() || s.r_atk <= self.cfg.r_atk_min * self.scale;
        let poll_done = self.cfg.mode == DsmMode::AttackOnly || s.r_dsm <= r_min;
        (poll_done && atk_done).then(|| Status::Converged {
            criterion: format!(
                "poll radius {:.1e} and attack radius {:.1e} below their minima",
                s.r_dsm, s.r_atk
            ),
        })
    }

    fn step(&mut self, s: &mut DsmState, _ctx: &mut RunContext) -> Result<StepReport> {
        let cfg = self.cfg;
        let n = self.problem.dim();
        if !self.budget_left(s) {
            return Ok(StepReport {
                metrics: self.metrics(s),
                stop: Some(Status::MaxEvaluations),
            });
        }
        s.last_success = 0;
        // 1. Attack step.
        if let Some(sur) = &self.surrogate
            && cfg.mode != DsmMode::Cdsm
        {
            let mut improved = false;
            if s.r_atk > cfg.r_atk_min * self.scale {
                let (cands, vjps) =
                    attack_step(sur.as_ref(), &s.x, s.r_atk, cfg.attack, cfg.pgd_steps)?;
                s.vjps += vjps;
                for c in cands {
                    if !self.budget_left(s) {
                        break;
                    }
                    if self.try_point(s, c) {
                        improved = true;
                    }
                }
            }
            if improved {
                s.r_atk = (s.r_atk * 1.3).min(cfg.r_atk_max * self.scale);
                s.r_dsm = (s.r_dsm * 1.1).min(cfg.r_max * self.scale);
                s.last_success = 1;
            } else {
                s.r_atk /= 1.3;
            }
            if cfg.mode == DsmMode::AttackOnly {
                return Ok(StepReport::go(self.metrics(s)));
            }
        }
        let base = s.x.clone();
        // 2. Covering step.
        if cfg.r_cover > 0.0 && self.budget_left(s) {
            let (dir, nd) = gaussian_direction(n, &mut s.rng);
            let u: f64 = s.rng.random::<f64>();
            let rad = cfg.r_cover * self.scale * u.powf(1.0 / n as f64);
            if self.try_point(s, offset(&base, &dir, rad / nd)) {
                return Ok(self.success(s, 2, false));
            }
        }
        // 3. Search: speculative (repeat the last successful displacement, doubled), then one
        //    random point.
        if cfg.search
            && cfg.model_search
            && self.budget_left(s)
            && let Some(y) = quadratic_model_point(&s.cache, &base)
            && y.iter()
                .zip(&base)
                .any(|(a, b)| (a - b).abs() > 1e-12 * self.scale)
            && self.try_point(s, y)
        {
            return Ok(self.success(s, 3, true));
        }
        if cfg.search && !s.last_step.is_empty() && s.last_success >= 3 && self.budget_left(s) {
            let y = offset(&base, &s.last_step, 2.0);
            if self.try_point(s, y) {
                s.last_success = 0; // the speculative step always reports a search success
                return Ok(self.success(s, 3, true));
            }
        }
        if cfg.search && self.budget_left(s) {
            s.searches += 1;
            let (dir, nd) = gaussian_direction(n, &mut s.rng);
            let rad = (cfg.r_cover * self.scale * ((s.searches + 1) as f64).sqrt())
                .min(cfg.r_max * self.scale)
                .min(s.r_dsm.max(cfg.r_min * self.scale) * 4.0);
            if self.try_point(s, offset(&base, &dir, rad / nd)) {
                return Ok(self.success(s, 3, true));
            }
        }
        // 4. Poll step (opportunistic).
        let mut dirs = householder_poll(n, &mut s.rng);
        if cfg.poll_2n {
            let neg: Vec<Vec<f64>> = dirs[..n]
                .iter()
                .map(|d| d.iter().map(|v| -v).collect())
                .collect();
            dirs.truncate(n);
            dirs.extend(neg);
        }
        if !s.last_step.is_empty() {
            // Opportunistic poll, most promising first: by cosine with the last success.
            let ls = s.last_step.clone();
            let cos = |d: &Vec<f64>| -> f64 {
                let dn = d.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-300);
                d.iter().zip(&ls).map(|(a, b)| a * b).sum::<f64>() / dn
            };
            dirs.sort_by(|a, b| cos(b).total_cmp(&cos(a)));
        }
        for d in dirs {
            if !self.budget_left(s) {
                break;
            }
            let y = offset(&base, &d, s.r_dsm);
            if self.try_point(s, y) {
                return Ok(self.success(s, 4, true));
            }
        }
        s.r_dsm /= 2.0;
        Ok(StepReport::go(self.metrics(s)))
    }

    fn is_finite(&self, s: &DsmState) -> bool {
        s.x.iter().all(|v| v.is_finite())
    }

    fn value(&self, s: &DsmState) -> Option<f64> {
        s.best_f.is_finite().then_some(s.best_f)
    }

    fn counts(&self, s: &DsmState) -> OracleCounts {
        let mut c = OracleCounts::default();
        c.add("f", s.evals);
        if s.vjps > 0 {
            c.add("vjp", s.vjps);
        }
        if s.failed > 0 {
            c.add("f_failed", s.failed);
        }
        c
    }
}
