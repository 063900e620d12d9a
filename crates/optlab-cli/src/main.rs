//! `optlab`: run, resume, report and benchmark optimization methods.
//!
//! stdout carries results (machine-readable with `--json`); logs and progress go to stderr.
//! Exit codes: 0 converged/finished, 1 error, 2 usage, 3 stopped without convergence,
//! 130 cancelled.

mod bench;
mod bench_adadagrad;
mod bench_bilevel;
mod bench_constrained;
mod bench_dag;
mod bench_dfo;
mod bench_galore;
mod bench_lm;
mod bench_lora;
mod bench_relu;
mod check;
mod lazy;
mod progress;
mod report;
mod spec;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Parser, Subcommand};
use optlab_core::{MethodInfo, RunContext, RunSpec, Summary};
use optlab_report::rundir::{RunDir, SummaryFile, new_manifest, peak_memory_mib};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

#[derive(Parser)]
#[command(
    name = "optlab",
    version,
    about = "Recent optimization methods for machine learning, tested and benchmarked"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the methods and the problems they run on.
    List {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Show a method's default config as commented TOML.
    Describe {
        /// Method name (see `optlab list`).
        method: String,
    },
    /// Run a method on a problem; records the run under `--out`.
    Run {
        /// Method name (see `optlab list`).
        method: String,
        /// Problem name (default: the method's first problem).
        #[arg(long)]
        problem: Option<String>,
        /// A TOML file with `[config]`, `[problem]`, `seed`, `threads` (e.g. a run's config.toml).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Override one setting: `lr=3e-4`, `problem.mu=1e-5`, `seed=3`.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Run seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Threads for every parallel kernel.
        #[arg(long)]
        threads: Option<usize>,
        /// Root folder of run directories.
        #[arg(long, default_value = "runs")]
        out: PathBuf,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
        /// No progress bar.
        #[arg(long)]
        no_progress: bool,
        /// Write a checkpoint every N steps (0: only when the run stops).
        #[arg(long)]
        checkpoint_every: Option<u64>,
        /// Stop as if Ctrl-C was pressed after N steps (to test `optlab resume`).
        #[arg(long, hide = true)]
        cancel_after: Option<u64>,
    },
    /// Continue a stopped run from its newest checkpoint.
    Resume {
        /// The run directory.
        run_dir: PathBuf,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
        /// No progress bar.
        #[arg(long)]
        no_progress: bool,
        /// Stop as if Ctrl-C was pressed after N steps in total.
        #[arg(long, hide = true)]
        cancel_after: Option<u64>,
    },
    /// Tables and SVG plots from run directories.
    Report {
        /// One or more run directories.
        #[arg(required = true)]
        run_dirs: Vec<PathBuf>,
        /// Also export each run's metrics as CSV.
        #[arg(long)]
        csv: bool,
        /// Where overlay plots of several runs go (default: `<first run>/plots`).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Every method against its baselines on embedded data; writes a report with plots.
    Bench {
        /// `quick` (minutes, the default) or `full` (the papers' reproduction tables).
        #[arg(long, default_value = "quick")]
        suite: String,
        /// Only the benchmarks of this method (e.g. `lion`, `grn`, `kernels`).
        #[arg(long)]
        only: Option<String>,
        /// Output folder (default: bench/out/<UTC time>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Threads (default 1: benchmarks compare single-thread kernels).
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// Seeds for stochastic benchmarks.
        #[arg(long)]
        seeds: Option<u64>,
    },
    /// Derivative checks and the conformance battery for one method.
    Check {
        /// Method name.
        method: String,
    },
}

/// Every registered method.
pub fn registry() -> Vec<MethodInfo> {
    let mut v = optlab_classic::methods();
    v.extend(optlab_nn::methods());
    v
}

/// Find a method by name.
pub fn find(name: &str) -> Result<MethodInfo> {
    let all = registry();
    all.iter().find(|m| m.name == name).copied().ok_or_else(|| {
        anyhow!(
            "unknown method `{name}` (known: {})",
            all.iter().map(|m| m.name).collect::<Vec<_>>().join(", ")
        )
    })
}

fn git_commit() -> String {
    std::env::var("OPTLAB_GIT_COMMIT").unwrap_or_else(|_| env!("OPTLAB_BUILD_COMMIT").to_string())
}

/// Short commit hash for reports.
pub fn git_commit_short() -> String {
    let c = git_commit();
    c.chars().take(12).collect()
}

fn cancel_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    // A second handler cannot be installed (e.g. in bench loops); the first one keeps working.
    let _ = ctrlc::set_handler(move || f.store(true, std::sync::atomic::Ordering::SeqCst));
    flag
}

/// Run `spec` with a pool of `spec.threads` threads.
pub fn run_in_pool(info: &MethodInfo, spec: &RunSpec, ctx: &mut RunContext) -> Result<Summary> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(spec.threads)
        .build()
        .context("cannot build the thread pool")?;
    Ok(pool.install(|| (info.run)(spec, ctx))?)
}

struct Outcome {
    summary: Summary,
    dir: Option<RunDir>,
}

fn execute(
    info: &MethodInfo,
    spec: &RunSpec,
    dir: lazy::LazyRunDir,
    resume: Option<Vec<u8>>,
    show_progress: bool,
    cancel_after: Option<u64>,
) -> Result<Outcome> {
    let mut ctx = RunContext::new(spec.seed)
        .with_threads(spec.threads)
        .with_recorder(dir.recorder())
        .with_checkpoints(dir.checkpoints(2), spec.checkpoint_every)
        .with_cancel_flag(cancel_flag())
        .with_cancel_after(cancel_after)
        .with_progress(progress::make(info.name, show_progress));
    if let Some(state) = resume {
        ctx = ctx.with_resume(state);
    }
    let summary = run_in_pool(info, spec, &mut ctx)?;
    let dir = dir.created();
    if let Some(d) = &dir {
        let problem = optlab_core::registry::problem_name(&spec.problem)?.to_string();
        d.write_summary(&SummaryFile {
            method: spec.method.clone(),
            problem,
            seed: spec.seed,
            summary: summary.clone(),
            peak_memory_mib: peak_memory_mib(),
        })?;
    }
    Ok(Outcome { summary, dir })
}

fn print_outcome(spec: &RunSpec, out: &Outcome, json: bool) -> Result<()> {
    if json {
        let mut v = serde_json::to_value(&out.summary)?;
        if let serde_json::Value::Object(m) = &mut v {
            m.insert("method".into(), spec.method.clone().into());
            m.insert(
                "run_dir".into(),
                out.dir
                    .as_ref()
                    .map(|d| d.path().display().to_string())
                    .into(),
            );
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        let s = &out.summary;
        println!("status:     {}", s.status.label());
        println!("iterations: {}", s.iterations);
        if let Some(f) = s.final_value {
            println!("final:      {f:.12e}");
        }
        for (k, v) in &s.extra {
            println!("{k:<11} {v:.6e}");
        }
        let counts: Vec<String> = s.counts.0.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if !counts.is_empty() {
            println!("oracles:    {}", counts.join(" "));
        }
        println!("wall time:  {:.3} s", s.wall_time_s);
        if let Some(d) = &out.dir {
            println!("run dir:    {}", d.path().display());
        }
    }
    Ok(())
}

fn cmd_run(
    method: &str,
    args: &spec::SpecArgs<'_>,
    out: &Path,
    json: bool,
    progress: bool,
    checkpoint_every: Option<u64>,
    cancel_after: Option<u64>,
) -> Result<i32> {
    let info = find(method)?;
    let mut spec = spec::resolve(&info, args)?;
    if let Some(n) = checkpoint_every {
        spec.checkpoint_every = n;
    }
    let problem = optlab_core::registry::problem_name(&spec.problem)?.to_string();
    let manifest = new_manifest(&spec, &problem, &git_commit(), std::env::args().collect());
    let dir = lazy::LazyRunDir::pending(out.to_path_buf(), spec.clone(), manifest);
    let outcome = execute(&info, &spec, dir, None, progress, cancel_after)?;
    print_outcome(&spec, &outcome, json)?;
    Ok(outcome.summary.status.exit_code())
}

fn cmd_resume(
    run_dir: &Path,
    json: bool,
    progress: bool,
    cancel_after: Option<u64>,
) -> Result<i32> {
    let dir = RunDir::open(run_dir)?;
    let spec = dir.read_spec()?;
    let info = find(&spec.method)?;
    let Some((step, state)) = dir.latest_checkpoint()? else {
        bail!("{} has no checkpoint to resume from", run_dir.display());
    };
    dir.truncate_metrics_after(step)?;
    let mut manifest = dir.read_manifest()?;
    manifest.resumed_at.push(optlab_report::fsutil::utc_rfc3339(
        std::time::SystemTime::now(),
    ));
    dir.write_manifest(&manifest)?;
    eprintln!("resuming {} from step {step}", run_dir.display());
    let outcome = execute(
        &info,
        &spec,
        lazy::LazyRunDir::existing(dir),
        Some(state),
        progress,
        cancel_after,
    )?;
    print_outcome(&spec, &outcome, json)?;
    Ok(outcome.summary.status.exit_code())
}

fn real_main() -> Result<i32> {
    let cli = Cli::parse();
    match cli.command {
        Command::List { json } => {
            let all = registry();
            if json {
                let v: Vec<_> = all
                    .iter()
                    .map(|m| {
                        serde_json::json!({
                            "name": m.name, "summary": m.summary,
                            "reference": m.reference, "problems": m.problems
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                for m in &all {
                    println!("{:<14} {}", m.name, m.summary);
                    println!("{:<14} problems: {}", "", m.problems.join(", "));
                }
            }
            Ok(0)
        }
        Command::Describe { method } => {
            let info = find(&method)?;
            println!("# {} — {}\n# {}\n", info.name, info.summary, info.reference);
            println!("{}", (info.describe)());
            Ok(0)
        }
        Command::Run {
            method,
            problem,
            config,
            sets,
            seed,
            threads,
            out,
            json,
            no_progress,
            checkpoint_every,
            cancel_after,
        } => {
            let args = spec::SpecArgs {
                problem: problem.as_deref(),
                config: config.as_deref(),
                sets: &sets,
                seed,
                threads,
            };
            cmd_run(
                &method,
                &args,
                &out,
                json,
                !no_progress,
                checkpoint_every,
                cancel_after,
            )
        }
        Command::Resume {
            run_dir,
            json,
            no_progress,
            cancel_after,
        } => cmd_resume(&run_dir, json, !no_progress, cancel_after),
        Command::Report { run_dirs, csv, out } => {
            report::cmd_report(&run_dirs, csv, out.as_deref())
        }
        Command::Bench {
            suite,
            only,
            out,
            threads,
            seeds,
        } => bench::cmd_bench(&suite, only.as_deref(), out, threads, seeds),
        Command::Check { method } => check::cmd_check(&method),
    }
}

fn main() {
    let code = match real_main() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    };
    std::process::exit(code);
}
