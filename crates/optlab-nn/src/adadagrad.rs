//! AdAdaGrad training (Lau, Liu, Kolar 2024): AdaGrad or AdaGrad-Norm whose batch size is
//! chosen after every step by an adaptive-sampling test on the per-sample gradients of the
//! batch just used. Training length is counted in samples, not steps.
//!
//! The model is multinomial logistic regression on digits (pixels / 16 plus a bias; convex,
//! and per-sample gradients are outer products `(p_i - e_i) [x_i; 1]ᵀ`), in f64. Batches are
//! drawn without replacement within an epoch, also when the batch size changes mid-epoch: a
//! batch that runs past the end of the epoch's permutation continues with the next epoch's.

use crate::adagrad::{
    AdaGradConfig, AdaGradConvention, AdaGradNormConfig, AdaGradNormState, AdaGradState,
};
use crate::batch_size::{BatchController, BatchRule};
use optlab_core::config::{at_least_one, positive};
use optlab_core::driver::{Solver, StepReport};
use optlab_core::seed::stream;
use optlab_core::{Error, MethodConfig, OracleCounts, Result, RunContext, Status};
use optlab_problems::data::{digits, stratified_split};
use optlab_problems::softmax::{add_outer, logits, probs_ce, residual};
use rand::Rng as _;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Which update rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AdaOptimizer {
    /// Coordinate-wise AdaGrad.
    Adagrad,
    /// Scalar AdaGrad-Norm.
    AdagradNorm,
}

/// Which batch-size test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TestKind {
    /// Fixed batch size.
    Constant,
    /// Norm test (`eta`).
    Norm,
    /// Inner-product test (`theta`).
    InnerProduct,
    /// Orthogonality test alone (`nu`).
    Orthogonality,
    /// Augmented inner-product test (`theta`, `nu`).
    Augmented,
}

/// AdAdaGrad settings. Defaults: the reference code's (AdaGrad with torch conventions, norm
/// test with `eta = 0.1` from a batch of 2) and the papers file's digits budget (150 epochs of
/// samples).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdAdaGradConfig {
    /// `adagrad` or `adagrad-norm`.
    pub optimizer: AdaOptimizer,
    /// Learning rate.
    pub lr: f64,
    /// AdaGrad's convention: `torch` or `optax`.
    pub convention: AdaGradConvention,
    /// AdaGrad-Norm's `b_0²`.
    pub b0_sq: f64,
    /// Initial batch size.
    pub batch: usize,
    /// `constant`, `norm`, `inner-product` or `augmented`.
    pub test: TestKind,
    /// Norm-test accuracy.
    pub eta: f64,
    /// Inner-product-test accuracy.
    pub theta: f64,
    /// Orthogonality-test accuracy.
    pub nu: f64,
    /// Batch-size cap (0: the training-set size).
    pub max_batch: usize,
    /// Training budget in samples.
    pub max_samples: u64,
    /// Evaluate the full training loss and the test accuracy every this many samples.
    pub eval_every_samples: u64,
}

impl Default for AdAdaGradConfig {
    fn default() -> Self {
        AdAdaGradConfig {
            optimizer: AdaOptimizer::Adagrad,
            lr: 0.03,
            convention: AdaGradConvention::Torch,
            b0_sq: 1e-2,
            batch: 2,
            test: TestKind::Norm,
            eta: 0.1,
            theta: 0.1,
            nu: 0.1,
            max_batch: 0,
            max_samples: 150 * 1437,
            eval_every_samples: 1437,
        }
    }
}

impl MethodConfig for AdAdaGradConfig {
    fn validate(&self) -> Result<()> {
        positive("lr", self.lr)?;
        positive("b0_sq", self.b0_sq)?;
        at_least_one("batch", self.batch as u64)?;
        at_least_one("max_samples", self.max_samples)?;
        at_least_one("eval_every_samples", self.eval_every_samples)?;
        self.rule().map(|_| ())
    }
}

impl AdAdaGradConfig {
    /// The batch rule.
    pub fn rule(&self) -> Result<BatchRule> {
        let check = |f: &str, v: f64| positive(f, v);
        Ok(match self.test {
            TestKind::Constant => BatchRule::Constant,
            TestKind::Norm => {
                check("eta", self.eta)?;
                BatchRule::Norm { eta: self.eta }
            }
            TestKind::InnerProduct => {
                check("theta", self.theta)?;
                BatchRule::InnerProduct { theta: self.theta }
            }
            TestKind::Orthogonality => {
                check("nu", self.nu)?;
                BatchRule::Orthogonality { nu: self.nu }
            }
            TestKind::Augmented => {
                check("theta", self.theta)?;
                check("nu", self.nu)?;
                BatchRule::Augmented {
                    theta: self.theta,
                    nu: self.nu,
                }
            }
        })
    }
}

/// Digits for softmax regression (`hidden = 0`) or a one-hidden-layer tanh network
/// (`hidden > 0`): features / 16, stratified 80/20 split. Per-sample gradients are exact and
/// hand-written in f64 (the batch-size tests need every sample's gradient, which one burn
/// backward pass per sample would make far slower).
#[derive(Debug, Clone)]
pub struct SoftmaxData {
    /// Training features, row-major.
    pub x: Vec<f64>,
    /// Training labels.
    pub y: Vec<usize>,
    /// Test features.
    pub x_test: Vec<f64>,
    /// Test labels.
    pub y_test: Vec<usize>,
    /// Features.
    pub d: usize,
    /// Classes.
    pub c: usize,
    /// Hidden tanh units (0: softmax regression). Parameters: `W1` (`hidden x (d + 1)`, bias
    /// last in each row), then `W2` (`c x (hidden + 1)`).
    pub hidden: usize,
}

impl SoftmaxData {
    /// Digits, split with `split_seed` (1437 train / 360 test).
    pub fn digits(split_seed: u64) -> Result<Self> {
        let data = digits()?;
        let (tr, te) = stratified_split(&data.y, data.n_classes, 0.2, split_seed)?;
        let take = |idx: &[usize]| -> (Vec<f64>, Vec<usize>) {
            let s = data.subset(idx);
            (s.x.iter().map(|v| v / 16.0).collect(), s.y)
        };
        let (x, y) = take(&tr);
        let (x_test, y_test) = take(&te);
        Ok(SoftmaxData {
            x,
            y,
            x_test,
            y_test,
            d: data.n_features,
            c: data.n_classes,
            hidden: 0,
        })
    }

    /// The MNIST-like set ([`optlab_problems::data::mnist_like`]): digits split 80/20 with
    /// `split_seed`, then each split's images distorted `copies` times into 16×16 images (256
    /// features in [0, 1]); 1437·copies training and 360·copies test rows.
    pub fn mnist_like(split_seed: u64, copies: usize) -> Result<Self> {
        let data = digits()?;
        let (tr, te) = stratified_split(&data.y, data.n_classes, 0.2, split_seed)?;
        let train = optlab_problems::data::mnist_like(&data.subset(&tr), copies, split_seed)?;
        let test = optlab_problems::data::mnist_like(
            &data.subset(&te),
            copies,
            split_seed.wrapping_add(0x7e57),
        )?;
        Ok(SoftmaxData {
            x: train.x,
            y: train.y,
            x_test: test.x,
            y_test: test.y,
            d: train.n_features,
            c: train.n_classes,
            hidden: 0,
        })
    }

    /// Test rows.
    pub fn n_test(&self) -> usize {
        self.y_test.len()
    }

    /// The same data for a network with `hidden` tanh units (0: softmax regression).
    pub fn with_hidden(mut self, hidden: usize) -> Self {
        self.hidden = hidden;
        self
    }

    /// Initial parameters: zeros for softmax regression; for the network, weights
    /// `U(±1/sqrt(fan_in))` (PyTorch's `nn.Linear` bound) from a stream of `seed`, biases 0.
    pub fn init(&self, seed: u64) -> Vec<f64> {
        let mut w = vec![0.0; self.dim()];
        if self.hidden > 0 {
            let mut rng = stream(seed, "adadagrad-init");
            let (d, h) = (self.d, self.hidden);
            let layers = [(0, h, d), (h * (d + 1), self.c, h)];
            for (off, rows, fan_in) in layers {
                let bound = 1.0 / (fan_in as f64).sqrt();
                for j in 0..rows {
                    for k in 0..fan_in {
                        w[off + j * (fan_in + 1) + k] = rng.random_range(-bound..bound);
                    }
                }
            }
        }
        w
    }

    /// Training rows.
    pub fn n(&self) -> usize {
        self.y.len()
    }

    /// Number of parameters.
    pub fn dim(&self) -> usize {
        if self.hidden == 0 {
            self.c * (self.d + 1)
        } else {
            self.hidden * (self.d + 1) + self.c * (self.hidden + 1)
        }
    }

    /// Hidden activations (empty for softmax regression), probabilities and cross-entropy of
    /// one row.
    fn forward(&self, w: &[f64], row: &[f64], label: usize) -> (Vec<f64>, Vec<f64>, f64) {
        if self.hidden == 0 {
            let (p, ce) = probs_ce(&logits(w, self.c, row), label);
            return (Vec::new(), p, ce);
        }
        let split = self.hidden * (self.d + 1);
        let a: Vec<f64> = logits(&w[..split], self.hidden, row)
            .into_iter()
            .map(f64::tanh)
            .collect();
        let (p, ce) = probs_ce(&logits(&w[split..], self.c, &a), label);
        (a, p, ce)
    }

    /// The per-sample gradient of row `i` written into `g`; returns its cross-entropy.
    pub fn sample_grad(&self, w: &[f64], i: usize, g: &mut [f64]) -> f64 {
        let d = self.d;
        let row = &self.x[i * d..(i + 1) * d];
        let (a, p, ce) = self.forward(w, row, self.y[i]);
        g.iter_mut().for_each(|v| *v = 0.0);
        let r = residual(&p, self.y[i]);
        if self.hidden == 0 {
            add_outer(g, 1.0, &r, row);
            return ce;
        }
        let h = self.hidden;
        let split = h * (d + 1);
        let (g1, g2) = g.split_at_mut(split);
        add_outer(g2, 1.0, &r, &a);
        // Back through W2 (c x (h + 1)) and tanh.
        let delta: Vec<f64> = (0..h)
            .map(|k| {
                let back: f64 = (0..self.c).map(|j| r[j] * w[split + j * (h + 1) + k]).sum();
                back * (1.0 - a[k] * a[k])
            })
            .collect();
        add_outer(g1, 1.0, &delta, row);
        ce
    }

    /// Mean cross-entropy on the training set and accuracy on the test set.
    pub fn evaluate(&self, w: &[f64]) -> (f64, f64) {
        let d = self.d;
        let train: f64 = (0..self.n())
            .map(|i| self.forward(w, &self.x[i * d..(i + 1) * d], self.y[i]).2)
            .sum::<f64>()
            / self.n() as f64;
        let hits = (0..self.y_test.len())
            .filter(|&i| {
                let (_, p, _) = self.forward(w, &self.x_test[i * d..(i + 1) * d], self.y_test[i]);
                let best = (0..self.c)
                    .max_by(|&a, &b| p[a].total_cmp(&p[b]))
                    .unwrap_or(0);
                best == self.y_test[i]
            })
            .count();
        (train, hits as f64 / self.y_test.len().max(1) as f64)
    }
}

/// The update rule's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum OptState {
    /// AdaGrad's accumulators.
    Adagrad(AdaGradState<f64>),
    /// AdaGrad-Norm's scalar.
    AdagradNorm(AdaGradNormState),
}

/// Resumable AdAdaGrad state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdAdaGradState {
    /// Weights `c x (d + 1)`.
    pub w: Vec<f64>,
    /// The optimizer's state.
    pub opt: OptState,
    /// The batch size of the next step.
    pub batch: usize,
    /// Samples consumed.
    pub samples: u64,
    /// Optimizer steps taken.
    pub steps: u64,
    /// The current epoch's permutation and position in it.
    pub perm: Vec<usize>,
    /// Position in `perm`.
    pub pos: usize,
    /// Epochs started.
    pub epoch: u64,
    /// Run seed.
    pub seed: u64,
    /// Last full training loss / test accuracy.
    pub train_loss: f64,
    /// Last test accuracy.
    pub test_acc: f64,
}

/// AdAdaGrad on digits softmax regression.
pub struct AdAdaGrad {
    cfg: AdAdaGradConfig,
    data: SoftmaxData,
    controller: BatchController,
}

impl AdAdaGrad {
    /// The trainer.
    pub fn new(cfg: AdAdaGradConfig, data: SoftmaxData) -> Result<Self> {
        cfg.validate()?;
        let cap = if cfg.max_batch == 0 {
            data.n()
        } else {
            cfg.max_batch
        };
        if cap > data.n() {
            return Err(Error::config(
                "max_batch",
                format!("{cap} exceeds the {} training rows", data.n()),
            ));
        }
        let controller = BatchController::new(cfg.rule()?, cfg.batch, cap)?;
        Ok(AdAdaGrad {
            cfg,
            data,
            controller,
        })
    }

    fn permutation(&self, seed: u64, epoch: u64) -> Vec<usize> {
        let mut p: Vec<usize> = (0..self.data.n()).collect();
        p.shuffle(&mut stream(seed, &format!("adadagrad-epoch-{epoch}")));
        p
    }

    /// The next `b` rows without replacement within epochs.
    fn draw(&self, s: &mut AdAdaGradState, b: usize) -> Vec<usize> {
        let mut rows = Vec::with_capacity(b);
        while rows.len() < b {
            if s.pos >= s.perm.len() {
                s.epoch += 1;
                s.perm = self.permutation(s.seed, s.epoch);
                s.pos = 0;
            }
            let take = (b - rows.len()).min(s.perm.len() - s.pos);
            rows.extend_from_slice(&s.perm[s.pos..s.pos + take]);
            s.pos += take;
        }
        rows
    }

    fn metrics(&self, s: &AdAdaGradState, loss: f64) -> BTreeMap<String, f64> {
        let mut m = BTreeMap::new();
        m.insert("batch".into(), s.batch as f64);
        m.insert("samples".into(), s.samples as f64);
        m.insert("batch_loss".into(), loss);
        let lr_eff = match &s.opt {
            OptState::Adagrad(_) => self.cfg.lr,
            OptState::AdagradNorm(st) => self.cfg.lr / st.b_sq.sqrt(),
        };
        m.insert("lr_eff".into(), lr_eff);
        m.insert("train_loss".into(), s.train_loss);
        m.insert("test_acc".into(), s.test_acc);
        m
    }
}

impl Solver for AdAdaGrad {
    type State = AdAdaGradState;

    fn init(&mut self, ctx: &mut RunContext) -> Result<AdAdaGradState> {
        let dim = self.data.dim();
        let w = self.data.init(ctx.seed());
        let (train_loss, test_acc) = self.data.evaluate(&w);
        let opt = match self.cfg.optimizer {
            AdaOptimizer::Adagrad => {
                OptState::Adagrad(AdaGradState::new(&[dim], self.cfg.convention))
            }
            AdaOptimizer::AdagradNorm => {
                OptState::AdagradNorm(AdaGradNormState::new(&AdaGradNormConfig {
                    lr: self.cfg.lr,
                    b0_sq: self.cfg.b0_sq,
                })?)
            }
        };
        Ok(AdAdaGradState {
            w,
            opt,
            batch: self.cfg.batch.min(self.controller.cap),
            samples: 0,
            steps: 0,
            perm: self.permutation(ctx.seed(), 0),
            pos: 0,
            epoch: 0,
            seed: ctx.seed(),
            train_loss,
            test_acc,
        })
    }

    fn initial_metrics(&mut self, s: &AdAdaGradState) -> BTreeMap<String, f64> {
        self.metrics(s, s.train_loss)
    }

    fn converged(&self, s: &AdAdaGradState) -> Option<Status> {
        (s.samples >= self.cfg.max_samples).then_some(Status::Finished)
    }

    fn step(&mut self, s: &mut AdAdaGradState, _ctx: &mut RunContext) -> Result<StepReport> {
        let b = s.batch;
        let rows = self.draw(s, b);
        let dim = self.data.dim();
        let testing = self.cfg.test != TestKind::Constant && b < self.controller.cap;
        let mut mean = vec![0.0; dim];
        let mut per_sample: Vec<Vec<f64>> = Vec::new();
        let mut loss = 0.0;
        let mut g = vec![0.0; dim];
        for &i in &rows {
            loss += self.data.sample_grad(&s.w, i, &mut g) / b as f64;
            mean.iter_mut()
                .zip(&g)
                .for_each(|(m, v)| *m += v / b as f64);
            if testing {
                per_sample.push(g.clone());
            }
        }
        // The step, then the test on the same batch's per-sample gradients (taken at the
        // iterate before the step, as the reference code does).
        let params = std::slice::from_mut(&mut s.w);
        match &mut s.opt {
            OptState::Adagrad(st) => {
                let cfg = AdaGradConfig {
                    lr: self.cfg.lr,
                    convention: self.cfg.convention,
                };
                st.step(&cfg, cfg.lr, params, &[mean])?;
            }
            OptState::AdagradNorm(st) => st.step(self.cfg.lr, params, &[mean])?,
        }
        s.samples += b as u64;
        s.steps += 1;
        s.batch = if testing {
            self.controller.next(b, &per_sample)?
        } else {
            b
        };
        let every = self.cfg.eval_every_samples;
        if s.samples / every != (s.samples - b as u64) / every || s.samples >= self.cfg.max_samples
        {
            let (tl, acc) = self.data.evaluate(&s.w);
            s.train_loss = tl;
            s.test_acc = acc;
        }
        Ok(StepReport::go(self.metrics(s, loss)))
    }

    fn is_finite(&self, s: &AdAdaGradState) -> bool {
        s.w.iter().all(|v| v.is_finite())
            && match &s.opt {
                OptState::Adagrad(st) => st.s.iter().flatten().all(|v| v.is_finite()),
                OptState::AdagradNorm(st) => st.b_sq.is_finite(),
            }
    }

    fn value(&self, s: &AdAdaGradState) -> Option<f64> {
        Some(s.train_loss)
    }

    fn counts(&self, s: &AdAdaGradState) -> OracleCounts {
        let mut c = OracleCounts::default();
        c.add("sample_grad", s.samples);
        c.add("steps", s.steps);
        c
    }

    fn extra(&mut self, s: &AdAdaGradState) -> BTreeMap<String, f64> {
        let (train_loss, test_acc) = self.data.evaluate(&s.w);
        let mut m = BTreeMap::new();
        m.insert("train_loss".into(), train_loss);
        m.insert("test_acc".into(), test_acc);
        m.insert("steps".into(), s.steps as f64);
        m.insert("final_batch".into(), s.batch as f64);
        m.insert("samples".into(), s.samples as f64);
        let bytes = match &s.opt {
            OptState::Adagrad(st) => st.bytes(),
            OptState::AdagradNorm(st) => st.bytes(),
        };
        m.insert("optimizer_state_bytes".into(), bytes as f64);
        m
    }
}

/// The `digits-softmax` problem table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DigitsSoftmax {
    /// Always `"digits-softmax"`.
    pub name: String,
    /// Seed of the stratified 80/20 split (independent of the run seed).
    pub split_seed: u64,
    /// Hidden tanh units: 0 (default) is softmax regression, > 0 a one-hidden-layer network
    /// initialized from the run seed.
    #[serde(default)]
    pub hidden: usize,
    /// 0 (default): the 8×8 digits; `k > 0`: the MNIST-like 16×16 set with `k` random
    /// distortions per image ([`SoftmaxData::mnist_like`]).
    #[serde(default)]
    pub mnist_like: usize,
}

impl Default for DigitsSoftmax {
    fn default() -> Self {
        DigitsSoftmax {
            name: "digits-softmax".into(),
            split_seed: 0,
            hidden: 0,
            mnist_like: 0,
        }
    }
}

/// Run AdAdaGrad from a spec (the CLI entry point).
pub fn run(spec: &optlab_core::RunSpec, ctx: &mut RunContext) -> Result<optlab_core::Summary> {
    use optlab_core::registry::{from_table, problem_name};
    let cfg: AdAdaGradConfig = from_table("config", &spec.config)?;
    let name = problem_name(&spec.problem)?;
    if name != "digits-softmax" {
        return Err(Error::config(
            "problem.name",
            format!("unknown problem `{name}` for adadagrad (one of: digits-softmax)"),
        ));
    }
    let p: DigitsSoftmax = from_table("problem", &spec.problem)?;
    let data = if p.mnist_like > 0 {
        SoftmaxData::mnist_like(p.split_seed, p.mnist_like)?
    } else {
        SoftmaxData::digits(p.split_seed)?
    };
    let mut t = AdAdaGrad::new(cfg, data.with_hidden(p.hidden))?;
    let driver = optlab_core::Driver::new(optlab_core::Termination {
        max_iters: u64::MAX,
        max_time_s: None,
        fixed_length: true,
    });
    Ok(driver.run(&mut t, ctx)?.0)
}
