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
//! Particles are updated in parallel (rayon) and the update is vectorized (runtime SIMD
//! dispatch); coordinate `g = i·d + j`'s noise at iteration `k` is normal number `g` of a
//! counter-based Box–Muller stream keyed by `(seed, k)` ([`optlab_linalg::fastmath`]; in
//! single-precision arithmetic by default, [`NormalPrecision`]), so
//! results do not depend on the thread count, nor on the instruction set where `fma` is
//! correctly rounded (see `fastmath`). Failed evaluations (NaN, ±inf) get zero weight, are
//! counted, and the run goes on.

use optlab_core::config::{at_least_one, non_negative, positive};
use optlab_core::seed::{splitmix64, stream_seed};
use optlab_core::{
    Error, MethodConfig, OracleCounts, Result, RunContext, Solver, Status, StepReport,
};
use optlab_linalg::fastmath::{nan_max, sticky_max};
use optlab_problems::blackbox::{BlackBox, Evaluator, mark_failures};
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

/// The arithmetic of the Gaussian noise generator (the particles are `f64` either way).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NormalPrecision {
    /// Box–Muller in `f32` arithmetic from one 64-bit hash a pair, widened to `f64`
    /// ([`optlab_linalg::fastmath::fill_normals_f32`]): 2.2–2.9x faster per normal here; `|ξ|`
    /// is at most 6.661 (the normal mass beyond is `3e-11`) and the values carry 24 bits.
    #[default]
    Single,
    /// Box–Muller in `f64` arithmetic from two 64-bit hashes a pair
    /// ([`optlab_linalg::fastmath::fill_normals`]): `|ξ| <= 8.49`, 52-bit uniforms. The
    /// generator of optlab before this option existed.
    Double,
}

impl NormalPrecision {
    /// Fill `out` with normals `start ..` of stream `key` in this precision.
    pub fn fill(self, key: u64, start: u64, out: &mut [f64]) {
        match self {
            NormalPrecision::Single => optlab_linalg::fastmath::fill_normals_f32(key, start, out),
            NormalPrecision::Double => optlab_linalg::fastmath::fill_normals(key, start, out),
        }
    }
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
    /// Arithmetic of the normals `ξ` (a config without this field gets the default, single).
    pub normals: NormalPrecision,
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
            normals: NormalPrecision::Single,
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
/// energy is non-finite (or `dim` is 0).
///
/// Computed in fixed blocks of [`CONSENSUS_BLOCK`] particles, in parallel on a multi-thread
/// pool: each block sums its weights relative to its own smallest energy, and the blocks are
/// combined in order with the factors `exp(-α (min_block f - min f))`, so the numbers do not
/// depend on the thread count.
pub fn consensus(
    points: &[f64],
    values: &[f64],
    dim: usize,
    alpha: f64,
) -> Option<(Vec<f64>, f64)> {
    debug_assert_eq!(points.len(), values.len() * dim, "one energy per point");
    if dim == 0 {
        return None;
    }
    let n = values.len();
    let block = |b: usize| {
        let (lo, hi) = (b * CONSENSUS_BLOCK, ((b + 1) * CONSENSUS_BLOCK).min(n));
        block_sums(&points[lo * dim..hi * dim], &values[lo..hi], dim, alpha)
    };
    let blocks = n.div_ceil(CONSENSUS_BLOCK);
    let parts: Vec<BlockSums> = if blocks > 1 && n * dim >= 4096 && rayon::current_num_threads() > 1
    {
        (0..blocks).into_par_iter().map(block).collect()
    } else {
        (0..blocks).map(block).collect()
    };
    combine_blocks(&parts, dim, alpha)
}

/// One block's share of the consensus: its smallest finite energy `fmin` and, with weights
/// `exp(-α (f_i - fmin))`, the sums `Σ w_i x_i`, `Σ w_i`, `Σ w_i²` (zeros and `fmin = inf`
/// when every energy of the block is non-finite).
struct BlockSums {
    fmin: f64,
    v: Vec<f64>,
    sw: f64,
    sw2: f64,
}

/// [`BlockSums`] of `points` (at most [`CONSENSUS_BLOCK`] rows of `dim > 0` columns).
fn block_sums(points: &[f64], values: &[f64], dim: usize, alpha: f64) -> BlockSums {
    debug_assert!(values.len() <= CONSENSUS_BLOCK && dim > 0);
    // Smallest finite energy, on eight lanes.
    let mut lanes = [f64::INFINITY; 8];
    let chunks = values.chunks_exact(8);
    let mut fmin =
        chunks.remainder().iter().fold(
            f64::INFINITY,
            |m, &v| if v < m && v.is_finite() { v } else { m },
        );
    for c in chunks {
        for k in 0..8 {
            lanes[k] = if c[k] < lanes[k] && c[k].is_finite() {
                c[k]
            } else {
                lanes[k]
            };
        }
    }
    for l in lanes {
        fmin = if l < fmin { l } else { fmin };
    }
    if !fmin.is_finite() {
        return BlockSums {
            fmin,
            v: vec![0.0; dim],
            sw: 0.0,
            sw2: 0.0,
        };
    }
    struct Accumulate<'a> {
        points: &'a [f64],
        values: &'a [f64],
        dim: usize,
        alpha: f64,
        fmin: f64,
    }
    impl optlab_linalg::fastmath::pulp::WithSimd for Accumulate<'_> {
        type Output = (Vec<f64>, f64, f64);
        #[inline(always)]
        fn with_simd<S: optlab_linalg::fastmath::pulp::Simd>(self, _simd: S) -> Self::Output {
            let (alpha, fmin) = (self.alpha, self.fmin);
            // Weights in one vectorized pass (zero for failed evaluations). A plain loop: a
            // `collect` would run outside this dispatch, unvectorized.
            let mut w = [0.0; CONSENSUS_BLOCK];
            let w = &mut w[..self.values.len()];
            for (wi, &f) in w.iter_mut().zip(self.values) {
                let e = optlab_linalg::fastmath::exp_bounded(-alpha * (f - fmin));
                *wi = if f.is_finite() { e } else { 0.0 };
            }
            let sw = optlab_linalg::sum_lanes(w);
            let sw2 = optlab_linalg::dot_lanes(w, w);
            let d = self.dim;
            let mut v = vec![0.0; d];
            // Eight particles at a time: `v += Σ_k w_k x_k` touches `v` once per group (one
            // `v += w x` per particle is a store-to-load chain through `v`). A zero weight
            // (failed evaluation, underflow) selects 0 instead of multiplying, so a skipped
            // particle may hold any value; all-zero groups are skipped.
            let term = |wk: f64, xk: f64| if wk != 0.0 { wk * xk } else { 0.0 };
            let mut groups = self.points.chunks_exact(8 * d);
            let mut wgroups = w.chunks_exact(8);
            for (p8, w8) in groups.by_ref().zip(wgroups.by_ref()) {
                if w8.iter().all(|&wi| wi == 0.0) {
                    continue;
                }
                let (r0, r1, r2, r3) = (
                    &p8[..d],
                    &p8[d..2 * d],
                    &p8[2 * d..3 * d],
                    &p8[3 * d..4 * d],
                );
                let (r4, r5, r6, r7) = (
                    &p8[4 * d..5 * d],
                    &p8[5 * d..6 * d],
                    &p8[6 * d..7 * d],
                    &p8[7 * d..],
                );
                for j in 0..d {
                    let a = term(w8[0], r0[j])
                        + term(w8[1], r1[j])
                        + term(w8[2], r2[j])
                        + term(w8[3], r3[j]);
                    let b = term(w8[4], r4[j])
                        + term(w8[5], r5[j])
                        + term(w8[6], r6[j])
                        + term(w8[7], r7[j]);
                    v[j] += a + b;
                }
            }
            for (x, &wi) in groups.remainder().chunks_exact(d).zip(wgroups.remainder()) {
                for (vj, xj) in v.iter_mut().zip(x) {
                    *vj += term(wi, *xj);
                }
            }
            (v, sw, sw2)
        }
    }
    let (v, sw, sw2) = optlab_linalg::fastmath::dispatch(Accumulate {
        points,
        values,
        dim,
        alpha,
        fmin,
    });
    BlockSums { fmin, v, sw, sw2 }
}

/// The consensus from the blocks' sums, added in block order, each block's rescaled by
/// `exp(-α (its fmin - the overall fmin))` (a block whose factor underflows adds nothing, as its
/// weights would have underflowed); `None` when no energy is finite.
fn combine_blocks(parts: &[BlockSums], dim: usize, alpha: f64) -> Option<(Vec<f64>, f64)> {
    let fmin = parts.iter().fold(f64::INFINITY, |m, p| m.min(p.fmin));
    if !fmin.is_finite() {
        return None;
    }
    let mut v = vec![0.0; dim];
    let (mut sw, mut sw2) = (0.0, 0.0);
    for p in parts.iter().filter(|p| p.fmin.is_finite()) {
        let scale = if p.fmin == fmin {
            1.0
        } else {
            optlab_linalg::fastmath::exp_bounded(-alpha * (p.fmin - fmin))
        };
        v.iter_mut().zip(&p.v).for_each(|(a, b)| *a += scale * b);
        sw += scale * p.sw;
        sw2 += scale * scale * p.sw2;
    }
    v.iter_mut().for_each(|x| *x /= sw);
    Some((v, sw * sw / sw2))
}

/// The first `(index, energy)` below `bound` and below every earlier one: the new best particle
/// of a scan in order (`None` when nothing improves on `bound`).
fn improvement(energies: impl Iterator<Item = (usize, f64)>, bound: f64) -> Option<(usize, f64)> {
    energies.fold(None, |best, (i, f)| {
        if f < best.map_or(bound, |b: (usize, f64)| b.1) {
            Some((i, f))
        } else {
            best
        }
    })
}

/// The coefficients of one CBO update.
#[derive(Clone, Copy)]
struct UpdateCoeffs {
    /// `λ dt`.
    lambda_dt: f64,
    /// `σ √dt`.
    noise_scale: f64,
    noise: Noise,
}

/// The CBO update of the particles in `x` (whole particles of `v.len()` coordinates) toward
/// `v`, written to `out` (same length), with the standard normals `z` (same length; the
/// isotropic path overwrites them with the new `|x_ij - v_j|`). `vt` is `v` tiled from a
/// particle boundary, at least as long as `x` (anisotropic noise only; may be empty
/// otherwise). Returns the largest new `|x_ij - v_j|` (the spread), NaN if a coordinate is not
/// finite; it is also NaN when `|x_ij - v_j|` overflows for finite values near `f64::MAX`,
/// which then stops the run as a numerical failure.
fn update_particles(
    x: &[f64],
    out: &mut [f64],
    z: &mut [f64],
    v: &[f64],
    vt: &[f64],
    k: UpdateCoeffs,
) -> f64 {
    struct Update<'a> {
        x: &'a [f64],
        out: &'a mut [f64],
        z: &'a mut [f64],
        v: &'a [f64],
        vt: &'a [f64],
        k: UpdateCoeffs,
    }
    impl optlab_linalg::fastmath::pulp::WithSimd for Update<'_> {
        type Output = f64;
        #[inline(always)]
        fn with_simd<S: optlab_linalg::fastmath::pulp::Simd>(self, _simd: S) -> f64 {
            let (v, lambda_dt, noise_scale) = (self.v, self.k.lambda_dt, self.k.noise_scale);
            let d = v.len();
            let n = self.x.len();
            debug_assert_eq!(self.out.len(), n);
            if self.k.noise == Noise::Anisotropic {
                debug_assert!(self.vt.len() >= n);
                // One flat pass against `v` tiled over the chunk: the update and the spread's
                // NaN-sticky running maximum, on four independent sets of eight lanes (one
                // set is a loop-carried max-add chain that stalls the loop).
                let vt = &self.vt[..n];
                let mut acc = [[0.0f64; 8]; 4];
                let mut tail = 0.0f64;
                let mut os = self.out.chunks_exact_mut(32);
                let mut xs = self.x.chunks_exact(32);
                let mut zs = self.z.chunks_exact(32);
                let mut vs = vt.chunks_exact(32);
                for (((ob, xb), zb), vb) in os
                    .by_ref()
                    .zip(xs.by_ref())
                    .zip(zs.by_ref())
                    .zip(vs.by_ref())
                {
                    // Whole blocks through a local array (a `&mut` per coordinate was
                    // scalarized).
                    let mut new = [0.0f64; 32];
                    for k in 0..32 {
                        new[k] = aniso_new(xb[k], vb[k], zb[k], lambda_dt, noise_scale);
                    }
                    ob.copy_from_slice(&new);
                    let [a0, a1, a2, a3] = &mut acc;
                    for k in 0..8 {
                        a0[k] = sticky_max(a0[k], (new[k] - vb[k]).abs());
                        a1[k] = sticky_max(a1[k], (new[k + 8] - vb[k + 8]).abs());
                        a2[k] = sticky_max(a2[k], (new[k + 16] - vb[k + 16]).abs());
                        a3[k] = sticky_max(a3[k], (new[k + 24] - vb[k + 24]).abs());
                    }
                }
                let (xr, zr, vr) = (xs.remainder(), zs.remainder(), vs.remainder());
                for (k, o) in os.into_remainder().iter_mut().enumerate() {
                    *o = aniso_new(xr[k], vr[k], zr[k], lambda_dt, noise_scale);
                    tail = sticky_max(tail, (*o - vr[k]).abs());
                }
                return acc.iter().flatten().fold(tail, |m, &a| nan_max(m, a));
            }
            // Isotropic: one amplitude per particle; elementwise passes, then the maximum.
            for ((xi, oi), zi) in self
                .x
                .chunks_exact(d)
                .zip(self.out.chunks_exact_mut(d))
                .zip(self.z.chunks_exact_mut(d))
            {
                let scale = noise_scale * optlab_linalg::sqdist_lanes(xi, v).sqrt();
                for (((x, o), c), n) in xi.iter().zip(oi.iter_mut()).zip(v).zip(zi.iter_mut()) {
                    let diff = *x - c;
                    *o = *x - lambda_dt * diff + scale * *n;
                    *n = (*o - c).abs();
                }
            }
            max_lanes(self.z)
        }
    }
    optlab_linalg::fastmath::dispatch(Update {
        x,
        out,
        z,
        v,
        vt,
        k,
    })
}

/// One anisotropic coordinate update `x - λ dt (x - c) + σ √dt |x - c| z`.
#[inline(always)]
fn aniso_new(x: f64, c: f64, z: f64, lambda_dt: f64, noise_scale: f64) -> f64 {
    let diff = x - c;
    x - lambda_dt * diff + noise_scale * diff.abs() * z
}

/// The largest entry of non-negative `a`, NaN if one is NaN or infinite (eight lanes).
#[inline(always)]
fn max_lanes(a: &[f64]) -> f64 {
    let mut acc = [0.0f64; 8];
    let chunks = a.chunks_exact(8);
    let mut m = chunks
        .remainder()
        .iter()
        .fold(0.0f64, |m, &v| nan_max(m, v));
    for c in chunks {
        for k in 0..8 {
            acc[k] = sticky_max(acc[k], c[k]);
        }
    }
    for a in acc {
        m = nan_max(m, a);
    }
    m
}

/// Particles per chunk of the update (and per rayon task).
const CHUNK: usize = 64;

/// Particles per block of the consensus sums (their partial sums are added in block order).
const CONSENSUS_BLOCK: usize = 256;

/// The CBO solver.
pub struct Cbo {
    cfg: CboConfig,
    problem: Box<dyn BlackBox>,
    /// The problem's known minimizer and minimum (for the metrics), looked up once.
    minimizer: Option<Vec<f64>>,
    minimum: Option<f64>,
    /// Scratch reused across iterations: the normals, the energies, the new particles (the
    /// update is out of place so that a failed step leaves the state untouched) and the
    /// consensus tiled over one chunk.
    normals: Vec<f64>,
    energies: Vec<f64>,
    next: Vec<f64>,
    vt: Vec<f64>,
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
        Ok(Cbo {
            cfg,
            minimizer: problem.known_minimizer(),
            minimum: problem.known_minimum(),
            problem,
            normals: Vec::new(),
            energies: Vec::new(),
            next: Vec::new(),
            vt: Vec::new(),
        })
    }

    /// The key of iteration `k`'s noise stream (`seed` is [`CboState::seed`]): coordinate
    /// `g = i·d + j` at iteration `k` draws normal `g` of [`NormalPrecision::fill`] (the
    /// config's `normals`) under this key.
    pub fn noise_key(seed: u64, k: u64) -> u64 {
        splitmix64(seed ^ splitmix64(k.wrapping_mul(0x9E37_79B9)))
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
        if let Some(xs) = &self.minimizer {
            let dist = s
                .consensus
                .iter()
                .zip(xs)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            m.insert("dist_inf".into(), dist);
            m.insert("success".into(), f64::from(u8::from(dist < 0.25)));
        }
        if let Some(fs) = self.minimum {
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
        // Nothing in `s` changes until the commit at the end, so a step that fails leaves the
        // state as it was ([`Solver::transactional`]).
        let full = cfg.batch == 0 || cfg.batch == n;
        let (evals, failed, best, cons) = if full && self.problem.n_constraints() == 0 {
            // One pass per consensus block: the energies, the block's best particle and its
            // consensus sums while the block is in cache, in one parallel region (the same
            // numbers as `objectives_into` followed by `consensus`).
            self.energies.resize(n, 0.0);
            let problem = self.problem.as_ref();
            let (alpha, best_f) = (s.alpha, s.best_f);
            type Block<'a> = (usize, (&'a [f64], &'a mut [f64]));
            let block = |(b, (xs, es)): Block<'_>| {
                problem.values(xs, es);
                let bad = mark_failures(es);
                let offset = b * CONSENSUS_BLOCK;
                let best =
                    improvement(es.iter().enumerate().map(|(i, &f)| (offset + i, f)), best_f);
                (block_sums(xs, es, d, alpha), bad, best)
            };
            let parts: Vec<_> =
                if n > CONSENSUS_BLOCK && n * d >= 4096 && rayon::current_num_threads() > 1 {
                    s.x.par_chunks(CONSENSUS_BLOCK * d)
                        .zip(self.energies.par_chunks_mut(CONSENSUS_BLOCK))
                        .enumerate()
                        .map(block)
                        .collect()
                } else {
                    s.x.chunks(CONSENSUS_BLOCK * d)
                        .zip(self.energies.chunks_mut(CONSENSUS_BLOCK))
                        .enumerate()
                        .map(block)
                        .collect()
                };
            // Blocks in order: the first particle of the lowest energy, as one scan would find.
            let failed = s.failed + parts.iter().map(|p| p.1).sum::<u64>();
            let best = improvement(parts.iter().filter_map(|p| p.2), best_f);
            let sums: Vec<BlockSums> = parts.into_iter().map(|p| p.0).collect();
            let cons = combine_blocks(&sums, d, alpha);
            (s.evals + n as u64, failed, best, cons)
        } else {
            let mut ev = Evaluator::new(self.problem.as_ref(), None);
            ev.set_counts(s.evals, s.failed);
            ev.objectives_into(&s.x, d, &mut self.energies);
            let energies = &self.energies;
            let best = improvement(energies.iter().copied().enumerate(), s.best_f);
            // Consensus from all particles or from a random mini-batch.
            let cons = if full {
                consensus(&s.x, energies, d, s.alpha)
            } else {
                let mut rng =
                    ChaCha8Rng::seed_from_u64(splitmix64(s.seed ^ 0xB47C ^ splitmix64(s.k)));
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
            (ev.evals(), ev.failed(), best, cons)
        };
        let Some((v, ess)) = cons else {
            s.evals = evals;
            s.failed = failed;
            return Ok(StepReport {
                metrics: self.metrics(s),
                stop: Some(Status::Stalled {
                    reason: "every particle's evaluation failed".into(),
                }),
            });
        };
        let coeffs = UpdateCoeffs {
            lambda_dt: cfg.lambda * s.dt,
            noise_scale: s.sigma * s.dt.sqrt(),
            noise: cfg.noise,
        };
        let key = Self::noise_key(s.seed, s.k);
        let precision = cfg.normals;
        let bounds = if cfg.project {
            self.problem.bounds().cloned()
        } else {
            None
        };
        self.normals.resize(n * d, 0.0);
        self.next.resize(n * d, 0.0);
        // `v` tiled over one chunk of particles (the anisotropic update is one flat pass).
        self.vt.clear();
        if coeffs.noise == Noise::Anisotropic {
            for _ in 0..CHUNK.min(n) {
                self.vt.extend_from_slice(&v);
            }
        }
        let vt = &self.vt;
        // Whole particles per chunk; the noise of coordinate g is normal g of the stream, so
        // the chunking (and the thread count) does not change the numbers.
        type Chunk<'a> = (usize, ((&'a [f64], &'a mut [f64]), &'a mut [f64]));
        let work = |(c, ((xs, xn), zs)): Chunk<'_>| {
            precision.fill(key, (c * CHUNK * d) as u64, zs);
            let spread = update_particles(xs, xn, zs, &v, vt, coeffs);
            match &bounds {
                Some(b) => xn.chunks_exact_mut(d).fold(0.0, |m, xi| {
                    b.project(xi);
                    xi.iter()
                        .zip(&v)
                        .map(|(a, b)| (a - b).abs())
                        .fold(m, nan_max)
                }),
                None => spread,
            }
        };
        let spread = if n * d >= 4096 && rayon::current_num_threads() > 1 {
            s.x.par_chunks(CHUNK * d)
                .zip(self.next.par_chunks_mut(CHUNK * d))
                .zip(self.normals.par_chunks_mut(CHUNK * d))
                .enumerate()
                .map(work)
                .reduce(|| 0.0, nan_max)
        } else {
            s.x.chunks(CHUNK * d)
                .zip(self.next.chunks_mut(CHUNK * d))
                .zip(self.normals.chunks_mut(CHUNK * d))
                .enumerate()
                .map(work)
                .fold(0.0, nan_max)
        };
        // |x - v| is finite for every coordinate iff the particles and v are.
        if !spread.is_finite() {
            return Err(Error::Numerical(
                "a particle left the finite range (reduce dt or sigma)".into(),
            ));
        }
        // Commit.
        s.evals = evals;
        s.failed = failed;
        if let Some((i, f)) = best {
            s.best_f = f;
            s.best_x.copy_from_slice(&s.x[i * d..(i + 1) * d]);
        }
        s.consensus.copy_from_slice(&v);
        s.ess = ess;
        std::mem::swap(&mut s.x, &mut self.next);
        s.spread = spread;
        s.k += 1;
        s.alpha = (s.alpha * cfg.alpha_factor).min(cfg.alpha_max);
        s.sigma *= cfg.sigma_factor;
        s.dt *= cfg.dt_factor;
        Ok(StepReport::go(self.metrics(s)))
    }

    fn transactional(&self) -> bool {
        true
    }

    fn is_finite(&self, s: &CboState) -> bool {
        // Relies on `step`'s invariant: after a step, the spread is the largest |x_ij - v_j| over
        // every coordinate, computed NaN-sticky, so a finite spread with a finite v means finite
        // particles (a resumed checkpoint cannot hold NaN: JSON has none). The initial state is
        // checked coordinate by coordinate.
        optlab_linalg::fastmath::all_finite(&s.consensus)
            && ((s.k > 0 && s.spread.is_finite()) || optlab_linalg::fastmath::all_finite(&s.x))
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
