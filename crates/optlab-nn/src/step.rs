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

/// `GradientTransform` for a per-tensor rule, owned `(config, state)` or borrowed
/// `(&config, &mut state)` (a trainer that stores them apart).
macro_rules! per_tensor_transform {
    ($cfg:ty, $state:ty) => {
        impl GradientTransform for ($cfg, $state) {
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

        impl GradientTransform for (&$cfg, &mut $state) {
            fn apply(
                &mut self,
                lr: f64,
                params: &mut [Vec<f32>],
                grads: &[Vec<f32>],
                decay: &[bool],
            ) -> Result<()> {
                self.1.step(self.0, lr, params, grads, decay)
            }
            fn state_numel(&self) -> usize {
                self.1.numel()
            }
        }
    };
}

per_tensor_transform!(LionConfig, LionState<f32>);
per_tensor_transform!(AdamWConfig, AdamWState<f32>);

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

/// What one SAM step saw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamReport {
    /// Loss at the parameters before the update.
    pub loss: f32,
    /// Loss at the perturbed point `p + e`.
    pub perturbed_loss: f32,
    /// Global gradient norm `||g||` (all tensors).
    pub grad_norm: f64,
}

fn finite(value: f32, grads: &[Vec<f32>]) -> bool {
    value.is_finite() && grads.iter().all(|g| g.iter().all(|v| v.is_finite()))
}

/// One SAM step (Foret, Kleiner, Mobahi, Neyshabur, *Sharpness-Aware Minimization*, ICLR
/// 2021): `g = ∇L(p)`, `e = rho g / ||g||` with the global norm over all tensors,
/// `g_sam = ∇L(p + e)`, then `transform` applies `g_sam` at `p`.
///
/// Two loss evaluations. The perturbed point is a copy, so the parameters are restored
/// exactly (subtracting `e` again would not give `p` back in floating point); nothing is
/// modified when either evaluation is non-finite. With `||g|| = 0` there is no ascent
/// direction: `e = 0` and the first gradient is applied without a second evaluation.
pub fn sam_step(
    transform: &mut dyn GradientTransform,
    lr: f64,
    rho: f64,
    params: &mut [Vec<f32>],
    decay: &[bool],
    loss: &mut dyn LossFn,
) -> Result<SamReport> {
    if !(rho.is_finite() && rho >= 0.0) {
        return Err(Error::config("rho", format!("must be >= 0, got {rho}")));
    }
    let (value, grads) = loss.loss_and_grads(params)?;
    if !finite(value, &grads) {
        return Err(Error::Numerical("non-finite loss or gradient".into()));
    }
    let grad_norm = grads
        .iter()
        .flat_map(|g| g.iter())
        .map(|v| f64::from(*v) * f64::from(*v))
        .sum::<f64>()
        .sqrt();
    if grad_norm == 0.0 || rho == 0.0 {
        transform.apply(lr, params, &grads, decay)?;
        return Ok(SamReport {
            loss: value,
            perturbed_loss: value,
            grad_norm,
        });
    }
    let scale = rho / grad_norm;
    let perturbed: Vec<Vec<f32>> = params
        .iter()
        .zip(&grads)
        .map(|(p, g)| {
            p.iter()
                .zip(g)
                .map(|(a, b)| (f64::from(*a) + scale * f64::from(*b)) as f32)
                .collect()
        })
        .collect();
    let (perturbed_loss, sam_grads) = loss.loss_and_grads(&perturbed)?;
    if !finite(perturbed_loss, &sam_grads) {
        return Err(Error::Numerical(
            "non-finite loss or gradient at the SAM perturbation".into(),
        ));
    }
    transform.apply(lr, params, &sam_grads, decay)?;
    Ok(SamReport {
        loss: value,
        perturbed_loss,
        grad_norm,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plain SGD, for hand-checkable steps.
    struct Sgd;

    impl GradientTransform for Sgd {
        fn apply(
            &mut self,
            lr: f64,
            params: &mut [Vec<f32>],
            grads: &[Vec<f32>],
            _decay: &[bool],
        ) -> Result<()> {
            for (p, g) in params.iter_mut().zip(grads) {
                p.iter_mut().zip(g).for_each(|(a, b)| *a -= (lr as f32) * b);
            }
            Ok(())
        }
        fn state_numel(&self) -> usize {
            0
        }
    }

    /// f(p) = ½ Σ a_i p_i² over two tensors: one SAM step by hand.
    #[test]
    fn sam_step_by_hand_and_guards() {
        let a = [1.0f64, 3.0, 0.5];
        let mut loss = |p: &[Vec<f32>]| -> Result<(f32, Vec<Vec<f32>>)> {
            let flat: Vec<f64> = p.iter().flatten().map(|v| f64::from(*v)).collect();
            let v: f64 = flat.iter().zip(&a).map(|(x, ai)| 0.5 * ai * x * x).sum();
            let g: Vec<f64> = flat.iter().zip(&a).map(|(x, ai)| ai * x).collect();
            Ok((
                v as f32,
                vec![vec![g[0] as f32, g[1] as f32], vec![g[2] as f32]],
            ))
        };
        let p0 = [1.0f64, 2.0, -4.0];
        let mut params = vec![vec![1.0f32, 2.0], vec![-4.0]];
        let r = sam_step(&mut Sgd, 0.1, 0.05, &mut params, &[true, false], &mut loss).unwrap();
        // g = (1, 6, -2), ||g|| = sqrt(41), e = 0.05 g / ||g||, g_sam = a ∘ (p + e).
        let g = [1.0, 6.0, -2.0];
        let n = 41.0f64.sqrt();
        assert!((r.grad_norm - n).abs() < 1e-6);
        let want: Vec<f64> = (0..3)
            .map(|i| p0[i] - 0.1 * a[i] * (p0[i] + 0.05 * g[i] / n))
            .collect();
        let got = [params[0][0], params[0][1], params[1][0]];
        for i in 0..3 {
            assert!(
                (f64::from(got[i]) - want[i]).abs() < 1e-6,
                "{got:?} vs {want:?}"
            );
        }
        assert!(r.perturbed_loss > r.loss, "the perturbation ascends");
        // rho = 0 is plain SGD; a NaN at the perturbed point leaves the parameters untouched.
        let mut plain = vec![vec![1.0f32, 2.0], vec![-4.0]];
        sam_step(&mut Sgd, 0.1, 0.0, &mut plain, &[true, false], &mut loss).unwrap();
        assert!((plain[0][1] - (2.0 - 0.1 * 6.0)).abs() < 1e-6);
        let mut calls = 0;
        let mut nan_second = |p: &[Vec<f32>]| -> Result<(f32, Vec<Vec<f32>>)> {
            calls += 1;
            if calls == 2 {
                return Ok((f32::NAN, vec![vec![0.0; 2], vec![0.0]]));
            }
            Ok((1.0, vec![p[0].clone(), p[1].clone()]))
        };
        let before = params.clone();
        assert!(matches!(
            sam_step(
                &mut Sgd,
                0.1,
                0.05,
                &mut params,
                &[true, false],
                &mut nan_second
            ),
            Err(Error::Numerical(_))
        ));
        assert_eq!(params, before);
        assert!(sam_step(&mut Sgd, 0.1, -1.0, &mut params, &[true, false], &mut loss).is_err());
    }

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
