//! Acyclicity functions `h(W)` (zero exactly on DAGs) and their gradients.
//!
//! - NOTEARS: `h(W) = tr(exp(W ∘ W)) - d`, `∇h = exp(W ∘ W)^T ∘ 2W` (Zheng et al. 2018).
//! - log-det (as in TOPO's code): `h(W) = -log det(sI - |W|) + d log s`; TOPO ranks swap
//!   candidates by `G = (sI - |W|)^{-T}` (the gradient with respect to `|W|`), whose entry
//!   `(i, j)` is the weighted count of directed paths `j -> ... -> i`.

use super::score::{matmul, transpose};
use optlab_core::{Error, Result};
use optlab_linalg::faer::Mat;
use optlab_linalg::faer::linalg::solvers::{DenseSolveCore as _, Solve as _};

/// `exp(A)` of a row-major `d x d` matrix: scaling and squaring with the degree-13 Padé
/// approximant (Higham 2005, as scipy's `expm` for large norms).
pub fn expm(a: &[f64], d: usize) -> Result<Vec<f64>> {
    const B: [f64; 14] = [
        64_764_752_532_480_000.0,
        32_382_376_266_240_000.0,
        7_771_770_303_897_600.0,
        1_187_353_796_428_800.0,
        129_060_195_264_000.0,
        10_559_470_521_600.0,
        670_442_572_800.0,
        33_522_128_640.0,
        1_323_241_920.0,
        40_840_800.0,
        960_960.0,
        16_380.0,
        182.0,
        1.0,
    ];
    const THETA13: f64 = 5.371_920_351_148_152;
    let norm1 = (0..d)
        .map(|j| (0..d).map(|i| a[i * d + j].abs()).sum::<f64>())
        .fold(0.0, f64::max);
    if !norm1.is_finite() {
        return Err(Error::Numerical("expm of a non-finite matrix".into()));
    }
    let s = if norm1 > THETA13 {
        (norm1 / THETA13).log2().ceil() as i32
    } else {
        0
    };
    let scale = 0.5f64.powi(s);
    let a1: Vec<f64> = a.iter().map(|v| v * scale).collect();
    let a2 = matmul(&a1, &a1, d);
    let a4 = matmul(&a2, &a2, d);
    let a6 = matmul(&a4, &a2, d);
    let comb = |c6: f64, c4: f64, c2: f64, c0: f64| {
        let mut m: Vec<f64> = (0..d * d)
            .map(|k| c6 * a6[k] + c4 * a4[k] + c2 * a2[k])
            .collect();
        for i in 0..d {
            m[i * d + i] += c0;
        }
        m
    };
    let inner_u = matmul(&a6, &comb(B[13], B[11], B[9], 0.0), d);
    let mut u_in = comb(B[7], B[5], B[3], B[1]);
    u_in.iter_mut().zip(&inner_u).for_each(|(x, y)| *x += y);
    let u = matmul(&a1, &u_in, d);
    let inner_v = matmul(&a6, &comb(B[12], B[10], B[8], 0.0), d);
    let mut v = comb(B[6], B[4], B[2], B[0]);
    v.iter_mut().zip(&inner_v).for_each(|(x, y)| *x += y);
    // (V - U) R = (V + U)
    let p = Mat::from_fn(d, d, |i, j| v[i * d + j] - u[i * d + j]);
    let mut q = Mat::from_fn(d, d, |i, j| v[i * d + j] + u[i * d + j]);
    p.partial_piv_lu().solve_in_place(q.as_mut());
    let mut r: Vec<f64> = (0..d * d).map(|k| q[(k / d, k % d)]).collect();
    for _ in 0..s {
        r = matmul(&r, &r, d);
    }
    if r.iter().any(|x| !x.is_finite()) {
        return Err(Error::Numerical("expm overflowed".into()));
    }
    Ok(r)
}

/// NOTEARS' `h(W) = tr(exp(W ∘ W)) - d` and its gradient `exp(W ∘ W)^T ∘ 2W`.
pub fn h_exp(w: &[f64], d: usize) -> Result<(f64, Vec<f64>)> {
    let sq: Vec<f64> = w.iter().map(|v| v * v).collect();
    let e = expm(&sq, d)?;
    let h = (0..d).map(|i| e[i * d + i]).sum::<f64>() - d as f64;
    let et = transpose(&e, d);
    let g = et.iter().zip(w).map(|(a, b)| 2.0 * a * b).collect();
    Ok((h, g))
}

/// TOPO's log-det `h(W) = -log det(sI - |W|) + d log s` and `G = (sI - |W|)^{-T}`. Errors when
/// `sI - |W|` is not an M-matrix (spectral radius of `|W|` at least `s`).
pub fn h_logdet(w: &[f64], d: usize, s: f64) -> Result<(f64, Vec<f64>)> {
    let m = Mat::from_fn(d, d, |i, j| {
        s * f64::from(u8::from(i == j)) - w[i * d + j].abs()
    });
    let lu = m.partial_piv_lu();
    let inv = lu.inverse();
    let g: Vec<f64> = (0..d * d).map(|k| inv[(k % d, k / d)]).collect();
    // A nonsingular M-matrix has a nonnegative inverse (and a positive determinant).
    let ld: f64 = (0..d).map(|i| lu.U()[(i, i)].abs().ln()).sum();
    if !ld.is_finite() || g.iter().any(|v| !v.is_finite() || *v < -1e-12) {
        return Err(Error::Numerical(format!(
            "log-det acyclicity: sI - |W| (s = {s}) is not a nonsingular M-matrix"
        )));
    }
    Ok((-ld + d as f64 * s.ln(), g))
}

/// `N = (I - |W|)^{-1}` for `W` supported on the order `order` (nilpotent `|W|`): exact by
/// back-substitution along the order, `O(d^3)` worst case and no pivoting.
pub fn path_matrix(w: &[f64], d: usize, order: &[usize]) -> Vec<f64> {
    let mut n = vec![0.0; d * d];
    for &i in order.iter().rev() {
        n[i * d + i] = 1.0;
        for j in 0..d {
            let a = w[i * d + j].abs();
            if a != 0.0 {
                for k in 0..d {
                    n[i * d + k] += a * n[j * d + k];
                }
            }
        }
    }
    n
}
