//! SVM hyper-parameter selection with lower-level constraints (LV-HBA's experiment), on the
//! LIBSVM diabetes and fourclass data the LV-HBA repository ships.
//!
//! `x = c ∈ R^{n_train}` (one log-weight per training row), `y = (w, b, ξ)`;
//! lower `½||w||² + ½ Σ exp(c_i) ξ_i²` subject to `1 - ξ_i - t_i (wᵀa_i + b) <= 0` (one
//! constraint per training row, `t_i = ±1`);
//! upper `Σ_j LeakyReLU(2 sigmoid(-5 t_j (wᵀa_j + b)/||w||) - 1)` over the validation rows
//! (slope 0.01; a smoothed 0-1 loss), exactly as the official script.
//!
//! The joint set `C` leaves `c` free (or in the box `[c_min, c_max]`) and constrains
//! `(w, b, ξ)` to the polyhedron above; its Euclidean projection is computed exactly by
//! [`SvmHo::project_feasible`] (the official script uses ECOS at 2e-3, a hidden source of
//! error). Clarabel solves the exact lower-level QP of the fixed-C baseline.

use super::{Bilevel, Sample, ValueGrad, check_dims, expect_len, split_indices};
use crate::data::parse_libsvm;
use crate::softmax::sigmoid;
use clarabel::algebra::CscMatrix;
use clarabel::solver::{
    DefaultSettingsBuilder, DefaultSolver, IPSolver, SolverStatus, SupportedConeT,
};
use optlab_core::seed::stream;
use optlab_core::{Error, Result};
use rand::Rng as _;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// LIBSVM "diabetes_scale" as shipped by the LV-HBA repository (768 x 8, labels ±1).
pub const DIABETES_LIBSVM: &str = include_str!("../../data/diabetes_scale.txt");
/// LIBSVM "fourclass_scale" as shipped by the LV-HBA repository (862 x 2, labels ±1).
pub const FOURCLASS_LIBSVM: &str = include_str!("../../data/fourclass_scale.txt");

/// Which data set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SvmData {
    /// Pima Indians diabetes (768 x 8).
    Diabetes,
    /// Ho & Kleinberg's fourclass (862 x 2).
    Fourclass,
}

/// `svm-ho` options. Defaults: the official script's split (500 / 150 / rest) and start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SvmSpec {
    /// `"svm-ho"`.
    pub name: String,
    /// `diabetes` or `fourclass`.
    pub data: SvmData,
    /// Training rows (lower level).
    pub n_train: usize,
    /// Validation rows (upper level); the rest are the test set.
    pub n_val: usize,
    /// Lower bound of every hyper-parameter `c_i`.
    pub c_min: f64,
    /// Upper bound of every hyper-parameter `c_i`.
    pub c_max: f64,
    /// Start: `c_i ~ U(c0_low, c0_high)` (the script: U(-6, -5)), `w = 1`, `b = 0`, `ξ = 1`.
    pub c0_low: f64,
    /// See `c0_low`.
    pub c0_high: f64,
    /// Seed of the shuffle and of `c0` (optlab's own stream: the script's numpy split of the
    /// same seed is not reproduced; the script uses seeds 1..39).
    pub seed: u64,
}

impl Default for SvmSpec {
    fn default() -> Self {
        SvmSpec {
            name: "svm-ho".into(),
            data: SvmData::Diabetes,
            n_train: 500,
            n_val: 150,
            c_min: -20.0,
            c_max: 20.0,
            c0_low: -6.0,
            c0_high: -5.0,
            seed: 1,
        }
    }
}

/// Rows of a ±1-labelled set.
#[derive(Debug, Clone)]
struct Rows {
    a: Vec<f64>,
    t: Vec<f64>,
    d: usize,
}

impl Rows {
    fn len(&self) -> usize {
        self.t.len()
    }
    fn row(&self, i: usize) -> &[f64] {
        &self.a[i * self.d..(i + 1) * self.d]
    }
    /// `t_i (wᵀa_i + b)`.
    fn margin(&self, i: usize, w: &[f64], b: f64) -> f64 {
        self.t[i] * (self.row(i).iter().zip(w).map(|(u, v)| u * v).sum::<f64>() + b)
    }
    fn accuracy(&self, w: &[f64], b: f64) -> f64 {
        let hits = (0..self.len())
            .filter(|&i| self.margin(i, w, b) > 0.0)
            .count();
        hits as f64 / self.len().max(1) as f64
    }
}

/// The SVM hyper-parameter problem (see the module docs).
#[derive(Debug, Clone)]
pub struct SvmHo {
    train: Rows,
    val: Rows,
    test: Rows,
    c_min: f64,
    c_max: f64,
    c0: Vec<f64>,
    data: SvmData,
}

fn leaky(q: f64) -> (f64, f64) {
    if q > 0.0 { (q, 1.0) } else { (0.01 * q, 0.01) }
}

/// A projection onto a polyhedron `{u : G u <= h}` (rows of `G` as sparse `(col, value)`
/// lists): `argmin ½||u - u0||²` by Clarabel to `tol`. An empty polyhedron is an error.
pub fn project_polyhedron(
    u0: &[f64],
    g_rows: &[Vec<(usize, f64)>],
    h: &[f64],
    tol: f64,
) -> Result<Vec<f64>> {
    qp_polyhedron(
        &vec![1.0; u0.len()],
        &u0.iter().map(|v| -v).collect::<Vec<_>>(),
        g_rows,
        h,
        tol,
    )
}

/// `argmin ½ uᵀ diag(p) u + qᵀu` subject to `G u <= h`, by Clarabel.
fn qp_polyhedron(
    p_diag: &[f64],
    q: &[f64],
    g_rows: &[Vec<(usize, f64)>],
    h: &[f64],
    tol: f64,
) -> Result<Vec<f64>> {
    let n = q.len();
    if g_rows.len() != h.len() {
        return Err(Error::Other(format!(
            "polyhedron: {} constraint rows but {} right-hand sides",
            g_rows.len(),
            h.len()
        )));
    }
    let idx: Vec<usize> = (0..n).filter(|&i| p_diag[i] != 0.0).collect();
    let pm = CscMatrix::new_from_triplets(
        n,
        n,
        idx.clone(),
        idx.clone(),
        idx.iter().map(|&i| p_diag[i]).collect(),
    );
    let (mut ri, mut ci, mut vi) = (Vec::new(), Vec::new(), Vec::new());
    for (r, row) in g_rows.iter().enumerate() {
        for &(c, v) in row {
            if c >= n {
                return Err(Error::Other(format!(
                    "polyhedron: row {r} refers to column {c} >= {n}"
                )));
            }
            ri.push(r);
            ci.push(c);
            vi.push(v);
        }
    }
    let a = CscMatrix::new_from_triplets(h.len(), n, ri, ci, vi);
    let settings = DefaultSettingsBuilder::default()
        .verbose(false)
        .tol_gap_abs(tol)
        .tol_gap_rel(tol)
        .tol_feas(tol)
        .max_iter(200)
        .build()
        .map_err(|e| Error::Other(format!("clarabel settings: {e}")))?;
    let cones = [SupportedConeT::NonnegativeConeT(h.len())];
    let mut solver = DefaultSolver::new(&pm, q, &a, h, &cones, settings)
        .map_err(|e| Error::Numerical(format!("clarabel: {e}")))?;
    solver.solve();
    match solver.solution.status {
        SolverStatus::Solved | SolverStatus::AlmostSolved => Ok(solver.solution.x.clone()),
        SolverStatus::PrimalInfeasible | SolverStatus::AlmostPrimalInfeasible => {
            Err(Error::Numerical(
                "projection onto an empty set: the lower-level constraints have no feasible \
                 point (clarabel: primal infeasible)"
                    .into(),
            ))
        }
        st => Err(Error::Numerical(format!(
            "projection QP: clarabel stopped with status {st:?}"
        ))),
    }
}

impl SvmHo {
    /// Load, shuffle with `seed`, split.
    pub fn new(spec: &SvmSpec) -> Result<Self> {
        let (src, text, d) = match spec.data {
            SvmData::Diabetes => ("diabetes_scale.txt", DIABETES_LIBSVM, 8),
            SvmData::Fourclass => ("fourclass_scale.txt", FOURCLASS_LIBSVM, 2),
        };
        let data = parse_libsvm(src, text, d)?;
        if data.n_classes != 2 {
            return Err(Error::data(src, 0, "expected two labels"));
        }
        for (f, v) in [
            ("problem.c_min", spec.c_min),
            ("problem.c_max", spec.c_max),
            ("problem.c0_low", spec.c0_low),
            ("problem.c0_high", spec.c0_high),
        ] {
            if !v.is_finite() {
                return Err(Error::config(f, "must be finite"));
            }
        }
        if spec.c_min > spec.c_max {
            return Err(Error::config(
                "problem.c_min",
                format!(
                    "the hyper-parameter box [{}, {}] is empty",
                    spec.c_min, spec.c_max
                ),
            ));
        }
        if !(spec.c0_high - spec.c0_low).is_finite() {
            return Err(Error::config(
                "problem.c0_high",
                "c0_high - c0_low must be finite",
            ));
        }
        if spec.c0_low > spec.c0_high {
            return Err(Error::config(
                "problem.c0_low",
                "must be <= problem.c0_high",
            ));
        }
        let mut rng = stream(spec.seed, "svm-ho");
        let [tr, va, te] = split_indices(data.len(), spec.n_train, spec.n_val, &mut rng)?;
        let take = |r: &[usize]| Rows {
            a: r.iter().flat_map(|&i| data.row(i).to_vec()).collect(),
            t: r.iter()
                .map(|&i| if data.y[i] == 1 { 1.0 } else { -1.0 })
                .collect(),
            d,
        };
        let c0 = (0..spec.n_train)
            .map(|_| {
                if spec.c0_high > spec.c0_low {
                    rng.random_range(spec.c0_low..spec.c0_high)
                } else {
                    spec.c0_low
                }
                .clamp(spec.c_min, spec.c_max)
            })
            .collect();
        Ok(SvmHo {
            train: take(&tr),
            val: take(&va),
            test: take(&te),
            c_min: spec.c_min,
            c_max: spec.c_max,
            c0,
            data: spec.data,
        })
    }

    fn d(&self) -> usize {
        self.train.d
    }

    /// The constraint rows `-t_i a_iᵀ w - t_i b - ξ_i <= -1` over `y = (w, b, ξ)`.
    fn polyhedron(&self) -> (Vec<Vec<(usize, f64)>>, Vec<f64>) {
        let d = self.d();
        let rows = (0..self.train.len())
            .map(|i| {
                let t = self.train.t[i];
                let mut r: Vec<(usize, f64)> = self
                    .train
                    .row(i)
                    .iter()
                    .enumerate()
                    .map(|(j, a)| (j, -t * a))
                    .collect();
                r.push((d, -t));
                r.push((d + 1 + i, -1.0));
                r
            })
            .collect();
        (rows, vec![-1.0; self.train.len()])
    }

    /// The exact lower-level solution `(w, b, ξ)` for hyper-parameters `c` (a QP).
    pub fn solve_lower(&self, c: &[f64]) -> Result<Vec<f64>> {
        expect_len("hyper-parameters c", c, self.train.len())?;
        let d = self.d();
        let mut p = vec![1.0; d];
        p.push(0.0);
        p.extend(c.iter().map(|v| v.exp()));
        let (rows, h) = self.polyhedron();
        qp_polyhedron(&p, &vec![0.0; p.len()], &rows, &h, 1e-10)
    }

    /// The exact Euclidean projection of `y = (w, b, ξ)` onto the constraint polyhedron.
    ///
    /// Each `ξ_i` appears in one constraint only, so for fixed `u = (w, b)` the best
    /// `ξ_i = max(ξ0_i, 1 - t_i (wᵀa_i + b))`; what is left is the `(d + 1)`-dimensional
    /// convex piecewise quadratic `½||u - u0||² + ½ Σ max(0, 1 - ξ0_i - t_i ãᵢᵀu)²`, minimized
    /// by a semismooth Newton method with backtracking, which terminates at the exact
    /// minimizer once the active set settles (an interior-point QP solve would leave ~1e-7
    /// errors and cost far more).
    pub fn project_feasible(&self, y: &mut [f64]) -> Result<()> {
        expect_len("lower-level variable y", y, self.dim_y())?;
        let d = self.d();
        let k = d + 1;
        let n = self.train.len();
        let u0 = y[..k].to_vec();
        let xi0 = y[k..].to_vec();
        let abar = |i: usize| -> Vec<f64> {
            let mut a = self.train.row(i).to_vec();
            a.push(1.0);
            a
        };
        // 1 - ξ0_i - t_i ãᵢᵀu, without forming ãᵢ.
        let resid =
            |u: &[f64], i: usize| -> f64 { 1.0 - xi0[i] - self.train.margin(i, &u[..d], u[d]) };
        let phi = |u: &[f64]| -> f64 {
            let du: f64 = u.iter().zip(&u0).map(|(a, b)| (a - b) * (a - b)).sum();
            0.5 * du + 0.5 * (0..n).map(|i| resid(u, i).max(0.0).powi(2)).sum::<f64>()
        };
        let active = |u: &[f64]| -> Vec<bool> { (0..n).map(|i| resid(u, i) > 0.0).collect() };
        let mut u = u0.clone();
        let mut converged = false;
        for _ in 0..100 {
            let act = active(&u);
            let mut g: Vec<f64> = u.iter().zip(&u0).map(|(a, b)| a - b).collect();
            let mut h = faer::Mat::<f64>::identity(k, k);
            for i in (0..n).filter(|&i| act[i]) {
                let r = resid(&u, i);
                let a = abar(i);
                let t = self.train.t[i];
                for p in 0..k {
                    g[p] -= r * t * a[p];
                    for q in 0..k {
                        h[(p, q)] += a[p] * a[q];
                    }
                }
            }
            if optlab_linalg::norm2(&g) <= 1e-13 * (1.0 + optlab_linalg::norm2(&u)) {
                converged = true;
                break;
            }
            let chol = optlab_linalg::Cholesky::new(&h)
                .map_err(|_| Error::Numerical("SVM projection: singular Newton system".into()))?;
            let step: Vec<f64> = chol.solve(&g);
            let f0 = phi(&u);
            let slope: f64 = -g.iter().zip(&step).map(|(a, b)| a * b).sum::<f64>();
            let mut t = 1.0;
            let mut next;
            loop {
                next = u
                    .iter()
                    .zip(&step)
                    .map(|(a, b)| a - t * b)
                    .collect::<Vec<f64>>();
                if phi(&next) <= f0 + 1e-4 * t * slope || t < 1e-12 {
                    break;
                }
                t *= 0.5;
            }
            u = next;
            // A full Newton step that keeps the active set lands on the minimizer of that
            // quadratic piece, which is then the global minimizer.
            if t == 1.0 && active(&u) == act {
                converged = true;
                break;
            }
        }
        if !converged {
            return Err(Error::Numerical(
                "SVM projection: semismooth Newton did not settle in 100 iterations".into(),
            ));
        }
        y[..k].copy_from_slice(&u);
        for i in 0..n {
            y[k + i] = xi0[i].max(xi0[i] + resid(&u, i));
        }
        Ok(())
    }

    /// Test accuracy of `(w, b)` (the first `d + 1` entries of `y`).
    pub fn test_accuracy(&self, y: &[f64]) -> Result<f64> {
        expect_len("lower-level variable y", y, self.dim_y())?;
        let d = self.d();
        Ok(self.test.accuracy(&y[..d], y[d]))
    }

    /// Validation accuracy of `(w, b)`.
    pub fn val_accuracy(&self, y: &[f64]) -> Result<f64> {
        expect_len("lower-level variable y", y, self.dim_y())?;
        let d = self.d();
        Ok(self.val.accuracy(&y[..d], y[d]))
    }
}

impl Bilevel for SvmHo {
    fn name(&self) -> String {
        format!(
            "svm-ho({})",
            match self.data {
                SvmData::Diabetes => "diabetes",
                SvmData::Fourclass => "fourclass",
            }
        )
    }
    fn dim_x(&self) -> usize {
        self.train.len()
    }
    fn dim_y(&self) -> usize {
        self.d() + 1 + self.train.len()
    }
    fn start(&self) -> (Vec<f64>, Vec<f64>) {
        let mut y = vec![1.0; self.d()];
        y.push(0.0);
        y.extend(vec![1.0; self.train.len()]);
        (self.c0.clone(), y)
    }

    fn upper(&self, x: &[f64], y: &[f64], _s: &Sample) -> Result<ValueGrad> {
        check_dims(self, x, y)?;
        let d = self.d();
        let (w, b) = (&y[..d], y[d]);
        let nw = optlab_linalg::norm2(w);
        if nw == 0.0 {
            return Err(Error::Numerical(
                "the upper-level loss divides by ||w|| = 0".into(),
            ));
        }
        let mut gy = vec![0.0; y.len()];
        let mut val = 0.0;
        for j in 0..self.val.len() {
            let s = self.val.margin(j, w, b);
            let u = -5.0 * s / nw;
            let sg = sigmoid(u);
            let (l, dl) = leaky(2.0 * sg - 1.0);
            val += l;
            let du = dl * 2.0 * sg * (1.0 - sg);
            let t = self.val.t[j];
            let a = self.val.row(j);
            for k in 0..d {
                gy[k] += du * -5.0 * (t * a[k] / nw - s * w[k] / (nw * nw * nw));
            }
            gy[d] += du * -5.0 * t / nw;
        }
        Ok((val, vec![0.0; x.len()], gy))
    }

    fn lower(&self, x: &[f64], y: &[f64], _s: &Sample) -> Result<ValueGrad> {
        check_dims(self, x, y)?;
        let d = self.d();
        let (w, xi) = (&y[..d], &y[d + 1..]);
        let mut val = 0.5 * w.iter().map(|v| v * v).sum::<f64>();
        let mut gx = vec![0.0; x.len()];
        let mut gy = w.to_vec();
        gy.push(0.0);
        for i in 0..x.len() {
            let e = x[i].exp();
            val += 0.5 * e * xi[i] * xi[i];
            gx[i] = 0.5 * e * xi[i] * xi[i];
            gy.push(e * xi[i]);
        }
        Ok((val, gx, gy))
    }

    fn lower_hvp_yy(&self, x: &[f64], y: &[f64], v: &[f64], _s: &Sample) -> Result<Vec<f64>> {
        check_dims(self, x, y)?;
        expect_len("direction v", v, y.len())?;
        let d = self.d();
        let mut out = v[..d].to_vec();
        out.push(0.0);
        out.extend(x.iter().zip(&v[d + 1..]).map(|(c, vi)| c.exp() * vi));
        Ok(out)
    }

    fn lower_jvp_xy(&self, x: &[f64], y: &[f64], v: &[f64], _s: &Sample) -> Result<Vec<f64>> {
        check_dims(self, x, y)?;
        expect_len("direction v", v, y.len())?;
        let d = self.d();
        Ok((0..x.len())
            .map(|i| x[i].exp() * y[d + 1 + i] * v[d + 1 + i])
            .collect())
    }

    fn n_constraints(&self) -> usize {
        self.train.len()
    }
    fn constraints_depend_on_x(&self) -> bool {
        false
    }
    fn constraints(&self, x: &[f64], y: &[f64]) -> Result<Vec<f64>> {
        check_dims(self, x, y)?;
        let d = self.d();
        Ok((0..self.train.len())
            .map(|i| 1.0 - y[d + 1 + i] - self.train.margin(i, &y[..d], y[d]))
            .collect())
    }
    fn constraint_vjp(&self, x: &[f64], y: &[f64], lam: &[f64]) -> Result<(Vec<f64>, Vec<f64>)> {
        check_dims(self, x, y)?;
        expect_len("multipliers", lam, self.train.len())?;
        let d = self.d();
        let mut gy = vec![0.0; y.len()];
        for (i, l) in lam.iter().enumerate() {
            let t = self.train.t[i];
            for (k, a) in self.train.row(i).iter().enumerate() {
                gy[k] -= l * t * a;
            }
            gy[d] -= l * t;
            gy[d + 1 + i] = -l;
        }
        Ok((vec![0.0; x.len()], gy))
    }
    /// `c` is clipped to its box; `(w, b, ξ)` is projected exactly (see [`SvmHo::project_feasible`]).
    fn project_joint(&self, x: &mut [f64], y: &mut [f64]) -> Result<()> {
        check_dims(self, x, y)?;
        x.iter_mut()
            .for_each(|c| *c = c.clamp(self.c_min, self.c_max));
        self.project_feasible(y)
    }

    fn evaluate(&self, x: &[f64], y: &[f64]) -> Result<BTreeMap<String, f64>> {
        check_dims(self, x, y)?;
        let mut m = BTreeMap::new();
        m.insert("val_acc".into(), self.val_accuracy(y)?);
        m.insert("test_acc".into(), self.test_accuracy(y)?);
        m.insert(
            "mean_c".into(),
            x.iter().sum::<f64>() / x.len().max(1) as f64,
        );
        Ok(m)
    }
}
