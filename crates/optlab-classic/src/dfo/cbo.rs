//! Consensus-based optimization (CBO), isotropic and anisotropic, as analysed in Riedl,
//! Klock, Geldhauser, Fornasier, *Gradient is All You Need? How Consensus-Based Optimization
//! can be Interpreted as a Stochastic Relaxation of Gradient Descent* (the Euler–Maruyama
//! scheme of Pinnau et al. 2017 / Carrillo et al. 2021):
//!
//! `v_α = Σ_i x_i exp(-α f(x_i)) / Σ_i exp(-α f(x_i))` (log-sum-exp stable: shifted by the
//! smallest energy), then for every particle
//! `x_i ← x_i - λ dt (x_i - v_α) + σ √dt D(x_i - v_α) ξ_i`, `ξ_i ~ N(0, I)`, with
//! `D(z) = ||z||_2 I` (isotropic) or `diag(|z_j|)` (anisotropic).
//!
//! Particles are updated in parallel (rayon); particle `i`'s noise at iteration `k` comes from
//! its own xoshiro256++ stream seeded by `(seed, k, i)`, so results do not depend on the thread
//! count. Failed evaluations (NaN, ±inf) get zero weight, are counted, and the run goes on.

use optlab_core::config::{at_least_one, non_negative, positive};
use optlab_core::seed::{splitmix64, stream_seed};
use optlab_core::{
    Error, MethodConfig, OracleCounts, Result, RunContext, Solver, Status, StepReport,
};
use optlab_problems::blackbox::{BlackBox, Evaluator};
use rand::{Rng as _, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Noise model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Noise {
    /// `D(z) = ||z||_2 I`.
    Isotropic,
    /// `D(z) = diag(|z_1|, …, |z_d|)`.
    Anisotropic,
}

/// CBO settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CboConfig {
    /// Number of particles N.
    pub particles: usize,
    /// Time step dt.
    pub dt: f64,
    /// Drift strength λ.
    pub lambda: f64,
    /// Noise strength σ.
    pub sigma: f64,
    /// Inverse temperature α of the Laplace weights.
    pub alpha: f64,
    /// Noise model.
    pub noise: Noise,
    /// Particles drawn (without replacement) each iteration to form the consensus; 0: all.
    pub batch: usize,
    /// α is multiplied by this factor every iteration (1: fixed α)…
    pub alpha_factor: f64,
    /// …up to this value.
    pub alpha_max: f64,
    /// σ is multiplied by this factor every iteration (1: fixed σ).
    pub sigma_factor: f64,
    /// dt is multiplied by this factor every iteration (1: fixed dt).
    pub dt_factor: f64,
    /// Initial particles are uniform on `[init_low, init_high]^d`.
    pub init_low: f64,
    /// Upper end of the initial box.
    pub init_high: f64,
    /// Clamp particles into the problem's bounds after each update.
    pub project: bool,
    /// Stop (converged) when every particle is within this ∞-distance of the consensus.
    pub collapse_tol: f64,
    /// Iteration limit.
    pub max_iters: u64,
    /// Evaluation budget (0: none).
    pub max_evals: u64,
    /// Wall-time limit in seconds (0: none).
    pub max_time_s: f64,
}

impl Default for CboConfig {
    fn default() -> Self {
        CboConfig {
            particles: 100,
            dt: 0.01,
            lambda: 1.0,
            sigma: 1.0,
            alpha: 30.0,
            noise: Noise::Anisotropic,
            batch: 0,
            alpha_factor: 1.0,
            alpha_max: 1e15,
            sigma_factor: 1.0,
            dt_factor: 1.0,
            init_low: -3.0,
            init_high: 3.0,
            project: false,
            collapse_tol: 1e-8,
            max_iters: 1000,
            max_evals: 0,
            max_time_s: 0.0,
        }
    }
}

impl MethodConfig for CboConfig {
    fn validate(&self) -> Result<()> {
        at_least_one("particles", self.particles as u64)?;
        positive("dt", self.dt)?;
        non_negative("lambda", self.lambda)?;
        non_negative("sigma", self.sigma)?;
        non_negative("alpha", self.alpha)?;
        if self.batch > self.particles {
            return Err(Error::config(
                "batch",
                format!("{} > particles = {}", self.batch, self.particles),
            ));
        }
        positive("alpha_factor", self.alpha_factor)?;
        positive("alpha_max", self.alpha_max)?;
        positive("sigma_factor", self.sigma_factor)?;
        positive("dt_factor", self.dt_factor)?;
        if !self.init_low.is_finite()
            || !self.init_high.is_finite()
            || self.init_low >= self.init_high
        {
            return Err(Error::config(
                "init_low",
                format!(
                    "initial box [{}, {}] is empty or not finite",
                    self.init_low, self.init_high
                ),
            ));
        }
        non_negative("collapse_tol", self.collapse_tol)?;
        at_least_one("max_iters", self.max_iters)?;
        if self.max_evals > 0 && self.max_evals < self.particles as u64 {
            return Err(Error::config(
                "max_evals",
                format!(
                    "budget {} is smaller than one iteration ({} particles)",
                    self.max_evals, self.particles
                ),
            ));
        }
        non_negative("max_time_s", self.max_time_s)
    }
}

impl CboConfig {
    /// The driver's termination.
    pub fn termination(&self) -> optlab_core::Termination {
        optlab_core::Termination::limits(self.max_iters, self.max_time_s)
    }
}

/// Resumable CBO state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CboState {
    /// Row-major `N x d` particles.
    pub x: Vec<f64>,
    /// Last consensus point.
    pub consensus: Vec<f64>,
    /// Best particle seen and its value.
    pub best_x: Vec<f64>,
    /// Best value seen.
    pub best_f: f64,
    /// Current α, σ, dt.
    pub alpha: f64,
    /// Current σ.
    pub sigma: f64,
    /// Current dt.
    pub dt: f64,
    /// Iterations done.
    pub k: u64,
    /// Base seed of the noise streams.
    pub seed: u64,
    /// Evaluations and failed evaluations.
    pub evals: u64,
    /// Failed evaluations.
    pub failed: u64,
    /// Largest ∞-distance of a particle to the consensus at the last update.
    pub spread: f64,
    /// Effective sample size of the last consensus weights.
    pub ess: f64,
}

/// The Laplace-weighted consensus of `points` (row-major, `dim` columns) with energies
/// `values`: `Σ x_i w_i / Σ w_i`, `w_i = exp(-α (f_i - min f))`; non-finite energies get zero
/// weight. Returns the point and the effective sample size `(Σ w)² / Σ w²`; `None` if every
/// energy is non-finite.
pub fn consensus(
    points: &[f64],
    values: &[f64],
    dim: usize,
    alpha: f64,
) -> Option<(Vec<f64>, f64)> {
    let fmin = values
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(f64::INFINITY, f64::min);
    if !fmin.is_finite() {
        return None;
    }
    let mut v = vec![0.0; dim];
    let (mut sw, mut sw2) = (0.0, 0.0);
    for (i, &f) in values.iter().enumerate() {
        if !f.is_finite() {
            continue;
        }
        let w = (-alpha * (f - fmin)).exp();
        if w == 0.0 {
            continue;
        }
        sw += w;
        sw2 += w * w;
        for (vj, xj) in v.iter_mut().zip(&points[i * dim..(i + 1) * dim]) {
            *vj += w * xj;
        }
    }
    v.iter_mut().for_each(|x| *x /= sw);
    Some((v, sw * sw / sw2))
}

/// xoshiro256++ (Blackman & Vigna): the per-particle noise generator. Seeding one ChaCha
/// stream per particle and iteration cost more than the whole update; xoshiro seeds from four
/// SplitMix64 outputs in a few nanoseconds and passes BigCrush.
#[derive(Debug, Clone)]
pub struct Xoshiro256pp([u64; 4]);

impl Xoshiro256pp {
    /// Seeded by SplitMix64 from `seed`.
    pub fn new(seed: u64) -> Self {
        let mut z = seed;
        let mut next = || {
            z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
            splitmix64(z)
        };
        Xoshiro256pp([next(), next(), next(), next()])
    }

    /// Next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.0;
        let r = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        r
    }

    /// Uniform on [0, 1) with 53 random bits.
    #[inline]
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// Ziggurat tables for the standard normal (Marsaglia & Tsang 2000, 256 layers).
struct Ziggurat {
    x: [f64; 257],
    f: [f64; 257],
}

/// Right edge of the base layer.
const ZIG_R: f64 = 3.654_152_885_361_009;
/// Area of every layer.
const ZIG_V: f64 = 0.004_928_673_233_99;

fn ziggurat() -> &'static Ziggurat {
    static TABLES: std::sync::OnceLock<Ziggurat> = std::sync::OnceLock::new();
    TABLES.get_or_init(|| {
        let pdf = |x: f64| (-0.5 * x * x).exp();
        let mut x = [0.0; 257];
        x[0] = ZIG_V / pdf(ZIG_R);
        x[1] = ZIG_R;
        for i in 1..256 {
            x[i + 1] = (-2.0 * (ZIG_V / x[i] + pdf(x[i])).ln()).sqrt();
        }
        x[256] = 0.0;
        let mut f = [0.0; 257];
        for i in 0..257 {
            f[i] = pdf(x[i]);
        }
        Ziggurat { x, f }
    })
}

/// One standard normal by the ziggurat method (exact in distribution).
#[inline]
pub fn standard_normal(rng: &mut Xoshiro256pp) -> f64 {
    normal_with(ziggurat(), rng)
}

#[inline(always)]
fn normal_with(z: &Ziggurat, rng: &mut Xoshiro256pp) -> f64 {
    loop {
        let bits = rng.next_u64();
        let i = (bits & 0xff) as usize;
        let u = 2.0 * ((bits >> 11) as f64 * (1.0 / (1u64 << 53) as f64)) - 1.0;
        let x = u * z.x[i];
        if x.abs() < z.x[i + 1] {
            return x;
        }
        if i == 0 {
            // Tail beyond R (Marsaglia 1964).
            loop {
                let a = -(1.0 - rng.uniform()).ln() / ZIG_R;
                let b = -(1.0 - rng.uniform()).ln();
                if 2.0 * b > a * a {
                    return if u < 0.0 { -(ZIG_R + a) } else { ZIG_R + a };
                }
            }
        }
        if z.f[i + 1] + (z.f[i] - z.f[i + 1]) * rng.uniform() < (-0.5 * x * x).exp() {
            return x;
        }
    }
}

/// The CBO update of one particle `xi` toward `v` (noise from `rng`).
#[inline]
fn update_particle(
    xi: &mut [f64],
    v: &[f64],
    lambda_dt: f64,
    noise_scale: f64,
    noise: Noise,
    rng: &mut Xoshiro256pp,
) {
    let z = ziggurat();
    match noise {
        Noise::Isotropic => {
            let norm = xi
                .iter()
                .zip(v)
                .map(|(a, b)| (a - b) * (a - b))
                .sum::<f64>()
                .sqrt();
            let scale = noise_scale * norm;
            for (x, c) in xi.iter_mut().zip(v) {
                let diff = *x - c;
                *x += -lambda_dt * diff + scale * normal_with(z, rng);
            }
        }
        Noise::Anisotropic => {
            for (x, c) in xi.iter_mut().zip(v) {
                let diff = *x - c;
                *x += -lambda_dt * diff + noise_scale * diff.abs() * normal_with(z, rng);
            }
        }
    }
}

/// The CBO solver.
pub struct Cbo {
    cfg: CboConfig,
    problem: Box<dyn BlackBox>,
}

impl std::fmt::Debug for Cbo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cbo")
            .field("cfg", &self.cfg)
            .field("problem", &self.problem.name())
            .finish()
    }
}

impl Cbo {
    /// Check the config against the problem.
    pub fn new(cfg: CboConfig, problem: Box<dyn BlackBox>) -> Result<Self> {
        cfg.validate()?;
        if problem.dim() == 0 {
            return Err(Error::Other(format!(
                "problem `{}` has dimension 0",
                problem.name()
            )));
        }
        Ok(Cbo { cfg, problem })
    }

    fn particle_rng(seed: u64, k: u64, i: usize) -> Xoshiro256pp {
        Xoshiro256pp::new(splitmix64(
            seed ^ splitmix64(k.wrapping_mul(0x9E37_79B9).wrapping_add(i as u64)),
        ))
    }

    fn metrics(&self, s: &CboState) -> BTreeMap<String, f64> {
        let mut m = BTreeMap::from([
            ("best_f".to_string(), s.best_f),
            ("alpha".to_string(), s.alpha),
            ("sigma".to_string(), s.sigma),
            ("spread".to_string(), s.spread),
            ("ess".to_string(), s.ess),
            ("evals".to_string(), s.evals as f64),
            ("failed_evals".to_string(), s.failed as f64),
        ]);
        if let Some(xs) = self.problem.known_minimizer() {
            let dist = s
                .consensus
                .iter()
                .zip(&xs)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            m.insert("dist_inf".into(), dist);
            m.insert("success".into(), f64::from(u8::from(dist < 0.25)));
        }
        if let Some(fs) = self.problem.known_minimum() {
            m.insert("gap".into(), (s.best_f - fs).max(0.0));
        }
        m.retain(|_, v| v.is_finite());
        m
    }
}

impl Solver for Cbo {
    type State = CboState;

    fn init(&mut self, ctx: &mut RunContext) -> Result<CboState> {
        let (n, d) = (self.cfg.particles, self.problem.dim());
        let mut rng = ctx.rng("cbo-init");
        let (lo, hi) = (self.cfg.init_low, self.cfg.init_high);
        let x: Vec<f64> = (0..n * d).map(|_| rng.random_range(lo..hi)).collect();
        Ok(CboState {
            consensus: x[..d].to_vec(),
            best_x: x[..d].to_vec(),
            x,
            best_f: f64::INFINITY,
            alpha: self.cfg.alpha,
            sigma: self.cfg.sigma,
            dt: self.cfg.dt,
            k: 0,
            seed: stream_seed(ctx.seed(), "cbo-noise"),
            evals: 0,
            failed: 0,
            spread: f64::INFINITY,
            ess: 0.0,
        })
    }

    fn initial_metrics(&mut self, s: &CboState) -> BTreeMap<String, f64> {
        self.metrics(s)
    }

    fn converged(&self, s: &CboState) -> Option<Status> {
        (s.k > 0 && s.spread <= self.cfg.collapse_tol).then(|| Status::Converged {
            criterion: format!(
                "consensus collapse: max ||x_i - v||_inf = {:.1e} <= {:.0e}",
                s.spread, self.cfg.collapse_tol
            ),
        })
    }

    fn step(&mut self, s: &mut CboState, _ctx: &mut RunContext) -> Result<StepReport> {
        let cfg = self.cfg;
        let (n, d) = (cfg.particles, self.problem.dim());
        if cfg.max_evals > 0 && s.evals + n as u64 > cfg.max_evals {
            return Ok(StepReport {
                metrics: self.metrics(s),
                stop: Some(Status::MaxEvaluations),
            });
        }
        let mut ev = Evaluator::new(self.problem.as_ref(), None);
        ev.set_counts(s.evals, s.failed);
        let energies: Vec<f64> = ev.eval_batch(&s.x, d).iter().map(|e| e.f).collect();
        s.evals = ev.evals();
        s.failed = ev.failed();
        for (i, &f) in energies.iter().enumerate() {
            if f < s.best_f {
                s.best_f = f;
                s.best_x.copy_from_slice(&s.x[i * d..(i + 1) * d]);
            }
        }
        // Consensus from all particles or from a random mini-batch.
        let cons = if cfg.batch == 0 || cfg.batch == n {
            consensus(&s.x, &energies, d, s.alpha)
        } else {
            let mut rng = ChaCha8Rng::seed_from_u64(splitmix64(s.seed ^ 0xB47C ^ splitmix64(s.k)));
            let mut idx: Vec<usize> = (0..n).collect();
            for t in 0..cfg.batch {
                let j = rng.random_range(t..n);
                idx.swap(t, j);
            }
            let pts: Vec<f64> = idx[..cfg.batch]
                .iter()
                .flat_map(|&i| s.x[i * d..(i + 1) * d].to_vec())
                .collect();
            let vals: Vec<f64> = idx[..cfg.batch].iter().map(|&i| energies[i]).collect();
            consensus(&pts, &vals, d, s.alpha)
        };
        let Some((v, ess)) = cons else {
            return Ok(StepReport {
                metrics: self.metrics(s),
                stop: Some(Status::Stalled {
                    reason: "every particle's evaluation failed".into(),
                }),
            });
        };
        s.consensus.copy_from_slice(&v);
        s.ess = ess;
        let lambda_dt = cfg.lambda * s.dt;
        let noise_scale = s.sigma * s.dt.sqrt();
        let (seed, k, noise) = (s.seed, s.k, cfg.noise);
        let bounds = if cfg.project {
            self.problem.bounds().cloned()
        } else {
            None
        };
        let work = |(i, xi): (usize, &mut [f64])| {
            let mut rng = Self::particle_rng(seed, k, i);
            update_particle(xi, &v, lambda_dt, noise_scale, noise, &mut rng);
            if let Some(b) = &bounds {
                b.project(xi);
            }
            xi.iter()
                .zip(&v)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max)
        };
        let spread = if n * d >= 4096 && rayon::current_num_threads() > 1 {
            s.x.par_chunks_mut(d)
                .enumerate()
                .map(work)
                .reduce(|| 0.0, f64::max)
        } else {
            s.x.chunks_mut(d).enumerate().map(work).fold(0.0, f64::max)
        };
        s.spread = spread;
        s.k += 1;
        s.alpha = (s.alpha * cfg.alpha_factor).min(cfg.alpha_max);
        s.sigma *= cfg.sigma_factor;
        s.dt *= cfg.dt_factor;
        if s.x.iter().any(|v| !v.is_finite()) {
            return Err(Error::Numerical(
                "a particle left the finite range (reduce dt or sigma)".into(),
            ));
        }
        Ok(StepReport::go(self.metrics(s)))
    }

    fn is_finite(&self, s: &CboState) -> bool {
        s.x.iter().chain(&s.consensus).all(|v| v.is_finite())
    }

    fn value(&self, s: &CboState) -> Option<f64> {
        s.best_f.is_finite().then_some(s.best_f)
    }

    fn counts(&self, s: &CboState) -> OracleCounts {
        let mut c = OracleCounts::default();
        c.add("f", s.evals);
        if s.failed > 0 {
            c.add("f_failed", s.failed);
        }
        c
    }

    fn extra(&mut self, s: &CboState) -> BTreeMap<String, f64> {
        let mut m = self.metrics(s);
        m.retain(|k, _| matches!(k.as_str(), "dist_inf" | "success" | "gap" | "failed_evals"));
        m
    }
}
