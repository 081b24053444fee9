//! Kubernetes endpoints against `tests/support/fake-kubectl`, a Python stand-in for kubectl
//! that really listens, forwards TCP to a target started here, and fails with kubectl's own
//! messages. Each test gives the fake its own log and pid files through the child's
//! environment, so tests run in parallel without touching the process environment.

mod support;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ollabench::exit::ConfigError;
use ollabench::kube::{
    discover_load_balancer, discover_load_balancer_with_env, PortForward, PortForwardOptions,
    PortForwardSettings,
};
use support::{is_running, process_state};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// Generous: the fake is a Python process on a busy two-core machine.
const DEADLINE: Duration = Duration::from_secs(20);

fn fake_kubectl() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/fake-kubectl")
}

/// A line server standing in for Ollama behind the service: answers `pong N: LINE` to each
/// line, N counting connections.
async fn start_target() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut connections = 0u32;
        while let Ok((stream, _)) = listener.accept().await {
            connections += 1;
            let number = connections;
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let reply = format!("pong {number}: {line}\n");
                    if write.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// One test's fake cluster: a target, and files the fake kubectl logs its calls and pids to.
struct Cluster {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Cluster {
    async fn new() -> Cluster {
        Cluster::forwarding_to(start_target().await)
    }

    fn forwarding_to(target: std::net::SocketAddr) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let env = vec![
            (
                "FAKE_KUBECTL_LOG".to_string(),
                dir.path().join("calls.jsonl").display().to_string(),
            ),
            (
                "FAKE_KUBECTL_PIDS".to_string(),
                dir.path().join("pids").display().to_string(),
            ),
            ("FAKE_KUBECTL_TARGET".to_string(), target.to_string()),
        ];
        Cluster { dir, env }
    }

    fn with(mut self, key: &str, value: &str) -> Cluster {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    fn settings(&self) -> PortForwardSettings {
        PortForwardSettings {
            env: self.env.clone(),
            ..PortForwardSettings::default()
        }
    }

    /// The argv of every kubectl call so far.
    fn calls(&self) -> Vec<Vec<String>> {
        match std::fs::read_to_string(self.dir.path().join("calls.jsonl")) {
            Ok(text) => text
                .lines()
                .map(|line| serde_json::from_str(line).unwrap())
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// The pid of every kubectl process started so far.
    fn pids(&self) -> Vec<u32> {
        match std::fs::read_to_string(self.dir.path().join("pids")) {
            Ok(text) => text.lines().map(|line| line.parse().unwrap()).collect(),
            Err(_) => Vec::new(),
        }
    }

    async fn start(&self, local_port: u16) -> anyhow::Result<PortForward> {
        self.start_with(local_port, self.settings(), CancellationToken::new())
            .await
    }

    async fn start_with(
        &self,
        local_port: u16,
        settings: PortForwardSettings,
        cancel: CancellationToken,
    ) -> anyhow::Result<PortForward> {
        PortForward::start_with(options(local_port), settings, cancel).await
    }

    async fn discover(&self) -> anyhow::Result<Option<String>> {
        discover_load_balancer_with_env(&fake_kubectl(), "ollama", "ollama", &self.env).await
    }
}

fn options(local_port: u16) -> PortForwardOptions {
    PortForwardOptions {
        kubectl: fake_kubectl(),
        namespace: "ollama".into(),
        service: "ollama".into(),
        local_port,
        remote_port: 11434,
    }
}

/// Polls `condition` until it holds; fails the test with `what` after [`DEADLINE`].
async fn wait_for(what: &str, condition: impl FnMut() -> bool) {
    support::wait_for(what, DEADLINE, condition).await
}

/// Waits until every kubectl process is gone: killed and reaped, so not even a zombie.
async fn wait_until_all_gone(cluster: &Cluster) {
    let pids = cluster.pids();
    assert!(!pids.is_empty(), "kubectl was never started");
    let deadline = tokio::time::Instant::now() + DEADLINE;
    for pid in pids {
        while let Some(state) = process_state(pid) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "kubectl pid {pid} still exists in state {state}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Sends one line through the forward and returns the target's answer.
async fn exchange(port: u16, line: &str) -> std::io::Result<String> {
    let talk = async {
        let stream = TcpStream::connect(("127.0.0.1", port)).await?;
        let (read, mut write) = stream.into_split();
        write.write_all(format!("{line}\n").as_bytes()).await?;
        let mut reply = String::new();
        BufReader::new(read).read_line(&mut reply).await?;
        Ok(reply.trim_end().to_string())
    };
    tokio::time::timeout(Duration::from_secs(5), talk)
        .await
        .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn assert_usage_error(err: &anyhow::Error) {
    assert!(
        err.downcast_ref::<ConfigError>().is_some(),
        "expected a usage error (exit code 2): {err:#}"
    );
}

#[tokio::test]
async fn forwards_traffic_from_the_port_kubectl_picked() {
    let cluster = Cluster::new().await;
    let forward = cluster.start(0).await.unwrap();

    assert_eq!(
        cluster.calls(),
        [["port-forward", "-n", "ollama", "service/ollama", "0:11434"]]
    );
    let port = forward.port();
    assert_ne!(port, 0);
    assert_eq!(forward.local_url(), format!("http://127.0.0.1:{port}"));
    let reply = exchange(port, "hello").await.unwrap();
    assert!(reply.ends_with(": hello"), "{reply}");
    assert_eq!(forward.restarts(), 0);

    forward.stop().await;
    // stop() waits for the child, so it is gone at once, not eventually.
    let pids = cluster.pids();
    assert_eq!(pids.len(), 1);
    assert_eq!(process_state(pids[0]), None, "kubectl survived stop()");
    assert!(exchange(port, "after stop").await.is_err());
}

#[tokio::test]
async fn forwards_from_the_local_port_asked_for() {
    let cluster = Cluster::new().await;
    let port = free_port();
    let forward = cluster.start(port).await.unwrap();

    assert_eq!(forward.local_url(), format!("http://127.0.0.1:{port}"));
    assert_eq!(cluster.calls()[0][4], format!("{port}:11434"));
    let reply = exchange(port, "fixed").await.unwrap();
    assert!(reply.ends_with(": fixed"), "{reply}");
    forward.stop().await;
    wait_until_all_gone(&cluster).await;
}

#[tokio::test]
async fn restarts_kubectl_when_it_dies() {
    let cluster = Cluster::new().await;
    let forward = cluster.start(0).await.unwrap();
    let port = forward.port();
    assert!(exchange(port, "before").await.is_ok());
    let first = cluster.pids()[0];

    let killed = std::process::Command::new("kill")
        .args(["-KILL", &first.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());

    wait_for("a second kubectl", || cluster.pids().len() == 2).await;
    let second = cluster.pids()[1];
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let reply = loop {
        match exchange(port, "after").await {
            Ok(reply) => break reply,
            Err(err) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "no traffic after the restart: {err}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    assert!(reply.ends_with(": after"), "{reply}");
    assert_eq!(forward.restarts(), 1);
    assert!(!forward.gave_up());
    assert_eq!(forward.local_url(), format!("http://127.0.0.1:{port}"));
    // The restart reuses the port kubectl picked the first time, so the URL stays valid.
    assert_eq!(
        cluster.calls()[1],
        [
            "port-forward",
            "-n",
            "ollama",
            "service/ollama",
            &format!("{port}:11434")
        ]
    );
    assert_eq!(
        process_state(first),
        None,
        "the killed kubectl was not reaped"
    );
    assert!(is_running(second));

    forward.stop().await;
    assert_eq!(process_state(second), None, "kubectl survived stop()");
}

#[tokio::test]
async fn gives_up_after_the_allowed_restarts() {
    // Every kubectl after the first fails at once, like a pod that is gone for good.
    let cluster = Cluster::new().await.with("FAKE_KUBECTL_MAX_STARTS", "1");
    let settings = PortForwardSettings {
        max_restarts: 2,
        ..cluster.settings()
    };
    let forward = cluster
        .start_with(0, settings, CancellationToken::new())
        .await
        .unwrap();
    let first = cluster.pids()[0];
    std::process::Command::new("kill")
        .args(["-KILL", &first.to_string()])
        .status()
        .unwrap();

    wait_for("the supervisor to give up", || forward.gave_up()).await;
    assert_eq!(forward.restarts(), 2);
    assert_eq!(cluster.calls().len(), 3, "{:?}", cluster.calls());
    wait_until_all_gone(&cluster).await;
    forward.stop().await;
}

#[tokio::test]
async fn dropping_the_forward_kills_kubectl() {
    let cluster = Cluster::new().await;
    let forward = cluster.start(0).await.unwrap();
    let pid = cluster.pids()[0];
    assert!(is_running(pid));

    drop(forward);
    wait_until_all_gone(&cluster).await;
}

#[tokio::test]
async fn cancelling_the_run_kills_kubectl() {
    let cluster = Cluster::new().await;
    let cancel = CancellationToken::new();
    let forward = cluster
        .start_with(0, cluster.settings(), cancel.clone())
        .await
        .unwrap();
    let port = forward.port();
    assert!(exchange(port, "before").await.is_ok());

    cancel.cancel();
    wait_until_all_gone(&cluster).await;
    assert_eq!(
        forward.restarts(),
        0,
        "a cancelled forward must not restart"
    );
    assert!(exchange(port, "after cancel").await.is_err());
    forward.stop().await;
    assert_eq!(cluster.pids().len(), 1);
}

#[tokio::test]
async fn cancelling_while_kubectl_starts_kills_it() {
    let cluster = Cluster::new().await.with("FAKE_KUBECTL_HANG", "1");
    let cancel = CancellationToken::new();
    let starting = tokio::spawn({
        let settings = cluster.settings();
        let cancel = cancel.clone();
        async move { PortForward::start_with(options(0), settings, cancel).await }
    });
    wait_for("kubectl to start", || !cluster.pids().is_empty()).await;

    cancel.cancel();
    let err = starting.await.unwrap().expect_err("start must fail");
    assert!(format!("{err:#}").contains("interrupted"), "{err:#}");
    assert_eq!(process_state(cluster.pids()[0]), None);
}

#[tokio::test]
async fn kubectl_that_never_forwards_times_out_and_is_killed() {
    let cluster = Cluster::new().await.with("FAKE_KUBECTL_HANG", "1");
    let settings = PortForwardSettings {
        ready_timeout: Duration::from_millis(500),
        ..cluster.settings()
    };
    let err = cluster
        .start_with(0, settings, CancellationToken::new())
        .await
        .expect_err("start must fail");
    let message = format!("{err:#}");
    assert!(message.contains("not forwarding after 500ms"), "{message}");
    assert!(message.contains("kubectl get pods -n ollama"), "{message}");
    // On a busy machine the fake kubectl may be killed before it records its pid; every
    // kubectl that did start must be gone.
    for pid in cluster.pids() {
        assert_eq!(process_state(pid), None);
    }
}

/// Starting the port-forward fails, as a usage error, quoting what kubectl said and with a
/// hint that says `hint`; returns the message.
async fn start_fails_with_hint(cluster: &Cluster, kubectl_said: &str, hint: &str) -> String {
    let err = cluster.start(0).await.expect_err("start must fail");
    let message = format!("{err:#}");
    assert!(message.contains(kubectl_said), "{message}");
    assert!(
        message.contains("hint:") && message.contains(hint),
        "{message}"
    );
    assert_usage_error(&err);
    message
}

#[tokio::test]
async fn missing_namespace_shows_kubectl_error_and_hint() {
    let cluster = Cluster::new()
        .await
        .with("FAKE_KUBECTL_NAMESPACES", "default");
    let message = start_fails_with_hint(
        &cluster,
        r#"Error from server (NotFound): namespaces "ollama" not found"#,
        "--namespace",
    )
    .await;
    assert!(message.contains("(exit status: 1)"), "{message}");
    wait_until_all_gone(&cluster).await;
}

#[tokio::test]
async fn missing_service_shows_kubectl_error_and_hint() {
    let cluster = Cluster::new().await.with("FAKE_KUBECTL_SERVICES", "llama");
    start_fails_with_hint(
        &cluster,
        r#"Error from server (NotFound): services "ollama" not found"#,
        "kubectl get svc -n ollama",
    )
    .await;
}

#[tokio::test]
async fn no_cluster_shows_kubectl_error_and_hint() {
    let cluster = Cluster::new().await.with("FAKE_KUBECTL_NO_CLUSTER", "1");
    start_fails_with_hint(
        &cluster,
        "The connection to the server localhost:8080 was refused",
        "kubectl config current-context",
    )
    .await;
}

#[tokio::test]
async fn taken_local_port_shows_kubectl_error_and_hint() {
    let cluster = Cluster::new().await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let err = cluster.start(port).await.expect_err("start must fail");
    let message = format!("{err:#}");
    assert!(
        message.contains("unable to listen on any of the requested ports"),
        "{message}"
    );
    assert!(message.contains("--local-port 0"), "{message}");
}

#[tokio::test]
async fn missing_kubectl_binary_says_how_to_fix_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("kubectl");
    let options = PortForwardOptions {
        kubectl: missing.clone(),
        ..options(0)
    };
    let err = PortForward::start(options, CancellationToken::new())
        .await
        .expect_err("start must fail");
    let message = format!("{err:#}");
    assert!(
        message.contains(&missing.display().to_string()),
        "{message}"
    );
    assert!(message.contains("No such file or directory"), "{message}");
    assert!(message.contains("--kubectl PATH"), "{message}");
    assert_usage_error(&err);
}

#[tokio::test]
async fn discovers_a_load_balancer_ip() {
    let cluster = Cluster::new().await.with("FAKE_KUBECTL_LB", "20.54.123.45");
    let url = cluster.discover().await.unwrap();
    assert_eq!(url.as_deref(), Some("http://20.54.123.45:11434"));
    assert_eq!(
        cluster.calls(),
        [["get", "svc", "-n", "ollama", "ollama", "-o", "json"]]
    );
}

#[tokio::test]
async fn discovers_a_load_balancer_host_name_and_port() {
    let cluster = Cluster::new()
        .await
        .with("FAKE_KUBECTL_LB", "ollama.example.com")
        .with("FAKE_KUBECTL_LB_PORT", "80");
    let url = cluster.discover().await.unwrap();
    assert_eq!(url.as_deref(), Some("http://ollama.example.com:80"));
}

#[tokio::test]
async fn service_without_ingress_discovers_nothing() {
    let cluster = Cluster::new().await;
    assert_eq!(cluster.discover().await.unwrap(), None);
    assert_eq!(cluster.calls().len(), 1);
}

#[tokio::test]
async fn discovery_without_kubectl_is_none() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("kubectl");
    assert_eq!(
        discover_load_balancer(&missing, "ollama", "ollama")
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn discovery_failures_carry_kubectl_error_and_hint() {
    let cases = [
        (
            "FAKE_KUBECTL_NAMESPACES",
            "default",
            r#"namespaces "ollama" not found"#,
            "--namespace",
        ),
        (
            "FAKE_KUBECTL_SERVICES",
            "llama",
            r#"services "ollama" not found"#,
            "--service",
        ),
        (
            "FAKE_KUBECTL_NO_CLUSTER",
            "1",
            "The connection to the server localhost:8080 was refused",
            "cannot reach a cluster",
        ),
    ];
    for (key, value, kubectl_says, hint) in cases {
        let cluster = Cluster::new().await.with(key, value);
        let err = cluster.discover().await.expect_err("discovery must fail");
        let message = format!("{err:#}");
        assert!(
            message.contains("fake-kubectl get svc -n ollama ollama -o json` failed"),
            "{message}"
        );
        assert!(message.contains(kubectl_says), "{message}");
        assert!(
            message.contains("hint:") && message.contains(hint),
            "{message}"
        );
        assert!(err
            .downcast_ref::<ollabench::kube::KubectlFailure>()
            .is_some());
    }
}

/// ollabench on Ctrl-C cancels the run and returns from main, which drops the runtime: the
/// supervisor may never run again, and `kill_on_drop` has to kill kubectl.
#[test]
fn shutting_down_the_runtime_kills_kubectl() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (cluster, forward) = runtime.block_on(async {
        let cluster = Cluster::new().await;
        let forward = cluster.start(0).await.unwrap();
        (cluster, forward)
    });
    let pid = cluster.pids()[0];
    assert!(is_running(pid));

    // Leaked so that only the runtime's shutdown, not the handle's drop, can stop kubectl.
    std::mem::forget(forward);
    drop(runtime);
    let deadline = std::time::Instant::now() + DEADLINE;
    // Killed is what counts: with the runtime gone nobody reaps it here, as with a real
    // process the zombie goes away when ollabench exits.
    while is_running(pid) {
        assert!(
            std::time::Instant::now() < deadline,
            "kubectl pid {pid} outlived the runtime"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs the ollabench binary with the fake kubectl and this cluster's environment; returns
/// (exit code, stdout, stderr).
async fn ollabench_binary(cluster: &Cluster, args: &[&str]) -> (i32, String, String) {
    let mut command = support::ollabench_command(args);
    command
        .arg("--kubectl")
        .arg(fake_kubectl())
        .envs(cluster.env.iter().map(|(key, value)| (key, value)));
    support::finish(command).await
}

/// Asserts that the recording server was asked for `/api/version`, the request arriving
/// `route`.
fn assert_version_asked(paths: &Mutex<Vec<String>>, route: &str) {
    let paths = paths.lock().unwrap();
    assert!(
        paths.iter().any(|path| path == "/api/version"),
        "no request arrived {route}: {paths:?}"
    );
}

/// An HTTP server that records the paths asked for and answers 404 to all: enough to see
/// which endpoint ollabench resolved and that its requests arrived.
async fn recording_http_server() -> (std::net::SocketAddr, Arc<Mutex<Vec<String>>>) {
    let paths = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&paths);
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let seen = Arc::clone(&seen);
        async move {
            seen.lock().unwrap().push(uri.path().to_string());
            axum::http::StatusCode::NOT_FOUND
        }
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, paths)
}

#[tokio::test]
async fn test_connection_goes_through_the_port_forward_and_leaves_no_kubectl() {
    let (server, paths) = recording_http_server().await;
    let cluster = Cluster::forwarding_to(server);
    let (_code, stdout, stderr) = ollabench_binary(
        &cluster,
        &["test-connection", "--use-port-forward", "--local-port", "0"],
    )
    .await;

    assert!(
        stdout.contains("Testing connection to http://127.0.0.1:")
            && stdout.contains("(endpoint from a kubectl port-forward started by ollabench)"),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert_version_asked(&paths, "through the forward");
    assert_eq!(cluster.calls()[0][0], "port-forward");
    // ollabench has exited: its kubectl must be gone too.
    wait_until_all_gone(&cluster).await;
}

#[tokio::test]
async fn test_connection_without_endpoint_uses_the_load_balancer() {
    let (server, paths) = recording_http_server().await;
    let port = server.port().to_string();
    let cluster = Cluster::forwarding_to(server)
        .with("FAKE_KUBECTL_LB", "127.0.0.1")
        .with("FAKE_KUBECTL_LB_PORT", &port);
    let (_code, stdout, stderr) = ollabench_binary(&cluster, &["test-connection"]).await;

    assert!(
        stdout.contains(&format!(
            "Testing connection to http://127.0.0.1:{port} (endpoint from the Kubernetes service's LoadBalancer address)"
        )),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert_version_asked(&paths, "at the load balancer");
    assert_eq!(
        cluster.calls(),
        [["get", "svc", "-n", "ollama", "ollama", "-o", "json"]]
    );
}

#[tokio::test]
async fn port_forward_failure_exits_2_with_kubectl_message() {
    let cluster = Cluster::new().await.with("FAKE_KUBECTL_SERVICES", "llama");
    let (code, stdout, stderr) = ollabench_binary(
        &cluster,
        &[
            "test-connection",
            "--use-port-forward",
            "--service",
            "ollama",
        ],
    )
    .await;

    assert_eq!(code, 2, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stderr.contains(r#"Error from server (NotFound): services "ollama" not found"#),
        "{stderr}"
    );
    assert!(stderr.contains("hint:"), "{stderr}");
    wait_until_all_gone(&cluster).await;
}

/// With no cluster configured, the default endpoint lookup says why in one plain line;
/// kubectl's own lines (client-go's `memcache.go` errors) appear only with `--verbose`.
#[tokio::test]
async fn kubectl_noise_is_shown_only_with_verbose() {
    let (server, _paths) = recording_http_server().await;
    let cluster = Cluster::forwarding_to(server).with("FAKE_KUBECTL_NO_CLUSTER", "1");
    let (_code, _stdout, stderr) = ollabench_binary(&cluster, &["test-connection"]).await;
    let notes: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("LoadBalancer"))
        .collect();
    assert_eq!(notes.len(), 1, "{stderr}");
    assert!(
        notes[0].contains("kubectl cannot reach a cluster")
            && notes[0].contains("using http://localhost:11434")
            && notes[0].contains("--verbose"),
        "{stderr}"
    );
    assert!(!stderr.contains("memcache.go"), "{stderr}");
    assert!(!stderr.contains("localhost:8080"), "{stderr}");

    let (_code, _stdout, stderr) =
        ollabench_binary(&cluster, &["test-connection", "--verbose"]).await;
    assert!(stderr.contains("memcache.go"), "{stderr}");
    assert!(
        stderr.contains("The connection to the server localhost:8080 was refused"),
        "{stderr}"
    );
}
