//! The prompt-length categories and their fixed prompt texts, shipped in the binary so that
//! runs stay comparable over time. Lengths follow the reference: about 55, 250, 800 and 2,500
//! characters. [`filler`] makes the text of prompts sized in tokens, [`dataset`] reads the
//! user's own prompts; neither talks to a server (calibration lives in `workload`).

use std::path::Path;

pub mod dataset;
pub mod filler;

use crate::exit::ConfigError;

/// A prompt-length category of the reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PromptLength {
    Short,
    Medium,
    Long,
    VeryLong,
}

impl PromptLength {
    /// All categories, shortest first.
    pub const ALL: [PromptLength; 4] = [
        PromptLength::Short,
        PromptLength::Medium,
        PromptLength::Long,
        PromptLength::VeryLong,
    ];

    /// The reference's spelling, used in result files (`Short`, ..., `VeryLong`).
    pub fn name(self) -> &'static str {
        match self {
            PromptLength::Short => "Short",
            PromptLength::Medium => "Medium",
            PromptLength::Long => "Long",
            PromptLength::VeryLong => "VeryLong",
        }
    }

    /// Parses `short`, `Medium`, `very-long`, `VeryLong`, `very_long`.
    pub fn parse(raw: &str) -> Option<Self> {
        let key: String = raw
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_lowercase())
            .collect();
        match key.as_str() {
            "short" => Some(PromptLength::Short),
            "medium" => Some(PromptLength::Medium),
            "long" => Some(PromptLength::Long),
            "verylong" => Some(PromptLength::VeryLong),
            _ => None,
        }
    }

    /// The built-in prompt text.
    pub fn text(self) -> &'static str {
        match self {
            PromptLength::Short => SHORT,
            PromptLength::Medium => MEDIUM,
            PromptLength::Long => LONG,
            PromptLength::VeryLong => VERY_LONG,
        }
    }
}

/// A prompt to benchmark: its name in the results and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    pub name: String,
    pub text: String,
    /// How each request's prompt is made from it.
    pub kind: PromptKind,
}

/// Where a cell's prompts come from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum PromptKind {
    /// `text`, the same for every request (a built-in category or a prompts file's line).
    #[default]
    Text,
    /// Filler text of this many tokens of the target model, calibrated against the server's
    /// own count (`--input-tokens`).
    Tokens(u64),
    /// The lines of a dataset, one per request in turn (`--dataset`).
    Dataset(std::sync::Arc<Vec<dataset::DatasetEntry>>),
}

impl Prompt {
    /// A cell of prompts of `tokens` tokens, named like `1k tokens`.
    pub fn sized(tokens: u64) -> Self {
        let name = if tokens >= 1024 && tokens.is_multiple_of(1024) {
            format!("{}k tokens", tokens / 1024)
        } else {
            format!("{tokens} tokens")
        };
        Prompt {
            name,
            text: String::new(),
            kind: PromptKind::Tokens(tokens),
        }
    }

    /// The requested size in tokens, for sized prompts.
    pub fn input_tokens(&self) -> Option<u64> {
        match self.kind {
            PromptKind::Tokens(tokens) => Some(tokens),
            _ => None,
        }
    }
}

impl Prompt {
    /// The built-in prompt of a category.
    pub fn builtin(length: PromptLength) -> Self {
        Prompt {
            name: length.name().to_string(),
            text: length.text().to_string(),
            kind: PromptKind::Text,
        }
    }
}

/// Reads prompts from a file: one prompt per line, or `NAME<TAB>TEXT` lines to name them.
/// Empty lines and lines starting with `#` are skipped.
pub fn read_prompts_file(path: &Path) -> Result<Vec<Prompt>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Unreadable {
        what: "the prompts file",
        path: path.to_path_buf(),
        error,
    })?;
    let prompts: Vec<Prompt> = text
        .lines()
        .map(str::trim_end)
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .enumerate()
        .map(|(index, line)| match line.split_once('\t') {
            Some((name, text)) if !name.trim().is_empty() => Prompt {
                name: name.trim().to_string(),
                text: text.trim().to_string(),
                kind: PromptKind::Text,
            },
            _ => Prompt {
                name: format!("Prompt{}", index + 1),
                text: line.trim().to_string(),
                kind: PromptKind::Text,
            },
        })
        .collect();
    if prompts.is_empty() {
        return Err(ConfigError::NoPrompts {
            path: path.to_path_buf(),
        });
    }
    Ok(prompts)
}

const SHORT: &str = "Explain in simple terms why the sky appears to be blue.";

const MEDIUM: &str = "You are helping a new engineer on a platform team. Explain what a \
Kubernetes Deployment is, how it differs from a StatefulSet, and when each one should be \
used. Keep the answer practical, mention rolling updates, and finish with one short example.";

const LONG: &str = "You are a senior site reliability engineer writing internal guidance for a \
team that runs large language model inference servers on GPU nodes in a Kubernetes cluster. \
The team has noticed that model load times vary between ten and forty seconds depending on the \
node, and that throughput drops when several users send requests at the same time. Write a \
structured explanation that covers the following points. First, describe the main stages of \
serving a request: downloading model weights, loading them from storage into GPU memory, \
processing the prompt, and generating tokens one at a time. Second, explain which hardware \
resources limit each stage, such as network bandwidth, storage throughput, GPU memory \
bandwidth and compute. Third, suggest three concrete measurements the team should collect.";

const VERY_LONG: &str = "The following is background material for a capacity planning review. \
Read it carefully and then answer the question at the end.\n\n\
Our organisation operates an internal platform that serves large language models to several \
product teams. The platform runs on a managed Kubernetes service in a single region. Each \
inference node has one data centre GPU with sixteen gigabytes of memory, eight virtual CPU cores \
and fifty-six gigabytes of system memory. Models are stored on a premium network file share that \
is mounted into every pod, so that a model downloaded once can be loaded by any replica. The \
serving software keeps a model in GPU memory for five minutes after its last request and then \
unloads it, which frees memory for other models but means that the first request after an idle \
period has to wait for the model to load again.\n\n\
Over the last quarter, usage has grown steadily. Product teams report three kinds of problems. \
The first is slow first responses in the morning, when many users arrive at once and the models \
are not yet loaded. The second is uneven response speed during the day: the same prompt sometimes \
streams quickly and sometimes noticeably slower. The third is that a new model takes a long time \
to become available after it is published, because every node downloads it separately from the \
public registry.\n\n\
The platform team has collected some measurements. Downloading a model of about five gigabytes \
takes between thirty-five and fifty seconds. Loading it from the network file share into GPU \
memory takes between sixteen and twenty seconds the first time, and two to four seconds when the \
file is still in the page cache. Generation runs at forty to fifty tokens per second for a single \
user with a seven or eight billion parameter model. With three users sending requests at the same \
time, the total throughput rises, but each user sees fewer tokens per second than before, and \
with five users the time to first token grows sharply. Longer prompts, such as documents pasted \
into a chat, make generation a little slower for everyone on the node.\n\n\
The finance team has asked whether the platform should buy larger GPUs, add more nodes of the \
current type, or change how models are stored and kept in memory. They want an answer that \
explains the trade-offs in terms of the measurements above, and they want to know which further \
measurements would make the decision safer.\n\n\
Question: based on this material, explain which of the three problems are caused by storage, \
which by GPU capacity and which by scheduling policy, and recommend a plan.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_prompts_have_the_reference_lengths() {
        for (length, expected) in [
            (PromptLength::Short, 55),
            (PromptLength::Medium, 250),
            (PromptLength::Long, 800),
            (PromptLength::VeryLong, 2500),
        ] {
            let chars = length.text().chars().count() as f64;
            let ratio = chars / expected as f64;
            assert!(
                (0.85..=1.15).contains(&ratio),
                "{length:?}: {chars} characters"
            );
        }
    }

    #[test]
    fn categories_parse_in_both_spellings() {
        assert_eq!(
            PromptLength::parse("very-long"),
            Some(PromptLength::VeryLong)
        );
        assert_eq!(
            PromptLength::parse("VeryLong"),
            Some(PromptLength::VeryLong)
        );
        assert_eq!(PromptLength::parse("Short"), Some(PromptLength::Short));
        assert_eq!(PromptLength::parse("huge"), None);
    }

    #[test]
    fn prompts_files_accept_plain_and_named_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.txt");
        std::fs::write(&path, "# comment\nHello there\nrag\tLong context here\n\n").unwrap();
        let prompts = read_prompts_file(&path).unwrap();
        assert_eq!(prompts.len(), 2);
        assert_eq!(prompts[0].name, "Prompt1");
        assert_eq!(prompts[1].name, "rag");
        std::fs::write(&path, "\n# only a comment\n").unwrap();
        assert!(read_prompts_file(&path).is_err());
    }
}
