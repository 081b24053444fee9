//! Live progress on a terminal: a download bar with bytes and rate, spinners for loads and
//! generation. Without a terminal every constructor returns a hidden bar, so output stays quiet.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// The download bar: bytes in decimal units (GB = 10^9 bytes, MB/s = 10^6 bytes per second),
/// as every table and file counts them; indicatif's plain `{bytes}` would say GiB.
const DOWNLOAD_TEMPLATE: &str = "{prefix:>12} [{bar:30}] {decimal_bytes}/{decimal_total_bytes} \
     {decimal_bytes_per_sec} ETA {eta}";

/// A download bar (bytes, rate, ETA), hidden when `interactive` is false.
pub fn download_bar(interactive: bool, label: &str) -> ProgressBar {
    if !interactive {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(DOWNLOAD_TEMPLATE)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_download_bar_counts_in_decimal_units() {
        // Every byte placeholder of the template is a decimal one.
        let placeholders: Vec<&str> = DOWNLOAD_TEMPLATE
            .split('{')
            .skip(1)
            .filter_map(|p| p.split('}').next())
            .filter(|p| p.contains("bytes"))
            .collect();
        assert_eq!(placeholders.len(), 3, "{DOWNLOAD_TEMPLATE}");
        assert!(
            placeholders.iter().all(|p| p.starts_with("decimal_")),
            "{placeholders:?}"
        );
        assert!(ProgressStyle::with_template(DOWNLOAD_TEMPLATE).is_ok());
        assert_eq!(
            indicatif::DecimalBytes(4_920_758_658).to_string(),
            "4.92 GB"
        );
    }
}
