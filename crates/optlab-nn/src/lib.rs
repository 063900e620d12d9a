//! optlab's neural-network side: fused optimizer kernels (Lion, AdamW, AdaGrad, AdaGrad-Norm)
//! over flat parameter slices, AdAdaGrad's adaptive batch-size tests, and burn-based models and
//! training loops.

pub mod adadagrad;
pub mod adagrad;
pub mod adamw;
pub mod batch_size;
pub mod encoder;
mod flat;
pub mod galore;
pub mod kernels_bench;
pub mod lion;
pub mod lm;
pub mod lora;
pub mod methods;
pub mod mlp;
pub mod module;
pub mod real;
pub mod step;
pub mod surrogate;
pub mod train;

pub use adamw::{AdamWConfig, AdamWState};
pub use lion::{LionConfig, LionState};
pub use methods::methods;
