//! Adaptive batch-size tests of AdAdaGrad (Lau, Liu, Kolar 2024): from the per-sample
//! gradients `g_i` of the current batch (at the iterate the step was taken from), the smallest
//! batch that would have passed the test becomes the next batch size. Batches never shrink and
//! stop growing at a cap (after which no test is run).
//!
//! With `gB` the batch mean, `b` the batch size and sample variances with Bessel's correction
//! (divide by `b - 1`):
//! - norm test (Byrd et al. 2012): `VarSum(g) / b <= eta² ||gB||²`, candidate
//!   `ceil(VarSum(g) / (eta² ||gB||²))`;
//! - inner-product test (Bollapragada et al. 2018): `Var(<g_i, gB>) / b <= theta² ||gB||⁴`;
//! - orthogonality test: `VarSum(o) / b <= nu² ||gB||²` with `o_i = g_i - (<g_i, gB>/||gB||²) gB`;
//! - augmented inner-product test: the larger of the last two candidates.
//!
//! Candidates are rounded up with a relative tolerance of 1e-12, so that a ratio that is an
//! integer up to rounding (`3.0000000000000004` in the paper's hand example) is not bumped to
//! the next integer. A zero mean gradient makes every ratio infinite: the batch jumps to the cap.

use optlab_core::config::positive;
use optlab_core::{Error, Result};
use serde::{Deserialize, Serialize};

/// Which test decides the next batch size.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum BatchRule {
    /// Never change the batch size.
    Constant,
    /// The norm test with accuracy `eta`.
    Norm {
        /// `eta`.
        eta: f64,
    },
    /// The inner-product test alone.
    InnerProduct {
        /// `theta`.
        theta: f64,
    },
    /// The orthogonality test alone.
    Orthogonality {
        /// `nu`.
        nu: f64,
    },
    /// The augmented inner-product test (inner product and orthogonality).
    Augmented {
        /// `theta` of the inner-product part.
        theta: f64,
        /// `nu` of the orthogonality part.
        nu: f64,
    },
}

/// The statistics the tests need, from the per-sample gradients of one batch.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchStats {
    /// Batch size `b`.
    pub b: usize,
    /// `||gB||²`.
    pub mean_sq: f64,
    /// Sum over coordinates of the sample variances of `g_i`.
    pub var_sum: f64,
    /// Sample variance of `<g_i, gB>`.
    pub ip_var: f64,
    /// Sum over coordinates of the sample variances of the orthogonal parts `o_i`.
    pub orth_var_sum: f64,
}

impl BatchStats {
    /// Statistics of `b >= 2` per-sample gradients of equal length.
    pub fn from_samples(g: &[Vec<f64>]) -> Result<Self> {
        let b = g.len();
        if b < 2 {
            return Err(Error::Other(format!(
                "batch-size tests need at least 2 per-sample gradients (sample variances), got {b}"
            )));
        }
        let d = g[0].len();
        if let Some(k) = g.iter().position(|gi| gi.len() != d) {
            return Err(Error::Other(format!(
                "per-sample gradient {k} has length {}, the first has {d}",
                g[k].len()
            )));
        }
        let bf = b as f64;
        let mut mean = vec![0.0; d];
        for gi in g {
            mean.iter_mut().zip(gi).for_each(|(m, v)| *m += v / bf);
        }
        let mean_sq: f64 = mean.iter().map(|v| v * v).sum();
        let dev_sq = |f: &dyn Fn(&[f64]) -> Vec<f64>| -> f64 {
            // Sum over coordinates of the Bessel-corrected variance of f(g_i).
            let rows: Vec<Vec<f64>> = g.iter().map(|gi| f(gi)).collect();
            let mut m = vec![0.0; rows[0].len()];
            for r in &rows {
                m.iter_mut().zip(r).for_each(|(a, v)| *a += v / bf);
            }
            rows.iter()
                .map(|r| {
                    r.iter()
                        .zip(&m)
                        .map(|(v, a)| (v - a) * (v - a))
                        .sum::<f64>()
                })
                .sum::<f64>()
                / (bf - 1.0)
        };
        // The same two-pass sum as `dev_sq`, without copying the gradients.
        let var_sum = g
            .iter()
            .map(|gi| {
                gi.iter()
                    .zip(&mean)
                    .map(|(v, a)| (v - a) * (v - a))
                    .sum::<f64>()
            })
            .sum::<f64>()
            / (bf - 1.0);
        let ip = |gi: &[f64]| gi.iter().zip(&mean).map(|(a, b)| a * b).sum::<f64>();
        let ip_var = dev_sq(&|gi| vec![ip(gi)]);
        let orth_var_sum = if mean_sq > 0.0 {
            dev_sq(&|gi| {
                let c = ip(gi) / mean_sq;
                gi.iter().zip(&mean).map(|(a, m)| a - c * m).collect()
            })
        } else {
            var_sum
        };
        Ok(BatchStats {
            b,
            mean_sq,
            var_sum,
            ip_var,
            orth_var_sum,
        })
    }
}

/// `ceil(r)` with a relative tolerance of 1e-12 (see the module docs); infinite or NaN ratios
/// give `usize::MAX`.
pub fn ceil_tol(r: f64) -> usize {
    if !r.is_finite() {
        return usize::MAX;
    }
    let c = (r * (1.0 - 1e-12)).ceil().max(0.0);
    if c >= usize::MAX as f64 {
        usize::MAX
    } else {
        c as usize
    }
}

/// Chooses the next batch size.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BatchController {
    /// The test.
    pub rule: BatchRule,
    /// The largest batch (usually the training-set size).
    pub cap: usize,
}

impl BatchController {
    /// A controller; the initial batch must be in `[2, cap]` for a testing rule.
    pub fn new(rule: BatchRule, initial: usize, cap: usize) -> Result<Self> {
        if cap < initial {
            return Err(Error::config(
                "max_batch",
                format!("the batch cap {cap} is below the initial batch {initial}"),
            ));
        }
        match rule {
            BatchRule::Constant => {}
            BatchRule::Norm { eta } => positive("eta", eta)?,
            BatchRule::InnerProduct { theta } => positive("theta", theta)?,
            BatchRule::Orthogonality { nu } => positive("nu", nu)?,
            BatchRule::Augmented { theta, nu } => {
                positive("theta", theta)?;
                positive("nu", nu)?;
            }
        }
        if rule != BatchRule::Constant && initial < 2 {
            return Err(Error::config(
                "batch",
                "adaptive batch sizes need an initial batch of at least 2 (sample variances)",
            ));
        }
        Ok(BatchController { rule, cap })
    }

    /// The candidate batch size of the rule for these statistics (before clamping).
    pub fn candidate(&self, s: &BatchStats) -> usize {
        let inf = s.mean_sq <= 0.0;
        match self.rule {
            BatchRule::Constant => s.b,
            BatchRule::Norm { eta } => {
                if inf {
                    usize::MAX
                } else {
                    ceil_tol(s.var_sum / (eta * eta * s.mean_sq))
                }
            }
            BatchRule::InnerProduct { theta } => {
                if inf {
                    usize::MAX
                } else {
                    ceil_tol(s.ip_var / (theta * theta * s.mean_sq * s.mean_sq))
                }
            }
            BatchRule::Orthogonality { nu } => {
                if inf {
                    usize::MAX
                } else {
                    ceil_tol(s.orth_var_sum / (nu * nu * s.mean_sq))
                }
            }
            BatchRule::Augmented { theta, nu } => {
                if inf {
                    usize::MAX
                } else {
                    ceil_tol(s.ip_var / (theta * theta * s.mean_sq * s.mean_sq))
                        .max(ceil_tol(s.orth_var_sum / (nu * nu * s.mean_sq)))
                }
            }
        }
    }

    /// The next batch size after a batch of size `b` with these per-sample gradients: never
    /// smaller than `b`, never above the cap; at the cap no test is run.
    pub fn next(&self, b: usize, per_sample: &[Vec<f64>]) -> Result<usize> {
        if b >= self.cap || self.rule == BatchRule::Constant {
            return Ok(b.min(self.cap));
        }
        let s = BatchStats::from_samples(per_sample)?;
        if s.b != b {
            return Err(Error::Other(format!(
                "{} per-sample gradients for a batch of {b}",
                s.b
            )));
        }
        Ok(self.candidate(&s).clamp(b, self.cap))
    }
}

/// Running per-coordinate mean and sum of squared deviations (Welford), mergeable across
/// micro-batches or workers by the law of total variance (Chan et al.).
#[derive(Debug, Clone, PartialEq)]
pub struct Moments {
    /// Samples seen.
    pub n: usize,
    /// Per-coordinate mean.
    pub mean: Vec<f64>,
    /// Per-coordinate sum of squared deviations from the mean.
    pub m2: Vec<f64>,
}

impl Moments {
    /// Empty moments of dimension `d`.
    pub fn new(d: usize) -> Self {
        Moments {
            n: 0,
            mean: vec![0.0; d],
            m2: vec![0.0; d],
        }
    }

    /// Add one sample.
    pub fn push(&mut self, x: &[f64]) -> Result<()> {
        if x.len() != self.mean.len() {
            return Err(Error::Other(format!(
                "sample of length {}, moments of dimension {}",
                x.len(),
                self.mean.len()
            )));
        }
        self.n += 1;
        let n = self.n as f64;
        for ((m, q), v) in self.mean.iter_mut().zip(self.m2.iter_mut()).zip(x) {
            let delta = v - *m;
            *m += delta / n;
            *q += delta * (v - *m);
        }
        Ok(())
    }

    /// Merge another set of moments (law of total variance).
    pub fn merge(&mut self, other: &Moments) -> Result<()> {
        if other.mean.len() != self.mean.len() {
            return Err(Error::Other("moments of different dimensions".into()));
        }
        if other.n == 0 {
            return Ok(());
        }
        let (na, nb) = (self.n as f64, other.n as f64);
        let n = na + nb;
        for i in 0..self.mean.len() {
            let delta = other.mean[i] - self.mean[i];
            self.mean[i] += delta * nb / n;
            self.m2[i] += other.m2[i] + delta * delta * na * nb / n;
        }
        self.n += other.n;
        Ok(())
    }

    /// Sum over coordinates of the Bessel-corrected variances.
    pub fn var_sum(&self) -> f64 {
        if self.n < 2 {
            return f64::NAN;
        }
        self.m2.iter().sum::<f64>() / (self.n - 1) as f64
    }
}
