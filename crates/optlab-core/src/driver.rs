//! The solver driver: one loop that owns termination, recording, progress, cancellation,
//! non-finite detection and checkpoint/resume for every iterative method (argmin's executor
//! idea without its generic math traits).

use crate::context::RunContext;
use crate::error::{Error, Result};
use crate::oracle::OracleCounts;
use crate::record::Metrics;
use crate::status::Status;
use crate::summary::Summary;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use std::collections::BTreeMap;

/// What one step reports to the driver.
#[derive(Debug, Clone, Default)]
pub struct StepReport {
    /// Values to record for this step (objective, gradient norm, step size, lr, ...).
    pub metrics: BTreeMap<String, f64>,
    /// `Some(status)` when the solver decided to stop (converged, stalled, ...).
    pub stop: Option<Status>,
}

impl StepReport {
    /// Continue with these metrics.
    pub fn go(metrics: BTreeMap<String, f64>) -> Self {
        StepReport {
            metrics,
            stop: None,
        }
    }
}

/// An iterative method driven by [`Driver`].
///
/// `State` holds everything needed to continue bit-identically (iterate, optimizer state,
/// random generators, oracle counters): it is what a checkpoint contains.
pub trait Solver {
    /// The resumable state.
    type State: Clone + Serialize + DeserializeOwned;

    /// The initial state.
    fn init(&mut self, ctx: &mut RunContext) -> Result<Self::State>;

    /// Re-synchronise anything outside the state (e.g. counting wrappers) after a resume.
    fn restore(&mut self, _state: &Self::State) -> Result<()> {
        Ok(())
    }

    /// Metrics of the initial state (recorded as step 0 of a fresh run).
    fn initial_metrics(&mut self, state: &Self::State) -> BTreeMap<String, f64>;

    /// Convergence test on a state (also applied to the initial state).
    fn converged(&self, _state: &Self::State) -> Option<Status> {
        None
    }

    /// Advance one step. On error or non-finite results the driver restores the previous state
    /// (see [`Solver::transactional`]).
    fn step(&mut self, state: &mut Self::State, ctx: &mut RunContext) -> Result<StepReport>;

    /// True when the state contains only finite numbers.
    fn is_finite(&self, state: &Self::State) -> bool;

    /// Whether [`Solver::step`] is all-or-nothing: when it returns an error the state is exactly
    /// as before the call, and when it returns `Ok` the state and its metrics are finite (a
    /// would-be non-finite state is reported as `Error::Numerical` instead). The driver then
    /// skips its per-step copy of the state, a measurable share of a step when the state is
    /// large and the step cheap (a particle swarm). A transactional step that still leaves a
    /// non-finite state ends the run with an error. Default: `false`.
    fn transactional(&self) -> bool {
        false
    }

    /// The objective value of a state, if the method has one.
    fn value(&self, state: &Self::State) -> Option<f64>;

    /// The value the driver reads after every step for the run's best value: by default
    /// [`Solver::value`]. A solver whose value costs a noticeable share of a step (a full
    /// evaluation of a cheap iteration) may return `None` on the steps it does not evaluate;
    /// the run's first and final values still come from [`Solver::value`].
    fn step_value(&self, state: &Self::State) -> Option<f64> {
        self.value(state)
    }

    /// Oracle counts accumulated in a state.
    fn counts(&self, state: &Self::State) -> OracleCounts;

    /// Final method-specific figures.
    fn extra(&mut self, _state: &Self::State) -> BTreeMap<String, f64> {
        BTreeMap::new()
    }
}

/// Limits owned by the driver.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Termination {
    /// Maximum number of steps.
    pub max_iters: u64,
    /// Wall-time limit in seconds (`None`: unlimited).
    pub max_time_s: Option<f64>,
    /// When true, reaching `max_iters` is the intended end (`Finished`, e.g. N epochs) rather
    /// than a failure to converge (`MaxIterations`).
    pub fixed_length: bool,
}

impl Termination {
    /// A convergence run: at most `max_iters` steps and `max_time_s` seconds (`0`: no limit).
    pub fn limits(max_iters: u64, max_time_s: f64) -> Self {
        Termination {
            max_iters,
            max_time_s: (max_time_s > 0.0).then_some(max_time_s),
            fixed_length: false,
        }
    }
}

/// What a checkpoint holds: the driver's bookkeeping plus the solver state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Checkpoint<S> {
    /// Steps completed.
    pub step: u64,
    /// Wall time spent before this checkpoint.
    pub elapsed_s: f64,
    /// Best objective seen so far.
    pub best_value: Option<f64>,
    /// The solver state.
    pub state: S,
}

/// Runs a [`Solver`] to termination.
#[derive(Debug, Clone, Copy)]
pub struct Driver {
    /// The limits.
    pub termination: Termination,
}

impl Driver {
    /// A driver with these limits.
    pub fn new(termination: Termination) -> Self {
        Driver { termination }
    }

    /// Run `solver`, from `ctx`'s resume state if it has one. Returns the summary and the
    /// final (last finite) state.
    pub fn run<S: Solver>(
        &self,
        solver: &mut S,
        ctx: &mut RunContext,
    ) -> Result<(Summary, S::State)> {
        let mut cp: Checkpoint<S::State> = match ctx.take_resume() {
            Some(bytes) => {
                let cp: Checkpoint<S::State> = serde_json::from_slice(&bytes)
                    .map_err(|e| Error::Checkpoint(format!("cannot decode state: {e}")))?;
                solver.restore(&cp.state)?;
                cp
            }
            None => {
                let state = solver.init(ctx)?;
                if !solver.is_finite(&state) {
                    return Err(Error::Numerical("the initial point is not finite".into()));
                }
                let mut row = Metrics::new(0);
                row.values = solver.initial_metrics(&state);
                row.set("time_s", 0.0);
                ctx.record(&row)?;
                Checkpoint {
                    step: 0,
                    elapsed_s: 0.0,
                    best_value: solver.value(&state),
                    state,
                }
            }
        };
        let segment_start = ctx.elapsed();
        let base_elapsed = cp.elapsed_s;
        let elapsed = |ctx: &RunContext| base_elapsed + ctx.elapsed() - segment_start;
        ctx.progress().set_total(self.termination.max_iters);
        ctx.progress().set_position(cp.step);

        let mut status = solver.converged(&cp.state);
        while status.is_none() {
            if cp.step >= self.termination.max_iters {
                status = Some(if self.termination.fixed_length {
                    Status::Finished
                } else {
                    Status::MaxIterations
                });
                break;
            }
            if let Some(limit) = self.termination.max_time_s
                && elapsed(ctx) >= limit
            {
                status = Some(Status::TimeLimit);
                break;
            }
            if ctx.cancelled(cp.step) {
                status = Some(Status::Cancelled);
                break;
            }
            let backup = (!solver.transactional()).then(|| cp.state.clone());
            let report = match solver.step(&mut cp.state, ctx) {
                Ok(r) => r,
                Err(Error::Numerical(reason)) => {
                    if let Some(b) = backup {
                        cp.state = b;
                    }
                    solver.restore(&cp.state)?;
                    status = Some(Status::NumericalFailure { reason });
                    break;
                }
                Err(e) => return Err(e),
            };
            let mut row = Metrics::new(cp.step + 1);
            row.values = report.metrics;
            if !row.all_finite() || !solver.is_finite(&cp.state) {
                let bad: Vec<&str> = row
                    .values
                    .iter()
                    .filter(|(_, v)| !v.is_finite())
                    .map(|(k, _)| k.as_str())
                    .collect();
                let Some(b) = backup else {
                    return Err(Error::Other(format!(
                        "solver contract: a transactional step left a non-finite state or \
                         metrics at step {}",
                        cp.step + 1
                    )));
                };
                cp.state = b;
                solver.restore(&cp.state)?;
                status = Some(Status::NumericalFailure {
                    reason: if bad.is_empty() {
                        format!("non-finite state at step {}", cp.step + 1)
                    } else {
                        format!("non-finite {} at step {}", bad.join(", "), cp.step + 1)
                    },
                });
                break;
            }
            cp.step += 1;
            row.set("time_s", elapsed(ctx));
            ctx.record(&row)?;
            if let Some(v) = solver.step_value(&cp.state) {
                cp.best_value = min_of(cp.best_value, Some(v));
                // Formatting the value every step is a measurable cost for cheap steps (CBO).
                if ctx.progress().shows_messages() {
                    ctx.progress().set_message(&format!("f = {v:.6e}"));
                }
            }
            ctx.progress().set_position(cp.step);
            if let Some(s) = report.stop {
                status = Some(s);
                break;
            }
            status = solver.converged(&cp.state);
            let every = ctx.checkpoint_every();
            if status.is_none() && every > 0 && cp.step % every == 0 {
                cp.elapsed_s = elapsed(ctx);
                save(ctx, &cp)?;
            }
        }
        let status = status.unwrap_or(Status::MaxIterations);
        cp.elapsed_s = elapsed(ctx);
        save(ctx, &cp)?;
        // The final state counts for the summary's best value even where `step_value` skipped
        // it; the checkpoint keeps the steps' best only, so that a run resumed from it and an
        // uninterrupted run fold in the same values.
        let final_value = solver.value(&cp.state);
        let best_value = min_of(cp.best_value, final_value);
        ctx.progress().finish();
        let summary = Summary {
            status,
            iterations: cp.step,
            final_value,
            best_value,
            counts: solver.counts(&cp.state),
            wall_time_s: cp.elapsed_s,
            extra: solver.extra(&cp.state),
        };
        Ok((summary, cp.state))
    }
}

/// The smaller of two values, either of which may be absent.
fn min_of(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn save<S: Serialize>(ctx: &mut RunContext, cp: &Checkpoint<S>) -> Result<()> {
    if !ctx.has_checkpoints() {
        return Ok(());
    }
    let bytes = serde_json::to_vec(cp)
        .map_err(|e| Error::Checkpoint(format!("cannot encode state: {e}")))?;
    ctx.save_checkpoint(cp.step, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::MemoryCheckpoints;
    use crate::record::MemoryRecorder;
    use rand::Rng as _;

    /// Noisy gradient descent on f(x) = x^2 / 2: deterministic given the seed, uses a random
    /// stream that lives in the state, so resume must restore it.
    struct NoisyGd {
        lr: f64,
        blow_up_at: Option<u64>,
        /// Claim [`Solver::transactional`] and keep it (`Some(true)`: report the blow-up as an
        /// error before touching the state) or break it (`Some(false)`: store the NaN anyway).
        transactional: Option<bool>,
    }

    #[derive(Clone, Serialize, Deserialize)]
    struct St {
        x: f64,
        k: u64,
        rng: crate::seed::Rng,
        #[serde(skip)]
        _copies: CopyCounter,
    }

    thread_local! {
        /// Copies of an `St` made on this thread (the driver runs on the caller's thread).
        static COPIES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    /// Counts the driver's copies of the state.
    #[derive(Default)]
    struct CopyCounter;
    impl Clone for CopyCounter {
        fn clone(&self) -> Self {
            COPIES.with(|c| c.set(c.get() + 1));
            CopyCounter
        }
    }

    impl Solver for NoisyGd {
        type State = St;
        fn init(&mut self, ctx: &mut RunContext) -> Result<St> {
            Ok(St {
                x: 3.0,
                k: 0,
                rng: ctx.rng("noise"),
                _copies: CopyCounter,
            })
        }
        fn initial_metrics(&mut self, s: &St) -> BTreeMap<String, f64> {
            BTreeMap::from([("f".to_string(), 0.5 * s.x * s.x)])
        }
        fn converged(&self, s: &St) -> Option<Status> {
            (s.x.abs() < 1e-300).then(|| Status::Converged {
                criterion: "x = 0".into(),
            })
        }
        fn step(&mut self, s: &mut St, _ctx: &mut RunContext) -> Result<StepReport> {
            if self.transactional == Some(true) && self.blow_up_at == Some(s.k + 1) {
                return Err(Error::Numerical("blow-up".into()));
            }
            let noise: f64 = s.rng.random::<f64>() - 0.5;
            s.k += 1;
            s.x -= self.lr * (s.x + 0.01 * noise);
            if self.blow_up_at == Some(s.k) {
                s.x = f64::NAN;
            }
            Ok(StepReport::go(BTreeMap::from([(
                "f".to_string(),
                0.5 * s.x * s.x,
            )])))
        }
        fn is_finite(&self, s: &St) -> bool {
            s.x.is_finite()
        }
        fn transactional(&self) -> bool {
            self.transactional.is_some()
        }
        fn value(&self, s: &St) -> Option<f64> {
            Some(0.5 * s.x * s.x)
        }
        fn counts(&self, s: &St) -> OracleCounts {
            let mut c = OracleCounts::default();
            c.add("grad", s.k);
            c
        }
    }

    fn term(n: u64) -> Termination {
        Termination {
            max_iters: n,
            max_time_s: None,
            fixed_length: false,
        }
    }

    fn strip_time(rows: Vec<Metrics>) -> Vec<Metrics> {
        rows.into_iter()
            .map(|mut r| {
                r.values.remove("time_s");
                r
            })
            .collect()
    }

    /// A solver that evaluates its value only on even steps ([`Solver::step_value`]) and counts
    /// the driver's calls of [`Solver::value`].
    struct EvenSteps(NoisyGd, std::cell::Cell<usize>);

    impl Solver for EvenSteps {
        type State = St;
        fn init(&mut self, ctx: &mut RunContext) -> Result<St> {
            self.0.init(ctx)
        }
        fn initial_metrics(&mut self, s: &St) -> BTreeMap<String, f64> {
            self.0.initial_metrics(s)
        }
        fn step(&mut self, s: &mut St, ctx: &mut RunContext) -> Result<StepReport> {
            self.0.step(s, ctx)
        }
        fn is_finite(&self, s: &St) -> bool {
            self.0.is_finite(s)
        }
        fn value(&self, s: &St) -> Option<f64> {
            self.1.set(self.1.get() + 1);
            self.0.value(s)
        }
        fn step_value(&self, s: &St) -> Option<f64> {
            s.k.is_multiple_of(2).then(|| self.0.value(s)).flatten()
        }
        fn counts(&self, s: &St) -> OracleCounts {
            self.0.counts(s)
        }
    }

    /// The driver reads `step_value` after each step and `value` only for the initial and the
    /// final state; the best value is the minimum over the initial value, the steps'
    /// `step_value`s and the final value, which counts even on a step `step_value` skips (7
    /// steps of a decreasing objective: the best is the seventh, an odd step). The checkpoint
    /// keeps the steps' best only (the sixth), so that a resumed run folds in what an
    /// uninterrupted one does.
    #[test]
    fn the_best_value_reads_step_values_and_the_final_value() {
        let gd = || NoisyGd {
            lr: 0.3,
            blow_up_at: None,
            transactional: None,
        };
        let (plain, _) = Driver::new(term(7))
            .run(&mut gd(), &mut RunContext::new(42))
            .unwrap();
        let mut even = EvenSteps(gd(), std::cell::Cell::new(0));
        let cps = MemoryCheckpoints::new();
        let (sum, st) = Driver::new(term(7))
            .run(
                &mut even,
                &mut RunContext::new(42).with_checkpoints(cps.clone(), 0),
            )
            .unwrap();
        assert_eq!(st.k, 7);
        assert_eq!(even.1.get(), 2, "value() calls");
        assert_eq!(sum.final_value, plain.final_value);
        assert_eq!(sum.best_value, plain.final_value);
        assert_eq!(plain.best_value, plain.final_value);
        let (_, bytes) = cps.latest().unwrap();
        let cp: Checkpoint<St> = serde_json::from_slice(&bytes).unwrap();
        let six = plain.final_value.unwrap() / (0.7f64 * 0.7);
        let best = cp.best_value.unwrap();
        assert!(best > plain.final_value.unwrap() && (best / six - 1.0).abs() < 0.1);
    }

    #[test]
    fn resume_gives_the_same_numbers_as_not_stopping() {
        let rec_full = MemoryRecorder::new();
        let mut ctx = RunContext::new(42).with_recorder(rec_full.clone());
        let (full, full_state) = Driver::new(term(20))
            .run(
                &mut NoisyGd {
                    lr: 0.3,
                    blow_up_at: None,
                    transactional: None,
                },
                &mut ctx,
            )
            .unwrap();
        assert_eq!(full.status, Status::MaxIterations);

        let cps = MemoryCheckpoints::new();
        let rec_a = MemoryRecorder::new();
        let mut ctx = RunContext::new(42)
            .with_recorder(rec_a.clone())
            .with_checkpoints(cps.clone(), 0)
            .with_cancel_after(Some(7));
        let (part, _) = Driver::new(term(20))
            .run(
                &mut NoisyGd {
                    lr: 0.3,
                    blow_up_at: None,
                    transactional: None,
                },
                &mut ctx,
            )
            .unwrap();
        assert_eq!(part.status, Status::Cancelled);
        assert_eq!(part.iterations, 7);
        let (step, bytes) = cps.latest().unwrap();
        assert_eq!(step, 7);

        let rec_b = MemoryRecorder::new();
        let mut ctx = RunContext::new(42)
            .with_recorder(rec_b.clone())
            .with_resume(bytes);
        let (resumed, resumed_state) = Driver::new(term(20))
            .run(
                &mut NoisyGd {
                    lr: 0.3,
                    blow_up_at: None,
                    transactional: None,
                },
                &mut ctx,
            )
            .unwrap();
        assert_eq!(resumed.status, Status::MaxIterations);
        assert_eq!(resumed.iterations, 20);
        assert_eq!(resumed_state.x.to_bits(), full_state.x.to_bits());
        assert_eq!(resumed.counts, full.counts);
        let mut joined = rec_a.rows();
        joined.extend(rec_b.rows());
        assert_eq!(strip_time(joined), strip_time(rec_full.rows()));
    }

    #[test]
    fn non_finite_step_keeps_the_last_finite_state() {
        let cps = MemoryCheckpoints::new();
        let rec = MemoryRecorder::new();
        let mut ctx = RunContext::new(1)
            .with_recorder(rec.clone())
            .with_checkpoints(cps.clone(), 2);
        let (s, state) = Driver::new(term(50))
            .run(
                &mut NoisyGd {
                    lr: 0.1,
                    blow_up_at: Some(5),
                    transactional: None,
                },
                &mut ctx,
            )
            .unwrap();
        assert!(
            matches!(s.status, Status::NumericalFailure { .. }),
            "{:?}",
            s.status
        );
        assert_eq!(s.iterations, 4);
        assert!(state.x.is_finite());
        assert_eq!(state.k, 4);
        assert_eq!(
            rec.rows().len(),
            5,
            "rows for steps 0..=4, none for the bad step"
        );
        let (step, bytes) = cps.latest().unwrap();
        assert_eq!(step, 4);
        let cp: Checkpoint<St> = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(cp.state.x.to_bits(), state.x.to_bits());
    }

    #[test]
    fn transactional_steps_keep_the_last_finite_state_without_a_copy() {
        let run = |transactional| {
            let rec = MemoryRecorder::new();
            let mut ctx = RunContext::new(1).with_recorder(rec.clone());
            let out = Driver::new(term(50)).run(
                &mut NoisyGd {
                    lr: 0.1,
                    blow_up_at: Some(5),
                    transactional,
                },
                &mut ctx,
            );
            (out, strip_time(rec.rows()))
        };
        let copies = || COPIES.with(|c| c.get());
        let c0 = copies();
        let (plain, plain_rows) = run(None);
        let (plain, plain_state) = plain.unwrap();
        let c1 = copies();
        let (kept, kept_rows) = run(Some(true));
        let (kept, kept_state) = kept.unwrap();
        // The plain run copies the state before each of its 5 steps; the transactional one
        // never does.
        assert!(c1 - c0 >= 5, "plain run: {} copies", c1 - c0);
        assert_eq!(copies(), c1, "the transactional run copied the state");
        assert!(matches!(kept.status, Status::NumericalFailure { .. }));
        assert_eq!(kept.iterations, plain.iterations);
        assert_eq!(kept_state.k, 4);
        assert_eq!(kept_state.x.to_bits(), plain_state.x.to_bits());
        assert_eq!(kept_rows, plain_rows);
        // A solver that claims the contract and breaks it gets an error, not a NaN state.
        let (broken, _) = run(Some(false));
        let err = broken.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            err.contains("transactional step") && err.contains("step 5"),
            "{err}"
        );
    }

    #[test]
    fn fixed_length_runs_finish() {
        let mut ctx = RunContext::new(0);
        let mut t = term(3);
        t.fixed_length = true;
        let (s, _) = Driver::new(t)
            .run(
                &mut NoisyGd {
                    lr: 0.1,
                    blow_up_at: None,
                    transactional: None,
                },
                &mut ctx,
            )
            .unwrap();
        assert_eq!(s.status, Status::Finished);
        assert_eq!(s.counts.get("grad"), 3);
    }
}
