//! Bilevel problems: `min_x F(x, y)` subject to `y` solving the lower-level problem
//! `min_y { f(x, y) : g(x, y) <= 0 (or = 0) }`.
//!
//! Naming: `upper` is the upper-level objective `F` (BO-REP's `f`, LV-HBA's `F`) and `lower`
//! the lower-level objective (BO-REP's `g`, LV-HBA's `f`); `constraints` are LV-HBA's `g`.
//!
//! Every oracle takes a [`Sample`]: [`Sample::Exact`] is the deterministic full objective;
//! [`Sample::Draw`] is one stochastic oracle call — a mini-batch of rows for data problems,
//! Gaussian noise of a seeded stream for the synthetic toys. Methods draw samples with
//! [`draw`] from their own per-step streams, so runs are reproducible and resumable.

pub mod clean;
pub mod rnn;
pub mod svm;
pub mod toys;

use optlab_core::registry::{from_table, problem_name, to_table};
use optlab_core::seed::Rng;
use optlab_core::{Error, Result};
use rand::seq::index::sample as sample_indices;
use std::collections::BTreeMap;

/// One oracle call's randomness.
#[derive(Debug, Clone, PartialEq)]
pub enum Sample {
    /// The deterministic full objective.
    Exact,
    /// A stochastic call: `rows` of the level's data (`None`: all of them) and the seed of
    /// the call's additive noise (used by problems with an oracle-noise setting).
    Draw {
        /// Row indices into the level's data set.
        rows: Option<Vec<usize>>,
        /// Noise seed.
        seed: u64,
    },
}

impl Sample {
    /// The rows of a data set with `n` rows this sample covers (all of them unless the sample
    /// names some). An empty list or an index `>= n` is an error.
    pub fn rows(&self, n: usize) -> Result<Vec<usize>> {
        match self {
            Sample::Draw {
                rows: Some(rows), ..
            } => {
                if rows.is_empty() {
                    return Err(Error::Other("a mini-batch sample has no rows".into()));
                }
                if let Some(bad) = rows.iter().find(|&&i| i >= n) {
                    return Err(Error::Other(format!(
                        "a mini-batch sample names row {bad}, the level has {n} rows"
                    )));
                }
                Ok(rows.clone())
            }
            _ => Ok((0..n).collect()),
        }
    }

    /// How many rows of a level with `n` rows this sample covers.
    pub fn n_rows(&self, n: usize) -> usize {
        match self {
            Sample::Draw {
                rows: Some(rows), ..
            } => rows.len(),
            _ => n,
        }
    }

    /// The noise seed (`None` for exact calls).
    pub fn noise_seed(&self) -> Option<u64> {
        match self {
            Sample::Exact => None,
            Sample::Draw { seed, .. } => Some(*seed),
        }
    }
}

/// A stochastic sample of a level with `n` rows (`0`: the level has no data): `batch` rows
/// without replacement (`0` or `>= n`: all rows) and a fresh noise seed.
pub fn draw(rng: &mut Rng, n: usize, batch: usize) -> Sample {
    use rand::Rng as _;
    let rows = (n > 0 && batch > 0 && batch < n).then(|| {
        let mut r = sample_indices(rng, n, batch).into_vec();
        r.sort_unstable();
        r
    });
    Sample::Draw {
        rows,
        seed: rng.random(),
    }
}

/// Whether the lower-level constraints are inequalities `g <= 0` or equalities `g = 0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConstraintKind {
    /// `g(x, y) <= 0`: multipliers are non-negative.
    Inequality,
    /// `g(x, y) = 0`: multipliers are unsigned.
    Equality,
}

/// Value and the two partial gradients.
pub type ValueGrad = (f64, Vec<f64>, Vec<f64>);

/// A bilevel problem. Matrices are row-major.
pub trait Bilevel: Send + Sync {
    /// A short name for records.
    fn name(&self) -> String;
    /// Dimension of the upper-level variable `x`.
    fn dim_x(&self) -> usize;
    /// Dimension of the lower-level variable `y`.
    fn dim_y(&self) -> usize;
    /// Rows of the upper level's data (0: no data).
    fn n_upper(&self) -> usize {
        0
    }
    /// Rows of the lower level's data (0: no data).
    fn n_lower(&self) -> usize {
        0
    }
    /// The standard start `(x0, y0)`.
    fn start(&self) -> (Vec<f64>, Vec<f64>);

    /// Upper-level value and gradients `(F, ∇_x F, ∇_y F)`.
    fn upper(&self, x: &[f64], y: &[f64], s: &Sample) -> Result<ValueGrad>;
    /// The upper-level value alone (monitoring); problems whose gradient is costly override
    /// it with a forward-only pass giving the same number.
    fn upper_value(&self, x: &[f64], y: &[f64], s: &Sample) -> Result<f64> {
        Ok(self.upper(x, y, s)?.0)
    }
    /// Lower-level value and gradients `(f, ∇_x f, ∇_y f)`.
    fn lower(&self, x: &[f64], y: &[f64], s: &Sample) -> Result<ValueGrad>;
    /// `∇²_yy f(x, y) v` (length `dim_y`).
    fn lower_hvp_yy(&self, x: &[f64], y: &[f64], v: &[f64], s: &Sample) -> Result<Vec<f64>>;
    /// `∇²_xy f(x, y) v` (length `dim_x`): the derivative of `∇_x f` along `y + t v`.
    fn lower_jvp_xy(&self, x: &[f64], y: &[f64], v: &[f64], s: &Sample) -> Result<Vec<f64>>;

    /// Number of lower-level constraints `p`.
    fn n_constraints(&self) -> usize {
        0
    }
    /// Inequality or equality constraints.
    fn constraint_kind(&self) -> ConstraintKind {
        ConstraintKind::Inequality
    }
    /// Whether the constraints involve `x` (then `C` is not a product of an `x`-set and a
    /// `y`-set). Problems whose constraints are in `y` only override this with `false`.
    fn constraints_depend_on_x(&self) -> bool {
        true
    }
    /// `g(x, y)` (length `p`).
    fn constraints(&self, _x: &[f64], _y: &[f64]) -> Result<Vec<f64>> {
        Ok(Vec::new())
    }
    /// `(∇_x g^T lam, ∇_y g^T lam)`: the constraint Jacobians transposed times `lam`.
    fn constraint_vjp(&self, _x: &[f64], _y: &[f64], _lam: &[f64]) -> Result<(Vec<f64>, Vec<f64>)> {
        Ok((vec![0.0; self.dim_x()], vec![0.0; self.dim_y()]))
    }
    /// Project `y` onto the lower level's simple set `Y` (default: all of `R^m`).
    fn project_y(&self, _y: &mut [f64]) -> Result<()> {
        Ok(())
    }
    /// Project `(x, y)` onto `C = {x in X, y in Y, g(x, y) <= 0}` (Euclidean, jointly).
    fn project_joint(&self, x: &mut [f64], y: &mut [f64]) -> Result<()>;

    /// The closed-form hypergradient `∇Φ(x)`, when the problem has one.
    fn hypergradient(&self, _x: &[f64]) -> Option<Result<Vec<f64>>> {
        None
    }
    /// Problem-specific figures at `(x, y)` (test accuracy, distance to the known solution,
    /// ...), all exact.
    fn evaluate(&self, x: &[f64], y: &[f64]) -> Result<BTreeMap<String, f64>>;
}

/// Shuffle `0..len` with `rng` and cut it into training, validation and test indices; an
/// error naming `problem.n_train` unless both sizes are positive and leave test rows.
pub(crate) fn split_indices(
    len: usize,
    n_train: usize,
    n_val: usize,
    rng: &mut Rng,
) -> Result<[Vec<usize>; 3]> {
    use rand::seq::SliceRandom;
    if n_train == 0 || n_val == 0 || n_train.saturating_add(n_val) >= len {
        return Err(Error::config(
            "problem.n_train",
            format!(
                "n_train ({n_train}) and n_val ({n_val}) must be positive and leave test rows \
                 out of {len}"
            ),
        ));
    }
    let mut idx: Vec<usize> = (0..len).collect();
    idx.shuffle(rng);
    let test = idx.split_off(n_train + n_val);
    let val = idx.split_off(n_train);
    Ok([idx, val, test])
}

/// Check that `v` has length `n`, naming it.
pub(crate) fn expect_len(what: &str, v: &[f64], n: usize) -> Result<()> {
    if v.len() == n {
        Ok(())
    } else {
        Err(Error::Other(format!(
            "{what} has length {}, the problem expects {n}",
            v.len()
        )))
    }
}

/// Check `(x, y)` against a problem's dimensions: a clear error naming the level otherwise.
pub fn check_dims(p: &dyn Bilevel, x: &[f64], y: &[f64]) -> Result<()> {
    expect_len("upper-level variable x", x, p.dim_x())?;
    expect_len("lower-level variable y", y, p.dim_y())
}

/// Central finite-difference check of every oracle of `p` at `(x, y)` along seeded random
/// directions; returns the largest relative error per oracle (`upper_x`, `upper_y`,
/// `lower_x`, `lower_y`, `hvp_yy`, `jvp_xy`, `constraints_x`, `constraints_y`).
pub fn check_derivatives(
    p: &dyn Bilevel,
    x: &[f64],
    y: &[f64],
    h: f64,
    seed: u64,
) -> Result<BTreeMap<String, f64>> {
    check_dims(p, x, y)?;
    let mut rng = optlab_core::seed::stream(seed, "bilevel-check");
    let dx: Vec<f64> = (0..x.len())
        .map(|_| optlab_core::seed::normal(&mut rng))
        .collect();
    let dy: Vec<f64> = (0..y.len())
        .map(|_| optlab_core::seed::normal(&mut rng))
        .collect();
    let s = Sample::Exact;
    let shift = |v: &[f64], d: &[f64], t: f64| -> Vec<f64> {
        v.iter().zip(d).map(|(a, b)| a + t * b).collect()
    };
    let rel = |fd: f64, an: f64| (fd - an).abs() / an.abs().max(fd.abs()).max(1e-8);
    let dotp = optlab_linalg::dot;
    let mut out = BTreeMap::new();
    for (level, upper) in [("upper", true), ("lower", false)] {
        let eval = |x: &[f64], y: &[f64]| {
            if upper {
                p.upper(x, y, &s)
            } else {
                p.lower(x, y, &s)
            }
        };
        let (_, gx, gy) = eval(x, y)?;
        let fdx = (eval(&shift(x, &dx, h), y)?.0 - eval(&shift(x, &dx, -h), y)?.0) / (2.0 * h);
        let fdy = (eval(x, &shift(y, &dy, h))?.0 - eval(x, &shift(y, &dy, -h))?.0) / (2.0 * h);
        out.insert(format!("{level}_x"), rel(fdx, dotp(&gx, &dx)));
        out.insert(format!("{level}_y"), rel(fdy, dotp(&gy, &dy)));
    }
    // Second-order products against differences of the exact gradients.
    let (_, gxp, gyp) = p.lower(x, &shift(y, &dy, h), &s)?;
    let (_, gxm, gym) = p.lower(x, &shift(y, &dy, -h), &s)?;
    let fd_h: Vec<f64> = gyp
        .iter()
        .zip(&gym)
        .map(|(a, b)| (a - b) / (2.0 * h))
        .collect();
    let hv = p.lower_hvp_yy(x, y, &dy, &s)?;
    out.insert("hvp_yy".into(), vec_rel(&fd_h, &hv));
    let fd_j: Vec<f64> = gxp
        .iter()
        .zip(&gxm)
        .map(|(a, b)| (a - b) / (2.0 * h))
        .collect();
    let jv = p.lower_jvp_xy(x, y, &dy, &s)?;
    out.insert("jvp_xy".into(), vec_rel(&fd_j, &jv));
    if p.n_constraints() > 0 {
        let lam: Vec<f64> = (0..p.n_constraints())
            .map(|_| optlab_core::seed::normal(&mut rng))
            .collect();
        let (jx, jy) = p.constraint_vjp(x, y, &lam)?;
        let gdot = |x: &[f64], y: &[f64]| -> Result<f64> { Ok(dotp(&p.constraints(x, y)?, &lam)) };
        let fdx = (gdot(&shift(x, &dx, h), y)? - gdot(&shift(x, &dx, -h), y)?) / (2.0 * h);
        let fdy = (gdot(x, &shift(y, &dy, h))? - gdot(x, &shift(y, &dy, -h))?) / (2.0 * h);
        out.insert("constraints_x".into(), rel(fdx, dotp(&jx, &dx)));
        out.insert("constraints_y".into(), rel(fdy, dotp(&jy, &dy)));
    }
    Ok(out)
}

/// `||a - b|| / max(||a||, ||b||, 1e-8)`.
fn vec_rel(a: &[f64], b: &[f64]) -> f64 {
    let d: Vec<f64> = a.iter().zip(b).map(|(u, v)| u - v).collect();
    optlab_linalg::norm2(&d)
        / optlab_linalg::norm2(a)
            .max(optlab_linalg::norm2(b))
            .max(1e-8)
}

/// Problems of the `bilevel` catalog.
pub const ALL: &[&str] = &[
    "lvhba-toy",
    "quad-cosh",
    "hyper-clean",
    "hyper-rep-rnn",
    "svm-ho",
];

/// The default `[problem]` table of a catalog entry.
pub fn default_table(name: &str) -> Result<toml::Table> {
    match name {
        "lvhba-toy" => to_table(&toys::LlcSpec::default()),
        "quad-cosh" => to_table(&toys::QuadCoshSpec::default()),
        "hyper-clean" => to_table(&clean::CleanSpec::default()),
        "hyper-rep-rnn" => to_table(&rnn::RnnSpec::default()),
        "svm-ho" => to_table(&svm::SvmSpec::default()),
        other => Err(unknown(other)),
    }
}

fn unknown(other: &str) -> Error {
    Error::config(
        "problem.name",
        format!(
            "unknown bilevel problem `{other}` (one of: {})",
            ALL.join(", ")
        ),
    )
}

/// Build a catalog problem from its `[problem]` table.
pub fn build(table: &toml::Table) -> Result<Box<dyn Bilevel>> {
    Ok(match problem_name(table)? {
        "lvhba-toy" => Box::new(toys::Llc::new(&from_table("problem", table)?)?),
        "quad-cosh" => Box::new(toys::QuadCosh::new(&from_table("problem", table)?)?),
        "hyper-clean" => Box::new(clean::HyperClean::new(&from_table("problem", table)?)?),
        "hyper-rep-rnn" => Box::new(rnn::HyperRep::new(&from_table("problem", table)?)?),
        "svm-ho" => Box::new(svm::SvmHo::new(&from_table("problem", table)?)?),
        other => return Err(unknown(other)),
    })
}
