//! Poisson control on an `N x N` grid (the AdaSketch-Newton PDE example): variables
//! `x = (w, z)` (state and control, `N²` each, row-major over the grid),
//! `min ½(||w - w_true||² + 0.1 ||z||²)` s.t. `Δ_h w + z = 0`, with the 5-point Laplacian,
//! zero Dirichlet boundary and `h = 2/(N+1)` (entries divided by `h²`, as in the reference
//! code). The problem is linear–quadratic: its solution is one KKT solve, which
//! [`PoissonControl::exact_solution`] provides.

use super::EqProblem;
use optlab_core::{Error, Result};
use optlab_linalg::Csr;

/// The control-weight in the objective.
pub const CONTROL_WEIGHT: f64 = 0.1;

/// Poisson control on an `N x N` interior grid.
#[derive(Debug, Clone)]
pub struct PoissonControl {
    grid: usize,
    name: String,
    w_true: Vec<f64>,
    laplacian: Csr,
    jacobian: Csr,
    hessian: Csr,
    /// The one-KKT-solve answer, computed on first use.
    solution: std::sync::OnceLock<Option<(Vec<f64>, Vec<f64>)>>,
}

impl PoissonControl {
    /// The problem on an `grid x grid` interior grid (`grid >= 1`).
    pub fn new(grid: usize) -> Result<Self> {
        if grid == 0 {
            return Err(Error::config("problem.grid", "must be at least 1"));
        }
        if grid > 256 {
            return Err(Error::config(
                "problem.grid",
                format!("{grid} is too large (at most 256: n = 2·grid² variables)"),
            ));
        }
        let n = grid;
        let nn = n * n;
        let h = 2.0 / (n as f64 + 1.0);
        let inv_h2 = 1.0 / (h * h);
        let idx = |i: usize, j: usize| i * n + j;
        let mut t = Vec::with_capacity(5 * nn);
        for i in 0..n {
            for j in 0..n {
                let r = idx(i, j);
                t.push((r, r, -4.0 * inv_h2));
                if i > 0 {
                    t.push((r, idx(i - 1, j), inv_h2));
                }
                if i + 1 < n {
                    t.push((r, idx(i + 1, j), inv_h2));
                }
                if j > 0 {
                    t.push((r, idx(i, j - 1), inv_h2));
                }
                if j + 1 < n {
                    t.push((r, idx(i, j + 1), inv_h2));
                }
            }
        }
        let laplacian = Csr::from_triplets(nn, nn, &t).map_err(|e| Error::Other(e.to_string()))?;
        let mut tj = t.clone();
        tj.extend((0..nn).map(|r| (r, nn + r, 1.0)));
        let jacobian =
            Csr::from_triplets(nn, 2 * nn, &tj).map_err(|e| Error::Other(e.to_string()))?;
        let mut d = vec![1.0; nn];
        d.extend(std::iter::repeat_n(CONTROL_WEIGHT, nn));
        let hessian = Csr::diag(&d);
        let c = 0.1 / 15f64.sqrt();
        let mid = (n as f64 + 1.0) / 2.0;
        let mut w_true = vec![0.0; nn];
        for i in 0..n {
            for j in 0..n {
                // 1-based grid indices as in the reference code.
                let (fi, fj) = ((i + 1) as f64, (j + 1) as f64);
                w_true[idx(i, j)] = (4.0 + c * (fi - mid)).sin() + (3.0 + c * (fj - mid)).cos();
            }
        }
        Ok(PoissonControl {
            grid,
            name: format!("poisson-control-{grid}"),
            w_true,
            laplacian,
            jacobian,
            hessian,
            solution: std::sync::OnceLock::new(),
        })
    }

    /// Grid size `N`.
    pub fn grid(&self) -> usize {
        self.grid
    }

    /// The target state.
    pub fn w_true(&self) -> &[f64] {
        &self.w_true
    }

    /// The exact primal–dual solution `(x*, λ*)` from one sparse KKT solve (done once).
    pub fn exact_solution(&self) -> Option<(Vec<f64>, Vec<f64>)> {
        self.solution.get_or_init(|| self.solve_kkt()).clone()
    }

    fn solve_kkt(&self) -> Option<(Vec<f64>, Vec<f64>)> {
        let nn = self.grid * self.grid;
        let k = Csr::kkt(&self.hessian, &self.jacobian).ok()?;
        // Stationarity: H x - (w_true, 0) + G^T λ = 0; feasibility: G x = 0.
        let mut rhs = self.w_true.clone();
        rhs.extend(std::iter::repeat_n(0.0, nn));
        rhs.extend(std::iter::repeat_n(0.0, nn));
        let sol = k.sparse_lu_solve(&rhs)?;
        Some((sol[..2 * nn].to_vec(), sol[2 * nn..].to_vec()))
    }
}

impl EqProblem for PoissonControl {
    fn name(&self) -> &str {
        &self.name
    }
    fn n(&self) -> usize {
        2 * self.grid * self.grid
    }
    fn m(&self) -> usize {
        self.grid * self.grid
    }
    fn x0(&self) -> Vec<f64> {
        vec![1.0; self.n()]
    }
    fn lambda0(&self) -> Vec<f64> {
        vec![1.0; self.m()]
    }
    fn value(&self, x: &[f64]) -> f64 {
        let nn = self.m();
        let w: f64 = (0..nn).map(|i| (x[i] - self.w_true[i]).powi(2)).sum();
        let z: f64 = x[nn..].iter().map(|v| v * v).sum();
        0.5 * (w + CONTROL_WEIGHT * z)
    }
    fn gradient(&self, x: &[f64]) -> Vec<f64> {
        let nn = self.m();
        (0..2 * nn)
            .map(|i| {
                if i < nn {
                    x[i] - self.w_true[i]
                } else {
                    CONTROL_WEIGHT * x[i]
                }
            })
            .collect()
    }
    fn constraints(&self, x: &[f64]) -> Vec<f64> {
        let nn = self.m();
        let mut c = self.laplacian.mul(&x[..nn]);
        for (ci, zi) in c.iter_mut().zip(&x[nn..]) {
            *ci += zi;
        }
        c
    }
    fn jacobian(&self, _x: &[f64]) -> Csr {
        self.jacobian.clone()
    }
    fn lagrangian_hessian(&self, _x: &[f64], _lambda: &[f64]) -> Csr {
        self.hessian.clone()
    }
    fn known_minimum(&self) -> Option<f64> {
        self.exact_solution().map(|(x, _)| self.value(&x))
    }
    fn known_solution(&self) -> Option<Vec<f64>> {
        self.exact_solution().map(|(x, _)| x)
    }
}
