//! `diagnose` against `tests/support/fake-kubectl` (a canned cluster whose `exec nvidia-smi`
//! reads the simulator's `/debug/gpu`) and the in-process simulator: every step succeeding,
//! each failing on its own while the others stay intact, CPU fallback, and the simulator's GPU
//! source following what is loaded and decoding.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use ollabench::backend::Timeouts;
use ollabench::diagnose::{self, DiagnoseOptions, Diagnosis};
use ollabench::sim::SimHandle;
use serde_json::{json, Value};
use support::{closed_port, sim_config, start_sim};

fn fake_kubectl() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/fake-kubectl")
}

fn options(sim: &SimHandle, endpoint: String, fail: &str) -> DiagnoseOptions {
    DiagnoseOptions {
        kubectl: fake_kubectl(),
        kubectl_env: vec![
            ("FAKE_KUBECTL_TARGET".into(), sim.addr().to_string()),
            ("FAKE_KUBECTL_FAIL".into(), fail.into()),
        ],
        namespace: "ollama".into(),
        service: "ollama".into(),
        pod: None,
        endpoint,
        // Generous: the fake is a Python process on a busy two-core machine.
        kubectl_timeout: Duration::from_secs(30),
        timeouts: Timeouts::default(),
    }
}

/// Loads `model` with `options` through Ollama's API, kept loaded for good (a scaled default
/// keep-alive would unload it within seconds, mid-diagnosis), and returns its `/api/ps` row.
async fn load(sim: &SimHandle, model: &str, options: Value) -> Value {
    let http = reqwest::Client::new();
    let reply = http
        .post(format!("{}/api/generate", sim.url()))
        .json(&json!({ "model": model, "options": options, "keep_alive": -1 }))
        .send()
        .await
        .unwrap();
    assert!(
        reply.status().is_success(),
        "{}",
        reply.text().await.unwrap()
    );
    let ps: Value = http
        .get(format!("{}/api/ps", sim.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    ps["models"][0].clone()
}

fn step_names(diagnosis: &Diagnosis) -> Vec<&'static str> {
    diagnosis.failed_steps()
}

#[tokio::test]
async fn every_step_succeeds_against_the_fake_cluster_and_the_simulator() {
    let sim = start_sim(sim_config(0.01, &["llama3.1:8b"])).await;
    let loaded = load(&sim, "llama3.1:8b", json!({})).await;
    let diagnosis = diagnose::diagnose(&options(&sim, sim.url(), "")).await;
    assert!(diagnosis.complete(), "{}", diagnose::render(&diagnosis));

    let pods = diagnosis.ollama_pods.data.as_ref().unwrap();
    assert_eq!(pods.len(), 1);
    assert_eq!(pods[0].name, "ollama-0");
    assert_eq!(pods[0].restarts, 2);
    assert_eq!(pods[0].last_termination.as_deref(), Some("OOMKilled"));

    let nodes = diagnosis.nodes.data.as_ref().unwrap();
    let gpu_node = nodes.iter().find(|n| n.name == "aks-gpu-1").unwrap();
    assert_eq!((gpu_node.capacity, gpu_node.allocatable), (2, 2));
    assert_eq!(gpu_node.product.as_deref(), Some("Tesla-T4"));
    assert!(gpu_node.spot);
    let gpu_pods = diagnosis.gpu_pods.data.as_ref().unwrap();
    let mut holders: Vec<&str> = gpu_pods.iter().map(|p| p.name.as_str()).collect();
    holders.sort();
    assert_eq!(holders, ["ollama-0", "trainer-7d9f"]);
    assert_eq!(diagnose::allocated(gpu_pods, "aks-gpu-1"), 2);

    // Warning events only, newest first.
    let events = diagnosis.events.data.as_ref().unwrap();
    let reasons: Vec<&str> = events.iter().map(|e| e.reason.as_str()).collect();
    assert_eq!(reasons, ["Evicted", "NodeNotReady"]);

    // nvidia-smi, through `kubectl exec` into ollama-0, reads the simulator's GPU source:
    // memory used is the loaded model's VRAM, as /api/ps says.
    assert!(diagnosis
        .nvidia_smi
        .command
        .contains("exec -n ollama ollama-0 -- nvidia-smi"));
    let gpu = &diagnosis.nvidia_smi.data.as_ref().unwrap()[0];
    assert_eq!(gpu.name.as_deref(), Some("Tesla T4"));
    let vram = loaded["size_vram"].as_u64().unwrap();
    assert_eq!(gpu.memory_used_mib, Some(vram.div_ceil(1 << 20) as f64));
    assert_eq!(gpu.memory_total_mib, Some(15360.0));
    assert_eq!(gpu.utilization_percent, Some(0.0));

    let residency = diagnosis.residency.data.as_ref().unwrap();
    assert_eq!(residency[0].model, "llama3.1:8b");
    assert_eq!(residency[0].size_vram_bytes, vram);
    assert!(!residency[0].cpu_fallback);
    // A T4 reads 320 GB/s: one stream decodes at most 320e9 / size tokens per second.
    let size = loaded["size"].as_u64().unwrap() as f64;
    let ceiling = residency[0].decode_ceiling_tokens_per_second.unwrap();
    assert!((ceiling - 320e9 / size).abs() < 1e-9, "{ceiling}");
    assert_eq!(diagnosis.version.data.as_deref(), Some("0.24.0"));

    let findings = diagnosis.findings.join("\n");
    assert!(
        findings.contains("pod ollama-0 restarted 2 time(s) (last ended: OOMKilled)"),
        "{findings}"
    );
    assert!(
        findings.contains("ml/trainer-7d9f holds 1 GPU(s) on node aks-gpu-1"),
        "{findings}"
    );
    assert!(findings.contains("Evicted"), "{findings}");
    assert!(!findings.contains("CPU fallback"), "{findings}");
    sim.shutdown().await;
}

#[tokio::test]
async fn each_step_fails_on_its_own_and_the_others_stay_intact() {
    let sim = start_sim(sim_config(0.01, &["llama3.1:8b"])).await;
    let all = [
        "Ollama pods",
        "nodes",
        "GPU pods",
        "events",
        "nvidia-smi",
        "/api/ps",
        "/api/version",
    ];
    let cases: [(&str, bool, &[&str]); 6] = [
        ("pods", false, &["Ollama pods"]),
        ("pods-all", false, &["GPU pods"]),
        ("nodes", false, &["nodes"]),
        ("events", false, &["events"]),
        ("exec", false, &["nvidia-smi"]),
        ("", true, &["/api/ps", "/api/version"]),
    ];
    for (fail, server_down, expected) in cases {
        let endpoint = if server_down {
            format!("http://127.0.0.1:{}", closed_port())
        } else {
            sim.url()
        };
        let diagnosis = diagnose::diagnose(&options(&sim, endpoint, fail)).await;
        let report = diagnose::render(&diagnosis);
        assert_eq!(step_names(&diagnosis), expected, "{fail}: {report}");
        for step in all.iter().filter(|s| !expected.contains(s)) {
            assert!(!diagnosis.failed_steps().contains(step), "{fail}: {step}");
        }
        assert!(report.contains("FAILED: "), "{report}");
        assert!(
            report.contains(&format!("{} step(s) failed", expected.len())),
            "{report}"
        );
        let json = serde_json::to_value(&diagnosis).unwrap();
        let failed_in_json = json
            .as_object()
            .unwrap()
            .values()
            .filter(|v| v.get("Ok") == Some(&Value::Bool(false)))
            .count();
        assert_eq!(failed_in_json, expected.len(), "{json:#}");
    }
    // Without the pods step, nvidia-smi still runs, through the service.
    let diagnosis = diagnose::diagnose(&options(&sim, sim.url(), "pods")).await;
    assert!(diagnosis.nvidia_smi.ok);
    assert!(diagnosis
        .nvidia_smi
        .command
        .contains("exec -n ollama svc/ollama"));
    // A forbidden call is quoted with kubectl's words.
    let error = diagnosis.ollama_pods.error.unwrap();
    assert!(error.contains("pods is forbidden"), "{error}");
    sim.shutdown().await;
}

#[tokio::test]
async fn cpu_fallback_is_detected_when_a_model_outgrows_gpu_memory() {
    let sim = start_sim(sim_config(0.01, &["llama3.1:8b"])).await;
    // A 128k context makes llama3.1:8b's KV cache outgrow the T4's 15 GiB.
    let loaded = load(&sim, "llama3.1:8b", json!({ "num_ctx": 131072 })).await;
    let (size, vram) = (
        loaded["size"].as_u64().unwrap(),
        loaded["size_vram"].as_u64().unwrap(),
    );
    assert!(vram < size, "{loaded}");
    let diagnosis = diagnose::diagnose(&options(&sim, sim.url(), "")).await;
    let model = &diagnosis.residency.data.as_ref().unwrap()[0];
    assert!(model.cpu_fallback);
    // Part of it is decoded by the CPU: the GPU's ceiling does not apply.
    assert_eq!(model.decode_ceiling_tokens_per_second, None);
    let percent = (100 * vram / size) as f64;
    assert_eq!(model.gpu_percent().floor(), percent);
    let findings = diagnosis.findings.join("\n");
    assert!(
        findings.contains(&format!(
            "llama3.1:8b: CPU fallback: {percent:.0}% in GPU memory"
        )),
        "{findings}"
    );
    // The GPU is full: nvidia-smi's memory used is the whole card.
    let gpu = &diagnosis.nvidia_smi.data.as_ref().unwrap()[0];
    assert_eq!(gpu.memory_used_mib, gpu.memory_total_mib);
    sim.shutdown().await;
}

#[tokio::test]
async fn the_gpu_source_follows_streams_decoding_and_cpu_profiles_have_none() {
    let sim = start_sim(sim_config(0.05, &["llama3.1:8b"])).await;
    let http = reqwest::Client::new();
    let gpu = |query: &str| {
        let http = http.clone();
        let url = format!("{}/debug/gpu?{query}", sim.url());
        async move {
            let reply = http.get(url).send().await.unwrap();
            (reply.status().as_u16(), reply.text().await.unwrap())
        }
    };
    let (status, idle) = gpu("query=utilization.gpu,memory.used&format=csv,noheader,nounits").await;
    assert_eq!((status, idle.as_str()), (200, "0, 0\n"));
    // A long generation: while its tokens stream, the card is busy.
    let mut stream = http
        .post(format!("{}/api/generate", sim.url()))
        .json(&json!({
            "model": "llama3.1:8b",
            "prompt": "Write a long story.",
            "options": { "num_predict": 5000 }
        }))
        .send()
        .await
        .unwrap();
    let first = stream.chunk().await.unwrap().unwrap();
    assert!(!first.is_empty());
    let (_, busy) = gpu("query=utilization.gpu,clocks.sm&format=csv,noheader").await;
    assert_eq!(busy, "85 %, 1590 MHz\n");
    drop(stream);
    let (status, text) = gpu("query=fan.speed").await;
    assert_eq!(status, 400);
    assert!(
        text.contains("\"fan.speed\" is not a valid field"),
        "{text}"
    );
    sim.shutdown().await;

    let cpu = start_sim(ollabench::sim::SimConfig {
        profile: "cpu".into(),
        ..sim_config(0.01, &[])
    })
    .await;
    let reply = reqwest::get(format!("{}/debug/gpu", cpu.url()))
        .await
        .unwrap();
    assert_eq!(reply.status().as_u16(), 503);
    assert!(reply
        .text()
        .await
        .unwrap()
        .contains("NVIDIA-SMI has failed"));
    cpu.shutdown().await;
}

#[tokio::test]
async fn the_command_prints_sections_and_writes_the_same_json() {
    let sim = start_sim(sim_config(0.01, &[])).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("diagnosis.json");
    let run = |format: &'static str| {
        let file = file.clone();
        let url = sim.url();
        let target = sim.addr().to_string();
        async move {
            tokio::process::Command::new(env!("CARGO_BIN_EXE_ollabench"))
                .args([
                    "diagnose",
                    "--endpoint",
                    &url,
                    "--format",
                    format,
                    "--output",
                ])
                .arg(&file)
                .arg("--kubectl")
                .arg(fake_kubectl())
                .env("FAKE_KUBECTL_TARGET", target)
                .env("FAKE_KUBECTL_FAIL", "events")
                .output()
                .await
                .unwrap()
        }
    };
    let output = run("table").await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    // A failed step makes exit code 1; everything else is still shown.
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    for section in [
        "Ollama pods",
        "Node GPUs",
        "aks-gpu-1                2 GPU(s) Tesla-T4, 2 allocatable, 2 allocated, spot",
        "Pods holding GPUs",
        "nvidia-smi",
        "Tesla T4: 0% busy, 0 of 15360 MiB",
        "Loaded models (/api/ps)\n  $ GET",
        "Ollama version\n",
        "  0.24.0",
        "Findings",
        "1 step(s) failed: events",
    ] {
        assert!(stdout.contains(section), "{section} missing:\n{stdout}");
    }
    let written = support::read_json(&file);
    assert_eq!(written["Events"]["Ok"], false);
    assert_eq!(written["Version"]["Data"], "0.24.0");

    let output = run("json").await;
    let printed: Value = serde_json::from_slice(&output.stdout).unwrap();
    let written = support::read_json(&file);
    assert_eq!(printed, written);
    sim.shutdown().await;
}
