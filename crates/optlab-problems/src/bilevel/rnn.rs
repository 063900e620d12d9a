//! Hyper-representation learning with a small recurrent network: the upper level learns the
//! parameters of an Elman RNN encoder, the lower level fits a linear softmax head on its
//! features. The RNN makes the upper level `(L0, L1)`-smooth rather than `L`-smooth — the
//! setting BO-REP is built for.
//!
//! Each digits image (8 x 8, pixels scaled to [0, 1]) is read row by row as a length-8
//! sequence of 8 features: `h_t = tanh(W_ih u_t + W_hh h_{t-1} + b)`, `h_0 = 0`, features
//! `h_8`. `x = (W_ih, W_hh, b)`, `y = V ∈ R^{10 x (H + 1)}`;
//! lower `(1/n) Σ CE(V [h_i; 1], c_i) + (mu/2) ||V||²` on the training rows,
//! upper `(1/n_val) Σ CE(V [h_j; 1], c_j)` on the validation rows.
//!
//! Derivatives are exact (hand-written backpropagation through time, f64): burn's autodiff
//! has no mixed second-order products, and the classic methods stay burn-free.

use super::{Bilevel, Sample, ValueGrad, check_dims, expect_len, split_indices};
use crate::data::{Dataset, digits};
use crate::softmax::{add_outer, argmax, back_features, hess_logits, logits, probs_ce, residual};
use optlab_core::config::{at_least_one, positive};
use optlab_core::seed::stream;
use optlab_core::{Error, Result};
use rand::Rng as _;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

const STEPS: usize = 8;
const INPUT: usize = 8;

/// `hyper-rep-rnn` options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RnnSpec {
    /// `"hyper-rep-rnn"`.
    pub name: String,
    /// Hidden units `H`.
    pub hidden: usize,
    /// Training rows (lower level).
    pub n_train: usize,
    /// Validation rows (upper level); the rest are the test set.
    pub n_val: usize,
    /// Lower-level ridge weight on the head.
    pub mu: f64,
    /// Seed of the split and of the RNN's initial weights.
    pub seed: u64,
}

impl Default for RnnSpec {
    fn default() -> Self {
        RnnSpec {
            name: "hyper-rep-rnn".into(),
            hidden: 32,
            n_train: 600,
            n_val: 400,
            mu: 1e-2,
            seed: 0,
        }
    }
}

/// The hyper-representation problem (see the module docs).
#[derive(Debug, Clone)]
pub struct HyperRep {
    train: Dataset,
    val: Dataset,
    test: Dataset,
    hidden: usize,
    mu: f64,
    c: usize,
    x0: Vec<f64>,
}

/// Views of the RNN parameter vector.
struct Params<'a> {
    w_ih: &'a [f64],
    w_hh: &'a [f64],
    b: &'a [f64],
}

impl HyperRep {
    /// The problem on digits.
    pub fn new(spec: &RnnSpec) -> Result<Self> {
        at_least_one("problem.hidden", spec.hidden as u64)?;
        if spec.hidden > 4096 {
            return Err(Error::config(
                "problem.hidden",
                format!("must be <= 4096, got {}", spec.hidden),
            ));
        }
        positive("problem.mu", spec.mu)?;
        let mut data = digits()?;
        data.scale(16.0);
        let mut rng = stream(spec.seed, "hyper-rep-rnn");
        let [tr, va, te] = split_indices(data.len(), spec.n_train, spec.n_val, &mut rng)?;
        let h = spec.hidden;
        let bound = 1.0 / (h as f64).sqrt();
        let n_params = h * INPUT + h * h + h;
        let x0 = (0..n_params)
            .map(|_| rng.random_range(-bound..bound))
            .collect();
        Ok(HyperRep {
            train: data.subset(&tr),
            val: data.subset(&va),
            test: data.subset(&te),
            hidden: h,
            mu: spec.mu,
            c: data.n_classes,
            x0,
        })
    }

    fn params<'a>(&self, x: &'a [f64]) -> Params<'a> {
        let h = self.hidden;
        let (w_ih, rest) = x.split_at(h * INPUT);
        let (w_hh, b) = rest.split_at(h * h);
        Params { w_ih, w_hh, b }
    }

    fn dim_head(&self) -> usize {
        self.c * (self.hidden + 1)
    }

    /// Hidden states `h_0 .. h_8` of one image (`(STEPS + 1) * H`).
    fn forward(&self, p: &Params, u: &[f64]) -> Vec<f64> {
        let h = self.hidden;
        let mut hs = vec![0.0; (STEPS + 1) * h];
        for t in 0..STEPS {
            let ut = &u[t * INPUT..(t + 1) * INPUT];
            let (prev, next) = hs.split_at_mut((t + 1) * h);
            let prev = &prev[t * h..];
            for i in 0..h {
                let mut s = p.b[i];
                s += p.w_ih[i * INPUT..(i + 1) * INPUT]
                    .iter()
                    .zip(ut)
                    .map(|(a, b)| a * b)
                    .sum::<f64>();
                s += p.w_hh[i * h..(i + 1) * h]
                    .iter()
                    .zip(prev)
                    .map(|(a, b)| a * b)
                    .sum::<f64>();
                next[i] = s.tanh();
            }
        }
        hs
    }

    /// Accumulate into `g` the gradient with respect to the RNN parameters of `<dh, h_8>`.
    fn backward(&self, p: &Params, u: &[f64], hs: &[f64], dh: &[f64], g: &mut [f64]) {
        let h = self.hidden;
        let (g_ih, rest) = g.split_at_mut(h * INPUT);
        let (g_hh, g_b) = rest.split_at_mut(h * h);
        let mut delta = dh.to_vec();
        let mut pre = vec![0.0; h];
        for t in (0..STEPS).rev() {
            let ht = &hs[(t + 1) * h..(t + 2) * h];
            let hp = &hs[t * h..(t + 1) * h];
            let ut = &u[t * INPUT..(t + 1) * INPUT];
            for i in 0..h {
                pre[i] = delta[i] * (1.0 - ht[i] * ht[i]);
            }
            for i in 0..h {
                let d = pre[i];
                g_b[i] += d;
                g_ih[i * INPUT..(i + 1) * INPUT]
                    .iter_mut()
                    .zip(ut)
                    .for_each(|(a, b)| *a += d * b);
                g_hh[i * h..(i + 1) * h]
                    .iter_mut()
                    .zip(hp)
                    .for_each(|(a, b)| *a += d * b);
            }
            delta.iter_mut().for_each(|v| *v = 0.0);
            for i in 0..h {
                let d = pre[i];
                delta
                    .iter_mut()
                    .zip(&p.w_hh[i * h..(i + 1) * h])
                    .for_each(|(a, b)| *a += d * b);
            }
        }
    }

    /// Run `rows` of `d` through the RNN and the head `v`, calling `f` with each row's result.
    fn for_rows(&self, p: &Params, v: &[f64], d: &Dataset, rows: &[usize], mut f: impl FnMut(Row)) {
        let h = self.hidden;
        for &i in rows {
            let u = d.row(i);
            let hs = self.forward(p, u);
            let z = logits(v, self.c, &hs[STEPS * h..]);
            let (pr, ce) = probs_ce(&z, d.y[i]);
            f(Row {
                u,
                hs: &hs,
                features: &hs[STEPS * h..],
                logits: &z,
                probs: &pr,
                ce,
                label: d.y[i],
            });
        }
    }

    /// Cross-entropy (mean over `rows` of `d`) and its gradients in the RNN parameters and the
    /// head.
    fn ce_grad(&self, x: &[f64], v: &[f64], d: &Dataset, rows: &[usize]) -> ValueGrad {
        let p = self.params(x);
        let scale = 1.0 / rows.len() as f64;
        let (mut val, mut gx, mut gy) = (0.0, vec![0.0; x.len()], vec![0.0; v.len()]);
        self.for_rows(&p, v, d, rows, |row| {
            val += scale * row.ce;
            let r = residual(row.probs, row.label);
            add_outer(&mut gy, scale, &r, row.features);
            let dh: Vec<f64> = back_features(v, self.hidden, &r)
                .into_iter()
                .map(|t| scale * t)
                .collect();
            self.backward(&p, row.u, row.hs, &dh, &mut gx);
        });
        (val, gx, gy)
    }

    fn loss_acc(&self, x: &[f64], v: &[f64], d: &Dataset) -> (f64, f64) {
        let p = self.params(x);
        let (mut loss, mut hits) = (0.0, 0usize);
        let all: Vec<usize> = (0..d.len()).collect();
        self.for_rows(&p, v, d, &all, |row| {
            loss += row.ce;
            hits += usize::from(argmax(row.logits) == row.label);
        });
        (loss / d.len() as f64, hits as f64 / d.len() as f64)
    }
}

/// One row's pass through the RNN and the head.
struct Row<'a> {
    u: &'a [f64],
    hs: &'a [f64],
    features: &'a [f64],
    logits: &'a [f64],
    probs: &'a [f64],
    ce: f64,
    label: usize,
}

impl Bilevel for HyperRep {
    fn name(&self) -> String {
        format!("hyper-rep-rnn(H={})", self.hidden)
    }
    fn dim_x(&self) -> usize {
        self.x0.len()
    }
    fn dim_y(&self) -> usize {
        self.dim_head()
    }
    fn n_upper(&self) -> usize {
        self.val.len()
    }
    fn n_lower(&self) -> usize {
        self.train.len()
    }
    fn start(&self) -> (Vec<f64>, Vec<f64>) {
        (self.x0.clone(), vec![0.0; self.dim_head()])
    }

    fn upper(&self, x: &[f64], y: &[f64], s: &Sample) -> Result<ValueGrad> {
        check_dims(self, x, y)?;
        Ok(self.ce_grad(x, y, &self.val, &s.rows(self.val.len())?))
    }

    /// The value alone: forward passes only (the same sum as [`Bilevel::upper`]'s value).
    fn upper_value(&self, x: &[f64], y: &[f64], s: &Sample) -> Result<f64> {
        check_dims(self, x, y)?;
        let rows = s.rows(self.val.len())?;
        let scale = 1.0 / rows.len() as f64;
        let mut val = 0.0;
        self.for_rows(&self.params(x), y, &self.val, &rows, |row| {
            val += scale * row.ce
        });
        Ok(val)
    }

    fn lower(&self, x: &[f64], y: &[f64], s: &Sample) -> Result<ValueGrad> {
        check_dims(self, x, y)?;
        let (val, gx, mut gy) = self.ce_grad(x, y, &self.train, &s.rows(self.train.len())?);
        gy.iter_mut().zip(y).for_each(|(g, w)| *g += self.mu * w);
        let reg = 0.5 * self.mu * y.iter().map(|w| w * w).sum::<f64>();
        Ok((val + reg, gx, gy))
    }

    fn lower_hvp_yy(&self, x: &[f64], y: &[f64], v: &[f64], s: &Sample) -> Result<Vec<f64>> {
        check_dims(self, x, y)?;
        expect_len("direction v", v, self.dim_head())?;
        let rows = s.rows(self.train.len())?;
        let scale = 1.0 / rows.len() as f64;
        let mut out: Vec<f64> = v.iter().map(|a| self.mu * a).collect();
        self.for_rows(&self.params(x), y, &self.train, &rows, |row| {
            let hz = hess_logits(row.probs, &logits(v, self.c, row.features));
            add_outer(&mut out, scale, &hz, row.features);
        });
        Ok(out)
    }

    fn lower_jvp_xy(&self, x: &[f64], y: &[f64], v: &[f64], s: &Sample) -> Result<Vec<f64>> {
        check_dims(self, x, y)?;
        expect_len("direction v", v, self.dim_head())?;
        let p = self.params(x);
        let h = self.hidden;
        let rows = s.rows(self.train.len())?;
        let scale = 1.0 / rows.len() as f64;
        let mut out = vec![0.0; x.len()];
        self.for_rows(&p, y, &self.train, &rows, |row| {
            let r = residual(row.probs, row.label);
            // d/dt of the feature gradient V_tᵀ (p(V_t a) - e) at V_t = y + t v.
            let hv = hess_logits(row.probs, &logits(v, self.c, row.features));
            let dh: Vec<f64> = back_features(v, h, &r)
                .iter()
                .zip(back_features(y, h, &hv))
                .map(|(s1, s2)| scale * (s1 + s2))
                .collect();
            self.backward(&p, row.u, row.hs, &dh, &mut out);
        });
        Ok(out)
    }

    fn project_joint(&self, x: &mut [f64], y: &mut [f64]) -> Result<()> {
        check_dims(self, x, y)
    }

    fn evaluate(&self, x: &[f64], y: &[f64]) -> Result<BTreeMap<String, f64>> {
        check_dims(self, x, y)?;
        let mut m = BTreeMap::new();
        let (val_loss, val_acc) = self.loss_acc(x, y, &self.val);
        let (test_loss, test_acc) = self.loss_acc(x, y, &self.test);
        m.insert("val_loss".into(), val_loss);
        m.insert("val_acc".into(), val_acc);
        m.insert("test_loss".into(), test_loss);
        m.insert("test_acc".into(), test_acc);
        Ok(m)
    }
}
