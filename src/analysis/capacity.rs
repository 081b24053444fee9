//! The capacity search, as plain functions on the probes so far: from a start level it grows
//! geometrically until a level fails, then bisects between the highest passing and the lowest
//! failing level until the bracket is within the precision (relative to its lower bound). A
//! probe whose attainment lies within noise of the target is repeated before it is trusted,
//! and the number of probes is bounded. The search keeps no state of its own: the next level
//! is a function of the options and every probe so far, so a scenario measures, appends and
//! asks again, and a test feeds it a synthetic deployment.

use crate::results::capacity::{CapacityAnswer, CapacityBy, SearchEnd};

/// How the search runs.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchOptions {
    pub by: CapacityBy,
    /// The first level probed.
    pub start: f64,
    /// The factor between levels while no level has failed (and while none has passed).
    pub growth: f64,
    /// The search stops when (fail - pass) / pass is at most this (0.10 = 10%).
    pub precision: f64,
    /// The most probes, repeats included.
    pub max_probes: u32,
    /// The share of requests that must meet the SLOs (0.95 = 95%).
    pub attainment: f64,
    /// The lowest level worth probing: below it, the answer is "below the lowest level".
    pub lowest: f64,
    /// How often a level whose attainment is within noise of the target is probed again.
    pub repeats: u32,
}

impl SearchOptions {
    /// The defaults for a search counted `by` rate or concurrency, with the given SLO
    /// attainment target.
    pub fn new(by: CapacityBy, attainment: f64) -> Self {
        let (start, lowest) = match by {
            CapacityBy::Rate => (1.0, 0.01),
            CapacityBy::Concurrency => (1.0, 1.0),
        };
        SearchOptions {
            by,
            start,
            growth: 2.0,
            precision: 0.10,
            max_probes: 12,
            attainment,
            lowest,
            repeats: 1,
        }
    }
}

/// What one probe found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProbeOutcome {
    pub level: f64,
    /// Whether the level met the SLOs at the required attainment.
    pub passed: bool,
    /// The share of requests that met every SLO (0..=1), when known.
    pub attainment: Option<f64>,
    /// Whether the result lies within noise of a threshold (see [`within_noise`]), so that one
    /// probe is not to be trusted.
    pub marginal: bool,
}

/// The standard error of a share measured on `judged` requests, taken at the threshold: a
/// level that truly sits at the threshold shows a share within about this of it.
pub fn binomial_noise(threshold: f64, judged: u64) -> Option<f64> {
    (judged > 0).then(|| (threshold * (1.0 - threshold) / judged as f64).sqrt())
}

/// Whether a `share` (0..=1) of `judged` requests lies within one binomial standard error of
/// `threshold`: an attainment near its target, or the share of requests under a percentile
/// objective's limit near that percentile (95% for `:p95`). A threshold of 100% has no noise:
/// one miss fails it for certain.
pub fn within_noise(share: f64, threshold: f64, judged: u64) -> bool {
    binomial_noise(threshold, judged).is_some_and(|noise| (share - threshold).abs() < noise)
}

/// What to do next.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// Measure this level (again, when it is the last one probed).
    Probe(f64),
    /// The search is over.
    Done(CapacityAnswer),
}

/// The next step of the search, given every probe so far in the order they ran.
pub fn next_step(options: &SearchOptions, probes: &[ProbeOutcome]) -> Next {
    let Some(last) = probes.last() else {
        return Next::Probe(normalize(options, options.start.max(options.lowest)));
    };
    let budget_left = (probes.len() as u32) < options.max_probes;
    let bracket = bracket(options, probes);
    let answer = |end| Next::Done(answer_from(bracket, probes.len(), end));
    let probed_at_last = probes.iter().filter(|p| same(p.level, last.level)).count();
    if last.marginal && probed_at_last <= options.repeats as usize {
        return if budget_left {
            Next::Probe(last.level)
        } else {
            answer(SearchEnd::ProbeBound)
        };
    }
    let (next, end_without_budget) = match bracket {
        (Some(pass), Some(fail)) => {
            if (fail - pass) / pass <= options.precision {
                return answer(SearchEnd::Bracketed);
            }
            let middle = normalize(options, (pass + fail) / 2.0);
            if middle <= pass || middle >= fail {
                // Whole concurrencies next to each other: nothing lies between them.
                return answer(SearchEnd::Bracketed);
            }
            (middle, SearchEnd::ProbeBound)
        }
        (Some(pass), None) => {
            let higher = normalize(options, pass * options.growth).max(pass + step(options));
            (higher, SearchEnd::NoFailure)
        }
        (None, Some(fail)) => {
            let lower = normalize(options, fail / options.growth);
            if lower < options.lowest || lower >= fail {
                return answer(SearchEnd::BelowLowest);
            }
            (lower, SearchEnd::ProbeBound)
        }
        (None, None) => unreachable!("a probe was run, so a level has a verdict"),
    };
    if budget_left {
        Next::Probe(next)
    } else {
        answer(end_without_budget)
    }
}

/// The answer the probes so far give, when something other than the search ends it
/// (Ctrl-C).
pub fn answer_so_far(
    options: &SearchOptions,
    probes: &[ProbeOutcome],
    end: SearchEnd,
) -> CapacityAnswer {
    answer_from(bracket(options, probes), probes.len(), end)
}

fn answer_from(
    bracket: (Option<f64>, Option<f64>),
    probes: usize,
    end: SearchEnd,
) -> CapacityAnswer {
    let (pass, fail) = bracket;
    CapacityAnswer {
        capacity: pass,
        bracket_pass: pass,
        bracket_fail: fail,
        probes: probes as u32,
        end,
    }
}

/// The highest passing level below the lowest failing one, and that failing level. A level
/// probed more than once passes by the majority of its probes; a tie goes to the pooled
/// attainment when known, else to failing. A pass above a failing level (noise, or a server
/// that recovered) does not move the bracket: the search trusts the lowest failure.
fn bracket(options: &SearchOptions, probes: &[ProbeOutcome]) -> (Option<f64>, Option<f64>) {
    let mut levels: Vec<f64> = Vec::new();
    for probe in probes {
        if !levels.iter().any(|&l| same(l, probe.level)) {
            levels.push(probe.level);
        }
    }
    let verdicts: Vec<(f64, bool)> = levels
        .into_iter()
        .map(|level| {
            let at: Vec<&ProbeOutcome> = probes.iter().filter(|p| same(p.level, level)).collect();
            (level, level_passes(options, &at))
        })
        .collect();
    let fail = verdicts
        .iter()
        .filter(|(_, passed)| !passed)
        .map(|(level, _)| *level)
        .reduce(f64::min);
    let pass = verdicts
        .iter()
        .filter(|(level, passed)| *passed && fail.is_none_or(|f| *level < f))
        .map(|(level, _)| *level)
        .reduce(f64::max);
    (pass, fail)
}

fn level_passes(options: &SearchOptions, probes: &[&ProbeOutcome]) -> bool {
    let passes = probes.iter().filter(|p| p.passed).count();
    let fails = probes.len() - passes;
    if passes != fails {
        return passes > fails;
    }
    let attainments: Option<Vec<f64>> = probes.iter().map(|p| p.attainment).collect();
    match attainments {
        Some(values) if !values.is_empty() => {
            values.iter().sum::<f64>() / values.len() as f64 >= options.attainment
        }
        _ => false,
    }
}

/// Levels the search may probe: whole concurrencies of at least one.
fn normalize(options: &SearchOptions, level: f64) -> f64 {
    match options.by {
        CapacityBy::Rate => level,
        CapacityBy::Concurrency => level.round().max(1.0),
    }
}

/// The smallest step between two levels while growing.
fn step(options: &SearchOptions) -> f64 {
    match options.by {
        CapacityBy::Rate => 0.0,
        CapacityBy::Concurrency => 1.0,
    }
}

fn same(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the search against a synthetic deployment (`probe` says what each level
    /// measures), and returns the answer and the levels probed.
    fn search(
        options: &SearchOptions,
        mut probe: impl FnMut(f64) -> ProbeOutcome,
    ) -> (CapacityAnswer, Vec<f64>) {
        let mut probes = Vec::new();
        loop {
            match next_step(options, &probes) {
                Next::Probe(level) => probes.push(probe(level)),
                Next::Done(answer) => {
                    return (answer, probes.iter().map(|p| p.level).collect());
                }
            }
            assert!(probes.len() <= 100, "the search does not end: {probes:?}");
        }
    }

    fn clear_cut(capacity: f64) -> impl FnMut(f64) -> ProbeOutcome {
        move |level| ProbeOutcome {
            level,
            passed: level <= capacity,
            attainment: None,
            marginal: false,
        }
    }

    fn rate() -> SearchOptions {
        SearchOptions::new(CapacityBy::Rate, 0.95)
    }

    #[test]
    fn grows_until_a_failure_then_bisects_to_the_precision() {
        let (answer, levels) = search(&rate(), clear_cut(3.3));
        assert_eq!(&levels[..3], &[1.0, 2.0, 4.0]);
        assert_eq!(levels[3], 3.0, "bisects between 2 and 4");
        assert_eq!(answer.end, SearchEnd::Bracketed);
        let (pass, fail) = (answer.bracket_pass.unwrap(), answer.bracket_fail.unwrap());
        assert!(pass <= 3.3 && 3.3 < fail, "{answer:?}");
        assert!((fail - pass) / pass <= 0.10, "{answer:?}");
        assert_eq!(answer.capacity, Some(pass));
        assert_eq!(answer.probes as usize, levels.len());
        // 1, 2, 4, 3, 3.5, 3.25: the bracket 3.25-3.5 is within 10% of 3.25.
        assert_eq!(levels, [1.0, 2.0, 4.0, 3.0, 3.5, 3.25]);
    }

    #[test]
    fn a_finer_precision_takes_more_probes() {
        let coarse = search(&rate(), clear_cut(3.3)).0;
        let fine = search(
            &SearchOptions {
                precision: 0.01,
                ..rate()
            },
            clear_cut(3.3),
        )
        .0;
        assert!(fine.probes > coarse.probes);
        let (pass, fail) = (fine.bracket_pass.unwrap(), fine.bracket_fail.unwrap());
        assert!((fail - pass) / pass <= 0.01 && pass <= 3.3 && 3.3 < fail);
    }

    #[test]
    fn a_failing_start_walks_down_until_the_lowest_level() {
        let (answer, levels) = search(&rate(), clear_cut(0.3));
        assert_eq!(&levels[..3], &[1.0, 0.5, 0.25]);
        assert_eq!(answer.end, SearchEnd::Bracketed);
        assert!(answer.capacity.unwrap() <= 0.3);

        let (answer, levels) = search(&rate(), clear_cut(0.001));
        assert_eq!(answer.end, SearchEnd::BelowLowest);
        assert_eq!(answer.capacity, None);
        let lowest = *levels.last().unwrap();
        assert!(lowest >= 0.01 && lowest / 2.0 < 0.01, "{levels:?}");
        assert_eq!(answer.bracket_fail, Some(lowest));
    }

    #[test]
    fn no_failure_up_to_the_bound_says_at_least() {
        let (answer, levels) = search(&rate(), clear_cut(f64::INFINITY));
        assert_eq!(levels.len(), 12);
        assert_eq!(answer.end, SearchEnd::NoFailure);
        assert!(answer.stopped_by_bound());
        assert_eq!(answer.capacity, Some(2048.0));
        assert_eq!(answer.bracket_fail, None);
    }

    #[test]
    fn the_bound_stops_a_bisection_and_says_so() {
        let options = SearchOptions {
            max_probes: 5,
            ..rate()
        };
        let (answer, levels) = search(&options, clear_cut(3.3));
        assert_eq!(levels.len(), 5);
        assert_eq!(answer.end, SearchEnd::ProbeBound);
        assert!(answer.stopped_by_bound());
        assert_eq!(
            (answer.bracket_pass, answer.bracket_fail),
            (Some(3.0), Some(3.5))
        );
    }

    #[test]
    fn concurrency_levels_are_whole_and_adjacent_ones_end_the_search() {
        let options = SearchOptions::new(CapacityBy::Concurrency, 0.95);
        let (answer, levels) = search(&options, clear_cut(5.0));
        assert!(levels.iter().all(|l| l.fract() == 0.0), "{levels:?}");
        assert_eq!(answer.end, SearchEnd::Bracketed);
        assert_eq!(
            (answer.bracket_pass, answer.bracket_fail),
            (Some(5.0), Some(6.0))
        );

        let (answer, _) = search(&options, clear_cut(0.5));
        assert_eq!(answer.end, SearchEnd::BelowLowest);
        assert_eq!(answer.bracket_fail, Some(1.0));
    }

    #[test]
    fn a_probe_within_noise_is_repeated_once_and_the_repeat_decides() {
        // At level 4 the attainment of 100 requests is 94%: within noise (2.2%) of 95%. Its
        // repeat measures 97%: the level passes on the pooled attainment (95.5%).
        let mut calls_at_4 = 0;
        let probe = |level: f64| {
            let attainment = if level < 4.0 {
                1.0
            } else if level > 4.0 {
                0.5
            } else {
                calls_at_4 += 1;
                if calls_at_4 == 1 {
                    0.94
                } else {
                    0.97
                }
            };
            ProbeOutcome {
                level,
                passed: attainment >= 0.95,
                attainment: Some(attainment),
                marginal: within_noise(attainment, 0.95, 100),
            }
        };
        let (answer, levels) = search(&rate(), probe);
        assert_eq!(
            &levels[..4],
            &[1.0, 2.0, 4.0, 4.0],
            "level 4 is probed twice"
        );
        assert_eq!(levels.iter().filter(|&&l| l == 4.0).count(), 2);
        assert_eq!(levels[4], 8.0, "4 passed on the pooled attainment");
        assert!(answer.capacity.unwrap() >= 4.0);
    }

    #[test]
    fn a_clear_probe_is_trusted_at_once() {
        let probe = |level: f64| ProbeOutcome {
            level,
            passed: level <= 3.3,
            attainment: Some(if level <= 3.3 { 0.99 } else { 0.80 }),
            marginal: false,
        };
        let (_, levels) = search(&rate(), probe);
        assert_eq!(levels, [1.0, 2.0, 4.0, 3.0, 3.5, 3.25]);
    }

    #[test]
    fn the_lowest_failure_holds_the_bracket_against_a_pass_above_it() {
        let probes = [
            ProbeOutcome {
                level: 1.0,
                passed: true,
                attainment: None,
                marginal: false,
            },
            ProbeOutcome {
                level: 2.0,
                passed: false,
                attainment: None,
                marginal: false,
            },
            ProbeOutcome {
                level: 4.0,
                passed: true,
                attainment: None,
                marginal: false,
            },
        ];
        let answer = answer_so_far(&rate(), &probes, SearchEnd::Interrupted);
        assert_eq!(
            (answer.bracket_pass, answer.bracket_fail),
            (Some(1.0), Some(2.0))
        );
        assert_eq!(answer.probes, 3);
    }

    #[test]
    fn binomial_noise_shrinks_with_the_requests_judged() {
        assert_eq!(binomial_noise(0.95, 0), None);
        let noise = binomial_noise(0.95, 100).unwrap();
        assert!((noise - 0.0218).abs() < 0.001, "{noise}");
        assert!(binomial_noise(0.95, 400).unwrap() < noise / 1.9);
        assert!(within_noise(0.94, 0.95, 100) && !within_noise(0.90, 0.95, 100));
        assert!(
            !within_noise(0.94, 0.95, 0),
            "nothing judged is no evidence either way"
        );
    }
}
