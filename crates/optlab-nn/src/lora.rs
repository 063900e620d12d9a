//! LoRA as a reparameterisation of any model's loss closure, and LoRA-GGPO's gradient-guided
//! perturbation step (Chang, Guo, Chang, Wu 2025, arXiv 2502.14538 v1).
//!
//! A model exposes its loss as a [`LossFn`] over its full parameter list. [`Lora`] picks some
//! of those tensors — weight matrices `W0` of shape `d_in x d_out` (row-major, `y = x W`) — and
//! replaces each by `W' = W0 + s A B` with trainable `A` (`d_in x r`, Kaiming-uniform as PEFT)
//! and `B` (`r x d_out`, zeros) and `s = alpha / r`; the base stays frozen. Other tensors may be
//! trained in full (a fresh head) and the rest stay frozen. [`Lora::closure`] wraps the model's
//! closure into one over the LoRA parameters: merge, evaluate, and map the full-weight gradient
//! `G = ∂L/∂W'` to `∂L/∂A = s G Bᵀ`, `∂L/∂B = s Aᵀ G`. So LoRA, LoRA-GGPO and SAM-LoRA work
//! on every model of the crate (MLP, tiny LM) through the same [`crate::step`] layer, and the
//! frozen base is never written (the merged copy is rebuilt each call).
//!
//! In the paper's notation the weight is `out x in` and "row i" of `W'` is output unit `i`; in
//! ours that is column `i` of the `d_in x d_out` matrix. Our `A` and `B` are the paper's `Aᵀ`
//! and `Bᵀ`.
//!
//! **GGPO** ([`ggpo_step`]): before the forward pass, the merged weight is perturbed by
//! `ε` with independent Gaussian entries whose standard deviation in output unit `i` combines
//! that unit's weight norm `w_i = ||W'_{:,i}||` and its full-weight gradient norm
//! `q_i = ||G_{:,i}||` from the **previous** step (step 0 uses the weight term only). One
//! forward and one backward per step, at the perturbed point; `ε` is discarded afterwards and
//! drawn from its own seed stream (independent of data order). The published sources disagree
//! on the variance formula, so it is a named option ([`GgpoNoise`]):
//! - `sum-of-squares` (default; the v1 paper's covariance as quoted by secondary sources,
//!   `Σ = diag(σ² ||W'_i||² + β² ||∇W'_i||²) / n_in`, i.e. Flat-LoRA's filter-wise noise plus a
//!   gradient term, normalised by the fan-in);
//! - `kohya` (the kohya-ss/sd-scripts port: `std_i = (σ w_i + β q_i) / sqrt(n_out)`, a linear
//!   sum normalised by the number of output units).
//!
//! `β = 0` is Flat-LoRA's random weight perturbation. Because the merged gradient is computed
//! anyway, `q_i` is the exact full-weight gradient row norm (the kohya port approximates it from
//! the LoRA-manifold gradient `s (∇B A + B ∇A)`).

use crate::step::{GradientTransform, LossFn};
use faer::Mat;
use optlab_core::{Error, Result};
use rand::Rng as _;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

/// One LoRA target: the index of a full-model tensor and its matrix shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoraTarget {
    /// Index in the model's parameter list.
    pub tensor: usize,
    /// `d_in` (rows).
    pub rows: usize,
    /// `d_out` (columns).
    pub cols: usize,
}

/// A LoRA reparameterisation of a model's parameter list.
#[derive(Debug, Clone, PartialEq)]
pub struct Lora {
    base: Vec<Vec<f32>>,
    targets: Vec<LoraTarget>,
    trainable: Vec<usize>,
    rank: usize,
    scale: f64,
}

impl Lora {
    /// Adapt `targets` of the frozen `base` with rank `rank` and scale `alpha / rank`; the
    /// tensors in `trainable` are trained in full. Errors name the offending target.
    pub fn new(
        base: Vec<Vec<f32>>,
        targets: Vec<LoraTarget>,
        trainable: Vec<usize>,
        rank: usize,
        alpha: f64,
    ) -> Result<Self> {
        if rank == 0 {
            return Err(Error::config("rank", "must be at least 1"));
        }
        if !(alpha.is_finite() && alpha > 0.0) {
            return Err(Error::config("alpha", format!("must be > 0, got {alpha}")));
        }
        let mut seen = vec![false; base.len()];
        for t in &targets {
            let Some(p) = base.get(t.tensor) else {
                return Err(Error::config(
                    "targets",
                    format!(
                        "tensor {} does not exist ({} tensors)",
                        t.tensor,
                        base.len()
                    ),
                ));
            };
            if p.len() != t.rows * t.cols {
                return Err(Error::config(
                    "targets",
                    format!(
                        "tensor {} has {} values, not {} x {}",
                        t.tensor,
                        p.len(),
                        t.rows,
                        t.cols
                    ),
                ));
            }
            if rank > t.rows.min(t.cols) {
                return Err(Error::config(
                    "rank",
                    format!(
                        "{rank} exceeds min(m, n) = {} of tensor {} ({} x {})",
                        t.rows.min(t.cols),
                        t.tensor,
                        t.rows,
                        t.cols
                    ),
                ));
            }
            if std::mem::replace(&mut seen[t.tensor], true) {
                return Err(Error::config(
                    "targets",
                    format!("tensor {} is listed twice", t.tensor),
                ));
            }
        }
        for &i in &trainable {
            if i >= base.len() || std::mem::replace(&mut seen[i], true) {
                return Err(Error::config(
                    "trainable",
                    format!("tensor {i} does not exist or is already a LoRA target"),
                ));
            }
        }
        Ok(Lora {
            base,
            targets,
            trainable,
            rank,
            scale: alpha / rank as f64,
        })
    }

    /// `s = alpha / r`.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// The targets.
    pub fn targets(&self) -> &[LoraTarget] {
        &self.targets
    }

    /// The frozen base parameters.
    pub fn base(&self) -> &[Vec<f32>] {
        &self.base
    }

    /// Sizes of the LoRA parameter tensors: `A_k, B_k` per target, then the trainable tensors.
    pub fn param_sizes(&self) -> Vec<usize> {
        let mut s: Vec<usize> = self
            .targets
            .iter()
            .flat_map(|t| [t.rows * self.rank, self.rank * t.cols])
            .collect();
        s.extend(self.trainable.iter().map(|&i| self.base[i].len()));
        s
    }

    /// Trainable scalars.
    pub fn numel(&self) -> usize {
        self.param_sizes().iter().sum()
    }

    /// Initial LoRA parameters: `A` Kaiming-uniform as PEFT (`U(±1/sqrt(d_in))`), `B = 0`
    /// (so the merged model starts at the base), trainable tensors copied from the base.
    pub fn init(&self, seed: u64) -> Vec<Vec<f32>> {
        let mut rng = optlab_core::seed::stream(seed, "lora-init");
        let mut out = Vec::new();
        for t in &self.targets {
            let bound = 1.0 / (t.rows as f32).sqrt();
            out.push(
                (0..t.rows * self.rank)
                    .map(|_| rng.random_range(-bound..bound))
                    .collect(),
            );
            out.push(vec![0.0; self.rank * t.cols]);
        }
        out.extend(self.trainable.iter().map(|&i| self.base[i].clone()));
        out
    }

    fn check(&self, params: &[Vec<f32>]) -> Result<()> {
        let sizes = self.param_sizes();
        if params.len() != sizes.len() || params.iter().zip(&sizes).any(|(p, &n)| p.len() != n) {
            return Err(Error::Other(
                "lora: parameter shapes do not match the adapters".into(),
            ));
        }
        Ok(())
    }

    /// The full parameter list `W0 + s A B` for targets, the trained tensors, the frozen rest.
    pub fn merge(&self, params: &[Vec<f32>]) -> Result<Vec<Vec<f32>>> {
        self.check(params)?;
        let mut full = self.base.clone();
        let r = self.rank;
        for (k, t) in self.targets.iter().enumerate() {
            let a = Mat::<f32>::from_fn(t.rows, r, |i, j| params[2 * k][i * r + j]);
            let b = Mat::<f32>::from_fn(r, t.cols, |i, j| params[2 * k + 1][i * t.cols + j]);
            let ab = &a * &b;
            let s = self.scale as f32;
            let w = &mut full[t.tensor];
            for i in 0..t.rows {
                for j in 0..t.cols {
                    w[i * t.cols + j] += s * ab[(i, j)];
                }
            }
        }
        let off = 2 * self.targets.len();
        for (n, &i) in self.trainable.iter().enumerate() {
            full[i].clone_from(&params[off + n]);
        }
        Ok(full)
    }

    /// Map full-model gradients to the LoRA parameters: `s G Bᵀ`, `s Aᵀ G`, and the trained
    /// tensors' own gradients.
    pub fn lora_grads(&self, params: &[Vec<f32>], full: &[Vec<f32>]) -> Result<Vec<Vec<f32>>> {
        self.check(params)?;
        if full.len() != self.base.len() {
            return Err(Error::Other(format!(
                "lora: {} gradient tensors for a model of {}",
                full.len(),
                self.base.len()
            )));
        }
        let r = self.rank;
        let s = self.scale as f32;
        let mut out = Vec::with_capacity(params.len());
        for (k, t) in self.targets.iter().enumerate() {
            let g = Mat::<f32>::from_fn(t.rows, t.cols, |i, j| full[t.tensor][i * t.cols + j]);
            let a = Mat::<f32>::from_fn(t.rows, r, |i, j| params[2 * k][i * r + j]);
            let b = Mat::<f32>::from_fn(r, t.cols, |i, j| params[2 * k + 1][i * t.cols + j]);
            let ga = &g * b.transpose();
            let gb = a.transpose() * &g;
            out.push((0..t.rows * r).map(|x| s * ga[(x / r, x % r)]).collect());
            out.push(
                (0..r * t.cols)
                    .map(|x| s * gb[(x / t.cols, x % t.cols)])
                    .collect(),
            );
        }
        out.extend(self.trainable.iter().map(|&i| full[i].clone()));
        Ok(out)
    }

    /// The model's loss closure seen through the adapters.
    pub fn closure<'a>(&'a self, model: &'a mut dyn LossFn) -> LoraLoss<'a> {
        LoraLoss { lora: self, model }
    }
}

/// [`Lora::closure`]: a [`LossFn`] over the LoRA parameters.
pub struct LoraLoss<'a> {
    lora: &'a Lora,
    model: &'a mut dyn LossFn,
}

impl LossFn for LoraLoss<'_> {
    fn loss_and_grads(&mut self, params: &[Vec<f32>]) -> Result<(f32, Vec<Vec<f32>>)> {
        let full = self.lora.merge(params)?;
        let (v, g) = self.model.loss_and_grads(&full)?;
        Ok((v, self.lora.lora_grads(params, &g)?))
    }
}

/// How GGPO turns the weight and gradient norms of output unit `i` into a noise scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GgpoNoise {
    /// `var_i = (σ² w_i² + β² q_i²) / n_in` (the paper's covariance, as quoted; default).
    SumOfSquares,
    /// `std_i = (σ w_i + β q_i) / sqrt(n_out)` (the kohya-ss/sd-scripts port).
    Kohya,
}

/// GGPO's hyperparameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GgpoConfig {
    /// Weight-norm coefficient σ.
    pub sigma: f64,
    /// Gradient-norm coefficient β (0: Flat-LoRA).
    pub beta: f64,
    /// Variance rule.
    pub noise: GgpoNoise,
}

impl Default for GgpoConfig {
    /// σ = 0.03, β = 0.01 — the values the kohya port's users run ("from the LLM
    /// experiments"); the paper's own values could not be verified.
    fn default() -> Self {
        GgpoConfig {
            sigma: 0.03,
            beta: 0.01,
            noise: GgpoNoise::SumOfSquares,
        }
    }
}

impl GgpoConfig {
    /// σ, β finite and >= 0.
    pub fn validate(&self) -> Result<()> {
        optlab_core::config::non_negative("sigma", self.sigma)?;
        optlab_core::config::non_negative("beta", self.beta)
    }

    /// Noise standard deviation of an output unit with weight norm `w` and gradient norm `q`
    /// in a `n_in x n_out` matrix.
    pub fn std(&self, w: f64, q: f64, n_in: usize, n_out: usize) -> f64 {
        match self.noise {
            GgpoNoise::SumOfSquares => {
                ((self.sigma * w).powi(2) + (self.beta * q).powi(2)).sqrt() / (n_in as f64).sqrt()
            }
            GgpoNoise::Kohya => (self.sigma * w + self.beta * q) / (n_out as f64).sqrt(),
        }
    }
}

/// GGPO's state: the previous step's gradient norms per output unit and the noise stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GgpoState {
    /// Per target, `q_i = ||G_{:,i}||` from the last step (empty before the first step).
    pub grad_norms: Vec<Vec<f64>>,
    /// Noise stream (its own, so data order does not depend on the noise).
    pub rng: optlab_core::seed::Rng,
}

impl GgpoState {
    /// Fresh state with the noise stream of `seed`.
    pub fn new(seed: u64) -> Self {
        GgpoState {
            grad_norms: Vec::new(),
            rng: optlab_core::seed::stream(seed, "ggpo-noise"),
        }
    }

    /// State memory in bytes beyond the optimizer's: the stored gradient norms (one f64 per
    /// output unit of each target; the noise stream's few words are not counted).
    pub fn bytes(&self) -> usize {
        self.grad_norms.iter().map(Vec::len).sum::<usize>() * std::mem::size_of::<f64>()
    }
}

/// Column norms (output-unit norms) of a row-major `rows x cols` matrix.
pub fn column_norms(w: &[f32], rows: usize, cols: usize) -> Vec<f64> {
    let mut s = vec![0.0f64; cols];
    for i in 0..rows {
        for (j, acc) in s.iter_mut().enumerate() {
            let v = f64::from(w[i * cols + j]);
            *acc += v * v;
        }
    }
    s.into_iter().map(f64::sqrt).collect()
}

/// What one GGPO step saw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GgpoReport {
    /// Loss at the perturbed point (the only evaluation).
    pub loss: f32,
    /// Mean noise standard deviation over all perturbed entries.
    pub mean_std: f64,
}

/// One LoRA-GGPO step: merge, perturb the merged targets by `ε` (scale per output unit from
/// the weight norms and the previous gradient norms), one evaluation of `model`, map the
/// gradient to the LoRA parameters, record the new gradient norms, apply `transform`.
/// With `σ = β = 0` no noise is drawn and the step is exactly a plain LoRA step. Nothing is
/// modified (parameters, caches) when the loss or gradient is not finite.
#[allow(clippy::too_many_arguments)]
pub fn ggpo_step(
    transform: &mut dyn GradientTransform,
    lr: f64,
    lora: &Lora,
    params: &mut [Vec<f32>],
    decay: &[bool],
    cfg: &GgpoConfig,
    state: &mut GgpoState,
    model: &mut dyn LossFn,
) -> Result<GgpoReport> {
    cfg.validate()?;
    let mut full = lora.merge(params)?;
    let mut std_sum = 0.0;
    let mut count = 0usize;
    if cfg.sigma > 0.0 || cfg.beta > 0.0 {
        for (k, t) in lora.targets.iter().enumerate() {
            let w = column_norms(&full[t.tensor], t.rows, t.cols);
            let stds: Vec<f64> = (0..t.cols)
                .map(|i| {
                    let q = state.grad_norms.get(k).and_then(|g| g.get(i)).copied();
                    cfg.std(w[i], q.unwrap_or(0.0), t.rows, t.cols)
                })
                .collect();
            let m = &mut full[t.tensor];
            for row in m.chunks_exact_mut(t.cols) {
                for (w, sd) in row.iter_mut().zip(&stds) {
                    let z: f64 = state.rng.sample(StandardNormal);
                    *w += (sd * z) as f32;
                }
            }
            std_sum += stds.iter().sum::<f64>() * t.rows as f64;
            count += t.rows * t.cols;
        }
    }
    let (loss, g) = model.loss_and_grads(&full)?;
    if !loss.is_finite() || g.iter().any(|t| t.iter().any(|v| !v.is_finite())) {
        return Err(Error::Numerical(
            "non-finite loss or gradient at the GGPO perturbation".into(),
        ));
    }
    let lg = lora.lora_grads(params, &g)?;
    transform.apply(lr, params, &lg, decay)?;
    state.grad_norms = lora
        .targets
        .iter()
        .map(|t| column_norms(&g[t.tensor], t.rows, t.cols))
        .collect();
    Ok(GgpoReport {
        loss,
        mean_std: if count > 0 {
            std_sum / count as f64
        } else {
            0.0
        },
    })
}
