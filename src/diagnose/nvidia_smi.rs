//! `nvidia-smi --query-gpu=... --format=csv` output, read by its header so that any field
//! order, with or without units, reads the same; `[N/A]` (a field the card does not report)
//! reads as absent.

use serde::Serialize;

/// The fields ollabench asks nvidia-smi for, in the order it asks.
pub const QUERY_FIELDS: &str =
    "name,utilization.gpu,memory.used,memory.total,power.draw,temperature.gpu,clocks.sm";

/// The `nvidia-smi` command line that reads them.
pub fn command() -> Vec<String> {
    vec![
        "nvidia-smi".to_string(),
        format!("--query-gpu={QUERY_FIELDS}"),
        "--format=csv".to_string(),
    ]
}

/// One GPU's line.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GpuSample {
    pub name: Option<String>,
    pub utilization_percent: Option<f64>,
    pub memory_used_mib: Option<f64>,
    pub memory_total_mib: Option<f64>,
    pub power_watts: Option<f64>,
    pub temperature_c: Option<f64>,
    pub sm_clock_mhz: Option<f64>,
}

/// A number without its unit (`85 %`, `61.00 W`); `[N/A]` and text are absent.
fn number(value: &str) -> Option<f64> {
    value.split_whitespace().next()?.parse().ok()
}

/// Reads nvidia-smi's CSV (with its header line) into one sample per GPU.
pub fn parse(text: &str) -> Result<Vec<GpuSample>, String> {
    let mut lines = text.lines().map(str::trim).filter(|line| !line.is_empty());
    let header = lines
        .next()
        .ok_or_else(|| "nvidia-smi printed nothing".to_string())?;
    let fields: Vec<String> = header
        .split(',')
        .map(|field| {
            field
                .split('[')
                .next()
                .unwrap_or_default()
                .trim()
                .to_string()
        })
        .collect();
    if !fields.iter().any(|f| f == "utilization.gpu" || f == "name") {
        return Err(format!(
            "not nvidia-smi's CSV (no header line naming the fields): {header}"
        ));
    }
    let mut samples = Vec::new();
    for line in lines {
        let mut sample = GpuSample::default();
        for (field, value) in fields.iter().zip(line.split(',').map(str::trim)) {
            match field.as_str() {
                "name" => sample.name = Some(value.to_string()),
                "utilization.gpu" => sample.utilization_percent = number(value),
                "memory.used" => sample.memory_used_mib = number(value),
                "memory.total" => sample.memory_total_mib = number(value),
                "power.draw" => sample.power_watts = number(value),
                "temperature.gpu" => sample.temperature_c = number(value),
                "clocks.sm" => sample.sm_clock_mhz = number(value),
                _ => {}
            }
        }
        samples.push(sample);
    }
    if samples.is_empty() {
        return Err("nvidia-smi listed no GPU".to_string());
    }
    Ok(samples)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields_by_header_with_or_without_units() {
        let with_units = "name, utilization.gpu [%], memory.used [MiB], memory.total [MiB], \
             power.draw [W], temperature.gpu, clocks.sm [MHz]\n\
             Tesla T4, 85 %, 5120 MiB, 15360 MiB, 61.00 W, 69, 1590 MHz\n\
             Tesla T4, 0 %, 0 MiB, 15360 MiB, [N/A], 35, 300 MHz\n";
        let samples = parse(with_units).unwrap();
        assert_eq!(samples.len(), 2);
        assert_eq!(
            samples[0],
            GpuSample {
                name: Some("Tesla T4".into()),
                utilization_percent: Some(85.0),
                memory_used_mib: Some(5120.0),
                memory_total_mib: Some(15360.0),
                power_watts: Some(61.0),
                temperature_c: Some(69.0),
                sm_clock_mhz: Some(1590.0),
            }
        );
        assert_eq!(samples[1].power_watts, None);
        let reordered = parse("memory.used [MiB], utilization.gpu [%]\n42, 7\n").unwrap();
        assert_eq!(reordered[0].memory_used_mib, Some(42.0));
        assert_eq!(reordered[0].utilization_percent, Some(7.0));
        assert!(parse("").is_err());
        assert!(parse("Tesla T4, 85 %\n").is_err());
    }
}
