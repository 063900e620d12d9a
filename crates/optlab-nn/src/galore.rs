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
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatMut, MatRef};
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

impl Side {
    /// For an `m x n` matrix at rank `r`: the stored projector's length and the projected
    /// gradient's `(rows, cols)`.
    fn sizes(self, m: usize, n: usize, r: usize) -> (usize, (usize, usize)) {
        match self {
            Side::Left => (m * r, (r, n)),
            Side::Right => (r * n, (m, r)),
            Side::Both => ((m + n) * r, (r, r)),
        }
    }
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
    /// Natural GaLore: the history's Gram matrix `⟨h_i, h_j⟩` (row-major, `len x len`, in
    /// f64), updated with one new row per step so the Woodbury solve costs O(s·D), not
    /// O(s²·D). Rebuilt from `history` when absent (older checkpoints).
    #[serde(default)]
    pub gram: Vec<f64>,
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
                    let side = match cfg.projection {
                        Projection::TwoSidedTucker => Side::Both,
                        Projection::OneSided if m >= n => Side::Right,
                        Projection::OneSided => Side::Left,
                    };
                    let (rows, cols) = side.sizes(m, n, cfg.rank).1;
                    let moments = rows * cols;
                    TensorState {
                        shape: Some((m, n)),
                        side: Some(side),
                        projector: Vec::new(),
                        m: vec![0.0; moments],
                        v: vec![0.0; moments],
                        history: Vec::new(),
                        gram: Vec::new(),
                    }
                }
                None => TensorState {
                    shape: None,
                    side: None,
                    projector: Vec::new(),
                    m: vec![0.0; size],
                    v: vec![0.0; size],
                    history: Vec::new(),
                    gram: Vec::new(),
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

    /// Optimizer-state memory in bytes (projectors, moments, histories in f32; Natural
    /// GaLore's `s x s` Gram matrices in f64).
    pub fn bytes(&self, cfg: &GaLoreConfig) -> usize {
        let (f32s, f64s) = self.scalars(cfg);
        f32s * std::mem::size_of::<f32>() + f64s * std::mem::size_of::<f64>()
    }

    /// Scalars of optimizer state: `(f32 ones, f64 ones)` — projectors, moments and
    /// histories; Natural GaLore's `s x s` Gram matrices.
    pub fn scalars(&self, cfg: &GaLoreConfig) -> (usize, usize) {
        let mut f32s = 0;
        let mut f64s = 0;
        for t in &self.tensors {
            f32s += match (t.shape, t.side) {
                (Some((m, n)), Some(side)) => side.sizes(m, n, cfg.rank).0,
                _ => 0,
            };
            f32s += t.m.len() + t.v.len();
            if cfg.natural && t.shape.is_some() {
                f32s += cfg.history * t.m.len();
                f64s += cfg.history * cfg.history;
            }
        }
        (f32s, f64s)
    }
}

/// The sizes one step relies on, for tensor `i`: parameter and gradient (`m·n` for a
/// projected matrix), the stored projector (unless this step recomputes it), the moments and
/// Natural GaLore's history rows, all in the projected shape.
fn check_tensor(
    i: usize,
    p: &[f32],
    g: &[f32],
    ts: &TensorState,
    cfg: &GaLoreConfig,
    refresh: bool,
) -> Result<()> {
    let bad = |what: String| Err(Error::Other(format!("galore: tensor {i}: {what}")));
    if p.len() != g.len() {
        return bad(format!(
            "{} parameters but {} gradient entries",
            p.len(),
            g.len()
        ));
    }
    let r = cfg.rank;
    let (proj, moments) = match (ts.shape, ts.side) {
        (Some((m, n)), Some(side)) => {
            if g.len() != m * n {
                return bad(format!(
                    "{} gradient entries for a {m} x {n} matrix",
                    g.len()
                ));
            }
            let (proj, (rows, cols)) = side.sizes(m, n, r);
            (proj, rows * cols)
        }
        _ => (0, g.len()),
    };
    if !refresh && ts.shape.is_some() && ts.projector.len() != proj {
        return bad(format!(
            "the stored projector has {} entries, rank {r} needs {proj} (state of another rank?)",
            ts.projector.len()
        ));
    }
    if ts.m.len() != moments || ts.v.len() != moments {
        return bad(format!(
            "moments have {} and {} entries, the (projected) gradient {moments}",
            ts.m.len(),
            ts.v.len()
        ));
    }
    if let Some(h) = ts.history.iter().find(|h| h.len() != moments) {
        return bad(format!(
            "a history row has {} entries, the projected gradient {moments}",
            h.len()
        ));
    }
    Ok(())
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
    // f32, as the reference code (`torch.linalg.svd` on `matrix.float()`): the projector is
    // stored in f32 anyway, and f64 doubled the refresh time for no measurable change.
    let a = MatRef::from_row_major_slice(g, m, n);
    let svd = a
        .thin_svd()
        .map_err(|e| Error::Numerical(format!("galore: SVD failed: {e:?}")))?;
    let left = || {
        let u = svd.U();
        let mut p = vec![0.0f32; m * r];
        for k in 0..r {
            let mut col: Vec<f64> = (0..m).map(|i| f64::from(u[(i, k)])).collect();
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
            let mut col: Vec<f64> = (0..n).map(|j| f64::from(v[(j, k)])).collect();
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

/// The stored projector's factors as row-major views: `P` (`m x r`) for `Left` and `Both`,
/// `Q` (`r x n`) for `Right` and `Both`.
fn factors(
    pr: &[f32],
    m: usize,
    n: usize,
    r: usize,
    side: Side,
) -> (Option<MatRef<'_, f32>>, Option<MatRef<'_, f32>>) {
    let p = || MatRef::from_row_major_slice(&pr[..m * r], m, r);
    match side {
        Side::Left => (Some(p()), None),
        Side::Right => (None, Some(MatRef::from_row_major_slice(&pr[..r * n], r, n))),
        Side::Both => (
            Some(p()),
            Some(MatRef::from_row_major_slice(&pr[m * r..], r, n)),
        ),
    }
}

/// The projected gradient `R` (row-major): `Pᵀ G` (`r x n`), `G Qᵀ` (`m x r`) or `Pᵀ G Qᵀ`
/// (`r x r`). f32 matmuls (the reference code's precision), straight on the row-major buffers.
fn project(g: &[f32], pr: &[f32], m: usize, n: usize, r: usize, side: Side) -> Vec<f32> {
    let par = faer::get_global_parallelism();
    let gv = MatRef::from_row_major_slice(g, m, n);
    let (rows, cols) = side.sizes(m, n, r).1;
    let mut out = vec![0.0f32; rows * cols];
    let dst = MatMut::from_row_major_slice_mut(&mut out, rows, cols);
    match factors(pr, m, n, r, side) {
        (Some(p), None) => matmul(dst, Accum::Replace, p.transpose(), gv, 1.0, par),
        (None, Some(q)) => matmul(dst, Accum::Replace, gv, q.transpose(), 1.0, par),
        (Some(p), Some(q)) => {
            let mut pg = Mat::<f32>::zeros(r, n);
            matmul(pg.as_mut(), Accum::Replace, p.transpose(), gv, 1.0, par);
            matmul(dst, Accum::Replace, pg.as_ref(), q.transpose(), 1.0, par);
        }
        (None, None) => {}
    }
    out
}

/// `W -= scale · D` with `D = P N`, `N Q` or `P N Q` (`nrm` row-major in the projected
/// shape), accumulated into the row-major parameter buffer in f32 as the reference does.
#[allow(clippy::too_many_arguments)]
fn back_project(
    w: &mut [f32],
    nrm: &[f32],
    pr: &[f32],
    m: usize,
    n: usize,
    r: usize,
    side: Side,
    scale: f32,
) {
    let par = faer::get_global_parallelism();
    let dst = MatMut::from_row_major_slice_mut(w, m, n);
    match factors(pr, m, n, r, side) {
        (Some(p), None) => {
            let nv = MatRef::from_row_major_slice(nrm, r, n);
            matmul(dst, Accum::Add, p, nv, -scale, par);
        }
        (None, Some(q)) => {
            let nv = MatRef::from_row_major_slice(nrm, m, r);
            matmul(dst, Accum::Add, nv, q, -scale, par);
        }
        (Some(p), Some(q)) => {
            let nv = MatRef::from_row_major_slice(nrm, r, r);
            let mut pn = Mat::<f32>::zeros(m, r);
            matmul(pn.as_mut(), Accum::Replace, p, nv, 1.0, par);
            matmul(dst, Accum::Add, pn.as_ref(), q, -scale, par);
        }
        (None, None) => {}
    }
}

/// `⟨a, b⟩` of f32 vectors accumulated in f64, in a fixed order (8 interleaved partial sums,
/// so it vectorizes and is the same on every call).
fn dot_f32(a: &[f32], b: &[f32]) -> f64 {
    let mut acc = [0.0f64; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += f64::from(x[k]) * f64::from(y[k]);
        }
    }
    let tail: f64 = ra
        .iter()
        .zip(rb)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    acc.iter().sum::<f64>() + tail
}

/// Push `v` as the newest history row (keeping at most `cap`) and update the Gram matrix with
/// its inner products; rebuilds the Gram matrix first if it does not match the history.
fn push_history(ts: &mut TensorState, v: Vec<f32>, cap: usize) {
    let old = ts.history.len();
    if ts.gram.len() != old * old {
        ts.gram = (0..old * old)
            .map(|k| dot_f32(&ts.history[k / old], &ts.history[k % old]))
            .collect();
    }
    ts.history.insert(0, v);
    ts.history.truncate(cap);
    let s = ts.history.len();
    let row: Vec<f64> = ts
        .history
        .iter()
        .map(|h| dot_f32(&ts.history[0], h))
        .collect();
    let mut gram = vec![0.0f64; s * s];
    for i in 0..s {
        for j in 0..s {
            gram[i * s + j] = match (i, j) {
                (0, _) => row[j],
                (_, 0) => row[i],
                _ => ts.gram[(i - 1) * old + (j - 1)],
            };
        }
    }
    ts.gram = gram;
}

/// [`woodbury_natural`] of the newest history row `g = hist[0]` with the history's Gram
/// matrix given: `z = (I + Gram/λ)⁻¹ H g`, `out = g/λ − Hᵀ z / λ²`, where `H g` is the Gram
/// matrix's first row. O(s·D) instead of O(s²·D).
fn woodbury_cached(hist: &[Vec<f32>], gram: &[f64], lambda: f64) -> Result<Vec<f64>> {
    let s = hist.len();
    let Some(g) = hist.first() else {
        return Ok(Vec::new());
    };
    let sm = Mat::<f64>::from_fn(s, s, |i, j| {
        f64::from(u8::from(i == j)) + gram[i * s + j] / lambda
    });
    let y: Vec<f64> = (0..s).map(|j| gram[j]).collect();
    let chol = optlab_linalg::Cholesky::new(&sm).map_err(|_| {
        Error::Numerical("natural galore: Woodbury system not positive definite".into())
    })?;
    let z = chol.solve(&y);
    let mut out: Vec<f64> = g.iter().map(|v| f64::from(*v) / lambda).collect();
    for (h, zk) in hist.iter().zip(&z) {
        let c = zk / (lambda * lambda);
        out.iter_mut()
            .zip(h)
            .for_each(|(o, hv)| *o -= c * f64::from(*hv));
    }
    Ok(out)
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
        // Every size is checked before anything changes, so a bad call (or a state resumed
        // with another rank) is an error that leaves the state as it was.
        for (i, ((p, g), ts)) in params.iter().zip(grads).zip(&st.tensors).enumerate() {
            check_tensor(i, p, g, ts, cfg, refresh)?;
        }
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
            // The (projected) gradient R, in f32 as computed.
            let (r32, shape) = match (ts.shape, ts.side) {
                (Some((m, n)), Some(side)) => {
                    if refresh {
                        ts.projector = projector(g, m, n, r, side)?;
                        st.svd_count += 1;
                        if cfg.on_refresh == OnRefresh::Reset {
                            ts.m.iter_mut().for_each(|v| *v = 0.0);
                            ts.v.iter_mut().for_each(|v| *v = 0.0);
                        }
                    }
                    let r32 = project(g, &ts.projector, m, n, r, side);
                    (std::borrow::Cow::Owned(r32), Some((m, n, side)))
                }
                _ => (std::borrow::Cow::Borrowed(g.as_slice()), None),
            };
            let rg: Vec<f64> = if shape.is_some() && cfg.natural {
                let sq: f64 = r32.iter().map(|v| f64::from(*v) * f64::from(*v)).sum();
                ratio_sum += sq / cfg.damping;
                n_proj += 1;
                push_history(ts, r32.into_owned(), cfg.history);
                woodbury_cached(&ts.history, &ts.gram, cfg.damping)?
            } else {
                r32.iter().map(|v| f64::from(*v)).collect()
            };
            // Adam on R (lazily, straight into the consumer below).
            let adam =
                ts.m.iter_mut()
                    .zip(ts.v.iter_mut())
                    .zip(&rg)
                    .map(|((mk, vk), gk)| {
                        let m1 = b1 * f64::from(*mk) + (1.0 - b1) * gk;
                        let v1 = b2 * f64::from(*vk) + (1.0 - b2) * gk * gk;
                        *mk = m1 as f32;
                        *vk = v1 as f32;
                        m1 / (v1.sqrt() + cfg.eps)
                    });
            // Back-project, scale, step; decoupled decay after the update.
            match shape {
                Some((m, n, side)) => {
                    let nrm: Vec<f32> = adam.map(|v| v as f32).collect();
                    let scale = (step_size * cfg.alpha) as f32;
                    back_project(p, &nrm, &ts.projector, m, n, r, side, scale);
                }
                None => {
                    for (w, d) in p.iter_mut().zip(adam) {
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
        let (f32s, f64s) = self.1.scalars(&self.0);
        f32s + f64s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> TensorState {
        TensorState {
            shape: None,
            side: None,
            projector: Vec::new(),
            m: Vec::new(),
            v: Vec::new(),
            history: Vec::new(),
            gram: Vec::new(),
        }
    }

    /// The incremental Gram matrix and the cached Woodbury solve agree with the dense
    /// reference `woodbury_natural` at every step, through the history cap and after the Gram
    /// matrix is dropped (an older checkpoint) and rebuilt.
    #[test]
    fn cached_woodbury_equals_the_reference() {
        let mut rng = optlab_core::seed::stream(4, "woodbury-cache");
        let mut ts = state();
        for step in 0..9 {
            let v: Vec<f32> = (0..37)
                .map(|_| optlab_core::seed::normal(&mut rng) as f32)
                .collect();
            if step == 6 {
                ts.gram.clear();
            }
            push_history(&mut ts, v, 4);
            assert_eq!(ts.history.len(), (step + 1).min(4));
            let s = ts.history.len();
            for i in 0..s {
                for j in 0..s {
                    let d = dot_f32(&ts.history[i], &ts.history[j]);
                    assert_eq!(ts.gram[i * s + j], d, "step {step}: gram[{i}][{j}]");
                }
            }
            let hist: Vec<Vec<f64>> = ts
                .history
                .iter()
                .map(|h| h.iter().map(|x| f64::from(*x)).collect())
                .collect();
            for lambda in [1e-3, 1.0] {
                let want = woodbury_natural(&hist[0], &hist, lambda).unwrap();
                let got = woodbury_cached(&ts.history, &ts.gram, lambda).unwrap();
                let scale = want.iter().fold(0.0f64, |m, x| m.max(x.abs()));
                let err = want
                    .iter()
                    .zip(&got)
                    .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
                assert!(err < 1e-9 * scale, "step {step}, λ = {lambda}: {err}");
            }
        }
    }

    #[test]
    fn dot_f32_matches_a_plain_sum() {
        let a: Vec<f32> = (0..29).map(|i| i as f32 * 0.5 - 3.0).collect();
        let b: Vec<f32> = (0..29).map(|i| 1.0 - i as f32 * 0.25).collect();
        let want: f64 = a
            .iter()
            .zip(&b)
            .map(|(x, y)| f64::from(*x) * f64::from(*y))
            .sum();
        assert!((dot_f32(&a, &b) - want).abs() < 1e-12);
    }
}
