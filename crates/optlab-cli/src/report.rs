//! `optlab report`: Markdown table and SVG plots from run directories.

use anyhow::{Context, Result};
use optlab_core::Metrics;
use optlab_report::plot::{LinePlot, Series};
use optlab_report::rundir::RunDir;
use optlab_report::table::{MarkdownTable, fmt_num};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The y column to plot: `gap` (f - f*) when known, else `f`.
pub fn objective_column(rows: &[Metrics]) -> &'static str {
    if rows.iter().any(|r| r.get("gap").is_some()) {
        "gap"
    } else {
        "f"
    }
}

/// The oracle-call column for the x axis, if any: gradient calls, else function values.
pub fn oracle_column(rows: &[Metrics]) -> Option<&'static str> {
    ["grads", "grad", "samples", "values", "value"]
        .into_iter()
        .find(|c| rows.iter().any(|r| r.get(c).is_some()))
}

fn series(name: &str, rows: &[Metrics], x: &str, y: &str) -> Series {
    let pts = rows
        .iter()
        .filter_map(|r| {
            let xv = if x == "step" {
                Some(r.step as f64)
            } else {
                r.get(x)
            };
            Some((xv?, r.get(y)?))
        })
        .collect();
    Series::new(name, pts)
}

/// Plots of several named runs: y vs step, vs oracle calls, vs wall time.
pub fn overlay_plots(
    runs: &[(String, Vec<Metrics>)],
    title: &str,
    y_column: Option<&'static str>,
    dir: &Path,
) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let all: Vec<Metrics> = runs.iter().flat_map(|r| r.1.iter().cloned()).collect();
    let y = y_column.unwrap_or_else(|| objective_column(&all));
    let log_y = all.iter().filter_map(|r| r.get(y)).all(|v| v > 0.0);
    let mut axes = vec![("step", "iteration"), ("time_s", "wall time (s)")];
    if let Some(c) = oracle_column(&all) {
        axes.insert(1, (c, c));
    }
    let mut written = Vec::new();
    for (x, xlabel) in axes {
        let plot = LinePlot {
            title: format!("{title}: {y} vs {xlabel}"),
            x_label: xlabel.to_string(),
            y_label: match y {
                "gap" => "f - f*".into(),
                "grad_norm" => "||grad f||_2".into(),
                other => other.to_string(),
            },
            log_x: false,
            log_y,
            series: runs.iter().map(|(n, rows)| series(n, rows, x, y)).collect(),
        };
        let path = dir.join(format!("{y}_vs_{x}.svg"));
        std::fs::write(&path, plot.render())
            .with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
    }
    for extra in ["test_acc", "grad_norm"] {
        if extra != y && all.iter().any(|r| r.get(extra).is_some()) {
            let plot = LinePlot {
                title: format!("{title}: {extra}"),
                x_label: "iteration".into(),
                y_label: extra.into(),
                log_x: false,
                log_y: extra == "grad_norm",
                series: runs
                    .iter()
                    .map(|(n, rows)| series(n, rows, "step", extra))
                    .collect(),
            };
            let path = dir.join(format!("{extra}_vs_step.svg"));
            std::fs::write(&path, plot.render())?;
            written.push(path);
        }
    }
    Ok(written)
}

fn write_csv(dir: &RunDir, rows: &[Metrics]) -> Result<PathBuf> {
    let cols: BTreeSet<&str> = rows
        .iter()
        .flat_map(|r| r.values.keys().map(String::as_str))
        .collect();
    let mut out = String::from("step");
    for c in &cols {
        out.push(',');
        out.push_str(c);
    }
    out.push('\n');
    for r in rows {
        out.push_str(&r.step.to_string());
        for c in &cols {
            out.push(',');
            if let Some(v) = r.get(c) {
                out.push_str(&format!("{v:e}"));
            }
        }
        out.push('\n');
    }
    let p = dir.path().join("metrics.csv");
    std::fs::write(&p, out)?;
    Ok(p)
}

/// `optlab report`.
pub fn cmd_report(run_dirs: &[PathBuf], csv: bool, out: Option<&Path>) -> Result<i32> {
    let mut table = MarkdownTable::new(&[
        "run",
        "method",
        "problem",
        "status",
        "iterations",
        "final value",
        "wall time (s)",
        "oracle calls",
    ]);
    let mut runs = Vec::new();
    for p in run_dirs {
        let dir = RunDir::open(p)?;
        let rows = dir.read_metrics()?;
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| p.display().to_string());
        match dir.read_summary() {
            Ok(s) => table.row(&[
                name.clone(),
                s.method.clone(),
                s.problem.clone(),
                s.summary.status.label(),
                s.summary.iterations.to_string(),
                s.summary.final_value.map(fmt_num).unwrap_or_default(),
                format!("{:.3}", s.summary.wall_time_s),
                s.summary
                    .counts
                    .0
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" "),
            ]),
            Err(_) => table.row(&[
                name.clone(),
                String::new(),
                String::new(),
                "no summary (running or crashed)".into(),
            ]),
        }
        let plots = overlay_plots(
            &[(name.clone(), rows.clone())],
            &name,
            None,
            &dir.path().join("plots"),
        )?;
        for p in plots {
            eprintln!("wrote {}", p.display());
        }
        if csv {
            eprintln!("wrote {}", write_csv(&dir, &rows)?.display());
        }
        let label = dir
            .read_spec()
            .map(|s| format!("{} (seed {})", s.method, s.seed))
            .unwrap_or(name);
        runs.push((label, rows));
    }
    if runs.len() > 1 {
        let dir = match out {
            Some(d) => d.to_path_buf(),
            None => run_dirs[0].join("plots").join("overlay"),
        };
        for p in overlay_plots(&runs, "runs", None, &dir)? {
            eprintln!("wrote {}", p.display());
        }
    }
    println!("{}", table.render());
    Ok(0)
}
