//! AdamW (Loshchilov & Hutter, 2019) as a fused pass — the baseline Lion is compared with.
//!
//! Follows `optax.adamw` exactly (bias-corrected moments, `eps` outside the square root,
//! decoupled decay added to the update before scaling by `-lr`):
//!
//! ```text
//! mu = b1 mu + (1 - b1) g;  nu = b2 nu + (1 - b2) g^2;  t += 1
//! u  = (mu / (1 - b1^t)) / (sqrt(nu / (1 - b2^t)) + eps) + wd * p
//! p  = p + (-lr) * u
//! ```

use crate::lion::{CHUNK, check_shapes};
use crate::real::{Real, cast};
use optlab_core::config::{in_unit_interval, non_negative, positive};
use optlab_core::{MethodConfig, Result};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// AdamW hyperparameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdamWConfig {
    /// Learning rate. Default 1e-3.
    pub lr: f64,
    /// First-moment decay. Default 0.9.
    pub beta1: f64,
    /// Second-moment decay. Default 0.999.
    pub beta2: f64,
    /// Added to the root of the second moment. Default 1e-8 (optax); the Lion paper's AdamW
    /// baselines use 1e-6.
    pub eps: f64,
    /// Decoupled weight decay (multiplied by lr). Default 1e-4 (optax).
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        AdamWConfig {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 1e-4,
        }
    }
}

impl MethodConfig for AdamWConfig {
    fn validate(&self) -> Result<()> {
        positive("lr", self.lr)?;
        in_unit_interval("beta1", self.beta1)?;
        in_unit_interval("beta2", self.beta2)?;
        positive("eps", self.eps)?;
        non_negative("weight_decay", self.weight_decay)
    }
}

#[allow(clippy::too_many_arguments)]
fn adamw_serial<T: Real>(
    p: &mut [T],
    g: &[T],
    mu: &mut [T],
    nu: &mut [T],
    lr: f64,
    cfg: &AdamWConfig,
    wd: f64,
    t: u64,
) {
    let (b1, b2) = (cast::<T>(cfg.beta1), cast::<T>(cfg.beta2));
    let (one_b1, one_b2) = (cast::<T>(1.0 - cfg.beta1), cast::<T>(1.0 - cfg.beta2));
    let t = i32::try_from(t).unwrap_or(i32::MAX);
    let bc1 = T::one() - b1.powi(t);
    let bc2 = T::one() - b2.powi(t);
    let (eps, wd, neg_lr) = (cast::<T>(cfg.eps), cast::<T>(wd), cast::<T>(-lr));
    let n = p.len().min(g.len()).min(mu.len()).min(nu.len());
    for i in 0..n {
        let gi = g[i];
        let m = one_b1 * gi + b1 * mu[i];
        let v = one_b2 * (gi * gi) + b2 * nu[i];
        mu[i] = m;
        nu[i] = v;
        let u = (m / bc1) / ((v / bc2).sqrt() + eps) + wd * p[i];
        p[i] = p[i] + neg_lr * u;
    }
}

/// AdamW state for a list of flat parameter tensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdamWState<T> {
    /// First moments.
    pub mu: Vec<Vec<T>>,
    /// Second moments.
    pub nu: Vec<Vec<T>>,
    /// Steps taken.
    pub count: u64,
}

impl<T: Real> AdamWState<T> {
    /// Zero moments for tensors of these sizes.
    pub fn new(sizes: &[usize]) -> Self {
        AdamWState {
            mu: sizes.iter().map(|&n| vec![T::zero(); n]).collect(),
            nu: sizes.iter().map(|&n| vec![T::zero(); n]).collect(),
            count: 0,
        }
    }

    /// Number of state scalars (2x the parameters).
    pub fn numel(&self) -> usize {
        self.mu.iter().chain(&self.nu).map(Vec::len).sum()
    }

    /// Optimizer-state memory in bytes (the moments; the step counter is not counted).
    pub fn bytes(&self) -> usize {
        self.numel() * std::mem::size_of::<T>()
    }

    /// One step on every tensor; `decay[i]` says whether tensor i is decayed.
    pub fn step(
        &mut self,
        cfg: &AdamWConfig,
        lr: f64,
        params: &mut [Vec<T>],
        grads: &[Vec<T>],
        decay: &[bool],
    ) -> Result<()> {
        check_shapes(params, grads, &self.mu, decay)?;
        check_shapes(params, grads, &self.nu, decay)?;
        self.count += 1;
        let t = self.count;
        for (i, (p, g)) in params.iter_mut().zip(grads).enumerate() {
            let wd = if decay[i] { cfg.weight_decay } else { 0.0 };
            let (mu, nu) = (&mut self.mu[i], &mut self.nu[i]);
            if p.len() <= CHUNK || rayon::current_num_threads() == 1 {
                adamw_serial(p, g, mu, nu, lr, cfg, wd, t);
            } else {
                p.par_chunks_mut(CHUNK)
                    .zip(g.par_chunks(CHUNK))
                    .zip(mu.par_chunks_mut(CHUNK))
                    .zip(nu.par_chunks_mut(CHUNK))
                    .for_each(|(((p, g), mu), nu)| adamw_serial(p, g, mu, nu, lr, cfg, wd, t));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// First step by hand: mu = 0.1 g, nu = 0.001 g^2, bias-corrected mu_hat = g,
    /// nu_hat = g^2, so u = g/(|g| + eps) + wd p and p1 = p - lr (sign(g) |g|/(|g|+eps) + wd p).
    #[test]
    fn first_step_by_hand() {
        let cfg = AdamWConfig {
            lr: 0.1,
            eps: 1e-8,
            weight_decay: 0.01,
            ..Default::default()
        };
        let mut st = AdamWState::<f64>::new(&[2]);
        let mut p = vec![vec![1.0, -2.0]];
        st.step(&cfg, 0.1, &mut p, &[vec![0.5, -4.0]], &[true])
            .unwrap();
        let want0 = 1.0 - 0.1 * (0.5 / (0.5 + 1e-8) + 0.01 * 1.0);
        let want1 = -2.0 - 0.1 * (-4.0 / (4.0 + 1e-8) + 0.01 * -2.0);
        assert!((p[0][0] - want0).abs() < 1e-14, "{}", p[0][0]);
        assert!((p[0][1] - want1).abs() < 1e-14, "{}", p[0][1]);
        assert_eq!(st.numel(), 4);
    }
}
