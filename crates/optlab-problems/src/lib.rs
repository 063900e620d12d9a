//! Test problems with known answers, embedded datasets, loaders and derivative checkers.

pub mod bilevel;
pub mod blackbox;
pub mod catalog;
pub mod check;
pub mod constrained;
pub mod dag;
pub mod data;
pub mod jet;
pub mod oracle;
pub mod smooth;
pub mod softmax;

pub use constrained::{CountedEq, EqProblem};
pub use oracle::{Counted, HessianKind, SmoothProblem};
