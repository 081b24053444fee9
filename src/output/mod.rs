//! The console: lines that never panic, and live [`progress`] on a terminal.
//!
//! `outln!` writes to stdout and `errln!` to stderr, ignoring write errors. A benchmark piped
//! into `head -1` or `grep -m1` loses its reader early; `println!` would then panic on the
//! broken pipe and kill the run, while these let it go on quietly, write its files and exit
//! by its own outcome.

pub mod events;
pub mod export;
pub mod progress;

use std::io::Write;

/// Writes one line to stdout; a closed or broken stdout is ignored.
pub fn write_stdout(args: std::fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stdout().lock(), "{args}");
}

/// Writes text as it is (no newline added) to stdout; a closed or broken stdout is ignored.
pub fn write_stdout_raw(text: &str) {
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

/// Writes one line to stderr; a closed or broken stderr is ignored.
pub fn write_stderr(args: std::fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr().lock(), "{args}");
}

/// `println!` that never panics (see the module docs).
#[macro_export]
macro_rules! outln {
    () => {
        $crate::output::write_stdout(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::output::write_stdout(format_args!($($arg)*))
    };
}

/// `eprintln!` that never panics (see the module docs).
#[macro_export]
macro_rules! errln {
    () => {
        $crate::output::write_stderr(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::output::write_stderr(format_args!($($arg)*))
    };
}

/// The console's width: every table and long line fits it.
pub const WIDTH: usize = 100;

/// Wraps `text` at word boundaries so that no line is wider than [`WIDTH`]; lines after the
/// first start with `indent`. A word longer than a line stays whole rather than being cut.
pub fn wrap(first_prefix: &str, text: &str, indent: &str) -> String {
    let mut out = String::from(first_prefix);
    let mut width = first_prefix.chars().count();
    for word in text.split_whitespace() {
        let len = word.chars().count();
        if width > indent.chars().count() && width + 1 + len > WIDTH {
            out.push('\n');
            out.push_str(indent);
            width = indent.chars().count();
        } else if !out.is_empty() && !out.ends_with(' ') {
            out.push(' ');
            width += 1;
        }
        out.push_str(word);
        width += len;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_wrap_at_word_boundaries_with_an_indent() {
        let text = "word ".repeat(60);
        let wrapped = wrap("  first: ", &text, "     ");
        for line in wrapped.lines() {
            assert!(line.chars().count() <= WIDTH, "{line}");
        }
        assert!(wrapped.starts_with("  first: word"));
        assert!(wrapped.lines().skip(1).all(|l| l.starts_with("     word")));
        assert_eq!(wrap("", "short", "  "), "short");
    }
}
