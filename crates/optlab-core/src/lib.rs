//! The optlab contract shared by every method.
//!
//! * [`config`]: validated configurations ([`config::MethodConfig`], [`config::Checked`]).
//! * [`context`]: the [`context::RunContext`] through which a method performs every side effect
//!   (seeded random streams, metric recording, progress, cancellation, checkpoints, threads).
//! * [`status`]: honest termination statuses and their CLI exit codes.
//! * [`driver`]: the [`driver::Solver`] trait and the one [`driver::Driver`] loop that owns
//!   termination, recording, checkpoints and resume for iterative methods.
//! * [`oracle`]: oracle-call counters (the papers compare methods by oracle calls).
//!
//! This crate depends on neither faer nor burn.

pub mod config;
pub mod context;
pub mod driver;
pub mod error;
pub mod oracle;
pub mod record;
pub mod registry;
pub mod seed;
pub mod status;
pub mod summary;

pub use config::{Checked, MethodConfig};
pub use context::RunContext;
pub use driver::{Driver, Solver, StepReport, Termination};
pub use error::{Error, Result};
pub use oracle::OracleCounts;
pub use record::{MemoryRecorder, Metrics, Recorder};
pub use registry::{MethodInfo, RunSpec};
pub use status::Status;
pub use summary::Summary;
