//! optlab's linear algebra: the only crate that touches faer directly.
//!
//! What the methods share: SPD solves by Cholesky that report (rather than panic on) a matrix
//! that is not positive definite, a metric `B` with its dual norm `||g||_* = (g^T B^-1 g)^1/2`
//! factored once, and the faer parallelism for a thread count.

pub use faer;

pub mod fastmath;
mod ln_table;
pub mod sparse;
use faer::linalg::solvers::Solve;
use faer::{Mat, Par, Side};
pub use sparse::{Csr, ShapeError};

/// A matrix that is not (numerically) symmetric positive definite.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("matrix is not positive definite")]
pub struct NotPositiveDefinite;

/// The faer parallelism for `threads` threads (sequential for 1).
pub fn par(threads: usize) -> Par {
    if threads <= 1 {
        Par::Seq
    } else {
        Par::rayon(threads)
    }
}

/// Set faer's global parallelism for this process (faer's decompositions read it).
pub fn set_threads(threads: usize) {
    faer::set_global_parallelism(par(threads));
}

/// A Cholesky factorization `A = L L^T`.
#[derive(Debug)]
pub struct Cholesky(faer::linalg::solvers::Llt<f64>);

impl Cholesky {
    /// Factor a symmetric matrix (only the lower triangle is read).
    pub fn new(a: &Mat<f64>) -> Result<Self, NotPositiveDefinite> {
        if a.nrows() != a.ncols() {
            return Err(NotPositiveDefinite);
        }
        a.llt(Side::Lower)
            .map(Cholesky)
            .map_err(|_| NotPositiveDefinite)
    }

    /// Solve `A x = b`.
    pub fn solve(&self, b: &[f64]) -> Vec<f64> {
        let mut rhs = Mat::from_fn(b.len(), 1, |i, _| b[i]);
        self.0.solve_in_place(&mut rhs);
        (0..b.len()).map(|i| rhs[(i, 0)]).collect()
    }
}

/// The metric `B` defining `||h|| = <Bh, h>^1/2` and the dual norm.
#[derive(Debug)]
pub enum Metric {
    /// `B = I`.
    Identity,
    /// A general SPD `B`, factored once.
    Spd {
        /// The matrix.
        b: Mat<f64>,
        /// Its Cholesky factor.
        chol: Cholesky,
    },
}

impl Metric {
    /// Factor `b`.
    pub fn spd(b: Mat<f64>) -> Result<Self, NotPositiveDefinite> {
        let chol = Cholesky::new(&b)?;
        Ok(Metric::Spd { b, chol })
    }

    /// `||g||_* = (g^T B^-1 g)^1/2`.
    pub fn dual_norm(&self, g: &[f64]) -> f64 {
        match self {
            Metric::Identity => norm2(g),
            Metric::Spd { chol, .. } => {
                let s = chol.solve(g);
                dot(g, &s).max(0.0).sqrt()
            }
        }
    }

    /// `B^-1 g`.
    pub fn inverse_apply(&self, g: &[f64]) -> Vec<f64> {
        match self {
            Metric::Identity => g.to_vec(),
            Metric::Spd { chol, .. } => chol.solve(g),
        }
    }

    /// `B x`.
    pub fn apply(&self, x: &[f64]) -> Vec<f64> {
        match self {
            Metric::Identity => x.to_vec(),
            Metric::Spd { b, .. } => matvec(b, x),
        }
    }

    /// `H + lambda B` as a new matrix.
    pub fn regularize(&self, h: &Mat<f64>, lambda: f64) -> Mat<f64> {
        let mut m = h.clone();
        match self {
            Metric::Identity => {
                for i in 0..m.nrows() {
                    m[(i, i)] += lambda;
                }
            }
            Metric::Spd { b, .. } => {
                for j in 0..m.ncols() {
                    for i in 0..m.nrows() {
                        m[(i, j)] += lambda * b[(i, j)];
                    }
                }
            }
        }
        m
    }
}

/// `A x` for a dense `A`.
pub fn matvec(a: &Mat<f64>, x: &[f64]) -> Vec<f64> {
    let mut y = vec![0.0; a.nrows()];
    for (j, xj) in x.iter().enumerate().take(a.ncols()) {
        for (i, yi) in y.iter_mut().enumerate() {
            *yi += a[(i, j)] * xj;
        }
    }
    y
}

/// Euclidean norm.
pub fn norm2(x: &[f64]) -> f64 {
    dot(x, x).sqrt()
}

/// Inner product.
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Inner product with eight independent partial sums: vectorizes (the plain [`dot`] is one
/// latency-bound chain), in a fixed order, so deterministic; for long vectors.
#[inline(always)]
pub fn dot_lanes(a: &[f64], b: &[f64]) -> f64 {
    lanes(a, b, |x, y| x * y)
}

/// `||a - b||^2` with eight independent partial sums (see [`dot_lanes`]).
#[inline(always)]
pub fn sqdist_lanes(a: &[f64], b: &[f64]) -> f64 {
    lanes(a, b, |x, y| (x - y) * (x - y))
}

/// `Σ a_i` with eight independent partial sums (see [`dot_lanes`]).
#[inline(always)]
pub fn sum_lanes(a: &[f64]) -> f64 {
    lanes(a, a, |x, _| x)
}

/// Whether every element is finite: `Σ (a_i − a_i)` on eight lanes, which is `0` when all are
/// finite and NaN otherwise (it cannot overflow), so the check vectorizes where a
/// short-circuiting `all(is_finite)` does not.
#[inline(always)]
pub fn all_finite(a: &[f64]) -> bool {
    // Both operands are `a`, so the pair is `(a_i, a_i)` and `x - y` is `a_i − a_i`.
    lanes(a, a, |x, y| x - y) == 0.0
}

/// `Σ term(a_i, b_i)` on eight lanes, then the lanes ([`sum8`]), then the tail (the order every
/// `*_lanes` sum shares).
#[inline(always)]
fn lanes(a: &[f64], b: &[f64], term: impl Fn(f64, f64) -> f64) -> f64 {
    let mut acc = [0.0f64; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += term(x[k], y[k]);
        }
    }
    let tail: f64 = ra.iter().zip(rb).map(|(x, y)| term(*x, *y)).sum();
    sum8(&acc) + tail
}

/// The eight lanes' sum as a halving tree, `((a0 + a4) + (a2 + a6)) + ((a1 + a5) + (a3 + a7))`:
/// the order of a 512 → 256 → 128 → 64-bit reduction, three dependent adds (a left-to-right
/// sum is seven, and was the cost of short rows' sums).
#[inline(always)]
pub fn sum8(a: &[f64; 8]) -> f64 {
    let s4 = [a[0] + a[4], a[1] + a[5], a[2] + a[6], a[3] + a[7]];
    let s2 = [s4[0] + s4[2], s4[1] + s4[3]];
    s2[0] + s2[1]
}

/// Sherman–Morrison solve of `(alpha v v^T + lambda I) x = b` for `lambda > 0`,
/// `alpha >= 0` (the rank-one "Fisher term" path of the GRN paper's code).
pub fn rank_one_solve(alpha: f64, v: &[f64], lambda: f64, b: &[f64]) -> Vec<f64> {
    let vb = dot(v, b);
    let vv = dot(v, v);
    let coef = alpha * vb / (lambda * (lambda + alpha * vv));
    b.iter()
        .zip(v)
        .map(|(bi, vi)| bi / lambda - coef * vi)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spd3() -> Mat<f64> {
        Mat::from_fn(3, 3, |i, j| {
            if i == j {
                4.0
            } else {
                1.0 / (1.0 + (i + j) as f64)
            }
        })
    }

    /// `all_finite` finds a NaN or an infinity in a lane or in the tail, and does not overflow
    /// on huge finite values (whose plain sum would be infinite).
    #[test]
    fn all_finite_finds_every_non_finite_and_only_those() {
        let base: Vec<f64> = (0..19).map(|i| i as f64 - 9.0).collect();
        assert!(all_finite(&base));
        assert!(all_finite(&[]));
        assert!(all_finite(&[f64::MAX; 19]));
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            for at in [0, 7, 8, 15, 16, 18] {
                let mut v = base.clone();
                v[at] = bad;
                assert!(!all_finite(&v), "{bad} at {at}");
            }
        }
    }

    /// `sum8` adds in its documented tree order (a left-to-right sum gives 0 here), and the
    /// `*_lanes` sums put a row's tail after the lanes.
    #[test]
    fn lane_sums_follow_the_documented_order() {
        let a = [1e16, 1.0, 1.0, 1.0, -1e16, 1.0, 1.0, 1.0];
        // ((1e16 - 1e16) + (1 + 1)) + ((1 + 1) + (1 + 1)) = 6; left to right: 1e16 + 1 + 1 + 1
        // rounds back to 1e16, so the sum would be 3.
        assert_eq!(sum8(&a), 6.0);
        assert_eq!(a.iter().sum::<f64>(), 3.0);
        let x: Vec<f64> = (0..11).map(|i| 0.1 * i as f64 - 0.3).collect();
        let lanes: [f64; 8] = std::array::from_fn(|k| x[k] * x[k]);
        let tail: f64 = x[8..].iter().map(|v| v * v).sum();
        assert_eq!(dot_lanes(&x, &x), sum8(&lanes) + tail);
        assert_eq!(
            sum_lanes(&x),
            sum8(&std::array::from_fn(|k| x[k])) + x[8..].iter().sum::<f64>()
        );
    }

    #[test]
    fn cholesky_solves_and_rejects_indefinite() {
        let a = spd3();
        let x = Cholesky::new(&a).unwrap().solve(&[1.0, 2.0, 3.0]);
        for i in 0..3 {
            let r: f64 = (0..3).map(|j| a[(i, j)] * x[j]).sum();
            assert!((r - [1.0, 2.0, 3.0][i]).abs() < 1e-13);
        }
        let bad = Mat::from_fn(2, 2, |i, j| if i == j { 1.0 } else { 2.0 });
        assert_eq!(Cholesky::new(&bad).unwrap_err(), NotPositiveDefinite);
    }

    #[test]
    fn dual_norm_of_identity_and_spd() {
        assert!((Metric::Identity.dual_norm(&[3.0, 4.0]) - 5.0).abs() < 1e-15);
        let b = Mat::from_fn(2, 2, |i, j| if i == j { 4.0 } else { 0.0 });
        let m = Metric::spd(b).unwrap();
        assert!((m.dual_norm(&[2.0, 2.0]) - 2.0f64.sqrt()).abs() < 1e-15);
    }

    #[test]
    fn sherman_morrison_equals_cholesky() {
        let v = [0.3, -1.2, 2.0, 0.5];
        let (alpha, lambda) = (2.5, 0.7);
        let a = Mat::from_fn(4, 4, |i, j| {
            alpha * v[i] * v[j] + if i == j { lambda } else { 0.0 }
        });
        let b = [1.0, -2.0, 0.5, 3.0];
        let x1 = rank_one_solve(alpha, &v, lambda, &b);
        let x2 = Cholesky::new(&a).unwrap().solve(&b);
        for (p, q) in x1.iter().zip(&x2) {
            assert!((p - q).abs() < 1e-10);
        }
    }
}
