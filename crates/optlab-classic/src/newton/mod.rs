//! Second-order methods for smooth problems: gradient-regularized Newton and its baselines.

pub mod baselines;
pub mod common;
pub mod grn;

pub use baselines::{
    Baseline, CubicNewtonConfig, FgmConfig, GdConfig, NewtonLsConfig, SuperNewtonConfig, cubic_step,
};
pub use grn::{Grn, GrnConfig};
