#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Constrained problems: derivatives against jax (fixture from `gen_constrained.py`) and finite
//! differences, known optima, the Poisson KKT solution, data loaders, catalog errors.

use optlab_linalg::Csr;
use optlab_problems::constrained::poisson::PoissonControl;
use optlab_problems::constrained::{catalog, derivative_errors, hs, logreg::LogRegEq};
use optlab_problems::{CountedEq, EqProblem};
use serde_json::Value;

fn fixture() -> Value {
    serde_json::from_str(include_str!("fixtures/hs_derivatives.json")).unwrap()
}

fn vecf(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn mat(v: &Value) -> Vec<Vec<f64>> {
    v.as_array().unwrap().iter().map(vecf).collect()
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * b.abs().max(1.0)
}

#[test]
fn hs_derivatives_match_jax_autodiff() {
    let fx = fixture();
    let problems = fx["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 19);
    for fp in problems {
        let name = fp["name"].as_str().unwrap().to_lowercase();
        let p = hs::by_name(&name).unwrap();
        assert_eq!(p.n(), fp["n"].as_u64().unwrap() as usize, "{name}");
        assert_eq!(p.m(), fp["m"].as_u64().unwrap() as usize, "{name}");
        assert_eq!(p.x0(), vecf(&fp["x0"]), "{name} x0");
        for pt in fp["points"].as_array().unwrap() {
            let x = vecf(&pt["x"]);
            let lam = vecf(&pt["lambda"]);
            let tol = 1e-12;
            assert!(
                close(p.value(&x), pt["f"].as_f64().unwrap(), tol),
                "{name} f"
            );
            for (a, b) in p.gradient(&x).iter().zip(vecf(&pt["grad"])) {
                assert!(close(*a, b, tol), "{name} grad {a} vs {b}");
            }
            for (a, b) in p.constraints(&x).iter().zip(vecf(&pt["c"])) {
                assert!(close(*a, b, tol), "{name} c {a} vs {b}");
            }
            let jac = p.jacobian(&x).to_dense();
            for (i, row) in mat(&pt["jac"]).iter().enumerate() {
                for (j, b) in row.iter().enumerate() {
                    assert!(close(jac[(i, j)], *b, tol), "{name} jac ({i},{j})");
                }
            }
            let h = p.lagrangian_hessian(&x, &lam).to_dense();
            for (i, row) in mat(&pt["hess_lagrangian"]).iter().enumerate() {
                for (j, b) in row.iter().enumerate() {
                    assert!(
                        close(h[(i, j)], *b, tol),
                        "{name} hess ({i},{j}): {} vs {b}",
                        h[(i, j)]
                    );
                }
            }
        }
    }
}

#[test]
fn hs_optimal_values_hold_at_the_reference_points() {
    let fx = fixture();
    for fp in fx["problems"].as_array().unwrap() {
        let name = fp["name"].as_str().unwrap().to_lowercase();
        let p = hs::by_name(&name).unwrap();
        let xs = vecf(&fp["x_star_ref"]);
        let fs = p.known_minimum().unwrap();
        assert!(
            (p.value(&xs) - fs).abs() <= 1e-12 * fs.abs().max(1.0),
            "{name}: f(x*) = {} vs f* = {fs}",
            p.value(&xs)
        );
        let c = p.constraints(&xs);
        assert!(c.iter().all(|v| v.abs() < 1e-12), "{name}: c(x*) = {c:?}");
    }
}

#[test]
fn finite_differences_agree_on_every_problem() {
    for p in hs::all() {
        let x: Vec<f64> = p
            .x0()
            .iter()
            .enumerate()
            .map(|(i, v)| v + 0.05 * (i as f64 + 1.0))
            .collect();
        let lam: Vec<f64> = (0..p.m()).map(|k| 0.7 - 0.4 * k as f64).collect();
        let (eg, ej, eh) = derivative_errors(&p, &x, &lam);
        assert!(
            eg < 1e-6 && ej < 1e-6 && eh < 1e-5,
            "{}: {eg:.1e} {ej:.1e} {eh:.1e}",
            p.name()
        );
    }
    let pc = PoissonControl::new(4).unwrap();
    let x: Vec<f64> = (0..pc.n()).map(|i| (i as f64 * 0.37).sin()).collect();
    let lam: Vec<f64> = (0..pc.m()).map(|i| (i as f64 * 0.11).cos()).collect();
    let (eg, ej, eh) = derivative_errors(&pc, &x, &lam);
    assert!(
        eg < 1e-6 && ej < 1e-6 && eh < 1e-6,
        "poisson: {eg:.1e} {ej:.1e} {eh:.1e}"
    );
    let lr = LogRegEq::breast_cancer(0).unwrap();
    let x: Vec<f64> = (0..lr.n()).map(|i| 0.1 * (i as f64 * 0.7).sin()).collect();
    let lam: Vec<f64> = (0..lr.m()).map(|i| 0.3 - 0.05 * i as f64).collect();
    let (eg, ej, eh) = derivative_errors(&lr, &x, &lam);
    assert!(
        eg < 1e-6 && ej < 1e-6 && eh < 1e-5,
        "logreg: {eg:.1e} {ej:.1e} {eh:.1e}"
    );
}

#[test]
fn poisson_exact_solution_matches_scipy() {
    let fx = fixture();
    let p3 = &fx["poisson3"];
    let pc = PoissonControl::new(3).unwrap();
    let (x, lam) = pc.exact_solution().unwrap();
    for (a, b) in x.iter().zip(vecf(&p3["x_star"])) {
        assert!((a - b).abs() < 1e-10, "x {a} vs {b}");
    }
    for (a, b) in lam.iter().zip(vecf(&p3["lambda_star"])) {
        assert!((a - b).abs() < 1e-10, "lambda {a} vs {b}");
    }
    assert!((pc.known_minimum().unwrap() - p3["f_star"].as_f64().unwrap()).abs() < 1e-10);
    // KKT holds at the solution.
    let g = pc.gradient(&x);
    let gl: Vec<f64> = g
        .iter()
        .zip(pc.jacobian(&x).mul_t(&lam))
        .map(|(a, b)| a + b)
        .collect();
    assert!(gl.iter().chain(&pc.constraints(&x)).all(|v| v.abs() < 1e-9));
}

#[test]
fn mushrooms_loads_and_libsvm_errors_name_the_line() {
    let d = optlab_problems::data::mushrooms().unwrap();
    assert_eq!((d.len(), d.n_features, d.n_classes), (8124, 112, 2));
    assert_eq!(d.y.iter().filter(|&&y| y == 0).count(), 3916);
    use optlab_problems::data::parse_libsvm;
    let e = parse_libsvm("t.txt", "1 1:0.5 2:1\n2 3:x\n", 4)
        .unwrap_err()
        .to_string();
    assert!(e.contains("t.txt: line 2") && e.contains("`x`"), "{e}");
    let e = parse_libsvm("t.txt", "1 5:1\n", 4).unwrap_err().to_string();
    assert!(e.contains("line 1") && e.contains("outside"), "{e}");
    let e = parse_libsvm("t.txt", "1 2:1 1:1\n", 4)
        .unwrap_err()
        .to_string();
    assert!(e.contains("not increasing"), "{e}");
    let e = parse_libsvm("t.txt", "1 2:nan\n", 4)
        .unwrap_err()
        .to_string();
    assert!(e.contains("not finite"), "{e}");
    assert!(parse_libsvm("t.txt", "", 4).is_err());
}

#[test]
fn catalog_builds_everything_and_rejects_bad_tables() {
    for name in catalog::ALL {
        let t = catalog::default_table(name).unwrap();
        let p = catalog::build(&t).unwrap();
        assert_eq!(p.x0().len(), p.n(), "{name}");
        assert_eq!(p.lambda0().len(), p.m(), "{name}");
    }
    let mut t = catalog::default_table("poisson-control").unwrap();
    t.insert("grid".into(), toml::Value::Integer(0));
    let e = catalog::build(&t).err().unwrap().to_string();
    assert!(e.contains("problem.grid"), "{e}");
    let mut t = catalog::default_table("hs6").unwrap();
    t.insert("bogus".into(), toml::Value::Integer(1));
    let e = catalog::build(&t).err().unwrap().to_string();
    assert!(e.contains("bogus"), "{e}");
    let mut t = toml::Table::new();
    t.insert("name".into(), toml::Value::String("hs999".into()));
    let e = catalog::build(&t).err().unwrap().to_string();
    assert!(e.contains("unknown constrained problem `hs999`"), "{e}");
}

/// A user problem with a Jacobian of the wrong shape and a NaN objective.
struct Broken;

impl EqProblem for Broken {
    fn name(&self) -> &str {
        "broken"
    }
    fn n(&self) -> usize {
        2
    }
    fn m(&self) -> usize {
        1
    }
    fn x0(&self) -> Vec<f64> {
        vec![0.0, 0.0]
    }
    fn value(&self, _x: &[f64]) -> f64 {
        f64::NAN
    }
    fn gradient(&self, _x: &[f64]) -> Vec<f64> {
        vec![0.0; 2]
    }
    fn constraints(&self, _x: &[f64]) -> Vec<f64> {
        vec![0.0]
    }
    fn jacobian(&self, _x: &[f64]) -> Csr {
        Csr::zeros(2, 2)
    }
    fn lagrangian_hessian(&self, _x: &[f64], _l: &[f64]) -> Csr {
        Csr::zeros(2, 2)
    }
}

#[test]
fn counted_wrapper_names_shape_and_nan_problems() {
    let mut p = CountedEq::new(Box::new(Broken)).unwrap();
    let e = p.jacobian(&[0.0, 0.0]).unwrap_err().to_string();
    assert!(
        e.contains("broken") && e.contains("Jacobian is 2x2, expected 1x2"),
        "{e}"
    );
    let e = p.value(&[0.0, 0.0]).unwrap_err().to_string();
    assert!(e.contains("non-finite"), "{e}");
    assert_eq!(p.counts().get("jac"), 1);
    assert_eq!(p.counts().get("f"), 1);
}
