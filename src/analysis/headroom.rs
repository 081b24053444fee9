//! Hardware headroom of decode: generating one token reads every weight once, so a GPU's memory
//! bandwidth divided by the model's loaded size bounds the tokens per second of one stream.
//! The measured rate as a percentage of that ceiling says how close a run came to the
//! hardware's limit (a single stream typically reaches 50-80%; far less points at CPU
//! fallback, throttling or contention).
//!
//! The loaded size (`/api/ps` `size`) includes the KV cache and buffers, not only the weights,
//! so the ceiling is approximate (a little low for short contexts).

/// A GPU ollabench knows the memory bandwidth of.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gpu {
    /// The model, as vendors name it (`A100 80GB SXM`).
    pub name: &'static str,
    /// Peak memory bandwidth in GB/s (10^9 bytes per second).
    pub bandwidth_gb_per_s: f64,
}

/// Peak memory bandwidth from NVIDIA's data sheets, most specific first within a family:
/// T4 "320+ GB/s" (T4 Tensor Core GPU data sheet); L4 300 GB/s (L4 data sheet); A10 600 GB/s
/// (A10 data sheet); A100 40GB 1,555 GB/s, 80GB PCIe 1,935 GB/s, 80GB SXM 2,039 GB/s (A100
/// data sheet); H100 SXM 3.35 TB/s, PCIe 2 TB/s, NVL 3.9 TB/s (H100 data sheet); H200 4.8 TB/s
/// (H200 data sheet). Each entry: family token, tokens that must all appear, the GPU.
const TABLE: [(&str, &[&str], Gpu); 10] = [
    ("T4", &[], gpu("T4", 320.0)),
    ("L4", &[], gpu("L4", 300.0)),
    ("A10", &[], gpu("A10", 600.0)),
    ("A100", &["80GB", "PCIE"], gpu("A100 80GB PCIe", 1935.0)),
    ("A100", &["80GB"], gpu("A100 80GB SXM", 2039.0)),
    ("A100", &[], gpu("A100 40GB", 1555.0)),
    ("H100", &["PCIE"], gpu("H100 PCIe", 2000.0)),
    ("H100", &["NVL"], gpu("H100 NVL", 3900.0)),
    ("H100", &[], gpu("H100 SXM", 3350.0)),
    ("H200", &[], gpu("H200", 4800.0)),
];

const fn gpu(name: &'static str, bandwidth_gb_per_s: f64) -> Gpu {
    Gpu {
        name,
        bandwidth_gb_per_s,
    }
}

/// The GPU a name denotes, as nvidia-smi (`NVIDIA A100-SXM4-80GB`, `Tesla T4`) or a node
/// label (`NVIDIA-H100-80GB-HBM3`) spells it; `None` for a GPU not in the table.
pub fn find_gpu(name: &str) -> Option<Gpu> {
    let upper = name.to_ascii_uppercase();
    let tokens: Vec<&str> = upper
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|t| !t.is_empty())
        .collect();
    TABLE
        .iter()
        .find(|(family, required, _)| {
            tokens.contains(family) && required.iter().all(|r| tokens.contains(r))
        })
        .map(|(_, _, gpu)| *gpu)
}

/// The decode ceiling in tokens per second: bandwidth over the bytes read per token.
pub fn ceiling_tokens_per_second(gpu: &Gpu, loaded_model_bytes: u64) -> Option<f64> {
    (loaded_model_bytes > 0).then(|| gpu.bandwidth_gb_per_s * 1e9 / loaded_model_bytes as f64)
}

/// How close a decode rate came to the hardware's limit.
#[derive(Debug, Clone, PartialEq)]
pub enum Headroom {
    Known {
        gpu: Gpu,
        ceiling_tokens_per_second: f64,
        measured_tokens_per_second: f64,
        /// Measured as a percentage of the ceiling.
        percent_of_ceiling: f64,
    },
    /// The GPU is not in the table: no ceiling is claimed.
    UnknownGpu(String),
    /// The loaded size is unknown or zero.
    UnknownModelSize,
}

impl std::fmt::Display for Headroom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Headroom::Known {
                gpu,
                ceiling_tokens_per_second,
                measured_tokens_per_second,
                percent_of_ceiling,
            } => write!(
                f,
                "{measured_tokens_per_second:.1} tok/s is {percent_of_ceiling:.0}% of the \
                 {} memory-bandwidth ceiling ({ceiling_tokens_per_second:.1} tok/s at {:.0} GB/s)",
                gpu.name, gpu.bandwidth_gb_per_s
            ),
            Headroom::UnknownGpu(name) => write!(
                f,
                "no headroom: the memory bandwidth of GPU '{name}' is unknown (known: T4, L4, \
                 A10, A100, H100, H200)"
            ),
            Headroom::UnknownModelSize => {
                write!(f, "no headroom: the model's loaded size is unknown")
            }
        }
    }
}

/// The headroom of `measured` tok/s of a model of `loaded_model_bytes` on the GPU `gpu_name`.
pub fn decode_headroom(gpu_name: &str, loaded_model_bytes: u64, measured: f64) -> Headroom {
    let Some(gpu) = find_gpu(gpu_name) else {
        return Headroom::UnknownGpu(gpu_name.to_string());
    };
    match ceiling_tokens_per_second(&gpu, loaded_model_bytes) {
        Some(ceiling) => Headroom::Known {
            gpu,
            ceiling_tokens_per_second: ceiling,
            measured_tokens_per_second: measured,
            percent_of_ceiling: 100.0 * measured / ceiling,
        },
        None => Headroom::UnknownModelSize,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_as_nvidia_smi_and_node_labels_spell_them() {
        let bandwidth = |name: &str| find_gpu(name).map(|g| g.bandwidth_gb_per_s);
        assert_eq!(bandwidth("Tesla T4"), Some(320.0));
        assert_eq!(bandwidth("Tesla-T4"), Some(320.0));
        assert_eq!(bandwidth("NVIDIA L4"), Some(300.0));
        assert_eq!(bandwidth("NVIDIA A10"), Some(600.0));
        assert_eq!(bandwidth("NVIDIA A100-SXM4-80GB"), Some(2039.0));
        assert_eq!(bandwidth("NVIDIA A100 80GB PCIe"), Some(1935.0));
        assert_eq!(bandwidth("NVIDIA A100-PCIE-40GB"), Some(1555.0));
        assert_eq!(bandwidth("NVIDIA H100 80GB HBM3"), Some(3350.0));
        assert_eq!(bandwidth("NVIDIA-H100-PCIe"), Some(2000.0));
        assert_eq!(bandwidth("NVIDIA H100 NVL"), Some(3900.0));
        assert_eq!(bandwidth("NVIDIA H200"), Some(4800.0));
        assert_eq!(bandwidth("NVIDIA A10G"), None);
        assert_eq!(bandwidth("NVIDIA GeForce RTX 4090"), None);
    }

    #[test]
    fn ceiling_and_percentage_by_hand() {
        // T4, llama3.1:8b loaded at 4.9 GB: 320e9 / 4.9e9 = 65.306 tok/s; 42.5 tok/s measured
        // is 42.5 / 65.306 = 65.08%.
        let Headroom::Known {
            ceiling_tokens_per_second,
            percent_of_ceiling,
            ..
        } = decode_headroom("Tesla T4", 4_900_000_000, 42.5)
        else {
            panic!("T4 is known");
        };
        assert!((ceiling_tokens_per_second - 65.306_122).abs() < 1e-5);
        assert!((percent_of_ceiling - 65.078_125).abs() < 1e-5);
        // H200, 16 GB: 4800 / 16 = 300 tok/s; 150 measured is 50%.
        let headroom = decode_headroom("NVIDIA H200", 16_000_000_000, 150.0);
        assert_eq!(
            headroom.to_string(),
            "150.0 tok/s is 50% of the H200 memory-bandwidth ceiling (300.0 tok/s at 4800 GB/s)"
        );
    }

    #[test]
    fn unknown_gpus_and_sizes_say_so() {
        let unknown = decode_headroom("NVIDIA GeForce RTX 4090", 4_900_000_000, 80.0);
        assert_eq!(
            unknown,
            Headroom::UnknownGpu("NVIDIA GeForce RTX 4090".into())
        );
        assert!(unknown.to_string().contains("is unknown"));
        assert_eq!(
            decode_headroom("Tesla T4", 0, 40.0),
            Headroom::UnknownModelSize
        );
    }
}
