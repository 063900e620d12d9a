//! `optlab bench` section for DAG structure learning: NOTEARS vs TOPO (from a random order and
//! as a post-processor of NOTEARS) on simulated linear SEMs, raw and standardized, and on the
//! Sachs data; the reference Python NOTEARS / TOPO side by side when `bench/peers/dag_peers.py`
//! has run on the datasets this section exports to `bench/out/dag/data/`.

use crate::bench::{Report, mean_sd, median, peer_rows, read_peer};
use anyhow::{Context, Result};
use optlab_classic::dag::{
    DagReport, Notears, NotearsConfig, Topo, TopoConfig, TopoState, order_from_weights,
};
use optlab_core::driver::Driver;
use optlab_core::{RunContext, Status};
use optlab_problems::dag::{DagProblem, GraphKind, Noise, SemSpec, sachs_problem, simulate};
use optlab_report::plot::{LinePlot, Series};
use optlab_report::table::{MarkdownTable, fmt_num};
use rand::seq::SliceRandom;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

/// Where the datasets for the Python peers go.
const DATA_DIR: &str = "bench/out/dag/data";

/// One method's result on one dataset.
#[derive(Debug, Clone)]
struct Res {
    report: DagReport,
    time_s: f64,
    status: Status,
}

fn run_notears(p: &DagProblem, threads: usize) -> Result<(Res, Vec<f64>)> {
    let cfg = NotearsConfig::default();
    let mut nt = Notears::new(cfg, p.clone())?;
    let t = Instant::now();
    let (sum, st) = Driver::new(cfg.termination())
        .run(&mut nt, &mut RunContext::new(0).with_threads(threads))?;
    let time_s = t.elapsed().as_secs_f64();
    Ok((
        Res {
            report: nt.report(&st)?,
            time_s,
            status: sum.status,
        },
        nt.weights(&st),
    ))
}

fn run_topo(p: &DagProblem, order: Vec<usize>, threads: usize) -> Result<(Res, TopoState)> {
    let cfg = TopoConfig::default();
    let mut t = Topo::new(cfg, p.clone())?.with_order(order)?;
    let start = Instant::now();
    let (sum, st) = Driver::new(cfg.termination())
        .run(&mut t, &mut RunContext::new(0).with_threads(threads))?;
    let time_s = start.elapsed().as_secs_f64();
    Ok((
        Res {
            report: t.report(&st)?,
            time_s,
            status: sum.status,
        },
        st,
    ))
}

/// Write a dataset for the peers and return its manifest entry.
fn export(p: &DagProblem, init_order: &[usize], quick: bool) -> Result<serde_json::Value> {
    let dir = Path::new(DATA_DIR);
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {DATA_DIR}"))?;
    let (n, d) = (p.data.n, p.data.d);
    let mut csv = p.data.names.join(",");
    csv.push('\n');
    for i in 0..n {
        let row: Vec<String> = p.data.x[i * d..(i + 1) * d]
            .iter()
            .map(|v| format!("{v}"))
            .collect();
        csv.push_str(&row.join(","));
        csv.push('\n');
    }
    let file = format!("{}.csv", p.name);
    std::fs::write(dir.join(&file), csv)?;
    let mut truth = String::from("cause,effect\n");
    if let Some(t) = &p.truth {
        for k in 0..d * d {
            if t[k] {
                let _ = writeln!(truth, "{},{}", k / d, k % d);
            }
        }
    }
    let tfile = format!("{}.truth.csv", p.name);
    std::fs::write(dir.join(&tfile), truth)?;
    let m = d * (d - 1) / 2;
    Ok(serde_json::json!({
        "name": p.name, "csv": file, "truth": tfile, "init_order": init_order, "quick": quick,
        "topo": {"size_small": m.min(100), "size_large": m.min(400), "no_large_search": 1},
        "notears": {"lambda1": 0.1, "w_threshold": 0.3, "loss_type": "l2"},
    }))
}

fn peer_row<'a>(
    peer: Option<&'a serde_json::Value>,
    dataset: &str,
    method: &str,
) -> Option<&'a serde_json::Value> {
    peer_rows(peer?, |r| r["dataset"] == dataset && r["method"] == method)
        .first()
        .copied()
}

fn mean(v: &[f64]) -> f64 {
    mean_sd(v).0
}

/// The mean of a peer metric over `n` data sets, or "–" when any of them lacks it (an older
/// `dag.json`, a skipped peer): never a mean over a subset, never a made-up 0.
fn peer_mean(v: &[f64], n: usize) -> String {
    if v.len() == n && n > 0 {
        fmt_num(mean(v))
    } else {
        "–".into()
    }
}

/// Per-dataset results of the three optlab variants (and the peers').
struct Cell {
    name: String,
    notears: Res,
    topo: Res,
    post: Res,
}

fn shd(r: &Res) -> f64 {
    r.report.accuracy.map_or(f64::NAN, |a| a.shd as f64)
}

fn run_dataset(
    p: &DagProblem,
    seed: u64,
    threads: usize,
    quick: bool,
) -> Result<(Cell, serde_json::Value)> {
    let d = p.data.d;
    let mut order: Vec<usize> = (0..d).collect();
    order.shuffle(&mut optlab_core::seed::stream(seed, "bench-topo-order"));
    let manifest = export(p, &order, quick)?;
    let (nt, w) = run_notears(p, threads)?;
    let (topo, _) = run_topo(p, order, threads)?;
    let (mut post, _) = run_topo(p, order_from_weights(&w, d, 0.3), threads)?;
    post.time_s += nt.time_s;
    Ok((
        Cell {
            name: p.name.clone(),
            notears: nt,
            topo,
            post,
        },
        manifest,
    ))
}

/// The DAG section.
pub fn dag(r: &mut Report, full: bool, threads: usize, seeds: Option<u64>) -> Result<()> {
    eprintln!("dag: NOTEARS vs TOPO on simulated linear SEMs and Sachs");
    let seeds: u64 = seeds.unwrap_or(if full { 5 } else { 3 });
    let peer = read_peer("dag.json");
    let mut manifest = Vec::new();
    let mut t = MarkdownTable::new(&[
        "graph, data",
        "d",
        "seeds",
        "LS score: NOTEARS / TOPO / NOTEARS+TOPO",
        "LS score, kept edges refit: NOTEARS / TOPO / NOTEARS+TOPO",
        "SHD: NOTEARS / TOPO / NOTEARS+TOPO",
        "TOPO < NOTEARS score",
        "post-processing improves NOTEARS",
        "time (s): NOTEARS / TOPO / NOTEARS+TOPO",
        "reference (Python) time (s): NOTEARS / TOPO / DAGMA",
        "reference LS score · refit · SHD: NOTEARS / TOPO / DAGMA",
    ]);
    let mut json = Vec::new();
    let mut times: Vec<[Vec<(f64, f64)>; 4]> = Vec::new();
    let settings: Vec<(&str, bool, Noise)> = if full {
        vec![
            ("ER2 gauss, raw", false, Noise::Gauss),
            ("ER2 gauss, standardized", true, Noise::Gauss),
            ("ER2 exp, raw", false, Noise::Exp),
        ]
    } else {
        vec![
            ("ER2 gauss, raw", false, Noise::Gauss),
            ("ER2 gauss, standardized", true, Noise::Gauss),
        ]
    };
    for (label, standardize, noise) in &settings {
        let mut curve: [Vec<(f64, f64)>; 4] = Default::default();
        // The full suite adds d = 30 and 50 on raw Gaussian data.
        let dims: Vec<usize> = if full && !standardize && *noise == Noise::Gauss {
            vec![10, 20, 30, 50]
        } else {
            vec![10, 20]
        };
        for &d in &dims {
            let mut cells = Vec::new();
            for seed in 0..seeds {
                let mut p = simulate(&SemSpec {
                    graph: GraphKind::Er,
                    d,
                    edges_per_node: 2,
                    n: 1000,
                    noise: *noise,
                    standardize: *standardize,
                    seed,
                    name: "sem".into(),
                })?;
                let tag = match (standardize, noise) {
                    (false, Noise::Gauss) => "",
                    (true, Noise::Gauss) => "-std",
                    (false, Noise::Exp) => "-exp",
                    _ => "-other",
                };
                p.name = format!("{}{tag}", p.name);
                let quick = d <= 20 && seed < 3 && *noise == Noise::Gauss;
                let (cell, m) = run_dataset(&p, seed, threads, quick)?;
                manifest.push(m);
                cells.push(cell);
            }
            let col = |f: &dyn Fn(&Cell) -> f64| cells.iter().map(f).collect::<Vec<f64>>();
            let ls = |c: &Res| c.report.ls;
            let ls_refit = |c: &Res| c.report.ls_refit.unwrap_or(f64::NAN);
            let wins = cells
                .iter()
                .filter(|c| c.topo.report.ls < c.notears.report.ls)
                .count();
            let improves = cells
                .iter()
                .filter(|c| c.post.report.ls < c.notears.report.ls)
                .count();
            let tn = median(col(&|c| c.notears.time_s));
            let tt = median(col(&|c| c.topo.time_s));
            let tp = median(col(&|c| c.post.time_s));
            curve[0].push((d as f64, tn));
            curve[1].push((d as f64, tt));
            // Peers, matched by dataset name.
            let pr = |m: &str, k: &str| -> Vec<f64> {
                cells
                    .iter()
                    .filter_map(|c| peer_row(peer.as_ref(), &c.name, m)?[k].as_f64())
                    .collect()
            };
            // A peer's median time over every data set of the row, or None when one lacks it.
            let pt = |m: &str| -> Option<f64> {
                let v = pr(m, "time_s");
                (v.len() == cells.len()).then(|| median(v))
            };
            let (rn, rt) = (pr("notears", "time_s"), pr("topo", "time_s"));
            let peer_time = if rn.is_empty() && rt.is_empty() {
                "– (run bench/peers/dag_peers.py)".to_string()
            } else {
                let (mn, mt) = (pt("notears"), pt("topo"));
                if let Some(v) = mn {
                    curve[2].push((d as f64, v));
                }
                if let Some(v) = mt {
                    curve[3].push((d as f64, v));
                }
                let show = |v: Option<f64>| v.map_or("–".to_string(), fmt_num);
                format!(
                    "{} / {} / {} (optlab TOPO {}x faster than reference NOTEARS, {}x than reference TOPO)",
                    show(mn),
                    show(mt),
                    show(pt("dagma")),
                    show(mn.map(|v| v / tt)),
                    show(mt.map(|v| v / tt))
                )
            };
            let peer_score = if rn.is_empty() && rt.is_empty() {
                "–".to_string()
            } else {
                let pm = |m: &str, k: &str| peer_mean(&pr(m, k), cells.len());
                format!(
                    "{} / {} / {} · {} / {} / {} · {} / {} / {}",
                    pm("notears", "score"),
                    pm("topo", "score"),
                    pm("dagma", "score"),
                    pm("notears", "score_refit"),
                    pm("topo", "score_refit"),
                    pm("dagma", "score_refit"),
                    pm("notears", "shd"),
                    pm("topo", "shd"),
                    pm("dagma", "shd")
                )
            };
            t.row(&[
                label.to_string(),
                d.to_string(),
                seeds.to_string(),
                format!(
                    "{} / {} / {}",
                    fmt_num(mean(&col(&|c| ls(&c.notears)))),
                    fmt_num(mean(&col(&|c| ls(&c.topo)))),
                    fmt_num(mean(&col(&|c| ls(&c.post))))
                ),
                format!(
                    "{} / {} / {}",
                    fmt_num(mean(&col(&|c| ls_refit(&c.notears)))),
                    fmt_num(mean(&col(&|c| ls_refit(&c.topo)))),
                    fmt_num(mean(&col(&|c| ls_refit(&c.post))))
                ),
                format!(
                    "{} / {} / {}",
                    fmt_num(mean(&col(&|c| shd(&c.notears)))),
                    fmt_num(mean(&col(&|c| shd(&c.topo)))),
                    fmt_num(mean(&col(&|c| shd(&c.post))))
                ),
                format!("{wins}/{}", cells.len()),
                format!("{improves}/{}", cells.len()),
                format!("{} / {} / {}", fmt_num(tn), fmt_num(tt), fmt_num(tp)),
                peer_time,
                peer_score,
            ]);
            for c in &cells {
                json.push(serde_json::json!({
                    "dataset": c.name, "setting": label, "d": d,
                    "notears": {"ls": c.notears.report.ls, "ls_refit": c.notears.report.ls_refit, "shd": shd(&c.notears), "time_s": c.notears.time_s, "status": c.notears.status.label()},
                    "topo": {"ls": c.topo.report.ls, "ls_refit": c.topo.report.ls_refit, "shd": shd(&c.topo), "time_s": c.topo.time_s, "status": c.topo.status.label()},
                    "notears+topo": {"ls": c.post.report.ls, "ls_refit": c.post.report.ls_refit, "shd": shd(&c.post), "time_s": c.post.time_s},
                }));
            }
        }
        times.push(curve);
    }

    // Sachs: standardized and raw, against the 18-edge reference graph.
    let mut ts = MarkdownTable::new(&[
        "data",
        "method",
        "LS score",
        "LS score unthresholded",
        "LS score, kept edges refit",
        "SHD (18-edge graph)",
        "TPR",
        "edges",
        "time (s)",
        "reference (Python) time (s) / SHD / LS score (unthresholded; kept edges refit)",
        "DAGMA (PyPI) time (s) / SHD / LS score (kept edges refit)",
    ]);
    for standardize in [true, false] {
        let mut p = sachs_problem(standardize)?;
        if !standardize {
            p.name = "sachs-raw".into();
        }
        let (cell, m) = run_dataset(&p, 0, threads, true)?;
        manifest.push(m);
        for (label, res, peer_m) in [
            ("NOTEARS", &cell.notears, Some("notears")),
            ("TOPO (random order)", &cell.topo, Some("topo")),
            ("NOTEARS + TOPO", &cell.post, Some("topo_post")),
        ] {
            let dagma = peer_row(peer.as_ref(), &cell.name, "dagma");
            let a = res.report.accuracy;
            let pr = peer_m.and_then(|m| peer_row(peer.as_ref(), &cell.name, m));
            ts.row(&[
                if standardize {
                    "standardized"
                } else {
                    "raw (centred)"
                }
                .to_string(),
                label.to_string(),
                // Seven digits: on raw Sachs the methods differ in the third or fourth.
                format!("{:.6e}", res.report.ls),
                format!("{:.6e}", res.report.score_raw),
                res.report
                    .ls_refit
                    .map_or("– (collinear kept parents)".into(), |v| {
                        format!("{v:.6e}")
                    }),
                a.map_or("–".into(), |a| a.shd.to_string()),
                a.map_or("–".into(), |a| fmt_num(a.tpr)),
                a.map_or("–".into(), |a| a.nnz.to_string()),
                fmt_num(res.time_s),
                pr.map_or("–".into(), |r| {
                    let num = |k: &str| fmt_num(r[k].as_f64().unwrap_or(f64::NAN));
                    let sci = |k: &str| r[k].as_f64().map_or("–".into(), |v| format!("{v:.6e}"));
                    format!(
                        "{} / {} / {} ({}; {})",
                        num("time_s"),
                        num("shd"),
                        sci("score"),
                        sci("score_raw"),
                        sci("score_refit")
                    )
                }),
                if label == "NOTEARS" {
                    dagma.map_or("–".into(), |r| {
                        format!(
                            "{} / {} / {} ({}){}",
                            fmt_num(r["time_s"].as_f64().unwrap_or(f64::NAN)),
                            fmt_num(r["shd"].as_f64().unwrap_or(f64::NAN)),
                            fmt_num(r["score"].as_f64().unwrap_or(f64::NAN)),
                            r["score_refit"]
                                .as_f64()
                                .map_or("–".into(), |v| format!("{v:.6e}")),
                            if r["is_dag"] == false {
                                " (not a DAG)"
                            } else {
                                ""
                            }
                        )
                    })
                } else {
                    String::new()
                },
            ]);
            json.push(serde_json::json!({"dataset": cell.name, "method": label,
                "ls": res.report.ls, "ls_unthresholded": res.report.score_raw,
                "ls_refit": res.report.ls_refit,
                "shd": a.map(|a| a.shd), "time_s": res.time_s}));
        }
    }
    std::fs::write(
        Path::new(DATA_DIR).join("manifest.json"),
        serde_json::to_string_pretty(&serde_json::json!({ "datasets": manifest }))?,
    )?;

    let text = format!(
        "Linear SEMs: ER graphs with 2d edges, weights U(±[0.5, 2]), n = 1000, seeds 0..{seeds} \
         (`--suite full` adds d = 30 and 50 on raw Gaussian data); \
         NOTEARS with λ1 = 0.1 (reference defaults), TOPO with the paper's candidate rule and the \
         released script's set sizes (capped at d(d−1)/2), both thresholded at 0.3. \"LS score\" is \
         1/(2n)·‖X − XW‖²_F of each thresholded output (lower is better; TOPO minimizes it, NOTEARS \
         adds λ1‖W‖₁); \"kept edges refit\" is the same after every node is regressed on its \
         kept parents (`Score::refit`; TOPO's `refit = true` output, beyond the paper), for every \
         method alike. NOTEARS+TOPO starts TOPO from NOTEARS' order; its time includes NOTEARS. \
         Median wall times, {threads} thread(s). The datasets are exported to `{DATA_DIR}` for \
         `bench/peers/dag_peers.py` (reference NOTEARS `notears_linear` and reference TOPO from \
         local copies), whose `bench/out/peers/dag.json` fills the reference columns.\n\n{}\n\n\
         Sachs (7466 × 11, all conditions pooled) against the 18-edge consensus graph:\n\n{}",
        t.render(),
        ts.render()
    );
    r.section("DAG learning: NOTEARS vs TOPO", &text);
    let names = [
        "optlab NOTEARS",
        "optlab TOPO",
        "reference NOTEARS",
        "reference TOPO",
    ];
    if let Some(curve) = times.first() {
        let series = curve
            .iter()
            .zip(names)
            .filter(|(c, _)| !c.is_empty())
            .map(|(c, n)| Series::new(n, c.clone()))
            .collect();
        r.plot(
            "dag_time",
            &LinePlot {
                title: "DAG learning: median wall time vs d (ER2, Gaussian, raw)".into(),
                x_label: "d".into(),
                y_label: "seconds".into(),
                log_x: false,
                log_y: true,
                series,
            },
        )?;
    }
    r.json.insert("dag".into(), serde_json::Value::Array(json));
    Ok(())
}
