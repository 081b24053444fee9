//! Thinking models against the in-process simulator: what it streams (Ollama 0.24's
//! `thinking` before the answer, by default for a thinking model), how the client counts it
//! (thinking chunks are output for TTFT, ITL and the token counts, and are reported apart),
//! `--think on|off` on every API, and the refusal of a model that cannot think.

mod support;

use ollabench::backend::ollama::OllamaClient;
use ollabench::backend::{GenerationRequest, Route, Timeouts};
use serde_json::{json, Value};
use support::*;

const SCALE: f64 = 0.05;
const THINKER: &str = "deepseek-r1:8b";
const PLAIN: &str = "phi3.5";

/// The NDJSON lines of a streamed native request.
async fn stream_lines(url: &str, path: &str, body: Value) -> (u16, Vec<Value>) {
    let response = reqwest::Client::new()
        .post(format!("{url}{path}"))
        .json(&body)
        .send()
        .await
        .expect("the simulator answers");
    let status = response.status().as_u16();
    let text = response.text().await.expect("a body");
    let lines = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    (status, lines)
}

/// A chunk's thinking and answer text, on generate or chat.
fn texts(chunk: &Value) -> (&str, &str) {
    let part = |key: &str| {
        chunk[key]
            .as_str()
            .or_else(|| chunk["message"][key].as_str())
            .unwrap_or("")
    };
    let answer = chunk["response"]
        .as_str()
        .or_else(|| chunk["message"]["content"].as_str())
        .unwrap_or("");
    (part("thinking"), answer)
}

/// The simulator streams a thinking model's thinking first, as Ollama 0.24 does: by default
/// and with `think: true`, on generate and chat; `think: false` gives none; a model that
/// cannot think refuses `think: true` with Ollama's 400 but accepts `think: false`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_streams_thinking_before_the_answer() {
    let sim = start_sim(sim_config(SCALE, &[THINKER, PLAIN])).await;
    let url = sim.url();
    for (path, think) in [
        ("/api/generate", None),
        ("/api/chat", None),
        ("/api/generate", Some(true)),
        ("/api/chat", Some(true)),
        ("/api/generate", Some(false)),
        ("/api/chat", Some(false)),
    ] {
        let mut body = json!({ "model": THINKER, "options": { "num_predict": 10 } });
        match path {
            "/api/chat" => body["messages"] = json!([{ "role": "user", "content": "Why?" }]),
            _ => body["prompt"] = json!("Why?"),
        }
        if let Some(think) = think {
            body["think"] = json!(think);
        }
        let (status, lines) = stream_lines(&url, path, body).await;
        assert_eq!(status, 200, "{path} {think:?}");
        let (done, chunks) = lines.split_last().expect("a final chunk");
        assert_eq!(done["done"], true);
        assert_eq!(done["eval_count"], 10, "eval_count counts thinking too");
        let kinds: Vec<char> = chunks
            .iter()
            .map(|chunk| match texts(chunk) {
                (thinking, "") if !thinking.is_empty() => 't',
                ("", answer) if !answer.is_empty() => 'a',
                other => panic!("a chunk with neither or both: {other:?} in {chunk}"),
            })
            .collect();
        let expected = if think == Some(false) {
            "aaaaaaaaaa"
        } else {
            "tttttaaaaa"
        };
        assert_eq!(
            kinds.iter().collect::<String>(),
            expected,
            "{path} {think:?}"
        );
    }

    // Not streamed: the thinking in its own field.
    let reply: Value = reqwest::Client::new()
        .post(format!("{url}/api/chat"))
        .json(
            &json!({ "model": THINKER, "stream": false, "options": { "num_predict": 4 },
                       "messages": [{ "role": "user", "content": "Why?" }] }),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        !reply["message"]["thinking"]
            .as_str()
            .unwrap_or("")
            .is_empty(),
        "{reply}"
    );
    assert!(
        !reply["message"]["content"]
            .as_str()
            .unwrap_or("")
            .is_empty(),
        "{reply}"
    );

    let (status, lines) = stream_lines(
        &url,
        "/api/generate",
        json!({ "model": PLAIN, "prompt": "Why?", "think": true }),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(lines[0]["error"], "\"phi3.5\" does not support thinking");
    let (status, lines) = stream_lines(
        &url,
        "/api/generate",
        json!({ "model": PLAIN, "prompt": "Why?", "think": false,
                "options": { "num_predict": 3 } }),
    )
    .await;
    assert_eq!(status, 200);
    assert!(lines.iter().all(|chunk| chunk.get("thinking").is_none()));

    // Ollama's `/v1`: a reasoning level asks to think, `none` not to; other values are refused.
    for (model, effort, message) in [
        (PLAIN, "high", "\"phi3.5\" does not support thinking"),
        (THINKER, "max", "invalid reasoning value: 'max'"),
    ] {
        let (status, lines) = stream_lines(
            &url,
            "/v1/chat/completions",
            json!({ "model": model, "reasoning_effort": effort,
                    "messages": [{ "role": "user", "content": "Why?" }] }),
        )
        .await;
        assert_eq!(status, 400, "{model} {effort}");
        let error = lines[0]["error"]["message"].as_str().unwrap();
        assert!(error.starts_with(message), "{error}");
    }
    sim.shutdown().await;
}

/// On Ollama's native API, TTFT is the first thinking chunk, every thinking chunk is timed
/// like an answer chunk, and the record says how many tokens were thinking.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttft_is_the_first_thinking_chunk_and_thinking_is_counted_apart() {
    let sim = start_sim(sim_config(SCALE, &[THINKER])).await;
    let client = OllamaClient::new(&sim.url(), Timeouts::default()).unwrap();
    for route in [Route::Generate, Route::Chat] {
        let mut request = GenerationRequest::new(THINKER, "Why is the sky blue?", 12);
        request.route = route;
        request.think = Some(true);
        let record = client.generate(&request).await.expect("a generation");
        assert_eq!(record.output_tokens, 12);
        assert_eq!(record.thinking_tokens, 6);
        assert_eq!(record.chunk_offsets.len(), 12, "thinking chunks are output");
        assert_eq!(record.itls().count(), 11);
        let first_answer = record.chunk_offsets[6];
        let ttft = record.ttft().expect("a first chunk");
        assert_eq!(ttft, record.chunk_offsets[0]);
        assert!(
            ttft < first_answer,
            "{ttft:?} is not before the answer's {first_answer:?}"
        );

        request.think = Some(false);
        let record = client.generate(&request).await.expect("a generation");
        assert_eq!((record.output_tokens, record.thinking_tokens), (12, 0));
    }
    sim.shutdown().await;
}

/// tokens-per-second on a thinking model: by default (nothing sent) it thinks and every
/// sample and cell says how many tokens were thinking; `--think off` sends `think: false`,
/// gets no thinking and records the flag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_per_second_reports_thinking_tokens_and_think_off_turns_them_off() {
    let sim = start_sim(sim_config(SCALE, &[THINKER])).await;
    let dir = tempfile::tempdir().unwrap();
    let runs = [
        (None, Some(20 * 3)),
        (Some("on"), Some(60)),
        (Some("off"), None),
    ];
    for (think, expected) in runs {
        let output = dir.path().join(format!("tps-{think:?}.json"));
        let mut extra = vec!["--generation-tokens", "40", "--keep-samples"];
        if let Some(think) = think {
            extra.extend(["--think", think]);
        }
        let code = ollabench(&arg_refs(&tps_args(
            &sim.url(),
            THINKER,
            "short",
            "3",
            &output,
            &extra,
        )))
        .await;
        assert_eq!(code, 0, "{think:?}");
        let result = read_json(&output);
        assert_eq!(result["Configuration"]["Think"].as_str(), think);
        let cell = &result["ModelResults"][0]["PromptResults"][0];
        assert_eq!(
            cell["ThinkingTokens"].as_u64(),
            expected,
            "{think:?}: {cell:#}"
        );
        for sample in cell["Samples"].as_array().unwrap() {
            assert_eq!(sample["OutputTokens"], 40);
            let thinking = sample["ThinkingTokens"].as_u64();
            assert_eq!(thinking, expected.map(|_| 20), "{sample}");
        }
        assert!(
            cell["Metrics"]["TimeToFirstTokenSeconds"]["Median"]
                .as_f64()
                .unwrap()
                > 0.0
        );
    }
    sim.shutdown().await;
}

/// `--think on` with a model that cannot think fails with the server's message and advice
/// that says what to do; single-user records it as the generation's error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_that_cannot_think_fails_clearly_with_think_on() {
    let sim = start_sim(sim_config(SCALE, &[PLAIN])).await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("tps.json");
    let code = ollabench(&arg_refs(&tps_args(
        &sim.url(),
        PLAIN,
        "short",
        "2",
        &output,
        &["--generation-tokens", "8", "--think", "on"],
    )))
    .await;
    assert_ne!(code, 0, "every request failed");
    let result = read_json(&output);
    let cell = &result["ModelResults"][0]["PromptResults"][0];
    assert_eq!(cell["Requests"]["Succeeded"], 0, "{cell:#}");
    let example = &cell["Requests"]["FailureExamples"][0];
    assert!(
        example["Message"]
            .as_str()
            .unwrap()
            .contains("\"phi3.5\" does not support thinking"),
        "{example}"
    );
    assert!(
        example["Hint"].as_str().unwrap().contains("--think off"),
        "{example}"
    );

    let output = dir.path().join("single.json");
    ollabench(&arg_refs(&single_user_args(
        &sim.url(),
        PLAIN,
        &output,
        &[
            "--skip-download",
            "--think",
            "on",
            "--generation-tokens",
            "8",
        ],
    )))
    .await;
    let result = read_json(&output);
    let errors = result["Errors"].as_array().unwrap();
    assert!(
        errors.iter().any(|e| e["Phase"] == "generate"
            && e["Message"]
                .as_str()
                .unwrap()
                .contains("does not support thinking")),
        "{errors:?}"
    );
    assert!(result["Measurements"].get("ThinkingTokens").is_none());
    sim.shutdown().await;
}

/// The OpenAI path: Ollama's `/v1/chat/completions` streams the thinking as `reasoning`,
/// which counts as output and as thinking; `--think off` (Ollama's `reasoning.effort: none`)
/// turns it off; `/v1/completions` has no field for it, so thinking tokens arrive as empty
/// chunks and none is seen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openai_path_counts_reasoning_as_thinking() {
    let sim = start_sim(sim_config(SCALE, &[THINKER])).await;
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&[&str], Option<u64>); 3] = [
        (&["--alternate-route"], Some(2 * 10)),
        (&["--alternate-route", "--think", "off"], None),
        (&[], None),
    ];
    for (flags, expected) in cases {
        let output = dir.path().join(format!("openai-{}.json", flags.len()));
        let mut extra = vec!["--api", "openai", "--generation-tokens", "20"];
        extra.extend(flags);
        let code = ollabench(&arg_refs(&tps_args(
            &sim.url(),
            THINKER,
            "short",
            "2",
            &output,
            &extra,
        )))
        .await;
        assert_eq!(code, 0, "{flags:?}");
        let result = read_json(&output);
        let cell = &result["ModelResults"][0]["PromptResults"][0];
        assert_eq!(
            cell["ThinkingTokens"].as_u64(),
            expected,
            "{flags:?}: {cell:#}"
        );
        assert_eq!(cell["Requests"]["Succeeded"], 2);
    }
    sim.shutdown().await;
}

/// single-user and multi-user record the thinking tokens of their generation, and pass
/// `--think off` through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_user_and_multi_user_record_thinking_tokens() {
    let sim = start_sim(sim_config(SCALE, &[THINKER])).await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("single.json");
    let code = ollabench(&arg_refs(&single_user_args(
        &sim.url(),
        THINKER,
        &output,
        &["--skip-download", "--generation-tokens", "10"],
    )))
    .await;
    assert_eq!(code, 0);
    let measurements = &read_json(&output)["Measurements"];
    assert_eq!(measurements["OutputTokens"], 10, "{measurements:#}");
    assert_eq!(measurements["ThinkingTokens"], 5, "{measurements:#}");

    for (think, expected) in [("on", Some(5)), ("off", None)] {
        let output = dir.path().join(format!("multi-{think}.json"));
        let args = [
            "multi-user",
            "--endpoint",
            &sim.url(),
            "--concurrent-users",
            "1",
            "--models",
            THINKER,
            "--skip-download",
            "--generation-tokens",
            "10",
            "--think",
            think,
            "--output",
            output.to_str().unwrap(),
        ];
        assert_eq!(ollabench(&args).await, 0, "{think}");
        let user = &read_json(&output)["IndividualResults"][0]["Measurements"];
        assert_eq!(user["GenerateStatus"], "Success", "{user:#}");
        assert_eq!(
            user["ThinkingTokens"].as_u64(),
            expected,
            "{think}: {user:#}"
        );
    }
    sim.shutdown().await;
}
