//! Equality-constrained optimization: AdaSketch-Newton and its exact-KKT baselines.

pub mod adasketch;
pub mod sketch;

pub use adasketch::{
    AdaSketch, AdaSketchConfig, EqState, InnerSolver, MeritHessian, merit_gradient, merit_value,
};
pub use sketch::{RowSampling, SketchKind, SketchRun, SketchSystem};
