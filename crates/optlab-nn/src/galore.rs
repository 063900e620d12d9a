//! GaLore (Zhao et al., 2024) and Natural GaLore (Das, 2024) as a [`GradientTransform`].
//!
//! Per targeted 2-D weight `W ∈ R^{m x n}` (row-major): every `update_gap` steps (the first at
//! the very first gradient) a thin SVD of the gradient gives the projector of the smaller side
//! — `P = U[:, :r]` and `R = Pᵀ G` when `m < n`, `Q = V[:, :r]ᵀ` and `R = G Qᵀ` when `m >= n`;
//! the side is chosen from the gradient's shape and stored. Adam runs on `R` (HF-style bias
//! correction, `eps` outside the root, as the reference code), the update is projected back
//! (`P N` or `N Q`), scaled by `alpha`, and decoupled decay is applied after the update, as in
//! the reference code. Singular vectors get a canonical sign (largest-magnitude entry positive)
//! so runs are deterministic across SVD back ends. Adam moments are kept across refreshes by
//! default (the reference code's behaviour); `on_refresh = "reset"` zeroes them.
//!
//! Natural GaLore replaces `R` by `(λI + GGᵀ)⁻¹ r` (flattened), with `G` the last `history`
//! projected gradients (the current one first), by Woodbury: `S = I + GᵀG/λ`, `S z = Gᵀ r`,
//! `r~ = r/λ - G z/λ²`. The history is not cleared at a refresh (as the reference code).
//! Untargeted tensors (biases, small matrices) get the same Adam without projection.

use crate::step::GradientTransform;
use faer::Mat;
use optlab_core::config::{at_least_one, in_unit_interval, non_negative, positive};
use optlab_core::{Error, MethodConfig, Result};
use serde::{Deserialize, Serialize};

/// What happens to the Adam moments when the projector is refreshed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnRefresh {
    /// Keep them (the reference code; they stay expressed in the old basis).
    Keep,
    /// Zero them.
    Reset,
}

/// GaLore / Natural GaLore settings. Defaults: the reference 60M pre-training script
/// (rank 128 there; 8 here for the small models), `T = 200`, `alpha = 0.25`, Adam `eps = 1e-6`;
/// Natural GaLore's history 20 and damping 1e-3.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GaLoreConfig {
    /// Rank `r` of the projection.
    pub rank: usize,
    /// Refresh the projector every this many steps.
    pub update_gap: u64,
    /// Scale `alpha` of the back-projected update.
    pub alpha: f64,
    /// Adam `beta1`.
    pub beta1: f64,
    /// Adam `beta2`.
    pub beta2: f64,
    /// Adam `eps`.
    pub eps: f64,
    /// Decoupled weight decay (applied after the update).
    pub weight_decay: f64,
    /// `keep` or `reset`.
    pub on_refresh: OnRefresh,
    /// `one-sided` (the papers' `Pᵀ G` / `G Qᵀ`, default) or `two-sided-tucker` (the Natural
    /// GaLore reference code's `SubSpaceAdamW`: `Uᵀ G V`, an `r x r` core).
    pub projection: Projection,
    /// Natural GaLore: precondition the projected gradient by the inverse empirical Fisher.
    pub natural: bool,
    /// Natural GaLore's history length `s`.
    pub history: usize,
    /// Natural GaLore's damping `λ`.
    pub damping: f64,
}

impl Default for GaLoreConfig {
    fn default() -> Self {
        GaLoreConfig {
            rank: 8,
            update_gap: 200,
            alpha: 0.25,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-6,
            weight_decay: 0.0,
            on_refresh: OnRefresh::Keep,
            projection: Projection::OneSided,
            natural: false,
            history: 20,
            damping: 1e-3,
        }
    }
}

impl MethodConfig for GaLoreConfig {
    fn validate(&self) -> Result<()> {
        at_least_one("rank", self.rank as u64)?;
        at_least_one("update_gap", self.update_gap)?;
        positive("alpha", self.alpha)?;
        in_unit_interval("beta1", self.beta1)?;
        in_unit_interval("beta2", self.beta2)?;
        positive("eps", self.eps)?;
        non_negative("weight_decay", self.weight_decay)?;
        at_least_one("history", self.history as u64)?;
        positive("damping", self.damping)
    }
}

/// How a matrix gradient is projected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Projection {
    /// Compress the smaller dimension only (GaLore; the Natural GaLore paper).
    OneSided,
    /// Compress both: `R = Uᵀ G V` with the top-`r` left and right singular vectors — the
    /// Tucker decomposition of rank `r` on both modes that the Natural GaLore reference code
    /// uses (for a matrix, Tucker/HOSVD factors are the truncated SVD's).
    TwoSidedTucker,
}

/// Which side a matrix is projected on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Side {
    /// `R = Pᵀ G` (`m < n`), projector `P` is `m x r`.
    Left,
    /// `R = G Qᵀ` (`m >= n`), projector `Q` is `r x n`.
    Right,
    /// `R = Pᵀ G Qᵀ` (`r x r`); the projector stores `P` (`m x r`) then `Q` (`r x n`).
    Both,
}

/// Per-tensor state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TensorState {
    /// `(m, n)` for a projected matrix, `None` for plain Adam.
    pub shape: Option<(usize, usize)>,
    /// Projection side.
    pub side: Option<Side>,
    /// Projector, row-major (`m x r` for `Left`, `r x n` for `Right`).
    pub projector: Vec<f32>,
    /// Adam first moment (projected shape, or the tensor's).
    pub m: Vec<f32>,
    /// Adam second moment.
    pub v: Vec<f32>,
    /// Natural GaLore's history of projected gradients, newest first.
    pub history: Vec<Vec<f32>>,
}

/// GaLore state for a list of tensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GaLoreState {
    /// Per tensor.
    pub tensors: Vec<TensorState>,
    /// Steps taken.
    pub count: u64,
    /// SVDs computed (for schedule checks).
    pub svd_count: u64,
    /// Mean of `||r||² / λ` over the projected matrices at the last step (Natural GaLore's
    /// regime indicator: near 0 the transform is GaLore scaled by `1/λ`).
    pub last_grad_sq_over_damping: f64,
}

impl GaLoreState {
    /// State for tensors of these sizes; `shapes[i] = Some((m, n))` projects tensor `i`.
    /// A rank above `min(m, n)` of a projected matrix is an error.
    pub fn new(
        cfg: &GaLoreConfig,
        sizes: &[usize],
        shapes: &[Option<(usize, usize)>],
    ) -> Result<Self> {
        cfg.validate()?;
        if sizes.len() != shapes.len() {
            return Err(Error::Other(format!(
                "galore: {} tensor sizes but {} shapes",
                sizes.len(),
                shapes.len()
            )));
        }
        let mut tensors = Vec::new();
        for (i, (&size, shape)) in sizes.iter().zip(shapes).enumerate() {
            let st = match *shape {
                Some((m, n)) => {
                    if m * n != size {
                        return Err(Error::Other(format!(
                            "galore: tensor {i} has {size} entries, shape {m} x {n}"
                        )));
                    }
                    if cfg.rank > m.min(n) {
                        return Err(Error::config(
                            "rank",
                            format!(
                                "{} exceeds min(m, n) = {} of tensor {i} ({m} x {n})",
                                cfg.rank,
                                m.min(n)
                            ),
                        ));
                    }
                    let (side, moments) = match cfg.projection {
                        Projection::TwoSidedTucker => (Side::Both, cfg.rank * cfg.rank),
                        Projection::OneSided if m >= n => (Side::Right, m * cfg.rank),
                        Projection::OneSided => (Side::Left, n * cfg.rank),
                    };
                    TensorState {
                        shape: Some((m, n)),
                        side: Some(side),
                        projector: Vec::new(),
                        m: vec![0.0; moments],
                        v: vec![0.0; moments],
                        history: Vec::new(),
                    }
                }
                None => TensorState {
                    shape: None,
                    side: None,
                    projector: Vec::new(),
                    m: vec![0.0; size],
                    v: vec![0.0; size],
                    history: Vec::new(),
                },
            };
            tensors.push(st);
        }
        Ok(GaLoreState {
            tensors,
            count: 0,
            svd_count: 0,
            last_grad_sq_over_damping: 0.0,
        })
    }

    /// Optimizer-state memory in bytes (projectors, moments, histories; f32).
    pub fn bytes(&self, cfg: &GaLoreConfig) -> usize {
        let floats: usize = self
            .tensors
            .iter()
            .map(|t| {
                let proj = match (t.shape, t.side) {
                    (Some((m, n)), Some(Side::Both)) => (m + n) * cfg.rank,
                    (Some((m, n)), _) => m.min(n) * cfg.rank,
                    _ => 0,
                };
                let hist = if cfg.natural && t.shape.is_some() {
                    cfg.history * t.m.len()
                } else {
                    0
                };
                proj + t.m.len() + t.v.len() + hist
            })
            .sum();
        floats * std::mem::size_of::<f32>()
    }
}

/// Canonical sign: flip a vector so that its largest-magnitude entry is positive.
fn canonical_sign(v: &mut [f64]) {
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if x.abs() > v[best].abs() {
            best = i;
        }
    }
    if v.get(best).is_some_and(|x| *x < 0.0) {
        v.iter_mut().for_each(|x| *x = -*x);
    }
}

/// The projector of `g` (`m x n`, row-major) for `side` and rank `r`.
fn projector(g: &[f32], m: usize, n: usize, r: usize, side: Side) -> Result<Vec<f32>> {
    let a = Mat::<f64>::from_fn(m, n, |i, j| f64::from(g[i * n + j]));
    let svd = a
        .thin_svd()
        .map_err(|e| Error::Numerical(format!("galore: SVD failed: {e:?}")))?;
    let left = || {
        let u = svd.U();
        let mut p = vec![0.0f32; m * r];
        for k in 0..r {
            let mut col: Vec<f64> = (0..m).map(|i| u[(i, k)]).collect();
            canonical_sign(&mut col);
            for i in 0..m {
                p[i * r + k] = col[i] as f32;
            }
        }
        p
    };
    let right = || {
        let v = svd.V();
        let mut q = vec![0.0f32; r * n];
        for k in 0..r {
            let mut col: Vec<f64> = (0..n).map(|j| v[(j, k)]).collect();
            canonical_sign(&mut col);
            for j in 0..n {
                q[k * n + j] = col[j] as f32;
            }
        }
        q
    };
    Ok(match side {
        Side::Left => left(),
        Side::Right => right(),
        Side::Both => {
            let mut pq = left();
            pq.extend(right());
            pq
        }
    })
}

/// The stored projector as a matrix (`m x r` for `Left`, `r x n` for `Right`; `P` for
/// `Both`, whose `Q` is [`projector_q`]).
fn projector_mat(pr: &[f32], m: usize, n: usize, r: usize, side: Side) -> Mat<f64> {
    match side {
        Side::Left | Side::Both => Mat::from_fn(m, r, |a, k| f64::from(pr[a * r + k])),
        Side::Right => Mat::from_fn(r, n, |k, j| f64::from(pr[k * n + j])),
    }
}

/// `Q` (`r x n`) of a two-sided projector.
fn projector_q(pr: &[f32], m: usize, n: usize, r: usize) -> Mat<f64> {
    Mat::from_fn(r, n, |k, j| f64::from(pr[m * r + k * n + j]))
}

/// `(λI + GGᵀ)⁻¹ g` by Woodbury, `G` given by its columns `hist` (each of `g`'s length).
pub fn woodbury_natural(g: &[f64], hist: &[Vec<f64>], lambda: f64) -> Result<Vec<f64>> {
    let s = hist.len();
    if s == 0 {
        return Ok(g.iter().map(|v| v / lambda).collect());
    }
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let sm = Mat::<f64>::from_fn(s, s, |i, j| {
        f64::from(u8::from(i == j)) + dot(&hist[i], &hist[j]) / lambda
    });
    let y: Vec<f64> = hist.iter().map(|h| dot(h, g)).collect();
    let chol = optlab_linalg::Cholesky::new(&sm).map_err(|_| {
        Error::Numerical("natural galore: Woodbury system not positive definite".into())
    })?;
    let z = chol.solve(&y);
    let mut out: Vec<f64> = g.iter().map(|v| v / lambda).collect();
    for (h, zk) in hist.iter().zip(&z) {
        out.iter_mut()
            .zip(h)
            .for_each(|(o, hv)| *o -= zk * hv / (lambda * lambda));
    }
    Ok(out)
}

impl GradientTransform for (GaLoreConfig, GaLoreState) {
    fn apply(
        &mut self,
        lr: f64,
        params: &mut [Vec<f32>],
        grads: &[Vec<f32>],
        decay: &[bool],
    ) -> Result<()> {
        let (cfg, st) = (&self.0, &mut self.1);
        if params.len() != st.tensors.len()
            || grads.len() != params.len()
            || decay.len() != params.len()
        {
            return Err(Error::Other(format!(
                "galore: {} parameter tensors, {} gradients, {} states, {} decay flags",
                params.len(),
                grads.len(),
                st.tensors.len(),
                decay.len()
            )));
        }
        let refresh = st.count % cfg.update_gap == 0;
        st.count += 1;
        let t = st.count as f64;
        let step_size = lr * (1.0 - cfg.beta2.powf(t)).sqrt() / (1.0 - cfg.beta1.powf(t));
        let (b1, b2) = (cfg.beta1, cfg.beta2);
        let r = cfg.rank;
        let mut ratio_sum = 0.0;
        let mut n_proj = 0usize;
        for (i, ((p, g), ts)) in params
            .iter_mut()
            .zip(grads)
            .zip(st.tensors.iter_mut())
            .enumerate()
        {
            if p.len() != g.len() {
                return Err(Error::Other(format!(
                    "galore: tensor {i}: parameter and gradient sizes differ"
                )));
            }
            // The (projected) gradient R.
            let (mut rg, shape) = match (ts.shape, ts.side) {
                (Some((m, n)), Some(side)) => {
                    if refresh {
                        ts.projector = projector(g, m, n, r, side)?;
                        st.svd_count += 1;
                        if cfg.on_refresh == OnRefresh::Reset {
                            ts.m.iter_mut().for_each(|v| *v = 0.0);
                            ts.v.iter_mut().for_each(|v| *v = 0.0);
                        }
                    }
                    let gm = Mat::<f64>::from_fn(m, n, |a, j| f64::from(g[a * n + j]));
                    let pm = projector_mat(&ts.projector, m, n, r, side);
                    let rg: Vec<f64> = match side {
                        // R = Pᵀ G: r x n, row-major.
                        Side::Left => {
                            let rm = pm.transpose() * &gm;
                            (0..r * n).map(|idx| rm[(idx / n, idx % n)]).collect()
                        }
                        // R = G Qᵀ: m x r, row-major.
                        Side::Right => {
                            let rm = &gm * pm.transpose();
                            (0..m * r).map(|idx| rm[(idx / r, idx % r)]).collect()
                        }
                        // R = Pᵀ G Qᵀ: r x r, row-major.
                        Side::Both => {
                            let qm = projector_q(&ts.projector, m, n, r);
                            let rm = pm.transpose() * &gm * qm.transpose();
                            (0..r * r).map(|idx| rm[(idx / r, idx % r)]).collect()
                        }
                    };
                    (rg, Some((m, n, side)))
                }
                _ => (g.iter().map(|v| f64::from(*v)).collect(), None),
            };
            if shape.is_some() && cfg.natural {
                let sq: f64 = rg.iter().map(|v| v * v).sum();
                ratio_sum += sq / cfg.damping;
                n_proj += 1;
                ts.history.insert(0, rg.iter().map(|v| *v as f32).collect());
                ts.history.truncate(cfg.history);
                let hist: Vec<Vec<f64>> = ts
                    .history
                    .iter()
                    .map(|h| h.iter().map(|v| f64::from(*v)).collect())
                    .collect();
                rg = woodbury_natural(&rg, &hist, cfg.damping)?;
            }
            // Adam on R.
            let mut nrm = vec![0.0f64; rg.len()];
            for (k, gk) in rg.iter().enumerate() {
                let mk = b1 * f64::from(ts.m[k]) + (1.0 - b1) * gk;
                let vk = b2 * f64::from(ts.v[k]) + (1.0 - b2) * gk * gk;
                ts.m[k] = mk as f32;
                ts.v[k] = vk as f32;
                nrm[k] = mk / (vk.sqrt() + cfg.eps);
            }
            // Back-project, scale, step; decoupled decay after the update.
            match shape {
                Some((m, n, side)) => {
                    let pm = projector_mat(&ts.projector, m, n, r, side);
                    let d = match side {
                        Side::Left => {
                            let nm = Mat::<f64>::from_fn(r, n, |k, j| nrm[k * n + j]);
                            &pm * &nm
                        }
                        Side::Right => {
                            let nm = Mat::<f64>::from_fn(m, r, |a, k| nrm[a * r + k]);
                            &nm * &pm
                        }
                        Side::Both => {
                            let nm = Mat::<f64>::from_fn(r, r, |a, k| nrm[a * r + k]);
                            let qm = projector_q(&ts.projector, m, n, r);
                            &pm * &nm * &qm
                        }
                    };
                    for a in 0..m {
                        for j in 0..n {
                            let w = &mut p[a * n + j];
                            *w = (f64::from(*w) - step_size * cfg.alpha * d[(a, j)]) as f32;
                        }
                    }
                }
                None => {
                    for (w, d) in p.iter_mut().zip(&nrm) {
                        *w = (f64::from(*w) - step_size * d) as f32;
                    }
                }
            }
            if decay[i] && cfg.weight_decay > 0.0 {
                let f = (1.0 - lr * cfg.weight_decay) as f32;
                p.iter_mut().for_each(|w| *w *= f);
            }
        }
        if n_proj > 0 {
            st.last_grad_sq_over_damping = ratio_sum / n_proj as f64;
        }
        Ok(())
    }

    fn state_numel(&self) -> usize {
        self.1.bytes(&self.0) / std::mem::size_of::<f32>()
    }
}
