//! Bilevel methods on [`optlab_problems::bilevel::Bilevel`] problems.
//!
//! - [`hypergrad`]: BO-REP (Hao, Gong, Liu, ICLR 2024) and the two baselines it is compared
//!   with in the same run — approximate implicit differentiation with conjugate gradients
//!   (AID-CG) and a StocBiO-style stochastic method (Neumann-series hypergradient).
//! - [`lvhba`]: LV-HBA (Yao, Yu, Zeng, Zhang, ICLR 2024), the single-loop Hessian-free method
//!   for lower-level constraints.

pub mod hypergrad;
pub mod lvhba;

pub use hypergrad::{AidCgConfig, BoRepConfig, HypergradSolver, HypergradState, StocBioConfig};
pub use lvhba::{LvHba, LvHbaConfig, LvHbaState, LvHbaVariant};

use optlab_core::seed::{Rng, splitmix64};
use rand::SeedableRng;

/// The generator of step `t` of a run with seed `seed` (a fresh stream per step, so that a
/// resumed run draws exactly what an uninterrupted one would).
pub(crate) fn step_rng(seed: u64, t: u64, salt: u64) -> Rng {
    Rng::seed_from_u64(splitmix64(seed ^ splitmix64(t ^ splitmix64(salt))))
}

/// `a += s b`.
pub(crate) fn axpy(a: &mut [f64], s: f64, b: &[f64]) {
    a.iter_mut().zip(b).for_each(|(u, v)| *u += s * v);
}
