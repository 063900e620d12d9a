//! The embedded fortune files: entry counts equal the Debian `.dat` index counts.
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
