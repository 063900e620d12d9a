//! Test problems with known answers, embedded datasets, loaders and derivative checkers.

pub mod data;
