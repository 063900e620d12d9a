//! optlab's f64 methods on faer. Classic code never sees burn.

pub mod newton;

use newton::{Baseline, GdConfig, Grn, GrnConfig, NewtonLsConfig, SuperNewtonConfig};
use optlab_core::registry::{from_table, to_table};
use optlab_core::{Driver, MethodConfig, MethodInfo, Result, RunContext, RunSpec, Summary};
use optlab_problems::Counted;
use optlab_problems::catalog::{SMOOTH, build, default_table};

fn problem(spec: &RunSpec, ctx: &RunContext) -> Result<Counted> {
    optlab_linalg::set_threads(ctx.threads());
    Ok(Counted::new(build(&spec.problem)?))
}

fn run_grn(spec: &RunSpec, ctx: &mut RunContext) -> Result<Summary> {
    let cfg: GrnConfig = from_table("config", &spec.config)?;
    cfg.validate()?;
    let mut solver = Grn::new(cfg, problem(spec, ctx)?)?;
    Ok(Driver::new(cfg.stopping().termination())
        .run(&mut solver, ctx)?
        .0)
}

fn run_gd(spec: &RunSpec, ctx: &mut RunContext) -> Result<Summary> {
    let cfg: GdConfig = from_table("config", &spec.config)?;
    cfg.validate()?;
    let mut solver = Baseline::gd(cfg, problem(spec, ctx)?)?;
    Ok(Driver::new(cfg.stopping().termination())
        .run(&mut solver, ctx)?
        .0)
}

fn run_super_newton(spec: &RunSpec, ctx: &mut RunContext) -> Result<Summary> {
    let cfg: SuperNewtonConfig = from_table("config", &spec.config)?;
    cfg.validate()?;
    let mut solver = Baseline::super_newton(cfg, problem(spec, ctx)?)?;
    Ok(Driver::new(cfg.stopping().termination())
        .run(&mut solver, ctx)?
        .0)
}

fn run_newton_ls(spec: &RunSpec, ctx: &mut RunContext) -> Result<Summary> {
    let cfg: NewtonLsConfig = from_table("config", &spec.config)?;
    cfg.validate()?;
    let mut solver = Baseline::newton_ls(cfg, problem(spec, ctx)?)?;
    Ok(Driver::new(cfg.stopping().termination())
        .run(&mut solver, ctx)?
        .0)
}

fn commented<T: serde::Serialize>(cfg: &T, notes: &[(&str, &str)]) -> String {
    let text = toml::to_string(cfg).unwrap_or_default();
    let mut out = String::from("[config]\n");
    for line in text.lines() {
        let key = line.split('=').next().unwrap_or("").trim();
        match notes.iter().find(|(k, _)| *k == key) {
            Some((_, note)) => out.push_str(&format!("{line:<28} # {note}\n")),
            None => out.push_str(&format!("{line}\n")),
        }
    }
    out.push_str("\n[problem]   # one of: ");
    out.push_str(&SMOOTH.join(", "));
    out.push_str("\nname = \"logreg-breast-cancer\"\nmu = 1e-3\n");
    out
}

const STOP_NOTES: [(&str, &str); 4] = [
    ("grad_tol", "stop when ||grad f||_2 <= grad_tol"),
    (
        "f_tol",
        "stop when f - f* <= f_tol, if f* is known (0: off)",
    ),
    ("max_iters", "iteration limit"),
    ("max_time_s", "wall-time limit in seconds (0: none)"),
];

fn describe_grn() -> String {
    let mut notes = vec![
        ("hessian", "exact | gauss-newton | fisher | bohning"),
        (
            "gamma0",
            "initial gradient-normalized smoothness estimate (Alg. 1)",
        ),
        ("gamma_min", "floor after an accepted step"),
        ("eps", "lambda = ||g||_* / (gamma + eps)"),
        (
            "max_trials",
            "rejected trials before status Stalled (official code: 40)",
        ),
        (
            "use_metric",
            "use the problem's metric B (LogSumExp) instead of I",
        ),
    ];
    notes.extend(STOP_NOTES);
    commented(&GrnConfig::default(), &notes)
}

fn describe_gd() -> String {
    let mut notes = vec![(
        "l0",
        "initial Lipschitz estimate; doubled on reject, halved on accept",
    )];
    notes.extend(STOP_NOTES);
    commented(&GdConfig::default(), &notes)
}

fn describe_super_newton() -> String {
    let mut notes = vec![
        ("h0", "initial regularization constant"),
        ("alpha", "lambda = H ||g||_*^alpha"),
    ];
    notes.extend(STOP_NOTES);
    commented(&SuperNewtonConfig::default(), &notes)
}

fn describe_newton_ls() -> String {
    let mut notes = vec![("c", "Armijo constant")];
    notes.extend(STOP_NOTES);
    commented(&NewtonLsConfig::default(), &notes)
}

/// The classic methods for the CLI registry.
pub fn methods() -> Vec<MethodInfo> {
    vec![
        MethodInfo {
            name: "grn",
            summary: "Gradient-regularized Newton with approximate Hessians and adaptive gamma search",
            reference: "Semenov, Jaggi, Doikov, Gradient-Normalized Smoothness for Optimization with Approximate Hessians, ICLR 2026",
            problems: SMOOTH,
            describe: describe_grn,
            default_config: || to_table(&GrnConfig::default()),
            default_problem: default_table,
            run: run_grn,
        },
        MethodInfo {
            name: "gd",
            summary: "Gradient method with Armijo-type L doubling/halving (baseline)",
            reference: "baseline (companion method in epfml/grad-norm-smooth)",
            problems: SMOOTH,
            describe: describe_gd,
            default_config: || to_table(&GdConfig::default()),
            default_problem: default_table,
            run: run_gd,
        },
        MethodInfo {
            name: "super-newton",
            summary: "Super-universal regularized Newton (baseline)",
            reference: "Doikov, Mishchenko, Nesterov, Super-Universal Regularized Newton Method, SIOPT 2024",
            problems: SMOOTH,
            describe: describe_super_newton,
            default_config: || to_table(&SuperNewtonConfig::default()),
            default_problem: default_table,
            run: run_super_newton,
        },
        MethodInfo {
            name: "newton-ls",
            summary: "Newton with backtracking line search and Hessian shift (textbook baseline)",
            reference: "Nocedal & Wright, Numerical Optimization, Alg. 3.2 with modified Hessian",
            problems: SMOOTH,
            describe: describe_newton_ls,
            default_config: || to_table(&NewtonLsConfig::default()),
            default_problem: default_table,
            run: run_newton_ls,
        },
    ]
}
