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
    for entry in report.rejected().chain(report.unpinned()).chain(allowed) {
        let _ = writeln!(out, "{PREFIX}  {}", escape_controls(&entry.line()));
    }
}
