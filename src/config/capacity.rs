//! `capacity`'s options, validated: the load every probe runs (the same as `load`'s, one step
//! at a time) and how the search runs ([`SearchOptions`]: by rate or concurrency, the
//! attainment target, the precision, the start and the probe bound).

use crate::analysis::capacity::SearchOptions;
use crate::config::load::LoadOptions;
use crate::exit::UsageError;
use crate::results::capacity::CapacityBy;

/// The share of requests that must meet the SLO when `--attainment` is not given.
pub const DEFAULT_ATTAINMENT: &str = "95%";
/// How close the bracket must get, relative to its lower bound.
pub const DEFAULT_PRECISION: &str = "10%";
/// The most probes when `--max-probes` is not given.
pub const DEFAULT_MAX_PROBES: u32 = 12;
/// The most probes anyone may ask for: each probe is a whole load step.
pub const MAX_PROBES: u32 = 100;

/// Validated options of a `capacity` run.
#[derive(Debug, Clone)]
pub struct CapacityOptions {
    /// What every probe sends, how long it runs and the SLO it is judged against (its shape
    /// is unused: the search picks each step's load).
    pub load: LoadOptions,
    pub search: SearchOptions,
}

/// A percentage written with its sign (`95%`, `2.5%`) as a fraction; `flag` names it in the
/// error. A bare number is refused: `0.95` and `95` would each be read wrongly by someone.
pub fn parse_percent(flag: &str, text: &str, allow_hundred: bool) -> anyhow::Result<f64> {
    let trimmed = text.trim();
    let range = if allow_hundred {
        "above 0% and at most 100%"
    } else {
        "above 0% and below 100%"
    };
    let Some(number) = trimmed.strip_suffix('%') else {
        return Err(UsageError::err(format!(
            "{flag} takes a percentage with its sign, such as {}, got '{text}'",
            if flag == "--precision" { "10%" } else { "95%" }
        )));
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| UsageError::err(format!("{flag}: '{text}' is not a percentage ({range})")))?;
    let fits =
        value.is_finite() && value > 0.0 && (value < 100.0 || allow_hundred && value == 100.0);
    if !fits {
        return Err(UsageError::err(format!(
            "{flag} must be {range}, got '{text}'"
        )));
    }
    Ok(value / 100.0)
}

/// The search's options from the flags' texts.
pub fn search_options(
    by: CapacityBy,
    attainment: &str,
    precision: &str,
    start: Option<f64>,
    max_probes: u32,
) -> anyhow::Result<SearchOptions> {
    let mut options = SearchOptions::new(by, parse_percent("--attainment", attainment, true)?);
    options.precision = parse_percent("--precision", precision, false)?;
    if let Some(start) = start {
        let whole = by == CapacityBy::Rate || start.fract() == 0.0;
        if !(start.is_finite() && start >= options.lowest && whole) {
            return Err(UsageError::err(match by {
                CapacityBy::Rate => format!(
                    "--start must be a request rate of at least {} req/s, got {start}",
                    options.lowest
                ),
                CapacityBy::Concurrency => format!(
                    "--start must be a whole number of concurrent requests (1 or more) with --by concurrency, got {start}"
                ),
            }));
        }
        options.start = start;
    }
    if !(1..=MAX_PROBES).contains(&max_probes) {
        return Err(UsageError::err(format!(
            "--max-probes must be between 1 and {MAX_PROBES}, got {max_probes}"
        )));
    }
    options.max_probes = max_probes;
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_need_their_sign_and_a_range() {
        assert_eq!(parse_percent("--attainment", "95%", true).unwrap(), 0.95);
        assert_eq!(parse_percent("--attainment", " 100% ", true).unwrap(), 1.0);
        assert_eq!(parse_percent("--precision", "2.5%", false).unwrap(), 0.025);
        for (text, hundred, expected) in [
            ("0.95", true, "percentage with its sign, such as 95%"),
            ("95", true, "percentage with its sign"),
            ("abc%", true, "not a percentage"),
            ("0%", true, "above 0%"),
            ("101%", true, "at most 100%"),
            ("100%", false, "below 100%"),
            ("NaN%", false, "below 100%"),
        ] {
            let message = parse_percent("--x", text, hundred).unwrap_err().to_string();
            assert!(message.contains(expected), "{text}: {message}");
        }
    }

    #[test]
    fn search_options_check_the_start_and_the_bound() {
        let options = search_options(CapacityBy::Rate, "90%", "5%", Some(0.5), 8).unwrap();
        assert_eq!(
            (
                options.attainment,
                options.precision,
                options.start,
                options.max_probes
            ),
            (0.9, 0.05, 0.5, 8)
        );
        let by_concurrency = search_options(CapacityBy::Concurrency, "95%", "10%", None, 12);
        assert_eq!(by_concurrency.unwrap().start, 1.0);
        for (by, start, probes) in [
            (CapacityBy::Concurrency, Some(1.5), 12),
            (CapacityBy::Rate, Some(0.0), 12),
            (CapacityBy::Rate, None, 0),
            (CapacityBy::Rate, None, 1000),
        ] {
            assert!(search_options(by, "95%", "10%", start, probes).is_err());
        }
    }
}
