//! optlab's neural-network side: fused optimizer kernels (Lion, AdamW) over flat parameter
//! slices, and burn-based models and training loops.

pub mod adamw;
pub mod lion;
pub mod real;

pub use adamw::{AdamWConfig, AdamWState};
pub use lion::{LionConfig, LionState};
