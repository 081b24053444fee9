//! Live progress on a terminal: a download bar with bytes and rate, spinners for loads and
//! generation. Without a terminal every constructor returns a hidden bar, so output stays quiet.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// A download bar (bytes, rate, ETA), hidden when `interactive` is false.
pub fn download_bar(interactive: bool, label: &str) -> ProgressBar {
    if !interactive {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>12} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_prefix(label.to_string());
    bar
}

/// A spinner with a message, hidden when `interactive` is false.
pub fn spinner(interactive: bool, message: &str) -> ProgressBar {
    if !interactive {
        return ProgressBar::hidden();
    }
    let spinner = ProgressBar::new_spinner();
    spinner.set_style(
        ProgressStyle::with_template("{spinner} {msg} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    spinner.set_message(message.to_string());
    spinner.enable_steady_tick(Duration::from_millis(100));
    spinner
}
