//! Oracle traits for smooth unconstrained problems and the counting wrapper.

use optlab_core::{Error, OracleCounts, Result};
use optlab_linalg::faer::Mat;
use serde::{Deserialize, Serialize};

/// Which curvature matrix `H(x)` a second-order method asks for
/// (numerical-optimizers.md §1.1, §1.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HessianKind {
    /// The exact Hessian.
    Exact,
    /// Weighted Gauss–Newton: the exact Hessian without its negative rank-one (per-sample
    /// `p p^T`) term; an upper bound for LogSumExp and softmax.
    GaussNewton,
    /// Empirical Fisher: `(1/m) sum_i g_i g_i^T + mu I` with per-sample data gradients `g_i`.
    Fisher,
    /// Böhning's fixed bound: `X^T X / (4m) + mu I` (binary), `(1/2)(I - 11^T/K) ⊗ X^T X/m + mu I`
    /// (softmax).
    Bohning,
}

impl HessianKind {
    /// The config spelling.
    pub fn name(&self) -> &'static str {
        match self {
            HessianKind::Exact => "exact",
            HessianKind::GaussNewton => "gauss-newton",
            HessianKind::Fisher => "fisher",
            HessianKind::Bohning => "bohning",
        }
    }
}

/// A smooth objective with gradient and (approximate) Hessians, f64 throughout.
pub trait SmoothProblem: Send + Sync {
    /// Problem name (catalog key).
    fn name(&self) -> &str;
    /// Dimension.
    fn dim(&self) -> usize;
    /// Standard starting point.
    fn x0(&self) -> Vec<f64>;
    /// `f(x)`.
    fn value(&self, x: &[f64]) -> f64;
    /// Writes `∇f(x)` into `g` and returns `f(x)`.
    fn value_grad(&self, x: &[f64], g: &mut [f64]) -> f64;
    /// `H(x)` of the given kind; an error naming the kind when unsupported.
    fn hessian(&self, x: &[f64], kind: HessianKind) -> Result<Mat<f64>>;
    /// Kinds this problem supports.
    fn hessian_kinds(&self) -> &'static [HessianKind];
    /// A problem-specific metric `B` (SPD), if it has one.
    fn metric(&self) -> Option<Mat<f64>> {
        None
    }
    /// `f*`, when known in closed form or to machine precision.
    fn known_minimum(&self) -> Option<f64> {
        None
    }
}

/// The error for an unsupported Hessian kind.
pub fn unsupported(problem: &str, kind: HessianKind) -> Error {
    Error::config(
        "hessian",
        format!("problem `{problem}` has no `{}` Hessian", kind.name()),
    )
}

/// Counts every oracle call by kind ("value", "grad", "hessian").
pub struct Counted {
    inner: Box<dyn SmoothProblem>,
    counts: OracleCounts,
}

impl std::fmt::Debug for Counted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Counted")
            .field("problem", &self.inner.name())
            .field("counts", &self.counts)
            .finish()
    }
}

impl Counted {
    /// Wrap a problem with zero counts.
    pub fn new(inner: Box<dyn SmoothProblem>) -> Self {
        Counted {
            inner,
            counts: OracleCounts::default(),
        }
    }

    /// The wrapped problem (calls through it are not counted).
    pub fn inner(&self) -> &dyn SmoothProblem {
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

    /// Count a call of another kind (e.g. "factorization").
    pub fn add(&mut self, kind: &str, n: u64) {
        self.counts.add(kind, n);
    }

    /// Counted `f(x)`.
    pub fn value(&mut self, x: &[f64]) -> f64 {
        self.counts.add("value", 1);
        self.inner.value(x)
    }

    /// Counted `f(x)` and `∇f(x)` (one "value" and one "grad").
    pub fn value_grad(&mut self, x: &[f64], g: &mut [f64]) -> f64 {
        self.counts.add("value", 1);
        self.counts.add("grad", 1);
        self.inner.value_grad(x, g)
    }

    /// Counted `H(x)`.
    pub fn hessian(&mut self, x: &[f64], kind: HessianKind) -> Result<Mat<f64>> {
        self.counts.add("hessian", 1);
        self.inner.hessian(x, kind)
    }
}
