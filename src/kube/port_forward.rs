//! The supervised `kubectl port-forward` child: started with an argument list, ready once
//! kubectl says it forwards and the local port accepts connections, restarted (a bounded number
//! of times) when it dies mid-run, and killed and reaped on `stop`, on drop and when the run is
//! cancelled (Ctrl-C).

use std::ffi::OsString;
use std::net::Ipv4Addr;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, ChildStderr, ChildStdout, Command};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{command_line, hint_for, last_lines, KubectlFailure};
use crate::exit::ConfigError;

/// How to start `kubectl port-forward`.
#[derive(Debug, Clone)]
pub struct PortForwardOptions {
    pub kubectl: std::path::PathBuf,
    pub namespace: String,
    pub service: String,
    /// 0 lets kubectl pick a free port; restarts then reuse the port it picked, so the URL
    /// handed out stays valid.
    pub local_port: u16,
    pub remote_port: u16,
}

/// How the child is run and supervised. The defaults suit a real cluster.
#[derive(Debug, Clone)]
pub struct PortForwardSettings {
    /// How long kubectl may take to start forwarding, at start and after each restart.
    pub ready_timeout: Duration,
    /// How many times a kubectl that died is started again during one run before giving up.
    pub max_restarts: u32,
    /// Extra environment for kubectl, on top of ollabench's own (which it inherits).
    pub env: Vec<(String, String)>,
}

impl Default for PortForwardSettings {
    fn default() -> Self {
        PortForwardSettings {
            ready_timeout: Duration::from_secs(30),
            max_restarts: 10,
            env: Vec::new(),
        }
    }
}

/// A running `kubectl port-forward`. The child is killed and reaped by [`PortForward::stop`],
/// when the cancel token given to [`PortForward::start`] is cancelled, and (without waiting)
/// when this value is dropped; `kill_on_drop` is the last line of defence when the runtime
/// itself goes away.
pub struct PortForward {
    local_url: String,
    port: u16,
    supervision: Arc<Supervision>,
    stop: CancellationToken,
    supervisor: Option<JoinHandle<()>>,
}

impl PortForward {
    /// Starts kubectl with default [`PortForwardSettings`] and waits until the local port
    /// answers.
    pub async fn start(
        options: PortForwardOptions,
        cancel: CancellationToken,
    ) -> anyhow::Result<PortForward> {
        PortForward::start_with(options, PortForwardSettings::default(), cancel).await
    }

    /// Starts kubectl and waits until it reports `Forwarding from 127.0.0.1:PORT` and the port
    /// accepts TCP connections. kubectl's failures come back with its stderr and a hint;
    /// a missing kubectl or one that exits at once is a usage error (nothing can be measured
    /// until the user fixes the setup).
    pub async fn start_with(
        options: PortForwardOptions,
        settings: PortForwardSettings,
        cancel: CancellationToken,
    ) -> anyhow::Result<PortForward> {
        let launcher = Launcher { options, settings };
        // A child token: cancelling the run stops the forward, stopping the forward leaves the
        // run alone.
        let stop = cancel.child_token();
        let running = launcher
            .launch(launcher.options.local_port, &stop)
            .await
            .map_err(|err| launcher.start_error(err))?;
        let port = running.port;
        let local_url = format!("http://127.0.0.1:{port}");
        let supervision = Arc::new(Supervision::default());
        let supervisor = tokio::spawn(supervise(
            running,
            launcher,
            local_url.clone(),
            Arc::clone(&supervision),
            stop.clone(),
        ));
        Ok(PortForward {
            local_url,
            port,
            supervision,
            stop,
            supervisor: Some(supervisor),
        })
    }

    /// The URL the forwarded service answers at: `http://127.0.0.1:PORT`.
    pub fn local_url(&self) -> &str {
        &self.local_url
    }

    /// The local port kubectl listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// How many times kubectl was started again after it died.
    pub fn restarts(&self) -> u32 {
        self.supervision.restarts.load(Ordering::SeqCst)
    }

    /// Whether kubectl died more often than allowed and is no longer restarted.
    pub fn gave_up(&self) -> bool {
        self.supervision.gave_up.load(Ordering::SeqCst)
    }

    /// Kills the child and waits until it is reaped.
    pub async fn stop(mut self) {
        self.stop.cancel();
        if let Some(supervisor) = self.supervisor.take() {
            // The supervisor only ends by returning; a join error means the runtime is going
            // away, and then `kill_on_drop` has killed the child.
            let _ = supervisor.await;
        }
    }
}

impl std::fmt::Debug for PortForward {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortForward")
            .field("local_url", &self.local_url)
            .field("restarts", &self.restarts())
            .field("gave_up", &self.gave_up())
            .finish()
    }
}

impl Drop for PortForward {
    fn drop(&mut self) {
        // The supervisor kills and reaps the child as soon as it runs again.
        self.stop.cancel();
    }
}

/// What the supervisor reports to the [`PortForward`] handle.
#[derive(Debug, Default)]
struct Supervision {
    restarts: AtomicU32,
    gave_up: AtomicBool,
}

/// Restarts kubectl whenever it dies, until it has been restarted `max_restarts` times or the
/// forward is stopped; on stop it kills the child and waits for it.
async fn supervise(
    mut running: Running,
    launcher: Launcher,
    local_url: String,
    supervision: Arc<Supervision>,
    stop: CancellationToken,
) {
    let max_restarts = launcher.settings.max_restarts;
    loop {
        let status = tokio::select! {
            _ = stop.cancelled() => {
                running.kill().await;
                return;
            }
            status = running.child.wait() => status,
        };
        let mut reason = running.exit_reason(status).await;
        loop {
            let restarts = supervision.restarts.load(Ordering::SeqCst);
            if restarts >= max_restarts {
                supervision.gave_up.store(true, Ordering::SeqCst);
                crate::errln!(
                    "error: kubectl port-forward stopped ({reason}) and may not be restarted \
                     again (limit: {max_restarts} restarts): requests to {local_url} will fail"
                );
                return;
            }
            // The pause also absorbs Ctrl-C in a terminal, which reaches kubectl (same process
            // group) at the same moment as ollabench: the cancellation arrives during it.
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(restart_delay(restarts)) => {}
            }
            let attempt = restarts + 1;
            supervision.restarts.store(attempt, Ordering::SeqCst);
            crate::errln!(
                "warning: kubectl port-forward stopped ({reason}); restarting it \
                 ({attempt} of at most {max_restarts} restarts)"
            );
            match launcher.launch(running.port, &stop).await {
                Ok(restarted) => {
                    running = restarted;
                    crate::errln!("note: kubectl port-forward is forwarding again at {local_url}");
                    break;
                }
                Err(LaunchError::Cancelled) => return,
                Err(err) => reason = err.summary(),
            }
        }
    }
}

/// 250 ms after the first death, doubling up to 5 s: quick when a pod was just replaced, gentle
/// on an API server that is down.
fn restart_delay(restarts_so_far: u32) -> Duration {
    let factor = 1u32 << restarts_so_far.min(5);
    Duration::from_millis(250)
        .saturating_mul(factor)
        .min(Duration::from_secs(5))
}

/// Starts kubectl processes for one forward.
struct Launcher {
    options: PortForwardOptions,
    settings: PortForwardSettings,
}

/// Why a kubectl process did not come up.
enum LaunchError {
    /// The forward was stopped or the run cancelled while waiting.
    Cancelled,
    /// No executable at the `--kubectl` path or on `PATH`.
    NotInstalled(std::io::Error),
    /// Any other reason the process could not be started.
    Spawn(std::io::Error),
    /// kubectl exited before it was forwarding.
    Exited(KubectlFailure),
    /// kubectl kept running but did not forward within the ready timeout.
    NotReady(KubectlFailure),
}

impl LaunchError {
    /// One line for the supervisor's log.
    fn summary(&self) -> String {
        match self {
            LaunchError::Cancelled => "cancelled".to_string(),
            LaunchError::NotInstalled(err) | LaunchError::Spawn(err) => {
                format!("cannot run kubectl: {err}")
            }
            LaunchError::Exited(failure) | LaunchError::NotReady(failure) => {
                summarize(&failure.status, &failure.stderr)
            }
        }
    }
}

fn summarize(status: &str, stderr: &str) -> String {
    match stderr.lines().last() {
        Some(line) => format!("{status}; kubectl said: {line}"),
        None => status.to_string(),
    }
}

impl Launcher {
    fn args(&self, local_port: u16) -> Vec<OsString> {
        vec![
            "port-forward".into(),
            "-n".into(),
            self.options.namespace.clone().into(),
            format!("service/{}", self.options.service).into(),
            format!("{local_port}:{}", self.options.remote_port).into(),
        ]
    }

    fn command_line(&self, local_port: u16) -> String {
        command_line(&self.options.kubectl, &self.args(local_port))
    }

    fn hint(&self, stderr: &str) -> String {
        hint_for(stderr, &self.options.namespace, &self.options.service)
    }

    /// Starts one kubectl and waits until it forwards, exits, times out or is cancelled.
    async fn launch(
        &self,
        local_port: u16,
        stop: &CancellationToken,
    ) -> Result<Running, LaunchError> {
        let mut command = Command::new(&self.options.kubectl);
        command
            .args(self.args(local_port))
            .envs(self.settings.env.iter().map(|(key, value)| (key, value)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Err(LaunchError::NotInstalled(err))
            }
            Err(err) => return Err(LaunchError::Spawn(err)),
        };
        let stderr = Arc::new(OutputTail::default());
        let stderr_reader = child
            .stderr
            .take()
            .map(|pipe| tokio::spawn(read_stderr(pipe, Arc::clone(&stderr))));
        let (port_tx, port_rx) = oneshot::channel();
        if let Some(pipe) = child.stdout.take() {
            // Keeps draining after the port is known: kubectl logs every connection there, and a
            // full pipe would block it.
            tokio::spawn(read_stdout(pipe, port_tx));
        }
        let ready = async {
            match port_rx.await {
                Ok(port) => {
                    wait_until_accepting(port).await;
                    port
                }
                // stdout closed without a forwarding line: kubectl is exiting, and the exit
                // branch reports it.
                Err(_) => std::future::pending().await,
            }
        };
        let outcome = tokio::select! {
            _ = stop.cancelled() => Launch::Cancelled,
            status = child.wait() => Launch::Exited(status),
            port = ready => Launch::Ready(port),
            _ = tokio::time::sleep(self.settings.ready_timeout) => Launch::TimedOut,
        };
        let mut running = Running {
            child,
            port: local_port,
            stderr,
            stderr_reader,
        };
        match outcome {
            Launch::Ready(port) => {
                running.port = port;
                Ok(running)
            }
            Launch::Cancelled => {
                running.kill().await;
                Err(LaunchError::Cancelled)
            }
            Launch::Exited(status) => {
                let stderr = running.stderr_after_exit().await;
                Err(LaunchError::Exited(KubectlFailure {
                    command: self.command_line(local_port),
                    status: describe_status(status),
                    hint: self.hint(&stderr),
                    stderr,
                }))
            }
            Launch::TimedOut => {
                running.kill().await;
                let stderr = running.stderr_after_exit().await;
                let hint = if stderr.is_empty() {
                    format!(
                        "kubectl never reported `Forwarding from 127.0.0.1:PORT`: check that \
                         the pods behind the service run (`kubectl get pods -n {}`) and try \
                         the command by hand",
                        self.options.namespace
                    )
                } else {
                    self.hint(&stderr)
                };
                Err(LaunchError::NotReady(KubectlFailure {
                    command: self.command_line(local_port),
                    status: format!(
                        "not forwarding after {:?}; stopped it",
                        self.settings.ready_timeout
                    ),
                    stderr,
                    hint,
                }))
            }
        }
    }

    /// The error `PortForward::start` returns.
    fn start_error(&self, err: LaunchError) -> anyhow::Error {
        let program = self.options.kubectl.display();
        match err {
            LaunchError::Cancelled => anyhow::anyhow!(
                "interrupted while waiting for `{}` to start forwarding",
                self.command_line(self.options.local_port)
            ),
            LaunchError::NotInstalled(error) => anyhow::Error::new(ConfigError::KubectlMissing {
                program: program.to_string(),
                error,
            }),
            LaunchError::Spawn(err) => anyhow::anyhow!(
                "cannot run kubectl `{program}`: {err}\nhint: --kubectl must name an \
                 executable kubectl"
            ),
            LaunchError::Exited(failure) => {
                anyhow::Error::new(ConfigError::Kubectl(failure.to_string()))
            }
            LaunchError::NotReady(failure) => anyhow::Error::new(failure),
        }
    }
}

/// How one launch ended.
enum Launch {
    Ready(u16),
    Exited(std::io::Result<ExitStatus>),
    TimedOut,
    Cancelled,
}

fn describe_status(status: std::io::Result<ExitStatus>) -> String {
    match status {
        Ok(status) => status.to_string(),
        Err(err) => format!("its exit status is unknown: {err}"),
    }
}

/// One kubectl process and what it wrote to stderr.
struct Running {
    child: Child,
    /// The local port: the one kubectl reported once ready.
    port: u16,
    stderr: Arc<OutputTail>,
    stderr_reader: Option<JoinHandle<()>>,
}

impl Running {
    /// Kills the process and reaps it, so no zombie stays behind either.
    async fn kill(&mut self) {
        // Fails only when the process is already gone, which is the goal.
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }

    /// kubectl's stderr once it has exited: the reader gets a moment to reach end of file.
    async fn stderr_after_exit(&mut self) -> String {
        if let Some(reader) = self.stderr_reader.take() {
            // A grandchild could hold the pipe open; the tail read so far then has to do.
            let _ = tokio::time::timeout(Duration::from_secs(1), reader).await;
        }
        self.stderr.text()
    }

    /// Why kubectl stopped, in one line.
    async fn exit_reason(&mut self, status: std::io::Result<ExitStatus>) -> String {
        let stderr = self.stderr_after_exit().await;
        summarize(&describe_status(status), &stderr)
    }
}

/// The end of a child's stderr, bounded so a chatty kubectl cannot grow it without limit.
#[derive(Debug, Default)]
struct OutputTail(Mutex<String>);

/// Bytes of stderr kept; messages are read from its last lines.
const MAX_TAIL_BYTES: usize = 16 * 1024;

impl OutputTail {
    fn lock(&self) -> MutexGuard<'_, String> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn push(&self, line: &str) {
        let mut tail = self.lock();
        tail.push_str(line.trim_end_matches(['\r', '\n']));
        tail.push('\n');
        if tail.len() > MAX_TAIL_BYTES {
            let mut cut = tail.len() - MAX_TAIL_BYTES;
            while !tail.is_char_boundary(cut) {
                cut += 1;
            }
            tail.drain(..cut);
        }
    }

    fn text(&self) -> String {
        last_lines(&self.lock())
    }
}

/// Calls `each` with every line of `pipe` (lossily decoded, line end kept) until it ends.
async fn for_each_line(pipe: impl AsyncRead + Unpin, mut each: impl FnMut(&str)) {
    let mut reader = BufReader::new(pipe);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => each(&String::from_utf8_lossy(&line)),
        }
    }
}

async fn read_stderr(pipe: ChildStderr, tail: Arc<OutputTail>) {
    for_each_line(pipe, |line| tail.push(line)).await;
}

async fn read_stdout(pipe: ChildStdout, port_tx: oneshot::Sender<u16>) {
    let mut port_tx = Some(port_tx);
    for_each_line(pipe, |line| {
        if let Some(port) = forwarding_port(line) {
            if let Some(tx) = port_tx.take() {
                let _ = tx.send(port);
            }
        }
    })
    .await;
}

/// The local port from kubectl's `Forwarding from 127.0.0.1:PORT -> REMOTE`. Only the IPv4
/// line counts: the URL handed out is `http://127.0.0.1:PORT`.
fn forwarding_port(line: &str) -> Option<u16> {
    let rest = line.trim().strip_prefix("Forwarding from 127.0.0.1:")?;
    let (port, _remote) = rest.split_once("->")?;
    port.trim().parse().ok()
}

/// Returns once 127.0.0.1:PORT accepts a TCP connection.
async fn wait_until_accepting(port: u16) {
    const PROBE_INTERVAL: Duration = Duration::from_millis(50);
    loop {
        let connect = TcpStream::connect((Ipv4Addr::LOCALHOST, port));
        if let Ok(Ok(_stream)) = tokio::time::timeout(Duration::from_secs(1), connect).await {
            return;
        }
        tokio::time::sleep(PROBE_INTERVAL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_port_kubectl_forwards_from() {
        assert_eq!(
            forwarding_port("Forwarding from 127.0.0.1:43211 -> 11434\n"),
            Some(43211)
        );
        assert_eq!(
            forwarding_port("Forwarding from 127.0.0.1:11434 -> 11434"),
            Some(11434)
        );
        assert_eq!(
            forwarding_port("Forwarding from [::1]:43211 -> 11434"),
            None
        );
        assert_eq!(forwarding_port("Handling connection for 11434"), None);
        assert_eq!(
            forwarding_port("Forwarding from 127.0.0.1:99999 -> 1"),
            None
        );
        assert_eq!(forwarding_port("Forwarding from 127.0.0.1:"), None);
    }

    #[test]
    fn restart_delay_grows_and_is_capped() {
        assert_eq!(restart_delay(0), Duration::from_millis(250));
        assert_eq!(restart_delay(1), Duration::from_millis(500));
        assert_eq!(restart_delay(4), Duration::from_secs(4));
        assert_eq!(restart_delay(5), Duration::from_secs(5));
        assert_eq!(restart_delay(u32::MAX), Duration::from_secs(5));
    }

    #[test]
    fn runs_kubectl_with_an_argument_list() {
        let launcher = Launcher {
            options: PortForwardOptions {
                kubectl: "kubectl".into(),
                namespace: "my ns".into(),
                service: "ollama".into(),
                local_port: 0,
                remote_port: 11434,
            },
            settings: PortForwardSettings::default(),
        };
        let args: Vec<String> = launcher
            .args(0)
            .iter()
            .map(|arg| arg.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args,
            ["port-forward", "-n", "my ns", "service/ollama", "0:11434"]
        );
    }

    #[test]
    fn output_tail_is_bounded_and_keeps_the_end() {
        let tail = OutputTail::default();
        for i in 0..5000 {
            tail.push(&format!("E0101 retrying {i}\n"));
        }
        assert!(tail.0.lock().unwrap().len() <= MAX_TAIL_BYTES);
        assert!(tail.text().ends_with("E0101 retrying 4999"));
    }
}
