//! The simulator's stand-in for `nvidia-smi`: `GET /debug/gpu` answers what
//! `nvidia-smi --query-gpu=FIELDS --format=csv` prints, computed from the simulator's state, so
//! that GPU diagnostics and telemetry are tested without a GPU.
//!
//! Memory used is the VRAM part of every loaded model (what `/api/ps` says as `size_vram`);
//! utilisation follows the streams decoding right now; power, temperature and the SM clock
//! follow utilisation between the card's idle and full-load figures. The `cpu` profile has no
//! GPU and answers as `nvidia-smi` does on a machine without a driver.
//!
//! Parameters: `query` (nvidia-smi's field names, comma-separated; default every field this
//! source knows) and `format` (`csv`, optionally with `noheader` and `nounits`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::response::Response;

use super::profile::Profile;
use super::streaming::bytes_response;
use super::Sim;

/// Every field this source answers, in nvidia-smi's names, and the unit it prints after each.
pub(crate) const FIELDS: [(&str, Option<&str>); 7] = [
    ("name", None),
    ("utilization.gpu", Some("%")),
    ("memory.used", Some("MiB")),
    ("memory.total", Some("MiB")),
    ("power.draw", Some("W")),
    ("temperature.gpu", None),
    ("clocks.sm", Some("MHz")),
];

/// A card's figures: what nvidia-smi calls it, idle and full-load power (W), idle and boost SM
/// clock (MHz). Power limits are the vendor's TDPs (T4 70 W, A100 SXM 400 W, H100 SXM 700 W).
struct Card {
    name: &'static str,
    idle_watts: f64,
    max_watts: f64,
    idle_mhz: u32,
    max_mhz: u32,
}

fn card(profile: &Profile) -> Option<Card> {
    let (name, idle_watts, max_watts, idle_mhz, max_mhz) = match profile.name {
        "t4" => ("Tesla T4", 10.0, 70.0, 300, 1590),
        "a100" => ("NVIDIA A100-SXM4-80GB", 50.0, 400.0, 210, 1410),
        "h100" => ("NVIDIA H100 80GB HBM3", 70.0, 700.0, 345, 1980),
        _ => return None,
    };
    profile.has_gpu().then_some(Card {
        name,
        idle_watts,
        max_watts,
        idle_mhz,
        max_mhz,
    })
}

/// One reading of the card.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reading {
    pub name: &'static str,
    pub utilization_percent: u32,
    pub memory_used_mib: u64,
    pub memory_total_mib: u64,
    pub power_watts: f64,
    pub temperature_c: u32,
    pub sm_clock_mhz: u32,
}

const MIB: u64 = 1 << 20;

/// The reading with `vram_bytes` of models loaded and `streams` decoding. nvidia-smi's
/// utilisation is the share of time a kernel ran: one decode stream keeps kernels running
/// most of the time (85%), and each more stream fills part of the remaining gaps.
pub(crate) fn reading(profile: &Profile, vram_bytes: u64, streams: usize) -> Option<Reading> {
    let card = card(profile)?;
    let busy = 1.0 - 0.15f64.powi(i32::try_from(streams).unwrap_or(i32::MAX));
    let utilization_percent = (busy * 100.0).round() as u32;
    let share = f64::from(utilization_percent) / 100.0;
    Some(Reading {
        name: card.name,
        utilization_percent,
        memory_used_mib: vram_bytes.div_ceil(MIB),
        memory_total_mib: profile.gpu_memory_bytes / MIB,
        power_watts: card.idle_watts + (card.max_watts - card.idle_watts) * share,
        temperature_c: 35 + (40.0 * share).round() as u32,
        sm_clock_mhz: if streams > 0 {
            card.max_mhz
        } else {
            card.idle_mhz
        },
    })
}

impl Reading {
    fn value(&self, field: &str) -> String {
        match field {
            "name" => self.name.to_string(),
            "utilization.gpu" => self.utilization_percent.to_string(),
            "memory.used" => self.memory_used_mib.to_string(),
            "memory.total" => self.memory_total_mib.to_string(),
            "power.draw" => format!("{:.2}", self.power_watts),
            "temperature.gpu" => self.temperature_c.to_string(),
            _ => self.sm_clock_mhz.to_string(),
        }
    }
}

/// nvidia-smi's CSV of `fields`: a header line (unless `noheader`), then the values, units
/// after them unless `nounits`. An unknown field is nvidia-smi's error.
pub(crate) fn csv(
    reading: &Reading,
    fields: &[&str],
    header: bool,
    units: bool,
) -> Result<String, String> {
    let mut names = Vec::new();
    let mut values = Vec::new();
    for field in fields {
        let Some((name, unit)) = FIELDS.iter().find(|(name, _)| name == field) else {
            return Err(format!(
                "Field \"{field}\" is not a valid field to query.\n"
            ));
        };
        // The header names the unit even with `nounits`, as nvidia-smi's does.
        let value = reading.value(name);
        match unit {
            Some(unit) => {
                names.push(format!("{name} [{unit}]"));
                values.push(if units {
                    format!("{value} {unit}")
                } else {
                    value
                });
            }
            None => {
                names.push(name.to_string());
                values.push(value);
            }
        }
    }
    let mut out = String::new();
    if header {
        out.push_str(&names.join(", "));
        out.push('\n');
    }
    out.push_str(&values.join(", "));
    out.push('\n');
    Ok(out)
}

/// What nvidia-smi prints where there is no driver (the `cpu` profile).
const NO_DRIVER: &str = "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA \
    driver. Make sure that the latest NVIDIA driver is installed and running.\n";

/// `GET /debug/gpu`.
pub(crate) async fn debug_gpu(
    State(sim): State<Arc<Sim>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let vram: u64 = sim
        .scheduler
        .running()
        .iter()
        .map(|runner| runner.size_vram)
        .sum();
    let Some(reading) = reading(sim.profile, vram, sim.scheduler.decoding_streams()) else {
        return bytes_response(503, "text/plain", Bytes::from_static(NO_DRIVER.as_bytes()));
    };
    let fields: Vec<&str> = match params.get("query") {
        Some(query) => query.split(',').map(str::trim).collect(),
        None => FIELDS.iter().map(|(name, _)| *name).collect(),
    };
    let format = params.get("format").map_or("csv", String::as_str);
    let options: Vec<&str> = format.split(',').map(str::trim).collect();
    if options.first() != Some(&"csv") {
        return bytes_response(
            400,
            "text/plain",
            Bytes::from(format!(
                "Invalid format \"{format}\": this source prints csv only.\n"
            )),
        );
    }
    match csv(
        &reading,
        &fields,
        !options.contains(&"noheader"),
        !options.contains(&"nounits"),
    ) {
        Ok(text) => bytes_response(200, "text/csv", Bytes::from(text)),
        Err(message) => bytes_response(400, "text/plain", Bytes::from(message)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::find_profile;

    #[test]
    fn readings_follow_memory_and_streams() {
        let t4 = find_profile("t4").unwrap();
        let idle = reading(t4, 0, 0).unwrap();
        assert_eq!(
            idle,
            Reading {
                name: "Tesla T4",
                utilization_percent: 0,
                memory_used_mib: 0,
                memory_total_mib: 15 * 1024,
                power_watts: 10.0,
                temperature_c: 35,
                sm_clock_mhz: 300,
            }
        );
        // 5 GiB plus one byte loaded, one stream: 85% busy, 10 + 60 * 0.85 = 61 W,
        // 35 + 40 * 0.85 = 69 °C.
        let busy = reading(t4, 5 * (1 << 30) + 1, 1).unwrap();
        assert_eq!(busy.memory_used_mib, 5121);
        assert_eq!(busy.utilization_percent, 85);
        assert!((busy.power_watts - 61.0).abs() < 1e-9);
        assert_eq!(busy.temperature_c, 69);
        assert_eq!(busy.sm_clock_mhz, 1590);
        // Two streams: 1 - 0.15² = 97.75%, rounded to 98.
        assert_eq!(reading(t4, 0, 2).unwrap().utilization_percent, 98);
        assert!(reading(find_profile("cpu").unwrap(), 0, 1).is_none());
    }

    #[test]
    fn csv_is_nvidia_smis() {
        let reading = reading(find_profile("t4").unwrap(), 5 * (1 << 30), 1).unwrap();
        let all: Vec<&str> = FIELDS.iter().map(|(name, _)| *name).collect();
        assert_eq!(
            csv(&reading, &all, true, true).unwrap(),
            "name, utilization.gpu [%], memory.used [MiB], memory.total [MiB], power.draw [W], \
             temperature.gpu, clocks.sm [MHz]\nTesla T4, 85 %, 5120 MiB, 15360 MiB, 61.00 W, 69, \
             1590 MHz\n"
        );
        assert_eq!(
            csv(&reading, &["memory.used", "utilization.gpu"], false, false).unwrap(),
            "5120, 85\n"
        );
        assert!(csv(&reading, &["fan.speed"], true, true)
            .unwrap_err()
            .contains("\"fan.speed\" is not a valid field"));
    }
}
