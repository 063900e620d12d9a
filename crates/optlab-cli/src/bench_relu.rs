//! `optlab bench` section for convex two-layer ReLU training: ADMM against the conic optimum
//! (cvxpy + Clarabel, from `bench/peers/convex_relu_cvxpy.py` on the problems this section
//! exports to `bench/out/convex_relu/data/`), against the best of 10 Adam- and 10 SGD-trained
//! networks of the same width, the per-iteration cost as the number of patterns grows, and the
//! exact 2-D case where every activation pattern is enumerated.

use crate::bench::{Report, median, peer_rows, read_peer};
use anyhow::{Context, Result};
use optlab_classic::convex_relu::{
    AdmmState, ConvexReluAdmm, ConvexReluConfig, LinearSolver, NetTraining, ReluData, SgdTraining,
    enumerate_patterns_2d, sample_patterns, toy_2d, train_nonconvex, train_nonconvex_sgd,
};
use optlab_core::driver::{Driver, Solver};
use optlab_core::record::MemoryRecorder;
use optlab_core::{RunContext, Termination};
use optlab_report::plot::{LinePlot, Series};
use optlab_report::table::{MarkdownTable, fmt_num};
use std::path::Path;
use std::time::Instant;

const DATA_DIR: &str = "bench/out/convex_relu/data";

/// The SGD baseline's step-size grid (on the objective; the batch gradient is scaled by n / b).
const SGD_LRS: [f64; 6] = [1e-3, 3e-4, 1e-4, 3e-5, 1e-5, 3e-6];
/// The SGD baseline's batch size.
const SGD_BATCH: usize = 32;
/// Adam iterations and SGD epochs of the non-convex baselines: quick suite, full suite.
const BASELINE_BUDGET: [(usize, usize); 2] = [(1_500, 200), (5_000, 1_000)];
/// The baselines' seeded starts: Adam and SGD start from the same networks (paired).
const NET_STREAM: &str = "adam-net";

fn problem(name: &str) -> Result<ReluData> {
    let t: toml::Table = toml::from_str(&format!("name = \"{name}\""))?;
    Ok(optlab_classic::convex_relu::build_problem(&t)?)
}

fn export(
    name: &str,
    data: &ReluData,
    patterns: &[Vec<bool>],
    beta: f64,
) -> Result<serde_json::Value> {
    let dir = Path::new(DATA_DIR);
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {DATA_DIR}"))?;
    let x: Vec<&[f64]> = data.x.chunks(data.d).collect();
    let dmask: Vec<Vec<u8>> = (0..data.n)
        .map(|k| patterns.iter().map(|p| u8::from(p[k])).collect())
        .collect();
    let file = format!("{name}.json");
    std::fs::write(
        dir.join(&file),
        serde_json::to_string(
            &serde_json::json!({"X": x, "y": data.y, "Dmask": dmask, "beta": beta}),
        )?,
    )?;
    Ok(serde_json::json!({"name": name, "file": file}))
}

/// One point of an ADMM run's trajectory.
#[derive(Clone, Copy)]
struct Point {
    /// Seconds, setup included.
    t: f64,
    /// CP objective.
    f: f64,
    /// Largest cone violation.
    viol: f64,
    /// Training objective of the recovered ReLU network.
    net: f64,
}

/// One ADMM run: its trajectory, total time, the solver and its final state.
struct AdmmRun {
    curve: Vec<Point>,
    status: optlab_core::Status,
    total: f64,
    admm: ConvexReluAdmm,
    st: AdmmState,
}

fn admm_curve(cfg: ConvexReluConfig, data: &ReluData, patterns: &[Vec<bool>]) -> Result<AdmmRun> {
    let t0 = Instant::now();
    let mut admm = ConvexReluAdmm::new(cfg, data.clone(), patterns.to_vec())?;
    let setup = t0.elapsed().as_secs_f64();
    let rec = MemoryRecorder::new();
    let (sum, st) = Driver::new(cfg.termination()).run(
        &mut admm,
        &mut RunContext::new(0).with_recorder(rec.clone()),
    )?;
    let curve = rec
        .rows()
        .iter()
        .filter_map(|r| {
            Some(Point {
                t: r.get("time_s")? + setup,
                f: r.get("objective")?,
                viol: r.get("cone_violation")?,
                // Absent for a model that is not a ReLU network: never "reached".
                net: r.get("network_objective").unwrap_or(f64::NAN),
            })
        })
        .collect();
    Ok(AdmmRun {
        curve,
        status: sum.status,
        total: sum.wall_time_s + setup,
        admm,
        st,
    })
}

/// The time from which on every point of the curve satisfies `ok`, if it ends there.
fn stays_from(curve: &[Point], ok: impl Fn(&Point) -> bool) -> Option<f64> {
    let bad = curve.iter().rposition(|p| !ok(p));
    let from = bad.map_or(0, |k| k + 1);
    curve.get(from).map(|p| p.t)
}

/// The time from which on the curve stays within `rel` of `opt` (relative) with the cones
/// violated by at most `viol`, if it ends there. (Not the first time it is within: an
/// infeasible iterate's objective can pass through the optimum on its way.)
fn time_to(curve: &[Point], opt: f64, rel: f64, viol: f64) -> Option<f64> {
    stays_from(curve, |p| {
        (p.f - opt).abs() <= rel * opt.abs() && p.viol <= viol
    })
}

/// The time from which on the recovered ReLU network's training objective stays at most
/// `opt (1 + rel)`: from then on the iterate gives a network as good as the conic optimum's to
/// `rel`, whatever its cone violation (a network is always a feasible point of the training
/// problem).
fn time_to_network(curve: &[Point], opt: f64, rel: f64) -> Option<f64> {
    stays_from(curve, |p| p.net <= opt + rel * opt.abs())
}

fn peer_obj(peer: Option<&serde_json::Value>, name: &str, solver: &str) -> Option<(f64, f64)> {
    let row = *peer_rows(peer?, |r| r["problem"] == name && r["solver"] == solver).first()?;
    let build = row["build_s"].as_f64().unwrap_or(0.0);
    Some((row["objective"].as_f64()?, build + row["solve_s"].as_f64()?))
}

/// The convex-ReLU section.
pub fn convex_relu(r: &mut Report, full: bool, threads: usize) -> Result<()> {
    eprintln!("convex-relu: ADMM vs cvxpy, vs Adam-trained networks, cost vs P, exact 2-D");
    optlab_linalg::set_threads(threads);
    let peer = read_peer("convex_relu.json");
    let beta = 1e-3;
    let p_main = 50;
    let iters: u64 = if full { 20_000 } else { 4_000 };
    let (adam_iters, sgd_epochs) = BASELINE_BUDGET[usize::from(full)];
    let mut manifest = Vec::new();
    let mut json = serde_json::Map::new();

    // A. Objective vs the conic optimum, and B. vs Adam-trained networks of the same width.
    let mut ta = MarkdownTable::new(&[
        "problem (n × d, P)",
        "ADMM objective (iters, time)",
        "cone violation",
        "train acc.",
        "Clarabel in-process (Rust) objective (time)",
        "cvxpy + Clarabel objective (time)",
        "ADMM time to stay within 1e-3 / 1e-4 / 1e-6 rel. of Clarabel",
        "speed-up at 1e-4",
        "time to stay within 1e-4 with cones ≤ 1e-5 (speed-up)",
        "time until the recovered network's objective stays ≤ (1 + 1e-4) × optimum (speed-up)",
    ]);
    let mut tb = MarkdownTable::new(&[
        "problem",
        "convex (recovered net) objective",
        "width",
        "Adam best / median of 10 (same width)",
        "convex < best Adam",
        "SGD best / median of 10 (same width; best step size per seed)",
        "convex < best SGD",
    ]);
    let mut plots = Vec::new();
    for name in ["relu-breast-cancer", "relu-digits"] {
        let data = problem(name)?;
        let patterns =
            sample_patterns(&data, p_main, &mut optlab_core::seed::stream(0, "patterns"));
        let tag = format!("{name}-p{p_main}");
        manifest.push(export(&tag, &data, &patterns, beta)?);
        let t0 = Instant::now();
        let inproc =
            optlab_classic::convex_relu_conic::solve_squared_cp(&data, &patterns, beta, 1e-8);
        let inproc_t = t0.elapsed().as_secs_f64();
        let inproc_col = match &inproc {
            Ok(s) => format!("{:.8} ({} s, {})", s.objective, fmt_num(inproc_t), s.status),
            Err(e) => format!("failed: {e}"),
        };
        let clarabel = peer_obj(peer.as_ref(), &tag, "CLARABEL");
        // The paper's plain ADMM, the same over-relaxed with a smaller penalty (both options;
        // the values from a grid on these two problems, docs/BENCHMARKS.md §9), and with
        // Anderson acceleration (an option). The objective is evaluated every 10 iterations.
        let mut plain = None;
        use optlab_classic::convex_relu::ConeScaling::{None as Unscaled, RowNorm};
        let variants = [
            ("ADMM", 0u64, 1.0, 1e-3, Unscaled),
            (
                "ADMM, over-relaxed (α = 1.8, ρ = 5e-4)",
                0,
                1.8,
                5e-4,
                Unscaled,
            ),
            (
                "ADMM, over-relaxed, row-equilibrated cones (α = 1.8, ρ = 7e-4)",
                0,
                1.8,
                7e-4,
                RowNorm,
            ),
            ("ADMM + Anderson (m = 5)", 5, 1.0, 1e-3, Unscaled),
        ];
        for (label, anderson_memory, relaxation, rho, cone_scaling) in variants {
            let cfg = ConvexReluConfig {
                beta,
                max_iters: iters,
                anderson_memory,
                relaxation,
                rho,
                cone_scaling,
                eval_every: 10,
                check_every: 10,
                ..ConvexReluConfig::default()
            };
            let run = admm_curve(cfg, &data, &patterns)?;
            let obj = run.admm.objective(&run.st.zv, &run.st.zw);
            let m = admm_metrics(&run.admm, &run.st);
            let (ref_col, times, speed, strict, network) = match clarabel {
                Some((opt, t)) => {
                    let tt: Vec<Option<f64>> = [1e-3, 1e-4, 1e-6]
                        .iter()
                        .map(|&e| time_to(&run.curve, opt, e, f64::INFINITY))
                        .collect();
                    let s = tt[1].map_or("not reached".to_string(), |x| {
                        format!("{}x", fmt_num(t / x))
                    });
                    let with_speedup = |x: Option<f64>| {
                        x.map_or("not reached".to_string(), |x| {
                            format!("{} s ({}x)", fmt_num(x), fmt_num(t / x))
                        })
                    };
                    let strict = with_speedup(time_to(&run.curve, opt, 1e-4, 1e-5));
                    let network = with_speedup(time_to_network(&run.curve, opt, 1e-4));
                    (
                        format!("{opt:.8} ({} s)", fmt_num(t)),
                        tt.iter()
                            .map(|x| x.map_or("–".into(), fmt_num))
                            .collect::<Vec<_>>()
                            .join(" / "),
                        s,
                        strict,
                        network,
                    )
                }
                None => (
                    "– (run bench/peers/convex_relu_cvxpy.py)".into(),
                    "–".into(),
                    "–".into(),
                    "–".into(),
                    "–".into(),
                ),
            };
            ta.row(&[
                format!(
                    "{name} ({} × {}, {}), {label}",
                    data.n,
                    data.d,
                    patterns.len()
                ),
                format!(
                    "{:.8} ({}, {} s, {})",
                    obj,
                    run.st.k,
                    fmt_num(run.total),
                    run.status.label()
                ),
                fmt_num(m.0),
                fmt_num(m.1),
                inproc_col.clone(),
                ref_col,
                times,
                speed,
                strict,
                network,
            ]);
            if let Some((opt, _)) = clarabel {
                plots.push(Series::new(
                    format!("{name}, {label}"),
                    run.curve
                        .iter()
                        .map(|p| (p.t, ((p.f - opt) / opt).abs().max(1e-16)))
                        .collect(),
                ));
            }
            if plain.is_none() {
                plain = Some((obj, run));
            }
        }
        let (
            obj,
            AdmmRun {
                total, admm, st, ..
            },
        ) = plain.context("the plain ADMM runs first")?;
        // B: Adam networks of the convex solution's width.
        let net = admm.recover(&st.zv, &st.zw, 0.0);
        let net_obj = net.objective(&data, beta);
        let width = net.u.len().max(1);
        let mut adam: Vec<f64> = (0..10u64)
            .map(|s| {
                let t = NetTraining {
                    width,
                    iters: adam_iters,
                    lr: 1e-2,
                };
                train_nonconvex(
                    &data,
                    beta,
                    t,
                    &mut optlab_core::seed::stream(s, NET_STREAM),
                )
                .1
            })
            .collect();
        adam.sort_by(f64::total_cmp);
        // Plain minibatch SGD (the baseline): each seed tries every step size of the
        // grid from Adam's start for that seed and keeps its best network.
        let sgd_runs: Vec<Vec<(f64, Option<usize>)>> = (0..10u64)
            .map(|s| {
                SGD_LRS
                    .iter()
                    .map(|&lr| {
                        let t = SgdTraining {
                            width,
                            epochs: sgd_epochs,
                            batch: SGD_BATCH,
                            lr,
                        };
                        let (_, f, diverged) = train_nonconvex_sgd(
                            &data,
                            beta,
                            t,
                            &mut optlab_core::seed::stream(s, NET_STREAM),
                        );
                        (f, diverged)
                    })
                    .collect()
            })
            .collect();
        let mut sgd: Vec<f64> = sgd_runs
            .iter()
            .map(|v| v.iter().map(|r| r.0).fold(f64::INFINITY, f64::min))
            .collect();
        sgd.sort_by(f64::total_cmp);
        tb.row(&[
            name.to_string(),
            format!("{net_obj:.6}"),
            width.to_string(),
            format!("{} / {}", fmt_num(adam[0]), fmt_num(adam[5])),
            (net_obj < adam[0]).to_string(),
            format!("{} / {}", fmt_num(sgd[0]), fmt_num(sgd[5])),
            (net_obj < sgd[0]).to_string(),
        ]);
        let sgd_f: Vec<Vec<f64>> = sgd_runs
            .iter()
            .map(|v| v.iter().map(|r| r.0).collect())
            .collect();
        let sgd_div: Vec<Vec<Option<usize>>> = sgd_runs
            .iter()
            .map(|v| v.iter().map(|r| r.1).collect())
            .collect();
        json.insert(
            name.into(),
            serde_json::json!({"admm_objective": obj, "iters": st.k, "time_s": total,
                "net_objective": net_obj, "adam": adam, "sgd": sgd, "sgd_lrs": SGD_LRS,
                "sgd_by_seed_and_lr": sgd_f, "sgd_diverged_epoch_by_seed_and_lr": sgd_div,
                "clarabel": clarabel.map(|c| c.0)}),
        );
    }

    // C. Cost per iteration vs P (one factorization, then fixed-cost iterations).
    let data = problem("relu-breast-cancer")?;
    let ps: Vec<usize> = if full {
        vec![10, 25, 50, 100, 200]
    } else {
        vec![10, 25, 50, 100]
    };
    let mut tc = MarkdownTable::new(&[
        "P (patterns kept)",
        "dP",
        "direct: factor s / per-iter ms",
        "Woodbury (n × n): factor s / per-iter ms",
    ]);
    let mut cost: [Vec<(f64, f64)>; 2] = Default::default();
    for &p in &ps {
        let patterns = sample_patterns(&data, p, &mut optlab_core::seed::stream(1, "patterns"));
        let mut cells = Vec::new();
        for (k, ls) in [LinearSolver::Direct, LinearSolver::Woodbury]
            .into_iter()
            .enumerate()
        {
            let cfg = ConvexReluConfig {
                beta,
                linear_solver: ls,
                ..ConvexReluConfig::default()
            };
            let t0 = Instant::now();
            let mut admm = ConvexReluAdmm::new(cfg, data.clone(), patterns.clone())?;
            let factor = t0.elapsed().as_secs_f64();
            let mut ctx = RunContext::new(0);
            let mut st = admm.init(&mut ctx)?;
            let mut per = Vec::new();
            for _ in 0..15 {
                let t = Instant::now();
                admm.step(&mut st, &mut ctx)?;
                per.push(t.elapsed().as_secs_f64());
            }
            let med = median(per);
            cost[k].push((patterns.len() as f64, med * 1e3));
            cells.push(format!("{} / {}", fmt_num(factor), fmt_num(med * 1e3)));
        }
        tc.row(&[
            patterns.len().to_string(),
            (patterns.len() * data.d).to_string(),
            cells[0].clone(),
            cells[1].clone(),
        ]);
    }
    let slope = |c: &[(f64, f64)]| {
        let (a, b) = (c[0], c[c.len() - 1]);
        (b.1 / a.1).ln() / (b.0 / a.0).ln()
    };
    let slopes = (slope(&cost[0]), slope(&cost[1]));

    // D. Exact 2-D: all patterns enumerated, the CP optimum is the global optimum.
    let toy = toy_2d(40, 0)?;
    let all = enumerate_patterns_2d(&toy)?;
    let cfg = ConvexReluConfig {
        beta: 1e-2,
        patterns: 0,
        eps_abs: 1e-10,
        eps_rel: 1e-9,
        max_iters: 50_000,
        rho: 0.003,
        ..ConvexReluConfig::default()
    };
    let mut admm = ConvexReluAdmm::new(cfg, toy.clone(), all.clone())?;
    let (sum, st) = Driver::new(Termination::limits(cfg.max_iters, 0.0))
        .run(&mut admm, &mut RunContext::new(0))?;
    let cp = admm.objective(&st.zv, &st.zw);
    let width = 2 * all.len();
    let restarts: Vec<f64> = (0..50u64)
        .map(|s| {
            let t = NetTraining {
                width,
                iters: 3_000,
                lr: 1e-2,
            };
            train_nonconvex(&toy, 1e-2, t, &mut optlab_core::seed::stream(s, "adam-2d")).1
        })
        .collect();
    let below = restarts.iter().filter(|f| **f < cp - 1e-6).count();
    let best = restarts.iter().copied().fold(f64::INFINITY, f64::min);

    // E. Adversarial training: robust convex program vs PGD-trained non-convex networks.
    let adv = adversarial(full)?;

    std::fs::write(
        Path::new(DATA_DIR).join("manifest.json"),
        serde_json::to_string_pretty(&serde_json::json!({ "problems": manifest }))?,
    )?;
    let text = format!(
        "Squared loss ½‖ŷ − y‖² with labels ±1, β = {beta}, standardized features plus a bias column, \
         P = {p_main} Gaussian patterns (seed 0, deduplicated), ADMM with ρ = {} (the over-relaxed rows: \
         α = 1.8 with ρ = 5e-4, or with ρ = 7e-4 and the cone rows scaled by 1/||x_k||) and one factorization ({} iterations at most; the u-system is solved \
         through the smaller of the dP × dP Cholesky and an n × n Woodbury core; the objective \
         is evaluated, and the residuals and the stopping test applied, every 10 iterations: \
         `eval_every = check_every = 10`, Anderson checks every iteration). \"Time to stay within\" is the time from which on \
         every evaluated objective is within the tolerance; the last column asks the same (one-sided) of \
         the training objective of the ReLU network recovered from the iterate, which is a real \
         network whatever the cone violation. The problems are exported to `{DATA_DIR}` for \
         `bench/peers/convex_relu_cvxpy.py` (cvxpy 1.9.3 + Clarabel 0.11.1, default tolerances, one \
         thread), which fills the Clarabel columns.\n\n{}\n\nAgainst the non-convex network of \
         the same width trained from 10 seeded starts by Adam (full batch, lr 1e-2, {} iterations) \
         and by plain minibatch SGD from the same starts (batches of {}, {} epochs, every step size of {:?} from each \
         start, the best kept; the best network after any epoch counts):\n\n{}\n\nCost per ADMM \
         iteration on breast_cancer as P grows (median of 15 iterations): log-log slope {} for the \
         paper's direct dP × dP solve (quadratic in P) and {} with the Woodbury core (linear in P \
         once n²  is paid).\n\n{}\n\nExact 2-D case: {} data points, all {} activation patterns \
         enumerated, β = 1e-2: CP optimum {cp:.8} ({}); 50 Adam restarts with {width} neurons: best \
         {best:.8}, {below} of 50 below the CP optimum − 1e-6.\n\n{adv}",
        ConvexReluConfig::default().rho,
        iters,
        ta.render(),
        adam_iters,
        SGD_BATCH,
        sgd_epochs,
        SGD_LRS,
        tb.render(),
        fmt_num(slopes.0),
        fmt_num(slopes.1),
        tc.render(),
        toy.n,
        all.len(),
        sum.status.label(),
    );
    r.section("Convex two-layer ReLU training (ADMM)", &text);
    if !plots.is_empty() {
        r.plot(
            "relu_admm_gap",
            &LinePlot {
                title: "ADMM: relative gap to the Clarabel optimum vs wall time".into(),
                x_label: "seconds".into(),
                y_label: "|f - f*| / f*".into(),
                log_x: false,
                log_y: true,
                series: plots,
            },
        )?;
    }
    r.plot(
        "relu_cost_vs_p",
        &LinePlot {
            title: "ADMM cost per iteration vs number of patterns (breast_cancer)".into(),
            x_label: "P".into(),
            y_label: "ms per iteration".into(),
            log_x: true,
            log_y: true,
            series: vec![
                Series::new("direct dP × dP", cost[0].clone()),
                Series::new("Woodbury n × n", cost[1].clone()),
            ],
        },
    )?;
    json.insert(
        "exact_2d".into(),
        serde_json::json!({"patterns": all.len(), "cp": cp, "restarts_best": best, "below": below}),
    );
    json.insert("slopes".into(), serde_json::json!([slopes.0, slopes.1]));
    r.json
        .insert("convex_relu".into(), serde_json::Value::Object(json));
    Ok(())
}

fn admm_metrics(admm: &ConvexReluAdmm, st: &AdmmState) -> (f64, f64) {
    let viol = admm.cone_violation(&st.zv, &st.zw);
    let net = admm.recover(&st.zv, &st.zw, 0.0);
    let yhat = net.predict(&admm.data().x, admm.data().d);
    let acc = yhat
        .iter()
        .zip(&admm.data().y)
        .filter(|(a, b)| a.signum() == b.signum() && **a != 0.0)
        .count() as f64
        / admm.data().n as f64;
    (viol, acc)
}

/// Robust accuracy under ℓ∞ PGD on held-out breast_cancer rows: plain hinge CP, robust hinge
/// CP (both in-process Clarabel) and PGD-trained non-convex networks.
fn adversarial(full: bool) -> Result<String> {
    use optlab_classic::convex_relu_conic::{
        accuracy, adversarial_train, pgd_attack, solve_robust_hinge_cp,
    };
    let all = problem("relu-breast-cancer")?;
    let d = all.d;
    let mut idx: Vec<usize> = (0..all.n).collect();
    {
        use rand::seq::SliceRandom;
        idx.shuffle(&mut optlab_core::seed::stream(0, "adv-split"));
    }
    let n_train = 200;
    let take = |ids: &[usize]| -> Result<ReluData> {
        let x: Vec<f64> = ids
            .iter()
            .flat_map(|&i| all.x[i * d..(i + 1) * d].to_vec())
            .collect();
        let y: Vec<f64> = ids.iter().map(|&i| all.y[i]).collect();
        Ok(ReluData::binary(x, ids.len(), d, y)?)
    };
    let (train, test) = (take(&idx[..n_train])?, take(&idx[n_train..])?);
    let perturbable: Vec<bool> = (0..d).map(|j| j + 1 < d).collect();
    let beta = 1e-3;
    let p = 20;
    let patterns = sample_patterns(&train, p, &mut optlab_core::seed::stream(0, "adv-patterns"));
    let mut t = MarkdownTable::new(&[
        "ε",
        "method",
        "clean test acc.",
        "PGD test acc. (ε, 20 steps)",
        "train time (s)",
    ]);
    let eval = |net: &optlab_classic::convex_relu::ReluNet, eps: f64| {
        let xa = pgd_attack(net, &test, eps, 20, &perturbable);
        (
            accuracy(net, &test.x, &test.y, d),
            accuracy(net, &xa, &test.y, d),
        )
    };
    let admm = ConvexReluAdmm::new(
        ConvexReluConfig {
            beta,
            ..ConvexReluConfig::default()
        },
        train.clone(),
        patterns.clone(),
    )?;
    let epss: &[f64] = if full {
        &[0.05, 0.1, 0.2]
    } else {
        &[0.05, 0.1]
    };
    let t0 = Instant::now();
    let plain = solve_robust_hinge_cp(&train, &patterns, beta, 0.0, &perturbable, 1e-8)?;
    let tp = t0.elapsed().as_secs_f64();
    for &eps in epss {
        let t0 = Instant::now();
        let robust = solve_robust_hinge_cp(&train, &patterns, beta, eps, &perturbable, 1e-8)?;
        let tr = t0.elapsed().as_secs_f64();
        let rows: Vec<(String, (f64, f64), f64)> = vec![
            (
                "convex, hinge (ε = 0)".into(),
                eval(&admm.recover(&plain.v, &plain.w, 1e-9), eps),
                tp,
            ),
            (
                "convex, robust hinge (this ε)".into(),
                eval(&admm.recover(&robust.v, &robust.w, 1e-9), eps),
                tr,
            ),
        ];
        let mut out = rows;
        let mut adv_acc = Vec::new();
        let t0 = Instant::now();
        for s in 0..3u64 {
            let net = adversarial_train(
                &train,
                2 * p,
                beta,
                eps,
                &perturbable,
                if full { 600 } else { 300 },
                1e-2,
                &mut optlab_core::seed::stream(s, "adv-net"),
            );
            adv_acc.push(eval(&net, eps));
        }
        let ta = t0.elapsed().as_secs_f64() / 3.0;
        let mean = |f: &dyn Fn(&(f64, f64)) -> f64| {
            adv_acc.iter().map(f).sum::<f64>() / adv_acc.len() as f64
        };
        out.push((
            format!(
                "non-convex, PGD adversarial training ({} neurons, mean of 3 seeds)",
                2 * p
            ),
            (mean(&|a| a.0), mean(&|a| a.1)),
            ta,
        ));
        for (name, (clean, rob), time) in out {
            t.row(&[
                fmt_num(eps),
                name,
                fmt_num(clean),
                fmt_num(rob),
                fmt_num(time),
            ]);
        }
    }
    Ok(format!(
        "Adversarial training (breast_cancer, standardized; {n_train} training rows, {} held out; P = {} patterns; β = {beta}; \
         ℓ∞ perturbations on the 30 features, not the bias). The robust program (in-process Clarabel) is the robust \
         counterpart of the hinge-loss CP for fixed patterns; PGD uses 20 signed steps of 2.5ε/20.\n\n{}",
        test.n,
        patterns.len(),
        t.render()
    ))
}
