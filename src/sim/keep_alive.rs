//! `keep_alive` as Ollama reads it: a number of seconds or a Go duration string (`"5m"`, `"10s"`,
//! `"0"`); a negative value keeps the model loaded forever. Go's `time.ParseDuration` grammar and
//! error texts are reproduced, since they reach clients in 400 replies.

use std::time::Duration;

/// How long an idle model stays loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepAlive {
    /// Unload this long after the last request finishes (zero: right after it).
    For(Duration),
    /// Never unload on idleness.
    Forever,
}

impl Default for KeepAlive {
    /// Ollama's `OLLAMA_KEEP_ALIVE` default: five minutes.
    fn default() -> Self {
        KeepAlive::For(Duration::from_secs(300))
    }
}

impl KeepAlive {
    /// Zero: unload as soon as nothing uses the model.
    pub fn is_zero(&self) -> bool {
        matches!(self, KeepAlive::For(d) if d.is_zero())
    }

    /// A command-line or JSON string: a Go duration (`5m`, `-1s`) or a plain number of seconds.
    pub fn parse(text: &str) -> Result<KeepAlive, String> {
        let text = text.trim();
        if let Ok(seconds) = text.parse::<f64>() {
            return Ok(Self::from_seconds(seconds));
        }
        parse_go_duration(text).map(|(negative, duration)| {
            if negative && !duration.is_zero() {
                KeepAlive::Forever
            } else {
                KeepAlive::For(duration)
            }
        })
    }

    /// The JSON `keep_alive` field exactly as Ollama takes it: numbers are seconds (fraction
    /// dropped), strings are Go durations (a bare number string is an error there too).
    pub fn from_json(value: &serde_json::Value) -> Result<Option<KeepAlive>, String> {
        match value {
            serde_json::Value::Null => Ok(None),
            serde_json::Value::Number(number) => {
                let seconds = number.as_f64().unwrap_or(0.0);
                Ok(Some(Self::from_seconds(seconds.trunc())))
            }
            serde_json::Value::String(text) => {
                let (negative, duration) = parse_go_duration(text)?;
                Ok(Some(if negative && !duration.is_zero() {
                    KeepAlive::Forever
                } else {
                    KeepAlive::For(duration)
                }))
            }
            _ => Err("json: cannot unmarshal keep_alive: expected a number or a string".into()),
        }
    }

    fn from_seconds(seconds: f64) -> KeepAlive {
        if seconds < 0.0 {
            KeepAlive::Forever
        } else if seconds.is_finite() {
            KeepAlive::For(Duration::from_secs_f64(seconds.min(1e12)))
        } else {
            KeepAlive::Forever
        }
    }

    /// The duration in simulated seconds; `None` for forever.
    pub fn seconds(&self) -> Option<f64> {
        match self {
            KeepAlive::For(d) => Some(d.as_secs_f64()),
            KeepAlive::Forever => None,
        }
    }
}

/// Go's `time.ParseDuration`: returns whether the value was negative, and its magnitude.
pub fn parse_go_duration(text: &str) -> Result<(bool, Duration), String> {
    let quoted = serde_json::to_string(text).unwrap_or_else(|_| format!("\"{text}\""));
    let invalid = || format!("time: invalid duration {quoted}");
    let mut rest = text;
    let mut negative = false;
    if let Some(stripped) = rest.strip_prefix('-') {
        negative = true;
        rest = stripped;
    } else if let Some(stripped) = rest.strip_prefix('+') {
        rest = stripped;
    }
    if rest == "0" {
        return Ok((negative, Duration::ZERO));
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total = 0.0_f64;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number = &rest[..number_len];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(invalid());
        }
        let value: f64 = number.parse().map_err(|_| invalid())?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let nanos_per_unit = match unit {
            "" => return Err(format!("time: missing unit in duration {quoted}")),
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            other => {
                let unit_quoted =
                    serde_json::to_string(other).unwrap_or_else(|_| format!("\"{other}\""));
                return Err(format!(
                    "time: unknown unit {unit_quoted} in duration {quoted}"
                ));
            }
        };
        total += value * nanos_per_unit;
    }
    if total > 9.223_372_036_854_776e18 {
        return Err(invalid());
    }
    Ok((negative, Duration::from_nanos(total as u64)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn go_durations_parse_like_go() {
        let ok = |text: &str| parse_go_duration(text).unwrap();
        assert_eq!(ok("5m"), (false, Duration::from_secs(300)));
        assert_eq!(ok("1h30m"), (false, Duration::from_secs(5400)));
        assert_eq!(ok("1.5s"), (false, Duration::from_millis(1500)));
        assert_eq!(ok("300ms"), (false, Duration::from_millis(300)));
        assert_eq!(ok("0"), (false, Duration::ZERO));
        assert_eq!(ok("-1s"), (true, Duration::from_secs(1)));
        assert_eq!(
            parse_go_duration("300").unwrap_err(),
            "time: missing unit in duration \"300\""
        );
        assert_eq!(
            parse_go_duration("5x").unwrap_err(),
            "time: unknown unit \"x\" in duration \"5x\""
        );
        assert_eq!(
            parse_go_duration("abc").unwrap_err(),
            "time: invalid duration \"abc\""
        );
        assert!(parse_go_duration("").is_err());
    }

    #[test]
    fn keep_alive_reads_numbers_strings_and_negatives() {
        let read = |value| KeepAlive::from_json(&value).unwrap();
        assert_eq!(read(json!(null)), None);
        assert_eq!(read(json!(0)), Some(KeepAlive::For(Duration::ZERO)));
        assert_eq!(
            read(json!(10)),
            Some(KeepAlive::For(Duration::from_secs(10)))
        );
        assert_eq!(
            read(json!("10s")),
            Some(KeepAlive::For(Duration::from_secs(10)))
        );
        assert_eq!(read(json!("0")), Some(KeepAlive::For(Duration::ZERO)));
        assert_eq!(read(json!(-1)), Some(KeepAlive::Forever));
        assert_eq!(read(json!("-1m")), Some(KeepAlive::Forever));
        assert!(KeepAlive::from_json(&json!("300")).is_err());
        assert!(KeepAlive::from_json(&json!(true)).is_err());
        assert!(read(json!(0)).unwrap().is_zero());
        assert_eq!(
            KeepAlive::parse("300").unwrap(),
            KeepAlive::For(Duration::from_secs(300))
        );
        assert_eq!(KeepAlive::parse("-1").unwrap(), KeepAlive::Forever);
        assert_eq!(
            KeepAlive::parse("2m").unwrap(),
            KeepAlive::For(Duration::from_secs(120))
        );
        assert!(KeepAlive::parse("soon").is_err());
    }
}
