//! `optlab check <method>`: the conformance battery every method must pass, plus the
//! method's own correctness checks (golden values, derivative checks).

use anyhow::Result;
use optlab_core::context::MemoryCheckpoints;
use optlab_core::{MethodInfo, RunContext, RunSpec, Status};

struct Tally {
    passed: usize,
    failed: usize,
}

impl Tally {
    fn check(&mut self, name: &str, r: Result<String, String>) {
        match r {
            Ok(detail) => {
                self.passed += 1;
                println!("ok     {name}: {detail}");
            }
            Err(e) => {
                self.failed += 1;
                println!("FAILED {name}: {e}");
            }
        }
    }
}

/// Small settings so the battery runs in seconds.
fn small(info: &MethodInfo, problem: &str) -> Result<RunSpec> {
    let sets: &[&str] = match info.name {
        "lion" | "adamw" => &["epochs=4", "problem.hidden=[32]", "lr=1e-3"],
        "adasketch-newton" => &["max_iters=12"],
        "cbo" => &["max_iters=60"],
        "cdsm" => &["max_evals=300"],
        "dsm-surrogate" => &["max_evals=150", "problem.epochs=2"],
        "notears" if problem == "sem" => &["problem.d=6", "problem.n=200"],
        "topo" if problem == "sem" => &["problem.d=12"],
        "convex-relu-admm" => &["max_iters=60", "patterns=12"],
        "bo-rep" | "stocbio" | "aid-cg" if problem == "hyper-rep-rnn" => &[
            "max_iter=12",
            "eval_every=4",
            "batch_lower=32",
            "batch_upper=32",
            "problem.hidden=8",
        ],
        "bo-rep" | "stocbio" => &[
            "max_iter=30",
            "eval_every=10",
            "batch_lower=32",
            "batch_upper=32",
        ],
        "aid-cg" => &["max_iter=30", "eval_every=10"],
        "lv-hba" if problem == "svm-ho" => &["max_iter=20", "eta=0.0005", "alpha=0.0002"],
        "lv-hba" => &["max_iter=200", "eval_every=50"],
        _ => &[],
    };
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    crate::spec::resolve(
        info,
        &crate::spec::SpecArgs {
            problem: Some(problem),
            config: None,
            sets: &sets,
            seed: Some(7),
            threads: Some(1),
        },
    )
}

fn resume_equals_no_resume(info: &MethodInfo, spec: &RunSpec) -> Result<String, String> {
    let mut ctx = RunContext::new(spec.seed);
    let full = crate::run_in_pool(info, spec, &mut ctx).map_err(|e| format!("{e:#}"))?;
    if full.iterations < 2 {
        return Ok(format!(
            "run too short to interrupt ({} steps)",
            full.iterations
        ));
    }
    let stop = full.iterations / 2;
    let cps = MemoryCheckpoints::new();
    let mut ctx = RunContext::new(spec.seed)
        .with_checkpoints(cps.clone(), 0)
        .with_cancel_after(Some(stop));
    let part = crate::run_in_pool(info, spec, &mut ctx).map_err(|e| format!("{e:#}"))?;
    if part.status != Status::Cancelled {
        return Err(format!(
            "expected a cancelled run, got {}",
            part.status.label()
        ));
    }
    let (_, bytes) = cps.latest().ok_or("no checkpoint was written on cancel")?;
    let mut ctx = RunContext::new(spec.seed).with_resume(bytes);
    let resumed = crate::run_in_pool(info, spec, &mut ctx).map_err(|e| format!("{e:#}"))?;
    let same = resumed.iterations == full.iterations
        && resumed.final_value.map(f64::to_bits) == full.final_value.map(f64::to_bits)
        && resumed.counts == full.counts
        && resumed.status == full.status;
    if same {
        Ok(format!(
            "stopped at {stop}, resumed to {} steps, final value bit-identical ({:?})",
            full.iterations, full.final_value
        ))
    } else {
        Err(format!(
            "resumed {} steps f={:?} {:?} vs uninterrupted {} steps f={:?} {:?}",
            resumed.iterations,
            resumed.final_value,
            resumed.counts,
            full.iterations,
            full.final_value,
            full.counts
        ))
    }
}

fn deterministic(info: &MethodInfo, spec: &RunSpec) -> Result<String, String> {
    let a = crate::run_in_pool(info, spec, &mut RunContext::new(spec.seed))
        .map_err(|e| format!("{e:#}"))?;
    let b = crate::run_in_pool(info, spec, &mut RunContext::new(spec.seed))
        .map_err(|e| format!("{e:#}"))?;
    if a.final_value.map(f64::to_bits) == b.final_value.map(f64::to_bits)
        && a.iterations == b.iterations
    {
        Ok(format!(
            "two runs with seed {} agree bit for bit",
            spec.seed
        ))
    } else {
        Err(format!("{:?} vs {:?}", a.final_value, b.final_value))
    }
}

fn rejects_bad_config(info: &MethodInfo, spec: &RunSpec) -> Result<String, String> {
    let mut bad = spec.clone();
    bad.config
        .insert("no_such_option".into(), toml::Value::Integer(1));
    match crate::run_in_pool(info, &bad, &mut RunContext::new(0)) {
        Err(e) if format!("{e:#}").contains("no_such_option") => {
            Ok("unknown key named in the error".into())
        }
        Err(e) => Err(format!("error does not name the key: {e:#}")),
        Ok(_) => Err("an unknown config key was accepted".into()),
    }
}

/// KKT verification (ARCHITECTURE.md §6.4) of AdaSketch-Newton's answers on the HS set:
/// feasibility, stationarity with the returned multipliers, and the known optimal value.
fn kkt_battery(t: &mut Tally) {
    use optlab_classic::constrained::{AdaSketch, AdaSketchConfig, InnerSolver};
    use optlab_problems::EqProblem;
    use optlab_problems::constrained::hs;
    let cfg = AdaSketchConfig {
        solver: InnerSolver::ExactDense,
        ..Default::default()
    };
    for p in hs::all() {
        let name = p.name().to_string();
        let fs = p.known_minimum().unwrap_or(f64::NAN);
        let check = || -> Result<String, String> {
            let counted =
                optlab_problems::CountedEq::new(Box::new(p.clone())).map_err(|e| e.to_string())?;
            let mut solver = AdaSketch::new(cfg, counted).map_err(|e| e.to_string())?;
            let (sum, st) = optlab_core::Driver::new(cfg.termination())
                .run(&mut solver, &mut RunContext::new(0))
                .map_err(|e| e.to_string())?;
            // Recompute the residuals from the problem itself, not from the solver's state.
            let c = p.constraints(&st.x);
            let g = p.gradient(&st.x);
            let jt = p.jacobian(&st.x).mul_t(&st.lambda);
            let stat = g
                .iter()
                .zip(&jt)
                .map(|(a, b)| (a + b).powi(2))
                .sum::<f64>()
                .sqrt();
            let feas = c.iter().map(|v| v * v).sum::<f64>().sqrt();
            let ferr = (p.value(&st.x) - fs).abs() / (fs.abs() + 1.0);
            if sum.status.is_success() && stat <= 1e-6 && feas <= 1e-6 && ferr <= 1e-6 {
                Ok(format!(
                    "||grad L|| {stat:.1e}, ||c|| {feas:.1e}, |f-f*| {ferr:.1e}"
                ))
            } else {
                Err(format!(
                    "{}: ||grad L|| {stat:.1e}, ||c|| {feas:.1e}, |f-f*| {ferr:.1e}",
                    sum.status.label()
                ))
            }
        };
        t.check(&format!("KKT: {name}"), check());
    }
}

/// Finite-difference checks of every oracle of the method's bilevel problems at a perturbed
/// start.
fn bilevel_derivatives(info: &MethodInfo, t: &mut Tally) {
    use optlab_problems::bilevel::{build, check_derivatives, default_table};
    for problem in info.problems {
        let check = || -> Result<String, String> {
            let p = default_table(problem)
                .and_then(|tb| build(&tb))
                .map_err(|e| e.to_string())?;
            let (x, y) = p.start();
            let y: Vec<f64> = y
                .iter()
                .enumerate()
                .map(|(i, v)| v + 0.05 * (i as f64).sin())
                .collect();
            let errs = check_derivatives(p.as_ref(), &x, &y, 1e-5, 7).map_err(|e| e.to_string())?;
            let worst = errs.values().cloned().fold(0.0, f64::max);
            if worst < 1e-5 {
                Ok(format!(
                    "{} oracles, worst relative error {worst:.1e}",
                    errs.len()
                ))
            } else {
                Err(format!("{errs:?}"))
            }
        };
        t.check(
            &format!("{problem}: derivatives vs finite differences"),
            check(),
        );
    }
}

fn method_specific(info: &MethodInfo, t: &mut Tally) {
    if info.name == "adasketch-newton" {
        kkt_battery(t);
    }
    if matches!(info.name, "bo-rep" | "stocbio" | "aid-cg" | "lv-hba") {
        bilevel_derivatives(info, t);
    }
    if info.name == "lion" {
        // dl-optimizers.md §1.7 (verified with optax 0.2.8).
        let want = [
            0.987012989,
            -2.004015988,
            0.4985014995,
            -0.00999001,
            -0.02997001,
        ];
        let g = [
            [0.3, -0.1, 0.0, 2.0, 10.0],
            [-0.2, 0.4, 0.0, -1.0, -0.85],
            [0.1, 0.1, 0.0, 0.5, 0.0],
        ];
        let mut p: Vec<f64> = vec![1.0, -2.0, 0.5, 0.0, 0.0];
        let mut m = vec![0.0; 5];
        for gi in &g {
            optlab_nn::lion::lion_step(&mut p, gi, &mut m, 1e-2, 0.9, 0.99, 0.1);
        }
        let err = p
            .iter()
            .zip(want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        t.check(
            "golden: optax 3-step example",
            if err < 1e-9 {
                Ok(format!("max error {err:.1e}"))
            } else {
                Err(format!("{p:?}"))
            },
        );
    }
}

/// `optlab check`.
pub fn cmd_check(method: &str) -> Result<i32> {
    let info = crate::find(method)?;
    let mut t = Tally {
        passed: 0,
        failed: 0,
    };
    method_specific(&info, &mut t);
    for problem in info.problems {
        let spec = match small(&info, problem) {
            Ok(s) => s,
            Err(e) => {
                t.check(&format!("{problem}: config"), Err(format!("{e:#}")));
                continue;
            }
        };
        t.check(
            &format!("{problem}: resume = no resume"),
            resume_equals_no_resume(&info, &spec),
        );
        t.check(
            &format!("{problem}: deterministic"),
            deterministic(&info, &spec),
        );
        t.check(
            &format!("{problem}: unknown config key"),
            rejects_bad_config(&info, &spec),
        );
    }
    println!("{} passed, {} failed", t.passed, t.failed);
    Ok(if t.failed == 0 { 0 } else { 1 })
}
