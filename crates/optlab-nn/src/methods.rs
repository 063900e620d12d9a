//! CLI registry entries for the neural-network methods.

use crate::adamw::AdamWConfig;
use crate::lion::LionConfig;
use crate::mlp::{Classification, Mlp};
use crate::train::{OptimizerChoice, Schedule, TrainLoop, Trainer};
use optlab_core::registry::{from_table, problem_name, to_table};
use optlab_core::{Driver, Error, MethodInfo, Result, RunContext, RunSpec, Summary, Termination};
use optlab_problems::data::{digits, stratified_split};
use serde::{Deserialize, Serialize};

/// The digits MLP problem: UCI optdigits (1797 x 64, pixels / 16), stratified split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DigitsMlp {
    /// Always `"digits-mlp"`.
    pub name: String,
    /// Hidden layer widths. Default [256, 256] (dl-optimizers.md §1.5).
    pub hidden: Vec<usize>,
    /// Test fraction. Default 0.2 (1437 train / 360 test).
    pub test_fraction: f64,
    /// Seed of the split (independent of the run seed so all runs share one split).
    pub split_seed: u64,
}

impl Default for DigitsMlp {
    fn default() -> Self {
        DigitsMlp {
            name: "digits-mlp".into(),
            hidden: vec![256, 256],
            test_fraction: 0.2,
            split_seed: 0,
        }
    }
}

impl DigitsMlp {
    /// The network and the (train, test) sets.
    pub fn build(&self) -> Result<(Mlp, Classification, Classification)> {
        let d = digits()?;
        let (tr, te) = stratified_split(&d.y, d.n_classes, self.test_fraction, self.split_seed)?;
        let to = |idx: &[usize]| {
            let s = d.subset(idx);
            Classification {
                x: s.x.iter().map(|&v| (v / 16.0) as f32).collect(),
                y: s.y,
                n_features: s.n_features,
                n_classes: s.n_classes,
            }
        };
        let mut sizes = vec![d.n_features];
        sizes.extend_from_slice(&self.hidden);
        sizes.push(d.n_classes);
        Ok((Mlp::new(sizes)?, to(&tr), to(&te)))
    }
}

fn describe_adadagrad() -> String {
    let cfg = toml::to_string(&crate::adadagrad::AdAdaGradConfig::default()).unwrap_or_default();
    format!(
        "[config]   # optimizer: adagrad | adagrad-norm; convention: torch | optax;\n\
         # test: constant | norm | inner-product | orthogonality | augmented; max_batch 0 = training-set size\n\
         {cfg}\n[problem]\nname = \"digits-softmax\"\nsplit_seed = 0\nhidden = 0   # > 0: a one-hidden-layer tanh network\nmnist_like = 0   # > 0: the 16x16 MNIST-like set, this many distortions per image\n"
    )
}

/// `lion` run configuration: Lion's hyperparameters plus the training loop.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LionRun {
    /// Peak learning rate (paper's PyTorch default 1e-4; 3-10x below AdamW's).
    pub lr: f64,
    /// Update interpolation (0.9).
    pub beta1: f64,
    /// Momentum decay (0.99).
    pub beta2: f64,
    /// Decoupled weight decay, multiplied by lr (0; 3-10x AdamW's when used).
    pub weight_decay: f64,
    /// Epochs.
    pub epochs: u64,
    /// Mini-batch size.
    pub batch_size: u64,
    /// `cosine` or `constant`.
    pub schedule: Schedule,
    /// Linear warm-up steps.
    pub warmup_steps: u64,
}

impl Default for LionRun {
    fn default() -> Self {
        let l = LionConfig::default();
        let t = TrainLoop::default();
        LionRun {
            lr: l.lr,
            beta1: l.beta1,
            beta2: l.beta2,
            weight_decay: l.weight_decay,
            epochs: t.epochs,
            batch_size: t.batch_size,
            schedule: t.schedule,
            warmup_steps: t.warmup_steps,
        }
    }
}

/// `adamw` run configuration.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdamWRun {
    /// Peak learning rate (1e-3).
    pub lr: f64,
    /// First-moment decay (0.9).
    pub beta1: f64,
    /// Second-moment decay (0.999).
    pub beta2: f64,
    /// Epsilon (1e-8, optax).
    pub eps: f64,
    /// Decoupled weight decay, multiplied by lr (1e-4, optax).
    pub weight_decay: f64,
    /// Epochs.
    pub epochs: u64,
    /// Mini-batch size.
    pub batch_size: u64,
    /// `cosine` or `constant`.
    pub schedule: Schedule,
    /// Linear warm-up steps.
    pub warmup_steps: u64,
}

impl Default for AdamWRun {
    fn default() -> Self {
        let a = AdamWConfig::default();
        let t = TrainLoop::default();
        AdamWRun {
            lr: a.lr,
            beta1: a.beta1,
            beta2: a.beta2,
            eps: a.eps,
            weight_decay: a.weight_decay,
            epochs: t.epochs,
            batch_size: t.batch_size,
            schedule: t.schedule,
            warmup_steps: t.warmup_steps,
        }
    }
}

impl LionRun {
    /// Split into optimizer and loop settings.
    pub fn parts(&self) -> (OptimizerChoice, TrainLoop) {
        (
            OptimizerChoice::Lion(LionConfig {
                lr: self.lr,
                beta1: self.beta1,
                beta2: self.beta2,
                weight_decay: self.weight_decay,
            }),
            TrainLoop {
                epochs: self.epochs,
                batch_size: self.batch_size,
                schedule: self.schedule,
                warmup_steps: self.warmup_steps,
            },
        )
    }
}

impl AdamWRun {
    /// Split into optimizer and loop settings.
    pub fn parts(&self) -> (OptimizerChoice, TrainLoop) {
        (
            OptimizerChoice::AdamW(AdamWConfig {
                lr: self.lr,
                beta1: self.beta1,
                beta2: self.beta2,
                eps: self.eps,
                weight_decay: self.weight_decay,
            }),
            TrainLoop {
                epochs: self.epochs,
                batch_size: self.batch_size,
                schedule: self.schedule,
                warmup_steps: self.warmup_steps,
            },
        )
    }
}

fn problem(spec: &RunSpec) -> Result<DigitsMlp> {
    let name = problem_name(&spec.problem)?;
    if name != "digits-mlp" {
        return Err(Error::Mismatch {
            method: spec.method.clone(),
            problem: name.to_string(),
            reason: "neural-network optimizers run on `digits-mlp`".into(),
        });
    }
    from_table("problem", &spec.problem)
}

/// Train with `optimizer` on the problem of `spec`.
pub fn train(
    optimizer: OptimizerChoice,
    looping: TrainLoop,
    prob: &DigitsMlp,
    ctx: &mut RunContext,
) -> Result<Summary> {
    let (mlp, tr, te) = prob.build()?;
    let mut trainer = Trainer::new(mlp, tr, te, optimizer, looping)?;
    let driver = Driver::new(Termination {
        max_iters: looping.epochs,
        max_time_s: None,
        fixed_length: true,
    });
    Ok(driver.run(&mut trainer, ctx)?.0)
}

fn run_lion(spec: &RunSpec, ctx: &mut RunContext) -> Result<Summary> {
    let cfg: LionRun = from_table("config", &spec.config)?;
    let prob = problem(spec)?;
    let (o, l) = cfg.parts();
    train(o, l, &prob, ctx)
}

fn run_adamw(spec: &RunSpec, ctx: &mut RunContext) -> Result<Summary> {
    let cfg: AdamWRun = from_table("config", &spec.config)?;
    let prob = problem(spec)?;
    let (o, l) = cfg.parts();
    train(o, l, &prob, ctx)
}

fn default_problem(name: &str) -> Result<toml::Table> {
    match name {
        "digits-mlp" => to_table(&DigitsMlp::default()),
        other => Err(Error::config(
            "problem.name",
            format!("unknown problem `{other}`"),
        )),
    }
}

fn describe_lion() -> String {
    let d = LionRun::default();
    format!(
        "[config]\n\
         lr = {:e}            # peak learning rate; authors: 3-10x smaller than AdamW's\n\
         beta1 = {}           # interpolation of the update direction (uses the OLD momentum)\n\
         beta2 = {}          # momentum decay; (0.95, 0.98) for language models\n\
         weight_decay = {}     # decoupled, multiplied by lr; authors: 3-10x AdamW's\n\
         epochs = {}\n\
         batch_size = {}\n\
         schedule = \"cosine\"  # or \"constant\"\n\
         warmup_steps = {}\n\n\
         [problem]\n\
         name = \"digits-mlp\"\n\
         hidden = [256, 256]\n\
         test_fraction = 0.2\n\
         split_seed = 0\n",
        d.lr, d.beta1, d.beta2, d.weight_decay, d.epochs, d.batch_size, d.warmup_steps
    )
}

fn describe_adamw() -> String {
    let d = AdamWRun::default();
    format!(
        "[config]\n\
         lr = {:e}\n\
         beta1 = {}\n\
         beta2 = {}\n\
         eps = {:e}            # optax default; the Lion paper's AdamW baselines use 1e-6\n\
         weight_decay = {:e}   # decoupled, multiplied by lr\n\
         epochs = {}\n\
         batch_size = {}\n\
         schedule = \"cosine\"\n\
         warmup_steps = {}\n\n\
         [problem]\n\
         name = \"digits-mlp\"\n",
        d.lr, d.beta1, d.beta2, d.eps, d.weight_decay, d.epochs, d.batch_size, d.warmup_steps
    )
}

/// The NN methods for the CLI registry.
pub fn methods() -> Vec<MethodInfo> {
    vec![
        MethodInfo {
            name: "lion",
            summary: "Lion (EvoLved Sign Momentum): sign of interpolated momentum, decoupled decay",
            reference: "Chen et al., Symbolic Discovery of Optimization Algorithms, NeurIPS 2023",
            problems: &["digits-mlp"],
            describe: describe_lion,
            default_config: || to_table(&LionRun::default()),
            default_problem,
            run: run_lion,
        },
        MethodInfo {
            name: "adamw",
            summary: "AdamW (baseline for Lion): Adam with decoupled weight decay, optax semantics",
            reference: "Loshchilov & Hutter, Decoupled Weight Decay Regularization, ICLR 2019",
            problems: &["digits-mlp"],
            describe: describe_adamw,
            default_config: || to_table(&AdamWRun::default()),
            default_problem,
            run: run_adamw,
        },
        MethodInfo {
            name: "adadagrad",
            summary: "AdAdaGrad: AdaGrad / AdaGrad-Norm with adaptive batch sizes (norm, inner-product, augmented tests), budgets in samples",
            reference: "Lau, Liu, Kolar, Adaptive Batch Size Schemes for Adaptive Gradient Methods, 2024",
            problems: &["digits-softmax"],
            describe: describe_adadagrad,
            default_config: || to_table(&crate::adadagrad::AdAdaGradConfig::default()),
            default_problem: |_| to_table(&crate::adadagrad::DigitsSoftmax::default()),
            run: crate::adadagrad::run,
        },
        crate::surrogate::method(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use optlab_core::Status;
    use optlab_core::context::MemoryCheckpoints;
    use optlab_core::record::MemoryRecorder;

    fn small() -> (DigitsMlp, LionRun) {
        let p = DigitsMlp {
            hidden: vec![32],
            ..Default::default()
        };
        let c = LionRun {
            lr: 3e-3,
            weight_decay: 0.1,
            epochs: 8,
            batch_size: 64,
            ..Default::default()
        };
        (p, c)
    }

    #[test]
    fn lion_learns_digits_and_resume_is_bit_exact() {
        let (p, c) = small();
        let (o, l) = c.parts();
        let full_rec = MemoryRecorder::new();
        let mut ctx = RunContext::new(5).with_recorder(full_rec.clone());
        let full = train(o, l, &p, &mut ctx).unwrap();
        assert_eq!(full.status, Status::Finished);
        let acc = full.extra["test_acc"];
        assert!(acc > 0.8, "test accuracy {acc}");
        assert_eq!(full.extra["optimizer_state"], full.extra["params"]);
        assert_eq!(
            full.extra["optimizer_state_bytes"],
            4.0 * full.extra["params"]
        );

        let cps = MemoryCheckpoints::new();
        let mut ctx = RunContext::new(5)
            .with_checkpoints(cps.clone(), 1)
            .with_cancel_after(Some(3));
        let part = train(o, l, &p, &mut ctx).unwrap();
        assert_eq!(part.status, Status::Cancelled);
        let (_, bytes) = cps.latest().unwrap();
        let rec = MemoryRecorder::new();
        let mut ctx = RunContext::new(5)
            .with_resume(bytes)
            .with_recorder(rec.clone());
        let resumed = train(o, l, &p, &mut ctx).unwrap();
        assert_eq!(
            resumed.final_value.map(f64::to_bits),
            full.final_value.map(f64::to_bits)
        );
        assert_eq!(resumed.extra["test_acc"], acc);
        let last_full = full_rec.rows().last().cloned().unwrap();
        let last_res = rec.rows().last().cloned().unwrap();
        assert_eq!(last_full.get("train_loss"), last_res.get("train_loss"));
    }

    #[test]
    fn bad_config_and_problem_are_rejected() {
        let mut spec = RunSpec {
            method: "lion".into(),
            seed: 0,
            threads: 1,
            checkpoint_every: 0,
            config: to_table(&LionRun::default()).unwrap(),
            problem: default_problem("digits-mlp").unwrap(),
        };
        spec.config.insert("lr".into(), toml::Value::Float(-1.0));
        let e = run_lion(&spec, &mut RunContext::new(0))
            .unwrap_err()
            .to_string();
        assert!(e.contains("`lr`"), "{e}");
        spec.config
            .insert("learning_rate".into(), toml::Value::Float(1.0));
        let e = run_lion(&spec, &mut RunContext::new(0))
            .unwrap_err()
            .to_string();
        assert!(e.contains("learning_rate"), "{e}");
        let mut spec2 = spec.clone();
        spec2.config = to_table(&LionRun::default()).unwrap();
        spec2.problem.insert(
            "name".into(),
            toml::Value::String("logreg-breast-cancer".into()),
        );
        let e = run_lion(&spec2, &mut RunContext::new(0))
            .unwrap_err()
            .to_string();
        assert!(e.contains("digits-mlp"), "{e}");
    }
}
