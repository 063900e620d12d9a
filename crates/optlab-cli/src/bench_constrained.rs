//! `optlab bench` section for equality-constrained optimization: AdaSketch-Newton (Kaczmarz,
//! Gaussian, exact LU) on the 19 Hock–Schittkowski problems with Ipopt and SLSQP side by side
//! (from `bench/peers/constrained_peers.py`), the KKT residual per iteration, constrained
//! logistic regression, and the Poisson-control scaling study (time per iteration vs size).

use crate::bench::{Outcome, Report, case, median_wall_time, peer_rows, read_peer, run_case};
use anyhow::Result;
use optlab_core::Metrics;
use optlab_report::plot::{LinePlot, Series};
use optlab_report::table::{MarkdownTable, fmt_num};
use std::fmt::Write as _;

/// Labelled metric rows of several runs.
type Runs = Vec<(String, Vec<Metrics>)>;

const HS: [&str; 19] = [
    "hs6", "hs7", "hs26", "hs27", "hs28", "hs39", "hs40", "hs42", "hs46", "hs47", "hs48", "hs49",
    "hs50", "hs51", "hs52", "hs56", "hs77", "hs78", "hs79",
];

/// First iteration whose KKT residual is at most `tol`, if any.
fn first_below(rows: &[Metrics], tol: f64) -> Option<u64> {
    rows.iter()
        .find(|r| r.get("kkt").is_some_and(|k| k <= tol))
        .map(|r| r.step)
}

/// Median wall time over repeats for cheap runs (like the peer's median of 3).
fn median_time(o: &Outcome, c: &crate::bench::Case) -> f64 {
    o.summary
        .as_ref()
        .map_or(f64::NAN, |s| median_wall_time(c, s.wall_time_s, 4))
}

struct Variant {
    label: &'static str,
    sets: Vec<&'static str>,
}

fn variants() -> Vec<Variant> {
    vec![
        Variant {
            label: "AdaSketch RK",
            sets: vec!["solver=\"kaczmarz\""],
        },
        Variant {
            label: "AdaSketch GV",
            sets: vec!["solver=\"gaussian\""],
        },
        // Beyond the paper: each sketch solve starts from the least-squares fit over the last
        // four directions (`warm_start = 4`).
        Variant {
            label: "AdaSketch RK, warm start (4)",
            sets: vec!["solver=\"kaczmarz\"", "warm_start=4"],
        },
        Variant {
            label: "AdaSketch GV, warm start (4)",
            sets: vec!["solver=\"gaussian\"", "warm_start=4"],
        },
        Variant {
            label: "exact Newton-KKT (dense LU)",
            sets: vec!["solver=\"exact-dense\""],
        },
    ]
}

fn kkt_plot(title: &str, runs: &[(String, Vec<Metrics>)]) -> LinePlot {
    LinePlot {
        title: format!("{title}: KKT residual vs iteration"),
        x_label: "iteration".into(),
        y_label: "||(grad_x L, c)||_2".into(),
        log_x: false,
        log_y: true,
        series: runs
            .iter()
            .map(|(name, rows)| {
                Series::new(
                    name.clone(),
                    rows.iter()
                        .filter_map(|r| r.get("kkt").map(|k| (r.step as f64, k.max(1e-16))))
                        .collect(),
                )
            })
            .collect(),
    }
}

/// The constrained section.
pub fn constrained(r: &mut Report, full: bool, threads: usize) -> Result<()> {
    eprintln!("constrained: AdaSketch-Newton on the Hock–Schittkowski set, to KKT <= 1e-6");
    let max_iters = if full {
        "max_iters=1000"
    } else {
        "max_iters=300"
    };
    let peer = read_peer("constrained.json");
    let peer_row = |solver: &str, problem: &str| -> Option<serde_json::Value> {
        peer.as_ref()?["rows"]
            .as_array()?
            .iter()
            .find(|row| {
                row["solver"].as_str() == Some(solver)
                    && row["problem"].as_str().map(str::to_lowercase).as_deref() == Some(problem)
            })
            .cloned()
    };
    let vs = variants();
    let mut head: Vec<String> = vec!["problem".into(), "n/m".into()];
    for v in &vs {
        head.push(format!("{} it (to 1e-4) / ms", v.label));
    }
    head.push("Ipopt it / ms".into());
    head.push("SLSQP it / ms".into());
    head.push("trust-constr it / ms".into());
    let head_ref: Vec<&str> = head.iter().map(String::as_str).collect();
    let mut t = MarkdownTable::new(&head_ref);
    // Oracle evaluations per solver: f / ∇f / c / J / ∇²L.
    let mut ehead: Vec<String> = vec!["problem".into()];
    ehead.extend(vs.iter().map(|v| v.label.to_string()));
    ehead.extend(["Ipopt".into(), "SLSQP".into(), "trust-constr".into()]);
    let ehead_ref: Vec<&str> = ehead.iter().map(String::as_str).collect();
    let mut evals = MarkdownTable::new(&ehead_ref);
    let mut eval_totals = vec![[0u64; 5]; vs.len() + 3];
    let fmt_evals = |e: &[u64; 5], hess: bool| {
        let h = if hess { e[4].to_string() } else { "-".into() };
        format!("{}/{}/{}/{}/{h}", e[0], e[1], e[2], e[3])
    };
    let mut solved6 = vec![0usize; vs.len()];
    let mut solved4 = vec![0usize; vs.len()];
    let mut total_ms = vec![0.0f64; vs.len()];
    let mut ipopt_solver_ms = 0.0;
    // Peers: solved count and total wall time (ms), Ipopt / SLSQP / trust-constr.
    let mut peer_ok = [0usize; 3];
    let mut peer_ms = [0.0f64; 3];
    let mut json = Vec::new();
    let plot_for = ["hs7", "hs40", "hs47", "hs77"];
    let mut plots: Vec<(String, Runs)> = Vec::new();
    for name in HS {
        let mut row = vec![name.to_string(), String::new()];
        let mut erow = vec![name.to_string()];
        let mut runs = Vec::new();
        for (vi, v) in vs.iter().enumerate() {
            let mut sets = v.sets.clone();
            sets.extend(["kkt_tol=1e-6", max_iters]);
            let c = case(v.label, "adasketch-newton", name, &sets, 0, threads)?;
            let o = run_case(&c);
            let ms = 1e3 * median_time(&o, &c);
            let cell = match &o.summary {
                Ok(s) => {
                    let f_err = o
                        .rows
                        .last()
                        .and_then(|m| m.get("f_err"))
                        .unwrap_or(f64::NAN);
                    let ok6 = s.status.is_success() && f_err <= 1e-6;
                    let to4 = first_below(&o.rows, 1e-4);
                    solved6[vi] += usize::from(ok6);
                    solved4[vi] += usize::from(to4.is_some());
                    total_ms[vi] += ms;
                    json.push(serde_json::json!({
                        "problem": name, "variant": v.label, "status": s.status.label(),
                        "iterations": s.iterations, "iterations_to_1e-4": to4,
                        "inner_total": o.rows.last().and_then(|m| m.get("inner_total")),
                        "f_err": f_err, "wall_time_ms_median": ms, "counts": s.counts,
                    }));
                    let e = ["f", "grad", "cons", "jac", "hess"].map(|k| s.counts.get(k));
                    for (tot, v) in eval_totals[vi].iter_mut().zip(e) {
                        *tot += v;
                    }
                    erow.push(format!(
                        "{}{}",
                        if ok6 { "" } else { "✗ " },
                        fmt_evals(&e, true)
                    ));
                    format!(
                        "{}{} ({}) / {:.2}",
                        if ok6 { "" } else { "✗ " },
                        s.iterations,
                        to4.map_or("-".into(), |i| i.to_string()),
                        ms
                    )
                }
                Err(e) => {
                    erow.push("error".into());
                    format!("error: {e}")
                }
            };
            row.push(cell);
            runs.push((v.label.to_string(), o.rows));
        }
        let dims = optlab_problems::constrained::catalog::default_table(name)
            .ok()
            .and_then(|t| optlab_problems::constrained::catalog::build(&t).ok())
            .map(|p| format!("{}/{}", p.n(), p.m()))
            .unwrap_or_default();
        row[1] = dims;
        for (pi, solver) in ["ipopt", "slsqp", "trust-constr"].into_iter().enumerate() {
            match peer_row(solver, name) {
                Some(p) => {
                    let ok = p["success"].as_bool().unwrap_or(false);
                    peer_ok[pi] += usize::from(ok);
                    let ms = 1e3 * p["wall_s"].as_f64().unwrap_or(f64::NAN);
                    peer_ms[pi] += ms;
                    let e = ["nfev", "ngev", "ncev", "njev", "nhev"]
                        .map(|k| p[k].as_u64().unwrap_or(0));
                    for (tot, v) in eval_totals[vs.len() + pi].iter_mut().zip(e) {
                        *tot += v;
                    }
                    erow.push(format!(
                        "{}{}",
                        if ok { "" } else { "✗ " },
                        fmt_evals(&e, !p["nhev"].is_null())
                    ));
                    if solver == "ipopt" {
                        ipopt_solver_ms += 1e3
                            * (p["wall_s"].as_f64().unwrap_or(0.0)
                                - p["callback_s"].as_f64().unwrap_or(0.0));
                    }
                    row.push(format!(
                        "{}{} / {:.2}",
                        if ok { "" } else { "✗ " },
                        p["iterations"],
                        ms
                    ));
                }
                None => {
                    row.push("(run bench/peers/run_all.sh)".into());
                    erow.push("-".into());
                }
            }
        }
        t.row(&row);
        evals.row(&erow);
        if plot_for.contains(&name) {
            let sets = [
                "solver=\"kaczmarz\"",
                "superlinear=true",
                "kkt_tol=1e-6",
                max_iters,
            ];
            let c = case(
                "AdaSketch RK superlinear",
                "adasketch-newton",
                name,
                &sets,
                0,
                threads,
            )?;
            let o = run_case(&c);
            runs.push((o.label.clone(), o.rows));
            plots.push((name.to_string(), runs));
        }
    }
    let mut text = String::from(
        "Each cell: outer iterations to KKT <= 1e-6 (iterations to 1e-4 in brackets) / median wall \
         time in ms; ✗ = not solved to KKT <= 1e-6 with |f - f*| <= 1e-6 (|f*| + 1) within the \
         iteration cap. AdaSketch uses the official defaults (inner cap 1e5 sketch steps). Peers: \
         Ipopt 3.14.11 (exact Hessian, tol 1e-8), scipy SLSQP (ftol 1e-12) and scipy \
         trust-constr (gtol 1e-8, exact Hessian), Python callbacks via jax, from \
         `bench/peers/constrained_peers.py`; ✗ for a peer = it reported failure or stopped above \
         KKT 1e-6.\n\n",
    );
    text.push_str(&t.render());
    let mut erow = vec!["**total**".to_string()];
    for (k, e) in eval_totals.iter().enumerate() {
        // SLSQP (column vs + 1) never evaluates a Hessian.
        erow.push(fmt_evals(e, k != vs.len() + 1));
    }
    evals.row(&erow);
    let _ = write!(
        text,
        "\n\nOracle evaluations to the stop, `f / ∇f / c / J / ∇²L` (our counts from the \
         counting wrapper; the peers' from their own callbacks; ✗ = not solved as above):\n\n{}",
        evals.render()
    );
    let _ = write!(
        text,
        "\n\n| solver | solved to 1e-6 | reached 1e-4 | total time (ms) |\n|---|---|---|---|\n"
    );
    for (vi, v) in vs.iter().enumerate() {
        let _ = writeln!(
            text,
            "| {} | {}/19 | {}/19 | {:.1} |",
            v.label, solved6[vi], solved4[vi], total_ms[vi]
        );
    }
    if peer.is_some() {
        for (i, name) in ["Ipopt", "SLSQP", "trust-constr"].into_iter().enumerate() {
            let solver_only = if i == 0 {
                format!(" (solver only, without Python callbacks: {ipopt_solver_ms:.1})")
            } else {
                String::new()
            };
            let _ = writeln!(
                text,
                "| {name} (peer) | {}/19 | - | {:.1}{solver_only} |",
                peer_ok[i], peer_ms[i]
            );
        }
    }
    r.section(
        "Constrained: AdaSketch-Newton on 19 Hock–Schittkowski problems",
        &text,
    );
    for (name, runs) in &plots {
        r.plot(&format!("constrained_kkt_{name}"), &kkt_plot(name, runs))?;
    }
    r.json.insert("constrained_hs".into(), json.into());
    logreg(r, threads)?;
    poisson(r, threads, &peer)?;
    Ok(())
}

fn logreg(r: &mut Report, threads: usize) -> Result<()> {
    eprintln!("constrained: equality-constrained logistic regression");
    let mut t = MarkdownTable::new(&[
        "problem",
        "solver",
        "status",
        "iterations",
        "sketch steps",
        "KKT",
        "time (ms)",
    ]);
    let problems = ["logreg-eq-breast-cancer", "logreg-eq-mushrooms"];
    let mut json = Vec::new();
    for p in problems {
        let mut runs = Vec::new();
        for v in variants() {
            let mut sets = v.sets.clone();
            sets.push("kkt_tol=1e-6");
            let c = case(v.label, "adasketch-newton", p, &sets, 0, threads)?;
            let o = run_case(&c);
            if let Ok(s) = &o.summary {
                let last = o.rows.last();
                let kkt = last.and_then(|m| m.get("kkt")).unwrap_or(f64::NAN);
                let inner = last.and_then(|m| m.get("inner_total")).unwrap_or(0.0);
                t.row(&[
                    p.to_string(),
                    v.label.to_string(),
                    s.status.label(),
                    s.iterations.to_string(),
                    format!("{inner:.0}"),
                    fmt_num(kkt),
                    format!("{:.1}", 1e3 * s.wall_time_s),
                ]);
                json.push(serde_json::json!({"problem": p, "variant": v.label,
                    "status": s.status.label(), "iterations": s.iterations, "kkt": kkt,
                    "wall_time_s": s.wall_time_s}));
            }
            runs.push((v.label.to_string(), o.rows));
        }
        r.plot(&format!("constrained_kkt_{p}"), &kkt_plot(p, &runs))?;
    }
    r.section(
        "Constrained: logistic regression with 10 random linear constraints and ||w|| = 1",
        &t.render(),
    );
    r.json.insert("constrained_logreg".into(), json.into());
    Ok(())
}

fn poisson(r: &mut Report, threads: usize, peer: &Option<serde_json::Value>) -> Result<()> {
    eprintln!("constrained: Poisson control, time per iteration vs grid size");
    // The peer script runs the same grids.
    let grids: Vec<usize> = vec![4, 8, 16, 24, 32];
    let variants: [(&str, &str, &str); 3] = [
        ("AdaSketch RK", "solver=\"kaczmarz\"", "max_iters=30"),
        (
            "exact Newton-KKT (sparse LU)",
            "solver=\"exact-sparse\"",
            "max_iters=30",
        ),
        (
            "exact Newton-KKT (dense LU)",
            "solver=\"exact-dense\"",
            "max_iters=30",
        ),
    ];
    let mut t = MarkdownTable::new(&[
        "N",
        "n + m",
        "solver",
        "status",
        "iterations",
        "time / iteration (ms)",
        "inner flops / iteration",
        "final KKT",
        "max |x - x*|",
    ]);
    let mut series: Vec<Series> = variants
        .iter()
        .map(|(l, _, _)| Series::new(*l, Vec::new()))
        .collect();
    let mut json = Vec::new();
    // optlab's exact sparse solve (variant 1) per grid: the peers' reference time.
    let mut sparse_wall: std::collections::BTreeMap<usize, f64> = Default::default();
    for &g in &grids {
        let grid = format!("problem.grid={g}");
        for (vi, (label, solver, iters)) in variants.iter().enumerate() {
            let sets = [grid.as_str(), solver, iters, "kkt_tol=1e-8"];
            let c = case(
                label,
                "adasketch-newton",
                "poisson-control",
                &sets,
                0,
                threads,
            )?;
            let o = run_case(&c);
            if let Ok(s) = &o.summary {
                let last = o.rows.last();
                let per = s.wall_time_s / (s.iterations.max(1) as f64);
                let flops = last
                    .and_then(|m| m.get("flops"))
                    .map_or("-".into(), |f| fmt_num(f / s.iterations.max(1) as f64));
                let kkt = last.and_then(|m| m.get("kkt")).unwrap_or(f64::NAN);
                let xerr = last.and_then(|m| m.get("x_err")).unwrap_or(f64::NAN);
                t.row(&[
                    g.to_string(),
                    (3 * g * g).to_string(),
                    label.to_string(),
                    s.status.label(),
                    s.iterations.to_string(),
                    format!("{:.3}", 1e3 * per),
                    flops,
                    fmt_num(kkt),
                    fmt_num(xerr),
                ]);
                series[vi].points.push(((3 * g * g) as f64, 1e3 * per));
                if vi == 1 {
                    sparse_wall.insert(g, s.wall_time_s);
                }
                json.push(serde_json::json!({"grid": g, "variant": label,
                    "status": s.status.label(), "iterations": s.iterations,
                    "time_per_iteration_s": per, "kkt": kkt, "x_err": xerr,
                    "wall_time_s": s.wall_time_s}));
            }
        }
    }
    // The peers' rows for the same grids (bench/peers/constrained_peers.py, run just before).
    let mut peers = MarkdownTable::new(&[
        "N",
        "n + m",
        "solver",
        "status",
        "iterations",
        "wall time (ms)",
        "vs optlab exact sparse (total time)",
        "final KKT",
    ]);
    if let Some(p) = peer {
        for &g in &grids {
            let ours = sparse_wall.get(&g);
            let name = format!("Poisson{g}");
            for row in peer_rows(p, |r| r["problem"] == name.as_str()) {
                let ms = 1e3 * row["wall_s"].as_f64().unwrap_or(f64::NAN);
                let ratio = ours.map_or("-".into(), |s| format!("{:.2}x", ms / (1e3 * s)));
                peers.row(&[
                    g.to_string(),
                    (3 * g * g).to_string(),
                    format!("{} (peer)", row["solver"].as_str().unwrap_or("?")),
                    if row["success"].as_bool().unwrap_or(false) {
                        "solved".into()
                    } else {
                        format!("✗ {}", row["message"].as_str().unwrap_or("?"))
                    },
                    row["iterations"].to_string(),
                    format!("{ms:.2}"),
                    ratio,
                    fmt_num(row["kkt"].as_f64().unwrap_or(f64::NAN)),
                ]);
            }
        }
    }
    let mut text = String::from(
        "KKT tolerance 1e-8, at most 30 outer iterations. The problem is linear–quadratic, so \
         the exact variants finish in one Newton step; x* is one sparse KKT solve.\n\n",
    );
    text.push_str(&t.render());
    if peers.is_empty() {
        text.push_str("\n\nNo peer figures: run `bash bench/peers/run_all.sh` first.\n");
    } else {
        let _ = write!(
            text,
            "\n\nPeers on the same grids (Ipopt tol 1e-8, scipy trust-constr gtol 1e-8, SLSQP \
             up to N = 8; median of 3 wall times including the Python/jax callbacks; the ratio \
             is the peer's time over optlab's exact sparse variant's whole run above):\n\n{}",
            peers.render()
        );
    }
    r.section(
        "Constrained: Poisson control, sketching vs exact KKT solves",
        &text,
    );
    r.plot(
        "constrained_poisson_time_per_iteration",
        &LinePlot {
            title: "Poisson control: time per Newton iteration vs KKT size".into(),
            x_label: "n + m".into(),
            y_label: "ms per iteration".into(),
            log_x: true,
            log_y: true,
            series,
        },
    )?;
    r.json.insert("constrained_poisson".into(), json.into());
    Ok(())
}
