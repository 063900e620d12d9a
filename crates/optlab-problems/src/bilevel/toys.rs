//! The closed-form bilevel toys.
//!
//! - [`Llc`]: LV-HBA's toy with a coupled lower-level equality constraint and a non-singleton
//!   lower-level solution set; its optimistic solution is `x* = -0.3·1` (any `n`).
//! - [`QuadCosh`]: BO-REP's `(L0, L1)`-smooth toy with an exact hypergradient:
//!   `f(x, y) = ½||y - b||² + Σ cosh(x_j)` (upper), `g(x, y) = ½ yᵀAy - yᵀBx` (lower),
//!   `y*(x) = A⁻¹Bx`, `∇Φ(x) = sinh(x) + BᵀA⁻¹(A⁻¹Bx - b)`.

use super::{Bilevel, ConstraintKind, Sample, ValueGrad, check_dims, expect_len};
use optlab_core::config::{at_least_one, non_negative, positive};
use optlab_core::seed::{Rng, normal, splitmix64, stream};
use optlab_core::{Error, Result};
use optlab_linalg::{dot, norm2};
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `lvhba-toy` options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LlcSpec {
    /// `"lvhba-toy"`.
    pub name: String,
    /// Dimension of `x` (`y` has `2n`).
    pub n: usize,
    /// The official script's start: `x = y = start·1`, then `x` and `y` projected in turn
    /// onto the constraint (`x - (1ᵀx + 1ᵀy)/n`, then the same for `y`), which gives
    /// `x = -2 start·1`, `y = start·1` (official: 10).
    pub start: f64,
}

impl Default for LlcSpec {
    fn default() -> Self {
        LlcSpec {
            name: "lvhba-toy".into(),
            n: 100,
            start: 10.0,
        }
    }
}

/// LV-HBA's toy "LLC": `x ∈ Rⁿ`, `y = (y1, y2) ∈ R²ⁿ`,
/// upper `F = ½||x - y2||² + ½||y1 - 1||²`, lower `f = ½||y1||² - xᵀy1 + 1ᵀy2`,
/// coupled equality constraint `1ᵀx + 1ᵀy = 0`.
#[derive(Debug, Clone)]
pub struct Llc {
    n: usize,
    start: f64,
}

impl Llc {
    /// The toy of dimension `n`.
    pub fn new(spec: &LlcSpec) -> Result<Self> {
        at_least_one("problem.n", spec.n as u64)?;
        if !spec.start.is_finite() {
            return Err(Error::config("problem.start", "must be finite"));
        }
        Ok(Llc {
            n: spec.n,
            start: spec.start,
        })
    }

    /// The optimistic bilevel solution `(x*, y*) = (-0.3·1, (0.7·1, -0.4·1))`, `F* = 0.05 n`.
    pub fn solution(&self) -> (Vec<f64>, Vec<f64>) {
        let n = self.n;
        let mut y = vec![0.7; n];
        y.extend(vec![-0.4; n]);
        (vec![-0.3; n], y)
    }
}

impl Bilevel for Llc {
    fn name(&self) -> String {
        format!("lvhba-toy(n={})", self.n)
    }
    fn dim_x(&self) -> usize {
        self.n
    }
    fn dim_y(&self) -> usize {
        2 * self.n
    }
    fn start(&self) -> (Vec<f64>, Vec<f64>) {
        // The official sequential projections of x = y = s·1 (see `LlcSpec::start`).
        (
            vec![-2.0 * self.start; self.n],
            vec![self.start; 2 * self.n],
        )
    }

    fn upper(&self, x: &[f64], y: &[f64], _s: &Sample) -> Result<ValueGrad> {
        check_dims(self, x, y)?;
        let (y1, y2) = y.split_at(self.n);
        let gx: Vec<f64> = x.iter().zip(y2).map(|(a, b)| a - b).collect();
        let g1: Vec<f64> = y1.iter().map(|a| a - 1.0).collect();
        let val = 0.5 * dot(&gx, &gx) + 0.5 * dot(&g1, &g1);
        let mut gy = g1;
        gy.extend(gx.iter().map(|v| -v));
        Ok((val, gx, gy))
    }

    fn lower(&self, x: &[f64], y: &[f64], _s: &Sample) -> Result<ValueGrad> {
        check_dims(self, x, y)?;
        let (y1, y2) = y.split_at(self.n);
        let val = 0.5 * dot(y1, y1) - dot(x, y1) + y2.iter().sum::<f64>();
        let gx: Vec<f64> = y1.iter().map(|v| -v).collect();
        let mut gy: Vec<f64> = y1.iter().zip(x).map(|(a, b)| a - b).collect();
        gy.extend(std::iter::repeat_n(1.0, self.n));
        Ok((val, gx, gy))
    }

    fn lower_hvp_yy(&self, x: &[f64], y: &[f64], v: &[f64], _s: &Sample) -> Result<Vec<f64>> {
        check_dims(self, x, y)?;
        expect_len("direction v", v, 2 * self.n)?;
        let mut out = v[..self.n].to_vec();
        out.extend(std::iter::repeat_n(0.0, self.n));
        Ok(out)
    }

    fn lower_jvp_xy(&self, x: &[f64], y: &[f64], v: &[f64], _s: &Sample) -> Result<Vec<f64>> {
        check_dims(self, x, y)?;
        expect_len("direction v", v, 2 * self.n)?;
        Ok(v[..self.n].iter().map(|a| -a).collect())
    }

    fn n_constraints(&self) -> usize {
        1
    }
    fn constraint_kind(&self) -> ConstraintKind {
        ConstraintKind::Equality
    }
    fn constraints(&self, x: &[f64], y: &[f64]) -> Result<Vec<f64>> {
        check_dims(self, x, y)?;
        Ok(vec![x.iter().sum::<f64>() + y.iter().sum::<f64>()])
    }
    fn constraint_vjp(&self, x: &[f64], y: &[f64], lam: &[f64]) -> Result<(Vec<f64>, Vec<f64>)> {
        check_dims(self, x, y)?;
        expect_len("multipliers", lam, 1)?;
        Ok((vec![lam[0]; self.n], vec![lam[0]; 2 * self.n]))
    }
    /// Onto the hyperplane `1ᵀx + 1ᵀy = 0`.
    fn project_joint(&self, x: &mut [f64], y: &mut [f64]) -> Result<()> {
        check_dims(self, x, y)?;
        let s = (x.iter().sum::<f64>() + y.iter().sum::<f64>()) / (3 * self.n) as f64;
        x.iter_mut().chain(y.iter_mut()).for_each(|v| *v -= s);
        Ok(())
    }

    fn evaluate(&self, x: &[f64], y: &[f64]) -> Result<BTreeMap<String, f64>> {
        let (xs, ys) = self.solution();
        let dx: Vec<f64> = x.iter().zip(&xs).map(|(a, b)| a - b).collect();
        let dy: Vec<f64> = y.iter().zip(&ys).map(|(a, b)| a - b).collect();
        let mut m = BTreeMap::new();
        m.insert("rel_error".into(), norm2(&dx) / norm2(&xs));
        m.insert("y_rel_error".into(), norm2(&dy) / norm2(&ys));
        m.insert("upper".into(), self.upper(x, y, &Sample::Exact)?.0);
        m.insert("violation".into(), self.constraints(x, y)?[0].abs());
        Ok(m)
    }
}

/// `quad-cosh` options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuadCoshSpec {
    /// `"quad-cosh"`.
    pub name: String,
    /// Dimension of `x`.
    pub n: usize,
    /// Dimension of `y`.
    pub m: usize,
    /// Smallest eigenvalue of `A` (the lower level's strong convexity).
    pub mu: f64,
    /// Largest eigenvalue of `A`.
    pub l: f64,
    /// Start value of every coordinate of `x` (`y0 = 0`).
    pub x0: f64,
    /// Oracle noise: gradients get `N(0, noise_sd²)` added per entry; Hessian- and
    /// Jacobian-vector products use `A`, `B` perturbed by random matrices with entries
    /// `N(0, noise_sd²/m)`.
    pub noise_sd: f64,
    /// Seed of `A`, `B` and `b`.
    pub seed: u64,
}

impl Default for QuadCoshSpec {
    fn default() -> Self {
        QuadCoshSpec {
            name: "quad-cosh".into(),
            n: 10,
            m: 10,
            mu: 1.0,
            l: 10.0,
            x0: 5.0,
            noise_sd: 0.0,
            seed: 0,
        }
    }
}

/// BO-REP's synthetic `(L0, L1)`-smooth bilevel problem (see the module docs).
#[derive(Debug, Clone)]
pub struct QuadCosh {
    n: usize,
    m: usize,
    /// `A` (`m x m`, SPD).
    pub a: Vec<f64>,
    a_inv: Vec<f64>,
    /// `B` (`m x n`).
    pub b_mat: Vec<f64>,
    /// `b` (`m`).
    pub b: Vec<f64>,
    x0: f64,
    noise_sd: f64,
}

fn matvec(a: &[f64], rows: usize, cols: usize, v: &[f64]) -> Vec<f64> {
    (0..rows)
        .map(|i| dot(&a[i * cols..(i + 1) * cols], v))
        .collect()
}

fn matvec_t(a: &[f64], rows: usize, cols: usize, v: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; cols];
    for i in 0..rows {
        for j in 0..cols {
            out[j] += a[i * cols + j] * v[i];
        }
    }
    out
}

impl QuadCosh {
    /// The problem: `A = Q diag(linspace(mu, l)) Qᵀ` with a seeded orthogonal `Q`, `B` with
    /// `N(0, 1/m)` entries, `b ~ N(0, 1)`.
    pub fn new(spec: &QuadCoshSpec) -> Result<Self> {
        at_least_one("problem.n", spec.n as u64)?;
        at_least_one("problem.m", spec.m as u64)?;
        positive("problem.mu", spec.mu)?;
        positive("problem.l", spec.l)?;
        if spec.l < spec.mu {
            return Err(Error::config("problem.l", "must be >= problem.mu"));
        }
        non_negative("problem.noise_sd", spec.noise_sd)?;
        if !spec.x0.is_finite() {
            return Err(Error::config("problem.x0", "must be finite"));
        }
        let (n, m) = (spec.n, spec.m);
        let mut rng = stream(spec.seed, "quad-cosh");
        // Gram-Schmidt on a Gaussian matrix: the columns of Q.
        let mut q: Vec<Vec<f64>> = Vec::with_capacity(m);
        while q.len() < m {
            let mut v: Vec<f64> = (0..m).map(|_| normal(&mut rng)).collect();
            for _ in 0..2 {
                for u in &q {
                    let c = dot(u, &v);
                    v.iter_mut().zip(u).for_each(|(a, b)| *a -= c * b);
                }
            }
            let nv = norm2(&v);
            if nv > 1e-8 {
                v.iter_mut().for_each(|a| *a /= nv);
                q.push(v);
            }
        }
        let eig: Vec<f64> = (0..m)
            .map(|k| {
                if m == 1 {
                    spec.mu
                } else {
                    spec.mu + (spec.l - spec.mu) * k as f64 / (m - 1) as f64
                }
            })
            .collect();
        let mut a = vec![0.0; m * m];
        let mut a_inv = vec![0.0; m * m];
        for (k, u) in q.iter().enumerate() {
            for i in 0..m {
                for j in 0..m {
                    a[i * m + j] += eig[k] * u[i] * u[j];
                    a_inv[i * m + j] += u[i] * u[j] / eig[k];
                }
            }
        }
        let sd = 1.0 / (m as f64).sqrt();
        let b_mat = (0..m * n).map(|_| sd * normal(&mut rng)).collect();
        let b = (0..m).map(|_| normal(&mut rng)).collect();
        Ok(QuadCosh {
            n,
            m,
            a,
            a_inv,
            b_mat,
            b,
            x0: spec.x0,
            noise_sd: spec.noise_sd,
        })
    }

    /// `y*(x) = A⁻¹Bx`.
    pub fn y_star(&self, x: &[f64]) -> Vec<f64> {
        let bx = matvec(&self.b_mat, self.m, self.n, x);
        matvec(&self.a_inv, self.m, self.m, &bx)
    }

    /// `Φ(x) = f(x, y*(x))`.
    pub fn phi(&self, x: &[f64]) -> f64 {
        let ys = self.y_star(x);
        let r: Vec<f64> = ys.iter().zip(&self.b).map(|(a, b)| a - b).collect();
        0.5 * dot(&r, &r) + x.iter().map(|v| v.cosh()).sum::<f64>()
    }

    /// The sample's random matrix perturbation `σ G` (`rows x cols`, entries `N(0, σ²/m)`,
    /// stream `tag`), or `None` for exact calls and noise-free problems. Second-order products
    /// use `(A + σ G_sym) v` and `-(B + σ G)ᵀ v`: random *linear* operators, so that a method
    /// can run conjugate gradients on one sample.
    fn noise_matrix(&self, s: &Sample, tag: u64, rows: usize, cols: usize) -> Option<Vec<f64>> {
        let seed = s.noise_seed()?;
        if self.noise_sd <= 0.0 {
            return None;
        }
        let mut rng = Rng::seed_from_u64(splitmix64(seed ^ tag));
        let sd = self.noise_sd / (self.m as f64).sqrt();
        Some((0..rows * cols).map(|_| sd * normal(&mut rng)).collect())
    }

    /// Add the sample's noise (stream `tag`) to `v`.
    fn noisy(&self, mut v: Vec<f64>, s: &Sample, tag: u64) -> Vec<f64> {
        if let (Some(seed), true) = (s.noise_seed(), self.noise_sd > 0.0) {
            let mut rng = Rng::seed_from_u64(splitmix64(seed ^ tag));
            v.iter_mut()
                .for_each(|a| *a += self.noise_sd * normal(&mut rng));
        }
        v
    }
}

impl Bilevel for QuadCosh {
    fn name(&self) -> String {
        format!("quad-cosh(n={}, m={})", self.n, self.m)
    }
    fn dim_x(&self) -> usize {
        self.n
    }
    fn dim_y(&self) -> usize {
        self.m
    }
    fn start(&self) -> (Vec<f64>, Vec<f64>) {
        (vec![self.x0; self.n], vec![0.0; self.m])
    }

    fn upper(&self, x: &[f64], y: &[f64], s: &Sample) -> Result<ValueGrad> {
        check_dims(self, x, y)?;
        let r: Vec<f64> = y.iter().zip(&self.b).map(|(a, b)| a - b).collect();
        let val = 0.5 * dot(&r, &r) + x.iter().map(|v| v.cosh()).sum::<f64>();
        let gx = self.noisy(x.iter().map(|v| v.sinh()).collect(), s, 1);
        let gy = self.noisy(r, s, 2);
        Ok((val, gx, gy))
    }

    fn lower(&self, x: &[f64], y: &[f64], s: &Sample) -> Result<ValueGrad> {
        check_dims(self, x, y)?;
        let ay = matvec(&self.a, self.m, self.m, y);
        let bx = matvec(&self.b_mat, self.m, self.n, x);
        let val = 0.5 * dot(y, &ay) - dot(y, &bx);
        let gx: Vec<f64> = matvec_t(&self.b_mat, self.m, self.n, y)
            .into_iter()
            .map(|v| -v)
            .collect();
        let gy: Vec<f64> = ay.iter().zip(&bx).map(|(a, b)| a - b).collect();
        Ok((val, self.noisy(gx, s, 3), self.noisy(gy, s, 4)))
    }

    fn lower_hvp_yy(&self, x: &[f64], y: &[f64], v: &[f64], s: &Sample) -> Result<Vec<f64>> {
        check_dims(self, x, y)?;
        expect_len("direction v", v, self.m)?;
        let mut out = matvec(&self.a, self.m, self.m, v);
        if let Some(g) = self.noise_matrix(s, 5, self.m, self.m) {
            // Symmetrized: (G + Gᵀ)/2.
            let m = self.m;
            for i in 0..m {
                for j in 0..m {
                    out[i] += 0.5 * (g[i * m + j] + g[j * m + i]) * v[j];
                }
            }
        }
        Ok(out)
    }

    fn lower_jvp_xy(&self, x: &[f64], y: &[f64], v: &[f64], s: &Sample) -> Result<Vec<f64>> {
        check_dims(self, x, y)?;
        expect_len("direction v", v, self.m)?;
        let mut out = matvec_t(&self.b_mat, self.m, self.n, v);
        if let Some(g) = self.noise_matrix(s, 6, self.m, self.n) {
            let gt = matvec_t(&g, self.m, self.n, v);
            out.iter_mut().zip(gt).for_each(|(a, b)| *a += b);
        }
        Ok(out.into_iter().map(|a| -a).collect())
    }

    fn project_joint(&self, x: &mut [f64], y: &mut [f64]) -> Result<()> {
        check_dims(self, x, y)
    }

    fn hypergradient(&self, x: &[f64]) -> Option<Result<Vec<f64>>> {
        if x.len() != self.n {
            return Some(expect_len("upper-level variable x", x, self.n).map(|_| Vec::new()));
        }
        let r: Vec<f64> = self
            .y_star(x)
            .iter()
            .zip(&self.b)
            .map(|(a, b)| a - b)
            .collect();
        let air = matvec(&self.a_inv, self.m, self.m, &r);
        let bt = matvec_t(&self.b_mat, self.m, self.n, &air);
        Some(Ok(x.iter().zip(&bt).map(|(a, b)| a.sinh() + b).collect()))
    }

    fn evaluate(&self, x: &[f64], y: &[f64]) -> Result<BTreeMap<String, f64>> {
        check_dims(self, x, y)?;
        let mut m = BTreeMap::new();
        if let Some(g) = self.hypergradient(x) {
            m.insert("hypergrad_norm".into(), norm2(&g?));
        }
        m.insert("phi".into(), self.phi(x));
        let ys = self.y_star(x);
        let d: Vec<f64> = y.iter().zip(&ys).map(|(a, b)| a - b).collect();
        m.insert("y_error".into(), norm2(&d));
        Ok(m)
    }
}
