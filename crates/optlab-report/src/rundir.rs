//! The run directory: config, manifest, metrics, summary, checkpoints.

use crate::fsutil::{utc_rfc3339, utc_stamp, write_atomic};
use optlab_core::context::CheckpointSink;
use optlab_core::{Error, Metrics, Recorder, Result, RunSpec, Summary};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Provenance of a run (`manifest.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// optlab's version.
    pub optlab_version: String,
    /// `git rev-parse HEAD` of the source tree, or "unknown".
    pub git_commit: String,
    /// Method name.
    pub method: String,
    /// Problem name.
    pub problem: String,
    /// Run seed.
    pub seed: u64,
    /// Threads.
    pub threads: usize,
    /// CPU model.
    pub cpu: String,
    /// The command line that started the run.
    pub command_line: Vec<String>,
    /// When the run started (UTC).
    pub started_at: String,
    /// When it was resumed, if ever.
    #[serde(default)]
    pub resumed_at: Vec<String>,
}

/// The summary file: the method's [`Summary`] plus what it ran on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryFile {
    /// Method name.
    pub method: String,
    /// Problem name.
    pub problem: String,
    /// Seed.
    pub seed: u64,
    /// The result.
    #[serde(flatten)]
    pub summary: Summary,
    /// Peak resident memory of the process in MiB (Linux `VmHWM`), if known.
    pub peak_memory_mib: Option<f64>,
}

/// A run directory on disk.
#[derive(Debug, Clone)]
pub struct RunDir {
    path: PathBuf,
}

/// FNV-1a of the resolved config text, as 8 hex digits.
pub fn config_hash(text: &str) -> String {
    format!("{:08x}", optlab_core::seed::name_hash(text) as u32)
}

impl RunDir {
    /// Create `root/<UTC time>-<method>-<config hash>/` with `config.toml` and `manifest.json`.
    /// Call only after the spec was validated: nothing else is written on error.
    pub fn create(root: &Path, spec: &RunSpec, manifest: &Manifest) -> Result<RunDir> {
        let text = spec_to_toml(spec)?;
        let base = format!(
            "{}-{}-{}",
            utc_stamp(SystemTime::now()),
            spec.method,
            config_hash(&text)
        );
        std::fs::create_dir_all(root).map_err(|e| Error::io(root, e))?;
        let mut path = root.join(&base);
        let mut k = 2;
        while path.exists() {
            path = root.join(format!("{base}-{k}"));
            k += 1;
        }
        std::fs::create_dir(&path).map_err(|e| Error::io(&path, e))?;
        let dir = RunDir { path };
        write_atomic(&dir.config_path(), text.as_bytes())?;
        dir.write_manifest(manifest)?;
        Ok(dir)
    }

    /// Open an existing run directory.
    pub fn open(path: &Path) -> Result<RunDir> {
        let dir = RunDir {
            path: path.to_path_buf(),
        };
        if !dir.config_path().is_file() {
            return Err(Error::Other(format!(
                "{} is not a run directory (no config.toml)",
                path.display()
            )));
        }
        Ok(dir)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `config.toml`.
    pub fn config_path(&self) -> PathBuf {
        self.path.join("config.toml")
    }

    /// `metrics.jsonl`.
    pub fn metrics_path(&self) -> PathBuf {
        self.path.join("metrics.jsonl")
    }

    /// `summary.json`.
    pub fn summary_path(&self) -> PathBuf {
        self.path.join("summary.json")
    }

    /// `manifest.json`.
    pub fn manifest_path(&self) -> PathBuf {
        self.path.join("manifest.json")
    }

    /// `checkpoints/`.
    pub fn checkpoints_dir(&self) -> PathBuf {
        self.path.join("checkpoints")
    }

    /// The resolved run spec.
    pub fn read_spec(&self) -> Result<RunSpec> {
        let p = self.config_path();
        let text = std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?;
        parse_spec(&p.display().to_string(), &text)
    }

    /// The manifest.
    pub fn read_manifest(&self) -> Result<Manifest> {
        let p = self.manifest_path();
        let text = std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?;
        serde_json::from_str(&text)
            .map_err(|e| Error::data(p.display().to_string(), e.line(), e.to_string()))
    }

    /// Replace the manifest.
    pub fn write_manifest(&self, m: &Manifest) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(m).map_err(|e| Error::Other(e.to_string()))?;
        write_atomic(&self.manifest_path(), &bytes)
    }

    /// A recorder appending to `metrics.jsonl`.
    pub fn recorder(&self) -> Result<JsonlRecorder> {
        JsonlRecorder::append(&self.metrics_path())
    }

    /// A checkpoint sink keeping the newest `keep` checkpoints.
    pub fn checkpoint_sink(&self, keep: usize) -> FileCheckpoints {
        FileCheckpoints {
            dir: self.checkpoints_dir(),
            keep: keep.max(1),
        }
    }

    /// The newest complete checkpoint: `(step, state bytes)`.
    pub fn latest_checkpoint(&self) -> Result<Option<(u64, Vec<u8>)>> {
        let steps = list_checkpoints(&self.checkpoints_dir())?;
        match steps.last() {
            None => Ok(None),
            Some(&step) => {
                let p = self
                    .checkpoints_dir()
                    .join(format!("step-{step}"))
                    .join("state.json");
                let bytes = std::fs::read(&p).map_err(|e| Error::io(&p, e))?;
                Ok(Some((step, bytes)))
            }
        }
    }

    /// Write `summary.json` atomically.
    pub fn write_summary(&self, s: &SummaryFile) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(s).map_err(|e| Error::Other(e.to_string()))?;
        write_atomic(&self.summary_path(), &bytes)
    }

    /// Read `summary.json`.
    pub fn read_summary(&self) -> Result<SummaryFile> {
        let p = self.summary_path();
        let text = std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?;
        serde_json::from_str(&text)
            .map_err(|e| Error::data(p.display().to_string(), e.line(), e.to_string()))
    }

    /// All metric rows.
    pub fn read_metrics(&self) -> Result<Vec<Metrics>> {
        read_metrics(&self.metrics_path())
    }

    /// Drop rows logged after `step` (before resuming from the checkpoint at `step`).
    pub fn truncate_metrics_after(&self, step: u64) -> Result<()> {
        let p = self.metrics_path();
        if !p.exists() {
            return Ok(());
        }
        let rows = read_metrics(&p)?;
        let mut out = Vec::new();
        for r in rows.iter().filter(|r| r.step <= step) {
            serde_json::to_writer(&mut out, r).map_err(|e| Error::Other(e.to_string()))?;
            out.push(b'\n');
        }
        write_atomic(&p, &out)
    }
}

/// Serialize a spec as TOML.
pub fn spec_to_toml(spec: &RunSpec) -> Result<String> {
    toml::to_string(spec).map_err(|e| Error::Other(format!("cannot write config: {e}")))
}

/// Parse a spec, with the file name and line in errors.
pub fn parse_spec(source: &str, text: &str) -> Result<RunSpec> {
    toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].lines().count().max(1))
            .unwrap_or(0);
        Error::data(source, line, e.message().to_string())
    })
}

/// Read a metrics file; errors name the line.
pub fn read_metrics(path: &Path) -> Result<Vec<Metrics>> {
    let f = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut rows = Vec::new();
    for (i, line) in BufReader::new(f).lines().enumerate() {
        let line = line.map_err(|e| Error::io(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        let row: Metrics = serde_json::from_str(&line)
            .map_err(|e| Error::data(path.display().to_string(), i + 1, e.to_string()))?;
        rows.push(row);
    }
    Ok(rows)
}

/// Appends one JSON object per row to a file, flushing each row.
#[derive(Debug)]
pub struct JsonlRecorder {
    file: File,
    path: PathBuf,
}

impl JsonlRecorder {
    /// Open `path` for appending (created if missing).
    pub fn append(path: &Path) -> Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        Ok(JsonlRecorder {
            file,
            path: path.to_path_buf(),
        })
    }
}

impl Recorder for JsonlRecorder {
    fn record(&mut self, row: &Metrics) -> Result<()> {
        let mut line = serde_json::to_vec(row).map_err(|e| Error::Other(e.to_string()))?;
        line.push(b'\n');
        self.file
            .write_all(&line)
            .and_then(|_| self.file.flush())
            .map_err(|e| Error::io(&self.path, e))
    }
}

/// Checkpoints as `checkpoints/step-N/state.json`, each written into a temporary directory
/// and renamed into place, so a crash never leaves a half checkpoint.
#[derive(Debug, Clone)]
pub struct FileCheckpoints {
    dir: PathBuf,
    keep: usize,
}

impl FileCheckpoints {
    /// A sink writing under `dir`, keeping the newest `keep`.
    pub fn new(dir: PathBuf, keep: usize) -> Self {
        FileCheckpoints {
            dir,
            keep: keep.max(1),
        }
    }
}

fn list_checkpoints(dir: &Path) -> Result<Vec<u64>> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut steps = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(n) = name
            .strip_prefix("step-")
            .and_then(|s| s.parse::<u64>().ok())
            && entry.path().join("state.json").is_file()
        {
            steps.push(n);
        }
    }
    steps.sort_unstable();
    Ok(steps)
}

impl CheckpointSink for FileCheckpoints {
    fn save(&mut self, step: u64, state: &[u8]) -> Result<()> {
        std::fs::create_dir_all(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        let final_dir = self.dir.join(format!("step-{step}"));
        let tmp = self
            .dir
            .join(format!(".tmp-step-{step}-{}", std::process::id()));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
        }
        std::fs::create_dir(&tmp).map_err(|e| Error::io(&tmp, e))?;
        let file = tmp.join("state.json");
        {
            let mut f = File::create(&file).map_err(|e| Error::io(&file, e))?;
            f.write_all(state).map_err(|e| Error::io(&file, e))?;
            f.sync_all().map_err(|e| Error::io(&file, e))?;
        }
        if final_dir.exists() {
            std::fs::remove_dir_all(&final_dir).map_err(|e| Error::io(&final_dir, e))?;
        }
        std::fs::rename(&tmp, &final_dir).map_err(|e| Error::io(&final_dir, e))?;
        let steps = list_checkpoints(&self.dir)?;
        if steps.len() > self.keep {
            for old in &steps[..steps.len() - self.keep] {
                let p = self.dir.join(format!("step-{old}"));
                std::fs::remove_dir_all(&p).map_err(|e| Error::io(&p, e))?;
            }
        }
        Ok(())
    }
}

/// A manifest for a run starting now.
pub fn new_manifest(
    spec: &RunSpec,
    problem: &str,
    git_commit: &str,
    command_line: Vec<String>,
) -> Manifest {
    Manifest {
        optlab_version: env!("CARGO_PKG_VERSION").to_string(),
        git_commit: git_commit.to_string(),
        method: spec.method.clone(),
        problem: problem.to_string(),
        seed: spec.seed,
        threads: spec.threads,
        cpu: cpu_model(),
        command_line,
        started_at: utc_rfc3339(SystemTime::now()),
        resumed_at: Vec::new(),
    }
}

/// The CPU model from `/proc/cpuinfo` (Linux), or the architecture.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

/// Peak resident memory of this process in MiB (Linux), if known.
pub fn peak_memory_mib() -> Option<f64> {
    let t = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = t.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> RunSpec {
        RunSpec {
            method: "grn".into(),
            seed: 3,
            threads: 1,
            checkpoint_every: 0,
            config: toml::from_str("gamma0 = 1.0").unwrap(),
            problem: toml::from_str("name = \"quadratic\"").unwrap(),
        }
    }

    #[test]
    fn create_write_read_round_trip() {
        let root = tempfile::tempdir().unwrap();
        let s = spec();
        let m = new_manifest(&s, "quadratic", "abc", vec!["optlab".into()]);
        let d = RunDir::create(root.path(), &s, &m).unwrap();
        assert_eq!(d.read_spec().unwrap(), s);
        assert_eq!(d.read_manifest().unwrap(), m);
        let mut rec = d.recorder().unwrap();
        for k in 0..5 {
            rec.record(&Metrics::new(k).with("f", k as f64)).unwrap();
        }
        assert_eq!(d.read_metrics().unwrap().len(), 5);
        d.truncate_metrics_after(2).unwrap();
        let rows = d.read_metrics().unwrap();
        assert_eq!(
            rows.iter().map(|r| r.step).collect::<Vec<_>>(),
            vec![0, 1, 2]
        );
        let name = d.path().file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.ends_with(&format!("-grn-{}", config_hash(&spec_to_toml(&s).unwrap()))));
    }

    #[test]
    fn checkpoints_are_complete_and_pruned() {
        let root = tempfile::tempdir().unwrap();
        let mut sink = FileCheckpoints::new(root.path().join("checkpoints"), 2);
        for k in [1, 2, 3] {
            sink.save(k, format!("state {k}").as_bytes()).unwrap();
        }
        // A stray half-written temporary directory is ignored.
        std::fs::create_dir(root.path().join("checkpoints/.tmp-step-9-1")).unwrap();
        let steps = list_checkpoints(&root.path().join("checkpoints")).unwrap();
        assert_eq!(steps, vec![2, 3]);
        let d = RunDir {
            path: root.path().to_path_buf(),
        };
        assert_eq!(
            d.latest_checkpoint().unwrap(),
            Some((3, b"state 3".to_vec()))
        );
    }

    #[test]
    fn malformed_metrics_name_the_line() {
        let root = tempfile::tempdir().unwrap();
        let p = root.path().join("metrics.jsonl");
        std::fs::write(&p, "{\"step\":0,\"f\":1.0}\n{\"step\":1,\"f\":\n").unwrap();
        let e = read_metrics(&p).unwrap_err().to_string();
        assert!(e.contains("line 2"), "{e}");
    }

    #[test]
    fn bad_config_names_the_line() {
        let e = parse_spec("c.toml", "method = \"grn\"\nseed = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2"), "{e}");
    }
}
