//! Hardware profiles of the simulator: GPU memory, decode and prompt speed, and the
//! bandwidths of the network (registry downloads), the storage (cold loads, download write-back)
//! and the page cache (warm loads).
//!
//! The `t4` numbers are calibrated so that, at time scale 1, a single user's download, cold load,
//! warm load and decode speed of the reference models land inside the reference's "Expected
//! Results (T4 GPU)" table. Downloads are network plus storage write, as the reference says:
//! the first `write_back_buffer_bytes` go at network speed into dirty page cache, after which the
//! storage write speed limits them. That is why a 1.6 GB model downloads at a higher average rate
//! than a 4.9 GB one.

/// One simulated machine.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// `t4`, `a100`, `h100`, `cpu`.
    pub name: &'static str,
    /// One line for `--help` and logs.
    pub description: &'static str,
    /// GPU memory in bytes; 0 for `cpu` (models then live in system memory, `size_vram` 0).
    pub gpu_memory_bytes: u64,
    /// GPU memory bandwidth (informational: decode speed comes from `decode_speedup`).
    pub gpu_memory_bandwidth_bytes_per_second: f64,
    /// Host memory: the CPU profile's model memory, and what bounds the page cache.
    pub system_memory_bytes: u64,
    /// Page cache available to model files (warm loads read from it).
    pub page_cache_bytes: u64,
    /// Registry download bandwidth (aggregate over all downloads).
    pub network_bytes_per_second: f64,
    /// Dirty page cache that absorbs downloads at network speed before storage limits them.
    pub write_back_buffer_bytes: f64,
    /// Sustained storage write bandwidth for one writer.
    pub storage_write_bytes_per_second: f64,
    /// Sustained storage read bandwidth for one reader (cold loads).
    pub storage_read_bytes_per_second: f64,
    /// First-access latency of a cold load (mount, metadata, first read).
    pub storage_latency_seconds: f64,
    /// Page cache to accelerator bandwidth (warm loads).
    pub page_cache_bytes_per_second: f64,
    /// Fixed runner start and GPU initialisation time of every load.
    pub gpu_init_seconds: f64,
    /// Aggregate efficiency floor of shared storage: n concurrent users of the disk get
    /// `floor + (1 - floor) / sqrt(n)` of its bandwidth together (seeks, interleaved I/O).
    pub storage_contention_floor: f64,
    /// Decode speed relative to the T4 numbers of the catalogue.
    pub decode_speedup: f64,
    /// Prompt evaluation speed relative to the T4.
    pub prompt_speedup: f64,
}

impl Profile {
    /// Whether models run on a GPU (otherwise `size_vram` is 0).
    pub fn has_gpu(&self) -> bool {
        self.gpu_memory_bytes > 0
    }

    /// Memory models are loaded into: GPU memory, or system memory on `cpu`.
    pub fn model_memory_bytes(&self) -> u64 {
        if self.has_gpu() {
            self.gpu_memory_bytes
        } else {
            self.system_memory_bytes
        }
    }
}

const GIB: u64 = 1 << 30;
const MB: f64 = 1e6;
const GB: f64 = 1e9;

static PROFILES: [Profile; 4] = [
    Profile {
        name: "t4",
        description: "NVIDIA T4 (16 GB, 320 GB/s) on a cloud node with premium network storage",
        gpu_memory_bytes: 15 * GIB,
        gpu_memory_bandwidth_bytes_per_second: 320.0 * GB,
        system_memory_bytes: 28 * GIB,
        page_cache_bytes: 14 * GIB,
        network_bytes_per_second: 220.0 * MB,
        write_back_buffer_bytes: 0.6 * GB,
        storage_write_bytes_per_second: 120.0 * MB,
        storage_read_bytes_per_second: 330.0 * MB,
        storage_latency_seconds: 1.85,
        page_cache_bytes_per_second: 2.75 * GB,
        gpu_init_seconds: 1.2,
        storage_contention_floor: 0.4,
        decode_speedup: 1.0,
        prompt_speedup: 1.0,
    },
    Profile {
        name: "a100",
        description: "NVIDIA A100 (80 GB, 2 TB/s) with local NVMe storage",
        gpu_memory_bytes: 80 * GIB,
        gpu_memory_bandwidth_bytes_per_second: 2039.0 * GB,
        system_memory_bytes: 220 * GIB,
        page_cache_bytes: 160 * GIB,
        network_bytes_per_second: 500.0 * MB,
        write_back_buffer_bytes: 4.0 * GB,
        storage_write_bytes_per_second: 900.0 * MB,
        storage_read_bytes_per_second: 1800.0 * MB,
        storage_latency_seconds: 0.3,
        page_cache_bytes_per_second: 12.0 * GB,
        gpu_init_seconds: 1.0,
        storage_contention_floor: 0.6,
        decode_speedup: 2.6,
        prompt_speedup: 5.0,
    },
    Profile {
        name: "h100",
        description: "NVIDIA H100 (80 GB, 3.35 TB/s) with local NVMe storage",
        gpu_memory_bytes: 80 * GIB,
        gpu_memory_bandwidth_bytes_per_second: 3350.0 * GB,
        system_memory_bytes: 440 * GIB,
        page_cache_bytes: 320 * GIB,
        network_bytes_per_second: 1000.0 * MB,
        write_back_buffer_bytes: 8.0 * GB,
        storage_write_bytes_per_second: 1500.0 * MB,
        storage_read_bytes_per_second: 3000.0 * MB,
        storage_latency_seconds: 0.2,
        page_cache_bytes_per_second: 20.0 * GB,
        gpu_init_seconds: 0.8,
        storage_contention_floor: 0.6,
        decode_speedup: 3.6,
        prompt_speedup: 9.0,
    },
    Profile {
        name: "cpu",
        description: "CPU only (16 cores, 64 GB): models in system memory, slow decode",
        gpu_memory_bytes: 0,
        gpu_memory_bandwidth_bytes_per_second: 0.0,
        system_memory_bytes: 64 * GIB,
        page_cache_bytes: 24 * GIB,
        network_bytes_per_second: 220.0 * MB,
        write_back_buffer_bytes: 2.0 * GB,
        storage_write_bytes_per_second: 250.0 * MB,
        storage_read_bytes_per_second: 500.0 * MB,
        storage_latency_seconds: 0.5,
        page_cache_bytes_per_second: 4.0 * GB,
        gpu_init_seconds: 0.3,
        storage_contention_floor: 0.5,
        decode_speedup: 0.16,
        prompt_speedup: 0.06,
    },
];

/// Every profile, `t4` first.
pub fn profiles() -> &'static [Profile] {
    &PROFILES
}

/// The profile with this name.
pub fn find_profile(name: &str) -> Option<&'static Profile> {
    PROFILES.iter().find(|p| p.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_profile_exists() {
        for name in crate::sim::PROFILES {
            assert!(find_profile(name).is_some(), "{name}");
        }
        assert_eq!(profiles().len(), crate::sim::PROFILES.len());
    }

    #[test]
    fn cpu_has_no_gpu_memory() {
        let cpu = find_profile("cpu").unwrap();
        assert!(!cpu.has_gpu());
        assert_eq!(cpu.model_memory_bytes(), cpu.system_memory_bytes);
        assert!(find_profile("t4").unwrap().has_gpu());
    }
}
