//! The small optax-style layer for NN steps: a loss closure and gradient transforms over flat
//! parameter slices.
//!
//! Per-tensor rules ([`crate::LionState`], [`crate::AdamWState`]) implement
//! [`GradientTransform`]; a step-level algorithm receives the loss as a closure ([`LossFn`]) so
//! that methods needing the loss more than once per step (SAM-style perturbations, line
//! searches, batch-size tests) can call it again. [`step`] is the plain protocol: one loss
//! evaluation, a finiteness check (nothing is modified on a non-finite loss or gradient), one
//! update.

use crate::adamw::{AdamWConfig, AdamWState};
use crate::lion::{LionConfig, LionState};
use optlab_core::{Error, Result};

/// Loss and gradient at the given parameters.
pub trait LossFn {
    /// Evaluate.
    fn loss_and_grads(&mut self, params: &[Vec<f32>]) -> Result<(f32, Vec<Vec<f32>>)>;
}

impl<F> LossFn for F
where
    F: FnMut(&[Vec<f32>]) -> Result<(f32, Vec<Vec<f32>>)>,
{
    fn loss_and_grads(&mut self, params: &[Vec<f32>]) -> Result<(f32, Vec<Vec<f32>>)> {
        self(params)
    }
}

/// An element-wise update rule with its state.
pub trait GradientTransform {
    /// Apply one update with learning rate `lr`; `decay[i]` masks weight decay per tensor.
    fn apply(
        &mut self,
        lr: f64,
        params: &mut [Vec<f32>],
        grads: &[Vec<f32>],
        decay: &[bool],
    ) -> Result<()>;
    /// Scalars of optimizer state (memory accounting).
    fn state_numel(&self) -> usize;
}

/// Lion with its hyperparameters.
impl GradientTransform for (LionConfig, LionState<f32>) {
    fn apply(
        &mut self,
        lr: f64,
        params: &mut [Vec<f32>],
        grads: &[Vec<f32>],
        decay: &[bool],
    ) -> Result<()> {
        self.1.step(&self.0, lr, params, grads, decay)
    }
    fn state_numel(&self) -> usize {
        self.1.numel()
    }
}

/// AdamW with its hyperparameters.
impl GradientTransform for (AdamWConfig, AdamWState<f32>) {
    fn apply(
        &mut self,
        lr: f64,
        params: &mut [Vec<f32>],
        grads: &[Vec<f32>],
        decay: &[bool],
    ) -> Result<()> {
        self.1.step(&self.0, lr, params, grads, decay)
    }
    fn state_numel(&self) -> usize {
        self.1.numel()
    }
}

/// One plain step: evaluate `loss`, refuse non-finite values (parameters untouched, error
/// [`Error::Numerical`]), apply `transform`. Returns the loss before the update.
pub fn step(
    transform: &mut dyn GradientTransform,
    lr: f64,
    params: &mut [Vec<f32>],
    decay: &[bool],
    loss: &mut dyn LossFn,
) -> Result<f32> {
    let (value, grads) = loss.loss_and_grads(params)?;
    if !value.is_finite() || grads.iter().any(|g| g.iter().any(|v| !v.is_finite())) {
        return Err(Error::Numerical("non-finite loss or gradient".into()));
    }
    transform.apply(lr, params, &grads, decay)?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// f(p) = 1/2 ||p - 3||^2 with Lion: every step moves each coordinate by lr towards 3.
    #[test]
    fn closure_step_with_lion_and_nan_guard() {
        let mut t = (
            LionConfig {
                lr: 0.1,
                ..Default::default()
            },
            LionState::<f32>::new(&[2]),
        );
        let mut params = vec![vec![0.0f32, 5.0]];
        let mut loss = |p: &[Vec<f32>]| -> Result<(f32, Vec<Vec<f32>>)> {
            let g: Vec<f32> = p[0].iter().map(|v| v - 3.0).collect();
            Ok((0.5 * g.iter().map(|v| v * v).sum::<f32>(), vec![g]))
        };
        let l0 = step(&mut t, 0.1, &mut params, &[true], &mut loss).unwrap();
        assert_eq!(l0, 0.5 * (9.0 + 4.0));
        assert!((params[0][0] - 0.1).abs() < 1e-7 && (params[0][1] - 4.9).abs() < 1e-6);
        assert_eq!(t.state_numel(), 2);
        let before = params.clone();
        let mut bad = |_: &[Vec<f32>]| -> Result<(f32, Vec<Vec<f32>>)> {
            Ok((f32::NAN, vec![vec![0.0, 0.0]]))
        };
        assert!(matches!(
            step(&mut t, 0.1, &mut params, &[true], &mut bad),
            Err(Error::Numerical(_))
        ));
        assert_eq!(params, before, "nothing applied on a non-finite loss");
    }
}
