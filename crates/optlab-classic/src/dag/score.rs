//! Linear-SEM scores `Q(W)` and their gradients, computed from the scaled Gram matrix
//! `S = X^T X / n` (so one evaluation costs `O(d^3)`, independent of `n`).
//!
//! With `A = I - W`, the residual variance of node `j` is `r_j = [A^T S A]_jj` and
//! `grad_W (sum_j c_j r_j) = -2 S A diag(c)`.

use optlab_core::{Error, Result};
use serde::{Deserialize, Serialize};

/// Which score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ScoreKind {
    /// Least squares `1/(2n) ||X - XW||_F^2` (NOTEARS, TOPO).
    #[default]
    Ls,
    /// Gaussian likelihood with equal noise variances (GOLEM-EV):
    /// `d/2 log(||X - XW||_F^2 / n) - log|det(I - W)|`.
    LikelihoodEv,
    /// Gaussian likelihood with non-equal variances (GOLEM-NV):
    /// `1/2 sum_j log(||X_j - X W_j||^2 / n) - log|det(I - W)|`.
    LikelihoodNv,
}

impl ScoreKind {
    /// True for the likelihood scores (which carry the `-log|det(I - W)|` term; it vanishes on
    /// DAGs).
    pub fn has_logdet(self) -> bool {
        !matches!(self, ScoreKind::Ls)
    }

    /// The score of per-node residual variances `r` (the `log det` term excluded; on a DAG it
    /// is zero).
    pub fn of_variances(self, r: &[f64]) -> f64 {
        match self {
            ScoreKind::Ls => 0.5 * r.iter().sum::<f64>(),
            ScoreKind::LikelihoodEv => 0.5 * r.len() as f64 * r.iter().sum::<f64>().ln(),
            ScoreKind::LikelihoodNv => 0.5 * r.iter().map(|v| v.ln()).sum::<f64>(),
        }
    }
}

/// `c = a b` for row-major `d x d` matrices.
pub fn matmul(a: &[f64], b: &[f64], d: usize) -> Vec<f64> {
    let mut c = vec![0.0; d * d];
    for i in 0..d {
        let ci = &mut c[i * d..(i + 1) * d];
        for k in 0..d {
            let aik = a[i * d + k];
            if aik == 0.0 {
                continue;
            }
            let bk = &b[k * d..(k + 1) * d];
            ci.iter_mut().zip(bk).for_each(|(x, y)| *x += aik * y);
        }
    }
    c
}

/// Transpose of a row-major `d x d` matrix.
pub fn transpose(a: &[f64], d: usize) -> Vec<f64> {
    let mut t = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..d {
            t[j * d + i] = a[i * d + j];
        }
    }
    t
}

/// A score bound to data (through `S`).
#[derive(Debug, Clone)]
pub struct Score {
    /// Which score.
    pub kind: ScoreKind,
    /// Variables.
    pub d: usize,
    /// `X^T X / n`, row-major.
    pub s: Vec<f64>,
}

impl Score {
    /// A score on the Gram matrix `s = X^T X / n` (row-major `d x d`).
    pub fn new(kind: ScoreKind, s: Vec<f64>, d: usize) -> Self {
        Score { kind, d, s }
    }

    /// `(S A, r)` with `A = I - W`: the product and the residual variances.
    fn residuals(&self, w: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let d = self.d;
        let mut a: Vec<f64> = w.iter().map(|v| -v).collect();
        for i in 0..d {
            a[i * d + i] += 1.0;
        }
        let sa = matmul(&self.s, &a, d);
        let mut r = vec![0.0; d];
        for i in 0..d {
            for j in 0..d {
                r[j] += a[i * d + j] * sa[i * d + j];
            }
        }
        (sa, r)
    }

    /// Per-node residual variances `r_j = ||X_j - X W_j||^2 / n`.
    pub fn variances(&self, w: &[f64]) -> Vec<f64> {
        self.residuals(w).1
    }

    /// The data-fit term (without `log det`) and its gradient.
    pub fn fit(&self, w: &[f64]) -> (f64, Vec<f64>) {
        self.fit_as(self.kind, w)
    }

    /// The data-fit term of another score `kind` on the same data, and its gradient.
    pub fn fit_as(&self, kind: ScoreKind, w: &[f64]) -> (f64, Vec<f64>) {
        let d = self.d;
        let (sa, r) = self.residuals(w);
        let f = kind.of_variances(&r);
        let mut g: Vec<f64> = sa.iter().map(|v| -v).collect();
        match kind {
            ScoreKind::Ls => {}
            ScoreKind::LikelihoodEv => {
                let c = d as f64 / r.iter().sum::<f64>();
                g.iter_mut().for_each(|v| *v *= c);
            }
            ScoreKind::LikelihoodNv => {
                for i in 0..d {
                    for j in 0..d {
                        g[i * d + j] /= r[j];
                    }
                }
            }
        }
        (f, g)
    }

    /// Refit on a support: every column `j` of the result is the least-squares regression of
    /// node `j` on the nodes `i` with `w_ij != 0` (the diagonal is ignored), zero elsewhere.
    ///
    /// Each column's residual variance is then the smallest the support allows, so the result
    /// minimizes the LS score and both likelihood scores' data-fit terms over matrices with
    /// `w`'s support (acyclic or not). Used after thresholding: the thresholded output keeps
    /// its edges and gets the weights they fit best. Errors, naming the variable indices, when
    /// a node's kept parents are (numerically) collinear.
    pub fn refit(&self, w: &[f64]) -> Result<Vec<f64>> {
        let d = self.d;
        if w.len() != d * d {
            return Err(Error::Other(format!(
                "refit: W has {} entries, expected {d} x {d}",
                w.len()
            )));
        }
        let s = &self.s;
        let mut out = vec![0.0; d * d];
        let (mut l, mut x) = (Vec::new(), Vec::new());
        for j in 0..d {
            let parents: Vec<usize> = (0..d).filter(|&i| i != j && w[i * d + j] != 0.0).collect();
            let k = parents.len();
            if k == 0 {
                continue;
            }
            // The factor of the order `parents, j` (stride k + 1): rows 0..k are the Cholesky
            // factor of S_PP, pivots checked like TOPO's inner solver; row k holds
            // L^{-1} S_Pj, whatever j's own pivot (a node its kept parents explain exactly is
            // refit, not an error).
            let stride = k + 1;
            l.clear();
            l.resize(stride * (k + 1), 0.0);
            let node_at = |m: usize| if m < k { parents[m] } else { j };
            for r in 0..=k {
                let (done, rest) = l.split_at_mut(r * stride);
                let row = cholesky_row(
                    s,
                    d,
                    node_at(r),
                    r,
                    node_at,
                    |m| &done[m * stride..(m + 1) * stride],
                    &mut rest[..stride],
                );
                if let (true, Err(v)) = (r < k, row) {
                    let why = if r == 0 {
                        "has (numerically) zero variance".to_string()
                    } else {
                        format!(
                            "is (numerically) a linear combination of its other kept parents {:?}",
                            &parents[..r]
                        )
                    };
                    return Err(Error::Numerical(format!(
                        "refit of variable {j}: its kept parent {} {why} (residual variance \
                         {v:.2e})",
                        parents[r]
                    )));
                }
            }
            x.clear();
            x.resize(k, 0.0);
            back_solve(&l, stride, &l[k * stride..k * stride + k], &mut x);
            for (&i, &v) in parents.iter().zip(&x) {
                out[i * d + j] = v;
            }
        }
        Ok(out)
    }

    /// The full score and gradient (`-log|det(I - W)|` included for the likelihood scores).
    pub fn value_grad(&self, w: &[f64]) -> Result<(f64, Vec<f64>)> {
        let (mut f, mut g) = self.fit(w);
        if self.kind.has_logdet() {
            let (ld, inv_t) = logdet_i_minus(w, self.d)?;
            f -= ld;
            // d/dW [-log|det(I - W)|] = (I - W)^{-T}
            g.iter_mut().zip(&inv_t).for_each(|(a, b)| *a += b);
        }
        Ok((f, g))
    }
}

/// Row `k` of the Cholesky factor of `S` restricted to the nodes `node_at(0..=k)`, with node `a`
/// at position `k` (TOPO's per-node regression of `a` on its predecessors): fills `out[0..k]`
/// by forward substitution through the rows `row(m)`, `m < k`, and returns the residual
/// variance `r = S_aa − ||out[0..k]||²`; when it passes the pivot test `r > 1e-12 S_aa`,
/// `out[k] = √r` and the result is `Ok(r)`, else `Err(r)` (with `out[0..k]` written).
pub(crate) fn cholesky_row<'a>(
    s: &[f64],
    d: usize,
    a: usize,
    k: usize,
    node_at: impl Fn(usize) -> usize,
    row: impl Fn(usize) -> &'a [f64],
    out: &mut [f64],
) -> std::result::Result<f64, f64> {
    for m in 0..k {
        let lm = row(m);
        let mut v = s[a * d + node_at(m)];
        for t in 0..m {
            v -= out[t] * lm[t];
        }
        out[m] = v / lm[m];
    }
    let saa = s[a * d + a];
    let r = saa - out[..k].iter().map(|v| v * v).sum::<f64>();
    if r.is_nan() || r <= 1e-12 * saa {
        return Err(r);
    }
    out[k] = r.sqrt();
    Ok(r)
}

/// Solve `L^T beta = lk` for the leading `k x k` block of a factor `l` stored by rows of
/// `stride` (`k = beta.len()`): the regression weights of a factor row on its predecessors.
pub(crate) fn back_solve(l: &[f64], stride: usize, lk: &[f64], beta: &mut [f64]) {
    let k = beta.len();
    for m in (0..k).rev() {
        let mut v = lk[m];
        for t in m + 1..k {
            v -= l[t * stride + m] * beta[t];
        }
        beta[m] = v / l[m * stride + m];
    }
}

/// `(log|det(I - W)|, (I - W)^{-T})`.
pub fn logdet_i_minus(w: &[f64], d: usize) -> Result<(f64, Vec<f64>)> {
    use optlab_linalg::faer::Mat;
    use optlab_linalg::faer::linalg::solvers::DenseSolveCore as _;
    let m = Mat::from_fn(d, d, |i, j| f64::from(u8::from(i == j)) - w[i * d + j]);
    let lu = m.partial_piv_lu();
    let u = lu.U();
    let ld: f64 = (0..d).map(|i| u[(i, i)].abs().ln()).sum();
    let inv = lu.inverse();
    let inv_t: Vec<f64> = (0..d * d).map(|k| inv[(k % d, k / d)]).collect();
    if !ld.is_finite() || inv_t.iter().any(|v| !v.is_finite()) {
        return Err(Error::Numerical(
            "I - W is singular (log det undefined)".into(),
        ));
    }
    Ok((ld, inv_t))
}
