//! Type-II Anderson acceleration of a fixed-point iteration `x <- T(x)` with a safeguard
//! (Walker & Ni 2011; the safeguarded form of Zhang, O'Donoghue & Boyd 2020, as used by SCS).
//!
//! With the residual `g(x) = x - T(x)` and the differences `ΔT_j = T(x_j) - T(x_{j-1})`,
//! `Δg_j = g(x_j) - g(x_{j-1})` of the last `m` evaluated points, the next point is
//!
//! ```text
//! gamma = argmin ||g_k - ΔG gamma||^2 + reg ||gamma||^2,   x_{k+1} = T(x_k) - ΔT gamma.
//! ```
//!
//! Safeguard: when the residual at an extrapolated point is larger than at the plain point it
//! came from, the extrapolation is rejected, the iteration goes back to `T` of that plain point
//! and the memory is cleared. Vectors may carry "passengers" after the first `core` entries:
//! quantities linear in the iterate (cached products) that are extrapolated with the same
//! coefficients but take no part in the residual.

use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The resumable memory of the acceleration. The vectors are immutable once stored and shared
/// (`Arc`), so that cloning the state (the driver keeps the last good one) costs nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct AndersonState {
    /// `ΔT_j` (full vectors, passengers included), oldest first.
    pub dt: Vec<Arc<Vec<f64>>>,
    /// `Δg_j` (core entries), oldest first.
    pub dg: Vec<Arc<Vec<f64>>>,
    /// Gram rows `Δg_i · Δg_j` for `j <= i` (kept incrementally).
    pub gram: Vec<Vec<f64>>,
    /// `T` of the last accepted point (full vector; where a rejected extrapolation goes back).
    pub last_t: Arc<Vec<f64>>,
    /// Residual of the last accepted point (core entries).
    pub last_g: Arc<Vec<f64>>,
    /// Its norm.
    pub last_gnorm: f64,
    /// Whether the point being evaluated is an extrapolation.
    pub pending: bool,
    /// Extrapolations accepted.
    pub accepted: u64,
    /// Extrapolations rejected by the safeguard.
    pub rejected: u64,
}

/// What [`Anderson::next`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The next point is `T(x)` (no memory yet, or a singular least-squares problem).
    Plain,
    /// The next point is an extrapolation.
    Extrapolated,
    /// The last extrapolation was rejected; the next point is `T` of the plain point before it.
    Rejected,
}

/// Settings of the acceleration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Anderson {
    /// Memory `m` (differences kept).
    pub memory: usize,
    /// Entries of the residual (the rest are passengers).
    pub core: usize,
    /// Tikhonov weight relative to the mean squared norm of the `Δg_j`.
    pub reg: f64,
}

use optlab_linalg::dot_lanes as dot;

/// Solves the SPD system `a x = b` (`a` is `m x m`, row-major) by Cholesky; `None` when it is
/// not numerically positive definite.
fn cholesky_solve(mut a: Vec<f64>, mut b: Vec<f64>) -> Option<Vec<f64>> {
    let m = b.len();
    for j in 0..m {
        let mut d = a[j * m + j];
        for k in 0..j {
            d -= a[j * m + k] * a[j * m + k];
        }
        if d <= 0.0 || !d.is_finite() {
            return None;
        }
        let d = d.sqrt();
        a[j * m + j] = d;
        for i in j + 1..m {
            let mut s = a[i * m + j];
            for k in 0..j {
                s -= a[i * m + k] * a[j * m + k];
            }
            a[i * m + j] = s / d;
        }
    }
    for i in 0..m {
        let mut s = b[i];
        for k in 0..i {
            s -= a[i * m + k] * b[k];
        }
        b[i] = s / a[i * m + i];
    }
    for i in (0..m).rev() {
        let mut s = b[i];
        for k in i + 1..m {
            s -= a[k * m + i] * b[k];
        }
        b[i] = s / a[i * m + i];
    }
    b.iter().all(|v| v.is_finite()).then_some(b)
}

impl Anderson {
    /// The next point to evaluate, given the point `x` just evaluated (its first `core` entries)
    /// and `tx = T(x)` (full vector). With `memory = 0` the next point is always `T(x)`.
    pub fn next(&self, st: &mut AndersonState, x: &[f64], tx: Vec<f64>) -> (Vec<f64>, Outcome) {
        if self.memory == 0 {
            return (tx, Outcome::Plain);
        }
        let c = self.core;
        let g: Vec<f64> = x[..c].iter().zip(&tx[..c]).map(|(a, b)| a - b).collect();
        let gnorm = dot(&g, &g).sqrt();
        if st.pending && (gnorm.is_nan() || gnorm > st.last_gnorm) {
            st.rejected += 1;
            st.pending = false;
            st.dt.clear();
            st.dg.clear();
            st.gram.clear();
            st.last_g = Arc::default();
            let back = std::mem::take(&mut st.last_t);
            return (Arc::unwrap_or_clone(back), Outcome::Rejected);
        }
        if st.pending {
            st.accepted += 1;
        }
        if !st.last_t.is_empty() {
            st.dt.push(Arc::new(
                tx.iter()
                    .zip(st.last_t.iter())
                    .map(|(a, b)| a - b)
                    .collect(),
            ));
            let new: Vec<f64> = g.iter().zip(st.last_g.iter()).map(|(a, b)| a - b).collect();
            // `while`: a resumed run may have been given a smaller memory.
            while st.dt.len() > self.memory {
                st.dt.remove(0);
                st.dg.remove(0);
                st.gram.remove(0);
                st.gram.iter_mut().for_each(|row| {
                    row.remove(0);
                });
            }
            let mut row: Vec<f64> = st.dg.iter().map(|d| dot(d, &new)).collect();
            row.push(dot(&new, &new));
            st.gram.push(row);
            st.dg.push(Arc::new(new));
        }
        st.last_g = Arc::new(g);
        st.last_gnorm = gnorm;
        st.pending = false;
        let m = st.dg.len();
        if m == 0 {
            st.last_t = Arc::new(tx.clone());
            return (tx, Outcome::Plain);
        }
        let mut a = vec![0.0; m * m];
        for (i, row) in st.gram.iter().enumerate() {
            for (j, v) in row.iter().enumerate() {
                a[i * m + j] = *v;
                a[j * m + i] = *v;
            }
        }
        let mean = (0..m).map(|i| a[i * m + i]).sum::<f64>() / m as f64;
        for i in 0..m {
            a[i * m + i] += self.reg * mean + f64::MIN_POSITIVE;
        }
        let rhs: Vec<f64> = st.dg.iter().map(|d| dot(d, &st.last_g)).collect();
        let mut out = tx.clone();
        st.last_t = Arc::new(tx);
        let Some(gamma) = cholesky_solve(a, rhs) else {
            return (out, Outcome::Plain);
        };
        for (gm, d) in gamma.iter().zip(&st.dt) {
            out.iter_mut().zip(d.iter()).for_each(|(o, v)| *o -= gm * v);
        }
        if !out.iter().all(|v| v.is_finite()) {
            return ((*st.last_t).clone(), Outcome::Plain);
        }
        st.pending = true;
        (out, Outcome::Extrapolated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `T(x) = x - 0.1 (A x - b)` for an ill-conditioned diagonal `A`: plain iteration crawls,
    /// Anderson converges in a few iterations (GMRES-equivalent for linear maps).
    #[test]
    fn accelerates_a_linear_fixed_point_iteration() {
        let diag: Vec<f64> = (0..20).map(|i| 1e-3 + i as f64 / 2.0).collect();
        let b: Vec<f64> = (0..20).map(|i| 1.0 + (i % 3) as f64).collect();
        let t = |x: &[f64]| -> Vec<f64> {
            x.iter()
                .zip(&diag)
                .zip(&b)
                .map(|((x, a), b)| x - 0.1 * (a * x - b))
                .collect()
        };
        let xstar: Vec<f64> = b.iter().zip(&diag).map(|(b, a)| b / a).collect();
        let err = |x: &[f64]| -> f64 {
            x.iter()
                .zip(&xstar)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max)
        };
        let aa = Anderson {
            memory: 20,
            core: 20,
            reg: 1e-14,
        };
        let mut st = AndersonState::default();
        let (mut x, mut y) = (vec![0.0; 20], vec![0.0; 20]);
        for _ in 0..60 {
            let tx = t(&x);
            x = aa.next(&mut st, &x, tx).0;
            y = t(&y);
        }
        assert!(err(&x) < 1e-6, "anderson error {}", err(&x));
        assert!(err(&y) > 1.0, "plain iteration error {}", err(&y));
        assert!(st.accepted > 10);
    }

    /// The first call has no memory and returns `T(x)`; passengers follow the same combination.
    #[test]
    fn first_step_is_plain_and_passengers_follow() {
        let aa = Anderson {
            memory: 3,
            core: 1,
            reg: 0.0,
        };
        let mut st = AndersonState::default();
        // T(x) = x/2 on the core; the passenger is 3x (a linear cache of the core).
        let (p0, o0) = aa.next(&mut st, &[4.0, 12.0], vec![2.0, 6.0]);
        assert_eq!((p0, o0), (vec![2.0, 6.0], Outcome::Plain));
        // Second: g = 1, last g = 2, Δg = -1, ΔT = [-1, -3]: gamma = -1, x = 1 - 1 = 0
        // (the exact fixed point) and the passenger 3 - 3 = 0 = 3 * 0.
        let (p1, o1) = aa.next(&mut st, &[2.0, 6.0], vec![1.0, 3.0]);
        assert_eq!(o1, Outcome::Extrapolated);
        assert!(p1[0].abs() < 1e-15 && p1[1].abs() < 1e-15, "{p1:?}");
    }

    /// Memory 0 is the plain iteration (no panic, no state).
    #[test]
    fn memory_zero_is_the_plain_iteration() {
        let aa = Anderson {
            memory: 0,
            core: 1,
            reg: 0.0,
        };
        let mut st = AndersonState::default();
        for (x, tx) in [(4.0, 2.0), (2.0, 1.0), (1.0, 0.5)] {
            assert_eq!(aa.next(&mut st, &[x], vec![tx]), (vec![tx], Outcome::Plain));
        }
        assert_eq!(st, AndersonState::default());
    }

    /// An extrapolation whose residual is larger than the plain point's is rejected: the next
    /// point is `T` of the plain point and the memory is cleared.
    #[test]
    fn safeguard_rejects_a_worse_extrapolation() {
        let aa = Anderson {
            memory: 3,
            core: 1,
            reg: 0.0,
        };
        let mut st = AndersonState::default();
        aa.next(&mut st, &[4.0], vec![2.0]);
        let (_, o) = aa.next(&mut st, &[2.0], vec![1.5]);
        assert_eq!(o, Outcome::Extrapolated);
        // The plain point 2.0 had residual 0.5; pretend the extrapolation's residual is 3.
        let (back, o) = aa.next(&mut st, &[5.0], vec![2.0]);
        assert_eq!(o, Outcome::Rejected);
        assert_eq!(back, vec![1.5]);
        assert!(st.dt.is_empty() && st.dg.is_empty());
        assert_eq!(st.rejected, 1);
        // Then the iteration restarts plainly.
        let (p, o) = aa.next(&mut st, &[1.5], vec![1.0]);
        assert_eq!((p, o), (vec![1.0], Outcome::Plain));
    }
}
