//! Derivative-free and black-box methods: consensus-based optimization (CBO), covering direct
//! search (cDSM), and directional attacks on network surrogates with the attack + cDSM hybrid.

pub mod attack;
pub mod cbo;
pub mod dsm;

pub use attack::{
    AttackKind, ClassMargin, NegFirst, NetworkProblem, OutputObjective, Surrogate, SurrogateProblem,
};
pub use cbo::{Cbo, CboConfig, CboState, Noise, NormalPrecision, consensus};
pub use dsm::{Barrier, Dsm, DsmConfig, DsmMode, DsmState, householder_poll};
