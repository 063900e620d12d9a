//! A run directory created on first write, so that a run rejected during validation (bad
//! config, bad data, wrong problem) leaves nothing on disk.

use optlab_core::context::CheckpointSink;
use optlab_core::{Error, Metrics, Recorder, Result, RunSpec};
use optlab_report::rundir::{JsonlRecorder, Manifest, RunDir};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

enum Where {
    Pending {
        root: PathBuf,
        spec: Box<RunSpec>,
        manifest: Box<Manifest>,
    },
    Ready(RunDir),
}

/// Shared handle to the (maybe not yet created) run directory.
#[derive(Clone)]
pub struct LazyRunDir(Arc<Mutex<Where>>);

impl LazyRunDir {
    /// Will create `root/<stamp>-<method>-<hash>` on first write.
    pub fn pending(root: PathBuf, spec: RunSpec, manifest: Manifest) -> Self {
        LazyRunDir(Arc::new(Mutex::new(Where::Pending {
            root,
            spec: Box::new(spec),
            manifest: Box::new(manifest),
        })))
    }

    /// An existing directory (resume).
    pub fn existing(dir: RunDir) -> Self {
        LazyRunDir(Arc::new(Mutex::new(Where::Ready(dir))))
    }

    fn lock(&self) -> MutexGuard<'_, Where> {
        match self.0.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// The directory, creating it if needed.
    pub fn get(&self) -> Result<RunDir> {
        let mut g = self.lock();
        if let Where::Pending {
            root,
            spec,
            manifest,
        } = &*g
        {
            let dir = RunDir::create(root, spec, manifest)?;
            *g = Where::Ready(dir);
        }
        match &*g {
            Where::Ready(d) => Ok(d.clone()),
            Where::Pending { .. } => Err(Error::Other("run directory not created".into())),
        }
    }

    /// The directory if it exists.
    pub fn created(&self) -> Option<RunDir> {
        match &*self.lock() {
            Where::Ready(d) => Some(d.clone()),
            Where::Pending { .. } => None,
        }
    }

    /// A recorder appending to `metrics.jsonl`.
    pub fn recorder(&self) -> LazyRecorder {
        LazyRecorder {
            dir: self.clone(),
            inner: None,
        }
    }

    /// A checkpoint sink under `checkpoints/`.
    pub fn checkpoints(&self, keep: usize) -> LazyCheckpoints {
        LazyCheckpoints {
            dir: self.clone(),
            keep,
        }
    }
}

/// See [`LazyRunDir::recorder`].
pub struct LazyRecorder {
    dir: LazyRunDir,
    inner: Option<JsonlRecorder>,
}

impl Recorder for LazyRecorder {
    fn record(&mut self, row: &Metrics) -> Result<()> {
        if self.inner.is_none() {
            self.inner = Some(self.dir.get()?.recorder()?);
        }
        match self.inner.as_mut() {
            Some(r) => r.record(row),
            None => Ok(()),
        }
    }
}

/// See [`LazyRunDir::checkpoints`].
pub struct LazyCheckpoints {
    dir: LazyRunDir,
    keep: usize,
}

impl CheckpointSink for LazyCheckpoints {
    fn save(&mut self, step: u64, state: &[u8]) -> Result<()> {
        self.dir.get()?.checkpoint_sink(self.keep).save(step, state)
    }
}
