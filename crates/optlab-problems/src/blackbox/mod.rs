//! Black-box (zeroth-order) problems: `f(x)` only, possibly failing (NaN, ±inf), with optional
//! box bounds and inequality constraints `c(x) <= 0`; an evaluator that counts evaluations and
//! failures, enforces a budget, and evaluates batches in parallel with ordered results.

pub mod functions;

use optlab_core::{Error, Result};
use rayon::prelude::*;

/// A box `lower <= x <= upper` (every entry finite, `lower < upper`).
#[derive(Debug, Clone, PartialEq)]
pub struct Bounds {
    lower: Vec<f64>,
    upper: Vec<f64>,
}

impl Bounds {
    /// Validate and build; errors name the offending index.
    pub fn new(lower: Vec<f64>, upper: Vec<f64>) -> Result<Self> {
        if lower.is_empty() {
            return Err(Error::config("bounds", "empty bounds (dimension 0)"));
        }
        if lower.len() != upper.len() {
            return Err(Error::config(
                "bounds",
                format!(
                    "lower has {} entries, upper has {}",
                    lower.len(),
                    upper.len()
                ),
            ));
        }
        for i in 0..lower.len() {
            if !lower[i].is_finite() || !upper[i].is_finite() {
                return Err(Error::config(
                    format!("bounds[{i}]"),
                    format!("not finite: [{}, {}]", lower[i], upper[i]),
                ));
            }
            if lower[i] >= upper[i] {
                return Err(Error::config(
                    format!("bounds[{i}]"),
                    format!(
                        "empty or inverted: lower {} >= upper {}",
                        lower[i], upper[i]
                    ),
                ));
            }
        }
        Ok(Bounds { lower, upper })
    }

    /// The same interval in every coordinate.
    pub fn cube(d: usize, lo: f64, hi: f64) -> Result<Self> {
        Bounds::new(vec![lo; d], vec![hi; d])
    }

    /// Lower bounds.
    pub fn lower(&self) -> &[f64] {
        &self.lower
    }

    /// Upper bounds.
    pub fn upper(&self) -> &[f64] {
        &self.upper
    }

    /// Dimension.
    pub fn dim(&self) -> usize {
        self.lower.len()
    }

    /// True when `x` is inside (inclusive).
    pub fn contains(&self, x: &[f64]) -> bool {
        x.iter()
            .zip(self.lower.iter().zip(&self.upper))
            .all(|(v, (l, u))| *v >= *l && *v <= *u)
    }

    /// Clamp `x` into the box.
    pub fn project(&self, x: &mut [f64]) {
        for (v, (l, u)) in x.iter_mut().zip(self.lower.iter().zip(&self.upper)) {
            *v = v.clamp(*l, *u);
        }
    }
}

/// A zeroth-order problem `min f(x)` (optionally `s.t. c(x) <= 0`, `x` in a box).
pub trait BlackBox: Send + Sync {
    /// Identifier.
    fn name(&self) -> &str;
    /// Dimension.
    fn dim(&self) -> usize;
    /// `f(x)`; a non-finite value is a failed evaluation.
    fn value(&self, x: &[f64]) -> f64;
    /// `f` at every row of `xs` (row-major, [`dim`](Self::dim) columns) into `out` (one entry
    /// per row). The default calls [`value`](Self::value) per row; an override (a batched or
    /// vectorized kernel) must give the same numbers.
    fn values(&self, xs: &[f64], out: &mut [f64]) {
        values_by_row(self, xs, out);
    }
    /// Box bounds, if any.
    fn bounds(&self) -> Option<&Bounds> {
        None
    }
    /// Number of inequality constraints.
    fn n_constraints(&self) -> usize {
        0
    }
    /// `c(x)` (feasible when every entry is `<= 0`); only called when `n_constraints() > 0`.
    fn constraints(&self, _x: &[f64]) -> Vec<f64> {
        Vec::new()
    }
    /// The known optimal value, if any.
    fn known_minimum(&self) -> Option<f64> {
        None
    }
    /// A known minimizer, if any.
    fn known_minimizer(&self) -> Option<Vec<f64>> {
        None
    }
}

/// [`BlackBox::values`] by [`BlackBox::value`] on each row (the default, and the fallback of
/// batched implementations).
pub fn values_by_row<B: BlackBox + ?Sized>(b: &B, xs: &[f64], out: &mut [f64]) {
    for (x, o) in xs.chunks(b.dim().max(1)).zip(out) {
        *o = b.value(x);
    }
}

/// One evaluation: the objective (`+inf` when it failed) and the constraint violation
/// `h = sum max(c_i, 0)²` (0 without constraints; `+inf` when the constraints failed).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Eval {
    /// Objective, `+inf` for a failed evaluation.
    pub f: f64,
    /// Constraint violation.
    pub h: f64,
    /// Whether the evaluation failed (non-finite objective or constraint).
    pub failed: bool,
}

/// Counts evaluations (and failures) of a black box under an optional budget.
pub struct Evaluator<'a> {
    problem: &'a dyn BlackBox,
    evals: u64,
    failed: u64,
    budget: Option<u64>,
}

impl std::fmt::Debug for Evaluator<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Evaluator")
            .field("problem", &self.problem.name())
            .field("evals", &self.evals)
            .field("failed", &self.failed)
            .field("budget", &self.budget)
            .finish()
    }
}

fn evaluate(p: &dyn BlackBox, x: &[f64]) -> Eval {
    let f = p.value(x);
    let (h, bad_c) = if p.n_constraints() > 0 {
        let c = p.constraints(x);
        if c.len() != p.n_constraints() || c.iter().any(|v| !v.is_finite()) {
            (f64::INFINITY, true)
        } else {
            (c.iter().map(|v| v.max(0.0).powi(2)).sum(), false)
        }
    } else {
        (0.0, false)
    };
    let failed = !f.is_finite() || bad_c;
    Eval {
        f: if f.is_finite() { f } else { f64::INFINITY },
        h,
        failed,
    }
}

impl Eval {
    /// The evaluation of an unconstrained problem with objective value `f` (failed when `f` is
    /// not finite).
    pub fn unconstrained(f: f64) -> Eval {
        Eval {
            f: if f.is_finite() { f } else { f64::INFINITY },
            h: 0.0,
            failed: !f.is_finite(),
        }
    }
}

impl<'a> Evaluator<'a> {
    /// An evaluator with an optional evaluation budget.
    pub fn new(problem: &'a dyn BlackBox, budget: Option<u64>) -> Self {
        Evaluator {
            problem,
            evals: 0,
            failed: 0,
            budget,
        }
    }

    /// The problem.
    pub fn problem(&self) -> &dyn BlackBox {
        self.problem
    }

    /// Evaluations so far (failed ones included).
    pub fn evals(&self) -> u64 {
        self.evals
    }

    /// Failed evaluations so far.
    pub fn failed(&self) -> u64 {
        self.failed
    }

    /// Restore counters (resume).
    pub fn set_counts(&mut self, evals: u64, failed: u64) {
        self.evals = evals;
        self.failed = failed;
    }

    /// Evaluations left under the budget (`u64::MAX` without one).
    pub fn remaining(&self) -> u64 {
        self.budget
            .map_or(u64::MAX, |b| b.saturating_sub(self.evals))
    }

    /// Evaluate one point (counts one evaluation even past the budget; callers check
    /// [`Evaluator::remaining`] first).
    pub fn eval(&mut self, x: &[f64]) -> Eval {
        let e = evaluate(self.problem, x);
        self.evals += 1;
        self.failed += u64::from(e.failed);
        e
    }

    /// Evaluate the rows of `xs` (row-major, `dim` columns) in parallel on the current rayon
    /// pool; results are in row order and independent of the thread count.
    pub fn eval_batch(&mut self, xs: &[f64], dim: usize) -> Vec<Eval> {
        let p = self.problem;
        let d = dim.max(1);
        let out: Vec<Eval> = if p.n_constraints() == 0 && dim == p.dim() {
            let mut f = Vec::new();
            self.batched_values(xs, d, &mut f);
            f.into_iter().map(Eval::unconstrained).collect()
        } else if batch_is_parallel(xs.len().div_ceil(d)) {
            xs.par_chunks(d).map(|x| evaluate(p, x)).collect()
        } else {
            xs.chunks(d).map(|x| evaluate(p, x)).collect()
        };
        self.evals += out.len() as u64;
        self.failed += out.iter().filter(|e| e.failed).count() as u64;
        out
    }

    /// The objective values of the rows of `xs` (row-major, `dim` columns) into `f` (resized
    /// to one value per row, reusing its allocation): exactly the `Eval::f` that
    /// [`Evaluator::eval_batch`] gives (`+inf` for a failed evaluation), with the same counts,
    /// without building the `Eval`s.
    pub fn objectives_into(&mut self, xs: &[f64], dim: usize, f: &mut Vec<f64>) {
        let d = dim.max(1);
        if self.problem.n_constraints() > 0 || dim != self.problem.dim() {
            let e = self.eval_batch(xs, dim);
            f.clear();
            f.extend(e.iter().map(|e| e.f));
            return;
        }
        self.batched_values(xs, d, f);
        self.failed += mark_failures(f);
        self.evals += f.len() as u64;
    }

    /// The problem's batched `values` on the rows of `xs` (rows of `d = dim()` entries), in
    /// blocks of up to 64 rows when parallel (at least four blocks a thread, for expensive
    /// black boxes on few rows). Raw values: failures are not mapped or counted here.
    fn batched_values(&self, xs: &[f64], d: usize, f: &mut Vec<f64>) {
        let p = self.problem;
        let rows = xs.len().div_ceil(d);
        f.clear();
        f.resize(rows, 0.0);
        if batch_is_parallel(rows) {
            let block = (rows / (4 * rayon::current_num_threads())).clamp(1, 64);
            xs.par_chunks(block * d)
                .zip(f.par_chunks_mut(block))
                .for_each(|(x, o)| p.values(x, o));
        } else {
            p.values(xs, f);
        }
    }
}

/// Raw objective values to evaluations' `f`: every non-finite value (a failed evaluation)
/// becomes `+inf`, as in [`Eval::unconstrained`]; returns how many failed.
pub fn mark_failures(f: &mut [f64]) -> u64 {
    let mut failed = 0;
    for v in f.iter_mut().filter(|v| !v.is_finite()) {
        *v = Eval::unconstrained(*v).f;
        failed += 1;
    }
    failed
}

/// Whether a batch of `rows` evaluations is spread over the rayon pool.
fn batch_is_parallel(rows: usize) -> bool {
    rows >= 64 && rayon::current_num_threads() > 1
}

/// The catalog of black-box test problems: `[problem]` tables decoded into problems.
pub mod catalog {
    use super::BlackBox;
    use super::functions::{Kind, TestFunction};
    use optlab_core::registry::{from_table, problem_name, to_table};
    use optlab_core::{Error, Result};
    use serde::{Deserialize, Serialize};

    /// Problem names (the first is the CLI default).
    pub const ALL: &[&str] = &[
        "rastrigin",
        "ackley",
        "sphere",
        "branin",
        "rosenbrock-bb",
        "hartmann6",
        "styblinski-tang",
    ];

    /// Options of every black-box test function.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct FunctionSpec {
        /// Problem name.
        pub name: String,
        /// Dimension.
        pub d: usize,
        /// Seed of the shared protocol's start point (direct search; see
        /// `functions::protocol_start`).
        pub start_seed: u64,
    }

    fn kind(name: &str) -> Result<Kind> {
        Ok(match name {
            "rastrigin" => Kind::Rastrigin,
            "ackley" => Kind::Ackley,
            "sphere" => Kind::Sphere,
            "branin" => Kind::Branin,
            "rosenbrock-bb" => Kind::Rosenbrock,
            "hartmann6" => Kind::Hartmann6,
            "styblinski-tang" => Kind::StyblinskiTang,
            other => {
                return Err(Error::config(
                    "problem.name",
                    format!(
                        "unknown black-box problem `{other}` (known: {})",
                        ALL.join(", ")
                    ),
                ));
            }
        })
    }

    /// Default options.
    pub fn default_table(name: &str) -> Result<toml::Table> {
        let d = match kind(name)? {
            Kind::Branin => 2,
            Kind::Hartmann6 => 6,
            Kind::Rosenbrock => 4,
            Kind::StyblinskiTang => 5,
            _ => 2,
        };
        to_table(&FunctionSpec {
            name: name.into(),
            d,
            start_seed: 0,
        })
    }

    /// Build a test function and its spec.
    pub fn build(table: &toml::Table) -> Result<(TestFunction, FunctionSpec)> {
        let name = problem_name(table)?;
        let k = kind(name)?;
        let s: FunctionSpec = from_table("problem", table)?;
        let f = TestFunction::new(k, s.d)?;
        Ok((f, s))
    }

    /// Build as a boxed black box.
    pub fn build_boxed(table: &toml::Table) -> Result<Box<dyn BlackBox>> {
        Ok(Box::new(build(table)?.0))
    }
}

#[cfg(test)]
mod tests {
    use super::functions::{Kind, TestFunction};
    use super::*;

    /// A constrained box: `f = Σ x`, one constraint `x_0 - 1 <= 0` that fails (NaN) when
    /// `x_1 < -2`.
    struct Constrained;
    impl BlackBox for Constrained {
        fn name(&self) -> &str {
            "constrained"
        }
        fn dim(&self) -> usize {
            2
        }
        fn value(&self, x: &[f64]) -> f64 {
            x.iter().sum()
        }
        fn n_constraints(&self) -> usize {
            1
        }
        fn constraints(&self, x: &[f64]) -> Vec<f64> {
            vec![if x[1] < -2.0 { f64::NAN } else { x[0] - 1.0 }]
        }
    }

    /// `objectives_into` gives `eval_batch`'s objectives and counts, serially and on a
    /// two-thread pool (the blocked parallel path), for the batched kernel, a row length that
    /// is not the problem's dimension (pointwise), and a constrained problem.
    #[test]
    fn objectives_into_equals_eval_batch() {
        let rastrigin = TestFunction::new(Kind::Rastrigin, 3).unwrap();
        let mut xs: Vec<f64> = (0..3 * 100).map(|i| (i % 17) as f64 / 4.0 - 2.0).collect();
        xs[7] = f64::NAN; // row 2 fails
        xs[31] = f64::INFINITY; // row 10 fails
        let cons: Vec<f64> = (0..2 * 90).map(|i| (i % 11) as f64 / 2.0 - 2.6).collect();
        let cases: [(&dyn BlackBox, &[f64], usize); 3] = [
            (&rastrigin, &xs, 3),
            (&rastrigin, &xs[..3 * 50], 6),
            (&Constrained, &cons, 2),
        ];
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                for (p, x, d) in cases {
                    let mut a = Evaluator::new(p, None);
                    a.set_counts(5, 1);
                    let want = a.eval_batch(x, d);
                    let mut b = Evaluator::new(p, None);
                    b.set_counts(5, 1);
                    let mut got = vec![123.0; 3]; // stale contents are replaced
                    b.objectives_into(x, d, &mut got);
                    assert_eq!(got.len(), want.len(), "{} d={d}", p.name());
                    for (g, w) in got.iter().zip(&want) {
                        assert_eq!(g.to_bits(), w.f.to_bits(), "{} d={d}", p.name());
                    }
                    assert_eq!((b.evals(), b.failed()), (a.evals(), a.failed()));
                    assert!(a.failed() > 1, "{}: the failures are exercised", p.name());
                }
            });
        }
    }
}
