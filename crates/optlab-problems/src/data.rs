//! Embedded datasets and their loaders.
//!
//! `data/digits.csv` and `data/breast_cancer.csv` are scikit-learn 1.9.1's copies of the UCI
//! datasets (provenance and licenses in `data/LICENSE-DATA.md`), compiled into the binary so
//! nothing is read or downloaded at run time.

use optlab_core::{Error, Result};
use rand::Rng as _;
use rand::seq::SliceRandom;

/// The digits CSV (1797 rows, 64 pixel columns 0..16, then `label` 0..9).
pub const DIGITS_CSV: &str = include_str!("../data/digits.csv");
/// The breast-cancer CSV (569 rows, 30 features, then `label`: 0 malignant, 1 benign).
pub const BREAST_CANCER_CSV: &str = include_str!("../data/breast_cancer.csv");

/// A labelled dataset: row-major features and integer labels.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Row-major `n_rows * n_features`.
    pub x: Vec<f64>,
    /// Labels in `0..n_classes`.
    pub y: Vec<usize>,
    /// Feature count.
    pub n_features: usize,
    /// Class count.
    pub n_classes: usize,
    /// Column names (without `label`).
    pub feature_names: Vec<String>,
}

impl Dataset {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.y.len()
    }

    /// True without rows.
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f64] {
        &self.x[i * self.n_features..(i + 1) * self.n_features]
    }

    /// The rows `idx`, in that order.
    pub fn subset(&self, idx: &[usize]) -> Dataset {
        let mut x = Vec::with_capacity(idx.len() * self.n_features);
        let mut y = Vec::with_capacity(idx.len());
        for &i in idx {
            x.extend_from_slice(self.row(i));
            y.push(self.y[i]);
        }
        Dataset {
            x,
            y,
            n_features: self.n_features,
            n_classes: self.n_classes,
            feature_names: self.feature_names.clone(),
        }
    }

    /// Standardize each column to mean 0 and population standard deviation 1 (constant
    /// columns are centred only). Returns the means and standard deviations used.
    pub fn standardize(&mut self) -> (Vec<f64>, Vec<f64>) {
        standardize_columns(&mut self.x, self.n_features)
    }

    /// Divide every feature by `s`.
    pub fn scale(&mut self, s: f64) {
        self.x.iter_mut().for_each(|v| *v /= s);
    }
}

/// Standardize the columns of row-major `x` (`d` columns) to mean 0 and population standard
/// deviation 1 (constant columns are centred only). Returns the means and standard deviations.
pub fn standardize_columns(x: &mut [f64], d: usize) -> (Vec<f64>, Vec<f64>) {
    let n = x.len() / d.max(1);
    let mut mean = vec![0.0; d];
    let mut sd = vec![0.0; d];
    for i in 0..n {
        for j in 0..d {
            mean[j] += x[i * d + j];
        }
    }
    mean.iter_mut().for_each(|m| *m /= n.max(1) as f64);
    for i in 0..n {
        for j in 0..d {
            let c = x[i * d + j] - mean[j];
            sd[j] += c * c;
        }
    }
    sd.iter_mut()
        .for_each(|s| *s = (*s / n.max(1) as f64).sqrt());
    for i in 0..n {
        for j in 0..d {
            let s = if sd[j] > 0.0 { sd[j] } else { 1.0 };
            x[i * d + j] = (x[i * d + j] - mean[j]) / s;
        }
    }
    (mean, sd)
}

/// Parse a CSV with a header line, `n_features` numeric columns and a last integer `label`
/// column with values in `0..n_classes`. Errors name the 1-based line.
pub fn parse_labeled_csv(
    source: &str,
    text: &str,
    n_features: usize,
    n_classes: usize,
) -> Result<Dataset> {
    let mut lines = text.lines().enumerate();
    let Some((_, header)) = lines.next() else {
        return Err(Error::data(
            source,
            1,
            "empty input (expected a header line)",
        ));
    };
    let names: Vec<String> = header.split(',').map(|s| s.trim().to_string()).collect();
    if names.len() != n_features + 1 {
        return Err(Error::data(
            source,
            1,
            format!(
                "header has {} columns, expected {}",
                names.len(),
                n_features + 1
            ),
        ));
    }
    if names.last().map(String::as_str) != Some("label") {
        return Err(Error::data(
            source,
            1,
            "the last header column must be `label`",
        ));
    }
    let mut x = Vec::new();
    let mut y = Vec::new();
    for (i, line) in lines {
        let lineno = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let cells: Vec<&str> = line.split(',').collect();
        if cells.len() != n_features + 1 {
            return Err(Error::data(
                source,
                lineno,
                format!("{} columns, expected {}", cells.len(), n_features + 1),
            ));
        }
        for (j, c) in cells[..n_features].iter().enumerate() {
            let v: f64 = c.trim().parse().map_err(|_| {
                Error::data(
                    source,
                    lineno,
                    format!("column `{}`: `{}` is not a number", names[j], c.trim()),
                )
            })?;
            if !v.is_finite() {
                return Err(Error::data(
                    source,
                    lineno,
                    format!("column `{}`: non-finite value {v}", names[j]),
                ));
            }
            x.push(v);
        }
        let raw = cells[n_features].trim();
        let label: usize = raw.parse().map_err(|_| {
            Error::data(
                source,
                lineno,
                format!("label `{raw}` is not a non-negative integer"),
            )
        })?;
        if label >= n_classes {
            return Err(Error::data(
                source,
                lineno,
                format!("label {label} out of range 0..{n_classes}"),
            ));
        }
        y.push(label);
    }
    if y.is_empty() {
        return Err(Error::data(source, 0, "no data rows"));
    }
    Ok(Dataset {
        x,
        y,
        n_features,
        n_classes,
        feature_names: names[..n_features].to_vec(),
    })
}

/// UCI optdigits test set as shipped by scikit-learn: 1797 x 64 pixels (0..16), 10 classes.
pub fn digits() -> Result<Dataset> {
    parse_labeled_csv("digits.csv", DIGITS_CSV, 64, 10)
}

/// Breast Cancer Wisconsin (Diagnostic): 569 x 30, labels 0 malignant / 1 benign.
pub fn breast_cancer() -> Result<Dataset> {
    parse_labeled_csv("breast_cancer.csv", BREAST_CANCER_CSV, 30, 2)
}

/// A stratified split: within each class, rows are shuffled with `seed` and the first ones go
/// to the test set. Returns `(train, test)` indices,
/// each sorted.
///
/// The test set has exactly `ceil(test_fraction * n)` rows (scikit-learn's rule) (1797 digits at 0.2: 1437/360).
pub fn stratified_split(
    y: &[usize],
    n_classes: usize,
    test_fraction: f64,
    seed: u64,
) -> Result<(Vec<usize>, Vec<usize>)> {
    if !(test_fraction > 0.0 && test_fraction < 1.0) {
        return Err(Error::config(
            "test_fraction",
            format!("must be in (0, 1), got {test_fraction}"),
        ));
    }
    let mut rng = optlab_core::seed::stream(seed, "split");
    let classes: Vec<Vec<usize>> = (0..n_classes)
        .map(|c| (0..y.len()).filter(|&i| y[i] == c).collect())
        .collect();
    // Exactly ceil(test_fraction * n) test rows (scikit-learn's rule): floor per class, then the remainder goes to
    // the classes with the largest fractional parts (ties: lower class index first).
    let n_test = (test_fraction * y.len() as f64 - 1e-9).ceil() as usize;
    let want: Vec<f64> = classes
        .iter()
        .map(|r| test_fraction * r.len() as f64)
        .collect();
    let mut take: Vec<usize> = want.iter().map(|w| w.floor() as usize).collect();
    let mut order: Vec<usize> = (0..n_classes).collect();
    order.sort_by(|&a, &b| {
        let (fa, fb) = (want[a] - want[a].floor(), want[b] - want[b].floor());
        fb.partial_cmp(&fa)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(a.cmp(&b))
    });
    let mut missing = n_test.saturating_sub(take.iter().sum());
    for &c in order.iter().cycle().take(n_classes * 2) {
        if missing == 0 {
            break;
        }
        if take[c] < classes[c].len() {
            take[c] += 1;
            missing -= 1;
        }
    }
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for (c, mut rows) in classes.into_iter().enumerate() {
        rows.shuffle(&mut rng);
        test.extend_from_slice(&rows[..take[c]]);
        train.extend_from_slice(&rows[take[c]..]);
    }
    train.sort_unstable();
    test.sort_unstable();
    Ok((train, test))
}

/// LIBSVM "mushrooms" (8124 rows, 112 binary features, labels `1`/`2`).
pub const MUSHROOMS_LIBSVM: &str = include_str!("../data/mushrooms.txt");

/// Parse LIBSVM/SVMlight text (`label idx:value ...`, 1-based feature indices) into a dense
/// dataset with `n_features` columns. The distinct labels, sorted numerically, become classes
/// `0, 1, ...`. Errors name the 1-based line.
pub fn parse_libsvm(source: &str, text: &str, n_features: usize) -> Result<Dataset> {
    let mut x = Vec::new();
    let mut raw_labels: Vec<f64> = Vec::new();
    for (k, line) in text.lines().enumerate() {
        let lineno = k + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.split_whitespace();
        let label_txt = parts.next().unwrap_or("");
        let label: f64 = label_txt.parse().map_err(|_| {
            Error::data(
                source,
                lineno,
                format!("label `{label_txt}` is not a number"),
            )
        })?;
        if !label.is_finite() {
            return Err(Error::data(source, lineno, "label is not finite"));
        }
        let mut row = vec![0.0; n_features];
        let mut last = 0usize;
        for tok in parts {
            let (i, v) = tok.split_once(':').ok_or_else(|| {
                Error::data(
                    source,
                    lineno,
                    format!("`{tok}` is not of the form index:value"),
                )
            })?;
            let i: usize = i.parse().map_err(|_| {
                Error::data(
                    source,
                    lineno,
                    format!("feature index `{i}` is not a positive integer"),
                )
            })?;
            if i == 0 || i > n_features {
                return Err(Error::data(
                    source,
                    lineno,
                    format!("feature index {i} is outside 1..={n_features}"),
                ));
            }
            if i <= last {
                return Err(Error::data(
                    source,
                    lineno,
                    format!("feature index {i} is not increasing"),
                ));
            }
            last = i;
            let v: f64 = v.parse().map_err(|_| {
                Error::data(
                    source,
                    lineno,
                    format!("feature {i}: `{v}` is not a number"),
                )
            })?;
            if !v.is_finite() {
                return Err(Error::data(
                    source,
                    lineno,
                    format!("feature {i} is not finite"),
                ));
            }
            row[i - 1] = v;
        }
        x.extend(row);
        raw_labels.push(label);
    }
    if raw_labels.is_empty() {
        return Err(Error::data(source, 0, "no data rows"));
    }
    let mut classes = raw_labels.clone();
    classes.sort_by(f64::total_cmp);
    classes.dedup();
    let y = raw_labels
        .iter()
        .map(|l| classes.iter().position(|c| c == l).unwrap_or(0))
        .collect();
    Ok(Dataset {
        x,
        y,
        n_features,
        n_classes: classes.len(),
        feature_names: (1..=n_features).map(|i| format!("f{i}")).collect(),
    })
}

/// UCI Mushroom in LIBSVM form: 8124 x 112, class 0 = label 1 (poisonous), 1 = label 2.
pub fn mushrooms() -> Result<Dataset> {
    parse_libsvm("mushrooms.txt", MUSHROOMS_LIBSVM, 112)
}

/// Tiny Shakespeare (Karpathy's char-rnn corpus: 1,115,394 ASCII bytes, 65 distinct
/// characters; provenance and license in `data/LICENSE-DATA.md`).
pub const TINY_SHAKESPEARE: &str = include_str!("../data/tinyshakespeare.txt");

/// The four embedded fortune categories, in label order.
pub const FORTUNE_CATEGORIES: [&str; 4] = ["humorists", "literature", "love", "wisdom"];

const FORTUNE_FILES: [&str; 4] = [
    include_str!("../data/fortunes/humorists"),
    include_str!("../data/fortunes/literature"),
    include_str!("../data/fortunes/love"),
    include_str!("../data/fortunes/wisdom"),
];

/// Entries of a fortune file: blocks separated by lines holding only `%` (a final `%` is
/// optional), overstrike sequences `x BACKSPACE y` reduced to `y`, other control characters
/// except newlines and tabs removed, surrounding whitespace trimmed, empty entries dropped.
pub fn parse_fortunes(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut flush = |cur: &mut String| {
        let t = cur.trim();
        if !t.is_empty() {
            out.push(t.to_string());
        }
        cur.clear();
    };
    for line in text.lines() {
        if line.trim_end() == "%" {
            flush(&mut cur);
            continue;
        }
        for c in line.chars() {
            if c == '\u{8}' {
                cur.pop();
            } else if !c.is_control() || c == '\t' {
                cur.push(c);
            }
        }
        cur.push('\n');
    }
    flush(&mut cur);
    out
}

/// The fortune text-classification set: entries of [`FORTUNE_CATEGORIES`] and their labels
/// (197 + 262 + 150 + 425 = 1034 entries).
pub fn fortunes() -> (Vec<String>, Vec<usize>) {
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for (label, text) in FORTUNE_FILES.iter().enumerate() {
        for e in parse_fortunes(text) {
            x.push(e);
            y.push(label);
        }
    }
    (x, y)
}

/// An MNIST-like set generated from digits: each 8×8 image (pixels / 16) is upsampled to 16×16
/// under a random affine distortion — rotation up to ±15°, scale 0.9–1.1, shift up to ±1.5
/// pixels, by bilinear interpolation (zero outside) — plus N(0, 0.05²) pixel noise, clipped to
/// [0, 1]; `copies` distortions per image, drawn from a stream of `seed`. Labels are kept. Rows
/// are generated image by image, so distortions of a training image never land in a test split
/// made from other images. 256 features (`p<row>_<col>`).
pub fn mnist_like(source: &Dataset, copies: usize, seed: u64) -> Result<Dataset> {
    if source.n_features != 64 {
        return Err(Error::Other(format!(
            "mnist_like: needs 8x8 images (64 features), got {}",
            source.n_features
        )));
    }
    optlab_core::config::at_least_one("copies", copies as u64)?;
    let mut rng = optlab_core::seed::stream(seed, "mnist-like");
    let mut x = Vec::with_capacity(source.len() * copies * 256);
    let mut y = Vec::with_capacity(source.len() * copies);
    for i in 0..source.len() {
        let img: Vec<f64> = source.row(i).iter().map(|v| v / 16.0).collect();
        let at = |r: f64, c: f64| -> f64 {
            // Bilinear on the 8x8 grid, zero outside.
            let (r0, c0) = (r.floor(), c.floor());
            let (fr, fc) = (r - r0, c - c0);
            let px = |rr: f64, cc: f64| -> f64 {
                if (0.0..8.0).contains(&rr) && (0.0..8.0).contains(&cc) {
                    img[rr as usize * 8 + cc as usize]
                } else {
                    0.0
                }
            };
            (1.0 - fr) * (1.0 - fc) * px(r0, c0)
                + (1.0 - fr) * fc * px(r0, c0 + 1.0)
                + fr * (1.0 - fc) * px(r0 + 1.0, c0)
                + fr * fc * px(r0 + 1.0, c0 + 1.0)
        };
        for _ in 0..copies {
            let theta = rng.random_range(-15.0f64..15.0).to_radians();
            let scale = rng.random_range(0.9f64..1.1);
            let (dr, dc) = (
                rng.random_range(-1.5f64..1.5),
                rng.random_range(-1.5f64..1.5),
            );
            let (sn, cs) = theta.sin_cos();
            for u in 0..16 {
                for v in 0..16 {
                    // Output pixel centre relative to the 16x16 centre, undo shift, rotation
                    // and scale, then map to the 8x8 grid (half the resolution).
                    let (ou, ov) = (u as f64 - 7.5 - dr, v as f64 - 7.5 - dc);
                    let (ru, rv) = ((cs * ou + sn * ov) / scale, (-sn * ou + cs * ov) / scale);
                    let val = at(ru / 2.0 + 3.5, rv / 2.0 + 3.5)
                        + 0.05 * optlab_core::seed::normal(&mut rng);
                    x.push(val.clamp(0.0, 1.0));
                }
            }
            y.push(source.y[i]);
        }
    }
    Ok(Dataset {
        x,
        y,
        n_features: 256,
        n_classes: source.n_classes,
        feature_names: (0..256)
            .map(|k| format!("p{}_{}", k / 16, k % 16))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_datasets_load_with_documented_shapes() {
        let d = digits().unwrap();
        assert_eq!((d.len(), d.n_features), (1797, 64));
        assert!(d.x.iter().all(|&v| (0.0..=16.0).contains(&v)));
        let counts: Vec<usize> = (0..10)
            .map(|c| d.y.iter().filter(|&&y| y == c).count())
            .collect();
        assert_eq!(
            counts,
            vec![178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
        );
        let b = breast_cancer().unwrap();
        assert_eq!((b.len(), b.n_features), (569, 30));
        assert_eq!(b.y.iter().filter(|&&y| y == 0).count(), 212);
        assert_eq!(b.feature_names[0], "mean radius");
    }

    #[test]
    fn digits_split_is_1437_360_and_stratified() {
        let d = digits().unwrap();
        let (tr, te) = stratified_split(&d.y, 10, 0.2, 0).unwrap();
        assert_eq!((tr.len(), te.len()), (1437, 360));
        let mut all: Vec<usize> = tr.iter().chain(&te).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..1797).collect::<Vec<_>>());
        assert_eq!(stratified_split(&d.y, 10, 0.2, 0).unwrap().1, te);
    }

    fn err(text: &str) -> String {
        parse_labeled_csv("t.csv", text, 2, 3)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn malformed_input_names_the_line() {
        assert!(err("").contains("line 1"));
        assert!(
            err("a,b\n1,2\n").contains("line 1"),
            "{}",
            err("a,b\n1,2\n")
        );
        assert!(err("a,b,c\n1,2,0\n").contains("`label`"));
        let e = err("a,b,label\n1,2,0\n1,2\n");
        assert!(e.contains("line 3") && e.contains("2 columns"), "{e}");
        let e = err("a,b,label\n1,x,0\n");
        assert!(e.contains("line 2") && e.contains("`b`"), "{e}");
        let e = err("a,b,label\n1,NaN,0\n");
        assert!(e.contains("line 2") && e.contains("non-finite"), "{e}");
        let e = err("a,b,label\n1,2,3\n");
        assert!(e.contains("line 2") && e.contains("out of range"), "{e}");
        let e = err("a,b,label\n1,2,-1\n");
        assert!(e.contains("line 2"), "{e}");
        assert!(err("a,b,label\n").contains("no data rows"));
    }

    #[test]
    fn standardize_gives_zero_mean_unit_sd() {
        let mut b = breast_cancer().unwrap();
        b.standardize();
        let n = b.len() as f64;
        for j in 0..b.n_features {
            let m: f64 = (0..b.len()).map(|i| b.row(i)[j]).sum::<f64>() / n;
            let v: f64 = (0..b.len()).map(|i| (b.row(i)[j] - m).powi(2)).sum::<f64>() / n;
            assert!(m.abs() < 1e-12 && (v - 1.0).abs() < 1e-12);
        }
    }
}
