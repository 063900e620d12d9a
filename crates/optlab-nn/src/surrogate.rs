//! Trained networks as surrogates for the directional-attack methods of `optlab-classic`
//! (`optlab_classic::dfo`): the [`Surrogate`] trait implemented on burn (forward pass and the
//! input vector–Jacobian product by autodiff), and the digits counterfactual problem.

use crate::adamw::AdamWConfig;
use crate::methods::DigitsMlp;
use crate::mlp::{Classification, Mlp};
use crate::train::{OptimizerChoice, Schedule, TrainLoop, Trainer};
use optlab_classic::dfo::{ClassMargin, NetworkProblem, Surrogate};
use optlab_core::{Driver, Error, Result, RunContext, Termination};
use optlab_problems::blackbox::Bounds;
use std::sync::Arc;

/// An MLP with fixed parameters, as a map `R^n → R^m`.
#[derive(Debug, Clone)]
pub struct MlpSurrogate {
    mlp: Mlp,
    params: Vec<Vec<f32>>,
}

impl MlpSurrogate {
    /// Wrap trained parameters (shapes checked).
    pub fn new(mlp: Mlp, params: Vec<Vec<f32>>) -> Result<Self> {
        let sizes = mlp.param_sizes();
        if params.len() != sizes.len() || params.iter().zip(&sizes).any(|(p, &n)| p.len() != n) {
            return Err(Error::Other(
                "surrogate: parameter shapes do not match the layer sizes".into(),
            ));
        }
        Ok(MlpSurrogate { mlp, params })
    }

    /// The network.
    pub fn mlp(&self) -> &Mlp {
        &self.mlp
    }

    /// The parameters.
    pub fn params(&self) -> &[Vec<f32>] {
        &self.params
    }
}

fn to_f32(x: &[f64]) -> Vec<f32> {
    x.iter().map(|&v| v as f32).collect()
}

impl Surrogate for MlpSurrogate {
    fn input_dim(&self) -> usize {
        self.mlp.sizes[0]
    }
    fn output_dim(&self) -> usize {
        *self.mlp.sizes.last().unwrap_or(&0)
    }
    fn forward(&self, x: &[f64]) -> Result<Vec<f64>> {
        if x.len() != self.input_dim() {
            return Err(Error::Other(format!(
                "surrogate: input of {} values, expected {}",
                x.len(),
                self.input_dim()
            )));
        }
        Ok(self
            .mlp
            .outputs(&self.params, &to_f32(x))?
            .into_iter()
            .map(f64::from)
            .collect())
    }
    fn vjp(&self, x: &[f64], v: &[f64]) -> Result<Vec<f64>> {
        Ok(self
            .mlp
            .input_vjp(&self.params, &to_f32(x), &to_f32(v))?
            .into_iter()
            .map(f64::from)
            .collect())
    }
}

/// A digits classifier (64-`hidden`-10, inputs scaled to [0, 1]) trained with AdamW for
/// `epochs` epochs from `seed`, with its test set and test accuracy.
pub fn digits_classifier(
    hidden: usize,
    epochs: u64,
    seed: u64,
) -> Result<(MlpSurrogate, Classification, f64)> {
    let prob = DigitsMlp {
        hidden: vec![hidden],
        ..Default::default()
    };
    let (mlp, tr, te) = prob.build()?;
    let looping = TrainLoop {
        epochs,
        batch_size: 64,
        schedule: Schedule::Cosine,
        warmup_steps: 0,
    };
    let opt = OptimizerChoice::AdamW(AdamWConfig {
        lr: 3e-3,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 1e-4,
    });
    let mut trainer = Trainer::new(mlp.clone(), tr, te.clone(), opt, looping)?;
    let driver = Driver::new(Termination {
        max_iters: epochs,
        max_time_s: None,
        fixed_length: true,
    });
    let (_, state) = driver.run(&mut trainer, &mut RunContext::new(seed))?;
    let (_, acc) = mlp.evaluate(&state.params, &te)?;
    Ok((MlpSurrogate::new(mlp, state.params)?, te, acc))
}

/// The counterfactual problem: starting from test image `index` (of some class), maximize
/// the margin of class `target` (`y_target - logsumexp_{j≠target} y_j`) over `[0, 1]^64`.
/// Returns the problem and the start point.
pub fn digits_counterfactual(
    net: &MlpSurrogate,
    test: &Classification,
    index: usize,
    target: usize,
) -> Result<(NetworkProblem, Vec<f64>)> {
    if index >= test.len() {
        return Err(Error::config(
            "problem.index",
            format!("{index} >= {} test images", test.len()),
        ));
    }
    if target >= test.n_classes {
        return Err(Error::config(
            "problem.target",
            format!("{target} >= {} classes", test.n_classes),
        ));
    }
    let d = test.n_features;
    let x0: Vec<f64> = test.x[index * d..(index + 1) * d]
        .iter()
        .map(|&v| f64::from(v))
        .collect();
    let p = NetworkProblem::new(
        &format!("digits-counterfactual-{index}-to-{target}"),
        Arc::new(net.clone()),
        Arc::new(ClassMargin { class: target }),
        Bounds::cube(d, 0.0, 1.0)?,
        None,
    )?;
    Ok((p, x0))
}

/// `digits-counterfactual` options.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CounterfactualSpec {
    /// Always `"digits-counterfactual"`.
    pub name: String,
    /// Hidden width of the classifier (64-hidden-10).
    pub hidden: usize,
    /// Training epochs (AdamW, cosine schedule).
    pub epochs: u64,
    /// Training seed.
    pub train_seed: u64,
    /// Test image to start from.
    pub index: usize,
    /// Class whose margin is maximized.
    pub target: usize,
}

impl Default for CounterfactualSpec {
    fn default() -> Self {
        CounterfactualSpec {
            name: "digits-counterfactual".into(),
            hidden: 32,
            epochs: 20,
            train_seed: 0,
            index: 0,
            target: 3,
        }
    }
}

fn run_dsm_surrogate(
    spec: &optlab_core::RunSpec,
    ctx: &mut RunContext,
) -> Result<optlab_core::Summary> {
    use optlab_core::MethodConfig as _;
    let cfg: optlab_classic::dfo::DsmConfig =
        optlab_core::registry::from_table("config", &spec.config)?;
    cfg.validate()?;
    let name = optlab_core::registry::problem_name(&spec.problem)?;
    if name != "digits-counterfactual" {
        return Err(Error::Mismatch {
            method: spec.method.clone(),
            problem: name.to_string(),
            reason: "dsm-surrogate runs on `digits-counterfactual`".into(),
        });
    }
    let p: CounterfactualSpec = optlab_core::registry::from_table("problem", &spec.problem)?;
    if p.hidden == 0 {
        return Err(Error::config("problem.hidden", "must be at least 1"));
    }
    let (net, test, _) = digits_classifier(p.hidden, p.epochs, p.train_seed)?;
    let (problem, x0) = digits_counterfactual(&net, &test, p.index, p.target)?;
    let mut solver = optlab_classic::dfo::Dsm::with_surrogate(cfg, Box::new(problem), x0)?;
    Ok(Driver::new(cfg.termination()).run(&mut solver, ctx)?.0)
}

/// The CLI registry entry for direct search on network surrogates.
pub fn method() -> optlab_core::MethodInfo {
    optlab_core::MethodInfo {
        name: "dsm-surrogate",
        summary: "Directional attacks + covering direct search on a trained network (hybrid, attack-only or cDSM)",
        reference: "Bouchet & Vidal, Optimization by Directional Attacks: Solving Problems with Neural Network Surrogates, 2025",
        problems: &["digits-counterfactual"],
        describe: || {
            let cfg = optlab_classic::dfo::DsmConfig {
                mode: optlab_classic::dfo::DsmMode::Hybrid,
                ..Default::default()
            };
            format!(
                "# mode = hybrid | attack-only | cdsm; attack = fgsm | pgd; radii relative to the box width\n\
                 [config]\n{}\n[problem]\n{}",
                toml::to_string(&cfg).unwrap_or_default(),
                toml::to_string(&CounterfactualSpec::default()).unwrap_or_default()
            )
        },
        default_config: || {
            optlab_core::registry::to_table(&optlab_classic::dfo::DsmConfig {
                mode: optlab_classic::dfo::DsmMode::Hybrid,
                ..Default::default()
            })
        },
        default_problem: |name| match name {
            "digits-counterfactual" => {
                optlab_core::registry::to_table(&CounterfactualSpec::default())
            }
            other => Err(Error::config(
                "problem.name",
                format!("unknown problem `{other}`"),
            )),
        },
        run: run_dsm_surrogate,
    }
}

/// An MLP `R^d → R` fitted by least squares to a black-box test function on `samples`
/// uniform points of its box (inputs rescaled to `[0, 1]^d`, outputs standardized), trained
/// full-batch with AdamW for `steps` steps. Returns the surrogate (on the rescaled box, output
/// in the original units) and its RMSE on 1000 fresh points.
pub fn fit_test_function(
    f: &dyn optlab_problems::blackbox::BlackBox,
    hidden: usize,
    samples: usize,
    steps: u64,
    seed: u64,
) -> Result<(ScaledSurrogate, f64)> {
    use rand::Rng as _;
    let b = f
        .bounds()
        .ok_or_else(|| Error::config("problem", "the function has no bounds"))?
        .clone();
    let d = f.dim();
    if samples < 2 || hidden == 0 || steps == 0 {
        return Err(Error::config(
            "problem.samples",
            "need at least 2 samples, hidden >= 1, steps >= 1",
        ));
    }
    let mut rng = optlab_core::seed::stream(seed, "surrogate-fit");
    let draw = |rng: &mut optlab_core::seed::Rng, n: usize| -> (Vec<f32>, Vec<f64>) {
        let mut x = Vec::with_capacity(n * d);
        let mut y = Vec::with_capacity(n);
        for _ in 0..n {
            let u: Vec<f64> = (0..d).map(|_| rng.random::<f64>()).collect();
            let xr: Vec<f64> = u
                .iter()
                .enumerate()
                .map(|(i, v)| b.lower()[i] + v * (b.upper()[i] - b.lower()[i]))
                .collect();
            y.push(f.value(&xr));
            x.extend(u.iter().map(|&v| v as f32));
        }
        (x, y)
    };
    let (x, y) = draw(&mut rng, samples);
    let mean = y.iter().sum::<f64>() / y.len() as f64;
    let sd = (y.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / y.len() as f64)
        .sqrt()
        .max(1e-12);
    let yt: Vec<f32> = y.iter().map(|v| ((v - mean) / sd) as f32).collect();
    let mlp = Mlp::new(vec![d, hidden, hidden, 1])?;
    let mut params = mlp.init(&mut optlab_core::seed::stream(seed, "surrogate-init"));
    let cfg = AdamWConfig {
        lr: 1e-2,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 0.0,
    };
    let mut state = crate::adamw::AdamWState::<f32>::new(&mlp.param_sizes());
    let decay = mlp.decay_mask();
    for t in 0..steps {
        let (_, g) = mlp.mse_and_grads(&params, &x, &yt)?;
        let lr = crate::train::scheduled_lr(Schedule::Cosine, cfg.lr, t, steps, 0);
        state.step(&cfg, lr, &mut params, &g, &decay)?;
    }
    let sur = ScaledSurrogate {
        net: MlpSurrogate::new(mlp, params)?,
        mean,
        sd,
    };
    let (xv, yv) = draw(&mut rng, 1000);
    let mut se = 0.0;
    for (i, yi) in yv.iter().enumerate() {
        let xi: Vec<f64> = xv[i * d..(i + 1) * d]
            .iter()
            .map(|&v| f64::from(v))
            .collect();
        se += (sur.forward(&xi)?[0] - yi).powi(2);
    }
    Ok((sur, (se / 1000.0).sqrt()))
}

/// A network with an affine output map `y ↦ mean + sd · y`.
#[derive(Debug, Clone)]
pub struct ScaledSurrogate {
    net: MlpSurrogate,
    mean: f64,
    sd: f64,
}

impl Surrogate for ScaledSurrogate {
    fn input_dim(&self) -> usize {
        self.net.input_dim()
    }
    fn output_dim(&self) -> usize {
        self.net.output_dim()
    }
    fn forward(&self, x: &[f64]) -> Result<Vec<f64>> {
        Ok(self
            .net
            .forward(x)?
            .into_iter()
            .map(|v| self.mean + self.sd * v)
            .collect())
    }
    fn vjp(&self, x: &[f64], v: &[f64]) -> Result<Vec<f64>> {
        let vs: Vec<f64> = v.iter().map(|a| a * self.sd).collect();
        self.net.vjp(x, &vs)
    }
}

/// `min f̂(x)` for the surrogate `f̂` of a test function, as a maximization of `-f̂` over
/// `[0, 1]^d` (the rescaled box).
pub fn surrogate_minimization(name: &str, sur: &ScaledSurrogate) -> Result<NetworkProblem> {
    NetworkProblem::new(
        name,
        Arc::new(sur.clone()),
        Arc::new(optlab_classic::dfo::NegFirst),
        Bounds::cube(sur.input_dim(), 0.0, 1.0)?,
        None,
    )
}
