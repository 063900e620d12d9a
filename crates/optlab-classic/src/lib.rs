//! optlab's f64 methods on faer. Classic code never sees burn.

pub mod anderson;
pub mod bilevel;
pub mod constrained;
pub mod convex_relu;
pub mod convex_relu_conic;
pub mod dag;
pub mod dfo;
pub mod newton;

use bilevel::hypergrad::Scheme;
use bilevel::{AidCgConfig, BoRepConfig, HypergradSolver, LvHba, LvHbaConfig, StocBioConfig};
use constrained::{AdaSketch, AdaSketchConfig};
use convex_relu::{ConvexReluAdmm, ConvexReluConfig};
use dag::{Notears, NotearsConfig, Topo, TopoConfig};
use dfo::{Cbo, CboConfig, Dsm, DsmConfig};
use newton::{
    Baseline, CubicNewtonConfig, FgmConfig, GdConfig, Grn, GrnConfig, NewtonLsConfig,
    SuperNewtonConfig,
};
use optlab_core::registry::{from_table, to_table};
use optlab_core::{Driver, MethodConfig, MethodInfo, Result, RunContext, RunSpec, Summary};
use optlab_problems::bilevel as bilevel_problems;
use optlab_problems::blackbox::BlackBox as _;
use optlab_problems::blackbox::catalog as blackbox_catalog;
use optlab_problems::blackbox::functions::protocol_start;
use optlab_problems::catalog::{SMOOTH, build, default_table};
use optlab_problems::constrained::catalog as constrained_catalog;
use optlab_problems::dag as dag_problems;
use optlab_problems::{Counted, CountedEq};

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

/// Run one of the GRN baselines: parse and validate its config, build it on the problem.
fn run_baseline<C: MethodConfig + serde::de::DeserializeOwned>(
    spec: &RunSpec,
    ctx: &mut RunContext,
    make: fn(C, Counted) -> Result<Baseline>,
) -> Result<Summary> {
    let cfg: C = from_table("config", &spec.config)?;
    cfg.validate()?;
    let mut solver = make(cfg, problem(spec, ctx)?)?;
    Ok(Driver::new(solver.termination()).run(&mut solver, ctx)?.0)
}

fn run_cbo(spec: &RunSpec, ctx: &mut RunContext) -> Result<Summary> {
    let cfg: CboConfig = from_table("config", &spec.config)?;
    cfg.validate()?;
    let problem = blackbox_catalog::build_boxed(&spec.problem)?;
    let mut solver = Cbo::new(cfg, problem)?;
    Ok(Driver::new(cfg.termination()).run(&mut solver, ctx)?.0)
}

fn run_cdsm(spec: &RunSpec, ctx: &mut RunContext) -> Result<Summary> {
    let cfg: DsmConfig = from_table("config", &spec.config)?;
    cfg.validate()?;
    let (f, s) = blackbox_catalog::build(&spec.problem)?;
    let x0 = match f.bounds() {
        Some(b) => protocol_start(b, s.start_seed),
        None => vec![0.0; f.dim()],
    };
    let mut solver = Dsm::new(cfg, Box::new(f), x0)?;
    Ok(Driver::new(cfg.termination()).run(&mut solver, ctx)?.0)
}

/// A config as TOML with a comment after each noted key, then the `[problem]` table.
fn describe_with(text: &str, notes: &[(&str, &str)], problems: &[&str], problem: &str) -> String {
    let mut out = String::from("[config]\n");
    for line in text.lines() {
        let key = line.split('=').next().unwrap_or("").trim();
        match notes.iter().find(|(k, _)| *k == key) {
            Some((_, note)) => out.push_str(&format!("{line:<28} # {note}\n")),
            None => out.push_str(&format!("{line}\n")),
        }
    }
    out.push_str("\n[problem]   # one of: ");
    out.push_str(&problems.join(", "));
    out.push_str(&format!("\n{problem}\n"));
    out
}

fn describe_cbo() -> String {
    let text = toml::to_string(&CboConfig::default()).unwrap_or_default();
    describe_with(
        &text,
        &[
            ("particles", "number of particles N"),
            ("dt", "Euler-Maruyama time step"),
            ("lambda", "drift toward the consensus"),
            ("sigma", "noise strength"),
            ("alpha", "inverse temperature of the Laplace weights"),
            ("noise", "anisotropic | isotropic"),
            (
                "normals",
                "single | double: arithmetic of the Box-Muller normals (single: ~2.5x faster, |xi| <= 6.661)",
            ),
            (
                "batch",
                "particles forming the consensus each iteration (0: all)",
            ),
            (
                "alpha_factor",
                "alpha *= alpha_factor each iteration (1: fixed)",
            ),
            ("alpha_max", "cap of the alpha schedule"),
            ("sigma_factor", "sigma *= sigma_factor each iteration"),
            ("dt_factor", "dt *= dt_factor each iteration"),
            (
                "init_low",
                "initial particles uniform on [init_low, init_high]^d",
            ),
            ("project", "clamp particles into the problem's bounds"),
            (
                "collapse_tol",
                "converged when every particle is this close to the consensus",
            ),
            ("max_evals", "evaluation budget (0: none)"),
        ],
        blackbox_catalog::ALL,
        "name = \"rastrigin\"\nd = 2\nstart_seed = 0   # (direct search only)",
    )
}

fn describe_cdsm() -> String {
    let text = toml::to_string(&DsmConfig::default()).unwrap_or_default();
    describe_with(
        &text,
        &[
            (
                "mode",
                "cdsm (hybrid and attack-only: method dsm-surrogate)",
            ),
            ("r0", "initial poll radius, relative to the box width"),
            ("r_cover", "covering-step ball radius (relative; 0: off)"),
            (
                "r_min",
                "converged when the poll radius is below this (relative)",
            ),
            ("r_max", "largest poll radius (relative)"),
            ("search", "random search step before the poll"),
            ("barrier", "extreme | progressive (constraints c(x) <= 0)"),
            ("max_evals", "evaluation budget (0: none)"),
        ],
        blackbox_catalog::ALL,
        "name = \"branin\"\nd = 2\nstart_seed = 0   # start: the shared protocol's point for this seed",
    )
}

fn run_adasketch(spec: &RunSpec, ctx: &mut RunContext) -> Result<Summary> {
    let cfg: AdaSketchConfig = from_table("config", &spec.config)?;
    cfg.validate()?;
    optlab_linalg::set_threads(ctx.threads());
    let problem = CountedEq::new(constrained_catalog::build(&spec.problem)?)?;
    let mut solver = AdaSketch::new(cfg, problem)?;
    Ok(Driver::new(cfg.termination()).run(&mut solver, ctx)?.0)
}

fn describe_adasketch() -> String {
    let notes = [
        (
            "solver",
            "kaczmarz | gaussian | block | exact-dense | exact-sparse",
        ),
        ("block_size", "rows per step for solver = \"block\""),
        (
            "row_sampling",
            "uniform (official code) | row-norm (Strohmer-Vershynin)",
        ),
        ("eta1", "merit penalty on ||c||^2 (grows by nu^2)"),
        ("eta2", "merit penalty on ||grad_x L||^2 (shrinks by nu)"),
        ("delta", "accuracy parameter (floor 1e-6)"),
        (
            "xi_b",
            "Hessian shift xi_B when the reduced Hessian is not PD",
        ),
        ("beta", "Armijo constant, < 0.5"),
        ("nu", "penalty growth factor, > 1"),
        (
            "theta",
            "accuracy factor in ||K|| Psi ||r|| <= theta delta ||b||",
        ),
        ("superlinear", "sharpen theta_k = theta min(1, KKT^sharpen)"),
        ("sharpen", "exponent of the sharpening sequence"),
        (
            "merit_hessian",
            "lagrangian (paper) | objective (official code)",
        ),
        ("kkt_tol", "stop when ||(grad_x L, c)||_2 <= kkt_tol"),
        ("max_iters", "outer iteration limit"),
        ("max_inner", "sketch steps per Newton step"),
        ("max_backtracks", "step halvings before status Stalled"),
        (
            "singular_tol",
            "lambda_min(G G^T) below this: status Singular",
        ),
        (
            "reduced_hessian_tol",
            "reduced-Hessian eigenvalue threshold for the modification",
        ),
        ("max_time_s", "wall-time limit in seconds (0: none)"),
        (
            "warm_start",
            "sketch starts from the fit over the last k directions (0: off, the paper)",
        ),
    ];
    let text = toml::to_string(&AdaSketchConfig::default()).unwrap_or_default();
    describe_with(
        &text,
        &notes,
        constrained_catalog::ALL,
        "name = \"hs6\"\n# poisson-control takes grid = N; logreg-eq-* take seed",
    )
}

fn run_notears(spec: &RunSpec, ctx: &mut RunContext) -> Result<Summary> {
    let cfg: NotearsConfig = from_table("config", &spec.config)?;
    cfg.validate()?;
    let mut solver = Notears::new(cfg, dag_problems::build(&spec.problem)?)?;
    Ok(Driver::new(cfg.termination()).run(&mut solver, ctx)?.0)
}

fn run_topo(spec: &RunSpec, ctx: &mut RunContext) -> Result<Summary> {
    let cfg: TopoConfig = from_table("config", &spec.config)?;
    cfg.validate()?;
    let mut solver = Topo::new(cfg, dag_problems::build(&spec.problem)?)?;
    Ok(Driver::new(cfg.termination()).run(&mut solver, ctx)?.0)
}

const DAG_PROBLEM: &str = "name = \"sem\"\ngraph = \"er\"            # er | sf\nd = 20\nedges_per_node = 2       # s0 = edges_per_node * d\nn = 1000\nnoise = \"gauss\"          # gauss | exp | gumbel\nstandardize = false\nseed = 0                 # graph, weights and samples\n# or: name = \"sachs\", standardize = true";

fn describe_notears() -> String {
    let text = toml::to_string(&NotearsConfig::default()).unwrap_or_default();
    describe_with(
        &text,
        &[
            ("lambda1", "L1 weight"),
            ("score", "ls | likelihood-ev | likelihood-nv"),
            ("max_iter", "outer (dual) iterations"),
            ("h_tol", "converged when h(W) <= h_tol"),
            ("rho_max", "stalled when the penalty reaches rho_max"),
            ("w_threshold", "output edges: |w| >= w_threshold"),
            (
                "pgtol",
                "inner projected L-BFGS: projected-gradient tolerance",
            ),
            ("max_inner", "inner iterations per solve"),
            ("max_time_s", "wall-time limit in seconds (0: none)"),
        ],
        dag_problems::ALL,
        DAG_PROBLEM,
    )
}

fn describe_topo() -> String {
    let text = toml::to_string(&TopoConfig::default()).unwrap_or_default();
    describe_with(
        &text,
        &[
            ("size_small", "small candidate set (0: min(100, d(d-1)/2))"),
            ("size_large", "large candidate set (0: min(400, d(d-1)/2))"),
            ("no_large_search", "large-set searches allowed per run"),
            (
                "candidates",
                "paper (|grad Q| > tau filter) | code (released code)",
            ),
            ("tau", "paper rule: keep pairs with |grad Q_ij| > tau"),
            ("score", "ls | likelihood-ev | likelihood-nv"),
            ("w_threshold", "output edges: |w| >= w_threshold"),
            (
                "refit",
                "regress every node on its kept edges after thresholding (beyond the paper)",
            ),
            ("init", "random | notears (post-processing) | true-order"),
            (
                "rel_improvement",
                "a swap must lower Q by this * max(1, |Q|)",
            ),
            ("max_iter", "outer iterations"),
            ("max_time_s", "wall-time limit in seconds (0: none)"),
        ],
        dag_problems::ALL,
        DAG_PROBLEM,
    )
}

fn run_convex_relu(spec: &RunSpec, ctx: &mut RunContext) -> Result<Summary> {
    let cfg: ConvexReluConfig = from_table("config", &spec.config)?;
    cfg.validate()?;
    optlab_linalg::set_threads(ctx.threads());
    let data = convex_relu::build_problem(&spec.problem)?;
    let patterns = convex_relu::patterns_for(&cfg, &data, ctx.seed())?;
    let mut solver = ConvexReluAdmm::new(cfg, data, patterns)?;
    Ok(Driver::new(cfg.termination()).run(&mut solver, ctx)?.0)
}

fn describe_convex_relu() -> String {
    let text = toml::to_string(&ConvexReluConfig::default()).unwrap_or_default();
    describe_with(
        &text,
        &[
            (
                "beta",
                "weight decay (group-lasso weight of the convex program)",
            ),
            (
                "patterns",
                "sampled activation patterns (0: enumerate all, 2-D data)",
            ),
            (
                "formulation",
                "cp (ReLU, cone constraints) | gated (no cones)",
            ),
            (
                "loss",
                "squared | bce (labels +-1; approximate u-step by majorization)",
            ),
            (
                "bce_inner_steps",
                "bce: majorization steps per u-update (each one solve, no refactorization)",
            ),
            ("rho", "ADMM penalty (fixed: one factorization)"),
            ("dual_step", "scaled dual step in (0, 2)"),
            (
                "relaxation",
                "over-relaxation in [1, 2) (1: the paper's plain ADMM)",
            ),
            (
                "anderson_memory",
                "Anderson acceleration memory (0: off, the paper)",
            ),
            (
                "cone_weight",
                "penalty of the cone constraints relative to rho (1: the paper)",
            ),
            (
                "cone_scaling",
                "none (paper) | row-norm (cone row k scaled by 1/||x_k||, unit RMS)",
            ),
            (
                "linear_solver",
                "auto | direct (paper, dP x dP) | woodbury (n x n)",
            ),
            ("eval_every", "the row's objective every k iterations"),
            (
                "check_every",
                "residuals and stopping test every k iterations (1: every; CP without Anderson)",
            ),
            ("eps_abs", "absolute residual tolerance"),
            ("eps_rel", "relative residual tolerance"),
            ("max_iters", "ADMM iterations"),
            ("max_time_s", "wall-time limit in seconds (0: none)"),
        ],
        convex_relu::PROBLEMS,
        "name = \"relu-breast-cancer\"   # standardized + bias column, labels +-1\n# relu-digits takes classes = [3, 8]; relu-toy-2d takes n and seed",
    )
}

fn commented<T: serde::Serialize>(cfg: &T, notes: &[(&str, &str)]) -> String {
    describe_with(
        &toml::to_string(cfg).unwrap_or_default(),
        notes,
        SMOOTH,
        "name = \"logreg-breast-cancer\"\nmu = 1e-3",
    )
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

fn describe_cubic_newton() -> String {
    let mut notes = vec![
        (
            "h0",
            "initial cubic constant; halved on accept, doubled on reject",
        ),
        ("h_min", "floor for H"),
    ];
    notes.extend(STOP_NOTES);
    commented(&CubicNewtonConfig::default(), &notes)
}

fn describe_fgm() -> String {
    let mut notes = vec![
        (
            "l0",
            "initial Lipschitz estimate; doubled on reject, halved on accept",
        ),
        ("l_min", "floor for L"),
    ];
    notes.extend(STOP_NOTES);
    commented(&FgmConfig::default(), &notes)
}

fn describe_newton_ls() -> String {
    let mut notes = vec![("c", "Armijo constant")];
    notes.extend(STOP_NOTES);
    commented(&NewtonLsConfig::default(), &notes)
}

fn run_hypergrad(scheme: Scheme, spec: &RunSpec, ctx: &mut RunContext) -> Result<Summary> {
    let problem = bilevel_problems::build(&spec.problem)?;
    let mut solver = HypergradSolver::new(scheme, problem)?;
    Ok(Driver::new(scheme.termination()).run(&mut solver, ctx)?.0)
}

fn run_bo_rep(spec: &RunSpec, ctx: &mut RunContext) -> Result<Summary> {
    let cfg: BoRepConfig = from_table("config", &spec.config)?;
    run_hypergrad(Scheme::BoRep(cfg), spec, ctx)
}

fn run_stocbio(spec: &RunSpec, ctx: &mut RunContext) -> Result<Summary> {
    let cfg: StocBioConfig = from_table("config", &spec.config)?;
    run_hypergrad(Scheme::StocBio(cfg), spec, ctx)
}

fn run_aid_cg(spec: &RunSpec, ctx: &mut RunContext) -> Result<Summary> {
    let cfg: AidCgConfig = from_table("config", &spec.config)?;
    run_hypergrad(Scheme::AidCg(cfg), spec, ctx)
}

fn run_lv_hba(spec: &RunSpec, ctx: &mut RunContext) -> Result<Summary> {
    let cfg: LvHbaConfig = from_table("config", &spec.config)?;
    let mut solver = LvHba::new(cfg, bilevel_problems::build(&spec.problem)?)?;
    Ok(Driver::new(cfg.termination()).run(&mut solver, ctx)?.0)
}

const HYPERGRAD_PROBLEMS: &[&str] = &["quad-cosh", "hyper-clean", "hyper-rep-rnn"];

fn bilevel_describe<T: serde::Serialize>(cfg: &T, notes: &[(&str, &str)], problem: &str) -> String {
    describe_with(
        &toml::to_string(cfg).unwrap_or_default(),
        notes,
        bilevel_problems::ALL,
        problem,
    )
}

const BILEVEL_COMMON_NOTES: [(&str, &str); 6] = [
    ("batch_upper", "upper-level mini-batch rows (0: all)"),
    ("batch_lower", "lower-level mini-batch rows (0: all)"),
    ("max_iter", "upper-level iterations"),
    (
        "max_oracle_calls",
        "budget of oracle calls, all kinds (0: none)",
    ),
    (
        "eval_every",
        "exact objective and problem figures every k iterations",
    ),
    ("max_time_s", "wall-time limit in seconds (0: none)"),
];

fn describe_bo_rep() -> String {
    let mut notes = vec![
        ("eta", "upper step LENGTH (normalized momentum)"),
        ("gamma", "lower-level SGD step"),
        ("nu", "step of z <- z - nu (Hz - grad_y F)"),
        ("beta", "momentum"),
        ("period", "lower level refreshed every `period` iterations"),
        ("lower_steps", "SGD steps per refresh"),
        ("init_steps", "initialization refinement steps"),
        (
            "z_radius",
            "projection radius of z (0: none, as the official code)",
        ),
        ("normalize", "false: unnormalized ablation x -= eta m"),
    ];
    notes.extend(BILEVEL_COMMON_NOTES);
    bilevel_describe(
        &BoRepConfig::default(),
        &notes,
        "name = \"quad-cosh\"   # hypergradient methods: quad-cosh, hyper-clean, hyper-rep-rnn",
    )
}

fn describe_stocbio() -> String {
    let mut notes = vec![
        ("alpha", "upper SGD step"),
        ("gamma", "lower-level SGD step"),
        ("lower_steps", "lower-level SGD steps every iteration"),
        (
            "neumann_steps",
            "Neumann terms Q (Q - 1 Hessian-vector products)",
        ),
        ("neumann_eta", "Neumann step, < 1/L of the lower level"),
    ];
    notes.extend(BILEVEL_COMMON_NOTES);
    bilevel_describe(&StocBioConfig::default(), &notes, "name = \"quad-cosh\"")
}

fn describe_aid_cg() -> String {
    let mut notes = vec![
        ("alpha", "upper GD step"),
        ("gamma", "lower-level GD step"),
        (
            "lower_steps",
            "lower-level GD steps every iteration (warm start)",
        ),
        ("cg_steps", "conjugate-gradient iterations (warm start)"),
    ];
    notes.extend(BILEVEL_COMMON_NOTES);
    bilevel_describe(&AidCgConfig::default(), &notes, "name = \"quad-cosh\"")
}

fn describe_lv_hba() -> String {
    let notes = [
        ("alpha", "step of the (x, y) update"),
        ("beta", "step of the z update"),
        ("eta", "inner descent-ascent step on (theta, lambda)"),
        ("gamma1", "proximal parameter (divisor of theta - y)"),
        ("gamma2", "proximal parameter (divisor of lambda - z)"),
        (
            "r",
            "multiplier bound: [0, r] (inequalities), [-r, r] (equalities)",
        ),
        (
            "c0",
            "penalty c_k = c0 (k+1)^p; the upper objective is divided by c_k",
        ),
        ("p", "exponent, (0, 1/2]"),
        ("lambda0", "initial multipliers"),
        ("z0", "initial z (toy script: -1, SVM script: 1)"),
        (
            "variant",
            "paper | svm-script (x and z frozen, lambda unprojected)",
        ),
        ("max_iter", "iterations"),
        ("eval_every", "problem figures every k iterations"),
        ("max_time_s", "wall-time limit in seconds (0: none)"),
    ];
    bilevel_describe(
        &LvHbaConfig::default(),
        &notes,
        "name = \"lvhba-toy\"\nn = 100   # the official setting (does not converge; n = 10, c0 = 1 does)",
    )
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
            run: |s, c| run_baseline(s, c, Baseline::gd),
        },
        MethodInfo {
            name: "super-newton",
            summary: "Super-universal regularized Newton (baseline)",
            reference: "Doikov, Mishchenko, Nesterov, Super-Universal Regularized Newton Method, SIOPT 2024",
            problems: SMOOTH,
            describe: describe_super_newton,
            default_config: || to_table(&SuperNewtonConfig::default()),
            default_problem: default_table,
            run: |s, c| run_baseline(s, c, Baseline::super_newton),
        },
        MethodInfo {
            name: "cubic-newton",
            summary: "Cubic-regularized Newton with adaptive H (baseline)",
            reference: "Nesterov & Polyak, Cubic regularization of Newton method and its global performance, Math. Program. 2006",
            problems: SMOOTH,
            describe: describe_cubic_newton,
            default_config: || to_table(&CubicNewtonConfig::default()),
            default_problem: default_table,
            run: |s, c| run_baseline(s, c, Baseline::cubic_newton),
        },
        MethodInfo {
            name: "fgm",
            summary: "Fast (accelerated) gradient method with L doubling/halving (baseline)",
            reference: "Nesterov, Lectures on Convex Optimization (2018), §2.2, with the line search of epfml/grad-norm-smooth",
            problems: SMOOTH,
            describe: describe_fgm,
            default_config: || to_table(&FgmConfig::default()),
            default_problem: default_table,
            run: |s, c| run_baseline(s, c, Baseline::fgm),
        },
        MethodInfo {
            name: "newton-ls",
            summary: "Newton with backtracking line search and Hessian shift (textbook baseline)",
            reference: "Nocedal & Wright, Numerical Optimization, Alg. 3.2 with modified Hessian",
            problems: SMOOTH,
            describe: describe_newton_ls,
            default_config: || to_table(&NewtonLsConfig::default()),
            default_problem: default_table,
            run: |s, c| run_baseline(s, c, Baseline::newton_ls),
        },
        MethodInfo {
            name: "adasketch-newton",
            summary: "Sketched Newton-KKT steps with the exact augmented Lagrangian merit (equality constraints)",
            reference: "Hong, Na, Mahoney, Kolar, Constrained Optimization via Exact Augmented Lagrangian and Randomized Iterative Sketching, ICML 2023",
            problems: constrained_catalog::ALL,
            describe: describe_adasketch,
            default_config: || to_table(&AdaSketchConfig::default()),
            default_problem: constrained_catalog::default_table,
            run: run_adasketch,
        },
        MethodInfo {
            name: "notears",
            summary: "NOTEARS: augmented Lagrangian on h(W) = tr(exp(W*W)) - d with a projected L-BFGS inner solver (DAG baseline)",
            reference: "Zheng, Aragam, Ravikumar, Xing, DAGs with NO TEARS: Continuous Optimization for Structure Learning, NeurIPS 2018",
            problems: dag_problems::ALL,
            describe: describe_notears,
            default_config: || to_table(&NotearsConfig::default()),
            default_problem: dag_problems::default_table,
            run: run_notears,
        },
        MethodInfo {
            name: "topo",
            summary: "TOPO: DAG learning by topological swaps with per-node regressions (standalone or post-processing NOTEARS)",
            reference: "Deng, Bello, Aragam, Ravikumar, Optimizing NOTEARS Objectives via Topological Swaps, ICML 2023",
            problems: dag_problems::ALL,
            describe: describe_topo,
            default_config: || to_table(&TopoConfig::default()),
            default_problem: dag_problems::default_table,
            run: run_topo,
        },
        MethodInfo {
            name: "convex-relu-admm",
            summary: "Two-layer ReLU network trained to global optimality: convex program over sampled activation patterns, ADMM with one factorization",
            reference: "Bai, Gautam, Sojoudi, Efficient Global Optimization of Two-layer ReLU Networks: Quadratic-time Algorithms and Adversarial Training, SIMODS 2023",
            problems: convex_relu::PROBLEMS,
            describe: describe_convex_relu,
            default_config: || to_table(&ConvexReluConfig::default()),
            default_problem: convex_relu::default_problem,
            run: run_convex_relu,
        },
        MethodInfo {
            name: "bo-rep",
            summary: "BO-REP: bilevel optimization under unbounded smoothness (normalized momentum, periodic lower-level refresh, z-variable hypergradient)",
            reference: "Hao, Gong, Liu, Bilevel Optimization under Unbounded Smoothness: A New Algorithm and Convergence Analysis, ICLR 2024",
            problems: HYPERGRAD_PROBLEMS,
            describe: describe_bo_rep,
            default_config: || to_table(&BoRepConfig::default()),
            default_problem: bilevel_problems::default_table,
            run: run_bo_rep,
        },
        MethodInfo {
            name: "stocbio",
            summary: "StocBiO-style stochastic bilevel baseline: lower-level SGD every step, Neumann-series hypergradient",
            reference: "Ji, Yang, Liang, Bilevel Optimization: Convergence Analysis and Enhanced Design, ICML 2021",
            problems: HYPERGRAD_PROBLEMS,
            describe: describe_stocbio,
            default_config: || to_table(&StocBioConfig::default()),
            default_problem: bilevel_problems::default_table,
            run: run_stocbio,
        },
        MethodInfo {
            name: "aid-cg",
            summary: "Approximate implicit differentiation with conjugate gradients (deterministic bilevel baseline)",
            reference: "Pedregosa, Hyperparameter optimization with approximate gradient, ICML 2016; Grazzi et al., On the Iteration Complexity of Hypergradient Computation, ICML 2020",
            problems: HYPERGRAD_PROBLEMS,
            describe: describe_aid_cg,
            default_config: || to_table(&AidCgConfig::default()),
            default_problem: bilevel_problems::default_table,
            run: run_aid_cg,
        },
        MethodInfo {
            name: "lv-hba",
            summary: "LV-HBA: single-loop Hessian-free bilevel method for lower-level constraints (proximal Lagrangian value function)",
            reference: "Yao, Yu, Zeng, Zhang, Constrained Bi-Level Optimization: Proximal Lagrangian Value Function Approach and Hessian-free Algorithm, ICLR 2024",
            problems: bilevel_problems::ALL,
            describe: describe_lv_hba,
            default_config: || to_table(&LvHbaConfig::default()),
            default_problem: bilevel_problems::default_table,
            run: run_lv_hba,
        },
        MethodInfo {
            name: "cbo",
            summary: "Consensus-based optimization (isotropic / anisotropic), parallel over particles",
            reference: "Riedl, Klock, Geldhauser, Fornasier, Gradient is All You Need? How Consensus-Based Optimization can be Interpreted as a Stochastic Relaxation of Gradient Descent, 2023",
            problems: blackbox_catalog::ALL,
            describe: describe_cbo,
            default_config: || to_table(&CboConfig::default()),
            default_problem: blackbox_catalog::default_table,
            run: run_cbo,
        },
        MethodInfo {
            name: "cdsm",
            summary: "Covering direct search (covering + search + Householder poll), extreme or progressive barrier",
            reference: "Audet, Bouchet, Bourdin, Convergence towards a local minimum by direct search methods with a covering step; as used by Bouchet & Vidal, Optimization by Directional Attacks, 2025",
            problems: &[
                "branin",
                "rosenbrock-bb",
                "hartmann6",
                "styblinski-tang",
                "rastrigin",
                "ackley",
                "sphere",
            ],
            describe: describe_cdsm,
            default_config: || to_table(&DsmConfig::default()),
            default_problem: blackbox_catalog::default_table,
            run: run_cdsm,
        },
    ]
}
