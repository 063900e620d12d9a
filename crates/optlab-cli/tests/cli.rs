//! End-to-end tests of the `optlab` binary: run records, resume, bad input, reports.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

use assert_cmd::Command;
use std::path::{Path, PathBuf};

fn optlab() -> Command {
    let mut c = Command::cargo_bin("optlab").unwrap();
    c.env("OPTLAB_GIT_COMMIT", "test");
    c
}

fn only_run_dir(root: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs[0].clone()
}

fn summary(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap()
}

#[test]
fn list_and_describe() {
    let out = optlab()
        .arg("list")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    for m in [
        "grn",
        "gd",
        "super-newton",
        "newton-ls",
        "lion",
        "adamw",
        "adasketch-newton",
        "cbo",
        "cdsm",
        "dsm-surrogate",
        "notears",
        "topo",
        "convex-relu-admm",
    ] {
        assert!(out.contains(m), "{out}");
    }
    for m in [
        "grn",
        "lion",
        "gd",
        "adasketch-newton",
        "cbo",
        "cdsm",
        "notears",
        "topo",
        "convex-relu-admm",
    ] {
        let out = optlab()
            .args(["describe", m])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let text = String::from_utf8(out).unwrap();
        let table: toml::Table =
            toml::from_str(&text).unwrap_or_else(|e| panic!("{m}: {e}\n{text}"));
        assert!(table.contains_key("config") && table.contains_key("problem"));
    }
}

#[test]
fn run_writes_a_complete_record_that_reproduces() {
    let root = tempfile::tempdir().unwrap();
    optlab()
        .args([
            "run",
            "grn",
            "--problem",
            "logreg-breast-cancer",
            "--set",
            "hessian=exact",
            "--json",
            "--out",
        ])
        .arg(root.path())
        .assert()
        .code(0);
    let dir = only_run_dir(root.path());
    for f in [
        "config.toml",
        "manifest.json",
        "metrics.jsonl",
        "summary.json",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    assert!(dir.join("checkpoints").is_dir());
    let s = summary(&dir);
    assert_eq!(s["status"]["kind"], "converged");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["method"], "grn");
    assert_eq!(manifest["git_commit"], "test");

    let root2 = tempfile::tempdir().unwrap();
    optlab()
        .args(["run", "grn", "--config"])
        .arg(dir.join("config.toml"))
        .arg("--out")
        .arg(root2.path())
        .assert()
        .code(0);
    let s2 = summary(&only_run_dir(root2.path()));
    assert_eq!(s["final_value"], s2["final_value"]);
    assert_eq!(s["counts"], s2["counts"]);

    optlab()
        .arg("report")
        .arg(&dir)
        .arg("--csv")
        .assert()
        .success();
    assert!(
        dir.join("plots/gap_vs_step.svg").is_file() || dir.join("plots/f_vs_step.svg").is_file()
    );
    assert!(dir.join("metrics.csv").is_file());
}

#[test]
fn resume_gives_the_same_numbers_as_an_uninterrupted_run() {
    let sets = [
        "--set",
        "epochs=4",
        "--set",
        "problem.hidden=[32]",
        "--set",
        "lr=1e-3",
        "--seed",
        "3",
    ];
    let full = tempfile::tempdir().unwrap();
    optlab()
        .args(["run", "lion"])
        .args(sets)
        .arg("--out")
        .arg(full.path())
        .assert()
        .code(0);
    let part = tempfile::tempdir().unwrap();
    optlab()
        .args(["run", "lion"])
        .args(sets)
        .args(["--cancel-after", "2", "--out"])
        .arg(part.path())
        .assert()
        .code(130);
    let dir = only_run_dir(part.path());
    assert_eq!(summary(&dir)["status"]["kind"], "cancelled");
    optlab().arg("resume").arg(&dir).assert().code(0);
    let a = summary(&only_run_dir(full.path()));
    let b = summary(&dir);
    assert_eq!(a["final_value"], b["final_value"]);
    assert_eq!(a["extra"]["test_acc"], b["extra"]["test_acc"]);
    assert_eq!(a["counts"], b["counts"]);
    let strip = |p: &Path| -> Vec<serde_json::Value> {
        std::fs::read_to_string(p.join("metrics.jsonl"))
            .unwrap()
            .lines()
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                v.as_object_mut().unwrap().remove("time_s");
                v
            })
            .collect()
    };
    assert_eq!(strip(&only_run_dir(full.path())), strip(&dir));
}

fn rejected(args: &[&str], needle: &str) {
    let root = tempfile::tempdir().unwrap();
    let out = optlab()
        .args(args)
        .arg("--out")
        .arg(root.path())
        .assert()
        .code(1)
        .get_output()
        .stderr
        .clone();
    let err = String::from_utf8(out).unwrap();
    assert!(err.contains(needle), "{args:?}: {err}");
    assert_eq!(
        std::fs::read_dir(root.path())
            .map(|d| d.count())
            .unwrap_or(0),
        0,
        "nothing written"
    );
}

#[test]
fn bad_input_is_a_clear_error_and_writes_nothing() {
    rejected(&["run", "lion", "--set", "lr=-1"], "`lr`");
    rejected(&["run", "lion", "--set", "lr=nan"], "`lr`");
    rejected(
        &["run", "adamw", "--set", "learning_rate=1"],
        "learning_rate",
    );
    rejected(&["run", "grn", "--set", "gamma0=0"], "`gamma0`");
    rejected(&["run", "grn", "--set", "hessian=magic"], "hessian");
    rejected(
        &[
            "run",
            "grn",
            "--problem",
            "logsumexp",
            "--set",
            "problem.n=0",
        ],
        "problem.n",
    );
    rejected(
        &["run", "lion", "--problem", "logreg-breast-cancer"],
        "cannot run on problem",
    );
    rejected(&["run", "nosuch"], "unknown method");
    rejected(
        &[
            "run",
            "grn",
            "--set",
            "hessian=fisher",
            "--problem",
            "quadratic",
        ],
        "fisher",
    );

    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, "seed = 1\n[config]\ngamma0 = \n").unwrap();
    let out = optlab()
        .args(["run", "grn", "--config"])
        .arg(&cfg)
        .assert()
        .code(1)
        .get_output()
        .stderr
        .clone();
    assert!(String::from_utf8(out).unwrap().contains("line 3"));

    rejected(
        &[
            "run",
            "adasketch-newton",
            "--problem",
            "poisson-control",
            "--set",
            "problem.grid=0",
        ],
        "problem.grid",
    );
    rejected(&["run", "adasketch-newton", "--set", "beta=0.7"], "`beta`");
    rejected(
        &["run", "adasketch-newton", "--set", "solver=\"cg\""],
        "solver",
    );
    rejected(
        &["run", "adasketch-newton", "--problem", "quadratic"],
        "cannot run on problem",
    );
    rejected(&["run", "grn", "--problem", "hs6"], "cannot run on problem");
    rejected(&["run", "cbo", "--set", "particles=0"], "`particles`");
    rejected(
        &[
            "run",
            "cbo",
            "--set",
            "particles=50",
            "--set",
            "max_evals=10",
        ],
        "smaller than one iteration",
    );
    rejected(
        &["run", "cbo", "--problem", "branin", "--set", "problem.d=3"],
        "problem.d",
    );
    rejected(&["run", "cdsm", "--set", "r0=5"], "`r0`");
    rejected(
        &["run", "cdsm", "--problem", "hs6"],
        "cannot run on problem",
    );

    optlab().args(["run"]).assert().code(2);
    optlab().args(["bench", "--suite", "nope"]).assert().code(1);
}

#[test]
fn nan_mid_run_stops_with_numerical_failure_and_a_checkpoint() {
    let root = tempfile::tempdir().unwrap();
    optlab()
        .args([
            "run",
            "adamw",
            "--set",
            "lr=1e30",
            "--set",
            "epochs=3",
            "--set",
            "problem.hidden=[16]",
            "--out",
        ])
        .arg(root.path())
        .assert()
        .code(3);
    let dir = only_run_dir(root.path());
    let s = summary(&dir);
    assert_eq!(s["status"]["kind"], "numerical_failure", "{s}");
    assert!(s["final_value"].as_f64().unwrap().is_finite());
    let cps: Vec<_> = std::fs::read_dir(dir.join("checkpoints"))
        .unwrap()
        .collect();
    assert!(!cps.is_empty());
}

#[test]
fn check_passes_for_grn_and_lion() {
    check_passes(&["grn", "lion"]);
}

/// The conformance battery (state round trip through a checkpoint, resume = no resume,
/// determinism, unknown keys) for the other NN optimizers and the new GRN baseline.
#[test]
fn check_passes_for_adamw_adadagrad_and_cubic_newton() {
    check_passes(&["adamw", "adadagrad", "cubic-newton"]);
}

fn check_passes(methods: &[&str]) {
    for &m in methods {
        let out = optlab()
            .args(["check", m])
            .assert()
            .code(0)
            .get_output()
            .stdout
            .clone();
        let out = String::from_utf8(out).unwrap();
        assert!(out.contains(" passed, 0 failed"), "{out}");
    }
}

#[test]
fn dag_and_convex_relu_runs_report_their_figures() {
    let tmp = tempfile::tempdir().unwrap();
    let out = optlab()
        .current_dir(tmp.path())
        .args(["run", "topo", "--set", "problem.d=10", "--json"])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let s: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(s["status"]["kind"], "converged", "{s}");
    assert_eq!(s["extra"]["is_dag"], 1.0);
    assert!(s["extra"]["shd"].as_f64().unwrap() <= 2.0, "{s}");
    let out = optlab()
        .current_dir(tmp.path())
        .args([
            "run",
            "convex-relu-admm",
            "--problem",
            "relu-toy-2d",
            "--set",
            "patterns=0",
            "--set",
            "max_iters=200",
            "--json",
        ])
        .assert()
        .code(3)
        .get_output()
        .stdout
        .clone();
    let s: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(s["status"]["kind"], "max_iterations", "{s}");
    assert!(s["extra"]["patterns"].as_f64().unwrap() >= 40.0, "{s}");
    for (args, needle) in [
        (
            vec![
                "run",
                "topo",
                "--set",
                "size_large=1000",
                "--set",
                "problem.d=10",
            ],
            "size_large",
        ),
        (vec!["run", "notears", "--set", "problem.d=1"], "problem.d"),
        (
            vec!["run", "convex-relu-admm", "--set", "patterns=0"],
            "d = 2",
        ),
        (
            vec![
                "run",
                "convex-relu-admm",
                "--problem",
                "relu-digits",
                "--set",
                "problem.classes=[3, 3]",
            ],
            "problem.classes",
        ),
    ] {
        let out = optlab()
            .current_dir(tmp.path())
            .args(&args)
            .assert()
            .failure()
            .get_output()
            .stderr
            .clone();
        let err = String::from_utf8(out).unwrap();
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    for m in ["topo", "convex-relu-admm"] {
        let out = optlab()
            .current_dir(tmp.path())
            .args(["check", m])
            .assert()
            .code(0)
            .get_output()
            .stdout
            .clone();
        let out = String::from_utf8(out).unwrap();
        assert!(out.contains(" passed, 0 failed"), "{out}");
    }
}

#[test]
fn constrained_runs_report_kkt_and_honest_statuses() {
    let root = tempfile::tempdir().unwrap();
    optlab()
        .args(["run", "adasketch-newton", "--problem", "hs40", "--out"])
        .arg(root.path())
        .assert()
        .code(0);
    let s = summary(&only_run_dir(root.path()));
    assert_eq!(s["status"]["kind"], "converged", "{s}");
    let text = s.to_string();
    assert!(
        text.contains("\"kkt\"") && text.contains("\"cviol\""),
        "{text}"
    );

    // Seed 0 of the breast-cancer problem runs into nearly dependent constraints: exit code 3
    // and status `singular`, never "converged".
    let root = tempfile::tempdir().unwrap();
    optlab()
        .args([
            "run",
            "adasketch-newton",
            "--problem",
            "logreg-eq-breast-cancer",
            "--set",
            "problem.seed=0",
            "--set",
            "solver=\"exact-dense\"",
            "--out",
        ])
        .arg(root.path())
        .assert()
        .code(3);
    let s = summary(&only_run_dir(root.path()));
    assert_eq!(s["status"]["kind"], "singular", "{s}");
}

#[test]
fn bilevel_runs_report_their_figures_and_refuse_mismatches() {
    let tmp = tempfile::tempdir().unwrap();
    let out = optlab()
        .current_dir(tmp.path())
        .args([
            "run",
            "lv-hba",
            "--set",
            "problem.n=10",
            "--set",
            "c0=1",
            "--json",
        ])
        .assert()
        .code(3)
        .get_output()
        .stdout
        .clone();
    let s: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(s["status"]["kind"], "max_iterations", "{s}");
    assert!(s["extra"]["rel_error"].as_f64().unwrap() < 0.05, "{s}");
    let out = optlab()
        .current_dir(tmp.path())
        .args([
            "run",
            "bo-rep",
            "--problem",
            "hyper-clean",
            "--set",
            "batch_lower=64",
            "--set",
            "batch_upper=64",
            "--set",
            "max_oracle_calls=3000",
            "--set",
            "max_iter=100000",
            "--set",
            "eval_every=50",
            "--json",
        ])
        .assert()
        .code(3)
        .get_output()
        .stdout
        .clone();
    let s: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(s["status"]["kind"], "max_evaluations", "{s}");
    assert!(s["extra"]["test_acc"].as_f64().unwrap() > 0.7, "{s}");
    assert!(s["counts"]["hvp"].as_u64().unwrap() > 0, "{s}");
    for (args, needle) in [
        (
            vec!["run", "bo-rep", "--problem", "lvhba-toy"],
            "cannot run on problem `lvhba-toy`",
        ),
        (vec!["run", "lv-hba", "--set", "p=0.9"], "`p`"),
        (
            vec![
                "run",
                "lv-hba",
                "--problem",
                "svm-ho",
                "--set",
                "problem.c_min=2.0",
                "--set",
                "problem.c_max=1.0",
            ],
            "empty",
        ),
    ] {
        let out = optlab()
            .current_dir(tmp.path())
            .args(&args)
            .assert()
            .failure()
            .get_output()
            .stderr
            .clone();
        let err = String::from_utf8(out).unwrap();
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}
