//! The simulator's model catalogue: the reference's models with their real sizes, architecture
//! facts (for `/api/show` and the KV-cache part of the loaded size), registry layers with fixed
//! digests, and each model's decode speed on a T4. Also Ollama's model name rules: `phi3.5`,
//! `phi3.5:latest` and `registry.ollama.ai/library/phi3.5:latest` name the same model.

use std::sync::OnceLock;

/// One layer (blob) of a model as the registry serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// `application/vnd.ollama.image.model`, `.template`, `.license`, `.params`, or the config.
    pub media_type: &'static str,
    /// `sha256:<64 hex>`.
    pub digest: String,
    pub size: u64,
}

impl Layer {
    /// The 12-hex short name of the pull status line (`pulling b179c9523d0e`).
    pub fn short_digest(&self) -> &str {
        self.digest.get(7..19).unwrap_or(&self.digest)
    }
}

/// One model of the catalogue.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogueModel {
    /// Canonical name with its tag, e.g. `llama3.1:8b`.
    pub name: &'static str,
    /// Other names of the same model, e.g. `llama3.1:latest`.
    pub aliases: &'static [&'static str],
    /// Total bytes of all layers: the `size` of `/api/tags`.
    pub size: u64,
    /// Manifest digest (64 hex, no prefix): the `digest` of `/api/tags` and `/api/ps`.
    pub digest: String,
    pub family: &'static str,
    pub families: &'static [&'static str],
    pub architecture: &'static str,
    pub parameter_size: &'static str,
    pub parameter_count: u64,
    pub quantization_level: &'static str,
    /// GGUF file type number of `general.file_type`.
    pub file_type: u32,
    /// The model's trained context length (`<arch>.context_length`).
    pub context_length: u64,
    pub embedding_length: u64,
    pub block_count: u64,
    pub head_count: u64,
    pub head_count_kv: u64,
    pub capabilities: &'static [&'static str],
    pub template: &'static str,
    pub license: &'static str,
    /// `parameters` text of `/api/show`.
    pub parameters: String,
    /// Decode speed of one stream with a short prompt on the `t4` profile.
    pub t4_tokens_per_second: f64,
    /// Registry layers in pull order: weights first, config last.
    pub layers: Vec<Layer>,
}

impl CatalogueModel {
    /// Bytes of the weights layer (what a load reads).
    pub fn weights_bytes(&self) -> u64 {
        self.layers
            .first()
            .map(|layer| layer.size)
            .unwrap_or(self.size)
    }

    /// Memory of a loaded runner: weights, the f16 KV cache of `num_ctx` tokens for each of
    /// `num_parallel` slots, and (on a GPU) the compute graph. Matches `/api/ps` `size` within a
    /// few percent (smollm2:135m on CPU: 190.9 MB real, 192.7 MB here).
    pub fn loaded_bytes(&self, num_ctx: u64, num_parallel: u64, gpu: bool) -> u64 {
        let head_dim = self.embedding_length / self.head_count.max(1);
        let kv = 2 * self.block_count * num_ctx * num_parallel * self.head_count_kv * head_dim * 2;
        let graph = if gpu {
            self.weights_bytes() / 25 + (64 << 20)
        } else {
            0
        };
        self.weights_bytes() + kv + graph
    }

    /// Whether the model can think (Ollama's `thinking` capability: deepseek-r1, qwen3):
    /// it thinks unless asked not to, and any other model refuses `think: true`.
    pub fn can_think(&self) -> bool {
        self.capabilities.contains(&"thinking")
    }

    /// Whether `name` (normalized) names this model.
    pub fn answers_to(&self, normalized: &str) -> bool {
        self.name == normalized || self.aliases.contains(&normalized)
    }
}

struct Spec {
    name: &'static str,
    aliases: &'static [&'static str],
    weights: u64,
    family: &'static str,
    architecture: &'static str,
    parameter_size: &'static str,
    parameter_count: u64,
    quantization_level: &'static str,
    file_type: u32,
    context_length: u64,
    embedding_length: u64,
    block_count: u64,
    head_count: u64,
    head_count_kv: u64,
    capabilities: &'static [&'static str],
    format: PromptFormat,
    license: &'static str,
    t4_tokens_per_second: f64,
}

/// A chat template and the stop words and sampling defaults that go with it.
struct PromptFormat {
    template: &'static str,
    /// The Modelfile's PARAMETER lines (stop words, then sampling defaults), in order.
    parameters: &'static [(&'static str, &'static str)],
}

impl PromptFormat {
    /// The `parameters` text as `ollama show` prints it: each name padded to 31 columns, stop
    /// words quoted.
    fn parameters_text(&self) -> String {
        let lines: Vec<String> = self
            .parameters
            .iter()
            .map(|&(name, value)| match name {
                "stop" => format!("{name:<31}\"{value}\""),
                _ => format!("{name:<31}{value}"),
            })
            .collect();
        lines.join("\n")
    }
}

const CHATML: PromptFormat = PromptFormat {
    template: "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}<|im_start|>assistant\n",
    parameters: &[("stop", "<|im_start|>"), ("stop", "<|im_end|>")],
};
const LLAMA3: PromptFormat = PromptFormat {
    template: "{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n{{ .Content }}<|eot_id|>{{ end }}<|start_header_id|>assistant<|end_header_id|>\n\n",
    parameters: &[("stop", "<|start_header_id|>"), ("stop", "<|end_header_id|>"), ("stop", "<|eot_id|>")],
};
const PHI3: PromptFormat = PromptFormat {
    template:
        "{{- range .Messages }}<|{{ .Role }}|>\n{{ .Content }}<|end|>\n{{ end }}<|assistant|>\n",
    parameters: &[
        ("stop", "<|end|>"),
        ("stop", "<|user|>"),
        ("stop", "<|assistant|>"),
    ],
};
const GEMMA: PromptFormat = PromptFormat {
    template: "{{- range .Messages }}<start_of_turn>{{ if eq .Role \"assistant\" }}model{{ else }}{{ .Role }}{{ end }}\n{{ .Content }}<end_of_turn>\n{{ end }}<start_of_turn>model\n",
    parameters: &[("stop", "<start_of_turn>"), ("stop", "<end_of_turn>")],
};
const MISTRAL: PromptFormat = PromptFormat {
    template: "{{- range .Messages }}{{ if eq .Role \"user\" }}[INST] {{ .Content }}[/INST]{{ else }} {{ .Content }}</s>{{ end }}{{ end }}",
    parameters: &[("stop", "[INST]"), ("stop", "[/INST]")],
};
const DEEPSEEK: PromptFormat = PromptFormat {
    template: "{{- range .Messages }}{{ if eq .Role \"user\" }}<｜User｜>{{ .Content }}{{ else }}<｜Assistant｜>{{ .Content }}<｜end▁of▁sentence｜>{{ end }}{{ end }}<｜Assistant｜>",
    parameters: &[("stop", "<｜begin▁of▁sentence｜>"), ("stop", "<｜end▁of▁sentence｜>"), ("temperature", "0.6"), ("top_p", "0.95")],
};

const LLAMA_LICENSE: &str = "LLAMA 3.1 COMMUNITY LICENSE AGREEMENT";
const APACHE_LICENSE: &str = "Apache License\nVersion 2.0, January 2004";
const MIT_LICENSE: &str = "MIT License\n\nCopyright (c) Microsoft Corporation.";
const GEMMA_LICENSE: &str = "Gemma Terms of Use";

static SPECS: &[Spec] = &[
    Spec {
        name: "smollm2:135m",
        aliases: &[],
        weights: 98_362_432,
        family: "llama",
        architecture: "llama",
        parameter_size: "134.52M",
        parameter_count: 134_515_008,
        quantization_level: "Q4_1",
        file_type: 3,
        context_length: 8192,
        embedding_length: 576,
        block_count: 30,
        head_count: 9,
        head_count_kv: 3,
        capabilities: &["completion"],
        format: CHATML,
        license: "",
        t4_tokens_per_second: 240.0,
    },
    Spec {
        name: "qwen2.5:0.5b",
        aliases: &[],
        weights: 397_807_936,
        family: "qwen2",
        architecture: "qwen2",
        parameter_size: "494.03M",
        parameter_count: 494_032_768,
        quantization_level: "Q4_K_M",
        file_type: 15,
        context_length: 32768,
        embedding_length: 896,
        block_count: 24,
        head_count: 14,
        head_count_kv: 2,
        capabilities: &["completion", "tools"],
        format: CHATML,
        license: APACHE_LICENSE,
        t4_tokens_per_second: 190.0,
    },
    Spec {
        name: "llama3.2:1b",
        aliases: &[],
        weights: 1_321_082_688,
        family: "llama",
        architecture: "llama",
        parameter_size: "1.2B",
        parameter_count: 1_235_814_432,
        quantization_level: "Q8_0",
        file_type: 7,
        context_length: 131072,
        embedding_length: 2048,
        block_count: 16,
        head_count: 32,
        head_count_kv: 8,
        capabilities: &["completion", "tools"],
        format: LLAMA3,
        license: LLAMA_LICENSE,
        t4_tokens_per_second: 120.0,
    },
    Spec {
        name: "llama3.2:3b",
        aliases: &["llama3.2:latest"],
        weights: 2_019_377_376,
        family: "llama",
        architecture: "llama",
        parameter_size: "3.2B",
        parameter_count: 3_212_749_888,
        quantization_level: "Q4_K_M",
        file_type: 15,
        context_length: 131072,
        embedding_length: 3072,
        block_count: 28,
        head_count: 24,
        head_count_kv: 8,
        capabilities: &["completion", "tools"],
        format: LLAMA3,
        license: LLAMA_LICENSE,
        t4_tokens_per_second: 75.0,
    },
    Spec {
        name: "phi3.5:3.8b",
        aliases: &["phi3.5:latest"],
        weights: 2_176_177_120,
        family: "phi3",
        architecture: "phi3",
        parameter_size: "3.8B",
        parameter_count: 3_821_079_552,
        quantization_level: "Q4_0",
        file_type: 2,
        context_length: 131072,
        embedding_length: 3072,
        block_count: 32,
        head_count: 32,
        head_count_kv: 32,
        capabilities: &["completion"],
        format: PHI3,
        license: MIT_LICENSE,
        t4_tokens_per_second: 60.0,
    },
    Spec {
        name: "gemma2:2b",
        aliases: &[],
        weights: 1_629_509_152,
        family: "gemma2",
        architecture: "gemma2",
        parameter_size: "2.6B",
        parameter_count: 2_614_341_888,
        quantization_level: "Q4_0",
        file_type: 2,
        context_length: 8192,
        embedding_length: 2304,
        block_count: 26,
        head_count: 8,
        head_count_kv: 4,
        capabilities: &["completion"],
        format: GEMMA,
        license: GEMMA_LICENSE,
        t4_tokens_per_second: 65.0,
    },
    Spec {
        name: "llama3.1:8b",
        aliases: &["llama3.1:latest"],
        weights: 4_920_753_328,
        family: "llama",
        architecture: "llama",
        parameter_size: "8.0B",
        parameter_count: 8_030_261_312,
        quantization_level: "Q4_K_M",
        file_type: 15,
        context_length: 131072,
        embedding_length: 4096,
        block_count: 32,
        head_count: 32,
        head_count_kv: 8,
        capabilities: &["completion", "tools"],
        format: LLAMA3,
        license: LLAMA_LICENSE,
        t4_tokens_per_second: 45.0,
    },
    Spec {
        name: "mistral:7b",
        aliases: &["mistral:latest"],
        weights: 4_113_289_184,
        family: "llama",
        architecture: "llama",
        parameter_size: "7.2B",
        parameter_count: 7_248_023_552,
        quantization_level: "Q4_0",
        file_type: 2,
        context_length: 32768,
        embedding_length: 4096,
        block_count: 32,
        head_count: 32,
        head_count_kv: 8,
        capabilities: &["completion", "tools"],
        format: MISTRAL,
        license: APACHE_LICENSE,
        t4_tokens_per_second: 47.0,
    },
    Spec {
        name: "deepseek-r1:8b",
        aliases: &["deepseek-r1:latest"],
        weights: 5_225_375_632,
        family: "qwen3",
        architecture: "qwen3",
        parameter_size: "8.2B",
        parameter_count: 8_190_735_360,
        quantization_level: "Q4_K_M",
        file_type: 15,
        context_length: 131072,
        embedding_length: 4096,
        block_count: 36,
        head_count: 32,
        head_count_kv: 8,
        capabilities: &["completion", "thinking"],
        format: DEEPSEEK,
        license: MIT_LICENSE,
        t4_tokens_per_second: 30.0,
    },
    Spec {
        name: "deepseek-r1:7b",
        aliases: &[],
        weights: 4_683_073_184,
        family: "qwen2",
        architecture: "qwen2",
        parameter_size: "7.6B",
        parameter_count: 7_615_616_512,
        quantization_level: "Q4_K_M",
        file_type: 15,
        context_length: 131072,
        embedding_length: 3584,
        block_count: 28,
        head_count: 28,
        head_count_kv: 4,
        capabilities: &["completion", "thinking"],
        format: DEEPSEEK,
        license: MIT_LICENSE,
        t4_tokens_per_second: 32.0,
    },
];

/// The real smollm2:135m digests recorded from Ollama 0.24.0 (transcripts 02, 38b, 43b).
const SMOLLM2_MANIFEST: &str = "2c8852285167da567992397a490ca2dc798a35fd42942bfd32ffe1d5db4c433e";
const SMOLLM2_LAYERS: [(&str, &str, u64); 4] = [
    (
        "application/vnd.ollama.image.model",
        "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        98_362_432,
    ),
    (
        "application/vnd.ollama.image.template",
        "e3b2721cec511e3a627ae0993753abbf5c72cdf4cfcdbc8f5c33ce15c4c4e04b",
        102,
    ),
    (
        "application/vnd.ollama.image.params",
        "f02dd72bb2423204352eabc5637b44d79d17f109fdb510a7c51455892aa2d216",
        59,
    ),
    (
        "application/vnd.docker.container.image.v1+json",
        "220cbc2497764cc846cb46a7ed370dcd65d11018866d851aa5b6ff14279989ec",
        414,
    ),
];

/// 64 hex characters derived from `key`: stable across runs and platforms.
pub(crate) fn derived_hex(key: &str) -> String {
    // FNV-1a to seed, SplitMix64 to stretch: no crypto needed, only stability and spread.
    let mut seed: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.bytes() {
        seed ^= u64::from(byte);
        seed = seed.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut out = String::with_capacity(64);
    for _ in 0..4 {
        seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        out.push_str(&format!("{z:016x}"));
    }
    out
}

fn build(spec: &Spec) -> CatalogueModel {
    let parameters = spec.format.parameters_text();
    let layers: Vec<Layer> = if spec.name == "smollm2:135m" {
        SMOLLM2_LAYERS
            .iter()
            .map(|(media_type, digest, size)| Layer {
                media_type,
                digest: format!("sha256:{digest}"),
                size: *size,
            })
            .collect()
    } else {
        let blob = |kind: &str| format!("sha256:{}", derived_hex(&format!("{}/{kind}", spec.name)));
        let mut layers = vec![
            Layer {
                media_type: "application/vnd.ollama.image.model",
                digest: blob("model"),
                size: spec.weights,
            },
            Layer {
                media_type: "application/vnd.ollama.image.template",
                digest: blob("template"),
                size: spec.format.template.len() as u64,
            },
        ];
        if !spec.license.is_empty() {
            layers.push(Layer {
                media_type: "application/vnd.ollama.image.license",
                digest: blob("license"),
                // Real license files run to kilobytes; the catalogue keeps only their title.
                size: 1_000 + spec.license.len() as u64 * 97,
            });
        }
        layers.push(Layer {
            media_type: "application/vnd.ollama.image.params",
            digest: blob("params"),
            size: 30 + parameters.len() as u64 / 2,
        });
        layers.push(Layer {
            media_type: "application/vnd.docker.container.image.v1+json",
            digest: blob("config"),
            size: 487,
        });
        layers
    };
    let digest = if spec.name == "smollm2:135m" {
        SMOLLM2_MANIFEST.to_string()
    } else {
        derived_hex(&format!("{}/manifest", spec.name))
    };
    CatalogueModel {
        name: spec.name,
        aliases: spec.aliases,
        size: layers.iter().map(|layer| layer.size).sum(),
        digest,
        family: spec.family,
        families: match spec.family {
            "llama" => &["llama"],
            "qwen2" => &["qwen2"],
            "qwen3" => &["qwen3"],
            "phi3" => &["phi3"],
            "gemma2" => &["gemma2"],
            _ => &[],
        },
        architecture: spec.architecture,
        parameter_size: spec.parameter_size,
        parameter_count: spec.parameter_count,
        quantization_level: spec.quantization_level,
        file_type: spec.file_type,
        context_length: spec.context_length,
        embedding_length: spec.embedding_length,
        block_count: spec.block_count,
        head_count: spec.head_count,
        head_count_kv: spec.head_count_kv,
        capabilities: spec.capabilities,
        template: spec.format.template,
        license: spec.license,
        parameters,
        t4_tokens_per_second: spec.t4_tokens_per_second,
        layers,
    }
}

/// Every model the simulator's registry knows.
pub fn catalogue() -> &'static [CatalogueModel] {
    static CATALOGUE: OnceLock<Vec<CatalogueModel>> = OnceLock::new();
    CATALOGUE.get_or_init(|| SPECS.iter().map(build).collect())
}

/// The catalogue model a name refers to (`phi3.5`, `phi3.5:latest`, `library/phi3.5`,
/// `127.0.0.1:5000/team/phi3.5`, ...). A private registry's name resolves in any namespace,
/// since a declared registry holds the whole catalogue wherever it was pushed to.
pub fn find_model(name: &str) -> Option<&'static CatalogueModel> {
    let normalized = normalize_name(name)?;
    let key = match normalized.split('/').collect::<Vec<_>>()[..] {
        [_host, _namespace, model] => model,
        _ => normalized.as_str(),
    };
    catalogue().iter().find(|model| model.answers_to(key))
}

/// Ollama's short display form of a model name, with a tag: `phi3.5` -> `phi3.5:latest`,
/// `registry.ollama.ai/library/phi3.5` -> `phi3.5:latest`. `None` for an invalid name.
pub fn normalize_name(name: &str) -> Option<String> {
    let lowered = name.trim().to_ascii_lowercase();
    let mut rest = lowered.as_str();
    rest = rest.strip_prefix("registry.ollama.ai/").unwrap_or(rest);
    rest = rest.strip_prefix("library/").unwrap_or(rest);
    if rest.is_empty() {
        return None;
    }
    // The tag follows the last ':' that comes after the last '/' (a host may carry a port).
    let last_slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
    let (path, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => (&rest[..last_slash + i], &rest[last_slash + i + 1..]),
        None => (rest, "latest"),
    };
    let part_ok = |part: &str, max: usize| {
        !part.is_empty()
            && part.len() <= max
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
            && part
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    let segments: Vec<&str> = path.split('/').collect();
    let host_ok = |segment: &str| {
        // A registry host may carry a port (`127.0.0.1:5000`).
        let (host, port) = segment.split_once(':').unwrap_or((segment, "0"));
        part_ok(host, 350) && port.chars().all(|c| c.is_ascii_digit())
    };
    let path_ok = segments.len() <= 3
        && segments.iter().enumerate().all(|(i, segment)| {
            if i == 0 && segments.len() == 3 {
                host_ok(segment)
            } else {
                part_ok(segment, 80)
            }
        });
    if !path_ok || !part_ok(tag, 80) {
        return None;
    }
    Some(format!("{path}:{tag}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_print_as_ollama_show_does() {
        assert_eq!(
            DEEPSEEK.parameters_text(),
            "stop                           \"<｜begin▁of▁sentence｜>\"\nstop                           \
             \"<｜end▁of▁sentence｜>\"\ntemperature                    0.6\ntop_p                          0.95"
        );
    }

    #[test]
    fn names_resolve_with_and_without_latest() {
        let phi = find_model("phi3.5").unwrap();
        assert_eq!(phi.name, "phi3.5:3.8b");
        assert_eq!(find_model("phi3.5:latest").unwrap().name, phi.name);
        assert_eq!(find_model("library/phi3.5:3.8b").unwrap().name, phi.name);
        assert_eq!(
            find_model("registry.ollama.ai/library/llama3.1")
                .unwrap()
                .name,
            "llama3.1:8b"
        );
        assert_eq!(find_model("deepseek-r1").unwrap().name, "deepseek-r1:8b");
        assert!(
            find_model("gemma2").is_none(),
            "gemma2:latest is the 9b, not in the catalogue"
        );
        assert!(find_model("nonexistent-model").is_none());
        assert_eq!(
            find_model("127.0.0.1:5000/library/smollm2:135m")
                .unwrap()
                .name,
            "smollm2:135m"
        );
        assert_eq!(
            find_model("registry.example:5000/team/phi3.5")
                .unwrap()
                .name,
            phi.name
        );
        assert!(
            find_model("team/phi3.5").is_none(),
            "the public registry has it only in library"
        );
    }

    #[test]
    fn normalize_rejects_invalid_names() {
        assert_eq!(normalize_name("Phi3.5").as_deref(), Some("phi3.5:latest"));
        assert_eq!(
            normalize_name("127.0.0.1:5000/library/smollm2:135m").as_deref(),
            Some("127.0.0.1:5000/library/smollm2:135m")
        );
        for bad in [
            "", "  ", "bad name", "model:", ":tag", "a/b/c/d", "x:y!", "-x",
        ] {
            assert!(normalize_name(bad).is_none(), "{bad:?} should be invalid");
        }
    }

    #[test]
    fn sizes_and_digests_are_real_and_stable() {
        let smol = find_model("smollm2:135m").unwrap();
        assert_eq!(
            smol.size, 98_363_007,
            "the size /api/tags showed in transcript 02"
        );
        assert_eq!(smol.layers[0].short_digest(), "b179c9523d0e");
        for model in catalogue() {
            assert_eq!(model.digest.len(), 64);
            assert!(model.digest.chars().all(|c| c.is_ascii_hexdigit()));
            assert!(
                model.layers.len() >= 4,
                "{} has weights, template, params, config",
                model.name
            );
            for layer in &model.layers {
                assert_eq!(layer.digest.len(), 71, "{}", layer.digest);
            }
        }
        assert_eq!(derived_hex("x"), derived_hex("x"));
        assert_ne!(derived_hex("x"), derived_hex("y"));
        let gb = |name: &str| find_model(name).unwrap().size as f64 / 1e9;
        assert!((gb("llama3.1:8b") - 4.9).abs() < 0.1);
        assert!((gb("gemma2:2b") - 1.6).abs() < 0.1);
        assert!((gb("phi3.5") - 2.2).abs() < 0.1);
        assert!((gb("mistral:7b") - 4.1).abs() < 0.1);
    }

    #[test]
    fn loaded_size_matches_the_recorded_cpu_runner() {
        let smol = find_model("smollm2:135m").unwrap();
        let loaded = smol.loaded_bytes(4096, 1, false) as f64;
        // Transcript 10: /api/ps size 190948608 with context 4096 on CPU.
        assert!((loaded / 190_948_608.0 - 1.0).abs() < 0.02, "{loaded}");
        let llama = find_model("llama3.1:8b").unwrap();
        assert!(llama.loaded_bytes(4096, 4, true) > llama.loaded_bytes(4096, 1, true));
    }
}
