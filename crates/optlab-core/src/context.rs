//! The run context: every side effect of a method goes through it.

use crate::error::Result;
use crate::record::{Metrics, NullRecorder, Recorder};
use crate::seed::{self, Rng};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Progress reporting (a bar on stderr in the CLI, nothing in tests).
pub trait Progress: Send {
    /// Total number of steps, when known.
    fn set_total(&self, total: u64);
    /// Steps done so far.
    fn set_position(&self, pos: u64);
    /// A short status message (e.g. the current objective).
    fn set_message(&self, msg: &str);
    /// Whether messages are shown (callers skip formatting them when not; default `true`).
    fn shows_messages(&self) -> bool {
        true
    }
    /// The run ended.
    fn finish(&self);
}

/// No progress output.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn set_total(&self, _total: u64) {}
    fn set_position(&self, _pos: u64) {}
    fn set_message(&self, _msg: &str) {}
    fn shows_messages(&self) -> bool {
        false
    }
    fn finish(&self) {}
}

/// Where checkpoints go. Implementations must be atomic: a crash never leaves a half
/// checkpoint (write to a temporary name, then rename).
pub trait CheckpointSink: Send {
    /// Persist the serialized state reached after `step`.
    fn save(&mut self, step: u64, state: &[u8]) -> Result<()>;
}

/// Checkpoints kept in memory: `(step, state bytes)`.
type Saved = Vec<(u64, Vec<u8>)>;

/// Keeps checkpoints in memory; clones share the buffer (for tests).
#[derive(Debug, Clone, Default)]
pub struct MemoryCheckpoints {
    saved: Arc<std::sync::Mutex<Saved>>,
}

impl MemoryCheckpoints {
    /// Empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The most recent checkpoint, if any.
    pub fn latest(&self) -> Option<(u64, Vec<u8>)> {
        let g = match self.saved.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        g.last().cloned()
    }

    /// Number of checkpoints written.
    pub fn len(&self) -> usize {
        match self.saved.lock() {
            Ok(g) => g.len(),
            Err(p) => p.into_inner().len(),
        }
    }

    /// True when nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl CheckpointSink for MemoryCheckpoints {
    fn save(&mut self, step: u64, state: &[u8]) -> Result<()> {
        match self.saved.lock() {
            Ok(mut g) => g.push((step, state.to_vec())),
            Err(p) => p.into_inner().push((step, state.to_vec())),
        }
        Ok(())
    }
}

/// Seed streams, recorder, progress, cancellation, checkpoints, clock and thread count.
pub struct RunContext {
    seed: u64,
    threads: usize,
    recorder: Box<dyn Recorder>,
    progress: Box<dyn Progress>,
    cancel: Arc<AtomicBool>,
    cancel_after: Option<u64>,
    checkpoints: Option<Box<dyn CheckpointSink>>,
    checkpoint_every: u64,
    resume: Option<Vec<u8>>,
    start: Instant,
}

impl std::fmt::Debug for RunContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunContext")
            .field("seed", &self.seed)
            .field("threads", &self.threads)
            .field("cancel_after", &self.cancel_after)
            .field("checkpoint_every", &self.checkpoint_every)
            .field("resuming", &self.resume.is_some())
            .finish()
    }
}

impl RunContext {
    /// A context with the given seed, one thread, no recording, no progress, no checkpoints.
    pub fn new(seed: u64) -> Self {
        RunContext {
            seed,
            threads: 1,
            recorder: Box::new(NullRecorder),
            progress: Box::new(NoProgress),
            cancel: Arc::new(AtomicBool::new(false)),
            cancel_after: None,
            checkpoints: None,
            checkpoint_every: 0,
            resume: None,
            start: Instant::now(),
        }
    }

    /// Set the thread count (>= 1).
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// Send metric rows to `recorder`.
    pub fn with_recorder(mut self, recorder: impl Recorder + 'static) -> Self {
        self.recorder = Box::new(recorder);
        self
    }

    /// Report progress to `progress`.
    pub fn with_progress(mut self, progress: Box<dyn Progress>) -> Self {
        self.progress = progress;
        self
    }

    /// Use `flag` as the cancellation flag (the CLI sets it from Ctrl-C).
    pub fn with_cancel_flag(mut self, flag: Arc<AtomicBool>) -> Self {
        self.cancel = flag;
        self
    }

    /// Behave as if cancelled once `steps` steps have completed (used to test resume).
    pub fn with_cancel_after(mut self, steps: Option<u64>) -> Self {
        self.cancel_after = steps;
        self
    }

    /// Write a checkpoint every `every` steps (0: only when the run stops) to `sink`.
    pub fn with_checkpoints(mut self, sink: impl CheckpointSink + 'static, every: u64) -> Self {
        self.checkpoints = Some(Box::new(sink));
        self.checkpoint_every = every;
        self
    }

    /// Start from this serialized state instead of the method's initial state.
    pub fn with_resume(mut self, state: Vec<u8>) -> Self {
        self.resume = Some(state);
        self
    }

    /// The run seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The thread count methods must use.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// A deterministic generator for the stream `name` (see [`crate::seed`]).
    pub fn rng(&self, name: &str) -> Rng {
        seed::stream(self.seed, name)
    }

    /// Record a metric row.
    pub fn record(&mut self, row: &Metrics) -> Result<()> {
        self.recorder.record(row)
    }

    /// The progress handle.
    pub fn progress(&self) -> &dyn Progress {
        self.progress.as_ref()
    }

    /// True once cancellation was requested, or `step` reached the simulated cancel point.
    pub fn cancelled(&self, step: u64) -> bool {
        self.cancel.load(Ordering::SeqCst) || self.cancel_after.is_some_and(|n| step >= n)
    }

    /// Seconds since this context was created.
    pub fn elapsed(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// Checkpoint interval in steps (0: only at the end).
    pub fn checkpoint_every(&self) -> u64 {
        self.checkpoint_every
    }

    /// Whether checkpoints go anywhere (the driver skips encoding the state when not).
    pub fn has_checkpoints(&self) -> bool {
        self.checkpoints.is_some()
    }

    /// Save a checkpoint if a sink is configured.
    pub fn save_checkpoint(&mut self, step: u64, state: &[u8]) -> Result<()> {
        match self.checkpoints.as_mut() {
            Some(sink) => sink.save(step, state),
            None => Ok(()),
        }
    }

    /// Take the state to resume from, if any (only the first call returns it).
    pub fn take_resume(&mut self) -> Option<Vec<u8>> {
        self.resume.take()
    }
}
