//! The embedded fortune files (entry counts equal the Debian `.dat` index counts) and the
//! generated MNIST-like set.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use optlab_problems::data::{FORTUNE_CATEGORIES, fortunes, parse_fortunes};

#[test]
fn entry_counts_and_parsing() {
    let (x, y) = fortunes();
    let counts: Vec<usize> = (0..4)
        .map(|c| y.iter().filter(|&&l| l == c).count())
        .collect();
    assert_eq!(counts, vec![197, 262, 150, 425], "{FORTUNE_CATEGORIES:?}");
    assert_eq!(x.len(), 1034);
    assert!(x.iter().all(|e| !e.is_empty() && !e.contains('\u{8}')));
    assert_eq!(
        parse_fortunes("a\n%\n_\u{8}b_\u{8}c d\n%\n\n%\nlast"),
        vec!["a", "bc d", "last"]
    );
    assert!(parse_fortunes("%\n%\n").is_empty());
}

/// The generated MNIST-like set: shape, range, determinism per seed, labels kept, errors.
#[test]
fn mnist_like_is_deterministic_and_well_formed() {
    use optlab_problems::data::{digits, mnist_like};
    let d = digits().unwrap();
    let src = d.subset(&(0..20).collect::<Vec<_>>());
    let a = mnist_like(&src, 3, 7).unwrap();
    assert_eq!((a.len(), a.n_features, a.n_classes), (60, 256, 10));
    assert!(a.x.iter().all(|v| (0.0..=1.0).contains(v)));
    assert_eq!(a.y[..3], [src.y[0]; 3]);
    assert_eq!(a, mnist_like(&src, 3, 7).unwrap());
    assert_ne!(a.x, mnist_like(&src, 3, 8).unwrap().x);
    // The ink survives the warp: every image keeps a substantial bright area.
    for i in 0..a.len() {
        let ink: f64 = a.row(i).iter().sum();
        assert!(ink > 20.0, "image {i} ink {ink}");
    }
    assert!(mnist_like(&src, 0, 7).is_err());
    let wide = optlab_problems::data::breast_cancer().unwrap();
    assert!(mnist_like(&wide, 1, 0).is_err());
}
