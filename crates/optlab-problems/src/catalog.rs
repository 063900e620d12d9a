//! The problem catalog used by the CLI: `[problem]` tables decoded into problems.

use crate::oracle::SmoothProblem;
use crate::smooth::{LogSumExp, LogisticRegression, Quadratic, Rosenbrock, SoftmaxRegression};
use optlab_core::config::{at_least_one, positive};
use optlab_core::registry::{from_table, problem_name, to_table};
use optlab_core::{Error, Result};
use serde::{Deserialize, Serialize};

/// Names of the smooth problems.
pub const SMOOTH: &[&str] = &[
    "logreg-breast-cancer",
    "softmax-digits",
    "logsumexp",
    "quadratic",
    "rosenbrock",
];

/// `logreg-breast-cancer` / `softmax-digits` options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Regularized {
    /// Problem name.
    pub name: String,
    /// Ridge coefficient mu (default 1e-3).
    pub mu: f64,
}

/// `logsumexp` options (defaults: n = m = 200, mu = 1, seed 3124 as in the official notebook).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSumExpSpec {
    /// Problem name.
    pub name: String,
    /// Dimension.
    pub n: usize,
    /// Rows.
    pub m: usize,
    /// Smoothing.
    pub mu: f64,
    /// Data seed.
    pub seed: u64,
}

/// `quadratic` / `rosenbrock` options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sized {
    /// Problem name.
    pub name: String,
    /// Dimension.
    pub n: usize,
}

/// Default options of a problem, as a table (including `name`).
pub fn default_table(name: &str) -> Result<toml::Table> {
    match name {
        "logreg-breast-cancer" | "softmax-digits" => to_table(&Regularized {
            name: name.into(),
            mu: 1e-3,
        }),
        "logsumexp" => to_table(&LogSumExpSpec {
            name: name.into(),
            n: 200,
            m: 200,
            mu: 1.0,
            seed: 3124,
        }),
        "quadratic" => to_table(&Sized {
            name: name.into(),
            n: 10,
        }),
        "rosenbrock" => to_table(&Sized {
            name: name.into(),
            n: 2,
        }),
        other => Err(Error::config(
            "problem.name",
            format!("unknown problem `{other}` (known: {})", SMOOTH.join(", ")),
        )),
    }
}

/// Build a problem from its table.
pub fn build(table: &toml::Table) -> Result<Box<dyn SmoothProblem>> {
    let name = problem_name(table)?;
    Ok(match name {
        "logreg-breast-cancer" | "softmax-digits" => {
            let s: Regularized = from_table("problem", table)?;
            positive("problem.mu", s.mu)?;
            if name == "softmax-digits" {
                Box::new(SoftmaxRegression::digits(s.mu)?)
            } else {
                Box::new(LogisticRegression::breast_cancer(s.mu)?)
            }
        }
        "logsumexp" => {
            let s: LogSumExpSpec = from_table("problem", table)?;
            at_least_one("problem.n", s.n as u64)?;
            at_least_one("problem.m", s.m as u64)?;
            positive("problem.mu", s.mu)?;
            Box::new(LogSumExp::new(s.n, s.m, s.mu, s.seed))
        }
        "quadratic" | "rosenbrock" => {
            let s: Sized = from_table("problem", table)?;
            if name == "rosenbrock" {
                if s.n < 2 {
                    return Err(Error::config("problem.n", "rosenbrock needs n >= 2"));
                }
                Box::new(Rosenbrock::new(s.n))
            } else {
                at_least_one("problem.n", s.n as u64)?;
                Box::new(Quadratic::new(s.n))
            }
        }
        other => {
            return Err(Error::config(
                "problem.name",
                format!("unknown problem `{other}` (known: {})", SMOOTH.join(", ")),
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_builds() {
        for n in SMOOTH {
            let p = build(&default_table(n).unwrap()).unwrap();
            assert_eq!(p.name(), *n);
        }
    }

    #[test]
    fn bad_options_name_the_field() {
        let mut t = default_table("logreg-breast-cancer").unwrap();
        t.insert("mu".into(), toml::Value::Float(-1.0));
        assert!(build(&t).err().unwrap().to_string().contains("problem.mu"));
        t.insert("lambda".into(), toml::Value::Float(1.0));
        assert!(build(&t).err().unwrap().to_string().contains("lambda"));
        let mut t = toml::Table::new();
        t.insert("name".into(), toml::Value::String("nope".into()));
        assert!(
            build(&t)
                .err()
                .unwrap()
                .to_string()
                .contains("unknown problem")
        );
    }
}
