//! Projected L-BFGS for `min f(x)` subject to `x >= 0` (some coordinates fixed at 0): the
//! inner solver of NOTEARS, whose reference code calls scipy's L-BFGS-B on the same problem.
//!
//! Each iteration takes the two-loop L-BFGS direction on the free variables (those not at a
//! bound with the gradient pushing outward), projects the trial points onto the orthant and
//! backtracks until an Armijo decrease. Stopping follows L-BFGS-B's defaults: projected
//! gradient `||P(g)||_inf <= pgtol` (1e-5), relative decrease `<= ftol` (factr 1e7 × eps).

use optlab_core::{Error, Result};
use optlab_linalg::dot;

/// Options (defaults: scipy's L-BFGS-B).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LbfgsOptions {
    /// Stored correction pairs.
    pub memory: usize,
    /// Iteration limit.
    pub max_iters: usize,
    /// Projected-gradient tolerance (max norm).
    pub pgtol: f64,
    /// Relative function-decrease tolerance.
    pub ftol: f64,
    /// Backtracking steps per line search.
    pub max_ls: usize,
}

impl Default for LbfgsOptions {
    fn default() -> Self {
        LbfgsOptions {
            memory: 10,
            max_iters: 15_000,
            pgtol: 1e-5,
            ftol: 1e7 * f64::EPSILON,
            max_ls: 20,
        }
    }
}

/// Why the inner solve stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LbfgsStop {
    /// Projected gradient small.
    Gradient,
    /// Relative decrease small.
    Decrease,
    /// Iteration limit.
    MaxIters,
    /// No decrease along the steepest projected direction.
    LineSearch,
}

/// Result of [`minimize_nonneg`].
#[derive(Debug, Clone)]
pub struct LbfgsResult {
    /// Final point.
    pub x: Vec<f64>,
    /// `f(x)`.
    pub f: f64,
    /// Iterations.
    pub iters: usize,
    /// Function-and-gradient evaluations.
    pub evals: usize,
    /// Why it stopped.
    pub stop: LbfgsStop,
}

/// Minimize `fg` (value, writing the gradient into its second argument) over `x >= 0` with
/// `x_i = 0` wherever `fixed[i]`.
pub fn minimize_nonneg(
    mut fg: impl FnMut(&[f64], &mut [f64]) -> Result<f64>,
    x0: &[f64],
    fixed: &[bool],
    opts: LbfgsOptions,
) -> Result<LbfgsResult> {
    let n = x0.len();
    let mut x: Vec<f64> = x0
        .iter()
        .zip(fixed)
        .map(|(v, &f)| if f { 0.0 } else { v.max(0.0) })
        .collect();
    let mut g = vec![0.0; n];
    let mut f = fg(&x, &mut g)?;
    let mut evals = 1;
    if !f.is_finite() {
        return Err(Error::Numerical(
            "objective not finite at the start point".into(),
        ));
    }
    let mut s_hist: Vec<Vec<f64>> = Vec::new();
    let mut y_hist: Vec<Vec<f64>> = Vec::new();
    let mut xt = vec![0.0; n];
    let mut gt = vec![0.0; n];
    let free = |x: &[f64], g: &[f64], i: usize| !fixed[i] && (x[i] > 0.0 || g[i] < 0.0);
    for iter in 0..opts.max_iters {
        let pg = (0..n)
            .filter(|&i| free(&x, &g, i))
            .map(|i| g[i].abs())
            .fold(0.0, f64::max);
        if pg <= opts.pgtol {
            return Ok(LbfgsResult {
                x,
                f,
                iters: iter,
                evals,
                stop: LbfgsStop::Gradient,
            });
        }
        // Bertsekas' two-metric projection: variables within eps of the bound with an outward
        // gradient are "active" and take a scaled gradient-projection step; the others take
        // the L-BFGS step built from the correction pairs restricted to them.
        let eps = (0..n)
            .filter(|&i| !fixed[i])
            .map(|i| (x[i] - (x[i] - g[i]).max(0.0)).powi(2))
            .sum::<f64>()
            .sqrt()
            .min(1e-3);
        let active: Vec<bool> = (0..n)
            .map(|i| !fixed[i] && x[i] <= eps && g[i] > 0.0)
            .collect();
        let mask: Vec<bool> = (0..n).map(|i| !fixed[i] && !active[i]).collect();
        let mdot = |a: &[f64], b: &[f64]| -> f64 {
            (0..n).filter(|&i| mask[i]).map(|i| a[i] * b[i]).sum()
        };
        let mut accepted = false;
        for attempt in 0..2 {
            // Two-loop recursion on the free coordinates.
            let mut q: Vec<f64> = (0..n).map(|i| if mask[i] { g[i] } else { 0.0 }).collect();
            let m = s_hist.len();
            let rhos: Vec<f64> = (0..m).map(|k| mdot(&y_hist[k], &s_hist[k])).collect();
            let mut alpha = vec![0.0; m];
            for k in (0..m).rev() {
                if rhos[k] <= 0.0 {
                    continue;
                }
                alpha[k] = mdot(&s_hist[k], &q) / rhos[k];
                q.iter_mut()
                    .zip(&y_hist[k])
                    .for_each(|(a, b)| *a -= alpha[k] * b);
            }
            let gamma = match m {
                0 => 1.0 / pg.max(1.0),
                _ => {
                    let yy = mdot(&y_hist[m - 1], &y_hist[m - 1]);
                    if rhos[m - 1] > 0.0 && yy > 0.0 {
                        rhos[m - 1] / yy
                    } else {
                        1.0 / pg.max(1.0)
                    }
                }
            };
            q.iter_mut().for_each(|a| *a *= gamma);
            for k in 0..m {
                if rhos[k] <= 0.0 {
                    continue;
                }
                let beta = mdot(&y_hist[k], &q) / rhos[k];
                q.iter_mut()
                    .zip(&s_hist[k])
                    .for_each(|(a, b)| *a += (alpha[k] - beta) * b);
            }
            let mut dir: Vec<f64> = (0..n)
                .map(|i| {
                    if mask[i] {
                        -q[i]
                    } else if active[i] {
                        -gamma * g[i]
                    } else {
                        0.0
                    }
                })
                .collect();
            if mdot(&dir, &g) >= 0.0 {
                // Not a descent direction on the free set: restart from steepest descent.
                s_hist.clear();
                y_hist.clear();
                dir = (0..n)
                    .map(|i| if fixed[i] { 0.0 } else { -g[i] / pg.max(1.0) })
                    .collect();
            }
            let mut t = 1.0;
            for _ in 0..opts.max_ls {
                for i in 0..n {
                    xt[i] = if fixed[i] {
                        x[i]
                    } else {
                        (x[i] + t * dir[i]).max(0.0)
                    };
                }
                // A trial point where f cannot be evaluated (e.g. overflow) is a rejected step.
                let ft = fg(&xt, &mut gt).unwrap_or(f64::INFINITY);
                evals += 1;
                let decrease: f64 = (0..n).map(|i| g[i] * (xt[i] - x[i])).sum();
                if ft.is_finite() && ft <= f + 1e-4 * decrease {
                    let s: Vec<f64> = (0..n).map(|i| xt[i] - x[i]).collect();
                    let y: Vec<f64> = (0..n).map(|i| gt[i] - g[i]).collect();
                    let sy = dot(&s, &y);
                    if sy > 1e-10 * dot(&y, &y) {
                        if s_hist.len() == opts.memory {
                            s_hist.remove(0);
                            y_hist.remove(0);
                        }
                        s_hist.push(s);
                        y_hist.push(y);
                    }
                    let rel = (f - ft) / f.abs().max(ft.abs()).max(1.0);
                    std::mem::swap(&mut x, &mut xt);
                    std::mem::swap(&mut g, &mut gt);
                    f = ft;
                    accepted = true;
                    if rel <= opts.ftol {
                        return Ok(LbfgsResult {
                            x,
                            f,
                            iters: iter + 1,
                            evals,
                            stop: LbfgsStop::Decrease,
                        });
                    }
                    break;
                }
                t *= 0.5;
            }
            if accepted || (attempt == 0 && s_hist.is_empty()) {
                break;
            }
            s_hist.clear();
            y_hist.clear();
        }
        if !accepted {
            return Ok(LbfgsResult {
                x,
                f,
                iters: iter,
                evals,
                stop: LbfgsStop::LineSearch,
            });
        }
    }
    Ok(LbfgsResult {
        x,
        f,
        iters: opts.max_iters,
        evals,
        stop: LbfgsStop::MaxIters,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bound_constrained_quadratic_reaches_the_kkt_point() {
        // min 1/2 (x - c)^T A (x - c), x >= 0, x_2 fixed: with c = (1, -2, 3), A SPD.
        let a = [[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]];
        let c = [1.0, -2.0, 3.0];
        let fg = |x: &[f64], g: &mut [f64]| {
            let r: Vec<f64> = (0..3).map(|i| x[i] - c[i]).collect();
            let mut f = 0.0;
            for i in 0..3 {
                g[i] = (0..3).map(|j| a[i][j] * r[j]).sum();
                f += 0.5 * r[i] * g[i];
            }
            Ok(f)
        };
        let opts = LbfgsOptions {
            pgtol: 1e-10,
            ftol: 0.0,
            ..Default::default()
        };
        let res = minimize_nonneg(fg, &[0.5, 0.5, 0.5], &[false, false, true], opts).unwrap();
        // KKT: x_1 = 0 active (gradient >= 0), x_2 fixed, x_0 free with zero gradient.
        let mut g = [0.0; 3];
        let fg2 = fg;
        fg2(&res.x, &mut g).unwrap();
        assert_eq!(res.x[2], 0.0);
        assert_eq!(res.x[1], 0.0);
        assert!(g[1] >= 0.0);
        assert!(g[0].abs() < 1e-9, "{:?} {:?}", res.x, g);
        // Closed form on the face x_1 = x_2 = 0: 4 (x0 - 1) + 2 - 1.5 = 0.
        assert!((res.x[0] - 0.875).abs() < 1e-9);
    }
}
