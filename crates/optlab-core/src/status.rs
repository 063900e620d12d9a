//! Honest termination statuses.

use serde::{Deserialize, Serialize};

/// Why a run stopped. Never reports success with a violated tolerance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Status {
    /// A convergence criterion was met; `criterion` says which (e.g. `"grad_norm <= 1e-8"`).
    Converged { criterion: String },
    /// A fixed-length run (e.g. training for N epochs) completed as asked.
    Finished,
    /// The iteration limit was reached before convergence.
    MaxIterations,
    /// An oracle-call budget was exhausted.
    MaxEvaluations,
    /// The wall-time limit was reached.
    TimeLimit,
    /// No progress is possible (e.g. a line search exhausted all its trials).
    Stalled { reason: String },
    /// A non-finite value appeared; the last finite state was kept.
    NumericalFailure { reason: String },
    /// Constraints could not be satisfied within tolerance.
    Infeasible,
    /// A linear system the method relies on is (numerically) singular, e.g. rank-deficient
    /// constraint Jacobians; the last iterate is kept.
    Singular { reason: String },
    /// Stopped by the user (Ctrl-C) or a cancel request; a checkpoint was written.
    Cancelled,
}

impl Status {
    /// Process exit code for the CLI: 0 converged/finished, 3 stopped without convergence,
    /// 130 cancelled.
    pub fn exit_code(&self) -> i32 {
        match self {
            Status::Converged { .. } | Status::Finished => 0,
            Status::Cancelled => 130,
            _ => 3,
        }
    }

    /// True for `Converged` and `Finished`.
    pub fn is_success(&self) -> bool {
        matches!(self, Status::Converged { .. } | Status::Finished)
    }

    /// A short human label.
    pub fn label(&self) -> String {
        match self {
            Status::Converged { criterion } => format!("converged ({criterion})"),
            Status::Finished => "finished".into(),
            Status::MaxIterations => "max iterations".into(),
            Status::MaxEvaluations => "max evaluations".into(),
            Status::TimeLimit => "time limit".into(),
            Status::Stalled { reason } => format!("stalled ({reason})"),
            Status::NumericalFailure { reason } => format!("numerical failure ({reason})"),
            Status::Infeasible => "infeasible".into(),
            Status::Singular { reason } => format!("singular ({reason})"),
            Status::Cancelled => "cancelled".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_cli_contract() {
        assert_eq!(
            Status::Converged {
                criterion: "x".into()
            }
            .exit_code(),
            0
        );
        assert_eq!(Status::Finished.exit_code(), 0);
        assert_eq!(Status::MaxIterations.exit_code(), 3);
        assert_eq!(
            Status::NumericalFailure {
                reason: "nan".into()
            }
            .exit_code(),
            3
        );
        assert_eq!(Status::Cancelled.exit_code(), 130);
    }

    #[test]
    fn status_round_trips_through_json() {
        let s = Status::Stalled {
            reason: "search exhausted".into(),
        };
        let j = serde_json::to_string(&s).unwrap();
        assert_eq!(j, r#"{"kind":"stalled","reason":"search exhausted"}"#);
        assert_eq!(serde_json::from_str::<Status>(&j).unwrap(), s);
    }
}
