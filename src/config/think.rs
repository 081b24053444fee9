//! `--think on|off`: whether a thinking model (deepseek-r1, qwen3) thinks before it answers.
//! Without the flag nothing is sent and the server decides (Ollama thinks by default with a
//! thinking model).

use clap::ValueEnum;

/// What `--think` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Think {
    On,
    Off,
}

impl Think {
    /// The request's `think`: `None` (no flag) leaves the server's default.
    pub fn requested(flag: Option<Think>) -> Option<bool> {
        flag.map(|think| think == Think::On)
    }

    /// The flag's value as the results record it (`on`, `off`).
    pub fn name(think: bool) -> &'static str {
        if think {
            "on"
        } else {
            "off"
        }
    }
}
