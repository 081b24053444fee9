//! The console: lines that never panic, and live [`progress`] on a terminal.
//!
//! `outln!` writes to stdout and `errln!` to stderr, ignoring write errors. A benchmark piped
//! into `head -1` or `grep -m1` loses its reader early; `println!` would then panic on the
//! broken pipe and kill the run, while these let it go on quietly, write its files and exit
//! by its own outcome.

pub mod events;
pub mod progress;

use std::io::Write;

/// Writes one line to stdout; a closed or broken stdout is ignored.
pub fn write_stdout(args: std::fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stdout().lock(), "{args}");
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
