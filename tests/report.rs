//! The HTML and Markdown reports, end to end: rendered from fixture result files (ollabench's,
//! the PowerShell suite's, a trend, one sample) and from a run against the in-process
//! simulator; Markdown checked by insta snapshots, HTML opened in headless Chromium.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use ollabench::report::{self, ReportOptions};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/report")
}

fn fixture(relative: &str) -> PathBuf {
    fixtures().join(relative)
}

/// Copies a fixture into `dir` under its own file name.
fn copy_fixture(relative: &str, dir: &Path) {
    let from = fixture(relative);
    std::fs::copy(&from, dir.join(from.file_name().unwrap())).unwrap();
}

/// Files both `compare` and `report` read in tests of their agreement.
fn parity(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/parity")
        .join(relative)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()))
}

/// Replaces every free-standing number (not part of a name like `llama3.1:8b`) with `#`, so
/// that snapshots of real runs do not depend on timings.
fn redact_numbers(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_digit() {
            let previous = if i > 0 { Some(chars[i - 1]) } else { None };
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_digit()
                    || (chars[i] == '.' && chars.get(i + 1).is_some_and(|n| n.is_ascii_digit())))
            {
                i += 1;
            }
            // `phi3.5`, `llama3.1:8b`: digits inside a name stay.
            let attached = match previous {
                Some(p) if p.is_alphanumeric() || p == '_' => true,
                Some(':') => chars.get(i).is_some_and(|n| n.is_ascii_alphabetic()),
                _ => false,
            };
            if attached {
                out.extend(&chars[start..i]);
            } else {
                out.push('#');
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// Redacts what a real run changes from one run to the next: numbers, the test's own command
/// line, verdict levels (and the advice that comes with them), stability words, and which
/// prompt had the largest variance.
fn redact_run(markdown: &str) -> String {
    let mut lines = Vec::new();
    for line in markdown.lines() {
        let mut line = line.to_string();
        if line.starts_with("| Command line |") {
            line = "| Command line | <command line> |".to_string();
        }
        let mut is_verdict = false;
        for level in ["✅ Target", "✅ Good", "⚠️ Warning", "❌ Critical"] {
            if line.contains(&format!("| {level} |")) {
                line = line.replace(level, "<verdict>");
                is_verdict = true;
            }
        }
        if is_verdict {
            // The fifth cell is the advice, which depends on the level (and may hold `\|`).
            let mut bars = 0;
            let mut previous = ' ';
            for (index, c) in line.char_indices() {
                if c == '|' && previous != '\\' {
                    bars += 1;
                    if bars == 5 {
                        line = format!("{}| <advice> |", &line[..index]);
                        break;
                    }
                }
                previous = c;
            }
        }
        for stability in ["Stable", "Variable", "Investigate", "Problem"] {
            line = line.replace(&format!("| {stability} |"), "| <stability> |");
        }
        for prompt in ["Short", "Long"] {
            line = line.replace(&format!("/{prompt})"), "/<prompt>)");
        }
        lines.push(line);
    }
    redact_numbers(&lines.join("\n"))
}

/// `data-points` of every chart in an HTML text, with the chart's kind and id.
fn charts(html: &str) -> Vec<(String, String, usize)> {
    let mut found = Vec::new();
    for piece in html.split("<svg ").skip(1) {
        let head = piece.split('>').next().unwrap_or("");
        if !head.contains("class=\"chart\"") {
            continue;
        }
        let attribute = |name: &str| {
            head.split(&format!("{name}=\""))
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or("")
                .to_string()
        };
        let points = attribute("data-points").parse().unwrap_or(0);
        found.push((attribute("data-chart"), attribute("id"), points));
    }
    found
}

fn kinds(charts: &[(String, String, usize)]) -> Vec<&str> {
    let mut kinds: Vec<&str> = charts.iter().map(|(k, _, _)| k.as_str()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    kinds
}

/// Asserts what a self-contained, NaN-free report needs.
fn assert_self_contained(html: &str) {
    for forbidden in [
        "<script", "<link", "<img", "<iframe", "@import", "url(", " src=",
    ] {
        assert!(!html.contains(forbidden), "the report uses {forbidden}");
    }
    // URLs may appear as text (endpoints, the reference's advice), never as something the
    // browser would fetch or link to.
    for attribute in [
        "href=\"http",
        "href='http",
        "xlink:href=\"http",
        "action=\"http",
    ] {
        assert!(
            !html.contains(attribute),
            "the report references a URL: {attribute}"
        );
    }
    for bad in ["NaN", "inf\"", ">inf<", "undefined"] {
        assert!(!html.contains(bad), "the report shows {bad}");
    }
}

#[test]
fn fixtures_follow_the_result_models() {
    use ollabench::results::multi_user::MultiUserResult;
    use ollabench::results::single_user::SingleUserResult;
    use ollabench::results::tokens_per_second::TpsResult;
    let parse =
        |path: &str| -> serde_json::Value { serde_json::from_str(&read(&fixture(path))).unwrap() };
    for path in [
        "sim-run/single-user.json",
        "trend/results-1/single-user.json",
        "trend/results-2/single-user.json",
        "trend/results-3/single-user.json",
    ] {
        serde_json::from_value::<SingleUserResult>(parse(path))
            .unwrap_or_else(|err| panic!("{path}: {err}"));
    }
    for path in [
        "sim-run/tokens-per-second.json",
        "one-sample/tokens-per-second.json",
    ] {
        serde_json::from_value::<TpsResult>(parse(path))
            .unwrap_or_else(|err| panic!("{path}: {err}"));
    }
    serde_json::from_value::<MultiUserResult>(parse("sim-run/multi-user.json"))
        .unwrap_or_else(|err| panic!("multi-user: {err}"));
}

#[test]
fn a_simulated_run_renders_every_chart_and_a_stable_summary() {
    let out = tempfile::tempdir().unwrap();
    let written = report::write_report(&[fixture("sim-run")], out.path()).unwrap();
    assert_eq!(written.files.len(), 3);
    assert!(written.problems.is_empty(), "{:?}", written.problems);
    let html = read(&written.html);
    assert_self_contained(&html);
    let charts = charts(&html);
    assert_eq!(kinds(&charts), ["bars", "cdf", "scaling", "timeline"]);
    assert!(
        charts.iter().all(|(_, _, points)| *points > 0),
        "{charts:?}"
    );
    // Single-user phases, tok/s bars, TTFT and ITL CDFs, aggregate and efficiency, timeline.
    assert_eq!(charts.len(), 7, "{charts:?}");
    assert!(html.contains("banner simulated") && html.contains("profile t4, time scale 1"));
    // Provenance: server version, digests, GPU residency.
    assert!(html.contains("0.24.0") && html.contains("46e0c10c039e"));
    assert!(html.contains("62% in GPU (partly on CPU)") && html.contains("100% in GPU"));
    let markdown = read(&written.markdown);
    insta::assert_snapshot!("simulated_run_summary", markdown);
}

#[test]
fn reference_files_from_the_powershell_suite_render_what_they_have() {
    let out = tempfile::tempdir().unwrap();
    let written = report::write_report(&[fixture("reference")], out.path()).unwrap();
    assert_eq!(written.files.len(), 3);
    let html = read(&written.html);
    assert_self_contained(&html);
    let charts = charts(&html);
    // No per-request samples, no concurrency sweep, no phase offsets: bars and a timeline
    // drawn from durations.
    assert_eq!(kinds(&charts), ["bars", "timeline"]);
    assert!(charts.iter().all(|(_, _, points)| *points > 0));
    assert!(html.contains("drawn end to end from 0 s"));
    assert!(html.contains("Provenance not recorded"));
    assert!(!html.contains("banner simulated"));
    insta::assert_snapshot!("reference_files_summary", read(&written.markdown));
}

#[test]
fn one_sample_draws_sensible_charts() {
    let out = tempfile::tempdir().unwrap();
    let written =
        report::write_report(&[fixture("one-sample/tokens-per-second.json")], out.path()).unwrap();
    let html = read(&written.html);
    assert_self_contained(&html);
    let charts = charts(&html);
    assert_eq!(kinds(&charts), ["bars", "cdf", "scaling"]);
    assert!(
        charts.iter().all(|(_, _, points)| *points > 0),
        "{charts:?}"
    );
    // No trend from one run.
    assert!(!html.contains("data-chart=\"trend\""));
}

#[tokio::test]
async fn a_trend_across_runs_marks_the_baseline() {
    let out = tempfile::tempdir().unwrap();
    let output_dir = out.path().to_str().unwrap();
    let trend = fixture("trend");
    let baseline = fixture("trend/results-2/single-user.json");
    let code = support::ollabench(&[
        "report",
        trend.to_str().unwrap(),
        "--baseline",
        baseline.to_str().unwrap(),
        "--output-dir",
        output_dir,
    ])
    .await;
    assert_eq!(code, 0);
    let html = read(&out.path().join("report.html"));
    assert_self_contained(&html);
    let charts = charts(&html);
    let trends: Vec<_> = charts.iter().filter(|(k, _, _)| k == "trend").collect();
    // Download, cold load, warm load, tok/s.
    assert_eq!(trends.len(), 4, "{charts:?}");
    assert!(trends.iter().all(|(_, _, points)| *points == 3));
    assert_eq!(html.matches("class=\"baseline\"").count(), 4);
    let markdown = read(&out.path().join("summary.md"));
    assert!(
        markdown.contains("| 2 | results-2/single-user.json | 2025-11-07 14:30:00 | baseline |"),
        "{markdown}"
    );
    // Cold load fell from 6.05 s (baseline) to 5.87 s.
    assert!(
        markdown.contains("| Last vs baseline | -2.98% |"),
        "{markdown}"
    );
    // The chart says so too, on an axis from zero: a 3% change looks like one.
    let cold = html
        .split("<svg ")
        .find(|svg| svg.contains("Cold load time across runs"))
        .expect("a cold load trend chart");
    assert!(cold.contains("(-2.98% last vs baseline)"), "{cold}");
    assert!(
        cold.contains(">0</text>"),
        "the y axis starts at zero: {cold}"
    );
    insta::assert_snapshot!("trend_summary", markdown);

    // Without --baseline the earliest run is the baseline.
    let written =
        report::write_report_with(&[trend], out.path(), &ReportOptions::default()).unwrap();
    let markdown = read(&written.markdown);
    assert!(
        markdown.contains("| 1 | results-1/single-user.json | 2025-10-31 14:30:00 | baseline |")
    );
}

#[test]
fn a_comparison_report_draws_its_trend() {
    let out = tempfile::tempdir().unwrap();
    let written = report::write_report(&[fixture("comparison-report.json")], out.path()).unwrap();
    let html = read(&written.html);
    assert_self_contained(&html);
    let charts = charts(&html);
    assert_eq!(kinds(&charts), ["trend"]);
    // Download, cold load, warm load, total, tok/s: three runs each.
    assert_eq!(charts.len(), 5, "{charts:?}");
    assert!(charts.iter().all(|(_, _, points)| *points == 3));
    assert_eq!(html.matches("class=\"baseline\"").count(), 5);
    let markdown = read(&written.markdown);
    assert!(
        markdown.contains("| results-1/single-user (baseline) |"),
        "{markdown}"
    );
    // The verdicts the comparison recorded, by run.
    assert!(
        markdown.contains("| results-2/single-user: Cold load time | 6.05 s | ✅ Target |"),
        "{markdown}"
    );
}

#[tokio::test]
async fn bad_files_are_named_and_the_others_still_render() {
    let dir = tempfile::tempdir().unwrap();
    copy_fixture("sim-run/single-user.json", dir.path());
    std::fs::write(dir.path().join("broken.json"), "{\"Timestamp\": \"2025-").unwrap();
    let out = tempfile::tempdir().unwrap();
    let code = support::ollabench(&[
        "report",
        dir.path().to_str().unwrap(),
        "--output-dir",
        out.path().to_str().unwrap(),
    ])
    .await;
    assert_eq!(code, 1, "a bad file fails the command");
    let html = read(&out.path().join("report.html"));
    assert!(html.contains("Files not used") && html.contains("broken.json"));
    // The reader's message, the same `compare` gives (it said "not valid JSON" before).
    assert!(html.contains("malformed JSON"));
    assert!(html.contains("data-chart=\"bars\""));
    let markdown = read(&out.path().join("summary.md"));
    assert!(markdown.contains("broken.json") && markdown.contains("single-user.json"));
}

#[test]
fn keys_in_another_case_and_a_powershell_5_1_file_render() {
    let out = tempfile::tempdir().unwrap();
    let written = report::write_report(
        &[
            parity("other-case-single-user.json"),
            parity("ps51-tokens-per-second.json"),
        ],
        out.path(),
    )
    .unwrap();
    assert!(written.problems.is_empty(), "{:?}", written.problems);
    assert_eq!(written.files.len(), 2);
    let markdown = read(&written.markdown);
    for expected in [
        "_single-user result · Timestamp 2025-11-06 09:00:00_",
        "| Model | llama3.1:8b |",
        "| Cold load | 17.50 s |",
        "| Tokens/second | 42.20 tok/s |",
        "| Download | 44.10 | Success | - |",
        "_tokens-per-second result · Timestamp 2025-11-05 09:00:00_",
        "| Average tokens/second | 41.70 tok/s (min 39.40, max 44.10) |",
        "| llama3.1:8b | Short | 41.70 | 39.40 | 44.10 | 1.70 | - | - | 5 |",
        "| Failed requests | - |",
    ] {
        assert!(
            markdown.contains(expected),
            "missing {expected:?} in {markdown}"
        );
    }
    assert!(!markdown.contains("-Depth 10"), "{markdown}");
}

#[test]
fn a_simulated_and_a_real_run_draw_two_trends() {
    let out = tempfile::tempdir().unwrap();
    let written = report::write_report(&[parity("sim-vs-real")], out.path()).unwrap();
    let markdown = read(&written.markdown);
    let trends: Vec<&str> = markdown
        .lines()
        .filter(|l| l.starts_with("## Trend: "))
        .collect();
    assert_eq!(
        trends,
        [
            "## Trend: single-user, model llama3.1:8b",
            "## Trend: single-user, model llama3.1:8b (simulated)"
        ]
    );
    let real = markdown.split("## Trend: ").nth(1).unwrap();
    assert!(real.contains("| 1 | real-1.json |") && real.contains("| 2 | real-2.json |"));
    assert!(!real.contains("simulated-"), "{real}");
    let html = read(&written.html);
    let charts = charts(&html);
    let trend_charts: Vec<_> = charts.iter().filter(|(k, _, _)| k == "trend").collect();
    // Download, cold load, warm load, tok/s: two runs each, in each of the two trends.
    assert_eq!(trend_charts.len(), 8, "{charts:?}");
    assert!(trend_charts.iter().all(|(_, _, points)| *points == 2));
}

/// `compare` and `report` read files through one reader: the same files are used, and the
/// same ones are refused with the same message.
#[tokio::test]
async fn compare_and_report_accept_and_reject_the_same_files() {
    let compare_fixture = |relative: &str| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/compare")
            .join(relative)
    };
    let files: Vec<PathBuf> = vec![
        parity("other-case-single-user.json"),
        parity("ps51-tokens-per-second.json"),
        parity("sim-vs-real/simulated-1.json"),
        compare_fixture("bad/malformed.json"),
        compare_fixture("bad/empty.json"),
        compare_fixture("bad/unknown-kind.json"),
        compare_fixture("bad/missing-fields.json"),
        compare_fixture("powershell/tokens-per-second-depth2.json"),
    ];
    let args: Vec<&str> = files.iter().map(|f| f.to_str().unwrap()).collect();

    let mut compare_args = vec!["compare", "--format", "json"];
    compare_args.extend(&args);
    let (code, stdout, compare_stderr) = support::ollabench_binary(&compare_args).await;
    assert_eq!(code, 0, "{compare_stderr}");
    let compared: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let mut compare_used: Vec<String> = compared["Runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["Source"].as_str().unwrap().to_string())
        .collect();
    compare_used.sort();

    let out = tempfile::tempdir().unwrap();
    let mut report_args = vec!["report", "--output-dir", out.path().to_str().unwrap()];
    report_args.extend(&args);
    let (code, _, report_stderr) = support::ollabench_binary(&report_args).await;
    assert_eq!(code, 1, "bad files fail the report: {report_stderr}");
    let written = report::write_report(&files, out.path()).unwrap();
    let mut report_used: Vec<String> = written
        .files
        .iter()
        .map(|f| f.display().to_string())
        .collect();
    report_used.sort();
    assert_eq!(compare_used, report_used);
    assert_eq!(report_used.len(), 4);

    let errors = |stderr: &str| -> Vec<String> {
        let mut lines: Vec<String> = stderr
            .lines()
            .filter(|l| l.starts_with("error: "))
            .map(String::from)
            .collect();
        lines.sort();
        lines
    };
    assert_eq!(errors(&compare_stderr), errors(&report_stderr));
    assert_eq!(errors(&report_stderr).len(), 4, "{report_stderr}");
    let malformed = format!(
        "error: {}: line 6, column 3: malformed JSON: trailing comma",
        args[3]
    );
    assert!(
        errors(&report_stderr)
            .iter()
            .any(|l| l.starts_with(&malformed)),
        "{report_stderr}"
    );
    let problems: Vec<String> = written
        .problems
        .iter()
        .map(|p| format!("error: {p}"))
        .collect();
    let mut problems = problems;
    problems.sort();
    assert_eq!(problems, errors(&compare_stderr));
}

#[tokio::test]
async fn no_usable_file_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("broken.json"), "not json").unwrap();
    std::fs::write(dir.path().join("package.json"), "{\"name\": \"x\"}").unwrap();
    let dir_arg = dir.path().to_str().unwrap();
    assert_eq!(support::ollabench(&["report", dir_arg]).await, 2);
    assert!(!dir.path().join("report.html").exists());
    let missing = dir.path().join("missing.json");
    assert_eq!(
        support::ollabench(&["report", missing.to_str().unwrap()]).await,
        2
    );
    let empty = tempfile::tempdir().unwrap();
    assert_eq!(
        support::ollabench(&["report", empty.path().to_str().unwrap()]).await,
        2
    );
    let (code, _, stderr) = support::ollabench_binary(&["report", dir_arg]).await;
    assert_eq!(code, 2);
    assert!(
        stderr.contains("broken.json") && stderr.contains("no usable result file"),
        "{stderr}"
    );
}

#[tokio::test]
async fn the_report_is_written_next_to_the_results_by_default() {
    let dir = tempfile::tempdir().unwrap();
    copy_fixture("sim-run/multi-user.json", dir.path());
    let code = support::ollabench(&["report", dir.path().to_str().unwrap()]).await;
    assert_eq!(code, 0);
    assert!(dir.path().join("report.html").is_file());
    assert!(dir.path().join("summary.md").is_file());
    // A second report of the same folder does not read its own outputs.
    let written = report::write_report(&[dir.path().to_path_buf()], dir.path()).unwrap();
    assert_eq!(written.files.len(), 1);
    assert!(written.skipped.is_empty() && written.problems.is_empty());
}

/// Runs chromium with a deadline; returns (exit status, stdout, stderr).
async fn chromium(args: &[String]) -> (Option<i32>, String, String) {
    let child = tokio::process::Command::new("chromium")
        .args(args)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(120), child)
        .await
        .expect("chromium finishes within 120 s")
        .expect("chromium runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn chromium_installed() -> bool {
    std::process::Command::new("chromium")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[tokio::test]
async fn the_report_opens_in_headless_chromium_without_errors() {
    if !chromium_installed() {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium is missing on CI: run scripts/install-chromium.sh"
        );
        eprintln!("\n!!!! NOTE: chromium not installed, the browser check of report.html did NOT run; install it with scripts/install-chromium.sh !!!!\n");
        return;
    }
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    let out_dir = target.join("report-browser");
    let written = report::write_report(
        &[
            fixture("sim-run"),
            fixture("one-sample"),
            fixture("trend"),
            fixture("reference/multi-user.json"),
            fixture("comparison-report.json"),
        ],
        &out_dir,
    )
    .unwrap();
    let html = read(&written.html);
    let expected = charts(&html);
    assert_eq!(
        kinds(&expected),
        ["bars", "cdf", "scaling", "timeline", "trend"]
    );
    let url = format!("file://{}", written.html.canonicalize().unwrap().display());
    let profile = tempfile::tempdir().unwrap();
    let common: Vec<String> = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--enable-logging=stderr",
        "--v=0",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([format!("--user-data-dir={}", profile.path().display())])
    .collect();

    // The DOM as the browser parsed it: every chart is there, with data.
    let mut args = common.clone();
    args.extend(["--dump-dom".to_string(), url.clone()]);
    let (status, dom, stderr) = chromium(&args).await;
    assert_eq!(status, Some(0), "chromium --dump-dom failed: {stderr}");
    let parsed = charts(&dom);
    assert_eq!(
        parsed.len(),
        expected.len(),
        "charts in the DOM: {parsed:?}"
    );
    for (kind, id, points) in &parsed {
        assert!(*points > 0, "chart {id} ({kind}) drew no data");
    }
    let console_errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Uncaught") || l.contains("net::ERR_"))
        .collect();
    assert!(
        console_errors.is_empty(),
        "console errors: {console_errors:#?}"
    );

    // A screenshot to look at.
    let screenshot = target.join("report-screenshot.png");
    let _ = std::fs::remove_file(&screenshot);
    let mut args = common;
    args.extend([
        format!("--screenshot={}", screenshot.display()),
        "--window-size=1280,4000".to_string(),
        "--hide-scrollbars".to_string(),
        url,
    ]);
    let (status, _, stderr) = chromium(&args).await;
    assert_eq!(status, Some(0), "chromium --screenshot failed: {stderr}");
    let png = std::fs::read(&screenshot).expect("the screenshot was written");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(
        png.len() > 50_000,
        "the screenshot is nearly empty ({} bytes)",
        png.len()
    );
    eprintln!("screenshot: {}", screenshot.display());
}

#[tokio::test]
async fn a_report_of_a_real_run_against_the_simulator() {
    let sim = support::start_sim(support::sim_config(0.02, &[])).await;
    let url = sim.url();
    let dir = tempfile::tempdir().unwrap();
    let single = dir.path().join("single-user.json");
    let tps = dir.path().join("tokens-per-second.json");
    for args in [
        support::single_user_args(&url, "phi3.5", &single, &[]),
        support::tps_args(&url, "phi3.5", "short,long", "2", &tps, &[]),
    ] {
        assert_eq!(support::ollabench(&support::arg_refs(&args)).await, 0);
    }
    let written = report::write_report(&[dir.path().to_path_buf()], dir.path()).unwrap();
    let html = read(&written.html);
    assert_self_contained(&html);
    let charts = charts(&html);
    assert!(kinds(&charts).starts_with(&["bars", "cdf"]), "{charts:?}");
    assert!(
        charts.iter().all(|(_, _, points)| *points > 0),
        "{charts:?}"
    );
    assert!(html.contains("banner simulated"));
    // TTFT and ITL are drawn from the whole recorded distribution (the cells' histograms),
    // not through six percentiles: every one of the ~200 gaps between tokens of a cell's two
    // requests has its step, and no curve falls back to the percentiles.
    let (_, _, itl_points) = charts
        .iter()
        .find(|(kind, chart, _)| kind == "cdf" && chart.ends_with("itl"))
        .unwrap_or_else(|| panic!("no ITL chart: {charts:?}"));
    assert!(*itl_points > 2 * 20, "ITL: {itl_points} points");
    assert!(!html.contains("drawn through the recorded percentiles"));
    // No table needs horizontal scrolling: none is wider than the page allows.
    assert!(!html.contains("overflow-x"));
    for table in html.split("<table").skip(1) {
        let head = table.split("</thead>").next().unwrap_or("");
        assert!(
            head.matches("<th ").count() <= ollabench::report::html::MAX_COLUMNS,
            "{head}"
        );
    }
    let markdown = read(&written.markdown).replace(&url, "http://SIM");
    insta::assert_snapshot!("real_simulated_run_summary", redact_run(&markdown));
    sim.shutdown().await;
}

#[test]
fn redaction_hides_what_changes_between_runs() {
    let markdown = "| Variance (tok/s) (phi3.5/Long) | 3.1% | ⚠️ Warning | Target < 5% | Check a \\| b |\n| phi3.5 | Short | 60.1 | Stable |\n| Command line | /tmp/x --y |";
    assert_eq!(
        redact_run(markdown),
        "| Variance (tok/s) (phi3.5/<prompt>) | #% | <verdict> | Target < #% | <advice> |\n| phi3.5 | Short | # | <stability> |\n| Command line | <command line> |"
    );
}

#[test]
fn redaction_keeps_names_and_hides_timings() {
    assert_eq!(
        redact_numbers("| llama3.1:8b / Short | 42.57 | -1.5% | phi3.5 | 2025-11-03 10:00:05 |"),
        "| llama3.1:8b / Short | # | -#% | phi3.5 | #-#-# #:#:# |"
    );
}
