//! The 19 Hock–Schittkowski equality-constrained problems of the AdaSketch-Newton benchmark
//! (a CUTEst substitute), typed from their definitions (Hock & Schittkowski, *Test Examples for
//! Nonlinear Programming Codes*, 1981) once, generically over [`Scalar`]: the `f64` instance
//! gives values, the [`Jet2`] instance exact gradients, Jacobians and Lagrangian Hessians.
//! Start points and optimal values are the standard ones (checked against scipy SLSQP and
//! Ipopt 3.14, see `tests/fixtures/gen_constrained.py`); for HS77, HS78 and HS79, whose
//! published optima are rounded, `f*` is `f` at the published point polished by Newton's
//! method on the KKT system (`||KKT|| < 1e-15`).

use super::EqProblem;
use crate::jet::{Jet2, Scalar};
use optlab_linalg::Csr;

type EvalF = fn(&[f64], &mut [f64]) -> f64;
type EvalJ = fn(&[Jet2], &mut [Jet2]) -> Jet2;

/// One Hock–Schittkowski problem.
#[derive(Debug, Clone)]
pub struct Hs {
    name: &'static str,
    n: usize,
    m: usize,
    x0: Vec<f64>,
    f_star: f64,
    eval_f: EvalF,
    eval_j: EvalJ,
}

macro_rules! hs {
    ($name:literal, $n:expr, $m:expr, $x0:expr, $fstar:expr, $f:ident) => {
        Hs {
            name: $name,
            n: $n,
            m: $m,
            x0: $x0,
            f_star: $fstar,
            eval_f: $f::<f64>,
            eval_j: $f::<Jet2>,
        }
    };
}

fn sq<T: Scalar>(a: T) -> T {
    a * a
}

fn hs6<T: Scalar>(x: &[T], c: &mut [T]) -> T {
    c[0] = (x[1] - x[0] * x[0]) * 10.0;
    sq(-x[0] + 1.0)
}

fn hs7<T: Scalar>(x: &[T], c: &mut [T]) -> T {
    let a = x[0] * x[0] + 1.0;
    c[0] = a * a + x[1] * x[1] - 4.0;
    a.ln() - x[1]
}

fn hs26<T: Scalar>(x: &[T], c: &mut [T]) -> T {
    c[0] = (x[1] * x[1] + 1.0) * x[0] + x[2].powi(4) - 3.0;
    sq(x[0] - x[1]) + (x[1] - x[2]).powi(4)
}

fn hs27<T: Scalar>(x: &[T], c: &mut [T]) -> T {
    c[0] = x[0] + x[2] * x[2] + 1.0;
    sq(x[0] - 1.0) * 0.01 + sq(x[1] - x[0] * x[0])
}

fn hs28<T: Scalar>(x: &[T], c: &mut [T]) -> T {
    c[0] = x[0] + x[1] * 2.0 + x[2] * 3.0 - 1.0;
    sq(x[0] + x[1]) + sq(x[1] + x[2])
}

fn hs39<T: Scalar>(x: &[T], c: &mut [T]) -> T {
    c[0] = x[1] - x[0].powi(3) - x[2] * x[2];
    c[1] = x[0] * x[0] - x[1] - x[3] * x[3];
    -x[0]
}

fn hs40<T: Scalar>(x: &[T], c: &mut [T]) -> T {
    c[0] = x[0].powi(3) + x[1] * x[1] - 1.0;
    c[1] = x[0] * x[0] * x[3] - x[2];
    c[2] = x[3] * x[3] - x[1];
    -(x[0] * x[1] * x[2] * x[3])
}

fn hs42<T: Scalar>(x: &[T], c: &mut [T]) -> T {
    c[0] = x[0] - 2.0;
    c[1] = x[2] * x[2] + x[3] * x[3] - 2.0;
    sq(x[0] - 1.0) + sq(x[1] - 2.0) + sq(x[2] - 3.0) + sq(x[3] - 4.0)
}

fn hs46<T: Scalar>(x: &[T], c: &mut [T]) -> T {
    c[0] = x[0] * x[0] * x[3] + (x[3] - x[4]).sin() - 1.0;
    c[1] = x[1] + x[2].powi(4) * x[3] * x[3] - 2.0;
    sq(x[0] - x[1]) + sq(x[2] - 1.0) + (x[3] - 1.0).powi(4) + (x[4] - 1.0).powi(6)
}

fn hs47<T: Scalar>(x: &[T], c: &mut [T]) -> T {
    c[0] = x[0] + x[1] * x[1] + x[2].powi(3) - 3.0;
    c[1] = x[1] - x[2] * x[2] + x[3] - 1.0;
    c[2] = x[0] * x[4] - 1.0;
    sq(x[0] - x[1]) + (x[1] - x[2]).powi(3) + (x[2] - x[3]).powi(4) + (x[3] - x[4]).powi(4)
}

fn hs48<T: Scalar>(x: &[T], c: &mut [T]) -> T {
    c[0] = x[0] + x[1] + x[2] + x[3] + x[4] - 5.0;
    c[1] = x[2] - (x[3] + x[4]) * 2.0 + 3.0;
    sq(x[0] - 1.0) + sq(x[1] - x[2]) + sq(x[3] - x[4])
}

fn hs49<T: Scalar>(x: &[T], c: &mut [T]) -> T {
    c[0] = x[0] + x[1] + x[2] + x[3] * 4.0 - 7.0;
    c[1] = x[2] + x[4] * 5.0 - 6.0;
    sq(x[0] - x[1]) + sq(x[2] - 1.0) + (x[3] - 1.0).powi(4) + (x[4] - 1.0).powi(6)
}

fn hs50<T: Scalar>(x: &[T], c: &mut [T]) -> T {
    c[0] = x[0] + x[1] * 2.0 + x[2] * 3.0 - 6.0;
    c[1] = x[1] + x[2] * 2.0 + x[3] * 3.0 - 6.0;
    c[2] = x[2] + x[3] * 2.0 + x[4] * 3.0 - 6.0;
    sq(x[0] - x[1]) + sq(x[1] - x[2]) + (x[2] - x[3]).powi(4) + sq(x[3] - x[4])
}

fn hs51<T: Scalar>(x: &[T], c: &mut [T]) -> T {
    c[0] = x[0] + x[1] * 3.0 - 4.0;
    c[1] = x[2] + x[3] - x[4] * 2.0;
    c[2] = x[1] - x[4];
    sq(x[0] - x[1]) + sq(x[1] + x[2] - 2.0) + sq(x[3] - 1.0) + sq(x[4] - 1.0)
}

fn hs52<T: Scalar>(x: &[T], c: &mut [T]) -> T {
    c[0] = x[0] + x[1] * 3.0;
    c[1] = x[2] + x[3] - x[4] * 2.0;
    c[2] = x[1] - x[4];
    sq(x[0] * 4.0 - x[1]) + sq(x[1] + x[2] - 2.0) + sq(x[3] - 1.0) + sq(x[4] - 1.0)
}

fn hs56<T: Scalar>(x: &[T], c: &mut [T]) -> T {
    c[0] = x[0] - sq(x[3].sin()) * 4.2;
    c[1] = x[1] - sq(x[4].sin()) * 4.2;
    c[2] = x[2] - sq(x[5].sin()) * 4.2;
    c[3] = x[0] + x[1] * 2.0 + x[2] * 2.0 - sq(x[6].sin()) * 7.2;
    -(x[0] * x[1] * x[2])
}

fn hs77<T: Scalar>(x: &[T], c: &mut [T]) -> T {
    let s2 = std::f64::consts::SQRT_2;
    c[0] = x[0] * x[0] * x[3] + (x[3] - x[4]).sin() - 2.0 * s2;
    c[1] = x[1] + x[2].powi(4) * x[3] * x[3] - 8.0 - s2;
    sq(x[0] - 1.0) + sq(x[0] - x[1]) + sq(x[2] - 1.0) + (x[3] - 1.0).powi(4) + (x[4] - 1.0).powi(6)
}

fn hs78<T: Scalar>(x: &[T], c: &mut [T]) -> T {
    c[0] = x[0] * x[0] + x[1] * x[1] + x[2] * x[2] + x[3] * x[3] + x[4] * x[4] - 10.0;
    c[1] = x[1] * x[2] - x[3] * x[4] * 5.0;
    c[2] = x[0].powi(3) + x[1].powi(3) + 1.0;
    x[0] * x[1] * x[2] * x[3] * x[4]
}

fn hs79<T: Scalar>(x: &[T], c: &mut [T]) -> T {
    let s2 = std::f64::consts::SQRT_2;
    c[0] = x[0] + x[1] * x[1] + x[2].powi(3) - 2.0 - 3.0 * s2;
    c[1] = x[1] - x[2] * x[2] + x[3] + 2.0 - 2.0 * s2;
    c[2] = x[0] * x[4] - 2.0;
    sq(x[0] - 1.0)
        + sq(x[0] - x[1])
        + sq(x[1] - x[2])
        + (x[2] - x[3]).powi(4)
        + (x[3] - x[4]).powi(4)
}

/// Names of the set, in the order of the reference table.
pub const NAMES: [&str; 19] = [
    "hs6", "hs7", "hs26", "hs27", "hs28", "hs39", "hs40", "hs42", "hs46", "hs47", "hs48", "hs49",
    "hs50", "hs51", "hs52", "hs56", "hs77", "hs78", "hs79",
];

/// The whole set.
pub fn all() -> Vec<Hs> {
    NAMES.iter().filter_map(|n| by_name(n)).collect()
}

/// One problem by (case-insensitive) name, e.g. `"hs28"` or `"HS28"`.
pub fn by_name(name: &str) -> Option<Hs> {
    let s2 = std::f64::consts::SQRT_2;
    let p = match name.to_ascii_lowercase().as_str() {
        "hs6" => hs!("hs6", 2, 1, vec![-1.2, 1.0], 0.0, hs6),
        "hs7" => hs!("hs7", 2, 1, vec![2.0, 2.0], -(3.0f64.sqrt()), hs7),
        "hs26" => hs!("hs26", 3, 1, vec![-2.6, 2.0, 2.0], 0.0, hs26),
        "hs27" => hs!("hs27", 3, 1, vec![2.0, 2.0, 2.0], 0.04, hs27),
        "hs28" => hs!("hs28", 3, 1, vec![-4.0, 1.0, 1.0], 0.0, hs28),
        "hs39" => hs!("hs39", 4, 2, vec![2.0; 4], -1.0, hs39),
        "hs40" => hs!("hs40", 4, 3, vec![0.8; 4], -0.25, hs40),
        "hs42" => hs!("hs42", 4, 2, vec![1.0; 4], 28.0 - 10.0 * s2, hs42),
        "hs46" => hs!("hs46", 5, 2, vec![s2 / 2.0, 1.75, 0.5, 2.0, 2.0], 0.0, hs46),
        "hs47" => hs!("hs47", 5, 3, vec![2.0, s2, -1.0, 2.0 - s2, 0.5], 0.0, hs47),
        "hs48" => hs!("hs48", 5, 2, vec![3.0, 5.0, -3.0, 2.0, -2.0], 0.0, hs48),
        "hs49" => hs!("hs49", 5, 2, vec![10.0, 7.0, 2.0, -3.0, 0.8], 0.0, hs49),
        "hs50" => hs!("hs50", 5, 3, vec![35.0, -31.0, 11.0, 5.0, -5.0], 0.0, hs50),
        "hs51" => hs!("hs51", 5, 3, vec![2.5, 0.5, 2.0, -1.0, 0.5], 0.0, hs51),
        "hs52" => hs!("hs52", 5, 3, vec![2.0; 5], 1859.0 / 349.0, hs52),
        "hs56" => {
            let a = (1.0f64 / 4.2).sqrt().asin();
            let b = (5.0f64 / 7.2).sqrt().asin();
            hs!("hs56", 7, 4, vec![1.0, 1.0, 1.0, a, a, a, b], -3.456, hs56)
        }
        "hs77" => hs!("hs77", 5, 2, vec![2.0; 5], 0.241_505_128_790_178_7, hs77),
        "hs78" => hs!(
            "hs78",
            5,
            3,
            vec![-2.0, 1.5, 2.0, -1.0, -1.0],
            -2.919_700_408_963_679,
            hs78
        ),
        "hs79" => hs!("hs79", 5, 3, vec![2.0; 5], 0.078_776_820_871_056_92, hs79),
        _ => return None,
    };
    Some(p)
}

impl Hs {
    fn jets(&self, x: &[f64]) -> (Jet2, Vec<Jet2>) {
        let xj = Jet2::vars(x);
        let mut c = vec![Jet2::cst(0.0); self.m];
        let f = (self.eval_j)(&xj, &mut c);
        (f, c)
    }

    fn dense_to_csr(rows: usize, cols: usize, flat: &[f64]) -> Csr {
        let t: Vec<(usize, usize, f64)> = (0..rows * cols)
            .filter(|&k| flat[k] != 0.0)
            .map(|k| (k / cols, k % cols, flat[k]))
            .collect();
        Csr::from_triplets(rows, cols, &t).unwrap_or_else(|_| Csr::zeros(rows, cols))
    }
}

impl EqProblem for Hs {
    fn name(&self) -> &str {
        self.name
    }
    fn n(&self) -> usize {
        self.n
    }
    fn m(&self) -> usize {
        self.m
    }
    fn x0(&self) -> Vec<f64> {
        self.x0.clone()
    }
    fn value(&self, x: &[f64]) -> f64 {
        let mut c = vec![0.0; self.m];
        (self.eval_f)(x, &mut c)
    }
    fn gradient(&self, x: &[f64]) -> Vec<f64> {
        self.jets(x).0.gradient(self.n)
    }
    fn constraints(&self, x: &[f64]) -> Vec<f64> {
        let mut c = vec![0.0; self.m];
        (self.eval_f)(x, &mut c);
        c
    }
    fn jacobian(&self, x: &[f64]) -> Csr {
        let (_, c) = self.jets(x);
        let flat: Vec<f64> = c.iter().flat_map(|ci| ci.gradient(self.n)).collect();
        Hs::dense_to_csr(self.m, self.n, &flat)
    }
    fn lagrangian_hessian(&self, x: &[f64], lambda: &[f64]) -> Csr {
        let (f, c) = self.jets(x);
        let mut h = f.hessian(self.n);
        for (ci, &l) in c.iter().zip(lambda) {
            for (a, b) in h.iter_mut().zip(ci.hessian(self.n)) {
                *a += l * b;
            }
        }
        Hs::dense_to_csr(self.n, self.n, &h)
    }
    fn known_minimum(&self) -> Option<f64> {
        Some(self.f_star)
    }
}
