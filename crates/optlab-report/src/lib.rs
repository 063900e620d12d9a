//! Run records on disk and the reports made from them.
//!
//! A run lives in `runs/<UTC time>-<method>-<config hash>/` (see `docs/ARCHITECTURE.md` §4):
//! `config.toml`, `manifest.json`, `metrics.jsonl`, `summary.json`, `checkpoints/step-N/`,
//! and `plots/*.svg` written by `optlab report`.

pub mod fsutil;
pub mod plot;
pub mod rundir;
pub mod table;

pub use plot::{LinePlot, Series};
pub use rundir::{FileCheckpoints, JsonlRecorder, Manifest, RunDir};
pub use table::MarkdownTable;
