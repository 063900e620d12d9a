//! Classic black-box test functions with known minima. Each uses the bounds of the shared
//! peer protocol (`bench/peers/cbo_cbx.py`, `bench/peers/dsm_nomad.py`).

use super::{BlackBox, Bounds};
use optlab_core::{Error, Result};
use optlab_linalg::fastmath;
use std::f64::consts::{E, PI};

/// Which function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `10 d + Σ (x_i² - 10 cos 2π x_i)`, minimum 0 at 0.
    Rastrigin,
    /// `-20 exp(-0.2 sqrt(mean x²)) - exp(mean cos 2π x) + 20 + e`, minimum 0 at 0.
    Ackley,
    /// `Σ x_i²`.
    Sphere,
    /// Branin–Hoo on `[-5, 10] x [0, 15]`, minimum 0.397887…
    Branin,
    /// `Σ 100 (x_{i+1} - x_i²)² + (1 - x_i)²`, minimum 0 at 1.
    Rosenbrock,
    /// Hartmann-6 on `[0, 1]^6`, minimum -3.32236801141551.
    Hartmann6,
    /// `½ Σ (x⁴ - 16 x² + 5 x)` on `[-5, 5]^d`, minimum -39.16616570377142 d.
    StyblinskiTang,
}

/// A test function in dimension `d` with its box.
#[derive(Debug, Clone)]
pub struct TestFunction {
    kind: Kind,
    name: String,
    d: usize,
    bounds: Bounds,
}

const H6_ALPHA: [f64; 4] = [1.0, 1.2, 3.0, 3.2];
const H6_A: [[f64; 6]; 4] = [
    [10.0, 3.0, 17.0, 3.5, 1.7, 8.0],
    [0.05, 10.0, 17.0, 0.1, 8.0, 14.0],
    [3.0, 3.5, 1.7, 10.0, 17.0, 8.0],
    [17.0, 8.0, 0.05, 10.0, 0.1, 14.0],
];
const H6_P: [[f64; 6]; 4] = [
    [0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886],
    [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
    [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650],
    [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381],
];
/// Hartmann-6's minimizer.
pub const H6_XSTAR: [f64; 6] = [
    0.20168952, 0.15001069, 0.47687398, 0.27533243, 0.31165162, 0.65730054,
];
/// Styblinski–Tang's minimizer coordinate.
pub const ST_XSTAR: f64 = -2.903534027771178;

impl TestFunction {
    /// `kind` in dimension `d` (Branin: 2, Hartmann-6: 6; Rosenbrock: at least 2).
    pub fn new(kind: Kind, d: usize) -> Result<Self> {
        let fixed = match kind {
            Kind::Branin => Some(2),
            Kind::Hartmann6 => Some(6),
            _ => None,
        };
        if let Some(f) = fixed
            && d != f
        {
            return Err(Error::config(
                "problem.d",
                format!("{kind:?} is defined for d = {f} only"),
            ));
        }
        if d == 0 || (kind == Kind::Rosenbrock && d < 2) {
            return Err(Error::config(
                "problem.d",
                format!(
                    "{kind:?} needs d >= {}",
                    if kind == Kind::Rosenbrock { 2 } else { 1 }
                ),
            ));
        }
        if d > 100_000 {
            return Err(Error::config("problem.d", "at most 100000"));
        }
        let bounds = match kind {
            Kind::Rastrigin => Bounds::cube(d, -5.12, 5.12)?,
            Kind::Ackley => Bounds::cube(d, -32.768, 32.768)?,
            Kind::Sphere => Bounds::cube(d, -10.0, 10.0)?,
            Kind::Branin => Bounds::new(vec![-5.0, 0.0], vec![10.0, 15.0])?,
            Kind::Rosenbrock | Kind::StyblinskiTang => Bounds::cube(d, -5.0, 5.0)?,
            Kind::Hartmann6 => Bounds::cube(6, 0.0, 1.0)?,
        };
        let base = match kind {
            Kind::Rastrigin => "rastrigin",
            Kind::Ackley => "ackley",
            Kind::Sphere => "sphere",
            Kind::Branin => "branin",
            Kind::Rosenbrock => "rosenbrock",
            Kind::Hartmann6 => "hartmann6",
            Kind::StyblinskiTang => "styblinski-tang",
        };
        Ok(TestFunction {
            kind,
            name: format!("{base}-{d}"),
            d,
            bounds,
        })
    }

    /// The function.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Sphere, Rastrigin and Ackley on eight-lane sums (`cos 2πx` with an exact reduction);
    /// inlined into the caller's SIMD dispatch. Other kinds: `NaN` (not called for them).
    #[inline(always)]
    fn vector_value(&self, x: &[f64]) -> f64 {
        let d = self.d as f64;
        match self.kind {
            Kind::Rastrigin => 10.0 * d + fastmath::sq_cos_2pi_sum(x, 1.0, -10.0),
            Kind::Ackley => {
                let s2 = optlab_linalg::dot_lanes(x, x) / d;
                let sc = fastmath::sq_cos_2pi_sum(x, 0.0, 1.0) / d;
                -20.0 * (-0.2 * s2.sqrt()).exp() - sc.exp() + 20.0 + E
            }
            Kind::Sphere => optlab_linalg::dot_lanes(x, x),
            _ => {
                debug_assert!(false, "vector_value called for {:?}", self.kind);
                f64::NAN
            }
        }
    }
}

impl BlackBox for TestFunction {
    fn name(&self) -> &str {
        &self.name
    }
    fn dim(&self) -> usize {
        self.d
    }
    fn bounds(&self) -> Option<&Bounds> {
        Some(&self.bounds)
    }
    fn values(&self, xs: &[f64], out: &mut [f64]) {
        match self.kind {
            // One runtime dispatch for the whole batch; the same kernels as `value`.
            Kind::Rastrigin | Kind::Ackley | Kind::Sphere => {
                struct Batch<'a> {
                    f: &'a TestFunction,
                    xs: &'a [f64],
                    out: &'a mut [f64],
                }
                impl fastmath::pulp::WithSimd for Batch<'_> {
                    type Output = ();
                    #[inline(always)]
                    fn with_simd<S: fastmath::pulp::Simd>(self, _simd: S) {
                        for (x, o) in self.xs.chunks(self.f.d.max(1)).zip(self.out) {
                            *o = self.f.vector_value(x);
                        }
                    }
                }
                fastmath::dispatch(Batch { f: self, xs, out });
            }
            _ => super::values_by_row(self, xs, out),
        }
    }
    fn value(&self, x: &[f64]) -> f64 {
        match self.kind {
            Kind::Rastrigin | Kind::Ackley | Kind::Sphere => {
                struct One<'a>(&'a TestFunction, &'a [f64]);
                impl fastmath::pulp::WithSimd for One<'_> {
                    type Output = f64;
                    #[inline(always)]
                    fn with_simd<S: fastmath::pulp::Simd>(self, _simd: S) -> f64 {
                        self.0.vector_value(self.1)
                    }
                }
                fastmath::dispatch(One(self, x))
            }
            Kind::Branin => {
                let (a, b, c) = (1.0, 5.1 / (4.0 * PI * PI), 5.0 / PI);
                let (r, s, t) = (6.0, 10.0, 1.0 / (8.0 * PI));
                a * (x[1] - b * x[0] * x[0] + c * x[0] - r).powi(2) + s * (1.0 - t) * x[0].cos() + s
            }
            Kind::Rosenbrock => x
                .windows(2)
                .map(|w| 100.0 * (w[1] - w[0] * w[0]).powi(2) + (1.0 - w[0]).powi(2))
                .sum(),
            Kind::Hartmann6 => -(0..4)
                .map(|i| {
                    let e: f64 = (0..6)
                        .map(|j| H6_A[i][j] * (x[j] - H6_P[i][j]).powi(2))
                        .sum();
                    H6_ALPHA[i] * (-e).exp()
                })
                .sum::<f64>(),
            Kind::StyblinskiTang => {
                0.5 * x
                    .iter()
                    .map(|v| v.powi(4) - 16.0 * v * v + 5.0 * v)
                    .sum::<f64>()
            }
        }
    }
    fn known_minimum(&self) -> Option<f64> {
        Some(match self.kind {
            Kind::Rastrigin | Kind::Ackley | Kind::Sphere | Kind::Rosenbrock => 0.0,
            Kind::Branin => 0.397_887_357_729_738_16,
            Kind::Hartmann6 => -3.322_368_011_415_51,
            Kind::StyblinskiTang => self.value(&vec![ST_XSTAR; self.d]),
        })
    }
    fn known_minimizer(&self) -> Option<Vec<f64>> {
        Some(match self.kind {
            Kind::Rastrigin | Kind::Ackley | Kind::Sphere => vec![0.0; self.d],
            Kind::Rosenbrock => vec![1.0; self.d],
            Kind::Branin => vec![PI, 2.275],
            Kind::Hartmann6 => H6_XSTAR.to_vec(),
            Kind::StyblinskiTang => vec![ST_XSTAR; self.d],
        })
    }
}

/// The deterministic start of the shared direct-search protocol:
/// `x0_i = l_i + (u_i - l_i) frac(0.618… (seed + 1)(i + 1) + 0.1)`.
pub fn protocol_start(bounds: &Bounds, seed: u64) -> Vec<f64> {
    let g = 0.618_033_988_749_894_9;
    (0..bounds.dim())
        .map(|i| {
            let t = g * (seed as f64 + 1.0) * (i as f64 + 1.0) + 0.1;
            let frac = t - t.floor();
            bounds.lower()[i] + (bounds.upper()[i] - bounds.lower()[i]) * frac
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The batched `values` gives `value`'s numbers bit for bit, on every kind, including
    /// rows past the fast cosine's range and non-finite rows; Rastrigin, Ackley and sphere
    /// agree with their textbook formulas.
    #[test]
    fn batched_values_equal_pointwise_values() {
        for kind in [
            Kind::Rastrigin,
            Kind::Ackley,
            Kind::Sphere,
            Kind::Branin,
            Kind::Rosenbrock,
            Kind::Hartmann6,
            Kind::StyblinskiTang,
        ] {
            let d = match kind {
                Kind::Branin => 2,
                Kind::Hartmann6 => 6,
                _ => 11,
            };
            let f = TestFunction::new(kind, d).unwrap();
            let mut xs: Vec<f64> = (0..d * 40)
                .map(|i| ((i * 7919) % 1000) as f64 / 97.0 - 5.0)
                .collect();
            xs[3] = 3e12; // row 0: past 2^40, libm fallback
            xs[d + 1] = f64::NAN; // row 1
            let mut out = vec![0.0; 40];
            f.values(&xs, &mut out);
            for (i, x) in xs.chunks(d).enumerate() {
                let v = f.value(x);
                assert!(
                    v.to_bits() == out[i].to_bits() || (v.is_nan() && out[i].is_nan()),
                    "{kind:?} row {i}: {v} vs {}",
                    out[i]
                );
            }
            // The pulp scalar fallback gives the same bits as the dispatched batch.
            struct Scalar<'a>(&'a TestFunction, &'a [f64]);
            impl fastmath::pulp::WithSimd for Scalar<'_> {
                type Output = Vec<f64>;
                #[inline(always)]
                fn with_simd<S: fastmath::pulp::Simd>(self, _simd: S) -> Vec<f64> {
                    let d = self.0.d;
                    self.1.chunks(d).map(|x| self.0.vector_value(x)).collect()
                }
            }
            if matches!(kind, Kind::Rastrigin | Kind::Ackley | Kind::Sphere) {
                let scalar =
                    fastmath::pulp::Simd::vectorize(fastmath::pulp::Scalar::new(), Scalar(&f, &xs));
                for (a, b) in scalar.iter().zip(&out) {
                    assert!(a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()));
                }
            }
            // Every finite row against the textbook formula.
            let tau = 2.0 * PI;
            for x in xs.chunks(d).filter(|x| x.iter().all(|v| v.is_finite())) {
                let n = d as f64;
                let want = match kind {
                    Kind::Rastrigin => {
                        10.0 * n
                            + x.iter()
                                .map(|v| v * v - 10.0 * (tau * v).cos())
                                .sum::<f64>()
                    }
                    Kind::Sphere => x.iter().map(|v| v * v).sum(),
                    Kind::Ackley => {
                        let s2 = x.iter().map(|v| v * v).sum::<f64>() / n;
                        let sc = x.iter().map(|v| (tau * v).cos()).sum::<f64>() / n;
                        -20.0 * (-0.2 * s2.sqrt()).exp() - sc.exp() + 20.0 + E
                    }
                    _ => continue,
                };
                assert!(
                    (f.value(x) - want).abs() <= 1e-12 * (1.0 + want.abs()),
                    "{kind:?}: {} vs {want}",
                    f.value(x)
                );
            }
        }
    }
}
