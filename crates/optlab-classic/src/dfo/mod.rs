//! Derivative-free and black-box methods: consensus-based optimization (CBO), covering direct
//! search (cDSM), and directional attacks on network surrogates with the attack + cDSM hybrid.

pub mod attack;
pub mod cbo;
pub mod dsm;

pub use attack::{
    AttackKind, ClassMargin, NegFirst, NetworkProblem, OutputObjective, Surrogate, SurrogateProblem,
};
pub use cbo::{Cbo, CboConfig, CboState, Noise, consensus};
pub use dsm::{Barrier, Dsm, DsmConfig, DsmMode, DsmState, householder_poll};

use optlab_core::seed::Rng;
use rand::Rng as _;

/// One standard normal (Box–Muller).
pub(crate) fn cbo_normal(rng: &mut Rng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}
