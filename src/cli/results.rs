//! `ollabench results`: list the runs of a benchmarks folder, set baselines, prune old runs
//! (the reference's "Output File Management"; the work is in [`crate::housekeeping`]).

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::exit::{Ctx, Outcome, UsageError};
use crate::housekeeping::{self, HousekeepingError, Listing, PrunePlan, RunEntry};

/// Flags of `ollabench results`.
#[derive(Debug, Args)]
pub struct ResultsArgs {
    #[command(subcommand)]
    pub action: ResultsAction,
}

#[derive(Debug, Subcommand)]
pub enum ResultsAction {
    /// Lists the runs (results-* folders and loose result files): date, kind, target, status,
    /// and which are baselines.
    List {
        /// The benchmarks folder.
        #[arg(long, value_name = "DIR", default_value = ".")]
        root: PathBuf,
    },
    /// Manages the reference results in baseline/.
    Baseline {
        #[command(subcommand)]
        action: BaselineAction,
    },
    /// Deletes runs older than an age, keeping baselines and runs a comparison refers to.
    Prune {
        /// The age, e.g. 30d, 2w, 12h.
        #[arg(long, value_name = "AGE")]
        older_than: String,
        /// Lists what would be deleted; deletes nothing.
        #[arg(long)]
        dry_run: bool,
        /// Deletes without asking (required when stdin is not a terminal).
        #[arg(long)]
        yes: bool,
        /// The benchmarks folder.
        #[arg(long, value_name = "DIR", default_value = ".")]
        root: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum BaselineAction {
    /// Copies a result file or a results folder into baseline/ under a name, with a note.
    Set {
        /// The result file or results folder.
        #[arg(value_name = "FILE|DIR")]
        source: PathBuf,
        /// The baseline's name (default: the file's or folder's name).
        #[arg(long)]
        name: Option<String>,
        /// Why this run is the reference (e.g. "Azure Files Premium, T4, before the upgrade").
        #[arg(long, value_name = "TEXT")]
        note: Option<String>,
        /// The benchmarks folder.
        #[arg(long, value_name = "DIR", default_value = ".")]
        root: PathBuf,
    },
}

fn usage(err: HousekeepingError) -> anyhow::Error {
    UsageError::err(err.to_string())
}

impl ResultsArgs {
    pub async fn execute(self, _ctx: &Ctx) -> anyhow::Result<Outcome> {
        // File work only, and a prompt that blocks on stdin: off the async workers.
        tokio::task::spawn_blocking(move || self.run()).await?
    }

    fn run(self) -> anyhow::Result<Outcome> {
        match self.action {
            ResultsAction::List { root } => {
                let listing = housekeeping::list(&root).map_err(usage)?;
                crate::outln!("{}", render_listing(&listing));
                for problem in &listing.problems {
                    crate::errln!("warning: {problem}");
                }
                Ok(Outcome::Success)
            }
            ResultsAction::Baseline {
                action:
                    BaselineAction::Set {
                        source,
                        name,
                        note,
                        root,
                    },
            } => {
                let manifest =
                    housekeeping::set_baseline(&root, &source, name.as_deref(), note.as_deref())
                        .map_err(usage)?;
                let dir = root.join(housekeeping::BASELINE_DIR);
                crate::outln!(
                    "Baseline '{}': {} copied to {}",
                    manifest.name,
                    source.display(),
                    dir.join(&manifest.copy).display()
                );
                Ok(Outcome::Success)
            }
            ResultsAction::Prune {
                older_than,
                dry_run,
                yes,
                root,
            } => {
                let age = housekeeping::parse_age(&older_than).map_err(usage)?;
                let now = chrono::Local::now().naive_local();
                let plan = housekeeping::plan_prune(&root, age, now).map_err(usage)?;
                crate::outln!("{}", render_plan(&plan, &older_than, dry_run));
                if dry_run || plan.delete.is_empty() {
                    return Ok(Outcome::Success);
                }
                if !yes {
                    if !std::io::stdin().is_terminal() {
                        return Err(UsageError::err(format!(
                            "refusing to delete {} run(s) without confirmation: stdin is not a \
                             terminal; pass --yes to delete, or --dry-run to only list",
                            plan.delete.len()
                        )));
                    }
                    if !confirm(plan.delete.len())? {
                        crate::outln!("Nothing deleted.");
                        return Ok(Outcome::Success);
                    }
                }
                let (deleted, failed) = housekeeping::prune(&plan);
                crate::outln!("Deleted {} run(s).", deleted.len());
                for err in &failed {
                    crate::errln!("error: cannot delete {err}");
                }
                Ok(if failed.is_empty() {
                    Outcome::Success
                } else {
                    Outcome::Failed
                })
            }
        }
    }
}

fn confirm(count: usize) -> anyhow::Result<bool> {
    let mut stderr = std::io::stderr();
    write!(stderr, "Delete these {count} run(s)? [y/N] ")?;
    stderr.flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}

fn date_text(run: &RunEntry) -> String {
    match (run.date, run.date_source) {
        (Some(date), Some(source)) => {
            let text = date.format("%Y-%m-%d %H:%M").to_string();
            if source == housekeeping::DateSource::File {
                text
            } else {
                format!("{text} ({})", source.label())
            }
        }
        _ => "unknown".into(),
    }
}

fn kinds_text(run: &RunEntry) -> String {
    if run.kinds.is_empty() {
        return "-".into();
    }
    run.kinds
        .iter()
        .map(|k| k.label())
        .collect::<Vec<_>>()
        .join(", ")
}

fn target_text(run: &RunEntry) -> String {
    let targets = if run.targets.is_empty() {
        "-".to_string()
    } else {
        run.targets.join(", ")
    };
    if run.simulated {
        format!("{targets} (simulated)")
    } else {
        targets
    }
}

fn table(header: &[&str]) -> comfy_table::Table {
    let mut table = comfy_table::Table::new();
    table
        .load_preset(comfy_table::presets::NOTHING)
        // One line a run, so that a name or a path can be searched for and copied whole.
        .set_content_arrangement(comfy_table::ContentArrangement::Disabled)
        .set_header(header.iter().copied());
    table
}

/// The runs, then the baselines.
pub fn render_listing(listing: &Listing) -> String {
    let mut out = String::new();
    if listing.runs.is_empty() {
        out.push_str("No runs (results-* folders or result files) in this folder.\n");
    } else {
        let mut runs = table(&["Run", "Date", "Kind", "Target", "Status", "Baseline"]);
        for run in &listing.runs {
            runs.add_row(vec![
                format!("{}{}", run.name, if run.folder { "/" } else { "" }),
                date_text(run),
                kinds_text(run),
                target_text(run),
                run.state.label().to_string(),
                run.baselines.join(", "),
            ]);
        }
        out.push_str(&format!("Runs ({}):\n{runs}\n", listing.runs.len()));
    }
    if !listing.baselines.is_empty() {
        let mut baselines = table(&["Baseline", "Copy", "Set", "Note"]);
        for baseline in &listing.baselines {
            baselines.add_row(vec![
                baseline.name.clone(),
                format!("{}/{}", housekeeping::BASELINE_DIR, baseline.copy.display()),
                baseline.created_at.clone(),
                baseline.note.clone(),
            ]);
        }
        out.push_str(&format!(
            "\nBaselines ({}):\n{baselines}\n",
            listing.baselines.len()
        ));
    }
    out.trim_end().to_string()
}

fn render_plan(plan: &PrunePlan, age: &str, dry_run: bool) -> String {
    let mut out = String::new();
    let verb = if dry_run { "Would delete" } else { "To delete" };
    if plan.delete.is_empty() {
        out.push_str(&format!("No run older than {age} to delete.\n"));
    } else {
        out.push_str(&format!(
            "{verb} {} run(s) older than {age}:\n",
            plan.delete.len()
        ));
        for run in &plan.delete {
            out.push_str(&format!("  {}  {}\n", run.path.display(), date_text(run)));
        }
    }
    for (run, why) in &plan.kept {
        out.push_str(&format!("Kept {}: {why}\n", run.path.display()));
    }
    for note in &plan.notes {
        out.push_str(&format!("note: {note}\n"));
    }
    if dry_run {
        out.push_str("Dry run: nothing deleted.\n");
    }
    out.trim_end().to_string()
}
