//! A small compressed-sparse-row matrix: what the KKT systems and the row-action (sketching)
//! solvers need — row access, products, Frobenius norms, conversion to dense and to faer's
//! sparse LU / Cholesky.

use faer::Mat;
use faer::linalg::solvers::Solve;
use faer::sparse::{SparseColMat, Triplet};

/// A sparse matrix in CSR form with sorted, unique column indices per row.
#[derive(Debug, Clone, PartialEq)]
pub struct Csr {
    nrows: usize,
    ncols: usize,
    indptr: Vec<usize>,
    indices: Vec<usize>,
    values: Vec<f64>,
}

/// A shape or index problem in assembling a sparse matrix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ShapeError(pub String);

impl Csr {
    /// Build from `(row, col, value)` triplets; duplicates are summed, explicit zeros kept out.
    pub fn from_triplets(
        nrows: usize,
        ncols: usize,
        triplets: &[(usize, usize, f64)],
    ) -> Result<Self, ShapeError> {
        if let Some(&(i, j, _)) = triplets.iter().find(|(i, j, _)| *i >= nrows || *j >= ncols) {
            return Err(ShapeError(format!(
                "entry ({i}, {j}) is outside a {nrows}x{ncols} matrix"
            )));
        }
        let mut sorted: Vec<(usize, usize, f64)> = triplets.to_vec();
        sorted.sort_by_key(|a| (a.0, a.1));
        let mut indptr = vec![0usize; nrows + 1];
        let mut indices = Vec::with_capacity(sorted.len());
        let mut values: Vec<f64> = Vec::with_capacity(sorted.len());
        let mut last: Option<(usize, usize)> = None;
        for (i, j, v) in sorted {
            if last == Some((i, j)) {
                if let Some(x) = values.last_mut() {
                    *x += v;
                }
                continue;
            }
            indices.push(j);
            values.push(v);
            indptr[i + 1] += 1;
            last = Some((i, j));
        }
        for i in 0..nrows {
            indptr[i + 1] += indptr[i];
        }
        Ok(Csr {
            nrows,
            ncols,
            indptr,
            indices,
            values,
        })
    }

    /// Every entry of a dense matrix whose value is not exactly zero.
    pub fn from_dense(a: &Mat<f64>) -> Self {
        let mut t = Vec::new();
        for i in 0..a.nrows() {
            for j in 0..a.ncols() {
                if a[(i, j)] != 0.0 {
                    t.push((i, j, a[(i, j)]));
                }
            }
        }
        // Indices are in range by construction.
        Csr::from_triplets(a.nrows(), a.ncols(), &t).unwrap_or_else(|_| Csr::zeros(0, 0))
    }

    /// Build from dense rows (`rows[i][j]`); every row must have `ncols` entries.
    pub fn from_rows(ncols: usize, rows: &[Vec<f64>]) -> Result<Self, ShapeError> {
        let mut t = Vec::new();
        for (i, r) in rows.iter().enumerate() {
            if r.len() != ncols {
                return Err(ShapeError(format!(
                    "row {i} has {} entries, expected {ncols}",
                    r.len()
                )));
            }
            for (j, &v) in r.iter().enumerate() {
                if v != 0.0 {
                    t.push((i, j, v));
                }
            }
        }
        Csr::from_triplets(rows.len(), ncols, &t)
    }

    /// The all-zero matrix.
    pub fn zeros(nrows: usize, ncols: usize) -> Self {
        Csr {
            nrows,
            ncols,
            indptr: vec![0; nrows + 1],
            indices: Vec::new(),
            values: Vec::new(),
        }
    }

    /// The identity scaled by `d[i]` on the diagonal.
    pub fn diag(d: &[f64]) -> Self {
        Csr {
            nrows: d.len(),
            ncols: d.len(),
            indptr: (0..=d.len()).collect(),
            indices: (0..d.len()).collect(),
            values: d.to_vec(),
        }
    }

    /// Rows.
    pub fn nrows(&self) -> usize {
        self.nrows
    }

    /// Columns.
    pub fn ncols(&self) -> usize {
        self.ncols
    }

    /// Stored entries.
    pub fn nnz(&self) -> usize {
        self.values.len()
    }

    /// Column indices and values of row `i`.
    pub fn row(&self, i: usize) -> (&[usize], &[f64]) {
        let (a, b) = (self.indptr[i], self.indptr[i + 1]);
        (&self.indices[a..b], &self.values[a..b])
    }

    /// All `(row, col, value)` triplets in row order.
    pub fn triplets(&self) -> Vec<(usize, usize, f64)> {
        let mut t = Vec::with_capacity(self.nnz());
        for i in 0..self.nrows {
            let (idx, val) = self.row(i);
            for (&j, &v) in idx.iter().zip(val) {
                t.push((i, j, v));
            }
        }
        t
    }

    /// `y = A x`.
    pub fn matvec(&self, x: &[f64], y: &mut [f64]) {
        for (i, yi) in y.iter_mut().enumerate().take(self.nrows) {
            let (idx, val) = self.row(i);
            *yi = idx.iter().zip(val).map(|(&j, &v)| v * x[j]).sum();
        }
    }

    /// `A x` as a new vector.
    pub fn mul(&self, x: &[f64]) -> Vec<f64> {
        let mut y = vec![0.0; self.nrows];
        self.matvec(x, &mut y);
        y
    }

    /// `A^T x` as a new vector.
    pub fn mul_t(&self, x: &[f64]) -> Vec<f64> {
        let mut y = vec![0.0; self.ncols];
        for (i, &xi) in x.iter().enumerate().take(self.nrows) {
            if xi == 0.0 {
                continue;
            }
            let (idx, val) = self.row(i);
            for (&j, &v) in idx.iter().zip(val) {
                y[j] += v * xi;
            }
        }
        y
    }

    /// The transpose.
    pub fn transpose(&self) -> Self {
        let t: Vec<(usize, usize, f64)> = self
            .triplets()
            .into_iter()
            .map(|(i, j, v)| (j, i, v))
            .collect();
        Csr::from_triplets(self.ncols, self.nrows, &t).unwrap_or_else(|_| Csr::zeros(0, 0))
    }

    /// `A A^T` (symmetric, `nrows x nrows`).
    pub fn gram_rows(&self) -> Self {
        let at = self.transpose();
        let mut t = Vec::new();
        let mut acc = vec![0.0; self.nrows];
        let mut mark = vec![false; self.nrows];
        let mut touched: Vec<usize> = Vec::new();
        for i in 0..self.nrows {
            let (idx, val) = self.row(i);
            for (&k, &v) in idx.iter().zip(val) {
                let (rows, vals) = at.row(k);
                for (&j, &w) in rows.iter().zip(vals) {
                    if !mark[j] {
                        mark[j] = true;
                        touched.push(j);
                    }
                    acc[j] += v * w;
                }
            }
            for &j in &touched {
                if acc[j] != 0.0 {
                    t.push((i, j, acc[j]));
                }
                acc[j] = 0.0;
                mark[j] = false;
            }
            touched.clear();
        }
        Csr::from_triplets(self.nrows, self.nrows, &t).unwrap_or_else(|_| Csr::zeros(0, 0))
    }

    /// `A + s I` (square only).
    pub fn shifted(&self, s: f64) -> Self {
        let mut t = self.triplets();
        t.extend((0..self.nrows.min(self.ncols)).map(|i| (i, i, s)));
        Csr::from_triplets(self.nrows, self.ncols, &t).unwrap_or_else(|_| Csr::zeros(0, 0))
    }

    /// Frobenius norm.
    pub fn frobenius(&self) -> f64 {
        self.values.iter().map(|v| v * v).sum::<f64>().sqrt()
    }

    /// Squared Euclidean norm of every row.
    pub fn row_norms_sq(&self) -> Vec<f64> {
        (0..self.nrows)
            .map(|i| self.row(i).1.iter().map(|v| v * v).sum())
            .collect()
    }

    /// Dense copy.
    pub fn to_dense(&self) -> Mat<f64> {
        let mut a = Mat::zeros(self.nrows, self.ncols);
        for (i, j, v) in self.triplets() {
            a[(i, j)] = v;
        }
        a
    }

    /// The KKT matrix `[[B, G^T], [G, 0]]` for `B` (`n x n`) and `G` (`m x n`).
    pub fn kkt(b: &Csr, g: &Csr) -> Result<Self, ShapeError> {
        let n = b.nrows;
        if b.ncols != n || g.ncols != n {
            return Err(ShapeError(format!(
                "KKT blocks do not fit: B is {}x{}, G is {}x{}",
                b.nrows, b.ncols, g.nrows, g.ncols
            )));
        }
        let m = g.nrows;
        let mut t = b.triplets();
        for (i, j, v) in g.triplets() {
            t.push((n + i, j, v));
            t.push((j, n + i, v));
        }
        Csr::from_triplets(n + m, n + m, &t)
    }

    fn to_faer(&self) -> Option<SparseColMat<usize, f64>> {
        let t: Vec<Triplet<usize, usize, f64>> = self
            .triplets()
            .into_iter()
            .map(|(i, j, v)| Triplet::new(i, j, v))
            .collect();
        SparseColMat::try_new_from_triplets(self.nrows, self.ncols, &t).ok()
    }

    /// Solve `A x = b` by faer's sparse LU with partial pivoting; `None` if singular.
    pub fn sparse_lu_solve(&self, b: &[f64]) -> Option<Vec<f64>> {
        let a = self.to_faer()?;
        let lu = a.sp_lu().ok()?;
        let mut rhs = Mat::from_fn(b.len(), 1, |i, _| b[i]);
        lu.solve_in_place(rhs.as_mut());
        let x: Vec<f64> = (0..b.len()).map(|i| rhs[(i, 0)]).collect();
        x.iter().all(|v| v.is_finite()).then_some(x)
    }

    /// True when the symmetric matrix `A - t I` has a sparse Cholesky factorization, i.e. a
    /// certificate that `lambda_min(A) > t` (up to rounding).
    pub fn certifies_min_eig_above(&self, t: f64) -> bool {
        let Some(a) = self.shifted(-t).to_faer() else {
            return false;
        };
        a.sp_cholesky(faer::Side::Lower).is_ok()
    }
}

/// Solve `A x = b` by faer's dense LU with partial pivoting; `None` if the result is not finite.
pub fn dense_lu_solve(a: &Mat<f64>, b: &[f64]) -> Option<Vec<f64>> {
    let lu = a.partial_piv_lu();
    let mut rhs = Mat::from_fn(b.len(), 1, |i, _| b[i]);
    lu.solve_in_place(rhs.as_mut());
    let x: Vec<f64> = (0..b.len()).map(|i| rhs[(i, 0)]).collect();
    x.iter().all(|v| v.is_finite()).then_some(x)
}

/// Smallest eigenvalue of a symmetric dense matrix (lower triangle read).
pub fn min_eigenvalue(a: &Mat<f64>) -> Option<f64> {
    if a.nrows() == 0 {
        return Some(f64::INFINITY);
    }
    a.self_adjoint_eigenvalues(faer::Side::Lower)
        .ok()
        .and_then(|v| v.first().copied())
}

/// An orthonormal basis of the null space of `G` (`m x n`, assumed full row rank): the last
/// `n - m` columns of the full `Q` of `G^T = Q R`.
pub fn null_space_basis(g: &Mat<f64>) -> Mat<f64> {
    let (m, n) = (g.nrows(), g.ncols());
    if m >= n {
        return Mat::zeros(n, 0);
    }
    let gt = g.transpose().to_owned();
    let q = gt.qr().compute_Q();
    Mat::from_fn(n, n - m, |i, j| q[(i, m + j)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triplets_sum_duplicates_and_products_match_dense() {
        let a = Csr::from_triplets(2, 3, &[(0, 0, 1.0), (0, 2, 2.0), (1, 1, 3.0), (0, 0, 1.0)])
            .unwrap();
        assert_eq!(a.nnz(), 3);
        assert_eq!(a.mul(&[1.0, 1.0, 1.0]), vec![4.0, 3.0]);
        assert_eq!(a.mul_t(&[1.0, 2.0]), vec![2.0, 6.0, 2.0]);
        let d = a.to_dense();
        assert_eq!(d[(0, 0)], 2.0);
        let g = a.gram_rows().to_dense();
        assert_eq!(g[(0, 0)], 8.0);
        assert_eq!(g[(0, 1)], 0.0);
        assert_eq!(g[(1, 1)], 9.0);
        assert!(Csr::from_triplets(2, 2, &[(2, 0, 1.0)]).is_err());
    }

    #[test]
    fn kkt_lu_solves_and_certificates() {
        let b = Csr::diag(&[2.0, 3.0]);
        let g = Csr::from_rows(2, &[vec![1.0, 1.0]]).unwrap();
        let k = Csr::kkt(&b, &g).unwrap();
        let rhs = [1.0, 2.0, 3.0];
        let x = k.sparse_lu_solve(&rhs).unwrap();
        let y = dense_lu_solve(&k.to_dense(), &rhs).unwrap();
        let r = k.mul(&x);
        for i in 0..3 {
            assert!((r[i] - rhs[i]).abs() < 1e-12);
            assert!((x[i] - y[i]).abs() < 1e-12);
        }
        assert!(b.certifies_min_eig_above(1.9));
        assert!(!b.certifies_min_eig_above(2.1));
        assert!((min_eigenvalue(&b.to_dense()).unwrap() - 2.0).abs() < 1e-14);
        let z = null_space_basis(&g.to_dense());
        assert_eq!(z.ncols(), 1);
        assert!((z[(0, 0)] + z[(1, 0)]).abs() < 1e-14);
    }
}
