//! Mini-batch training of an [`Mlp`] with a fused optimizer, as a [`Solver`] (one step = one
//! epoch) so the driver gives checkpoints, resume, cancellation and non-finite handling.

use crate::adamw::{AdamWConfig, AdamWState};
use crate::lion::{LionConfig, LionState};
use crate::mlp::{Classification, Mlp};
use crate::step::step;
use optlab_core::config::{at_least_one, non_negative};
use optlab_core::driver::StepReport;
use optlab_core::seed::Rng;
use optlab_core::{Error, MethodConfig, OracleCounts, Result, RunContext, Solver};
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Learning-rate schedule over the whole run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Schedule {
    /// lr constant.
    Constant,
    /// Linear warm-up, then cosine decay to 0 at the last step (the Lion paper's setting).
    Cosine,
}

/// lr at 0-based step `t` of `total` with `warmup` warm-up steps.
pub fn scheduled_lr(schedule: Schedule, peak: f64, t: u64, total: u64, warmup: u64) -> f64 {
    if warmup > 0 && t < warmup {
        return peak * (t + 1) as f64 / warmup as f64;
    }
    match schedule {
        Schedule::Constant => peak,
        Schedule::Cosine => {
            let span = total.saturating_sub(warmup).max(1) as f64;
            let progress = ((t - warmup) as f64 / span).min(1.0);
            0.5 * peak * (1.0 + (std::f64::consts::PI * progress).cos())
        }
    }
}

/// The optimizer being trained with.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum OptimizerChoice {
    /// Lion.
    Lion(LionConfig),
    /// AdamW.
    AdamW(AdamWConfig),
}

impl OptimizerChoice {
    fn peak_lr(&self) -> f64 {
        match self {
            OptimizerChoice::Lion(c) => c.lr,
            OptimizerChoice::AdamW(c) => c.lr,
        }
    }
}

/// Optimizer state (momentum buffers).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum OptimizerState {
    /// Lion's single momentum.
    Lion(LionState<f32>),
    /// AdamW's two moments.
    AdamW(AdamWState<f32>),
}

impl OptimizerState {
    /// Scalars of optimizer state.
    pub fn numel(&self) -> usize {
        match self {
            OptimizerState::Lion(s) => s.numel(),
            OptimizerState::AdamW(s) => s.numel(),
        }
    }

    /// Optimizer-state memory in bytes.
    pub fn bytes(&self) -> usize {
        match self {
            OptimizerState::Lion(s) => s.bytes(),
            OptimizerState::AdamW(s) => s.bytes(),
        }
    }
}

/// Training-loop settings shared by every optimizer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainLoop {
    /// Epochs (passes over the training set).
    pub epochs: u64,
    /// Mini-batch size.
    pub batch_size: u64,
    /// Learning-rate schedule.
    pub schedule: Schedule,
    /// Linear warm-up steps.
    pub warmup_steps: u64,
}

impl Default for TrainLoop {
    fn default() -> Self {
        TrainLoop {
            epochs: 30,
            batch_size: 128,
            schedule: Schedule::Cosine,
            warmup_steps: 0,
        }
    }
}

impl TrainLoop {
    /// Validate.
    pub fn validate(&self) -> Result<()> {
        at_least_one("epochs", self.epochs)?;
        at_least_one("batch_size", self.batch_size)?;
        non_negative("warmup_steps", self.warmup_steps as f64)
    }
}

/// Resumable training state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainState {
    /// Parameters (`W_0, b_0, ...`).
    pub params: Vec<Vec<f32>>,
    /// Optimizer state.
    pub opt: OptimizerState,
    /// Optimizer steps taken.
    pub steps: u64,
    /// Epochs completed.
    pub epoch: u64,
    /// Data-order generator.
    pub rng: Rng,
    /// Training samples processed.
    pub samples: u64,
    /// Mean training loss of the last epoch.
    pub train_loss: f64,
}

/// Trains `mlp` on `train`, evaluating on `test` after every epoch.
#[derive(Debug)]
pub struct Trainer {
    /// The network.
    pub mlp: Mlp,
    /// Training set.
    pub train: Classification,
    /// Test set.
    pub test: Classification,
    /// Optimizer and its hyperparameters.
    pub optimizer: OptimizerChoice,
    /// Loop settings.
    pub looping: TrainLoop,
    last_eval: Option<(u64, f64, f64)>,
}

impl Trainer {
    /// Check shapes and settings.
    pub fn new(
        mlp: Mlp,
        train: Classification,
        test: Classification,
        optimizer: OptimizerChoice,
        looping: TrainLoop,
    ) -> Result<Self> {
        looping.validate()?;
        match &optimizer {
            OptimizerChoice::Lion(c) => c.validate()?,
            OptimizerChoice::AdamW(c) => c.validate()?,
        }
        if train.is_empty() {
            return Err(Error::data("training set", 0, "no rows"));
        }
        if test.is_empty() {
            return Err(Error::data("test set", 0, "no rows"));
        }
        if train.n_features != mlp.sizes[0] || test.n_features != mlp.sizes[0] {
            return Err(Error::config(
                "hidden",
                "the network's input size must equal the number of features",
            ));
        }
        Ok(Trainer {
            mlp,
            train,
            test,
            optimizer,
            looping,
            last_eval: None,
        })
    }

    /// Optimizer steps per epoch.
    pub fn steps_per_epoch(&self) -> u64 {
        (self.train.len() as u64).div_ceil(self.looping.batch_size)
    }

    fn eval(&mut self, s: &TrainState) -> Result<(f64, f64)> {
        if let Some((e, l, a)) = self.last_eval
            && e == s.epoch
        {
            return Ok((l, a));
        }
        let (l, a) = self.mlp.evaluate(&s.params, &self.test)?;
        self.last_eval = Some((s.epoch, l, a));
        Ok((l, a))
    }
}

fn all_finite(v: &[Vec<f32>]) -> bool {
    v.iter().all(|t| t.iter().all(|x| x.is_finite()))
}

impl Solver for Trainer {
    type State = TrainState;

    fn init(&mut self, ctx: &mut RunContext) -> Result<TrainState> {
        let params = self.mlp.init(&mut ctx.rng("init"));
        let sizes = self.mlp.param_sizes();
        let opt = match self.optimizer {
            OptimizerChoice::Lion(_) => OptimizerState::Lion(LionState::new(&sizes)),
            OptimizerChoice::AdamW(_) => OptimizerState::AdamW(AdamWState::new(&sizes)),
        };
        let (train_loss, _) = self.mlp.evaluate(&params, &self.train)?;
        Ok(TrainState {
            params,
            opt,
            steps: 0,
            epoch: 0,
            rng: ctx.rng("data-order"),
            samples: 0,
            train_loss,
        })
    }

    fn initial_metrics(&mut self, s: &TrainState) -> BTreeMap<String, f64> {
        let mut m = BTreeMap::from([
            ("f".to_string(), s.train_loss),
            ("train_loss".to_string(), s.train_loss),
            ("samples".to_string(), 0.0),
        ]);
        if let Ok((l, a)) = self.eval(s) {
            m.insert("test_loss".into(), l);
            m.insert("test_acc".into(), a);
        }
        m
    }

    fn step(&mut self, s: &mut TrainState, _ctx: &mut RunContext) -> Result<StepReport> {
        let n = self.train.len();
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut s.rng);
        let total = self.looping.epochs * self.steps_per_epoch();
        let decay = self.mlp.decay_mask();
        let (mut xb, mut yb) = (Vec::new(), Vec::new());
        let (mut loss_sum, mut lr_first, mut lr_last) = (0.0f64, f64::NAN, f64::NAN);
        let bs = usize::try_from(self.looping.batch_size).unwrap_or(usize::MAX);
        for chunk in order.chunks(bs) {
            self.train.gather(chunk, &mut xb, &mut yb);
            let lr = scheduled_lr(
                self.looping.schedule,
                self.optimizer.peak_lr(),
                s.steps,
                total,
                self.looping.warmup_steps,
            );
            if lr_first.is_nan() {
                lr_first = lr;
            }
            lr_last = lr;
            // The closure layer's plain step: one evaluation, nothing applied (and the last
            // good parameters kept) on a non-finite loss or gradient.
            let mlp = &self.mlp;
            let mut loss_fn = |p: &[Vec<f32>]| mlp.loss_and_grads(p, &xb, &yb);
            let result = match (&self.optimizer, &mut s.opt) {
                (OptimizerChoice::Lion(c), OptimizerState::Lion(st)) => {
                    step(&mut (c, st), lr, &mut s.params, &decay, &mut loss_fn)
                }
                (OptimizerChoice::AdamW(c), OptimizerState::AdamW(st)) => {
                    step(&mut (c, st), lr, &mut s.params, &decay, &mut loss_fn)
                }
                _ => {
                    return Err(Error::Checkpoint(
                        "optimizer state does not match the optimizer".into(),
                    ));
                }
            };
            let loss = result.map_err(|e| match e {
                Error::Numerical(m) => {
                    Error::Numerical(format!("{m} at optimizer step {}", s.steps + 1))
                }
                e => e,
            })?;
            s.steps += 1;
            s.samples += chunk.len() as u64;
            loss_sum += f64::from(loss) * chunk.len() as f64;
        }
        s.epoch += 1;
        s.train_loss = loss_sum / n as f64;
        let (test_loss, test_acc) = self.eval(s)?;
        Ok(StepReport::go(BTreeMap::from([
            ("f".to_string(), s.train_loss),
            ("train_loss".to_string(), s.train_loss),
            ("test_loss".to_string(), test_loss),
            ("test_acc".to_string(), test_acc),
            ("lr_first".to_string(), lr_first),
            ("lr".to_string(), lr_last),
            ("samples".to_string(), s.samples as f64),
        ])))
    }

    fn is_finite(&self, s: &TrainState) -> bool {
        all_finite(&s.params)
    }

    fn value(&self, s: &TrainState) -> Option<f64> {
        Some(s.train_loss)
    }

    fn counts(&self, s: &TrainState) -> OracleCounts {
        let mut c = OracleCounts::default();
        c.add("grad_steps", s.steps);
        c.add("samples", s.samples);
        c
    }

    fn extra(&mut self, s: &TrainState) -> BTreeMap<String, f64> {
        let mut m = BTreeMap::new();
        if let Ok((l, a)) = self.eval(s) {
            m.insert("test_loss".into(), l);
            m.insert("test_acc".into(), a);
        }
        m.insert("params".into(), self.mlp.numel() as f64);
        m.insert("optimizer_state".into(), s.opt.numel() as f64);
        m.insert("optimizer_state_bytes".into(), s.opt.bytes() as f64);
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_schedule_endpoints() {
        assert_eq!(scheduled_lr(Schedule::Cosine, 1.0, 0, 100, 0), 1.0);
        assert!((scheduled_lr(Schedule::Cosine, 1.0, 50, 100, 0) - 0.5).abs() < 1e-12);
        assert!(scheduled_lr(Schedule::Cosine, 1.0, 99, 100, 0) < 1e-3);
        assert_eq!(scheduled_lr(Schedule::Constant, 0.3, 77, 100, 0), 0.3);
        assert!((scheduled_lr(Schedule::Cosine, 1.0, 4, 100, 10) - 0.5).abs() < 1e-12);
    }
}
