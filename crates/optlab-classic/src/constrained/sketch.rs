//! Randomized iterative sketching (sketch-and-project) for a square, possibly indefinite,
//! consistent system `K z = b` with `K` symmetric and sparse: randomized Kaczmarz (one row
//! per step), Gaussian vector sketches, and row-block Kaczmarz.
//!
//! The residual `r = K z - b` and `||r||²` are maintained incrementally (and recomputed
//! exactly every `dim` steps against drift), so that the adaptive stopping test of
//! AdaSketch-Newton costs nothing extra per step. Runs are warm-startable: `z`, `r` persist
//! between calls. A "flop" is one multiply-add counted as 2.

use optlab_core::seed::Rng;
use optlab_linalg::Csr;
use rand::Rng as _;
use serde::{Deserialize, Serialize};

/// Which sketch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SketchKind {
    /// Randomized Kaczmarz: one row sampled uniformly per step.
    Kaczmarz,
    /// A standard Gaussian vector `S` per step.
    Gaussian,
    /// `block_size` distinct rows sampled uniformly per step, projected jointly.
    Block,
}

/// How rows are drawn by the Kaczmarz and block sketches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RowSampling {
    /// Uniformly over the nonzero rows (the official AdaSketch-Newton code).
    Uniform,
    /// Proportionally to `||K_i||²` (Strohmer–Vershynin randomized Kaczmarz).
    RowNorm,
}

/// The system with its precomputed row norms.
#[derive(Debug)]
pub struct SketchSystem<'a> {
    k: &'a Csr,
    b: &'a [f64],
    row_norms_sq: Vec<f64>,
    rows: Vec<usize>,
    sampling: RowSampling,
    /// Cumulative `||K_i||²` over `rows` (row-norm sampling).
    cumulative: Vec<f64>,
}

/// A warm-startable sketch run: iterate, residual, counters.
#[derive(Debug, Clone, PartialEq)]
pub struct SketchRun {
    /// Current solution estimate.
    pub z: Vec<f64>,
    /// `K z - b`.
    pub r: Vec<f64>,
    /// `||r||²`.
    pub r_norm_sq: f64,
    /// Sketch steps so far.
    pub iters: u64,
    /// Multiply-adds times 2, so far.
    pub flops: u64,
}

fn sparse_dot(a: (&[usize], &[f64]), b: (&[usize], &[f64])) -> f64 {
    let (mut i, mut j, mut s) = (0, 0, 0.0);
    while i < a.0.len() && j < b.0.len() {
        match a.0[i].cmp(&b.0[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                s += a.1[i] * b.1[j];
                i += 1;
                j += 1;
            }
        }
    }
    s
}

impl<'a> SketchSystem<'a> {
    /// `K` must be square and symmetric; `b` of matching length.
    pub fn new(k: &'a Csr, b: &'a [f64], sampling: RowSampling) -> Self {
        let row_norms_sq = k.row_norms_sq();
        let rows: Vec<usize> = (0..k.nrows()).filter(|&i| row_norms_sq[i] > 0.0).collect();
        let mut acc = 0.0;
        let cumulative = rows
            .iter()
            .map(|&i| {
                acc += row_norms_sq[i];
                acc
            })
            .collect();
        SketchSystem {
            k,
            b,
            row_norms_sq,
            rows,
            sampling,
            cumulative,
        }
    }

    /// Index into `rows` of the next sampled row.
    fn draw(&self, rng: &mut Rng) -> usize {
        match self.sampling {
            RowSampling::Uniform => rng.random_range(0..self.rows.len()),
            RowSampling::RowNorm => {
                let total = self.cumulative.last().copied().unwrap_or(0.0);
                let u = rng.random::<f64>() * total;
                self.cumulative
                    .partition_point(|&c| c <= u)
                    .min(self.rows.len() - 1)
            }
        }
    }

    /// The run at `z = 0` (`r = -b`).
    pub fn start(&self) -> SketchRun {
        let r: Vec<f64> = self.b.iter().map(|v| -v).collect();
        let r_norm_sq = r.iter().map(|v| v * v).sum();
        SketchRun {
            z: vec![0.0; self.b.len()],
            r,
            r_norm_sq,
            iters: 0,
            flops: 0,
        }
    }

    /// The run at the least-squares fit `z = P a`, `a = argmin ||K P a - b||`, over the
    /// columns of `P` (`dirs`, e.g. the last Newton directions; one product `K p` each, and one
    /// more for the exact residual), or at `z = 0` when that does not start below `||b||`.
    /// Directions that are (numerically) dependent on earlier ones are skipped.
    pub fn start_along(&self, dirs: &[Vec<f64>]) -> SketchRun {
        let zero = self.start();
        let n = self.b.len();
        let mut flops = 0u64;
        // Modified Gram–Schmidt on the products K p: an orthonormal basis Q of span(K P) with
        // the matching combinations of P, so that z = P a solves the least-squares problem.
        let mut q: Vec<Vec<f64>> = Vec::new();
        let mut zs: Vec<Vec<f64>> = Vec::new();
        for p in dirs.iter().filter(|p| p.len() == n) {
            let mut kp = vec![0.0; n];
            self.k.matvec(p, &mut kp);
            let mut z = p.clone();
            let norm0 = kp.iter().map(|v| v * v).sum::<f64>().sqrt();
            // K p, its norm before and after the projections, the two normalizations.
            flops += 2 * self.k.nnz() as u64 + 6 * n as u64;
            for (qj, zj) in q.iter().zip(&zs) {
                let c: f64 = qj.iter().zip(&kp).map(|(a, b)| a * b).sum();
                kp.iter_mut().zip(qj).for_each(|(a, b)| *a -= c * b);
                z.iter_mut().zip(zj).for_each(|(a, b)| *a -= c * b);
                flops += 6 * n as u64;
            }
            let norm = kp.iter().map(|v| v * v).sum::<f64>().sqrt();
            if !norm.is_finite() || norm <= 1e-8 * norm0 {
                continue;
            }
            kp.iter_mut().for_each(|v| *v /= norm);
            z.iter_mut().for_each(|v| *v /= norm);
            q.push(kp);
            zs.push(z);
        }
        if q.is_empty() {
            return SketchRun { flops, ..zero };
        }
        // z = sum_j (q_j . b) zs_j (then K z is the projection of b on span(K P)); its residual
        // is recomputed exactly, as nearly dependent directions amplify rounding in zs_j.
        let mut z = vec![0.0; n];
        for (qj, zj) in q.iter().zip(&zs) {
            let c: f64 = qj.iter().zip(self.b).map(|(a, b)| a * b).sum();
            z.iter_mut().zip(zj).for_each(|(a, b)| *a += c * b);
            flops += 4 * n as u64;
        }
        let mut run = SketchRun {
            z,
            r: vec![0.0; n],
            r_norm_sq: 0.0,
            iters: 0,
            flops,
        };
        self.refresh(&mut run);
        if run.r_norm_sq.is_nan() || run.r_norm_sq >= zero.r_norm_sq {
            return SketchRun {
                flops: run.flops,
                ..zero
            };
        }
        run
    }

    fn refresh(&self, run: &mut SketchRun) {
        self.k.matvec(&run.z, &mut run.r);
        for (ri, bi) in run.r.iter_mut().zip(self.b) {
            *ri -= bi;
        }
        run.r_norm_sq = run.r.iter().map(|v| v * v).sum();
        run.flops += 2 * self.k.nnz() as u64 + 2 * run.r.len() as u64;
    }

    /// `z -= K^T u` and `r -= K K^T u` for a sparse `u` given as `(index, value)` pairs.
    fn apply_sparse(&self, run: &mut SketchRun, u: &[(usize, f64)], delta: &mut DeltaBuf) {
        for &(i, ui) in u {
            let (idx, val) = self.k.row(i);
            for (&j, &kij) in idx.iter().zip(val) {
                // K^T u has entry j += K_ij u_i; K symmetric so column j of K is row j.
                let w = kij * ui;
                run.z[j] -= w;
                let (idx2, val2) = self.k.row(j);
                for (&l, &kjl) in idx2.iter().zip(val2) {
                    delta.add(l, -w * kjl);
                }
                run.flops += 2 + 2 * idx2.len() as u64;
            }
        }
        for &l in &delta.touched {
            let old = run.r[l];
            let new = old + delta.d[l];
            run.r[l] = new;
            run.r_norm_sq += new * new - old * old;
            delta.d[l] = 0.0;
            delta.mark[l] = false;
        }
        delta.touched.clear();
        run.r_norm_sq = run.r_norm_sq.max(0.0);
    }

    /// Sketch steps until the incrementally tracked `||r||` is at most `tol` (true) or the cap
    /// is hit (false).
    fn steps(
        &self,
        run: &mut SketchRun,
        kind: SketchKind,
        block_size: usize,
        rng: &mut Rng,
        tol: f64,
        max_iters: u64,
    ) -> bool {
        let dim = self.b.len();
        if self.rows.is_empty() {
            return run.r_norm_sq.sqrt() <= tol;
        }
        let mut delta = DeltaBuf::new(dim);
        let mut since_refresh = 0usize;
        let tol_sq = tol * tol;
        let mut s = vec![0.0; dim];
        let mut v = vec![0.0; dim];
        let mut kv = vec![0.0; dim];
        let mut picked: Vec<usize> = Vec::new();
        while run.r_norm_sq > tol_sq {
            if run.iters >= max_iters {
                return false;
            }
            match kind {
                SketchKind::Kaczmarz => {
                    let i = self.rows[self.draw(rng)];
                    let step = run.r[i] / self.row_norms_sq[i];
                    self.apply_sparse(run, &[(i, step)], &mut delta);
                }
                SketchKind::Gaussian => {
                    for si in s.iter_mut() {
                        *si = optlab_core::seed::normal(rng);
                    }
                    self.k.matvec(&s, &mut v);
                    let denom: f64 = v.iter().map(|x| x * x).sum();
                    let num: f64 = s.iter().zip(&run.r).map(|(a, b)| a * b).sum();
                    run.flops += 2 * self.k.nnz() as u64 + 4 * dim as u64;
                    if denom > 0.0 {
                        let coef = num / denom;
                        self.k.matvec(&v, &mut kv);
                        for j in 0..dim {
                            run.z[j] -= coef * v[j];
                            run.r[j] -= coef * kv[j];
                        }
                        run.r_norm_sq = run.r.iter().map(|x| x * x).sum();
                        run.flops += 2 * self.k.nnz() as u64 + 6 * dim as u64;
                    }
                }
                SketchKind::Block => {
                    let p = block_size.clamp(1, self.rows.len());
                    picked.clear();
                    // Partial Fisher–Yates over the index list, without modifying it.
                    let mut pool: Vec<usize> = Vec::with_capacity(p);
                    while pool.len() < p {
                        let c = self.draw(rng);
                        if !pool.contains(&c) {
                            pool.push(c);
                        }
                    }
                    picked.extend(pool.iter().map(|&c| self.rows[c]));
                    let gram = optlab_linalg::faer::Mat::from_fn(p, p, |a, b| {
                        sparse_dot(self.k.row(picked[a]), self.k.row(picked[b]))
                    });
                    let rb: Vec<f64> = picked.iter().map(|&i| run.r[i]).collect();
                    run.flops += (2 * p * p * dim / self.rows.len().max(1)) as u64
                        + (2 * p * p * p / 3) as u64;
                    if let Some(y) = optlab_linalg::sparse::dense_lu_solve(&gram, &rb) {
                        let u: Vec<(usize, f64)> =
                            picked.iter().copied().zip(y.iter().copied()).collect();
                        self.apply_sparse(run, &u, &mut delta);
                    }
                }
            }
            run.iters += 1;
            since_refresh += 1;
            if since_refresh >= dim {
                self.refresh(run);
                since_refresh = 0;
            }
        }
        true
    }

    /// Run sketch steps until `||r|| <= tol` (checked exactly, not only incrementally) or
    /// `max_iters` total steps. Returns true when the tolerance was met.
    pub fn solve(
        &self,
        run: &mut SketchRun,
        kind: SketchKind,
        block_size: usize,
        rng: &mut Rng,
        tol: f64,
        max_iters: u64,
    ) -> bool {
        loop {
            if !self.steps(run, kind, block_size, rng, tol, max_iters) {
                return false;
            }
            // Confirm the incremental norm against an exact one before reporting success.
            self.refresh(run);
            if run.r_norm_sq <= tol * tol {
                return true;
            }
        }
    }
}

/// Scratch for sparse residual updates.
#[derive(Debug)]
struct DeltaBuf {
    d: Vec<f64>,
    mark: Vec<bool>,
    touched: Vec<usize>,
}

impl DeltaBuf {
    fn new(n: usize) -> Self {
        DeltaBuf {
            d: vec![0.0; n],
            mark: vec![false; n],
            touched: Vec::new(),
        }
    }

    fn add(&mut self, i: usize, v: f64) {
        if !self.mark[i] {
            self.mark[i] = true;
            self.touched.push(i);
        }
        self.d[i] += v;
    }
}
