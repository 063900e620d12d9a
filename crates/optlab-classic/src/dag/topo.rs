//! TOPO (Deng, Bello, Aragam, Ravikumar, ICML 2023): a bi-level search that optimizes
//! NOTEARS-type scores over topological orders by swapping pairs of nodes.
//!
//! Inner level: for an order `π`, `W*(π)` is the score's minimizer over matrices supported on
//! `π` — for the linear-SEM scores, one least-squares regression of every node on its
//! predecessors. Here all of them come from one Cholesky factor `L` of the permuted Gram
//! matrix `S_ππ` (`S = X^T X / n`): row `k` of `L` holds the regression of node `π_k` on
//! `π_0..π_{k-1}` and `L_kk^2` is its residual variance. Swapping the nodes at positions
//! `p < q` changes only rows `p..=q`, so a candidate costs `O(sum_{k=p..q} k^2)` flops,
//! independent of `n` (the reference refits every affected node with scikit-learn on the
//! `n x k` data).
//!
//! Outer level: candidate pairs `(i, j)` where `i` comes after `j` (the edge `i -> j` is
//! forbidden by `π`) with the smallest entries of `∇h(W) = (I - |W|)^{-T}` (weighted path
//! counts `j -> i`: adding `i -> j` closes no strong cycle). The paper's candidate set also
//! requires `|∇Q(W)_ij| > tau` (the constraint must be what keeps `W_ij` at zero); the released
//! code ranks by `∇h` alone (`candidates = "code"`). Every improving candidate of the small set
//! is tried; improving swaps on disjoint position segments are applied greedily, best first.
//! When the small set has no improving swap, the large set (minus the small one) is searched,
//! at most `no_large_search` times per run; the run stops when nothing improves.

use super::acyclic::path_matrix;
use super::notears::{Notears, NotearsConfig};
use super::score::{Score, ScoreKind, back_solve, cholesky_row};
use super::{DagReport, evaluate, threshold};
use optlab_core::config::{at_least_one, non_negative};
use optlab_core::driver::{Driver, Solver, StepReport, Termination};
use optlab_core::{Error, MethodConfig, OracleCounts, Result, RunContext, Status};
use optlab_problems::dag::{DagProblem, topological_order};
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How the swap candidates are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum CandidateRule {
    /// The paper's set: forbidden pairs with `|∇Q_ij| > tau`, ranked by `∇h`.
    #[default]
    Paper,
    /// The released code (`find_idx_set_updated`): forbidden pairs ranked by `∇h` only.
    Code,
}

/// Where the search starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum TopoInit {
    /// A uniformly random order (run-seed stream `topo-order`).
    #[default]
    Random,
    /// Post-processing: the order of NOTEARS' output (default NOTEARS config, same score).
    Notears,
    /// The true graph's order (simulated problems; an oracle check).
    TrueOrder,
}

/// TOPO settings (defaults: the released linear script, sizes capped at `d(d-1)/2`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TopoConfig {
    /// Small candidate set size (0: `min(100, d(d-1)/2)`).
    pub size_small: usize,
    /// Large candidate set size (0: `min(400, d(d-1)/2)`).
    pub size_large: usize,
    /// How many times per run the large set may be searched.
    pub no_large_search: u32,
    /// `paper` or `code`.
    pub candidates: CandidateRule,
    /// Paper rule: keep pairs with `|∇Q_ij| > tau`.
    pub tau: f64,
    /// Score `Q`: `ls`, `likelihood-ev` or `likelihood-nv`.
    pub score: ScoreKind,
    /// Output edges: `|w| >= w_threshold`.
    pub w_threshold: f64,
    /// Refit the output on its thresholded support: every node regressed on its kept parents
    /// (beyond the paper, which thresholds `W*(π)` and stops; see [`Score::refit`]). The edges
    /// are the thresholded ones; a refit weight may fall below `w_threshold` and is kept. The
    /// kept parents of a node are a subset of its predecessors, whose regression passed the
    /// inner solver's pivot check, so the refit's pivots are no smaller (up to rounding); if
    /// one still fails, `weights` and `report` return the error naming the variables.
    pub refit: bool,
    /// Start: `random`, `notears` (post-processing) or `true-order`.
    pub init: TopoInit,
    /// A swap improves when it lowers `Q` by more than `rel_improvement * max(1, |Q|)`.
    pub rel_improvement: f64,
    /// Outer iterations.
    pub max_iter: u64,
    /// Wall-time limit in seconds (0: none).
    pub max_time_s: f64,
}

impl Default for TopoConfig {
    fn default() -> Self {
        TopoConfig {
            size_small: 0,
            size_large: 0,
            no_large_search: 1,
            candidates: CandidateRule::Paper,
            tau: 0.0,
            score: ScoreKind::Ls,
            w_threshold: 0.3,
            refit: false,
            init: TopoInit::Random,
            rel_improvement: 1e-12,
            max_iter: 10_000,
            max_time_s: 0.0,
        }
    }
}

impl MethodConfig for TopoConfig {
    fn validate(&self) -> Result<()> {
        non_negative("tau", self.tau)?;
        non_negative("w_threshold", self.w_threshold)?;
        non_negative("rel_improvement", self.rel_improvement)?;
        if self.size_small > 0 && self.size_large > 0 && self.size_small > self.size_large {
            return Err(Error::config("size_small", "must not exceed size_large"));
        }
        at_least_one("max_iter", self.max_iter)
    }
}

impl TopoConfig {
    /// The driver's limits.
    pub fn termination(&self) -> Termination {
        Termination::limits(self.max_iter, self.max_time_s)
    }

    /// `(size_small, size_large)` for `d` nodes; errors when a size exceeds `d(d-1)/2`.
    pub fn sizes(&self, d: usize) -> Result<(usize, usize)> {
        let m = d * (d - 1) / 2;
        let pick = |v: usize, auto: usize, field: &str| {
            if v == 0 {
                Ok(auto.min(m))
            } else if v > m {
                Err(Error::config(
                    field,
                    format!("{v} exceeds the {m} node pairs of d = {d} (0 picks the default)"),
                ))
            } else {
                Ok(v)
            }
        };
        let small = pick(self.size_small, 100, "size_small")?;
        let large = pick(self.size_large, 400, "size_large")?.max(small);
        Ok((small, large))
    }
}

/// Node pairs `(i, j)`: the forbidden edge `i -> j` (node `i` after node `j`).
pub type Pairs = Vec<(usize, usize)>;

/// Cholesky factor of `S` permuted by an order: row `k` regresses node `order[k]` on its
/// predecessors; `l[k * d + k]^2` is its residual variance.
#[derive(Debug, Clone)]
struct OrderFactor {
    order: Vec<usize>,
    l: Vec<f64>,
    r: Vec<f64>,
}

/// The error for node `a` whose factor row ([`cholesky_row`]) fails the pivot test with
/// residual variance `r`.
fn pivot_error(a: usize) -> impl FnOnce(f64) -> Error {
    move |r| {
        Error::Numerical(format!(
            "variable {a} is (numerically) a linear combination of its predecessors: residual variance {r:.2e}"
        ))
    }
}

impl OrderFactor {
    fn new(s: &[f64], d: usize, order: Vec<usize>) -> Result<Self> {
        let mut l = vec![0.0; d * d];
        let mut r = vec![0.0; d];
        for k in 0..d {
            let (done, rest) = l.split_at_mut(k * d);
            r[k] = cholesky_row(
                s,
                d,
                order[k],
                k,
                |m| order[m],
                |m| &done[m * d..m * d + d],
                &mut rest[..d],
            )
            .map_err(pivot_error(order[k]))?;
        }
        Ok(OrderFactor { order, l, r })
    }

    /// Residual variances at positions `p..=q` after swapping the nodes there.
    fn swapped(
        &self,
        s: &[f64],
        d: usize,
        p: usize,
        q: usize,
        scratch: &mut Vec<f64>,
    ) -> Result<Vec<f64>> {
        let order = &self.order;
        let node_at = |k: usize| {
            if k == p {
                order[q]
            } else if k == q {
                order[p]
            } else {
                order[k]
            }
        };
        scratch.clear();
        scratch.resize((q - p + 1) * d, 0.0);
        let mut r = Vec::with_capacity(q - p + 1);
        for k in p..=q {
            let (done, rest) = scratch.split_at_mut((k - p) * d);
            let row = |m: usize| -> &[f64] {
                if m < p {
                    &self.l[m * d..m * d + d]
                } else {
                    &done[(m - p) * d..(m - p) * d + d]
                }
            };
            r.push(
                cholesky_row(s, d, node_at(k), k, node_at, row, &mut rest[..d])
                    .map_err(pivot_error(node_at(k)))?,
            );
        }
        Ok(r)
    }

    /// `W*(order)`: the per-node least-squares weights.
    fn weights(&self, d: usize) -> Vec<f64> {
        let mut w = vec![0.0; d * d];
        let mut beta = vec![0.0; d];
        for k in 1..d {
            // L_k^T beta = l_k (leading k x k block).
            back_solve(&self.l, d, &self.l[k * d..k * d + k], &mut beta[..k]);
            let j = self.order[k];
            for m in 0..k {
                w[self.order[m] * d + j] = beta[m];
            }
        }
        w
    }
}

/// Resumable TOPO state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopoState {
    /// Current order (node indices, sources first).
    pub order: Vec<usize>,
    /// `Q(W*(order))`.
    pub loss: f64,
    /// Large-set searches used.
    pub large_used: u32,
    /// Candidate swaps evaluated.
    pub candidates: u64,
    /// Swaps applied.
    pub swaps: u64,
    /// Factor rows computed (one per node regression).
    pub regressions: u64,
}

/// The TOPO solver.
pub struct Topo {
    cfg: TopoConfig,
    score: Score,
    problem: DagProblem,
    start: Option<Vec<usize>>,
    factor: Option<OrderFactor>,
}

/// `pos[v]` = position of node `v` in `order`.
fn positions(order: &[usize]) -> Vec<usize> {
    let mut pos = vec![0; order.len()];
    for (k, &v) in order.iter().enumerate() {
        pos[v] = k;
    }
    pos
}

/// A topological order of the graph `|w| >= threshold`: edges are added by decreasing `|w|`
/// and skipped when they would close a cycle (so a cyclic estimate loses its weakest cycle
/// edges), then Kahn's algorithm (smallest index first).
pub fn order_from_weights(w: &[f64], d: usize, threshold: f64) -> Vec<usize> {
    let mut edges: Vec<(usize, usize, f64)> = (0..d * d)
        .filter(|&k| k / d != k % d && w[k] != 0.0 && w[k].abs() >= threshold)
        .map(|k| (k / d, k % d, w[k].abs()))
        .collect();
    edges.sort_by(|a, b| b.2.total_cmp(&a.2).then((a.0, a.1).cmp(&(b.0, b.1))));
    let mut b = vec![false; d * d];
    let reaches = |b: &[bool], from: usize, to: usize| {
        let mut seen = vec![false; d];
        let mut stack = vec![from];
        while let Some(u) = stack.pop() {
            if u == to {
                return true;
            }
            if std::mem::replace(&mut seen[u], true) {
                continue;
            }
            stack.extend((0..d).filter(|&v| b[u * d + v] && !seen[v]));
        }
        false
    };
    for (i, j, _) in edges {
        if !reaches(&b, j, i) {
            b[i * d + j] = true;
        }
    }
    topological_order(&b, d).unwrap_or_else(|| (0..d).collect())
}

impl Topo {
    /// TOPO on a problem, starting as `cfg.init` says.
    pub fn new(cfg: TopoConfig, problem: DagProblem) -> Result<Self> {
        cfg.validate()?;
        let d = problem.data.d;
        cfg.sizes(d)?;
        let score = Score::new(cfg.score, problem.data.gram(), d);
        Ok(Topo {
            cfg,
            score,
            problem,
            start: None,
            factor: None,
        })
    }

    /// Start from a given order (post-processing another method's output: see
    /// [`order_from_weights`]).
    pub fn with_order(mut self, order: Vec<usize>) -> Result<Self> {
        let d = self.problem.data.d;
        let mut seen = vec![false; d];
        if order.len() != d
            || order
                .iter()
                .any(|&v| v >= d || std::mem::replace(&mut seen[v], true))
        {
            return Err(Error::config(
                "init",
                format!("the start order must be a permutation of 0..{d}"),
            ));
        }
        self.start = Some(order);
        Ok(self)
    }

    fn factor(&mut self, order: &[usize]) -> Result<&OrderFactor> {
        if self.factor.as_ref().is_none_or(|f| f.order != order) {
            self.factor = Some(OrderFactor::new(
                &self.score.s,
                self.problem.data.d,
                order.to_vec(),
            )?);
        }
        self.factor
            .as_ref()
            .ok_or_else(|| Error::Other("factor missing".into()))
    }

    /// `W*(order)`, unthresholded.
    pub fn raw_weights(&mut self, order: &[usize]) -> Result<Vec<f64>> {
        let d = self.problem.data.d;
        Ok(self.factor(order)?.weights(d))
    }

    /// The output: `W*(order)` with `|w| < w_threshold` set to 0, refit on that support when
    /// `refit` is set.
    pub fn weights(&mut self, order: &[usize]) -> Result<Vec<f64>> {
        let w = threshold(self.raw_weights(order)?, self.cfg.w_threshold);
        if self.cfg.refit {
            self.score.refit(&w)
        } else {
            Ok(w)
        }
    }

    /// Score, accuracy and acyclicity of a state's output.
    pub fn report(&mut self, s: &TopoState) -> Result<DagReport> {
        let raw = self.raw_weights(&s.order)?;
        let w = self.weights(&s.order)?;
        evaluate(&w, &raw, &self.problem, &self.score)
    }

    fn loss_of(&self, r_by_pos: &[f64]) -> f64 {
        self.cfg.score.of_variances(r_by_pos)
    }

    /// Scores of swapping each pair `(i, j)` (node `i` after node `j`).
    fn evaluate_swaps(
        &mut self,
        order: &[usize],
        pairs: &[(usize, usize)],
    ) -> Result<(Vec<f64>, u64)> {
        let d = self.problem.data.d;
        let kind = self.cfg.score;
        self.factor(order)?;
        let (Some(f), s) = (self.factor.as_ref(), &self.score.s) else {
            return Err(Error::Other("factor missing".into()));
        };
        let pos = positions(order);
        let mut scratch = Vec::new();
        let mut r = f.r.clone();
        let mut rows = 0;
        let mut out = Vec::with_capacity(pairs.len());
        for &(i, j) in pairs {
            let (p, q) = (pos[j], pos[i]);
            let rs = f.swapped(s, d, p, q, &mut scratch)?;
            rows += (q - p + 1) as u64;
            r[p..=q].copy_from_slice(&rs);
            out.push(kind.of_variances(&r));
            r[p..=q].copy_from_slice(&f.r[p..=q]);
        }
        Ok((out, rows))
    }

    /// The best single swap over every forbidden pair, if it improves `Q(W*(order))`: `None`
    /// certifies a local minimum with respect to swaps.
    pub fn best_swap(&mut self, order: &[usize]) -> Result<Option<(usize, usize, f64)>> {
        let d = self.problem.data.d;
        let loss = {
            let r = self.factor(order)?.r.clone();
            self.loss_of(&r)
        };
        let mut pairs = Vec::new();
        for p in 0..d {
            for q in p + 1..d {
                pairs.push((order[q], order[p]));
            }
        }
        let (losses, _) = self.evaluate_swaps(order, &pairs)?;
        let tol = self.cfg.rel_improvement * loss.abs().max(1.0);
        Ok(pairs
            .iter()
            .zip(&losses)
            .filter(|(_, l)| **l < loss - tol)
            .min_by(|a, b| a.1.total_cmp(b.1))
            .map(|(&(i, j), &l)| (i, j, l)))
    }

    /// The small and large candidate sets (large minus small), row-major in `(i, j)`.
    pub fn candidate_sets(&mut self, order: &[usize]) -> Result<(Pairs, Pairs)> {
        let d = self.problem.data.d;
        let (size_small, size_large) = self.cfg.sizes(d)?;
        let w = self.raw_weights(order)?;
        let n = path_matrix(&w, d, order);
        let grad_q = match self.cfg.candidates {
            CandidateRule::Paper => Some(self.score.value_grad(&w)?.1),
            CandidateRule::Code => None,
        };
        let pos = positions(order);
        let mut pairs: Vec<(usize, usize, f64)> = Vec::new();
        for i in 0..d {
            for j in 0..d {
                if i == j || pos[i] < pos[j] {
                    continue;
                }
                if let Some(g) = &grad_q
                    && g[i * d + j].abs() <= self.cfg.tau
                {
                    continue;
                }
                // [∇h]_ij = [(I - |W|)^{-1}]_ji
                pairs.push((i, j, n[j * d + i]));
            }
        }
        if pairs.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let mut values: Vec<f64> = pairs.iter().map(|p| p.2).collect();
        values.sort_by(f64::total_cmp);
        let thr_small = values[size_small.min(values.len()) - 1];
        let thr_large = values[size_large.min(values.len()) - 1];
        let small = pairs
            .iter()
            .filter(|p| p.2 <= thr_small)
            .map(|p| (p.0, p.1))
            .collect();
        let large = pairs
            .iter()
            .filter(|p| p.2 > thr_small && p.2 <= thr_large)
            .map(|p| (p.0, p.1))
            .collect();
        Ok((small, large))
    }

    /// Apply improving swaps best first, skipping those whose position segment overlaps one
    /// already applied. Returns the number applied.
    fn apply_greedy(
        order: &mut [usize],
        pairs: &[(usize, usize)],
        losses: &[f64],
        loss: f64,
        tol: f64,
    ) -> u64 {
        let d = order.len();
        let pos = positions(order);
        let mut good: Vec<(f64, usize)> = losses
            .iter()
            .enumerate()
            .filter(|(_, l)| **l < loss - tol)
            .map(|(k, l)| (*l, k))
            .collect();
        good.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let mut taken = vec![false; d];
        let mut applied = 0;
        for (_, k) in good {
            let (i, j) = pairs[k];
            let (p, q) = (pos[j], pos[i]);
            if taken[p..=q].iter().any(|t| *t) {
                continue;
            }
            taken[p..=q].iter_mut().for_each(|t| *t = true);
            order.swap(p, q);
            applied += 1;
        }
        applied
    }

    fn metrics(&mut self, s: &TopoState) -> BTreeMap<String, f64> {
        let mut m = BTreeMap::new();
        m.insert("loss".into(), s.loss);
        m.insert("swaps".into(), s.swaps as f64);
        m.insert("large_used".into(), f64::from(s.large_used));
        if let Ok(r) = self.report(s) {
            m.extend(r.metrics());
        }
        m
    }

    fn start_order(&mut self, ctx: &mut RunContext) -> Result<Vec<usize>> {
        let d = self.problem.data.d;
        if let Some(o) = &self.start {
            return Ok(o.clone());
        }
        Ok(match self.cfg.init {
            TopoInit::Random => {
                let mut o: Vec<usize> = (0..d).collect();
                o.shuffle(&mut ctx.rng("topo-order"));
                o
            }
            TopoInit::TrueOrder => {
                let t = self.problem.truth.as_ref().ok_or_else(|| {
                    Error::config("init", "true-order needs a problem with a known graph")
                })?;
                topological_order(t, d)
                    .ok_or_else(|| Error::config("init", "the true graph is not acyclic"))?
            }
            TopoInit::Notears => {
                let cfg = NotearsConfig {
                    score: self.cfg.score,
                    ..NotearsConfig::default()
                };
                let mut nt = Notears::new(cfg, self.problem.clone())?;
                // A private context: NOTEARS' steps are not part of this run's record.
                let mut inner = RunContext::new(ctx.seed()).with_threads(ctx.threads());
                let (_, st) = Driver::new(cfg.termination()).run(&mut nt, &mut inner)?;
                order_from_weights(&nt.weights(&st), d, cfg.w_threshold)
            }
        })
    }
}

impl Solver for Topo {
    type State = TopoState;

    fn init(&mut self, ctx: &mut RunContext) -> Result<TopoState> {
        let order = self.start_order(ctx)?;
        let d = self.problem.data.d;
        let r = self.factor(&order)?.r.clone();
        Ok(TopoState {
            loss: self.loss_of(&r),
            order,
            large_used: 0,
            candidates: 0,
            swaps: 0,
            regressions: d as u64,
        })
    }

    fn initial_metrics(&mut self, s: &TopoState) -> BTreeMap<String, f64> {
        self.metrics(s)
    }

    fn step(&mut self, s: &mut TopoState, _ctx: &mut RunContext) -> Result<StepReport> {
        let tol = self.cfg.rel_improvement * s.loss.abs().max(1.0);
        let order = s.order.clone();
        let (small, large) = self.candidate_sets(&order)?;
        let (losses, rows) = self.evaluate_swaps(&order, &small)?;
        s.candidates += small.len() as u64;
        s.regressions += rows;
        let mut applied = Self::apply_greedy(&mut s.order, &small, &losses, s.loss, tol);
        let mut stop = None;
        if applied == 0 {
            if s.large_used < self.cfg.no_large_search && !large.is_empty() {
                let (losses, rows) = self.evaluate_swaps(&order, &large)?;
                s.candidates += large.len() as u64;
                s.regressions += rows;
                applied = Self::apply_greedy(&mut s.order, &large, &losses, s.loss, tol);
                if applied > 0 {
                    s.large_used += 1;
                } else {
                    stop = Some(Status::Converged {
                        criterion: "no swap in the small or large candidate set improves the score"
                            .into(),
                    });
                }
            } else {
                stop = Some(Status::Converged {
                    criterion: format!(
                        "no swap in the small candidate set improves the score (large searches used: {}/{})",
                        s.large_used, self.cfg.no_large_search
                    ),
                });
            }
        }
        if applied > 0 {
            s.swaps += applied;
            let new_order = s.order.clone();
            let r = self.factor(&new_order)?.r.clone();
            s.regressions += self.problem.data.d as u64;
            s.loss = self.loss_of(&r);
        }
        Ok(StepReport {
            metrics: self.metrics(s),
            stop,
        })
    }

    fn is_finite(&self, s: &TopoState) -> bool {
        s.loss.is_finite()
    }

    fn value(&self, s: &TopoState) -> Option<f64> {
        Some(s.loss)
    }

    fn counts(&self, s: &TopoState) -> OracleCounts {
        let mut c = OracleCounts::default();
        c.add("candidates", s.candidates);
        c.add("regressions", s.regressions);
        c
    }

    fn extra(&mut self, s: &TopoState) -> BTreeMap<String, f64> {
        let mut m = self.report(s).map(|r| r.metrics()).unwrap_or_default();
        m.insert("swaps".into(), s.swaps as f64);
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_applies_disjoint_segments_best_first() {
        let mut order = vec![0, 1, 2, 3, 4, 5];
        // (2,0) spans positions 0..=2; (4,3) spans 3..=4; (3,1) spans 1..=3 overlaps both.
        let pairs = [(2, 0), (4, 3), (3, 1)];
        let losses = [0.9, 0.95, 0.5];
        let n = Topo::apply_greedy(&mut order, &pairs, &losses, 1.0, 0.0);
        // best (3,1) first: positions 1..=3 taken; (2,0) and (4,3) overlap it.
        assert_eq!(n, 1);
        assert_eq!(order, vec![0, 3, 2, 1, 4, 5]);
    }

    #[test]
    fn order_from_weights_breaks_cycles_at_the_weakest_edge() {
        // 0 -> 1 (2.0), 1 -> 2 (1.0), 2 -> 0 (0.5): the cycle loses 2 -> 0.
        let d = 3;
        let mut w = vec![0.0; 9];
        w[1] = 2.0;
        w[d + 2] = 1.0;
        w[2 * d] = -0.5;
        assert_eq!(order_from_weights(&w, d, 0.3), vec![0, 1, 2]);
    }
}
