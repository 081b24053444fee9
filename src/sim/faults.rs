//! Fault injection for tests: error status, error line mid-stream, connection cut mid-stream,
//! stall, and malformed line. Applies to generate, chat, the `/v1` completions routes and pull;
//! load-only and unload requests are never faulted.
//!
//! A rule is a kind plus a trigger, written `[PARAM@]TRIGGER` on the command line:
//! - `--fault-status 503@0.1`: reply 503 (default 500) before streaming, for 10% of requests;
//! - `--fault-error-line 5@every:3`: an `{"error":...}` line after 5 chunks (default 3), every
//!   3rd request;
//! - `--fault-cut after:10`: cut the connection after 3 chunks, every request after the 10th;
//! - `--fault-stall 2s@model:phi3.5`: stop sending for 2 s (wall clock, not scaled: stalls exist
//!   to trip client timeouts) after the first chunk, every request for phi3.5;
//! - `--fault-malformed 0.5`: one line that is not JSON after 3 chunks, then the stream goes on.
//!
//! Triggers: a probability `0.25` (seeded), `every:N`, `after:N`, `model:NAME`, `always`.
//! Each rule counts the requests it sees; the first rule that fires decides the request's fault.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::catalogue::normalize_name;
use super::keep_alive::parse_go_duration;

/// Chunks sent before a mid-stream fault strikes, unless the rule says otherwise.
pub const DEFAULT_AFTER_CHUNKS: usize = 3;
/// How long a stall lasts unless the rule says otherwise.
pub const DEFAULT_STALL: Duration = Duration::from_secs(5);

/// What goes wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultKind {
    /// This HTTP status with an error body, before anything is streamed.
    Status(u16),
    /// After `after_chunks` chunks, an `{"error":"..."}` line; then the stream ends.
    ErrorLine { after_chunks: usize },
    /// After `after_chunks` chunks the connection is cut: no final chunk, no clean end.
    Cut { after_chunks: usize },
    /// After the first chunk nothing is sent for `duration`; then the stream goes on.
    Stall { duration: Duration },
    /// After `after_chunks` chunks, one line that is not JSON; then the stream goes on.
    Malformed { after_chunks: usize },
}

/// Which requests a rule hits.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    /// Each request with this probability (seeded).
    Rate(f64),
    /// Requests N, 2N, 3N, ... that the rule sees.
    Every(u64),
    /// Every request after the first N.
    After(u64),
    /// Every request for this model (normalized name).
    Model(String),
    /// Every request.
    Always,
}

/// One fault and when it happens.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultRule {
    pub kind: FaultKind,
    pub trigger: Trigger,
}

/// The fault kinds as flags name them: `status`, `error-line`, `cut`, `stall`, `malformed`.
pub const FAULT_KINDS: &[&str] = &["status", "error-line", "cut", "stall", "malformed"];

impl FaultRule {
    /// Parses `[PARAM@]TRIGGER` for a kind named as in [`FAULT_KINDS`].
    pub fn parse(kind: &str, spec: &str) -> Result<FaultRule, String> {
        let spec = spec.trim();
        let (param, trigger) = match spec.split_once('@') {
            Some((param, trigger)) => (Some(param.trim()), trigger.trim()),
            None => (None, spec),
        };
        let chunks = |param: Option<&str>| -> Result<usize, String> {
            match param {
                None => Ok(DEFAULT_AFTER_CHUNKS),
                Some(text) => text.parse::<usize>().map_err(|_| {
                    format!(
                        "invalid --fault-{kind} '{spec}': the part before '@' is the number \
                         of chunks sent before the fault, e.g. 3@0.1"
                    )
                }),
            }
        };
        let kind = match kind {
            "status" => FaultKind::Status(match param {
                None => 500,
                Some(text) => match text.parse::<u16>() {
                    Ok(code) if (400..=599).contains(&code) => code,
                    _ => {
                        return Err(format!(
                            "invalid --fault-status '{spec}': the part before '@' is an HTTP \
                             error status from 400 to 599, e.g. 503@0.1"
                        ))
                    }
                },
            }),
            "error-line" => FaultKind::ErrorLine {
                after_chunks: chunks(param)?,
            },
            "cut" => FaultKind::Cut {
                after_chunks: chunks(param)?,
            },
            "malformed" => FaultKind::Malformed {
                after_chunks: chunks(param)?,
            },
            "stall" => FaultKind::Stall {
                duration: match param {
                    None => DEFAULT_STALL,
                    Some(text) => match parse_go_duration(text) {
                        Ok((false, duration)) => duration,
                        _ => {
                            return Err(format!(
                                "invalid --fault-stall '{spec}': the part before '@' is a \
                                 duration such as 500ms, 2s or 1m, e.g. 2s@every:5"
                            ))
                        }
                    },
                },
            },
            other => {
                return Err(format!(
                    "unknown fault kind '{other}': use one of {}",
                    FAULT_KINDS.join(", ")
                ))
            }
        };
        let trigger = Trigger::parse(trigger)
            .map_err(|why| format!("invalid --fault-{}: {why}", kind_name(&kind)))?;
        Ok(FaultRule { kind, trigger })
    }
}

fn kind_name(kind: &FaultKind) -> &'static str {
    match kind {
        FaultKind::Status(_) => "status",
        FaultKind::ErrorLine { .. } => "error-line",
        FaultKind::Cut { .. } => "cut",
        FaultKind::Stall { .. } => "stall",
        FaultKind::Malformed { .. } => "malformed",
    }
}

impl Trigger {
    /// `0.25`, `every:N`, `after:N`, `model:NAME` or `always`.
    pub fn parse(text: &str) -> Result<Trigger, String> {
        let help = "write a probability (0.1), every:N, after:N, model:NAME or always";
        if text == "always" {
            return Ok(Trigger::Always);
        }
        if let Some(n) = text.strip_prefix("every:") {
            return match n.parse::<u64>() {
                Ok(n) if n >= 1 => Ok(Trigger::Every(n)),
                _ => Err(format!(
                    "'{text}': every:N needs a whole number N of 1 or more"
                )),
            };
        }
        if let Some(n) = text.strip_prefix("after:") {
            return n
                .parse::<u64>()
                .map(Trigger::After)
                .map_err(|_| format!("'{text}': after:N needs a whole number N"));
        }
        if let Some(name) = text.strip_prefix("model:") {
            return normalize_name(name)
                .map(Trigger::Model)
                .ok_or_else(|| format!("'{text}': '{name}' is not a valid model name"));
        }
        match text.parse::<f64>() {
            Ok(p) if (0.0..=1.0).contains(&p) => Ok(Trigger::Rate(p)),
            Ok(_) => Err(format!("'{text}': a probability is between 0 and 1")),
            Err(_) => Err(format!("'{text}' is not a trigger: {help}")),
        }
    }
}

impl fmt::Display for FaultRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            FaultKind::Status(code) => write!(f, "status {code}")?,
            FaultKind::ErrorLine { after_chunks } => {
                write!(f, "error line after {after_chunks} chunks")?
            }
            FaultKind::Cut { after_chunks } => write!(f, "cut after {after_chunks} chunks")?,
            FaultKind::Stall { duration } => write!(f, "stall {duration:?}")?,
            FaultKind::Malformed { after_chunks } => {
                write!(f, "malformed line after {after_chunks} chunks")?
            }
        }
        match &self.trigger {
            Trigger::Rate(p) => write!(f, " on {:.0}% of requests", p * 100.0),
            Trigger::Every(n) => write!(f, " on every request whose number is a multiple of {n}"),
            Trigger::After(n) => write!(f, " on every request after the {n}th"),
            Trigger::Model(name) => write!(f, " on every request for {name}"),
            Trigger::Always => write!(f, " on every request"),
        }
    }
}

/// The rules of one simulator.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    pub rules: Vec<FaultRule>,
}

impl Faults {
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

/// Decides, request by request, which fault (if any) strikes.
pub(crate) struct FaultInjector {
    rules: Vec<FaultRule>,
    seen: Vec<AtomicU64>,
    rng: Mutex<StdRng>,
}

impl FaultInjector {
    pub(crate) fn new(faults: &Faults, seed: u64) -> Self {
        FaultInjector {
            rules: faults.rules.clone(),
            seen: faults.rules.iter().map(|_| AtomicU64::new(0)).collect(),
            rng: Mutex::new(StdRng::seed_from_u64(seed ^ 0x6661_756c_7473)),
        }
    }

    /// The fault for the next request for `model` (normalized name), if one strikes.
    pub(crate) fn decide(&self, model: &str) -> Option<FaultKind> {
        let mut chosen = None;
        for (rule, seen) in self.rules.iter().zip(&self.seen) {
            let n = seen.fetch_add(1, Ordering::Relaxed) + 1;
            let fires = match &rule.trigger {
                Trigger::Rate(p) => {
                    let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
                    rng.gen::<f64>() < *p
                }
                Trigger::Every(k) => n % k == 0,
                Trigger::After(k) => n > *k,
                Trigger::Model(name) => normalize_name(model).as_deref() == Some(name.as_str()),
                Trigger::Always => true,
            };
            if fires && chosen.is_none() {
                chosen = Some(rule.kind.clone());
            }
        }
        chosen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_with_and_without_a_parameter() {
        let rule = FaultRule::parse("status", "503@0.25").unwrap();
        assert_eq!(rule.kind, FaultKind::Status(503));
        assert_eq!(rule.trigger, Trigger::Rate(0.25));
        assert_eq!(
            FaultRule::parse("status", "always").unwrap().kind,
            FaultKind::Status(500)
        );
        assert_eq!(
            FaultRule::parse("cut", "5@every:3").unwrap(),
            FaultRule {
                kind: FaultKind::Cut { after_chunks: 5 },
                trigger: Trigger::Every(3)
            }
        );
        assert_eq!(
            FaultRule::parse("stall", "2s@model:phi3.5").unwrap(),
            FaultRule {
                kind: FaultKind::Stall {
                    duration: Duration::from_secs(2)
                },
                trigger: Trigger::Model("phi3.5:latest".into())
            }
        );
        assert_eq!(
            FaultRule::parse("malformed", "after:10").unwrap().kind,
            FaultKind::Malformed { after_chunks: 3 }
        );
        assert_eq!(
            FaultRule::parse("error-line", "after:10").unwrap().trigger,
            Trigger::After(10)
        );
    }

    #[test]
    fn bad_rules_say_what_to_write() {
        for (kind, spec) in [
            ("status", "200@0.1"),
            ("status", "abc@0.1"),
            ("cut", "x@always"),
            ("stall", "fast@always"),
            ("cut", "every:0"),
            ("cut", "1.5"),
            ("cut", "sometimes"),
            ("explode", "always"),
        ] {
            let err = FaultRule::parse(kind, spec).unwrap_err();
            assert!(err.contains(spec) || err.contains(kind), "{err}");
        }
    }

    #[test]
    fn triggers_fire_on_the_right_requests() {
        let faults = Faults {
            rules: vec![
                FaultRule::parse("status", "every:3").unwrap(),
                FaultRule::parse("cut", "model:gemma2:2b").unwrap(),
            ],
        };
        let injector = FaultInjector::new(&faults, 1);
        let hits: Vec<Option<FaultKind>> =
            (0..6).map(|_| injector.decide("phi3.5:latest")).collect();
        assert_eq!(hits.iter().filter(|hit| hit.is_some()).count(), 2);
        assert_eq!(hits[2], Some(FaultKind::Status(500)));
        assert_eq!(
            injector.decide("gemma2:2b"),
            Some(FaultKind::Cut { after_chunks: 3 })
        );
        let after = FaultInjector::new(
            &Faults {
                rules: vec![FaultRule::parse("malformed", "after:2").unwrap()],
            },
            1,
        );
        let fired: Vec<bool> = (0..4).map(|_| after.decide("x").is_some()).collect();
        assert_eq!(fired, [false, false, true, true]);
    }

    #[test]
    fn rates_are_seeded_and_roughly_right() {
        let faults = Faults {
            rules: vec![FaultRule::parse("cut", "0.3").unwrap()],
        };
        let run = |seed| {
            let injector = FaultInjector::new(&faults, seed);
            (0..1000)
                .map(|_| injector.decide("x").is_some())
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        let hits = run(7).iter().filter(|hit| **hit).count();
        assert!((250..350).contains(&hits), "{hits}");
    }
}
