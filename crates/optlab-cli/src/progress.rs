//! Progress bars on stderr (hidden when stderr is not a terminal or with `--no-progress`).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use optlab_core::context::{NoProgress, Progress};
use std::io::IsTerminal;

/// An indicatif bar.
pub struct Bar(ProgressBar);

impl Progress for Bar {
    fn set_total(&self, total: u64) {
        self.0.set_length(total);
    }
    fn set_position(&self, pos: u64) {
        self.0.set_position(pos);
    }
    fn set_message(&self, msg: &str) {
        self.0.set_message(msg.to_string());
    }
    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

/// A bar for `label`, or nothing when disabled or not on a terminal.
pub fn make(label: &str, enabled: bool) -> Box<dyn Progress> {
    if !enabled || !std::io::stderr().is_terminal() {
        return Box::new(NoProgress);
    }
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "{prefix:.bold} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_prefix(label.to_string());
    Box::new(Bar(bar))
}
