//! Equality-constrained problems `min f(x) s.t. c(x) = 0`: the oracle trait, a counting and
//! shape-checking wrapper, derivative checkers, and the test sets (Hock–Schittkowski, Poisson
//! control, constrained logistic regression).

pub mod catalog;
pub mod hs;
pub mod logreg;
pub mod poisson;

use optlab_core::{Error, OracleCounts, Result};
use optlab_linalg::Csr;

/// An equality-constrained problem with first and second derivatives.
///
/// The Jacobian `G = ∇c(x)^T` is `m x n`; the Lagrangian is `L = f + λ^T c`.
pub trait EqProblem: Send + Sync {
    /// Identifier.
    fn name(&self) -> &str;
    /// Number of variables.
    fn n(&self) -> usize;
    /// Number of constraints.
    fn m(&self) -> usize;
    /// Standard starting point.
    fn x0(&self) -> Vec<f64>;
    /// Starting multipliers (zeros unless the problem's source says otherwise).
    fn lambda0(&self) -> Vec<f64> {
        vec![0.0; self.m()]
    }
    /// `f(x)`.
    fn value(&self, x: &[f64]) -> f64;
    /// `∇f(x)`.
    fn gradient(&self, x: &[f64]) -> Vec<f64>;
    /// `c(x)`.
    fn constraints(&self, x: &[f64]) -> Vec<f64>;
    /// `G(x)`, `m x n`.
    fn jacobian(&self, x: &[f64]) -> Csr;
    /// `∇²_x L(x, λ)`, `n x n`.
    fn lagrangian_hessian(&self, x: &[f64], lambda: &[f64]) -> Csr;
    /// The known optimal value, if any.
    fn known_minimum(&self) -> Option<f64> {
        None
    }
    /// The known minimizer, if any.
    fn known_solution(&self) -> Option<Vec<f64>> {
        None
    }
}

/// Counts oracle calls and checks every returned shape and value.
pub struct CountedEq {
    inner: Box<dyn EqProblem>,
    counts: OracleCounts,
}

impl std::fmt::Debug for CountedEq {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CountedEq")
            .field("problem", &self.inner.name())
            .field("counts", &self.counts)
            .finish()
    }
}

fn finite(what: &str, problem: &str, v: &[f64]) -> Result<()> {
    if let Some(i) = v.iter().position(|x| !x.is_finite()) {
        return Err(Error::Numerical(format!(
            "problem `{problem}`: {what} has a non-finite entry at index {i}"
        )));
    }
    Ok(())
}

impl CountedEq {
    /// Wrap a problem after checking its declared dimensions against its starting point.
    pub fn new(inner: Box<dyn EqProblem>) -> Result<Self> {
        let (n, m) = (inner.n(), inner.m());
        let name = inner.name().to_string();
        if n == 0 {
            return Err(Error::Other(format!("problem `{name}` has no variables")));
        }
        if inner.x0().len() != n {
            return Err(Error::Other(format!(
                "problem `{name}`: x0 has {} entries, expected n = {n}",
                inner.x0().len()
            )));
        }
        if inner.lambda0().len() != m {
            return Err(Error::Other(format!(
                "problem `{name}`: lambda0 has {} entries, expected m = {m}",
                inner.lambda0().len()
            )));
        }
        Ok(CountedEq {
            inner,
            counts: OracleCounts::default(),
        })
    }

    /// The wrapped problem.
    pub fn inner(&self) -> &dyn EqProblem {
        self.inner.as_ref()
    }

    /// Counts so far.
    pub fn counts(&self) -> &OracleCounts {
        &self.counts
    }

    /// Replace the counts (resume).
    pub fn set_counts(&mut self, c: OracleCounts) {
        self.counts = c;
    }

    /// `f(x)`, finite.
    pub fn value(&mut self, x: &[f64]) -> Result<f64> {
        self.counts.add("f", 1);
        let v = self.inner.value(x);
        finite("f(x)", self.inner.name(), &[v])?;
        Ok(v)
    }

    /// `∇f(x)`, of length `n`, finite.
    pub fn gradient(&mut self, x: &[f64]) -> Result<Vec<f64>> {
        self.counts.add("grad", 1);
        let g = self.inner.gradient(x);
        self.len_check("gradient", g.len(), self.inner.n())?;
        finite("∇f(x)", self.inner.name(), &g)?;
        Ok(g)
    }

    /// `c(x)`, of length `m`, finite.
    pub fn constraints(&mut self, x: &[f64]) -> Result<Vec<f64>> {
        self.counts.add("cons", 1);
        let c = self.inner.constraints(x);
        self.len_check("constraints", c.len(), self.inner.m())?;
        finite("c(x)", self.inner.name(), &c)?;
        Ok(c)
    }

    /// `G(x)`, `m x n`, finite.
    pub fn jacobian(&mut self, x: &[f64]) -> Result<Csr> {
        self.counts.add("jac", 1);
        let g = self.inner.jacobian(x);
        self.shape_check("Jacobian", &g, self.inner.m(), self.inner.n())?;
        finite(
            "Jacobian",
            self.inner.name(),
            &g.triplets().iter().map(|t| t.2).collect::<Vec<_>>(),
        )?;
        Ok(g)
    }

    /// `∇²_x L(x, λ)`, `n x n`, finite.
    pub fn lagrangian_hessian(&mut self, x: &[f64], lambda: &[f64]) -> Result<Csr> {
        self.counts.add("hess", 1);
        let h = self.inner.lagrangian_hessian(x, lambda);
        self.shape_check("Lagrangian Hessian", &h, self.inner.n(), self.inner.n())?;
        finite(
            "Lagrangian Hessian",
            self.inner.name(),
            &h.triplets().iter().map(|t| t.2).collect::<Vec<_>>(),
        )?;
        Ok(h)
    }

    fn len_check(&self, what: &str, got: usize, want: usize) -> Result<()> {
        if got != want {
            return Err(Error::Other(format!(
                "problem `{}`: {what} has length {got}, expected {want}",
                self.inner.name()
            )));
        }
        Ok(())
    }

    fn shape_check(&self, what: &str, a: &Csr, rows: usize, cols: usize) -> Result<()> {
        if a.nrows() != rows || a.ncols() != cols {
            return Err(Error::Other(format!(
                "problem `{}`: {what} is {}x{}, expected {rows}x{cols}",
                self.inner.name(),
                a.nrows(),
                a.ncols()
            )));
        }
        Ok(())
    }
}

/// Worst relative errors of the problem's derivatives against central finite differences at
/// `(x, λ)`: `(gradient, Jacobian, Lagrangian Hessian)`. Each is
/// `max |exact - fd| / max(1, |exact|)` over entries.
pub fn derivative_errors(p: &dyn EqProblem, x: &[f64], lambda: &[f64]) -> (f64, f64, f64) {
    let n = p.n();
    let g = p.gradient(x);
    let jac = p.jacobian(x).to_dense();
    let hess = p.lagrangian_hessian(x, lambda).to_dense();
    let grad_l = |z: &[f64]| -> Vec<f64> {
        let mut gl = p.gradient(z);
        let jt = p.jacobian(z).mul_t(lambda);
        for (a, b) in gl.iter_mut().zip(jt) {
            *a += b;
        }
        gl
    };
    let rel = |exact: f64, fd: f64| (exact - fd).abs() / exact.abs().max(1.0);
    let (mut eg, mut ej, mut eh) = (0.0f64, 0.0f64, 0.0f64);
    for i in 0..n {
        let h = 1e-6 * x[i].abs().max(1.0);
        let mut xp = x.to_vec();
        let mut xm = x.to_vec();
        xp[i] += h;
        xm[i] -= h;
        eg = eg.max(rel(g[i], (p.value(&xp) - p.value(&xm)) / (2.0 * h)));
        let (cp, cm) = (p.constraints(&xp), p.constraints(&xm));
        for r in 0..p.m() {
            ej = ej.max(rel(jac[(r, i)], (cp[r] - cm[r]) / (2.0 * h)));
        }
        let (gp, gm) = (grad_l(&xp), grad_l(&xm));
        for r in 0..n {
            eh = eh.max(rel(hess[(r, i)], (gp[r] - gm[r]) / (2.0 * h)));
        }
    }
    (eg, ej, eh)
}

/// `∇_x L = ∇f + G^T λ`.
pub fn lagrangian_gradient(grad: &[f64], jac: &Csr, lambda: &[f64]) -> Vec<f64> {
    let jt = jac.mul_t(lambda);
    grad.iter().zip(jt).map(|(a, b)| a + b).collect()
}

/// The KKT residual `||(∇_x L, c)||_2`.
pub fn kkt_residual(grad_l: &[f64], c: &[f64]) -> f64 {
    grad_l.iter().chain(c).map(|v| v * v).sum::<f64>().sqrt()
}
