//! The human lines of the CLI: the report's summary, then one line per rejected or unpinned
//! entry, each `[SECURITY] `-prefixed. The library escapes every name, so no line can be
//! forged or cut by a name holding a newline, a control character or invalid UTF-8.

use std::io::Write;

use nc_harden::Report;

pub const PREFIX: &str = "[SECURITY] ";

pub fn human(report: &Report, out: &mut impl Write) {
    let _ = writeln!(out, "{PREFIX}{}", report.summary());
    let allowed = report.entries().iter().filter(|e| e.data_entry_missing);
    for entry in report.rejected().chain(report.unpinned()).chain(allowed) {
        let _ = writeln!(out, "{PREFIX}  {}", entry.line());
    }
}
