//! Events a scenario emits while it runs, and the subscribers that turn them into output.
//! Scenarios never print progress themselves: they say what happened (a phase began, a
//! request or a cell finished, a warning), and the console subscriber draws a progress bar on
//! a terminal or prints plain lines elsewhere. `--format` and telemetry subscribe the same way.

use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::export::ConsoleOptions;

/// Something that happened during a run.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// How many requests the run plans in all (the progress bar's length).
    Planned(u64),
    /// A new phase began, e.g. `phi3.5 Short c=1 warmup`.
    Phase(&'a str),
    /// One request finished: its rate, or the kind of its failure.
    RequestFinished {
        tokens_per_second: Option<f64>,
        failure: Option<&'a str>,
    },
    /// A cell (a model, prompt and concurrency) finished; `line` sums it up.
    CellFinished { line: &'a str },
    /// Something the user should know that is not a failure.
    Warning(&'a str),
}

/// Receives every event of a run.
pub trait Subscriber: Send + Sync {
    fn on_event(&self, event: &Event<'_>);
    /// The run is over: clear what is drawn, before the final summary prints. May be called
    /// more than once.
    fn finish(&self) {}
}

/// The subscribers of one run.
pub struct Events {
    subscribers: Vec<Box<dyn Subscriber>>,
}

impl Events {
    /// The console: a progress bar on a terminal, plain lines otherwise; with `--quiet`
    /// neither, and with a machine-readable `--format` the lines go to stderr.
    pub fn console(interactive: bool, options: ConsoleOptions) -> Self {
        Events {
            subscribers: vec![Box::new(Console::new(interactive, options))],
        }
    }

    /// Nobody listens.
    pub fn none() -> Self {
        Events {
            subscribers: Vec::new(),
        }
    }

    pub fn emit(&self, event: &Event<'_>) {
        for subscriber in &self.subscribers {
            subscriber.on_event(event);
        }
    }

    pub fn finish(&self) {
        for subscriber in &self.subscribers {
            subscriber.finish();
        }
    }
}

/// A run that ends on any path (an error, `?`) leaves no progress bar behind.
impl Drop for Events {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Progress and per-cell lines on the console.
struct Console {
    interactive: bool,
    options: ConsoleOptions,
    bar: Mutex<Option<ProgressBar>>,
}

impl Console {
    fn new(interactive: bool, options: ConsoleOptions) -> Self {
        Console {
            interactive: interactive && !options.quiet,
            options,
            bar: Mutex::new(None),
        }
    }

    fn with_bar(&self, f: impl FnOnce(&ProgressBar)) {
        let bar = self.bar.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(bar) = bar.as_ref() {
            f(bar);
        }
    }
}

impl Subscriber for Console {
    fn on_event(&self, event: &Event<'_>) {
        match *event {
            Event::Planned(total) => {
                if self.interactive {
                    let bar = ProgressBar::new(total);
                    bar.set_style(
                        ProgressStyle::with_template(
                            "{bar:25} {pos}/{len} requests  {prefix}  {msg}",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                    );
                    bar.enable_steady_tick(Duration::from_millis(200));
                    *self.bar.lock().unwrap_or_else(|e| e.into_inner()) = Some(bar);
                }
            }
            Event::Phase(phase) => self.with_bar(|bar| bar.set_prefix(phase.to_string())),
            Event::RequestFinished {
                tokens_per_second,
                failure,
            } => self.with_bar(|bar| {
                bar.inc(1);
                match (failure, tokens_per_second) {
                    (Some(kind), _) => bar.set_message(format!("failed: {kind}")),
                    (None, Some(rate)) => bar.set_message(format!("{rate:.1} tok/s")),
                    (None, None) => {}
                }
            }),
            Event::CellFinished { line } => {
                if self.options.quiet {
                    return;
                }
                let bar = self.bar.lock().unwrap_or_else(|e| e.into_inner());
                match bar.as_ref() {
                    Some(bar) => bar.println(line),
                    None if self.options.lines_to_stderr() => crate::errln!("{line}"),
                    None => crate::outln!("{line}"),
                }
            }
            Event::Warning(text) => {
                let bar = self.bar.lock().unwrap_or_else(|e| e.into_inner());
                match bar.as_ref() {
                    Some(bar) => bar.println(format!("warning: {text}")),
                    None => crate::errln!("warning: {text}"),
                }
            }
        }
    }

    fn finish(&self) {
        if let Some(bar) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).take() {
            bar.finish_and_clear();
        }
    }
}
