//! DAG structure learning: observational data, linear-SEM simulators (ER and scale-free graphs;
//! Gaussian, exponential and Gumbel noise), the embedded Sachs protein-signalling data with its
//! 18-edge reference graph, graph utilities and the accuracy metrics of the NOTEARS papers
//! (SHD, TPR, FDR, FPR, number of edges).
//!
//! Graphs are `d x d` row-major boolean adjacency matrices: `b[i * d + j]` is the edge `i -> j`.
//! Weighted graphs use the same layout with `f64`.

use optlab_core::registry::{from_table, problem_name, to_table};
use optlab_core::seed::{Rng, normal};
use optlab_core::{Error, Result};
use rand::Rng as _;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

/// The Sachs data CSV (7466 rows x 11 proteins, raw intensities; see `data/LICENSE-DATA.md`).
pub const SACHS_CSV: &str = include_str!("../data/sachs.csv");
/// The 18-edge reference graph of the Sachs data (`cause,effect` by column name).
pub const SACHS_EDGES_CSV: &str = include_str!("../data/sachs_edges.csv");

/// Observational data for structure learning: `n` samples of `d` variables, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct DagData {
    /// Samples.
    pub n: usize,
    /// Variables.
    pub d: usize,
    /// Row-major `n x d`.
    pub x: Vec<f64>,
    /// Column names.
    pub names: Vec<String>,
}

impl DagData {
    /// Validated data: finite values, `n > d`, no constant and no duplicated columns. Errors
    /// name the source, the row (1-based data row, i.e. without a header) and the column.
    pub fn new(source: &str, x: Vec<f64>, n: usize, d: usize, names: Vec<String>) -> Result<Self> {
        if d == 0 || x.len() != n * d || names.len() != d {
            return Err(Error::data(
                source,
                0,
                format!(
                    "shape mismatch: {} values and {} names for {n} rows x {d} columns",
                    x.len(),
                    names.len()
                ),
            ));
        }
        if let Some(k) = x.iter().position(|v| !v.is_finite()) {
            return Err(Error::data(
                source,
                k / d + 1,
                format!(
                    "column `{}`: non-finite value {} in data row {}",
                    names[k % d],
                    x[k],
                    k / d + 1
                ),
            ));
        }
        if n <= d {
            return Err(Error::data(
                source,
                0,
                format!(
                    "more variables than samples: {d} columns but {n} rows (the per-node regressions need n > d)"
                ),
            ));
        }
        let xs: &[f64] = &x;
        let col = |j: usize| (0..n).map(move |i| xs[i * d + j]);
        for j in 0..d {
            let first = x[j];
            if col(j).all(|v| v == first) {
                return Err(Error::data(
                    source,
                    0,
                    format!(
                        "column `{}` is constant ({first}); a constant variable has no causal signal",
                        names[j]
                    ),
                ));
            }
        }
        for a in 0..d {
            for b in a + 1..d {
                if col(a).zip(col(b)).all(|(u, v)| u == v) {
                    return Err(Error::data(
                        source,
                        0,
                        format!(
                            "columns `{}` and `{}` are identical; drop one of them",
                            names[a], names[b]
                        ),
                    ));
                }
            }
        }
        Ok(DagData { n, d, x, names })
    }

    /// Column means.
    pub fn means(&self) -> Vec<f64> {
        let mut m = vec![0.0; self.d];
        for row in self.x.chunks(self.d) {
            m.iter_mut().zip(row).for_each(|(a, b)| *a += b);
        }
        m.iter_mut().for_each(|a| *a /= self.n as f64);
        m
    }

    /// Subtract the column means (the linear SEM scores have no intercept).
    pub fn center(&mut self) {
        let m = self.means();
        for row in self.x.chunks_mut(self.d) {
            row.iter_mut().zip(&m).for_each(|(a, b)| *a -= b);
        }
    }

    /// Centre and scale every column to unit population variance (removes "varsortability":
    /// raw SEM data have variances growing along the causal order).
    pub fn standardize(&mut self) {
        crate::data::standardize_columns(&mut self.x, self.d);
    }

    /// The scaled Gram matrix `S = X^T X / n`, row-major `d x d`. Every linear-SEM score and
    /// gradient depends on the data only through `S`.
    pub fn gram(&self) -> Vec<f64> {
        let d = self.d;
        let mut s = vec![0.0; d * d];
        for row in self.x.chunks(d) {
            for i in 0..d {
                let ri = row[i];
                let si = &mut s[i * d..(i + 1) * d];
                for j in i..d {
                    si[j] += ri * row[j];
                }
            }
        }
        let inv_n = 1.0 / self.n as f64;
        for i in 0..d {
            for j in i..d {
                let v = s[i * d + j] * inv_n;
                s[i * d + j] = v;
                s[j * d + i] = v;
            }
        }
        s
    }
}

/// Parse a numeric CSV with a header line of column names. Errors name the 1-based line.
pub fn parse_numeric_csv(source: &str, text: &str) -> Result<DagData> {
    let mut lines = text.lines().enumerate();
    let Some((_, header)) = lines.next() else {
        return Err(Error::data(
            source,
            1,
            "empty file (expected a header line)",
        ));
    };
    let names: Vec<String> = header.split(',').map(|s| s.trim().to_string()).collect();
    let d = names.len();
    let mut x = Vec::new();
    let mut n = 0;
    for (k, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').collect();
        if fields.len() != d {
            return Err(Error::data(
                source,
                k + 1,
                format!("expected {d} fields, found {}", fields.len()),
            ));
        }
        for (j, f) in fields.iter().enumerate() {
            let v: f64 = f.trim().parse().map_err(|_| {
                Error::data(
                    source,
                    k + 1,
                    format!("column `{}`: `{}` is not a number", names[j], f.trim()),
                )
            })?;
            if !v.is_finite() {
                return Err(Error::data(
                    source,
                    k + 1,
                    format!("column `{}`: non-finite value `{}`", names[j], f.trim()),
                ));
            }
            x.push(v);
        }
        n += 1;
    }
    DagData::new(source, x, n, d, names)
}

/// Parse a `cause,effect` edge list whose endpoints are column names of `names`.
pub fn parse_edges(source: &str, text: &str, names: &[String]) -> Result<Vec<bool>> {
    let d = names.len();
    let mut b = vec![false; d * d];
    for (k, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        if f.len() != 2 {
            return Err(Error::data(source, k + 1, "expected `cause,effect`"));
        }
        let find = |s: &str| {
            names
                .iter()
                .position(|n| n == s)
                .ok_or_else(|| Error::data(source, k + 1, format!("unknown variable `{s}`")))
        };
        let (i, j) = (find(f[0])?, find(f[1])?);
        if i == j {
            return Err(Error::data(
                source,
                k + 1,
                format!("self-loop on `{}`", f[0]),
            ));
        }
        b[i * d + j] = true;
    }
    Ok(b)
}

/// The Sachs data (raw intensities) and its 18-edge reference graph. Note that this reference
/// graph is not acyclic: it contains `PIP3 -> plcg -> PIP2 -> PIP3`, so no DAG reaches SHD 0.
pub fn sachs() -> Result<(DagData, Vec<bool>)> {
    let data = parse_numeric_csv("sachs.csv", SACHS_CSV)?;
    let truth = parse_edges("sachs_edges.csv", SACHS_EDGES_CSV, &data.names)?;
    Ok((data, truth))
}

/// Random graph model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GraphKind {
    /// Erdős–Rényi `G(d, s0)` with a uniformly random orientation order.
    Er,
    /// Scale-free (Barabási–Albert, `round(s0 / d)` edges per new node, preferential in
    /// in-degree + 1, as igraph's `Barabasi(directed=True)`), randomly relabelled.
    Sf,
}

/// Additive noise of the linear SEM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Noise {
    /// Standard normal (equal variances: the LS score is the EV likelihood).
    Gauss,
    /// Exponential(1).
    Exp,
    /// Gumbel(0, 1).
    Gumbel,
}

/// A random DAG with `s0` edges on `d` nodes.
pub fn simulate_dag(d: usize, s0: usize, kind: GraphKind, rng: &mut Rng) -> Result<Vec<bool>> {
    let max = d * d.saturating_sub(1) / 2;
    if s0 > max {
        return Err(Error::config(
            "problem.edges",
            format!("{s0} edges do not fit a DAG on {d} nodes (at most {max})"),
        ));
    }
    let mut perm: Vec<usize> = (0..d).collect();
    perm.shuffle(rng);
    let mut b = vec![false; d * d];
    match kind {
        GraphKind::Er => {
            let mut pairs: Vec<(usize, usize)> = (0..d)
                .flat_map(|i| (i + 1..d).map(move |j| (i, j)))
                .collect();
            pairs.shuffle(rng);
            // Orient every edge from the earlier to the later node of a random order.
            for &(a, c) in &pairs[..s0] {
                let (u, v) = (perm[a], perm[c]);
                b[u * d + v] = true;
            }
        }
        GraphKind::Sf => {
            let m = ((s0 as f64 / d as f64).round() as usize).max(1);
            let mut indeg = vec![0usize; d];
            for t in 1..d {
                let mut chosen: Vec<usize> = Vec::new();
                while chosen.len() < m.min(t) {
                    let total: usize = (0..t)
                        .filter(|u| !chosen.contains(u))
                        .map(|u| indeg[u] + 1)
                        .sum();
                    let mut r = rng.random_range(0..total);
                    for u in (0..t).filter(|u| !chosen.contains(u)) {
                        if r < indeg[u] + 1 {
                            chosen.push(u);
                            break;
                        }
                        r -= indeg[u] + 1;
                    }
                }
                for u in chosen {
                    indeg[u] += 1;
                    b[perm[t] * d + perm[u]] = true;
                }
            }
        }
    }
    Ok(b)
}

/// Edge weights uniform on `[-high, -low] ∪ [low, high]` (defaults 0.5, 2).
pub fn simulate_weights(b: &[bool], low: f64, high: f64, rng: &mut Rng) -> Vec<f64> {
    b.iter()
        .map(|&e| {
            if !e {
                return 0.0;
            }
            let m = rng.random_range(low..high);
            if rng.random::<bool>() { m } else { -m }
        })
        .collect()
}

/// `n` samples of the linear SEM `X_j = sum_i W_ij X_i + z_j` (noise scale 1), in a
/// topological order of `w`'s support.
pub fn simulate_sem(
    w: &[f64],
    d: usize,
    n: usize,
    noise: Noise,
    rng: &mut Rng,
) -> Result<Vec<f64>> {
    let b: Vec<bool> = w.iter().map(|v| *v != 0.0).collect();
    let order = topological_order(&b, d)
        .ok_or_else(|| Error::config("problem", "the weight matrix is not acyclic"))?;
    let mut x = vec![0.0; n * d];
    for row in x.chunks_mut(d) {
        for &j in &order {
            let z = match noise {
                Noise::Gauss => normal(rng),
                Noise::Exp => -(1.0 - rng.random::<f64>()).ln(),
                Noise::Gumbel => -(-(1.0 - rng.random::<f64>()).ln()).ln(),
            };
            let mut v = z;
            for i in 0..d {
                let wij = w[i * d + j];
                if wij != 0.0 {
                    v += row[i] * wij;
                }
            }
            row[j] = v;
        }
    }
    Ok(x)
}

/// A topological order of `b` (Kahn's algorithm, smallest index first among ready nodes), or
/// `None` when `b` has a cycle (or a self-loop).
pub fn topological_order(b: &[bool], d: usize) -> Option<Vec<usize>> {
    let mut indeg: Vec<usize> = (0..d)
        .map(|j| (0..d).filter(|&i| b[i * d + j]).count())
        .collect();
    let mut done = vec![false; d];
    let mut order = Vec::with_capacity(d);
    while order.len() < d {
        let next = (0..d).find(|&j| !done[j] && indeg[j] == 0)?;
        done[next] = true;
        order.push(next);
        for j in 0..d {
            if b[next * d + j] {
                indeg[j] -= 1;
            }
        }
    }
    Some(order)
}

/// True when `b` is acyclic.
pub fn is_dag(b: &[bool], d: usize) -> bool {
    topological_order(b, d).is_some()
}

/// Support of `|w| >= threshold` (the papers' 0.3 convention: `|w| < threshold` is no edge).
pub fn support(w: &[f64], threshold: f64) -> Vec<bool> {
    w.iter()
        .map(|v| v.abs() >= threshold && *v != 0.0)
        .collect()
}

/// Accuracy of an estimated graph against the truth (NOTEARS' `count_accuracy`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Accuracy {
    /// Structural Hamming distance: extra + missing skeleton edges + reversed edges.
    pub shd: usize,
    /// True-positive rate: correctly oriented edges / true edges.
    pub tpr: f64,
    /// False-discovery rate: (reversed + false) / predicted edges.
    pub fdr: f64,
    /// False-positive rate: (reversed + false) / true non-edges of the skeleton.
    pub fpr: f64,
    /// Predicted edges.
    pub nnz: usize,
}

/// SHD, TPR, FDR, FPR and edge count exactly as in NOTEARS' `utils.count_accuracy`.
pub fn count_accuracy(truth: &[bool], est: &[bool], d: usize) -> Accuracy {
    let edge = |b: &[bool], i: usize, j: usize| b[i * d + j];
    let (mut pred, mut cond, mut tp, mut rev, mut fp) = (0usize, 0usize, 0usize, 0usize, 0usize);
    for i in 0..d {
        for j in 0..d {
            cond += usize::from(edge(truth, i, j));
            if !edge(est, i, j) {
                continue;
            }
            pred += 1;
            if edge(truth, i, j) {
                tp += 1;
            } else if edge(truth, j, i) {
                rev += 1;
            } else {
                fp += 1;
            }
        }
    }
    // Skeleton differences on the lower triangle.
    let (mut extra, mut missing) = (0usize, 0usize);
    for i in 0..d {
        for j in 0..i {
            let p = edge(est, i, j) || edge(est, j, i);
            let c = edge(truth, i, j) || edge(truth, j, i);
            extra += usize::from(p && !c);
            missing += usize::from(c && !p);
        }
    }
    let cond_neg = (0.5 * (d * d.saturating_sub(1)) as f64 - cond as f64).max(1.0);
    Accuracy {
        shd: extra + missing + rev,
        tpr: tp as f64 / cond.max(1) as f64,
        fdr: (rev + fp) as f64 / pred.max(1) as f64,
        fpr: (rev + fp) as f64 / cond_neg,
        nnz: pred,
    }
}

/// A structure-learning problem: data, and the true graph and weights when known.
#[derive(Debug, Clone)]
pub struct DagProblem {
    /// Problem name.
    pub name: String,
    /// The data the method sees (centred, or standardized when asked).
    pub data: DagData,
    /// The true graph, when known.
    pub truth: Option<Vec<bool>>,
    /// The true weights (simulated problems).
    pub w_true: Option<Vec<f64>>,
}

/// Problem names.
pub const ALL: &[&str] = &["sem", "sachs"];

/// `sem` options: a simulated linear SEM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SemSpec {
    /// `"sem"`.
    pub name: String,
    /// Graph model: `er` or `sf`.
    pub graph: GraphKind,
    /// Nodes.
    pub d: usize,
    /// Expected edges per node (`s0 = edges_per_node * d`; ER2 = 2, ER4 = 4).
    pub edges_per_node: usize,
    /// Samples.
    pub n: usize,
    /// Noise: `gauss`, `exp` or `gumbel`.
    pub noise: Noise,
    /// Standardize the columns (otherwise only centred).
    pub standardize: bool,
    /// Seed of the graph, weights and samples (independent of the run seed).
    pub seed: u64,
}

impl Default for SemSpec {
    fn default() -> Self {
        SemSpec {
            name: "sem".into(),
            graph: GraphKind::Er,
            d: 20,
            edges_per_node: 2,
            n: 1000,
            noise: Noise::Gauss,
            standardize: false,
            seed: 0,
        }
    }
}

/// `sachs` options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SachsSpec {
    /// `"sachs"`.
    pub name: String,
    /// Standardize the columns (the raw intensities span 1 … 9058).
    pub standardize: bool,
}

/// Simulate a linear SEM problem.
pub fn simulate(spec: &SemSpec) -> Result<DagProblem> {
    if spec.d < 2 {
        return Err(Error::config("problem.d", "needs at least 2 nodes"));
    }
    let mut rng = optlab_core::seed::stream(spec.seed, "sem");
    let b = simulate_dag(spec.d, spec.edges_per_node * spec.d, spec.graph, &mut rng)?;
    let w = simulate_weights(&b, 0.5, 2.0, &mut rng);
    let x = simulate_sem(&w, spec.d, spec.n, spec.noise, &mut rng)?;
    let names = (0..spec.d).map(|j| format!("x{j}")).collect();
    let mut data = DagData::new("sem", x, spec.n, spec.d, names)?;
    if spec.standardize {
        data.standardize();
    } else {
        data.center();
    }
    let g = match spec.graph {
        GraphKind::Er => "er",
        GraphKind::Sf => "sf",
    };
    Ok(DagProblem {
        name: format!("{g}{}-d{}-s{}", spec.edges_per_node, spec.d, spec.seed),
        data,
        truth: Some(b),
        w_true: Some(w),
    })
}

/// The Sachs problem.
pub fn sachs_problem(standardize: bool) -> Result<DagProblem> {
    let (mut data, truth) = sachs()?;
    if standardize {
        data.standardize();
    } else {
        data.center();
    }
    Ok(DagProblem {
        name: "sachs".into(),
        data,
        truth: Some(truth),
        w_true: None,
    })
}

/// Default options of a problem, as a table (including `name`).
pub fn default_table(name: &str) -> Result<toml::Table> {
    match name {
        "sem" => to_table(&SemSpec::default()),
        "sachs" => to_table(&SachsSpec {
            name: "sachs".into(),
            standardize: true,
        }),
        other => Err(unknown(other)),
    }
}

fn unknown(other: &str) -> Error {
    Error::config(
        "problem.name",
        format!("unknown DAG problem `{other}` (known: {})", ALL.join(", ")),
    )
}

/// Build a problem from its table.
pub fn build(table: &toml::Table) -> Result<DagProblem> {
    match problem_name(table)? {
        "sem" => simulate(&from_table("problem", table)?),
        "sachs" => {
            let s: SachsSpec = from_table("problem", table)?;
            sachs_problem(s.standardize)
        }
        other => Err(unknown(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_accuracy_matches_hand_count() {
        // truth: 0->1, 1->2, 0->3 ; est: 0->1 (tp), 2->1 (reversed), 3->2 (false)
        let d = 4;
        let mut t = vec![false; 16];
        let mut e = vec![false; 16];
        for (i, j) in [(0, 1), (1, 2), (0, 3)] {
            t[i * d + j] = true;
        }
        for (i, j) in [(0, 1), (2, 1), (3, 2)] {
            e[i * d + j] = true;
        }
        let a = count_accuracy(&t, &e, d);
        // skeleton: extra {2,3}, missing {0,3}; reversed 1 -> SHD 3
        assert_eq!(a.shd, 3);
        assert_eq!(a.nnz, 3);
        assert!((a.tpr - 1.0 / 3.0).abs() < 1e-15);
        assert!((a.fdr - 2.0 / 3.0).abs() < 1e-15);
        assert!((a.fpr - 2.0 / 3.0).abs() < 1e-15);
    }

    #[test]
    fn simulated_graphs_are_dags_with_the_asked_edge_count() {
        for seed in 0..5 {
            let mut rng = optlab_core::seed::stream(seed, "t");
            let b = simulate_dag(12, 24, GraphKind::Er, &mut rng).unwrap();
            assert!(is_dag(&b, 12));
            assert_eq!(b.iter().filter(|e| **e).count(), 24);
            let b = simulate_dag(12, 24, GraphKind::Sf, &mut rng).unwrap();
            assert!(is_dag(&b, 12));
            // BA with m = 2: node t adds min(2, t) edges.
            assert_eq!(b.iter().filter(|e| **e).count(), 1 + 2 * 10);
        }
        let mut rng = optlab_core::seed::stream(0, "t");
        assert!(simulate_dag(4, 7, GraphKind::Er, &mut rng).is_err());
    }

    #[test]
    fn bad_data_is_named() {
        let names = |d: usize| (0..d).map(|j| format!("c{j}")).collect::<Vec<_>>();
        let e = DagData::new("t", vec![1.0, 2.0, 1.0, f64::NAN, 3.0, 4.0], 3, 2, names(2))
            .unwrap_err()
            .to_string();
        assert!(e.contains("c1") && e.contains("line 2"), "{e}");
        let e = DagData::new("t", vec![1.0, 5.0, 2.0, 5.0, 3.0, 5.0], 3, 2, names(2))
            .unwrap_err()
            .to_string();
        assert!(e.contains("`c1` is constant"), "{e}");
        let e = DagData::new("t", vec![1.0, 1.0, 2.0, 2.0, 3.0, 3.0], 3, 2, names(2))
            .unwrap_err()
            .to_string();
        assert!(e.contains("`c0` and `c1` are identical"), "{e}");
        let e = DagData::new("t", vec![1.0, 2.0, 3.0, 4.0, 5.0, 7.0], 2, 3, names(3))
            .unwrap_err()
            .to_string();
        assert!(e.contains("more variables than samples"), "{e}");
        let e = parse_numeric_csv("f.csv", "a,b\n1,2\n3,x\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 3") && e.contains("`b`"), "{e}");
        let e = parse_numeric_csv("f.csv", "a,b\n1,2\n3\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("line 3") && e.contains("expected 2 fields"),
            "{e}"
        );
    }

    #[test]
    fn sachs_loads_with_its_reference_graph() {
        let (data, truth) = sachs().unwrap();
        assert_eq!((data.n, data.d), (7466, 11));
        assert_eq!(truth.iter().filter(|e| **e).count(), 18);
        // The consensus graph as distributed by cdt contains one directed cycle:
        // PIP3 -> plcg -> PIP2 -> PIP3.
        assert!(!is_dag(&truth, 11));
        let idx = |s: &str| data.names.iter().position(|n| n == s).unwrap();
        let (pip3, plcg, pip2) = (idx("PIP3"), idx("plcg"), idx("PIP2"));
        assert!(truth[pip3 * 11 + plcg] && truth[plcg * 11 + pip2] && truth[pip2 * 11 + pip3]);
        let mut cut = truth.clone();
        cut[pip2 * 11 + pip3] = false;
        assert!(is_dag(&cut, 11));
    }

    #[test]
    fn gram_is_x_t_x_over_n() {
        let p = simulate(&SemSpec {
            d: 5,
            n: 50,
            ..SemSpec::default()
        })
        .unwrap();
        let s = p.data.gram();
        let (n, d) = (p.data.n, p.data.d);
        for a in 0..d {
            for b in 0..d {
                let v: f64 = (0..n)
                    .map(|i| p.data.x[i * d + a] * p.data.x[i * d + b])
                    .sum();
                assert!((s[a * d + b] - v / n as f64).abs() < 1e-12);
            }
        }
    }
}
