//! Test problems with known answers, embedded datasets, loaders and derivative checkers.

pub mod catalog;
pub mod check;
pub mod data;
pub mod oracle;
pub mod smooth;

pub use oracle::{Counted, HessianKind, SmoothProblem};
