//! `optlab bench`: every method against its baselines on embedded data, measured side by side
//! in one run; writes `report.md`, `results.json` and SVG plots.

use crate::report::overlay_plots;
use anyhow::{Context, Result, bail};
use optlab_core::record::MemoryRecorder;
use optlab_core::{Metrics, RunContext, RunSpec, Summary};
use optlab_report::fsutil::{utc_rfc3339, utc_stamp};
use optlab_report::plot::{LinePlot, Series};
use optlab_report::table::{MarkdownTable, fmt_num};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// One benchmark run of a registered method.
pub struct Case {
    /// Label in tables and legends.
    pub label: String,
    /// The spec.
    pub spec: RunSpec,
}

/// Result of one case.
pub struct Outcome {
    /// Label.
    pub label: String,
    /// Summary, or the error text.
    pub summary: Result<Summary, String>,
    /// Recorded rows.
    pub rows: Vec<Metrics>,
}

/// Build a spec for `method` on `problem` with overrides (`k = v` TOML lines; `problem.k`
/// keys go to the problem).
pub fn case(
    label: &str,
    method: &str,
    problem: &str,
    sets: &[&str],
    seed: u64,
    threads: usize,
) -> Result<Case> {
    let info = crate::find(method)?;
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    let args = crate::spec::SpecArgs {
        problem: Some(problem),
        config: None,
        sets: &sets,
        seed: Some(seed),
        threads: Some(threads),
    };
    Ok(Case {
        label: label.to_string(),
        spec: crate::spec::resolve(&info, &args)?,
    })
}

/// Run a case in memory without printing.
pub fn run_case_quiet(c: &Case) -> Outcome {
    let rec = MemoryRecorder::new();
    let summary = crate::find(&c.spec.method)
        .and_then(|info| {
            let mut ctx = RunContext::new(c.spec.seed)
                .with_threads(c.spec.threads)
                .with_recorder(rec.clone());
            crate::run_in_pool(&info, &c.spec, &mut ctx)
        })
        .map_err(|e| format!("{e:#}"));
    Outcome {
        label: c.label.clone(),
        summary,
        rows: rec.rows(),
    }
}

/// Run a case in memory (no run directory), with a one-line result on stderr.
pub fn run_case(c: &Case) -> Outcome {
    let o = run_case_quiet(c);
    eprintln!(
        "  {:<28} {}",
        c.label,
        match &o.summary {
            Ok(s) => format!(
                "{} in {} steps, {:.2} s",
                s.status.label(),
                s.iterations,
                s.wall_time_s
            ),
            Err(e) => format!("error: {e}"),
        }
    );
    o
}

/// The median wall time of `first` and, when it took under 0.2 s, of `repeats` more quiet runs
/// of the same case (cheap runs are timed like the peers': a median of several).
pub fn median_wall_time(c: &Case, first: f64, repeats: usize) -> f64 {
    let mut times = vec![first];
    if first < 0.2 {
        for _ in 0..repeats {
            if let Ok(again) = &run_case_quiet(c).summary {
                times.push(again.wall_time_s);
            }
        }
    }
    times.sort_by(|a, b| a.total_cmp(b));
    times[times.len() / 2]
}

/// The report being assembled.
pub struct Report {
    pub(crate) dir: PathBuf,
    pub(crate) md: String,
    pub(crate) json: serde_json::Map<String, serde_json::Value>,
}

impl Report {
    pub(crate) fn section(&mut self, title: &str, text: &str) {
        let _ = write!(self.md, "\n## {title}\n\n{text}\n");
    }

    pub(crate) fn plot(&mut self, name: &str, plot: &LinePlot) -> Result<()> {
        let p = self.dir.join(format!("{name}.svg"));
        std::fs::write(&p, plot.render())
            .with_context(|| format!("cannot write {}", p.display()))?;
        let _ = writeln!(self.md, "\n![{name}]({name}.svg)");
        Ok(())
    }
}

/// The median (the mean of the middle two for an even count; NaN when empty).
pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// The rows of a peer's JSON that satisfy `keep`.
pub(crate) fn peer_rows(
    peer: &serde_json::Value,
    keep: impl Fn(&serde_json::Value) -> bool,
) -> Vec<&serde_json::Value> {
    peer["rows"]
        .as_array()
        .map(|a| a.iter().filter(|r| keep(r)).collect())
        .unwrap_or_default()
}

pub(crate) fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len().max(1) as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (m, var.sqrt())
}

/// Pointwise over seeds' `(x, y)` curves, up to the shortest: `(x of the first, mean, min, max)`.
pub(crate) fn mean_curve(curves: &[&[(f64, f64)]]) -> Vec<(f64, f64, f64, f64)> {
    let len = curves.iter().map(|c| c.len()).min().unwrap_or(0);
    (0..len)
        .map(|i| {
            let v: Vec<f64> = curves.iter().map(|c| c[i].1).collect();
            (
                curves[0][i].0,
                mean_sd(&v).0,
                v.iter().copied().fold(f64::INFINITY, f64::min),
                v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            )
        })
        .collect()
}

pub(crate) fn read_peer(name: &str) -> Option<serde_json::Value> {
    let p = Path::new("bench/out/peers").join(name);
    let text = std::fs::read_to_string(p).ok()?;
    serde_json::from_str(&text).ok()
}

fn kernels(r: &mut Report, full: bool) -> Result<()> {
    eprintln!("kernels: Lion step on 10M f32 parameters, 1 thread");
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
    let reps = if full { 30 } else { 10 };
    let k = pool.install(|| optlab_nn::kernels_bench::lion_kernel_bench(10_000_000, reps));
    let mut t = MarkdownTable::new(&["implementation", "ms / step", "vs ours", "vs memory bound"]);
    let rows = [
        ("optlab fused Lion", k.ours_lion_ms),
        ("burn 0.22.1 Lion", k.burn_lion_ms),
        ("optlab fused AdamW", k.ours_adamw_ms),
        ("burn 0.22.1 AdamW", k.burn_adamw_ms),
        ("optlab AdaGrad (torch convention)", k.ours_adagrad_ms),
        (
            "memory-traffic bound for Lion (20 B/param)",
            k.lion_bound_ms,
        ),
    ];
    let mut rows: Vec<(String, f64)> = rows.iter().map(|(n, v)| (n.to_string(), *v)).collect();
    // optax on jax CPU for the same shapes (bench/peers/optimizer_steps_optax.py), when run.
    let peer = read_peer("optimizer_steps_optax.json");
    if let Some(p) = &peer {
        let v = p["versions"]["optax"].as_str().unwrap_or("?");
        for (key, name) in [
            ("lion_ms", "Lion"),
            ("adamw_ms", "AdamW"),
            ("adagrad_ms", "AdaGrad"),
        ] {
            if let Some(ms) = p["results"][key].as_f64() {
                rows.push((
                    format!("optax {v} {name} (jit, donated buffers; peer run)"),
                    ms,
                ));
            }
        }
    }
    for (name, ms) in &rows {
        t.row(&[
            name.clone(),
            format!("{ms:.2}"),
            format!("{:.2}x", ms / k.ours_lion_ms),
            format!("{:.2}x", ms / k.lion_bound_ms),
        ]);
    }
    r.section(
        "Lion step, 10M f32 parameters, 1 thread",
        &format!(
            "Median of {reps} steps. In-place triad pass `a += s*c` over 10M f32 (12 bytes/element): {:.2} ms = {:.1} GB/s; \
             the bound is Lion's 20 bytes/parameter (read p, g, m; write p, m) at that bandwidth.\n\n{}",
            k.triad_ms,
            k.triad_gbs,
            t.render()
        ),
    );
    r.json.insert("kernels".into(), serde_json::to_value(&k)?);
    // SAM's overhead over a plain step on the digits MLP (two forward/backward passes).
    let (mlp, train, _) = optlab_nn::methods::DigitsMlp::default().build()?;
    let steps = if full { 200 } else { 60 };
    let o = pool.install(|| optlab_nn::kernels_bench::sam_overhead(&mlp, &train, 128, steps, 3))?;
    r.section(
        "SAM overhead on the digits MLP, 1 thread",
        &(format!(
            "AdamW steps on the 64-256-256-10 MLP, batch 128, median of 3 repeats of {steps} steps: \
             plain step {:.3} ms, SAM step (ρ = 0.05; two forward/backward passes and the \
             perturbed copy) {:.3} ms, ratio **{:.2}x** (target ≤ 2.1x).",
            o.plain_ms, o.sam_ms, o.ratio
        ) + &peer
            .as_ref()
            .and_then(|p| {
                let s = &p["results"]["sam"];
                Some(format!(
                    " The same SAM step written in jax + optax (peer run, jit): plain {:.3} ms, \
                     SAM {:.3} ms, ratio {:.2}x.",
                    s["plain_ms"].as_f64()?,
                    s["sam_ms"].as_f64()?,
                    s["ratio"].as_f64()?
                ))
            })
            .unwrap_or_default()),
    );
    r.json
        .insert("sam_overhead".into(), serde_json::to_value(&o)?);
    galore_cost(r, full, &pool)
}

/// GaLore / Natural GaLore step and refresh cost on single matrices, vs the jax peer.
fn galore_cost(r: &mut Report, full: bool, pool: &rayon::ThreadPool) -> Result<()> {
    let reps = if full { 10 } else { 5 };
    let gap = 200;
    // The tiny LM's MLP matrix, and the LLaMA-60M attention and MLP matrices at the reference
    // scripts' rank 128.
    let shapes = [(64, 256, 16), (512, 512, 128), (512, 1376, 128)];
    let peer = read_peer("galore_jax.json");
    let peer_row = |m: usize, n: usize, rank: usize, natural: bool| {
        let rows = peer_rows(peer.as_ref()?, |e| {
            e["m"] == m && e["n"] == n && e["rank"] == rank && e["natural"] == natural
        });
        rows.first()
            .map(|e| (e["step_ms"].as_f64(), e["refresh_ms"].as_f64()))
    };
    let mut t = MarkdownTable::new(&[
        "matrix, rank",
        "method",
        "step (ms)",
        "refresh step (ms)",
        "refresh per step at T = 200 (ms)",
        "amortized ms / step",
        "vs full-rank AdamW",
        "jax peer amortized (ms)",
        "peer / ours",
    ]);
    let mut json = Vec::new();
    for &(m, n, rank) in &shapes {
        for natural in [false, true] {
            eprintln!("kernels: galore cost {m} x {n}, rank {rank}, natural {natural}");
            let c = pool.install(|| {
                optlab_nn::kernels_bench::galore_cost(m, n, rank, natural, gap, reps)
            })?;
            let (peer_amort, ratio) = match peer_row(m, n, rank, natural) {
                Some((Some(st), Some(rf))) => {
                    let a = st + (rf - st) / gap as f64;
                    (format!("{a:.3}"), format!("{:.2}x", a / c.amortized_ms))
                }
                _ => ("–".into(), "–".into()),
            };
            t.row(&[
                format!("{m} x {n}, r = {rank}"),
                (if natural { "Natural GaLore" } else { "GaLore" }).into(),
                format!("{:.3}", c.step_ms),
                format!("{:.2}", c.refresh_ms),
                format!("{:.3}", c.refresh_per_step_ms),
                format!("{:.3}", c.amortized_ms),
                format!("{:.2}x", c.amortized_ms / c.adamw_ms),
                peer_amort,
                ratio,
            ]);
            json.push(serde_json::to_value(&c)?);
        }
    }
    let versions = peer
        .as_ref()
        .map(|p| {
            format!(
                " The peer (bench/peers/galore_jax.py, jax {} + optax {}, jit, f32, one pinned \
                 thread) ran in its own process.",
                p["versions"]["jax"].as_str().unwrap_or("?"),
                p["versions"]["optax"].as_str().unwrap_or("?")
            )
        })
        .unwrap_or_else(|| {
            " No jax peer figures: run `bench/peers/.venv/bin/python bench/peers/galore_jax.py` \
             first."
                .into()
        });
    r.section(
        "GaLore / Natural GaLore: step and projector-refresh cost per matrix, 1 thread",
        &format!(
            "One seeded random gradient per matrix, median of {reps} steps each. A *step* \
             reuses the projector (project, Adam on the projected gradient, back-project; \
             Natural GaLore adds the Woodbury solve on a full 20-step history); a *refresh \
             step* also recomputes it (thin SVD in f32 as the reference code, signs fixed). The refresh's share of \
             every step at the default T = {gap} is (refresh − step) / T. Full-rank AdamW is \
             our fused step on the same matrix.{versions}\n\n{}",
            t.render()
        ),
    );
    r.json.insert("galore_cost".into(), json.into());
    Ok(())
}

fn lion(r: &mut Report, full: bool, threads: usize, seeds: u64) -> Result<()> {
    let epochs = if full { 60 } else { 20 };
    eprintln!("lion: digits MLP 64-256-256-10, Lion vs AdamW, {seeds} seeds, {epochs} epochs");
    // The authors' rule: Lion lr 3-10x smaller and lambda 3-10x larger than AdamW's (here 3x,
    // so the effective decay lr * lambda is the same).
    let mut configs: Vec<(String, &str, Vec<String>)> = vec![
        (
            "Lion lr=1e-3 wd=0.03".into(),
            "lion",
            vec!["lr=1e-3".into(), "weight_decay=0.03".into()],
        ),
        (
            "AdamW lr=3e-3 wd=0.01".into(),
            "adamw",
            vec!["lr=3e-3".into(), "weight_decay=0.01".into()],
        ),
    ];
    if full {
        configs.clear();
        for lr in ["1e-4", "3e-4", "1e-3"] {
            for wd in ["1e-3", "1e-2", "1e-1"] {
                configs.push((
                    format!("Lion lr={lr} wd={wd}"),
                    "lion",
                    vec![format!("lr={lr}"), format!("weight_decay={wd}")],
                ));
            }
        }
        for lr in ["1e-3", "3e-3", "1e-2"] {
            for wd in ["1e-4", "1e-3", "1e-2"] {
                configs.push((
                    format!("AdamW lr={lr} wd={wd}"),
                    "adamw",
                    vec![format!("lr={lr}"), format!("weight_decay={wd}")],
                ));
            }
        }
    }
    let batches: &[u64] = if full { &[32, 512] } else { &[128] };
    let mut table = MarkdownTable::new(&[
        "optimizer",
        "batch",
        "test acc (mean ± sd)",
        "final train loss",
        "optimizer state / params",
        "s per run",
    ]);
    let mut results = Vec::new();
    let mut curves: Vec<Series> = Vec::new();
    for &batch in batches {
        for (label, method, sets) in &configs {
            let mut accs = Vec::new();
            let mut losses = Vec::new();
            let mut times = Vec::new();
            let mut state_ratio = f64::NAN;
            let mut per_seed_rows = Vec::new();
            for seed in 0..seeds {
                let mut s: Vec<&str> = sets.iter().map(String::as_str).collect();
                let e = format!("epochs={epochs}");
                let b = format!("batch_size={batch}");
                s.push(&e);
                s.push(&b);
                let c = case(
                    &format!("{label} b={batch} seed={seed}"),
                    method,
                    "digits-mlp",
                    &s,
                    seed,
                    threads,
                )?;
                let o = run_case(&c);
                if let Ok(sum) = &o.summary {
                    accs.push(sum.extra.get("test_acc").copied().unwrap_or(f64::NAN));
                    losses.push(sum.final_value.unwrap_or(f64::NAN));
                    times.push(sum.wall_time_s);
                    state_ratio = sum
                        .extra
                        .get("optimizer_state")
                        .copied()
                        .unwrap_or(f64::NAN)
                        / sum.extra.get("params").copied().unwrap_or(f64::NAN);
                }
                per_seed_rows.push(o.rows);
            }
            let (am, asd) = mean_sd(&accs);
            let (lm, _) = mean_sd(&losses);
            let (tm, _) = mean_sd(&times);
            table.row(&[
                label.clone(),
                batch.to_string(),
                format!("{:.2}% ± {:.2}", 100.0 * am, 100.0 * asd),
                fmt_num(lm),
                format!("{state_ratio:.2}"),
                format!("{tm:.1}"),
            ]);
            results.push(serde_json::json!({
                "label": label, "batch": batch, "test_acc": accs, "final_train_loss": losses,
                "wall_time_s": times, "state_ratio": state_ratio
            }));
            if !full || label.contains("lr=1e-3 wd=1e-1") || label.contains("lr=3e-3 wd=1e-2") {
                curves.push(band(
                    &format!("{label} b={batch}"),
                    &per_seed_rows,
                    "test_acc",
                ));
            }
        }
    }
    r.section(
        "Lion vs AdamW: digits MLP (64-256-256-10, ReLU), test accuracy",
        &format!(
            "1437 train / 360 test rows (stratified, split seed 0), pixels/16, cross-entropy, cosine \
             decay, {epochs} epochs, seeds 0..{seeds}; weight decay on weights, not biases. \
             Claim checked: Lion matches AdamW with half the optimizer state when its lr is 3x smaller \
             and its decay 3x larger (dl-optimizers.md §1.5).\n\n{}",
            table.render()
        ),
    );
    r.plot(
        "lion_test_acc",
        &LinePlot {
            title: "digits MLP: test accuracy (mean, min-max over seeds)".into(),
            x_label: "epoch".into(),
            y_label: "test accuracy".into(),
            log_x: false,
            log_y: false,
            series: curves,
        },
    )?;
    r.json.insert("lion_vs_adamw".into(), results.into());

    // Throughput: training steps only (no evaluation), batch 128, same model, like the peer.
    let prob = optlab_nn::methods::DigitsMlp::default();
    let (mlp, train, _) = prob.build()?;
    let steps = if full { 2000 } else { 500 };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    let tp =
        pool.install(|| optlab_nn::kernels_bench::mlp_throughput(&mlp, &train, 128, steps, 3))?;
    let mut text = format!(
        "Lion training steps on random batches of 128 from the 1437 training rows, {steps} steps, median of 3 repeats, {threads} thread(s), no evaluation.\n\n"
    );
    let mut t = MarkdownTable::new(&["implementation", "samples/s", "ms/step", "ratio to optax"]);
    let peer = read_peer("mlp_optax.json");
    let peer_sps = peer
        .as_ref()
        .and_then(|p| p["results"]["lion"]["samples_per_s"].as_f64());
    t.row(&[
        "optlab (burn flex autodiff + fused Lion)".to_string(),
        format!("{:.0}", tp.samples_per_s),
        format!(
            "{:.3} (of which forward+backward {:.3})",
            tp.ms_per_step, tp.grad_ms_per_step
        ),
        peer_sps
            .map(|p| format!("{:.2}x", tp.samples_per_s / p))
            .unwrap_or_else(|| "-".into()),
    ]);
    if let (Some(p), Some(peer)) = (peer_sps, &peer) {
        t.row(&[
            format!(
                "optax {} on jax {} (jit, CPU)",
                peer["versions"]["optax"].as_str().unwrap_or("?"),
                peer["versions"]["jax"].as_str().unwrap_or("?")
            ),
            format!("{p:.0}"),
            format!(
                "{:.3}",
                peer["results"]["lion"]["ms_per_step"]
                    .as_f64()
                    .unwrap_or(f64::NAN)
            ),
            "1.00x".into(),
        ]);
    }
    text.push_str(&t.render());
    if peer_sps.is_none() {
        text.push_str(
            "\nNo optax peer figures: run `bench/peers/run_all.sh` first to include them.\n",
        );
    }
    r.json
        .insert("mlp_throughput".into(), serde_json::to_value(&tp)?);
    r.section("Digits MLP training throughput", &text);
    Ok(())
}

/// Mean curve with a min-max band of `col` over seeds.
fn band(name: &str, per_seed: &[Vec<Metrics>], col: &str) -> Series {
    let len = per_seed.iter().map(Vec::len).min().unwrap_or(0);
    let mut s = Series::new(name, Vec::new());
    for i in 0..len {
        let vals: Vec<f64> = per_seed
            .iter()
            .filter_map(|rows| rows[i].get(col))
            .collect();
        if vals.is_empty() {
            continue;
        }
        let x = per_seed[0][i].step as f64;
        let m = vals.iter().sum::<f64>() / vals.len() as f64;
        let lo = vals.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        s.points.push((x, m));
        s.band.push((x, lo, hi));
    }
    s
}

fn grn(r: &mut Report, full: bool, threads: usize) -> Result<()> {
    eprintln!("grn: gradient-regularized Newton vs baselines, to ||grad f|| <= 1e-8");
    let mut problems: Vec<(&str, Vec<&str>, Vec<&str>)> = vec![
        (
            "logreg-breast-cancer",
            vec!["problem.mu=1e-3"],
            vec!["exact", "fisher", "bohning"],
        ),
        (
            "logreg-breast-cancer",
            vec!["problem.mu=1e-5"],
            vec!["exact", "fisher", "bohning"],
        ),
        (
            "softmax-digits",
            vec!["problem.mu=1e-3"],
            vec!["exact", "gauss-newton", "bohning"],
        ),
        (
            "logsumexp",
            vec!["problem.mu=1.0"],
            vec!["exact", "gauss-newton"],
        ),
    ];
    if full {
        problems.push((
            "logsumexp",
            vec!["problem.mu=0.1"],
            vec!["exact", "gauss-newton"],
        ));
    }
    let gd_iters = if full {
        "max_iters=20000"
    } else {
        "max_iters=3000"
    };
    let mut all = Vec::new();
    for (pi, (problem, psets, kinds)) in problems.iter().enumerate() {
        let tag = format!("{problem} {}", psets.join(" ").replace("problem.", ""));
        eprintln!(" {tag}");
        let mut cases = Vec::new();
        for k in kinds {
            let h = format!("hessian=\"{k}\"");
            let mut s: Vec<&str> = psets.clone();
            let cap = if full || *k == "exact" {
                "max_iters=2000"
            } else {
                "max_iters=300"
            };
            s.extend(["grad_tol=1e-8", cap, h.as_str()]);
            cases.push(case(&format!("GRN ({k})"), "grn", problem, &s, 0, threads)?);
        }
        for (label, method, iters) in [
            ("super-universal Newton", "super-newton", "max_iters=2000"),
            (
                "cubic Newton (adaptive H)",
                "cubic-newton",
                "max_iters=2000",
            ),
            ("Newton + Armijo", "newton-ls", "max_iters=2000"),
            ("gradient method (Armijo)", "gd", gd_iters),
            ("fast gradient method", "fgm", gd_iters),
        ] {
            let mut s: Vec<&str> = psets.clone();
            s.extend(["grad_tol=1e-8", iters]);
            cases.push(case(label, method, problem, &s, 0, threads)?);
        }
        let mut t = MarkdownTable::new(&[
            "method",
            "status",
            "iterations",
            "grad calls",
            "Hessians",
            "factorizations",
            "time (ms, median)",
            "final ||grad||",
        ]);
        let mut runs = Vec::new();
        for c in &cases {
            let o = run_case(c);
            match &o.summary {
                Ok(s) => {
                    let med = median_wall_time(c, s.wall_time_s, 6);
                    let gn = o
                        .rows
                        .last()
                        .and_then(|m| m.get("grad_norm"))
                        .unwrap_or(f64::NAN);
                    t.row(&[
                        o.label.clone(),
                        s.status.label(),
                        s.iterations.to_string(),
                        s.counts.get("grad").to_string(),
                        s.counts.get("hessian").to_string(),
                        s.counts.get("factorization").to_string(),
                        format!("{:.2}", 1e3 * med),
                        fmt_num(gn),
                    ]);
                    all.push(serde_json::json!({
                        "problem": tag, "method": o.label, "status": s.status.label(),
                        "iterations": s.iterations, "counts": s.counts, "wall_time_s_median": med,
                        "final_grad_norm": gn
                    }));
                }
                Err(e) => t.row(&[o.label.clone(), format!("error: {e}")]),
            }
            runs.push((o.label.clone(), o.rows));
        }
        if *problem == "logreg-breast-cancer"
            && let Some(peer) = read_peer("grn_scipy.json")
        {
            let mu: f64 = psets[0]
                .trim_start_matches("problem.mu=")
                .parse()
                .unwrap_or(f64::NAN);
            let results = peer["results"].as_array().cloned().unwrap_or_default();
            for res in results.iter().filter(|r| r["mu"].as_f64() == Some(mu)) {
                for m in res["methods"].as_array().cloned().unwrap_or_default() {
                    let gn = m["grad_norm"].as_f64().unwrap_or(f64::NAN);
                    t.row(&[
                        format!("scipy {} (peer)", m["method"].as_str().unwrap_or("?")),
                        if gn <= 1e-8 {
                            "converged (||grad f||_2 <= 1e-8)".to_string()
                        } else {
                            format!(
                                "stopped at ||grad f||_2 = {gn:.2e} (success={})",
                                m["success"]
                            )
                        },
                        m["nit"].to_string(),
                        m["njev"].to_string(),
                        m["nhev"].to_string(),
                        "-".into(),
                        format!(
                            "{:.2}",
                            1e3 * m["time_s_median"].as_f64().unwrap_or(f64::NAN)
                        ),
                        fmt_num(gn),
                    ]);
                }
            }
        }
        let text = t.render();
        r.section(&format!("Gradient-regularized Newton: {tag}"), &text);
        let sub = r.dir.join(format!("grn_{pi}"));
        for p in overlay_plots(&runs, &tag, Some("grad_norm"), &sub)? {
            let rel = p.strip_prefix(&r.dir).unwrap_or(&p).display().to_string();
            let _ = writeln!(r.md, "\n![{rel}]({rel})");
        }
    }
    r.json.insert("grn".into(), all.into());
    Ok(())
}

/// `optlab bench`.
pub fn cmd_bench(
    suite: &str,
    only: Option<&str>,
    out: Option<PathBuf>,
    threads: usize,
    seeds: Option<u64>,
) -> Result<i32> {
    let full = match suite {
        "quick" => false,
        "full" => true,
        other => bail!("unknown suite `{other}` (expected quick or full)"),
    };
    let known = [
        "kernels",
        "lion",
        "grn",
        "constrained",
        "dfo",
        "dag",
        "convex-relu",
        "bilevel",
        "adadagrad",
        "galore",
        "lm",
        "lora",
        "lora-minilm",
    ];
    if let Some(o) = only
        && !known.contains(&o)
    {
        bail!(
            "unknown benchmark `{o}` (expected one of: {})",
            known.join(", ")
        );
    }
    if threads == 0 {
        bail!("--threads must be >= 1");
    }
    if seeds == Some(0) {
        bail!("--seeds must be >= 1");
    }
    let explicit_seeds = seeds;
    let seeds = seeds.unwrap_or(if full { 5 } else { 3 });
    let dir = out.unwrap_or_else(|| PathBuf::from("bench/out").join(utc_stamp(SystemTime::now())));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut r = Report {
        dir: dir.clone(),
        md: format!(
            "# optlab bench ({suite})\n\n{} · optlab {} · commit {} · {} · {threads} thread(s)\n\nCommand: `{}`\n",
            utc_rfc3339(SystemTime::now()),
            env!("CARGO_PKG_VERSION"),
            crate::git_commit_short(),
            optlab_report::rundir::cpu_model(),
            std::env::args().collect::<Vec<_>>().join(" ")
        ),
        json: serde_json::Map::new(),
    };
    let want = |name: &str| only.is_none_or(|o| o == name);
    if want("kernels") {
        kernels(&mut r, full)?;
    }
    if want("grn") {
        grn(&mut r, full, threads)?;
    }
    if want("constrained") {
        crate::bench_constrained::constrained(&mut r, full, threads)?;
    }
    if want("dfo") {
        crate::bench_dfo::dfo(&mut r, full, threads)?;
    }
    if want("dag") {
        crate::bench_dag::dag(&mut r, full, threads, explicit_seeds)?;
    }
    if want("convex-relu") {
        crate::bench_relu::convex_relu(&mut r, full, threads)?;
    }
    if want("bilevel") {
        crate::bench_bilevel::bilevel(&mut r, full, threads, seeds)?;
    }
    if want("adadagrad") {
        crate::bench_adadagrad::adadagrad(&mut r, full, threads, seeds)?;
    }
    if want("galore") {
        crate::bench_galore::galore(&mut r, full, seeds)?;
    }
    if want("lora") {
        crate::bench_lora::lora(&mut r, full, threads, seeds)?;
    }
    // Needs external weights and ~30 min: full suite or explicit `--only lora-minilm`.
    if only == Some("lora-minilm") || (only.is_none() && full) {
        // 3 seeds unless --seeds says otherwise (~10 min each with 1 thread).
        crate::bench_lora::lora_minilm(&mut r, threads, explicit_seeds.unwrap_or(3))?;
    }
    if want("lm") {
        crate::bench_lm::lm(&mut r, full, threads, seeds)?;
    }
    if want("lion") {
        lion(&mut r, full, threads, seeds)?;
    }
    std::fs::write(dir.join("report.md"), &r.md)?;
    std::fs::write(
        dir.join("results.json"),
        serde_json::to_string_pretty(&r.json)?,
    )?;
    println!("{}", r.md);
    eprintln!("wrote {}", dir.join("report.md").display());
    Ok(0)
}
