//! `optlab bench` section for bilevel optimization: LV-HBA on its closed-form toy (converging
//! and official settings) and on SVM hyper-parameter selection against a fixed-C grid; BO-REP
//! against its unnormalized ablation and the StocBiO / AID-CG baselines at equal oracle calls
//! on the `(L0, L1)`-smooth toy, data hyper-cleaning and RNN hyper-representation learning.
//! Every method gets the same small step-size grid; the best setting per method (median over
//! seeds of the final upper-level value) is reported, together with the whole grid.

use crate::bench::{Outcome, Report, case, median, run_case};
use anyhow::Result;
use optlab_core::Status;
use optlab_problems::bilevel::Bilevel as _;
use optlab_problems::bilevel::svm::{SvmData, SvmHo, SvmSpec};
use optlab_report::plot::{LinePlot, Series};
use optlab_report::table::{MarkdownTable, fmt_num};
use std::fmt::Write as _;
use std::time::Instant;

/// One method setting run over several seeds.
struct Setting {
    label: String,
    outcomes: Vec<Outcome>,
}

impl Setting {
    fn finals(&self, key: &str) -> Vec<f64> {
        self.outcomes
            .iter()
            .map(|o| match &o.summary {
                Ok(s) => s.extra.get(key).copied().unwrap_or(f64::NAN),
                Err(_) => f64::NAN,
            })
            .collect()
    }

    fn med(&self, key: &str) -> f64 {
        let v: Vec<f64> = self
            .finals(key)
            .into_iter()
            .filter(|v| v.is_finite())
            .collect();
        if v.len() < self.outcomes.len() {
            return f64::NAN;
        }
        median(v)
    }

    fn failures(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|o| match &o.summary {
                Ok(s) => matches!(s.status, Status::NumericalFailure { .. }),
                Err(_) => true,
            })
            .count()
    }

    fn time(&self) -> f64 {
        median(
            self.outcomes
                .iter()
                .filter_map(|o| o.summary.as_ref().ok().map(|s| s.wall_time_s))
                .collect(),
        )
    }

    /// The median over seeds of `key` against the median oracle calls, per recorded step.
    fn curve(&self, key: &str) -> Vec<(f64, f64)> {
        self.curve_by("oracle_calls", key)
    }

    /// The median over seeds of `key` against the median of `x_key`, per recorded step.
    fn curve_by(&self, x_key: &str, key: &str) -> Vec<(f64, f64)> {
        let n = self
            .outcomes
            .iter()
            .map(|o| o.rows.len())
            .min()
            .unwrap_or(0);
        (0..n)
            .filter_map(|i| {
                let ys: Vec<f64> = self
                    .outcomes
                    .iter()
                    .filter_map(|o| o.rows[i].values.get(key).copied())
                    .collect();
                let xs: Vec<f64> = self
                    .outcomes
                    .iter()
                    .filter_map(|o| o.rows[i].values.get(x_key).copied())
                    .collect();
                (ys.len() == self.outcomes.len() && !xs.is_empty())
                    .then(|| (median(xs), median(ys)))
            })
            .collect()
    }
}

fn run_setting(
    label: &str,
    method: &str,
    problem: &str,
    sets: &[String],
    seeds: u64,
    threads: usize,
) -> Result<Setting> {
    let refs: Vec<&str> = sets.iter().map(|s| s.as_str()).collect();
    let mut outcomes = Vec::new();
    for seed in 0..seeds {
        let c = case(
            &format!("{label} seed {seed}"),
            method,
            problem,
            &refs,
            seed,
            threads,
        )?;
        outcomes.push(run_case(&c));
    }
    Ok(Setting {
        label: label.to_string(),
        outcomes,
    })
}

/// A method with a step-size grid: runs every value, returns all settings and the index of
/// the best (lowest median final `key`).
#[allow(clippy::too_many_arguments)]
fn grid(
    name: &str,
    method: &str,
    problem: &str,
    step_key: &str,
    steps: &[f64],
    common: &[String],
    seeds: u64,
    threads: usize,
    key: &str,
) -> Result<(Vec<Setting>, usize)> {
    let mut out = Vec::new();
    for &s in steps {
        let mut sets = common.to_vec();
        sets.push(format!("{step_key}={s}"));
        out.push(run_setting(
            &format!("{name} {step_key}={s}"),
            method,
            problem,
            &sets,
            seeds,
            threads,
        )?);
    }
    let best = (0..out.len())
        .min_by(|&a, &b| {
            let (va, vb) = (out[a].med(key), out[b].med(key));
            let va = if va.is_finite() { va } else { f64::INFINITY };
            let vb = if vb.is_finite() { vb } else { f64::INFINITY };
            va.total_cmp(&vb)
        })
        .unwrap_or(0);
    Ok((out, best))
}

fn sets(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// The bilevel section.
pub fn bilevel(r: &mut Report, full: bool, threads: usize, seeds: u64) -> Result<()> {
    let seeds = if full { seeds } else { seeds.min(3) };
    let mut json = serde_json::Map::new();
    lvhba_toy(r, &mut json, threads)?;
    quad_cosh(r, &mut json, full, threads, seeds)?;
    hyper(r, &mut json, full, threads, seeds, HyperTask::Clean)?;
    hyper(r, &mut json, full, threads, seeds, HyperTask::Rnn)?;
    svm(r, &mut json, full, threads)?;
    r.json.insert("bilevel".into(), json.into());
    Ok(())
}

fn lvhba_toy(
    r: &mut Report,
    json: &mut serde_json::Map<String, serde_json::Value>,
    threads: usize,
) -> Result<()> {
    let runs = [
        ("n = 10, c0 = 1 (converging setting)", "10", "1.0", 3000),
        ("n = 10, c0 = 0.025 (official c0)", "10", "0.025", 3000),
        ("n = 100, official defaults", "100", "0.025", 3000),
    ];
    let mut t = MarkdownTable::new(&[
        "setting",
        "rel. error k=1500",
        "rel. error k=3000",
        "z (→ -1)",
        "|1ᵀx + 1ᵀy|",
        "status",
        "time (s)",
    ]);
    let mut series = Vec::new();
    let mut rows_json = Vec::new();
    for (label, n, c0, iters) in runs {
        let s = sets(&[
            &format!("problem.n={n}"),
            &format!("c0={c0}"),
            &format!("max_iter={iters}"),
            "eval_every=10",
        ]);
        let set = run_setting(label, "lv-hba", "lvhba-toy", &s, 1, threads)?;
        let o = &set.outcomes[0];
        let at = |k: u64| {
            o.rows
                .iter()
                .find(|m| m.step == k)
                .and_then(|m| m.values.get("rel_error").copied())
                .unwrap_or(f64::NAN)
        };
        let z = o
            .summary
            .as_ref()
            .ok()
            .and_then(|s| s.extra.get("z_mean").copied());
        let (status, viol) = match &o.summary {
            Ok(s) => (
                s.status.label(),
                s.extra.get("violation").copied().unwrap_or(f64::NAN),
            ),
            Err(e) => (format!("error: {e}"), f64::NAN),
        };
        t.row(&[
            label.to_string(),
            fmt_num(at(1500)),
            fmt_num(at(3000)),
            z.map(fmt_num).unwrap_or_else(|| "–".into()),
            fmt_num(viol),
            status,
            format!("{:.2}", set.time()),
        ]);
        series.push(Series::new(
            label,
            o.rows
                .iter()
                .filter_map(|m| Some((m.step as f64, *m.values.get("rel_error")?)))
                .collect(),
        ));
        rows_json.push(
            serde_json::json!({"setting": label, "rel_error_1500": at(1500),
            "rel_error_3000": at(3000), "z": z, "violation": viol}),
        );
    }
    r.section(
        "Bilevel: LV-HBA on its closed-form toy (x* = -0.3·1)",
        &format!(
            "LV-HBA's toy \"LLC\" (coupled lower-level equality constraint, non-singleton lower-level \
             solution set), from the official start (x = -20·1, y = θ = 10·1, λ = 1, z = -1) with \
             the official steps (α = 0.008, β = 0.02, η = 0.01, γ1 = γ2 = 10), c_k = c0 (k+1)^0.3. \
             The trajectory equals the official script's to 1e-10 (test `lv_hba_follows_the_official_toy_trajectory`). \
             The relative error ||x - x*||/||x*|| oscillates on the way in (at n = 10, c0 = 1 it is \
             0.96 at k = 1000, 3e-4 at k = 1477, 0.019 at k = 1500), so single checkpoints are \
             indicative only. The official defaults at n = 100 do **not** converge (the inner \
             descent-ascent on (θ, λ) is unstable when the coupling 1ᵀθ has norm √(2n)), and the \
             official c0 = 0.025 is too weak a penalty even at n = 10.\n\n{}",
            t.render()
        ),
    );
    r.plot(
        "bilevel_lvhba_toy",
        &LinePlot {
            title: "LV-HBA toy: relative error vs iteration".into(),
            x_label: "iteration".into(),
            y_label: "||x - x*|| / ||x*||".into(),
            log_x: false,
            log_y: true,
            series,
        },
    )?;
    json.insert("lvhba_toy".into(), rows_json.into());
    Ok(())
}

fn quad_cosh(
    r: &mut Report,
    json: &mut serde_json::Map<String, serde_json::Value>,
    full: bool,
    threads: usize,
    seeds: u64,
) -> Result<()> {
    let budget = if full { 8000 } else { 4000 };
    let common = sets(&[
        "problem.noise_sd=0.1",
        "gamma=0.1",
        &format!("max_oracle_calls={budget}"),
        "max_iter=1000000",
        "eval_every=5",
    ]);
    let key = "hypergrad_norm";
    let etas = [0.1, 0.3, 1.0, 3.0];
    let mut bo = common.clone();
    bo.push("nu=0.1".into());
    let (bo_rep, bo_best) = grid(
        "BO-REP",
        "bo-rep",
        "quad-cosh",
        "eta",
        &etas,
        &bo,
        seeds,
        threads,
        key,
    )?;
    let mut plain = bo.clone();
    plain.push("normalize=false".into());
    let (unnorm, un_best) = grid(
        "unnormalized",
        "bo-rep",
        "quad-cosh",
        "eta",
        &etas,
        &plain,
        seeds,
        threads,
        key,
    )?;
    let mut sb = common.clone();
    sb.push("neumann_eta=0.09".into());
    let alphas = [0.01, 0.03, 0.1];
    let (stoc, st_best) = grid(
        "StocBiO",
        "stocbio",
        "quad-cosh",
        "alpha",
        &alphas,
        &sb,
        seeds,
        threads,
        key,
    )?;
    let (aid, aid_best) = grid(
        "AID-CG",
        "aid-cg",
        "quad-cosh",
        "alpha",
        &alphas,
        &common,
        seeds,
        threads,
        key,
    )?;
    let mut t = MarkdownTable::new(&[
        "step",
        "BO-REP ||∇Φ||",
        "BO-REP failures",
        "unnormalized ||∇Φ||",
        "unnormalized failures",
    ]);
    for (i, eta) in etas.iter().enumerate() {
        t.row(&[
            format!("eta = {eta}"),
            fmt_num(bo_rep[i].med(key)),
            format!("{}/{seeds}", bo_rep[i].failures()),
            fmt_num(unnorm[i].med(key)),
            format!("{}/{seeds}", unnorm[i].failures()),
        ]);
    }
    let mut b = MarkdownTable::new(&["method (best step)", "||∇Φ|| (median)", "Φ", "failures"]);
    for (set, best) in [
        (&bo_rep, bo_best),
        (&unnorm, un_best),
        (&stoc, st_best),
        (&aid, aid_best),
    ] {
        let s = &set[best];
        b.row(&[
            s.label.clone(),
            fmt_num(s.med(key)),
            fmt_num(s.med("phi")),
            format!("{}/{seeds}", s.failures()),
        ]);
    }
    let g0 = optlab_problems::bilevel::toys::QuadCosh::new(&Default::default())
        .ok()
        .and_then(|q| {
            let x0 = q.start().0;
            q.hypergradient(&x0)
                .and_then(|g| g.ok())
                .map(|g| optlab_linalg::norm2(&g))
        })
        .unwrap_or(f64::NAN);
    r.section(
        "Bilevel: normalization under unbounded smoothness (BO-REP's toy)",
        &format!(
            "`quad-cosh`: lower level ½yᵀAy - yᵀBx (A with eigenvalues in [1, 10], n = m = 10), \
             upper ½||y - b||² + Σcosh(x_j) — (L0, L1)-smooth, not L-smooth; start x0 = 5·1 \
             (||∇Φ(x0)|| = {}); oracle noise 0.1 (gradients additive, Hessian/Jacobian products \
             through random perturbations of A and B). {budget} oracle calls per run, {seeds} seeds, \
             medians. BO-REP (normalized momentum, step length eta) against the same algorithm \
             without normalization at equal step sizes; a failure is a run that overflowed \
             (status NumericalFailure, last finite state kept).\n\n{}\n\nBest step of every \
             method, equal oracle calls:\n\n{}",
            fmt_num(g0),
            t.render(),
            b.render()
        ),
    );
    let mut series = Vec::new();
    for (set, best) in [
        (&bo_rep, bo_best),
        (&unnorm, un_best),
        (&stoc, st_best),
        (&aid, aid_best),
    ] {
        series.push(Series::new(set[best].label.clone(), set[best].curve(key)));
    }
    r.plot(
        "bilevel_quad_cosh",
        &LinePlot {
            title: "quad-cosh: ||∇Φ(x)|| vs oracle calls (median over seeds)".into(),
            x_label: "oracle calls".into(),
            y_label: "||∇Φ(x)||".into(),
            log_x: false,
            log_y: true,
            series,
        },
    )?;
    json.insert(
        "quad_cosh".into(),
        serde_json::json!({
            "budget": budget,
            "eta": etas,
            "bo_rep": bo_rep.iter().map(|s| s.med(key)).collect::<Vec<_>>(),
            "unnormalized": unnorm.iter().map(|s| s.med(key)).collect::<Vec<_>>(),
            "unnormalized_failures": unnorm.iter().map(|s| s.failures()).collect::<Vec<_>>(),
            "stocbio_best": {"setting": stoc[st_best].label.clone(), "value": stoc[st_best].med(key)},
            "aid_cg_best": {"setting": aid[aid_best].label.clone(), "value": aid[aid_best].med(key)},
        }),
    );
    Ok(())
}

#[derive(Clone, Copy, PartialEq)]
enum HyperTask {
    Clean,
    Rnn,
}

fn hyper(
    r: &mut Report,
    json: &mut serde_json::Map<String, serde_json::Value>,
    full: bool,
    threads: usize,
    seeds: u64,
    task: HyperTask,
) -> Result<()> {
    // Step grids chosen so that every method's best step is inside its grid (the upper
    // gradient in the per-sample weights is O(1/n), hence the large plain steps).
    let (problem, budget, etas, alphas, aid_alphas): (&str, u64, Vec<f64>, Vec<f64>, Vec<f64>) =
        match task {
            HyperTask::Clean => (
                "hyper-clean",
                20_000,
                vec![0.1, 0.3, 1.0],
                vec![100.0, 300.0, 1000.0],
                vec![300.0, 1000.0, 3000.0],
            ),
            HyperTask::Rnn => (
                "hyper-rep-rnn",
                if full { 6000 } else { 3000 },
                vec![0.03, 0.1, 0.3],
                vec![0.3, 1.0, 3.0],
                vec![0.3, 1.0, 3.0],
            ),
        };
    let bo_extra = ["nu=0.5"];
    let eval_every = if task == HyperTask::Clean { 25 } else { 10 };
    let common = sets(&[
        "batch_lower=64",
        "batch_upper=64",
        &format!("max_oracle_calls={budget}"),
        "max_iter=1000000",
        &format!("eval_every={eval_every}"),
        "gamma=0.5",
    ]);
    let key = "upper";
    let mut bo = common.clone();
    bo.extend(sets(&bo_extra));
    let (bo_rep, bo_best) = grid(
        "BO-REP", "bo-rep", problem, "eta", &etas, &bo, seeds, threads, key,
    )?;
    let mut sb = common.clone();
    sb.push("neumann_eta=0.5".into());
    let (stoc, st_best) = grid(
        "StocBiO", "stocbio", problem, "alpha", &alphas, &sb, seeds, threads, key,
    )?;
    // AID-CG is full-batch: on the RNN each call costs n_train/64 ≈ 9 mini-batch calls (the
    // slowest part of the quick suite's bilevel section, but the claim is against it).
    let aid_common = sets(&[
        &format!("max_oracle_calls={budget}"),
        "max_iter=1000000",
        &format!("eval_every={}", (eval_every / 10).max(1)),
        "gamma=0.5",
    ]);
    // Full-batch oracles without noise: every seed gives the same run, so one is enough.
    let (aid, aid_best) = grid(
        "AID-CG",
        "aid-cg",
        problem,
        "alpha",
        &aid_alphas,
        &aid_common,
        1,
        threads,
        key,
    )?;
    let extra_keys: &[&str] = match task {
        HyperTask::Clean => &["test_acc", "precision", "recall"],
        HyperTask::Rnn => &["test_acc", "val_acc"],
    };
    let mut header = vec![
        "method, step".to_string(),
        "upper (val. loss)".into(),
        "failures".into(),
    ];
    header.extend(extra_keys.iter().map(|k| k.to_string()));
    header.push("rows touched".into());
    header.push("time (s)".into());
    let mut t = MarkdownTable::new(&header);
    let groups: Vec<(&Vec<Setting>, usize)> =
        vec![(&bo_rep, bo_best), (&stoc, st_best), (&aid, aid_best)];
    for (set, best) in &groups {
        for (i, s) in set.iter().enumerate() {
            let mut row = vec![
                if i == *best {
                    format!("**{}** (best)", s.label)
                } else {
                    s.label.clone()
                },
                fmt_num(s.med(key)),
                format!("{}/{}", s.failures(), s.outcomes.len()),
            ];
            row.extend(extra_keys.iter().map(|k| fmt_num(s.med(k))));
            row.push(fmt_num(s.med("samples")));
            row.push(format!("{:.2}", s.time()));
            t.row(&row);
        }
    }
    // Reference: the start (uniform weights / initial encoder) after BO-REP's lower-level
    // refinement.
    let start: Vec<f64> = bo_rep[0]
        .outcomes
        .iter()
        .filter_map(|o| {
            o.rows
                .first()
                .and_then(|m| m.values.get("test_acc").copied())
        })
        .collect();
    let (title, what) = match task {
        HyperTask::Clean => (
            "Bilevel: data hyper-cleaning on digits (40% corrupted labels)",
            format!(
                "`hyper-clean`: 1000 training rows, 40% of their labels replaced by another class; \
                 one weight sigmoid(λ_i) per training row (upper variable, 1000-dimensional); lower \
                 level: weighted multinomial logistic regression (ridge 1e-3); upper level: \
                 cross-entropy on 300 clean validation rows; 497 test rows. Precision/recall: rows \
                 with λ_i < 0 flagged as corrupted. Start (uniform weights, 100 lower-level SGD steps): \
                 test accuracy {}.",
                fmt_num(median(start.clone()))
            ),
        ),
        HyperTask::Rnn => (
            "Bilevel: hyper-representation learning with an Elman RNN (digits as sequences)",
            format!(
                "`hyper-rep-rnn`: digits read row by row (8 steps of 8 pixels), Elman RNN with 32 \
                 hidden units (1,312 upper-level parameters), linear softmax head as the lower \
                 level (ridge 1e-2) on 600 training rows, upper level: cross-entropy on 400 \
                 validation rows through both; 797 test rows. Initial encoder: test accuracy {}.",
                fmt_num(median(start.clone())),
            ),
        ),
    };
    let mut text = format!(
        "{what} Mini-batches of 64 rows for BO-REP and StocBiO (AID-CG: full batch); {budget} oracle \
         calls per run (an oracle call is one upper gradient, lower gradient, Hessian- or \
         Jacobian-vector product, whatever its batch); {seeds} seeds, medians; every method on the \
         same three-point step grid, the best (lowest median final upper value) in bold. AID-CG's \
         full-batch oracles are deterministic here, so it runs once per step.\n\n{}",
        t.render()
    );
    let bo_v = bo_rep[bo_best].med(key);
    let others: Vec<(String, f64)> = groups[1..]
        .iter()
        .map(|(s, b)| (s[*b].label.clone(), s[*b].med(key)))
        .collect();
    let _ = write!(text, "\nBO-REP's best upper value {} vs ", fmt_num(bo_v));
    let bo_t = bo_rep[bo_best].time();
    let parts: Vec<String> = groups[1..]
        .iter()
        .map(|(set, b)| {
            let s = &set[*b];
            let v = s.med(key);
            format!(
                "{} {} (ratio {:.2}; wall time {:.1}x BO-REP's)",
                s.label,
                fmt_num(v),
                v / bo_v,
                s.time() / bo_t
            )
        })
        .collect();
    let _ = writeln!(text, "{}.", parts.join(", "));
    let mut at_budget = serde_json::Value::Null;
    // Equal data instead of equal calls: AID-CG's full-batch calls touch every row.
    let budget_rows = bo_rep[bo_best].med("samples");
    let a = &aid[aid_best];
    if let Some(&(rows, v)) = a
        .curve_by("samples", key)
        .iter()
        .rev()
        .find(|(x, _)| *x <= budget_rows)
    {
        let _ = writeln!(
            text,
            "\nAt BO-REP's data budget ({} rows touched) {} had reached {} (ratio {:.2}, \
             after {} rows).",
            fmt_num(budget_rows),
            a.label,
            fmt_num(v),
            v / bo_v,
            fmt_num(rows)
        );
        at_budget = serde_json::json!({"rows": budget_rows, "aid_cg_upper": v});
    }
    r.section(title, &text);
    let mut series = Vec::new();
    for (set, best) in &groups {
        series.push(Series::new(set[*best].label.clone(), set[*best].curve(key)));
    }
    let name = match task {
        HyperTask::Clean => "bilevel_hyper_clean",
        HyperTask::Rnn => "bilevel_hyper_rep_rnn",
    };
    r.plot(
        name,
        &LinePlot {
            title: format!("{problem}: upper-level (validation) loss vs oracle calls"),
            x_label: "oracle calls".into(),
            y_label: "upper-level loss".into(),
            log_x: false,
            log_y: true,
            series,
        },
    )?;
    json.insert(
        problem.into(),
        serde_json::json!({
            "budget": budget,
            "bo_rep_best": {"setting": bo_rep[bo_best].label.clone(), "value": bo_v},
            "baselines_best": others,
            "test_acc_bo_rep": bo_rep[bo_best].med("test_acc"),
            "aid_cg_at_bo_rep_rows": at_budget,
        }),
    );
    Ok(())
}

fn svm(
    r: &mut Report,
    json: &mut serde_json::Map<String, serde_json::Value>,
    full: bool,
    threads: usize,
) -> Result<()> {
    let split_seeds: Vec<u64> = if full {
        (1..=5).collect()
    } else {
        (1..=3).collect()
    };
    let stable_iters = if full { 5000 } else { 2000 };
    let mut t = MarkdownTable::new(&[
        "data",
        "method",
        "test acc. (median)",
        "val. acc.",
        "mean c",
        "status",
        "time (s)",
    ]);
    let mut out = Vec::new();
    for data in [SvmData::Diabetes, SvmData::Fourclass] {
        let dname = match data {
            SvmData::Diabetes => "diabetes",
            SvmData::Fourclass => "fourclass",
        };
        // Fixed-C grid: one global C, exact lower-level QP, best validation accuracy.
        let mut grid_test = Vec::new();
        let mut grid_val = Vec::new();
        let mut grid_c = Vec::new();
        let start = Instant::now();
        for &seed in &split_seeds {
            let p = SvmHo::new(&SvmSpec {
                data,
                seed,
                ..Default::default()
            })?;
            let mut best: Option<(f64, f64, f64)> = None;
            for k in -6..=6 {
                let c = k as f64;
                let y = p.solve_lower(&vec![c; p.dim_x()])?;
                let (va, te) = (p.val_accuracy(&y)?, p.test_accuracy(&y)?);
                if best.is_none_or(|b| va > b.0) {
                    best = Some((va, te, c));
                }
            }
            if let Some((va, te, c)) = best {
                grid_val.push(va);
                grid_test.push(te);
                grid_c.push(c);
            }
        }
        let per = start.elapsed().as_secs_f64() / split_seeds.len() as f64;
        t.row(&[
            dname.to_string(),
            "fixed-C grid (13 values of c, exact QP)".into(),
            fmt_num(median(grid_test.clone())),
            fmt_num(median(grid_val.clone())),
            fmt_num(median(grid_c.clone())),
            "–".into(),
            format!("{per:.2}"),
        ]);
        out.push(
            serde_json::json!({"data": dname, "method": "grid", "test_acc": median(grid_test)}),
        );
        let official = [
            "alpha=0.01",
            "beta=0.1",
            "eta=0.01",
            "gamma1=10",
            "gamma2=10",
            "c0=1",
            "p=0.5",
            "z0=1",
            "max_iter=160",
        ];
        let stable = [
            "alpha=0.0002",
            "beta=0.1",
            "eta=0.0005",
            "gamma1=1",
            "gamma2=1",
            "c0=1",
            "p=0.5",
            "z0=1",
        ];
        let mut variants: Vec<(&str, Vec<String>)> = vec![
            ("LV-HBA, official steps, 160 its", sets(&official)),
            (
                "LV-HBA svm-script variant (C, z frozen), official steps",
                sets(&official),
            ),
            ("LV-HBA, stable steps", sets(&stable)),
        ];
        variants[1].1.push("variant=\"svm-script\"".into());
        variants[2].1.push(format!("max_iter={stable_iters}"));
        for (label, mut s) in variants {
            s.push(format!("problem.data=\"{dname}\""));
            s.push("eval_every=1000000".into());
            let mut test = Vec::new();
            let mut val = Vec::new();
            let mut cs = Vec::new();
            let mut statuses = Vec::new();
            let mut times = Vec::new();
            for &seed in &split_seeds {
                let mut ss = s.clone();
                ss.push(format!("problem.seed={seed}"));
                let set = run_setting(label, "lv-hba", "svm-ho", &ss, 1, threads)?;
                if let Ok(sum) = &set.outcomes[0].summary {
                    test.push(sum.extra.get("test_acc").copied().unwrap_or(f64::NAN));
                    val.push(sum.extra.get("val_acc").copied().unwrap_or(f64::NAN));
                    cs.push(sum.extra.get("mean_c").copied().unwrap_or(f64::NAN));
                    statuses.push(match sum.status {
                        Status::NumericalFailure { .. } => "numerical failure",
                        Status::MaxIterations => "max iterations",
                        _ => "other",
                    });
                    times.push(sum.wall_time_s);
                }
            }
            let fails = statuses
                .iter()
                .filter(|s| **s == "numerical failure")
                .count();
            t.row(&[
                dname.to_string(),
                label.to_string(),
                fmt_num(median(test.clone())),
                fmt_num(median(val)),
                fmt_num(median(cs)),
                format!("{fails}/{} numerical failures", split_seeds.len()),
                format!("{:.2}", median(times)),
            ]);
            out.push(serde_json::json!({"data": dname, "method": label, "test_acc": median(test), "failures": fails}));
        }
    }
    r.section(
        "Bilevel: SVM hyper-parameter selection with lower-level constraints (LV-HBA)",
        &format!(
            "`svm-ho`: per-sample hyper-parameters c_i (weights exp(c_i) of the squared slacks), \
             lower level ½||w||² + ½Σexp(c_i)ξ_i² s.t. 1 - ξ_i - t_i(wᵀa_i + b) <= 0 on 500 \
             training rows (500 coupled constraints), upper level: the script's smoothed 0-1 loss \
             on 150 validation rows; test: the rest (118 diabetes, 212 fourclass rows); split \
             seeds {:?}, medians; start c_i ~ U(-6, -5), w = 1, b = 0, ξ = 1, λ = z = 1; exact \
             projection onto the constraint set every iteration. Full-batch deterministic runs (the \
             official script uses mini-batches of 256 and 80 epochs = 160 iterations). The official \
             steps (η = 0.01 with 1/γ = 0.1) make the inner descent-ascent unstable with 500 \
             coupled constraints (it needs η ≲ μ/||G||² ≈ 1e-4 here); the stable steps keep η > α so \
             that θ tracks y. The fixed-C grid solves the lower-level QP exactly for one global c \
             in -6..6 and keeps the best validation accuracy.\n\n{}",
            split_seeds,
            t.render()
        ),
    );
    json.insert("svm_ho".into(), out.into());
    Ok(())
}
