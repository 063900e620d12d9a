//! AdaGrad (coordinate-wise) and AdaGrad-Norm (scalar), the update rules of AdAdaGrad
//! (Lau, Liu, Kolar, *Adaptive Batch Size Schemes for Adaptive Gradient Methods*, 2024).
//!
//! - AdaGrad: `s_k = s_{k-1} + g_k²`, `x_{k+1} = x_k - lr g_k / D(s_k)`, with two named
//!   conventions: [`AdaGradConvention::Torch`] (`s_0 = 0`, `D = sqrt(s) + 1e-10`, the
//!   reference code's `torch.optim.Adagrad`) and [`AdaGradConvention::Optax`] (`s_0 = 0.1`,
//!   `D = sqrt(s + 1e-7)`).
//! - AdaGrad-Norm (Ward, Wu, Bottou): one scalar `b_k² = b_{k-1}² + ||g_k||²` over *all*
//!   tensors, `x_{k+1} = x_k - lr g_k / b_k` — the method of the paper's theory (the reference
//!   repository's `adagradnorm.py` is a row-wise variant, not implemented here).

use crate::lion::check_shapes;
use crate::real::Real;
use optlab_core::config::positive;
use optlab_core::{Error, MethodConfig, Result};
use serde::{Deserialize, Serialize};

/// AdaGrad's accumulator and denominator convention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AdaGradConvention {
    /// `torch.optim.Adagrad` defaults: `s_0 = 0`, `x -= lr g / (sqrt(s) + 1e-10)`.
    Torch,
    /// `optax.adagrad` defaults: `s_0 = 0.1`, `x -= lr g / sqrt(s + 1e-7)`.
    Optax,
}

impl AdaGradConvention {
    /// `(s_0, eps)`.
    pub fn constants(self) -> (f64, f64) {
        match self {
            AdaGradConvention::Torch => (0.0, 1e-10),
            AdaGradConvention::Optax => (0.1, 1e-7),
        }
    }
}

/// AdaGrad settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdaGradConfig {
    /// Learning rate.
    pub lr: f64,
    /// Accumulator convention.
    pub convention: AdaGradConvention,
}

impl Default for AdaGradConfig {
    fn default() -> Self {
        AdaGradConfig {
            lr: 1e-2,
            convention: AdaGradConvention::Torch,
        }
    }
}

impl MethodConfig for AdaGradConfig {
    fn validate(&self) -> Result<()> {
        positive("lr", self.lr)
    }
}

/// One AdaGrad step on a slice (`s` is the accumulator).
pub fn adagrad_step<T: Real>(
    p: &mut [T],
    g: &[T],
    s: &mut [T],
    lr: f64,
    convention: AdaGradConvention,
) {
    let (_, eps) = convention.constants();
    let (lr, eps) = (cast::<T>(lr), cast::<T>(eps));
    for ((p, g), s) in p.iter_mut().zip(g).zip(s.iter_mut()) {
        *s = *s + *g * *g;
        let d = match convention {
            AdaGradConvention::Torch => s.sqrt() + eps,
            AdaGradConvention::Optax => (*s + eps).sqrt(),
        };
        *p = *p - lr * *g / d;
    }
}

fn cast<T: Real>(v: f64) -> T {
    crate::real::cast(v)
}

/// AdaGrad state: one accumulator per tensor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdaGradState<T> {
    /// Accumulated squared gradients.
    pub s: Vec<Vec<T>>,
    /// Steps taken.
    pub count: u64,
}

impl<T: Real> AdaGradState<T> {
    /// Accumulators at the convention's `s_0` for tensors of these sizes.
    pub fn new(sizes: &[usize], convention: AdaGradConvention) -> Self {
        let s0 = cast::<T>(convention.constants().0);
        AdaGradState {
            s: sizes.iter().map(|&n| vec![s0; n]).collect(),
            count: 0,
        }
    }

    /// Optimizer-state memory in bytes.
    pub fn bytes(&self) -> usize {
        self.s.iter().map(Vec::len).sum::<usize>() * std::mem::size_of::<T>()
    }

    /// One step on every tensor.
    pub fn step(
        &mut self,
        cfg: &AdaGradConfig,
        lr: f64,
        params: &mut [Vec<T>],
        grads: &[Vec<T>],
    ) -> Result<()> {
        let decay = vec![false; params.len()];
        check_shapes(params, grads, &self.s, &decay)?;
        for ((p, g), s) in params.iter_mut().zip(grads).zip(self.s.iter_mut()) {
            adagrad_step(p, g, s, lr, cfg.convention);
        }
        self.count += 1;
        Ok(())
    }
}

/// AdaGrad-Norm settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdaGradNormConfig {
    /// Learning rate.
    pub lr: f64,
    /// `b_0² > 0`.
    pub b0_sq: f64,
}

impl Default for AdaGradNormConfig {
    fn default() -> Self {
        AdaGradNormConfig {
            lr: 1e-2,
            b0_sq: 1e-2,
        }
    }
}

impl MethodConfig for AdaGradNormConfig {
    fn validate(&self) -> Result<()> {
        positive("lr", self.lr)?;
        positive("b0_sq", self.b0_sq)
    }
}

/// AdaGrad-Norm state: one scalar for the whole model.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdaGradNormState {
    /// `b_k²`.
    pub b_sq: f64,
    /// Steps taken.
    pub count: u64,
}

impl AdaGradNormState {
    /// The state at `b_0²`.
    pub fn new(cfg: &AdaGradNormConfig) -> Result<Self> {
        cfg.validate()?;
        Ok(AdaGradNormState {
            b_sq: cfg.b0_sq,
            count: 0,
        })
    }

    /// Optimizer-state memory in bytes (one f64).
    pub fn bytes(&self) -> usize {
        std::mem::size_of::<f64>()
    }

    /// One step: `b² += ||g||²` over all tensors, then `x -= lr g / b`.
    pub fn step<T: Real>(
        &mut self,
        lr: f64,
        params: &mut [Vec<T>],
        grads: &[Vec<T>],
    ) -> Result<()> {
        if params.len() != grads.len() || params.iter().zip(grads).any(|(p, g)| p.len() != g.len())
        {
            return Err(Error::Other(
                "AdaGrad-Norm: parameter and gradient shapes differ".into(),
            ));
        }
        let sq: f64 = grads
            .iter()
            .flat_map(|g| g.iter())
            .map(|v| {
                let v = v.to_f64().unwrap_or(f64::NAN);
                v * v
            })
            .sum();
        if !sq.is_finite() {
            return Err(Error::Numerical(
                "AdaGrad-Norm: non-finite gradient norm".into(),
            ));
        }
        self.b_sq += sq;
        let scale = cast::<T>(lr / self.b_sq.sqrt());
        for (p, g) in params.iter_mut().zip(grads) {
            p.iter_mut().zip(g).for_each(|(p, g)| *p = *p - scale * *g);
        }
        self.count += 1;
        Ok(())
    }
}
