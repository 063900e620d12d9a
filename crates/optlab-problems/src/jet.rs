//! Second-order forward-mode automatic differentiation for small, hand-typed test problems.
//!
//! A problem is written once, generically over [`Scalar`]; evaluating it on `f64` gives values,
//! on [`Jet2`] gives the exact gradient and Hessian (no finite differences, no truncation
//! error). Only for small `n` (at most [`MAX_VARS`]): a `Jet2` carries a dense Hessian.

use std::ops::{Add, Div, Mul, Neg, Sub};

/// Largest number of variables a [`Jet2`] can carry.
pub const MAX_VARS: usize = 8;

/// The arithmetic a hand-typed test problem may use.
pub trait Scalar:
    Copy
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + Add<f64, Output = Self>
    + Sub<f64, Output = Self>
    + Mul<f64, Output = Self>
{
    /// A constant.
    fn cst(v: f64) -> Self;
    /// The value part.
    fn value(&self) -> f64;
    /// `sin`.
    fn sin(self) -> Self;
    /// `cos`.
    fn cos(self) -> Self;
    /// Natural logarithm.
    fn ln(self) -> Self;
    /// `exp`.
    fn exp(self) -> Self;
    /// Integer power.
    fn powi(self, k: i32) -> Self;
}

impl Scalar for f64 {
    fn cst(v: f64) -> Self {
        v
    }
    fn value(&self) -> f64 {
        *self
    }
    fn sin(self) -> Self {
        f64::sin(self)
    }
    fn cos(self) -> Self {
        f64::cos(self)
    }
    fn ln(self) -> Self {
        f64::ln(self)
    }
    fn exp(self) -> Self {
        f64::exp(self)
    }
    fn powi(self, k: i32) -> Self {
        f64::powi(self, k)
    }
}

/// A value with its gradient and Hessian with respect to up to [`MAX_VARS`] variables.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Jet2 {
    /// Value.
    pub v: f64,
    /// Gradient.
    pub g: [f64; MAX_VARS],
    /// Hessian, row-major `MAX_VARS x MAX_VARS`.
    pub h: [f64; MAX_VARS * MAX_VARS],
}

impl Jet2 {
    /// The `i`-th independent variable at value `v`.
    pub fn var(v: f64, i: usize) -> Self {
        let mut j = Jet2::cst(v);
        j.g[i] = 1.0;
        j
    }

    /// Seed all variables at `x` (`x.len() <= MAX_VARS`).
    pub fn vars(x: &[f64]) -> Vec<Jet2> {
        x.iter()
            .enumerate()
            .map(|(i, &v)| Jet2::var(v, i))
            .collect()
    }

    /// Apply a scalar function with first and second derivatives `d1`, `d2` at `self.v`.
    fn chain(self, v: f64, d1: f64, d2: f64) -> Self {
        let mut out = Jet2::cst(v);
        for i in 0..MAX_VARS {
            out.g[i] = d1 * self.g[i];
        }
        for i in 0..MAX_VARS {
            for j in 0..MAX_VARS {
                out.h[i * MAX_VARS + j] =
                    d1 * self.h[i * MAX_VARS + j] + d2 * self.g[i] * self.g[j];
            }
        }
        out
    }

    /// Gradient over the first `n` variables.
    pub fn gradient(&self, n: usize) -> Vec<f64> {
        self.g[..n].to_vec()
    }

    /// Hessian over the first `n` variables, row-major.
    pub fn hessian(&self, n: usize) -> Vec<f64> {
        let mut out = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                out[i * n + j] = self.h[i * MAX_VARS + j];
            }
        }
        out
    }
}

impl Add for Jet2 {
    type Output = Jet2;
    fn add(mut self, o: Jet2) -> Jet2 {
        self.v += o.v;
        for i in 0..MAX_VARS {
            self.g[i] += o.g[i];
        }
        for i in 0..MAX_VARS * MAX_VARS {
            self.h[i] += o.h[i];
        }
        self
    }
}

impl Sub for Jet2 {
    type Output = Jet2;
    fn sub(self, o: Jet2) -> Jet2 {
        self + (-o)
    }
}

impl Neg for Jet2 {
    type Output = Jet2;
    fn neg(mut self) -> Jet2 {
        self.v = -self.v;
        for x in self.g.iter_mut().chain(self.h.iter_mut()) {
            *x = -*x;
        }
        self
    }
}

impl Mul for Jet2 {
    type Output = Jet2;
    fn mul(self, o: Jet2) -> Jet2 {
        let mut out = Jet2::cst(self.v * o.v);
        for i in 0..MAX_VARS {
            out.g[i] = self.v * o.g[i] + o.v * self.g[i];
        }
        for i in 0..MAX_VARS {
            for j in 0..MAX_VARS {
                let k = i * MAX_VARS + j;
                out.h[k] =
                    self.v * o.h[k] + o.v * self.h[k] + self.g[i] * o.g[j] + o.g[i] * self.g[j];
            }
        }
        out
    }
}

impl Div for Jet2 {
    type Output = Jet2;
    fn div(self, o: Jet2) -> Jet2 {
        let r = 1.0 / o.v;
        self * o.chain(r, -r * r, 2.0 * r * r * r)
    }
}

impl Add<f64> for Jet2 {
    type Output = Jet2;
    fn add(mut self, c: f64) -> Jet2 {
        self.v += c;
        self
    }
}

impl Sub<f64> for Jet2 {
    type Output = Jet2;
    fn sub(mut self, c: f64) -> Jet2 {
        self.v -= c;
        self
    }
}

impl Mul<f64> for Jet2 {
    type Output = Jet2;
    fn mul(mut self, c: f64) -> Jet2 {
        self.v *= c;
        for x in self.g.iter_mut().chain(self.h.iter_mut()) {
            *x *= c;
        }
        self
    }
}

impl Scalar for Jet2 {
    fn cst(v: f64) -> Self {
        Jet2 {
            v,
            g: [0.0; MAX_VARS],
            h: [0.0; MAX_VARS * MAX_VARS],
        }
    }
    fn value(&self) -> f64 {
        self.v
    }
    fn sin(self) -> Self {
        let (s, c) = self.v.sin_cos();
        self.chain(s, c, -s)
    }
    fn cos(self) -> Self {
        let (s, c) = self.v.sin_cos();
        self.chain(c, -s, -c)
    }
    fn ln(self) -> Self {
        let r = 1.0 / self.v;
        self.chain(self.v.ln(), r, -r * r)
    }
    fn exp(self) -> Self {
        let e = self.v.exp();
        self.chain(e, e, e)
    }
    fn powi(self, k: i32) -> Self {
        let x = self.v;
        let kf = f64::from(k);
        let d1 = if k == 0 { 0.0 } else { kf * x.powi(k - 1) };
        let d2 = if k == 0 || k == 1 {
            0.0
        } else {
            kf * (kf - 1.0) * x.powi(k - 2)
        };
        self.chain(x.powi(k), d1, d2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f<T: Scalar>(x: &[T]) -> T {
        // sin(x0) * x1^3 / (1 + x0^2) + exp(x1) * ln(x0)
        x[0].sin() * x[1].powi(3) / (x[0] * x[0] + 1.0) + x[1].exp() * x[0].ln()
    }

    #[test]
    fn jet_matches_finite_differences() {
        let x = [1.3, 0.7];
        let j = f(&Jet2::vars(&x));
        assert!((j.v - f(&x)).abs() < 1e-15);
        let h = 1e-5;
        for i in 0..2 {
            let mut xp = x;
            let mut xm = x;
            xp[i] += h;
            xm[i] -= h;
            let fd = (f(&xp) - f(&xm)) / (2.0 * h);
            assert!((fd - j.g[i]).abs() < 1e-8, "grad {i}: {fd} vs {}", j.g[i]);
            let gp = f(&Jet2::vars(&xp)).g;
            let gm = f(&Jet2::vars(&xm)).g;
            for k in 0..2 {
                let fd2 = (gp[k] - gm[k]) / (2.0 * h);
                assert!((fd2 - j.h[i * MAX_VARS + k]).abs() < 1e-7);
            }
        }
        // Symmetric Hessian.
        assert!((j.h[1] - j.h[MAX_VARS]).abs() < 1e-14);
    }
}
