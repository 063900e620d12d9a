//! Smooth test problems with known answers (numerical-optimizers.md §1.5–§1.6).

use crate::data::{Dataset, breast_cancer, digits};
use crate::oracle::{HessianKind, SmoothProblem, unsupported};
use optlab_core::Result;
use optlab_linalg::faer::Mat;
use rand::Rng as _;

/// `log(1 + exp(z))` without overflow.
fn log1pexp(z: f64) -> f64 {
    if z > 0.0 {
        z + (-z).exp().ln_1p()
    } else {
        z.exp().ln_1p()
    }
}

fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// Row-major design matrix with its faer copy (for `X^T D X`).
#[derive(Debug, Clone)]
struct Design {
    x: Vec<f64>,
    m: usize,
    n: usize,
    mat: Mat<f64>,
}

impl Design {
    fn new(x: Vec<f64>, m: usize, n: usize) -> Self {
        let mat = Mat::from_fn(m, n, |i, j| x[i * n + j]);
        Design { x, m, n, mat }
    }

    fn row(&self, i: usize) -> &[f64] {
        &self.x[i * self.n..(i + 1) * self.n]
    }

    /// `X w`.
    fn mul(&self, w: &[f64], out: &mut [f64]) {
        for (i, o) in out.iter_mut().enumerate().take(self.m) {
            *o = self.row(i).iter().zip(w).map(|(a, b)| a * b).sum();
        }
    }

    /// `X^T r` added into `out`, scaled.
    fn tmul_add(&self, r: &[f64], scale: f64, out: &mut [f64]) {
        for (i, &ri) in r.iter().enumerate().take(self.m) {
            let s = ri * scale;
            if s != 0.0 {
                for (o, a) in out.iter_mut().zip(self.row(i)) {
                    *o += s * a;
                }
            }
        }
    }

    /// `X^T diag(d) X * scale`.
    fn gram(&self, d: &[f64], scale: f64) -> Mat<f64> {
        let xs = Mat::from_fn(self.m, self.n, |i, j| d[i] * scale * self.mat[(i, j)]);
        self.mat.transpose() * &xs
    }
}

fn add_ridge(h: &mut Mat<f64>, mu: f64) {
    for i in 0..h.nrows() {
        h[(i, i)] += mu;
    }
}

/// Binary logistic regression: `f(w) = mean_i [log(1+exp(x_i.w)) - y_i x_i.w] + (mu/2)||w||^2`,
/// features standardized (population sd), bias column appended last, bias regularized too.
#[derive(Debug, Clone)]
pub struct LogisticRegression {
    name: String,
    d: Design,
    y: Vec<f64>,
    mu: f64,
}

impl LogisticRegression {
    /// From a binary dataset (labels 0/1): standardize, append the bias column.
    pub fn new(name: &str, mut data: Dataset, mu: f64) -> Self {
        data.standardize();
        let (m, p) = (data.len(), data.n_features);
        let mut x = Vec::with_capacity(m * (p + 1));
        for i in 0..m {
            x.extend_from_slice(data.row(i));
            x.push(1.0);
        }
        LogisticRegression {
            name: name.to_string(),
            d: Design::new(x, m, p + 1),
            y: data.y.iter().map(|&c| c as f64).collect(),
            mu,
        }
    }

    /// Breast cancer (569 x 30 + bias).
    pub fn breast_cancer(mu: f64) -> Result<Self> {
        Ok(Self::new("logreg-breast-cancer", breast_cancer()?, mu))
    }
}

impl SmoothProblem for LogisticRegression {
    fn name(&self) -> &str {
        &self.name
    }
    fn dim(&self) -> usize {
        self.d.n
    }
    fn x0(&self) -> Vec<f64> {
        vec![0.0; self.d.n]
    }
    fn value(&self, w: &[f64]) -> f64 {
        let mut z = vec![0.0; self.d.m];
        self.d.mul(w, &mut z);
        let data: f64 = z
            .iter()
            .zip(&self.y)
            .map(|(z, y)| log1pexp(*z) - y * z)
            .sum();
        data / self.d.m as f64 + 0.5 * self.mu * optlab_linalg::dot(w, w)
    }
    fn value_grad(&self, w: &[f64], g: &mut [f64]) -> f64 {
        let mut z = vec![0.0; self.d.m];
        self.d.mul(w, &mut z);
        let m = self.d.m as f64;
        let mut f = 0.0;
        let r: Vec<f64> = z
            .iter()
            .zip(&self.y)
            .map(|(z, y)| {
                f += log1pexp(*z) - y * z;
                sigmoid(*z) - y
            })
            .collect();
        for (gi, wi) in g.iter_mut().zip(w) {
            *gi = self.mu * wi;
        }
        self.d.tmul_add(&r, 1.0 / m, g);
        f / m + 0.5 * self.mu * optlab_linalg::dot(w, w)
    }
    fn hessian(&self, w: &[f64], kind: HessianKind) -> Result<Mat<f64>> {
        let m = self.d.m as f64;
        let mut z = vec![0.0; self.d.m];
        self.d.mul(w, &mut z);
        let weights: Vec<f64> = match kind {
            HessianKind::Exact => z
                .iter()
                .map(|z| sigmoid(*z) * (1.0 - sigmoid(*z)))
                .collect(),
            HessianKind::Fisher => z
                .iter()
                .zip(&self.y)
                .map(|(z, y)| (sigmoid(*z) - y).powi(2))
                .collect(),
            HessianKind::Bohning => vec![0.25; self.d.m],
            HessianKind::GaussNewton => return Err(unsupported(&self.name, kind)),
        };
        let mut h = self.d.gram(&weights, 1.0 / m);
        add_ridge(&mut h, self.mu);
        Ok(h)
    }
    fn hessian_kinds(&self) -> &'static [HessianKind] {
        &[
            HessianKind::Exact,
            HessianKind::Fisher,
            HessianKind::Bohning,
        ]
    }
}

/// Multinomial (softmax) regression: `f(W) = mean_i -log softmax(x_i W)_{y_i} + (mu/2)||W||^2`
/// with pixels/16 and a bias column appended. `W` is `n x K`, stored class-major: column `k`
/// occupies `w[k n .. (k+1) n]`.
#[derive(Debug, Clone)]
pub struct SoftmaxRegression {
    name: String,
    d: Design,
    y: Vec<usize>,
    k: usize,
    mu: f64,
}

impl SoftmaxRegression {
    /// From a dataset; features divided by `scale`, bias column appended.
    pub fn new(name: &str, data: Dataset, scale: f64, mu: f64) -> Self {
        let (m, p) = (data.len(), data.n_features);
        let mut x = Vec::with_capacity(m * (p + 1));
        for i in 0..m {
            x.extend(data.row(i).iter().map(|v| v / scale));
            x.push(1.0);
        }
        SoftmaxRegression {
            name: name.to_string(),
            d: Design::new(x, m, p + 1),
            y: data.y.clone(),
            k: data.n_classes,
            mu,
        }
    }

    /// All 1797 digits, pixels/16 (n = 65 x 10 = 650 unknowns).
    pub fn digits(mu: f64) -> Result<Self> {
        Ok(Self::new("softmax-digits", digits()?, 16.0, mu))
    }

    /// Row-major `m x K` probabilities and the mean loss (without the ridge).
    fn probs(&self, w: &[f64]) -> (Vec<f64>, f64) {
        let (m, n, k) = (self.d.m, self.d.n, self.k);
        let mut p = vec![0.0; m * k];
        let mut loss = 0.0;
        for i in 0..m {
            let row = self.d.row(i);
            let logits = &mut p[i * k..(i + 1) * k];
            for (c, l) in logits.iter_mut().enumerate() {
                *l = row
                    .iter()
                    .zip(&w[c * n..(c + 1) * n])
                    .map(|(a, b)| a * b)
                    .sum();
            }
            let mx = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let lse = mx + logits.iter().map(|l| (l - mx).exp()).sum::<f64>().ln();
            loss += lse - logits[self.y[i]];
            for l in logits.iter_mut() {
                *l = (*l - lse).exp();
            }
        }
        (p, loss / m as f64)
    }
}

impl SmoothProblem for SoftmaxRegression {
    fn name(&self) -> &str {
        &self.name
    }
    fn dim(&self) -> usize {
        self.d.n * self.k
    }
    fn x0(&self) -> Vec<f64> {
        vec![0.0; self.dim()]
    }
    fn value(&self, w: &[f64]) -> f64 {
        self.probs(w).1 + 0.5 * self.mu * optlab_linalg::dot(w, w)
    }
    fn value_grad(&self, w: &[f64], g: &mut [f64]) -> f64 {
        let (p, loss) = self.probs(w);
        let (m, n, k) = (self.d.m, self.d.n, self.k);
        for (gi, wi) in g.iter_mut().zip(w) {
            *gi = self.mu * wi;
        }
        for c in 0..k {
            let r: Vec<f64> = (0..m)
                .map(|i| p[i * k + c] - f64::from(u8::from(self.y[i] == c)))
                .collect();
            self.d
                .tmul_add(&r, 1.0 / m as f64, &mut g[c * n..(c + 1) * n]);
        }
        loss + 0.5 * self.mu * optlab_linalg::dot(w, w)
    }
    fn hessian(&self, w: &[f64], kind: HessianKind) -> Result<Mat<f64>> {
        let (m, n, k) = (self.d.m, self.d.n, self.k);
        let mut h = Mat::<f64>::zeros(n * k, n * k);
        let inv_m = 1.0 / m as f64;
        let (p, _) = if kind == HessianKind::Bohning {
            (Vec::new(), 0.0)
        } else {
            self.probs(w)
        };
        let onehot = |i: usize, c: usize| f64::from(u8::from(self.y[i] == c));
        let xtx = if kind == HessianKind::Bohning {
            Some(self.d.gram(&vec![1.0; m], inv_m))
        } else {
            None
        };
        for a in 0..k {
            for b in a..k {
                let block = match kind {
                    HessianKind::Exact => {
                        let d: Vec<f64> = (0..m)
                            .map(|i| {
                                let pa = p[i * k + a];
                                pa * (f64::from(u8::from(a == b)) - p[i * k + b])
                            })
                            .collect();
                        Some(self.d.gram(&d, inv_m))
                    }
                    HessianKind::GaussNewton => (a == b).then(|| {
                        let d: Vec<f64> = (0..m).map(|i| p[i * k + a]).collect();
                        self.d.gram(&d, inv_m)
                    }),
                    HessianKind::Fisher => {
                        let d: Vec<f64> = (0..m)
                            .map(|i| (p[i * k + a] - onehot(i, a)) * (p[i * k + b] - onehot(i, b)))
                            .collect();
                        Some(self.d.gram(&d, inv_m))
                    }
                    HessianKind::Bohning => xtx.as_ref().map(|g| {
                        let c = 0.5 * (f64::from(u8::from(a == b)) - 1.0 / k as f64);
                        Mat::from_fn(n, n, |i, j| c * g[(i, j)])
                    }),
                };
                if let Some(blk) = block {
                    for j in 0..n {
                        for i in 0..n {
                            h[(a * n + i, b * n + j)] = blk[(i, j)];
                            h[(b * n + j, a * n + i)] = blk[(i, j)];
                        }
                    }
                }
            }
        }
        add_ridge(&mut h, self.mu);
        Ok(h)
    }
    fn hessian_kinds(&self) -> &'static [HessianKind] {
        &[
            HessianKind::Exact,
            HessianKind::GaussNewton,
            HessianKind::Fisher,
            HessianKind::Bohning,
        ]
    }
}

/// `f(x) = mu log sum_i exp((a_i.x - b_i)/mu)` with `a_i, b_i ~ U(-1, 1)` and the optimum
/// shifted to 0 by subtracting `∇f(0)` from every row, so `x* = 0` and `f* = f(0)`
/// (numerical-optimizers.md §1.5–§1.6). The metric is `B = sum_i a_i a_i^T` over the
/// unshifted rows (the shifted rows' Gram matrix is singular when m = n).
#[derive(Debug, Clone)]
pub struct LogSumExp {
    d: Design,
    b: Vec<f64>,
    mu: f64,
    metric: Mat<f64>,
    f_star: f64,
}

impl LogSumExp {
    /// `m` rows in dimension `n`, smoothing `mu`, data from `seed`.
    pub fn new(n: usize, m: usize, mu: f64, seed: u64) -> Self {
        let mut rng = optlab_core::seed::stream(seed, "logsumexp");
        let a: Vec<f64> = (0..m * n).map(|_| rng.random_range(-1.0..1.0)).collect();
        let b: Vec<f64> = (0..m).map(|_| rng.random_range(-1.0..1.0)).collect();
        let raw = Design::new(a.clone(), m, n);
        let metric = raw.gram(&vec![1.0; m], 1.0);
        let mut p = LogSumExp {
            d: raw,
            b,
            mu,
            metric,
            f_star: 0.0,
        };
        let mut g0 = vec![0.0; n];
        p.value_grad(&vec![0.0; n], &mut g0);
        let shifted: Vec<f64> = (0..m * n).map(|t| a[t] - g0[t % n]).collect();
        p.d = Design::new(shifted, m, n);
        p.f_star = p.value(&vec![0.0; n]);
        p
    }

    fn softmax(&self, x: &[f64]) -> (Vec<f64>, f64) {
        let mut z = vec![0.0; self.d.m];
        self.d.mul(x, &mut z);
        for (zi, bi) in z.iter_mut().zip(&self.b) {
            *zi = (*zi - bi) / self.mu;
        }
        let mx = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let s: f64 = z.iter().map(|v| (v - mx).exp()).sum();
        let lse = mx + s.ln();
        let pi = z.iter().map(|v| (v - lse).exp()).collect();
        (pi, self.mu * lse)
    }
}

impl SmoothProblem for LogSumExp {
    fn name(&self) -> &str {
        "logsumexp"
    }
    fn dim(&self) -> usize {
        self.d.n
    }
    fn x0(&self) -> Vec<f64> {
        vec![1.0; self.d.n]
    }
    fn value(&self, x: &[f64]) -> f64 {
        self.softmax(x).1
    }
    fn value_grad(&self, x: &[f64], g: &mut [f64]) -> f64 {
        let (pi, f) = self.softmax(x);
        g.iter_mut().for_each(|v| *v = 0.0);
        self.d.tmul_add(&pi, 1.0, g);
        f
    }
    fn hessian(&self, x: &[f64], kind: HessianKind) -> Result<Mat<f64>> {
        let (pi, _) = self.softmax(x);
        let mut h = self.d.gram(&pi, 1.0 / self.mu);
        match kind {
            HessianKind::GaussNewton => {}
            HessianKind::Exact => {
                let mut s = vec![0.0; self.d.n];
                self.d.tmul_add(&pi, 1.0, &mut s);
                for j in 0..self.d.n {
                    for i in 0..self.d.n {
                        h[(i, j)] -= s[i] * s[j] / self.mu;
                    }
                }
            }
            other => return Err(unsupported("logsumexp", other)),
        }
        Ok(h)
    }
    fn hessian_kinds(&self) -> &'static [HessianKind] {
        &[HessianKind::Exact, HessianKind::GaussNewton]
    }
    fn metric(&self) -> Option<Mat<f64>> {
        Some(self.metric.clone())
    }
    fn known_minimum(&self) -> Option<f64> {
        Some(self.f_star)
    }
}

/// `f(x) = 1/2 x^T Q x - c^T x` with `Q` tridiagonal (4 on the diagonal, -1 off it) and
/// `c = (1, ..., n)`; `f* = -1/2 c^T Q^-1 c`.
#[derive(Debug, Clone)]
pub struct Quadratic {
    q: Mat<f64>,
    c: Vec<f64>,
    f_star: f64,
}

impl Quadratic {
    /// Dimension `n`.
    pub fn new(n: usize) -> Self {
        let q = Mat::from_fn(n, n, |i, j| match i.abs_diff(j) {
            0 => 4.0,
            1 => -1.0,
            _ => 0.0,
        });
        let c: Vec<f64> = (1..=n).map(|i| i as f64).collect();
        let f_star = match optlab_linalg::Cholesky::new(&q) {
            Ok(ch) => -0.5 * optlab_linalg::dot(&c, &ch.solve(&c)),
            Err(_) => f64::NAN,
        };
        Quadratic { q, c, f_star }
    }

    /// The minimizer `Q^-1 c`.
    pub fn minimizer(&self) -> Vec<f64> {
        optlab_linalg::Cholesky::new(&self.q)
            .map(|ch| ch.solve(&self.c))
            .unwrap_or_default()
    }
}

impl SmoothProblem for Quadratic {
    fn name(&self) -> &str {
        "quadratic"
    }
    fn dim(&self) -> usize {
        self.c.len()
    }
    fn x0(&self) -> Vec<f64> {
        vec![0.0; self.c.len()]
    }
    fn value(&self, x: &[f64]) -> f64 {
        let mut g = vec![0.0; x.len()];
        self.value_grad(x, &mut g)
    }
    fn value_grad(&self, x: &[f64], g: &mut [f64]) -> f64 {
        let n = x.len();
        for i in 0..n {
            g[i] = (0..n).map(|j| self.q[(i, j)] * x[j]).sum::<f64>() - self.c[i];
        }
        0.5 * (optlab_linalg::dot(x, g) - optlab_linalg::dot(&self.c, x))
    }
    fn hessian(&self, _x: &[f64], kind: HessianKind) -> Result<Mat<f64>> {
        match kind {
            HessianKind::Exact => Ok(self.q.clone()),
            other => Err(unsupported("quadratic", other)),
        }
    }
    fn hessian_kinds(&self) -> &'static [HessianKind] {
        &[HessianKind::Exact]
    }
    fn known_minimum(&self) -> Option<f64> {
        Some(self.f_star)
    }
}

/// The chained Rosenbrock function `sum_i 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2`, from
/// `(-1.2, 1, -1.2, 1, ...)`; `f* = 0` at ones. Its exact Hessian is indefinite away from the
/// valley, which second-order methods must survive.
#[derive(Debug, Clone)]
pub struct Rosenbrock {
    n: usize,
}

impl Rosenbrock {
    /// Dimension `n >= 2`.
    pub fn new(n: usize) -> Self {
        Rosenbrock { n: n.max(2) }
    }
}

impl SmoothProblem for Rosenbrock {
    fn name(&self) -> &str {
        "rosenbrock"
    }
    fn dim(&self) -> usize {
        self.n
    }
    fn x0(&self) -> Vec<f64> {
        (0..self.n)
            .map(|i| if i % 2 == 0 { -1.2 } else { 1.0 })
            .collect()
    }
    fn value(&self, x: &[f64]) -> f64 {
        (0..self.n - 1)
            .map(|i| 100.0 * (x[i + 1] - x[i] * x[i]).powi(2) + (1.0 - x[i]).powi(2))
            .sum()
    }
    fn value_grad(&self, x: &[f64], g: &mut [f64]) -> f64 {
        g.iter_mut().for_each(|v| *v = 0.0);
        for i in 0..self.n - 1 {
            let t = x[i + 1] - x[i] * x[i];
            g[i] += -400.0 * x[i] * t - 2.0 * (1.0 - x[i]);
            g[i + 1] += 200.0 * t;
        }
        self.value(x)
    }
    fn hessian(&self, x: &[f64], kind: HessianKind) -> Result<Mat<f64>> {
        if kind != HessianKind::Exact {
            return Err(unsupported("rosenbrock", kind));
        }
        let mut h = Mat::<f64>::zeros(self.n, self.n);
        for i in 0..self.n - 1 {
            h[(i, i)] += 1200.0 * x[i] * x[i] - 400.0 * x[i + 1] + 2.0;
            h[(i + 1, i + 1)] += 200.0;
            h[(i, i + 1)] -= 400.0 * x[i];
            h[(i + 1, i)] -= 400.0 * x[i];
        }
        Ok(h)
    }
    fn hessian_kinds(&self) -> &'static [HessianKind] {
        &[HessianKind::Exact]
    }
    fn known_minimum(&self) -> Option<f64> {
        Some(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{gradient_error, hessian_error, symmetric_psd};

    fn points(n: usize) -> Vec<Vec<f64>> {
        let mut rng = optlab_core::seed::stream(11, "points");
        (0..2)
            .map(|_| (0..n).map(|_| rng.random_range(-0.5..0.5)).collect())
            .collect()
    }

    fn all() -> Vec<Box<dyn SmoothProblem>> {
        let digits_small = {
            let d = digits().unwrap();
            let idx: Vec<usize> = (0..120).collect();
            SoftmaxRegression::new("softmax-small", d.subset(&idx), 16.0, 1e-2)
        };
        vec![
            Box::new(LogisticRegression::breast_cancer(1e-3).unwrap()),
            Box::new(digits_small),
            Box::new(LogSumExp::new(12, 30, 0.5, 3)),
            Box::new(Quadratic::new(6)),
            Box::new(Rosenbrock::new(4)),
        ]
    }

    #[test]
    fn gradients_and_hessians_match_finite_differences() {
        for p in all() {
            for x in points(p.dim()) {
                let ge = gradient_error(p.as_ref(), &x, 1e-6);
                assert!(ge < 1e-6, "{}: gradient error {ge:e}", p.name());
                let he = hessian_error(p.as_ref(), &x, 1e-5).unwrap();
                assert!(he < 1e-5, "{}: Hessian error {he:e}", p.name());
            }
        }
    }

    #[test]
    fn approximations_are_symmetric_psd() {
        for p in all() {
            let x = &points(p.dim())[0];
            for &k in p.hessian_kinds() {
                if p.name() == "rosenbrock" {
                    continue;
                }
                let h = p.hessian(x, k).unwrap();
                let (asym, psd) = symmetric_psd(&h);
                assert!(
                    asym < 1e-12 && psd,
                    "{} {:?}: asym {asym:e}, psd {psd}",
                    p.name(),
                    k
                );
            }
        }
    }

    #[test]
    fn logsumexp_optimum_is_shifted_to_zero() {
        let p = LogSumExp::new(20, 20, 1.0, 3124);
        let mut g = vec![0.0; 20];
        let f0 = p.value_grad(&[0.0; 20], &mut g);
        assert!(optlab_linalg::norm2(&g) < 1e-14);
        assert_eq!(p.known_minimum(), Some(f0));
        assert!(p.value(&p.x0()) > f0);
    }

    #[test]
    fn gauss_newton_dominates_exact_for_logsumexp() {
        let p = LogSumExp::new(8, 10, 1.0, 1);
        let x = vec![0.3; 8];
        let gn = p.hessian(&x, HessianKind::GaussNewton).unwrap();
        let ex = p.hessian(&x, HessianKind::Exact).unwrap();
        let diff = Mat::from_fn(8, 8, |i, j| gn[(i, j)] - ex[(i, j)]);
        assert!(
            symmetric_psd(&diff).1,
            "GN - H must be PSD (it is a rank-one term)"
        );
    }

    #[test]
    fn unsupported_kinds_name_the_kind() {
        let p = Quadratic::new(3);
        let e = p
            .hessian(&[0.0; 3], HessianKind::Fisher)
            .unwrap_err()
            .to_string();
        assert!(e.contains("fisher") && e.contains("hessian"), "{e}");
    }

    #[test]
    fn logistic_matches_the_scipy_fixture() {
        let fx: serde_json::Value = serde_json::from_str(include_str!(
            "../../optlab-classic/tests/fixtures/logreg_breast_cancer.json"
        ))
        .unwrap();
        for case in fx["cases"].as_array().unwrap() {
            let mu = case["mu"].as_f64().unwrap();
            let p = LogisticRegression::breast_cancer(mu).unwrap();
            let w_test: Vec<f64> = fx["w_test"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            for (w, key) in [(vec![0.0; 31], "at_zero"), (w_test, "at_w_test")] {
                let mut g = vec![0.0; 31];
                let f = p.value_grad(&w, &mut g);
                let want_f = case[key]["f"].as_f64().unwrap();
                assert!(
                    (f - want_f).abs() < 1e-13 * want_f.abs().max(1.0),
                    "{key}: {f} vs {want_f}"
                );
                for (a, b) in g.iter().zip(case[key]["grad"].as_array().unwrap()) {
                    assert!((a - b.as_f64().unwrap()).abs() < 1e-13);
                }
                let h = p.hessian(&w, HessianKind::Exact).unwrap();
                for (i, b) in case[key]["hess_times_ones"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .enumerate()
                {
                    let hv: f64 = (0..31).map(|j| h[(i, j)]).sum();
                    assert!((hv - b.as_f64().unwrap()).abs() < 1e-12, "{key} Hv[{i}]");
                }
            }
        }
    }
}
