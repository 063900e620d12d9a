//! The convex ReLU programs as conic programs for Clarabel (a pure-Rust interior-point
//! solver): the squared-loss CP (the in-process reference the ADMM is checked against) and the
//! adversarially robust hinge-loss CP; plus the ℓ∞ PGD attack on a ReLU network and
//! PGD adversarial training of the non-convex network (the baseline of the robust program).
//!
//! Robust program (hinge loss, perturbations `‖δ‖∞ ≤ ε` on the perturbable features): for fixed
//! patterns the network output at `x + δ` is `Σ_i D_i (x + δ)ᵀ(v_i − w_i)` as long as every
//! pattern holds on the whole ball, i.e. `(2D_ik − 1) x_kᵀ v_i − ε ‖v_i‖₁ ≥ 0` (same for `w`);
//! the worst-case hinge is then `(1 − y_k x_kᵀ Σ_i D_ik (v_i − w_i) + ε ‖Σ_i D_ik (v_i − w_i)‖₁)₊`.
//! The program minimizes the sum of worst-case hinges plus `β Σ (‖v_i‖ + ‖w_i‖)`; at its
//! optimum the recovered network's worst-case hinge loss over the ball is at most the
//! program's loss term (the robust counterpart for fixed patterns; ℓ₁ norms of the bias
//! coordinate are excluded because the bias input is not perturbed).

use crate::convex_relu::{Adam, ReluData, ReluNet, init_net_params};
use clarabel::algebra::CscMatrix;
use clarabel::solver::{
    DefaultSettingsBuilder, DefaultSolver, IPSolver, SolverStatus, SupportedConeT,
};
use optlab_core::seed::Rng;
use optlab_core::{Error, Result};
use optlab_linalg::dot;

/// A conic solution.
#[derive(Debug, Clone)]
pub struct ConicSolution {
    /// `v_i`, column-major `d x P`.
    pub v: Vec<f64>,
    /// `w_i`, column-major `d x P`.
    pub w: Vec<f64>,
    /// Optimal value.
    pub objective: f64,
    /// Clarabel's status.
    pub status: String,
    /// Interior-point iterations.
    pub iterations: u32,
    /// Solve time in seconds (Clarabel's own).
    pub solve_time_s: f64,
}

/// Triplet builder for `A` rows grouped by cone.
struct Rows {
    i: Vec<usize>,
    j: Vec<usize>,
    v: Vec<f64>,
    b: Vec<f64>,
}

impl Rows {
    fn new() -> Self {
        Rows {
            i: Vec::new(),
            j: Vec::new(),
            v: Vec::new(),
            b: Vec::new(),
        }
    }
    /// Append a row `b - a·x ∈ cone` given as sparse `(col, coef)` of `a`.
    fn row(&mut self, entries: &[(usize, f64)], b: f64) {
        let r = self.b.len();
        for &(c, v) in entries {
            if v != 0.0 {
                self.i.push(r);
                self.j.push(c);
                self.v.push(v);
            }
        }
        self.b.push(b);
    }
}

/// Solve with Clarabel and return `(v, w)` from the variable ranges `[0, dp)` and `[dp, 2dp)`.
fn solve(
    nvar: usize,
    p_diag: &[(usize, f64)],
    q: Vec<f64>,
    rows: Rows,
    cones: Vec<SupportedConeT<f64>>,
    dp: usize,
    tol: f64,
) -> Result<ConicSolution> {
    let m = rows.b.len();
    let pm = CscMatrix::new_from_triplets(
        nvar,
        nvar,
        p_diag.iter().map(|e| e.0).collect(),
        p_diag.iter().map(|e| e.0).collect(),
        p_diag.iter().map(|e| e.1).collect(),
    );
    let a = CscMatrix::new_from_triplets(m, nvar, rows.i, rows.j, rows.v);
    let settings = DefaultSettingsBuilder::default()
        .verbose(false)
        .tol_gap_abs(tol)
        .tol_gap_rel(tol)
        .tol_feas(tol)
        .max_iter(500)
        .build()
        .map_err(|e| Error::Other(format!("clarabel settings: {e}")))?;
    let mut solver = DefaultSolver::new(&pm, &q, &a, &rows.b, &cones, settings)
        .map_err(|e| Error::Numerical(format!("clarabel: {e}")))?;
    solver.solve();
    let st = solver.solution.status;
    if !matches!(st, SolverStatus::Solved | SolverStatus::AlmostSolved) {
        return Err(Error::Numerical(format!(
            "clarabel stopped with status {st:?}"
        )));
    }
    let x = &solver.solution.x;
    Ok(ConicSolution {
        v: x[..dp].to_vec(),
        w: x[dp..2 * dp].to_vec(),
        objective: solver.solution.obj_val,
        status: format!("{st:?}"),
        iterations: solver.solution.iterations,
        solve_time_s: solver.solution.solve_time,
    })
}

fn dims(data: &ReluData, patterns: &[Vec<bool>]) -> (usize, usize, usize) {
    (data.n, data.d, patterns.len())
}

/// The squared-loss CP `½‖Σ D_i X (v_i − w_i) − y‖² + β Σ (‖v_i‖ + ‖w_i‖)` with its cone
/// constraints, solved by Clarabel at tolerance `tol` (the in-process reference).
pub fn solve_squared_cp(
    data: &ReluData,
    patterns: &[Vec<bool>],
    beta: f64,
    tol: f64,
) -> Result<ConicSolution> {
    let (n, d, p) = dims(data, patterns);
    let dp = d * p;
    // x = [v (dp) | w (dp) | sv (p) | sw (p) | e (n)]
    let (ov, ow, osv, osw, oe) = (0, dp, 2 * dp, 2 * dp + p, 2 * dp + 2 * p);
    let nvar = oe + n;
    let mut q = vec![0.0; nvar];
    q[osv..oe].iter_mut().for_each(|v| *v = beta);
    let p_diag: Vec<(usize, f64)> = (oe..nvar).map(|k| (k, 1.0)).collect();
    let mut rows = Rows::new();
    let mut cones = Vec::new();
    // e_k − Σ_i D_ik x_k (v_i − w_i) = −y_k  (zero cone)
    for k in 0..n {
        let xk = &data.x[k * d..(k + 1) * d];
        let mut e = vec![(oe + k, 1.0)];
        for (i, pat) in patterns.iter().enumerate() {
            if pat[k] {
                for j in 0..d {
                    e.push((ov + i * d + j, -xk[j]));
                    e.push((ow + i * d + j, xk[j]));
                }
            }
        }
        rows.row(&e, -data.y[k]);
    }
    cones.push(SupportedConeT::ZeroConeT(n));
    // (2D_ik − 1) x_k·v_i ≥ 0 and the same for w.
    for off in [ov, ow] {
        for (i, pat) in patterns.iter().enumerate() {
            for k in 0..n {
                let s = if pat[k] { 1.0 } else { -1.0 };
                let e: Vec<(usize, f64)> = (0..d)
                    .map(|j| (off + i * d + j, -s * data.x[k * d + j]))
                    .collect();
                rows.row(&e, 0.0);
            }
        }
    }
    cones.push(SupportedConeT::NonnegativeConeT(2 * n * p));
    push_group_socs(&mut rows, &mut cones, d, p, ov, ow, osv, osw);
    solve(nvar, &p_diag, q, rows, cones, dp, tol)
}

/// `(s_i, v_i) ∈ SOC` for every group of both halves.
#[allow(clippy::too_many_arguments)]
fn push_group_socs(
    rows: &mut Rows,
    cones: &mut Vec<SupportedConeT<f64>>,
    d: usize,
    p: usize,
    ov: usize,
    ow: usize,
    osv: usize,
    osw: usize,
) {
    for (off, os) in [(ov, osv), (ow, osw)] {
        for i in 0..p {
            rows.row(&[(os + i, -1.0)], 0.0);
            for j in 0..d {
                rows.row(&[(off + i * d + j, -1.0)], 0.0);
            }
            cones.push(SupportedConeT::SecondOrderConeT(d + 1));
        }
    }
}

/// The adversarially robust hinge-loss CP for `‖δ‖∞ ≤ eps` on the columns with
/// `perturbable[j]` (see the module docs); `eps = 0` gives the plain hinge-loss CP.
pub fn solve_robust_hinge_cp(
    data: &ReluData,
    patterns: &[Vec<bool>],
    beta: f64,
    eps: f64,
    perturbable: &[bool],
    tol: f64,
) -> Result<ConicSolution> {
    let (n, d, p) = dims(data, patterns);
    if perturbable.len() != d {
        return Err(Error::config("perturbable", format!("needs {d} entries")));
    }
    if !(eps.is_finite() && eps >= 0.0) {
        return Err(Error::config("eps", "must be finite and >= 0"));
    }
    let pj: Vec<usize> = (0..d).filter(|&j| perturbable[j]).collect();
    let dt = pj.len();
    let dp = d * p;
    // x = [v | w | sv | sw | t (n) | a (p dt) | b (p dt) | r (n dt)]
    let (ov, ow, osv, osw) = (0, dp, 2 * dp, 2 * dp + p);
    let (ot, oa) = (2 * dp + 2 * p, 2 * dp + 2 * p + n);
    let (ob, or) = (oa + p * dt, oa + 2 * p * dt);
    let nvar = or + n * dt;
    let mut q = vec![0.0; nvar];
    q[osv..ot].iter_mut().for_each(|v| *v = beta);
    q[ot..oa].iter_mut().for_each(|v| *v = 1.0);
    let mut rows = Rows::new();
    for k in 0..n {
        let xk = &data.x[k * d..(k + 1) * d];
        // t_k ≥ 0
        rows.row(&[(ot + k, -1.0)], 0.0);
        // t_k − 1 + y_k Σ_i D_ik x_k (v_i − w_i) − eps 1ᵀ r_k ≥ 0
        let yk = data.y[k];
        let mut e = vec![(ot + k, -1.0)];
        for (i, pat) in patterns.iter().enumerate() {
            if pat[k] {
                for j in 0..d {
                    e.push((ov + i * d + j, -yk * xk[j]));
                    e.push((ow + i * d + j, yk * xk[j]));
                }
            }
        }
        for m in 0..dt {
            e.push((or + k * dt + m, eps));
        }
        rows.row(&e, -1.0);
        // r_kj ≥ ±Σ_i D_ik (v_ij − w_ij)
        for (m, &j) in pj.iter().enumerate() {
            for sgn in [1.0, -1.0] {
                let mut e = vec![(or + k * dt + m, -1.0)];
                for (i, pat) in patterns.iter().enumerate() {
                    if pat[k] {
                        e.push((ov + i * d + j, sgn));
                        e.push((ow + i * d + j, -sgn));
                    }
                }
                rows.row(&e, 0.0);
            }
        }
    }
    // a_ij ≥ ±v_ij, b_ij ≥ ±w_ij
    for (off, oabs) in [(ov, oa), (ow, ob)] {
        for i in 0..p {
            for (m, &j) in pj.iter().enumerate() {
                for sgn in [1.0, -1.0] {
                    rows.row(&[(oabs + i * dt + m, -1.0), (off + i * d + j, sgn)], 0.0);
                }
            }
        }
    }
    // robust patterns: (2D_ik − 1) x_k·v_i − eps Σ_j a_ij ≥ 0
    for (off, oabs) in [(ov, oa), (ow, ob)] {
        for (i, pat) in patterns.iter().enumerate() {
            for k in 0..n {
                let s = if pat[k] { 1.0 } else { -1.0 };
                let mut e: Vec<(usize, f64)> = (0..d)
                    .map(|j| (off + i * d + j, -s * data.x[k * d + j]))
                    .collect();
                for m in 0..dt {
                    e.push((oabs + i * dt + m, eps));
                }
                rows.row(&e, 0.0);
            }
        }
    }
    let mut cones = vec![SupportedConeT::NonnegativeConeT(rows.b.len())];
    push_group_socs(&mut rows, &mut cones, d, p, ov, ow, osv, osw);
    solve(nvar, &[], q, rows, cones, dp, tol)
}

/// `x ↦ Σ_j α_j 1[xᵀu_j > 0] u_j`, the gradient of the network output.
fn input_grad(net: &ReluNet, x: &[f64]) -> Vec<f64> {
    let mut g = vec![0.0; x.len()];
    for (u, a) in net.u.iter().zip(&net.alpha) {
        if dot(x, u) > 0.0 {
            g.iter_mut().zip(u).for_each(|(gi, ui)| *gi += a * ui);
        }
    }
    g
}

/// ℓ∞ PGD on the margin `y f(x + δ)` (`steps` signed-gradient steps of `2.5 eps / steps`,
/// projected on the ball; only perturbable columns move). Returns the perturbed rows.
pub fn pgd_attack(
    net: &ReluNet,
    data: &ReluData,
    eps: f64,
    steps: usize,
    perturbable: &[bool],
) -> Vec<f64> {
    let d = data.d;
    let step = 2.5 * eps / steps.max(1) as f64;
    let mut out = data.x.clone();
    for (k, row) in out.chunks_mut(d).enumerate() {
        let x0: Vec<f64> = row.to_vec();
        for _ in 0..steps {
            let g = input_grad(net, row);
            for j in 0..d {
                if perturbable[j] {
                    let v = row[j] - step * (data.y[k] * g[j]).signum();
                    row[j] = v.clamp(x0[j] - eps, x0[j] + eps);
                }
            }
        }
    }
    out
}

/// Fraction of rows classified correctly (sign of the output) on `x`.
pub fn accuracy(net: &ReluNet, x: &[f64], y: &[f64], d: usize) -> f64 {
    let f = net.predict(x, d);
    f.iter()
        .zip(y)
        .filter(|(a, b)| **a != 0.0 && a.signum() == b.signum())
        .count() as f64
        / y.len() as f64
}

/// PGD adversarial training of the non-convex network (hinge loss summed over rows plus
/// `β/2 Σ (‖u_j‖² + α_j²)`, full-batch Adam, a fresh PGD attack each iteration).
#[allow(clippy::too_many_arguments)]
pub fn adversarial_train(
    data: &ReluData,
    width: usize,
    beta: f64,
    eps: f64,
    perturbable: &[bool],
    iters: usize,
    lr: f64,
    rng: &mut Rng,
) -> ReluNet {
    let (n, d, m) = (data.n, data.d, width);
    let mut theta = init_net_params(d, m, rng);
    let mut adam = Adam::new(theta.len(), lr);
    for _ in 0..iters {
        let xa = pgd_attack(
            &ReluNet::from_params(&theta, d, m),
            data,
            eps,
            7,
            perturbable,
        );
        let (u, a) = theta.split_at(d * m);
        let mut g = vec![0.0; theta.len()];
        let (gu, ga) = g.split_at_mut(d * m);
        for k in 0..n {
            let x = &xa[k * d..(k + 1) * d];
            let pre: Vec<f64> = u.chunks(d).map(|uj| dot(x, uj)).collect();
            let f: f64 = pre.iter().zip(a).map(|(z, aj)| z.max(0.0) * aj).sum();
            if 1.0 - data.y[k] * f > 0.0 {
                for j in 0..m {
                    if pre[j] > 0.0 {
                        ga[j] -= data.y[k] * pre[j];
                        for (gi, xi) in gu[j * d..(j + 1) * d].iter_mut().zip(x) {
                            *gi -= data.y[k] * a[j] * xi;
                        }
                    }
                }
            }
        }
        g.iter_mut().zip(&theta).for_each(|(gi, x)| *gi += beta * x);
        adam.step(&mut theta, &g);
    }
    ReluNet::from_params(&theta, d, m)
}
