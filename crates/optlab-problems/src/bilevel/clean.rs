//! Data hyper-cleaning on digits: a fraction of the training labels is flipped; the upper
//! level learns one weight `sigmoid(lambda_i)` per training row so that the lower-level
//! weighted multinomial logistic regression does well on a clean validation set.
//!
//! `x = lambda ∈ R^{n_train}`, `y = W ∈ R^{10 x 65}`,
//! lower `(1/n) Σ sigmoid(lambda_i) CE_i(W) + (mu/2) ||W||²` (strongly convex in `W`),
//! upper `(1/n_val) Σ CE_j(W)` on the clean validation rows.

use super::{Bilevel, Sample, ValueGrad, check_dims, expect_len, split_indices};
use crate::data::{Dataset, digits};
use crate::softmax::{add_outer, argmax, hess_logits, logits, probs_ce, residual, sigmoid};
use optlab_core::config::{in_unit_interval, positive};
use optlab_core::seed::stream;
use optlab_core::{Error, Result};
use rand::Rng as _;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `hyper-clean` options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CleanSpec {
    /// `"hyper-clean"`.
    pub name: String,
    /// Fraction of training labels replaced by a different, uniformly drawn class.
    pub corrupt: f64,
    /// Training rows (the rest after validation are the test set).
    pub n_train: usize,
    /// Clean validation rows.
    pub n_val: usize,
    /// Lower-level ridge weight `mu`.
    pub mu: f64,
    /// Seed of the split and of the corruption.
    pub seed: u64,
}

impl Default for CleanSpec {
    fn default() -> Self {
        CleanSpec {
            name: "hyper-clean".into(),
            corrupt: 0.4,
            n_train: 1000,
            n_val: 300,
            mu: 1e-3,
            seed: 0,
        }
    }
}

/// The hyper-cleaning problem (see the module docs).
#[derive(Debug, Clone)]
pub struct HyperClean {
    train: Dataset,
    val: Dataset,
    test: Dataset,
    /// Which training rows had their label flipped.
    pub corrupted: Vec<bool>,
    mu: f64,
    c: usize,
    k: usize,
}

impl HyperClean {
    /// Split digits (pixels scaled to [0, 1]) and corrupt the training labels.
    pub fn new(spec: &CleanSpec) -> Result<Self> {
        let mut data = digits()?;
        data.scale(16.0);
        Self::from_dataset(data, spec)
    }

    /// The problem on any labelled data set (features used as given).
    pub fn from_dataset(data: Dataset, spec: &CleanSpec) -> Result<Self> {
        in_unit_interval("problem.corrupt", spec.corrupt)?;
        positive("problem.mu", spec.mu)?;
        if data.n_classes < 2 {
            return Err(Error::config(
                "problem",
                "hyper-cleaning needs >= 2 classes",
            ));
        }
        let mut rng = stream(spec.seed, "hyper-clean");
        let [tr, va, te] = split_indices(data.len(), spec.n_train, spec.n_val, &mut rng)?;
        let mut train = data.subset(&tr);
        let val = data.subset(&va);
        let test = data.subset(&te);
        let n_bad = (spec.corrupt * spec.n_train as f64).round() as usize;
        let mut rows: Vec<usize> = (0..spec.n_train).collect();
        rows.shuffle(&mut rng);
        let mut corrupted = vec![false; spec.n_train];
        let c = data.n_classes;
        for &i in &rows[..n_bad] {
            let shift = rng.random_range(1..c);
            train.y[i] = (train.y[i] + shift) % c;
            corrupted[i] = true;
        }
        Ok(HyperClean {
            k: data.n_features,
            train,
            val,
            test,
            corrupted,
            mu: spec.mu,
            c,
        })
    }

    fn dim_w(&self) -> usize {
        self.c * (self.k + 1)
    }

    /// Mean cross-entropy and accuracy of `W` on a data set.
    fn loss_acc(&self, w: &[f64], d: &Dataset) -> (f64, f64) {
        let (mut loss, mut hits) = (0.0, 0usize);
        for i in 0..d.len() {
            let z = logits(w, self.c, d.row(i));
            loss += probs_ce(&z, d.y[i]).1;
            hits += usize::from(argmax(&z) == d.y[i]);
        }
        (loss / d.len() as f64, hits as f64 / d.len() as f64)
    }
}

impl Bilevel for HyperClean {
    fn name(&self) -> String {
        "hyper-clean(digits)".into()
    }
    fn dim_x(&self) -> usize {
        self.train.len()
    }
    fn dim_y(&self) -> usize {
        self.dim_w()
    }
    fn n_upper(&self) -> usize {
        self.val.len()
    }
    fn n_lower(&self) -> usize {
        self.train.len()
    }
    fn start(&self) -> (Vec<f64>, Vec<f64>) {
        (vec![0.0; self.dim_x()], vec![0.0; self.dim_w()])
    }

    fn upper(&self, x: &[f64], y: &[f64], s: &Sample) -> Result<ValueGrad> {
        check_dims(self, x, y)?;
        let rows = s.rows(self.val.len())?;
        let scale = 1.0 / rows.len() as f64;
        let (mut val, mut gy) = (0.0, vec![0.0; self.dim_w()]);
        for &i in &rows {
            let a = self.val.row(i);
            let (p, ce) = probs_ce(&logits(y, self.c, a), self.val.y[i]);
            val += scale * ce;
            add_outer(&mut gy, scale, &residual(&p, self.val.y[i]), a);
        }
        Ok((val, vec![0.0; x.len()], gy))
    }

    fn lower(&self, x: &[f64], y: &[f64], s: &Sample) -> Result<ValueGrad> {
        check_dims(self, x, y)?;
        let rows = s.rows(self.train.len())?;
        let scale = 1.0 / rows.len() as f64;
        let mut gx = vec![0.0; x.len()];
        let mut gy: Vec<f64> = y.iter().map(|w| self.mu * w).collect();
        let mut val = 0.5 * self.mu * y.iter().map(|w| w * w).sum::<f64>();
        for &i in &rows {
            let a = self.train.row(i);
            let (p, ce) = probs_ce(&logits(y, self.c, a), self.train.y[i]);
            let sg = sigmoid(x[i]);
            val += scale * sg * ce;
            gx[i] = scale * sg * (1.0 - sg) * ce;
            add_outer(&mut gy, scale * sg, &residual(&p, self.train.y[i]), a);
        }
        Ok((val, gx, gy))
    }

    fn lower_hvp_yy(&self, x: &[f64], y: &[f64], v: &[f64], s: &Sample) -> Result<Vec<f64>> {
        check_dims(self, x, y)?;
        expect_len("direction v", v, self.dim_w())?;
        let rows = s.rows(self.train.len())?;
        let scale = 1.0 / rows.len() as f64;
        let mut out: Vec<f64> = v.iter().map(|a| self.mu * a).collect();
        for &i in &rows {
            let a = self.train.row(i);
            let (p, _) = probs_ce(&logits(y, self.c, a), self.train.y[i]);
            let hz = hess_logits(&p, &logits(v, self.c, a));
            add_outer(&mut out, scale * sigmoid(x[i]), &hz, a);
        }
        Ok(out)
    }

    fn lower_jvp_xy(&self, x: &[f64], y: &[f64], v: &[f64], s: &Sample) -> Result<Vec<f64>> {
        check_dims(self, x, y)?;
        expect_len("direction v", v, self.dim_w())?;
        let rows = s.rows(self.train.len())?;
        let scale = 1.0 / rows.len() as f64;
        let mut out = vec![0.0; x.len()];
        for &i in &rows {
            let a = self.train.row(i);
            let (p, _) = probs_ce(&logits(y, self.c, a), self.train.y[i]);
            let r = residual(&p, self.train.y[i]);
            let vz = logits(v, self.c, a);
            let sg = sigmoid(x[i]);
            out[i] = scale * sg * (1.0 - sg) * r.iter().zip(&vz).map(|(a, b)| a * b).sum::<f64>();
        }
        Ok(out)
    }

    fn project_joint(&self, x: &mut [f64], y: &mut [f64]) -> Result<()> {
        check_dims(self, x, y)
    }

    fn evaluate(&self, x: &[f64], y: &[f64]) -> Result<BTreeMap<String, f64>> {
        check_dims(self, x, y)?;
        let mut m = BTreeMap::new();
        let (val_loss, val_acc) = self.loss_acc(y, &self.val);
        let (test_loss, test_acc) = self.loss_acc(y, &self.test);
        m.insert("val_loss".into(), val_loss);
        m.insert("val_acc".into(), val_acc);
        m.insert("test_loss".into(), test_loss);
        m.insert("test_acc".into(), test_acc);
        // Detection of the corrupted rows: flagged when the learned weight is below 1/2.
        let flagged: Vec<bool> = x.iter().map(|l| *l < 0.0).collect();
        let tp = flagged
            .iter()
            .zip(&self.corrupted)
            .filter(|(f, c)| **f && **c)
            .count() as f64;
        let n_flag = flagged.iter().filter(|f| **f).count() as f64;
        let n_bad = self.corrupted.iter().filter(|c| **c).count() as f64;
        m.insert(
            "precision".into(),
            if n_flag > 0.0 { tp / n_flag } else { 0.0 },
        );
        m.insert("recall".into(), if n_bad > 0.0 { tp / n_bad } else { 0.0 });
        Ok(m)
    }
}
