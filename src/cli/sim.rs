//! `ollabench sim`: flags of the built-in simulator, turned into a validated `SimConfig`.

use clap::Args;

use crate::config::simulator_setting;
use crate::exit::{ConfigError, Ctx, Outcome};
use crate::sim::{self, FaultRule, Faults, KeepAlive, Registry, SimConfig};

const SIM_HELP: &str = "\
Faults (repeat a flag for several rules; the first rule that fires decides a request's fault):
  --fault-status [CODE@]TRIGGER      reply CODE (default 500) with {\"error\":...} before streaming
  --fault-error-line [N@]TRIGGER     an {\"error\":...} line after N chunks (default 3), then end
  --fault-cut [N@]TRIGGER            cut the connection after N chunks (default 3)
  --fault-stall [DURATION@]TRIGGER   send nothing for DURATION (default 5s, wall clock, not
                                     scaled) after the first chunk, then go on
  --fault-malformed [N@]TRIGGER      one line that is not JSON after N chunks (default 3)
TRIGGER: a probability (0.1, seeded by --seed), every:N (every Nth request), after:N (every
request after the Nth), model:NAME (every request for that model) or always.
Faults apply to generate, chat, /v1/chat/completions, /v1/completions and pull; load-only and
unload requests are never faulted. Example: --fault-status 503@0.1 --fault-stall 2s@model:phi3.5

Registries: --registry 127.0.0.1:5000 declares a private registry speaking plain HTTP that holds
every catalogue model (pull 127.0.0.1:5000/library/smollm2:135m with \"insecure\": true, as Ollama
needs for plain HTTP); --registry https://HOST:PORT declares one speaking HTTPS. A pull from an
undeclared host fails as an unreachable one does in Ollama. --air-gapped makes the public registry
(names without a host) unreachable: every pull of one fails, models already present still load
(--preload puts them there; it takes registry names too).

Every response carries the header x-ollabench-simulator: profile=t4 time-scale=1.";

/// Flags of `ollabench sim`.
#[derive(Debug, Args)]
#[command(after_help = SIM_HELP)]
pub struct SimArgs {
    /// Port to listen on (Ollama's is 11434).
    #[arg(long, default_value_t = 11434, allow_negative_numbers = true)]
    pub port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Hardware profile: t4 (16 GB, 320 GB/s), a100 (80 GB), h100 (80 GB), cpu (no GPU).
    #[arg(long, default_value = "t4")]
    pub profile: String,
    /// Multiply every simulated delay by this factor (0.05: everything 20x faster).
    #[arg(
        long,
        value_name = "FACTOR",
        default_value_t = 1.0,
        allow_negative_numbers = true
    )]
    pub time_scale: f64,
    /// Parallel request slots per loaded model (OLLAMA_NUM_PARALLEL).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub num_parallel: usize,
    /// Models loaded at once (OLLAMA_MAX_LOADED_MODELS).
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub max_loaded_models: usize,
    /// Requests that may wait for a model load; more get 503 (OLLAMA_MAX_QUEUE).
    #[arg(long, value_name = "N", default_value_t = 512)]
    pub max_queue: usize,
    /// Seed of the simulated noise, natural response lengths and fault probabilities.
    #[arg(long, default_value_t = 42, allow_negative_numbers = true)]
    pub seed: u64,
    /// Models already downloaded at start (not loaded); repeat or comma-separate.
    #[arg(long, value_name = "MODEL", value_delimiter = ',')]
    pub preload: Vec<String>,
    /// Default keep-alive of requests that set none: a duration (5m, 30s), seconds, or a
    /// negative value for forever (OLLAMA_KEEP_ALIVE).
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "5m",
        allow_hyphen_values = true
    )]
    pub keep_alive: String,
    /// A private registry the server can reach, holding every catalogue model: HOST:PORT or
    /// http://HOST:PORT (plain HTTP: pulls need "insecure": true) or https://HOST:PORT; repeat
    /// for several.
    #[arg(long, value_name = "[http[s]://]HOST:PORT")]
    pub registry: Vec<String>,
    /// The public registry (registry.ollama.ai) is unreachable: every pull of a name without a
    /// host fails, even of a model already present; declared registries still work.
    #[arg(long)]
    pub air_gapped: bool,
    /// Fault: an error status before streaming.
    #[arg(long, value_name = "[CODE@]TRIGGER")]
    pub fault_status: Vec<String>,
    /// Fault: an error line in the middle of a stream.
    #[arg(long, value_name = "[N@]TRIGGER")]
    pub fault_error_line: Vec<String>,
    /// Fault: the connection cut in the middle of a stream.
    #[arg(long, value_name = "[N@]TRIGGER")]
    pub fault_cut: Vec<String>,
    /// Fault: a stream that stops sending for a while.
    #[arg(long, value_name = "[DURATION@]TRIGGER")]
    pub fault_stall: Vec<String>,
    /// Fault: a line that is not JSON.
    #[arg(long, value_name = "[N@]TRIGGER")]
    pub fault_malformed: Vec<String>,
}

impl SimArgs {
    /// The validated simulator configuration.
    pub fn to_config(&self) -> Result<SimConfig, ConfigError> {
        let mut config = SimConfig::with_profile(&self.profile).map_err(simulator_setting)?;
        config.time_scale = self.time_scale;
        config.num_parallel = self.num_parallel;
        config.max_loaded_models = self.max_loaded_models;
        config.max_queue = self.max_queue;
        config.seed = self.seed;
        config.preload = self
            .preload
            .iter()
            .map(|name| name.trim().to_string())
            .filter(|name| !name.is_empty())
            .collect();
        config.keep_alive =
            KeepAlive::parse(&self.keep_alive).map_err(|reason| ConfigError::Unparsable {
                flag: "--keep-alive",
                value: self.keep_alive.clone(),
                reason,
                expected: "write a duration such as 5m or 30s, a number of seconds, or -1 for \
                           forever",
            })?;
        let mut rules = Vec::new();
        for (kind, specs) in [
            ("status", &self.fault_status),
            ("error-line", &self.fault_error_line),
            ("cut", &self.fault_cut),
            ("stall", &self.fault_stall),
            ("malformed", &self.fault_malformed),
        ] {
            for spec in specs {
                rules.push(FaultRule::parse(kind, spec).map_err(ConfigError::FaultRule)?);
            }
        }
        config.faults = Faults { rules };
        config.registries = self
            .registry
            .iter()
            .map(|spec| {
                Registry::parse(spec).map_err(|reason| ConfigError::Rejected {
                    flag: "--registry",
                    reason,
                })
            })
            .collect::<Result<_, _>>()?;
        config.air_gapped = self.air_gapped;
        config.validate().map_err(simulator_setting)?;
        Ok(config)
    }

    pub async fn execute(self, ctx: &Ctx) -> anyhow::Result<Outcome> {
        let config = self.to_config()?;
        let address = format!("{}:{}", self.host, self.port);
        let listener = tokio::net::TcpListener::bind(&address)
            .await
            .map_err(|err| {
                anyhow::anyhow!(
                    "cannot listen on {address}: {err} (is Ollama or another simulator running \
                 there? pick another --port)"
                )
            })?;
        let bound = listener.local_addr()?;
        crate::outln!(
            "ollabench sim: Ollama {} simulator listening on http://{bound} (profile {}, time \
             scale {}, num_parallel {}, max_loaded_models {}); Ctrl-C stops it",
            config.version,
            config.profile,
            config.time_scale,
            config.num_parallel,
            config.max_loaded_models,
        );
        for registry in &config.registries {
            println!("  registry: {registry}");
        }
        if config.air_gapped {
            println!("  air-gapped: pulls from registry.ollama.ai fail");
        }
        for rule in &config.faults.rules {
            crate::outln!("  fault: {rule}");
        }
        sim::serve(listener, config, ctx.cancel.clone().cancelled_owned()).await?;
        Ok(Outcome::Success)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use clap::Parser;

    fn parse(line: &[&str]) -> anyhow::Result<SimConfig> {
        let mut argv = vec!["ollabench", "sim"];
        argv.extend_from_slice(line);
        let cli = Cli::try_parse_from(argv).map_err(|e| anyhow::anyhow!("{e}"))?;
        match cli.command {
            crate::cli::Command::Sim(args) => Ok(args.to_config()?),
            _ => anyhow::bail!("not the sim command"),
        }
    }

    #[test]
    fn defaults_are_ollamas() {
        let config = parse(&[]).unwrap();
        assert_eq!(config.profile, "t4");
        assert_eq!(config.time_scale, 1.0);
        assert_eq!(config.num_parallel, 1);
        assert_eq!(config.max_loaded_models, 3);
        assert_eq!(config.max_queue, 512);
        assert!(config.faults.is_empty());
    }

    #[test]
    fn flags_reach_the_config() {
        let config = parse(&[
            "--profile",
            "cpu",
            "--time-scale",
            "0.05",
            "--num-parallel",
            "4",
            "--preload",
            "phi3.5,gemma2:2b",
            "--preload",
            "smollm2:135m",
            "--keep-alive",
            "-1",
            "--fault-status",
            "503@0.1",
            "--fault-cut",
            "every:3",
            "--fault-stall",
            "2s@model:phi3.5",
            "--registry",
            "127.0.0.1:5000",
            "--registry",
            "https://models.example:8443/",
            "--air-gapped",
        ])
        .unwrap();
        assert_eq!(config.profile, "cpu");
        assert_eq!(config.time_scale, 0.05);
        assert_eq!(config.num_parallel, 4);
        assert_eq!(config.preload, ["phi3.5", "gemma2:2b", "smollm2:135m"]);
        assert_eq!(config.keep_alive, KeepAlive::Forever);
        assert_eq!(config.faults.rules.len(), 3);
        assert_eq!(
            config.registries,
            [
                Registry::parse("http://127.0.0.1:5000").unwrap(),
                Registry::parse("https://models.example:8443").unwrap(),
            ]
        );
        assert!(config.air_gapped);
        let defaults = parse(&[]).unwrap();
        assert!(defaults.registries.is_empty() && !defaults.air_gapped);
    }

    #[test]
    fn bad_values_say_what_to_write() {
        for (line, expected) in [
            (vec!["--profile", "tpu"], "t4, a100, h100, cpu"),
            (vec!["--time-scale", "0"], "--time-scale"),
            (vec!["--num-parallel", "0"], "--num-parallel"),
            (vec!["--preload", "gpt-9"], "--preload"),
            (vec!["--keep-alive", "soon"], "5m or 30s"),
            (vec!["--fault-status", "200@0.1"], "400 to 599"),
            (vec!["--fault-cut", "sometimes"], "every:N"),
            (vec!["--registry", "ftp://x:1"], "--registry"),
            (vec!["--registry", "x:0"], "HOST:PORT"),
        ] {
            let err = parse(&line).unwrap_err();
            assert!(
                err.downcast_ref::<ConfigError>().is_some(),
                "{line:?} should be a usage error: {err}"
            );
            assert!(err.to_string().contains(expected), "{line:?}: {err}");
        }
    }
}
