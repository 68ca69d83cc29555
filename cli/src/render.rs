//! The human lines of the CLI: the report's summary, then one line per rejected or unpinned
//! entry, each `[SECURITY] `-prefixed. The library escapes every name, so no line can be
//! forged or cut by a name holding a newline, a control character, a Unicode line separator
//! or invalid UTF-8; what else a line holds goes through `escape_controls` too.

use std::io::Write;

use nc_harden::{escape_controls, Report};

pub const PREFIX: &str = "[SECURITY] ";

pub fn human(report: &Report, out: &mut impl Write) {
    // The library escapes already; escaped again here, so that no line of the CLI's can
    // carry a line break or a control whatever a future message holds.
    let _ = writeln!(out, "{PREFIX}{}", escape_controls(report.summary()));
    let allowed = report.entries().iter().filter(|e| e.data_entry_missing);
    let mut lines = report.rejected().chain(report.unpinned()).chain(allowed);
    for entry in lines.by_ref().take(ENTRY_LINES) {
        let _ = writeln!(out, "{PREFIX}  {}", escape_controls(&entry.line()));
    }
    let more = lines.count();
    if more > 0 {
        let _ = writeln!(
            out,
            "{PREFIX}  ... and {more} more entries of the same kinds (every one is in --json)"
        );
    }
}

/// The entry lines a human reads at most; a directory of 10,000 bad entries is one summary,
/// these, and a count (the JSON carries them all).
const ENTRY_LINES: usize = 20;
