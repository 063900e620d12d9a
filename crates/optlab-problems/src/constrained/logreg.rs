//! Equality-constrained logistic regression (the AdaSketch-Newton real-data example):
//! `min (1/N) Σ log(1 + exp(-y_i a_i^T w))` s.t. `A w = b` (10 Gaussian rows) and
//! `||w||² = 1`, so `m = 11`; `w0 = 1`, `λ0 = 1` as in the reference code.
//!
//! Data: breast_cancer (30 standardized features plus an intercept column, `n = 31`) or
//! mushrooms (the 112 binary LIBSVM features as they are, `n = 112`, no intercept: the one-hot
//! blocks already span the constant). `A`, `b` are drawn from the seed stream
//! `"logreg-eq-constraints"` of `problem.seed`.

use super::EqProblem;
use crate::data::{self, Dataset};
use optlab_core::Result;
use optlab_core::seed::{self, normal};
use optlab_linalg::Csr;

/// Number of random linear constraints.
pub const LINEAR_ROWS: usize = 10;

/// The problem.
#[derive(Debug, Clone)]
pub struct LogRegEq {
    name: String,
    rows: usize,
    n: usize,
    /// Row-major `rows x n`, labels folded in: `z_i = y_i a_i`.
    z: Vec<f64>,
    a: Vec<f64>,
    b: Vec<f64>,
}

impl LogRegEq {
    /// On breast_cancer (standardized, with intercept).
    pub fn breast_cancer(seed: u64) -> Result<Self> {
        let mut d = data::breast_cancer()?;
        d.standardize();
        Ok(Self::from_dataset(
            "logreg-eq-breast-cancer",
            &d,
            true,
            seed,
        ))
    }

    /// On mushrooms (raw binary features).
    pub fn mushrooms(seed: u64) -> Result<Self> {
        let d = data::mushrooms()?;
        Ok(Self::from_dataset("logreg-eq-mushrooms", &d, false, seed))
    }

    /// From a two-class dataset (class 1 is `y = +1`, class 0 is `y = -1`).
    pub fn from_dataset(name: &str, d: &Dataset, intercept: bool, seed_value: u64) -> Self {
        let n = d.n_features + usize::from(intercept);
        let mut z = Vec::with_capacity(d.len() * n);
        for i in 0..d.len() {
            let y = if d.y[i] == 1 { 1.0 } else { -1.0 };
            z.extend(d.row(i).iter().map(|v| y * v));
            if intercept {
                z.push(y);
            }
        }
        let mut rng = seed::stream(seed_value, "logreg-eq-constraints");
        let a: Vec<f64> = (0..LINEAR_ROWS * n).map(|_| normal(&mut rng)).collect();
        let b: Vec<f64> = (0..LINEAR_ROWS).map(|_| normal(&mut rng)).collect();
        LogRegEq {
            name: name.to_string(),
            rows: d.len(),
            n,
            z,
            a,
            b,
        }
    }

    fn margins(&self, w: &[f64]) -> Vec<f64> {
        (0..self.rows)
            .map(|i| {
                self.z[i * self.n..(i + 1) * self.n]
                    .iter()
                    .zip(w)
                    .map(|(a, b)| a * b)
                    .sum()
            })
            .collect()
    }
}

/// `log(1 + exp(-t))`, stable.
fn softplus_neg(t: f64) -> f64 {
    if t > 0.0 {
        (-t).exp().ln_1p()
    } else {
        -t + t.exp().ln_1p()
    }
}

/// `1 / (1 + exp(t))`, stable.
fn sigmoid_neg(t: f64) -> f64 {
    if t > 0.0 {
        let e = (-t).exp();
        e / (1.0 + e)
    } else {
        1.0 / (1.0 + t.exp())
    }
}

impl EqProblem for LogRegEq {
    fn name(&self) -> &str {
        &self.name
    }
    fn n(&self) -> usize {
        self.n
    }
    fn m(&self) -> usize {
        LINEAR_ROWS + 1
    }
    fn x0(&self) -> Vec<f64> {
        vec![1.0; self.n]
    }
    fn lambda0(&self) -> Vec<f64> {
        vec![1.0; self.m()]
    }
    fn value(&self, w: &[f64]) -> f64 {
        self.margins(w)
            .iter()
            .map(|&t| softplus_neg(t))
            .sum::<f64>()
            / self.rows as f64
    }
    fn gradient(&self, w: &[f64]) -> Vec<f64> {
        let mut g = vec![0.0; self.n];
        for (i, t) in self.margins(w).into_iter().enumerate() {
            let s = sigmoid_neg(t);
            for (gj, zj) in g.iter_mut().zip(&self.z[i * self.n..(i + 1) * self.n]) {
                *gj -= s * zj;
            }
        }
        g.iter_mut().for_each(|v| *v /= self.rows as f64);
        g
    }
    fn constraints(&self, w: &[f64]) -> Vec<f64> {
        let mut c: Vec<f64> = (0..LINEAR_ROWS)
            .map(|r| {
                self.a[r * self.n..(r + 1) * self.n]
                    .iter()
                    .zip(w)
                    .map(|(a, b)| a * b)
                    .sum::<f64>()
                    - self.b[r]
            })
            .collect();
        c.push(w.iter().map(|v| v * v).sum::<f64>() - 1.0);
        c
    }
    fn jacobian(&self, w: &[f64]) -> Csr {
        let mut rows: Vec<Vec<f64>> = (0..LINEAR_ROWS)
            .map(|r| self.a[r * self.n..(r + 1) * self.n].to_vec())
            .collect();
        rows.push(w.iter().map(|v| 2.0 * v).collect());
        Csr::from_rows(self.n, &rows).unwrap_or_else(|_| Csr::zeros(self.m(), self.n))
    }
    fn lagrangian_hessian(&self, w: &[f64], lambda: &[f64]) -> Csr {
        let n = self.n;
        let mut h = vec![0.0; n * n];
        for (i, t) in self.margins(w).into_iter().enumerate() {
            let s = sigmoid_neg(t);
            let wgt = s * (1.0 - s);
            if wgt == 0.0 {
                continue;
            }
            let zi = &self.z[i * n..(i + 1) * n];
            for p in 0..n {
                if zi[p] == 0.0 {
                    continue;
                }
                let a = wgt * zi[p];
                for q in 0..n {
                    h[p * n + q] += a * zi[q];
                }
            }
        }
        let inv = 1.0 / self.rows as f64;
        let mu = 2.0 * lambda.get(LINEAR_ROWS).copied().unwrap_or(0.0);
        let mut t = Vec::with_capacity(n * n);
        for p in 0..n {
            for q in 0..n {
                let v = h[p * n + q] * inv + if p == q { mu } else { 0.0 };
                if v != 0.0 {
                    t.push((p, q, v));
                }
            }
        }
        Csr::from_triplets(n, n, &t).unwrap_or_else(|_| Csr::zeros(n, n))
    }
}
